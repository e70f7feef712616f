#pragma once
// A split's images read from a cache file on demand (--cache-memory-mb): each batch is read
// with pread through a bounded LRU of decoded images shared by a dataset's splits, so the
// process holds at most the cap however large the file is (the file's pages stay in the
// kernel's page cache, which is not the process's resident memory).

#include "engine/data/CacheFile.h"

#include <torch/types.h>

#include <list>
#include <memory>
#include <mutex>
#include <unordered_map>

namespace ampbench {

// Fixed-size slots of `imageBytes` in one buffer of at most `capacityBytes`, allocated
// lazily; least recently used slots are reused first. Thread-safe.
class ImageLru {
 public:
  ImageLru(int64_t capacityBytes, int64_t imageBytes);
  // Copies the image under `key` to `out` and marks it recent; false when absent.
  bool get(uint64_t key, uint8_t* out);
  void put(uint64_t key, const uint8_t* image);
  int64_t capacity() const { return slots_; }
  int64_t hits() const;
  int64_t misses() const;

 private:
  const int64_t imageBytes_;
  const int64_t slots_;
  mutable std::mutex mutex_;
  std::unique_ptr<uint8_t[]> buffer_;  // new[] without initialisation: pages are touched as slots fill
  std::list<std::pair<uint64_t, int64_t>> order_;  // (key, slot), most recent first
  std::unordered_map<uint64_t, std::list<std::pair<uint64_t, int64_t>>::iterator> where_;
  int64_t hits_ = 0, misses_ = 0;
};

class ImageStore {
 public:
  ImageStore(std::shared_ptr<FileHandle> file, uint64_t offset, int64_t count, int64_t channels, int64_t imageSize,
             std::shared_ptr<ImageLru> lru);
  int64_t count() const { return count_; }
  int64_t channels() const { return channels_; }
  int64_t imageSize() const { return size_; }
  // uint8 [n, C, S, S]: the images at `indices`, through the LRU.
  torch::Tensor gather(const int64_t* indices, int64_t n) const;
  // uint8 [end - begin, C, S, S]: one read past the LRU (a sequential pass, e.g. statistics).
  torch::Tensor range(int64_t begin, int64_t end) const;
  const std::shared_ptr<ImageLru>& lru() const { return lru_; }

 private:
  std::shared_ptr<FileHandle> file_;
  uint64_t offset_;
  int64_t count_, channels_, size_, imageBytes_;
  uint64_t keyBase_;  // distinguishes this split's images in the shared LRU
  std::shared_ptr<ImageLru> lru_;
};

}  // namespace ampbench
