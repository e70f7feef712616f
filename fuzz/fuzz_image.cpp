// Image decode path: decodeImageFile as the dataset decoder calls it (OpenCV raster or
// GDCM when the bytes carry the DICM magic), then the resize to the model's size. Only
// DecodeError is allowed out.
#include "FuzzInput.h"
#include "engine/data/Image.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace ampbench;
  const std::string path = fuzz::writeInput("input.img", data, size);
  const int channels = size % 2 == 0 ? 1 : 3;
  try {
    Image8 img = decodeImageFile(path, channels, size % 3 == 0 ? 16 : 0);
    img = resizeImage(convertChannels(img, channels), 16);
    if (img.pixels.size() != static_cast<size_t>(16 * 16 * channels)) {
      std::abort();
    }
  } catch (const DecodeError&) {
  } catch (const std::exception& e) {
    fuzz::unexpected("fuzz_image", e);
  }
  return 0;
}
