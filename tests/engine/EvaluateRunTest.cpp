// evaluateRunSplit, the decision threshold and the evaluation files a training run writes,
// on a tiny run trained on generated images.

#include "TestUtil.h"
#include "engine/train/Trainer.h"
#include "engine/train/TrainerInternal.h"
#include "engine/util/Errors.h"
#include "engine/util/Files.h"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <filesystem>
#include <fstream>

namespace fs = std::filesystem;
using namespace ampbench;
using ampbench::test::TempDir;

namespace {

// One run shared by the tests (training takes a few seconds): 2 classes of blob images,
// a carved validation and test split.
class EvaluateRun : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new TempDir;
    test::makeBlobDataset(data(), 30, 16, 2, false);
    RunConfig c;
    c.dataPath = data();
    c.imageSize = 16;
    c.batchSize = 16;
    c.epochs = 2;
    c.threads = 2;
    c.seed = 5;
    c.split.testFraction = 0.2;
    c.outDir = run();
    RunObserver quiet;
    summary_ = new RunSummary(runTraining(c, quiet, CancelToken{}));
  }
  static void TearDownTestSuite() {
    delete summary_;
    delete dir_;
  }
  static std::string data() { return *dir_ / "data"; }
  static std::string run() { return *dir_ / "run"; }

  // A copy of the run to write into (chooseRunThreshold changes files).
  static std::string copyOfRun(const TempDir& into) {
    const auto to = into / "run";
    fs::copy(run(), to, fs::copy_options::recursive);
    return to;
  }

  static TempDir* dir_;
  static RunSummary* summary_;
};
TempDir* EvaluateRun::dir_ = nullptr;
RunSummary* EvaluateRun::summary_ = nullptr;

struct ProgressRecorder : RunObserver {
  std::vector<EvaluationProgressEvent> events;
  std::function<void()> hook;
  void onEvaluationProgress(const EvaluationProgressEvent& e) override {
    events.push_back(e);
    if (hook) hook();
  }
};

}  // namespace

TEST_F(EvaluateRun, TrainingWritesEvaluationFilesThatAgreeWithEachOther) {
  ASSERT_EQ(summary_->status, RunStatus::Finished) << summary_->message;
  for (const char* f : {"evaluation_val.json", "evaluation_test.json", "predictions_val.csv", "predictions_test.csv",
                        "decision.json", "metrics.json"}) {
    EXPECT_TRUE(fs::exists(run() + "/" + f)) << f;
  }
  const auto decision = readDecisionThreshold(run());
  EXPECT_EQ(decision.threshold, 0.5);
  EXPECT_EQ(decision.source, "default");
  const auto metrics = nlohmann::json::parse(readFile(run() + "/metrics.json"));
  for (const std::string split : {"val", "test"}) {
    const auto e = evaluationFromJson(readFile(run() + "/evaluation_" + split + ".json"));
    const auto t = predictionsFromCsv(readFile(run() + "/predictions_" + split + ".csv"));
    EXPECT_EQ(e.split, split);
    EXPECT_EQ(e.threshold, 0.5);
    EXPECT_EQ(e.resamples, kDefaultBootstrapResamples);
    EXPECT_TRUE(e.accuracy.ci95.valid());
    ASSERT_EQ(static_cast<int64_t>(t.rows.size()), e.count);
    std::vector<std::vector<int64_t>> counted(2, std::vector<int64_t>(2, 0));
    int64_t correct = 0;
    for (const auto& r : t.rows) {
      ++counted[static_cast<size_t>(r.label)][static_cast<size_t>(r.predicted)];
      correct += r.label == r.predicted;
      EXPECT_TRUE(fs::exists(data() + "/" + r.file)) << r.file;  // relative to the dataset folder
      EXPECT_EQ(r.file.find(data()), std::string::npos);
    }
    EXPECT_EQ(counted, e.confusion) << split;
    EXPECT_NEAR(e.accuracy.value, static_cast<double>(correct) / static_cast<double>(e.count), 1e-12);
    // The file is a function of the CSV: re-evaluating it gives the same figures.
    EvaluationOptions o;
    const auto again = evaluateProbabilities(t.flatProbabilities(), t.labels(), t.classes, o);
    EXPECT_EQ(again.auc.value, e.auc.value);
    EXPECT_EQ(again.accuracy.ci95.low, e.accuracy.ci95.low);
  }
  const auto val = evaluationFromJson(readFile(run() + "/evaluation_val.json"));
  EXPECT_EQ(val.count, metrics["val"]["count"].get<int64_t>());
  EXPECT_NEAR(val.auc.value, metrics["val"]["auc"].get<double>(), 1e-6);
  EXPECT_NEAR(val.loss, metrics["val"]["loss"].get<double>(), 1e-9);
  const auto test = evaluationFromJson(readFile(run() + "/evaluation_test.json"));
  EXPECT_EQ(test.count, 12);  // 20 % of each class's 30 images
  EXPECT_TRUE(std::isfinite(test.loss));
}

TEST_F(EvaluateRun, ProbabilitiesFollowTheSplitsFileOrder) {
  // evaluateRunSplit's rows are the files it names: predicting each file on its own gives
  // the same probabilities (the loader must not reorder the split).
  RunObserver quiet;
  EvaluateRequest r;
  r.runDir = run();
  r.split = "val";
  r.writeFiles = false;
  r.bootstrap.resamples = 0;
  const auto e = evaluateRunSplit(r, quiet, CancelToken{});
  ASSERT_GT(e.predictions.rows.size(), 4u);
  std::vector<std::string> paths;
  for (const auto& row : e.predictions.rows) {
    paths.push_back(data() + "/" + row.file);
  }
  const auto single = predictImages(run(), paths);
  for (size_t i = 0; i < paths.size(); ++i) {
    ASSERT_TRUE(single.predictions[i].error.empty()) << single.predictions[i].error;
    for (size_t k = 0; k < 2; ++k) {
      EXPECT_NEAR(e.predictions.rows[i].probabilities[k], single.predictions[i].probabilities[k], 1e-4)
          << paths[i];
    }
  }
  // And the end-of-training file holds the same rows in the same order.
  const auto written = predictionsFromCsv(readFile(run() + "/predictions_val.csv"));
  ASSERT_EQ(written.rows.size(), e.predictions.rows.size());
  for (size_t i = 0; i < written.rows.size(); ++i) {
    EXPECT_EQ(written.rows[i].file, e.predictions.rows[i].file);
    EXPECT_NEAR(written.rows[i].probabilities[1], e.predictions.rows[i].probabilities[1], 1e-5);
  }
  EXPECT_EQ(e.evaluation.resamples, 0);
  EXPECT_FALSE(e.evaluation.accuracy.ci95.valid());
}

TEST_F(EvaluateRun, AFolderOfOneClassLeavesTheOtherUndefinedAndListsUnreadableFiles) {
  TempDir other;
  fs::create_directories(other / "eval/PNEUMONIA/sub");
  int copied = 0;
  for (const auto& f : fs::directory_iterator(data() + "/PNEUMONIA")) {
    if (copied < 7) {
      fs::copy_file(f.path(), other / ("eval/PNEUMONIA/sub/" + f.path().filename().string()));
      ++copied;
    }
  }
  {
    std::ofstream bad(other / "eval/PNEUMONIA/broken.png");
    bad << "not a png";
  }
  const auto runCopy = copyOfRun(other);
  ProgressRecorder progress;
  EvaluateRequest r;
  r.runDir = runCopy;
  r.dataPath = other / "eval";
  r.split = "folder";
  r.threshold = 0.4;
  const auto e = evaluateRunSplit(r, progress, CancelToken{});
  const auto& ev = e.evaluation;
  EXPECT_EQ(ev.count, 7);
  EXPECT_EQ(ev.threshold, 0.4);
  EXPECT_EQ(ev.thresholdSource, "user");
  EXPECT_EQ(ev.perClass[0].support, 0);
  EXPECT_FALSE(ev.perClass[0].sensitivity.defined());
  EXPECT_FALSE(ev.perClass[1].specificity.defined());
  EXPECT_FALSE(ev.auc.defined());
  EXPECT_NE(ev.perClass[0].undefined.find("no NORMAL images"), std::string::npos);
  ASSERT_EQ(e.skipped.size(), 1u);
  EXPECT_EQ(e.skipped[0].path, "PNEUMONIA/broken.png");
  EXPECT_EQ(e.predictions.rows[0].file.rfind("PNEUMONIA/sub/", 0), 0u) << e.predictions.rows[0].file;
  const auto j = nlohmann::json::parse(readFile(runCopy + "/evaluation_folder.json"));
  EXPECT_TRUE(j["per_class"]["NORMAL"]["sensitivity"].is_null());
  EXPECT_EQ(j["skipped"][0]["file"], "PNEUMONIA/broken.png");
  EXPECT_TRUE(fs::exists(runCopy + "/predictions_folder.csv"));
  ASSERT_FALSE(progress.events.empty());
  EXPECT_EQ(progress.events.back().split, "folder");
  EXPECT_EQ(progress.events.back().done, 7);
  EXPECT_EQ(progress.events.back().total, 7);
}

TEST_F(EvaluateRun, BadInputIsAnInputError) {
  RunObserver quiet;
  TempDir other;
  EvaluateRequest r;
  r.runDir = run();
  r.writeFiles = false;
  r.split = "holdout";
  EXPECT_THROW(evaluateRunSplit(r, quiet, CancelToken{}), InputError);
  r.split = "folder";
  fs::create_directories(other / "x/CAT");
  test::writePgm(other / "x/CAT/a.pgm", 16, 16, std::vector<uint8_t>(256, 100));
  r.dataPath = other / "x";
  try {
    evaluateRunSplit(r, quiet, CancelToken{});
    FAIL() << "a class the run does not know was accepted";
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("CAT"), std::string::npos) << e.what();
  }
  // A run without a checkpoint.
  const auto runCopy = copyOfRun(other);
  fs::remove(runCopy + "/checkpoint.pt");
  fs::remove(runCopy + "/best.pt");
  r.runDir = runCopy;
  r.dataPath.clear();
  r.split = "val";
  EXPECT_THROW(evaluateRunSplit(r, quiet, CancelToken{}), InputError);
  // A threshold outside [0, 1], a malformed decision.json.
  r.runDir = run();
  r.threshold = 1.5;
  EXPECT_THROW(evaluateRunSplit(r, quiet, CancelToken{}), InputError);
  writeFileAtomic(runCopy + "/decision.json", "{\"threshold\": \"high\"}");
  EXPECT_THROW(readDecisionThreshold(runCopy), InputError);
}

TEST_F(EvaluateRun, CancelledEvaluationReturnsNothingAndWritesNothing) {
  TempDir other;
  const auto runCopy = copyOfRun(other);
  fs::remove(runCopy + "/evaluation_val.json");
  CancelToken cancel;
  ProgressRecorder progress;
  progress.hook = [&] { cancel.cancel(); };
  EvaluateRequest r;
  r.runDir = runCopy;
  const auto e = evaluateRunSplit(r, progress, cancel);
  EXPECT_TRUE(cancel.isCancelled());
  EXPECT_EQ(e.evaluation.count, 0);
  EXPECT_FALSE(fs::exists(runCopy + "/evaluation_val.json"));
}

TEST_F(EvaluateRun, ChoosingTheThresholdStoresItAndReevaluatesTheSplits) {
  TempDir other;
  const auto runCopy = copyOfRun(other);
  RunObserver quiet;
  const auto d = chooseRunThreshold(runCopy, ThresholdRule::TargetSensitivity, 1.0, quiet, CancelToken{});
  EXPECT_EQ(d.source, "sensitivity >= 1 on val");
  const auto stored = readDecisionThreshold(runCopy);
  EXPECT_EQ(stored.threshold, d.threshold);
  EXPECT_EQ(stored.source, d.source);
  // On the validation predictions the chosen threshold reaches the target sensitivity.
  const auto val = evaluationFromJson(readFile(runCopy + "/evaluation_val.json"));
  EXPECT_EQ(val.threshold, d.threshold);
  EXPECT_EQ(val.thresholdSource, d.source);
  EXPECT_EQ(val.perClass[1].sensitivity.value, 1.0);
  // The test split is re-evaluated at it from its predictions; the loss is kept.
  const auto test = evaluationFromJson(readFile(runCopy + "/evaluation_test.json"));
  const auto before = evaluationFromJson(readFile(run() + "/evaluation_test.json"));
  EXPECT_EQ(test.threshold, d.threshold);
  EXPECT_EQ(test.loss, before.loss);
  EXPECT_EQ(test.auc.value, before.auc.value);
  const auto csv = predictionsFromCsv(readFile(runCopy + "/predictions_test.csv"));
  for (const auto& row : csv.rows) {
    EXPECT_EQ(row.predicted, row.probabilities[1] >= d.threshold ? 1 : 0);
  }
  // A later evaluation uses the stored threshold.
  EvaluateRequest r;
  r.runDir = runCopy;
  r.writeFiles = false;
  r.bootstrap.resamples = 0;
  const auto e = evaluateRunSplit(r, quiet, CancelToken{});
  EXPECT_EQ(e.evaluation.threshold, d.threshold);
  EXPECT_EQ(e.evaluation.thresholdSource, d.source);
}

TEST(RelativeImageName, NamesFilesRelativeToTheDatasetAndArraysBySplitAndIndex) {
  EXPECT_EQ(relativeImageName("/d/x/NORMAL/a.png", "/d/x"), "NORMAL/a.png");
  EXPECT_EQ(relativeImageName("/d/x/NORMAL/a.png", "/d/x/"), "NORMAL/a.png");
  EXPECT_EQ(relativeImageName("data/train/N/a.png", "data"), "train/N/a.png");
  EXPECT_EQ(relativeImageName("/d/pneumonia.npz#test/17", "/d/pneumonia.npz"), "test/17");
}
