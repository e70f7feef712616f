// The memory-mapped cache file (format 2, engine/data/CacheFile.h): the input is the file.
// Only InputError is allowed out, and a cache that loads must hold consistent splits whose
// every image can be read (a block past the end of the file would be a SIGBUS here).
#include "FuzzInput.h"
#include "engine/data/ImageCache.h"
#include "engine/util/Errors.h"

#include <torch/torch.h>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace ampbench;
  const std::string path = fuzz::writeInput("cache2.cache", data, size);
  try {
    PreparedData d;
    if (loadCache(path, "", d)) {
      const auto classes = static_cast<int64_t>(d.summary.classes.size());
      for (const auto& [name, split] : d.splits) {
        const auto n = split.size();
        if (static_cast<int64_t>(split.ids.size()) != n || classes == 0 || split.channels() != d.summary.channels) {
          std::abort();
        }
        (void)split.range(0, n).sum().item<int64_t>();  // touches every mapped page
        (void)torch::bincount(split.labels, {}, classes);
      }
    }
  } catch (const InputError&) {
  } catch (const std::exception& e) {
    fuzz::unexpected("fuzz_cache2", e);
  }
  return 0;
}
