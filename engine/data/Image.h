#pragma once
// Decoding of single image files. Plain C++ interface; the implementation uses OpenCV for
// JPEG/PNG/BMP/TIFF/PGM and GDCM for DICOM (when built with AMPBENCH_OPENCV).

#include <cstdint>
#include <stdexcept>
#include <string>
#include <vector>

namespace ampbench {

// 8-bit image, rows of width*channels bytes, channels 1 (gray) or 3 (RGB order).
struct Image8 {
  int width = 0;
  int height = 0;
  int channels = 0;
  std::vector<uint8_t> pixels;
};

// A file that cannot be decoded; what() is the reason shown to the user.
class DecodeError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// True if this build can decode image files (OpenCV + GDCM present).
bool imageDecodingAvailable();

// True for names with an image extension we decode (.jpg .jpeg .png .bmp .tif .tiff .pgm
// .ppm .dcm .dicom), case-insensitive, or extension-less files that look like DICOM.
bool looksLikeImageFile(const std::string& path);
bool isDicomFile(const std::string& path);  // "DICM" at 128, .dcm extension, or parses

// RunConfig::maxImagePixels's default, for callers without a run configuration.
constexpr int64_t kDefaultMaxImagePixels = 100'000'000;

struct DecodeOptions {
  // > 0: a JPEG at least twice this on its shorter side is decoded at 1/2, 1/4 or 1/8.
  int maxSide = 0;
  // An image whose header claims more pixels (as decoded: after JPEG reduction; all frames
  // of a DICOM) is refused before its pixels are allocated. 0 = no limit.
  int64_t maxPixels = kDefaultMaxImagePixels;
};

// Decodes a file to `channels` (1 or 3). 16-bit and float images are scaled by their own
// min/max to 8 bits; float images with NaN/inf pixels are refused. DICOM goes through GDCM:
// any transfer syntax GDCM decodes, rescale slope/intercept, the file's VOI window (else
// min/max), MONOCHROME1 inverted so bone is bright. Truncated JPEG/PNG/TIFF/BMP/PNM files
// are refused (OpenCV would fill the missing rows). Throws DecodeError with a short reason;
// never lets a cv::Exception or std::bad_alloc out.
Image8 decodeImageFile(const std::string& path, int channels, const DecodeOptions& options);
Image8 decodeImageFile(const std::string& path, int channels, int maxSide = 0);  // default pixel limit

// "image of 20000x20000 pixels is over the 100000000-pixel limit (--max-image-pixels)"
std::string pixelLimitReason(int64_t width, int64_t height, int64_t maxPixels);

// Area-averaged downscale / linear upscale to size x size (aspect ratio not kept, as the
// reference data was prepared).
Image8 resizeImage(const Image8& img, int size);
Image8 convertChannels(const Image8& img, int channels);

}  // namespace ampbench
