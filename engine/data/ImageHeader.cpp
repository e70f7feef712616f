#include "engine/data/ImageHeader.h"

#include <algorithm>
#include <cctype>
#include <cstring>
#include <vector>

namespace ampbench {

namespace {

// Every read goes through these: offsets come from the file and may point anywhere.
struct Bytes {
  const uint8_t* p;
  size_t n;
  bool has(uint64_t pos, uint64_t len) const { return pos <= n && len <= n - pos; }
  uint32_t be16(size_t i) const { return (uint32_t{p[i]} << 8) | p[i + 1]; }
  uint32_t be32(size_t i) const { return (be16(i) << 16) | be16(i + 2); }
  uint32_t le16(size_t i) const { return (uint32_t{p[i + 1]} << 8) | p[i]; }
  uint32_t le32(size_t i) const { return (le16(i + 2) << 16) | le16(i); }
};

bool startsWith(const Bytes& b, const char* magic, size_t len) { return b.has(0, len) && std::memcmp(b.p, magic, len) == 0; }

// ---------------------------------------------------------------- JPEG

bool isSof(uint8_t marker) {
  return marker >= 0xC0 && marker <= 0xCF && marker != 0xC4 && marker != 0xC8 && marker != 0xCC;
}

// Walks the marker segments and the entropy-coded data after each SOS up to EOI. Fills
// the size from the first SOF; returns true when EOI was reached inside the file.
bool walkJpeg(const Bytes& b, RasterHeader* h) {
  size_t pos = 2;
  while (b.has(pos, 2)) {
    if (b.p[pos] != 0xFF) {  // stray bytes between segments: libjpeg skips them too
      ++pos;
      continue;
    }
    const uint8_t marker = b.p[pos + 1];
    if (marker == 0xFF) {  // fill byte
      ++pos;
      continue;
    }
    if (marker == 0xD9) {
      return true;
    }
    if (marker == 0x01 || (marker >= 0xD0 && marker <= 0xD8)) {  // no length field
      pos += 2;
      continue;
    }
    if (!b.has(pos + 2, 2)) {
      return false;
    }
    const size_t length = b.be16(pos + 2);
    if (length < 2 || !b.has(pos + 2, length)) {
      return false;
    }
    if (h != nullptr && h->width == 0 && isSof(marker) && length >= 7) {
      h->height = b.be16(pos + 5);
      h->width = b.be16(pos + 7);
    }
    pos += 2 + length;
    if (marker == 0xDA) {
      // Entropy-coded data: FF 00 is a stuffed byte, FF D0..D7 a restart marker, FF FF
      // fill; any other FF xx is the next marker.
      while (true) {
        const void* ff = std::memchr(b.p + pos, 0xFF, b.n - pos);
        if (ff == nullptr) {
          return false;
        }
        pos = static_cast<size_t>(static_cast<const uint8_t*>(ff) - b.p);
        if (!b.has(pos, 2)) {
          return false;
        }
        const uint8_t m = b.p[pos + 1];
        if (m == 0x00 || (m >= 0xD0 && m <= 0xD7)) {
          pos += 2;
        } else if (m == 0xFF) {
          pos += 1;
        } else {
          break;
        }
      }
    }
  }
  return false;
}

// ---------------------------------------------------------------- PNG

constexpr char kPngMagic[] = "\x89PNG\r\n\x1a\n";

bool pngComplete(const Bytes& b) {
  uint64_t pos = 8;
  while (b.has(pos, 8)) {
    const uint64_t length = b.be32(static_cast<size_t>(pos));
    const uint64_t end = pos + 12 + length;  // length, type, data, CRC
    if (end > b.n) {
      return false;
    }
    if (std::memcmp(b.p + pos + 4, "IEND", 4) == 0) {
      return true;
    }
    pos = end;
  }
  return false;
}

// ---------------------------------------------------------------- TIFF

struct Tiff {
  Bytes b;
  bool little;
  uint32_t u16(size_t i) const { return little ? b.le16(i) : b.be16(i); }
  uint32_t u32(size_t i) const { return little ? b.le32(i) : b.be32(i); }

  struct Entry {
    uint32_t type = 0;
    uint64_t count = 0;
    size_t at = 0;  // where the 4-byte value/offset field is
  };

  // Values of a SHORT/LONG entry; false when they lie outside the file.
  bool values(const Entry& e, std::vector<uint64_t>& out) const {
    const uint64_t size = e.type == 3 ? 2 : e.type == 4 ? 4 : 0;
    if (size == 0 || e.count > b.n / size) {
      return false;
    }
    const uint64_t bytes = size * e.count;
    const uint64_t base = bytes <= 4 ? e.at : u32(e.at);
    if (!b.has(base, bytes)) {
      return false;
    }
    out.resize(static_cast<size_t>(e.count));
    for (size_t k = 0; k < out.size(); ++k) {
      const size_t i = static_cast<size_t>(base + k * size);
      out[k] = size == 2 ? u16(i) : u32(i);
    }
    return true;
  }
};

// Reads the first IFD. Returns false when it lies outside the file.
bool tiffFirstIfd(const Tiff& t, std::vector<std::pair<uint32_t, Tiff::Entry>>& entries) {
  if (!t.b.has(0, 8)) {
    return false;
  }
  const uint64_t ifd = t.u32(4);
  if (!t.b.has(ifd, 2)) {
    return false;
  }
  const uint32_t n = t.u16(static_cast<size_t>(ifd));
  if (!t.b.has(ifd + 2, uint64_t{n} * 12 + 4)) {  // the entries and the next IFD's offset
    return false;
  }
  for (uint32_t k = 0; k < n; ++k) {
    const size_t at = static_cast<size_t>(ifd + 2 + uint64_t{k} * 12);
    Tiff::Entry e;
    e.type = t.u16(at + 2);
    e.count = t.u32(at + 4);
    e.at = at + 8;
    entries.emplace_back(t.u16(at), e);
  }
  return true;
}

const Tiff::Entry* findTag(const std::vector<std::pair<uint32_t, Tiff::Entry>>& entries, uint32_t tag) {
  for (const auto& [t, e] : entries) {
    if (t == tag) {
      return &e;
    }
  }
  return nullptr;
}

bool isTiff(const Bytes& b, bool& little) {
  if (startsWith(b, "II*\0", 4)) {
    little = true;
    return true;
  }
  if (startsWith(b, "MM\0*", 4)) {
    little = false;
    return true;
  }
  return false;
}

// Bytes per value of a TIFF field type; 0 for types we do not know.
uint64_t tiffTypeSize(uint32_t type) {
  switch (type) {
    case 1: case 2: case 6: case 7:  // BYTE, ASCII, SBYTE, UNDEFINED
      return 1;
    case 3: case 8:  // SHORT, SSHORT
      return 2;
    case 4: case 9: case 11: case 13:  // LONG, SLONG, FLOAT, IFD
      return 4;
    case 5: case 10: case 12:  // RATIONAL, SRATIONAL, DOUBLE
      return 8;
    default:
      return 0;
  }
}

// Every value stored outside the first IFD, and every strip (or tile) it points at, must
// lie inside the file.
bool tiffComplete(const Tiff& t) {
  std::vector<std::pair<uint32_t, Tiff::Entry>> entries;
  if (!tiffFirstIfd(t, entries)) {
    return false;
  }
  for (const auto& [tag, e] : entries) {
    const uint64_t size = tiffTypeSize(e.type);
    if (size != 0 && e.count > 4 / size && (e.count > t.b.n / size || !t.b.has(t.u32(e.at), size * e.count))) {
      return false;
    }
  }
  for (const auto& [offsetsTag, countsTag] : {std::pair<uint32_t, uint32_t>{273, 279}, {324, 325}}) {
    const Tiff::Entry* offsets = findTag(entries, offsetsTag);
    const Tiff::Entry* counts = findTag(entries, countsTag);
    if (offsets == nullptr || counts == nullptr) {
      continue;
    }
    std::vector<uint64_t> o;
    std::vector<uint64_t> c;
    if (!t.values(*offsets, o) || !t.values(*counts, c)) {
      return false;
    }
    for (size_t k = 0; k < std::min(o.size(), c.size()); ++k) {
      if (!t.b.has(o[k], c[k])) {
        return false;
      }
    }
  }
  return true;
}

// ---------------------------------------------------------------- BMP, PNM

// Bytes of pixel data an uncompressed BMP needs, or 0 when it cannot tell.
uint64_t bmpPixelBytes(const Bytes& b, const RasterHeader& h) {
  if (!b.has(0, 30) || !h.hasSize()) {
    return 0;
  }
  const uint32_t dib = b.le32(14);
  const uint32_t bpp = dib == 12 ? b.le16(24) : b.le16(28);
  const uint32_t compression = dib == 12 ? 0 : (b.has(30, 4) ? b.le32(30) : 0);
  if (compression != 0 && compression != 3 && compression != 6) {  // RGB, BITFIELDS
    return 0;
  }
  const uint64_t stride = (static_cast<uint64_t>(h.width) * bpp + 31) / 32 * 4;
  const auto rows = static_cast<uint64_t>(h.height);
  return stride > (1ull << 62) / rows ? ~0ull : stride * rows;
}

// PNM header: magic, width, height[, maxval], '#' comments; sets `dataStart` after the
// single whitespace that ends it.
bool pnmHeader(const Bytes& b, RasterHeader& h, uint64_t& maxval, size_t& dataStart) {
  if (!b.has(0, 2) || b.p[0] != 'P' || b.p[1] < '1' || b.p[1] > '6') {
    return false;
  }
  const bool bitmap = b.p[1] == '1' || b.p[1] == '4';
  uint64_t fields[3] = {0, 0, 1};
  const int need = bitmap ? 2 : 3;
  size_t pos = 2;
  for (int f = 0; f < need; ++f) {
    while (pos < b.n && (std::isspace(b.p[pos]) || b.p[pos] == '#')) {
      if (b.p[pos] == '#') {
        while (pos < b.n && b.p[pos] != '\n') {
          ++pos;
        }
      } else {
        ++pos;
      }
    }
    if (pos >= b.n || !std::isdigit(b.p[pos])) {
      return false;
    }
    uint64_t v = 0;
    while (pos < b.n && std::isdigit(b.p[pos]) && v < (1ull << 40)) {
      v = v * 10 + static_cast<uint64_t>(b.p[pos] - '0');
      ++pos;
    }
    fields[f] = v;
  }
  h.width = static_cast<int64_t>(fields[0]);
  h.height = static_cast<int64_t>(fields[1]);
  maxval = fields[2];
  dataStart = pos + 1;
  return true;
}

}  // namespace

RasterHeader readRasterHeader(const uint8_t* data, size_t size) {
  const Bytes b{data, size};
  RasterHeader h;
  bool little = true;
  if (startsWith(b, "\xFF\xD8", 2)) {
    h.format = "JPEG";
    walkJpeg(b, &h);
  } else if (startsWith(b, kPngMagic, 8)) {
    h.format = "PNG";
    if (b.has(12, 12) && std::memcmp(b.p + 12, "IHDR", 4) == 0) {
      h.width = b.be32(16);
      h.height = b.be32(20);
    }
  } else if (startsWith(b, "BM", 2)) {
    h.format = "BMP";
    if (b.has(14, 4)) {
      const uint32_t dib = b.le32(14);
      if (dib == 12 && b.has(18, 4)) {
        h.width = b.le16(18);
        h.height = b.le16(20);
      } else if (dib >= 40 && b.has(18, 8)) {
        h.width = static_cast<int32_t>(b.le32(18));
        h.height = static_cast<int32_t>(b.le32(22));
        h.height = h.height < 0 ? -h.height : h.height;  // negative: stored top-down
        h.width = std::max<int64_t>(h.width, 0);
      }
    }
  } else if (isTiff(b, little)) {
    h.format = "TIFF";
    const Tiff t{b, little};
    std::vector<std::pair<uint32_t, Tiff::Entry>> entries;
    if (tiffFirstIfd(t, entries)) {
      std::vector<uint64_t> v;
      const Tiff::Entry* w = findTag(entries, 256);
      const Tiff::Entry* l = findTag(entries, 257);
      if (w != nullptr && l != nullptr && w->count == 1 && l->count == 1) {
        if (t.values(*w, v)) {
          h.width = static_cast<int64_t>(v[0]);
        }
        if (t.values(*l, v)) {
          h.height = static_cast<int64_t>(v[0]);
        }
      }
    }
  } else {
    uint64_t maxval = 0;
    size_t dataStart = 0;
    RasterHeader p;
    if (pnmHeader(b, p, maxval, dataStart)) {
      p.format = "PNM";
      h = p;
    }
  }
  return h;
}

std::string rasterTruncation(const uint8_t* data, size_t size, const RasterHeader& h) {
  const Bytes b{data, size};
  if (h.format == "JPEG") {
    return walkJpeg(b, nullptr) ? std::string() : "truncated JPEG (no end-of-image marker)";
  }
  if (h.format == "PNG") {
    return pngComplete(b) ? std::string() : "truncated PNG (no IEND chunk)";
  }
  if (h.format == "TIFF") {
    bool little = true;
    isTiff(b, little);
    return tiffComplete(Tiff{b, little}) ? std::string() : "truncated TIFF (image data beyond the end of the file)";
  }
  if (h.format == "BMP") {
    const uint64_t pixels = bmpPixelBytes(b, h);
    const uint64_t offset = b.has(10, 4) ? b.le32(10) : 0;
    return pixels == 0 || b.has(offset, pixels) ? std::string() : "truncated BMP (pixel data ends early)";
  }
  if (h.format == "PNM") {
    RasterHeader p;
    uint64_t maxval = 0;
    size_t start = 0;
    if (!pnmHeader(b, p, maxval, start) || b.p[1] < '4' || !p.hasSize()) {
      return {};  // ASCII variants: OpenCV reports a short read itself
    }
    const uint64_t w = static_cast<uint64_t>(p.width);
    const uint64_t rows = static_cast<uint64_t>(p.height);
    const uint64_t depth = maxval > 255 ? 2 : 1;
    const uint64_t rowBytes = b.p[1] == '4' ? (w + 7) / 8 : w * depth * (b.p[1] == '6' ? 3 : 1);
    if (rows != 0 && rowBytes > (1ull << 62) / rows) {
      return "truncated PNM (pixel data ends early)";
    }
    return b.has(start, rowBytes * rows) ? std::string() : "truncated PNM (pixel data ends early)";
  }
  return {};
}

}  // namespace ampbench
