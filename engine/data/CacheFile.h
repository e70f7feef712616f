#pragma once
// The decoded-image cache file, format "ampbench-cache-2": made to be memory-mapped or read
// in pieces, never parsed whole. Little-endian layout:
//   [0, 16)  "ampbench-cache-2"
//   per split, each block starting on a 4096-byte boundary: images uint8 [N, C, S, S],
//            then labels int64 [N]
//   the metadata JSON (summary, ids, each split's count and block offsets)
//   trailer: uint64 length of the JSON, then "AMPBCEND"
// The metadata comes last so a decode can stream its images into the file before it knows
// which files were readable. (Format 1 was a LibTorch archive read whole: ImageCache.cpp.)

#include "engine/util/Files.h"

#include <nlohmann/json.hpp>
#include <torch/types.h>

#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace ampbench {

inline constexpr char kCacheMagic2[] = "ampbench-cache-2";  // 16 bytes, no terminator in the file
inline constexpr char kCacheTrailerTag[] = "AMPBCEND";     // 8 bytes
inline constexpr uint64_t kCacheBlockAlign = 4096;

// An open file descriptor, closed with its last owner (a store's readers, a mapping).
class FileHandle {
 public:
  FileHandle(int fd, std::string path) : fd_(fd), path_(std::move(path)) {}
  ~FileHandle();
  FileHandle(const FileHandle&) = delete;
  FileHandle& operator=(const FileHandle&) = delete;
  int fd() const { return fd_; }
  const std::string& path() const { return path_; }
  // Reads exactly `size` bytes at `offset`; throws std::runtime_error naming the file when
  // it cannot (an I/O error, or a file cut short since it was checked).
  void readAt(uint64_t offset, void* out, size_t size) const;

 private:
  int fd_;
  std::string path_;
};

// Writes a cache file front to back, images a chunk at a time.
class CacheWriter {
 public:
  // To `path`, through a temporary name that finish() fsyncs and renames into place.
  explicit CacheWriter(const std::string& path);
  // To an unnamed file in `dir` (created and unlinked at once: nothing stays behind, even
  // after a crash); finish() returns it open for reading.
  static std::unique_ptr<CacheWriter> temporary(const std::string& dir);
  ~CacheWriter();
  CacheWriter(const CacheWriter&) = delete;
  CacheWriter& operator=(const CacheWriter&) = delete;

  void beginSplit(const std::string& name);
  void addImages(const torch::Tensor& chunk);  // uint8 [k, C, S, S]
  void endSplit(const std::vector<int64_t>& labels, const std::vector<std::string>& ids);
  // Adds "format" and the splits' blocks to `meta` and writes it with the trailer. Throws
  // WriteError when any write failed (the temporary removed, `path` untouched).
  std::shared_ptr<FileHandle> finish(nlohmann::json meta);

 private:
  CacheWriter() = default;
  void write(const void* data, size_t size);
  void pad();

  std::unique_ptr<AtomicFile> atomic_;
  int fd_ = -1;  // temporary(): the unnamed file
  std::string where_;
  uint64_t offset_ = 0;
  std::string split_;
  uint64_t imagesOffset_ = 0;
  int64_t count_ = 0;
  nlohmann::json splits_ = nlohmann::json::object();
  nlohmann::json ids_ = nlohmann::json::object();
};

struct CacheBlock {
  int64_t count = 0;
  uint64_t imagesOffset = 0;
  uint64_t labelsOffset = 0;
};

// A format-2 cache opened and checked: every block its metadata declares lies inside the
// file, so no later read (or touch of a mapping) can run past its end.
struct OpenedCache {
  std::shared_ptr<FileHandle> file;
  uint64_t fileSize = 0;
  nlohmann::json meta;
  int64_t channels = 0, imageSize = 0;
  std::map<std::string, CacheBlock> blocks;
  uint64_t imageBytes() const { return static_cast<uint64_t>(channels * imageSize * imageSize); }
};

// True when the file starts with the format-2 magic.
bool isCacheFormat2(const std::string& path);
// Opens `path` (or reads `file` again) and checks it. Throws InputError saying what is wrong
// (without the remedy: the caller adds it).
OpenedCache openCacheFormat2(const std::string& path);
OpenedCache openCacheFormat2(std::shared_ptr<FileHandle> file);
// The labels of one split, read from the file (int64 [N]).
torch::Tensor readCacheLabels(const OpenedCache& cache, const CacheBlock& block);
// The whole file mapped read-only; the tensor views it and keeps the mapping alive.
torch::Tensor mapCacheImages(const OpenedCache& cache, const CacheBlock& block);

}  // namespace ampbench
