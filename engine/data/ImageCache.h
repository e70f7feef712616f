#pragma once
// Decoded datasets: every image decoded once into a uint8 tensor cache (N x C x S x S),
// optionally persisted to a cache file keyed by path, size and mtime so a machine
// without OpenCV can train from it.

#include "engine/data/Dataset.h"
#include "engine/data/Image.h"
#include "engine/core/Events.h"
#include "engine/util/CancelToken.h"

#include <torch/types.h>

#include <functional>
#include <map>
#include <string>
#include <vector>

namespace ampbench {

struct SplitTensors {
  torch::Tensor images;  // uint8 [N, C, S, S]
  torch::Tensor labels;  // int64 [N]
  std::vector<std::string> ids;  // file path, or "<source>#<split>/<index>" for arrays
  int64_t size() const { return labels.defined() ? labels.size(0) : 0; }
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

void saveCache(const std::string& path, const PreparedData& data, const std::string& key);
// Loads a cache; when `expectedKey` is non-empty and differs, returns false.
bool loadCache(const std::string& path, const std::string& expectedKey, PreparedData& out);

// One image file decoded and resized to the tensor layout the model takes (uint8 C x S x S).
// Images over `maxImagePixels` (RunConfig::maxImagePixels) are refused with DecodeError.
torch::Tensor decodeToTensor(const std::string& path, int64_t imageSize, int64_t channels,
                             int64_t maxImagePixels = kDefaultMaxImagePixels);

}  // namespace ampbench
