// The zip pre-check that checkpoints, model.pt, TorchScript files, torch.save files and the
// cache pass before LibTorch's deserialiser. Only InputError is allowed out.
#include "FuzzInput.h"
#include "engine/util/ArchiveCheck.h"
#include "engine/util/Errors.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace ampbench;
  try {
    checkTorchArchiveBytes(data, size, "input.pt", "checkpoint");
  } catch (const InputError&) {
  } catch (const std::exception& e) {
    fuzz::unexpected("fuzz_archive", e);
  }
  return 0;
}
