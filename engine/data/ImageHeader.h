#pragma once
// What an encoded raster file says about itself, read from its bytes without decoding:
// the dimensions (so a 20000x20000 PNG is refused before its 1.2 GB of pixels are
// allocated) and whether its structure is complete (OpenCV 4.6 decodes a JPEG cut short
// "successfully", filling the missing rows). Plain C++, no codec library: OpenCV has no
// public header-only API in 4.6, and these checks must run before it allocates.

#include <cstddef>
#include <cstdint>
#include <string>

namespace ampbench {

struct RasterHeader {
  std::string format;  // "JPEG", "PNG", "BMP", "TIFF", "PNM"; empty when not recognised
  int64_t width = 0;   // 0 when the header does not say (or is cut before it does)
  int64_t height = 0;
  bool hasSize() const { return width > 0 && height > 0; }
};

RasterHeader readRasterHeader(const uint8_t* data, size_t size);

// Empty when the file's structure is complete as far as the format lets us see without
// decoding: JPEG reaches its end-of-image marker, PNG its IEND chunk, TIFF strips/tiles
// and BMP/PNM pixel data lie inside the file. Else a short stable reason, e.g.
// "truncated JPEG (no end-of-image marker)".
std::string rasterTruncation(const uint8_t* data, size_t size, const RasterHeader& header);

}  // namespace ampbench
