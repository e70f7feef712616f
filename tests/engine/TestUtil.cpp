#include "TestUtil.h"

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <random>
#include <stdexcept>

#include <zlib.h>

#ifdef AMPBENCH_HAVE_OPENCV
#include <gdcmDataSet.h>
#include <gdcmImage.h>
#include <gdcmImageWriter.h>
#include <gdcmTrace.h>
#endif

namespace fs = std::filesystem;

namespace ampbench::test {

TempDir::TempDir() {
  std::random_device rd;
  const auto base = fs::temp_directory_path();
  for (int i = 0; i < 100; ++i) {
    auto p = base / ("ampbench-test-" + std::to_string(rd()));
    if (fs::create_directory(p)) {
      path_ = p.string();
      return;
    }
  }
  throw std::runtime_error("cannot create a temp dir");
}

TempDir::~TempDir() {
  std::error_code ec;
  fs::remove_all(path_, ec);
}

void writePgm(const std::string& path, int width, int height, const std::vector<uint8_t>& pixels) {
  fs::create_directories(fs::path(path).parent_path());
  std::ofstream out(path, std::ios::binary);
  out << "P5\n" << width << " " << height << "\n255\n";
  out.write(reinterpret_cast<const char*>(pixels.data()), static_cast<std::streamsize>(pixels.size()));
}

void makeBlobDataset(const std::string& root, int perClass, int size, int numClasses, bool withSplits,
                     uint32_t seed) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> noise(0.f, 18.f);
  std::uniform_real_distribution<float> jitter(-0.06f, 0.06f);
  static const char* kNames[] = {"NORMAL", "PNEUMONIA", "C2", "C3", "C4", "C5", "C6", "C7"};
  for (int c = 0; c < numClasses; ++c) {
    // class centre on a circle
    const float angle = 6.2831853f * static_cast<float>(c) / static_cast<float>(numClasses);
    for (int i = 0; i < perClass; ++i) {
      const float cx = size * (0.5f + 0.28f * std::cos(angle) + jitter(rng));
      const float cy = size * (0.5f + 0.28f * std::sin(angle) + jitter(rng));
      std::vector<uint8_t> px(static_cast<size_t>(size) * size);
      for (int y = 0; y < size; ++y) {
        for (int x = 0; x < size; ++x) {
          const float d2 = (x - cx) * (x - cx) + (y - cy) * (y - cy);
          const float v = 60.f + 170.f * std::exp(-d2 / (2.f * (size * 0.12f) * (size * 0.12f))) + noise(rng);
          px[static_cast<size_t>(y) * size + x] = static_cast<uint8_t>(std::clamp(v, 0.f, 255.f));
        }
      }
      std::string dir = root;
      if (withSplits) {
        dir += (i % 5 == 4) ? "/val" : "/train";
      }
      writePgm(dir + "/" + kNames[c] + "/img" + std::to_string(i) + ".pgm", size, size, px);
    }
  }
}

namespace {
void putBe32(std::string& s, uint32_t v) {
  for (int shift = 24; shift >= 0; shift -= 8) {
    s += static_cast<char>((v >> shift) & 0xFF);
  }
}

void pngChunk(std::ofstream& out, const char* type, const std::string& data) {
  std::string chunk;
  putBe32(chunk, static_cast<uint32_t>(data.size()));
  chunk += std::string(type, 4) + data;
  const auto crc = crc32(0, reinterpret_cast<const Bytef*>(chunk.data() + 4), static_cast<uInt>(chunk.size() - 4));
  putBe32(chunk, static_cast<uint32_t>(crc));
  out.write(chunk.data(), static_cast<std::streamsize>(chunk.size()));
}
}  // namespace

void writeBlackPng(const std::string& path, uint32_t width, uint32_t height, int colorType) {
  const uint32_t channels = colorType == 2 ? 3 : colorType == 4 ? 2 : colorType == 6 ? 4 : 1;
  std::ofstream out(path, std::ios::binary);
  out.write("\x89PNG\r\n\x1a\n", 8);
  std::string ihdr;
  putBe32(ihdr, width);
  putBe32(ihdr, height);
  ihdr += static_cast<char>(8);  // bits per sample
  ihdr += static_cast<char>(colorType);
  ihdr += std::string(3, '\0');  // deflate, no filter, no interlace
  pngChunk(out, "IHDR", ihdr);
  z_stream zs{};
  if (deflateInit(&zs, Z_DEFAULT_COMPRESSION) != Z_OK) {
    throw std::runtime_error("writeBlackPng: deflateInit failed");
  }
  std::vector<unsigned char> row(size_t{width} * channels + 1u, 0);  // filter byte 0, then the pixels
  std::vector<unsigned char> buf(1 << 16);
  std::string idat;
  for (uint32_t y = 0; y <= height; ++y) {
    const bool last = y == height;
    zs.next_in = row.data();
    zs.avail_in = last ? 0 : static_cast<uInt>(row.size());
    int rc = Z_OK;
    do {
      zs.next_out = buf.data();
      zs.avail_out = static_cast<uInt>(buf.size());
      rc = deflate(&zs, last ? Z_FINISH : Z_NO_FLUSH);
      idat.append(reinterpret_cast<char*>(buf.data()), buf.size() - zs.avail_out);
    } while (zs.avail_out == 0 || (last && rc != Z_STREAM_END));
    if (idat.size() >= (1u << 20) || last) {
      pngChunk(out, "IDAT", idat);
      idat.clear();
    }
  }
  deflateEnd(&zs);
  pngChunk(out, "IEND", "");
  if (!out) {
    throw std::runtime_error("writeBlackPng: cannot write '" + path + "'");
  }
}

std::string sharedDataDir() {
#ifdef AMPBENCH_SHARED_DATA
  return AMPBENCH_SHARED_DATA;
#else
  return "../shared/data";
#endif
}

RunConfig tinyRunConfig(const std::string& outDir) {
  RunConfig c;
  c.dataPath = "synthetic:96";
  c.imageSize = 16;
  c.batchSize = 16;
  c.epochs = 2;
  c.threads = 2;
  c.seed = 3;
  c.outDir = outDir;
  return c;
}

#ifdef AMPBENCH_HAVE_OPENCV
namespace {
void putDicomString(gdcm::DataSet& ds, uint16_t group, uint16_t element, gdcm::VR vr, std::string value) {
  if (value.size() % 2 != 0) {
    value += ' ';  // DICOM values have even length
  }
  gdcm::DataElement de(gdcm::Tag(group, element));
  de.SetVR(vr);
  de.SetByteValue(value.data(), static_cast<uint32_t>(value.size()));
  ds.Replace(de);
}
}  // namespace
#endif

void writeTestDicom(const std::string& path, const std::vector<uint8_t>& pixels, int width, int height,
                    const DicomIdentifiers& id) {
#ifdef AMPBENCH_HAVE_OPENCV
  if (width <= 0 || height <= 0 || pixels.size() != static_cast<size_t>(width) * static_cast<size_t>(height)) {
    throw std::runtime_error("writeTestDicom: pixels do not match width x height");
  }
  if (fs::path(path).has_parent_path()) {
    fs::create_directories(fs::path(path).parent_path());
  }
  gdcm::Trace::WarningOff();
  gdcm::ImageWriter writer;
  gdcm::Image& image = writer.GetImage();
  image.SetNumberOfDimensions(2);
  image.SetDimension(0, static_cast<unsigned>(width));
  image.SetDimension(1, static_cast<unsigned>(height));
  image.SetPixelFormat(gdcm::PixelFormat(gdcm::PixelFormat::UINT8));
  image.SetPhotometricInterpretation(gdcm::PhotometricInterpretation::MONOCHROME2);
  image.SetTransferSyntax(gdcm::TransferSyntax::ExplicitVRLittleEndian);
  gdcm::DataElement pixelData(gdcm::Tag(0x7fe0, 0x0010));
  pixelData.SetByteValue(reinterpret_cast<const char*>(pixels.data()), static_cast<uint32_t>(pixels.size()));
  image.SetDataElement(pixelData);
  gdcm::DataSet& ds = writer.GetFile().GetDataSet();
  putDicomString(ds, 0x0010, 0x0010, gdcm::VR::PN, id.patientName);
  putDicomString(ds, 0x0010, 0x0020, gdcm::VR::LO, id.patientId);
  putDicomString(ds, 0x0010, 0x0030, gdcm::VR::DA, id.birthDate);
  putDicomString(ds, 0x0008, 0x0050, gdcm::VR::SH, id.accessionNumber);
  putDicomString(ds, 0x0008, 0x0080, gdcm::VR::LO, id.institution);
  writer.SetFileName(path.c_str());
  if (!writer.Write()) {
    throw std::runtime_error("writeTestDicom: GDCM could not write '" + path + "'");
  }
#else
  (void)path, (void)pixels, (void)width, (void)height, (void)id;
  throw std::runtime_error("writeTestDicom: this build has no GDCM");
#endif
}

}  // namespace ampbench::test
