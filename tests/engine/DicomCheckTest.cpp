// The DICOM pre-check (engine/data/DicomCheck.h) through the decoder: files GDCM must not
// see (an unknown VR in the meta header aborts the process in Debian's GDCM; a declared
// length past the end of the file makes GDCM allocate it) are refused with a one-line
// DecodeError, and valid files, undefined-length sequences included, still decode.

#include "engine/data/DicomCheck.h"
#include "engine/data/Image.h"

#include "TestUtil.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#ifdef AMPBENCH_HAVE_OPENCV
#include <gdcmItem.h>
#include <gdcmReader.h>
#include <gdcmSequenceOfItems.h>
#include <gdcmWriter.h>
#endif

namespace ampbench {
namespace {

#ifdef AMPBENCH_HAVE_OPENCV

using test::TempDir;

void writeBytes(const std::string& path, const std::string& bytes) {
  std::ofstream out(path, std::ios::binary);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
}

std::string readBytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

std::string decodeError(const std::string& path) {
  try {
    decodeImageFile(path, 1, 0);
  } catch (const DecodeError& e) {
    return e.what();
  } catch (const std::exception& e) {
    return std::string("NOT A DecodeError: ") + e.what();
  }
  return {};
}

// A valid 8x8 explicit VR little endian DICOM's bytes.
std::string validDicom(const TempDir& dir) {
  test::writeTestDicom(dir / "valid.dcm", std::vector<uint8_t>(64, 99), 8, 8);
  return readBytes(dir / "valid.dcm");
}

// Patches the bytes right after the first occurrence of `marker`.
void patchAfter(std::string& bytes, const std::string& marker, const std::string& with) {
  const size_t at = bytes.find(marker);
  ASSERT_NE(at, std::string::npos);
  bytes.replace(at + marker.size(), with.size(), with);
}

std::string le32(uint32_t v) {
  return {static_cast<char>(v & 0xFF), static_cast<char>(v >> 8 & 0xFF), static_cast<char>(v >> 16 & 0xFF),
          static_cast<char>(v >> 24 & 0xFF)};
}

// Peak resident set (VmHWM) in KiB; Linux.
long peakRssKib() {
  std::ifstream status("/proc/self/status");
  for (std::string line; std::getline(status, line);) {
    if (line.rfind("VmHWM:", 0) == 0) {
      return std::strtol(line.c_str() + 6, nullptr, 10);
    }
  }
  return -1;
}

// Starts a new peak-RSS window (clear_refs 5), so the figure is this test's, not the binary's.
void resetPeakRss() { std::ofstream("/proc/self/clear_refs") << "5"; }

TEST(DicomCheck, ValidFilePassesAndDecodes) {
  TempDir dir;
  writeBytes(dir / "a.dcm", validDicom(dir));
  EXPECT_NO_THROW(checkDicomStructure(dir / "a.dcm"));
  const Image8 img = decodeImageFile(dir / "a.dcm", 1, 0);
  EXPECT_EQ(img.width, 8);
  EXPECT_EQ(img.pixels.size(), 64u);
}

// The fuzz finding: (0002,0010)'s VR "UI" changed to "UH" hit assert(0) in GDCM's
// FileMetaInformation (SIGABRT, the whole training run). In a child process, so that the
// old code fails this test instead of killing the test binary.
void decodeUnknownMetaVr(const std::string& dcm, const std::string& bare, const std::string& rowsSs) {
  const std::string reason = decodeError(dcm);
  const bool probed = isDicomFile(bare);  // extension-less and no preamble: GDCM is asked
  std::fprintf(stderr, "[%s] probed %d [%s]\n", reason.c_str(), probed ? 1 : 0, decodeError(rowsSs).c_str());
  std::exit(0);
}

TEST(DicomCheck, UnknownVrInTheFileMetaHeaderIsRefusedNotAborted) {
  TempDir dir;
  std::string bytes = validDicom(dir);
  patchAfter(bytes, std::string("\x02\x00\x10\x00", 4), "UH");
  writeBytes(dir / "uh.dcm", bytes);
  writeBytes(dir / "uh-bare", bytes.substr(132));
  // A standard VR where GDCM's gdcm::Attribute<> insists on the dictionary's (the fuzzer's
  // third abort, on Planar Configuration): Rows written as SS.
  std::string rows = validDicom(dir);
  patchAfter(rows, std::string("\x28\x00\x10\x00", 4), "SS");
  writeBytes(dir / "rows-ss.dcm", rows);
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  EXPECT_EXIT(decodeUnknownMetaVr(dir / "uh.dcm", dir / "uh-bare", dir / "rows-ss.dcm"), ::testing::ExitedWithCode(0),
              "\\[not a valid DICOM: unknown VR 'UH' in the file meta header \\(element \\(0002,0010\\)\\)\\] "
              "probed 0 \\[not a valid DICOM: element \\(0028,0010\\) has VR 'SS', expected US\\]");
}

TEST(DicomCheck, UnknownVrInTheDatasetIsRefused) {
  TempDir dir;
  std::string bytes = validDicom(dir);
  patchAfter(bytes, std::string("\x28\x00\x10\x00", 4), "\x01Z");  // Rows (0028,0010), VR US
  writeBytes(dir / "a.dcm", bytes);
  EXPECT_EQ(decodeError(dir / "a.dcm"), "not a valid DICOM: unknown VR '\\x01Z' in element (0028,0010)");
}

// A 1 KB file whose pixel data declares 1.3 GB: GDCM allocated (and zeroed) all of it
// before finding the bytes missing.
TEST(DicomCheck, LengthPastTheEndOfTheFileIsRefusedWithoutAllocatingIt) {
  TempDir dir;
  std::string bytes = validDicom(dir);
  ASSERT_LT(bytes.size(), 1100u);  // about 1 KB
  std::string big = bytes;
  patchAfter(big, std::string("\xE0\x7F\x10\x00OB\0\0", 8), le32(1342177280));
  writeBytes(dir / "big-pixels.dcm", big);
  std::string meta = bytes;  // (0002,0001) File Meta Information Version, OB
  patchAfter(meta, std::string("\x02\x00\x01\x00OB\0\0", 8), le32(1342177280));
  writeBytes(dir / "big-meta.dcm", meta);

  resetPeakRss();
  const long before = peakRssKib();
  EXPECT_EQ(decodeError(dir / "big-pixels.dcm"),
            "not a valid DICOM: element (7FE0,0010) declares 1342177280 bytes but the file has 64 left");
  const std::string metaReason = decodeError(dir / "big-meta.dcm");
  EXPECT_EQ(metaReason.rfind("not a valid DICOM: element (0002,0001) declares 1342177280 bytes but the file has ", 0),
            0u)
      << metaReason;
  const long after = peakRssKib();
  ASSERT_GT(before, 0);
  EXPECT_LT(after - before, 256 * 1024) << "peak RSS grew by " << (after - before) / 1024 << " MiB";
}

// Cut anywhere: a DecodeError every time (most by the check, the rest by GDCM), no crash.
// The fuzzer's second abort: cut 6 bytes into an element header, GDCM asserted on the VR "d\0".
TEST(DicomCheck, TruncatedAnywhereIsADecodeError) {
  TempDir dir;
  const std::string bytes = validDicom(dir);
  for (size_t keep = 0; keep < bytes.size(); ++keep) {
    writeBytes(dir / "cut.dcm", bytes.substr(0, keep));
    const std::string reason = decodeError(dir / "cut.dcm");
    EXPECT_FALSE(reason.empty()) << "cut to " << keep;
    EXPECT_EQ(reason.find("NOT A DecodeError"), std::string::npos) << reason;
  }
  writeBytes(dir / "cut.dcm", bytes.substr(0, 300));  // in the dataset, before the pixel data
  EXPECT_EQ(decodeError(dir / "cut.dcm").rfind("not a valid DICOM: element (", 0), 0u) << decodeError(dir / "cut.dcm");
  // The fuzzer's fourth abort: the file ends with the meta header (GDCM asserts reading the next tag).
  const size_t dataset = bytes.find(std::string("\x08\x00\x16\x00UI", 6));  // SOP Class UID, the first
  ASSERT_NE(dataset, std::string::npos);
  writeBytes(dir / "cut.dcm", bytes.substr(0, dataset));
  EXPECT_EQ(decodeError(dir / "cut.dcm"), "not a valid DICOM: no dataset after the file meta header");
  writeBytes(dir / "junk.dcm", std::string(400, 'x'));
  EXPECT_EQ(decodeError(dir / "junk.dcm"),
            "not a valid DICOM: no \"DICM\" marker at byte 128 and no DICOM element at the start");
}

// A sequence and an item of undefined length (as many modalities write them) are legal:
// the check walks into them and the file still decodes. A lie inside one is still caught.
TEST(DicomCheck, UndefinedLengthSequencesStillDecode) {
  TempDir dir;
  validDicom(dir);
  {
    gdcm::Reader reader;
    reader.SetFileName((dir / "valid.dcm").c_str());
    ASSERT_TRUE(reader.Read());
    gdcm::DataElement uid(gdcm::Tag(0x0008, 0x1155));  // Referenced SOP Instance UID
    uid.SetVR(gdcm::VR::UI);
    uid.SetByteValue("1.2.3.4", 8);  // with its padding NUL: even length
    gdcm::Item item;
    item.SetVLToUndefined();
    item.GetNestedDataSet().Insert(uid);
    gdcm::SmartPointer<gdcm::SequenceOfItems> sq = new gdcm::SequenceOfItems;
    sq->SetLengthToUndefined();
    sq->AddItem(item);
    gdcm::DataElement seq(gdcm::Tag(0x0008, 0x1140));  // Referenced Image Sequence
    seq.SetVR(gdcm::VR::SQ);
    seq.SetValue(*sq);
    seq.SetVLToUndefined();
    reader.GetFile().GetDataSet().Insert(seq);
    gdcm::Writer writer;
    writer.SetFile(reader.GetFile());
    writer.SetFileName((dir / "seq.dcm").c_str());
    ASSERT_TRUE(writer.Write());
  }
  std::string bytes = readBytes(dir / "seq.dcm");
  const std::string undefinedSq("\x08\x00\x40\x11SQ\0\0\xFF\xFF\xFF\xFF\xFE\xFF\x00\xE0\xFF\xFF\xFF\xFF", 20);
  ASSERT_NE(bytes.find(undefinedSq), std::string::npos) << "GDCM wrote the sequence with a defined length";
  EXPECT_NO_THROW(checkDicomStructure(dir / "seq.dcm"));
  const Image8 img = decodeImageFile(dir / "seq.dcm", 1, 0);
  EXPECT_EQ(img.width, 8);
  EXPECT_EQ(img.pixels, decodeImageFile(dir / "valid.dcm", 1, 0).pixels);

  // The UID inside the item now claims 60000 bytes (UI: 16-bit length).
  patchAfter(bytes, std::string("\x08\x00\x55\x11UI", 6), std::string("\x60\xEA", 2));
  writeBytes(dir / "seq-lie.dcm", bytes);
  EXPECT_EQ(decodeError(dir / "seq-lie.dcm").rfind("not a valid DICOM: element (0008,1155) declares 60000 bytes", 0),
            0u)
      << decodeError(dir / "seq-lie.dcm");
}

#endif  // AMPBENCH_HAVE_OPENCV

}  // namespace
}  // namespace ampbench
