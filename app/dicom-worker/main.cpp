// ampbench-dicom-worker: decodes DICOM files for AmpBench's processes, one request at a
// time on stdin (engine/data/DicomWorker.h). Not meant to be run by hand.
#include "engine/data/DicomWorker.h"

int main() { return ampbench::runDicomWorker(); }
