// The decoded-image cache file. The zip and LibTorch's archive format are not ours (the
// archive pre-check has its own target): this target writes a valid archive whose records
// come from the input and fuzzes what loadCache makes of them. Input layout: 5 bytes
// (images N, C, S; label count; flags: bit 0 int32 labels, bit 1 also val records), the
// labels as int64 little-endian, then the metadata JSON text. Only InputError is allowed
// out; a cache that loads must hold consistent splits (what training indexes with).
#include "FuzzInput.h"
#include "engine/data/ImageCache.h"
#include "engine/util/Errors.h"

#include <torch/torch.h>

#include <cstring>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace ampbench;
  if (size < 5) {
    return 0;
  }
  const int64_t n = data[0] & 7, c = data[1] % 4, s = data[2] % 9, count = data[3] & 7;
  const uint8_t flags = data[4];
  size_t pos = 5;
  std::vector<int64_t> labels;
  for (int64_t k = 0; k < count && pos + 8 <= size; ++k, pos += 8) {
    int64_t v;
    std::memcpy(&v, data + pos, 8);
    labels.push_back(v);
  }
  const std::string meta(reinterpret_cast<const char*>(data + pos), size - pos);
  const std::string path = fuzz::fuzzDir() + "/cache.pt";
  {
    torch::serialize::OutputArchive ar;
    auto labelsT = torch::tensor(labels, torch::kLong);
    if (flags & 1) {
      labelsT = labelsT.to(torch::kInt);
    }
    ar.write("train_images", torch::zeros({n, c, s, s}, torch::kUInt8));
    ar.write("train_labels", labelsT);
    if (flags & 2) {
      ar.write("val_images", torch::zeros({n, c, s, s}, torch::kUInt8));
      ar.write("val_labels", labelsT);
    }
    ar.write("meta", torch::from_blob(const_cast<char*>(meta.data()), {static_cast<int64_t>(meta.size())},
                                      torch::kUInt8).clone());
    ar.save_to(path);
  }
  try {
    PreparedData d;
    if (loadCache(path, "", d)) {
      const auto classes = static_cast<int64_t>(d.summary.classes.size());
      for (const auto& [name, split] : d.splits) {
        const auto m = split.images.size(0);
        if (split.labels.size(0) != m || static_cast<int64_t>(split.ids.size()) != m || classes == 0 ||
            split.images.size(1) != d.summary.channels || split.images.size(2) != d.summary.imageSize) {
          std::abort();
        }
        (void)torch::bincount(split.labels, {}, classes);  // what the summary counts do next
      }
    }
  } catch (const InputError&) {
  } catch (const std::exception& e) {
    fuzz::unexpected("fuzz_cache", e);
  }
  return 0;
}
