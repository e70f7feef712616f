// The training knobs of the chest X-ray recipe (issue 17): radiograph augmentation, label
// smoothing, the weight average (EMA) and test-time augmentation, each against a generated
// image or a hand computation.

#include "TestUtil.h"
#include "engine/core/RunConfig.h"
#include "engine/data/Loader.h"
#include "engine/export/Export.h"
#include "engine/models/Registry.h"
#include "engine/train/Checkpoint.h"
#include "engine/train/Loss.h"
#include "engine/train/Trainer.h"
#include "engine/train/TrainerInternal.h"
#include "engine/train/WeightAverage.h"
#include "engine/util/Errors.h"
#include "engine/util/Files.h"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>
#include <torch/torch.h>

#include <cmath>
#include <filesystem>

namespace fs = std::filesystem;
using namespace ampbench;
using ampbench::test::TempDir;

namespace {

constexpr double kPi = 3.14159265358979323846;

AugmentOptions noAugmentation() {
  AugmentOptions a;
  a.minCropArea = 1.0;
  a.maxRotationDeg = 0.0;
  a.horizontalFlip = false;
  return a;
}

// A dark 32 px image with one bright 2x2 marker whose top-left is (row, col).
torch::Tensor markerImage(int64_t row, int64_t col, int64_t size = 32) {
  auto x = torch::zeros({1, 1, size, size});
  x.index_put_({0, 0, torch::indexing::Slice(row, row + 2), torch::indexing::Slice(col, col + 2)}, 1.0);
  return x;
}

// The marker's centre of mass (row, col) in pixel coordinates.
std::pair<double, double> markerCentre(const torch::Tensor& img) {
  const auto w = img[0][0].clamp_min(0);
  const auto size = w.size(0);
  const auto idx = torch::arange(size, torch::kFloat);
  const double total = w.sum().item<double>();
  const double r = (w.sum(1) * idx).sum().item<double>() / total;
  const double c = (w.sum(0) * idx).sum().item<double>() / total;
  return {r, c};
}

struct Quiet : RunObserver {};

struct StepLosses : RunObserver {
  std::vector<double> losses;
  void onStep(const StepEvent& e) override { losses.push_back(e.loss); }
};

}  // namespace

TEST(RadiographAugment, ShiftsStayWithinTheirBoundAndDoMove) {
  auto a = noAugmentation();
  a.maxTranslate = 0.1;  // 3.2 px of 32
  const auto x = markerImage(15, 15);
  const auto [r0, c0] = markerCentre(x);
  double largest = 0.0;
  for (uint64_t seed = 1; seed <= 40; ++seed) {
    const auto [r, c] = markerCentre(augmentBatch(x, a, seed));
    EXPECT_LE(std::abs(r - r0), 3.2 + 1e-3) << "seed " << seed;
    EXPECT_LE(std::abs(c - c0), 3.2 + 1e-3) << "seed " << seed;
    largest = std::max({largest, std::abs(r - r0), std::abs(c - c0)});
  }
  EXPECT_GT(largest, 1.5) << "the shifts move the marker by pixels, not a rounding";
}

TEST(RadiographAugment, RotationStaysWithinItsAngle) {
  auto a = noAugmentation();
  a.maxRotationDeg = 10.0;
  // A marker 10 px right of the centre (15.5, 15.5): its angle about the centre.
  const auto x = markerImage(15, 25);
  double largest = 0.0;
  for (uint64_t seed = 1; seed <= 40; ++seed) {
    const auto [r, c] = markerCentre(augmentBatch(x, a, seed));
    const double angle = std::atan2(r - 15.5, c - 15.5) * 180.0 / kPi;
    EXPECT_LE(std::abs(angle), 10.0 + 1.0) << "seed " << seed;  // 1 degree: bilinear blur of a 2 px marker
    EXPECT_NEAR(std::hypot(r - 15.5, c - 15.5), 10.0, 0.6) << "a rotation keeps the distance to the centre";
    largest = std::max(largest, std::abs(angle));
  }
  EXPECT_GT(largest, 5.0);
}

TEST(RadiographAugment, FlipsAreNeverVertical) {
  auto a = noAugmentation();
  a.horizontalFlip = true;
  const auto x = markerImage(4, 4);  // top left
  int flipped = 0;
  for (uint64_t seed = 1; seed <= 40; ++seed) {
    const auto [r, c] = markerCentre(augmentBatch(x, a, seed));
    EXPECT_NEAR(r, 4.5, 0.01) << "the marker stays in its row: no vertical flip (seed " << seed << ")";
    EXPECT_TRUE(std::abs(c - 4.5) < 0.01 || std::abs(c - 26.5) < 0.01) << c;
    flipped += std::abs(c - 26.5) < 0.01;
  }
  EXPECT_GT(flipped, 5);
  EXPECT_LT(flipped, 35);
}

TEST(RadiographAugment, IntensityJitterStaysWithinItsRanges) {
  AugmentOptions a = noAugmentation();
  const auto flat = torch::full({64, 1, 8, 8}, 0.5);
  a.brightness = 0.2;
  auto y = augmentIntensity(flat, a, 5);
  EXPECT_GE(y.min().item<float>(), 0.4f - 1e-6f);
  EXPECT_LE(y.max().item<float>(), 0.6f + 1e-6f);
  EXPECT_GT(y.std().item<float>(), 0.02f) << "the factor varies per image";
  EXPECT_TRUE(torch::allclose(y.amax({1, 2, 3}), y.amin({1, 2, 3}))) << "one factor per image";

  a.brightness = 0.0;
  a.gamma = 0.3;  // 0.5^[0.7, 1.3]
  y = augmentIntensity(flat, a, 5);
  EXPECT_GE(y.min().item<float>(), static_cast<float>(std::pow(0.5, 1.3)) - 1e-5f);
  EXPECT_LE(y.max().item<float>(), static_cast<float>(std::pow(0.5, 0.7)) + 1e-5f);
  EXPECT_GT(y.std().item<float>(), 0.02f);

  a.gamma = 0.0;
  a.contrast = 0.25;  // a two-level image 0.4 / 0.6 about its mean 0.5: the gap scales by [0.75, 1.25]
  auto two = torch::full({64, 1, 8, 8}, 0.4);
  two.narrow(3, 0, 4).fill_(0.6);
  y = augmentIntensity(two, a, 5);
  const auto gap = (y.amax({1, 2, 3}) - y.amin({1, 2, 3}));
  EXPECT_GE(gap.min().item<float>(), 0.2f * 0.75f - 1e-5f);
  EXPECT_LE(gap.max().item<float>(), 0.2f * 1.25f + 1e-5f);
  EXPECT_NEAR(y.mean().item<float>(), 0.5f, 1e-4f) << "contrast turns about the image's mean";

  a.brightness = 0.9;  // clamped to [0, 1] whatever the draw
  a.contrast = 0.9;
  a.gamma = 0.9;
  y = augmentIntensity(torch::rand({16, 1, 8, 8}), a, 9);
  EXPECT_GE(y.min().item<float>(), 0.0f);
  EXPECT_LE(y.max().item<float>(), 1.0f);
}

TEST(RadiographAugment, SeededAndIdentityWhenOff) {
  AugmentOptions a;
  a.maxTranslate = 0.08;
  a.brightness = a.contrast = a.gamma = 0.15;
  const auto x = torch::rand({4, 1, 16, 16});
  EXPECT_TRUE(torch::equal(augmentBatch(x, a, 11), augmentBatch(x, a, 11)));
  EXPECT_FALSE(torch::equal(augmentBatch(x, a, 11), augmentBatch(x, a, 12)));
  EXPECT_TRUE(torch::equal(augmentIntensity(x, a, 11), augmentIntensity(x, a, 11)));
  EXPECT_FALSE(torch::equal(augmentIntensity(x, a, 11), augmentIntensity(x, a, 12)));

  const auto off = noAugmentation();
  EXPECT_TRUE(torch::allclose(augmentBatch(x, off, 3), x, 1e-5, 1e-5));
  EXPECT_TRUE(torch::equal(augmentIntensity(x, off, 3), x));
  // The shift has its own random stream: turning it on leaves the crop and rotation as they were.
  AugmentOptions base, shifted;
  shifted.maxTranslate = 1e-9;
  EXPECT_TRUE(torch::allclose(augmentBatch(x, base, 4), augmentBatch(x, shifted, 4), 1e-5, 1e-5));
}

TEST(RadiographAugment, TheLoaderAugmentsTheSameBatchAlikeWhenResumedMidEpoch) {
  SplitTensors s;
  s.images = (torch::rand({48, 1, 16, 16}) * 255).to(torch::kUInt8);
  s.labels = torch::zeros({48}, torch::kLong);
  LoaderOptions o;
  o.batchSize = 8;
  o.augment = true;
  o.augmentation.maxTranslate = 0.1;
  o.augmentation.brightness = o.augmentation.gamma = 0.2;
  o.seed = 5;
  o.epoch = 2;
  o.prefetch = false;
  BatchLoader whole(s, o, true);
  Batch b, third;
  for (int i = 0; i < 3; ++i) ASSERT_TRUE(whole.next(b));
  o.firstBatch = 2;
  BatchLoader resumed(s, o, true);
  ASSERT_TRUE(resumed.next(third));
  EXPECT_TRUE(torch::equal(b.images, third.images));
}

TEST(LabelSmoothing, MatchesAHandComputationWithAndWithoutClassWeights) {
  const auto logits = torch::tensor({{2.0f, 0.0f}, {0.5f, 1.5f}, {-1.0f, 1.0f}});
  const auto labels = torch::tensor({0, 1, 0}, torch::kLong);
  const double e = 0.2;
  // Per image: (1 - e) * -log p(y) + e * mean_c -log p(c).
  std::vector<double> perImage;
  const double l[3][2] = {{2.0, 0.0}, {0.5, 1.5}, {-1.0, 1.0}};
  const int y[3] = {0, 1, 0};
  for (int i = 0; i < 3; ++i) {
    const double lse = std::log(std::exp(l[i][0]) + std::exp(l[i][1]));
    const double nll = lse - l[i][y[i]];
    const double uniform = ((lse - l[i][0]) + (lse - l[i][1])) / 2.0;
    perImage.push_back((1 - e) * nll + e * uniform);
  }
  const double mean = (perImage[0] + perImage[1] + perImage[2]) / 3.0;
  EXPECT_NEAR(classificationLoss(logits, labels, {}, e).item<double>(), mean, 1e-6);
  // Class weights 0.75 (class 0) and 1.5 (class 1): each image weighted by its true class's.
  const auto w = torch::tensor({0.75f, 1.5f});
  const double weighted = (0.75 * perImage[0] + 1.5 * perImage[1] + 0.75 * perImage[2]) / (0.75 + 1.5 + 0.75);
  EXPECT_NEAR(classificationLoss(logits, labels, w, e).item<double>(), weighted, 1e-6);
  // e = 0 is the plain (weighted) cross-entropy.
  EXPECT_NEAR(classificationLoss(logits, labels, w, 0.0).item<double>(),
              torch::nn::functional::cross_entropy(logits, labels,
                                                   torch::nn::functional::CrossEntropyFuncOptions().weight(w))
                  .item<double>(),
              1e-7);
  // fp32 whatever the logits' type: half logits give the fp32 value of their (rounded) inputs.
  for (auto dtype : {torch::kHalf, torch::kBFloat16}) {
    const auto low = logits.to(dtype);
    const auto loss = classificationLoss(low, labels, w, e);
    EXPECT_EQ(loss.scalar_type(), torch::kFloat);
    EXPECT_NEAR(loss.item<double>(), classificationLoss(low.to(torch::kFloat), labels, w, e).item<double>(), 1e-7);
  }
}

TEST(WeightAverage, EqualsAHandComputedAverageOverTwoSteps) {
  auto model = createModel({"small_cnn", 1, 2});
  torch::NoGradGuard noGrad;
  auto fill = [&](double v) {
    for (auto& [name, t] : namedState(*model)) {
      if (t.is_floating_point()) t.fill_(v);
      else t.fill_(static_cast<int64_t>(v));
    }
  };
  fill(1.0);
  WeightAverage avg(*model, 0.15);  // warm-up decays: min(0.15, 1/10) = 0.1, then min(0.15, 2/11) = 0.15
  EXPECT_DOUBLE_EQ(WeightAverage::decayAt(0.15, 0), 0.1);
  EXPECT_DOUBLE_EQ(WeightAverage::decayAt(0.15, 1), 0.15);
  EXPECT_DOUBLE_EQ(WeightAverage::decayAt(0.999, 90), 0.91);
  fill(3.0);
  avg.update(*model);  // 0.1 * 1 + 0.9 * 3 = 2.8
  fill(5.0);
  avg.update(*model);  // 0.15 * 2.8 + 0.85 * 5 = 4.67
  EXPECT_EQ(avg.updates(), 2);
  const auto names = namedState(*model);
  for (size_t i = 0; i < names.size(); ++i) {
    const auto& t = avg.tensors()[i];
    if (t.is_floating_point()) {
      EXPECT_EQ(t.scalar_type(), torch::kFloat);
      EXPECT_TRUE(torch::allclose(t, torch::full_like(t, 4.67), 1e-5, 1e-6)) << names[i].first;
    } else {
      EXPECT_EQ(t.item<int64_t>(), 5) << names[i].first << ": an integer buffer is copied";
    }
  }
  // The swap: the model holds the average inside, its own weights after.
  {
    const EvaluationWeights evaluating(*model, &avg);
    EXPECT_NEAR(model->parameters().front().view(-1)[0].item<double>(), 4.67, 1e-5);
  }
  EXPECT_EQ(model->parameters().front().view(-1)[0].item<double>(), 5.0);
  {
    const EvaluationWeights none(*model, nullptr);
    EXPECT_EQ(model->parameters().front().view(-1)[0].item<double>(), 5.0);
  }
}

TEST(WeightAverage, ValidationAndTheExportedWeightsAreTheAverage) {
  TempDir dir;
  auto c = test::tinyRunConfig(dir / "plain");
  StepLosses plainSteps, emaSteps;
  const auto plain = runTraining(c, plainSteps, CancelToken{});
  ASSERT_EQ(plain.status, RunStatus::Finished);
  c.outDir = dir / "ema";
  c.emaDecay = 0.9999;  // with the warm-up: the average of the run's 12 steps, weighted towards the late ones
  const auto ema = runTraining(c, emaSteps, CancelToken{});
  ASSERT_EQ(ema.status, RunStatus::Finished);
  EXPECT_EQ(plainSteps.losses, emaSteps.losses) << "the average does not change training";
  EXPECT_GT(std::abs(plain.finalVal.loss - ema.finalVal.loss), 1e-4) << "validation ran on other weights";
  ASSERT_EQ(plain.finalValProbabilities.size(), ema.finalValProbabilities.size());

  // The checkpoint's training weights are the plain run's; its evaluation weights give the
  // validation figures the run reported.
  auto trained = createModel({"small_cnn", 1, 2}), evaluated = createModel({"small_cnn", 1, 2}),
       plainModel = createModel({"small_cnn", 1, 2});
  loadCheckpoint(dir / "ema/checkpoint.pt", *trained, nullptr, nullptr);
  EXPECT_TRUE(loadEvaluationWeights(dir / "ema/checkpoint.pt", *evaluated));
  EXPECT_FALSE(loadEvaluationWeights(dir / "plain/checkpoint.pt", *plainModel));
  EXPECT_TRUE(torch::equal(trained->parameters().back(), plainModel->parameters().back()));
  EXPECT_FALSE(torch::allclose(trained->parameters().back(), evaluated->parameters().back()));

  const auto data = prepareData(c, {}, CancelToken{});
  PrecisionInfo fp32;
  const auto m = evaluateSplit(*evaluated, data.splits.at("val"), data.summary, c, fp32, torch::kCPU, CancelToken{});
  EXPECT_NEAR(m.loss, ema.finalVal.loss, 1e-5) << "what evaluate/export load is what validation evaluated";
  const auto t = evaluateSplit(*trained, data.splits.at("val"), data.summary, c, fp32, torch::kCPU, CancelToken{});
  EXPECT_GT(std::abs(t.loss - ema.finalVal.loss), 1e-4);
  // best.pt (what evaluate, predict and export load) holds the average the kept epoch's
  // validation evaluated, not that epoch's training weights.
  auto kept = createModel({"small_cnn", 1, 2});
  loadCheckpoint(dir / "ema/best.pt", *kept, nullptr, nullptr);
  const auto k = evaluateSplit(*kept, data.splits.at("val"), data.summary, c, fp32, torch::kCPU, CancelToken{});
  EXPECT_NEAR(k.loss, ema.finalVal.loss, 1e-5);
}

TEST(WeightAverage, APureFp16RunEvaluatesAnAverageItsWeightsCanHold) {
  TempDir dir;
  auto c = test::tinyRunConfig(dir / "pure");
  c.precision = PrecisionMode::Fp16Pure;
  c.emaDecay = 0.9999;
  RunObserver quiet;
  const auto s = runTraining(c, quiet, CancelToken{});
  ASSERT_EQ(s.status, RunStatus::Finished) << s.message;
  auto kept = createModel({"small_cnn", 1, 2});
  loadCheckpoint(dir / "pure/best.pt", *kept, nullptr, nullptr);
  for (const auto& p : kept->parameters()) {
    EXPECT_TRUE(torch::equal(p, p.to(torch::kHalf).to(torch::kFloat))) << "an fp32 average would hide the mode's rounding";
  }
}

TEST(WeightAverage, AFailedSwapPutsTheTrainingWeightsBack) {
  torch::manual_seed(2);
  auto model = createModel({"small_cnn", 1, 2});
  WeightAverage average(*model, 0.9);
  {
    torch::NoGradGuard noGrad;
    for (auto& p : model->parameters()) p.add_(1.0);  // training moved on: the average is elsewhere
  }
  const auto before = model->parameters().front().clone();
  EXPECT_THROW(EvaluationWeights(*model, &average, [](ClassifierImpl&) { throw std::runtime_error("disk full"); }),
               std::runtime_error);
  EXPECT_TRUE(torch::equal(model->parameters().front(), before));
}

namespace {
// One epoch of small_cnn on a 16 px blob image folder (perClass images per class) in dir/data,
// written to dir/run.
RunConfig blobRunConfig(const TempDir& dir, int perClass) {
  test::makeBlobDataset(dir / "data", perClass, 16);
  auto c = test::tinyRunConfig(dir / "run");
  c.dataPath = dir / "data";
  c.batchSize = 8;
  c.epochs = 1;
  return c;
}
}  // namespace

TEST(TestTimeAugmentation, TheRunsThresholdIsChosenOnTheOutputsItIsAppliedTo) {
  TempDir dir;
  auto c = blobRunConfig(dir, 40);
  c.lr = 0.01;  // one short epoch: probabilities not yet saturated, so the views move them
  c.tta.views = 3;
  c.tta.shift = 0.25;
  c.selection.thresholdRule = ThresholdRuleKind::Youden;
  // What an earlier run left in the folder is not this run's.
  fs::create_directories(dir / "run");
  writeFileAtomic(dir / "run/predictions_folder.csv", "path,label\n");
  writeFileAtomic(dir / "run/evaluation_folder.json", "{\"accuracy\": 1.0}");
  RunObserver quiet;
  const auto s = runTraining(c, quiet, CancelToken{});
  ASSERT_EQ(s.status, RunStatus::Finished) << s.message;
  EXPECT_FALSE(fs::exists(dir / "run/predictions_folder.csv"));
  EXPECT_FALSE(fs::exists(dir / "run/evaluation_folder.json"));
  const auto chosen = readDecisionThreshold(dir / "run");
  EXPECT_EQ(chosen.source, "youden on val");
  // The Results tab's chooser works from predictions_val.csv (the TTA outputs): the same rule
  // must give the same threshold.
  const auto again = chooseRunThreshold(dir / "run", ThresholdRule::Youden, 0.95, quiet, CancelToken{});
  EXPECT_NEAR(again.threshold, chosen.threshold, 1e-5);
  // An evaluation with another number of views is a what-if: the run's files stay as they are.
  const auto evaluationBefore = readFile(dir / "run/evaluation_val.json");
  EvaluateRequest request;
  request.runDir = dir / "run";
  request.split = "val";
  request.ttaViews = 1;
  const auto plain = evaluateRunSplit(request, quiet, CancelToken{});
  EXPECT_EQ(plain.evaluation.testTimeAugmentation, "none");
  EXPECT_EQ(readFile(dir / "run/evaluation_val.json"), evaluationBefore);
  request.ttaViews.reset();  // the run's own: replaces them (same figures)
  evaluateRunSplit(request, quiet, CancelToken{});
  EXPECT_NE(nlohmann::json::parse(readFile(dir / "run/evaluation_val.json")).dump().find("3 views"), std::string::npos);
}

TEST(TestTimeAugmentation, AnExportedModelPredictsWithTheRunsViews) {
  TempDir dir;
  auto c = blobRunConfig(dir, 12);
  c.tta.views = 4;
  RunObserver quiet;
  ASSERT_EQ(runTraining(c, quiet, CancelToken{}).status, RunStatus::Finished);
  ExportOptions o;
  o.onnx = false;
  exportRun(dir / "run", dir / "export", o);
  std::vector<std::string> images;
  for (const auto& e : fs::recursive_directory_iterator(dir / "data")) {
    if (e.is_regular_file() && images.size() < 4) images.push_back(e.path().string());
  }
  const auto fromRun = predictImages(dir / "run", images);
  const auto fromExport = predictImages(dir / "export", images);
  const auto oneView = predictImages(dir / "export", images, 1);
  ASSERT_EQ(fromRun.predictions.size(), images.size());
  bool differs = false;
  for (size_t i = 0; i < images.size(); ++i) {
    ASSERT_TRUE(fromExport.predictions[i].error.empty()) << fromExport.predictions[i].error;
    EXPECT_NEAR(fromExport.predictions[i].probabilities[1], fromRun.predictions[i].probabilities[1], 1e-5);
    differs = differs || std::abs(oneView.predictions[i].probabilities[1] - fromRun.predictions[i].probabilities[1]) > 1e-6;
  }
  EXPECT_TRUE(differs) << "four views must not equal one";
  // A card with an impossible view count is refused naming the card.
  auto card = nlohmann::json::parse(readFile(dir / "export/model.json"));
  card["training"]["tta"]["tta_views"] = 400;
  writeFileAtomic(dir / "export/model.json", card.dump());
  EXPECT_THROW(predictImages(dir / "export", images), InputError);
}

TEST(WeightAverage, AResumedRunEqualsAnUninterruptedOne) {
  TempDir dir;
  auto c = test::tinyRunConfig(dir / "full");
  c.epochs = 3;
  c.checkpointMinutes = 0;
  c.emaDecay = 0.95;
  c.augment.maxTranslate = 0.05;
  c.augment.brightness = c.augment.contrast = c.augment.gamma = 0.1;
  c.labelSmoothing = 0.1;
  Quiet quiet;
  const auto full = runTraining(c, quiet, CancelToken{});
  ASSERT_EQ(full.status, RunStatus::Finished);

  struct StopAt : RunObserver {
    CancelToken& cancel;
    explicit StopAt(CancelToken& c) : cancel(c) {}
    void onStep(const StepEvent& e) override {
      if (e.step == 9) cancel.cancel();  // inside epoch 2: a checkpoint mid-epoch
    }
  };
  c.outDir = dir / "part";
  CancelToken cancel;
  StopAt stop(cancel);
  ASSERT_EQ(runTraining(c, stop, cancel).status, RunStatus::Cancelled);
  auto r = c;
  r.resumeFrom = c.outDir;
  const auto resumed = runTraining(r, quiet, CancelToken{});
  ASSERT_EQ(resumed.status, RunStatus::Finished);
  EXPECT_EQ(resumed.finalVal.loss, full.finalVal.loss);
  EXPECT_EQ(resumed.finalValProbabilities, full.finalValProbabilities);
  auto a = createModel({"small_cnn", 1, 2}), b = createModel({"small_cnn", 1, 2});
  ASSERT_TRUE(loadEvaluationWeights(dir / "full/checkpoint.pt", *a));
  ASSERT_TRUE(loadEvaluationWeights(dir / "part/checkpoint.pt", *b));
  const auto sa = namedState(*a), sb = namedState(*b);
  for (size_t i = 0; i < sa.size(); ++i) {
    EXPECT_TRUE(torch::equal(sa[i].second, sb[i].second)) << sa[i].first;
  }

  // The average is part of the run: changing it on resume is refused.
  auto changed = r;
  changed.emaDecay = 0.9;
  changed.epochs = 4;
  Quiet q;
  EXPECT_THROW(runTraining(changed, q, CancelToken{}), InputError);
}

TEST(WeightAverage, StepsTheLossScalerSkipsDoNotCount) {
  TempDir dir;
  auto c = test::tinyRunConfig(dir / "run");
  c.precision = PrecisionMode::Fp16;
  c.scaler.initScale = 1099511627776.0;  // 2^40: the first steps overflow and are skipped
  c.emaDecay = 0.99;
  Quiet quiet;
  const auto s = runTraining(c, quiet, CancelToken{});
  ASSERT_EQ(s.status, RunStatus::Finished);
  ASSERT_GT(s.skippedSteps, 0);
  auto model = createModel({"small_cnn", 1, 2});
  const auto pos = loadCheckpoint(dir / "run/checkpoint.pt", *model, nullptr, nullptr);
  torch::serialize::InputArchive root, ema;
  root.load_from(dir / "run/checkpoint.pt");
  root.read("ema", ema);
  torch::Tensor updates;
  ema.read("updates", updates);
  EXPECT_EQ(updates.item<int64_t>(), pos.scheduleStep) << "one update per applied step";
  EXPECT_EQ(pos.scheduleStep + s.skippedSteps, pos.globalStep);
}

TEST(TestTimeAugmentation, IdentityViewsEqualPlainEvaluationAndViewsAreAveraged) {
  torch::manual_seed(1);
  auto model = createModel({"small_cnn", 1, 2});
  model->eval();
  SplitTensors s;
  s.images = (torch::rand({10, 1, 16, 16}) * 255).to(torch::kUInt8);
  s.labels = torch::tensor({0, 1, 0, 1, 0, 1, 0, 1, 0, 1}, torch::kLong);
  DatasetSummary d;
  d.classes = {"a", "b"};
  d.mean = {0.5};
  d.std = {0.25};
  RunConfig c = test::tinyRunConfig("");
  PrecisionInfo fp32;
  std::vector<float> plain, identity, shifted;
  const auto m0 = evaluateSplit(*model, s, d, c, fp32, torch::kCPU, CancelToken{}, &plain);
  TtaOptions same;
  same.views = 4;
  same.shift = 0.0;
  const auto m1 = evaluateSplit(*model, s, d, c, fp32, torch::kCPU, CancelToken{}, &identity, {}, same);
  ASSERT_EQ(plain.size(), identity.size());
  for (size_t i = 0; i < plain.size(); ++i) EXPECT_NEAR(plain[i], identity[i], 1e-6);
  EXPECT_NEAR(m0.loss, m1.loss, 1e-6);

  TtaOptions two;
  two.views = 2;
  two.shift = 0.125;  // 2 px of 16
  evaluateSplit(*model, s, d, c, fp32, torch::kCPU, CancelToken{}, &shifted, {}, two);
  // By hand: the mean of the image's and the shifted image's softmax.
  torch::NoGradGuard noGrad;
  const auto x = (s.images.to(torch::kFloat) / 255.0 - 0.5) / 0.25;
  const auto expected =
      ((torch::softmax(model->forward(x), 1) + torch::softmax(model->forward(testTimeView(x, two, 1)), 1)) / 2.0)
          .contiguous();
  const auto* e = expected.data_ptr<float>();
  for (size_t i = 0; i < shifted.size(); ++i) EXPECT_NEAR(shifted[i], e[i], 1e-5) << i;
  EXPECT_FALSE(torch::allclose(testTimeView(x, two, 1), x)) << "the view is shifted";
  // A shift of 2 px moves a marker by 2 px, never flips it.
  const auto [r, col] = markerCentre(testTimeView(markerImage(15, 15), two, 1));
  EXPECT_NEAR(std::hypot(r - 15.5, col - 15.5), 4.0, 0.05) << "0.125 of 32 px";  // markerImage is 32 px
  EXPECT_EQ(describeTta(TtaOptions{}), "none");
  EXPECT_NE(describeTta(two).find("2 views"), std::string::npos);
}

TEST(RecipeKnobs, AreInConfigJsonCheckedAndFixedOnResume) {
  RunConfig c = test::tinyRunConfig("out");
  c.augment.maxTranslate = 0.06;
  c.augment.brightness = 0.1;
  c.augment.contrast = 0.15;
  c.augment.gamma = 0.2;
  c.labelSmoothing = 0.05;
  c.emaDecay = 0.998;
  c.tta.views = 5;
  c.tta.shift = 0.03;
  const auto json = nlohmann::json::parse(configToJson(c));
  EXPECT_EQ(json["data"]["augment"]["max_translate"], 0.06);
  EXPECT_EQ(json["optim"]["label_smoothing"], 0.05);
  EXPECT_EQ(json["optim"]["ema_decay"], 0.998);
  EXPECT_EQ(json["evaluation"]["tta_views"], 5);
  const auto back = configFromJson(configToJson(c));
  EXPECT_EQ(back.augment.gamma, 0.2);
  EXPECT_EQ(back.augment.contrast, 0.15);
  EXPECT_EQ(back.tta.shift, 0.03);
  EXPECT_EQ(back.emaDecay, 0.998);
  EXPECT_NO_THROW(validateConfig(c));
  // An older config.json (no such fields) reads as the knobs off.
  const auto old = configFromJson(R"({"optim": {"lr": 0.1}})");
  EXPECT_EQ(old.emaDecay, 0.0);
  EXPECT_EQ(old.labelSmoothing, 0.0);
  EXPECT_EQ(old.augment.maxTranslate, 0.0);
  EXPECT_EQ(old.tta.views, 1);

  auto expectRefused = [&](auto change, const std::string& flag) {
    RunConfig bad = c;
    change(bad);
    try {
      validateConfig(bad);
      ADD_FAILURE() << flag << " accepted";
    } catch (const InputError& e) {
      EXPECT_NE(std::string(e.what()).find(flag), std::string::npos) << e.what();
    }
  };
  expectRefused([](RunConfig& b) { b.emaDecay = 1.0; }, "--ema-decay");
  expectRefused([](RunConfig& b) { b.emaDecay = -0.1; }, "--ema-decay");
  expectRefused([](RunConfig& b) { b.labelSmoothing = 1.0; }, "--label-smoothing");
  expectRefused([](RunConfig& b) { b.augment.maxTranslate = 0.5; }, "--max-translate");
  expectRefused([](RunConfig& b) { b.augment.brightness = 1.0; }, "--brightness");
  expectRefused([](RunConfig& b) { b.augment.contrast = -0.1; }, "--contrast");
  expectRefused([](RunConfig& b) { b.augment.gamma = 1.5; }, "--gamma");
  expectRefused([](RunConfig& b) { b.augment.maxRotationDeg = 90; }, "--max-rotation");
  expectRefused([](RunConfig& b) { b.tta.views = 0; }, "--tta");
  expectRefused([](RunConfig& b) { b.tta.shift = 0.5; }, "--tta-shift");

  RunConfig asked = c;
  asked.emaDecay = 0.99;
  asked.labelSmoothing = 0.1;
  asked.augment.gamma = 0.1;
  asked.tta.views = 3;  // evaluation only: free to change
  const auto conflicts = resumeConflicts(c, asked);
  EXPECT_EQ(conflicts.size(), 3u);
  for (const auto* name : {"ema_decay", "label_smoothing", "gamma"}) {
    EXPECT_NE(std::find_if(conflicts.begin(), conflicts.end(),
                           [&](const std::string& s) { return s.rfind(name, 0) == 0; }),
              conflicts.end())
        << name;
  }
}
