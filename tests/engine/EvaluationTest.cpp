// engine/core/Evaluation.h against hand-computed examples.

#include "engine/core/Evaluation.h"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <cmath>
#include <map>
#include <random>
#include <regex>

using namespace ampbench;

namespace {

const std::vector<std::string> kTwo{"NEG", "POS"};
constexpr double kEps = 1e-12;

// Two-class rows as {P(NEG), P(POS)}.
std::vector<float> binary(const std::vector<float>& positive) {
  std::vector<float> out;
  for (const float p : positive) {
    out.push_back(1.0f - p);
    out.push_back(p);
  }
  return out;
}

EvaluationOptions pointOnly(double threshold = 0.5) {
  EvaluationOptions o;
  o.threshold = threshold;
  o.bootstrap.resamples = 0;
  return o;
}

// Six images, a positive tied with a negative at 0.8.
struct TiedExample {
  std::vector<float> probabilities = binary({0.9f, 0.8f, 0.8f, 0.6f, 0.4f, 0.2f});
  std::vector<int64_t> labels{1, 1, 0, 1, 0, 0};
};

}  // namespace

TEST(Evaluation, TwoClassesMatchHandComputedFiguresWithTies) {
  TiedExample x;
  const auto e = evaluateProbabilities(x.probabilities, x.labels, kTwo, pointOnly());
  ASSERT_EQ(e.perClass.size(), 2u);
  EXPECT_EQ(e.confusion, (std::vector<std::vector<int64_t>>{{2, 1}, {0, 3}}));
  EXPECT_NEAR(e.accuracy.value, 5.0 / 6, kEps);
  const auto& pos = e.perClass[1];
  const auto& neg = e.perClass[0];
  EXPECT_EQ(pos.support, 3);
  EXPECT_EQ(pos.predicted, 4);
  EXPECT_NEAR(pos.sensitivity.value, 1.0, kEps);
  EXPECT_NEAR(pos.specificity.value, 2.0 / 3, kEps);
  EXPECT_NEAR(pos.precision.value, 0.75, kEps);
  EXPECT_NEAR(pos.npv.value, 1.0, kEps);
  EXPECT_NEAR(pos.f1.value, 6.0 / 7, kEps);
  // Class 0's sensitivity is class 1's specificity, and so on.
  EXPECT_NEAR(neg.sensitivity.value, pos.specificity.value, kEps);
  EXPECT_NEAR(neg.specificity.value, pos.sensitivity.value, kEps);
  EXPECT_NEAR(neg.precision.value, pos.npv.value, kEps);
  EXPECT_NEAR(neg.npv.value, pos.precision.value, kEps);
  EXPECT_NEAR(neg.f1.value, 0.8, kEps);
  EXPECT_NEAR(e.balancedAccuracy.value, 5.0 / 6, kEps);
  EXPECT_NEAR(e.macroF1.value, 29.0 / 35, kEps);
  // AUC: 7.5 of 9 pairs ordered (the tie counts one half); AP step-wise over tie groups.
  EXPECT_NEAR(e.auc.value, 7.5 / 9, 1e-9);
  EXPECT_NEAR(pos.auc.value, 7.5 / 9, 1e-9);
  EXPECT_NEAR(neg.auc.value, 7.5 / 9, 1e-6);
  EXPECT_NEAR(e.averagePrecision.value, 29.0 / 36, 1e-9);
  EXPECT_EQ(e.nonFinite, 0);
  EXPECT_TRUE(e.notes.empty());
  EXPECT_FALSE(e.accuracy.ci95.valid());  // no resamples asked for
  EXPECT_EQ(e.resamples, 0);
  EXPECT_EQ(pos.undefined, "");
}

TEST(Evaluation, RocCollapsesTiesRunsFromOriginToOneAndPrHasEveryThreshold) {
  TiedExample x;
  const auto e = evaluateProbabilities(x.probabilities, x.labels, kTwo, pointOnly());
  const auto& roc = e.perClass[1].roc;
  // (0,0) above every score, 0.9, 0.8 (the tie once), 0.6, then (2/3, 1) at 0.4 lies on the
  // line to (1, 1) and is dropped.
  ASSERT_EQ(roc.size(), 5u);
  EXPECT_GT(roc[0].threshold, 0.9f);
  const std::vector<double> fpr{0, 0, 1.0 / 3, 1.0 / 3, 1}, tpr{0, 1.0 / 3, 2.0 / 3, 1, 1};
  const std::vector<float> thresholds{0.9f, 0.8f, 0.6f, 0.2f};
  for (size_t i = 0; i < roc.size(); ++i) {
    EXPECT_NEAR(roc[i].fpr, fpr[i], kEps) << i;
    EXPECT_NEAR(roc[i].tpr, tpr[i], kEps) << i;
    if (i > 0) {
      EXPECT_EQ(roc[i].threshold, thresholds[i - 1]) << i;
      EXPECT_LT(roc[i].threshold, roc[i - 1].threshold);
    }
  }
  const auto& pr = e.perClass[1].pr;
  ASSERT_EQ(pr.size(), 5u);  // one per distinct score
  EXPECT_NEAR(pr[0].recall, 1.0 / 3, kEps);
  EXPECT_NEAR(pr[0].precision, 1.0, kEps);
  EXPECT_NEAR(pr[1].recall, 2.0 / 3, kEps);
  EXPECT_NEAR(pr[1].precision, 2.0 / 3, kEps);
  EXPECT_NEAR(pr[2].precision, 0.75, kEps);
  EXPECT_NEAR(pr[4].recall, 1.0, kEps);
  EXPECT_NEAR(pr[4].precision, 0.5, kEps);
  for (size_t i = 1; i < pr.size(); ++i) {
    EXPECT_GE(pr[i].recall, pr[i - 1].recall);
  }
}

TEST(Evaluation, ThresholdDecidesTheCallAndPositiveClassZeroWorks) {
  TiedExample x;
  auto o = pointOnly(0.8);
  EXPECT_EQ(classifyAtThreshold(x.probabilities, 2, o), (std::vector<int64_t>{1, 1, 1, 0, 0, 0}));  // >= 0.8
  const auto e = evaluateProbabilities(x.probabilities, x.labels, kTwo, o);
  EXPECT_EQ(e.confusion, (std::vector<std::vector<int64_t>>{{2, 1}, {1, 2}}));
  EXPECT_NEAR(e.perClass[1].sensitivity.value, 2.0 / 3, kEps);
  // The AUC does not move with the threshold.
  EXPECT_NEAR(e.auc.value, 7.5 / 9, 1e-9);
  o.positiveClass = 0;
  o.threshold = 0.5;
  EXPECT_EQ(classifyAtThreshold(x.probabilities, 2, o), (std::vector<int64_t>{1, 1, 1, 1, 0, 0}));
  const auto e0 = evaluateProbabilities(x.probabilities, x.labels, kTwo, o);
  EXPECT_EQ(e0.positiveClass, 0);
  EXPECT_NEAR(e0.auc.value, e0.perClass[0].auc.value, kEps);  // the headline follows the positive class
  o.threshold = std::nan("");
  EXPECT_THROW(classifyAtThreshold(x.probabilities, 2, o), std::invalid_argument);
}

TEST(Evaluation, SingleClassSplitLeavesTheAbsentClassUndefinedNeverZero) {
  const auto e = evaluateProbabilities(binary({0.9f, 0.7f, 0.3f}), {1, 1, 1}, kTwo, pointOnly());
  const auto& neg = e.perClass[0];
  const auto& pos = e.perClass[1];
  EXPECT_EQ(neg.support, 0);
  EXPECT_FALSE(neg.sensitivity.defined());
  EXPECT_FALSE(neg.f1.defined());
  EXPECT_FALSE(neg.auc.defined());
  EXPECT_FALSE(pos.specificity.defined());
  EXPECT_FALSE(pos.auc.defined());  // never 0.5
  EXPECT_FALSE(pos.averagePrecision.defined());
  EXPECT_FALSE(e.auc.defined());
  EXPECT_TRUE(pos.roc.empty());
  EXPECT_NEAR(pos.sensitivity.value, 2.0 / 3, kEps);
  EXPECT_NEAR(pos.precision.value, 1.0, kEps);
  EXPECT_NEAR(pos.npv.value, 0.0, kEps);  // the one image called NEG was positive: a real 0
  EXPECT_NEAR(neg.specificity.value, 2.0 / 3, kEps);
  // Macro averages over the class present only.
  EXPECT_NEAR(e.balancedAccuracy.value, 2.0 / 3, kEps);
  EXPECT_NEAR(e.macroF1.value, 0.8, kEps);
  EXPECT_NE(neg.undefined.find("no NEG images"), std::string::npos) << neg.undefined;
  EXPECT_NE(pos.undefined.find("no images of other classes"), std::string::npos) << pos.undefined;
  bool noted = false;
  for (const auto& n : e.notes) {
    noted = noted || n.find("no NEG images") != std::string::npos;
  }
  EXPECT_TRUE(noted);
  // In JSON: null, never 0 or 0.5, and a null row of the normalised matrix.
  const auto j = nlohmann::json::parse(evaluationToJson(e));
  EXPECT_TRUE(j["per_class"]["NEG"]["sensitivity"].is_null());
  EXPECT_TRUE(j["per_class"]["NEG"]["sensitivity_ci95"].is_null());
  EXPECT_TRUE(j["auc"].is_null());
  EXPECT_TRUE(j["confusion_normalised"][0].is_null());
  EXPECT_NEAR(j["confusion_normalised"][1][1].get<double>(), 2.0 / 3, kEps);
}

TEST(Evaluation, ThreeClassesMacroOverClassesPresent) {
  const std::vector<std::string> classes{"A", "B", "C"};
  const std::vector<float> p{0.7f, 0.2f, 0.1f, 0.3f, 0.6f, 0.1f, 0.5f, 0.1f, 0.4f,
                             0.1f, 0.8f, 0.1f, 0.2f, 0.3f, 0.5f, 0.6f, 0.3f, 0.1f};
  const std::vector<int64_t> labels{0, 0, 0, 1, 1, 1};
  const auto e = evaluateProbabilities(p, labels, classes, pointOnly());
  EXPECT_TRUE(std::isnan(e.threshold));
  EXPECT_EQ(e.positiveClass, -1);
  EXPECT_EQ(e.thresholdSource, "argmax");
  EXPECT_EQ(e.confusion, (std::vector<std::vector<int64_t>>{{2, 1, 0}, {1, 1, 1}, {0, 0, 0}}));
  EXPECT_NEAR(e.accuracy.value, 0.5, kEps);
  EXPECT_NEAR(e.perClass[0].sensitivity.value, 2.0 / 3, kEps);
  EXPECT_NEAR(e.perClass[1].sensitivity.value, 1.0 / 3, kEps);
  EXPECT_NEAR(e.perClass[1].precision.value, 0.5, kEps);
  EXPECT_NEAR(e.perClass[1].f1.value, 0.4, kEps);
  EXPECT_FALSE(e.perClass[2].sensitivity.defined());
  EXPECT_NEAR(e.perClass[2].precision.value, 0.0, kEps);  // called once, wrongly
  EXPECT_NEAR(e.perClass[2].specificity.value, 5.0 / 6, kEps);
  EXPECT_NEAR(e.balancedAccuracy.value, 0.5, kEps);        // (2/3 + 1/3) / 2, not / 3
  EXPECT_NEAR(e.macroF1.value, 8.0 / 15, kEps);            // (2/3 + 2/5) / 2
  EXPECT_NEAR(e.perClass[0].auc.value, 7.0 / 9, kEps);
  EXPECT_NEAR(e.perClass[1].auc.value, 7.0 / 9, kEps);
  EXPECT_FALSE(e.perClass[2].auc.defined());
  EXPECT_NEAR(e.auc.value, 7.0 / 9, kEps);  // C left out (with it as 0.5 the mean would be 0.685)
  const auto j = nlohmann::json::parse(evaluationToJson(e));
  EXPECT_TRUE(j["threshold"].is_null());
  EXPECT_TRUE(j["positive_class"].is_null());
}

TEST(Evaluation, NonFiniteRowsAreCountedWrongAndNeverRanked) {
  const float nan = std::numeric_limits<float>::quiet_NaN();
  const float inf = std::numeric_limits<float>::infinity();
  std::vector<float> p = binary({0.9f, 0.1f, 0.5f, 0.2f, 0.7f});
  p[4] = nan;  // row 2
  p[5] = nan;
  p[9] = inf;  // row 4
  const std::vector<int64_t> labels{1, 0, 1, 0, 0};
  EXPECT_EQ(classifyAtThreshold(p, 2, pointOnly()), (std::vector<int64_t>{1, 0, -1, 0, -1}));
  EvaluationOptions o;
  o.bootstrap.resamples = 1000;
  const auto e = evaluateProbabilities(p, labels, kTwo, o);
  EXPECT_EQ(e.nonFinite, 2);
  EXPECT_NEAR(e.accuracy.value, 3.0 / 5, kEps);
  EXPECT_EQ(e.confusion, (std::vector<std::vector<int64_t>>{{2, 0}, {0, 1}}));
  EXPECT_NEAR(e.perClass[1].sensitivity.value, 0.5, kEps);   // the NaN positive is missed
  EXPECT_NEAR(e.perClass[1].specificity.value, 2.0 / 3, kEps);  // the inf negative is no true negative
  EXPECT_NEAR(e.perClass[0].specificity.value, 0.5, kEps);
  EXPECT_FALSE(e.auc.defined());
  EXPECT_FALSE(e.averagePrecision.defined());
  EXPECT_TRUE(e.perClass[1].roc.empty());
  EXPECT_TRUE(e.perClass[1].pr.empty());
  bool noted = false;
  for (const auto& n : e.notes) {
    noted = noted || n.find("2 of 5 images had non-finite") != std::string::npos;
  }
  EXPECT_TRUE(noted);
  const auto text = evaluationToJson(e);
  EXPECT_FALSE(std::regex_search(text, std::regex(R"(:\s*-?(nan|NaN|inf|Infinity))"))) << text;
  const auto j = nlohmann::json::parse(text);
  EXPECT_EQ(j["non_finite"], 2);
  EXPECT_TRUE(j["auc"].is_null());
  EXPECT_TRUE(j["auc_ci95"].is_null());
  EXPECT_TRUE(j["per_class"]["POS"]["average_precision"].is_null());
  EXPECT_TRUE(j["per_class"]["POS"]["roc"].empty());
}

TEST(Evaluation, RejectsMismatchedInput) {
  EXPECT_THROW(evaluateProbabilities({0.5f, 0.5f}, {0, 1}, kTwo, pointOnly()), std::invalid_argument);
  EXPECT_THROW(evaluateProbabilities({0.5f, 0.5f}, {2}, kTwo, pointOnly()), std::invalid_argument);
  EXPECT_THROW(evaluateProbabilities({1.0f}, {0}, {"only"}, pointOnly()), std::invalid_argument);
  EvaluationOptions few;
  few.bootstrap.resamples = 10;
  EXPECT_THROW(evaluateProbabilities(binary({0.2f, 0.8f}), {0, 1}, kTwo, few), std::invalid_argument);
}

namespace {

struct Noisy {
  std::vector<float> probabilities;
  std::vector<int64_t> labels;
};
Noisy noisyExample(int n, uint32_t seed) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> noise(0.f, 0.25f);
  Noisy x;
  std::vector<float> scores;
  for (int i = 0; i < n; ++i) {
    const int64_t label = i % 4 == 0 ? 0 : 1;  // imbalanced, as the chest X-rays
    x.labels.push_back(label);
    scores.push_back(std::clamp(0.5f + (label ? 0.2f : -0.2f) + noise(rng), 0.0f, 1.0f));
  }
  x.probabilities = binary(scores);
  return x;
}

void expectInside(const Estimate& e, const char* what) {
  ASSERT_TRUE(e.defined()) << what;
  ASSERT_TRUE(e.ci95.valid()) << what;
  EXPECT_LE(e.ci95.low, e.value) << what;
  EXPECT_GE(e.ci95.high, e.value) << what;
  EXPECT_LT(e.ci95.low, e.ci95.high) << what;
}

}  // namespace

TEST(Evaluation, BootstrapIntervalsAreSeededAndHoldThePointEstimate) {
  const auto x = noisyExample(200, 5);
  EvaluationOptions o;
  o.bootstrap.resamples = 1000;
  o.bootstrap.seed = 42;
  const auto a = evaluateProbabilities(x.probabilities, x.labels, kTwo, o);
  const auto b = evaluateProbabilities(x.probabilities, x.labels, kTwo, o);
  expectInside(a.accuracy, "accuracy");
  expectInside(a.balancedAccuracy, "balanced accuracy");
  expectInside(a.macroF1, "macro F1");
  expectInside(a.auc, "AUC");
  expectInside(a.averagePrecision, "AP");
  for (const auto& c : a.perClass) {
    expectInside(c.sensitivity, "sensitivity");
    expectInside(c.specificity, "specificity");
    expectInside(c.precision, "precision");
    expectInside(c.npv, "npv");
    expectInside(c.f1, "f1");
    expectInside(c.auc, "class AUC");
  }
  EXPECT_EQ(a.accuracy.ci95.low, b.accuracy.ci95.low);
  EXPECT_EQ(a.auc.ci95.high, b.auc.ci95.high);
  EXPECT_EQ(a.perClass[0].npv.ci95.low, b.perClass[0].npv.ci95.low);
  EXPECT_EQ(a.resamples, 1000);
  EXPECT_EQ(a.seed, 42u);
  // The same bootstrap as the comparison verdict: the accuracy interval equals
  // bootstrapInterval's over the per-image correctness, stratified by label.
  const auto predicted = classifyAtThreshold(x.probabilities, 2, o);
  const auto direct = bootstrapInterval(
      200, x.labels, 42, 1000, [&](const std::vector<int64_t>& idx) {
        double right = 0;
        for (const auto i : idx) right += predicted[static_cast<size_t>(i)] == x.labels[static_cast<size_t>(i)];
        return right / static_cast<double>(idx.size());
      });
  EXPECT_DOUBLE_EQ(a.accuracy.ci95.low, direct.low);
  EXPECT_DOUBLE_EQ(a.accuracy.ci95.high, direct.high);
  o.bootstrap.seed = 43;
  const auto c = evaluateProbabilities(x.probabilities, x.labels, kTwo, o);
  EXPECT_NE(std::make_pair(a.auc.ci95.low, a.auc.ci95.high), std::make_pair(c.auc.ci95.low, c.auc.ci95.high));
  EXPECT_EQ(a.auc.value, c.auc.value);
}

TEST(Evaluation, AFigureUndefinedInSomeResamplesHasNoIntervalAndANote) {
  // One image called NEG among 40: many resamples call none, so NEG's precision has no interval.
  std::vector<float> scores(40, 0.9f);
  scores[0] = 0.1f;
  std::vector<int64_t> labels(40, 1);
  for (int i = 0; i < 10; ++i) labels[static_cast<size_t>(i)] = 0;
  EvaluationOptions o;
  o.bootstrap.resamples = 1000;
  const auto e = evaluateProbabilities(binary(scores), labels, kTwo, o);
  EXPECT_NEAR(e.perClass[0].precision.value, 1.0, kEps);
  EXPECT_FALSE(e.perClass[0].precision.ci95.valid());
  bool noted = false;
  for (const auto& n : e.notes) {
    noted = noted || n.find("precision of NEG") != std::string::npos;
  }
  EXPECT_TRUE(noted);
  EXPECT_TRUE(e.accuracy.ci95.valid());
}

TEST(ChooseThreshold, YoudenPicksTheBestJAndTheHigherThresholdOnATie) {
  // Descending: .9P .8P .7N .6P .55P .4N .2N .1N: J = 3/4 at 0.55 only.
  const std::vector<float> s{0.9f, 0.8f, 0.7f, 0.6f, 0.55f, 0.4f, 0.2f, 0.1f};
  const std::vector<int64_t> y{1, 1, 0, 1, 1, 0, 0, 0};
  const auto c = chooseThreshold(s, y, ThresholdRule::Youden);
  EXPECT_EQ(c.threshold, 0.55f);
  EXPECT_NEAR(c.sensitivity, 1.0, kEps);
  EXPECT_NEAR(c.specificity, 0.75, kEps);
  EXPECT_EQ(c.description, "youden on val");
  // J = 1/2 at 0.8, 0.55 and 0.3: the highest wins.
  const std::vector<float> t{0.9f, 0.8f, 0.7f, 0.55f, 0.4f, 0.3f, 0.2f, 0.1f};
  const std::vector<int64_t> z{1, 1, 0, 1, 0, 1, 0, 0};
  const auto tie = chooseThreshold(t, z, ThresholdRule::Youden, 0.95, "test");
  EXPECT_EQ(tie.threshold, 0.8f);
  EXPECT_EQ(tie.description, "youden on test");
  // Applying it calls exactly the images at or above it.
  EvaluationOptions o = pointOnly(tie.threshold);
  const auto e = evaluateProbabilities(binary(t), z, kTwo, o);
  EXPECT_NEAR(e.perClass[1].sensitivity.value, tie.sensitivity, kEps);
  EXPECT_NEAR(e.perClass[1].specificity.value, tie.specificity, kEps);
}

TEST(ChooseThreshold, TargetSensitivityTakesTheHighestThresholdReachingIt) {
  const std::vector<float> t{0.9f, 0.8f, 0.7f, 0.55f, 0.4f, 0.3f, 0.2f, 0.1f};
  const std::vector<int64_t> z{1, 1, 0, 1, 0, 1, 0, 0};
  const auto c = chooseThreshold(t, z, ThresholdRule::TargetSensitivity, 0.75);
  EXPECT_EQ(c.threshold, 0.55f);
  EXPECT_NEAR(c.sensitivity, 0.75, kEps);
  EXPECT_NEAR(c.specificity, 0.75, kEps);
  EXPECT_EQ(c.description, "sensitivity >= 0.75 on val");
  const auto all = chooseThreshold(t, z, ThresholdRule::TargetSensitivity, 1.0);
  EXPECT_EQ(all.threshold, 0.3f);
  EXPECT_NEAR(all.specificity, 0.5, kEps);
  // Tied scores are called together: the threshold never splits them.
  const auto tied = chooseThreshold({0.9f, 0.5f, 0.5f, 0.1f}, {1, 1, 0, 0}, ThresholdRule::TargetSensitivity, 0.9);
  EXPECT_EQ(tied.threshold, 0.5f);
  EXPECT_NEAR(tied.specificity, 0.5, kEps);
}

TEST(ChooseThreshold, RefusesWhatItCannotChooseOn) {
  EXPECT_THROW(chooseThreshold({0.2f, 0.8f}, {1, 1}, ThresholdRule::Youden), std::invalid_argument);
  EXPECT_THROW(chooseThreshold({0.2f, std::nanf("")}, {0, 1}, ThresholdRule::Youden), std::invalid_argument);
  EXPECT_THROW(chooseThreshold({0.2f, 0.8f}, {0, 1}, ThresholdRule::TargetSensitivity, 0.0), std::invalid_argument);
  EXPECT_THROW(chooseThreshold({0.2f}, {0, 1}, ThresholdRule::Youden), std::invalid_argument);
}

namespace {

PredictionTable hostileTable() {
  PredictionTable t;
  t.classes = {"NORMAL", "PNEU,MONIA"};
  const std::vector<std::string> files{"NORMAL/a,b.png", "PNEU,MONIA/say \"hi\".png", "NORMAL/line\nbreak.png",
                                       "plain.png"};
  const std::vector<int64_t> labels{0, 1, 0, 1};
  const std::vector<float> p{0.2f, 0.7f, 0.65f, 0.123456789f};
  for (size_t i = 0; i < files.size(); ++i) {
    t.rows.push_back({files[i], labels[i], p[i] >= 0.5f ? 1 : 0, {1.0f - p[i], p[i]}});
  }
  return t;
}

}  // namespace

TEST(Predictions, CsvRoundTripsHostileNamesAndAgreesWithTheConfusionMatrix) {
  const auto t = hostileTable();
  const auto csv = predictionsToCsv(t);
  EXPECT_EQ(csv.substr(0, csv.find('\n')), "file,true_class,predicted_class,p_NORMAL,\"p_PNEU,MONIA\",correct");
  EXPECT_NE(csv.find("\"PNEU,MONIA/say \"\"hi\"\".png\""), std::string::npos);
  const auto back = predictionsFromCsv(csv);
  EXPECT_EQ(back.classes, t.classes);
  ASSERT_EQ(back.rows.size(), t.rows.size());
  for (size_t i = 0; i < t.rows.size(); ++i) {
    EXPECT_EQ(back.rows[i].file, t.rows[i].file);
    EXPECT_EQ(back.rows[i].label, t.rows[i].label);
    EXPECT_EQ(back.rows[i].predicted, t.rows[i].predicted);
    EXPECT_EQ(back.rows[i].probabilities, t.rows[i].probabilities);  // bit-exact
  }
  // The CSV's (true, predicted) pairs are the evaluation's confusion matrix.
  const auto e = evaluateProbabilities(back.flatProbabilities(), back.labels(), back.classes, pointOnly());
  std::vector<std::vector<int64_t>> counted(2, std::vector<int64_t>(2, 0));
  for (const auto& r : back.rows) {
    ++counted[static_cast<size_t>(r.label)][static_cast<size_t>(r.predicted)];
  }
  EXPECT_EQ(counted, e.confusion);
  // CRLF line ends read the same.
  std::string crlf;
  for (const char ch : csv) {
    if (ch == '\n') crlf += '\r';
    crlf += ch;
  }
  // (the quoted line break becomes CRLF inside the field too)
  EXPECT_EQ(predictionsFromCsv(crlf).rows.size(), t.rows.size());
}

TEST(Predictions, NonFiniteRowsRoundTripWithoutAPredictedClass) {
  PredictionTable t;
  t.classes = {"A", "B"};
  t.rows.push_back({"x.png", 1, -1, {std::numeric_limits<float>::quiet_NaN(), std::numeric_limits<float>::infinity()}});
  const auto csv = predictionsToCsv(t);
  EXPECT_NE(csv.find("x.png,B,,nan,inf,0"), std::string::npos) << csv;
  const auto back = predictionsFromCsv(csv);
  EXPECT_EQ(back.rows[0].predicted, -1);
  EXPECT_TRUE(std::isnan(back.rows[0].probabilities[0]));
  EXPECT_TRUE(std::isinf(back.rows[0].probabilities[1]));
}

TEST(Predictions, MalformedCsvIsRejectedSayingWhy) {
  const std::string header = "file,true_class,predicted_class,p_A,p_B,correct\n";
  const auto rejects = [](const std::string& text, const std::string& why) {
    try {
      predictionsFromCsv(text);
      ADD_FAILURE() << "accepted: " << text;
    } catch (const std::runtime_error& e) {
      EXPECT_NE(std::string(e.what()).find(why), std::string::npos) << e.what();
    }
  };
  rejects("", "empty");
  rejects("name,label\n", "header");
  rejects(header + "a.png,A,A,0.9,0.1\n", "5 fields");
  rejects(header + "a.png,C,A,0.9,0.1,0\n", "unknown class 'C'");
  rejects(header + "a.png,A,A,zero,0.1,1\n", "not a probability");
  rejects(header + "a.png,A,A,0.9,0.1x,1\n", "not a probability");
  rejects(header + "\"a.png,A,A,0.9,0.1,1\n", "never closed");
  rejects(header + "\"a\"b.png,A,A,0.9,0.1,1\n", "after a closing quote");
  rejects(header + "a.png,A,B,0.9,0.1,1\n", "correct disagrees");
  rejects(header + "a.png,A,,0.9,0.1,0\n", "no predicted class");
  rejects(header + "a.png,A,A,0.9,0.1,yes\n", "0 or 1");
  rejects("file,true_class,predicted_class,p_A,p_A,correct\n", "twice");
  EXPECT_EQ(predictionsFromCsv(header + "a.png,A,A,0.9,0.1,1\n\n").rows.size(), 1u);
}

TEST(Predictions, WorstMistakesListMissedPositivesFirstMostConfidentFirst) {
  PredictionTable t;
  t.classes = kTwo;
  const std::vector<float> p{0.45f, 0.05f, 0.95f, 0.6f, 0.3f, 0.9f, std::nanf("")};
  const std::vector<int64_t> y{1, 1, 1, 0, 0, 0, 1};
  for (size_t i = 0; i < p.size(); ++i) {
    t.rows.push_back({"f" + std::to_string(i), y[i], -1, {1.0f - p[i], p[i]}});
  }
  // FN: rows 1 (0.05), 0 (0.45); FP: rows 5 (0.9), 3 (0.6); the NaN row has no confidence.
  EXPECT_EQ(worstMistakes(t, pointOnly(), 10), (std::vector<size_t>{1, 0, 5, 3}));
  EXPECT_EQ(worstMistakes(t, pointOnly(), 3), (std::vector<size_t>{1, 0, 5}));
  EXPECT_EQ(worstMistakes(t, pointOnly(0.04), 10), (std::vector<size_t>{5, 3, 4}));
}

TEST(EvaluationJson, RoundTripsIncludingNullsAndNeverWritesNaN) {
  EvaluationOptions o;
  o.bootstrap.resamples = 1000;
  auto e = evaluateProbabilities(binary({0.9f, 0.7f, 0.3f, 0.8f}), {1, 1, 1, 1}, kTwo, o);
  e.split = "test";
  e.source = "/data/chest_xray";
  e.loss = 0.25;
  e.thresholdSource = "youden on val";
  e.skipped.push_back({"NORMAL/bad.png", "cannot decode"});
  const auto text = evaluationToJson(e);
  EXPECT_FALSE(std::regex_search(text, std::regex(R"(:\s*-?(nan|NaN|inf|Infinity))")));
  const auto j = nlohmann::ordered_json::parse(text);
  EXPECT_TRUE(j["auc"].is_null());
  EXPECT_TRUE(j["per_class"]["NEG"]["f1"].is_null());
  EXPECT_EQ(j["accuracy"], e.accuracy.value);
  EXPECT_EQ(j["accuracy_ci95"][0], e.accuracy.ci95.low);
  EXPECT_EQ(j["positive_class"], "POS");
  EXPECT_EQ(j["skipped"][0]["file"], "NORMAL/bad.png");
  EXPECT_EQ(j["bootstrap"]["confidence"], 0.95);
  const auto back = evaluationFromJson(text);
  EXPECT_EQ(back.split, "test");
  EXPECT_EQ(back.source, e.source);
  EXPECT_EQ(back.classes, e.classes);
  EXPECT_EQ(back.count, 4);
  EXPECT_EQ(back.loss, 0.25);
  EXPECT_EQ(back.threshold, 0.5);
  EXPECT_EQ(back.positiveClass, 1);
  EXPECT_EQ(back.thresholdSource, "youden on val");
  EXPECT_EQ(back.confusion, e.confusion);
  EXPECT_EQ(back.accuracy.value, e.accuracy.value);
  EXPECT_EQ(back.accuracy.ci95.low, e.accuracy.ci95.low);
  EXPECT_EQ(back.accuracy.ci95.high, e.accuracy.ci95.high);
  EXPECT_FALSE(back.auc.defined());
  EXPECT_FALSE(back.auc.ci95.valid());
  ASSERT_EQ(back.perClass.size(), 2u);
  EXPECT_FALSE(back.perClass[0].sensitivity.defined());
  EXPECT_EQ(back.perClass[1].sensitivity.value, e.perClass[1].sensitivity.value);
  EXPECT_EQ(back.perClass[1].undefined, e.perClass[1].undefined);
  EXPECT_EQ(back.notes, e.notes);
  EXPECT_EQ(back.skipped.size(), 1u);
  EXPECT_EQ(back.resamples, 1000);
  EXPECT_EQ(back.seed, kDefaultBootstrapSeed);
  EXPECT_EQ(evaluationToJson(back), text);  // nothing lost

  // Curves survive too.
  TiedExample x;
  const auto withCurves = evaluateProbabilities(x.probabilities, x.labels, kTwo, pointOnly());
  const auto curves = evaluationFromJson(evaluationToJson(withCurves));
  ASSERT_EQ(curves.perClass[1].roc.size(), withCurves.perClass[1].roc.size());
  EXPECT_EQ(curves.perClass[1].roc[2].fpr, withCurves.perClass[1].roc[2].fpr);
  EXPECT_EQ(curves.perClass[1].pr.size(), withCurves.perClass[1].pr.size());
}

TEST(EvaluationJson, MalformedFilesAreRejectedNamingTheField) {
  TiedExample x;
  const auto good = nlohmann::ordered_json::parse(
      evaluationToJson(evaluateProbabilities(x.probabilities, x.labels, kTwo, pointOnly())));
  const auto rejects = [](const std::string& text, const std::string& why) {
    try {
      evaluationFromJson(text);
      ADD_FAILURE() << "accepted: " << text.substr(0, 200);
    } catch (const std::runtime_error& e) {
      EXPECT_NE(std::string(e.what()).find(why), std::string::npos) << e.what();
    }
  };
  rejects("{not json", "not valid JSON");
  rejects("[1, 2]", "object");
  auto j = good;
  j.erase("accuracy");
  rejects(j.dump(), "'accuracy' is missing");
  j = good;
  j["auc"] = "high";
  rejects(j.dump(), "'auc' must be a number or null");
  j = good;
  j["accuracy_ci95"] = {0.9, 0.1};
  rejects(j.dump(), "low above high");
  j = good;
  j["per_class"]["POS"]["sensitivity_ci95"] = {0.5};
  rejects(j.dump(), "'per_class.POS.sensitivity_ci95'");
  j = good;
  j["per_class"].erase("NEG");
  rejects(j.dump(), "per_class");
  j = good;
  j["confusion"][0][0] = -1;
  rejects(j.dump(), "confusion");
  j = good;
  j["count"] = 7;
  rejects(j.dump(), "disagrees");
  j = good;
  j["positive_class"] = "MAYBE";
  rejects(j.dump(), "positive_class");
  j = good;
  j["classes"] = {"POS", "POS"};
  rejects(j.dump(), "twice");
}

TEST(Decision, RoundTripsAndRejectsNonsense) {
  DecisionThreshold d;
  d.threshold = 0.3125;
  d.source = "sensitivity >= 0.95 on val";
  const auto text = decisionToJson(d, kTwo);
  const auto j = nlohmann::json::parse(text);
  EXPECT_EQ(j["positive_class"], "POS");
  const auto back = decisionFromJson(text);
  EXPECT_EQ(back.threshold, 0.3125);
  EXPECT_EQ(back.positiveClass, 1);
  EXPECT_EQ(back.source, d.source);
  EXPECT_THROW(decisionFromJson("{}"), std::runtime_error);
  EXPECT_THROW(decisionFromJson("{\"threshold\": 1.5, \"positive_class_index\": 1}"), std::runtime_error);
  EXPECT_THROW(decisionFromJson("{\"threshold\": 0.5, \"positive_class_index\": 2}"), std::runtime_error);
  EXPECT_THROW(decisionFromJson("nope"), std::runtime_error);
}
