// Decoding of single image files (OpenCV raster formats, DICOM through GDCM) and the
// resize / channel helpers. Every test makes its own files.

#include "engine/data/Image.h"

#include "TestUtil.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#ifdef AMPBENCH_HAVE_OPENCV
#include <opencv2/core.hpp>
#include <opencv2/imgcodecs.hpp>

#include <gdcmAttribute.h>
#include <gdcmImage.h>
#include <gdcmImageChangeTransferSyntax.h>
#include <gdcmImageWriter.h>
#include <gdcmTrace.h>
#endif

namespace ampbench {
namespace {

using test::TempDir;

void writeBytes(const std::string& path, const std::string& bytes) {
  std::ofstream out(path, std::ios::binary);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
}

Image8 makeImage(int w, int h, int c, const std::vector<uint8_t>& px) {
  Image8 img;
  img.width = w;
  img.height = h;
  img.channels = c;
  img.pixels = px;
  return img;
}

int maxAbsDiff(const std::vector<uint8_t>& a, const std::vector<uint8_t>& b) {
  int d = 0;
  for (size_t i = 0; i < std::min(a.size(), b.size()); ++i) {
    d = std::max(d, std::abs(static_cast<int>(a[i]) - static_cast<int>(b[i])));
  }
  return d;
}

// ---------------------------------------------------------------- build-independent

TEST(ImageDecode, AvailabilityMatchesBuild) {
#ifdef AMPBENCH_HAVE_OPENCV
  EXPECT_TRUE(imageDecodingAvailable());
#else
  EXPECT_FALSE(imageDecodingAvailable());
#endif
}

TEST(ImageDecode, LooksLikeImageFileByExtension) {
  TempDir dir;
  for (const char* name : {"a.jpg", "b.JPEG", "c.png", "d.Bmp", "e.tif", "f.TIFF", "g.pgm", "h.ppm", "i.dcm",
                           "j.DICOM"}) {
    EXPECT_TRUE(looksLikeImageFile(dir / name)) << name;  // by name only: need not exist
  }
  for (const char* name : {"notes.txt", "labels.csv", "model.pt"}) {
    writeBytes(dir / name, "hello");
    EXPECT_FALSE(looksLikeImageFile(dir / name)) << name;
  }
  writeBytes(dir / "README", "plain text, no extension");
  EXPECT_FALSE(looksLikeImageFile(dir / "README"));
  EXPECT_FALSE(isDicomFile(dir / "README"));
  EXPECT_TRUE(isDicomFile(dir / "x.DCM"));
  EXPECT_FALSE(isDicomFile(dir / "notes.txt"));
}

TEST(ImageDecode, DicmMagicMakesExtensionlessFileDicom) {
  TempDir dir;
  std::string bytes(128, '\0');
  bytes += "DICM";
  bytes += std::string(64, '\0');
  writeBytes(dir / "IM0001", bytes);
  EXPECT_TRUE(isDicomFile(dir / "IM0001"));
  EXPECT_TRUE(looksLikeImageFile(dir / "IM0001"));
  // UID-style names have a numeric "extension".
  writeBytes(dir / "1.2.840.10008.77", bytes);
  EXPECT_TRUE(looksLikeImageFile(dir / "1.2.840.10008.77"));
}

TEST(ImageDecode, ResizeAreaAveragesBlocks) {
  // 4x4 -> 2x2: each output pixel is the mean of one 2x2 block.
  const Image8 src = makeImage(4, 4, 1, {0, 10, 100, 100,  //
                                         20, 30, 100, 100,  //
                                         200, 200, 1, 3,    //
                                         200, 200, 5, 7});
  const Image8 out = resizeImage(src, 2);
  ASSERT_EQ(out.width, 2);
  ASSERT_EQ(out.height, 2);
  ASSERT_EQ(out.channels, 1);
  EXPECT_EQ(out.pixels, (std::vector<uint8_t>{15, 100, 200, 4}));
}

TEST(ImageDecode, ResizeEnlargesLinearlyAndKeepsRgb) {
  // Constant colour stays constant; a horizontal ramp stays monotonic when enlarged.
  std::vector<uint8_t> px;
  for (int i = 0; i < 9; ++i) {
    px.insert(px.end(), {10, 120, 250});
  }
  const Image8 rgb = resizeImage(makeImage(3, 3, 3, px), 7);
  ASSERT_EQ(rgb.width, 7);
  ASSERT_EQ(rgb.channels, 3);
  ASSERT_EQ(rgb.pixels.size(), 7u * 7u * 3u);
  for (size_t i = 0; i < rgb.pixels.size(); i += 3) {
    EXPECT_EQ(rgb.pixels[i], 10);
    EXPECT_EQ(rgb.pixels[i + 1], 120);
    EXPECT_EQ(rgb.pixels[i + 2], 250);
  }
  const Image8 ramp = resizeImage(makeImage(4, 4, 1, {0, 80, 160, 240, 0, 80, 160, 240, 0, 80, 160, 240, 0, 80,
                                                      160, 240}),
                                  8);
  for (int y = 0; y < 8; ++y) {
    EXPECT_EQ(ramp.pixels[y * 8], 0);
    EXPECT_EQ(ramp.pixels[y * 8 + 7], 240);
    for (int x = 1; x < 8; ++x) {
      EXPECT_GE(ramp.pixels[y * 8 + x], ramp.pixels[y * 8 + x - 1]);
    }
  }
}

TEST(ImageDecode, ResizeMixedAxesGivesSquare) {
  // Wider than the target, shorter than it: one axis shrinks, the other grows.
  std::vector<uint8_t> px(40 * 5, 77);
  const Image8 out = resizeImage(makeImage(40, 5, 1, px), 16);
  EXPECT_EQ(out.width, 16);
  EXPECT_EQ(out.height, 16);
  EXPECT_EQ(maxAbsDiff(out.pixels, std::vector<uint8_t>(256, 77)), 0);
  EXPECT_THROW(resizeImage(makeImage(2, 2, 1, {1, 2, 3}), 4), std::invalid_argument);
}

TEST(ImageDecode, ConvertChannels) {
  const Image8 gray = makeImage(2, 1, 1, {7, 200});
  const Image8 rgb = convertChannels(gray, 3);
  EXPECT_EQ(rgb.channels, 3);
  EXPECT_EQ(rgb.pixels, (std::vector<uint8_t>{7, 7, 7, 200, 200, 200}));
  EXPECT_EQ(convertChannels(rgb, 1).pixels, gray.pixels);
  // BT.601 luma: pure red, green, blue.
  const Image8 colours = makeImage(3, 1, 3, {255, 0, 0, 0, 255, 0, 0, 0, 255});
  const Image8 luma = convertChannels(colours, 1);
  EXPECT_NEAR(luma.pixels[0], 76, 1);
  EXPECT_NEAR(luma.pixels[1], 150, 1);
  EXPECT_NEAR(luma.pixels[2], 29, 1);
  EXPECT_THROW(convertChannels(gray, 2), std::invalid_argument);
}

#ifndef AMPBENCH_HAVE_OPENCV

TEST(ImageDecode, BuildWithoutDecoderSaysSo) {
  TempDir dir;
  test::writePgm(dir / "a.pgm", 2, 2, {1, 2, 3, 4});
  try {
    decodeImageFile(dir / "a.pgm", 1);
    FAIL() << "expected DecodeError";
  } catch (const DecodeError& e) {
    EXPECT_NE(std::string(e.what()).find("AMPBENCH_OPENCV=OFF"), std::string::npos) << e.what();
  }
}

#else  // AMPBENCH_HAVE_OPENCV

// ---------------------------------------------------------------- raster formats

std::string readBytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

std::string decodeError(const std::string& path, int channels = 1) {
  try {
    decodeImageFile(path, channels);
  } catch (const DecodeError& e) {
    return e.what();
  }
  return {};
}

TEST(ImageDecode, PgmGray) {
  TempDir dir;
  test::writePgm(dir / "a.pgm", 3, 2, {0, 50, 100, 150, 200, 250});
  const Image8 img = decodeImageFile(dir / "a.pgm", 1);
  EXPECT_EQ(img.width, 3);
  EXPECT_EQ(img.height, 2);
  EXPECT_EQ(img.channels, 1);
  EXPECT_EQ(img.pixels, (std::vector<uint8_t>{0, 50, 100, 150, 200, 250}));
  const Image8 rgb = decodeImageFile(dir / "a.pgm", 3);
  EXPECT_EQ(rgb.channels, 3);
  EXPECT_EQ(rgb.pixels[9], 150);
  EXPECT_EQ(rgb.pixels[10], 150);
}

TEST(ImageDecode, ColourComesOutRgb) {
  TempDir dir;
  cv::Mat bgr(2, 2, CV_8UC3, cv::Scalar(0, 0, 255));  // OpenCV order: pure red
  for (const char* name : {"red.png", "red.bmp", "red.tif", "red.ppm"}) {
    ASSERT_TRUE(cv::imwrite(dir / name, bgr)) << name;
    const Image8 img = decodeImageFile(dir / name, 3);
    ASSERT_EQ(img.channels, 3) << name;
    EXPECT_EQ(img.pixels[0], 255) << name;
    EXPECT_EQ(img.pixels[1], 0) << name;
    EXPECT_EQ(img.pixels[2], 0) << name;
    EXPECT_NEAR(decodeImageFile(dir / name, 1).pixels[0], 76, 1) << name;
  }
}

TEST(ImageDecode, Png16BitScaledTo8) {
  TempDir dir;
  // 12-bit data stored in a 16-bit PNG: the range 0..4095 is stretched to 0..255.
  cv::Mat m(1, 3, CV_16UC1);
  m.at<uint16_t>(0, 0) = 0;
  m.at<uint16_t>(0, 1) = 2048;
  m.at<uint16_t>(0, 2) = 4095;
  ASSERT_TRUE(cv::imwrite(dir / "deep.png", m));
  const Image8 img = decodeImageFile(dir / "deep.png", 1);
  ASSERT_EQ(img.pixels.size(), 3u);
  EXPECT_EQ(img.pixels[0], 0);
  EXPECT_NEAR(img.pixels[1], 128, 1);
  EXPECT_EQ(img.pixels[2], 255);
}

TEST(ImageDecode, JpegReducedDecodingWhenMuchLarger) {
  TempDir dir;
  cv::Mat big(800, 1040, CV_8UC3, cv::Scalar(40, 90, 160));
  ASSERT_TRUE(cv::imwrite(dir / "big.jpg", big));
  const Image8 full = decodeImageFile(dir / "big.jpg", 3);
  EXPECT_EQ(full.width, 1040);
  EXPECT_EQ(full.height, 800);
  const Image8 eighth = decodeImageFile(dir / "big.jpg", 1, 100);  // 800 >= 8 * 100
  EXPECT_EQ(eighth.width, 130);
  EXPECT_EQ(eighth.height, 100);
  EXPECT_EQ(eighth.channels, 1);
  const Image8 quarter = decodeImageFile(dir / "big.jpg", 3, 150);  // 800 >= 4 * 150
  EXPECT_EQ(quarter.width, 260);
  EXPECT_EQ(quarter.height, 200);
  EXPECT_NEAR(quarter.pixels[0], 160, 3);  // still RGB order
  EXPECT_NEAR(quarter.pixels[2], 40, 3);
  const Image8 same = decodeImageFile(dir / "big.jpg", 1, 500);  // not 2x larger
  EXPECT_EQ(same.width, 1040);
}

TEST(ImageDecode, ReferenceChestXrayIfPresent) {
  const std::string folder = test::sharedDataDir() + "/chest_xray/train/NORMAL";
  std::error_code ec;
  std::string first;
  for (const auto& entry : std::filesystem::directory_iterator(folder, ec)) {
    if (looksLikeImageFile(entry.path().string())) {
      first = entry.path().string();
      break;
    }
  }
  if (first.empty()) {
    GTEST_SKIP() << "reference data not present at " << folder;
  }
  const Image8 full = decodeImageFile(first, 1);
  EXPECT_EQ(full.width, 224);
  EXPECT_EQ(full.height, 224);
  const Image8 half = decodeImageFile(first, 1, 100);  // 224 >= 2 * 100: libjpeg halves it
  EXPECT_EQ(half.width, 112);
  const Image8 resized = resizeImage(full, 112);
  ASSERT_EQ(half.pixels.size(), resized.pixels.size());
  double meanDiff = 0;  // same picture through different filters
  for (size_t i = 0; i < half.pixels.size(); ++i) {
    meanDiff += std::abs(half.pixels[i] - resized.pixels[i]);
  }
  EXPECT_LT(meanDiff / static_cast<double>(half.pixels.size()), 3.0);
}

TEST(ImageDecode, CorruptFilesThrowWithReason) {
  TempDir dir;
  writeBytes(dir / "garbage.png", std::string("\x89PNG\r\n\x1a\n this is not really a png at all", 40));
  const std::string garbage = decodeError(dir / "garbage.png");
  EXPECT_FALSE(garbage.empty());
  writeBytes(dir / "noise.jpg", "random bytes that no decoder wants");
  EXPECT_FALSE(decodeError(dir / "noise.jpg").empty());
  writeBytes(dir / "empty.png", "");
  EXPECT_EQ(decodeError(dir / "empty.png"), "empty file");
  EXPECT_EQ(decodeError(dir / "missing.png"), "file not found");
  writeBytes(dir / "bad.dcm", std::string(300, 'x'));
  EXPECT_FALSE(decodeError(dir / "bad.dcm").empty());
}

// ---------------------------------------------------------------- DICOM

struct DicomSpec {
  unsigned width = 4;
  unsigned height = 4;
  unsigned frames = 1;
  unsigned samples = 1;
  unsigned bitsAllocated = 16;
  unsigned bitsStored = 16;
  bool isSigned = false;
  bool planar = false;
  gdcm::PhotometricInterpretation::PIType photometric = gdcm::PhotometricInterpretation::MONOCHROME2;
  std::string windowCenter;  // DS strings, empty = absent
  std::string windowWidth;
  std::string voiFunction;  // VOI LUT Function, empty = absent (LINEAR)
  std::string slope;
  std::string intercept;
  gdcm::TransferSyntax::TSType syntax = gdcm::TransferSyntax::ExplicitVRLittleEndian;
};

void putString(gdcm::DataSet& ds, uint16_t group, uint16_t element, gdcm::VR vr, std::string value) {
  if (value.size() % 2 != 0) {
    value += ' ';
  }
  gdcm::DataElement de(gdcm::Tag(group, element));
  de.SetVR(vr);
  de.SetByteValue(value.data(), static_cast<uint32_t>(value.size()));
  ds.Replace(de);
}

// Writes `samples` (host-endian 8/16-bit values) as a DICOM file; false if GDCM cannot
// encode the requested transfer syntax.
bool writeDicom(const std::string& path, const DicomSpec& s, const std::vector<char>& bytes) {
  gdcm::Trace::WarningOff();  // GDCM muses about the media storage of these minimal files
  gdcm::ImageWriter writer;
  gdcm::Image& image = writer.GetImage();
  image.SetNumberOfDimensions(s.frames > 1 ? 3 : 2);
  image.SetDimension(0, s.width);
  image.SetDimension(1, s.height);
  if (s.frames > 1) {
    image.SetDimension(2, s.frames);
  }
  gdcm::PixelFormat pf;
  pf.SetSamplesPerPixel(static_cast<unsigned short>(s.samples));
  pf.SetBitsAllocated(static_cast<unsigned short>(s.bitsAllocated));
  pf.SetBitsStored(static_cast<unsigned short>(s.bitsStored));
  pf.SetHighBit(static_cast<unsigned short>(s.bitsStored - 1));
  pf.SetPixelRepresentation(s.isSigned ? 1 : 0);
  image.SetPixelFormat(pf);
  image.SetPhotometricInterpretation(s.photometric);
  image.SetPlanarConfiguration(s.planar ? 1 : 0);
  if (!s.slope.empty()) {
    // The writer puts Rescale Slope/Intercept from these, overwriting the data set's.
    image.SetSlope(std::stod(s.slope));
    image.SetIntercept(std::stod(s.intercept));
  }
  image.SetTransferSyntax(gdcm::TransferSyntax::ExplicitVRLittleEndian);
  gdcm::DataElement pixelData(gdcm::Tag(0x7fe0, 0x0010));
  pixelData.SetByteValue(bytes.data(), static_cast<uint32_t>(bytes.size()));
  image.SetDataElement(pixelData);

  if (s.syntax != gdcm::TransferSyntax::ExplicitVRLittleEndian) {
    gdcm::ImageChangeTransferSyntax change;
    change.SetTransferSyntax(s.syntax);
    change.SetInput(image);
    if (!change.Change()) {
      return false;
    }
    writer.SetImage(change.GetOutput());
  }
  gdcm::DataSet& ds = writer.GetFile().GetDataSet();
  if (!s.windowCenter.empty()) {
    putString(ds, 0x0028, 0x1050, gdcm::VR::DS, s.windowCenter);
    putString(ds, 0x0028, 0x1051, gdcm::VR::DS, s.windowWidth);
  }
  if (!s.voiFunction.empty()) {
    putString(ds, 0x0028, 0x1056, gdcm::VR::CS, s.voiFunction);
  }
  writer.SetFileName(path.c_str());
  return writer.Write();
}

std::vector<char> toBytes16(const std::vector<int>& values) {
  std::vector<char> out(values.size() * 2);
  for (size_t i = 0; i < values.size(); ++i) {
    const auto v = static_cast<uint16_t>(static_cast<int16_t>(values[i]));
    std::memcpy(&out[i * 2], &v, 2);
  }
  return out;
}

std::vector<int> ramp12(size_t n) {
  std::vector<int> v(n);
  for (size_t i = 0; i < n; ++i) {
    v[i] = static_cast<int>(i * 4095 / (n - 1));
  }
  return v;
}

TEST(DicomDecode, Monochrome1IsInverseOfMonochrome2) {
  TempDir dir;
  DicomSpec spec;
  spec.width = 16;
  spec.height = 8;
  spec.bitsStored = 12;
  const std::vector<char> bytes = toBytes16(ramp12(16 * 8));
  ASSERT_TRUE(writeDicom(dir / "m2.dcm", spec, bytes));
  spec.photometric = gdcm::PhotometricInterpretation::MONOCHROME1;
  ASSERT_TRUE(writeDicom(dir / "m1.dcm", spec, bytes));
  const Image8 m2 = decodeImageFile(dir / "m2.dcm", 1);
  const Image8 m1 = decodeImageFile(dir / "m1.dcm", 1);
  ASSERT_EQ(m2.width, 16);
  ASSERT_EQ(m2.height, 8);
  ASSERT_EQ(m1.pixels.size(), m2.pixels.size());
  // Without a window the image's own range is used: the ramp spans 0..255.
  EXPECT_EQ(m2.pixels.front(), 0);
  EXPECT_EQ(m2.pixels.back(), 255);
  for (size_t i = 0; i < m1.pixels.size(); ++i) {
    EXPECT_NEAR(m1.pixels[i] + m2.pixels[i], 255, 1) << i;
  }
}

TEST(DicomDecode, VoiWindowOn12BitData) {
  TempDir dir;
  DicomSpec spec;
  spec.width = 6;
  spec.height = 1;
  spec.bitsStored = 12;
  spec.windowCenter = "2048.0\\1000";  // multi-valued: the first value counts
  spec.windowWidth = "1000.\\200";
  const std::vector<char> bytes = toBytes16({0, 1000, 2048, 3000, 4095, 2298});
  ASSERT_TRUE(writeDicom(dir / "win.dcm", spec, bytes));
  const Image8 img = decodeImageFile(dir / "win.dcm", 1);
  ASSERT_EQ(img.pixels.size(), 6u);
  EXPECT_EQ(img.pixels[0], 0);
  EXPECT_EQ(img.pixels[1], 0);  // below 1548
  EXPECT_NEAR(img.pixels[2], 128, 1);
  EXPECT_EQ(img.pixels[3], 255);  // above 2548
  EXPECT_EQ(img.pixels[4], 255);
  EXPECT_NEAR(img.pixels[5], 191, 1);  // a quarter width above the centre

  spec.voiFunction = "SIGMOID";
  ASSERT_TRUE(writeDicom(dir / "sigmoid.dcm", spec, bytes));
  const Image8 sig = decodeImageFile(dir / "sigmoid.dcm", 1);
  EXPECT_NEAR(sig.pixels[2], 128, 1);
  EXPECT_LE(sig.pixels[1], 5);
  EXPECT_GE(sig.pixels[3], 245);  // a sigmoid never quite saturates
  EXPECT_NEAR(sig.pixels[5], 186, 1);  // 255 / (1 + e^-1)
}

TEST(DicomDecode, RescaleAndSignedPixels) {
  TempDir dir;
  // CT-like: signed stored values, rescale to HU, soft-tissue window 40/400.
  DicomSpec spec;
  spec.width = 4;
  spec.height = 1;
  spec.isSigned = true;
  spec.slope = "2";
  spec.intercept = "-1000";
  spec.windowCenter = "40";
  spec.windowWidth = "400";
  // HU: -1000-2*200=-1400, 40, -160 (window bottom), 240 (top)
  ASSERT_TRUE(writeDicom(dir / "ct.dcm", spec, toBytes16({-200, 520, 420, 620})));
  const Image8 img = decodeImageFile(dir / "ct.dcm", 1);
  ASSERT_EQ(img.pixels.size(), 4u);
  EXPECT_EQ(img.pixels[0], 0);
  EXPECT_NEAR(img.pixels[1], 128, 1);
  EXPECT_LE(img.pixels[2], 1);
  EXPECT_GE(img.pixels[3], 254);
}

TEST(DicomDecode, ExtensionlessAndPreamblelessFiles) {
  TempDir dir;
  DicomSpec spec;
  spec.width = 8;
  spec.height = 8;
  spec.bitsStored = 12;
  ASSERT_TRUE(writeDicom(dir / "ref.dcm", spec, toBytes16(ramp12(64))));
  const Image8 ref = decodeImageFile(dir / "ref.dcm", 1);

  // Same bytes, no extension.
  const std::string bytes = readBytes(dir / "ref.dcm");
  ASSERT_EQ(bytes.compare(128, 4, "DICM"), 0);
  writeBytes(dir / "IM000001", bytes);
  EXPECT_TRUE(isDicomFile(dir / "IM000001"));
  EXPECT_TRUE(looksLikeImageFile(dir / "IM000001"));
  EXPECT_EQ(decodeImageFile(dir / "IM000001", 1).pixels, ref.pixels);

  // No 128-byte preamble and no "DICM": the stream starts at the (0002,xxxx) meta group.
  writeBytes(dir / "BARE0001", bytes.substr(132));
  EXPECT_TRUE(isDicomFile(dir / "BARE0001"));
  EXPECT_TRUE(looksLikeImageFile(dir / "BARE0001"));
  EXPECT_EQ(decodeImageFile(dir / "BARE0001", 1).pixels, ref.pixels);
  // Old ACR-NEMA style: no file meta group either; the data set starts at (0008,xxxx).
  ASSERT_EQ(bytes.compare(132, 6, std::string("\x02\x00\x00\x00UL", 6)), 0);
  uint32_t metaLength = 0;
  std::memcpy(&metaLength, bytes.data() + 140, 4);
  writeBytes(dir / "RAW00001", bytes.substr(144 + metaLength));
  EXPECT_TRUE(isDicomFile(dir / "RAW00001"));
  EXPECT_EQ(decodeImageFile(dir / "RAW00001", 1).pixels, ref.pixels);

  // Starts like a bare data set but is not one.
  std::string junk("\x08\x00\x05\x00", 4);
  for (int i = 0; i < 300; ++i) {
    junk += static_cast<char>((i * 7919) % 251);
  }
  writeBytes(dir / "JUNK0001", junk);
  EXPECT_FALSE(isDicomFile(dir / "JUNK0001"));
  EXPECT_FALSE(decodeError(dir / "JUNK0001").empty());

  const Image8 rgb = decodeImageFile(dir / "BARE0001", 3);
  EXPECT_EQ(rgb.channels, 3);
  EXPECT_EQ(rgb.pixels[3 * 63], ref.pixels[63]);
}

TEST(DicomDecode, CompressedTransferSyntaxesMatchUncompressed) {
  TempDir dir;
  DicomSpec spec;
  spec.width = 32;
  spec.height = 24;
  spec.bitsStored = 12;
  spec.windowCenter = "2000";
  spec.windowWidth = "3000";
  std::vector<int> values(32 * 24);
  for (size_t i = 0; i < values.size(); ++i) {
    values[i] = static_cast<int>((i * 37 + (i / 32) * 911) % 4096);  // texture, not a flat ramp
  }
  const std::vector<char> bytes = toBytes16(values);
  ASSERT_TRUE(writeDicom(dir / "plain.dcm", spec, bytes));
  const Image8 ref = decodeImageFile(dir / "plain.dcm", 1);
  int encoded = 0;
  const std::pair<gdcm::TransferSyntax::TSType, const char*> syntaxes[] = {
      {gdcm::TransferSyntax::JPEGLSLossless, "jls.dcm"},
      {gdcm::TransferSyntax::JPEG2000Lossless, "j2k.dcm"},
      {gdcm::TransferSyntax::JPEGLosslessProcess14_1, "jpegll.dcm"},
      {gdcm::TransferSyntax::RLELossless, "rle.dcm"},
  };
  for (const auto& [syntax, name] : syntaxes) {
    spec.syntax = syntax;
    if (!writeDicom(dir / name, spec, bytes)) {
      std::cout << "[ info ] this GDCM cannot encode " << name << "; not checked\n";
      continue;
    }
    ++encoded;
    EXPECT_NE(readBytes(dir / name).find(gdcm::TransferSyntax::GetTSString(syntax)), std::string::npos) << name;
    const Image8 img = decodeImageFile(dir / name, 1);
    EXPECT_EQ(img.pixels, ref.pixels) << name;
  }
  if (encoded == 0) {
    GTEST_SKIP() << "GDCM here encodes none of JPEG-LS, JPEG 2000, JPEG lossless, RLE";
  }
}

TEST(DicomDecode, MultiFrameTakesFirstFrame) {
  TempDir dir;
  DicomSpec spec;
  spec.width = 2;
  spec.height = 2;
  spec.frames = 2;
  spec.bitsAllocated = 8;
  spec.bitsStored = 8;
  const std::vector<char> bytes = {0, 50, 100, static_cast<char>(200), 9, 9, 9, 9};
  ASSERT_TRUE(writeDicom(dir / "multi.dcm", spec, bytes));
  const Image8 img = decodeImageFile(dir / "multi.dcm", 1);
  ASSERT_EQ(img.width, 2);
  ASSERT_EQ(img.height, 2);
  EXPECT_EQ(img.pixels, (std::vector<uint8_t>{0, 64, 128, 255}));  // first frame, min/max stretched
}

TEST(DicomDecode, RgbDicom) {
  TempDir dir;
  DicomSpec spec;
  spec.width = 2;
  spec.height = 1;
  spec.samples = 3;
  spec.bitsAllocated = 8;
  spec.bitsStored = 8;
  spec.photometric = gdcm::PhotometricInterpretation::RGB;
  const std::vector<char> bytes = {static_cast<char>(255), 0, 0, 10, 20, 30};
  ASSERT_TRUE(writeDicom(dir / "rgb.dcm", spec, bytes));
  const Image8 img = decodeImageFile(dir / "rgb.dcm", 3);
  EXPECT_EQ(img.pixels, (std::vector<uint8_t>{255, 0, 0, 10, 20, 30}));
  EXPECT_NEAR(decodeImageFile(dir / "rgb.dcm", 1).pixels[0], 76, 1);
}

TEST(DicomDecode, PlanarAndYbrColourDicom) {
  TempDir dir;
  DicomSpec spec;
  spec.width = 16;
  spec.height = 16;
  spec.samples = 3;
  spec.bitsAllocated = 8;
  spec.bitsStored = 8;
  spec.photometric = gdcm::PhotometricInterpretation::RGB;
  std::vector<char> interleaved(16 * 16 * 3);
  for (size_t p = 0; p < 256; ++p) {
    interleaved[p * 3] = static_cast<char>(p % 16 * 16);
    interleaved[p * 3 + 1] = static_cast<char>(p / 16 * 16);
    interleaved[p * 3 + 2] = static_cast<char>(128);
  }
  ASSERT_TRUE(writeDicom(dir / "rgb.dcm", spec, interleaved));
  const Image8 ref = decodeImageFile(dir / "rgb.dcm", 3);
  ASSERT_EQ(ref.pixels, std::vector<uint8_t>(interleaved.begin(), interleaved.end()));

  // Planar configuration 1: RRR...GGG...BBB.
  std::vector<char> planar(interleaved.size());
  for (size_t p = 0; p < 256; ++p) {
    for (size_t c = 0; c < 3; ++c) {
      planar[c * 256 + p] = interleaved[p * 3 + c];
    }
  }
  spec.planar = true;
  ASSERT_TRUE(writeDicom(dir / "planar.dcm", spec, planar));
  EXPECT_EQ(decodeImageFile(dir / "planar.dcm", 3).pixels, ref.pixels);

  // YBR_FULL (as lossy colour DICOMs declare): converted back to RGB.
  std::vector<char> ybr(interleaved.size());
  for (size_t p = 0; p < 256; ++p) {
    const double r = static_cast<uint8_t>(interleaved[p * 3]);
    const double g = static_cast<uint8_t>(interleaved[p * 3 + 1]);
    const double b = static_cast<uint8_t>(interleaved[p * 3 + 2]);
    const double y = 0.299 * r + 0.587 * g + 0.114 * b;
    ybr[p * 3] = static_cast<char>(std::lround(y));
    ybr[p * 3 + 1] = static_cast<char>(std::lround(std::clamp(128 + (b - y) / 1.772, 0.0, 255.0)));
    ybr[p * 3 + 2] = static_cast<char>(std::lround(std::clamp(128 + (r - y) / 1.402, 0.0, 255.0)));
  }
  spec.planar = false;
  spec.photometric = gdcm::PhotometricInterpretation::YBR_FULL;
  ASSERT_TRUE(writeDicom(dir / "ybr.dcm", spec, ybr));
  EXPECT_LE(maxAbsDiff(decodeImageFile(dir / "ybr.dcm", 3).pixels, ref.pixels), 2);
}

TEST(DicomDecode, DicomWithoutPixelDataThrows) {
  TempDir dir;
  DicomSpec spec;
  ASSERT_TRUE(writeDicom(dir / "ok.dcm", spec, toBytes16(std::vector<int>(16, 5))));
  // Cut the file just before the pixel data element: a valid DICOM stream without image.
  const std::string bytes = readBytes(dir / "ok.dcm");
  const std::string pixelTag("\xe0\x7f\x10\x00", 4);
  const size_t at = bytes.rfind(pixelTag);
  ASSERT_NE(at, std::string::npos);
  writeBytes(dir / "nopixels.dcm", bytes.substr(0, at));
  const std::string reason = decodeError(dir / "nopixels.dcm");
  EXPECT_EQ(reason, "DICOM without pixel data");
}

#endif  // AMPBENCH_HAVE_OPENCV

}  // namespace
}  // namespace ampbench
