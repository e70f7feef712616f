#pragma once
// The DICOM decoding helper program (app/dicom-worker: ampbench-dicom-worker). GDCM runs
// there, not in the training process: Debian builds it with assertions, and a hostile file
// that reaches one would otherwise abort the whole run. See decodeImageFile.

#include <string>

namespace ampbench {

// The helper's main: serves decode requests on stdin until EOF. Returns the exit code.
int runDicomWorker();

// The helper program's path: $AMPBENCH_DICOM_WORKER, else ampbench-dicom-worker beside
// this executable, in ../libexec/ampbench/ (installed), or ../app/ and ../../app/ (build
// tree). Empty when none is found: DICOM is then decoded in a forked child per file.
std::string dicomWorkerPath();

}  // namespace ampbench
