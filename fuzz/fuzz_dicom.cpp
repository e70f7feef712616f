// DICOM through GDCM: a .dcm name routes every input to the DICOM decoder (VOI window,
// rescale, planar colour, MONOCHROME1). Only DecodeError is allowed out.
#include "FuzzInput.h"
#include "engine/data/Image.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace ampbench;
  const std::string path = fuzz::writeInput("input.dcm", data, size);
  try {
    const Image8 img = decodeImageFile(path, 1, 0);
    if (img.pixels.size() != static_cast<size_t>(img.width) * img.height) {
      std::abort();
    }
  } catch (const DecodeError&) {
  } catch (const std::exception& e) {
    fuzz::unexpected("fuzz_dicom", e);
  }
  return 0;
}
