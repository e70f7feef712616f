// Exact resume, checkpoints inside an epoch, CSV repair and full disks (issue 15): a run
// stopped anywhere and resumed gives the uninterrupted run's numbers; a checkpoint or log the
// disk refuses stops the run with the file named and the previous checkpoint intact.

#include "TestUtil.h"
#include "engine/models/Blocked.h"
#include "engine/models/Registry.h"
#include "engine/precision/LossScaler.h"
#include "engine/train/Checkpoint.h"
#include "engine/train/LrSchedule.h"
#include "engine/train/RunDir.h"
#include "engine/train/Trainer.h"
#include "engine/train/TrainerInternal.h"
#include "engine/util/Errors.h"
#include "engine/util/Files.h"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>
#include <torch/torch.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <set>
#include <sstream>

namespace fs = std::filesystem;
using namespace ampbench;
using ampbench::test::TempDir;

namespace {

struct Recorder : RunObserver {
  std::vector<StepEvent> steps;
  std::vector<EpochEvent> epochs;
  std::vector<CheckpointEvent> checkpoints;
  RunStartedEvent started;
  std::function<void(const StepEvent&)> onStepHook;
  std::function<void(const CheckpointEvent&)> onCheckpointHook;
  void onRunStarted(const RunStartedEvent& e) override { started = e; }
  void onStep(const StepEvent& e) override {
    steps.push_back(e);
    if (onStepHook) onStepHook(e);
  }
  void onEpoch(const EpochEvent& e) override { epochs.push_back(e); }
  void onCheckpoint(const CheckpointEvent& e) override {
    checkpoints.push_back(e);
    if (onCheckpointHook) onCheckpointHook(e);
  }
};

std::vector<std::vector<std::string>> csvRows(const std::string& path) {
  std::ifstream in(path);
  std::string line;
  std::getline(in, line);  // header
  std::vector<std::vector<std::string>> rows;
  while (std::getline(in, line)) {
    std::vector<std::string> cells;
    std::stringstream ss(line);
    std::string cell;
    while (std::getline(ss, cell, ',')) cells.push_back(cell);
    rows.push_back(cells);
  }
  return rows;
}

// The columns of a run's logs that do not depend on timing, as text: what an exact resume
// must reproduce character for character.
std::string deterministicColumns(const std::string& path, const std::vector<size_t>& columns) {
  std::string out;
  for (const auto& row : csvRows(path)) {
    for (size_t c : columns) {
      out += (c < row.size() ? row[c] : "?") + ",";
    }
    out += "\n";
  }
  return out;
}
const std::vector<size_t> kStepColumns = {0, 1, 2, 3, 4, 5, 6};        // all but images_per_s
const std::vector<size_t> kEpochColumns = {0, 1, 2, 3, 4, 5, 8, 9};   // losses, metrics, overflows, scale

RunConfig threeEpochs(const std::string& out) {
  auto c = test::tinyRunConfig(out);
  c.epochs = 3;
  c.checkpointMinutes = 0;  // the tests say where checkpoints go
  return c;
}

// Sets an environment variable for the scope of a test.
struct ScopedEnv {
  std::string name;
  ScopedEnv(const std::string& n, const std::string& value) : name(n) { ::setenv(n.c_str(), value.c_str(), 1); }
  ~ScopedEnv() { ::unsetenv(name.c_str()); }
};

struct NoWriteFailures {
  ~NoWriteFailures() { failWritesAfterBytesForTests(-1); }
};

bool hasTemporaries(const std::string& dir) {
  for (const auto& e : fs::directory_iterator(dir)) {
    if (e.path().filename().string().find(".tmp") != std::string::npos) return true;
  }
  return false;
}

// Trains `c` uninterrupted, then again stopped after global step `stopAt` (a checkpoint
// written there by the Stop) and resumed; expects the same logs.
void expectStopAndResumeMatches(RunConfig c, int64_t stopAt, const TempDir& dir) {
  c.outDir = dir / "full";
  Recorder full;
  ASSERT_EQ(runTraining(c, full, CancelToken{}).status, RunStatus::Finished);

  c.outDir = dir / "part";
  CancelToken cancel;
  Recorder first;
  first.onStepHook = [&](const StepEvent& e) {
    if (e.step == stopAt) cancel.cancel();
  };
  const auto s1 = runTraining(c, first, cancel);
  ASSERT_EQ(s1.status, RunStatus::Cancelled);
  ASSERT_FALSE(first.checkpoints.empty());
  EXPECT_GT(first.checkpoints.back().stepInEpoch, 0) << "the Stop checkpoints inside the epoch";

  auto r = c;
  r.resumeFrom = c.outDir;
  Recorder second;
  ASSERT_EQ(runTraining(r, second, CancelToken{}).status, RunStatus::Finished);
  EXPECT_EQ(second.started.startStep, stopAt);
  EXPECT_NE(second.started.resumeNote.find("checkpoint inside the epoch"), std::string::npos)
      << second.started.resumeNote;
  ASSERT_EQ(second.steps.size(), full.steps.size() - static_cast<size_t>(stopAt));
  for (size_t i = 0; i < second.steps.size(); ++i) {
    const auto& a = full.steps[static_cast<size_t>(stopAt) + i];
    EXPECT_EQ(second.steps[i].step, a.step);
    EXPECT_EQ(second.steps[i].loss, a.loss) << "step " << a.step;
    EXPECT_EQ(second.steps[i].lr, a.lr) << "step " << a.step;
    EXPECT_EQ(second.steps[i].lossScale, a.lossScale) << "step " << a.step;
  }
  EXPECT_EQ(deterministicColumns(dir / "part/steps.csv", kStepColumns),
            deterministicColumns(dir / "full/steps.csv", kStepColumns));
  EXPECT_EQ(deterministicColumns(dir / "part/epochs.csv", kEpochColumns),
            deterministicColumns(dir / "full/epochs.csv", kEpochColumns));
}

}  // namespace

// fp32 is covered by the kill test below; here the Stop's checkpoint, in fp16.
TEST(Resume, AStopInsideAnEpochResumesFp16WithTheLossScalerIdentically) {
  // A scale that overflows at first and grows every 4 clean steps: the scale after the
  // resume is right only if both the scale and the growth tracker were restored.
  TempDir dir;
  auto c = threeEpochs("");
  c.precision = PrecisionMode::Fp16;
  c.scaler.initScale = 1048576;  // 2^20
  c.scaler.growthInterval = 4;
  expectStopAndResumeMatches(c, 10, dir);  // inside epoch 2
  const auto rows = csvRows(dir / "full/steps.csv");
  std::set<std::string> scales;
  for (const auto& r : rows) scales.insert(r.at(4));
  EXPECT_GT(scales.size(), 3u) << "the scale moved (backoff and growth) during the run";
}

// The blocked path under bf16 autocast holds its weights (and so their momentum) channels-last:
// a Stop's checkpoint of them, loaded and put back in that layout, continues bit for bit.
TEST(Resume, AStopInsideAnEpochResumesBlockedBf16Identically) {
  if (!blocked::available() || !cpuHasBf16()) {
    GTEST_SKIP() << "needs oneDNN's bf16 kernels (AVX512-BF16/AMX)";
  }
  TempDir dir;
  auto c = threeEpochs("");
  c.model = "resnet18";
  c.imageSize = 32;
  c.precision = PrecisionMode::Bf16;
  c.memoryFormat = MemoryFormatKind::Blocked;
  expectStopAndResumeMatches(c, 8, dir);  // inside epoch 2
  const auto config = nlohmann::json::parse(readFile(dir / "part/config.json"));
  EXPECT_EQ(config["resolved"]["blocked"]["weights"], "ohwi");
}

TEST(Resume, AMidEpochCheckpointAfterAKillResumesIdenticallyAndRepairsTheLogs) {
  TempDir dir;
  auto c = threeEpochs(dir / "full");
  Recorder full;
  ASSERT_EQ(runTraining(c, full, CancelToken{}).status, RunStatus::Finished);

  // A checkpoint inside epoch 2 (after global step 8), kept aside; the run goes on to step
  // 11 and stops. Putting the step-8 checkpoint back is what a kill after step 11 leaves:
  // logs past the checkpoint, and a last line cut mid-write.
  c.outDir = dir / "part";
  ScopedEnv forced("AMPBENCH_TEST_CHECKPOINT_AT_STEP", "8");
  CancelToken cancel;
  Recorder first;
  first.onCheckpointHook = [&](const CheckpointEvent& e) {
    if (e.stepInEpoch == 2) fs::copy_file(e.path, dir / "step8.pt");
  };
  first.onStepHook = [&](const StepEvent& e) {
    if (e.step == 11) cancel.cancel();
  };
  ASSERT_EQ(runTraining(c, first, cancel).status, RunStatus::Cancelled);
  ASSERT_TRUE(fs::exists(dir / "step8.pt"));
  fs::copy_file(dir / "step8.pt", dir / "part/checkpoint.pt", fs::copy_options::overwrite_existing);
  ASSERT_EQ(csvRows(dir / "part/steps.csv").size(), 11u);
  { std::ofstream(dir / "part/steps.csv", std::ios::app) << "2,12,0.69"; }

  auto r = c;
  r.resumeFrom = c.outDir;
  Recorder second;
  ASSERT_EQ(runTraining(r, second, CancelToken{}).status, RunStatus::Finished);
  ASSERT_FALSE(second.steps.empty());
  EXPECT_EQ(second.steps.front().step, 9);
  EXPECT_EQ(second.steps.front().stepInEpoch, 3);
  EXPECT_EQ(deterministicColumns(dir / "part/steps.csv", kStepColumns),
            deterministicColumns(dir / "full/steps.csv", kStepColumns));
  EXPECT_EQ(deterministicColumns(dir / "part/epochs.csv", kEpochColumns),
            deterministicColumns(dir / "full/epochs.csv", kEpochColumns));
  ASSERT_EQ(second.epochs.size(), 2u);
  EXPECT_EQ(second.epochs[0].trainLoss, full.epochs[1].trainLoss) << "epoch 2's running sums were restored";
  EXPECT_EQ(second.epochs[1].val.loss, full.epochs[2].val.loss);
  EXPECT_EQ(second.epochs[1].val.auc, full.epochs[2].val.auc);
}

TEST(Resume, CheckpointMinutesWritesCheckpointsInsideEpochs) {
  TempDir dir;
  auto c = threeEpochs(dir / "run");
  c.epochs = 1;
  c.checkpointMinutes = 1e-9;  // due at every step boundary
  Recorder rec;
  ASSERT_EQ(runTraining(c, rec, CancelToken{}).status, RunStatus::Finished);
  std::vector<int64_t> inEpoch;
  for (const auto& e : rec.checkpoints) inEpoch.push_back(e.stepInEpoch);
  EXPECT_EQ(inEpoch, (std::vector<int64_t>{1, 2, 3, 4, 5, 0})) << "steps 1-5 inside, then the epoch's end";

  c.outDir = dir / "epoch-ends-only";
  c.checkpointMinutes = 0;
  Recorder ends;
  runTraining(c, ends, CancelToken{});
  ASSERT_EQ(ends.checkpoints.size(), 1u);
  EXPECT_EQ(ends.checkpoints[0].stepInEpoch, 0);
}

TEST(Resume, WithoutEpochsTheScheduleContinuesAndWithMoreItIsRebuiltOverTheNewTotal) {
  TempDir dir;
  auto c = test::tinyRunConfig(dir / "run");  // 2 epochs of 6 steps
  Recorder first;
  ASSERT_EQ(runTraining(c, first, CancelToken{}).status, RunStatus::Finished);
  auto r = c;
  r.resumeFrom = c.outDir;
  r.epochs = 3;
  Recorder more;
  ASSERT_EQ(runTraining(r, more, CancelToken{}).status, RunStatus::Finished);
  const LrSchedule rebuilt(c.schedule, c.lr, 18, c.warmupFraction);
  ASSERT_FALSE(more.steps.empty());
  EXPECT_EQ(more.steps.front().lr, rebuilt.at(12));
  EXPECT_NE(more.started.resumeNote.find("schedule rebuilt over 18 steps (was 12)"), std::string::npos)
      << more.started.resumeNote;
  EXPECT_EQ(readRunConfig(c.outDir).epochs, 3) << "config.json records the extended run";
}

// A run resumed on another memory format says so: an explicit change is refused, but auto's
// choice can differ from the one the run started with (auto took the blocked path in session
// 14), and config.json records only the layout the run continues with.
TEST(Resume, AutosChangedMemoryFormatIsNamedInTheResumeNote) {
  TempDir dir;
  auto c = test::tinyRunConfig(dir / "run");  // 2 epochs of 6 steps
  c.memoryFormat = MemoryFormatKind::Auto;
  c.precision = PrecisionMode::Fp32;
  Recorder first;
  ASSERT_EQ(runTraining(c, first, CancelToken{}).status, RunStatus::Finished);
  const auto path = c.outDir + "/config.json";
  auto config = nlohmann::json::parse(readFile(path));
  const std::string now = config["resolved"]["memory_format"];
  ASSERT_NE(now, "contiguous");  // what auto picks for fp32 on a CPU: channels_last or blocked
  config["resolved"]["memory_format"] = "contiguous";  // as an older version resolved it
  writeFileAtomic(path, config.dump());
  auto r = c;
  r.resumeFrom = c.outDir;
  r.epochs = 3;
  Recorder more;
  ASSERT_EQ(runTraining(r, more, CancelToken{}).status, RunStatus::Finished);
  EXPECT_NE(more.started.resumeNote.find("memory format was contiguous, now " + now), std::string::npos)
      << more.started.resumeNote;
  // The same format again, or a config.json whose record is not a string: nothing to say.
  r.epochs = 4;
  Recorder same;
  ASSERT_EQ(runTraining(r, same, CancelToken{}).status, RunStatus::Finished);
  EXPECT_EQ(same.started.resumeNote.find("memory format"), std::string::npos) << same.started.resumeNote;
  config = nlohmann::json::parse(readFile(path));
  config["resolved"]["memory_format"] = 7;
  writeFileAtomic(path, config.dump());
  r.epochs = 5;
  Recorder odd;
  ASSERT_EQ(runTraining(r, odd, CancelToken{}).status, RunStatus::Finished);
  EXPECT_EQ(odd.started.resumeNote.find("memory format"), std::string::npos) << odd.started.resumeNote;
}

TEST(Resume, AnFp32CheckpointIsNeverResumedAsFp16) {
  TempDir dir;
  auto c = test::tinyRunConfig(dir / "run");
  c.epochs = 1;
  Recorder once;
  ASSERT_EQ(runTraining(c, once, CancelToken{}).status, RunStatus::Finished);
  c.epochs = 2;

  // config.json edited by hand (or the checkpoint copied into an fp16 run's folder).
  auto j = nlohmann::json::parse(readFile(dir / "run/config.json"));
  j["precision"]["mode"] = "fp16";
  writeFileAtomic(dir / "run/config.json", j.dump(2));
  auto r = readRunConfig(dir / "run");
  ASSERT_EQ(r.precision, PrecisionMode::Fp16) << "the edit took";
  r.outDir = r.resumeFrom = dir / "run";
  Recorder rec;
  try {
    runTraining(r, rec, CancelToken{});
    FAIL() << "an fp32 checkpoint was resumed as fp16";
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("precision fp32 -> fp16"), std::string::npos) << e.what();
  }
  EXPECT_TRUE(rec.steps.empty());
}

TEST(Resume, ACheckpointOfAnotherModelOrImageSizeIsRefusedNamingTheSetting) {
  TempDir dir;
  auto a = test::tinyRunConfig(dir / "a");
  a.epochs = 1;
  Recorder ra;
  runTraining(a, ra, CancelToken{});
  auto b = a;
  b.outDir = dir / "b";
  b.imageSize = 24;
  Recorder rb;
  runTraining(b, rb, CancelToken{});
  fs::copy_file(dir / "a/checkpoint.pt", dir / "b/checkpoint.pt", fs::copy_options::overwrite_existing);
  b.epochs = 2;
  b.resumeFrom = b.outDir;
  try {
    runTraining(b, rb, CancelToken{});
    FAIL() << "a checkpoint written at 16 px resumed a 24 px run";
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("image_size 16 -> 24"), std::string::npos) << e.what();
  }
}

TEST(Resume, TheLossScalersOnOffIsTheRunsNotTheCheckpoints) {
  TempDir dir;
  auto fp16 = test::tinyRunConfig(dir / "run");
  fp16.precision = PrecisionMode::Fp16;
  auto model = createModel({fp16.model, 1, 2});
  torch::optim::SGD opt(model->parameters(), 0.1);
  TrainingPosition pos;
  pos.epoch = 1;
  // A checkpoint without loss scaling whose recorded configuration says fp16 (as an fp32
  // run's checkpoint with the configuration rewritten would): the scaler decides.
  LossScaler off(fp16.scaler, false, torch::kCPU);
  fs::create_directories(dir / "run");
  saveCheckpoint(dir / "run/checkpoint.pt", *model, opt, off, pos, configToJson(fp16));
  LossScaler on(fp16.scaler, true, torch::kCPU);
  try {
    loadCheckpoint(dir / "run/checkpoint.pt", *model, &opt, &on, &fp16);
    FAIL() << "an unscaled checkpoint was loaded into a loss-scaled run";
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("without loss scaling"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("precision fp16"), std::string::npos) << e.what();
  }
  // Loading the state alone (no resume) never turns this run's scaling off.
  loadCheckpoint(dir / "run/checkpoint.pt", *model, &opt, &on);
  EXPECT_TRUE(on.enabled());
}

TEST(RunDirRepair, DropsACutLastLineAndRowsPastTheCheckpoint) {
  TempDir dir;
  const auto path = dir / "steps.csv";
  writeFileAtomic(path, std::string(kStepsHeader) + "\n1,1,0.7,0.1,1,0,0,10\n1,2,0.6,0.1,1,0,0,10\n2,3,0.5,0.1,1,0,0,10\n"
                                                    "2,4,0.4,0.1,1,0,0,10\n2,5,0.3,0.1");
  EXPECT_EQ(repairCsvForResume(path, kStepsHeader, 1, 3), 2);
  EXPECT_EQ(readFile(path), std::string(kStepsHeader) +
                                "\n1,1,0.7,0.1,1,0,0,10\n1,2,0.6,0.1,1,0,0,10\n2,3,0.5,0.1,1,0,0,10\n");
  // A header cut by a kill at the very start is written whole.
  writeFileAtomic(path, "epoch,st");
  EXPECT_EQ(repairCsvForResume(path, kStepsHeader, 1, 3), 1);
  EXPECT_EQ(readFile(path), std::string(kStepsHeader) + "\n");
  EXPECT_EQ(repairCsvForResume(dir / "missing.csv", kStepsHeader, 1, 3), 0);
  EXPECT_FALSE(fs::exists(dir / "missing.csv"));
}

TEST(FullDisk, AFailedWriteLeavesThePreviousFileWholeAndNoTemporary) {
  TempDir dir;
  NoWriteFailures reset;
  const auto path = dir / "metrics.json";
  writeFileAtomic(path, "previous");
  failWritesAfterBytesForTests(5);
  try {
    writeFileAtomic(path, "a longer new content");
    FAIL() << "the write past the budget succeeded";
  } catch (const WriteError& e) {
    EXPECT_NE(std::string(e.what()).find(path), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("No space left on device (disk full)"), std::string::npos) << e.what();
  }
  EXPECT_EQ(readFile(path), "previous");
  EXPECT_FALSE(hasTemporaries(dir.path()));

  failWritesAfterBytesForTests(4);
  AppendFile log;
  log.open(dir / "steps.csv", true);
  log << "1,2,3\n";
  EXPECT_THROW(log.flush(), WriteError);
  EXPECT_EQ(readFile(dir / "steps.csv"), "1,2,") << "what fitted is on disk, as on a full disk";
}

TEST(FullDisk, WhileWritingACheckpointTheRunStopsAndKeepsThePreviousOne) {
  TempDir dir;
  NoWriteFailures reset;
  auto c = threeEpochs(dir / "run");
  c.selection.metric = SelectMetricKind::Last;  // no best.pt: the budget is the checkpoint's
  Recorder rec;
  // Epoch 2's logs fit (< 2 kB); its checkpoint (tens of kB) does not.
  rec.onStepHook = [&](const StepEvent& e) {
    if (e.step == 12) failWritesAfterBytesForTests(2000);
  };
  const auto s = runTraining(c, rec, CancelToken{});
  failWritesAfterBytesForTests(-1);
  EXPECT_EQ(s.status, RunStatus::Failed);
  EXPECT_FALSE(s.outOfMemory);
  EXPECT_NE(s.message.find("cannot write " + c.outDir + "/checkpoint.pt: No space left on device (disk full)"),
            std::string::npos)
      << s.message;
  EXPECT_NE(s.message.find("the last good checkpoint (epoch 1) is kept"), std::string::npos) << s.message;
  EXPECT_NE(s.message.find("--resume"), std::string::npos) << s.message;
  EXPECT_EQ(s.message.find('\n'), std::string::npos) << s.message;
  EXPECT_FALSE(hasTemporaries(c.outDir)) << "no partial checkpoint left behind";

  // The kept checkpoint is whole and resumes: epoch 2 again, then 3.
  auto r = c;
  r.resumeFrom = c.outDir;
  Recorder again;
  ASSERT_EQ(runTraining(r, again, CancelToken{}).status, RunStatus::Finished);
  ASSERT_FALSE(again.steps.empty());
  EXPECT_EQ(again.steps.front().step, 7);
  EXPECT_EQ(csvRows(c.outDir + "/epochs.csv").size(), 3u) << "epoch 2's row, written before the failed checkpoint, "
                                                              "was dropped on resume and written again";
}

TEST(FullDisk, WhileWritingTheLogsTheRunStopsNamingTheFile) {
  TempDir dir;
  NoWriteFailures reset;
  auto c = threeEpochs(dir / "run");
  Recorder rec;
  rec.onStepHook = [&](const StepEvent& e) {
    if (e.step == 9) failWritesAfterBytesForTests(0);
  };
  const auto s = runTraining(c, rec, CancelToken{});
  failWritesAfterBytesForTests(-1);
  EXPECT_EQ(s.status, RunStatus::Failed);
  EXPECT_NE(s.message.find("cannot write " + c.outDir + "/steps.csv: No space left on device (disk full)"),
            std::string::npos)
      << s.message;
  EXPECT_NE(s.message.find("the last good checkpoint (epoch 1) is kept"), std::string::npos) << s.message;
  EXPECT_NE(s.message.find("metrics.json not written"), std::string::npos) << s.message;
  // Epoch 1's checkpoint loads.
  auto model = createModel({c.model, c.channels, 2});
  EXPECT_EQ(loadCheckpoint(c.outDir + "/checkpoint.pt", *model, nullptr, nullptr).epoch, 1);
}

TEST(Resume, ALoaderStartedAtBatchKGivesTheEpochsBatchesFromK) {
  const int64_t n = 22;
  SplitTensors split;
  split.images = torch::randint(0, 256, {n, 1, 8, 8}, torch::TensorOptions().dtype(torch::kUInt8));
  split.labels = torch::arange(n, torch::kLong).remainder(2);
  LoaderOptions o;
  o.batchSize = 4;
  o.seed = 5;
  o.epoch = 2;
  o.augment = true;  // augmentation too is a function of the batch's index
  auto batches = [&](int64_t first, bool prefetch) {
    auto opts = o;
    opts.firstBatch = first;
    opts.prefetch = prefetch;
    BatchLoader loader(split, opts, true);
    std::vector<Batch> out;
    Batch b;
    while (loader.next(b)) out.push_back(b);
    return out;
  };
  const auto all = batches(0, true);
  ASSERT_EQ(all.size(), 6u);  // the last one of 2 images
  for (bool prefetch : {true, false}) {
    const auto tail = batches(3, prefetch);
    ASSERT_EQ(tail.size(), 3u);
    for (size_t i = 0; i < tail.size(); ++i) {
      EXPECT_TRUE(torch::equal(tail[i].images, all[3 + i].images)) << "batch " << 3 + i;
      EXPECT_TRUE(torch::equal(tail[i].labels, all[3 + i].labels));
    }
  }
  EXPECT_TRUE(batches(6, true).empty());
}
