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

// Decodes a file to `channels` (1 or 3). 16-bit images are scaled to 8 bits. DICOM goes
// through GDCM: any transfer syntax GDCM decodes, rescale slope/intercept, the file's VOI
// window (else min/max), MONOCHROME1 inverted so bone is bright. Throws DecodeError.
// `maxSide` > 0 allows reduced-size JPEG decoding when the image is much larger.
Image8 decodeImageFile(const std::string& path, int channels, int maxSide = 0);

// Area-averaged downscale / linear upscale to size x size (aspect ratio not kept, as the
// reference data was prepared).
Image8 resizeImage(const Image8& img, int size);
Image8 convertChannels(const Image8& img, int channels);

}  // namespace ampbench
