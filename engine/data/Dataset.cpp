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

std::function<void(const std::string&)>& entryHook() {
  static std::function<void(const std::string&)> hook;
  return hook;
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

bool validUtf8(const std::string& s) {
  size_t i = 0;
  while (i < s.size()) {
    const auto c = static_cast<unsigned char>(s[i]);
    const size_t n = c < 0x80 ? 1 : (c >> 5) == 0x6 ? 2 : (c >> 4) == 0xE ? 3 : (c >> 3) == 0x1E ? 4 : 0;
    if (n == 0 || i + n > s.size()) {
      return false;
    }
    for (size_t k = 1; k < n; ++k) {
      if ((static_cast<unsigned char>(s[i + k]) >> 6) != 0x2) {
        return false;
      }
    }
    i += n;
  }
  return true;
}

// Why an entry cannot be examined, in words (std::filesystem's messages name the call).
std::string describe(const std::error_code& ec) {
  if (ec == std::errc::no_such_file_or_directory) {
    return "it disappeared during the scan (deleted or renamed meanwhile)";
  }
  if (ec == std::errc::permission_denied || ec == std::errc::operation_not_permitted) {
    return "permission denied";
  }
  if (ec == std::errc::too_many_symbolic_link_levels) {
    return "symbolic link loop";
  }
  return ec.message();
}

// A folder's entries, sorted for determinism. A folder that cannot be listed (permissions,
// renamed mid-scan) is listed as skipped; entries read before an error are kept.
std::vector<fs::path> listFolder(const fs::path& dir, std::vector<SkippedFile>& skipped) {
  std::vector<fs::path> out;
  std::error_code ec;
  fs::directory_iterator it(dir, ec);
  for (const fs::directory_iterator end; !ec && it != end; it.increment(ec)) {
    out.push_back(it->path());
  }
  if (ec) {
    skipped.push_back({dir.string(), "cannot list this folder: " + describe(ec)});
  }
  std::sort(out.begin(), out.end());
  return out;
}

// "/a/b" contains "/a/b/c" (canonical paths).
bool contains(const std::string& outer, const std::string& inner) {
  return inner == outer || outer == "/" || inner.rfind(outer + "/", 0) == 0;
}

// The folder walk for one split: collects image files below the class folders, follows
// symbolic links to folders once (never a folder already walked, a class folder of the
// split or a folder holding the dataset: loops and duplicates), and lists everything it
// cannot use with the reason. OS junk is counted, not listed.
class FolderWalker {
 public:
  FolderWalker(const fs::path& root, Walk& walk, DatasetIndex& index) : walk_(walk), index_(index) {
    std::error_code ec;
    root_ = fs::canonical(root, ec).string();
  }

  // Class folders of `dir` (names sorted, as torchvision's ImageFolder); with `record`,
  // entries that are not class folders are listed / counted.
  std::vector<std::string> classFolders(const fs::path& dir, bool record) {
    std::vector<std::string> out;
    std::vector<SkippedFile> sink;
    auto& skipped = record ? index_.skipped : sink;
    for (const auto& p : listFolder(dir, skipped)) {
      const auto name = p.filename().string();
      if (isOsJunkName(name)) {
        index_.ignored += record;
        continue;
      }
      std::error_code ec;
      const auto st = fs::status(p, ec);
      if (ec || !fs::exists(st)) {
        if (record) {
          skipped.push_back({p.string(), entryProblem(p, ec)});
        }
        continue;
      }
      if (fs::is_directory(st)) {
        const auto canon = fs::canonical(p, ec).string();
        if (!ec && contains(canon, root_)) {
          if (record) {
            skipped.push_back({p.string(), "symbolic link to a folder holding the dataset (a loop): not followed"});
          }
          continue;
        }
        out.push_back(name);
      } else if (record && fs::is_regular_file(st) && looksLikeImageFile(p.string())) {
        skipped.push_back({p.string(), "image outside the class folders: move it into the folder of its class"});
      }
    }
    return out;
  }

  // Marks the split's class folders as walked up front, so a link from one class into
  // another is not followed (its images would get the wrong label).
  void claim(const fs::path& dir) {
    std::error_code ec;
    const auto canon = fs::canonical(dir, ec);
    if (!ec) {
      visited_.insert(canon.string());
    }
  }

  std::vector<std::string> imagesBelow(const fs::path& classDir) {
    images_.clear();
    walkFolder(classDir, 0);
    std::sort(images_.begin(), images_.end());
    return std::move(images_);
  }

 private:
  static constexpr int kMaxDepth = 32;

  std::string entryProblem(const fs::path& p, const std::error_code& statError) const {
    std::error_code ec;
    const auto link = fs::symlink_status(p, ec);
    if (!ec && fs::is_symlink(link)) {
      return statError == std::errc::too_many_symbolic_link_levels
                 ? "symbolic link loop"
                 : "broken symbolic link: its target does not exist";
    }
    return "cannot examine it: " + describe(ec ? ec : statError);
  }

  void walkFolder(const fs::path& dir, int depth) {
    for (const auto& p : listFolder(dir, index_.skipped)) {
      walk_.tick();
      if (entryHook()) {
        entryHook()(p.string());
      }
      try {
        visit(p, depth);
      } catch (const CancelledError&) {
        throw;
      } catch (const std::exception& e) {  // std::filesystem or allocation: this entry only
        index_.skipped.push_back({p.string(), std::string("cannot examine it: ") + e.what()});
      }
    }
  }

  void visit(const fs::path& p, int depth) {
    if (isOsJunkName(p.filename().string())) {
      index_.ignored += 1;
      return;
    }
    std::error_code ec;
    const auto st = fs::status(p, ec);
    if (ec || !fs::exists(st)) {
      index_.skipped.push_back({p.string(), entryProblem(p, ec)});
      return;
    }
    if (fs::is_directory(st)) {
      const auto canon = fs::canonical(p, ec).string();
      if (ec) {
        index_.skipped.push_back({p.string(), "cannot examine it: " + describe(ec)});
      } else if (contains(canon, root_)) {
        index_.skipped.push_back({p.string(), "symbolic link to a folder holding the dataset (a loop): not followed"});
      } else if (!visited_.insert(canon).second) {
        index_.skipped.push_back(
            {p.string(), "symbolic link to a folder already scanned (a loop, or another class's folder): not followed"});
      } else if (depth >= kMaxDepth) {
        index_.skipped.push_back({p.string(), "folder nested more than 32 levels deep: not scanned"});
      } else {
        walkFolder(p, depth + 1);
      }
      return;
    }
    if (!fs::is_regular_file(st)) {
      // Opening a FIFO would block the decoder for ever.
      index_.skipped.push_back({p.string(), "not a regular file (a FIFO, socket or device): not read"});
      return;
    }
    if (looksLikeImageFile(p.string())) {
      images_.push_back(p.string());
      walk_.found += 1;
    } else {
      index_.skipped.push_back({p.string(), "not an image file (unknown extension)"});
    }
  }

  Walk& walk_;
  DatasetIndex& index_;
  std::string root_;
  std::set<std::string> visited_;
  std::vector<std::string> images_;
};

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
      throw InputError("the " + split + " split of " + index.source + " has no images: put images into its " +
                       "class folders, or remove the " + split + "/ folder to have it carved from train/");
    }
  }
  const auto& train = counts.at("train");
  for (size_t c = 0; c < train.size(); ++c) {
    if (train[c] == 0) {
      throw InputError("class '" + index.classes[c] + "' has no training images in " + index.source +
                       ": add images to it or remove the folder (skipped files: " +
                       std::to_string(index.skipped.size()) + ")");
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
  (void)opt;
  Walk walk{cancel, progress};
  DatasetIndex index;
  index.source = root.string();
  index.kind = "folder";
  std::error_code ec;
  const bool splitLayout = fs::is_directory(root / "train", ec);
  FolderWalker walker(root, walk, index);
  if (splitLayout) {
    index.classes = walker.classFolders(root / "train", false);
    // OS junk beside train/ (a __MACOSX/ from the zip) is counted like junk anywhere else.
    std::vector<SkippedFile> sink;
    for (const auto& p : listFolder(root, sink)) {
      index.ignored += isOsJunkName(p.filename().string());
    }
  } else {
    index.classes = walker.classFolders(root, false);
  }
  if (index.classes.empty()) {
    throw InputError("no class folders in " + root.string() +
                     ": the dataset folder needs one sub-folder per class (e.g. NORMAL/ and PNEUMONIA/), "
                     "or train/ and val/ folders that each hold them");
  }
  for (const auto& cls : index.classes) {
    if (!validUtf8(cls)) {
      throw InputError("class folder name '" + cls + "' in " + root.string() +
                       " is not valid UTF-8 (written by an old system?): rename the folder; class names "
                       "go into the run's JSON and CSV files");
    }
  }
  if (index.classes.size() < 2) {
    requireUsable(index);
  }
  auto scanSplit = [&](const fs::path& splitDir, const std::string& name) {
    SplitSource s;
    s.origin = "folder";
    const auto classes = walker.classFolders(splitDir, true);
    for (const auto& cls : classes) {
      walker.claim(splitDir / cls);
    }
    for (const auto& cls : classes) {
      const auto it = std::find(index.classes.begin(), index.classes.end(), cls);
      if (it == index.classes.end()) {
        index.skipped.push_back({(splitDir / cls).string(), "class folder not present in train/: ignored"});
        continue;
      }
      for (auto& f : walker.imagesBelow(splitDir / cls)) {
        s.files.push_back({std::move(f), it - index.classes.begin()});
      }
      walk.report();  // one event per class folder, however small
    }
    index.splits[name] = std::move(s);
  };
  if (splitLayout) {
    for (const char* name : kSplitNames) {
      if (fs::is_directory(root / name, ec)) {
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

bool isOsJunkName(const std::string& name) {
  if (name.empty() || name[0] == '.') {
    return true;  // hidden: .DS_Store, ._x.jpg (AppleDouble), .Trash-1000, .git, .thumbnails
  }
  static const std::set<std::string> kJunk = {"__macosx",   "@eadir",      "$recycle.bin", "#recycle",
                                              "system volume information", "thumbs.db",    "ehthumbs.db",
                                              "desktop.ini", "lost+found"};
  return kJunk.count(lower(name)) > 0;
}

void setScanEntryHookForTesting(std::function<void(const std::string&)> hook) { entryHook() = std::move(hook); }

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
  if (fs::is_regular_file(p, ec)) {
    if (lower(p.extension().string()) != ".npz") {
      throw InputError("'" + path + "' is a file, not a dataset folder: choose a folder, or a MedMNIST .npz file");
    }
    index = fromArrays(path, "npz", readNpz(path));
    // MedMNIST's pneumonia set: name the classes as the folder version does.
    if (index.classes.size() == 2 && lower(p.filename().string()).find("pneumonia") != std::string::npos) {
      index.classes = {"NORMAL", "PNEUMONIA"};
    }
  } else {
    if (fs::directory_iterator(p, ec); ec) {
      throw InputError("cannot read the dataset folder '" + path + "': " + describe(ec) +
                       ": check its permissions (the user running AmpBench must be able to list it)");
    }
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
