#include "engine/core/Metrics.h"

#include <gtest/gtest.h>

#include <cmath>
#include <limits>

using ampbench::computeMetrics;
using ampbench::rocAuc;

TEST(Metrics, AucPerfectAndInverted) {
  EXPECT_DOUBLE_EQ(rocAuc({0.1f, 0.2f, 0.8f, 0.9f}, {0, 0, 1, 1}), 1.0);
  EXPECT_DOUBLE_EQ(rocAuc({0.9f, 0.8f, 0.2f, 0.1f}, {0, 0, 1, 1}), 0.0);
}

TEST(Metrics, AucCountsTiesAsHalf) {
  // positives {0.5, 0.8}, negatives {0.5, 0.2}: pairs (P,N) = (0.5,0.5) tie -> 0.5,
  // (0.5,0.2) 1, (0.8,0.5) 1, (0.8,0.2) 1 => 3.5 / 4
  EXPECT_DOUBLE_EQ(rocAuc({0.5f, 0.8f, 0.5f, 0.2f}, {1, 1, 0, 0}), 3.5 / 4.0);
  // all scores equal -> 0.5
  EXPECT_DOUBLE_EQ(rocAuc({0.3f, 0.3f, 0.3f}, {1, 0, 1}), 0.5);
}

TEST(Metrics, AucHandComputedMixedOrder) {
  // scores 0.1(N) 0.35(P) 0.4(N) 0.8(P): pairs P>N: (0.35>0.1) (0.8>0.1) (0.8>0.4) = 3 of 4
  EXPECT_DOUBLE_EQ(rocAuc({0.1f, 0.4f, 0.35f, 0.8f}, {0, 0, 1, 1}), 0.75);
}

TEST(Metrics, AucSingleClassIsHalf) { EXPECT_DOUBLE_EQ(rocAuc({0.1f, 0.9f}, {1, 1}), 0.5); }

TEST(Metrics, BinaryConfusionSensitivitySpecificity) {
  // rows: P(class1) for 6 samples; labels; threshold via argmax
  const std::vector<float> probs = {0.9f, 0.1f,   // pred 0, true 0  TN
                                    0.8f, 0.2f,   // pred 0, true 0  TN
                                    0.3f, 0.7f,   // pred 1, true 0  FP
                                    0.2f, 0.8f,   // pred 1, true 1  TP
                                    0.6f, 0.4f,   // pred 0, true 1  FN
                                    0.1f, 0.9f};  // pred 1, true 1  TP
  const std::vector<int64_t> labels = {0, 0, 0, 1, 1, 1};
  const auto m = computeMetrics(probs, labels, 2, 0.25);
  EXPECT_EQ(m.count, 6);
  EXPECT_DOUBLE_EQ(m.loss, 0.25);
  EXPECT_DOUBLE_EQ(m.accuracy, 4.0 / 6.0);
  EXPECT_DOUBLE_EQ(m.sensitivity, 2.0 / 3.0);  // TP / (TP + FN)
  EXPECT_DOUBLE_EQ(m.specificity, 2.0 / 3.0);  // TN / (TN + FP)
  EXPECT_EQ(m.confusion[0][0], 2);
  EXPECT_EQ(m.confusion[0][1], 1);
  EXPECT_EQ(m.confusion[1][0], 1);
  EXPECT_EQ(m.confusion[1][1], 2);
  // AUC on class-1 scores {0.1,0.2,0.7 | 0.8,0.4,0.9}: pairs won 3+2+3 = 8 of 9
  EXPECT_NEAR(m.auc, 8.0 / 9.0, 1e-12);
}

TEST(Metrics, MulticlassIsMacroAveraged) {
  const std::vector<float> probs = {0.8f, 0.1f, 0.1f,  //
                                    0.1f, 0.8f, 0.1f,  //
                                    0.1f, 0.1f, 0.8f};
  const auto m = computeMetrics(probs, {0, 1, 2}, 3, 0.0);
  EXPECT_DOUBLE_EQ(m.accuracy, 1.0);
  EXPECT_DOUBLE_EQ(m.sensitivity, 1.0);
  EXPECT_DOUBLE_EQ(m.specificity, 1.0);
  EXPECT_DOUBLE_EQ(m.auc, 1.0);
}

TEST(Metrics, NonFiniteScoresGiveNoAucInsteadOfUndefinedSorting) {
  const float nan = std::numeric_limits<float>::quiet_NaN();
  EXPECT_TRUE(std::isnan(rocAuc({0.1f, nan, 0.9f, 0.4f}, {0, 1, 1, 0})));
  EXPECT_TRUE(std::isnan(rocAuc({0.1f, std::numeric_limits<float>::infinity(), 0.9f}, {0, 1, 1})));
  EXPECT_DOUBLE_EQ(rocAuc({0.1f, 0.2f, 0.9f, 0.4f}, {0, 1, 1, 0}), 0.75);
}
