#include "engine/data/Dataset.h"

#include "engine/util/Errors.h"

#include <algorithm>
#include <filesystem>
#include <numeric>
#include <random>
#include <set>

namespace fs = std::filesystem;

namespace ampbench {

namespace {

const char* const kSplitNames[] = {"train", "val", "test"};

std::string lower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return std::tolower(c); });
  return s;
}

bool isHidden(const fs::path& p) {
  const auto name = p.filename().string();
  return !name.empty() && name[0] == '.';
}

// Folder names of the direct sub-directories, sorted (class order = alphabetical, as
// torchvision's ImageFolder).
std::vector<std::string> subdirs(const fs::path& dir) {
  std::vector<std::string> out;
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(dir, ec)) {
    if (e.is_directory() && !isHidden(e.path())) {
      out.push_back(e.path().filename().string());
    }
  }
  std::sort(out.begin(), out.end());
  return out;
}

void throwIfCancelled(const CancelToken& cancel) {
  if (cancel.isCancelled()) {
    throw CancelledError("dataset scan cancelled");
  }
}

// Listing a folder of 100k files takes seconds (longer on a network drive), so the walk
// checks the token and reports the running count every kBatch directory entries.
struct Walk {
  static constexpr int64_t kBatch = 512;
  const CancelToken& cancel;
  const std::function<void(const DataProgressEvent&)>& progress;
  int64_t found = 0;  // image files found so far, all splits
  int64_t visited = 0;

  void tick() {
    if (++visited % kBatch == 0) {
      report();
    }
  }
  void report() {
    throwIfCancelled(cancel);
    if (progress) {
      progress({"scan", found, 0});  // total unknown while listing
    }
  }
};

// Image files below `dir` (recursively), sorted for determinism; other files are listed
// as skipped with the reason.
std::vector<std::string> imageFiles(const fs::path& dir, std::vector<SkippedFile>& skipped, Walk& walk) {
  std::vector<std::string> out;
  std::error_code ec;
  for (auto it = fs::recursive_directory_iterator(dir, fs::directory_options::skip_permission_denied, ec);
       it != fs::recursive_directory_iterator(); it.increment(ec)) {
    if (ec) {
      break;
    }
    walk.tick();
    if (isHidden(it->path())) {
      if (it->is_directory()) {
        it.disable_recursion_pending();
      }
      continue;
    }
    if (!it->is_regular_file()) {
      continue;
    }
    const auto path = it->path().string();
    if (looksLikeImageFile(path)) {
      out.push_back(path);
      walk.found += 1;
    } else {
      skipped.push_back({path, "not an image file (unknown extension)"});
    }
  }
  std::sort(out.begin(), out.end());
  return out;
}

void requireUsable(const DatasetIndex& index) {
  if (index.classes.size() < 2) {
    const std::string only = index.classes.empty() ? "" : " ('" + index.classes[0] + "')";
    throw InputError("only one class found" + only + " in " + index.source +
                     ": a classifier needs at least two classes, one folder per class "
                     "(e.g. NORMAL/ and PNEUMONIA/)");
  }
  const auto counts = countPerClass(index);
  for (const auto& [split, perClass] : counts) {
    const int64_t total = std::accumulate(perClass.begin(), perClass.end(), int64_t{0});
    if (total == 0) {
      throw InputError("the " + split + " split of " + index.source +
                       " has no images: put images into its class folders");
    }
  }
  const auto& train = counts.at("train");
  for (size_t c = 0; c < train.size(); ++c) {
    if (train[c] == 0) {
      throw InputError("class '" + index.classes[c] + "' has no training images in " + index.source +
                       ": add images to it or remove the folder");
    }
  }
}

SplitSource subsetArrays(const SplitSource& src, const std::vector<int64_t>& keep, std::string origin) {
  SplitSource out;
  out.origin = std::move(origin);
  const auto& a = src.arrays;
  out.arrays.height = a.height;
  out.arrays.width = a.width;
  out.arrays.channels = a.channels;
  out.arrays.count = static_cast<int64_t>(keep.size());
  const size_t stride = static_cast<size_t>(a.height * a.width * a.channels);
  out.arrays.pixels.resize(stride * keep.size());
  out.arrays.labels.resize(keep.size());
  for (size_t i = 0; i < keep.size(); ++i) {
    std::copy_n(a.pixels.begin() + static_cast<std::ptrdiff_t>(stride * keep[i]), stride,
                out.arrays.pixels.begin() + static_cast<std::ptrdiff_t>(stride * i));
    out.arrays.labels[i] = a.labels[keep[i]];
  }
  return out;
}

SplitSource subset(const SplitSource& src, const std::vector<int64_t>& keep, std::string origin) {
  if (src.files.empty()) {
    return subsetArrays(src, keep, std::move(origin));
  }
  SplitSource out;
  out.origin = std::move(origin);
  for (auto i : keep) {
    out.files.push_back(src.files[i]);
  }
  return out;
}

// Carves the missing val (and test) splits out of train.
void carveMissing(DatasetIndex& index, const SplitOptions& opt) {
  auto carve = [&](const std::string& name, double fraction, uint64_t seed) {
    auto& train = index.splits.at("train");
    std::vector<int64_t> kept, carved;
    stratifiedSplit(train.labels(), fraction, seed, kept, carved);
    index.splits[name] = subset(train, carved, "carved from train");
    const auto origin = train.origin;
    train = subset(train, kept, origin);
  };
  if (!index.splits.count("test") && opt.testFraction > 0) {
    carve("test", opt.testFraction, opt.splitSeed + 1);
  }
  if (!index.splits.count("val")) {
    carve("val", opt.valFraction, opt.splitSeed);
  }
}

DatasetIndex scanFolder(const fs::path& root, const SplitOptions& opt,
                        const std::function<void(const DataProgressEvent&)>& progress, const CancelToken& cancel) {
  Walk walk{cancel, progress};
  DatasetIndex index;
  index.source = root.string();
  index.kind = "folder";
  const bool splitLayout = fs::is_directory(root / "train");
  if (splitLayout) {
    index.classes = subdirs(root / "train");
  } else {
    index.classes = subdirs(root);
  }
  if (index.classes.empty()) {
    throw InputError("no class folders in " + root.string() +
                     ": the dataset folder needs one sub-folder per class (e.g. NORMAL/ and PNEUMONIA/), "
                     "or train/ and val/ folders that each hold them");
  }
  if (index.classes.size() < 2) {
    requireUsable(index);
  }
  auto scanSplit = [&](const fs::path& splitDir, const std::string& name) {
    SplitSource s;
    s.origin = "folder";
    for (const auto& cls : subdirs(splitDir)) {
      const auto it = std::find(index.classes.begin(), index.classes.end(), cls);
      if (it == index.classes.end()) {
        index.skipped.push_back({(splitDir / cls).string(), "class folder not present in train/: ignored"});
        continue;
      }
      for (auto& f : imageFiles(splitDir / cls, index.skipped, walk)) {
        s.files.push_back({std::move(f), it - index.classes.begin()});
      }
      walk.report();  // one event per class folder, however small
    }
    index.splits[name] = std::move(s);
  };
  if (splitLayout) {
    for (const char* name : kSplitNames) {
      if (fs::is_directory(root / name)) {
        scanSplit(root / name, name);
      }
    }
  } else {
    scanSplit(root, "train");
  }
  return index;
}

DatasetIndex fromArrays(const std::string& source, const std::string& kind,
                        std::map<std::string, ImageArray> arrays) {
  DatasetIndex index;
  index.source = source;
  index.kind = kind;
  if (!arrays.count("train")) {
    throw InputError(source + " has no training split (train_images / train-images): use a file with one");
  }
  int64_t maxLabel = -1;
  for (auto& [name, a] : arrays) {
    for (auto l : a.labels) {
      if (l < 0) {
        throw InputError(source + ": negative label in split " + name);
      }
      maxLabel = std::max(maxLabel, l);
    }
    SplitSource s;
    s.origin = "file";
    s.arrays = std::move(a);
    index.splits[name] = std::move(s);
  }
  for (int64_t c = 0; c <= maxLabel; ++c) {
    index.classes.push_back("class" + std::to_string(c));
  }
  return index;
}

}  // namespace

std::vector<int64_t> SplitSource::labels() const {
  if (files.empty()) {
    return arrays.labels;
  }
  std::vector<int64_t> out;
  out.reserve(files.size());
  for (const auto& f : files) {
    out.push_back(f.label);
  }
  return out;
}

void stratifiedSplit(const std::vector<int64_t>& labels, double fraction, uint64_t seed, std::vector<int64_t>& kept,
                     std::vector<int64_t>& carved) {
  kept.clear();
  carved.clear();
  std::map<int64_t, std::vector<int64_t>> byClass;
  for (size_t i = 0; i < labels.size(); ++i) {
    byClass[labels[i]].push_back(static_cast<int64_t>(i));
  }
  for (auto& [label, idx] : byClass) {
    std::mt19937_64 rng(seed * 1000003ULL + static_cast<uint64_t>(label));
    std::shuffle(idx.begin(), idx.end(), rng);
    auto take = static_cast<size_t>(std::llround(fraction * static_cast<double>(idx.size())));
    if (idx.size() >= 2) {
      take = std::clamp<size_t>(take, 1, idx.size() - 1);
    } else {
      take = 0;
    }
    carved.insert(carved.end(), idx.begin(), idx.begin() + static_cast<std::ptrdiff_t>(take));
    kept.insert(kept.end(), idx.begin() + static_cast<std::ptrdiff_t>(take), idx.end());
  }
  std::sort(kept.begin(), kept.end());
  std::sort(carved.begin(), carved.end());
}

DatasetIndex scanDataset(const std::string& path, const SplitOptions& split,
                         const std::function<void(const DataProgressEvent&)>& progress, const CancelToken& cancel) {
  throwIfCancelled(cancel);
  if (path.empty()) {
    throw InputError("no dataset given: choose a dataset folder (one sub-folder per class) or a .npz file");
  }
  const fs::path p(path);
  std::error_code ec;
  if (!fs::exists(p, ec)) {
    throw InputError("dataset folder '" + path +
                     "' does not exist: choose a folder with one sub-folder per class (e.g. NORMAL/ and "
                     "PNEUMONIA/), or with train/ and val/ folders that hold them");
  }
  DatasetIndex index;
  if (fs::is_regular_file(p)) {
    if (lower(p.extension().string()) != ".npz") {
      throw InputError("'" + path + "' is a file, not a dataset folder: choose a folder, or a MedMNIST .npz file");
    }
    index = fromArrays(path, "npz", readNpz(path));
    // MedMNIST's pneumonia set: name the classes as the folder version does.
    if (index.classes.size() == 2 && lower(p.filename().string()).find("pneumonia") != std::string::npos) {
      index.classes = {"NORMAL", "PNEUMONIA"};
    }
  } else {
    auto idx = readIdxFolder(path);
    if (!idx.empty()) {
      index = fromArrays(path, "idx", std::move(idx));
      // Debian's dataset-fashion-mnist: use the published class names.
      if (index.classes.size() == 10 && lower(path).find("fashion") != std::string::npos) {
        index.classes = {"T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
                         "Sandal",      "Shirt",   "Sneaker",  "Bag",   "Ankle boot"};
      }
    } else {
      index = scanFolder(p, split, progress, cancel);
    }
  }
  if (index.classes.size() >= 2 && index.splits.count("train")) {
    carveMissing(index, split);
  }
  requireUsable(index);
  return index;
}

std::map<std::string, std::vector<int64_t>> countPerClass(const DatasetIndex& index) {
  std::map<std::string, std::vector<int64_t>> out;
  for (const auto& [name, s] : index.splits) {
    std::vector<int64_t> counts(index.classes.size(), 0);
    for (auto l : s.labels()) {
      if (l >= 0 && l < static_cast<int64_t>(counts.size())) {
        counts[l] += 1;
      }
    }
    out[name] = counts;
  }
  return out;
}

void limitPerSplit(DatasetIndex& index, int64_t limit, uint64_t seed) {
  if (limit <= 0) {
    return;
  }
  for (auto& [name, s] : index.splits) {
    const int64_t n = s.size();
    if (n <= limit) {
      continue;
    }
    std::vector<int64_t> rest, keep;
    stratifiedSplit(s.labels(), static_cast<double>(limit) / static_cast<double>(n), seed, rest, keep);
    s = subset(s, keep, s.origin);
  }
}

std::vector<Thumbnail> sampleThumbnails(const DatasetIndex& index, int perClass, int size,
                                        const CancelToken& cancel) {
  std::vector<Thumbnail> out;
  const auto it = index.splits.find("train");
  if (it == index.splits.end()) {
    return out;
  }
  const auto& s = it->second;
  std::vector<int> taken(index.classes.size(), 0);
  const auto labels = s.labels();
  for (size_t i = 0; i < labels.size(); ++i) {
    const auto c = labels[i];
    if (c < 0 || c >= static_cast<int64_t>(taken.size()) || taken[c] >= perClass) {
      continue;
    }
    throwIfCancelled(cancel);
    Thumbnail t;
    t.label = c;
    try {
      if (!s.files.empty()) {
        t.path = s.files[i].path;
        t.image = decodeImageFile(t.path, 1, size);
      } else {
        const auto& a = s.arrays;
        Image8 img;
        img.width = static_cast<int>(a.width);
        img.height = static_cast<int>(a.height);
        img.channels = static_cast<int>(a.channels);
        const size_t stride = static_cast<size_t>(a.width * a.height * a.channels);
        img.pixels.assign(a.pixels.begin() + static_cast<std::ptrdiff_t>(stride * i),
                          a.pixels.begin() + static_cast<std::ptrdiff_t>(stride * (i + 1)));
        t.image = convertChannels(img, 1);
      }
      t.image = resizeImage(t.image, size);
    } catch (const std::exception&) {
      continue;  // thumbnails are best effort; the run lists unreadable files
    }
    taken[c] += 1;
    out.push_back(std::move(t));
  }
  return out;
}

}  // namespace ampbench
