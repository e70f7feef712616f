#pragma once
// Finding a dataset: the Kaggle chest_xray layout (train/ val/ test/ with one folder per
// class), class folders only, a MedMNIST .npz, or a folder of IDX files. Missing val/
// (and test/ when asked) are carved from train/ as a stratified split with a fixed seed.

#include "engine/data/ArrayFormats.h"
#include "engine/data/Image.h"
#include "engine/core/Events.h"
#include "engine/core/RunConfig.h"
#include "engine/util/CancelToken.h"

#include <functional>
#include <map>
#include <string>
#include <vector>

namespace ampbench {

struct FileSample {
  std::string path;
  int64_t label = 0;
};

struct SplitSource {
  std::string origin;              // "folder", "file", "carved from train"
  std::vector<FileSample> files;   // image files (folder datasets)
  ImageArray arrays;               // decoded arrays (npz / idx datasets)
  int64_t size() const { return files.empty() ? arrays.count : static_cast<int64_t>(files.size()); }
  std::vector<int64_t> labels() const;
};

struct DatasetIndex {
  std::string source;
  std::string kind;  // "folder", "npz", "idx"
  std::vector<std::string> classes;
  std::map<std::string, SplitSource> splits;  // "train", "val", optionally "test"
  std::vector<SkippedFile> skipped;           // found but not usable (not an image...)
  int64_t ignored = 0;  // OS junk entries (hidden, __MACOSX/, Thumbs.db...): neither classes nor skipped
};

// True for names operating systems, NAS boxes and zip tools leave in folders (hidden
// entries, __MACOSX, @eaDir, .Trash-1000, $RECYCLE.BIN, Thumbs.db, desktop.ini...): a scan
// takes them neither for classes nor for images.
bool isOsJunkName(const std::string& name);

// Test hook: called with each directory entry's path just before the scan examines it, so
// a test can delete or rename things mid-scan. Tests only; pass {} to clear.
void setScanEntryHookForTesting(std::function<void(const std::string&)> hook);

// Scans `path` and carves missing splits. Throws InputError when the path is missing,
// empty, has a single class, or a split has no images. Never throws for one bad entry:
// unreadable folders, broken or looping symbolic links, FIFOs and entries that vanish
// mid-scan are listed in `skipped` with the reason; symlinked folders are followed once. Reports progress (files found so
// far) while listing big folders, and throws CancelledError soon after `cancel` is set.
DatasetIndex scanDataset(const std::string& path, const SplitOptions& split,
                         const std::function<void(const DataProgressEvent&)>& progress = {},
                         const CancelToken& cancel = CancelToken{});

// Per class counts for each split, in class order.
std::map<std::string, std::vector<int64_t>> countPerClass(const DatasetIndex& index);

// Keeps at most `limit` images per split, stratified (same seed → same subset).
void limitPerSplit(DatasetIndex& index, int64_t limit, uint64_t seed);

// Stratified split of labels into (kept, carved) index lists; `fraction` of each class
// (at least one image per class when it has two or more) goes to carved.
void stratifiedSplit(const std::vector<int64_t>& labels, double fraction, uint64_t seed,
                     std::vector<int64_t>& kept, std::vector<int64_t>& carved);

// Up to `perClass` thumbnails per class from the train split (decoded, size x size gray),
// for the UI's data panel. Undecodable files are skipped.
struct Thumbnail {
  int64_t label = 0;
  std::string path;  // empty for array datasets
  Image8 image;
};
// Throws CancelledError when `cancel` is set while decoding.
std::vector<Thumbnail> sampleThumbnails(const DatasetIndex& index, int perClass, int size,
                                        const CancelToken& cancel = CancelToken{});

}  // namespace ampbench
