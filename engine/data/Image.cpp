#include "engine/data/Image.h"

#include "engine/data/DicomCheck.h"
#include "engine/data/DicomWorker.h"
#include "engine/data/ImageHeader.h"
#include "engine/util/Isolated.h"

#include <algorithm>
#include <cctype>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <limits>
#include <locale>
#include <memory>
#include <mutex>
#include <new>
#include <set>
#include <sstream>
#include <stdexcept>
#include <system_error>
#include <vector>

#include <fcntl.h>
#include <unistd.h>

#ifdef AMPBENCH_HAVE_OPENCV
#include <opencv2/core.hpp>
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>

#include <gdcmDataSet.h>
#include <gdcmImage.h>
#include <gdcmImageReader.h>
#include <gdcmReader.h>
#include <gdcmSequenceOfItems.h>
#include <gdcmTrace.h>
#endif

namespace fs = std::filesystem;

namespace ampbench {

namespace {

std::string lowerExtension(const std::string& path) {
  std::string ext = fs::path(path).extension().string();
  std::transform(ext.begin(), ext.end(), ext.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return ext;
}

// PACS exports often name files by SOP Instance UID ("1.2.840...123"): the "extension"
// is then a number, and such files are treated like extension-less ones.
bool extensionMayHideDicom(const std::string& ext) {
  if (ext.empty()) {
    return true;
  }
  return ext.size() > 1 && std::all_of(ext.begin() + 1, ext.end(), [](unsigned char c) { return std::isdigit(c); });
}

bool hasImageExtension(const std::string& ext) {
  static const char* kExts[] = {".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".pgm", ".ppm", ".dcm", ".dicom"};
  return std::any_of(std::begin(kExts), std::end(kExts), [&](const char* e) { return ext == e; });
}

std::string readHead(const std::string& path, size_t n) {
  std::ifstream in(path, std::ios::binary);
  std::string head(n, '\0');
  if (!in) {
    return {};
  }
  in.read(head.data(), static_cast<std::streamsize>(n));
  head.resize(static_cast<size_t>(in.gcount()));
  return head;
}

bool hasDicmMagic(const std::string& head) { return head.size() >= 132 && head.compare(128, 4, "DICM") == 0; }

// A DICOM stream without preamble starts with a little-endian tag of the file meta group
// (0002) or of the identifying group (0008). Cheap filter before asking GDCM.
bool startsLikeBareDicom(const std::string& head) {
  if (head.size() < 8) {
    return false;
  }
  const auto b0 = static_cast<unsigned char>(head[0]);
  const auto b1 = static_cast<unsigned char>(head[1]);
  return (b0 == 0x02 || b0 == 0x08) && b1 == 0x00;
}

void checkImage(const Image8& img) {
  if (img.width <= 0 || img.height <= 0 || (img.channels != 1 && img.channels != 3) ||
      img.pixels.size() != static_cast<size_t>(img.width) * img.height * img.channels) {
    throw std::invalid_argument("invalid Image8 (size, channels or pixel count)");
  }
}

// True when width x height (both > 0) is over `maxPixels` (> 0), without overflow.
bool overPixelLimit(int64_t width, int64_t height, int64_t maxPixels) {
  return maxPixels > 0 && width > 0 && height > 0 && width > maxPixels / height;
}

void checkChannels(int channels) {
  if (channels != 1 && channels != 3) {
    throw std::invalid_argument("channels must be 1 or 3, got " + std::to_string(channels));
  }
}

#ifndef AMPBENCH_HAVE_OPENCV
// Plain C++ resampling for builds without OpenCV. Separable: each axis is either
// area-averaged (shrink) or linearly interpolated with half-pixel centres (enlarge), which
// is what cv::INTER_AREA / cv::INTER_LINEAR do, up to rounding.
struct Tap {
  int index;
  float weight;
};

std::vector<std::vector<Tap>> axisTaps(int in, int out) {
  std::vector<std::vector<Tap>> taps(static_cast<size_t>(out));
  const double scale = static_cast<double>(in) / out;
  for (int o = 0; o < out; ++o) {
    auto& t = taps[static_cast<size_t>(o)];
    if (in == out) {
      t.push_back({o, 1.f});
    } else if (in > out) {
      const double start = o * scale;
      const double end = (o + 1) * scale;
      for (int i = static_cast<int>(std::floor(start)); i < static_cast<int>(std::ceil(end)) && i < in; ++i) {
        const double overlap = std::min(end, i + 1.0) - std::max(start, static_cast<double>(i));
        if (overlap > 1e-9) {
          t.push_back({i, static_cast<float>(overlap / scale)});
        }
      }
    } else {
      const double x = std::max(0.0, (o + 0.5) * scale - 0.5);
      const int i0 = std::min(static_cast<int>(std::floor(x)), in - 1);
      const int i1 = std::min(i0 + 1, in - 1);
      const float f = static_cast<float>(x - std::floor(x));
      t.push_back({i0, 1.f - f});
      t.push_back({i1, f});
    }
  }
  return taps;
}

Image8 resizeFallback(const Image8& img, int size) {
  const int c = img.channels;
  const auto xTaps = axisTaps(img.width, size);
  const auto yTaps = axisTaps(img.height, size);
  // Horizontal pass into floats, then vertical pass with rounding.
  std::vector<float> rows(static_cast<size_t>(img.height) * size * c, 0.f);
  for (int y = 0; y < img.height; ++y) {
    const uint8_t* src = img.pixels.data() + static_cast<size_t>(y) * img.width * c;
    float* dst = rows.data() + static_cast<size_t>(y) * size * c;
    for (int x = 0; x < size; ++x) {
      for (const Tap& t : xTaps[static_cast<size_t>(x)]) {
        for (int k = 0; k < c; ++k) {
          dst[x * c + k] += t.weight * src[t.index * c + k];
        }
      }
    }
  }
  Image8 out;
  out.width = size;
  out.height = size;
  out.channels = c;
  out.pixels.resize(static_cast<size_t>(size) * size * c);
  std::vector<float> acc(static_cast<size_t>(size) * c);
  for (int y = 0; y < size; ++y) {
    std::fill(acc.begin(), acc.end(), 0.f);
    for (const Tap& t : yTaps[static_cast<size_t>(y)]) {
      const float* src = rows.data() + static_cast<size_t>(t.index) * size * c;
      for (size_t i = 0; i < acc.size(); ++i) {
        acc[i] += t.weight * src[i];
      }
    }
    uint8_t* dst = out.pixels.data() + static_cast<size_t>(y) * size * c;
    for (size_t i = 0; i < acc.size(); ++i) {
      dst[i] = static_cast<uint8_t>(std::clamp(std::lround(acc[i]), 0L, 255L));
    }
  }
  return out;
}
#endif  // !AMPBENCH_HAVE_OPENCV

#ifdef AMPBENCH_HAVE_OPENCV

// ---------------------------------------------------------------- DICOM (GDCM)

void quietGdcm() {
  // A dataset scan meets many odd files; the reason goes into DecodeError instead of
  // GDCM's stderr chatter.
  static const bool done = [] {
    gdcm::Trace::DebugOff();
    gdcm::Trace::WarningOff();
    gdcm::Trace::ErrorOff();
    return true;
  }();
  (void)done;
}

constexpr std::chrono::seconds kDicomTimeout{120};

bool gdcmCanParse(const std::string& path);  // below, with the other out-of-process calls

// String value of `tag`, or empty. DS/IS values are ASCII whatever the transfer syntax.
std::string stringValue(const gdcm::DataSet& ds, const gdcm::Tag& tag) {
  if (!ds.FindDataElement(tag)) {
    return {};
  }
  const gdcm::DataElement& de = ds.GetDataElement(tag);
  const gdcm::ByteValue* bv = de.GetByteValue();
  if (bv == nullptr || bv->GetLength() == 0) {
    return {};
  }
  return std::string(bv->GetPointer(), bv->GetLength());
}

// Enhanced multi-frame objects keep window and rescale inside functional groups
// (shared, else the first frame's) instead of at the top level.
std::string frameValue(const gdcm::DataSet& ds, const gdcm::Tag& macro, const gdcm::Tag& tag) {
  std::string v = stringValue(ds, tag);
  if (!v.empty()) {
    return v;
  }
  for (const gdcm::Tag& groups : {gdcm::Tag(0x5200, 0x9229), gdcm::Tag(0x5200, 0x9230)}) {
    if (!ds.FindDataElement(groups)) {
      continue;
    }
    gdcm::SmartPointer<gdcm::SequenceOfItems> sq = ds.GetDataElement(groups).GetValueAsSQ();
    if (!sq || sq->GetNumberOfItems() == 0) {
      continue;
    }
    const gdcm::DataSet& item = sq->GetItem(1).GetNestedDataSet();
    if (!item.FindDataElement(macro)) {
      continue;
    }
    gdcm::SmartPointer<gdcm::SequenceOfItems> msq = item.GetDataElement(macro).GetValueAsSQ();
    if (!msq || msq->GetNumberOfItems() == 0) {
      continue;
    }
    v = stringValue(msq->GetItem(1).GetNestedDataSet(), tag);
    if (!v.empty()) {
      return v;
    }
  }
  return {};
}

// First value of a multi-valued decimal string ("40\400 " -> 40). The classic locale:
// the GUI runs under the user's locale, where strtod may expect a decimal comma.
bool firstNumber(const std::string& s, double& out) {
  std::istringstream in(s.substr(0, s.find('\\')));
  in.imbue(std::locale::classic());
  double v = 0.0;
  if (!(in >> v) || !std::isfinite(v)) {
    return false;
  }
  out = v;
  return true;
}

std::string trimmed(std::string s) {
  const auto notSpace = [](unsigned char c) { return !std::isspace(c) && c != '\0'; };
  s.erase(s.begin(), std::find_if(s.begin(), s.end(), notSpace));
  s.erase(std::find_if(s.rbegin(), s.rend(), notSpace).base(), s.end());
  return s;
}

// Stored sample -> integer, honouring Bits Stored / High Bit (unused high bits may hold
// overlays) and the sign of Pixel Representation 1.
struct SampleLayout {
  int bytes = 1;
  int bitsStored = 8;
  int highBit = 7;
  bool isSigned = false;
};

int64_t sampleAt(const char* data, size_t i, const SampleLayout& l) {
  uint64_t raw = 0;
  if (l.bytes == 1) {
    raw = static_cast<uint8_t>(data[i]);
  } else if (l.bytes == 2) {
    uint16_t v;
    std::memcpy(&v, data + i * 2, 2);
    raw = v;
  } else {
    uint32_t v;
    std::memcpy(&v, data + i * 4, 4);
    raw = v;
  }
  const int shift = std::max(0, l.highBit + 1 - l.bitsStored);
  const uint64_t mask = l.bitsStored >= 64 ? ~0ull : ((1ull << l.bitsStored) - 1);
  const uint64_t bits = (raw >> shift) & mask;
  if (l.isSigned && (bits >> (l.bitsStored - 1)) & 1u) {
    return static_cast<int64_t>(bits) - static_cast<int64_t>(1ull << l.bitsStored);
  }
  return static_cast<int64_t>(bits);
}

uint8_t toByte(double v) { return static_cast<uint8_t>(std::clamp(std::lround(v), 0L, 255L)); }

// Linear map of [lo, hi] onto 0..255; a flat image maps to 0.
void minMaxTo8(const std::vector<float>& values, std::vector<uint8_t>& out) {
  const auto [mn, mx] = std::minmax_element(values.begin(), values.end());
  const double lo = *mn;
  const double range = static_cast<double>(*mx) - lo;
  out.resize(values.size());
  for (size_t i = 0; i < values.size(); ++i) {
    out[i] = range > 0 ? toByte((values[i] - lo) * 255.0 / range) : 0;
  }
}

std::string transferSyntaxName(const gdcm::TransferSyntax& ts) {
  const char* uid = gdcm::TransferSyntax::GetTSString(ts);
  return uid != nullptr && *uid != '\0' ? uid : "unknown";
}

// Transfer syntax UID from a Part 10 file's meta header (group 0002, always explicit VR
// little endian), read by hand: for a syntax GDCM does not know, GDCM reads nothing.
std::string metaTransferSyntax(const std::string& path) {
  const std::string head = readHead(path, 4096);
  if (!hasDicmMagic(head)) {
    return {};
  }
  size_t pos = 132;
  while (pos + 8 <= head.size() && head[pos] == 0x02 && head[pos + 1] == 0x00) {
    const auto u8 = [&](size_t i) { return static_cast<uint32_t>(static_cast<unsigned char>(head[i])); };
    const uint32_t element = u8(pos + 2) | (u8(pos + 3) << 8);
    const std::string vr = head.substr(pos + 4, 2);
    const bool longForm = vr == "OB" || vr == "OW" || vr == "UN" || vr == "SQ" || vr == "UT";
    size_t length = longForm ? 0 : (u8(pos + 6) | (u8(pos + 7) << 8));
    size_t value = pos + 8;
    if (longForm) {
      if (pos + 12 > head.size()) {
        break;
      }
      length = u8(pos + 8) | (u8(pos + 9) << 8) | (u8(pos + 10) << 16) | (u8(pos + 11) << 24);
      value = pos + 12;
    }
    if (length > head.size() - std::min(head.size(), value)) {
      break;
    }
    if (element == 0x0010) {
      return trimmed(head.substr(value, length));
    }
    pos = value + length;
  }
  return {};
}

// True when an uncompressed pixel data element is cut short by the end of the file: GDCM
// reads such a file "successfully". The element is found from the end of the file (its
// tag followed by its declared length, explicit or implicit VR).
bool pixelDataTruncated(const std::string& path, uint32_t declaredLength) {
  std::error_code ec;
  const uintmax_t size = fs::file_size(path, ec);
  if (ec) {
    return false;
  }
  const uintmax_t window = std::min<uintmax_t>(size, uintmax_t{declaredLength} + (1u << 20));
  std::ifstream in(path, std::ios::binary);
  in.seekg(static_cast<std::streamoff>(size - window));
  std::string tail(static_cast<size_t>(window), '\0');
  in.read(tail.data(), static_cast<std::streamsize>(window));
  tail.resize(static_cast<size_t>(in.gcount()));
  std::string len(4, '\0');
  for (int k = 0; k < 4; ++k) {
    len[static_cast<size_t>(k)] = static_cast<char>((declaredLength >> (8 * k)) & 0xFF);
  }
  const std::string tag("\xE0\x7F\x10\x00", 4);
  for (size_t at = tail.rfind(tag); at != std::string::npos; at = at == 0 ? std::string::npos : tail.rfind(tag, at - 1)) {
    size_t value = 0;
    if (tail.compare(at + 4, 4, len) == 0) {
      value = at + 8;  // implicit VR
    } else if (at + 12 <= tail.size() && tail.compare(at + 6, 2, std::string(2, '\0')) == 0 &&
               tail.compare(at + 8, 4, len) == 0) {
      value = at + 12;  // explicit VR: OB/OW, two reserved bytes, 32-bit length
    } else {
      continue;
    }
    return tail.size() - value < declaredLength;
  }
  return false;
}

// What the GDCM side hands over: the first frame's samples as stored and how to read them.
// Made in the isolated child, so it is a flat record that crosses a pipe.
struct DicomRaw {
  struct Fixed {
    int32_t cols = 0;
    int32_t rows = 0;
    int32_t spp = 0;
    int32_t bitsAllocated = 0;  // 8, 16 or 32 (packed 12-bit comes out as 16)
    int32_t bitsStored = 0;
    int32_t highBit = 0;
    int32_t isSigned = 0;
    int32_t planar = 0;
    int32_t photometric = 0;  // kOtherPi, kMonochrome1, kYbrFull
    int32_t haveWindow = 0;
    double slope = 1.0;
    double intercept = 0.0;
    double center = 0.0;
    double width = 0.0;
  } f;
  std::string voiFunction;
  std::string samples;
};
constexpr int32_t kOtherPi = 0;
constexpr int32_t kMonochrome1 = 1;
constexpr int32_t kYbrFull = 2;

std::string serializeDicomRaw(const DicomRaw& r) {
  std::string out(reinterpret_cast<const char*>(&r.f), sizeof r.f);
  const uint32_t n = static_cast<uint32_t>(r.voiFunction.size());
  out.append(reinterpret_cast<const char*>(&n), sizeof n);
  out += r.voiFunction;
  out += r.samples;
  return out;
}

DicomRaw deserializeDicomRaw(const std::string& s) {
  DicomRaw r;
  uint32_t n = 0;
  const auto bad = [] { return DecodeError("the DICOM decoder returned an inconsistent image"); };
  if (s.size() < sizeof r.f + sizeof n) {
    throw bad();
  }
  std::memcpy(&r.f, s.data(), sizeof r.f);
  std::memcpy(&n, s.data() + sizeof r.f, sizeof n);
  const size_t at = sizeof r.f + sizeof n;
  if (n > s.size() - at) {
    throw bad();
  }
  r.voiFunction = s.substr(at, n);
  r.samples = s.substr(at + n);
  const bool shapeOk = r.f.cols > 0 && r.f.rows > 0 && (r.f.spp == 1 || r.f.spp == 3) &&
                       (r.f.bitsAllocated == 8 || r.f.bitsAllocated == 16 || r.f.bitsAllocated == 32);
  if (!shapeOk || r.samples.size() != static_cast<size_t>(r.f.cols) * static_cast<size_t>(r.f.rows) *
                                          static_cast<size_t>(r.f.spp) * static_cast<size_t>(r.f.bitsAllocated / 8)) {
    throw bad();
  }
  return r;
}

// Everything that touches GDCM: runs in the isolated child (see decodeDicom).
DicomRaw readDicomRaw(const std::string& path, int64_t maxPixels) {
  quietGdcm();
  gdcm::ImageReader reader;
  reader.SetFileName(path.c_str());
  if (!reader.Read()) {
    // Tell "not DICOM" apart from "DICOM, but no image in it" (reports, presentation states).
    gdcm::Reader plain;
    plain.SetFileName(path.c_str());
    if (plain.Read()) {
      if (!plain.GetFile().GetDataSet().FindDataElement(gdcm::Tag(0x7fe0, 0x0010))) {
        throw DecodeError("DICOM without pixel data");
      }
      // The meta header's UID as written: an unknown one is exactly what GDCM refused.
      const gdcm::FileMetaInformation& meta = plain.GetFile().GetHeader();
      std::string uid = trimmed(stringValue(meta, gdcm::Tag(0x0002, 0x0010)));
      if (uid.empty()) {
        uid = transferSyntaxName(meta.GetDataSetTransferSyntax());
      }
      throw DecodeError("DICOM image GDCM cannot read (transfer syntax " + uid + ")");
    }
    const std::string uid = metaTransferSyntax(path);
    if (!uid.empty() && gdcm::TransferSyntax::GetTSType(uid.c_str()) == gdcm::TransferSyntax::TS_END) {
      throw DecodeError("DICOM transfer syntax " + uid + " is not supported");
    }
    throw DecodeError("not a DICOM file GDCM can read");
  }
  const gdcm::Image& image = reader.GetImage();
  const gdcm::DataSet& ds = reader.GetFile().GetDataSet();
  const unsigned int cols = image.GetDimension(0);
  const unsigned int rows = image.GetDimension(1);
  const gdcm::PixelFormat& pf = image.GetPixelFormat();
  const int spp = pf.GetSamplesPerPixel();
  int bitsAllocated = pf.GetBitsAllocated();
  if (bitsAllocated == 12) {
    bitsAllocated = 16;  // packed 12-bit (old ACR-NEMA) comes out of GetBuffer as 16-bit
  }
  if (cols == 0 || rows == 0) {
    throw DecodeError("DICOM image of size zero");
  }
  // GDCM decodes every frame into one buffer: the budget is on all of them.
  const uint64_t frames = image.GetNumberOfDimensions() > 2 ? std::max(1u, image.GetDimension(2)) : 1u;
  if (overPixelLimit(cols, static_cast<int64_t>(rows * frames), maxPixels)) {
    throw DecodeError(frames > 1 ? "DICOM of " + std::to_string(frames) + " frames: " +
                                       pixelLimitReason(cols, static_cast<int64_t>(rows * frames), maxPixels)
                                 : pixelLimitReason(cols, rows, maxPixels));
  }
  if (spp != 1 && spp != 3) {
    throw DecodeError("DICOM with " + std::to_string(spp) + " samples per pixel is not supported");
  }
  if (bitsAllocated != 8 && bitsAllocated != 16 && bitsAllocated != 32) {
    throw DecodeError("DICOM with " + std::to_string(pf.GetBitsAllocated()) + " bits allocated is not supported");
  }
  DicomRaw raw;
  raw.f.cols = static_cast<int32_t>(cols);
  raw.f.rows = static_cast<int32_t>(rows);
  raw.f.spp = spp;
  raw.f.bitsAllocated = bitsAllocated;
  raw.f.bitsStored = std::clamp(static_cast<int>(pf.GetBitsStored()), 1, bitsAllocated);
  raw.f.highBit = std::clamp(static_cast<int>(pf.GetHighBit()), raw.f.bitsStored - 1, bitsAllocated - 1);
  raw.f.isSigned = pf.GetPixelRepresentation() == 1 ? 1 : 0;
  raw.f.planar = image.GetPlanarConfiguration() == 1 ? 1 : 0;
  const gdcm::PhotometricInterpretation::PIType pi = image.GetPhotometricInterpretation();
  raw.f.photometric = pi == gdcm::PhotometricInterpretation::MONOCHROME1 ? kMonochrome1
                      : (pi == gdcm::PhotometricInterpretation::YBR_FULL ||
                         pi == gdcm::PhotometricInterpretation::YBR_FULL_422)
                          ? kYbrFull
                          : kOtherPi;

  // Uncompressed pixel data is read whole with the file: a header claiming a larger image
  // than the element holds must not size the buffer.
  const gdcm::DataElement& pixelData = image.GetDataElement();
  if (!image.GetTransferSyntax().IsEncapsulated() && pixelData.GetByteValue() != nullptr &&
      (image.GetBufferLength() > pixelData.GetByteValue()->GetLength() ||
       pixelDataTruncated(path, pixelData.GetByteValue()->GetLength()))) {
    throw DecodeError("DICOM pixel data shorter than the image size");
  }
  std::vector<char> buffer(image.GetBufferLength());
  if (buffer.empty() || !image.GetBuffer(buffer.data())) {
    throw DecodeError("GDCM could not decode the pixel data (transfer syntax " +
                      transferSyntaxName(image.GetTransferSyntax()) + ")");
  }
  // The first frame; frames are stored one after another.
  const size_t bytes = static_cast<size_t>(cols) * rows * spp * (bitsAllocated / 8);
  if (buffer.size() < bytes) {
    throw DecodeError("DICOM pixel data shorter than the image size");
  }
  raw.samples.assign(buffer.data(), bytes);

  if (spp == 1) {
    // Modality rescale and the VOI window, from the top level or the functional groups.
    double slope = image.GetSlope();
    double intercept = image.GetIntercept();
    const gdcm::Tag transformMacro(0x0028, 0x9145);  // Pixel Value Transformation Sequence
    firstNumber(frameValue(ds, transformMacro, gdcm::Tag(0x0028, 0x1053)), slope);
    firstNumber(frameValue(ds, transformMacro, gdcm::Tag(0x0028, 0x1052)), intercept);
    raw.f.slope = slope == 0.0 || !std::isfinite(slope) ? 1.0 : slope;
    raw.f.intercept = std::isfinite(intercept) ? intercept : 0.0;
    const gdcm::Tag voiMacro(0x0028, 0x9132);  // Frame VOI LUT Sequence
    double center = 0.0;
    double width = 0.0;
    raw.f.haveWindow = firstNumber(frameValue(ds, voiMacro, gdcm::Tag(0x0028, 0x1050)), center) &&
                       firstNumber(frameValue(ds, voiMacro, gdcm::Tag(0x0028, 0x1051)), width) && width >= 1.0;
    raw.f.center = center;
    raw.f.width = width;
    raw.voiFunction = trimmed(frameValue(ds, voiMacro, gdcm::Tag(0x0028, 0x1056)));
  }
  return raw;
}

// Our side: samples -> 8-bit image. In the parent process, where sanitizers and the fuzzer see it.
Image8 convertDicom(const DicomRaw& raw) {
  SampleLayout layout;
  layout.bytes = raw.f.bitsAllocated / 8;
  layout.bitsStored = std::clamp(raw.f.bitsStored, 1, raw.f.bitsAllocated);
  layout.highBit = std::clamp(raw.f.highBit, layout.bitsStored - 1, raw.f.bitsAllocated - 1);
  layout.isSigned = raw.f.isSigned != 0;
  const char* data = raw.samples.data();
  const size_t pixels = static_cast<size_t>(raw.f.cols) * raw.f.rows;
  const size_t samples = pixels * raw.f.spp;

  Image8 out;
  out.width = raw.f.cols;
  out.height = raw.f.rows;
  out.channels = raw.f.spp;

  if (raw.f.spp == 3) {
    // Colour. Decompressed data comes out interleaved, uncompressed data as stored: with
    // Planar Configuration 1 that is RRR..GGG..BBB. 8-bit is used as is, wider is scaled.
    const bool planar = raw.f.planar != 0;
    std::vector<float> v(samples);
    for (size_t i = 0; i < samples; ++i) {
      const size_t src = planar ? (i % 3) * pixels + i / 3 : i;
      v[i] = static_cast<float>(sampleAt(data, src, layout));
    }
    if (raw.f.bitsAllocated == 8 && !layout.isSigned) {
      out.pixels.resize(samples);
      for (size_t i = 0; i < samples; ++i) {
        out.pixels[i] = static_cast<uint8_t>(v[i]);
      }
    } else {
      minMaxTo8(v, out.pixels);
    }
    if (raw.f.photometric == kYbrFull) {
      for (size_t p = 0; p < pixels; ++p) {
        uint8_t* px = &out.pixels[p * 3];
        const double y = px[0], cb = px[1] - 128.0, cr = px[2] - 128.0;
        px[0] = toByte(y + 1.402 * cr);
        px[1] = toByte(y - 0.344136 * cb - 0.714136 * cr);
        px[2] = toByte(y + 1.772 * cb);
      }
    }
    return out;
  }

  // Monochrome: modality rescale, then the VOI window (else the image's range).
  std::vector<float> v(pixels);
  for (size_t i = 0; i < pixels; ++i) {
    v[i] = static_cast<float>(static_cast<double>(sampleAt(data, i, layout)) * raw.f.slope + raw.f.intercept);
  }
  const double center = raw.f.center;
  const double width = raw.f.width;
  if (raw.f.haveWindow != 0 && std::isfinite(center) && std::isfinite(width) && width >= 1.0) {
    const std::string& function = raw.voiFunction;
    out.pixels.resize(pixels);
    for (size_t i = 0; i < pixels; ++i) {
      const double x = v[i];
      double y;  // 0..1, formulas of DICOM PS3.3 C.11.2.1.2
      if (function == "SIGMOID") {
        y = 1.0 / (1.0 + std::exp(-4.0 * (x - center) / width));
      } else if (function == "LINEAR_EXACT") {
        y = (x - center) / width + 0.5;
      } else if (x <= center - 0.5 - (width - 1.0) / 2.0) {
        y = 0.0;
      } else if (x > center - 0.5 + (width - 1.0) / 2.0) {
        y = 1.0;
      } else {
        y = (x - (center - 0.5)) / (width - 1.0) + 0.5;
      }
      out.pixels[i] = toByte(std::clamp(y, 0.0, 1.0) * 255.0);
    }
  } else {
    minMaxTo8(v, out.pixels);
  }
  if (raw.f.photometric == kMonochrome1) {
    for (uint8_t& p : out.pixels) {
      p = static_cast<uint8_t>(255 - p);
    }
  }
  return out;
}

// The helper's protocol: requests are a kind ('D' decode, 'P' probe), the pixel budget and
// the path; a decode's reply is a serialised DicomRaw. The hello names the layout, so a
// stale helper from another build is refused instead of misread.
const std::string& workerHello() {
  static const std::string hello = "ampbench-dicom-worker 2 " + std::to_string(sizeof(DicomRaw::Fixed));
  return hello;
}

std::string dicomRequest(char kind, const std::string& path, int64_t maxPixels) {
  std::string out(1, kind);
  out.append(reinterpret_cast<const char*>(&maxPixels), sizeof maxPixels);
  return out + path;
}

// Address space GDCM may use for one file: the file, its copy of the pixel data and the
// decoded frames. 0 = no limit (no pixel budget).
uint64_t dicomAddressBudget(const std::string& path, int64_t maxPixels) {
  if (maxPixels <= 0) {
    return 0;
  }
  std::error_code ec;
  const uintmax_t fileSize = fs::file_size(path, ec);
  const uint64_t pixels = std::min<uint64_t>(static_cast<uint64_t>(maxPixels), uint64_t{1} << 40);
  const uint64_t file = std::min<uint64_t>(ec ? 0 : fileSize, uint64_t{1} << 40);
  return (uint64_t{1} << 31) + 16 * pixels + 3 * file;
}

// What GDCM does for a request, wherever it runs. Errors the in-process decoder maps in
// decodeImageFile are mapped here too, so that every mode gives the same reasons.
std::string gdcmWork(char kind, const std::string& path, int64_t maxPixels) {
  quietGdcm();
  if (kind == 'P') {
    gdcm::Reader reader;
    reader.SetFileName(path.c_str());
    // Stop at the start of the image pixel module: enough to know it is DICOM, and cheap.
    return reader.ReadUpToTag(gdcm::Tag(0x0028, 0x0000)) ? "1" : "0";
  }
  try {
    return serializeDicomRaw(readDicomRaw(path, maxPixels));
  } catch (const std::bad_alloc&) {
    throw DecodeError("DICOM image too large to decode in memory");
  } catch (const std::length_error&) {
    throw DecodeError("DICOM image too large to decode in memory");
  } catch (const std::ios_base::failure&) {
    throw DecodeError("cannot read file");
  }
}

DecodeError dicomFailure(const IsolatedError& e) {
  switch (e.kind()) {
    case IsolatedError::Kind::Threw:
      if (std::strcmp(e.what(), std::bad_alloc().what()) == 0) {
        return DecodeError("DICOM image too large to decode in memory");
      }
      return DecodeError(e.what());
    case IsolatedError::Kind::Crashed:
      return DecodeError(std::string("GDCM failed on this DICOM: the decoder ") + e.what());
    case IsolatedError::Kind::TimedOut:
      return DecodeError(std::string("GDCM ") + e.what() + " decoding this DICOM");
    case IsolatedError::Kind::NoChild:
      break;
  }
  return DecodeError(std::string("cannot decode DICOM: ") + e.what());
}

// Helpers that failed to start or to say hello: not tried again by this process.
bool workerUnusable(const std::string& exe, bool mark = false) {
  static std::mutex mutex;
  static std::set<std::string> unusable;
  std::lock_guard<std::mutex> lock(mutex);
  if (mark) {
    unusable.insert(exe);
  }
  return unusable.count(exe) > 0;
}

// GDCM outside this process: Debian builds it with assertions, and hostile files reach
// asserts our pre-check does not know (the fuzzer kept finding new ones). An abort, a hang
// or a runaway allocation then costs this one file. The helper program serves one thread's
// files for as long as the thread lives; without a usable one, a forked child per file.
// Throws IsolatedError.
std::string gdcmOutOfProcess(char kind, const std::string& path, int64_t maxPixels) {
  if (isolationDisabled()) {
    return gdcmWork(kind, path, maxPixels);
  }
  const std::string exe = dicomWorkerPath();
  if (!exe.empty() && !workerUnusable(exe)) {
    thread_local std::unique_ptr<WorkerProcess> worker;
    thread_local std::string workerExe;
    try {
      if (!worker || workerExe != exe) {
        worker = std::make_unique<WorkerProcess>(exe, workerHello());
        workerExe = exe;
      }
      return worker->call(dicomRequest(kind, path, maxPixels), kDicomTimeout);
    } catch (const IsolatedError& e) {
      if (e.kind() != IsolatedError::Kind::NoChild) {
        throw;
      }
      worker.reset();
      workerUnusable(exe, true);
      std::fprintf(stderr, "ampbench: %s; DICOM files are decoded in a forked process each instead (slower)\n",
                   e.what());
    }
  }
  quietGdcm();  // statics initialised before the fork, not raced for in the child
  IsolationLimits limits;
  limits.timeout = kDicomTimeout;
  limits.extraAddressSpace = kind == 'P' ? uint64_t{1} << 31 : dicomAddressBudget(path, maxPixels);
  return runIsolated([&] { return gdcmWork(kind, path, maxPixels); }, limits);
}

Image8 decodeDicom(const std::string& path, int64_t maxPixels) {
  // Ours, in process: declared lengths and VRs before GDCM. The test hook hands GDCM a file
  // the check would refuse, to prove that the helper contains GDCM's abort.
  const char* skipCheck = std::getenv("AMPBENCH_TEST_SKIP_DICOM_PRECHECK");
  if (skipCheck == nullptr || std::strcmp(skipCheck, "1") != 0) {
    checkDicomStructure(path);
  }
  std::string reply;
  try {
    reply = gdcmOutOfProcess('D', path, maxPixels);
  } catch (const IsolatedError& e) {
    throw dicomFailure(e);
  }
  return convertDicom(deserializeDicomRaw(reply));
}

bool gdcmCanParse(const std::string& path) {
  if (!dicomStructureValid(path)) {
    return false;  // GDCM asserts or over-allocates on some malformed headers
  }
  try {
    return gdcmOutOfProcess('P', path, 0) == "1";
  } catch (const IsolatedError&) {
    return false;  // a probe GDCM cannot survive is not a DICOM we can read
  }
}

// ---------------------------------------------------------------- raster (OpenCV)

// libjpeg scales by 1/2, 1/4, 1/8 in the IDCT: much faster, and the result still covers
// maxSide on both sides so the later resize only shrinks. 1 = full size.
int jpegReduction(const RasterHeader& h, int maxSide) {
  if (h.format != "JPEG" || maxSide <= 0 || !h.hasSize()) {
    return 1;
  }
  const int64_t side = std::min(h.width, h.height);
  for (const int f : {8, 4, 2}) {
    if (side >= int64_t{f} * maxSide) {
      return f;
    }
  }
  return 1;
}

int decodeFlags(int reduction, int channels) {
  switch (reduction) {
    case 8:
      return channels == 1 ? cv::IMREAD_REDUCED_GRAYSCALE_8 : cv::IMREAD_REDUCED_COLOR_8;
    case 4:
      return channels == 1 ? cv::IMREAD_REDUCED_GRAYSCALE_4 : cv::IMREAD_REDUCED_COLOR_4;
    case 2:
      return channels == 1 ? cv::IMREAD_REDUCED_GRAYSCALE_2 : cv::IMREAD_REDUCED_COLOR_2;
    default:
      // Any depth (16-bit PNG/TIFF), colour or gray as stored; EXIF orientation applied.
      return cv::IMREAD_ANYDEPTH | cv::IMREAD_ANYCOLOR;
  }
}

Image8 decodeRaster(const std::vector<uint8_t>& bytes, int channels, const DecodeOptions& options) {
  if (bytes.size() > static_cast<size_t>(std::numeric_limits<int>::max())) {
    throw DecodeError("file too large to decode (over 2 GB)");
  }
  // Header first: refuse what would be decoded wrongly (cut short) or too large, before
  // OpenCV allocates the pixels.
  const RasterHeader header = readRasterHeader(bytes.data(), bytes.size());
  const std::string truncated = rasterTruncation(bytes.data(), bytes.size(), header);
  if (!truncated.empty()) {
    throw DecodeError(truncated);
  }
  const int reduction = jpegReduction(header, options.maxSide);
  if (overPixelLimit((header.width + reduction - 1) / reduction, (header.height + reduction - 1) / reduction,
                     options.maxPixels)) {
    throw DecodeError(pixelLimitReason(header.width, header.height, options.maxPixels));
  }
  const cv::Mat encoded(1, static_cast<int>(bytes.size()), CV_8U, const_cast<uint8_t*>(bytes.data()));
  cv::Mat m = cv::imdecode(encoded, decodeFlags(reduction, channels));
  if (m.empty()) {
    throw DecodeError(header.format.empty() ? "not an image (unrecognised content)"
                                            : "corrupt " + header.format + " (the decoder rejected it)");
  }
  // Formats whose header we do not read (WebP, JPEG 2000, ... under an image extension):
  // the same budget, checked after the fact.
  if (overPixelLimit(m.cols, m.rows, options.maxPixels)) {
    throw DecodeError(pixelLimitReason(m.cols, m.rows, options.maxPixels));
  }
  if (m.depth() != CV_8U) {
    // 16-bit (often 10/12-bit data) and float: stretch the actual range to 8 bits. A NaN
    // or inf pixel has no place on that scale (and would stretch the rest to nothing):
    // refused rather than guessed.
    if ((m.depth() == CV_32F || m.depth() == CV_64F) && !cv::checkRange(m, true)) {
      throw DecodeError("float image with NaN or infinite pixels");
    }
    double lo = 0.0;
    double hi = 0.0;
    cv::minMaxLoc(m.reshape(1), &lo, &hi);
    cv::Mat m8;
    if (hi > lo) {
      m.convertTo(m8, CV_8U, 255.0 / (hi - lo), -lo * 255.0 / (hi - lo));
    } else {
      m.convertTo(m8, CV_8U, m.depth() == CV_16U ? 1.0 / 257.0 : 1.0);
    }
    m = m8;
  }
  cv::Mat conv;
  const int have = m.channels();
  if (channels == 1) {
    if (have == 1) {
      conv = m;
    } else if (have == 3) {
      cv::cvtColor(m, conv, cv::COLOR_BGR2GRAY);
    } else if (have == 4) {
      cv::cvtColor(m, conv, cv::COLOR_BGRA2GRAY);
    }
  } else {
    if (have == 1) {
      cv::cvtColor(m, conv, cv::COLOR_GRAY2RGB);
    } else if (have == 3) {
      cv::cvtColor(m, conv, cv::COLOR_BGR2RGB);
    } else if (have == 4) {
      cv::cvtColor(m, conv, cv::COLOR_BGRA2RGB);
    }
  }
  if (conv.empty()) {
    throw DecodeError("image with " + std::to_string(have) + " channels is not supported");
  }
  if (!conv.isContinuous()) {
    conv = conv.clone();
  }
  Image8 out;
  out.width = conv.cols;
  out.height = conv.rows;
  out.channels = channels;
  out.pixels.assign(conv.data, conv.data + conv.total() * conv.elemSize());
  return out;
}

std::vector<uint8_t> readAll(const std::string& path, uintmax_t size) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    throw DecodeError("cannot open file");
  }
  std::vector<uint8_t> bytes(static_cast<size_t>(size));
  in.read(reinterpret_cast<char*>(bytes.data()), static_cast<std::streamsize>(bytes.size()));
  if (static_cast<size_t>(in.gcount()) != bytes.size()) {
    throw DecodeError("cannot read file");
  }
  return bytes;
}

cv::Mat wrap(const Image8& img) {
  return cv::Mat(img.height, img.width, CV_8UC(img.channels), const_cast<uint8_t*>(img.pixels.data()));
}

Image8 unwrap(const cv::Mat& m) {
  const cv::Mat c = m.isContinuous() ? m : m.clone();
  Image8 out;
  out.width = c.cols;
  out.height = c.rows;
  out.channels = c.channels();
  out.pixels.assign(c.data, c.data + c.total() * c.elemSize());
  return out;
}

#endif  // AMPBENCH_HAVE_OPENCV

}  // namespace

int runDicomWorker() {
#ifdef AMPBENCH_HAVE_OPENCV
  // Requests and replies on a private copy of stdin; stdout goes nowhere, so nothing a
  // library prints can corrupt a reply.
  const int fd = ::dup(0);
  const int devnull = ::open("/dev/null", O_RDWR);
  if (fd < 0 || devnull < 0) {
    return 1;
  }
  ::dup2(devnull, 0);
  ::dup2(devnull, 1);
  quietGdcm();
  return serveRequests(fd, workerHello(), [](const std::string& request) {
    int64_t maxPixels = 0;
    if (request.size() < 1 + sizeof maxPixels) {
      throw DecodeError("malformed request");
    }
    const char kind = request[0];
    std::memcpy(&maxPixels, request.data() + 1, sizeof maxPixels);
    const std::string path = request.substr(1 + sizeof maxPixels);
    setAddressSpaceHeadroom(kind == 'P' ? uint64_t{1} << 31 : dicomAddressBudget(path, maxPixels));
    return gdcmWork(kind, path, maxPixels);
  });
#else
  return 1;
#endif
}

namespace {

// Where the helper is installed relative to this program, found once per process.
std::string installedDicomWorker() {
  std::error_code ec;
  const fs::path self = fs::read_symlink("/proc/self/exe", ec);
  if (ec) {
    return {};
  }
  const char* name = "ampbench-dicom-worker";
  std::vector<fs::path> candidates = {self.parent_path() / name,
                                      self.parent_path() / ".." / "libexec" / "ampbench" / name};
#ifdef AMPBENCH_BUILD_DIR
  // A program of this build tree (tests, benches) uses the tree's helper, and only then.
  const std::string buildDir = AMPBENCH_BUILD_DIR;
  if (self.string().rfind(buildDir + "/", 0) == 0) {
    candidates.push_back(fs::path(buildDir) / "app" / name);
  }
#endif
  for (const fs::path& p : candidates) {
    if (::access(p.c_str(), X_OK) == 0) {
      return fs::weakly_canonical(p, ec).string();
    }
  }
  return {};
}

}  // namespace

std::string dicomWorkerPath() {
  if (const char* env = std::getenv("AMPBENCH_DICOM_WORKER")) {
    return env;  // empty: no helper, a fork per file
  }
  static const std::string installed = installedDicomWorker();
  return installed;
}

bool imageDecodingAvailable() {
#ifdef AMPBENCH_HAVE_OPENCV
  return true;
#else
  return false;
#endif
}

bool isDicomFile(const std::string& path) {
  const std::string ext = lowerExtension(path);
  if (ext == ".dcm" || ext == ".dicom") {
    return true;
  }
  const std::string head = readHead(path, 132);
  if (hasDicmMagic(head)) {
    return true;
  }
  if (!extensionMayHideDicom(ext) || !startsLikeBareDicom(head)) {
    return false;
  }
#ifdef AMPBENCH_HAVE_OPENCV
  return gdcmCanParse(path);
#else
  return true;  // cannot parse without GDCM; decoding will report the missing decoder
#endif
}

bool looksLikeImageFile(const std::string& path) {
  const std::string ext = lowerExtension(path);
  if (hasImageExtension(ext)) {
    return true;
  }
  return extensionMayHideDicom(ext) && isDicomFile(path);
}

std::string pixelLimitReason(int64_t width, int64_t height, int64_t maxPixels) {
  return "image of " + std::to_string(width) + "x" + std::to_string(height) + " pixels is over the " +
         std::to_string(maxPixels) + "-pixel limit (--max-image-pixels)";
}

Image8 decodeImageFile(const std::string& path, int channels, int maxSide) {
  DecodeOptions options;
  options.maxSide = maxSide;
  return decodeImageFile(path, channels, options);
}

Image8 decodeImageFile(const std::string& path, int channels, const DecodeOptions& options) {
  checkChannels(channels);
#ifndef AMPBENCH_HAVE_OPENCV
  (void)path;
  (void)options;
  throw DecodeError(
      "this build has no image decoder (built with AMPBENCH_OPENCV=OFF): train from a cache file or synthetic data");
#else
  std::error_code ec;
  const fs::file_status st = fs::status(path, ec);
  if (ec || !fs::exists(st)) {
    throw DecodeError("file not found");
  }
  if (!fs::is_regular_file(st)) {
    throw DecodeError("not a regular file");
  }
  const uintmax_t size = fs::file_size(path, ec);
  if (ec) {
    throw DecodeError("cannot read file size");
  }
  if (size == 0) {
    throw DecodeError("empty file");
  }
  try {
    if (isDicomFile(path)) {
      return convertChannels(decodeDicom(path, options.maxPixels), channels);
    }
    if (size > static_cast<uintmax_t>(std::numeric_limits<int>::max())) {
      throw DecodeError("file too large to decode (over 2 GB)");  // before reading it into memory
    }
    return decodeRaster(readAll(path, size), channels, options);
  } catch (const cv::Exception& e) {
    throw DecodeError("OpenCV could not decode it: " + e.err);
  } catch (const std::ios_base::failure&) {
    throw DecodeError("cannot read file");
  } catch (const std::bad_alloc&) {
    throw DecodeError("image too large to decode in memory");
  } catch (const std::length_error&) {
    throw DecodeError("image too large to decode in memory");
  }
#endif
}

Image8 resizeImage(const Image8& img, int size) {
  checkImage(img);
  if (size <= 0) {
    throw std::invalid_argument("resize target must be positive, got " + std::to_string(size));
  }
  if (img.width == size && img.height == size) {
    return img;
  }
#ifdef AMPBENCH_HAVE_OPENCV
  // Shrink with area averaging (no aliasing), then enlarge linearly; an axis may do either.
  cv::Mat cur = wrap(img);
  const int midW = std::min(img.width, size);
  const int midH = std::min(img.height, size);
  if (midW != img.width || midH != img.height) {
    cv::Mat tmp;
    cv::resize(cur, tmp, cv::Size(midW, midH), 0, 0, cv::INTER_AREA);
    cur = tmp;
  }
  if (midW != size || midH != size) {
    cv::Mat tmp;
    cv::resize(cur, tmp, cv::Size(size, size), 0, 0, cv::INTER_LINEAR);
    cur = tmp;
  }
  return unwrap(cur);
#else
  return resizeFallback(img, size);
#endif
}

Image8 convertChannels(const Image8& img, int channels) {
  checkImage(img);
  checkChannels(channels);
  if (img.channels == channels) {
    return img;
  }
#ifdef AMPBENCH_HAVE_OPENCV
  cv::Mat out;
  cv::cvtColor(wrap(img), out, channels == 1 ? cv::COLOR_RGB2GRAY : cv::COLOR_GRAY2RGB);
  return unwrap(out);
#else
  Image8 out;
  out.width = img.width;
  out.height = img.height;
  out.channels = channels;
  const size_t n = static_cast<size_t>(img.width) * img.height;
  out.pixels.resize(n * channels);
  for (size_t i = 0; i < n; ++i) {
    if (channels == 3) {
      out.pixels[i * 3] = out.pixels[i * 3 + 1] = out.pixels[i * 3 + 2] = img.pixels[i];
    } else {
      // BT.601 luma in 14-bit fixed point, as OpenCV's RGB2GRAY.
      const uint8_t* p = &img.pixels[i * 3];
      out.pixels[i] = static_cast<uint8_t>((p[0] * 4899 + p[1] * 9617 + p[2] * 1868 + (1 << 13)) >> 14);
    }
  }
  return out;
#endif
}

}  // namespace ampbench
