// DICOM: a .dcm name routes every input to the DICOM decoder. By default the product's
// path: our structure pre-check and the sample conversion (VOI window, rescale, planar
// colour, MONOCHROME1) in this process, GDCM in a forked child whose abort must come back
// as a DecodeError. AMPBENCH_IN_PROCESS=1 fuzzes GDCM itself in process (its assertions
// then end the run). Only DecodeError is allowed out.
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
