#pragma once
// Classification metrics. Plain C++ (no torch) so they can be tested against
// hand-computed values and shown by the UI.

#include "engine/core/RunConfig.h"
#include <cstdint>
#include <string>
#include <vector>

namespace ampbench {

struct Metrics {
  int64_t count = 0;
  double loss = 0.0;
  double accuracy = 0.0;
  double auc = 0.0;          // ROC AUC; macro one-vs-rest for more than two classes
  double sensitivity = 0.0;  // recall of the positive class (index 1); macro for >2
  double specificity = 0.0;  // true-negative rate of the positive class; macro for >2
  std::vector<std::vector<int64_t>> confusion;  // [true][predicted]
};

// ROC AUC of scores for the positive class, with ties counted as one half
// (Mann-Whitney U / (P*N)). Returns 0.5 when one of the classes is absent, NaN when a
// score is inf/NaN (never sorted).
double rocAuc(const std::vector<float>& positiveScores, const std::vector<int64_t>& isPositive);

// probabilities: row-major [count x numClasses]; labels in [0, numClasses).
Metrics computeMetrics(const std::vector<float>& probabilities, const std::vector<int64_t>& labels,
                       int64_t numClasses, double meanLoss);

// Mean recall over the classes present in the split (the confusion's non-empty rows); NaN
// when it has no images.
double balancedAccuracy(const Metrics& m);

// What model selection maximises for `metric` (the loss is negated); NaN when the figure
// or the loss is not finite (such an epoch is never selected). `Last` has no score: NaN.
double selectionScore(SelectMetricKind metric, const Metrics& m);

std::string metricsToJson(const Metrics& m, const std::vector<std::string>& classes, int indent = 2);

}  // namespace ampbench
