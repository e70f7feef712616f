#pragma once
// Helpers shared by the engine tests: temporary folders and generated datasets.

#include "engine/core/RunConfig.h"

#include <cstdint>
#include <string>
#include <vector>

namespace ampbench::test {

// A fresh temporary directory, removed when the object dies.
class TempDir {
 public:
  TempDir();
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::string& path() const { return path_; }
  std::string operator/(const std::string& name) const { return path_ + "/" + name; }

 private:
  std::string path_;
};

// Writes an 8-bit grayscale PGM (no OpenCV needed).
void writePgm(const std::string& path, int width, int height, const std::vector<uint8_t>& pixels);

// A two-class (or n-class) image folder that a small CNN separates easily: class k
// images carry a bright blob in a class-specific place plus noise. Layout "flat" writes
// root/<class>/, "splits" writes root/train/<class>/ and root/val/<class>/.
void makeBlobDataset(const std::string& root, int perClass, int size, int numClasses = 2,
                     bool withSplits = false, uint32_t seed = 7);

std::string sharedDataDir();  // ../shared/data, may not exist

// A two-epoch run on 96 synthetic 16 px images, batch 16 (6 steps per epoch): synthetic
// data needs no decoder, so tests built on it run on builds without OpenCV too.
RunConfig tinyRunConfig(const std::string& outDir);

// Writes a valid 8-bit PNG of width x height zero pixels, streaming zlib-compressed zero
// rows: a 20000x20000 gray image (400 MB decoded) is a ~400 KB file, written with one row
// of memory. `colorType` as in IHDR: 0 gray, 2 RGB, 4 gray + alpha (2 channels, which
// cv::imwrite cannot make), 6 RGBA. For the pixel-budget tests and the hostile corpus.
void writeBlackPng(const std::string& path, uint32_t width, uint32_t height, int colorType = 0);

// Patient identifiers written into a generated DICOM's header; the privacy tests look for
// these strings in every file and output that could carry them.
struct DicomIdentifiers {
  std::string patientName = "DOE^JANE^PRIVACY";
  std::string patientId = "PID-0042";
  std::string birthDate = "19230417";  // DA, YYYYMMDD
  std::string accessionNumber = "ACC-77123";
  std::string institution = "St Privacy Test Hospital";
  std::vector<std::string> all() const { return {patientName, patientId, birthDate, accessionNumber, institution}; }
};

// Writes an 8-bit MONOCHROME2 DICOM (GDCM's ImageWriter, explicit VR little endian) with
// `pixels` (width*height, row-major) and the identifiers in its header, creating the
// parent folder. Throws std::runtime_error on failure or on a build without GDCM.
void writeTestDicom(const std::string& path, const std::vector<uint8_t>& pixels, int width, int height,
                    const DicomIdentifiers& identifiers = {});

}  // namespace ampbench::test
