// Issue 17: model selection (best.pt), the threshold chosen on validation at the end of a
// run, recipes, and validation vs test (val_vs_test.json).

#include "TestUtil.h"
#include "engine/core/Recipe.h"
#include "engine/core/SplitShift.h"
#include "engine/export/Export.h"
#include "engine/train/Checkpoint.h"
#include "engine/train/RunModel.h"
#include "engine/train/Trainer.h"
#include "engine/util/Errors.h"
#include "engine/util/Files.h"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>
#include <torch/torch.h>

#include <filesystem>
#include <fstream>
#include <random>
#include <sstream>

namespace fs = std::filesystem;
using namespace ampbench;
using ampbench::test::TempDir;

namespace {

// A run's CSV log as rows of column name -> text.
std::vector<std::map<std::string, std::string>> readCsv(const std::string& path) {
  std::ifstream in(path);
  std::string line;
  std::getline(in, line);
  std::vector<std::string> header;
  std::stringstream hs(line);
  for (std::string c; std::getline(hs, c, ',');) {
    header.push_back(c);
  }
  std::vector<std::map<std::string, std::string>> rows;
  while (std::getline(in, line)) {
    std::stringstream ls(line);
    std::map<std::string, std::string> row;
    size_t k = 0;
    for (std::string c; std::getline(ls, c, ',') && k < header.size(); ++k) {
      row[header[k]] = c;
    }
    rows.push_back(row);
  }
  return rows;
}

// The epoch with the highest value of `column` in `rows`; on a tie the lower validation loss
// (epochs.csv's val_loss, `epochs` row for row), then the earlier epoch.
int64_t argmaxEpoch(const std::vector<std::map<std::string, std::string>>& rows, const std::string& column,
                    const std::vector<std::map<std::string, std::string>>& epochs) {
  int64_t best = 0;
  double value = -1e300, loss = 1e300;
  for (size_t i = 0; i < rows.size(); ++i) {
    const double v = std::stod(rows[i].at(column));
    const double l = std::stod(epochs.at(i).at("val_loss"));
    if (v > value || (v == value && l < loss)) {
      value = v;
      loss = l;
      best = std::stoll(rows[i].at("epoch"));
    }
  }
  return best;
}

nlohmann::json readJson(const std::string& path) { return nlohmann::json::parse(readFile(path)); }

// Noise images in two class folders (labels carry no signal): validation moves up and down
// from epoch to epoch, so the best epoch is rarely the last (the seed below is one where it
// is not). A folder, so that evaluate can read the run's data again.
std::string noiseDataset(const std::string& root) {
  std::mt19937 gen(5);
  for (const char* cls : {"NORMAL", "PNEUMONIA"}) {
    fs::create_directories(root + "/" + cls);
    for (int i = 0; i < 48; ++i) {
      std::vector<uint8_t> px(16 * 16);
      for (auto& v : px) {
        v = static_cast<uint8_t>(gen() & 0xff);
      }
      test::writePgm(root + "/" + cls + "/img" + std::to_string(i) + ".pgm", 16, 16, px);
    }
  }
  return root;
}

RunConfig noisyRun(const std::string& out) {
  auto c = test::tinyRunConfig(out);
  c.dataPath = noiseDataset(fs::path(out).parent_path() / ("data-" + fs::path(out).filename().string()));
  c.epochs = 5;
  c.lr = 0.1;
  c.schedule = ScheduleKind::Constant;
  c.seed = 11;
  return c;
}

// Trains `c` and cancels it when epoch `stop` has ended (a run interrupted there).
RunStatus trainUntilEpoch(const RunConfig& c, int64_t stop) {
  struct StopAfter : RunObserver {
    CancelToken token;
    int64_t stop = 0;
    void onEpoch(const EpochEvent& e) override {
      if (e.epoch == stop) {
        token.cancel();
      }
    }
  } stopper;
  stopper.stop = stop;
  return runTraining(c, stopper, stopper.token).status;
}

// A run on learnable blob images in `dir`, with a carved test split.
RunConfig blobRunWithTestSplit(const TempDir& dir, int64_t epochs, double testFraction) {
  test::makeBlobDataset(dir / "data", 24, 16, 2, false);
  RunConfig c;
  c.dataPath = dir / "data";
  c.imageSize = 16;
  c.batchSize = 16;
  c.epochs = epochs;
  c.threads = 2;
  c.split.testFraction = testFraction;
  c.outDir = dir / "run";
  return c;
}

std::vector<float> flatWeights(ClassifierImpl& model) {
  std::vector<float> out;
  for (const auto& [name, t] : namedState(model)) {
    if (t.is_floating_point()) {
      const auto f = t.detach().to(torch::kFloat).contiguous().flatten();
      out.insert(out.end(), f.data_ptr<float>(), f.data_ptr<float>() + f.numel());
    }
  }
  return out;
}

}  // namespace

TEST(ModelSelection, KeepsTheEpochWithTheBestValidationMetricAndEvaluatesIt) {
  TempDir dir;
  auto c = noisyRun(dir / "run");
  c.seed = 13;  // one whose best epoch is not the last (checked below)
  c.memoryFormat = MemoryFormatKind::ChannelsLast;  // the path the seed was picked on (auto may be blocked)
  c.selection.metric = SelectMetricKind::BalancedAccuracy;
  RunObserver quiet;
  const auto s = runTraining(c, quiet, CancelToken{});
  ASSERT_EQ(s.status, RunStatus::Finished) << s.message;
  const auto rows = readCsv(c.outDir + "/validation.csv");
  const auto epochs = readCsv(c.outDir + "/epochs.csv");
  ASSERT_EQ(rows.size(), 5u);
  ASSERT_EQ(epochs.size(), 5u);
  const auto expected = argmaxEpoch(rows, "val_balanced_acc", epochs);
  ASSERT_NE(expected, 5) << "precondition: this seed's best epoch must not be the last one";
  EXPECT_EQ(s.selectedEpoch, expected);
  EXPECT_EQ(s.selectedBy, "balanced_accuracy");
  // The flag in epochs.csv marks each new best; the last flagged row is the selection.
  int64_t lastFlagged = 0;
  for (const auto& r : rows) {
    lastFlagged = r.at("best") == "1" ? std::stoll(r.at("epoch")) : lastFlagged;
  }
  EXPECT_EQ(lastFlagged, expected);

  const auto metrics = readJson(c.outDir + "/metrics.json");
  EXPECT_EQ(metrics.at("selection").at("epoch").get<int64_t>(), expected);
  const auto& row = epochs.at(static_cast<size_t>(expected - 1));
  // metrics.json's validation is the selected epoch's, not the last one's.
  EXPECT_NEAR(metrics.at("val").at("accuracy").get<double>(), std::stod(row.at("val_acc")), 1e-6);
  const auto best = readBestEpoch(c.outDir + "/best.pt");
  EXPECT_EQ(best.epoch, expected);
  EXPECT_NEAR(best.value, std::stod(rows.at(static_cast<size_t>(expected - 1)).at("val_balanced_acc")), 1e-6);
  EXPECT_FALSE(fs::exists(c.outDir + "/best.pt.new")) << "committed after the epoch's checkpoint";

  // Evaluation, prediction and export load best.pt, whose weights differ from the last epoch's.
  const auto info = readRunInfo(c.outDir);
  EXPECT_EQ(fs::path(info.weights).filename(), "best.pt");
  auto selected = loadModel(info, torch::kCPU);
  auto lastInfo = info;
  lastInfo.weights = c.outDir + "/checkpoint.pt";
  auto last = loadModel(lastInfo, torch::kCPU);
  EXPECT_NE(flatWeights(*selected), flatWeights(*last));
  EvaluateRequest request;
  request.runDir = c.outDir;
  request.split = "val";
  request.writeFiles = false;
  const auto r = evaluateRunSplit(request, quiet, CancelToken{});
  EXPECT_NEAR(r.evaluation.accuracy.value, std::stod(row.at("val_acc")), 1e-6)
      << "evaluate must see the selected epoch's model";
}

TEST(ModelSelection, LastKeepsTheFinalEpochAndWritesNoBestPt) {
  TempDir dir;
  auto c = noisyRun(dir / "run");
  c.epochs = 2;
  c.selection.metric = SelectMetricKind::Last;
  RunObserver quiet;
  const auto s = runTraining(c, quiet, CancelToken{});
  ASSERT_EQ(s.status, RunStatus::Finished) << s.message;
  EXPECT_EQ(s.selectedEpoch, 0);
  EXPECT_FALSE(fs::exists(c.outDir + "/best.pt"));
  EXPECT_FALSE(readJson(c.outDir + "/metrics.json").contains("selection"));
  EXPECT_EQ(fs::path(readRunInfo(c.outDir).weights).filename(), "checkpoint.pt");
}

TEST(ModelSelection, LossSelectsTheLowestValidationLoss) {
  TempDir dir;
  auto c = noisyRun(dir / "run");
  c.selection.metric = SelectMetricKind::Loss;
  RunObserver quiet;
  const auto s = runTraining(c, quiet, CancelToken{});
  ASSERT_EQ(s.status, RunStatus::Finished) << s.message;
  const auto rows = readCsv(c.outDir + "/epochs.csv");
  int64_t expected = 0;
  double lowest = 1e300;
  for (const auto& r : rows) {
    if (std::stod(r.at("val_loss")) < lowest) {
      lowest = std::stod(r.at("val_loss"));
      expected = std::stoll(r.at("epoch"));
    }
  }
  EXPECT_EQ(s.selectedEpoch, expected);
  EXPECT_NEAR(readJson(c.outDir + "/metrics.json").at("selection").at("value").get<double>(), lowest, 1e-6);
}

TEST(ModelSelection, AResumedRunSelectsWhatAnUninterruptedOneDoes) {
  TempDir dir;
  RunObserver quiet;
  auto whole = noisyRun(dir / "whole");
  ASSERT_EQ(runTraining(whole, quiet, CancelToken{}).status, RunStatus::Finished);

  // Stopped after epoch 3 (before the best epoch is known for sure), then resumed.
  auto part = noisyRun(dir / "part");
  ASSERT_EQ(trainUntilEpoch(part, 3), RunStatus::Cancelled);
  auto resumed = part;
  resumed.resumeFrom = part.outDir;
  const auto s = runTraining(resumed, quiet, CancelToken{});
  ASSERT_EQ(s.status, RunStatus::Finished) << s.message;
  const auto a = readBestEpoch(whole.outDir + "/best.pt");
  const auto b = readBestEpoch(part.outDir + "/best.pt");
  EXPECT_EQ(a.epoch, b.epoch);
  EXPECT_EQ(s.selectedEpoch, a.epoch);
  EXPECT_DOUBLE_EQ(a.value, b.value);
  EXPECT_EQ(a.probabilities, b.probabilities);
}

TEST(ModelSelection, ABestEpochWhoseCheckpointWasNotWrittenIsDroppedOnResume) {
  TempDir dir;
  auto c = noisyRun(dir / "run");
  c.epochs = 4;
  ASSERT_EQ(trainUntilEpoch(c, 2), RunStatus::Cancelled);
  ASSERT_TRUE(fs::exists(c.outDir + "/best.pt"));
  // A kill after best.pt.new of epoch 3 was written, before epoch 3's checkpoint: its record
  // (an impossible balanced accuracy of 2, to be seen if it survived) must not count.
  auto model = loadModel(readRunInfo(c.outDir), torch::kCPU);
  auto orphan = readBestEpoch(c.outDir + "/best.pt");
  orphan.epoch = 3;
  orphan.value = 2.0;
  saveBestEpoch(c.outDir + "/best.pt.new", *model, orphan);
  auto resumed = c;
  resumed.resumeFrom = c.outDir;
  RunObserver quiet;
  const auto s = runTraining(resumed, quiet, CancelToken{});
  ASSERT_EQ(s.status, RunStatus::Finished) << s.message;
  EXPECT_LE(s.selectedValue, 1.0) << "the uncommitted best epoch was kept";
  EXPECT_FALSE(fs::exists(c.outDir + "/best.pt.new"));
  EXPECT_TRUE(fs::exists(c.outDir + "/best.pt"));
}

TEST(ModelSelection, ADamagedBestPtRefusesTheResumeWithWhatToDo) {
  TempDir dir;
  RunObserver quiet;
  auto c = noisyRun(dir / "run");
  c.epochs = 2;
  ASSERT_EQ(runTraining(c, quiet, CancelToken{}).status, RunStatus::Finished);
  {
    std::ofstream(c.outDir + "/best.pt", std::ios::binary | std::ios::trunc) << "PK\x03\x04 not an archive";
  }
  auto more = c;
  more.resumeFrom = c.outDir;
  more.epochs = 3;
  try {
    runTraining(more, quiet, CancelToken{});
    FAIL() << "resumed over a damaged best.pt";
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("best.pt"), std::string::npos) << e.what();
  }
}

TEST(ModelSelection, TheThresholdChosenOnValidationIsTheOneEvaluatePredictAndExportUse) {
  TempDir dir;
  auto c = blobRunWithTestSplit(dir, 2, 0.2);
  c.selection.thresholdRule = ThresholdRuleKind::Youden;
  RunObserver quiet;
  ASSERT_EQ(runTraining(c, quiet, CancelToken{}).status, RunStatus::Finished);
  const auto decision = readDecisionThreshold(c.outDir);
  EXPECT_EQ(decision.source, "youden on val");
  // The stored evaluations follow it, the test split's too.
  for (const char* split : {"val", "test"}) {
    const auto e = evaluationFromJson(readFile(c.outDir + "/evaluation_" + split + ".json"));
    EXPECT_DOUBLE_EQ(e.threshold, decision.threshold) << split;
    EXPECT_EQ(e.thresholdSource, "youden on val") << split;
  }
  EXPECT_DOUBLE_EQ(readRunInfo(c.outDir).decision.threshold, decision.threshold);  // predict, Grad-CAM
  ExportOptions formats;
  formats.onnx = false;
  exportRun(c.outDir, dir / "model", formats);
  const auto card = readJson(dir / "model/model.json");
  EXPECT_DOUBLE_EQ(card.at("decision").at("threshold").get<double>(), decision.threshold);
  EXPECT_DOUBLE_EQ(readRunInfo(dir / "model").decision.threshold, decision.threshold);
}

TEST(ValVsTest, AFinishedRunWithATestSplitWritesBothSideBySide) {
  TempDir dir;
  const auto c = blobRunWithTestSplit(dir, 1, 0.25);
  RunObserver quiet;
  ASSERT_EQ(runTraining(c, quiet, CancelToken{}).status, RunStatus::Finished);
  const auto s = splitShiftFromJson(readFile(c.outDir + "/val_vs_test.json"));
  const auto test = evaluationFromJson(readFile(c.outDir + "/evaluation_test.json"));
  const auto val = evaluationFromJson(readFile(c.outDir + "/evaluation_val.json"));
  EXPECT_EQ(s.testCount, test.count);
  EXPECT_EQ(s.valCount, val.count);
  bool sawAccuracy = false, sawIntensity = false;
  for (const auto& r : s.rows) {
    if (r.key == "accuracy") {
      sawAccuracy = true;
      EXPECT_DOUBLE_EQ(r.test.value, test.accuracy.value);
      EXPECT_DOUBLE_EQ(r.val.value, val.accuracy.value);
    }
    if (r.key == "mean_intensity") {
      sawIntensity = true;
      EXPECT_GT(r.val.value, 0.0);
      EXPECT_LT(r.val.value, 1.0);
      EXPECT_TRUE(r.val.ci95.valid());
    }
  }
  EXPECT_TRUE(sawAccuracy);
  EXPECT_TRUE(sawIntensity);
}

namespace {

// A split of n images whose positive-class probabilities are `p` and labels `y`.
SplitProfile profileOf(const std::vector<float>& p, const std::vector<int64_t>& y, double intensity) {
  SplitProfile s;
  for (const float v : p) {
    s.probabilities.push_back(1.0f - v);
    s.probabilities.push_back(v);
  }
  s.labels = y;
  EvaluationOptions o;
  o.bootstrap.resamples = 1000;
  s.evaluation = evaluateProbabilities(s.probabilities, s.labels, {"NORMAL", "PNEUMONIA"}, o);
  for (size_t i = 0; i < y.size(); ++i) {
    s.imageMeans.push_back(intensity + 0.01 * static_cast<double>(i % 5));
  }
  return s;
}

}  // namespace

TEST(ValVsTest, AGapBeyondBothIntervalsIsFlaggedAndNoiseIsNot) {
  // Validation: 200 images, all called right with confidence; test: 200 images, the
  // positives mostly missed, darker images.
  std::vector<float> pv, pt;
  std::vector<int64_t> yv, yt;
  for (int i = 0; i < 200; ++i) {
    const int64_t y = i % 2;
    yv.push_back(y);
    pv.push_back(y ? 0.9f : 0.1f);
    yt.push_back(y);
    pt.push_back(y ? (i % 10 == 1 ? 0.8f : 0.3f) : 0.1f);
  }
  const auto shift = compareSplits(profileOf(pv, yv, 0.5), profileOf(pt, yt, 0.3), 1000);
  std::map<std::string, ShiftRow> rows;
  for (const auto& r : shift.rows) {
    rows[r.key] = r;
  }
  EXPECT_TRUE(rows.at("sensitivity").gap);
  EXPECT_TRUE(rows.at("accuracy").gap);
  EXPECT_TRUE(rows.at("mean_intensity").gap);
  EXPECT_FALSE(rows.at("specificity").gap) << "both splits call every negative right";
  EXPECT_FALSE(rows.at("share_PNEUMONIA").gap) << "same class shares";
  EXPECT_NE(shift.findings.front().find("on test"), std::string::npos);

  // The same split twice: nothing is flagged.
  const auto same = compareSplits(profileOf(pv, yv, 0.5), profileOf(pv, yv, 0.5), 1000);
  for (const auto& r : same.rows) {
    EXPECT_FALSE(r.gap) << r.key;
  }
  EXPECT_EQ(same.findings.front(), "no difference between validation and test exceeds the intervals");

  // The file round-trips.
  const auto back = splitShiftFromJson(splitShiftToJson(shift));
  ASSERT_EQ(back.rows.size(), shift.rows.size());
  for (size_t i = 0; i < back.rows.size(); ++i) {
    EXPECT_EQ(back.rows[i].key, shift.rows[i].key);
    EXPECT_EQ(back.rows[i].gap, shift.rows[i].gap);
    EXPECT_DOUBLE_EQ(back.rows[i].test.value, shift.rows[i].test.value);
  }
  EXPECT_THROW(splitShiftFromJson("{\"classes\": 3}"), std::runtime_error);
}

TEST(ValVsTest, CalibrationErrorMatchesAHandComputation) {
  // Two classes, positive-class scores in two bins: bin [0.2,0.3): scores 0.2, 0.2 with
  // one positive (mean score 0.2, rate 0.5); bin [0.9,1.0]: 0.9, 0.9, 0.9 all positive
  // (0.9 vs 1.0). ECE = (2 * 0.3 + 3 * 0.1) / 5 = 0.18.
  const std::vector<float> p = {0.8f, 0.2f, 0.8f, 0.2f, 0.1f, 0.9f, 0.1f, 0.9f, 0.1f, 0.9f};
  const std::vector<int64_t> y = {0, 1, 1, 1, 1};
  const auto e = expectedCalibrationError(p, y, 2, 1, 10, 0, 1);
  EXPECT_NEAR(e.value, 0.18, 1e-6);
  EXPECT_FALSE(e.ci95.valid());
  auto broken = p;
  broken[3] = std::nanf("");
  EXPECT_FALSE(expectedCalibrationError(broken, y, 2, 1, 10, 0, 1).defined());
}

TEST(Recipe, ChestXrayAppliesItsDefaultsButNotOverExplicitSettings) {
  RunConfig c;
  c.imageSize = 16;
  applyRecipe(findRecipe("chest-xray"), c, {"--image-size"});
  EXPECT_EQ(c.recipe, "chest-xray");
  EXPECT_EQ(c.imageSize, 16) << "an explicit --image-size wins";
  EXPECT_EQ(c.balance, BalanceKind::Loss);
  EXPECT_EQ(c.selection.thresholdRule, ThresholdRuleKind::Youden);
  EXPECT_EQ(c.channels, 1);
  // config.json records the recipe and what it chose; reading it back gives the same run.
  const auto j = nlohmann::json::parse(configToJson(c));
  EXPECT_EQ(j.at("recipe"), "chest-xray");
  EXPECT_EQ(j.at("selection").at("threshold_rule"), "youden");
  EXPECT_EQ(j.at("data").at("balance"), "loss");
  EXPECT_DOUBLE_EQ(j.at("data").at("augment").at("gamma").get<double>(), 0.2);
  EXPECT_DOUBLE_EQ(j.at("data").at("augment").at("max_translate").get<double>(), 0.05);
  EXPECT_DOUBLE_EQ(j.at("optim").at("ema_decay").get<double>(), 0.998);
  EXPECT_TRUE(resumeConflicts(configFromJson(configToJson(c)), c).empty());
  // Without --recipe nothing changes.
  EXPECT_EQ(RunConfig{}.recipe, "");
  EXPECT_FALSE(nlohmann::json::parse(configToJson(RunConfig{})).contains("recipe"));
}

TEST(Recipe, EachModelFamilyGetsItsOwnSizeAndEpochs) {
  const auto& r = findRecipe("chest-xray");
  RunConfig small;
  applyRecipe(r, small);  // no model given: the recipe's default family
  EXPECT_EQ(small.model, "small_cnn");
  EXPECT_EQ(small.imageSize, 128);
  EXPECT_EQ(small.epochs, 20);

  RunConfig resnet;
  resnet.model = "resnet34";
  applyRecipe(r, resnet, {"--model"});  // --model resnet34 given: the ResNet family's settings
  EXPECT_EQ(resnet.model, "resnet34");
  EXPECT_EQ(resnet.imageSize, 96);
  EXPECT_EQ(resnet.epochs, 10);
  EXPECT_EQ(resnet.balance, BalanceKind::Loss) << "the settings for every model apply too";
  EXPECT_EQ(resnet.selection.thresholdRule, ThresholdRuleKind::Youden);

  RunConfig mixed;  // an explicit size wins over the family's too
  mixed.model = "resnet18";
  mixed.imageSize = 64;
  applyRecipe(r, mixed, {"--model", "--image-size"});
  EXPECT_EQ(mixed.imageSize, 64);
  EXPECT_EQ(mixed.epochs, 10);

  RunConfig unknown;
  unknown.model = "vit_b16";
  try {
    applyRecipe(r, unknown, {"--model"});
    FAIL() << "a model the recipe has no settings for must be refused";
  } catch (const InputError& e) {
    const std::string m = e.what();
    EXPECT_NE(m.find("vit_b16"), std::string::npos) << m;
    EXPECT_NE(m.find("resnet18"), std::string::npos) << m;
  }

  // A model picked under a chosen recipe (the GUI): only the family's settings change.
  RunConfig picked = small;
  picked.lr = 0.01;
  picked.model = "resnet18";
  EXPECT_TRUE(applyRecipeFamily(r, picked));
  EXPECT_EQ(picked.model, "resnet18");
  EXPECT_EQ(picked.imageSize, 96);
  EXPECT_EQ(picked.epochs, 10);
  EXPECT_DOUBLE_EQ(picked.lr, 0.01) << "a tuned setting the family does not own survives";
  picked.model = "vit_b16";
  EXPECT_FALSE(applyRecipeFamily(r, picked));
  EXPECT_EQ(picked.imageSize, 96);

  const auto flags = recipeAsFlags(r);
  EXPECT_NE(flags.find("ResNet: --model resnet18 --image-size 96 --epochs 10"), std::string::npos) << flags;
  EXPECT_NE(flags.find("--model small_cnn --image-size 128"), std::string::npos) << flags;
}

TEST(Recipe, RefusesDataItIsNotForAndUnknownNames) {
  RunConfig c;
  applyRecipe(findRecipe("chest-xray"), c);
  EXPECT_NO_THROW(checkRecipeFits(c, {"NORMAL", "PNEUMONIA"}));
  try {
    checkRecipeFits(c, {"a", "b", "c"});
    FAIL();
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("leave out --recipe"), std::string::npos) << e.what();
  }
  EXPECT_THROW(findRecipe("imagenet"), InputError);
  RunConfig none;
  EXPECT_NO_THROW(checkRecipeFits(none, {"a", "b", "c"}));
}

TEST(Recipe, OlderRunsWithoutSelectionKeepTheirLastEpoch) {
  auto j = nlohmann::json::parse(configToJson(RunConfig{}));
  j.erase("selection");
  EXPECT_EQ(configFromJson(j.dump()).selection.metric, SelectMetricKind::Last);
  EXPECT_EQ(RunConfig{}.selection.metric, SelectMetricKind::BalancedAccuracy);
  EXPECT_THROW(parseSelectMetric("f1"), InputError);
}

TEST(Metrics, BalancedAccuracyIsTheMeanRecallOverPresentClasses) {
  Metrics m;
  m.confusion = {{8, 2}, {1, 3}};  // recalls 0.8 and 0.75
  EXPECT_DOUBLE_EQ(balancedAccuracy(m), 0.775);
  m.confusion = {{0, 0}, {1, 3}};  // class 0 absent: only class 1's recall
  EXPECT_DOUBLE_EQ(balancedAccuracy(m), 0.75);
  m.confusion = {};
  EXPECT_TRUE(std::isnan(balancedAccuracy(m)));
  m.loss = std::numeric_limits<double>::infinity();
  EXPECT_TRUE(std::isnan(selectionScore(SelectMetricKind::Loss, m)));
  m.loss = 0.25;
  EXPECT_DOUBLE_EQ(selectionScore(SelectMetricKind::Loss, m), -0.25);
}
