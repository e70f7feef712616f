#include "engine/data/DicomCheck.h"

#include "engine/data/Image.h"

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <vector>

namespace ampbench {

namespace {

constexpr uint32_t kUndefinedLength = 0xFFFFFFFFu;
constexpr uint16_t kItemGroup = 0xFFFE;
constexpr uint16_t kItem = 0xE000;
constexpr uint16_t kSequenceDelimiter = 0xE0DD;

// The standard's VRs (PS3.5 6.2), and those whose length is coded on 32 bits after two
// reserved bytes (PS3.5 7.1.2). GDCM 3.0 knows all of them.
const char* const kVrs[] = {"AE", "AS", "AT", "CS", "DA", "DS", "DT", "FD", "FL", "IS", "LO", "LT", "OB",
                            "OD", "OF", "OL", "OV", "OW", "PN", "SH", "SL", "SQ", "SS", "ST", "SV", "TM",
                            "UC", "UI", "UL", "UN", "UR", "US", "UT", "UV"};
// What the file meta header's elements use (PS3.10 7.1), and a few plain ones next to them.
const char* const kMetaVrs[] = {"AE", "CS", "LO", "OB", "SH", "ST", "UI", "UL", "UR", "US"};
const char* const kLongVrs[] = {"OB", "OD", "OF", "OL", "OV", "OW", "SQ", "SV", "UC", "UN", "UR", "UT", "UV"};

bool vrIn(const uint8_t* vr, const char* const* begin, const char* const* end) {
  return std::any_of(begin, end, [&](const char* v) { return vr[0] == v[0] && vr[1] == v[1]; });
}
bool knownVr(const uint8_t* vr) { return vrIn(vr, std::begin(kVrs), std::end(kVrs)); }
bool longVr(const uint8_t* vr) { return vrIn(vr, std::begin(kLongVrs), std::end(kLongVrs)); }
bool vrIs(const uint8_t* vr, const char* v) { return vr[0] == v[0] && vr[1] == v[1]; }

std::string vrText(const uint8_t* vr) {
  std::string out;
  for (int i = 0; i < 2; ++i) {
    if (vr[i] >= 0x20 && vr[i] < 0x7F) {
      out += static_cast<char>(vr[i]);
    } else {
      char hex[5];
      std::snprintf(hex, sizeof hex, "\\x%02X", vr[i]);
      out += hex;
    }
  }
  return out;
}

std::string tagText(uint16_t group, uint16_t element) {
  char text[12];
  std::snprintf(text, sizeof text, "(%04X,%04X)", group, element);
  return text;
}

// Attributes GDCM reads through gdcm::Attribute<>, which asserts (aborts) when the file's
// VR is not the dictionary's: the image pixel module and what its ImageHelper reads.
struct ExpectedVr {
  uint16_t group;
  uint16_t element;
  const char* vrs;  // one or two codes: "US", "USSS"
};
const ExpectedVr kExpectedVrs[] = {
    {0x0002, 0x0001, "OB"},   {0x0002, 0x0002, "UI"},   {0x0002, 0x0010, "UI"},   {0x0008, 0x0016, "UI"},
    {0x0008, 0x0060, "CS"},   {0x0018, 0x0050, "DS"},   {0x0018, 0x0088, "DS"},   {0x0018, 0x1164, "DS"},
    {0x0020, 0x0032, "DS"},   {0x0020, 0x0037, "DS"},   {0x0028, 0x0002, "US"},   {0x0028, 0x0004, "CS"},
    {0x0028, 0x0006, "US"},   {0x0028, 0x0008, "IS"},   {0x0028, 0x0009, "AT"},   {0x0028, 0x0010, "US"},
    {0x0028, 0x0011, "US"},   {0x0028, 0x0030, "DS"},   {0x0028, 0x0034, "IS"},   {0x0028, 0x0100, "US"},
    {0x0028, 0x0101, "US"},   {0x0028, 0x0102, "US"},   {0x0028, 0x0103, "US"},   {0x0028, 0x0106, "USSS"},
    {0x0028, 0x0107, "USSS"}, {0x0028, 0x0120, "USSS"}, {0x0028, 0x1050, "DS"},   {0x0028, 0x1051, "DS"},
    {0x0028, 0x1052, "DS"},   {0x0028, 0x1053, "DS"},   {0x0028, 0x1054, "LO"},   {0x0028, 0x1101, "USSS"},
    {0x0028, 0x1102, "USSS"}, {0x0028, 0x1103, "USSS"}, {0x0028, 0x2110, "CS"},   {0x0054, 0x0081, "US"},
    {0x7FE0, 0x0010, "OBOW"},
};

// Empty, or why the element's VR is not the one GDCM insists on.
std::string unexpectedVr(uint16_t group, uint16_t element, const uint8_t* vr) {
  for (const ExpectedVr& e : kExpectedVrs) {
    if (e.group == group && e.element == element) {
      const std::string vrs = e.vrs;
      for (size_t i = 0; i + 1 < vrs.size(); i += 2) {
        if (vrIs(vr, vrs.c_str() + i)) {
          return {};
        }
      }
      return "element " + tagText(group, element) + " has VR '" + vrText(vr) + "', expected " +
             (vrs.size() > 2 ? vrs.substr(0, 2) + " or " + vrs.substr(2) : vrs);
    }
  }
  return {};
}

[[noreturn]] void refuse(const std::string& why) { throw DecodeError("not a valid DICOM: " + why); }

[[noreturn]] void refuseLength(uint16_t group, uint16_t element, uint64_t declared, uint64_t left) {
  refuse("element " + tagText(group, element) + " declares " + std::to_string(declared) + " bytes but the file has " +
         std::to_string(left) + " left");
}

// Element headers read through a window, so a file of many small elements costs few reads.
class HeaderReader {
 public:
  explicit HeaderReader(const std::string& path) : in_(path, std::ios::binary) {
    std::error_code ec;
    size_ = std::filesystem::file_size(path, ec);
    if (!in_ || ec) {
      throw DecodeError("cannot open file");
    }
  }
  uint64_t size() const { return size_; }
  uint64_t left(uint64_t pos) const { return pos < size_ ? size_ - pos : 0; }

  // The n (<= 16) bytes at pos; the caller has checked they are in the file.
  const uint8_t* at(uint64_t pos, size_t n) {
    if (pos < start_ || pos + n > start_ + window_.size()) {
      window_.resize(static_cast<size_t>(std::min<uint64_t>(kWindow, size_ - pos)));
      in_.clear();
      in_.seekg(static_cast<std::streamoff>(pos));
      in_.read(reinterpret_cast<char*>(window_.data()), static_cast<std::streamsize>(window_.size()));
      if (static_cast<size_t>(in_.gcount()) != window_.size()) {
        throw DecodeError("cannot read file");
      }
      start_ = pos;
    }
    return window_.data() + (pos - start_);
  }

 private:
  static constexpr uint64_t kWindow = 64 * 1024;
  std::ifstream in_;
  uint64_t size_ = 0;
  uint64_t start_ = 0;
  std::vector<uint8_t> window_;
};

// Values GDCM's PixelFormat asserts on: Samples per Pixel 1/3/4, Bits Stored <= Bits
// Allocated, High Bit < Bits Stored (0xFFFF/0x0FFF/0x00FF read as 16/12/8, as GDCM does).
struct PixelModule {
  int samples = -1, allocated = -1, stored = -1, highBit = -1;
  static int bits(int v) { return v == 0xFFFF ? 16 : v == 0x0FFF ? 12 : v == 0x00FF ? 8 : v; }
  void check() const {
    if (samples != -1 && samples != 1 && samples != 3 && samples != 4) {
      refuse("Samples per Pixel (0028,0002) is " + std::to_string(samples));
    }
    const int a = bits(allocated), s = bits(stored);
    if (a > 0 && s > a) {
      refuse("Bits Stored " + std::to_string(s) + " is over Bits Allocated " + std::to_string(a));
    }
    if (s > 0 && highBit >= s) {
      refuse("High Bit " + std::to_string(highBit) + " is not below Bits Stored " + std::to_string(s));
    }
  }
};

struct Encoding {
  bool explicitVr = true;
  bool bigEndian = false;
  uint16_t u16(const uint8_t* p) const {
    return bigEndian ? static_cast<uint16_t>(p[0] << 8 | p[1]) : static_cast<uint16_t>(p[1] << 8 | p[0]);
  }
  uint32_t u32(const uint8_t* p) const {
    return bigEndian ? (uint32_t{p[0]} << 24 | uint32_t{p[1]} << 16 | uint32_t{p[2]} << 8 | p[3])
                     : (uint32_t{p[3]} << 24 | uint32_t{p[2]} << 16 | uint32_t{p[1]} << 8 | p[0]);
  }
};

// Group 0002, always explicit VR little endian. Returns the position after it and sets
// `transferSyntax` from (0002,0010).
uint64_t walkFileMeta(HeaderReader& file, uint64_t pos, std::string& transferSyntax) {
  const Encoding le;
  while (file.left(pos) >= 8) {
    const uint8_t* h = file.at(pos, 8);
    const uint16_t group = le.u16(h);
    const uint16_t element = le.u16(h + 2);
    if (group != 0x0002) {
      break;
    }
    if (!knownVr(h + 4)) {
      refuse("unknown VR '" + vrText(h + 4) + "' in the file meta header (element " + tagText(group, element) + ")");
    }
    if (const std::string why = unexpectedVr(group, element, h + 4); !why.empty()) {
      refuse(why + " (file meta header)");
    }
    if (!vrIn(h + 4, std::begin(kMetaVrs), std::end(kMetaVrs))) {  // GDCM asserts on SQ here
      refuse("VR '" + vrText(h + 4) + "' of element " + tagText(group, element) + " in the file meta header");
    }
    uint64_t header = 8;
    uint32_t length = le.u16(h + 6);
    if (longVr(h + 4)) {
      if (file.left(pos) < 12) {
        refuse("file meta header cut short in element " + tagText(group, element));
      }
      header = 12;
      length = le.u32(file.at(pos, 12) + 8);
      if (length == kUndefinedLength) {
        refuse("element " + tagText(group, element) + " of the file meta header has an undefined length");
      }
    }
    if (length > file.left(pos + header)) {
      refuseLength(group, element, length, file.left(pos + header));
    }
    if (element == 0x0010) {
      std::string uid;
      for (uint64_t i = 0; i < std::min<uint64_t>(length, 64); ++i) {
        uid += static_cast<char>(*file.at(pos + header + i, 1));
      }
      while (!uid.empty() && (uid.back() == '\0' || uid.back() == ' ')) {
        uid.pop_back();
      }
      transferSyntax = uid;
    }
    pos += header + length;
  }
  return pos;
}

// Encapsulated pixel data: items of defined length (offset table, fragments) up to the
// sequence delimiter. Returns the position after the delimiter, or the file size when the
// file ends first.
uint64_t walkFragments(HeaderReader& file, uint64_t pos, const Encoding& enc) {
  while (file.left(pos) > 0) {
    if (file.left(pos) < 8) {
      refuse("the file ends inside a pixel data fragment header");
    }
    const uint8_t* h = file.at(pos, 8);
    const uint16_t group = enc.u16(h);
    const uint16_t element = enc.u16(h + 2);
    const uint32_t length = enc.u32(h + 4);
    pos += 8;
    if (group == kItemGroup && element == kSequenceDelimiter) {
      return pos;
    }
    if (group != kItemGroup || element != kItem) {
      refuse("element " + tagText(group, element) + " inside encapsulated pixel data");
    }
    if (length == kUndefinedLength) {
      refuse("pixel data fragment of undefined length");
    }
    if (length > file.left(pos)) {
      refuseLength(group, element, length, file.left(pos));
    }
    pos += length;
  }
  return file.size();
}

// The dataset, flattened: a sequence or item is entered rather than skipped, so the
// elements inside it are checked too (each against the end of the file, which is what
// bounds GDCM's allocations; GDCM itself checks that they fit their item).
void walkDataset(HeaderReader& file, uint64_t pos, Encoding enc) {
  PixelModule pixel;
  while (file.left(pos) > 0) {
    if (file.left(pos) < 8) {  // GDCM asserts on a VR cut short at the end of the file
      refuse("the file ends inside an element header (byte " + std::to_string(pos) + ")");
    }
    const uint8_t* h = file.at(pos, 8);
    const uint16_t group = enc.u16(h);
    const uint16_t element = enc.u16(h + 2);
    if (group == kItemGroup) {  // item and delimiters: tag and 32-bit length, no VR
      const uint32_t length = enc.u32(h + 4);
      pos += 8;
      if (element == kItem && length != kUndefinedLength && length > file.left(pos)) {
        refuseLength(group, element, length, file.left(pos));
      }
      continue;
    }
    uint8_t vr[2] = {0, 0};
    uint64_t header = 8;
    uint32_t length = 0;
    if (enc.explicitVr) {
      std::memcpy(vr, h + 4, 2);
      if (!knownVr(vr)) {
        refuse("unknown VR '" + vrText(vr) + "' in element " + tagText(group, element));
      }
      if (const std::string why = unexpectedVr(group, element, vr); !why.empty()) {
        refuse(why);
      }
      if (longVr(vr)) {
        if (file.left(pos) < 12) {
          refuse("the file ends inside the header of element " + tagText(group, element));
        }
        header = 12;
        length = enc.u32(file.at(pos, 12) + 8);
      } else {
        length = enc.u16(h + 6);
      }
    } else {
      length = enc.u32(h + 4);
    }
    pos += header;
    const bool pixelData = group == 0x7FE0 && element == 0x0010;
    if (length == kUndefinedLength) {
      if (pixelData) {
        pos = walkFragments(file, pos, enc);
        continue;
      }
      if (!enc.explicitVr || vrIs(vr, "SQ")) {
        continue;  // a sequence (implicit VR: only sequences may have an undefined length)
      }
      if (vrIs(vr, "UN")) {
        pixel.check();
        return;  // implicit VR inside (PS3.5 6.2.2): stop here
      }
      // OB/OW of undefined length is legal only as encapsulated pixel data; GDCM asserts on it elsewhere.
      refuse("element " + tagText(group, element) + " of VR " + vrText(vr) + " has an undefined length");
    }
    if (length > file.left(pos)) {
      refuseLength(group, element, length, file.left(pos));
    }
    if (group == 0x0028 && (element == 0x0002 || (element >= 0x0100 && element <= 0x0102))) {
      if (length != 2) {  // GDCM's Attribute<> asserts on an empty value
        refuse("element " + tagText(group, element) + " has " + std::to_string(length) + " bytes, expected 2");
      }
      const int v = enc.u16(file.at(pos, 2));
      (element == 0x0002 ? pixel.samples : element == 0x0100 ? pixel.allocated
                                         : element == 0x0101 ? pixel.stored : pixel.highBit) = v;
    }
    if (!(enc.explicitVr && vrIs(vr, "SQ"))) {
      pos += length;  // an explicit SQ of defined length is entered; its items follow
    }
  }
  pixel.check();
}

}  // namespace

void checkDicomStructure(const std::string& path) {
  HeaderReader file(path);
  uint64_t pos = 0;
  if (file.size() >= 132 && std::memcmp(file.at(128, 4), "DICM", 4) == 0) {
    pos = 132;
  } else {
    // No preamble: a bare stream must start with a little-endian group 0002 or 0008 tag,
    // as isDicomFile requires of extension-less files.
    const uint8_t* h = file.size() >= 8 ? file.at(0, 8) : nullptr;
    if (h == nullptr || !((h[0] == 0x02 || h[0] == 0x08) && h[1] == 0x00)) {
      refuse("no \"DICM\" marker at byte 128 and no DICOM element at the start");
    }
  }
  std::string transferSyntax;
  pos = walkFileMeta(file, pos, transferSyntax);
  if (file.left(pos) == 0) {
    refuse("no dataset after the file meta header");  // GDCM asserts reading a tag at the end of file
  }
  if (transferSyntax == "1.2.840.10008.1.2.1.99") {
    return;  // deflated: the dataset is a zlib stream
  }
  Encoding enc;
  enc.bigEndian = transferSyntax == "1.2.840.10008.1.2.2";
  // Explicit or implicit VR from the first element, as GDCM does for files whose meta
  // header names the wrong one (or that have none).
  enc.explicitVr = file.left(pos) >= 8 && knownVr(file.at(pos, 8) + 4);
  walkDataset(file, pos, enc);
}

bool dicomStructureValid(const std::string& path) {
  try {
    checkDicomStructure(path);
    return true;
  } catch (const DecodeError&) {
    return false;
  }
}

}  // namespace ampbench
