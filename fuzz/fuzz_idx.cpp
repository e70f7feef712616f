// MNIST-family IDX pair, gzip or plain (zlib reads both). Input layout: 4 bytes little-endian
// length L, L bytes of the labels file, the rest the images file (fuzz_make_seeds writes
// seeds so). Only InputError is allowed out.
#include "FuzzInput.h"
#include "engine/data/ArrayFormats.h"
#include "engine/util/Errors.h"

#include <algorithm>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace ampbench;
  if (size < 4) {
    return 0;
  }
  size_t labels = data[0] | data[1] << 8 | data[2] << 16 | static_cast<size_t>(data[3]) << 24;
  labels = std::min(labels, size - 4);
  const std::string labelsPath = fuzz::writeInput("labels-idx1-ubyte.gz", data + 4, labels);
  const std::string imagesPath = fuzz::writeInput("images-idx3-ubyte.gz", data + 4 + labels, size - 4 - labels);
  try {
    const ImageArray a = readIdx(imagesPath, labelsPath);
    if (a.pixels.size() != static_cast<size_t>(a.count * a.height * a.width * a.channels) ||
        a.labels.size() != static_cast<size_t>(a.count)) {
      std::abort();
    }
  } catch (const InputError&) {
  } catch (const std::exception& e) {
    fuzz::unexpected("fuzz_idx", e);
  }
  return 0;
}
