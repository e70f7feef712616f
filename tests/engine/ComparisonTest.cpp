// The comparison's statistics and verdict (engine/train/Comparison.cpp) on run summaries
// built by hand: a difference is called only beyond its noise, emulation and missing bf16
// kernels are named, comparison.json round-trips, never holds NaN, and older files load.

#include "TestUtil.h"
#include "engine/precision/Precision.h"
#include "engine/train/Trainer.h"
#include "engine/train/TrainerInternal.h"
#include "engine/util/Files.h"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <cmath>

using namespace ampbench;
using ampbench::test::TempDir;

namespace {

constexpr int kImages = 270;
constexpr double kImagesPerEpoch = 1000.0;

std::vector<int64_t> labels270() {
  std::vector<int64_t> y(kImages);
  for (int i = 0; i < kImages; ++i) {
    y[static_cast<size_t>(i)] = i % 2;
  }
  return y;
}

// Right on the images where `right(i)` holds, with a confidence that varies (few AUC ties).
template <typename Right>
RunSummary finishedRun(const char* label, Right right, std::vector<double> epochSeconds) {
  RunSummary r;
  r.status = RunStatus::Finished;
  r.precision.label = label;
  r.hasFinalMetrics = true;
  r.finalValLabels = labels270();
  int correct = 0;
  for (int i = 0; i < kImages; ++i) {
    const int64_t y = r.finalValLabels[static_cast<size_t>(i)];
    const int64_t predicted = right(i) ? y : 1 - y;
    correct += predicted == y;
    const float p1 = predicted == 1 ? 0.55f + 0.4f * static_cast<float>(i % 17) / 17.0f
                                    : 0.45f - 0.4f * static_cast<float>(i % 13) / 13.0f;
    r.finalValProbabilities.insert(r.finalValProbabilities.end(), {1.0f - p1, p1});
  }
  r.finalVal.count = kImages;
  r.finalVal.accuracy = static_cast<double>(correct) / kImages;
  r.epochSeconds = epochSeconds;
  r.epochsCompleted = static_cast<int64_t>(epochSeconds.size());
  std::vector<double> throughput;
  for (const double s : epochSeconds) {
    throughput.push_back(kImagesPerEpoch / s);
  }
  r.medianEpochSeconds = medianAfterWarmup(epochSeconds);
  r.imagesPerSecond = medianAfterWarmup(throughput);
  return r;
}

// The baseline: right on 230 of 270 images (every image but i % 27 < 4).
bool baseRight(int i) { return i % 27 >= 4; }

ComparisonSummary summaryOf(const RunSummary& base, const RunSummary& mode) {
  ComparisonSummary s;
  s.modeNames = {"fp32", "mode"};
  s.runs = {base, mode};
  s.versusBaseline = {ModeComparison{}, compareWithBaseline(base, mode)};
  s.verdict = comparisonVerdict(s);
  return s;
}

bool startsWith(const std::string& s, const std::string& prefix) { return s.rfind(prefix, 0) == 0; }
bool endsWith(const std::string& s, const std::string& suffix) {
  return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

RunConfig settings(const std::string& out) {
  RunConfig c = ampbench::test::tinyRunConfig(out);
  return c;
}

}  // namespace

TEST(ComparisonVerdict, EmulatedSlowdownWithinNoiseAccuracy) {
  const auto base = finishedRun("FP32", baseRight, {10.0, 5.0, 5.1, 5.05});
  // Two images gained (0, 1), four lost (4-7): -0.7 points, well inside the noise of 270 images.
  auto mode = finishedRun("FP16 mixed (emulated)",
                          [](int i) { return i < 2 ? true : (i >= 4 && i < 8) ? false : baseRight(i); },
                          {12.0, 6.1, 6.2, 6.15});
  mode.precision.emulated = true;
  const auto s = summaryOf(base, mode);
  const auto& c = s.versusBaseline[1];
  EXPECT_NEAR(c.accuracy.value, -2.0 / kImages, 1e-12);
  EXPECT_FALSE(c.accuracy.measurable());
  EXPECT_LT(c.accuracy.low, 0.0);
  EXPECT_GT(c.accuracy.high, 0.0);
  EXPECT_NEAR(c.accuracy.mcnemarP, mcnemarExactP(4, 2), 1e-15);
  EXPECT_NEAR(c.speedup, 5.05 / 6.15, 1e-12);
  EXPECT_NEAR(c.speedLow, 5.0 / 6.2, 1e-12) << "fastest baseline epoch over slowest mode epoch";
  EXPECT_NEAR(c.speedHigh, 5.1 / 6.1, 1e-12);
  EXPECT_EQ(c.timedEpochs, 3) << "the warm-up epoch is not timed";
  EXPECT_TRUE(c.slower());
  EXPECT_TRUE(startsWith(s.verdict, "FP16 mixed (emulated): no measurable accuracy difference (n = 270, -"))
      << s.verdict;
  EXPECT_TRUE(endsWith(s.verdict, " points); 0.82x the speed of FP32 (0.81-0.84), the cost of emulation"))
      << s.verdict;
  EXPECT_EQ(s.verdict.find('\n'), std::string::npos) << "one line per compared mode";
}

TEST(ComparisonVerdict, ClearDifferencesAreCalledWithTheirIntervals) {
  const auto base = finishedRun("FP32", baseRight, {9.0, 5.0, 5.2});
  // Right on every image: 40 gained, none lost.
  const auto better = finishedRun("BF16 mixed", [](int) { return true; }, {4.0, 2.5, 2.6});
  auto s = summaryOf(base, better);
  EXPECT_TRUE(s.versusBaseline[1].accuracy.measurable());
  EXPECT_TRUE(startsWith(s.verdict, "BF16 mixed: 14.8 points more accurate (n = 270, +")) << s.verdict;
  EXPECT_TRUE(s.versusBaseline[1].faster());
  EXPECT_TRUE(endsWith(s.verdict, "; 2.00x the speed of FP32 (1.92-2.08)")) << s.verdict;
  EXPECT_LT(s.versusBaseline[1].accuracy.mcnemarP, 1e-9);
  EXPECT_TRUE(s.versusBaseline[1].auc.valid()) << s.versusBaseline[1].auc.unavailable;

  // 20 images lost, none gained.
  const auto worse = finishedRun("BF16 mixed", [](int i) { return i % 27 >= 6; }, {9.0, 5.0, 5.2});
  s = summaryOf(base, worse);
  EXPECT_TRUE(startsWith(s.verdict, "BF16 mixed: 7.4 points less accurate (n = 270, -")) << s.verdict;
  EXPECT_TRUE(endsWith(s.verdict, "; no measurable speed difference (0.96-1.04x)")) << s.verdict;
}

TEST(ComparisonVerdict, BfloatWithoutNativeKernelsIsNamed) {
  const auto base = finishedRun("FP32", baseRight, {5.0, 5.0, 5.1, 4.9});
  auto bf16 = finishedRun("BF16 mixed", baseRight, {20.0, 16.0, 16.5, 16.2});
  // As resolvePrecision makes it: LibTorch's own bf16 (--bf16-kernels native) on a CPU without bf16 units.
  const auto slow = resolvePrecision(PrecisionMode::Bf16, torch::kCPU, LossScalerOptions{}, false,
                                     Bf16KernelsKind::Native, /*cpuNativeBf16=*/false);
  ASSERT_TRUE(slow.slowKernels);
  bf16.precision = slow;
  bf16.precision.label = "BF16 mixed";
  const auto s = summaryOf(base, bf16);
  EXPECT_TRUE(s.versusBaseline[1].slower());
  EXPECT_TRUE(startsWith(s.verdict, "BF16 mixed: no measurable accuracy difference (n = 270, +0.0 to +0.0 points); "))
      << s.verdict;
  EXPECT_TRUE(endsWith(s.verdict, ": this CPU has no native BF16 kernels")) << s.verdict;
  // With bf16 units a slowdown is not blamed on missing kernels.
  bf16.precision = resolvePrecision(PrecisionMode::Bf16, torch::kCPU, LossScalerOptions{}, false,
                                    Bf16KernelsKind::Auto, /*cpuNativeBf16=*/true);
  bf16.precision.label = "BF16 mixed";
  EXPECT_EQ(summaryOf(base, bf16).verdict.find("native"), std::string::npos);
}

TEST(ComparisonVerdict, OneEpochIsNeverFasterOrSlower) {
  const auto base = finishedRun("FP32", baseRight, {5.0});
  const auto mode = finishedRun("BF16 mixed", baseRight, {2.0});
  const auto s = summaryOf(base, mode);
  const auto& c = s.versusBaseline[1];
  EXPECT_DOUBLE_EQ(c.speedup, 2.5);
  EXPECT_FALSE(c.speedRangeKnown());
  EXPECT_FALSE(c.faster());
  EXPECT_FALSE(c.slower());
  EXPECT_TRUE(endsWith(s.verdict, "; 2.50x the speed of FP32 (one timed epoch: no spread to judge)")) << s.verdict;
  // Two epochs: both are timed (warm-up is only dropped from three on).
  const auto two = compareWithBaseline(finishedRun("FP32", baseRight, {5.0, 5.2}),
                                       finishedRun("BF16 mixed", baseRight, {2.5, 2.6}));
  EXPECT_EQ(two.timedEpochs, 2);
  EXPECT_NEAR(two.speedLow, 5.0 / 2.6, 1e-12);
  EXPECT_TRUE(two.faster());
  // No epoch times (a summary from before they were kept): the ratio, no judgement.
  auto old = base;
  old.epochSeconds.clear();
  EXPECT_TRUE(endsWith(summaryOf(old, mode).verdict, "(epoch times unknown: no spread to judge)"));
}

TEST(ComparisonVerdict, RunsThatCannotBePairedHaveNoDiffs) {
  const auto base = finishedRun("FP32", baseRight, {5.0, 5.0, 5.0});
  auto diverged = finishedRun("FP16 mixed (no loss scaling)", baseRight, {5.0});
  diverged.status = RunStatus::Diverged;
  auto c = compareWithBaseline(base, diverged);
  EXPECT_FALSE(c.accuracy.valid());
  EXPECT_FALSE(c.auc.valid());
  EXPECT_EQ(c.accuracy.unavailable, "the run diverged");
  EXPECT_EQ(summaryOf(base, diverged).verdict, "FP16 mixed (no loss scaling): diverged, not compared");

  auto otherImages = finishedRun("BF16 mixed", baseRight, {5.0, 5.0, 5.0});
  otherImages.finalValLabels[0] = 1 - otherImages.finalValLabels[0];
  EXPECT_EQ(compareWithBaseline(base, otherImages).accuracy.unavailable, "the runs were validated on different images");

  auto noOutputs = finishedRun("BF16 mixed", baseRight, {5.0, 5.0, 5.0});
  noOutputs.finalValProbabilities.clear();
  noOutputs.finalValLabels.clear();
  const auto s = summaryOf(base, noOutputs);
  EXPECT_FALSE(s.versusBaseline[1].accuracy.valid());
  EXPECT_TRUE(startsWith(s.verdict, "BF16 mixed: validation accuracy 85.2 % vs 85.2 % (no interval: no validation "
                                    "outputs were kept)"))
      << s.verdict;

  // NaN outputs of a run that finished: accuracy counts those images as wrong, AUC refuses.
  auto nanOutputs = finishedRun("FP16 mixed", baseRight, {5.0, 5.0, 5.0});
  nanOutputs.finalValProbabilities[10] = std::nanf("");
  c = compareWithBaseline(base, nanOutputs);
  EXPECT_TRUE(c.accuracy.valid());
  EXPECT_FALSE(c.auc.valid());
  EXPECT_NE(c.auc.unavailable.find("non-finite"), std::string::npos);
}

TEST(ComparisonFile, RoundTripsTheDifferencesAndNeverHoldsNaN) {
  TempDir dir;
  const auto base = finishedRun("FP32", baseRight, {10.0, 5.0, 5.1, 5.05});
  auto mode = finishedRun("BF16 mixed", [](int i) { return i % 27 >= 2; }, {4.0, 2.5, 2.6, 2.55});
  auto diverged = finishedRun("FP16 mixed (no loss scaling)", baseRight, {5.0});
  diverged.status = RunStatus::Diverged;
  diverged.finalVal.loss = std::nan("");
  diverged.finalLossScale = INFINITY;
  ComparisonSummary s;
  s.outDir = dir.path();
  s.modeNames = {"fp32", "bf16", "fp16-noscale"};
  s.runs = {base, mode, diverged};
  s.versusBaseline = {ModeComparison{}, compareWithBaseline(base, mode), compareWithBaseline(base, diverged)};
  s.verdict = comparisonVerdict(s);
  EXPECT_NE(s.verdict.find('\n'), std::string::npos) << "one line per mode";
  writeComparison(s, settings(dir.path()));

  const auto text = readFile(dir / "comparison.json");
  EXPECT_EQ(text.find("NaN"), std::string::npos);
  EXPECT_EQ(text.find("nan"), std::string::npos);
  EXPECT_EQ(text.find("Infinity"), std::string::npos);
  const auto j = nlohmann::json::parse(text);
  const auto& fp32 = j["modes"][0];
  EXPECT_FALSE(fp32.contains("accuracy_diff")) << "the baseline has nothing to differ from";
  const auto& bf16 = j["modes"][1];
  EXPECT_NEAR(bf16["accuracy_diff"]["value"].get<double>(), 2.0 * 10 / kImages, 1e-12);
  EXPECT_EQ(bf16["accuracy_diff"]["ci95"].size(), 2u);
  EXPECT_EQ(bf16["accuracy_diff"]["n"].get<int64_t>(), kImages);
  EXPECT_TRUE(bf16["accuracy_diff"]["mcnemar_p"].is_number());
  EXPECT_TRUE(bf16["auc_diff"]["ci95"].is_array());
  EXPECT_EQ(bf16["speedup_range"].size(), 2u);
  EXPECT_DOUBLE_EQ(bf16["speedup_vs_fp32"].get<double>(), mode.imagesPerSecond / base.imagesPerSecond);
  const auto& noscale = j["modes"][2];
  EXPECT_TRUE(noscale["accuracy_diff"].is_null());
  EXPECT_TRUE(noscale["auc_diff"].is_null());
  EXPECT_TRUE(noscale["speedup_range"].is_null());
  EXPECT_TRUE(noscale["val_loss"].is_null());
  EXPECT_EQ(noscale["diff_unavailable"], "the run diverged");
  EXPECT_EQ(j["statistics"]["bootstrap_resamples"], kDefaultBootstrapResamples);

  const auto back = readComparison(dir.path());
  ASSERT_EQ(back.runs.size(), 3u);
  ASSERT_EQ(back.versusBaseline.size(), 3u);
  EXPECT_EQ(back.verdict, s.verdict);
  const auto& a = s.versusBaseline[1];
  const auto& b = back.versusBaseline[1];
  EXPECT_DOUBLE_EQ(b.accuracy.value, a.accuracy.value);
  EXPECT_DOUBLE_EQ(b.accuracy.low, a.accuracy.low);
  EXPECT_DOUBLE_EQ(b.accuracy.high, a.accuracy.high);
  EXPECT_DOUBLE_EQ(b.accuracy.mcnemarP, a.accuracy.mcnemarP);
  EXPECT_EQ(b.accuracy.n, a.accuracy.n);
  EXPECT_DOUBLE_EQ(b.auc.value, a.auc.value);
  EXPECT_DOUBLE_EQ(b.auc.high, a.auc.high);
  EXPECT_DOUBLE_EQ(b.speedup, a.speedup);
  EXPECT_DOUBLE_EQ(b.speedLow, a.speedLow);
  EXPECT_DOUBLE_EQ(b.speedHigh, a.speedHigh);
  EXPECT_EQ(b.timedEpochs, 3);
  EXPECT_EQ(comparisonVerdict(back), s.verdict) << "the file holds everything the verdict says";
  EXPECT_FALSE(back.versusBaseline[2].accuracy.valid());
  EXPECT_EQ(back.versusBaseline[2].accuracy.unavailable, "the run diverged");
  EXPECT_TRUE(std::isnan(back.runs[2].finalVal.loss)) << "null reads back as not-a-number, not 0";
  EXPECT_EQ(back.runs[2].status, RunStatus::Diverged);
}

TEST(ComparisonFile, AFileFromBeforeTheIntervalsStillLoads) {
  TempDir dir;
  // comparison.json as written before the differences carried intervals.
  writeFileAtomic(dir / "comparison.json", R"({
  "format": "ampbench-comparison-1", "status": "finished", "baseline": "fp32",
  "verdict": "BF16 mixed trained 2.36x faster than FP32; validation accuracy 93.3 % vs 93.0 %.",
  "modes": [
    {"mode": "fp32", "run_dir": "fp32", "status": "finished",
     "precision": {"requested": "fp32", "resolved": "fp32", "label": "FP32"},
     "epochs": 3, "median_epoch_seconds": 16.4, "images_per_s": 61.0, "speedup_vs_fp32": 1.0,
     "peak_rss_mb": 500, "message": "", "has_final_metrics": true, "val_accuracy": 0.930, "val_auc": 0.95,
     "val_loss": 0.2, "overflow_steps": 0, "skipped_steps": 0, "final_loss_scale": 1.0, "train_seconds": 50},
    {"mode": "bf16", "run_dir": "bf16", "status": "diverged",
     "precision": {"requested": "bf16", "resolved": "bf16", "label": "BF16 mixed"},
     "epochs": 3, "median_epoch_seconds": 6.9, "images_per_s": 144.0, "speedup_vs_fp32": 2.36,
     "peak_rss_mb": 400, "message": "", "has_final_metrics": true, "val_accuracy": 0.933, "val_auc": 0.95,
     "val_loss": null, "overflow_steps": 0, "skipped_steps": 0, "final_loss_scale": 1.0, "train_seconds": 21}
  ]
})");
  const auto back = readComparison(dir.path());
  ASSERT_EQ(back.runs.size(), 2u);
  ASSERT_EQ(back.versusBaseline.size(), 2u);
  EXPECT_DOUBLE_EQ(back.versusBaseline[1].speedup, 2.36);
  EXPECT_FALSE(back.versusBaseline[1].speedRangeKnown());
  EXPECT_FALSE(back.versusBaseline[1].accuracy.valid());
  EXPECT_EQ(back.versusBaseline[1].accuracy.unavailable, "not in comparison.json");
  EXPECT_TRUE(std::isnan(back.runs[1].finalVal.loss));
  EXPECT_DOUBLE_EQ(back.runs[1].finalVal.accuracy, 0.933);
  EXPECT_EQ(back.verdict.substr(0, 10), "BF16 mixed");
}
