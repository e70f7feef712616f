#pragma once
// The engine's 8-bit images (decoded files, Grad-CAM inputs and overlays) as QImages, for
// widgets, thumbnails and the PDF report.

#include "engine/data/Image.h"

#include <QImage>

namespace ampbench::ui {

// A deep copy (the QImage owns its pixels; the Image8 may go away): 1 channel gives
// Format_Grayscale8, 3 channels (RGB order) Format_RGB888. A null QImage for an empty
// image, another channel count, or a pixel buffer shorter than width*height*channels.
QImage toQImage(const ampbench::Image8& image);

}  // namespace ampbench::ui
