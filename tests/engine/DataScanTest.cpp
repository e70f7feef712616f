#include "TestUtil.h"
#include "engine/data/Dataset.h"
#include "engine/data/ImageCache.h"
#include "engine/util/Errors.h"

#include <gtest/gtest.h>
#include <torch/torch.h>

#include <algorithm>
#include <filesystem>
#include <fstream>

namespace fs = std::filesystem;
using namespace ampbench;
using ampbench::test::TempDir;

TEST(DataScan, ClassFoldersAreScannedAndValCarvedStratified) {
  TempDir dir;
  test::makeBlobDataset(dir.path(), 20, 16, 2, false);
  SplitOptions opt;
  opt.valFraction = 0.25;
  const auto index = scanDataset(dir.path(), opt);
  ASSERT_EQ(index.classes, (std::vector<std::string>{"NORMAL", "PNEUMONIA"}));
  const auto counts = countPerClass(index);
  EXPECT_EQ(counts.at("train"), (std::vector<int64_t>{15, 15}));
  EXPECT_EQ(counts.at("val"), (std::vector<int64_t>{5, 5}));
  EXPECT_EQ(index.splits.at("val").origin, "carved from train");
  EXPECT_FALSE(index.splits.count("test"));
  // The same seed carves the same images.
  const auto again = scanDataset(dir.path(), opt);
  ASSERT_EQ(again.splits.at("val").files.size(), index.splits.at("val").files.size());
  for (size_t i = 0; i < again.splits.at("val").files.size(); ++i) {
    EXPECT_EQ(again.splits.at("val").files[i].path, index.splits.at("val").files[i].path);
  }
}

TEST(DataScan, SplitLayoutIsReadAsIs) {
  TempDir dir;
  test::makeBlobDataset(dir.path(), 10, 16, 2, true);
  const auto index = scanDataset(dir.path(), SplitOptions{});
  EXPECT_EQ(index.splits.at("train").origin, "folder");
  EXPECT_EQ(index.splits.at("val").origin, "folder");
  const auto counts = countPerClass(index);
  EXPECT_EQ(counts.at("train"), (std::vector<int64_t>{8, 8}));
  EXPECT_EQ(counts.at("val"), (std::vector<int64_t>{2, 2}));
}

TEST(DataScan, TestSplitCarvedWhenAsked) {
  TempDir dir;
  test::makeBlobDataset(dir.path(), 20, 16, 3, false);
  SplitOptions opt;
  opt.valFraction = 0.2;
  opt.testFraction = 0.2;
  const auto index = scanDataset(dir.path(), opt);
  const auto counts = countPerClass(index);
  EXPECT_EQ(counts.at("test"), (std::vector<int64_t>{4, 4, 4}));
  EXPECT_EQ(counts.at("val"), (std::vector<int64_t>{3, 3, 3}));  // 20% of the 16 left
  EXPECT_EQ(counts.at("train"), (std::vector<int64_t>{13, 13, 13}));
}

TEST(DataScan, MissingFolderIsRefusedWithAMessage) {
  try {
    scanDataset("/nonexistent/ampbench-data", SplitOptions{});
    FAIL() << "expected InputError";
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("does not exist"), std::string::npos);
  }
}

TEST(DataScan, OneClassIsRefusedWithAMessage) {
  TempDir dir;
  test::makeBlobDataset(dir.path(), 5, 16, 1, false);
  try {
    scanDataset(dir.path(), SplitOptions{});
    FAIL() << "expected InputError";
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("only one class"), std::string::npos) << e.what();
  }
}

TEST(DataScan, EmptyFolderIsRefused) {
  TempDir dir;
  EXPECT_THROW(scanDataset(dir.path(), SplitOptions{}), InputError);
}

TEST(DataScan, NonImageFilesAreListedAsSkipped) {
  TempDir dir;
  test::makeBlobDataset(dir.path(), 4, 16, 2, false);
  std::ofstream(dir / "NORMAL/notes.txt") << "hello";
  const auto index = scanDataset(dir.path(), SplitOptions{});
  ASSERT_EQ(index.skipped.size(), 1u);
  EXPECT_NE(index.skipped[0].path.find("notes.txt"), std::string::npos);
}

TEST(DataScan, LimitKeepsAStratifiedSubset) {
  TempDir dir;
  test::makeBlobDataset(dir.path(), 30, 16, 2, false);
  auto index = scanDataset(dir.path(), SplitOptions{});
  limitPerSplit(index, 10, 1);
  EXPECT_EQ(index.splits.at("train").size(), 10);
  EXPECT_EQ(countPerClass(index).at("train"), (std::vector<int64_t>{5, 5}));
}

#ifdef AMPBENCH_HAVE_OPENCV
TEST(DataPrepare, CorruptFilesAreSkippedAndListedNotFatal) {
  TempDir dir;
  test::makeBlobDataset(dir.path(), 8, 16, 2, false);
  std::ofstream(dir / "NORMAL/broken.png", std::ios::binary) << "this is not a png";
  std::ofstream(dir / "PNEUMONIA/empty.jpg", std::ios::binary);
  RunConfig c;
  c.dataPath = dir.path();
  c.imageSize = 16;
  c.split.valFraction = 0.25;
  const auto data = prepareData(c, {}, CancelToken{});
  ASSERT_EQ(data.summary.skipped.size(), 2u);
  for (const auto& s : data.summary.skipped) {
    EXPECT_FALSE(s.reason.empty());
  }
  int64_t total = 0;
  for (const auto& [name, s] : data.splits) {
    total += s.size();
  }
  EXPECT_EQ(total, 16);
  EXPECT_EQ(data.splits.at("train").images.sizes(), (std::vector<int64_t>{data.splits.at("train").size(), 1, 16, 16}));
  EXPECT_EQ(data.summary.mean.size(), 1u);
  EXPECT_GT(data.summary.std[0], 0.0);
}

TEST(DataPrepare, CacheFileRoundTripsAndIsUsedWithoutTheImages) {
  TempDir dir;
  test::makeBlobDataset(dir / "data", 6, 16, 2, false);
  RunConfig c;
  c.dataPath = dir / "data";
  c.cachePath = dir / "cache.pt";
  c.imageSize = 12;
  const auto first = prepareData(c, {}, CancelToken{});
  ASSERT_TRUE(fs::exists(c.cachePath));
  fs::remove_all(dir / "data");  // a machine without the images (or without OpenCV)
  const auto second = prepareData(c, {}, CancelToken{});
  ASSERT_EQ(second.summary.classes, first.summary.classes);
  EXPECT_TRUE(torch::equal(second.splits.at("train").images, first.splits.at("train").images));
  EXPECT_TRUE(torch::equal(second.splits.at("val").labels, first.splits.at("val").labels));
}
#endif

TEST(DataPrepare, SyntheticDataHasTheAskedShape) {
  RunConfig c;
  c.dataPath = "synthetic:40";
  c.imageSize = 20;
  c.channels = 3;
  const auto d = prepareData(c, {}, CancelToken{});
  EXPECT_EQ(d.splits.at("train").images.sizes(), (std::vector<int64_t>{40, 3, 20, 20}));
  EXPECT_EQ(d.summary.kind, "synthetic");
}

namespace {
// A folder of many (empty) image files: the scan lists names, it decodes nothing.
void makeBigFolder(const fs::path& root, int perClass) {
  for (const char* cls : {"NORMAL", "PNEUMONIA"}) {
    fs::create_directories(root / cls);
    for (int i = 0; i < perClass; ++i) {
      std::ofstream(root / cls / ("img" + std::to_string(i) + ".png"));
    }
  }
}
}  // namespace

TEST(DataScan, ReportsTheRunningCountWhileListingABigFolder) {
  TempDir dir;
  makeBigFolder(dir.path(), 1500);
  std::vector<int64_t> counts;
  const auto index = scanDataset(dir.path(), SplitOptions{}, [&](const DataProgressEvent& e) {
    EXPECT_EQ(e.phase, "scan");
    EXPECT_EQ(e.total, 0);  // unknown while listing
    counts.push_back(e.done);
  });
  // Progress inside the first class folder (not only after it), growing, ending at all files.
  ASSERT_GE(counts.size(), 3u);
  EXPECT_LT(counts.front(), 1500);
  EXPECT_TRUE(std::is_sorted(counts.begin(), counts.end()));
  EXPECT_EQ(counts.back(), 3000);
  EXPECT_EQ(index.splits.at("train").size() + index.splits.at("val").size(), 3000);
}

TEST(DataScan, CancelStopsTheFolderWalkSoon) {
  TempDir dir;
  makeBigFolder(dir.path(), 1500);
  CancelToken cancel;
  std::vector<int64_t> counts;
  auto cancelAtFirstReport = [&](const DataProgressEvent& e) {
    counts.push_back(e.done);
    cancel.cancel();
  };
  EXPECT_THROW(scanDataset(dir.path(), SplitOptions{}, cancelAtFirstReport, cancel), CancelledError);
  // It stopped at the next check, within the first class folder: one report, not the 3000 files.
  ASSERT_EQ(counts.size(), 1u);
  EXPECT_LT(counts[0], 1500);
}

TEST(DataScan, ACancelledTokenStopsBeforeAnyWork) {
  CancelToken cancel;
  cancel.cancel();
  // Not even the missing folder is reported: a cancelled scan has nothing to say.
  EXPECT_THROW(scanDataset("/nonexistent/ampbench-data", SplitOptions{}, {}, cancel), CancelledError);
}

TEST(DataPrepare, CancelDuringTheScanReturnsNothingAndKeepsTheToken) {
  TempDir dir;
  makeBigFolder(dir.path(), 1500);
  RunConfig c;
  c.dataPath = dir.path();
  CancelToken cancel;
  const auto d = prepareData(c, [&](const DataProgressEvent&) { cancel.cancel(); }, cancel);
  EXPECT_TRUE(cancel.isCancelled());
  EXPECT_TRUE(d.splits.empty());
}
