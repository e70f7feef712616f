#pragma once
// Decoded datasets: every image decoded once into a uint8 tensor cache (N x C x S x S),
// optionally persisted to a cache file keyed by path, size and mtime so a machine
// without OpenCV can train from it. A cache file is memory-mapped, not read; with a memory
// cap (RunConfig::cacheMemoryMb) a dataset larger than the cap stays in a file (the cache,
// or an unnamed temporary one) and batches are read from it (ImageStore.h).

#include "engine/data/Dataset.h"
#include "engine/data/Image.h"
#include "engine/core/Events.h"
#include "engine/util/CancelToken.h"

#include <torch/types.h>

#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

namespace ampbench {

class ImageStore;

struct SplitTensors {
  // uint8 [N, C, S, S], in memory or mapped read-only from a cache file; undefined when
  // `store` reads the images from a file instead (a dataset over the memory cap).
  torch::Tensor images;
  torch::Tensor labels;  // int64 [N]
  std::vector<std::string> ids;  // file path, or "<source>#<split>/<index>" for arrays
  std::shared_ptr<const ImageStore> store;
  int64_t size() const { return labels.defined() ? labels.size(0) : 0; }
  int64_t channels() const;
  // uint8 [n, C, S, S]: the images at `indices` (int64), from memory or the store.
  torch::Tensor gather(const torch::Tensor& indices) const;
  // uint8 [end - begin, C, S, S]: a view in memory, a read from the store.
  torch::Tensor range(int64_t begin, int64_t end) const;
};

struct PreparedData {
  DatasetSummary summary;
  std::map<std::string, SplitTensors> splits;
};

using ProgressFn = std::function<void(const DataProgressEvent&)>;

// Scans, decodes (in parallel, skipping and listing unreadable files) and normalises
// statistics. Uses/refreshes config.cachePath when set. Data "synthetic" or
// "synthetic:N" makes N random training images (benchmarks, GPU machines).
// Throws InputError for unusable data; returns an empty PreparedData when cancelled.
PreparedData prepareData(const RunConfig& config, const ProgressFn& progress, const CancelToken& cancel);

// Decodes one split of an index (exposed for tests).
SplitTensors decodeSplit(const SplitSource& split, const std::string& source, const std::string& name,
                         int64_t imageSize, int64_t channels, std::vector<SkippedFile>& skipped,
                         const ProgressFn& progress, const CancelToken& cancel, int threads,
                         int64_t maxImagePixels = kDefaultMaxImagePixels);
// decodeSplit within a memory cap (MiB; 0 = none): a split whose decoded size exceeds it is
// decoded a chunk at a time into an unnamed temporary file in `tempDir` and read from there.
SplitTensors decodeSplitCapped(const SplitSource& split, const std::string& source, const std::string& name,
                               int64_t imageSize, int64_t channels, std::vector<SkippedFile>& skipped,
                               const ProgressFn& progress, const CancelToken& cancel, int threads,
                               int64_t maxImagePixels, int64_t memoryCapMb, const std::string& tempDir);

// Writes a format-2 cache file (CacheFile.h) through a temporary name, fsync and rename.
void saveCache(const std::string& path, const PreparedData& data, const std::string& key);
// Loads a cache; when `expectedKey` is non-empty and differs, returns false. A format-2 file
// is mapped (or, when its images exceed `memoryCapMb` > 0, read on demand through a bounded
// LRU); a format-1 file (a LibTorch archive) is read whole and rewritten as format 2, with a
// line on stderr. Throws InputError "... (delete it to rebuild)" for a damaged file.
bool loadCache(const std::string& path, const std::string& expectedKey, PreparedData& out,
               int64_t memoryCapMb = 0);

// One image file decoded and resized to the tensor layout the model takes (uint8 C x S x S).
// Images over `maxImagePixels` (RunConfig::maxImagePixels) are refused with DecodeError.
torch::Tensor decodeToTensor(const std::string& path, int64_t imageSize, int64_t channels,
                             int64_t maxImagePixels = kDefaultMaxImagePixels);

}  // namespace ampbench
