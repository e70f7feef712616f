#include "ui/QtImage.h"

#include <cstring>

namespace ampbench::ui {

QImage toQImage(const ampbench::Image8& image) {
  if (image.width <= 0 || image.height <= 0 || (image.channels != 1 && image.channels != 3)) {
    return {};
  }
  const size_t rowBytes = static_cast<size_t>(image.width) * static_cast<size_t>(image.channels);
  if (image.pixels.size() < rowBytes * static_cast<size_t>(image.height)) {
    return {};
  }
  QImage out(image.width, image.height, image.channels == 1 ? QImage::Format_Grayscale8 : QImage::Format_RGB888);
  if (out.isNull()) {
    return {};  // allocation refused (absurd size)
  }
  // QImage rows are 4-byte aligned, Image8 rows are packed: copy row by row.
  for (int y = 0; y < image.height; ++y) {
    std::memcpy(out.scanLine(y), image.pixels.data() + rowBytes * static_cast<size_t>(y), rowBytes);
  }
  return out;
}

}  // namespace ampbench::ui
