#include "engine/data/ImageCache.h"

#include "engine/data/Image.h"
#include "engine/util/ArchiveCheck.h"
#include "engine/util/Errors.h"
#include "engine/util/Files.h"

#include <nlohmann/json.hpp>
#include <torch/torch.h>

#include <atomic>
#include <chrono>
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

torch::Tensor arraysToTensor(const ImageArray& a, int64_t imageSize, int64_t channels) {
  auto t = torch::from_blob(const_cast<uint8_t*>(a.pixels.data()), {a.count, a.height, a.width, a.channels},
                            torch::kUInt8)
               .permute({0, 3, 1, 2});
  if (a.channels == 1 && channels == 3) {
    t = t.expand({a.count, 3, a.height, a.width});
  } else if (a.channels == 3 && channels == 1) {
    // ITU-R 601 luma, as OpenCV's RGB2GRAY
    auto f = t.to(torch::kFloat);
    t = (f.select(1, 0) * 0.299 + f.select(1, 1) * 0.587 + f.select(1, 2) * 0.114)
            .round()
            .clamp(0, 255)
            .to(torch::kUInt8)
            .unsqueeze(1);
  }
  std::vector<torch::Tensor> chunks;
  const int64_t chunk = 2048;  // bounded temporary memory when resizing big sets
  for (int64_t s = 0; s < a.count; s += chunk) {
    chunks.push_back(resizeArrayBatch(t.slice(0, s, std::min(a.count, s + chunk)).contiguous(), imageSize));
  }
  return torch::cat(chunks).contiguous();
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

void computeNormalisation(PreparedData& d) {
  const auto& train = d.splits.at("train").images;
  const int64_t c = train.size(1);
  std::vector<double> sum(c, 0.0), sq(c, 0.0);
  int64_t count = 0;
  for (int64_t s = 0; s < train.size(0); s += 1024) {
    auto f = train.slice(0, s, std::min(train.size(0), s + 1024)).to(torch::kDouble).div_(255.0);
    auto perChannel = f.transpose(0, 1).reshape({c, -1});
    auto s1 = perChannel.sum(1);
    auto s2 = perChannel.pow(2).sum(1);
    for (int64_t k = 0; k < c; ++k) {
      sum[k] += s1[k].item<double>();
      sq[k] += s2[k].item<double>();
    }
    count += perChannel.size(1);
  }
  d.summary.mean.assign(c, 0.5);
  d.summary.std.assign(c, 0.25);
  if (count > 0) {
    for (int64_t k = 0; k < c; ++k) {
      const double mean = sum[k] / count;
      const double var = std::max(sq[k] / count - mean * mean, 1e-6);
      d.summary.mean[k] = mean;
      d.summary.std[k] = std::sqrt(var);
    }
  }
}

PreparedData syntheticData(const RunConfig& c, const std::string& spec) {
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
  PreparedData d;
  d.summary.source = spec;
  d.summary.kind = "synthetic";
  d.summary.classes = {"class0", "class1"};
  auto gen = at::make_generator<at::CPUGeneratorImpl>(c.seed);
  auto make = [&](int64_t count) {
    SplitTensors s;
    s.images = torch::randint(0, 256, {count, c.channels, c.imageSize, c.imageSize}, gen,
                              torch::TensorOptions().dtype(torch::kUInt8));
    s.labels = torch::randint(0, 2, {count}, gen, torch::TensorOptions().dtype(torch::kLong));
    for (int64_t i = 0; i < count; ++i) {
      s.ids.push_back("synthetic/" + std::to_string(i));
    }
    return s;
  };
  d.splits["train"] = make(n);
  d.splits["val"] = make(std::max<int64_t>(n / 8, 2));
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
  std::vector<char> ok(static_cast<size_t>(n), 0);
  std::vector<std::string> reasons(static_cast<size_t>(n));
  std::atomic<int64_t> next{0};
  std::atomic<int64_t> done{0};
  auto worker = [&] {
    for (;;) {
      const int64_t i = next.fetch_add(1);
      if (i >= n || cancel.isCancelled()) {
        return;
      }
      try {
        images[i].copy_(decodeToTensor(split.files[i].path, imageSize, channels, maxImagePixels));
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
      progress({"decode", d, n});
      reported = d;
    }
  }
  for (auto& t : pool) {
    t.join();
  }
  if (progress && done.load() != reported) {  // the loop may already have sent the last count
    progress({"decode", done.load(), n});
  }
  std::vector<int64_t> keep;
  std::vector<int64_t> labels;
  for (int64_t i = 0; i < n; ++i) {
    if (ok[i]) {
      keep.push_back(i);
      labels.push_back(split.files[i].label);
      out.ids.push_back(split.files[i].path);
    } else if (!cancel.isCancelled() || !reasons[i].empty()) {
      if (!reasons[i].empty()) {
        skipped.push_back({split.files[i].path, reasons[i]});
      }
    }
  }
  out.images = static_cast<int64_t>(keep.size()) == n ? images
                                                      : images.index_select(0, torch::tensor(keep, torch::kLong));
  out.labels = torch::tensor(labels, torch::kLong);
  return out;
}

void saveCache(const std::string& path, const PreparedData& d, const std::string& key) {
  torch::serialize::OutputArchive ar;
  nlohmann::json meta;
  meta["format"] = "ampbench-cache-1";
  meta["key"] = key;
  meta["source"] = d.summary.source;
  meta["kind"] = d.summary.kind;
  meta["classes"] = d.summary.classes;
  meta["image_size"] = d.summary.imageSize;
  meta["channels"] = d.summary.channels;
  meta["split_origin"] = d.summary.splitOrigin;
  nlohmann::json skipped = nlohmann::json::array();
  for (const auto& s : d.summary.skipped) {
    skipped.push_back({{"path", s.path}, {"reason", s.reason}});
  }
  meta["skipped"] = skipped;
  meta["ignored_count"] = d.summary.ignoredCount;
  for (const auto& [name, s] : d.splits) {
    ar.write(name + "_images", s.images);
    ar.write(name + "_labels", s.labels);
    meta["ids"][name] = s.ids;
  }
  const auto text = meta.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);  // non-UTF-8 names
  ar.write("meta", torch::from_blob(const_cast<char*>(text.data()), {static_cast<int64_t>(text.size())}, torch::kUInt8)
                       .clone());
  // Serialised in memory, then written by us: LibTorch's file writer throws from its
  // destructor on a full disk, which ends the process (std::terminate).
  std::ostringstream bytes;
  ar.save_to(bytes);
  try {
    writeFileAtomic(path, bytes.str());
  } catch (const std::exception& e) {
    throw std::runtime_error("cannot write the cache file '" + path + "': " + e.what());
  }
}

namespace {

// A cache file is input like any other (copied between machines, half-written, edited):
// every figure the training loop later trusts as an index or a size is checked here.
PreparedData readCacheContents(torch::serialize::InputArchive& ar, const std::string& path,
                               const nlohmann::json& meta) {
  PreparedData d;
  d.summary.source = meta.value("source", path);
  d.summary.kind = meta.value("kind", "cache");
  d.summary.classes = meta.at("classes").get<std::vector<std::string>>();
  d.summary.imageSize = meta.value("image_size", int64_t{0});
  d.summary.channels = meta.value("channels", int64_t{1});
  d.summary.splitOrigin = meta.value("split_origin", std::map<std::string, std::string>{});
  d.summary.ignoredCount = meta.value("ignored_count", int64_t{0});
  if (d.summary.classes.empty()) {
    throw InputError("no classes");
  }
  if (d.summary.imageSize < 1 || d.summary.imageSize > 65536 || (d.summary.channels != 1 && d.summary.channels != 3)) {
    throw InputError("image size " + std::to_string(d.summary.imageSize) + " with " +
                     std::to_string(d.summary.channels) + " channels");
  }
  for (const auto& s : meta.value("skipped", nlohmann::json::array())) {
    d.summary.skipped.push_back({s.at("path").get<std::string>(), s.at("reason").get<std::string>()});
  }
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
    if (s.labels.numel() > 0 &&
        (s.labels.min().item<int64_t>() < 0 || s.labels.max().item<int64_t>() >= numClasses)) {
      throw InputError("split '" + name + "' has labels outside its " + std::to_string(numClasses) + " classes");
    }
    d.splits[name] = std::move(s);
  }
  return d;
}

}  // namespace

bool loadCache(const std::string& path, const std::string& expectedKey, PreparedData& out) {
  const std::string remedy = " (delete it to rebuild)";
  try {
    checkTorchArchive(path, "cache file");
  } catch (const InputError& e) {
    throw InputError(e.what() + remedy);
  }
  torch::serialize::InputArchive ar;
  try {
    ar.load_from(path);
  } catch (const std::exception& e) {
    throw InputError("cannot read cache file '" + path + "': " + e.what() + remedy);
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
      throw InputError("'" + path + "' is not an AmpBench cache file" + remedy);
    }
    if (!expectedKey.empty() && meta.value("key", "") != expectedKey) {
      return false;
    }
    out = readCacheContents(ar, path, meta);
    return true;
  } catch (const InputError& e) {
    const std::string what = e.what();
    throw InputError(what.find(remedy) != std::string::npos ? what
                                                            : "cache file '" + path + "' is damaged: " + what + remedy);
  } catch (const std::exception& e) {  // nlohmann::json and c10 errors: a malformed record
    throw InputError("cache file '" + path + "' is damaged: " + e.what() + remedy);
  }
}

PreparedData prepareData(const RunConfig& c, const ProgressFn& progress, const CancelToken& cancel) {
  std::error_code existsEc;
  if (c.dataPath.rfind("synthetic", 0) == 0 && !fs::exists(c.dataPath, existsEc)) {
    auto d = syntheticData(c, c.dataPath);
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
    loadCache(c.cachePath, "", d);
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
      loaded = loadCache(c.cachePath, key, d);
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
      const int threads = std::max(1, c.threads > 0 ? c.threads : hardwareThreads());
      for (const auto& [name, split] : index.splits) {
        d.summary.splitOrigin[name] = split.origin;
        d.splits[name] = decodeSplit(split, index.source, name, c.imageSize, c.channels, d.summary.skipped,
                                     progress, cancel, threads, c.maxImagePixels);
        if (cancel.isCancelled()) {
          return {};
        }
      }
      d.summary.imageSize = c.imageSize;
      d.summary.channels = c.channels;
      if (!c.cachePath.empty()) {
        if (progress) {
          progress({"cache", 0, 1});
        }
        saveCache(c.cachePath, d, key);
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
  computeNormalisation(d);
  return d;
}

}  // namespace ampbench
