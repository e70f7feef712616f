#pragma once
// Validation vs test, side by side (val_vs_test.json): what each split looks like (class
// shares, image intensity) and how the run's model does on each (accuracy, sensitivity,
// specificity, balanced accuracy, AUC, calibration), every figure with its 95 % interval,
// and a flag on each row whose intervals do not overlap — a gap the noise does not explain,
// so a user sees that validation does not predict the test split. Plain C++17 (no torch).

#include "engine/core/Evaluation.h"

#include <string>
#include <vector>

namespace ampbench {

// What the comparison needs from one evaluated split.
struct SplitProfile {
  Evaluation evaluation;             // at the run's decision threshold, with intervals
  std::vector<float> probabilities;  // row-major [count x classes]
  std::vector<int64_t> labels;
  std::vector<double> imageMeans;  // each image's mean intensity in [0, 1] (empty: unknown)
};

struct ShiftRow {
  std::string key;    // "share_<class>", "mean_intensity", "accuracy", ... "ece"
  std::string label;  // "PNEUMONIA share", "mean intensity", ...
  Estimate val, test;
  bool gap = false;  // both intervals known and disjoint
};

struct SplitShift {
  std::vector<std::string> classes;
  int64_t valCount = 0, testCount = 0;
  double threshold = kDefaultDecisionThreshold;  // NaN for argmax
  std::string thresholdSource;
  std::vector<ShiftRow> rows;
  std::vector<std::string> findings;  // one sentence per gap; or that none was found
};

// Expected calibration error of the called class's probability (two classes: of the
// positive class, in `bins` equal-width bins), with a stratified bootstrap interval
// (resamples 0: none). NaN with a non-finite probability.
Estimate expectedCalibrationError(const std::vector<float>& probabilities, const std::vector<int64_t>& labels,
                                  int64_t classes, int64_t positiveClass, int bins, int resamples, uint64_t seed);

// Whether a row's figures are shares shown as percentages (all but AUC and intensity).
bool isPercentFigure(const std::string& key);

// Throws std::invalid_argument when the two splits have different classes.
SplitShift compareSplits(const SplitProfile& val, const SplitProfile& test, int resamples = 1000,
                         uint64_t seed = 20180215);

// The findings from the rows' gap flags (after a row was replaced).
void updateFindings(SplitShift& s);

std::string splitShiftToJson(const SplitShift& s);
SplitShift splitShiftFromJson(const std::string& text);  // throws std::runtime_error when malformed

}  // namespace ampbench
