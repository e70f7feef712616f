// Torch archives (checkpoints, model.pt, TorchScript, torch.save, the image cache) are
// checked before LibTorch's deserialiser sees them; hostile archives are refused with a
// one-line InputError. The cache's records are checked before training indexes with them.
#include "TestUtil.h"
#include "engine/data/ImageCache.h"
#include "engine/models/Registry.h"
#include "engine/train/Checkpoint.h"
#include "engine/util/ArchiveCheck.h"
#include "engine/util/Errors.h"

#include <gtest/gtest.h>
#include <torch/torch.h>

#include <fstream>
#include <iterator>

using namespace ampbench;
using ampbench::test::TempDir;

namespace {

std::string slurp(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

void spit(const std::string& path, const std::string& bytes) {
  std::ofstream(path, std::ios::binary).write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
}

std::string writeArchive(const std::string& path) {
  torch::serialize::OutputArchive ar;
  ar.write("weight", torch::arange(64, torch::kFloat));
  ar.write("bias", torch::zeros({4}));
  ar.save_to(path);
  return slurp(path);
}

void expectRefused(const std::string& path, const std::string& reason) {
  try {
    checkTorchArchive(path, "checkpoint");
    FAIL() << "accepted " << path;
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find(reason), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find(path), std::string::npos) << e.what();
  }
}

// Little-endian 32-bit field of the first central directory header (PK\1\2) at `offset`.
void patchCentral(std::string& zip, size_t offset, uint32_t value) {
  const size_t cd = zip.find(std::string("PK\x01\x02", 4));
  ASSERT_NE(cd, std::string::npos);
  for (int k = 0; k < 4; ++k) zip[cd + offset + k] = static_cast<char>(value >> (8 * k));
}

}  // namespace

TEST(ArchiveCheck, AcceptsWhatLibTorchWrites) {
  TempDir dir;
  const std::string bytes = writeArchive(dir / "ok.pt");
  EXPECT_NO_THROW(checkTorchArchive(dir / "ok.pt", "checkpoint"));
  EXPECT_NO_THROW(checkTorchArchiveBytes(bytes.data(), bytes.size(), "ok.pt", "checkpoint"));
}

TEST(ArchiveCheck, RefusesEmptyFilesAndNonZips) {
  TempDir dir;
  spit(dir / "empty.pt", "");
  expectRefused(dir / "empty.pt", "empty file");
  spit(dir / "text.pt", "this is a pickle from 2017, not a zip archive\n");
  expectRefused(dir / "text.pt", "not a zip archive");
}

TEST(ArchiveCheck, RefusesATruncatedArchive) {
  TempDir dir;
  const std::string bytes = writeArchive(dir / "ok.pt");
  for (const size_t keep : {bytes.size() / 2, bytes.size() - 10, size_t{30}}) {
    spit(dir / "cut.pt", bytes.substr(0, keep));
    expectRefused(dir / "cut.pt", "zip");
  }
}

TEST(ArchiveCheck, RefusesEntrySizesThatLie) {
  TempDir dir;
  const std::string bytes = writeArchive(dir / "ok.pt");
  // Central directory: compressed size at 20, uncompressed at 24.
  std::string huge = bytes;
  patchCentral(huge, 20, 0x7fff0000u);
  patchCentral(huge, 24, 0x7fff0000u);
  spit(dir / "huge.pt", huge);
  expectRefused(dir / "huge.pt", "zip");
  std::string shorter = bytes;
  patchCentral(shorter, 24, 3);
  spit(dir / "short.pt", shorter);
  expectRefused(dir / "short.pt", "zip");
}

TEST(ArchiveCheck, RefusesCorruptEntryData) {
  TempDir dir;
  std::string bytes = writeArchive(dir / "ok.pt");
  const size_t at = bytes.find(std::string("\x00\x00\x80\x3f\x00\x00\x00\x40", 8));  // 1.0f, 2.0f
  ASSERT_NE(at, std::string::npos);
  bytes[at + 3] = 0x40;  // 1.0f becomes 2.0f: the entry no longer matches its CRC
  spit(dir / "flipped.pt", bytes);
  expectRefused(dir / "flipped.pt", "zip entry");
}

TEST(ArchiveCheck, LoadersRefuseHostileFilesWithInputError) {
  TempDir dir;
  const std::string bytes = writeArchive(dir / "ok.pt");
  spit(dir / "cut.pt", bytes.substr(0, bytes.size() / 2));
  auto model = createModel(ModelSpec{});
  EXPECT_THROW(loadCheckpoint(dir / "cut.pt", *model, nullptr, nullptr), InputError);
  EXPECT_THROW(loadPretrained(dir / "cut.pt", *model), InputError);
  PreparedData d;
  EXPECT_THROW(loadCache(dir / "cut.pt", "", d), InputError);
}

namespace {

PreparedData tinyCache(torch::Tensor labels, int64_t images = 3) {
  PreparedData d;
  d.summary.source = "/data";
  d.summary.kind = "folder";
  d.summary.classes = {"NORMAL", "PNEUMONIA"};
  d.summary.imageSize = 4;
  d.summary.channels = 1;
  SplitTensors s;
  s.images = torch::zeros({images, 1, 4, 4}, torch::kUInt8);
  s.labels = std::move(labels);
  s.ids = {"a", "b", "c"};
  d.splits["train"] = s;
  return d;
}

std::string cacheError(const std::string& path) {
  PreparedData out;
  try {
    loadCache(path, "", out);
  } catch (const InputError& e) {
    return e.what();
  }
  return "loaded";
}

}  // namespace

TEST(CacheFile, RoundTripsAndRefusesInconsistentRecords) {
  TempDir dir;
  saveCache(dir / "ok.cache", tinyCache(torch::tensor({0, 1, 1}, torch::kLong)), "key");
  PreparedData out;
  ASSERT_TRUE(loadCache(dir / "ok.cache", "key", out));
  EXPECT_EQ(out.splits.at("train").size(), 3);
  EXPECT_FALSE(loadCache(dir / "ok.cache", "other", out));

  // A label of 2^40 made the class counts allocate 8 TB (torch::bincount) before the check.
  saveCache(dir / "label.cache", tinyCache(torch::tensor(std::vector<int64_t>{0, 1, int64_t{1} << 40})), "key");
  EXPECT_NE(cacheError(dir / "label.cache").find("labels outside its 2 classes"), std::string::npos);
  saveCache(dir / "neg.cache", tinyCache(torch::tensor({0, -1, 1}, torch::kLong)), "key");
  EXPECT_NE(cacheError(dir / "neg.cache").find("labels outside"), std::string::npos);
  saveCache(dir / "count.cache", tinyCache(torch::tensor({0, 1, 1}, torch::kLong), 5), "key");
  EXPECT_NE(cacheError(dir / "count.cache").find("different numbers"), std::string::npos);
}

TEST(CacheFile, MalformedMetadataIsAnInputError) {
  TempDir dir;
  for (const std::string meta : {std::string("{not json"), std::string("[1,2]"),
                                 std::string(R"({"format":"ampbench-cache-1","ids":{"train":["a"]}})"),
                                 std::string(R"({"format":"ampbench-cache-1","classes":"x","ids":{}})")}) {
    torch::serialize::OutputArchive ar;
    ar.write("meta", torch::from_blob(const_cast<char*>(meta.data()), {static_cast<int64_t>(meta.size())},
                                      torch::kUInt8).clone());
    ar.save_to(dir / "meta.cache");
    const std::string why = cacheError(dir / "meta.cache");
    EXPECT_NE(why, "loaded") << meta;
    EXPECT_NE(why.find("delete it to rebuild"), std::string::npos) << why;
  }
}
