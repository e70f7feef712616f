// The seeded, stratified bootstrap and McNemar's exact test (engine/core/Bootstrap.h):
// hand-computed p values, counts that overflow naive binomials, the interval's width
// against the normal approximation, and the inputs that must be refused.

#include "engine/core/Bootstrap.h"
#include "engine/core/Metrics.h"

#include <gtest/gtest.h>

#include <cmath>
#include <random>
#include <stdexcept>

using namespace ampbench;

namespace {

// n images of two classes (first half class 0); a and b right on roughly pA / pB of them.
struct Pair {
  std::vector<int64_t> labels, a, b;
  std::vector<float> probA, probB;  // [n x 2], consistent with a and b
};

Pair makePair(int n, double pA, double pB, uint64_t seed) {
  Pair p;
  std::mt19937_64 rng(seed);
  std::uniform_real_distribution<double> u(0.0, 1.0);
  for (int i = 0; i < n; ++i) {
    const int64_t y = i < n / 2 ? 0 : 1;
    p.labels.push_back(y);
    const auto predict = [&](double accuracy, std::vector<int64_t>& pred, std::vector<float>& prob) {
      const bool right = u(rng) < accuracy;
      const int64_t c = right ? y : 1 - y;
      pred.push_back(c);
      const float confidence = 0.5f + 0.5f * static_cast<float>(u(rng));
      prob.push_back(c == 0 ? confidence : 1.0f - confidence);
      prob.push_back(c == 1 ? confidence : 1.0f - confidence);
    };
    predict(pA, p.a, p.probA);
    predict(pB, p.b, p.probB);
  }
  return p;
}

double accuracy(const std::vector<int64_t>& pred, const std::vector<int64_t>& labels) {
  double right = 0;
  for (size_t i = 0; i < labels.size(); ++i) {
    right += pred[i] == labels[i];
  }
  return right / static_cast<double>(labels.size());
}

}  // namespace

TEST(Bootstrap, McNemarMatchesHandComputedTables) {
  // b=10, c=2: 2 * (C(12,0) + C(12,1) + C(12,2)) / 2^12 = 2 * 79 / 4096.
  EXPECT_NEAR(mcnemarExactP(10, 2), 158.0 / 4096.0, 1e-14);
  EXPECT_NEAR(mcnemarExactP(10, 2), 0.0386, 5e-5);
  EXPECT_DOUBLE_EQ(mcnemarExactP(2, 10), mcnemarExactP(10, 2)) << "two-sided: symmetric";
  EXPECT_NEAR(mcnemarExactP(5, 0), 2.0 / 32.0, 1e-15);
  EXPECT_NEAR(mcnemarExactP(7, 3), 2.0 * (1 + 10 + 45 + 120) / 1024.0, 1e-14);
  EXPECT_EQ(mcnemarExactP(0, 0), 1.0) << "no discordant pair: no evidence";
  EXPECT_EQ(mcnemarExactP(4, 4), 1.0);
  EXPECT_EQ(mcnemarExactP(5, 4), 1.0) << "the formula's 2 x tail exceeds 1 here and is capped";
  EXPECT_THROW(mcnemarExactP(-1, 3), std::invalid_argument);
}

TEST(Bootstrap, McNemarStaysFiniteWhereNaiveBinomialsOverflow) {
  // C(9800, 4800) ~ 1e2948 and 2^9800 overflow doubles; the exact values come from Python
  // integers: float(Fraction(2 * sum(comb(m, i) for i in range(k + 1)), 2**m)).
  EXPECT_NEAR(mcnemarExactP(5000, 4800), 0.04440414879984629, 1e-9 * 0.0444);
  EXPECT_NEAR(mcnemarExactP(400, 700), 1.1735888055605814e-19, 1e-8 * 1.17e-19);
  EXPECT_NEAR(mcnemarExactP(1030, 1000), 0.5198122723260532, 1e-9);
  EXPECT_NEAR(mcnemarExactP(20000, 19500), 0.012046830244306264, 1e-8 * 0.012);
  const double tiny = mcnemarExactP(3000, 0);  // 2^-2999: below the smallest double
  EXPECT_GE(tiny, 0.0);
  EXPECT_LT(tiny, 1e-300);
  EXPECT_FALSE(std::isnan(mcnemarExactP(2'000'000, 1'990'000)));
}

TEST(Bootstrap, IdenticalPredictionsGiveZeroIntervalAndPOne) {
  const auto p = makePair(270, 0.85, 0.85, 1);
  const auto d = accuracyDifference(p.a, p.a, p.labels);
  ASSERT_TRUE(d.valid()) << d.unavailable;
  EXPECT_EQ(d.value, 0.0);
  EXPECT_EQ(d.low, 0.0);
  EXPECT_EQ(d.high, 0.0);
  EXPECT_EQ(d.mcnemarP, 1.0);
  EXPECT_EQ(d.n, 270);
  EXPECT_FALSE(d.measurable());
  const auto auc = aucDifference(p.probA, p.probA, p.labels, 2);
  ASSERT_TRUE(auc.valid()) << auc.unavailable;
  EXPECT_EQ(auc.value, 0.0);
  EXPECT_EQ(auc.low, 0.0);
  EXPECT_EQ(auc.high, 0.0);
}

TEST(Bootstrap, DeterministicWithItsSeed) {
  const auto p = makePair(300, 0.8, 0.84, 2);
  const auto first = accuracyDifference(p.a, p.b, p.labels);
  const auto again = accuracyDifference(p.a, p.b, p.labels);
  EXPECT_EQ(first.low, again.low);
  EXPECT_EQ(first.high, again.high);
  BootstrapOptions other;
  other.seed = kDefaultBootstrapSeed + 1;
  const auto reseeded = accuracyDifference(p.a, p.b, p.labels, other);
  EXPECT_EQ(reseeded.value, first.value) << "the point estimate does not depend on the seed";
  EXPECT_TRUE(reseeded.low != first.low || reseeded.high != first.high) << "the seed reaches the draws";
}

TEST(Bootstrap, IntervalsContainTheirPointEstimates) {
  for (uint64_t seed = 3; seed < 8; ++seed) {
    const auto p = makePair(270, 0.8, 0.78, seed);
    const auto acc = accuracyDifference(p.a, p.b, p.labels);
    ASSERT_TRUE(acc.valid());
    EXPECT_NEAR(acc.value, accuracy(p.b, p.labels) - accuracy(p.a, p.labels), 1e-12);
    EXPECT_LE(acc.low, acc.value);
    EXPECT_GE(acc.high, acc.value);
    EXPECT_LT(acc.low, acc.high);
    const auto auc = aucDifference(p.probA, p.probB, p.labels, 2);
    ASSERT_TRUE(auc.valid()) << auc.unavailable;
    std::vector<float> sA, sB;
    for (size_t i = 0; i < p.labels.size(); ++i) {
      sA.push_back(p.probA[2 * i + 1]);
      sB.push_back(p.probB[2 * i + 1]);
    }
    EXPECT_DOUBLE_EQ(auc.value, rocAuc(sB, p.labels) - rocAuc(sA, p.labels)) << "class 1 is the positive class";
    EXPECT_LE(auc.low, auc.value);
    EXPECT_GE(auc.high, auc.value);
    EXPECT_TRUE(std::isnan(auc.mcnemarP)) << "McNemar is about right/wrong, not rankings";
  }
}

TEST(Bootstrap, IntervalWidthMatchesTheNormalApproximation) {
  // Paired differences in {-1, 0, +1}: Var(mean) = (p10 + p01 - (p01 - p10)^2) / n.
  const auto p = makePair(2000, 0.75, 0.75, 11);
  int64_t onlyA = 0, onlyB = 0;
  for (size_t i = 0; i < p.labels.size(); ++i) {
    onlyA += p.a[i] == p.labels[i] && p.b[i] != p.labels[i];
    onlyB += p.b[i] == p.labels[i] && p.a[i] != p.labels[i];
  }
  const double n = 2000, p10 = onlyA / n, p01 = onlyB / n;
  const double se = std::sqrt((p10 + p01 - (p01 - p10) * (p01 - p10)) / n);
  const auto d = accuracyDifference(p.a, p.b, p.labels);
  EXPECT_NEAR((d.high - d.low) / 2.0, 1.96 * se, 0.12 * 1.96 * se);
  EXPECT_EQ(d.mcnemarP, mcnemarExactP(onlyA, onlyB));
}

TEST(Bootstrap, AClearDifferenceIsMeasurable) {
  const auto p = makePair(600, 0.70, 0.90, 5);
  const auto d = accuracyDifference(p.a, p.b, p.labels);
  EXPECT_TRUE(d.measurable());
  EXPECT_GT(d.low, 0.0);
  EXPECT_LT(d.mcnemarP, 1e-6);
  const auto reverse = accuracyDifference(p.b, p.a, p.labels);
  EXPECT_TRUE(reverse.measurable());
  EXPECT_LT(reverse.high, 0.0);
  EXPECT_NEAR(reverse.low, -d.high, 0.02);
}

TEST(Bootstrap, ResamplesKeepTheClassCounts) {
  const std::vector<int64_t> strata = {7, 7, 7, 2, 2, 9, 7, 2, 7, 7};  // any ids, any order
  int violations = 0, sawRepeat = 0;
  const auto interval = bootstrapInterval(static_cast<int64_t>(strata.size()), strata, 42, 1000,
                                          [&](const std::vector<int64_t>& idx) {
                                            int64_t count[10] = {};
                                            std::vector<int> seen(strata.size(), 0);
                                            for (const auto i : idx) {
                                              ++count[strata[static_cast<size_t>(i)]];
                                              sawRepeat += ++seen[static_cast<size_t>(i)] == 2;
                                            }
                                            violations += count[7] != 6 || count[2] != 3 || count[9] != 1;
                                            return static_cast<double>(idx[0]);
                                          });
  EXPECT_TRUE(interval.valid());
  EXPECT_EQ(violations, 0);
  EXPECT_GT(sawRepeat, 0) << "drawn with replacement";
}

TEST(Bootstrap, RefusesBadArguments) {
  const auto stat = [](const std::vector<int64_t>&) { return 1.0; };
  EXPECT_THROW(bootstrapInterval(10, {}, 1, 999, stat), std::invalid_argument);
  EXPECT_THROW(bootstrapInterval(10, {}, 1, 1000, stat, 1.0), std::invalid_argument);
  EXPECT_THROW(bootstrapInterval(10, {}, 1, 1000, stat, std::nan("")), std::invalid_argument);
  EXPECT_THROW(bootstrapInterval(3, {0, 1}, 1, 1000, stat), std::invalid_argument);
  EXPECT_FALSE(bootstrapInterval(0, {}, 1, 1000, stat).valid()) << "nothing to resample";
  const auto once = [](const std::vector<int64_t>& idx) { return idx[0] == 0 ? std::nan("") : 1.0; };
  EXPECT_FALSE(bootstrapInterval(5, {}, 1, 1000, once).valid()) << "a statistic undefined on some resamples";
  EXPECT_THROW(accuracyDifference({0, 1}, {0}, {0, 1}), std::invalid_argument);
  EXPECT_FALSE(accuracyDifference({}, {}, {}).valid());
  EXPECT_THROW(aucDifference({0.5f, 0.5f}, {0.5f, 0.5f}, {0, 1}, 2), std::invalid_argument) << "n x classes";
  EXPECT_THROW(aucDifference({0.5f, 0.5f}, {0.5f, 0.5f}, {2}, 2), std::invalid_argument) << "label out of range";
}

TEST(Bootstrap, AucDifferenceRefusesNonFiniteScores) {
  auto p = makePair(100, 0.8, 0.8, 9);
  p.probB[7] = std::nanf("");
  auto d = aucDifference(p.probA, p.probB, p.labels, 2);
  EXPECT_FALSE(d.valid());
  EXPECT_NE(d.unavailable.find("non-finite"), std::string::npos) << d.unavailable;
  p.probB[7] = 0.5f;
  p.probA[20] = INFINITY;
  d = aucDifference(p.probA, p.probB, p.labels, 2);
  EXPECT_FALSE(d.valid());
  // Accuracy still compares: a NaN row predicts no class (wrong), never an arbitrary one.
  std::vector<float> nanRow = {std::nanf(""), 0.2f, 0.9f, 0.1f};
  EXPECT_EQ(predictedClasses(nanRow, 2), (std::vector<int64_t>{-1, 0}));
  EXPECT_THROW(predictedClasses({0.1f, 0.2f, 0.3f}, 2), std::invalid_argument);
}

TEST(Bootstrap, AClassAbsentFromTheSample) {
  // Only class-0 images: accuracy compares (one stratum); a two-class AUC has no negatives
  // to rank against and is refused rather than reported as 0.5 - 0.5.
  const std::vector<int64_t> labels(50, 0);
  std::vector<int64_t> a(50, 0), b(50, 0);
  std::vector<float> pa, pb;
  for (int i = 0; i < 50; ++i) {
    b[static_cast<size_t>(i)] = i < 10 ? 1 : 0;
    pa.insert(pa.end(), {0.9f, 0.1f});
    pb.insert(pb.end(), {i < 10 ? 0.3f : 0.8f, i < 10 ? 0.7f : 0.2f});
  }
  const auto acc = accuracyDifference(a, b, labels);
  ASSERT_TRUE(acc.valid());
  EXPECT_DOUBLE_EQ(acc.value, -0.2);
  EXPECT_LT(acc.high, 0.0);
  const auto auc = aucDifference(pa, pb, labels, 2);
  EXPECT_FALSE(auc.valid());
  EXPECT_NE(auc.unavailable.find("both"), std::string::npos) << auc.unavailable;

  // Three classes, class 2 absent: the macro AUC averages the two classes present.
  const std::vector<int64_t> three = {0, 0, 0, 1, 1, 1};
  const std::vector<float> good = {0.8f, 0.1f, 0.1f, 0.7f, 0.2f, 0.1f, 0.6f, 0.3f, 0.1f,
                                   0.2f, 0.7f, 0.1f, 0.1f, 0.8f, 0.1f, 0.3f, 0.6f, 0.1f};
  std::vector<float> flipped = good;
  for (size_t i = 0; i < 6; ++i) {
    std::swap(flipped[3 * i], flipped[3 * i + 1]);
  }
  const auto macro = aucDifference(good, flipped, three, 3);
  ASSERT_TRUE(macro.valid()) << macro.unavailable;
  EXPECT_DOUBLE_EQ(macro.value, -1.0) << "perfect (1.0) to inverted (0.0) ranking in both classes present";
}
