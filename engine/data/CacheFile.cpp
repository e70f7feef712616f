#include "engine/data/CacheFile.h"

#include "engine/util/Errors.h"

#include <torch/torch.h>

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <limits>

namespace ampbench {

namespace {

constexpr uint64_t kMagicBytes = 16, kTrailerBytes = 16;

std::string errnoText(int e) { return e == ENOSPC ? "No space left on device (disk full)" : std::strerror(e); }

// a * b, or nullopt when it does not fit: sizes in a hostile header are not trusted.
std::optional<uint64_t> checkedMul(uint64_t a, uint64_t b) {
  if (a != 0 && b > std::numeric_limits<uint64_t>::max() / a) {
    return std::nullopt;
  }
  return a * b;
}

// An integer field of the metadata; a float or string there is damage, not a size.
int64_t intField(const nlohmann::json& o, const char* key) {
  const auto& v = o.at(key);
  if (!v.is_number_integer()) {
    throw InputError(std::string("'") + key + "' is not an integer");
  }
  return v.is_number_unsigned() && v.get<uint64_t>() > static_cast<uint64_t>(std::numeric_limits<int64_t>::max())
             ? -1
             : v.get<int64_t>();
}

uint64_t alignUp(uint64_t v) { return (v + kCacheBlockAlign - 1) / kCacheBlockAlign * kCacheBlockAlign; }

}  // namespace

FileHandle::~FileHandle() {
  if (fd_ >= 0) {
    ::close(fd_);
  }
}

void FileHandle::readAt(uint64_t offset, void* out, size_t size) const {
  auto* p = static_cast<char*>(out);
  while (size > 0) {
    const ssize_t n = ::pread(fd_, p, size, static_cast<off_t>(offset));
    if (n < 0 && errno == EINTR) {
      continue;
    }
    if (n <= 0) {
      throw std::runtime_error("cannot read the cache file '" + path_ + "': " +
                               (n == 0 ? std::string("it ends early (changed while in use?)") : errnoText(errno)));
    }
    p += n;
    offset += static_cast<uint64_t>(n);
    size -= static_cast<size_t>(n);
  }
}

CacheWriter::CacheWriter(const std::string& path) : atomic_(std::make_unique<AtomicFile>(path)), where_(path) {
  write(kCacheMagic2, kMagicBytes);
}

std::unique_ptr<CacheWriter> CacheWriter::temporary(const std::string& dir) {
  std::unique_ptr<CacheWriter> w(new CacheWriter());
  std::string name = dir + "/.ampbench-images-XXXXXX";
  w->fd_ = ::mkostemp(name.data(), O_CLOEXEC);
  if (w->fd_ < 0) {
    throw WriteError("cannot create a temporary image file in " + dir + ": " + errnoText(errno));
  }
  ::unlink(name.c_str());
  w->where_ = "a temporary image file in " + dir;
  w->write(kCacheMagic2, kMagicBytes);
  return w;
}

CacheWriter::~CacheWriter() {
  if (fd_ >= 0) {
    ::close(fd_);
  }
}

void CacheWriter::write(const void* data, size_t size) {
  if (atomic_) {
    atomic_->write(data, size);  // a failure is reported by commit()
  } else {
    const char* p = static_cast<const char*>(data);
    size_t left = size;
    while (left > 0) {
      const ssize_t n = ::write(fd_, p, left);
      if (n < 0 && errno == EINTR) {
        continue;
      }
      if (n < 0) {
        throw WriteError("cannot write " + where_ + ": " + errnoText(errno));
      }
      p += n;
      left -= static_cast<size_t>(n);
    }
  }
  offset_ += size;
}

void CacheWriter::pad() {
  static const std::vector<char> zeros(kCacheBlockAlign, 0);
  const uint64_t to = alignUp(offset_);
  if (to > offset_) {
    write(zeros.data(), to - offset_);
  }
}

void CacheWriter::beginSplit(const std::string& name) {
  pad();
  split_ = name;
  imagesOffset_ = offset_;
  count_ = 0;
}

void CacheWriter::addImages(const torch::Tensor& chunk) {
  const auto c = chunk.contiguous();
  TORCH_CHECK(c.scalar_type() == torch::kUInt8 && c.dim() == 4, "cache images are uint8 N x C x S x S");
  write(c.data_ptr<uint8_t>(), static_cast<size_t>(c.numel()));
  count_ += c.size(0);
}

void CacheWriter::endSplit(const std::vector<int64_t>& labels, const std::vector<std::string>& ids) {
  pad();
  const uint64_t labelsOffset = offset_;
  write(labels.data(), labels.size() * sizeof(int64_t));  // little-endian hosts (x86-64, arm64)
  splits_[split_] = {{"count", count_},
                     {"labels_count", labels.size()},
                     {"images_offset", imagesOffset_},
                     {"labels_offset", labelsOffset}};
  ids_[split_] = ids;
}

std::shared_ptr<FileHandle> CacheWriter::finish(nlohmann::json meta) {
  meta["format"] = kCacheMagic2;
  meta["splits"] = splits_;
  meta["ids"] = ids_;
  const auto text = meta.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);  // non-UTF-8 names
  write(text.data(), text.size());
  const uint64_t length = text.size();
  write(&length, sizeof length);
  write(kCacheTrailerTag, 8);
  if (atomic_) {
    atomic_->commit();
    return nullptr;
  }
  auto handle = std::make_shared<FileHandle>(fd_, where_);
  fd_ = -1;
  return handle;
}

bool isCacheFormat2(const std::string& path) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    return false;
  }
  char head[kMagicBytes] = {};
  const bool yes = ::pread(fd, head, kMagicBytes, 0) == static_cast<ssize_t>(kMagicBytes) &&
                   std::memcmp(head, kCacheMagic2, kMagicBytes) == 0;
  ::close(fd);
  return yes;
}

OpenedCache openCacheFormat2(const std::string& path) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    throw InputError("cannot open cache file '" + path + "': " + errnoText(errno));
  }
  return openCacheFormat2(std::make_shared<FileHandle>(fd, path));
}

OpenedCache openCacheFormat2(std::shared_ptr<FileHandle> file) {
  OpenedCache c;
  c.file = std::move(file);
  struct stat st {};
  if (::fstat(c.file->fd(), &st) != 0) {
    throw InputError("cannot read cache file '" + c.file->path() + "': " + errnoText(errno));
  }
  c.fileSize = static_cast<uint64_t>(st.st_size);
  if (c.fileSize < kMagicBytes + kTrailerBytes) {
    throw InputError("the file is cut short (" + std::to_string(c.fileSize) + " bytes)");
  }
  char head[kMagicBytes];
  char trailer[kTrailerBytes];
  try {
    c.file->readAt(0, head, kMagicBytes);
    c.file->readAt(c.fileSize - kTrailerBytes, trailer, kTrailerBytes);
  } catch (const std::runtime_error& e) {
    throw InputError(e.what());
  }
  if (std::memcmp(head, kCacheMagic2, kMagicBytes) != 0) {
    throw InputError("not an AmpBench cache file");
  }
  if (std::memcmp(trailer + 8, kCacheTrailerTag, 8) != 0) {
    throw InputError("the file is cut short or was not finished (no end marker)");
  }
  uint64_t metaLength = 0;
  std::memcpy(&metaLength, trailer, 8);
  const uint64_t metaEnd = c.fileSize - kTrailerBytes;
  if (metaLength > metaEnd - kMagicBytes || metaLength > (uint64_t{1} << 32)) {
    throw InputError("its metadata length (" + std::to_string(metaLength) + " bytes) does not fit the file");
  }
  const uint64_t metaStart = metaEnd - metaLength;
  std::string text(metaLength, '\0');
  try {
    c.file->readAt(metaStart, text.data(), text.size());
  } catch (const std::runtime_error& e) {
    throw InputError(e.what());
  }
  c.meta = nlohmann::json::parse(text);  // a parse error is reported by the caller as damage
  if (!c.meta.is_object() || c.meta.value("format", "") != kCacheMagic2) {
    throw InputError("its metadata does not say format " + std::string(kCacheMagic2));
  }
  c.imageSize = intField(c.meta, "image_size");
  c.channels = intField(c.meta, "channels");
  if (c.imageSize < 1 || c.imageSize > 65536 || (c.channels != 1 && c.channels != 3)) {
    throw InputError("image size " + std::to_string(c.imageSize) + " with " + std::to_string(c.channels) +
                     " channels");
  }
  const auto& splits = c.meta.at("splits");
  if (!splits.is_object()) {
    throw InputError("no split records");
  }
  // Every declared block must lie between the magic and the metadata: the sizes are
  // products of figures from the file, so each is computed with an overflow check.
  for (const auto& [name, s] : splits.items()) {
    CacheBlock b;
    const auto count = intField(s, "count");
    const auto labelsCount = intField(s, "labels_count");
    const auto imagesOffset = intField(s, "images_offset"), labelsOffset = intField(s, "labels_offset");
    if (imagesOffset < 0 || labelsOffset < 0) {
      throw InputError("split '" + name + "' has a block outside the file");
    }
    b.imagesOffset = static_cast<uint64_t>(imagesOffset);
    b.labelsOffset = static_cast<uint64_t>(labelsOffset);
    if (count < 0 || labelsCount != count) {
      throw InputError("split '" + name + "' has different numbers of images, labels and names");
    }
    b.count = count;
    const auto imageBytes = checkedMul(static_cast<uint64_t>(count), c.imageBytes());
    const auto labelBytes = checkedMul(static_cast<uint64_t>(count), sizeof(int64_t));
    auto inside = [&](uint64_t offset, std::optional<uint64_t> bytes) {
      return bytes && offset >= kMagicBytes && offset <= metaStart && *bytes <= metaStart - offset;
    };
    if (!inside(b.imagesOffset, imageBytes) || !inside(b.labelsOffset, labelBytes)) {
      throw InputError("split '" + name + "' declares " + std::to_string(count) +
                       " images that do not fit in the file's " + std::to_string(c.fileSize) +
                       " bytes (cut short?)");
    }
    c.blocks[name] = b;
  }
  return c;
}

torch::Tensor readCacheLabels(const OpenedCache& cache, const CacheBlock& block) {
  auto labels = torch::empty({block.count}, torch::kLong);
  try {
    cache.file->readAt(block.labelsOffset, labels.data_ptr<int64_t>(), static_cast<size_t>(block.count) * 8);
  } catch (const std::runtime_error& e) {
    throw InputError(e.what());
  }
  return labels;
}

namespace {

struct Mapping {
  void* addr = nullptr;
  size_t length = 0;
  ~Mapping() {
    if (addr) {
      ::munmap(addr, length);
    }
  }
};

}  // namespace

torch::Tensor mapCacheImages(const OpenedCache& cache, const CacheBlock& block) {
  const int64_t s = cache.imageSize;
  const auto sizes = std::vector<int64_t>{block.count, cache.channels, s, s};
  const uint64_t bytes = static_cast<uint64_t>(block.count) * cache.imageBytes();  // checked on opening
  if (bytes == 0) {
    return torch::empty(sizes, torch::kUInt8);
  }
  // mmap wants a page-aligned offset; blocks are 4096-aligned but pages may be larger.
  const auto page = static_cast<uint64_t>(::sysconf(_SC_PAGESIZE));
  const uint64_t start = block.imagesOffset / page * page;
  auto m = std::make_shared<Mapping>();
  m->length = static_cast<size_t>(block.imagesOffset - start + bytes);
  // Read-only: the training never writes into its images, and a private read-only mapping
  // is not charged to the memory commit.
  void* addr = ::mmap(nullptr, m->length, PROT_READ, MAP_PRIVATE, cache.file->fd(), static_cast<off_t>(start));
  if (addr == MAP_FAILED) {
    throw std::runtime_error("cannot map the cache file '" + cache.file->path() + "': " + errnoText(errno));
  }
  m->addr = addr;
  void* data = static_cast<char*>(addr) + (block.imagesOffset - start);
  return torch::from_blob(data, sizes, [m](void*) mutable { m.reset(); }, torch::TensorOptions(torch::kUInt8));
}

}  // namespace ampbench
