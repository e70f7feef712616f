#include "TestUtil.h"
#include "engine/train/FaultInjection.h"
#include "engine/train/RunDir.h"
#include "engine/train/RunModel.h"
#include "engine/train/Trainer.h"
#include "engine/train/TrainerInternal.h"
#include "engine/util/Errors.h"
#include "engine/util/Files.h"

#include <gtest/gtest.h>

#include <map>
#include <set>
#include <nlohmann/json.hpp>

#include <filesystem>
#include <fstream>
#include <sstream>

namespace fs = std::filesystem;
using namespace ampbench;
using ampbench::test::TempDir;

namespace {

struct Row {
  std::vector<std::string> cells;
  double num(size_t i) const { return std::stod(cells.at(i)); }
};

std::vector<Row> readCsv(const std::string& path) {
  std::ifstream in(path);
  std::string line;
  std::getline(in, line);  // header
  std::vector<Row> rows;
  while (std::getline(in, line)) {
    Row r;
    std::stringstream ss(line);
    std::string cell;
    while (std::getline(ss, cell, ',')) r.cells.push_back(cell);
    rows.push_back(r);
  }
  return rows;
}

RunConfig tinyConfig(const std::string& out) { return ampbench::test::tinyRunConfig(out); }

struct Recorder : RunObserver {
  std::vector<StepEvent> steps;
  std::vector<EpochEvent> epochs;
  int started = 0, finished = 0, cancelled = 0, failed = 0;
  std::function<void(const StepEvent&)> onStepHook;
  std::function<void(const EpochEvent&)> onEpochHook;
  void onRunStarted(const RunStartedEvent&) override { ++started; }
  void onStep(const StepEvent& e) override {
    steps.push_back(e);
    if (onStepHook) onStepHook(e);
  }
  void onEpoch(const EpochEvent& e) override {
    epochs.push_back(e);
    if (onEpochHook) onEpochHook(e);
  }
  void onFinished(const RunSummary&) override { ++finished; }
  void onCancelled(const RunSummary&) override { ++cancelled; }
  void onFailed(const RunSummary&) override { ++failed; }
};

}  // namespace

TEST(Trainer, WritesTheRunDirectoryOfTheDesign) {
  TempDir dir;
  Recorder rec;
  const auto s = runTraining(tinyConfig(dir / "run"), rec, CancelToken{});
  EXPECT_EQ(s.status, RunStatus::Finished);
  for (const char* f : {"config.json", "dataset.json", "steps.csv", "epochs.csv", "checkpoint.pt", "metrics.json"}) {
    EXPECT_TRUE(fs::exists(dir / ("run/" + std::string(f)))) << f;
  }
  std::ifstream steps(dir / "run/steps.csv");
  std::string header;
  std::getline(steps, header);
  EXPECT_EQ(header, kStepsHeader);
  EXPECT_EQ(readCsv(dir / "run/epochs.csv").size(), 2u);
  EXPECT_EQ(readCsv(dir / "run/steps.csv").size(), 12u);  // 96 / 16 = 6 steps x 2 epochs
  EXPECT_EQ(rec.started, 1);
  EXPECT_EQ(rec.finished, 1);
  EXPECT_EQ(rec.steps.size(), 12u);
  const auto cfg = readRunConfig(dir / "run");
  EXPECT_EQ(cfg.imageSize, 16);
  EXPECT_EQ(cfg.seed, 3u);
  const auto metrics = nlohmann::json::parse(readFile(dir / "run/metrics.json"));
  EXPECT_EQ(metrics["status"], "finished");
}

TEST(Trainer, SameSeedSameLosses) {
  TempDir dir;
  Recorder a, b;
  runTraining(tinyConfig(dir / "a"), a, CancelToken{});
  runTraining(tinyConfig(dir / "b"), b, CancelToken{});
  ASSERT_EQ(a.steps.size(), b.steps.size());
  for (size_t i = 0; i < a.steps.size(); ++i) {
    EXPECT_EQ(a.steps[i].loss, b.steps[i].loss) << "step " << i;
  }
  auto c = tinyConfig(dir / "c");
  c.seed = 4;
  Recorder other;
  runTraining(c, other, CancelToken{});
  EXPECT_NE(other.steps[0].loss, a.steps[0].loss);
}

TEST(Trainer, ResumeFromCheckpointContinuesIdentically) {
  TempDir dir;
  Recorder full;
  runTraining(tinyConfig(dir / "full"), full, CancelToken{});

  // Same run, stopped after epoch 1 (cancel arrives as epoch 1 ends), then resumed.
  CancelToken cancel;
  Recorder first;
  first.onEpochHook = [&](const EpochEvent&) { cancel.cancel(); };
  const auto s1 = runTraining(tinyConfig(dir / "part"), first, cancel);
  ASSERT_EQ(s1.status, RunStatus::Cancelled);
  ASSERT_EQ(s1.epochsCompleted, 1);
  auto c = tinyConfig(dir / "part");
  c.resumeFrom = dir / "part";
  Recorder second;
  const auto s2 = runTraining(c, second, CancelToken{});
  ASSERT_EQ(s2.status, RunStatus::Finished);
  ASSERT_EQ(second.steps.size(), 6u);
  for (size_t i = 0; i < 6; ++i) {
    EXPECT_EQ(second.steps[i].step, full.steps[6 + i].step);
    EXPECT_EQ(second.steps[i].loss, full.steps[6 + i].loss) << "resumed step " << i;
  }
  // The CSV logs hold each epoch once.
  EXPECT_EQ(readCsv(dir / "part/epochs.csv").size(), 2u);
  EXPECT_EQ(readCsv(dir / "part/steps.csv").size(), 12u);
}

TEST(Trainer, CancelStopsAtTheNextStepAndLeavesAConsistentRunDir) {
  TempDir dir;
  CancelToken cancel;
  Recorder rec;
  rec.onStepHook = [&](const StepEvent& e) {
    if (e.step == 3) cancel.cancel();
  };
  const auto s = runTraining(tinyConfig(dir / "run"), rec, cancel);
  EXPECT_EQ(s.status, RunStatus::Cancelled);
  EXPECT_EQ(rec.cancelled, 1);
  EXPECT_EQ(rec.steps.size(), 3u);
  EXPECT_EQ(readCsv(dir / "run/steps.csv").size(), 3u);
  const auto metrics = nlohmann::json::parse(readFile(dir / "run/metrics.json"));
  EXPECT_EQ(metrics["status"], "cancelled");
}

TEST(Trainer, NanLossStopsCleanlyAndKeepsTheLastGoodCheckpoint) {
  TempDir dir;
  auto c = tinyConfig(dir / "run");
  c.injectNanAtStep = 8;  // in epoch 2
  Recorder rec;
  const auto s = runTraining(c, rec, CancelToken{});
  EXPECT_EQ(s.status, RunStatus::Diverged);
  EXPECT_EQ(rec.failed, 1);
  EXPECT_EQ(s.epochsCompleted, 1);
  EXPECT_NE(s.message.find("last good checkpoint (epoch 1)"), std::string::npos) << s.message;
  EXPECT_TRUE(fs::exists(dir / "run/checkpoint.pt"));
  // The kept checkpoint resumes.
  auto r = tinyConfig(dir / "run");
  r.resumeFrom = dir / "run";
  Recorder again;
  EXPECT_EQ(runTraining(r, again, CancelToken{}).status, RunStatus::Finished);
}

namespace {
struct InfGradientAt {
  explicit InfGradientAt(int64_t step) { faults::setInfGradientAtStep(step); }
  ~InfGradientAt() { faults::setInfGradientAtStep(0); }
};

bool checkpointWeightsFinite(const std::string& runDir) {
  const auto model = loadModel(readRunInfo(runDir), torch::kCPU);
  for (const auto& p : model->parameters()) {
    if (!torch::isfinite(p).all().item<bool>()) {
      return false;
    }
  }
  return true;
}
}  // namespace

// A finite loss with an inf gradient (an overflow in backward only): before, only the loss
// was checked mid-epoch, so the step was applied, the weights became inf and the run
// stopped a step later on a NaN loss, blaming the wrong step.
TEST(Trainer, AnInfGradientWithAFiniteLossStopsBeforeTheStepInEveryModeWithoutAScaler) {
  for (const auto mode : {PrecisionMode::Fp32, PrecisionMode::Bf16}) {
    SCOPED_TRACE(toString(mode));
    TempDir dir;
    auto c = tinyConfig(dir / "run");
    c.precision = mode;
    c.epochs = 3;
    const InfGradientAt fault(8);  // epoch 2, step 2 of 6
    Recorder rec;
    const auto s = runTraining(c, rec, CancelToken{});
    EXPECT_EQ(s.status, RunStatus::Diverged);
    EXPECT_EQ(s.epochsCompleted, 1);
    EXPECT_NE(s.message.find("a gradient became inf/NaN with no loss scaler to skip the step at epoch 2, step 8"),
              std::string::npos)
        << s.message;
    EXPECT_NE(s.message.find("it started in the gradient of"), std::string::npos) << s.message;
    EXPECT_NE(s.message.find("last good checkpoint (epoch 1) is kept"), std::string::npos) << s.message;
    EXPECT_NE(s.message.find("--detect-anomaly"), std::string::npos) << s.message;
    ASSERT_FALSE(rec.steps.empty());
    EXPECT_EQ(rec.steps.back().step, 8);
    EXPECT_TRUE(rec.steps.back().skipped);
    EXPECT_TRUE(checkpointWeightsFinite(dir / "run"));
  }
}

TEST(Trainer, WithALossScalerAnInfGradientIsASkippedStepNotAStop) {
  TempDir dir;
  auto c = tinyConfig(dir / "run");
  c.precision = PrecisionMode::Fp16;
  const InfGradientAt fault(8);
  Recorder rec;
  const auto s = runTraining(c, rec, CancelToken{});
  EXPECT_EQ(s.status, RunStatus::Finished) << s.message;
  EXPECT_EQ(s.skippedSteps, 1);
  EXPECT_TRUE(checkpointWeightsFinite(dir / "run"));
}

TEST(Trainer, DetectAnomalyNamesTheOperationThatProducedTheNaN) {
  TempDir dir;
  auto c = tinyConfig(dir / "run");
  c.injectNanAtStep = 8;  // loss * NaN: the replay reproduces it
  c.detectAnomaly = true;
  Recorder rec;
  const auto s = runTraining(c, rec, CancelToken{});
  EXPECT_EQ(s.status, RunStatus::Diverged);
  EXPECT_NE(s.message.find("anomaly mode: Function '"), std::string::npos) << s.message;
  EXPECT_NE(s.message.find("returned nan values"), std::string::npos) << s.message;
  EXPECT_EQ(s.message.find("--detect-anomaly names"), std::string::npos) << "no advice to do what was done";
  EXPECT_EQ(s.message.find('\n'), std::string::npos) << s.message;
  // The replay restored the batch-norm statistics and kept the last good checkpoint.
  EXPECT_TRUE(checkpointWeightsFinite(dir / "run"));
  // An injected gradient fault is not reproduced by the replay: said so, not invented.
  TempDir other;
  auto g = tinyConfig(other / "run");
  g.detectAnomaly = true;
  const InfGradientAt fault(8);
  const auto t = runTraining(g, rec, CancelToken{});
  EXPECT_NE(t.message.find("anomaly mode found no inf/NaN when the step was replayed"), std::string::npos)
      << t.message;
}

TEST(Trainer, OutOfMemoryEndsTheRunCleanlyAndKeepsTheLastGoodCheckpoint) {
  TempDir dir;
  auto c = tinyConfig(dir / "run");
  c.injectOomAtStep = 8;  // 6 steps per epoch: step 2 of epoch 2
  Recorder rec;
  const auto s = runTraining(c, rec, CancelToken{});
  EXPECT_EQ(s.status, RunStatus::Failed);
  EXPECT_TRUE(s.outOfMemory);
  EXPECT_EQ(rec.failed, 1);
  EXPECT_EQ(rec.finished, 0);
  EXPECT_EQ(s.epochsCompleted, 1);
  EXPECT_NE(s.message.find("out of memory in epoch 2, step 2 of 6 (batch 16 at 16 px"), std::string::npos)
      << s.message;
  EXPECT_NE(s.message.find("last good checkpoint (epoch 1) is kept"), std::string::npos) << s.message;
  EXPECT_NE(s.message.find("Lower the batch size (--batch-size) or the image size"), std::string::npos) << s.message;
  EXPECT_EQ(s.message.find('\n'), std::string::npos) << "no C++ stack trace in the message: " << s.message;
  const auto metrics = nlohmann::json::parse(readFile(dir / "run/metrics.json"));
  EXPECT_EQ(metrics["status"], "failed");
  EXPECT_EQ(metrics["out_of_memory"], true);
  EXPECT_EQ(metrics["epochs_completed"], 1);
  EXPECT_EQ(readCsv(dir / "run/epochs.csv").size(), 1u);
  // The kept checkpoint resumes.
  auto r = tinyConfig(dir / "run");
  r.resumeFrom = dir / "run";
  Recorder again;
  EXPECT_EQ(runTraining(r, again, CancelToken{}).status, RunStatus::Finished);
}

TEST(Trainer, SkippedStepsDoNotAdvanceTheSchedule) {
  TempDir dir;
  auto c = tinyConfig(dir / "run");
  c.scaler.mode = ScalingKind::On;
  c.scaler.initScale = std::ldexp(1.0, 140);  // overflows float32: the first steps must be skipped
  c.batchSize = 8;
  c.epochs = 3;  // 36 steps
  Recorder rec;
  const auto s = runTraining(c, rec, CancelToken{});
  ASSERT_EQ(s.status, RunStatus::Finished);
  ASSERT_GE(s.skippedSteps, 13);
  const auto& st = rec.steps;
  EXPECT_TRUE(st[0].skipped);
  EXPECT_DOUBLE_EQ(st[0].lossScale, std::ldexp(1.0, 140)) << "rows show the scale the step used";
  EXPECT_DOUBLE_EQ(st[1].lossScale, std::ldexp(1.0, 139)) << "halved after the overflow";
  for (size_t i = 0; i + 1 < st.size(); ++i) {
    if (st[i].skipped) {
      EXPECT_EQ(st[i + 1].lr, st[i].lr) << "lr moved after skipped step " << i;
    } else {
      EXPECT_NE(st[i + 1].lr, st[i].lr) << "lr stuck after applied step " << i;
    }
  }
}

TEST(Trainer, TheEpochTrainLossAveragesOnlyTheAppliedSteps) {
  // A skipped step whose own loss is NaN (here injected; an FP16 forward overflow does the
  // same) never reached the weights: it must not make the epoch's train loss NaN.
  TempDir dir;
  auto c = tinyConfig(dir / "run");
  c.scaler.mode = ScalingKind::On;
  c.epochs = 1;
  c.injectNanAtStep = 2;
  Recorder rec;
  const auto s = runTraining(c, rec, CancelToken{});
  ASSERT_EQ(s.status, RunStatus::Finished);
  ASSERT_EQ(rec.epochs.size(), 1u);
  EXPECT_GE(rec.epochs[0].skippedSteps, 1) << "the NaN step was skipped and is counted";
  EXPECT_TRUE(std::isfinite(rec.epochs[0].trainLoss));
  EXPECT_GT(rec.epochs[0].trainLoss, 0.0);
  EXPECT_TRUE(std::isfinite(readCsv(dir / "run/epochs.csv")[0].num(1)));
}

TEST(Trainer, AWhatIfThatDivergesSaysItIsTheResult) {
  TempDir dir;
  auto c = tinyConfig(dir / "run");
  c.precision = PrecisionMode::Fp16NoScale;
  c.epochs = 1;
  c.injectNanAtStep = 3;
  Recorder rec;
  const auto s = runTraining(c, rec, CancelToken{});
  EXPECT_EQ(s.status, RunStatus::Diverged) << "no loss scaler: the NaN reached the weights";
  EXPECT_TRUE(s.precision.whatIf);
  EXPECT_NE(s.message.find("step 3"), std::string::npos) << s.message;
  EXPECT_NE(s.message.find("what-if"), std::string::npos) << s.message;
  EXPECT_NE(s.message.find("before applying it"), std::string::npos) << "the NaN never reached the weights";
  EXPECT_GE(s.overflowSteps, 1) << "the step that diverged is counted as an overflow";
  EXPECT_EQ(readCsv(dir / "run/overflows.csv").size(), 1u) << "and attributed once";
}

TEST(Trainer, GradStatsAtTheRequestedCadence) {
  TempDir dir;
  auto c = tinyConfig(dir / "run");
  c.precision = PrecisionMode::Fp16;
  c.epochs = 1;  // about 10 steps at batch 8
  c.batchSize = 8;
  c.gradStatsEvery = 4;
  struct StatsRecorder : RunObserver {
    std::vector<PrecisionStatsEvent> stats;
    std::set<int64_t> skipped;
    void onPrecisionStats(const PrecisionStatsEvent& e) override { stats.push_back(e); }
    void onStep(const StepEvent& e) override {
      if (e.skipped) skipped.insert(e.step);
    }
  } rec;
  const auto s = runTraining(c, rec, CancelToken{});
  ASSERT_EQ(s.status, RunStatus::Finished);
  std::vector<int64_t> steps;
  for (const auto& e : rec.stats) {
    steps.push_back(e.step);
    bool haveActivationGrad = false, haveUpdate = false;
    for (const auto& t : e.tensors) {
      haveActivationGrad |= t.kind == "activation_grad";
      haveUpdate |= t.kind == "update";
    }
    EXPECT_TRUE(haveActivationGrad) << "step " << e.step;
    EXPECT_EQ(haveUpdate, !rec.skipped.count(e.step)) << "updates exactly on applied steps; step " << e.step;
  }
  ASSERT_FALSE(steps.empty());
  for (size_t i = 0; i < steps.size(); ++i) {
    EXPECT_EQ(steps[i], 4 * static_cast<int64_t>(i + 1));
  }
  // grad_stats.csv holds the same steps, in long format.
  std::set<int64_t> fileSteps;
  const auto rows = readCsv(dir / "run/grad_stats.csv");
  ASSERT_FALSE(rows.empty());
  for (const auto& r : rows) {
    fileSteps.insert(static_cast<int64_t>(r.num(0)));
  }
  EXPECT_EQ(fileSteps, std::set<int64_t>(steps.begin(), steps.end()));
  EXPECT_TRUE(std::filesystem::exists(dir / "run/overflows.csv"));
}

TEST(Trainer, OverflowsAreAttributedToALayer) {
  // A loss scale of 2^140 overflows float32 in backward: the first steps are skipped and
  // each is attributed to the first layer in backward order whose gradient held inf/NaN.
  TempDir dir;
  auto c = tinyConfig(dir / "run");
  c.scaler.mode = ScalingKind::On;
  c.scaler.initScale = std::ldexp(1.0, 140);
  c.epochs = 1;
  struct OverflowRecorder : RunObserver {
    std::vector<OverflowAttribution> overflows;
    void onOverflowAttribution(const OverflowAttribution& a) override { overflows.push_back(a); }
  } rec;
  const auto s = runTraining(c, rec, CancelToken{});
  ASSERT_EQ(s.status, RunStatus::Finished);
  ASSERT_EQ(static_cast<int64_t>(rec.overflows.size()), s.overflowSteps);
  ASSERT_FALSE(rec.overflows.empty());
  EXPECT_EQ(rec.overflows[0].step, 1);
  EXPECT_FALSE(rec.overflows[0].layer.empty());
  EXPECT_EQ(rec.overflows[0].kind, "weight_grad");
  EXPECT_EQ(readCsv(dir / "run/overflows.csv").size(), rec.overflows.size());
}

TEST(Trainer, AForwardOverflowIsAttributedToItsBlockBesideTheGradient) {
  // A learning rate of 50 blows the weights up within a few steps; then FP16's forward
  // overflows (emulated: every block output rounded through float16). Steps are not sampled,
  // so the block is found by a forward-only replay; both rows land in overflows.csv.
  TempDir dir;
  auto c = tinyConfig(dir / "run");
  c.precision = PrecisionMode::Fp16;
  c.lr = 50;
  c.epochs = 2;
  RunObserver quiet;
  const auto s = runTraining(c, quiet, CancelToken{});
  ASSERT_GE(s.overflowSteps, 1);
  std::map<int64_t, std::set<std::string>> kinds;
  std::set<std::string> blocks;
  for (const auto& row : readCsv(dir / "run/overflows.csv")) {
    kinds[static_cast<int64_t>(row.num(0))].insert(row.cells.at(2));
    if (row.cells.at(2) == "activation") {
      blocks.insert(row.cells.at(1));
    }
  }
  EXPECT_EQ(static_cast<int64_t>(kinds.size()), s.overflowSteps) << "every overflowed step is attributed";
  ASSERT_FALSE(blocks.empty()) << "no forward overflow was attributed";
  for (const auto& b : blocks) {
    EXPECT_TRUE(b == "fc" || b.rfind("conv", 0) == 0) << b;  // small_cnn's block names
  }
  for (const auto& [step, k] : kinds) {
    EXPECT_TRUE(k.count("weight_grad")) << "step " << step << " has no gradient row";
  }
}

TEST(Trainer, AResumeWithChangedSettingsIsRefusedNamingThem) {
  TempDir dir;
  auto c = tinyConfig(dir / "run");
  c.epochs = 1;
  RunObserver quiet;
  ASSERT_EQ(runTraining(c, quiet, CancelToken{}).status, RunStatus::Finished);
  auto resumed = c;
  resumed.resumeFrom = c.outDir;
  resumed.epochs = 2;
  resumed.imageSize = 32;  // the run trained at 16 px
  resumed.lr = 0.01;
  try {
    runTraining(resumed, quiet, CancelToken{});
    FAIL() << "a resume at another image size was accepted";
  } catch (const InputError& e) {
    const std::string m = e.what();
    EXPECT_NE(m.find("image_size 16 -> 32"), std::string::npos) << m;
    EXPECT_NE(m.find("lr "), std::string::npos) << m;
    EXPECT_EQ(m.find("epochs 1 -> 2"), std::string::npos) << "more epochs extend the run: " << m;
  }
  EXPECT_EQ(readCsv(dir / "run/epochs.csv").size(), 1u) << "the refused resume wrote nothing";
  resumed.imageSize = c.imageSize;
  resumed.lr = c.lr;
  resumed.threads = 1;  // where and how fast it runs may change
  EXPECT_EQ(runTraining(resumed, quiet, CancelToken{}).status, RunStatus::Finished);
  EXPECT_EQ(readCsv(dir / "run/epochs.csv").size(), 2u);
}

TEST(RunConfigResume, OnlyRunningDetailsMayChange) {
  RunConfig a;
  a.dataPath = "x";
  auto b = a;
  b.epochs = 9;
  b.threads = 3;
  b.outDir = "elsewhere";
  b.gradStatsEvery = 5;
  EXPECT_TRUE(resumeConflicts(a, b).empty());
  b.precision = PrecisionMode::Fp16Pure;
  b.augment.maxRotationDeg = 3;
  const auto conflicts = resumeConflicts(a, b);
  ASSERT_EQ(conflicts.size(), 2u);
  EXPECT_NE(std::find(conflicts.begin(), conflicts.end(), "mode \"fp32\" -> \"fp16-pure\""), conflicts.end());
  EXPECT_NE(std::find(conflicts.begin(), conflicts.end(), "max_rotation_deg 7.0 -> 3.0"), conflicts.end());
}

TEST(Trainer, Fp16StartsAtTheDefaultLossScaleAndIsLabelledEmulated) {
  TempDir dir;
  auto c = tinyConfig(dir / "run");
  c.precision = PrecisionMode::Fp16;
  c.epochs = 1;
  Recorder rec;
  const auto s = runTraining(c, rec, CancelToken{});
  EXPECT_EQ(s.status, RunStatus::Finished);
  EXPECT_TRUE(s.precision.emulated);
  EXPECT_TRUE(s.precision.lossScaling);
  EXPECT_DOUBLE_EQ(readCsv(dir / "run/steps.csv")[0].num(4), 65536.0);
  const auto cfg = nlohmann::json::parse(readFile(dir / "run/config.json"));
  EXPECT_EQ(cfg["resolved"]["precision"]["emulated"], true);
}

TEST(Trainer, FewerImagesThanABatchIsRefused) {
  TempDir dir;
  auto c = tinyConfig(dir / "run");
  c.batchSize = 500;
  Recorder rec;
  EXPECT_THROW(runTraining(c, rec, CancelToken{}), InputError);
}

TEST(Trainer, UnwritableOutputIsRefused) {
  auto c = tinyConfig("/proc/ampbench-cannot-write-here");
  Recorder rec;
  EXPECT_THROW(runTraining(c, rec, CancelToken{}), InputError);
}

TEST(Comparison, SameInitialWeightsAndConsistentSummary) {
  TempDir dir;
  auto c = tinyConfig(dir / "cmp");
  c.epochs = 1;
  Recorder rec;
  const auto s = runComparison(c, {PrecisionMode::Bf16, PrecisionMode::Fp32}, rec, CancelToken{});
  ASSERT_EQ(s.runs.size(), 2u);
  EXPECT_EQ(s.modeNames[0], "fp32") << "fp32 is moved first as the baseline";
  EXPECT_TRUE(fs::exists(dir / "cmp/fp32/steps.csv"));
  EXPECT_TRUE(fs::exists(dir / "cmp/bf16/steps.csv"));
  const auto a = readCsv(dir / "cmp/fp32/steps.csv"), b = readCsv(dir / "cmp/bf16/steps.csv");
  EXPECT_NEAR(a[0].num(2), b[0].num(2), 0.05) << "identical initial weights give the same first loss";
  const auto j = nlohmann::json::parse(readFile(dir / "cmp/comparison.json"));
  ASSERT_EQ(j["modes"].size(), 2u);
  EXPECT_DOUBLE_EQ(j["modes"][1]["speedup_vs_fp32"].get<double>(),
                   s.runs[1].imagesPerSecond / s.runs[0].imagesPerSecond);
  const auto back = readComparison(dir / "cmp");
  EXPECT_EQ(back.modeNames, s.modeNames);
  EXPECT_DOUBLE_EQ(back.runs[1].imagesPerSecond, s.runs[1].imagesPerSecond);
  EXPECT_FALSE(s.verdict.empty());
  // One epoch: the speed ratio is given, never called faster or slower.
  EXPECT_NE(s.verdict.find("x the speed of FP32 (one timed epoch: no spread to judge)"), std::string::npos)
      << s.verdict;
  EXPECT_TRUE(j["modes"][1]["speedup_range"].is_null());
  // The trainer kept the validation outputs: the accuracy difference is paired over them.
  ASSERT_EQ(s.versusBaseline.size(), 2u);
  EXPECT_TRUE(s.versusBaseline[1].accuracy.valid()) << s.versusBaseline[1].accuracy.unavailable;
  EXPECT_EQ(j["modes"][1]["accuracy_diff"]["n"].get<int64_t>(), s.runs[1].finalVal.count);
  EXPECT_EQ(s.runs[1].finalValLabels.size(), static_cast<size_t>(s.runs[1].finalVal.count));
  EXPECT_EQ(s.runs[1].epochSeconds.size(), 1u);
  EXPECT_TRUE(back.runs[1].hasFinalMetrics);
  // Each mode's figures say which epoch they are: the one its metrics.json kept.
  for (size_t i = 0; i < 2; ++i) {
    const auto m = nlohmann::json::parse(readFile(fs::path(dir / "cmp") / s.modeNames[i] / "metrics.json"));
    EXPECT_EQ(j["modes"][i]["selected_epoch"].get<int64_t>(), m.at("selection").at("epoch").get<int64_t>());
    EXPECT_EQ(j["modes"][i]["selected_epoch"].get<int64_t>(), 1);
  }
}

TEST(Comparison, AModeThatRunsOutOfMemoryDoesNotStopTheOthers) {
  TempDir dir;
  auto c = tinyConfig(dir / "cmp");
  c.epochs = 1;
  c.injectOomAtStep = 3;  // every mode: the comparison must still run the second one
  Recorder rec;
  const auto s = runComparison(c, {PrecisionMode::Fp32, PrecisionMode::Fp16}, rec, CancelToken{});
  ASSERT_EQ(s.runs.size(), 2u);
  EXPECT_TRUE(s.runs[0].outOfMemory);
  EXPECT_TRUE(s.runs[1].outOfMemory);
  EXPECT_EQ(rec.failed, 2);
  EXPECT_NE(s.verdict.find("FP32 ran out of memory at this batch size"), std::string::npos) << s.verdict;
  const auto back = readComparison(dir / "cmp");
  ASSERT_EQ(back.runs.size(), 2u);
  EXPECT_TRUE(back.runs[0].outOfMemory);
  EXPECT_EQ(back.runs[0].status, RunStatus::Failed);
  EXPECT_NE(back.runs[1].message.find("out of memory in epoch 1, step 3"), std::string::npos) << back.runs[1].message;
}

TEST(Comparison, VerdictWhenOnlyTheMixedRunFits) {
  ComparisonSummary s;
  RunSummary fp32, mixed;
  fp32.status = RunStatus::Failed;
  fp32.outOfMemory = true;
  fp32.precision.label = "FP32";
  mixed.status = RunStatus::Finished;
  mixed.precision.label = "FP16 mixed";
  mixed.imagesPerSecond = 900;
  mixed.finalVal.accuracy = 0.912;
  s.runs = {fp32, mixed};
  EXPECT_EQ(comparisonVerdict(s),
            "FP32 ran out of memory at this batch size; FP16 mixed trained with it (validation accuracy 91.2 %): "
            "its smaller activations made the batch fit.");
  // The usual line otherwise, naming a mixed run that did not fit.
  fp32 = RunSummary{};
  fp32.status = RunStatus::Finished;
  fp32.precision.label = "FP32";
  fp32.imagesPerSecond = 300;
  fp32.finalVal.accuracy = 0.915;
  mixed.status = RunStatus::Failed;
  mixed.outOfMemory = true;
  s.runs = {fp32, mixed};
  EXPECT_EQ(comparisonVerdict(s), "FP16 mixed: ran out of memory at this batch size, not compared");
}

TEST(Trainer, ChannelsLastReachesTheOneChannelStem) {
  // A [O,1,k,k] weight satisfies both layouts; contiguous(ChannelsLast) would leave it NCHW
  // and oneDNN would then run the stem (the largest activations) in NCHW.
  for (const char* name : {"small_cnn", "resnet18"}) {
    RunConfig c;
    c.model = name;
    c.channels = 1;
    c.memoryFormat = MemoryFormatKind::ChannelsLast;
    auto model = buildModel(c, 2, torch::kCPU, describePrecision(PrecisionMode::Fp32, DeviceKind::Cpu));
    for (const auto& p : model->named_parameters()) {
      if (p.value().dim() == 4) {
        EXPECT_EQ(p.value().suggest_memory_format(), torch::MemoryFormat::ChannelsLast) << name << " " << p.key();
      }
    }
    torch::NoGradGuard noGrad;
    const auto x = torch::rand({2, 1, 32, 32}).contiguous(torch::MemoryFormat::ChannelsLast);
    const auto stem = model->named_children()[0].value()->as<torch::nn::Conv2d>();
    ASSERT_NE(stem, nullptr) << name;
    EXPECT_EQ(stem->forward(x).suggest_memory_format(), torch::MemoryFormat::ChannelsLast) << name;

    applyMemoryFormat(*model, false);  // what inference asks for, whatever a checkpoint brought
    for (const auto& p : model->parameters()) {
      EXPECT_EQ(p.suggest_memory_format(), torch::MemoryFormat::Contiguous) << name;
    }
  }
}
