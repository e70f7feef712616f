// Array datasets: MedMNIST-style .npz and MNIST-family IDX files. The tests write their
// own archives: zips by hand (stored and deflated entries, as numpy's savez and
// savez_compressed make them) and gzip IDX files through zlib.

#include "engine/data/ArrayFormats.h"

#include "engine/util/Errors.h"

#include "TestUtil.h"

#include <gtest/gtest.h>

#include <zlib.h>

#include <cstring>
#include <fstream>
#include <string>
#include <utility>
#include <vector>

namespace ampbench {
namespace {

using test::TempDir;

void writeBytes(const std::string& path, const std::string& bytes) {
  std::ofstream out(path, std::ios::binary);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
}

void put16(std::string& s, uint32_t v) {
  s += static_cast<char>(v & 0xFF);
  s += static_cast<char>((v >> 8) & 0xFF);
}

void put32(std::string& s, uint32_t v) {
  put16(s, v & 0xFFFF);
  put16(s, v >> 16);
}

std::string rawDeflate(const std::string& data) {
  z_stream zs{};
  EXPECT_EQ(deflateInit2(&zs, 6, Z_DEFLATED, -15, 8, Z_DEFAULT_STRATEGY), Z_OK);
  std::string out(deflateBound(&zs, static_cast<uLong>(data.size())), '\0');
  zs.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(data.data()));
  zs.avail_in = static_cast<uInt>(data.size());
  zs.next_out = reinterpret_cast<Bytef*>(out.data());
  zs.avail_out = static_cast<uInt>(out.size());
  EXPECT_EQ(deflate(&zs, Z_FINISH), Z_STREAM_END);
  out.resize(zs.total_out);
  deflateEnd(&zs);
  return out;
}

// A minimal zip archive (no zip64), entries stored or deflated.
std::string makeZip(const std::vector<std::pair<std::string, std::string>>& entries, bool deflated) {
  std::string zip;
  std::string central;
  for (const auto& entry : entries) {
    // Named references, not structured bindings: C++17 lambdas cannot capture those (clang).
    const std::string& name = entry.first;
    const std::string& data = entry.second;
    const uint32_t crc = static_cast<uint32_t>(
        crc32(0, reinterpret_cast<const Bytef*>(data.data()), static_cast<uInt>(data.size())));
    const std::string body = deflated ? rawDeflate(data) : data;
    const uint32_t offset = static_cast<uint32_t>(zip.size());
    const auto header = [&](std::string& s, bool isCentral) {
      put32(s, isCentral ? 0x02014b50 : 0x04034b50);
      if (isCentral) {
        put16(s, 20);  // version made by
      }
      put16(s, 20);  // version needed
      put16(s, 0);   // flags
      put16(s, deflated ? 8 : 0);
      put16(s, 0);  // time
      put16(s, 0x21);  // date: 1980-01-01
      put32(s, crc);
      put32(s, static_cast<uint32_t>(body.size()));
      put32(s, static_cast<uint32_t>(data.size()));
      put16(s, static_cast<uint32_t>(name.size()));
      put16(s, 0);  // extra length
      if (isCentral) {
        put16(s, 0);  // comment length
        put16(s, 0);  // disk
        put16(s, 0);  // internal attributes
        put32(s, 0);  // external attributes
        put32(s, offset);
      }
      s += name;
    };
    header(zip, false);
    zip += body;
    header(central, true);
  }
  const uint32_t centralOffset = static_cast<uint32_t>(zip.size());
  zip += central;
  put32(zip, 0x06054b50);
  put16(zip, 0);
  put16(zip, 0);
  put16(zip, static_cast<uint32_t>(entries.size()));
  put16(zip, static_cast<uint32_t>(entries.size()));
  put32(zip, static_cast<uint32_t>(central.size()));
  put32(zip, centralOffset);
  put16(zip, 0);
  return zip;
}

std::string npyU8(const std::vector<int64_t>& shape, const std::vector<uint8_t>& data) {
  std::string s;
  writeNpy(s, shape, data);
  return s;
}

// A .npy of another dtype, header written the way numpy 1.x does (version 1.0).
std::string npyRaw(const std::string& descr, const std::string& shape, const std::string& data) {
  std::string dict = "{'descr': '" + descr + "', 'fortran_order': False, 'shape': " + shape + ", }";
  while ((10 + dict.size() + 1) % 64 != 0) {
    dict += ' ';
  }
  dict += '\n';
  std::string s("\x93NUMPY\x01\x00", 8);
  put16(s, static_cast<uint32_t>(dict.size()));
  return s + dict + data;
}

std::string int64le(const std::vector<int64_t>& v) {
  std::string s;
  for (int64_t x : v) {
    put32(s, static_cast<uint32_t>(static_cast<uint64_t>(x) & 0xFFFFFFFF));
    put32(s, static_cast<uint32_t>(static_cast<uint64_t>(x) >> 32));
  }
  return s;
}

std::string int32be(const std::vector<int32_t>& v) {
  std::string s;
  for (int32_t x : v) {
    const auto u = static_cast<uint32_t>(x);
    s += static_cast<char>(u >> 24);
    s += static_cast<char>((u >> 16) & 0xFF);
    s += static_cast<char>((u >> 8) & 0xFF);
    s += static_cast<char>(u & 0xFF);
  }
  return s;
}

std::vector<uint8_t> iota8(size_t n, int start = 0) {
  std::vector<uint8_t> v(n);
  for (size_t i = 0; i < n; ++i) {
    v[i] = static_cast<uint8_t>((start + static_cast<int>(i)) & 0xFF);
  }
  return v;
}

// Builds without libzip say so for any .npz; those skip the npz tests.
bool npzSupported() {
  try {
    readNpz("/nonexistent/ampbench-probe.npz");
  } catch (const InputError& e) {
    return std::string(e.what()).find("needs libzip") == std::string::npos;
  }
  return true;
}

std::string npzError(const std::string& path) {
  try {
    readNpz(path);
  } catch (const InputError& e) {
    return e.what();
  }
  return {};
}

// ---------------------------------------------------------------- writeNpy

TEST(Npy, WriteNpyMakesAlignedVersion1Header) {
  std::string s = "prefix";
  writeNpy(s, {2, 3}, iota8(6));
  ASSERT_GT(s.size(), 16u);
  const std::string npy = s.substr(6);
  EXPECT_EQ(npy.compare(0, 8, std::string("\x93NUMPY\x01\x00", 8)), 0);
  const size_t headerLen = static_cast<uint8_t>(npy[8]) | (static_cast<uint8_t>(npy[9]) << 8);
  EXPECT_EQ((10 + headerLen) % 64, 0u);
  const std::string dict = npy.substr(10, headerLen);
  EXPECT_NE(dict.find("'descr': '|u1'"), std::string::npos);
  EXPECT_NE(dict.find("'fortran_order': False"), std::string::npos);
  EXPECT_NE(dict.find("'shape': (2, 3)"), std::string::npos);
  EXPECT_EQ(dict.back(), '\n');
  EXPECT_EQ(npy.size(), 10 + headerLen + 6);
  EXPECT_EQ(npy.substr(10 + headerLen), std::string("\x00\x01\x02\x03\x04\x05", 6));

  std::string one;
  writeNpy(one, {4}, iota8(4));
  EXPECT_NE(one.find("'shape': (4,)"), std::string::npos);
  EXPECT_THROW(writeNpy(one, {2, 2}, iota8(3)), std::invalid_argument);
}

// ---------------------------------------------------------------- readNpz

TEST(Npz, ReadsSplitsShapesLabelsAndPixels) {
  if (!npzSupported()) {
    GTEST_SKIP() << "built without libzip";
  }
  TempDir dir;
  for (const bool deflated : {false, true}) {
    const std::vector<std::pair<std::string, std::string>> entries = {
        {"train_images.npy", npyU8({5, 4, 3}, iota8(60))},
        {"train_labels.npy", npyU8({5, 1}, {0, 1, 1, 0, 1})},  // MedMNIST: (N,1) uint8
        {"val_images.npy", npyU8({2, 2, 2, 3}, iota8(24, 100))},
        {"val_labels.npy", npyRaw("<i8", "(2,)", int64le({3, 7}))},
        {"test_labels.npy", npyRaw(">i4", "(3,)", int32be({1, 2, 0}))},
        {"test_images.npy", npyU8({3, 1, 1}, {9, 8, 7})},
        {"notes.npy", npyRaw("<f8", "(1,)", std::string(8, '\0'))},  // other keys are ignored
    };
    const std::string path = dir / (deflated ? "deflated.npz" : "stored.npz");
    writeBytes(path, makeZip(entries, deflated));
    const auto splits = readNpz(path);
    ASSERT_EQ(splits.size(), 3u);
    const ImageArray& train = splits.at("train");
    EXPECT_EQ(train.count, 5);
    EXPECT_EQ(train.height, 4);
    EXPECT_EQ(train.width, 3);
    EXPECT_EQ(train.channels, 1);
    EXPECT_EQ(train.pixels, iota8(60));
    EXPECT_EQ(train.labels, (std::vector<int64_t>{0, 1, 1, 0, 1}));
    const ImageArray& val = splits.at("val");
    EXPECT_EQ(val.count, 2);
    EXPECT_EQ(val.height, 2);
    EXPECT_EQ(val.width, 2);
    EXPECT_EQ(val.channels, 3);
    EXPECT_EQ(val.pixels, iota8(24, 100));
    EXPECT_EQ(val.labels, (std::vector<int64_t>{3, 7}));
    const ImageArray& testSplit = splits.at("test");
    EXPECT_EQ(testSplit.labels, (std::vector<int64_t>{1, 2, 0}));
    EXPECT_EQ(testSplit.pixels, (std::vector<uint8_t>{9, 8, 7}));
  }
}

TEST(Npz, BadArchivesThrowInputError) {
  if (!npzSupported()) {
    GTEST_SKIP() << "built without libzip";
  }
  TempDir dir;
  EXPECT_NE(npzError(dir / "missing.npz"), "");
  writeBytes(dir / "garbage.npz", "this is not a zip archive at all, just text");
  EXPECT_NE(npzError(dir / "garbage.npz"), "");
  writeBytes(dir / "empty.npz", "");
  EXPECT_NE(npzError(dir / "empty.npz").find("empty"), std::string::npos);

  const auto check = [&](const std::string& name, const std::vector<std::pair<std::string, std::string>>& entries,
                         const std::string& expected) {
    writeBytes(dir / name, makeZip(entries, false));
    const std::string msg = npzError(dir / name);
    EXPECT_NE(msg.find(expected), std::string::npos) << name << ": " << msg;
  };
  check("nosplits.npz", {{"x.npy", npyU8({1}, {1})}}, "no '<split>_images'");
  check("nolabels.npz", {{"train_images.npy", npyU8({2, 2, 2}, iota8(8))}}, "no matching 'train_labels'");
  check("noimages.npz", {{"val_labels.npy", npyU8({2}, {0, 1})}}, "no matching 'val_images'");
  check("count.npz",
        {{"train_images.npy", npyU8({2, 2, 2}, iota8(8))}, {"train_labels.npy", npyU8({3}, {0, 1, 0})}},
        "2 images but 3 labels");
  check("float.npz",
        {{"train_images.npy", npyRaw("<f4", "(1, 1, 1)", std::string(4, '\0'))},
         {"train_labels.npy", npyU8({1}, {0})}},
        "must be uint8");
  check("multilabel.npz",
        {{"train_images.npy", npyU8({1, 1, 1}, {0})}, {"train_labels.npy", npyU8({1, 14}, iota8(14))}},
        "multi-label");
  check("volume.npz",
        {{"train_images.npy", npyU8({1, 2, 2, 2}, iota8(8))}, {"train_labels.npy", npyU8({1}, {0})}},
        "(N,H,W)");
  std::string truncated = npyU8({2, 4, 4}, iota8(32));
  truncated.resize(truncated.size() - 5);
  check("truncated.npz", {{"train_images.npy", truncated}, {"train_labels.npy", npyU8({2}, {0, 1})}}, "truncated");
  check("badmagic.npz", {{"train_images.npy", "NOTNUMPY at all"}, {"train_labels.npy", npyU8({1}, {0})}},
        "bad magic");
}

// Headers that lie about their size must be refused before anything that size is
// allocated (the old reader resized its buffer to the claim: std::bad_alloc or the OOM
// killer), and labels must be class indices, not 2^62 classes to name.
TEST(Npz, HostileHeadersAndLabelsThrowInputError) {
  if (!npzSupported()) {
    GTEST_SKIP() << "built without libzip";
  }
  TempDir dir;
  const auto check = [&](const std::string& name, const std::vector<std::pair<std::string, std::string>>& entries,
                         const std::string& expected, bool deflated = false) {
    writeBytes(dir / name, makeZip(entries, deflated));
    std::string msg;
    try {
      readNpz(dir / name);
    } catch (const InputError& e) {
      msg = e.what();
    } catch (const std::exception& e) {
      ADD_FAILURE() << name << ": not an InputError: " << e.what();
      return;
    }
    EXPECT_NE(msg.find(expected), std::string::npos) << name << ": " << msg;
    EXPECT_EQ(msg.find('\n'), std::string::npos) << name << ": one line";
  };
  const auto labels1 = npyU8({1}, {0});
  // ~100 GB claimed by a header in an entry of a few hundred bytes, stored and deflated.
  for (const bool deflated : {false, true}) {
    check(deflated ? "huge-deflated.npz" : "huge.npz",
          {{"train_images.npy", npyRaw("|u1", "(100000, 1000, 1000)", std::string(64, '\0'))},
           {"train_labels.npy", labels1}},
          "claims 93.1 GB of data but the file holds at most", deflated);
  }
  check("hugelabels.npz",
        {{"train_images.npy", npyU8({1, 1, 1}, {0})},
         {"train_labels.npy", npyRaw("<i8", "(12000000000,)", int64le({0}))}},
        "claims 89.4 GB");
  // A claim one byte over the entry's data: cut short.
  std::string cut = npyU8({2, 4, 4}, iota8(32));
  cut.pop_back();
  check("cut.npz", {{"train_images.npy", cut}, {"train_labels.npy", npyU8({2}, {0, 1})}}, "corrupt or truncated");
  // Over the 1 TiB sanity bound even before the size check.
  check("tib.npz",
        {{"train_images.npy", npyRaw("|u1", "(1048576, 1048576, 2)", "")}, {"train_labels.npy", labels1}},
        "corrupt or too large");
  const auto images2 = npyU8({2, 1, 1}, {5, 6});
  check("label2pow62.npz",
        {{"train_images.npy", images2}, {"train_labels.npy", npyRaw("<i8", "(2,)", int64le({0, int64_t{1} << 62}))}},
        "label 4611686018427387904 in the train split is not a class index 0..1");
  check("negative.npz",
        {{"train_images.npy", images2}, {"train_labels.npy", npyRaw(">i4", "(2,)", int32be({0, -1}))}},
        "label -1 in the train split");
  check("int8negative.npz",
        {{"train_images.npy", images2}, {"train_labels.npy", npyRaw("|i1", "(2,)", std::string("\x01\xff", 2))}},
        "label -1 in the train split");
  check("wrongdtype.npz",
        {{"train_images.npy", npyRaw("<u2", "(1, 1, 1)", std::string(2, '\0'))}, {"train_labels.npy", labels1}},
        "must be uint8");
  check("floatlabels.npz",
        {{"train_images.npy", npyU8({1, 1, 1}, {0})}, {"train_labels.npy", npyRaw("<f4", "(1,)", std::string(4, '\0'))}},
        "labels must be integers");
  std::string fortran = npyU8({1, 2, 2}, iota8(4));
  fortran.replace(fortran.find("False"), 5, "True ");
  check("fortran.npz", {{"train_images.npy", fortran}, {"train_labels.npy", labels1}}, "Fortran-ordered");
  check("mismatch.npz", {{"train_images.npy", images2}, {"train_labels.npy", labels1}}, "2 images but 1 labels");
  // Labels across splits share the class count: the val split's 2 is fine with 3 images in all.
  writeBytes(dir / "ok.npz", makeZip({{"train_images.npy", images2},
                                      {"train_labels.npy", npyU8({2}, {0, 1})},
                                      {"val_images.npy", npyU8({1, 1, 1}, {0})},
                                      {"val_labels.npy", npyU8({1}, {2})}},
                                     false));
  EXPECT_EQ(readNpz(dir / "ok.npz").at("val").labels, (std::vector<int64_t>{2}));
}

// ---------------------------------------------------------------- IDX

std::string idxImages(uint32_t count, uint32_t rows, uint32_t cols, const std::vector<uint8_t>& px,
                      uint32_t magic = 0x00000803) {
  std::string s;
  for (uint32_t v : {magic, count, rows, cols}) {
    s += static_cast<char>(v >> 24);
    s += static_cast<char>((v >> 16) & 0xFF);
    s += static_cast<char>((v >> 8) & 0xFF);
    s += static_cast<char>(v & 0xFF);
  }
  return s + std::string(px.begin(), px.end());
}

std::string idxLabels(const std::vector<uint8_t>& labels, uint32_t magic = 0x00000801) {
  std::string s;
  for (uint32_t v : {magic, static_cast<uint32_t>(labels.size())}) {
    s += static_cast<char>(v >> 24);
    s += static_cast<char>((v >> 16) & 0xFF);
    s += static_cast<char>((v >> 8) & 0xFF);
    s += static_cast<char>(v & 0xFF);
  }
  return s + std::string(labels.begin(), labels.end());
}

void writeGz(const std::string& path, const std::string& bytes) {
  gzFile f = gzopen(path.c_str(), "wb");
  ASSERT_NE(f, nullptr);
  ASSERT_EQ(gzwrite(f, bytes.data(), static_cast<unsigned>(bytes.size())), static_cast<int>(bytes.size()));
  ASSERT_EQ(gzclose(f), Z_OK);
}

std::string idxError(const std::string& images, const std::string& labels) {
  try {
    readIdx(images, labels);
  } catch (const InputError& e) {
    return e.what();
  }
  return {};
}

TEST(Idx, ReadsGzipAndPlainFiles) {
  TempDir dir;
  writeGz(dir / "imgs.gz", idxImages(3, 2, 4, iota8(24)));
  writeBytes(dir / "labels", idxLabels({7, 0, 9}));
  const ImageArray a = readIdx(dir / "imgs.gz", dir / "labels");
  EXPECT_EQ(a.count, 3);
  EXPECT_EQ(a.height, 2);
  EXPECT_EQ(a.width, 4);
  EXPECT_EQ(a.channels, 1);
  EXPECT_EQ(a.pixels, iota8(24));
  EXPECT_EQ(a.labels, (std::vector<int64_t>{7, 0, 9}));
}

TEST(Idx, FolderFindsTrainAndTestSplits) {
  TempDir dir;
  writeGz(dir / "train-images-idx3-ubyte.gz", idxImages(2, 3, 3, iota8(18)));
  writeGz(dir / "train-labels-idx1-ubyte.gz", idxLabels({1, 2}));
  writeBytes(dir / "t10k-images.idx3-ubyte", idxImages(1, 3, 3, iota8(9, 50)));  // Kaggle's spelling
  writeBytes(dir / "t10k-labels.idx1-ubyte", idxLabels({5}));
  const auto splits = readIdxFolder(dir.path());
  ASSERT_EQ(splits.size(), 2u);
  EXPECT_EQ(splits.at("train").count, 2);
  EXPECT_EQ(splits.at("train").labels, (std::vector<int64_t>{1, 2}));
  EXPECT_EQ(splits.at("test").pixels, iota8(9, 50));
  EXPECT_EQ(splits.at("test").labels, (std::vector<int64_t>{5}));

  TempDir empty;
  writeBytes(empty / "readme.txt", "nothing here");
  EXPECT_TRUE(readIdxFolder(empty.path()).empty());
  EXPECT_TRUE(readIdxFolder(empty / "does-not-exist").empty());

  TempDir half;
  writeGz(half / "train-images-idx3-ubyte.gz", idxImages(2, 3, 3, iota8(18)));
  EXPECT_THROW(readIdxFolder(half.path()), InputError);
}

TEST(Idx, BadFilesThrowInputError) {
  TempDir dir;
  writeGz(dir / "imgs.gz", idxImages(2, 2, 2, iota8(8)));
  writeGz(dir / "labels.gz", idxLabels({0, 1}));
  writeGz(dir / "labels3.gz", idxLabels({0, 1, 1}));
  writeGz(dir / "short.gz", idxImages(2, 2, 2, iota8(5)));
  writeGz(dir / "wrongmagic.gz", idxImages(2, 2, 2, iota8(8), 0x12345678));
  writeBytes(dir / "empty", "");

  EXPECT_NE(idxError(dir / "labels.gz", dir / "imgs.gz").find("swapped"), std::string::npos);
  EXPECT_NE(idxError(dir / "wrongmagic.gz", dir / "labels.gz").find("0x12345678"), std::string::npos);
  EXPECT_NE(idxError(dir / "imgs.gz", dir / "labels3.gz").find("2 images"), std::string::npos);
  EXPECT_NE(idxError(dir / "short.gz", dir / "labels.gz").find("truncated"), std::string::npos);
  EXPECT_NE(idxError(dir / "empty", dir / "labels.gz"), "");
  EXPECT_NE(idxError(dir / "missing.gz", dir / "labels.gz"), "");
  // A gzip stream cut in half.
  std::ifstream in(dir / "imgs.gz", std::ios::binary);
  std::string gz((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  writeBytes(dir / "cut.gz", gz.substr(0, gz.size() / 2));
  EXPECT_NE(idxError(dir / "cut.gz", dir / "labels.gz"), "");
}

// Dimensions that claim 1 TiB (2^20 images of 1024 x 1024) in a file of a few bytes,
// plain and gzip: refused before allocating, one line, no std::bad_alloc.
TEST(Idx, HostileDimensionsThrowInputError) {
  TempDir dir;
  const std::string huge = idxImages(1u << 20, 1024, 1024, iota8(64));
  writeBytes(dir / "huge", huge);
  writeGz(dir / "huge.gz", huge);
  writeBytes(dir / "labels", idxLabels(std::vector<uint8_t>(1u << 20, 1)));
  for (const char* images : {"huge", "huge.gz"}) {
    std::string msg;
    try {
      readIdx(dir / images, dir / "labels");
    } catch (const InputError& e) {
      msg = e.what();
    } catch (const std::exception& e) {
      ADD_FAILURE() << images << ": not an InputError: " << e.what();
    }
    EXPECT_NE(msg.find("claims 1024.0 GB of data but the file holds at most"), std::string::npos)
        << images << ": " << msg;
    EXPECT_EQ(msg.find('\n'), std::string::npos);
  }
  // A label file whose count claims more labels than it holds (the images agree).
  writeBytes(dir / "imgs2", idxImages(2, 1, 1, {1, 2}));
  std::string labels = idxLabels({0, 1});
  labels.pop_back();
  writeBytes(dir / "labels-cut", labels);
  EXPECT_NE(idxError(dir / "imgs2", dir / "labels-cut").find("corrupt or truncated"), std::string::npos);
}

}  // namespace
}  // namespace ampbench
