#pragma once
// What a trained classifier gets right and wrong on a labelled split, for the people who
// must judge it: the confusion matrix at a decision threshold, per-class sensitivity,
// specificity, PPV, NPV and F1, ROC and PR curves, each figure with a 95 % stratified
// bootstrap interval (the one bootstrap of Bootstrap.h). Plain C++17 (no torch): the
// engine, the CLI, the GUI and the PDF report all use these functions.
//
// Honesty rules: a metric that needs a class absent from the split is undefined (NaN in
// C++, null in JSON) and left out of macro averages, never 0.0 or 0.5; rows whose
// probabilities are NaN/inf are counted, reported, and never sorted: they count as wrong
// at the threshold, and while any exists the threshold-free figures (AUC, average
// precision, ROC and PR curves) are undefined rather than computed over the other rows,
// which would hide exactly the images precision broke.

#include "engine/core/Bootstrap.h"
#include "engine/core/SkippedFile.h"

#include <cmath>
#include <cstdint>
#include <limits>
#include <optional>
#include <string>
#include <vector>

namespace ampbench {

constexpr double kDefaultDecisionThreshold = 0.5;

// A point estimate with its 95 % interval. value NaN: undefined (see ClassEvaluation::undefined).
struct Estimate {
  double value = std::numeric_limits<double>::quiet_NaN();
  Interval ci95;  // invalid when there is no interval (undefined, or intervals not asked for)
  bool defined() const { return std::isfinite(value); }
};

struct RocPoint {
  double threshold = 0.0;  // score >= threshold is called positive
  double fpr = 0.0;
  double tpr = 0.0;
};
struct PrPoint {
  double threshold = 0.0;
  double recall = 0.0;
  double precision = 0.0;
};

// One class against the rest (for two classes, class 1 is "the positive class").
struct ClassEvaluation {
  std::string name;
  int64_t support = 0;    // images of this class in the split
  int64_t predicted = 0;  // images predicted as this class
  Estimate sensitivity;   // recall, true-positive rate
  Estimate specificity;   // true-negative rate
  Estimate precision;     // positive predictive value
  Estimate npv;           // negative predictive value
  Estimate f1;
  Estimate auc;               // one-vs-rest ROC AUC (threshold-free)
  Estimate averagePrecision;  // area under the PR curve, step-wise (threshold-free)
  std::vector<RocPoint> roc;  // from (0,0) to (1,1), thresholds descending
  std::vector<PrPoint> pr;    // recall ascending
  std::string undefined;      // why some metrics are undefined, e.g. "no NORMAL images in this split"
};

struct EvaluationOptions {
  // Two classes: P(class positiveClass) >= threshold is called positive. Ignored (argmax)
  // for more classes.
  double threshold = kDefaultDecisionThreshold;
  int64_t positiveClass = 1;
  // Intervals: resamples >= kMinBootstrapResamples; 0 gives point estimates only (what a
  // threshold slider needs, 60 times a second).
  BootstrapOptions bootstrap;
};

struct Evaluation {
  std::string split;   // "val", "test", "train", or "folder"
  std::string source;  // the dataset folder / file evaluated (as the user gave it)
  std::vector<std::string> classes;
  int64_t count = 0;
  double loss = std::numeric_limits<double>::quiet_NaN();  // mean cross-entropy when known
  double threshold = kDefaultDecisionThreshold;  // NaN for more than two classes (argmax)
  int64_t positiveClass = 1;                     // -1 for more than two classes
  std::string thresholdSource = "default";  // "default", "youden on val", "sensitivity >= 0.95 on val", "user";
                                            // "argmax" for more than two classes
  // Test-time augmentation of the probabilities: "none", or the views averaged (--tta).
  std::string testTimeAugmentation = "none";
  std::vector<std::vector<int64_t>> confusion;  // [true][predicted], at the threshold
  Estimate accuracy;
  Estimate balancedAccuracy;  // mean sensitivity over the classes present
  Estimate macroF1;           // over the classes present
  Estimate auc;               // two classes: of the positive class; more: macro one-vs-rest over classes present
  Estimate averagePrecision;  // likewise
  std::vector<ClassEvaluation> perClass;
  int64_t nonFinite = 0;       // rows with a NaN/inf probability: predicted as no class, never sorted
  std::vector<std::string> notes;  // absent classes, non-finite rows, ... one sentence each
  std::vector<SkippedFile> skipped;  // images of the split that could not be read (paths relative)
  int resamples = 0;          // bootstrap resamples behind the intervals (0: none)
  uint64_t seed = 0;
};

// probabilities: row-major [labels.size() x classes.size()], labels in [0, classes).
// Throws std::invalid_argument for mismatched sizes or labels out of range.
Evaluation evaluateProbabilities(const std::vector<float>& probabilities, const std::vector<int64_t>& labels,
                                 const std::vector<std::string>& classes, const EvaluationOptions& options);

// The class each row is called at the options' threshold (argmax for > 2 classes); -1 for
// a row with a non-finite probability.
std::vector<int64_t> classifyAtThreshold(const std::vector<float>& probabilities, int64_t classes,
                                         const EvaluationOptions& options);

enum class ThresholdRule { Youden, TargetSensitivity };
struct ThresholdChoice {
  double threshold = kDefaultDecisionThreshold;
  double sensitivity = std::numeric_limits<double>::quiet_NaN();
  double specificity = std::numeric_limits<double>::quiet_NaN();
  std::string description;  // "youden on val" / "sensitivity >= 0.95 on val"
};
// Chooses the two-class decision threshold on scores (of the positive class): Youden's J
// (max sensitivity + specificity - 1; ties: the higher threshold), or the highest threshold
// whose sensitivity reaches `targetSensitivity`. Throws std::invalid_argument without both
// classes or with non-finite scores.
ThresholdChoice chooseThreshold(const std::vector<float>& positiveScores, const std::vector<int64_t>& isPositive,
                                ThresholdRule rule, double targetSensitivity = 0.95,
                                const std::string& splitName = "val");

// evaluation_<split>.json: each metric under its name with "<name>_ci95": [low, high]
// beside it; undefined values and intervals are null. fromJson reads it back (the GUI and
// the report); throws std::runtime_error naming what is wrong for a malformed file.
std::string evaluationToJson(const Evaluation& e);
Evaluation evaluationFromJson(const std::string& text);

// One evaluated image: predictions_<split>.csv has one row per image:
// file,true_class,predicted_class,p_<class>...,correct
struct PredictionRow {
  std::string file;  // relative to the dataset folder (never a DICOM header field)
  int64_t label = 0;
  int64_t predicted = -1;  // at the threshold; -1 for non-finite probabilities
  std::vector<float> probabilities;
};
struct PredictionTable {
  std::vector<std::string> classes;
  std::vector<PredictionRow> rows;
  // Row-major probabilities and labels, as evaluateProbabilities takes them.
  std::vector<float> flatProbabilities() const;
  std::vector<int64_t> labels() const;
};
std::string predictionsToCsv(const PredictionTable& t);
PredictionTable predictionsFromCsv(const std::string& text);  // throws std::runtime_error on a malformed file

// The most confident mistakes, most confident first; for two classes the false negatives
// (positives called negative: the missed pneumonias) come before the false positives.
std::vector<size_t> worstMistakes(const PredictionTable& t, const EvaluationOptions& options, size_t limit);

// The decision threshold stored with a run (<run>/decision.json).
struct DecisionThreshold {
  double threshold = kDefaultDecisionThreshold;
  int64_t positiveClass = 1;
  std::string source = "default";  // as Evaluation::thresholdSource
};
std::string decisionToJson(const DecisionThreshold& d, const std::vector<std::string>& classes);
DecisionThreshold decisionFromJson(const std::string& text);

}  // namespace ampbench
