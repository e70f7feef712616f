#include "engine/core/Bootstrap.h"

#include "engine/core/Metrics.h"

#include <algorithm>
#include <map>
#include <random>
#include <stdexcept>

namespace ampbench {

namespace {

// Uniform in [0, bound): rejection of the 2^64 mod bound lowest outputs leaves a whole
// number of copies of every residue.
uint64_t drawBelow(std::mt19937_64& rng, uint64_t bound) {
  const uint64_t threshold = (0 - bound) % bound;  // 2^64 mod bound
  uint64_t x = rng();
  while (x < threshold) {
    x = rng();
  }
  return x % bound;
}

// Linear interpolation between order statistics (Hyndman-Fan type 7, numpy's default).
double quantileOfSorted(const std::vector<double>& v, double q) {
  const double h = (static_cast<double>(v.size()) - 1.0) * q;
  const auto lo = static_cast<size_t>(std::floor(h));
  const size_t hi = std::min(lo + 1, v.size() - 1);
  return v[lo] + (h - static_cast<double>(lo)) * (v[hi] - v[lo]);
}

double logChoose(int64_t m, int64_t k) {
  return std::lgamma(static_cast<double>(m) + 1.0) - std::lgamma(static_cast<double>(k) + 1.0) -
         std::lgamma(static_cast<double>(m - k) + 1.0);
}

DiffEstimate unavailable(int64_t n, std::string why) {
  DiffEstimate d;
  d.n = n;
  d.unavailable = std::move(why);
  return d;
}

// AUC of the images in `indices` (rocAuc per class; macro mean over the classes that have
// both positives and negatives among them). NaN when no class has both.
double aucOf(const std::vector<float>& probabilities, const std::vector<int64_t>& labels, int64_t classes,
             const std::vector<int64_t>& indices) {
  std::vector<float> scores(indices.size());
  std::vector<int64_t> positive(indices.size());
  const auto classAuc = [&](int64_t c, bool* defined) {
    int64_t positives = 0;
    for (size_t k = 0; k < indices.size(); ++k) {
      const auto i = indices[k];
      scores[k] = probabilities[static_cast<size_t>(i * classes + c)];
      positive[k] = labels[static_cast<size_t>(i)] == c;
      positives += positive[k];
    }
    *defined = positives > 0 && positives < static_cast<int64_t>(indices.size());
    return *defined ? rocAuc(scores, positive) : 0.0;
  };
  bool defined = false;
  if (classes == 2) {
    const double auc = classAuc(1, &defined);
    return defined ? auc : std::nan("");
  }
  double sum = 0.0;
  int counted = 0;
  for (int64_t c = 0; c < classes; ++c) {
    const double auc = classAuc(c, &defined);
    if (defined) {
      sum += auc;
      ++counted;
    }
  }
  return counted > 0 ? sum / counted : std::nan("");
}

}  // namespace

Interval bootstrapInterval(int64_t n, const std::vector<int64_t>& strata, uint64_t seed, int resamples,
                           const BootstrapStatistic& statistic, double confidence) {
  if (resamples < kMinBootstrapResamples) {
    throw std::invalid_argument("bootstrap: " + std::to_string(resamples) + " resamples, at least " +
                                std::to_string(kMinBootstrapResamples) + " are needed for stable 95 % tails");
  }
  if (!(confidence > 0.0 && confidence < 1.0)) {
    throw std::invalid_argument("bootstrap: the confidence must lie strictly between 0 and 1");
  }
  if (n < 0 || (!strata.empty() && static_cast<int64_t>(strata.size()) != n)) {
    throw std::invalid_argument("bootstrap: " + std::to_string(strata.size()) + " strata for " + std::to_string(n) +
                                " items");
  }
  Interval out;
  if (n == 0) {
    return out;
  }
  // Items of each stratum, strata in ascending id order so the draws do not depend on the input's order of ids.
  std::map<int64_t, std::vector<int64_t>> groups;
  for (int64_t i = 0; i < n; ++i) {
    groups[strata.empty() ? 0 : strata[static_cast<size_t>(i)]].push_back(i);
  }
  std::mt19937_64 rng(seed);
  std::vector<int64_t> indices(static_cast<size_t>(n));
  std::vector<double> values;
  values.reserve(static_cast<size_t>(resamples));
  for (int r = 0; r < resamples; ++r) {
    size_t k = 0;
    for (const auto& [id, members] : groups) {
      for (size_t j = 0; j < members.size(); ++j) {
        indices[k++] = members[drawBelow(rng, members.size())];
      }
    }
    const double v = statistic(indices);
    if (!std::isfinite(v)) {
      return out;
    }
    values.push_back(v);
  }
  std::sort(values.begin(), values.end());
  const double tail = (1.0 - confidence) / 2.0;
  out.low = quantileOfSorted(values, tail);
  out.high = quantileOfSorted(values, 1.0 - tail);
  return out;
}

double mcnemarExactP(int64_t b, int64_t c) {
  if (b < 0 || c < 0) {
    throw std::invalid_argument("McNemar: negative counts");
  }
  const int64_t m = b + c;
  const int64_t k = std::min(b, c);
  if (m == 0 || 2 * k >= m - 1) {
    return 1.0;  // b == c or b == c +- 1: the lower tail holds at least half the mass
  }
  // sum_{i<=k} C(m,i) = C(m,k) * (1 + C(m,k-1)/C(m,k) + ...), the ratios i/(m-i+1) < 1
  // below the mode, so the factor stays small and the big number lives in a logarithm.
  double factor = 1.0, term = 1.0;
  for (int64_t i = k; i >= 1; --i) {
    term *= static_cast<double>(i) / static_cast<double>(m - i + 1);
    factor += term;
    if (term < 1e-17 * factor) {
      break;
    }
  }
  const double logP = std::log(2.0) + logChoose(m, k) - static_cast<double>(m) * std::log(2.0) + std::log(factor);
  return std::min(1.0, std::exp(logP));
}

std::vector<int64_t> predictedClasses(const std::vector<float>& probabilities, int64_t classes) {
  if (classes < 1 || probabilities.size() % static_cast<size_t>(classes) != 0) {
    throw std::invalid_argument("predictedClasses: " + std::to_string(probabilities.size()) +
                                " probabilities are not rows of " + std::to_string(classes));
  }
  const size_t n = probabilities.size() / static_cast<size_t>(classes);
  std::vector<int64_t> out(n, -1);
  for (size_t i = 0; i < n; ++i) {
    const float* row = probabilities.data() + i * static_cast<size_t>(classes);
    if (std::all_of(row, row + classes, [](float p) { return std::isfinite(p); })) {
      out[i] = std::max_element(row, row + classes) - row;
    }
  }
  return out;
}

DiffEstimate accuracyDifference(const std::vector<int64_t>& predictedA, const std::vector<int64_t>& predictedB,
                                const std::vector<int64_t>& labels, const BootstrapOptions& options) {
  const auto n = static_cast<int64_t>(labels.size());
  if (predictedA.size() != labels.size() || predictedB.size() != labels.size()) {
    throw std::invalid_argument("accuracyDifference: " + std::to_string(predictedA.size()) + " and " +
                                std::to_string(predictedB.size()) + " predictions for " + std::to_string(n) +
                                " labels");
  }
  if (n == 0) {
    return unavailable(0, "no images");
  }
  // Per image: +1 only b right, -1 only a right, 0 both or neither.
  std::vector<int> delta(labels.size());
  int64_t onlyA = 0, onlyB = 0;
  for (size_t i = 0; i < labels.size(); ++i) {
    const bool a = predictedA[i] == labels[i], b = predictedB[i] == labels[i];
    delta[i] = static_cast<int>(b) - static_cast<int>(a);
    onlyA += a && !b;
    onlyB += b && !a;
  }
  DiffEstimate d;
  d.n = n;
  d.value = static_cast<double>(onlyB - onlyA) / static_cast<double>(n);
  d.mcnemarP = mcnemarExactP(onlyA, onlyB);
  const auto interval = bootstrapInterval(
      n, labels, options.seed, options.resamples,
      [&](const std::vector<int64_t>& idx) {
        int64_t sum = 0;
        for (const auto i : idx) {
          sum += delta[static_cast<size_t>(i)];
        }
        return static_cast<double>(sum) / static_cast<double>(idx.size());
      },
      options.confidence);
  d.low = interval.low;
  d.high = interval.high;
  return d;
}

DiffEstimate aucDifference(const std::vector<float>& probabilitiesA, const std::vector<float>& probabilitiesB,
                           const std::vector<int64_t>& labels, int64_t classes, const BootstrapOptions& options) {
  const auto n = static_cast<int64_t>(labels.size());
  if (classes < 2) {
    throw std::invalid_argument("aucDifference: needs at least two classes");
  }
  const auto expected = static_cast<size_t>(n * classes);
  if (probabilitiesA.size() != expected || probabilitiesB.size() != expected) {
    throw std::invalid_argument("aucDifference: " + std::to_string(probabilitiesA.size()) + " and " +
                                std::to_string(probabilitiesB.size()) + " probabilities for " + std::to_string(n) +
                                " images of " + std::to_string(classes) + " classes");
  }
  for (const auto y : labels) {
    if (y < 0 || y >= classes) {
      throw std::invalid_argument("aucDifference: label " + std::to_string(y) + " outside [0, " +
                                  std::to_string(classes) + ")");
    }
  }
  if (n == 0) {
    return unavailable(0, "no images");
  }
  const auto notFinite = [](float p) { return !std::isfinite(p); };
  const auto badA = std::count_if(probabilitiesA.begin(), probabilitiesA.end(), notFinite);
  const auto badB = std::count_if(probabilitiesB.begin(), probabilitiesB.end(), notFinite);
  if (badA + badB > 0) {
    return unavailable(n, std::to_string(badA + badB) + " non-finite scores (NaN/inf): AUC needs a ranking");
  }
  std::vector<int64_t> all(labels.size());
  for (int64_t i = 0; i < n; ++i) {
    all[static_cast<size_t>(i)] = i;
  }
  const double a = aucOf(probabilitiesA, labels, classes, all);
  const double b = aucOf(probabilitiesB, labels, classes, all);
  if (!std::isfinite(a) || !std::isfinite(b)) {
    return unavailable(n, "AUC needs images of both a positive and a negative class");
  }
  DiffEstimate d;
  d.n = n;
  d.value = b - a;
  // Stratified by label, every resample has the classes the sample has: never undefined.
  const auto interval = bootstrapInterval(
      n, labels, options.seed, options.resamples,
      [&](const std::vector<int64_t>& idx) {
        return aucOf(probabilitiesB, labels, classes, idx) - aucOf(probabilitiesA, labels, classes, idx);
      },
      options.confidence);
  d.low = interval.low;
  d.high = interval.high;
  return d;
}

}  // namespace ampbench
