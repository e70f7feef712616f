// Dataset folders as users have them: OS junk, symbolic link loops, links out of the tree,
// FIFOs, odd names, entries that vanish mid-scan. The scan never throws for one entry and
// never takes junk for a class.
#include "TestUtil.h"
#include "engine/data/Dataset.h"
#include "engine/util/Errors.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <sys/stat.h>

namespace fs = std::filesystem;
using namespace ampbench;
using ampbench::test::TempDir;

namespace {

void touch(const fs::path& p) {
  fs::create_directories(p.parent_path());
  std::ofstream(p) << "x";
}

std::map<std::string, std::string> skippedByName(const DatasetIndex& index) {
  std::map<std::string, std::string> out;
  for (const auto& s : index.skipped) {
    out[fs::path(s.path).filename().string()] = s.reason;
  }
  return out;
}

int64_t imageCount(const DatasetIndex& index) {
  int64_t n = 0;
  for (const auto& [name, s] : index.splits) {
    n += s.size();
  }
  return n;
}

// Runs the scan, failing the test (not crashing it) on an unexpected exception.
DatasetIndex scan(const std::string& root) {
  try {
    return scanDataset(root, SplitOptions{});
  } catch (const std::exception& e) {
    ADD_FAILURE() << "scan threw: " << e.what();
    return {};
  }
}

}  // namespace

// Before: a macOS zip's __MACOSX/ became a third class and refused the whole dataset
// ("class '__MACOSX' has no training images").
TEST(DataScanHostile, OsJunkIsNeitherAClassNorAnImageNorSkippedNoise) {
  TempDir dir;
  test::makeBlobDataset(dir.path(), 6, 16, 2, false);
  const fs::path root = dir.path();
  touch(root / "__MACOSX/NORMAL/._img0.png");
  touch(root / ".Trash-1000/files/img.png");
  touch(root / "$RECYCLE.BIN/img.png");
  touch(root / "System Volume Information/img.png");
  touch(root / ".DS_Store");
  touch(root / "NORMAL/@eaDir/img0.png/SYNOPHOTO_THUMB_S.jpg");
  touch(root / "NORMAL/.DS_Store");
  touch(root / "NORMAL/Thumbs.db");
  touch(root / "NORMAL/desktop.ini");
  touch(root / "NORMAL/._img0.png");
  touch(root / "PNEUMONIA/.hidden/img.png");
  const auto index = scan(dir.path());
  EXPECT_EQ(index.classes, (std::vector<std::string>{"NORMAL", "PNEUMONIA"}));
  EXPECT_TRUE(index.skipped.empty()) << index.skipped.front().path;
  EXPECT_EQ(index.ignored, 11);
  EXPECT_EQ(imageCount(index), 12);
}

TEST(DataScanHostile, JunkNamesAreRecognisedWhateverTheirCase) {
  for (const char* name : {"__MACOSX", "@eaDir", "$RECYCLE.BIN", "$Recycle.Bin", "System Volume Information",
                           "Thumbs.db", "thumbs.db", "desktop.ini", "Desktop.ini", ".DS_Store", "._x.jpg",
                           ".Trash-1000", "lost+found"}) {
    EXPECT_TRUE(isOsJunkName(name)) << name;
  }
  for (const char* name : {"NORMAL", "x.png", "MACOSX", "eaDir", "thumbs.png"}) {
    EXPECT_FALSE(isOsJunkName(name)) << name;
  }
}

// Before: a link from a class folder to its parent was not followed (silently), a dangling
// link and a FIFO were silently dropped, and nothing told the user why.
TEST(DataScanHostile, LinkLoopsDanglingLinksAndFifosAreSkippedWithTheReason) {
  TempDir dir;
  test::makeBlobDataset(dir.path(), 6, 16, 2, false);
  const fs::path root = dir.path();
  fs::create_directory_symlink("..", root / "NORMAL/loop_root");          // the dataset itself
  fs::create_directory_symlink(".", root / "NORMAL/loop_self");           // the class folder
  fs::create_directory_symlink("../PNEUMONIA", root / "NORMAL/to_other");  // another class: wrong labels
  fs::create_symlink("missing.png", root / "NORMAL/dangling.png");
  fs::create_symlink("self.png", root / "NORMAL/self.png");
  ASSERT_EQ(mkfifo((root / "NORMAL/pipe.png").c_str(), 0644), 0);  // opening it would block for ever
  fs::create_directory_symlink(root, root / "loop_class");               // a "class" that is the root
  const auto index = scan(dir.path());
  EXPECT_EQ(index.classes, (std::vector<std::string>{"NORMAL", "PNEUMONIA"}));
  EXPECT_EQ(imageCount(index), 12);
  const auto skipped = skippedByName(index);
  EXPECT_NE(skipped.at("loop_root").find("holding the dataset"), std::string::npos);
  EXPECT_NE(skipped.at("loop_self").find("already scanned"), std::string::npos);
  EXPECT_NE(skipped.at("to_other").find("already scanned"), std::string::npos);
  EXPECT_NE(skipped.at("dangling.png").find("broken symbolic link"), std::string::npos);
  EXPECT_NE(skipped.at("self.png").find("symbolic link loop"), std::string::npos);
  EXPECT_NE(skipped.at("pipe.png").find("not a regular file"), std::string::npos);
  EXPECT_NE(skipped.at("loop_class").find("holding the dataset"), std::string::npos);
  EXPECT_EQ(skipped.size(), 7u);
}

TEST(DataScanHostile, ALinkedFolderOutsideTheTreeIsFollowedOnce) {
  TempDir dir, outside;
  test::makeBlobDataset(dir.path(), 4, 16, 2, false);
  touch(fs::path(outside.path()) / "a.png");
  touch(fs::path(outside.path()) / "b.png");
  fs::create_directory_symlink(outside.path(), fs::path(dir.path()) / "NORMAL/linked");
  fs::create_directory_symlink(outside.path(), fs::path(dir.path()) / "NORMAL/linked_again");
  // A class folder that is itself a link counts too.
  TempDir third;
  touch(fs::path(third.path()) / "c.png");
  fs::create_directory_symlink(third.path(), fs::path(dir.path()) / "THIRD");
  const auto index = scan(dir.path());
  EXPECT_EQ(index.classes, (std::vector<std::string>{"NORMAL", "PNEUMONIA", "THIRD"}));
  const auto counts = countPerClass(index);
  EXPECT_EQ(counts.at("train")[0] + counts.at("val")[0], 6);  // 4 + the two linked once
  EXPECT_EQ(counts.at("train")[2] + counts.at("val")[2], 1);
  EXPECT_NE(skippedByName(index).at("linked_again").find("already scanned"), std::string::npos);
}

TEST(DataScanHostile, NonAsciiAndSpacedNamesAreKeptExactly) {
  TempDir dir;
  const fs::path root = dir.path();
  const std::string a = "Röntgen normal", b = "pneumonia, \"viral\" 肺炎";
  for (int i = 0; i < 3; ++i) {
    touch(root / a / ("bild " + std::to_string(i) + " ü.png"));
    touch(root / b / ("画像" + std::to_string(i) + ".png"));
  }
  const auto index = scan(dir.path());
  EXPECT_EQ(index.classes, (std::vector<std::string>{a, b}));
  EXPECT_EQ(imageCount(index), 6);
  EXPECT_TRUE(index.skipped.empty());
}

TEST(DataScanHostile, AClassFolderNameThatIsNotUtf8IsRefusedSayingWhatToDo) {
  TempDir dir;
  const fs::path root = dir.path();
  touch(root / "caf\xe9" / "a.png");
  touch(root / "caf\xe9" / "b.png");
  touch(root / "NORMAL/a.png");
  touch(root / "NORMAL/b.png");
  try {
    scanDataset(dir.path(), SplitOptions{});
    FAIL() << "expected InputError";
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("rename the folder"), std::string::npos) << e.what();
  }
}

TEST(DataScanHostile, AFileDeletedDuringTheScanIsSkippedWithTheReason) {
  TempDir dir;
  test::makeBlobDataset(dir.path(), 5, 16, 2, false);
  const auto victim = fs::path(dir.path()) / "NORMAL/img2.pgm";
  ASSERT_TRUE(fs::exists(victim));
  setScanEntryHookForTesting([&](const std::string& path) {
    if (path == victim.string()) {
      fs::remove(victim);
    }
  });
  const auto index = scan(dir.path());
  setScanEntryHookForTesting({});
  EXPECT_EQ(imageCount(index), 9);
  ASSERT_EQ(index.skipped.size(), 1u);
  EXPECT_NE(index.skipped[0].reason.find("disappeared during the scan"), std::string::npos) << index.skipped[0].reason;
}

TEST(DataScanHostile, AFolderRenamedDuringTheScanIsSkippedWithTheReason) {
  TempDir dir;
  test::makeBlobDataset(dir.path(), 4, 16, 2, false);
  const fs::path sub = fs::path(dir.path()) / "NORMAL/sub";
  touch(sub / "x.png");
  touch(sub / "y.png");
  setScanEntryHookForTesting([&](const std::string& path) {
    if (path == sub.string()) {
      fs::rename(sub, fs::path(dir.path()) / "renamed_elsewhere");
    }
  });
  const auto index = scan(dir.path());
  setScanEntryHookForTesting({});
  EXPECT_EQ(imageCount(index), 8);
  ASSERT_EQ(index.skipped.size(), 1u);
  EXPECT_EQ(index.skipped[0].path, sub.string());
  EXPECT_NE(index.skipped[0].reason.find("disappeared during the scan"), std::string::npos) << index.skipped[0].reason;
}

TEST(DataScanHostile, ImagesBesideTheClassFoldersAreListedNotLost) {
  TempDir dir;
  test::makeBlobDataset(dir.path(), 3, 16, 2, false);
  touch(fs::path(dir.path()) / "stray.png");
  touch(fs::path(dir.path()) / "README.txt");  // not an image: not worth a line
  const auto index = scan(dir.path());
  const auto skipped = skippedByName(index);
  ASSERT_EQ(skipped.size(), 1u);
  EXPECT_NE(skipped.at("stray.png").find("move it into the folder of its class"), std::string::npos);
}

TEST(DataScanHostile, AnEmptyValSplitIsRefusedSayingWhatToDo) {
  TempDir dir;
  test::makeBlobDataset(dir.path(), 10, 16, 2, true);
  for (const char* cls : {"NORMAL", "PNEUMONIA"}) {
    const auto val = fs::path(dir.path()) / "val" / cls;
    fs::remove_all(val);
    touch(val / ".DS_Store");  // junk only: still empty
  }
  try {
    scanDataset(dir.path(), SplitOptions{});
    FAIL() << "expected InputError";
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("remove the val/ folder"), std::string::npos) << e.what();
  }
}
