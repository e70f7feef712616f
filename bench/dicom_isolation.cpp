// dicom_isolation [--files N] [--size PX] [--ballast-mb MB]: what decoding DICOM outside
// this process costs (engine/data/DicomWorker.h, engine/util/Isolated.h). Writes N test
// DICOMs of PX x PX, then decodes them in process (AMPBENCH_IN_PROCESS=1), through the
// ampbench-dicom-worker helper (the default) and through a forked child per file (the
// fallback without the helper), rounds interleaved so all see the same machine load, and
// prints the median per file of each.
// --ballast-mb touches that much memory first: fork copies the page tables, so its cost
// grows with the parent's resident size (a training process holds the model, the image
// cache and LibTorch). Prints the CPU it ran on. Speed is measured here, never asserted.

#include "engine/data/DicomWorker.h"
#include "engine/data/Image.h"

#include "../tests/engine/TestUtil.h"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <string>
#include <vector>

using namespace ampbench;

namespace {

std::string cpuModel() {
  std::ifstream in("/proc/cpuinfo");
  for (std::string line; std::getline(in, line);) {
    if (line.rfind("model name", 0) == 0) {
      return line.substr(line.find(':') + 2);
    }
  }
  return "unknown CPU";
}

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v.empty() ? 0.0 : v[v.size() / 2];
}

enum class Mode { InProcess, Worker, Fork };

double decodeAllMs(const std::vector<std::string>& files, Mode mode) {
  ::unsetenv("AMPBENCH_IN_PROCESS");
  ::unsetenv("AMPBENCH_DICOM_WORKER");
  if (mode == Mode::InProcess) {
    ::setenv("AMPBENCH_IN_PROCESS", "1", 1);
  } else if (mode == Mode::Fork) {
    ::setenv("AMPBENCH_DICOM_WORKER", "", 1);
  }
  const auto t0 = std::chrono::steady_clock::now();
  size_t check = 0;
  for (const std::string& f : files) {
    check += decodeImageFile(f, 1, 0).pixels.size();
  }
  const double ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
  if (check == 0) {
    std::fprintf(stderr, "nothing decoded\n");
    std::exit(1);
  }
  return ms / static_cast<double>(files.size());
}

}  // namespace

int main(int argc, char** argv) {
  int files = 60;
  int size = 512;
  long ballastMb = 0;
  for (int i = 1; i + 1 < argc; i += 2) {
    if (std::strcmp(argv[i], "--files") == 0) {
      files = std::atoi(argv[i + 1]);
    } else if (std::strcmp(argv[i], "--size") == 0) {
      size = std::atoi(argv[i + 1]);
    } else if (std::strcmp(argv[i], "--ballast-mb") == 0) {
      ballastMb = std::atol(argv[i + 1]);
    }
  }
  std::vector<char> ballast(static_cast<size_t>(ballastMb) << 20);
  for (size_t i = 0; i < ballast.size(); i += 4096) {
    ballast[i] = static_cast<char>(i);
  }
  test::TempDir dir;
  std::vector<std::string> paths;
  std::vector<uint8_t> pixels(static_cast<size_t>(size) * size);
  for (int f = 0; f < files; ++f) {
    for (size_t i = 0; i < pixels.size(); ++i) {
      pixels[i] = static_cast<uint8_t>((i * 31 + static_cast<size_t>(f)) % 251);
    }
    paths.push_back(dir / ("img" + std::to_string(f) + ".dcm"));
    test::writeTestDicom(paths.back(), pixels, size, size);
  }
  if (dicomWorkerPath().empty()) {
    std::fprintf(stderr, "ampbench-dicom-worker not found (build it, or set AMPBENCH_DICOM_WORKER)\n");
    return 1;
  }
  std::vector<double> direct, worker, forked;
  decodeAllMs(paths, Mode::InProcess);  // warm the page cache and GDCM's dictionaries
  decodeAllMs(paths, Mode::Worker);     // and start this thread's worker
  const Mode orders[3][3] = {{Mode::InProcess, Mode::Worker, Mode::Fork},
                             {Mode::Worker, Mode::Fork, Mode::InProcess},
                             {Mode::Fork, Mode::InProcess, Mode::Worker}};
  for (int round = 0; round < 6; ++round) {
    for (const Mode m : orders[round % 3]) {
      const double ms = decodeAllMs(paths, m);
      (m == Mode::InProcess ? direct : m == Mode::Worker ? worker : forked).push_back(ms);
    }
  }
  const double d = median(direct);
  std::printf("CPU: %s\n", cpuModel().c_str());
  std::printf("%d DICOMs of %dx%d, parent ballast %ld MB, 6 rotated rounds, median ms per file\n", files, size, size,
              ballastMb);
  std::printf("in process %.2f | worker %.2f (%+.2f) | fork per file %.2f (%+.2f)\n", d, median(worker),
              median(worker) - d, median(forked), median(forked) - d);
  (void)ballast;
  return 0;
}
