#include "engine/data/ArrayFormats.h"

#include "engine/util/Errors.h"

#include <algorithm>
#include <cctype>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <functional>
#include <limits>
#include <stdexcept>

#include <unistd.h>
#include <zlib.h>

#ifdef AMPBENCH_HAVE_LIBZIP
#include <zip.h>
#endif

namespace fs = std::filesystem;

namespace ampbench {

namespace {

// Arrays above this are surely a corrupt header, not data (1 TiB).
constexpr uint64_t kMaxArrayBytes = 1ull << 40;
// Data is read in pieces of this size, the buffer growing as bytes arrive: a header that
// lies about its size fails at the real end of the data, not in the allocator.
constexpr size_t kReadChunk = size_t{16} << 20;
// deflate cannot expand data more than ~1032:1; a gzip stream claiming more is lying.
constexpr uint64_t kMaxDeflateRatio = 1032;

std::string byteCount(uint64_t bytes) {
  char buf[32];
  if (bytes >= (1ull << 30)) {
    std::snprintf(buf, sizeof buf, "%.1f GB", static_cast<double>(bytes) / (1ull << 30));
  } else if (bytes >= (1ull << 20)) {
    std::snprintf(buf, sizeof buf, "%.1f MB", static_cast<double>(bytes) / (1ull << 20));
  } else {
    std::snprintf(buf, sizeof buf, "%llu bytes", static_cast<unsigned long long>(bytes));
  }
  return buf;
}

uint64_t physicalMemory() {
  const long pages = sysconf(_SC_PHYS_PAGES);
  const long pageSize = sysconf(_SC_PAGESIZE);
  return pages > 0 && pageSize > 0 ? static_cast<uint64_t>(pages) * static_cast<uint64_t>(pageSize) : 0;
}

// Refuses, before anything is allocated, an array whose header claims more bytes than its
// container holds (`available`, an upper bound) or than this machine's memory.
void checkClaim(uint64_t claimed, uint64_t available, const std::string& what) {
  if (claimed > available) {
    throw InputError(what + ": the header claims " + byteCount(claimed) + " of data but the file holds at most " +
                     byteCount(available) + ": the file is corrupt or truncated, download or save it again");
  }
  const uint64_t ram = physicalMemory();
  if (ram > 0 && claimed > ram) {
    throw InputError(what + ": the array needs " + byteCount(claimed) + ", more than this machine's " +
                     byteCount(ram) + " of memory");
  }
}

// Reads exactly `bytes` through `read` (which fills n bytes or returns false) in chunks.
template <typename T, typename Read>
bool readChunked(Read&& read, uint64_t bytes, std::vector<T>& out) {
  static_assert(sizeof(T) == 1, "byte vectors only");
  out.clear();
  uint64_t done = 0;
  while (done < bytes) {
    const size_t n = static_cast<size_t>(std::min<uint64_t>(bytes - done, kReadChunk));
    out.resize(static_cast<size_t>(done) + n);
    if (!read(out.data() + done, n)) {
      return false;
    }
    done += n;
  }
  return true;
}

uint64_t checkedProduct(const std::vector<int64_t>& dims, uint64_t itemSize, const std::string& what) {
  uint64_t total = itemSize;
  for (int64_t d : dims) {
    if (d < 0 || (d > 0 && total > kMaxArrayBytes / static_cast<uint64_t>(d))) {
      throw InputError(what + ": array shape is corrupt or too large");
    }
    total *= static_cast<uint64_t>(d);
  }
  return total;
}

#ifdef AMPBENCH_HAVE_LIBZIP
// ---------------------------------------------------------------- .npy

struct NpyHeader {
  char byteOrder = '|';  // '<', '>', '|' (not applicable) or '=' (native)
  char kind = 'u';       // 'u', 'i', 'b', 'f', ...
  int itemSize = 1;
  bool fortranOrder = false;
  std::vector<int64_t> shape;
  std::string descr;
  uint64_t headerBytes = 0;  // magic, version, length and dict: where the data starts
};

// Reads exactly n bytes or fails.
using ReadFn = std::function<bool(void* dst, size_t n)>;

size_t skipSpaces(const std::string& s, size_t pos) {
  while (pos < s.size() && std::isspace(static_cast<unsigned char>(s[pos]))) {
    ++pos;
  }
  return pos;
}

// Position just after "'key':" in the header dict, or npos.
size_t dictValue(const std::string& dict, const std::string& key) {
  for (const char q : {'\'', '"'}) {
    const size_t k = dict.find(q + key + q);
    if (k == std::string::npos) {
      continue;
    }
    size_t pos = skipSpaces(dict, k + key.size() + 2);
    if (pos < dict.size() && dict[pos] == ':') {
      return skipSpaces(dict, pos + 1);
    }
  }
  return std::string::npos;
}

// The header is a Python dict literal, e.g.
// {'descr': '|u1', 'fortran_order': False, 'shape': (708, 28, 28), }
NpyHeader parseNpyDict(const std::string& dict, const std::string& what) {
  const auto bad = [&](const std::string& why) { return InputError(what + ": " + why); };
  NpyHeader h;
  size_t pos = dictValue(dict, "descr");
  if (pos == std::string::npos || (dict[pos] != '\'' && dict[pos] != '"')) {
    throw bad("the .npy header has no simple 'descr' (structured arrays are not supported)");
  }
  const size_t end = dict.find(dict[pos], pos + 1);
  if (end == std::string::npos) {
    throw bad("the .npy header is malformed");
  }
  h.descr = dict.substr(pos + 1, end - pos - 1);
  std::string d = h.descr;
  if (!d.empty() && std::strchr("<>|=", d[0]) != nullptr) {
    h.byteOrder = d[0];
    d = d.substr(1);
  }
  if (d.size() < 2 || !std::all_of(d.begin() + 1, d.end(), [](unsigned char c) { return std::isdigit(c); })) {
    throw bad("unsupported dtype '" + h.descr + "'");
  }
  h.kind = d[0];
  h.itemSize = std::stoi(d.substr(1));

  pos = dictValue(dict, "fortran_order");
  if (pos == std::string::npos) {
    throw bad("the .npy header has no 'fortran_order'");
  }
  h.fortranOrder = dict.compare(pos, 4, "True") == 0;

  pos = dictValue(dict, "shape");
  if (pos == std::string::npos || dict[pos] != '(') {
    throw bad("the .npy header has no 'shape'");
  }
  ++pos;
  while (true) {
    pos = skipSpaces(dict, pos);
    if (pos >= dict.size()) {
      throw bad("the .npy shape is malformed");
    }
    if (dict[pos] == ')') {
      break;
    }
    size_t used = 0;
    long long v = 0;
    try {
      v = std::stoll(dict.substr(pos, 24), &used);
    } catch (const std::exception&) {
      throw bad("the .npy shape is malformed");
    }
    if (v < 0) {
      throw bad("the .npy shape is malformed");
    }
    h.shape.push_back(v);
    pos = skipSpaces(dict, pos + used);
    if (pos < dict.size() && dict[pos] == 'L') {  // Python 2 longs
      pos = skipSpaces(dict, pos + 1);
    }
    if (pos < dict.size() && dict[pos] == ',') {
      ++pos;
    }
  }
  return h;
}

NpyHeader readNpyHeader(const ReadFn& read, const std::string& what) {
  unsigned char pre[8];
  if (!read(pre, 8) || std::memcmp(pre, "\x93NUMPY", 6) != 0) {
    throw InputError(what + ": not a .npy array (bad magic)");
  }
  const int major = pre[6];
  uint32_t length = 0;
  if (major == 1) {
    unsigned char l[2];
    if (!read(l, 2)) {
      throw InputError(what + ": truncated .npy header");
    }
    length = l[0] | (l[1] << 8);
  } else if (major == 2 || major == 3) {
    unsigned char l[4];
    if (!read(l, 4)) {
      throw InputError(what + ": truncated .npy header");
    }
    length = l[0] | (l[1] << 8) | (l[2] << 16) | (static_cast<uint32_t>(l[3]) << 24);
  } else {
    throw InputError(what + ": unsupported .npy version " + std::to_string(major));
  }
  if (length > (1u << 24)) {
    throw InputError(what + ": corrupt .npy header length");
  }
  std::string dict(length, '\0');
  if (!read(dict.data(), length)) {
    throw InputError(what + ": truncated .npy header");
  }
  NpyHeader h = parseNpyDict(dict, what);
  h.headerBytes = (major == 1 ? 10 : 12) + uint64_t{length};
  return h;
}

// `entrySize`: the archive entry's uncompressed size, the most data the array can have.
void readImagesNpy(const ReadFn& read, uint64_t entrySize, const std::string& what, ImageArray& out) {
  const NpyHeader h = readNpyHeader(read, what);
  if (h.kind != 'u' || h.itemSize != 1) {
    throw InputError(what + ": images must be uint8, found dtype '" + h.descr +
                     "': convert them with numpy (x.astype(np.uint8)) first");
  }
  const size_t nd = h.shape.size();
  if (nd != 3 && !(nd == 4 && (h.shape[3] == 1 || h.shape[3] == 3))) {
    throw InputError(what + ": images must have shape (N,H,W) or (N,H,W,3); 3-D volumes are not supported");
  }
  if (h.fortranOrder) {
    throw InputError(what + ": Fortran-ordered arrays are not supported: save with np.ascontiguousarray");
  }
  if (h.shape[1] <= 0 || h.shape[2] <= 0) {
    throw InputError(what + ": images of size zero");
  }
  const uint64_t bytes = checkedProduct(h.shape, 1, what);
  checkClaim(bytes, entrySize - std::min(entrySize, h.headerBytes), what);
  out.count = h.shape[0];
  out.height = h.shape[1];
  out.width = h.shape[2];
  out.channels = nd == 4 ? h.shape[3] : 1;
  if (!readChunked(read, bytes, out.pixels)) {
    throw InputError(what + ": truncated array data");
  }
}

int64_t decodeInteger(const unsigned char* p, const NpyHeader& h) {
  uint64_t raw = 0;
  const bool big = h.byteOrder == '>';
  for (int i = 0; i < h.itemSize; ++i) {
    const int shift = 8 * (big ? h.itemSize - 1 - i : i);
    raw |= static_cast<uint64_t>(p[i]) << shift;
  }
  if (h.kind == 'i' && h.itemSize < 8 && (raw >> (8 * h.itemSize - 1)) & 1u) {
    raw |= ~0ull << (8 * h.itemSize);  // sign-extend
  }
  return static_cast<int64_t>(raw);
}

std::vector<int64_t> readLabelsNpy(const ReadFn& read, uint64_t entrySize, const std::string& what) {
  const NpyHeader h = readNpyHeader(read, what);
  const bool integer = (h.kind == 'u' || h.kind == 'i' || h.kind == 'b') &&
                       (h.itemSize == 1 || h.itemSize == 2 || h.itemSize == 4 || h.itemSize == 8);
  if (!integer) {
    throw InputError(what + ": labels must be integers, found dtype '" + h.descr + "'");
  }
  if (h.shape.empty() || h.shape.size() > 2 || (h.shape.size() == 2 && h.shape[1] != 1)) {
    throw InputError(what + ": labels must have shape (N,) or (N,1); multi-label data is not supported");
  }
  const uint64_t bytes = checkedProduct(h.shape, static_cast<uint64_t>(h.itemSize), what);
  checkClaim(bytes, entrySize - std::min(entrySize, h.headerBytes), what);
  std::vector<unsigned char> raw;
  if (!readChunked(read, bytes, raw)) {
    throw InputError(what + ": truncated array data");
  }
  std::vector<int64_t> labels(static_cast<size_t>(h.shape[0]));
  for (size_t i = 0; i < labels.size(); ++i) {
    labels[i] = decodeInteger(raw.data() + i * h.itemSize, h);
  }
  return labels;
}

#endif  // AMPBENCH_HAVE_LIBZIP

// ---------------------------------------------------------------- IDX

struct GzFile {
  gzFile f = nullptr;
  explicit GzFile(const std::string& path) : f(gzopen(path.c_str(), "rb")) {}
  ~GzFile() {
    if (f != nullptr) {
      gzclose(f);
    }
  }
  GzFile(const GzFile&) = delete;
  GzFile& operator=(const GzFile&) = delete;

  // Upper bound of the bytes left after `consumed`: the file's size when it is plain,
  // the most a gzip stream of that size can inflate to when it is compressed.
  uint64_t available(const std::string& path, uint64_t consumed) const {
    std::error_code ec;
    const uint64_t size = fs::file_size(path, ec);
    if (ec) {
      return kMaxArrayBytes;
    }
    const uint64_t total = gzdirect(f) ? size : size * kMaxDeflateRatio;
    return total - std::min(total, consumed);
  }

  // Exact read in chunks (gzread takes an unsigned int); throws on a corrupt stream.
  bool read(void* dst, size_t n, const std::string& what) {
    auto* p = static_cast<unsigned char*>(dst);
    while (n > 0) {
      const unsigned chunk = static_cast<unsigned>(std::min<size_t>(n, 1u << 30));
      const int got = gzread(f, p, chunk);
      if (got < 0) {
        int err = 0;
        const char* msg = gzerror(f, &err);
        throw InputError(what + ": corrupt gzip data (" + (msg ? msg : "unknown error") +
                         "): download the file again");
      }
      if (got == 0) {
        return false;
      }
      p += got;
      n -= static_cast<size_t>(got);
    }
    return true;
  }
};

uint32_t bigEndian32(const unsigned char* p) {
  return (static_cast<uint32_t>(p[0]) << 24) | (static_cast<uint32_t>(p[1]) << 16) |
         (static_cast<uint32_t>(p[2]) << 8) | p[3];
}

std::string hex32(uint32_t v) {
  char buf[16];
  std::snprintf(buf, sizeof buf, "0x%08X", v);
  return buf;
}

// Opens an IDX file and reads its magic and dimensions; `ndim` 3 for images, 1 for labels.
std::vector<uint32_t> readIdxHeader(GzFile& f, const std::string& path, int ndim) {
  if (f.f == nullptr) {
    throw InputError("cannot open IDX file " + path + ": check that it exists and is readable");
  }
  unsigned char magic[4];
  if (!f.read(magic, 4, path)) {
    throw InputError(path + ": empty or truncated IDX file");
  }
  const uint32_t m = bigEndian32(magic);
  const uint32_t expected = 0x0800u | static_cast<uint32_t>(ndim);
  if (m != expected) {
    std::string msg = path + ": not an IDX " + (ndim == 3 ? "images" : "labels") + " file (magic " + hex32(m) +
                      ", expected " + hex32(expected) + ")";
    if (m == 0x0801u || m == 0x0803u) {
      msg += ": are images and labels swapped?";
    } else if ((m & 0xFFFF0000u) == 0 && magic[2] != 0x08) {
      msg += ": only unsigned-byte IDX data is supported";
    }
    throw InputError(msg);
  }
  std::vector<uint32_t> dims(static_cast<size_t>(ndim));
  for (auto& d : dims) {
    unsigned char b[4];
    if (!f.read(b, 4, path)) {
      throw InputError(path + ": truncated IDX header");
    }
    d = bigEndian32(b);
  }
  return dims;
}

// File in `folder` whose name (without .gz) ends with one of `suffixes`; prefers the
// uncompressed copy when both exist. Empty if none.
std::string findIdx(const fs::path& folder, const std::vector<std::string>& suffixes) {
  std::vector<fs::path> hits;
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(folder, ec)) {
    if (!entry.is_regular_file(ec)) {
      continue;
    }
    std::string name = entry.path().filename().string();
    if (name.size() > 3 && name.compare(name.size() - 3, 3, ".gz") == 0) {
      name.resize(name.size() - 3);
    }
    for (const auto& s : suffixes) {
      const bool exact = name == s;
      const bool tail = name.size() > s.size() && name.compare(name.size() - s.size(), s.size(), s) == 0 &&
                        (name[name.size() - s.size() - 1] == '-' || name[name.size() - s.size() - 1] == '_');
      if (exact || tail) {
        hits.push_back(entry.path());
        break;
      }
    }
  }
  if (hits.empty()) {
    return {};
  }
  // Group by the name without .gz; more than one data set is ambiguous.
  const auto stem = [](const fs::path& p) {
    std::string n = p.filename().string();
    return n.size() > 3 && n.compare(n.size() - 3, 3, ".gz") == 0 ? n.substr(0, n.size() - 3) : n;
  };
  std::sort(hits.begin(), hits.end(), [&](const fs::path& a, const fs::path& b) {
    return stem(a) != stem(b) ? stem(a) < stem(b) : a.filename().string().size() < b.filename().string().size();
  });
  for (const auto& h : hits) {
    if (stem(h) != stem(hits.front())) {
      throw InputError("several IDX data sets in " + folder.string() + " (" + hits.front().filename().string() +
                       ", " + h.filename().string() + "): keep one per folder");
    }
  }
  return hits.front().string();
}

// Labels are class indices 0..K-1 and every class needs images, so K cannot exceed the
// number of images: a label of 2^62 is a corrupt file, not 2^62 classes to name.
[[maybe_unused]] void checkLabels(const std::map<std::string, ImageArray>& splits, const std::string& source) {
  int64_t images = 0;
  for (const auto& [name, a] : splits) {
    images += a.count;
  }
  for (const auto& [name, a] : splits) {
    for (const int64_t l : a.labels) {
      if (l < 0 || l >= std::max<int64_t>(images, 1)) {
        throw InputError(source + ": label " + std::to_string(l) + " in the " + name +
                         " split is not a class index 0.." + std::to_string(std::max<int64_t>(images, 1) - 1) +
                         " (labels must be 0..K-1, K at most the " + std::to_string(images) +
                         " images): the labels are corrupt");
      }
    }
  }
}

}  // namespace

std::map<std::string, ImageArray> readNpz(const std::string& path) {
#ifndef AMPBENCH_HAVE_LIBZIP
  throw InputError("reading .npz needs libzip, and this build has none: install libzip-dev and rebuild, "
                   "or convert " + path + " to image folders");
#else
  std::error_code ec;
  if (fs::is_regular_file(path, ec) && fs::file_size(path, ec) == 0) {
    throw InputError(path + " is empty: download or save it again");
  }
  int err = 0;
  zip_t* za = zip_open(path.c_str(), ZIP_RDONLY, &err);
  if (za == nullptr) {
    zip_error_t ze;
    zip_error_init_with_code(&ze, err);
    std::string why = zip_error_strerror(&ze);
    zip_error_fini(&ze);
    if (err == ZIP_ER_NOENT || err == ZIP_ER_OPEN) {
      throw InputError("cannot open " + path + " (" + why + "): check the path");
    }
    throw InputError(path + " is not a valid .npz (zip) archive (" + why + "): download or save it again");
  }
  struct Closer {
    zip_t* za;
    ~Closer() { zip_discard(za); }
  } closer{za};

  std::map<std::string, ImageArray> splits;
  std::map<std::string, std::vector<int64_t>> labels;
  const zip_int64_t entries = zip_get_num_entries(za, 0);
  for (zip_int64_t i = 0; i < entries; ++i) {
    const char* rawName = zip_get_name(za, static_cast<zip_uint64_t>(i), 0);
    if (rawName == nullptr) {
      continue;
    }
    std::string key = rawName;
    if (key.size() <= 4 || key.compare(key.size() - 4, 4, ".npy") != 0) {
      continue;
    }
    key.resize(key.size() - 4);
    key = key.substr(key.rfind('/') + 1);  // savez writes flat names; tolerate folders
    const auto endsWith = [&](const char* s) {
      const size_t n = std::strlen(s);
      return key.size() > n && key.compare(key.size() - n, n, s) == 0;
    };
    const bool isImages = endsWith("_images");
    const bool isLabels = endsWith("_labels");
    if (!isImages && !isLabels) {
      continue;
    }
    const std::string split = key.substr(0, key.size() - 7);
    const std::string what = path + " [" + key + "]";

    zip_stat_t st;
    zip_stat_init(&st);
    if (zip_stat_index(za, static_cast<zip_uint64_t>(i), 0, &st) != 0 || (st.valid & ZIP_STAT_SIZE) == 0) {
      throw InputError(what + ": cannot read the archive entry's size (" + zip_strerror(za) +
                       "): download or save the file again");
    }
    zip_file_t* zf = zip_fopen_index(za, static_cast<zip_uint64_t>(i), 0);
    if (zf == nullptr) {
      throw InputError(what + ": cannot open the array (" + zip_strerror(za) + ")");
    }
    struct FileCloser {
      zip_file_t* zf;
      ~FileCloser() { zip_fclose(zf); }
    } fileCloser{zf};
    const ReadFn read = [&](void* dst, size_t n) {
      auto* p = static_cast<char*>(dst);
      while (n > 0) {
        const zip_int64_t got = zip_fread(zf, p, n);
        if (got < 0) {
          throw InputError(what + ": corrupt archive data (" + zip_file_strerror(zf) + ")");
        }
        if (got == 0) {
          return false;
        }
        p += got;
        n -= static_cast<size_t>(got);
      }
      return true;
    };
    if (isImages) {
      readImagesNpy(read, st.size, what, splits[split]);
    } else {
      labels[split] = readLabelsNpy(read, st.size, what);
    }
  }

  for (auto& [split, arr] : splits) {
    auto it = labels.find(split);
    if (it == labels.end()) {
      throw InputError(path + ": '" + split + "_images' has no matching '" + split + "_labels' array");
    }
    if (static_cast<int64_t>(it->second.size()) != arr.count) {
      throw InputError(path + ": " + split + " has " + std::to_string(arr.count) + " images but " +
                       std::to_string(it->second.size()) + " labels");
    }
    arr.labels = std::move(it->second);
  }
  for (const auto& [split, l] : labels) {
    if (splits.count(split) == 0) {
      throw InputError(path + ": '" + split + "_labels' has no matching '" + split + "_images' array");
    }
  }
  if (splits.empty()) {
    throw InputError(path + " holds no '<split>_images' / '<split>_labels' arrays (as in MedMNIST .npz files)");
  }
  checkLabels(splits, path);
  return splits;
#endif
}

ImageArray readIdx(const std::string& imagesPath, const std::string& labelsPath) {
  GzFile images(imagesPath);
  const std::vector<uint32_t> idims = readIdxHeader(images, imagesPath, 3);
  GzFile labelsFile(labelsPath);
  const std::vector<uint32_t> ldims = readIdxHeader(labelsFile, labelsPath, 1);
  if (idims[0] != ldims[0]) {
    throw InputError(imagesPath + " holds " + std::to_string(idims[0]) + " images but " + labelsPath + " holds " +
                     std::to_string(ldims[0]) + " labels: they do not belong together");
  }
  if (idims[1] == 0 || idims[2] == 0) {
    throw InputError(imagesPath + ": images of size zero");
  }
  ImageArray out;
  out.count = idims[0];
  out.height = idims[1];
  out.width = idims[2];
  out.channels = 1;
  const uint64_t bytes = checkedProduct({out.count, out.height, out.width}, 1, imagesPath);
  checkClaim(bytes, images.available(imagesPath, 16), imagesPath);
  checkClaim(static_cast<uint64_t>(out.count), labelsFile.available(labelsPath, 8), labelsPath);
  const auto readFrom = [](GzFile& f, const std::string& path) {
    return [&f, &path](void* dst, size_t n) { return f.read(dst, n, path); };
  };
  if (!readChunked(readFrom(images, imagesPath), bytes, out.pixels)) {
    throw InputError(imagesPath + ": truncated image data: download the file again");
  }
  std::vector<uint8_t> raw;
  if (!readChunked(readFrom(labelsFile, labelsPath), static_cast<uint64_t>(out.count), raw)) {
    throw InputError(labelsPath + ": truncated label data: download the file again");
  }
  out.labels.assign(raw.begin(), raw.end());
  return out;
}

std::map<std::string, ImageArray> readIdxFolder(const std::string& folder) {
  std::map<std::string, ImageArray> out;
  std::error_code ec;
  if (!fs::is_directory(folder, ec)) {
    return out;
  }
  // MNIST names the test split "t10k", EMNIST "test"; both "-idx3-ubyte" and the common
  // ".idx3-ubyte" spelling occur, and EMNIST adds a prefix ("emnist-letters-train-...").
  const std::pair<const char*, std::vector<std::string>> sets[] = {{"train", {"train"}}, {"test", {"t10k", "test"}}};
  for (const auto& [split, prefixes] : sets) {
    std::vector<std::string> imageNames;
    std::vector<std::string> labelNames;
    for (const std::string& p : prefixes) {
      imageNames.insert(imageNames.end(), {p + "-images-idx3-ubyte", p + "-images.idx3-ubyte"});
      labelNames.insert(labelNames.end(), {p + "-labels-idx1-ubyte", p + "-labels.idx1-ubyte"});
    }
    const std::string images = findIdx(folder, imageNames);
    const std::string labels = findIdx(folder, labelNames);
    const std::string& p = prefixes.front();
    if (images.empty() && labels.empty()) {
      continue;
    }
    if (images.empty() || labels.empty()) {
      throw InputError(folder + ": found " + (images.empty() ? labels : images) + " but not its " +
                       (images.empty() ? "images" : "labels") + " file (" + p + "-" +
                       (images.empty() ? "images-idx3" : "labels-idx1") + "-ubyte[.gz])");
    }
    out[split] = readIdx(images, labels);
  }
  return out;
}

void writeNpy(std::string& out, const std::vector<int64_t>& shape, const std::vector<uint8_t>& data) {
  uint64_t count = 1;
  for (int64_t d : shape) {
    if (d < 0) {
      throw std::invalid_argument("writeNpy: negative dimension");
    }
    count *= static_cast<uint64_t>(d);
  }
  if (count != data.size()) {
    throw std::invalid_argument("writeNpy: shape does not match the data size");
  }
  std::string dict = "{'descr': '|u1', 'fortran_order': False, 'shape': (";
  for (size_t i = 0; i < shape.size(); ++i) {
    dict += std::to_string(shape[i]) + (shape.size() == 1 ? "," : (i + 1 < shape.size() ? ", " : ""));
  }
  dict += "), }";
  // Pad with spaces and a final newline so the data starts on a 64-byte boundary.
  const size_t total = (10 + dict.size() + 1 + 63) / 64 * 64;
  dict.append(total - 10 - dict.size() - 1, ' ');
  dict += '\n';
  out.append("\x93NUMPY\x01\x00", 8);
  out += static_cast<char>(dict.size() & 0xFF);
  out += static_cast<char>((dict.size() >> 8) & 0xFF);
  out += dict;
  out.append(reinterpret_cast<const char*>(data.data()), data.size());
}

}  // namespace ampbench
