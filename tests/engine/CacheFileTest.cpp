// The memory-mapped cache file (format 2), the conversion of format-1 files, and datasets
// over --cache-memory-mb read from a file through a bounded LRU: the same images, labels,
// statistics and batches as in memory; a hostile or cut file is an InputError, never a crash.
#include "TestUtil.h"
#include "engine/data/CacheFile.h"
#include "engine/data/ImageCache.h"
#include "engine/data/ImageStore.h"
#include "engine/data/Loader.h"
#include "engine/util/Errors.h"
#include "engine/util/Files.h"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>
#include <torch/torch.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <limits>

using namespace ampbench;
using ampbench::test::TempDir;
namespace fs = std::filesystem;

namespace {

std::string slurp(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

void spit(const std::string& path, const std::string& bytes) {
  std::ofstream(path, std::ios::binary).write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
}

PreparedData smallData(int64_t n = 5, int64_t size = 6, int64_t channels = 3) {
  PreparedData d;
  d.summary.source = "/data";
  d.summary.kind = "folder";
  d.summary.classes = {"NORMAL", "PNEUMONIA"};
  d.summary.imageSize = size;
  d.summary.channels = channels;
  d.summary.skipped = {{"/data/bad.png", "not an image"}};
  for (const char* name : {"train", "val"}) {
    SplitTensors s;
    s.images = torch::randint(0, 256, {n, channels, size, size}, torch::TensorOptions().dtype(torch::kUInt8));
    s.labels = torch::randint(0, 2, {n}, torch::TensorOptions().dtype(torch::kLong));
    for (int64_t i = 0; i < n; ++i) {
      s.ids.push_back(std::string(name) + "/" + std::to_string(i) + ".png");
    }
    d.splits[name] = s;
  }
  return d;
}

std::string cacheError(const std::string& path, int64_t capMb = 0) {
  PreparedData out;
  try {
    loadCache(path, "", out, capMb);
  } catch (const InputError& e) {
    return e.what();
  }
  return "loaded";
}

// The metadata JSON of a format-2 file, and the file rewritten with other metadata.
nlohmann::json metaOf(const std::string& bytes) {
  uint64_t length = 0;
  std::memcpy(&length, bytes.data() + bytes.size() - 16, 8);
  return nlohmann::json::parse(bytes.substr(bytes.size() - 16 - length, length));
}

std::string withMeta(const std::string& bytes, const nlohmann::json& meta) {
  uint64_t length = 0;
  std::memcpy(&length, bytes.data() + bytes.size() - 16, 8);
  const std::string text = meta.dump();
  std::string out = bytes.substr(0, bytes.size() - 16 - length) + text;
  const uint64_t n = text.size();
  out.append(reinterpret_cast<const char*>(&n), 8);
  out.append("AMPBCEND", 8);
  return out;
}

// A format-1 file as AmpBench wrote it until format 2 (a LibTorch archive).
void saveFormat1(const std::string& path, const PreparedData& d, const std::string& key) {
  torch::serialize::OutputArchive ar;
  nlohmann::json meta;
  meta["format"] = "ampbench-cache-1";
  meta["key"] = key;
  meta["source"] = d.summary.source;
  meta["kind"] = d.summary.kind;
  meta["classes"] = d.summary.classes;
  meta["image_size"] = d.summary.imageSize;
  meta["channels"] = d.summary.channels;
  meta["skipped"] = nlohmann::json::array();
  for (const auto& [name, s] : d.splits) {
    ar.write(name + "_images", s.images);
    ar.write(name + "_labels", s.labels);
    meta["ids"][name] = s.ids;
  }
  const auto text = meta.dump();
  ar.write("meta", torch::from_blob(const_cast<char*>(text.data()), {static_cast<int64_t>(text.size())},
                                    torch::kUInt8).clone());
  ar.save_to(path);
}

void expectSameData(const PreparedData& a, const PreparedData& b) {
  ASSERT_EQ(a.splits.size(), b.splits.size());
  EXPECT_EQ(a.summary.classes, b.summary.classes);
  for (const auto& [name, s] : a.splits) {
    const auto& t = b.splits.at(name);
    ASSERT_EQ(s.size(), t.size()) << name;
    EXPECT_EQ(s.ids, t.ids) << name;
    EXPECT_TRUE(torch::equal(s.labels, t.labels)) << name;
    EXPECT_TRUE(torch::equal(s.range(0, s.size()), t.range(0, t.size()))) << name;
  }
}

}  // namespace

TEST(CacheFormat2, RoundTripsMappedWithTheSummary) {
  TempDir dir;
  const auto d = smallData();
  saveCache(dir / "c.cache", d, "key");
  ASSERT_TRUE(isCacheFormat2(dir / "c.cache"));
  PreparedData out;
  ASSERT_TRUE(loadCache(dir / "c.cache", "key", out));
  expectSameData(d, out);
  EXPECT_EQ(out.summary.skipped.size(), 1u);
  EXPECT_EQ(out.summary.imageSize, 6);
  // Mapped, not read: the images are a view of the file (read-only pages), not a copy.
  const auto& images = out.splits.at("train").images;
  EXPECT_FALSE(out.splits.at("train").store);
  EXPECT_TRUE(images.is_contiguous());
  EXPECT_FALSE(loadCache(dir / "c.cache", "other", out));
  // Image blocks start on 4096-byte boundaries.
  const auto meta = metaOf(slurp(dir / "c.cache"));
  for (const auto& [name, s] : meta.at("splits").items()) {
    EXPECT_EQ(s.at("images_offset").get<uint64_t>() % 4096, 0u) << name;
  }
}

TEST(CacheFormat2, TheMappingOutlivesTheLoadedData) {
  TempDir dir;
  saveCache(dir / "c.cache", smallData(), "key");
  torch::Tensor kept;
  torch::Tensor copy;
  {
    PreparedData out;
    ASSERT_TRUE(loadCache(dir / "c.cache", "key", out));
    kept = out.splits.at("val").images.slice(0, 1, 3);
    copy = kept.clone();
  }
  fs::remove(dir / "c.cache");  // the mapping keeps the file's pages
  EXPECT_TRUE(torch::equal(kept, copy));
}

TEST(CacheFormat2, CutFilesAreInputErrorsAtEveryLength) {
  TempDir dir;
  saveCache(dir / "c.cache", smallData(9, 20, 3), "key");
  const std::string bytes = slurp(dir / "c.cache");
  ASSERT_GT(bytes.size(), 8192u);
  // Every length that ends inside the header, a block, the metadata or the trailer.
  for (size_t cut : {size_t{0}, size_t{10}, size_t{16}, size_t{4096}, size_t{5000}, bytes.size() / 2,
                     bytes.size() - 200, bytes.size() - 17, bytes.size() - 9, bytes.size() - 1}) {
    spit(dir / "cut.cache", bytes.substr(0, cut));
    const auto why = cacheError(dir / "cut.cache");
    EXPECT_NE(why.find("delete it to rebuild"), std::string::npos) << cut << ": " << why;
  }
  // The blocks cut out but the metadata and trailer intact: the declared blocks no longer fit.
  const auto meta = metaOf(bytes);
  const std::string text = meta.dump();
  std::string shortened = bytes.substr(0, 4096) + text;
  const uint64_t n = text.size();
  shortened.append(reinterpret_cast<const char*>(&n), 8);
  shortened.append("AMPBCEND", 8);
  spit(dir / "short.cache", shortened);
  for (int64_t cap : {0, 1}) {
    const auto why = cacheError(dir / "short.cache", cap);
    EXPECT_NE(why.find("do not fit"), std::string::npos) << why;
    EXPECT_NE(why.find("delete it to rebuild"), std::string::npos) << why;
  }
}

TEST(CacheFormat2, LyingHeaderSizesAreInputErrors) {
  TempDir dir;
  saveCache(dir / "c.cache", smallData(4, 8, 1), "key");
  const std::string bytes = slurp(dir / "c.cache");
  const auto meta = metaOf(bytes);
  int variant = 0;
  auto check = [&](const nlohmann::json& m, const std::string& expect) {
    const std::string path = dir / ("lie" + std::to_string(variant++) + ".cache");
    spit(path, withMeta(bytes, m));
    for (int64_t cap : {0, 1}) {
      const auto why = cacheError(path, cap);
      EXPECT_NE(why.find("delete it to rebuild"), std::string::npos) << m.dump() << ": " << why;
      EXPECT_NE(why.find(expect), std::string::npos) << m.dump() << ": " << why;
    }
  };
  auto lie = [&](const std::string& pointer, const nlohmann::json& value, const std::string& expect) {
    auto m = meta;
    m[nlohmann::json::json_pointer(pointer)] = value;
    check(m, expect);
  };
  lie("/splits/train/count", 5, "different numbers");
  lie("/splits/train/count", int64_t{1} << 40, "different numbers");
  auto both = [&](int64_t count, const std::string& expect) {
    auto m = meta;
    m["splits"]["train"]["count"] = count;
    m["splits"]["train"]["labels_count"] = count;
    check(m, expect);
  };
  both(1000, "do not fit");                   // more images than the file holds
  both(int64_t{1} << 62, "do not fit");       // count x image bytes overflows 64 bits
  both(-3, "different numbers");
  lie("/splits/train/images_offset", bytes.size() - 10, "do not fit");
  lie("/splits/train/images_offset", std::numeric_limits<uint64_t>::max() - 5, "outside the file");
  lie("/splits/train/images_offset", (int64_t{1} << 62) + 5, "do not fit");
  lie("/splits/train/count", 2.5, "not an integer");
  lie("/splits/train/labels_offset", bytes.size(), "do not fit");
  lie("/splits/train/images_offset", 3, "do not fit");  // inside the magic
  lie("/splits/train/images_offset", "x", "not an integer");
  lie("/image_size", 65536, "do not fit");
  lie("/image_size", 0, "image size 0");
  lie("/channels", 2, "2 channels");
  lie("/format", "ampbench-cache-1", "format");
  lie("/ids/train", nlohmann::json::array({"a"}), "different numbers");
  lie("/classes", nlohmann::json::array(), "no classes");
  {
    auto m = meta;
    m.erase("splits");
    check(m, "damaged");
  }
  // Labels outside the classes are refused before anything counts them.
  auto badLabels = smallData(4, 8, 1);
  badLabels.splits.at("train").labels = torch::tensor(std::vector<int64_t>{0, 1, int64_t{1} << 40, 1});
  saveCache(dir / "labels.cache", badLabels, "key");
  EXPECT_NE(cacheError(dir / "labels.cache").find("labels outside its 2 classes"), std::string::npos);
  // A trailer claiming more metadata than the file holds.
  std::string longer = bytes;
  const uint64_t huge = bytes.size() * 2;
  std::memcpy(longer.data() + longer.size() - 16, &huge, 8);
  spit(dir / "trailer.cache", longer);
  EXPECT_NE(cacheError(dir / "trailer.cache").find("does not fit"), std::string::npos);
}

TEST(CacheFormat1, StillLoadsAndIsConvertedToFormat2) {
  TempDir dir;
  const auto d = smallData();
  saveFormat1(dir / "old.cache", d, "key");
  ASSERT_FALSE(isCacheFormat2(dir / "old.cache"));
  PreparedData out;
  ASSERT_TRUE(loadCache(dir / "old.cache", "key", out));
  expectSameData(d, out);
  EXPECT_TRUE(isCacheFormat2(dir / "old.cache"));
  PreparedData again;
  ASSERT_TRUE(loadCache(dir / "old.cache", "key", again));
  expectSameData(d, again);
  EXPECT_TRUE(again.splits.at("train").images.defined());
  // Loaded with a cap below its size: converted, then read from the file.
  saveFormat1(dir / "capped.cache", smallData(400, 32, 3), "key");  // 2.4 MiB of images
  PreparedData capped;
  ASSERT_TRUE(loadCache(dir / "capped.cache", "key", capped, 1));
  EXPECT_TRUE(isCacheFormat2(dir / "capped.cache"));
  EXPECT_TRUE(capped.splits.at("train").store);
  EXPECT_FALSE(capped.splits.at("train").images.defined());
}

TEST(CacheFormat1, AFileThatCannotBeRewrittenLoadsAsBefore) {
  TempDir dir;
  const auto d = smallData();
  saveFormat1(dir / "old.cache", d, "key");
  const auto before = slurp(dir / "old.cache");
  failWritesAfterBytesForTests(0);  // a full disk
  PreparedData out;
  const bool loaded = loadCache(dir / "old.cache", "key", out);
  failWritesAfterBytesForTests(-1);
  ASSERT_TRUE(loaded);
  expectSameData(d, out);
  EXPECT_EQ(slurp(dir / "old.cache"), before);
  for (const auto& e : fs::directory_iterator(dir.path())) {
    EXPECT_EQ(e.path().filename(), "old.cache");  // no temporary left behind
  }
}

TEST(ImageLru, KeepsTheMostRecentImagesWithinItsCapacity) {
  ImageLru lru(3 * 4 + 3, 4);  // three 4-byte slots
  ASSERT_EQ(lru.capacity(), 3);
  const uint8_t a[4] = {1, 1, 1, 1}, b[4] = {2, 2, 2, 2}, c[4] = {3, 3, 3, 3}, e[4] = {4, 4, 4, 4};
  uint8_t out[4] = {};
  lru.put(1, a);
  lru.put(2, b);
  lru.put(3, c);
  ASSERT_TRUE(lru.get(1, out));  // 1 is now the most recent; 2 the least
  EXPECT_EQ(out[0], 1);
  lru.put(4, e);
  EXPECT_FALSE(lru.get(2, out));
  EXPECT_TRUE(lru.get(3, out));
  EXPECT_EQ(out[0], 3);
  EXPECT_TRUE(lru.get(4, out));
  EXPECT_EQ(out[0], 4);
  EXPECT_TRUE(lru.get(1, out));
  ImageLru none(3, 4);  // smaller than one image: nothing is kept
  none.put(1, a);
  EXPECT_FALSE(none.get(1, out));
}

TEST(CappedData, SyntheticOverTheCapIsReadFromAFileWithTheSameImagesAndBatches) {
  TempDir dir;
  RunConfig c;
  c.dataPath = "synthetic:320";
  c.imageSize = 32;
  c.channels = 3;  // 3 KiB per image: 320 + 40 images are 1.05 MiB, over a 1 MiB cap
  c.outDir = dir.path();
  const auto inMemory = prepareData(c, {}, CancelToken{});
  c.cacheMemoryMb = 1;
  const auto capped = prepareData(c, {}, CancelToken{});
  ASSERT_TRUE(capped.splits.at("train").store);
  EXPECT_FALSE(capped.splits.at("train").images.defined());
  expectSameData(inMemory, capped);
  EXPECT_EQ(capped.summary.mean, inMemory.summary.mean);
  EXPECT_TRUE(fs::is_empty(dir.path()));  // the temporary file has no name

  LoaderOptions o;
  o.batchSize = 32;
  o.augment = true;
  o.seed = 5;
  o.mean = {0.5, 0.5, 0.5};
  o.std = {0.29, 0.29, 0.29};
  for (int epoch = 1; epoch <= 3; ++epoch) {  // later epochs hit the LRU
    o.epoch = epoch;
    BatchLoader a(inMemory.splits.at("train"), o, true), b(capped.splits.at("train"), o, true);
    Batch x, y;
    int batches = 0;
    while (a.next(x)) {
      ASSERT_TRUE(b.next(y));
      EXPECT_TRUE(torch::equal(x.images, y.images)) << "epoch " << epoch << " batch " << batches;
      EXPECT_TRUE(torch::equal(x.labels, y.labels));
      ++batches;
    }
    EXPECT_FALSE(b.next(y));
    EXPECT_EQ(batches, 10);
  }
  const auto& lru = capped.splits.at("train").store->lru();
  ASSERT_TRUE(lru);
  EXPECT_EQ(lru->capacity(), (1 << 20) / (3 * 32 * 32));
  EXPECT_GT(lru->hits(), 0);
  // A shard touches only its own images.
  o.shardCount = 2;
  o.shardRank = 1;
  o.epoch = 1;
  const auto before = lru->hits() + lru->misses();
  BatchLoader shard(capped.splits.at("train"), o, true);
  Batch z;
  int64_t images = 0;
  while (shard.next(z)) {
    images += z.labels.size(0);
  }
  EXPECT_EQ(lru->hits() + lru->misses() - before, images);
  EXPECT_EQ(images, 320 / 64 * 32);
}

TEST(CappedData, UnderTheCapStaysInMemory) {
  RunConfig c;
  c.dataPath = "synthetic:40";
  c.imageSize = 16;
  c.cacheMemoryMb = 1;
  const auto d = prepareData(c, {}, CancelToken{});
  EXPECT_FALSE(d.splits.at("train").store);
  EXPECT_TRUE(d.splits.at("train").images.defined());
}

#ifdef AMPBENCH_HAVE_OPENCV
TEST(CappedData, FolderDecodeStreamsIntoTheCacheWithTheSameDataAndStatistics) {
  TempDir dir;
  test::makeBlobDataset(dir / "data", 60, 20, 2, false);  // 120 images, 12 KiB each at 64 px RGB
  std::ofstream(dir / "data/NORMAL/broken.png", std::ios::binary) << "this is not a png";
  RunConfig c;
  c.dataPath = dir / "data";
  c.imageSize = 64;
  c.channels = 3;
  c.outDir = dir / "run";
  fs::create_directories(c.outDir);
  const auto inMemory = prepareData(c, {}, CancelToken{});
  c.cacheMemoryMb = 1;
  const auto temporary = prepareData(c, {}, CancelToken{});
  ASSERT_TRUE(temporary.splits.at("train").store);
  expectSameData(inMemory, temporary);
  EXPECT_EQ(temporary.summary.mean, inMemory.summary.mean);
  EXPECT_EQ(temporary.summary.std, inMemory.summary.std);
  ASSERT_EQ(temporary.summary.skipped.size(), 1u);
  EXPECT_NE(temporary.summary.skipped[0].path.find("broken.png"), std::string::npos);
  EXPECT_TRUE(fs::is_empty(c.outDir));

  // With --cache: the decode streams into the cache file, which a later run maps or reads.
  c.cachePath = dir / "c.cache";
  const auto cached = prepareData(c, {}, CancelToken{});
  ASSERT_TRUE(isCacheFormat2(c.cachePath));
  expectSameData(inMemory, cached);
  fs::remove_all(dir / "data");
  c.cacheMemoryMb = 0;
  const auto mapped = prepareData(c, {}, CancelToken{});
  EXPECT_FALSE(mapped.splits.at("train").store);
  expectSameData(inMemory, mapped);
  EXPECT_EQ(mapped.summary.mean, inMemory.summary.mean);
  EXPECT_EQ(mapped.summary.skipped.size(), 1u);
}
#endif

TEST(CappedData, TheCapIsARunSettingThatResumeMayChange) {
  RunConfig c;
  c.dataPath = "synthetic:40";
  c.cacheMemoryMb = 512;
  const auto back = configFromJson(configToJson(c));
  EXPECT_EQ(back.cacheMemoryMb, 512);
  EXPECT_NO_THROW(validateConfig(c));
  RunConfig other = c;
  other.cacheMemoryMb = 0;
  EXPECT_TRUE(resumeConflicts(c, other).empty());  // memory, not results: free to change
  for (int64_t bad : {int64_t{-1}, (int64_t{1} << 24) + 1, int64_t{1} << 50}) {
    c.cacheMemoryMb = bad;
    EXPECT_THROW(validateConfig(c), InputError) << bad;
  }
}
