// MedMNIST .npz: zip archive (libzip) of .npy arrays. Only InputError is allowed out; what
// comes back must be consistent (pixels = count x height x width x channels, one label each).
#include "FuzzInput.h"
#include "engine/data/ArrayFormats.h"
#include "engine/util/Errors.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace ampbench;
  const std::string path = fuzz::writeInput("input.npz", data, size);
  try {
    for (const auto& [split, a] : readNpz(path)) {
      if (a.pixels.size() != static_cast<size_t>(a.count * a.height * a.width * a.channels) ||
          a.labels.size() != static_cast<size_t>(a.count)) {
        std::abort();
      }
    }
  } catch (const InputError&) {
  } catch (const std::exception& e) {
    fuzz::unexpected("fuzz_npz", e);
  }
  return 0;
}
