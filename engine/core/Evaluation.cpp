#include "engine/core/Evaluation.h"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <numeric>
#include <set>
#include <sstream>
#include <stdexcept>

namespace ampbench {

namespace {
constexpr int64_t kMaxBootstrapResamplesRead = 100000;
}  // namespace

namespace {

using ojson = nlohmann::ordered_json;
constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

// Figures of one sample of the rows, in a flat vector so that a bootstrap resample can
// keep all of them: the headline figures, then kPerClass per class.
enum Headline : size_t { kAccuracy, kBalancedAccuracy, kMacroF1, kAuc, kAveragePrecision, kHeadline };
enum PerClass : size_t { kSensitivity, kSpecificity, kPrecision, kNpv, kF1, kClassAuc, kClassAp, kPerClass };
size_t slot(int64_t c, PerClass m) { return kHeadline + static_cast<size_t>(c) * kPerClass + m; }

double ratio(double num, double den) { return den > 0 ? num / den : kNaN; }

double meanOfDefined(const std::vector<double>& v) {
  double sum = 0.0;
  int count = 0;
  for (double x : v) {
    if (std::isfinite(x)) {
      sum += x;
      ++count;
    }
  }
  return count > 0 ? sum / count : kNaN;
}

// Finite rows of one class's scores, highest first, tied scores in one group (a threshold
// cannot separate them).
struct Ranking {
  std::vector<int64_t> order;
  std::vector<size_t> groupEnd;  // exclusive end in `order` of each tie group
};

Ranking rankByScore(const std::vector<float>& probabilities, int64_t k, int64_t c, int64_t n) {
  Ranking r;
  r.order.resize(static_cast<size_t>(n));
  std::iota(r.order.begin(), r.order.end(), 0);
  const auto score = [&](int64_t i) { return probabilities[static_cast<size_t>(i * k + c)]; };
  std::stable_sort(r.order.begin(), r.order.end(), [&](int64_t a, int64_t b) { return score(a) > score(b); });
  for (size_t j = 1; j <= r.order.size(); ++j) {
    if (j == r.order.size() || score(r.order[j]) != score(r.order[j - 1])) {
      r.groupEnd.push_back(j);
    }
  }
  return r;
}

// ROC AUC (ties count one half) and step-wise average precision (sum over thresholds of
// the recall gained times the precision there, as scikit-learn's average_precision_score)
// of class c, each row weighted by how often a resample drew it. NaN without positives or
// negatives.
std::pair<double, double> rankedFigures(const Ranking& r, const std::vector<int64_t>& labels, int64_t c,
                                        const std::vector<int32_t>& weight) {
  double positives = 0.0, negatives = 0.0;
  for (const auto i : r.order) {
    (labels[static_cast<size_t>(i)] == c ? positives : negatives) += weight[static_cast<size_t>(i)];
  }
  if (positives == 0.0 || negatives == 0.0) {
    return {kNaN, kNaN};
  }
  double tp = 0.0, fp = 0.0, area = 0.0, ap = 0.0;
  size_t begin = 0;
  for (const auto end : r.groupEnd) {
    double gtp = 0.0, gfp = 0.0;
    for (size_t j = begin; j < end; ++j) {
      const auto i = static_cast<size_t>(r.order[j]);
      (labels[i] == c ? gtp : gfp) += weight[i];
    }
    area += gfp * (tp + 0.5 * gtp);
    tp += gtp;
    fp += gfp;
    if (gtp > 0.0) {
      ap += gtp * (tp / (tp + fp));  // divided by the positives once: a perfect ranking gives exactly 1
    }
    begin = end;
  }
  return {area / (positives * negatives), ap / positives};
}

// Everything evaluateProbabilities needs about the rows, computed once.
struct Rows {
  int64_t n = 0, k = 0;
  const std::vector<float>* probabilities = nullptr;
  const std::vector<int64_t>* labels = nullptr;
  std::vector<int64_t> predicted;  // -1: non-finite row
  std::vector<Ranking> rankings;   // per class; empty when threshold-free figures are undefined
  int64_t positiveClass = 1;
};

// All figures of the sample `indices` (rows drawn with replacement).
std::vector<double> figuresOf(const Rows& rows, const std::vector<int64_t>& indices, std::vector<int32_t>& weight) {
  const auto k = rows.k;
  const auto& labels = *rows.labels;
  std::vector<int64_t> confusion(static_cast<size_t>(k * k), 0), nonFinite(static_cast<size_t>(k), 0);
  for (const auto i : indices) {
    const auto t = labels[static_cast<size_t>(i)];
    const auto p = rows.predicted[static_cast<size_t>(i)];
    if (p < 0) {
      ++nonFinite[static_cast<size_t>(t)];
    } else {
      ++confusion[static_cast<size_t>(t * k + p)];
    }
  }
  const auto n = static_cast<double>(indices.size());
  const double allNonFinite = std::accumulate(nonFinite.begin(), nonFinite.end(), 0.0);
  std::vector<double> out(kHeadline + static_cast<size_t>(k) * kPerClass, kNaN);
  std::vector<double> sensitivities, f1s, aucs, aps;
  double correct = 0.0;
  if (!rows.rankings.empty()) {
    std::fill(weight.begin(), weight.end(), 0);
    for (const auto i : indices) {
      ++weight[static_cast<size_t>(i)];
    }
  }
  for (int64_t c = 0; c < k; ++c) {
    double support = static_cast<double>(nonFinite[static_cast<size_t>(c)]), predicted = 0.0;
    for (int64_t j = 0; j < k; ++j) {
      support += static_cast<double>(confusion[static_cast<size_t>(c * k + j)]);
      predicted += static_cast<double>(confusion[static_cast<size_t>(j * k + c)]);
    }
    const double tp = static_cast<double>(confusion[static_cast<size_t>(c * k + c)]);
    const double fp = predicted - tp, fn = support - tp;  // fn includes the class's non-finite rows
    const double negatives = n - support;
    // Non-finite rows are wrong for every class: never a true negative.
    const double tn = negatives - fp - (allNonFinite - static_cast<double>(nonFinite[static_cast<size_t>(c)]));
    const double calledNegative = (n - allNonFinite) - predicted;
    correct += tp;
    out[slot(c, kSensitivity)] = ratio(tp, support);
    out[slot(c, kSpecificity)] = ratio(tn, negatives);
    out[slot(c, kPrecision)] = ratio(tp, predicted);
    out[slot(c, kNpv)] = ratio(tn, calledNegative);
    out[slot(c, kF1)] = support > 0 ? 2 * tp / (2 * tp + fp + fn) : kNaN;
    if (!rows.rankings.empty()) {
      const auto [auc, ap] = rankedFigures(rows.rankings[static_cast<size_t>(c)], labels, c, weight);
      out[slot(c, kClassAuc)] = auc;
      out[slot(c, kClassAp)] = ap;
    }
    sensitivities.push_back(out[slot(c, kSensitivity)]);
    f1s.push_back(out[slot(c, kF1)]);
    aucs.push_back(out[slot(c, kClassAuc)]);
    aps.push_back(out[slot(c, kClassAp)]);
  }
  out[kAccuracy] = ratio(correct, n);
  out[kBalancedAccuracy] = meanOfDefined(sensitivities);
  out[kMacroF1] = meanOfDefined(f1s);
  if (k == 2) {
    out[kAuc] = aucs[static_cast<size_t>(rows.positiveClass)];
    out[kAveragePrecision] = aps[static_cast<size_t>(rows.positiveClass)];
  } else {
    out[kAuc] = meanOfDefined(aucs);
    out[kAveragePrecision] = meanOfDefined(aps);
  }
  return out;
}

// The ROC and PR operating points of class c: one per distinct score, highest first.
// Collinear ROC points are dropped (the curve is the same line); PR keeps every threshold.
void curvesOf(const Rows& rows, int64_t c, std::vector<RocPoint>& roc, std::vector<PrPoint>& pr) {
  const auto& r = rows.rankings[static_cast<size_t>(c)];
  const auto& labels = *rows.labels;
  const auto& probs = *rows.probabilities;
  int64_t positives = 0;
  for (const auto l : labels) {
    positives += l == c;
  }
  const int64_t negatives = rows.n - positives;
  if (positives == 0 || negatives == 0) {
    return;
  }
  struct Counts {
    double threshold;
    int64_t tp, fp;
  };
  const double top = probs[static_cast<size_t>(r.order.front() * rows.k + c)];
  std::vector<Counts> points{{std::nextafter(top, std::numeric_limits<double>::infinity()), 0, 0}};
  int64_t tp = 0, fp = 0;
  size_t begin = 0;
  for (const auto end : r.groupEnd) {
    for (size_t j = begin; j < end; ++j) {
      (labels[static_cast<size_t>(r.order[j])] == c ? tp : fp) += 1;
    }
    const double threshold = probs[static_cast<size_t>(r.order[begin] * rows.k + c)];
    points.push_back({threshold, tp, fp});
    pr.push_back({threshold, static_cast<double>(tp) / static_cast<double>(positives),
                  static_cast<double>(tp) / static_cast<double>(tp + fp)});
    begin = end;
  }
  for (size_t i = 0; i < points.size(); ++i) {
    if (i > 0 && i + 1 < points.size()) {
      const auto& a = points[i - 1];
      const auto& b = points[i];
      const auto& d = points[i + 1];
      if ((b.fp - a.fp) * (d.tp - b.tp) == (b.tp - a.tp) * (d.fp - b.fp)) {
        continue;
      }
    }
    roc.push_back({points[i].threshold, static_cast<double>(points[i].fp) / static_cast<double>(negatives),
                   static_cast<double>(points[i].tp) / static_cast<double>(positives)});
  }
}

std::string joined(const std::vector<std::string>& parts, const std::string& sep) {
  std::string out;
  for (const auto& p : parts) {
    out += (out.empty() ? "" : sep) + p;
  }
  return out;
}

bool rowFinite(const float* row, int64_t k) {
  return std::all_of(row, row + k, [](float p) { return std::isfinite(p); });
}

}  // namespace

std::vector<int64_t> classifyAtThreshold(const std::vector<float>& probabilities, int64_t classes,
                                         const EvaluationOptions& options) {
  if (classes < 2 || probabilities.size() % static_cast<size_t>(classes) != 0) {
    throw std::invalid_argument("classifyAtThreshold: " + std::to_string(probabilities.size()) +
                                " probabilities are not rows of " + std::to_string(classes) + " classes");
  }
  if (classes == 2 && (options.positiveClass < 0 || options.positiveClass > 1 || !std::isfinite(options.threshold))) {
    throw std::invalid_argument("classifyAtThreshold: two classes need a finite threshold and positive class 0 or 1");
  }
  const size_t n = probabilities.size() / static_cast<size_t>(classes);
  std::vector<int64_t> out(n, -1);
  for (size_t i = 0; i < n; ++i) {
    const float* row = probabilities.data() + i * static_cast<size_t>(classes);
    if (!rowFinite(row, classes)) {
      continue;
    }
    if (classes == 2) {
      out[i] = static_cast<double>(row[options.positiveClass]) >= options.threshold ? options.positiveClass
                                                                                    : 1 - options.positiveClass;
    } else {
      out[i] = std::max_element(row, row + classes) - row;
    }
  }
  return out;
}

Evaluation evaluateProbabilities(const std::vector<float>& probabilities, const std::vector<int64_t>& labels,
                                 const std::vector<std::string>& classes, const EvaluationOptions& options) {
  const auto k = static_cast<int64_t>(classes.size());
  const auto n = static_cast<int64_t>(labels.size());
  if (k < 2) {
    throw std::invalid_argument("evaluateProbabilities: at least two classes are needed");
  }
  if (probabilities.size() != static_cast<size_t>(n * k)) {
    throw std::invalid_argument("evaluateProbabilities: " + std::to_string(probabilities.size()) +
                                " probabilities for " + std::to_string(n) + " images of " + std::to_string(k) +
                                " classes");
  }
  for (const auto l : labels) {
    if (l < 0 || l >= k) {
      throw std::invalid_argument("evaluateProbabilities: label " + std::to_string(l) + " outside [0, " +
                                  std::to_string(k) + ")");
    }
  }
  if (options.bootstrap.resamples > 0 && options.bootstrap.confidence != 0.95) {
    throw std::invalid_argument("evaluateProbabilities: the intervals are 95 % (\"_ci95\"); confidence must be 0.95");
  }
  Rows rows;
  rows.n = n;
  rows.k = k;
  rows.probabilities = &probabilities;
  rows.labels = &labels;
  rows.positiveClass = options.positiveClass;
  rows.predicted = classifyAtThreshold(probabilities, k, options);

  Evaluation e;
  e.classes = classes;
  e.count = n;
  e.threshold = k == 2 ? options.threshold : kNaN;
  e.positiveClass = k == 2 ? options.positiveClass : -1;
  e.thresholdSource = k == 2 ? "default" : "argmax";
  e.nonFinite = std::count(rows.predicted.begin(), rows.predicted.end(), int64_t{-1});
  if (e.nonFinite == 0 && n > 0) {
    for (int64_t c = 0; c < k; ++c) {
      rows.rankings.push_back(rankByScore(probabilities, k, c, n));
    }
  }

  e.confusion.assign(static_cast<size_t>(k), std::vector<int64_t>(static_cast<size_t>(k), 0));
  std::vector<int64_t> support(static_cast<size_t>(k), 0), predicted(static_cast<size_t>(k), 0);
  for (int64_t i = 0; i < n; ++i) {
    const auto t = labels[static_cast<size_t>(i)];
    const auto p = rows.predicted[static_cast<size_t>(i)];
    ++support[static_cast<size_t>(t)];
    if (p >= 0) {
      ++e.confusion[static_cast<size_t>(t)][static_cast<size_t>(p)];
      ++predicted[static_cast<size_t>(p)];
    }
  }

  std::vector<int64_t> all(static_cast<size_t>(n));
  std::iota(all.begin(), all.end(), 0);
  std::vector<int32_t> weight(static_cast<size_t>(n), 0);
  const auto point = figuresOf(rows, all, weight);

  // Intervals: one stratified bootstrap (strata = labels, so a class present stays present
  // in every resample). The first pass records every figure of each resample; each
  // figure's percentile interval then comes from bootstrapInterval replaying the same
  // seeded draws, so all figures share one set of resamples and one implementation.
  std::vector<Interval> intervals(point.size());
  const auto& b = options.bootstrap;
  if (b.resamples > 0 && n > 0) {
    std::vector<std::vector<double>> table;
    table.reserve(static_cast<size_t>(b.resamples));
    bootstrapInterval(n, labels, b.seed, b.resamples, [&](const std::vector<int64_t>& idx) {
      table.push_back(figuresOf(rows, idx, weight));
      return 0.0;
    });
    for (size_t m = 0; m < point.size(); ++m) {
      if (!std::isfinite(point[m])) {
        continue;
      }
      size_t r = 0;
      intervals[m] = bootstrapInterval(n, labels, b.seed, b.resamples,
                                       [&](const std::vector<int64_t>&) { return table[r++][m]; });
    }
    e.resamples = b.resamples;
    e.seed = b.seed;
  }
  const auto estimate = [&](size_t m) {
    Estimate est;
    est.value = point[m];
    est.ci95 = intervals[m];
    return est;
  };
  e.accuracy = estimate(kAccuracy);
  e.balancedAccuracy = estimate(kBalancedAccuracy);
  e.macroF1 = estimate(kMacroF1);
  e.auc = estimate(kAuc);
  e.averagePrecision = estimate(kAveragePrecision);

  std::vector<std::string> noInterval;
  const auto noteInterval = [&](const std::string& what, const Estimate& est) {
    if (e.resamples > 0 && est.defined() && !est.ci95.valid()) {
      noInterval.push_back(what);
    }
  };
  noteInterval("accuracy", e.accuracy);
  noteInterval("balanced accuracy", e.balancedAccuracy);
  noteInterval("macro F1", e.macroF1);
  noteInterval("AUC", e.auc);
  noteInterval("average precision", e.averagePrecision);

  if (n == 0) {
    e.notes.push_back("no images in this split: every figure is undefined");
  }
  for (int64_t c = 0; c < k; ++c) {
    const auto uc = static_cast<size_t>(c);
    ClassEvaluation ce;
    ce.name = classes[uc];
    ce.support = support[uc];
    ce.predicted = predicted[uc];
    ce.sensitivity = estimate(slot(c, kSensitivity));
    ce.specificity = estimate(slot(c, kSpecificity));
    ce.precision = estimate(slot(c, kPrecision));
    ce.npv = estimate(slot(c, kNpv));
    ce.f1 = estimate(slot(c, kF1));
    ce.auc = estimate(slot(c, kClassAuc));
    ce.averagePrecision = estimate(slot(c, kClassAp));
    std::vector<std::string> why;
    if (n > 0 && ce.support == 0) {
      why.push_back("no " + ce.name + " images in this split (sensitivity, F1, AUC and average precision need them)");
      e.notes.push_back("no " + ce.name +
                        " images in this split: its sensitivity, F1, AUC and average precision are undefined "
                        "and left out of the macro averages");
    }
    if (n > 0 && ce.support == n) {
      why.push_back("no images of other classes in this split (specificity, AUC and average precision need them)");
    }
    if (n > 0 && ce.predicted == 0) {
      why.push_back("no image was called " + ce.name + " (precision needs one)");
    }
    if (n > 0 && !ce.npv.defined() && ce.support < n) {
      why.push_back("no image was called other than " + ce.name + " (NPV needs one)");
    }
    if (e.nonFinite > 0) {
      why.push_back("non-finite probabilities (AUC, average precision and curves need every score)");
    }
    ce.undefined = joined(why, "; ");
    if (!rows.rankings.empty()) {
      curvesOf(rows, c, ce.roc, ce.pr);
    }
    const std::string of = " of " + ce.name;
    noteInterval("sensitivity" + of, ce.sensitivity);
    noteInterval("specificity" + of, ce.specificity);
    noteInterval("precision" + of, ce.precision);
    noteInterval("NPV" + of, ce.npv);
    noteInterval("F1" + of, ce.f1);
    noteInterval("AUC" + of, ce.auc);
    noteInterval("average precision" + of, ce.averagePrecision);
    e.perClass.push_back(std::move(ce));
  }
  if (n > 0 && std::count(support.begin(), support.end(), n) == 1) {
    e.notes.push_back("the split holds a single class: specificity, AUC and average precision are undefined");
  }
  if (e.nonFinite > 0) {
    e.notes.push_back(std::to_string(e.nonFinite) + " of " + std::to_string(n) +
                      " images had non-finite probabilities (NaN/inf): counted as wrong (called no class), and "
                      "AUC, average precision and the ROC/PR curves are undefined");
  }
  if (!noInterval.empty()) {
    e.notes.push_back("no interval for " + joined(noInterval, ", ") +
                      ": undefined in some bootstrap resamples (too few images called that way)");
  }
  return e;
}

ThresholdChoice chooseThreshold(const std::vector<float>& positiveScores, const std::vector<int64_t>& isPositive,
                                ThresholdRule rule, double targetSensitivity, const std::string& splitName) {
  if (positiveScores.size() != isPositive.size()) {
    throw std::invalid_argument("chooseThreshold: " + std::to_string(positiveScores.size()) + " scores for " +
                                std::to_string(isPositive.size()) + " labels");
  }
  if (std::any_of(positiveScores.begin(), positiveScores.end(), [](float s) { return !std::isfinite(s); })) {
    throw std::invalid_argument("chooseThreshold: non-finite scores (NaN/inf): no threshold can be chosen on them");
  }
  if (rule == ThresholdRule::TargetSensitivity && !(targetSensitivity > 0.0 && targetSensitivity <= 1.0)) {
    throw std::invalid_argument("chooseThreshold: the target sensitivity must lie in (0, 1]");
  }
  const auto n = static_cast<int64_t>(positiveScores.size());
  const int64_t positives = std::count_if(isPositive.begin(), isPositive.end(), [](int64_t v) { return v != 0; });
  const int64_t negatives = n - positives;
  if (positives == 0 || negatives == 0) {
    throw std::invalid_argument("chooseThreshold: the " + splitName + " split needs both positive and negative images");
  }
  std::vector<int64_t> order(static_cast<size_t>(n));
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(), [&](int64_t a, int64_t b) {
    return positiveScores[static_cast<size_t>(a)] > positiveScores[static_cast<size_t>(b)];
  });
  ThresholdChoice best;
  bool found = false;
  int64_t bestJ = 0;  // Youden's J times positives * negatives: compared exactly
  int64_t tp = 0, fp = 0;
  for (size_t j = 0; j < order.size(); ++j) {
    const auto i = static_cast<size_t>(order[j]);
    (isPositive[i] != 0 ? tp : fp) += 1;
    if (j + 1 < order.size() && positiveScores[static_cast<size_t>(order[j + 1])] == positiveScores[i]) {
      continue;  // the threshold calls a whole tie group at once
    }
    const double sensitivity = static_cast<double>(tp) / static_cast<double>(positives);
    const double specificity = static_cast<double>(negatives - fp) / static_cast<double>(negatives);
    bool take = false;
    if (rule == ThresholdRule::Youden) {
      const int64_t j2 = tp * negatives - fp * positives;
      take = !found || j2 > bestJ;  // strictly better: ties keep the higher threshold
      if (take) {
        bestJ = j2;
      }
    } else {
      take = !found && sensitivity >= targetSensitivity;
    }
    if (take) {
      found = true;
      best.threshold = positiveScores[i];
      best.sensitivity = sensitivity;
      best.specificity = specificity;
    }
  }
  if (rule == ThresholdRule::Youden) {
    best.description = "youden on " + splitName;
  } else {
    char target[32];
    std::snprintf(target, sizeof target, "%g", targetSensitivity);
    best.description = std::string("sensitivity >= ") + target + " on " + splitName;
  }
  return best;
}

// ---------------------------------------------------------------------------------------
// evaluation_<split>.json

namespace {

ojson number(double v) { return std::isfinite(v) ? ojson(v) : ojson(nullptr); }
ojson interval(const Interval& i) { return i.valid() ? ojson::array({i.low, i.high}) : ojson(nullptr); }

void putEstimate(ojson& j, const std::string& name, const Estimate& e) {
  j[name] = number(e.value);
  j[name + "_ci95"] = interval(e.ci95);
}

// Reading back with the path of every field in the messages.
[[noreturn]] void malformed(const std::string& what, const std::string& why) {
  throw std::runtime_error("evaluation JSON: '" + what + "' " + why);
}

const ojson& field(const ojson& j, const std::string& key, const std::string& path) {
  if (!j.is_object()) {
    malformed(path, "must be an object");
  }
  const auto it = j.find(key);
  if (it == j.end()) {
    malformed(path.empty() ? key : path + "." + key, "is missing");
  }
  return *it;
}

std::string at(const std::string& path, const std::string& key) { return path.empty() ? key : path + "." + key; }

double readNumberOrNull(const ojson& j, const std::string& key, const std::string& path) {
  const auto& v = field(j, key, path);
  if (v.is_null()) {
    return kNaN;
  }
  if (!v.is_number()) {
    malformed(at(path, key), "must be a number or null");
  }
  return v.get<double>();
}

int64_t readCount(const ojson& j, const std::string& key, const std::string& path) {
  const auto& v = field(j, key, path);
  if (!v.is_number_integer() || v.get<int64_t>() < 0) {
    malformed(at(path, key), "must be a non-negative integer");
  }
  return v.get<int64_t>();
}

std::string readString(const ojson& j, const std::string& key, const std::string& path) {
  const auto& v = field(j, key, path);
  if (!v.is_string()) {
    malformed(at(path, key), "must be a string");
  }
  return v.get<std::string>();
}

Estimate readEstimate(const ojson& j, const std::string& name, const std::string& path) {
  Estimate e;
  e.value = readNumberOrNull(j, name, path);
  const auto& ci = field(j, name + "_ci95", path);
  if (!ci.is_null()) {
    if (!ci.is_array() || ci.size() != 2 || !ci[0].is_number() || !ci[1].is_number()) {
      malformed(at(path, name + "_ci95"), "must be [low, high] or null");
    }
    e.ci95.low = ci[0].get<double>();
    e.ci95.high = ci[1].get<double>();
    if (e.ci95.low > e.ci95.high) {
      malformed(at(path, name + "_ci95"), "has low above high");
    }
  }
  return e;
}

const ojson& readArray(const ojson& j, const std::string& key, const std::string& path) {
  const auto& v = field(j, key, path);
  if (!v.is_array()) {
    malformed(at(path, key), "must be an array");
  }
  return v;
}

std::vector<std::string> readStrings(const ojson& j, const std::string& key, const std::string& path) {
  std::vector<std::string> out;
  for (const auto& s : readArray(j, key, path)) {
    if (!s.is_string()) {
      malformed(at(path, key), "must hold strings");
    }
    out.push_back(s.get<std::string>());
  }
  return out;
}

}  // namespace

std::string evaluationToJson(const Evaluation& e) {
  const auto k = e.classes.size();
  const bool twoClasses = k == 2 && e.positiveClass >= 0 && e.positiveClass < 2;
  ojson j;
  j["split"] = e.split;
  j["source"] = e.source;
  j["classes"] = e.classes;
  j["count"] = e.count;
  j["loss"] = number(e.loss);
  j["threshold"] = twoClasses ? number(e.threshold) : ojson(nullptr);
  j["positive_class"] = twoClasses ? ojson(e.classes[static_cast<size_t>(e.positiveClass)]) : ojson(nullptr);
  j["threshold_source"] = e.thresholdSource;
  j["tta"] = e.testTimeAugmentation;
  j["confusion"] = e.confusion;
  auto normalised = ojson::array();
  for (size_t t = 0; t < e.confusion.size(); ++t) {
    const int64_t support = t < e.perClass.size() ? e.perClass[t].support : 0;
    if (support == 0) {
      normalised.push_back(nullptr);
      continue;
    }
    auto row = ojson::array();
    for (const auto v : e.confusion[t]) {
      row.push_back(static_cast<double>(v) / static_cast<double>(support));
    }
    normalised.push_back(row);
  }
  j["confusion_normalised"] = normalised;
  putEstimate(j, "accuracy", e.accuracy);
  putEstimate(j, "balanced_accuracy", e.balancedAccuracy);
  putEstimate(j, "macro_f1", e.macroF1);
  putEstimate(j, "auc", e.auc);
  putEstimate(j, "average_precision", e.averagePrecision);
  ojson perClass = ojson::object();
  for (const auto& c : e.perClass) {
    ojson pc;
    pc["support"] = c.support;
    pc["predicted"] = c.predicted;
    putEstimate(pc, "sensitivity", c.sensitivity);
    putEstimate(pc, "specificity", c.specificity);
    putEstimate(pc, "precision", c.precision);
    putEstimate(pc, "npv", c.npv);
    putEstimate(pc, "f1", c.f1);
    putEstimate(pc, "auc", c.auc);
    putEstimate(pc, "average_precision", c.averagePrecision);
    pc["undefined"] = c.undefined;
    auto roc = ojson::array();
    for (const auto& p : c.roc) {
      roc.push_back({{"threshold", number(p.threshold)}, {"fpr", number(p.fpr)}, {"tpr", number(p.tpr)}});
    }
    pc["roc"] = roc;
    auto pr = ojson::array();
    for (const auto& p : c.pr) {
      pr.push_back({{"threshold", number(p.threshold)}, {"recall", number(p.recall)}, {"precision", number(p.precision)}});
    }
    pc["pr"] = pr;
    perClass[c.name] = pc;
  }
  j["per_class"] = perClass;
  j["non_finite"] = e.nonFinite;
  j["notes"] = e.notes;
  auto skipped = ojson::array();
  for (const auto& s : e.skipped) {
    skipped.push_back({{"file", s.path}, {"reason", s.reason}});
  }
  j["skipped"] = skipped;
  j["bootstrap"] = {{"resamples", e.resamples}, {"seed", e.seed}, {"confidence", 0.95}};
  return j.dump(2);
}

Evaluation evaluationFromJson(const std::string& text) {
  ojson j;
  try {
    j = ojson::parse(text);
  } catch (const std::exception& ex) {
    throw std::runtime_error(std::string("evaluation JSON: not valid JSON (") + ex.what() + ")");
  }
  if (!j.is_object()) {
    throw std::runtime_error("evaluation JSON: the file must hold an object");
  }
  Evaluation e;
  e.split = readString(j, "split", "");
  e.source = readString(j, "source", "");
  e.classes = readStrings(j, "classes", "");
  const auto k = e.classes.size();
  if (k < 2) {
    malformed("classes", "must name at least two classes");
  }
  if (std::set<std::string>(e.classes.begin(), e.classes.end()).size() != k) {
    malformed("classes", "names a class twice");
  }
  e.count = readCount(j, "count", "");
  e.loss = readNumberOrNull(j, "loss", "");
  e.threshold = readNumberOrNull(j, "threshold", "");
  const auto& positive = field(j, "positive_class", "");
  if (positive.is_null()) {
    if (k == 2) {
      malformed("positive_class", "must name one of the two classes");
    }
    e.positiveClass = -1;
  } else {
    const auto name = readString(j, "positive_class", "");
    const auto it = std::find(e.classes.begin(), e.classes.end(), name);
    if (it == e.classes.end() || k != 2) {
      malformed("positive_class", "must be one of two classes (or null for more)");
    }
    e.positiveClass = it - e.classes.begin();
    if (!std::isfinite(e.threshold) || e.threshold < 0.0 || e.threshold > 1.0) {
      malformed("threshold", "must be a number in [0, 1] for two classes");
    }
  }
  e.thresholdSource = readString(j, "threshold_source", "");
  if (j.contains("tta")) {  // absent from files written before test-time augmentation
    e.testTimeAugmentation = readString(j, "tta", "");
  }
  const auto& confusion = readArray(j, "confusion", "");
  if (confusion.size() != k) {
    malformed("confusion", "must have one row per class");
  }
  int64_t total = 0;
  for (const auto& row : confusion) {
    if (!row.is_array() || row.size() != k) {
      malformed("confusion", "must be a square matrix of counts, one row and column per class");
    }
    std::vector<int64_t> r;
    for (const auto& v : row) {
      if (!v.is_number_integer() || v.get<int64_t>() < 0) {
        malformed("confusion", "must hold non-negative integer counts");
      }
      r.push_back(v.get<int64_t>());
      total += r.back();
    }
    e.confusion.push_back(std::move(r));
  }
  e.accuracy = readEstimate(j, "accuracy", "");
  e.balancedAccuracy = readEstimate(j, "balanced_accuracy", "");
  e.macroF1 = readEstimate(j, "macro_f1", "");
  e.auc = readEstimate(j, "auc", "");
  e.averagePrecision = readEstimate(j, "average_precision", "");
  const auto& perClass = field(j, "per_class", "");
  if (!perClass.is_object() || perClass.size() != k) {
    malformed("per_class", "must be an object with one entry per class");
  }
  int64_t supportSum = 0;
  for (const auto& name : e.classes) {
    const std::string path = "per_class." + name;
    const auto& pc = field(perClass, name, "per_class");
    ClassEvaluation c;
    c.name = name;
    c.support = readCount(pc, "support", path);
    c.predicted = readCount(pc, "predicted", path);
    supportSum += c.support;
    c.sensitivity = readEstimate(pc, "sensitivity", path);
    c.specificity = readEstimate(pc, "specificity", path);
    c.precision = readEstimate(pc, "precision", path);
    c.npv = readEstimate(pc, "npv", path);
    c.f1 = readEstimate(pc, "f1", path);
    c.auc = readEstimate(pc, "auc", path);
    c.averagePrecision = readEstimate(pc, "average_precision", path);
    c.undefined = readString(pc, "undefined", path);
    for (const auto& p : readArray(pc, "roc", path)) {
      c.roc.push_back({readNumberOrNull(p, "threshold", path + ".roc"), readNumberOrNull(p, "fpr", path + ".roc"),
                       readNumberOrNull(p, "tpr", path + ".roc")});
    }
    for (const auto& p : readArray(pc, "pr", path)) {
      c.pr.push_back({readNumberOrNull(p, "threshold", path + ".pr"), readNumberOrNull(p, "recall", path + ".pr"),
                      readNumberOrNull(p, "precision", path + ".pr")});
    }
    e.perClass.push_back(std::move(c));
  }
  e.nonFinite = readCount(j, "non_finite", "");
  if (supportSum != e.count || total + e.nonFinite != e.count) {
    malformed("count", "disagrees with the per-class support or the confusion matrix");
  }
  e.notes = readStrings(j, "notes", "");
  if (j.contains("skipped")) {  // optional: only a run's evaluation reads image files
    for (const auto& s : readArray(j, "skipped", "")) {
      e.skipped.push_back({readString(s, "file", "skipped"), readString(s, "reason", "skipped")});
    }
  }
  const auto& b = field(j, "bootstrap", "");
  const int64_t resamples = readCount(b, "resamples", "bootstrap");
  if (resamples > kMaxBootstrapResamplesRead) {  // a hostile file must not buy hours of bootstrap
    malformed("bootstrap.resamples", "is more than " + std::to_string(kMaxBootstrapResamplesRead));
  }
  e.resamples = static_cast<int>(resamples);
  const auto& seed = field(b, "seed", "bootstrap");
  if (!seed.is_number_unsigned() && !(seed.is_number_integer() && seed.get<int64_t>() >= 0)) {
    malformed("bootstrap.seed", "must be a non-negative integer");
  }
  e.seed = seed.get<uint64_t>();
  return e;
}

// ---------------------------------------------------------------------------------------
// predictions_<split>.csv (RFC 4180: fields with a comma, quote or line break are quoted,
// quotes doubled)

namespace {

std::string csvField(const std::string& s) {
  if (s.find_first_of(",\"\r\n") == std::string::npos) {
    return s;
  }
  std::string out = "\"";
  for (const char ch : s) {
    out += ch;
    if (ch == '"') {
      out += '"';
    }
  }
  return out + "\"";
}

std::string formatProbability(float p) {
  if (std::isnan(p)) {
    return "nan";
  }
  if (std::isinf(p)) {
    return p > 0 ? "inf" : "-inf";
  }
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.9g", static_cast<double>(p));  // 9 digits: every float round-trips
  return buf;
}

[[noreturn]] void badCsv(size_t record, const std::string& why) {
  throw std::runtime_error("predictions CSV, record " + std::to_string(record) + ": " + why);
}

// Splits the text into records of fields; quoted fields may hold commas, quotes and line breaks.
std::vector<std::vector<std::string>> parseCsv(const std::string& text) {
  std::vector<std::vector<std::string>> records;
  std::vector<std::string> record;
  std::string fieldText;
  size_t i = 0;
  bool fieldStarted = false;
  const auto endField = [&] {
    record.push_back(std::move(fieldText));
    fieldText.clear();
    fieldStarted = false;
  };
  const auto endRecord = [&] {
    endField();
    records.push_back(std::move(record));
    record.clear();
  };
  while (i < text.size()) {
    const char ch = text[i];
    if (ch == '"' && !fieldStarted && fieldText.empty()) {
      // A quoted field: up to the closing quote, "" is one quote.
      ++i;
      for (;;) {
        if (i >= text.size()) {
          badCsv(records.size() + 1, "a quoted field is never closed");
        }
        if (text[i] == '"') {
          if (i + 1 < text.size() && text[i + 1] == '"') {
            fieldText += '"';
            i += 2;
            continue;
          }
          ++i;
          break;
        }
        fieldText += text[i++];
      }
      fieldStarted = true;
      if (i < text.size() && text[i] != ',' && text[i] != '\n' && text[i] != '\r') {
        badCsv(records.size() + 1, "text after a closing quote");
      }
      continue;
    }
    if (ch == ',') {
      endField();
      ++i;
    } else if (ch == '\r' || ch == '\n') {
      endRecord();
      i += (ch == '\r' && i + 1 < text.size() && text[i + 1] == '\n') ? 2 : 1;
    } else {
      if (ch == '"') {
        badCsv(records.size() + 1, "a quote inside an unquoted field");
      }
      fieldText += ch;
      fieldStarted = true;
      ++i;
    }
  }
  if (fieldStarted || !record.empty()) {
    endRecord();
  }
  return records;
}

float parseProbability(const std::string& s, size_t record) {
  if (s == "nan") {
    return std::numeric_limits<float>::quiet_NaN();
  }
  if (s == "inf" || s == "-inf") {
    return s[0] == '-' ? -std::numeric_limits<float>::infinity() : std::numeric_limits<float>::infinity();
  }
  char* end = nullptr;
  const double v = s.empty() ? kNaN : std::strtod(s.c_str(), &end);
  if (s.empty() || end != s.c_str() + s.size() || !std::isfinite(v)) {
    badCsv(record, "'" + s + "' is not a probability");
  }
  return static_cast<float>(v);
}

}  // namespace

std::vector<float> PredictionTable::flatProbabilities() const {
  std::vector<float> out;
  out.reserve(rows.size() * classes.size());
  for (const auto& r : rows) {
    if (r.probabilities.size() != classes.size()) {
      throw std::invalid_argument("prediction row '" + r.file + "' has " + std::to_string(r.probabilities.size()) +
                                  " probabilities for " + std::to_string(classes.size()) + " classes");
    }
    out.insert(out.end(), r.probabilities.begin(), r.probabilities.end());
  }
  return out;
}

std::vector<int64_t> PredictionTable::labels() const {
  std::vector<int64_t> out;
  out.reserve(rows.size());
  for (const auto& r : rows) {
    out.push_back(r.label);
  }
  return out;
}

std::string predictionsToCsv(const PredictionTable& t) {
  const auto k = static_cast<int64_t>(t.classes.size());
  std::string out = "file,true_class,predicted_class";
  for (const auto& c : t.classes) {
    out += "," + csvField("p_" + c);
  }
  out += ",correct\n";
  for (const auto& r : t.rows) {
    if (r.label < 0 || r.label >= k || r.predicted < -1 || r.predicted >= k ||
        static_cast<int64_t>(r.probabilities.size()) != k) {
      throw std::invalid_argument("predictionsToCsv: row '" + r.file + "' does not fit " + std::to_string(k) +
                                  " classes");
    }
    out += csvField(r.file) + "," + csvField(t.classes[static_cast<size_t>(r.label)]) + "," +
           (r.predicted >= 0 ? csvField(t.classes[static_cast<size_t>(r.predicted)]) : std::string());
    for (const auto p : r.probabilities) {
      out += "," + formatProbability(p);
    }
    out += r.predicted == r.label ? ",1\n" : ",0\n";
  }
  return out;
}

PredictionTable predictionsFromCsv(const std::string& text) {
  const auto records = parseCsv(text);
  if (records.empty()) {
    throw std::runtime_error("predictions CSV: the file is empty");
  }
  const auto& header = records[0];
  if (header.size() < 6 || header[0] != "file" || header[1] != "true_class" || header[2] != "predicted_class" ||
      header.back() != "correct") {
    badCsv(1, "the header must be file,true_class,predicted_class,p_<class>...,correct (two classes at least)");
  }
  PredictionTable t;
  for (size_t c = 3; c + 1 < header.size(); ++c) {
    if (header[c].rfind("p_", 0) != 0 || header[c].size() < 3) {
      badCsv(1, "column '" + header[c] + "' must be p_<class>");
    }
    t.classes.push_back(header[c].substr(2));
  }
  if (std::set<std::string>(t.classes.begin(), t.classes.end()).size() != t.classes.size()) {
    badCsv(1, "a class is named twice");
  }
  const auto classIndex = [&](const std::string& name, size_t record, bool allowNone) -> int64_t {
    if (allowNone && name.empty()) {
      return -1;
    }
    const auto it = std::find(t.classes.begin(), t.classes.end(), name);
    if (it == t.classes.end()) {
      badCsv(record, "unknown class '" + name + "'");
    }
    return it - t.classes.begin();
  };
  for (size_t r = 1; r < records.size(); ++r) {
    const auto& f = records[r];
    const size_t record = r + 1;
    if (f.size() == 1 && f[0].empty()) {
      continue;  // a blank line
    }
    if (f.size() != header.size()) {
      badCsv(record, std::to_string(f.size()) + " fields, the header has " + std::to_string(header.size()));
    }
    PredictionRow row;
    row.file = f[0];
    if (row.file.empty()) {
      badCsv(record, "no file name");
    }
    row.label = classIndex(f[1], record, false);
    row.predicted = classIndex(f[2], record, true);
    bool finite = true;
    for (size_t c = 3; c + 1 < f.size(); ++c) {
      row.probabilities.push_back(parseProbability(f[c], record));
      finite = finite && std::isfinite(row.probabilities.back());
    }
    if (finite != (row.predicted >= 0)) {
      badCsv(record, finite ? "no predicted class for finite probabilities"
                            : "a predicted class for non-finite probabilities");
    }
    const auto& correct = f.back();
    if (correct != "0" && correct != "1") {
      badCsv(record, "correct must be 0 or 1");
    }
    if ((correct == "1") != (row.predicted == row.label)) {
      badCsv(record, "correct disagrees with the true and predicted classes");
    }
    t.rows.push_back(std::move(row));
  }
  return t;
}

std::vector<size_t> worstMistakes(const PredictionTable& t, const EvaluationOptions& options, size_t limit) {
  const auto k = static_cast<int64_t>(t.classes.size());
  const auto probs = t.flatProbabilities();
  const auto predicted = classifyAtThreshold(probs, k, options);
  struct Mistake {
    size_t row;
    int group;          // two classes: 0 false negatives, 1 false positives
    double confidence;  // how sure the wrong call was
  };
  std::vector<Mistake> mistakes;
  for (size_t i = 0; i < t.rows.size(); ++i) {
    const auto p = predicted[i];
    if (p < 0 || p == t.rows[i].label) {
      continue;  // right, or non-finite: no confidence to rank by
    }
    const float* row = probs.data() + i * static_cast<size_t>(k);
    if (k == 2) {
      const double positive = row[options.positiveClass];
      const bool missed = t.rows[i].label == options.positiveClass;
      mistakes.push_back({i, missed ? 0 : 1, missed ? -positive : positive});
    } else {
      mistakes.push_back({i, 0, row[p]});
    }
  }
  std::stable_sort(mistakes.begin(), mistakes.end(), [](const Mistake& a, const Mistake& b) {
    return a.group != b.group ? a.group < b.group : a.confidence > b.confidence;
  });
  std::vector<size_t> out;
  for (size_t i = 0; i < mistakes.size() && i < limit; ++i) {
    out.push_back(mistakes[i].row);
  }
  return out;
}

std::string decisionToJson(const DecisionThreshold& d, const std::vector<std::string>& classes) {
  ojson j;
  j["threshold"] = number(d.threshold);
  j["positive_class"] = d.positiveClass >= 0 && static_cast<size_t>(d.positiveClass) < classes.size()
                            ? ojson(classes[static_cast<size_t>(d.positiveClass)])
                            : ojson(nullptr);
  j["positive_class_index"] = d.positiveClass;
  j["source"] = d.source;
  return j.dump(2);
}

DecisionThreshold decisionFromJson(const std::string& text) {
  ojson j;
  try {
    j = ojson::parse(text);
  } catch (const std::exception& ex) {
    throw std::runtime_error(std::string("decision.json: not valid JSON (") + ex.what() + ")");
  }
  DecisionThreshold d;
  if (!j.is_object() || !j.contains("threshold") || !j["threshold"].is_number()) {
    throw std::runtime_error("decision.json: 'threshold' must be a number");
  }
  d.threshold = j["threshold"].get<double>();
  if (!(d.threshold >= 0.0 && d.threshold <= 1.0)) {
    throw std::runtime_error("decision.json: 'threshold' must lie in [0, 1]");
  }
  if (!j.contains("positive_class_index") || !j["positive_class_index"].is_number_integer() ||
      j["positive_class_index"].get<int64_t>() < 0 || j["positive_class_index"].get<int64_t>() > 1) {
    throw std::runtime_error("decision.json: 'positive_class_index' must be 0 or 1");
  }
  d.positiveClass = j["positive_class_index"].get<int64_t>();
  if (j.contains("source")) {
    if (!j["source"].is_string()) {
      throw std::runtime_error("decision.json: 'source' must be a string");
    }
    d.source = j["source"].get<std::string>();
  }
  return d;
}

}  // namespace ampbench
