#pragma once
// How much of a difference between two models could be noise. Two models evaluated on
// the same images are compared pairwise: a seeded, stratified bootstrap (images resampled
// with replacement within each class, so every resample keeps the class counts) gives a
// percentile interval, and McNemar's exact test weighs the images only one model got right.
// Plain C++17 (no torch): the comparison and the per-metric intervals share it.

#include <cmath>
#include <cstdint>
#include <functional>
#include <limits>
#include <string>
#include <vector>

namespace ampbench {

constexpr int kMinBootstrapResamples = 1000;  // fewer make the 2.5 % tails jump between seeds
constexpr int kDefaultBootstrapResamples = 2000;
constexpr uint64_t kDefaultBootstrapSeed = 20240613;

struct BootstrapOptions {
  int resamples = kDefaultBootstrapResamples;
  uint64_t seed = kDefaultBootstrapSeed;  // fixed: the same predictions always give the same interval
  double confidence = 0.95;
};

struct Interval {
  double low = std::numeric_limits<double>::quiet_NaN();
  double high = std::numeric_limits<double>::quiet_NaN();
  bool valid() const { return std::isfinite(low) && std::isfinite(high); }
};

// A difference b - a between two models on the same n images, with its interval.
struct DiffEstimate {
  double value = std::numeric_limits<double>::quiet_NaN();
  double low = std::numeric_limits<double>::quiet_NaN();
  double high = std::numeric_limits<double>::quiet_NaN();
  double mcnemarP = std::numeric_limits<double>::quiet_NaN();  // accuracy only; NaN otherwise
  int64_t n = 0;
  std::string unavailable;  // why there is no estimate; empty when there is one

  bool valid() const {
    return unavailable.empty() && std::isfinite(value) && std::isfinite(low) && std::isfinite(high);
  }
  // The interval excludes zero: only then is b better or worse than a.
  bool measurable() const { return valid() && (low > 0.0 || high < 0.0); }
};

// The statistic of one resample: `indices` holds n image indices drawn with replacement.
using BootstrapStatistic = std::function<double(const std::vector<int64_t>& indices)>;

// Percentile interval of `statistic` over `resamples` (>= kMinBootstrapResamples) resamples
// of n items, each drawn within its stratum (strata: one id per item, e.g. the class label;
// empty: one stratum). Deterministic for a seed on every platform (std::mt19937_64 with an
// unbiased bounded draw of our own, not std::uniform_int_distribution, whose algorithm the
// standard leaves open). Returns an invalid interval for n == 0, or when the statistic is
// not finite for some resample (an interval that silently dropped those would be biased).
// Throws std::invalid_argument for too few resamples, a confidence outside (0, 1) or strata
// of the wrong length.
Interval bootstrapInterval(int64_t n, const std::vector<int64_t>& strata, uint64_t seed, int resamples,
                           const BootstrapStatistic& statistic, double confidence = 0.95);

// Two-sided exact McNemar test: b and c count the discordant pairs (a right and b wrong,
// and the reverse); p = min(1, 2 * sum_{i <= min(b,c)} C(b+c, i) / 2^(b+c)), summed in log
// space so that counts in the millions neither overflow nor underflow early. 1 when b + c == 0.
double mcnemarExactP(int64_t b, int64_t c);

// The predicted class of each row of row-major [n x classes] probabilities; -1 (never
// correct) for a row holding NaN or inf, where an argmax would be arbitrary.
std::vector<int64_t> predictedClasses(const std::vector<float>& probabilities, int64_t classes);

// Accuracy of b minus accuracy of a on the same images (fractions, not points), its
// interval stratified by label, and McNemar's p. Throws std::invalid_argument when the
// lengths differ; n == 0 gives an estimate marked unavailable.
DiffEstimate accuracyDifference(const std::vector<int64_t>& predictedA, const std::vector<int64_t>& predictedB,
                                const std::vector<int64_t>& labels, const BootstrapOptions& options = {});

// ROC AUC of b minus that of a (rocAuc of engine/core/Metrics.h). Two classes: the scores of
// class 1. More classes: the macro one-vs-rest mean over the classes present. Refuses (an
// estimate marked unavailable, never a sort over NaN) non-finite scores, and samples
// without both a positive and a negative class. Throws std::invalid_argument for lengths
// that do not match n x classes or labels outside [0, classes).
DiffEstimate aucDifference(const std::vector<float>& probabilitiesA, const std::vector<float>& probabilitiesB,
                           const std::vector<int64_t>& labels, int64_t classes, const BootstrapOptions& options = {});

}  // namespace ampbench
