#include "engine/data/ImageCache.h"

#include "engine/data/CacheFile.h"
#include "engine/data/Image.h"
#include "engine/data/ImageStore.h"
#include "engine/util/ArchiveCheck.h"
#include "engine/util/Errors.h"
#include "engine/util/Files.h"
#include "engine/util/Threads.h"

#include <nlohmann/json.hpp>
#include <torch/torch.h>

#include <array>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <mutex>
#include <numeric>
#include <random>
#include <sstream>
#include <thread>

namespace fs = std::filesystem;

namespace ampbench {

namespace {

torch::Tensor imageToTensor(const Image8& img) {
  // HWC uint8 -> CHW uint8 (owning copy). clone, not contiguous(): with one channel the
  // permuted view already counts as contiguous and would keep pointing into `img`.
  auto t = torch::from_blob(const_cast<uint8_t*>(img.pixels.data()), {img.height, img.width, img.channels},
                            torch::kUInt8);
  return t.permute({2, 0, 1}).clone(at::MemoryFormat::Contiguous);
}

// Arrays (npz/idx) are resized with torch: area averaging when shrinking, bilinear when
// enlarging; the same on builds with and without OpenCV.
torch::Tensor resizeArrayBatch(torch::Tensor nchw, int64_t size) {
  if (nchw.size(2) == size && nchw.size(3) == size) {
    return nchw;
  }
  auto f = nchw.to(torch::kFloat);
  namespace F = torch::nn::functional;
  if (nchw.size(2) >= size && nchw.size(3) >= size) {
    f = F::interpolate(f, F::InterpolateFuncOptions().size(std::vector<int64_t>{size, size}).mode(torch::kArea));
  } else {
    f = F::interpolate(f, F::InterpolateFuncOptions()
                              .size(std::vector<int64_t>{size, size})
                              .mode(torch::kBilinear)
                              .align_corners(false));
  }
  return f.round_().clamp_(0, 255).to(torch::kUInt8);
}

// Arrays converted and resized a chunk at a time (bounded temporary memory for big sets);
// `sink` gets each uint8 [k, C, S, S] chunk in order.
void forEachArrayChunk(const ImageArray& a, int64_t imageSize, int64_t channels,
                       const std::function<void(const torch::Tensor&)>& sink) {
  auto t = torch::from_blob(const_cast<uint8_t*>(a.pixels.data()), {a.count, a.height, a.width, a.channels},
                            torch::kUInt8)
               .permute({0, 3, 1, 2});
  const int64_t chunk = 2048;
  for (int64_t s = 0; s < a.count; s += chunk) {
    auto part = t.slice(0, s, std::min(a.count, s + chunk));
    if (a.channels == 1 && channels == 3) {
      part = part.expand({part.size(0), 3, a.height, a.width});
    } else if (a.channels == 3 && channels == 1) {
      // ITU-R 601 luma, as OpenCV's RGB2GRAY
      auto f = part.to(torch::kFloat);
      part = (f.select(1, 0) * 0.299 + f.select(1, 1) * 0.587 + f.select(1, 2) * 0.114)
                 .round()
                 .clamp(0, 255)
                 .to(torch::kUInt8)
                 .unsqueeze(1);
    }
    sink(resizeArrayBatch(part.contiguous(), imageSize).contiguous());
  }
}

torch::Tensor arraysToTensor(const ImageArray& a, int64_t imageSize, int64_t channels) {
  std::vector<torch::Tensor> chunks;
  forEachArrayChunk(a, imageSize, channels, [&](const torch::Tensor& c) { chunks.push_back(c); });
  if (chunks.empty()) {
    return torch::empty({0, channels, imageSize, imageSize}, torch::kUInt8);
  }
  return chunks.size() == 1 ? chunks.front() : torch::cat(chunks).contiguous();
}

std::string fileKey(const std::string& path) {
  std::error_code ec;
  const auto size = fs::file_size(path, ec);
  const auto mtime = fs::last_write_time(path, ec).time_since_epoch().count();
  return path + "|" + std::to_string(ec ? 0 : size) + "|" + std::to_string(mtime);
}

std::string cacheKey(const DatasetIndex& index, const RunConfig& c) {
  // Hash of every file's path, size and mtime, plus the decode settings.
  std::string s = index.source + "|" + std::to_string(c.imageSize) + "|" + std::to_string(c.channels) + "|" +
                  std::to_string(c.limitPerSplit) + "|" + std::to_string(c.split.valFraction) + "|" +
                  std::to_string(c.split.testFraction) + "|" + std::to_string(c.split.splitSeed);
  if (index.kind != "folder") {
    s += "|" + fileKey(index.source);
  }
  if (c.maxImagePixels != kDefaultMaxImagePixels) {  // decides which files are skipped; old keys stay valid
    s += "|px" + std::to_string(c.maxImagePixels);
  }
  uint64_t h = 1469598103934665603ULL;  // FNV-1a
  auto mix = [&h](const std::string& str) {
    for (unsigned char ch : str) {
      h = (h ^ ch) * 1099511628211ULL;
    }
  };
  mix(s);
  for (const auto& [name, split] : index.splits) {
    mix(name);
    for (const auto& f : split.files) {
      mix(fileKey(f.path));
    }
  }
  return std::to_string(h);
}

// Images per chunk when a split is streamed or scanned: a quarter of the memory cap (at most
// 64 MiB), and at least 16 images so the decode threads have work.
int64_t chunkImages(int64_t imageBytes, int64_t capBytes) {
  const int64_t budget = capBytes > 0 ? std::min<int64_t>(capBytes / 4, int64_t{64} << 20) : int64_t{64} << 20;
  return std::clamp<int64_t>(budget / std::max<int64_t>(1, imageBytes), 16, 4096);
}

// Per-channel mean and std from exact integer sums (a histogram of the uint8 values), read
// a chunk at a time: the same figures whether the split is in memory, mapped or in a file.
void computeNormalisation(PreparedData& d, int64_t capBytes) {
  const auto& train = d.splits.at("train");
  const int64_t c = train.channels();
  const int64_t n = train.size();
  const int64_t pixels = d.summary.imageSize * d.summary.imageSize;
  std::vector<std::array<int64_t, 256>> hist(static_cast<size_t>(c));
  for (auto& h : hist) {
    h.fill(0);
  }
  const int64_t step = chunkImages(c * pixels, capBytes);
  for (int64_t s = 0; s < n; s += step) {
    const auto chunk = train.range(s, std::min(n, s + step)).contiguous();
    const uint8_t* p = chunk.data_ptr<uint8_t>();
    for (int64_t i = 0; i < chunk.size(0); ++i) {
      for (int64_t k = 0; k < c; ++k) {
        auto& h = hist[static_cast<size_t>(k)];
        for (int64_t j = 0; j < pixels; ++j) {
          ++h[*p++];
        }
      }
    }
  }
  d.summary.mean.assign(c, 0.5);
  d.summary.std.assign(c, 0.25);
  const int64_t count = n * pixels;
  if (count > 0) {
    for (int64_t k = 0; k < c; ++k) {
      int64_t sum = 0, sq = 0;  // at most 255^2 * 2^48 pixels: fits
      for (int64_t v = 0; v < 256; ++v) {
        sum += v * hist[static_cast<size_t>(k)][static_cast<size_t>(v)];
        sq += v * v * hist[static_cast<size_t>(k)][static_cast<size_t>(v)];
      }
      const double mean = static_cast<double>(sum) / (255.0 * static_cast<double>(count));
      const double meanSq = static_cast<double>(sq) / (255.0 * 255.0 * static_cast<double>(count));
      d.summary.mean[k] = mean;
      d.summary.std[k] = std::sqrt(std::max(meanSq - mean * mean, 1e-6));
    }
  }
}

int64_t syntheticCount(const std::string& spec) {
  int64_t n = 1024;
  const auto colon = spec.find(':');
  if (colon != std::string::npos) {
    try {
      n = std::stoll(spec.substr(colon + 1));
    } catch (const std::exception&) {
      throw InputError("synthetic data is written 'synthetic' or 'synthetic:N' with N images");
    }
  }
  if (n < 4) {
    throw InputError("synthetic:N needs N >= 4");
  }
  return n;
}

// Random images and labels. With a writer, each split's images go into it a chunk at a time
// (the generator draws serially, so the values are the same as in memory) and the returned
// splits hold no images.
PreparedData syntheticData(const RunConfig& c, const std::string& spec, CacheWriter* writer, int64_t chunk) {
  const int64_t n = syntheticCount(spec);
  PreparedData d;
  d.summary.source = spec;
  d.summary.kind = "synthetic";
  d.summary.classes = {"class0", "class1"};
  auto gen = at::make_generator<at::CPUGeneratorImpl>(c.seed);
  const auto u8 = torch::TensorOptions().dtype(torch::kUInt8);
  auto make = [&](const std::string& name, int64_t count) {
    SplitTensors s;
    if (writer) {
      writer->beginSplit(name);
      for (int64_t k = 0; k < count; k += chunk) {
        writer->addImages(
            torch::randint(0, 256, {std::min(chunk, count - k), c.channels, c.imageSize, c.imageSize}, gen, u8));
      }
    } else {
      s.images = torch::randint(0, 256, {count, c.channels, c.imageSize, c.imageSize}, gen, u8);
    }
    s.labels = torch::randint(0, 2, {count}, gen, torch::TensorOptions().dtype(torch::kLong));
    for (int64_t i = 0; i < count; ++i) {
      s.ids.push_back("synthetic/" + std::to_string(i));
    }
    if (writer) {
      writer->endSplit(std::vector<int64_t>(s.labels.data_ptr<int64_t>(), s.labels.data_ptr<int64_t>() + count),
                       s.ids);
    }
    d.splits[name] = std::move(s);
  };
  make("train", n);
  make("val", std::max<int64_t>(n / 8, 2));
  d.summary.splitOrigin = {{"train", "synthetic"}, {"val", "synthetic"}};
  return d;
}

void fillSummaryCounts(PreparedData& d) {
  d.summary.counts.clear();
  for (const auto& [name, s] : d.splits) {
    std::vector<int64_t> counts(d.summary.classes.size(), 0);
    if (s.labels.defined() && s.labels.numel() > 0) {
      auto bc = torch::bincount(s.labels, {}, static_cast<int64_t>(counts.size()));
      for (size_t k = 0; k < counts.size(); ++k) {
        counts[k] = bc[static_cast<int64_t>(k)].item<int64_t>();
      }
    }
    d.summary.counts[name] = counts;
  }
}

}  // namespace

torch::Tensor decodeToTensor(const std::string& path, int64_t imageSize, int64_t channels, int64_t maxImagePixels) {
  DecodeOptions options;
  options.maxSide = static_cast<int>(imageSize);
  options.maxPixels = maxImagePixels;
  auto img = decodeImageFile(path, static_cast<int>(channels), options);
  img = resizeImage(convertChannels(img, static_cast<int>(channels)), static_cast<int>(imageSize));
  return imageToTensor(img);
}

namespace {

// Decodes files [begin, end) of a split in parallel into rows [0, end - begin) of `out`;
// `ok` and `reasons` are indexed the same way. Progress counts from `progressBase`.
void decodeRange(const SplitSource& split, int64_t begin, int64_t end, torch::Tensor& out, std::vector<char>& ok,
                 std::vector<std::string>& reasons, int64_t imageSize, int64_t channels, int64_t maxImagePixels,
                 int threads, const ProgressFn& progress, int64_t progressBase, int64_t progressTotal,
                 const CancelToken& cancel) {
  const int64_t n = end - begin;
  ok.assign(static_cast<size_t>(n), 0);
  reasons.assign(static_cast<size_t>(n), std::string());
  std::atomic<int64_t> next{0};
  std::atomic<int64_t> done{0};
  auto worker = [&] {
    quietHelperThread();  // `threads` workers already use the cores; no team each on top
    for (;;) {
      const int64_t i = next.fetch_add(1);
      if (i >= n || cancel.isCancelled()) {
        return;
      }
      try {
        out[i].copy_(decodeToTensor(split.files[begin + i].path, imageSize, channels, maxImagePixels));
        ok[i] = 1;
      } catch (const std::exception& e) {
        reasons[i] = e.what();
      }
      done.fetch_add(1);
    }
  };
  const int nThreads = std::max(1, std::min<int>(threads, static_cast<int>(n)));
  std::vector<std::thread> pool;
  for (int t = 0; t < nThreads; ++t) {
    pool.emplace_back(worker);
  }
  // Report progress from the calling thread; observers expect their own thread.
  int64_t reported = -1;
  while (done.load() < n && !cancel.isCancelled()) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    const int64_t d = done.load();
    if (progress && d != reported) {
      progress({"decode", progressBase + d, progressTotal});
      reported = d;
    }
  }
  for (auto& t : pool) {
    t.join();
  }
  if (progress && done.load() != reported) {  // the loop may already have sent the last count
    progress({"decode", progressBase + done.load(), progressTotal});
  }
}

// Keeps the readable rows of a decoded range: their indices (into the range), labels and
// ids; the unreadable ones join `skipped` with their reason.
std::vector<int64_t> keepReadable(const SplitSource& split, int64_t begin, const std::vector<char>& ok,
                                  const std::vector<std::string>& reasons, const CancelToken& cancel,
                                  std::vector<int64_t>& labels, std::vector<std::string>& ids,
                                  std::vector<SkippedFile>& skipped) {
  std::vector<int64_t> keep;
  for (size_t i = 0; i < ok.size(); ++i) {
    const auto& f = split.files[static_cast<size_t>(begin) + i];
    if (ok[i]) {
      keep.push_back(static_cast<int64_t>(i));
      labels.push_back(f.label);
      ids.push_back(f.path);
    } else if ((!cancel.isCancelled() || !reasons[i].empty()) && !reasons[i].empty()) {
      skipped.push_back({f.path, reasons[i]});
    }
  }
  return keep;
}

// Decodes one split into `writer` a chunk at a time: only one chunk is ever in memory.
void streamSplit(const SplitSource& split, const std::string& source, const std::string& name, int64_t imageSize,
                 int64_t channels, std::vector<SkippedFile>& skipped, const ProgressFn& progress,
                 const CancelToken& cancel, int threads, int64_t maxImagePixels, int64_t chunk, CacheWriter& writer) {
  writer.beginSplit(name);
  std::vector<int64_t> labels;
  std::vector<std::string> ids;
  if (split.files.empty()) {
    forEachArrayChunk(split.arrays, imageSize, channels, [&](const torch::Tensor& c) { writer.addImages(c); });
    labels = split.arrays.labels;
    for (int64_t i = 0; i < split.arrays.count; ++i) {
      ids.push_back(source + "#" + name + "/" + std::to_string(i));
    }
    if (progress) {
      progress({"decode", split.arrays.count, split.arrays.count});
    }
  } else {
    const auto n = static_cast<int64_t>(split.files.size());
    auto buffer = torch::empty({std::min(chunk, n), channels, imageSize, imageSize}, torch::kUInt8);
    std::vector<char> ok;
    std::vector<std::string> reasons;
    for (int64_t begin = 0; begin < n && !cancel.isCancelled(); begin += chunk) {
      const int64_t end = std::min(n, begin + chunk);
      decodeRange(split, begin, end, buffer, ok, reasons, imageSize, channels, maxImagePixels, threads, progress,
                  begin, n, cancel);
      const auto keep = keepReadable(split, begin, ok, reasons, cancel, labels, ids, skipped);
      if (static_cast<int64_t>(keep.size()) == end - begin) {
        writer.addImages(buffer.slice(0, 0, end - begin));
      } else if (!keep.empty()) {
        writer.addImages(buffer.index_select(0, torch::tensor(keep, torch::kLong)));
      }
    }
  }
  writer.endSplit(labels, ids);
}

nlohmann::json metaFromSummary(const DatasetSummary& s, const std::string& key) {
  nlohmann::json meta;
  meta["key"] = key;
  meta["source"] = s.source;
  meta["kind"] = s.kind;
  meta["classes"] = s.classes;
  meta["image_size"] = s.imageSize;
  meta["channels"] = s.channels;
  meta["split_origin"] = s.splitOrigin;
  nlohmann::json skipped = nlohmann::json::array();
  for (const auto& f : s.skipped) {
    skipped.push_back({{"path", f.path}, {"reason", f.reason}});
  }
  meta["skipped"] = skipped;
  meta["ignored_count"] = s.ignoredCount;
  return meta;
}

// The summary fields both formats record, checked.
DatasetSummary summaryFromMeta(const nlohmann::json& meta, const std::string& path) {
  DatasetSummary d;
  d.source = meta.value("source", path);
  d.kind = meta.value("kind", "cache");
  d.classes = meta.at("classes").get<std::vector<std::string>>();
  d.imageSize = meta.value("image_size", int64_t{0});
  d.channels = meta.value("channels", int64_t{1});
  d.splitOrigin = meta.value("split_origin", std::map<std::string, std::string>{});
  d.ignoredCount = meta.value("ignored_count", int64_t{0});
  if (d.classes.empty()) {
    throw InputError("no classes");
  }
  if (d.imageSize < 1 || d.imageSize > 65536 || (d.channels != 1 && d.channels != 3)) {
    throw InputError("image size " + std::to_string(d.imageSize) + " with " + std::to_string(d.channels) +
                     " channels");
  }
  for (const auto& s : meta.value("skipped", nlohmann::json::array())) {
    d.skipped.push_back({s.at("path").get<std::string>(), s.at("reason").get<std::string>()});
  }
  return d;
}

void checkLabels(const torch::Tensor& labels, const std::string& name, int64_t numClasses) {
  if (labels.numel() > 0 && (labels.min().item<int64_t>() < 0 || labels.max().item<int64_t>() >= numClasses)) {
    throw InputError("split '" + name + "' has labels outside its " + std::to_string(numClasses) + " classes");
  }
}

// A format-2 cache as prepared data: images mapped, or over `capBytes` (> 0) read from the
// file through one LRU of at most `capBytes` shared by the splits.
PreparedData fromCache2(const OpenedCache& cache, int64_t capBytes) {
  PreparedData d;
  d.summary = summaryFromMeta(cache.meta, cache.file->path());
  uint64_t total = 0;
  for (const auto& [name, b] : cache.blocks) {
    total += static_cast<uint64_t>(b.count) * cache.imageBytes();  // each checked against the file size
  }
  std::shared_ptr<ImageLru> lru;
  const bool stream = capBytes > 0 && total > static_cast<uint64_t>(capBytes);
  if (stream) {
    lru = std::make_shared<ImageLru>(capBytes, static_cast<int64_t>(cache.imageBytes()));
  }
  const auto& ids = cache.meta.at("ids");
  const auto numClasses = static_cast<int64_t>(d.summary.classes.size());
  for (const auto& [name, b] : cache.blocks) {
    SplitTensors s;
    s.ids = ids.at(name).get<std::vector<std::string>>();
    if (static_cast<int64_t>(s.ids.size()) != b.count) {
      throw InputError("split '" + name + "' has different numbers of images, labels and names");
    }
    s.labels = readCacheLabels(cache, b);
    checkLabels(s.labels, name, numClasses);
    if (stream) {
      s.store = std::make_shared<ImageStore>(cache.file, b.imagesOffset, b.count, cache.channels, cache.imageSize,
                                             lru);
    } else {
      s.images = mapCacheImages(cache, b);
    }
    d.splits[name] = std::move(s);
  }
  return d;
}

// A cache file is input like any other (copied between machines, half-written, edited):
// every figure the training loop later trusts as an index or a size is checked here.
PreparedData readCacheContents(torch::serialize::InputArchive& ar, const std::string& path,
                               const nlohmann::json& meta) {
  PreparedData d;
  d.summary = summaryFromMeta(meta, path);
  const auto numClasses = static_cast<int64_t>(d.summary.classes.size());
  for (const auto& [name, ids] : meta.at("ids").items()) {
    SplitTensors s;
    ar.read(name + "_images", s.images);
    ar.read(name + "_labels", s.labels);
    s.ids = ids.get<std::vector<std::string>>();
    const auto& im = s.images;
    if (im.scalar_type() != torch::kUInt8 || im.dim() != 4 || im.size(1) != d.summary.channels ||
        im.size(2) != d.summary.imageSize || im.size(3) != d.summary.imageSize) {
      throw InputError("split '" + name + "' images are not uint8 N x C x S x S of the recorded size");
    }
    if (s.labels.scalar_type() != torch::kLong || s.labels.dim() != 1 || s.labels.size(0) != im.size(0) ||
        static_cast<int64_t>(s.ids.size()) != im.size(0)) {
      throw InputError("split '" + name + "' has different numbers of images, labels and names");
    }
    checkLabels(s.labels, name, numClasses);
    d.splits[name] = std::move(s);
  }
  return d;
}

const std::string kRemedy = " (delete it to rebuild)";

[[noreturn]] void rethrowDamaged(const std::string& path) {
  try {
    throw;
  } catch (const InputError& e) {
    const std::string what = e.what();
    throw InputError(what.find(kRemedy) != std::string::npos
                         ? what
                         : "cache file '" + path + "' is damaged: " + what + kRemedy);
  } catch (const std::exception& e) {  // nlohmann::json and c10 errors: a malformed record
    throw InputError("cache file '" + path + "' is damaged: " + e.what() + kRemedy);
  }
}

// Format 1: a LibTorch archive, read whole. Returns false on a key mismatch; `key` gets the
// file's key.
bool loadCacheFormat1(const std::string& path, const std::string& expectedKey, PreparedData& out, std::string& key) {
  try {
    checkTorchArchive(path, "cache file");
  } catch (const InputError& e) {
    throw InputError(e.what() + kRemedy);
  }
  torch::serialize::InputArchive ar;
  try {
    ar.load_from(path);
  } catch (const std::exception& e) {
    throw InputError("cannot read cache file '" + path + "': " + e.what() + kRemedy);
  }
  try {
    torch::Tensor metaT;
    ar.read("meta", metaT);
    if (metaT.scalar_type() != torch::kUInt8 || metaT.dim() != 1) {
      throw InputError("no metadata record");
    }
    metaT = metaT.contiguous();
    const std::string text(reinterpret_cast<const char*>(metaT.data_ptr<uint8_t>()),
                           static_cast<size_t>(metaT.numel()));
    const auto meta = nlohmann::json::parse(text);
    if (!meta.is_object() || meta.value("format", "") != "ampbench-cache-1") {
      throw InputError("'" + path + "' is not an AmpBench cache file" + kRemedy);
    }
    key = meta.value("key", "");
    if (!expectedKey.empty() && key != expectedKey) {
      return false;
    }
    out = readCacheContents(ar, path, meta);
    return true;
  } catch (...) {
    rethrowDamaged(path);
  }
}

// An unnamed temporary store in `dir` (the run folder: a disk the run writes to anyway,
// where /tmp may be memory), else in $TMPDIR.
std::unique_ptr<CacheWriter> temporaryWriter(const std::string& dir) {
  std::error_code ec;
  const auto tmp = fs::temp_directory_path(ec);
  if (!dir.empty()) {
    try {
      return CacheWriter::temporary(dir);
    } catch (const WriteError&) {
      if (ec) {
        throw;
      }
    }
  }
  return CacheWriter::temporary(ec ? std::string(".") : tmp.string());
}

}  // namespace

int64_t SplitTensors::channels() const {
  if (store) {
    return store->channels();
  }
  return images.defined() && images.dim() == 4 ? images.size(1) : 0;
}

torch::Tensor SplitTensors::gather(const torch::Tensor& indices) const {
  if (!store) {
    return images.index_select(0, indices);
  }
  const auto idx = indices.to(torch::kLong).contiguous();
  return store->gather(idx.data_ptr<int64_t>(), idx.numel());
}

torch::Tensor SplitTensors::range(int64_t begin, int64_t end) const {
  return store ? store->range(begin, end) : images.slice(0, begin, end);
}

SplitTensors decodeSplit(const SplitSource& split, const std::string& source, const std::string& name,
                         int64_t imageSize, int64_t channels, std::vector<SkippedFile>& skipped,
                         const ProgressFn& progress, const CancelToken& cancel, int threads,
                         int64_t maxImagePixels) {
  SplitTensors out;
  if (split.files.empty()) {
    out.images = arraysToTensor(split.arrays, imageSize, channels);
    out.labels = torch::tensor(split.arrays.labels, torch::kLong);
    for (int64_t i = 0; i < split.arrays.count; ++i) {
      out.ids.push_back(source + "#" + name + "/" + std::to_string(i));
    }
    if (progress) {
      progress({"decode", split.arrays.count, split.arrays.count});
    }
    return out;
  }
  const auto n = static_cast<int64_t>(split.files.size());
  auto images = torch::empty({n, channels, imageSize, imageSize}, torch::kUInt8);
  std::vector<char> ok;
  std::vector<std::string> reasons;
  decodeRange(split, 0, n, images, ok, reasons, imageSize, channels, maxImagePixels, threads, progress, 0, n, cancel);
  std::vector<int64_t> labels;
  const auto keep = keepReadable(split, 0, ok, reasons, cancel, labels, out.ids, skipped);
  out.images = static_cast<int64_t>(keep.size()) == n ? images
                                                      : images.index_select(0, torch::tensor(keep, torch::kLong));
  out.labels = torch::tensor(labels, torch::kLong);
  return out;
}

SplitTensors decodeSplitCapped(const SplitSource& split, const std::string& source, const std::string& name,
                               int64_t imageSize, int64_t channels, std::vector<SkippedFile>& skipped,
                               const ProgressFn& progress, const CancelToken& cancel, int threads,
                               int64_t maxImagePixels, int64_t memoryCapMb, const std::string& tempDir) {
  const int64_t capBytes = memoryCapMb << 20;
  const int64_t imageBytes = channels * imageSize * imageSize;
  if (memoryCapMb <= 0 || split.size() * imageBytes <= capBytes) {
    return decodeSplit(split, source, name, imageSize, channels, skipped, progress, cancel, threads,
                       maxImagePixels);
  }
  auto writer = temporaryWriter(tempDir);
  streamSplit(split, source, name, imageSize, channels, skipped, progress, cancel, threads, maxImagePixels,
              chunkImages(imageBytes, capBytes), *writer);
  if (cancel.isCancelled()) {
    return {};
  }
  DatasetSummary summary;
  summary.classes = {"any"};  // the labels were checked by the scan; the store only needs shapes
  summary.imageSize = imageSize;
  summary.channels = channels;
  auto meta = metaFromSummary(summary, "");
  const auto cache = openCacheFormat2(writer->finish(meta));
  const auto& b = cache.blocks.at(name);
  SplitTensors out;
  out.ids = cache.meta.at("ids").at(name).get<std::vector<std::string>>();
  out.labels = readCacheLabels(cache, b);
  out.store = std::make_shared<ImageStore>(cache.file, b.imagesOffset, b.count, channels, imageSize,
                                           std::make_shared<ImageLru>(capBytes, imageBytes));
  return out;
}

void saveCache(const std::string& path, const PreparedData& d, const std::string& key) {
  try {
    CacheWriter w(path);
    for (const auto& [name, s] : d.splits) {
      w.beginSplit(name);
      const int64_t n = s.store ? s.store->count() : s.images.size(0);  // as given: the loader checks
      const int64_t chunk = s.store ? chunkImages(s.channels() * d.summary.imageSize * d.summary.imageSize, 0) : n;
      for (int64_t k = 0; k < n; k += std::max<int64_t>(chunk, 1)) {
        w.addImages(s.range(k, std::min(n, k + chunk)));
      }
      const auto labels = s.labels.to(torch::kLong).contiguous();
      w.endSplit(std::vector<int64_t>(labels.data_ptr<int64_t>(), labels.data_ptr<int64_t>() + labels.numel()),
                 s.ids);
    }
    w.finish(metaFromSummary(d.summary, key));
  } catch (const std::exception& e) {
    throw std::runtime_error("cannot write the cache file '" + path + "': " + e.what());
  }
}

bool loadCache(const std::string& path, const std::string& expectedKey, PreparedData& out, int64_t memoryCapMb) {
  const int64_t capBytes = std::max<int64_t>(0, memoryCapMb) << 20;
  if (isCacheFormat2(path)) {
    try {
      const auto cache = openCacheFormat2(path);
      if (!expectedKey.empty() && cache.meta.value("key", "") != expectedKey) {
        return false;
      }
      out = fromCache2(cache, capBytes);
      return true;
    } catch (...) {
      rethrowDamaged(path);
    }
  }
  std::string key;
  if (!loadCacheFormat1(path, expectedKey, out, key)) {
    return false;
  }
  // Rewritten once in the mapped format; a file that cannot be rewritten (read-only media,
  // another user's) still loads the old way.
  try {
    saveCache(path, out, key);
    std::fprintf(stderr, "ampbench: converted cache file '%s' to the memory-mapped format (%s)\n", path.c_str(),
                 kCacheMagic2);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "ampbench: cache file '%s' is in the old format and is read whole: %s\n", path.c_str(),
                 e.what());
    return true;
  }
  if (capBytes > 0) {
    PreparedData mapped;
    if (loadCache(path, key, mapped, memoryCapMb)) {
      out = std::move(mapped);  // the whole-file copy is released
    }
  }
  return true;
}

PreparedData prepareData(const RunConfig& c, const ProgressFn& progress, const CancelToken& cancel) {
  const int64_t capBytes = std::max<int64_t>(0, c.cacheMemoryMb) << 20;
  const int64_t imageBytes = c.channels * c.imageSize * c.imageSize;
  std::error_code existsEc;
  if (c.dataPath.rfind("synthetic", 0) == 0 && !fs::exists(c.dataPath, existsEc)) {
    const int64_t n = syntheticCount(c.dataPath);
    PreparedData d;
    if (capBytes > 0 && (n + std::max<int64_t>(n / 8, 2)) * imageBytes > capBytes) {
      auto writer = temporaryWriter(c.outDir);
      d = syntheticData(c, c.dataPath, writer.get(), chunkImages(imageBytes, capBytes));
      d.summary.imageSize = c.imageSize;
      d.summary.channels = c.channels;
      auto stored = fromCache2(openCacheFormat2(writer->finish(metaFromSummary(d.summary, ""))), capBytes);
      for (auto& [name, s] : d.splits) {
        s.store = stored.splits.at(name).store;
      }
    } else {
      d = syntheticData(c, c.dataPath, nullptr, 0);
    }
    d.summary.imageSize = c.imageSize;
    d.summary.channels = c.channels;
    fillSummaryCounts(d);
    d.summary.mean.assign(c.channels, 0.5);
    d.summary.std.assign(c.channels, 0.29);
    return d;
  }

  PreparedData d;
  std::error_code ec;
  const bool haveSource = !c.dataPath.empty() && fs::exists(c.dataPath, ec);
  if (!haveSource && !c.cachePath.empty() && fs::exists(c.cachePath, ec)) {
    // A machine without the images (or without OpenCV) trains from the cache alone.
    loadCache(c.cachePath, "", d, c.cacheMemoryMb);
    if (d.summary.imageSize != c.imageSize || d.summary.channels != c.channels) {
      throw InputError("cache '" + c.cachePath + "' holds " + std::to_string(d.summary.imageSize) + " px, " +
                       std::to_string(d.summary.channels) + "-channel images: use --image-size " +
                       std::to_string(d.summary.imageSize) + " --channels " + std::to_string(d.summary.channels));
    }
  } else {
    DatasetIndex index;
    try {
      index = scanDataset(c.dataPath, c.split, progress, cancel);
    } catch (const CancelledError&) {
      return {};
    }
    limitPerSplit(index, c.limitPerSplit, c.split.splitSeed);
    const auto key = cacheKey(index, c);
    bool loaded = false;
    if (!c.cachePath.empty() && fs::exists(c.cachePath)) {
      loaded = loadCache(c.cachePath, key, d, c.cacheMemoryMb);
    }
    if (!loaded) {
      if (index.kind == "folder" && !imageDecodingAvailable()) {
        throw InputError("this build cannot decode image files (built with AMPBENCH_OPENCV=OFF): "
                         "write a cache file with --cache on a machine with OpenCV and train from it");
      }
      d.summary.source = index.source;
      d.summary.kind = index.kind;
      d.summary.classes = index.classes;
      d.summary.skipped = index.skipped;
      d.summary.ignoredCount = index.ignored;
      d.summary.imageSize = c.imageSize;
      d.summary.channels = c.channels;
      for (const auto& [name, split] : index.splits) {
        d.summary.splitOrigin[name] = split.origin;
      }
      const int threads = std::max(1, c.threads > 0 ? c.threads : hardwareThreads());
      int64_t decodedBytes = 0;
      for (const auto& [name, split] : index.splits) {
        decodedBytes += split.size() * imageBytes;
      }
      if (capBytes > 0 && decodedBytes > capBytes) {
        // Over the cap: decoded a chunk at a time into the cache file (or an unnamed
        // temporary one), then read from there.
        auto writer = c.cachePath.empty() ? temporaryWriter(c.outDir)
                                          : std::make_unique<CacheWriter>(c.cachePath);
        const int64_t chunk = chunkImages(imageBytes, capBytes);
        for (const auto& [name, split] : index.splits) {
          streamSplit(split, index.source, name, c.imageSize, c.channels, d.summary.skipped, progress, cancel,
                      threads, c.maxImagePixels, chunk, *writer);
          if (cancel.isCancelled()) {
            return {};
          }
        }
        if (!c.cachePath.empty() && progress) {
          progress({"cache", 0, 1});
        }
        auto handle = writer->finish(metaFromSummary(d.summary, key));
        const auto summary = d.summary;
        d = fromCache2(handle ? openCacheFormat2(handle) : openCacheFormat2(c.cachePath), capBytes);
        d.summary = summary;
      } else {
        for (const auto& [name, split] : index.splits) {
          d.splits[name] = decodeSplit(split, index.source, name, c.imageSize, c.channels, d.summary.skipped,
                                       progress, cancel, threads, c.maxImagePixels);
          if (cancel.isCancelled()) {
            return {};
          }
        }
        if (!c.cachePath.empty()) {
          if (progress) {
            progress({"cache", 0, 1});
          }
          saveCache(c.cachePath, d, key);
        }
      }
    }
  }
  // After decoding, every split and the training classes must still be usable.
  // Nothing is written yet, so the message carries the first reasons the run would have listed.
  auto examples = [&d] {
    std::string out;
    for (size_t i = 0; i < std::min<size_t>(3, d.summary.skipped.size()); ++i) {
      const auto& f = d.summary.skipped[i];
      out += (i ? "; " : "") + fs::path(f.path).filename().string() + ": " + f.reason;
    }
    return d.summary.skipped.empty() ? std::string() : " (" + std::to_string(d.summary.skipped.size()) +
                                                           " files skipped, e.g. " + out + ")";
  };
  for (const auto& [name, s] : d.splits) {
    if (s.size() == 0) {
      throw InputError("no readable images in the " + name + " split of " + d.summary.source + examples() +
                       ": add readable images (PNG, JPEG, TIFF, BMP, PGM or DICOM) to its class folders");
    }
  }
  fillSummaryCounts(d);
  const auto& train = d.summary.counts.at("train");
  const auto present = std::count_if(train.begin(), train.end(), [](int64_t v) { return v > 0; });
  if (present < 2) {
    std::string empty;
    for (size_t k = 0; k < train.size(); ++k) {
      if (train[k] == 0) {
        empty += (empty.empty() ? "'" : ", '") + d.summary.classes[k] + "'";
      }
    }
    throw InputError("fewer than two classes have readable training images in " + d.summary.source +
                     " (none in " + empty + ")" + examples() +
                     ": a classifier needs at least two; add readable images to those class folders");
  }
  computeNormalisation(d, capBytes);
  return d;
}

}  // namespace ampbench
