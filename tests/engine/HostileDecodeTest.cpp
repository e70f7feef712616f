// Hostile and odd image files: truncated at several points, headers claiming huge sizes,
// odd but valid layouts, DICOM the decoder cannot use. Each must end as an image or a
// DecodeError with a short stable reason: never a crash, a cv::Exception or a silent
// half-grey image in training. Files are made here (cv::imencode, then cut or patched).

#include "engine/data/Image.h"
#include "engine/data/ImageHeader.h"

#include "TestUtil.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <limits>
#include <random>
#include <string>
#include <vector>

#ifdef AMPBENCH_HAVE_OPENCV
#include <opencv2/core.hpp>
#include <opencv2/imgcodecs.hpp>
#endif

namespace ampbench {
namespace {

using test::TempDir;

void writeBytes(const std::string& path, const std::string& bytes) {
  std::ofstream out(path, std::ios::binary);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
}

std::string readBytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

RasterHeader header(const std::string& bytes) {
  return readRasterHeader(reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size());
}

std::string truncation(const std::string& bytes) {
  return rasterTruncation(reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size(), header(bytes));
}

// ---------------------------------------------------------------- header parsing (no codec)

TEST(RasterHeader, CraftedHeadersGiveTheirSize) {
  // PNG: signature + IHDR claiming 20000 x 30000.
  std::string png("\x89PNG\r\n\x1a\n\0\0\0\x0dIHDR\0\0\x4e\x20\0\0\x75\x30\x08\0\0\0\0", 29);
  EXPECT_EQ(header(png).format, "PNG");
  EXPECT_EQ(header(png).width, 20000);
  EXPECT_EQ(header(png).height, 30000);
  EXPECT_EQ(truncation(png), "truncated PNG (no IEND chunk)");
  // BMP with a BITMAPINFOHEADER, stored bottom-up (negative height means top-down).
  std::string bmp(54, '\0');
  bmp[0] = 'B';
  bmp[1] = 'M';
  bmp[10] = 54;
  bmp[14] = 40;
  bmp[18] = 0x10;  // width 0x2710 = 10000
  bmp[19] = 0x27;
  bmp[22] = static_cast<char>(0xF0);  // height -10000
  bmp[23] = static_cast<char>(0xD8);
  bmp[24] = static_cast<char>(0xFF);
  bmp[25] = static_cast<char>(0xFF);
  bmp[28] = 24;
  EXPECT_EQ(header(bmp).format, "BMP");
  EXPECT_EQ(header(bmp).width, 10000);
  EXPECT_EQ(header(bmp).height, 10000);
  EXPECT_EQ(truncation(bmp), "truncated BMP (pixel data ends early)");
  // PGM with a comment in its header.
  const std::string pgm = "P5\n# made by hand\n20000 20000\n255\n" + std::string(10, 'x');
  EXPECT_EQ(header(pgm).format, "PNM");
  EXPECT_EQ(header(pgm).width, 20000);
  EXPECT_EQ(truncation(pgm), "truncated PNM (pixel data ends early)");
  // Nothing recognisable, or too short to say: no size, no claim of truncation.
  for (const std::string& s : {std::string("hello world"), std::string(), std::string("\xFF", 1),
                               std::string("II*\0", 4), std::string("P5\n12")}) {
    EXPECT_FALSE(header(s).hasSize()) << s;
  }
}

// Random bytes behind each magic: the parsers read only inside the buffer (ASan checks
// this in the sanitizer build) and never claim a size they did not read.
TEST(RasterHeader, RandomBytesAfterMagicNeverReadOutside) {
  std::mt19937 rng(5);
  const std::string magics[] = {std::string("\xFF\xD8\xFF", 3), std::string("\x89PNG\r\n\x1a\n", 8), "BM",
                                std::string("II*\0", 4), std::string("MM\0*", 4), "P5 ", "P6\n"};
  for (int i = 0; i < 3000; ++i) {
    std::string s = magics[static_cast<size_t>(i) % std::size(magics)];
    const size_t n = rng() % 200;
    for (size_t k = 0; k < n; ++k) {
      s += static_cast<char>(rng() % 4 == 0 ? 0xFF : rng() & 0xFF);
    }
    const std::vector<uint8_t> exact(s.begin(), s.end());  // heap copy, no slack for ASan
    const RasterHeader h = readRasterHeader(exact.data(), exact.size());
    (void)rasterTruncation(exact.data(), exact.size(), h);
    EXPECT_GE(h.width, 0);
    EXPECT_GE(h.height, 0);
  }
}

#ifdef AMPBENCH_HAVE_OPENCV

std::string decodeError(const std::string& path, int channels = 1, const DecodeOptions& options = {}) {
  try {
    decodeImageFile(path, channels, options);
  } catch (const DecodeError& e) {
    return e.what();
  } catch (const std::exception& e) {
    return std::string("NOT A DecodeError: ") + e.what();
  }
  return {};
}

cv::Mat noise(int rows, int cols, int type, uint32_t seed = 1) {
  cv::Mat m(rows, cols, type);
  cv::theRNG().state = seed;
  cv::randu(m, cv::Scalar::all(0), cv::Scalar::all(255));
  return m;
}

std::string encode(const std::string& ext, const cv::Mat& m, const std::vector<int>& params = {}) {
  std::vector<uint8_t> buf;
  EXPECT_TRUE(cv::imencode(ext, m, buf, params)) << ext;
  return std::string(buf.begin(), buf.end());
}

// Cuts a complete file at several points (header, a quarter, half, near the end, the
// last two bytes) and expects each cut refused with `reason`.
void expectCutsRefused(const TempDir& dir, const std::string& name, const std::string& full,
                       const std::string& reason) {
  const std::string path = dir / name;
  writeBytes(path, full);
  EXPECT_EQ(decodeError(path), "") << name << " complete";
  for (const size_t keep : {size_t{40}, full.size() / 4, full.size() / 2, full.size() - 30, full.size() - 2}) {
    writeBytes(path, full.substr(0, keep));
    EXPECT_EQ(decodeError(path), reason) << name << " cut to " << keep << " of " << full.size() << " bytes";
  }
}

// OpenCV 4.6 decodes a cut JPEG "successfully", the missing rows filled in: it entered
// training silently before the end-of-image check.
TEST(HostileDecode, TruncatedJpegRefused) {
  TempDir dir;
  const cv::Mat img = noise(96, 96, CV_8UC3);
  expectCutsRefused(dir, "cut.jpg", encode(".jpg", img), "truncated JPEG (no end-of-image marker)");
  expectCutsRefused(dir, "cut-progressive.jpg", encode(".jpg", img, {cv::IMWRITE_JPEG_PROGRESSIVE, 1}),
                    "truncated JPEG (no end-of-image marker)");
  // Padding or another file's bytes after the end-of-image marker is no truncation.
  writeBytes(dir / "padded.jpg", encode(".jpg", img) + std::string(100, '\0') + "trailer");
  EXPECT_EQ(decodeImageFile(dir / "padded.jpg", 3).width, 96);
}

TEST(HostileDecode, TruncatedPngTiffBmpPnmRefused) {
  TempDir dir;
  const cv::Mat img = noise(64, 64, CV_8UC3);
  expectCutsRefused(dir, "cut.png", encode(".png", img), "truncated PNG (no IEND chunk)");
  expectCutsRefused(dir, "cut.tif", encode(".tif", img, {cv::IMWRITE_TIFF_COMPRESSION, 1}),
                    "truncated TIFF (image data beyond the end of the file)");
  expectCutsRefused(dir, "cut-lzw.tif", encode(".tif", img), "truncated TIFF (image data beyond the end of the file)");
  expectCutsRefused(dir, "cut.bmp", encode(".bmp", img), "truncated BMP (pixel data ends early)");
  expectCutsRefused(dir, "cut.ppm", encode(".ppm", img), "truncated PNM (pixel data ends early)");
  expectCutsRefused(dir, "cut.pgm", encode(".pgm", noise(64, 64, CV_8UC1)), "truncated PNM (pixel data ends early)");
}

// Peak resident memory of this process since the call, in MB: Linux resets the high-water
// mark on writing 5 to clear_refs. -1 where that is not possible.
class PeakRss {
 public:
  PeakRss() {
    std::ofstream clear("/proc/self/clear_refs");
    clear << "5";
    clear.flush();
    ok_ = static_cast<bool>(clear);
    start_ = field("VmRSS:");
  }
  double growthMb() const { return ok_ ? (field("VmHWM:") - start_) / 1024.0 : -1.0; }

 private:
  static double field(const char* name) {
    std::ifstream in("/proc/self/status");
    std::string line;
    while (std::getline(in, line)) {
      if (line.rfind(name, 0) == 0) {
        return std::stod(line.substr(std::string(name).size()));
      }
    }
    return 0.0;
  }
  bool ok_ = false;
  double start_ = 0.0;
};

// A valid 20000x20000 PNG (400 MB of pixels in a ~400 KB file) is refused from its
// header; the old decoder allocated the whole image on every decode thread.
TEST(HostileDecode, HugePngRefusedBeforeItsPixelsAreAllocated) {
  TempDir dir;
  test::writeBlackPng(dir / "huge.png", 20000, 20000);
  EXPECT_LT(std::filesystem::file_size(dir / "huge.png"), 2u << 20);
  const PeakRss rss;
  EXPECT_EQ(decodeError(dir / "huge.png"),
            "image of 20000x20000 pixels is over the 100000000-pixel limit (--max-image-pixels)");
  const double grew = rss.growthMb();
  std::printf("peak RSS growth while refusing a 20000x20000 PNG: %.1f MB\n", grew);
  if (grew >= 0) {
    EXPECT_LT(grew, 64.0);  // the file is read (~0.4 MB); 400 MB of pixels must not be
  }
  // The limit is the caller's: a smaller one refuses small images, 0 lifts it.
  test::writeBlackPng(dir / "small.png", 100, 50);
  DecodeOptions tight;
  tight.maxPixels = 4999;
  EXPECT_EQ(decodeError(dir / "small.png", 1, tight),
            "image of 100x50 pixels is over the 4999-pixel limit (--max-image-pixels)");
  tight.maxPixels = 5000;
  EXPECT_EQ(decodeImageFile(dir / "small.png", 1, tight).height, 50);
  tight.maxPixels = 0;
  EXPECT_EQ(decodeImageFile(dir / "small.png", 1, tight).width, 100);
}

// Headers claiming huge sizes with (almost) no data behind them, for each format.
TEST(HostileDecode, HugeClaimsInEveryFormatRefused) {
  TempDir dir;
  // JPEG: a real one with its frame header patched to 30000 x 30000.
  std::string jpg = encode(".jpg", noise(16, 16, CV_8UC1));
  const size_t sof = jpg.find("\xFF\xC0");
  ASSERT_NE(sof, std::string::npos);
  jpg[sof + 5] = jpg[sof + 7] = static_cast<char>(0x75);  // 0x7530 = 30000
  jpg[sof + 6] = jpg[sof + 8] = static_cast<char>(0x30);
  writeBytes(dir / "huge.jpg", jpg);
  const std::string limit = " pixels is over the 100000000-pixel limit (--max-image-pixels)";
  EXPECT_EQ(decodeError(dir / "huge.jpg"), "image of 30000x30000" + limit);
  // Reduced JPEG decoding (1/8 here) keeps it under a budget the full size is over.
  DecodeOptions reduced;
  reduced.maxSide = 64;
  reduced.maxPixels = 30000LL * 30000 / 16;
  const std::string reducedReason = decodeError(dir / "huge.jpg", 1, reduced);
  EXPECT_EQ(reducedReason.find("over the"), std::string::npos) << reducedReason;
  // TIFF: an IFD claiming 50000 x 50000 and no strips.
  std::string tif("II*\0\x08\0\0\0\x02\0", 10);
  const auto entry = [&](uint16_t tag, uint32_t value) {
    tif += std::string{static_cast<char>(tag & 0xFF), static_cast<char>(tag >> 8), 4, 0, 1, 0, 0, 0};
    for (int k = 0; k < 4; ++k) {
      tif += static_cast<char>((value >> (8 * k)) & 0xFF);
    }
  };
  entry(256, 50000);
  entry(257, 50000);
  tif += std::string(4, '\0');
  writeBytes(dir / "huge.tif", tif);
  EXPECT_EQ(decodeError(dir / "huge.tif"), "image of 50000x50000" + limit);
  // PNG header alone (cut after IHDR), BMP header alone: cut short first of all.
  writeBytes(dir / "huge.png", std::string("\x89PNG\r\n\x1a\n\0\0\0\x0dIHDR\0\0\x4e\x20\0\0\x4e\x20\x08\0\0\0\0", 29));
  EXPECT_EQ(decodeError(dir / "huge.png"), "truncated PNG (no IEND chunk)");
  writeBytes(dir / "huge.pgm", "P5\n65535 65535\n255\nxyz");
  EXPECT_EQ(decodeError(dir / "huge.pgm"), "truncated PNM (pixel data ends early)");
}

// 1 to 4 channels, 8 and 16 bits, float, 1x1: all decode to the requested channels.
TEST(HostileDecode, OddButValidImagesDecode) {
  TempDir dir;
  struct Case {
    const char* name;
    cv::Mat m;
  };
  cv::Mat gray16(8, 8, CV_16UC1, cv::Scalar(1000));
  gray16.at<uint16_t>(0, 0) = 3000;
  const Case cases[] = {
      {"one.png", cv::Mat(1, 1, CV_8UC1, cv::Scalar(200))},
      {"one.jpg", cv::Mat(1, 1, CV_8UC3, cv::Scalar(10, 20, 30))},
      {"one.bmp", cv::Mat(1, 1, CV_8UC3, cv::Scalar(10, 20, 30))},
      {"rgba.png", cv::Mat(4, 4, CV_8UC4, cv::Scalar(0, 0, 255, 128))},
      {"rgba.tif", cv::Mat(4, 4, CV_8UC4, cv::Scalar(0, 0, 255, 128))},
      {"gray16.png", gray16},
      {"gray16.tif", gray16},
      {"rgb16.png", cv::Mat(4, 4, CV_16UC3, cv::Scalar(0, 1000, 60000))},
      {"rgb16.tif", cv::Mat(4, 4, CV_16UC3, cv::Scalar(0, 1000, 60000))},
  };
  for (const Case& c : cases) {
    ASSERT_TRUE(cv::imwrite(dir / c.name, c.m)) << c.name;
    for (const int channels : {1, 3}) {
      const Image8 img = decodeImageFile(dir / c.name, channels);
      EXPECT_EQ(img.width, c.m.cols) << c.name;
      EXPECT_EQ(img.height, c.m.rows) << c.name;
      EXPECT_EQ(img.channels, channels) << c.name;
      EXPECT_EQ(img.pixels.size(), static_cast<size_t>(c.m.total()) * channels) << c.name;
    }
  }
  // 16-bit: its own range stretched, 3000 -> 255, 1000 -> 0.
  const Image8 g = decodeImageFile(dir / "gray16.tif", 1);
  EXPECT_EQ(g.pixels[0], 255);
  EXPECT_EQ(g.pixels[1], 0);
  // Two channels (gray + alpha), which cv::imwrite cannot write: made by hand.
  test::writeBlackPng(dir / "two.png", 3, 2, 4);
  for (const int channels : {1, 3}) {
    const Image8 img = decodeImageFile(dir / "two.png", channels);
    EXPECT_EQ(img.width, 3);
    EXPECT_EQ(img.channels, channels);
  }
}

// Float TIFF is scaled by its own min/max; NaN or inf pixels are refused (documented:
// guessing a value for them would put an invented pixel into training).
TEST(HostileDecode, FloatTiffScaledAndNonFiniteRefused) {
  TempDir dir;
  cv::Mat f(1, 3, CV_32FC1);
  f.at<float>(0, 0) = -1.f;
  f.at<float>(0, 1) = 0.5f;
  f.at<float>(0, 2) = 3.f;
  ASSERT_TRUE(cv::imwrite(dir / "float.tif", f));
  const Image8 img = decodeImageFile(dir / "float.tif", 1);
  ASSERT_EQ(img.pixels.size(), 3u);
  EXPECT_EQ(img.pixels[0], 0);
  EXPECT_NEAR(img.pixels[1], 96, 1);  // (0.5 + 1) / 4 * 255
  EXPECT_EQ(img.pixels[2], 255);
  for (const float bad : {std::nanf(""), std::numeric_limits<float>::infinity()}) {
    f.at<float>(0, 1) = bad;
    ASSERT_TRUE(cv::imwrite(dir / "bad.tif", f));
    EXPECT_EQ(decodeError(dir / "bad.tif"), "float image with NaN or infinite pixels");
  }
}

TEST(HostileDecode, NotImagesGiveAReason) {
  TempDir dir;
  writeBytes(dir / "text.png", "This is a README saved as .png by mistake.\n");
  EXPECT_EQ(decodeError(dir / "text.png"), "not an image (unrecognised content)");
  std::mt19937 rng(11);
  std::string random(4096, '\0');
  for (char& c : random) {
    c = static_cast<char>(rng() & 0xFF);
  }
  random[0] = 'x';  // not by chance a magic number
  writeBytes(dir / "random.jpg", random);
  EXPECT_EQ(decodeError(dir / "random.jpg"), "not an image (unrecognised content)");
  writeBytes(dir / "random-after-magic.jpg", std::string("\xFF\xD8\xFF\xE0", 4) + random);
  EXPECT_EQ(decodeError(dir / "random-after-magic.jpg"), "truncated JPEG (no end-of-image marker)");
  // A PNG whose pixel data is garbage but whose chunks are complete: the codec's verdict.
  std::string png = encode(".png", noise(16, 16, CV_8UC1));
  const size_t idat = png.find("IDAT");
  ASSERT_NE(idat, std::string::npos);
  for (size_t k = idat + 4; k < idat + 40; ++k) {
    png[k] = static_cast<char>(rng() & 0xFF);
  }
  writeBytes(dir / "garbled.png", png);
  EXPECT_EQ(decodeError(dir / "garbled.png"), "corrupt PNG (the decoder rejected it)");
  writeBytes(dir / "empty.tif", "");
  EXPECT_EQ(decodeError(dir / "empty.tif"), "empty file");
  // Listed by the scan, gone (or replaced by a folder) before the decode.
  writeBytes(dir / "gone.png", encode(".png", noise(4, 4, CV_8UC1)));
  std::filesystem::remove(dir / "gone.png");
  EXPECT_EQ(decodeError(dir / "gone.png"), "file not found");
  std::filesystem::create_directory(dir / "folder.png");
  EXPECT_EQ(decodeError(dir / "folder.png"), "not a regular file");
}

// ---------------------------------------------------------------- DICOM

TEST(HostileDicom, OverThePixelLimitRefused) {
  TempDir dir;
  test::writeTestDicom(dir / "a.dcm", std::vector<uint8_t>(64 * 32, 7), 64, 32);
  DecodeOptions options;
  options.maxPixels = 2047;
  EXPECT_EQ(decodeError(dir / "a.dcm", 1, options),
            "image of 64x32 pixels is over the 2047-pixel limit (--max-image-pixels)");
  options.maxPixels = 2048;
  EXPECT_EQ(decodeImageFile(dir / "a.dcm", 1, options).width, 64);
}

std::string replaceAll(std::string s, const std::string& from, const std::string& to) {
  for (size_t at = s.find(from); at != std::string::npos; at = s.find(from, at + to.size())) {
    s.replace(at, from.size(), to);
  }
  return s;
}

TEST(HostileDicom, UnsupportedTransferSyntaxNamed) {
  TempDir dir;
  test::writeTestDicom(dir / "a.dcm", std::vector<uint8_t>(16, 7), 4, 4);
  // Explicit VR little endian's UID replaced by an unknown one of the same length.
  const std::string bytes = replaceAll(readBytes(dir / "a.dcm"), "1.2.840.10008.1.2.1", "1.2.840.99999.9.9.9");
  writeBytes(dir / "unknown-ts.dcm", bytes);
  EXPECT_EQ(decodeError(dir / "unknown-ts.dcm"), "DICOM transfer syntax 1.2.840.99999.9.9.9 is not supported");
}

// Rows x Columns patched up: the header claims more pixels than the data element holds.
TEST(HostileDicom, HeaderLargerThanPixelDataRefused) {
  TempDir dir;
  test::writeTestDicom(dir / "a.dcm", std::vector<uint8_t>(16, 7), 4, 4);
  std::string bytes = readBytes(dir / "a.dcm");
  // (0028,0010) Rows, VR US, length 2, value 4 (explicit VR little endian).
  const std::string rows("\x28\x00\x10\x00US\x02\x00\x04\x00", 10);
  const size_t at = bytes.find(rows);
  ASSERT_NE(at, std::string::npos);
  bytes[at + 8] = static_cast<char>(0xFF);
  bytes[at + 9] = static_cast<char>(0x7F);  // 32767 rows
  writeBytes(dir / "tall.dcm", bytes);
  EXPECT_EQ(decodeError(dir / "tall.dcm"), "DICOM pixel data shorter than the image size");
  // Cut in the middle of the pixel data: refused before GDCM (DicomCheck), which would read it "successfully".
  const std::string full = readBytes(dir / "a.dcm");
  writeBytes(dir / "cut.dcm", full.substr(0, full.size() - 6));
  EXPECT_EQ(decodeError(dir / "cut.dcm"), "not a valid DICOM: element (7FE0,0010) declares 16 bytes but the file has 10 left");
}

#endif  // AMPBENCH_HAVE_OPENCV

}  // namespace
}  // namespace ampbench
