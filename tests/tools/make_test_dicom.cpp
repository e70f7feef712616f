// Writes a small 8-bit DICOM whose header holds the known patient identifiers of
// test::DicomIdentifiers, for the end-to-end privacy checks (the shell has no DICOM writer).
//   make_test_dicom OUT.dcm SIZE [--print-identifiers]
// The image is a dark field with a bright square near the centre.

#include "../engine/TestUtil.h"

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <exception>

int main(int argc, char** argv) {
  if (argc < 3) {
    std::fprintf(stderr, "usage: make_test_dicom OUT.dcm SIZE [--print-identifiers]\n");
    return 2;
  }
  const int size = std::atoi(argv[2]);
  if (size < 4 || size > 4096) {
    std::fprintf(stderr, "SIZE must be 4..4096\n");
    return 2;
  }
  std::vector<uint8_t> px(static_cast<size_t>(size) * size, 40);
  for (int y = size / 3; y < 2 * size / 3; ++y) {
    for (int x = size / 3; x < 2 * size / 3; ++x) {
      px[static_cast<size_t>(y) * size + x] = 220;
    }
  }
  try {
    ampbench::test::writeTestDicom(argv[1], px, size, size);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "%s\n", e.what());
    return 1;
  }
  if (argc > 3 && std::strcmp(argv[3], "--print-identifiers") == 0) {
    for (const auto& id : ampbench::test::DicomIdentifiers().all()) {
      std::printf("%s\n", id.c_str());
    }
  }
  return 0;
}
