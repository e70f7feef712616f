// Our torch.save reader's unpickler. The input is data.pkl; the target wraps it in a valid
// torch.save zip with four 256-byte storages ("0".."3"), so mutations reach the unpickler
// rather than the zip's CRCs (the archive pre-check has its own target). Any std::exception
// is the reader's documented failure (loadPretrained catches them); crashes, sanitizer
// reports and out-of-memory are findings.
#include "FuzzInput.h"
#include "engine/export/TorchSaveReader.h"
#include "engine/util/ArchiveCheck.h"

#include <caffe2/serialize/inline_container.h>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace ampbench;
  const std::string path = fuzz::fuzzDir() + "/archive.pt";
  {
    caffe2::serialize::PyTorchStreamWriter writer(path);
    writer.writeRecord("data.pkl", data, size);
    std::vector<uint8_t> storage(256);
    for (size_t k = 0; k < storage.size(); ++k) {
      storage[k] = static_cast<uint8_t>(k);
    }
    for (const char* key : {"data/0", "data/1", "data/2", "data/3"}) {
      writer.writeRecord(key, storage.data(), storage.size());
    }
    writer.writeEndOfFile();
  }
  try {
    checkTorchArchive(path, "weights file");
    const auto state = readTorchSaveStateDict(path);
    for (const auto& [name, t] : state) {
      (void)t.sum();  // touch every element the tensor claims
    }
  } catch (const std::exception&) {
  }
  return 0;
}
