#include "engine/core/SplitShift.h"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cmath>
#include <sstream>
#include <stdexcept>

namespace ampbench {

namespace {

constexpr double kZ95 = 1.959963984540054;

// Wilson score interval of a proportion k/n (good at small n and near 0 or 1).
Estimate proportion(int64_t k, int64_t n) {
  Estimate e;
  if (n <= 0) {
    return e;
  }
  const double p = static_cast<double>(k) / static_cast<double>(n);
  const double z2 = kZ95 * kZ95, nn = static_cast<double>(n);
  const double centre = (p + z2 / (2 * nn)) / (1 + z2 / nn);
  const double half = kZ95 * std::sqrt(p * (1 - p) / nn + z2 / (4 * nn * nn)) / (1 + z2 / nn);
  e.value = p;
  e.ci95.low = std::max(0.0, centre - half);
  e.ci95.high = std::min(1.0, centre + half);
  return e;
}

// Mean with a normal interval (1.96 standard errors): the per-image means of hundreds of
// images.
Estimate meanOf(const std::vector<double>& v) {
  Estimate e;
  if (v.empty()) {
    return e;
  }
  double sum = 0.0;
  for (double x : v) {
    sum += x;
  }
  const double n = static_cast<double>(v.size());
  const double mean = sum / n;
  double ss = 0.0;
  for (double x : v) {
    ss += (x - mean) * (x - mean);
  }
  e.value = mean;
  if (v.size() >= 2) {
    const double se = std::sqrt(ss / (n - 1)) / std::sqrt(n);
    e.ci95.low = mean - kZ95 * se;
    e.ci95.high = mean + kZ95 * se;
  }
  return e;
}

bool disjoint(const Estimate& a, const Estimate& b) {
  return a.defined() && b.defined() && a.ci95.valid() && b.ci95.valid() &&
         (a.ci95.high < b.ci95.low || b.ci95.high < a.ci95.low);
}

std::string pct(double v) {
  std::ostringstream s;
  s.setf(std::ios::fixed);
  s.precision(1);
  s << 100.0 * v;
  return s.str();
}

std::string num(double v) {
  std::ostringstream s;
  s.setf(std::ios::fixed);
  s.precision(3);
  s << v;
  return s.str();
}

nlohmann::ordered_json estimateJson(const Estimate& e) {
  nlohmann::ordered_json j;
  j["value"] = e.defined() ? nlohmann::ordered_json(e.value) : nlohmann::ordered_json();
  j["ci95"] = e.ci95.valid() ? nlohmann::ordered_json::array({e.ci95.low, e.ci95.high}) : nlohmann::ordered_json();
  return j;
}

Estimate estimateFrom(const nlohmann::json& j) {
  Estimate e;
  if (j.is_object()) {
    if (j.contains("value") && j["value"].is_number()) {
      e.value = j["value"].get<double>();
    }
    if (j.contains("ci95") && j["ci95"].is_array() && j["ci95"].size() == 2 && j["ci95"][0].is_number() &&
        j["ci95"][1].is_number()) {
      e.ci95.low = j["ci95"][0].get<double>();
      e.ci95.high = j["ci95"][1].get<double>();
    }
  }
  return e;
}

}  // namespace

Estimate expectedCalibrationError(const std::vector<float>& probabilities, const std::vector<int64_t>& labels,
                                  int64_t classes, int64_t positiveClass, int bins, int resamples, uint64_t seed) {
  Estimate e;
  const auto n = static_cast<int64_t>(labels.size());
  if (n == 0 || classes < 2 || static_cast<int64_t>(probabilities.size()) != n * classes || bins < 1) {
    return e;
  }
  // Per image: the confidence in the called class and whether the call is right. Two
  // classes: the positive class's probability against "is positive" (the calibration of
  // the score the threshold acts on); more: the top class's probability.
  std::vector<double> conf(static_cast<size_t>(n));
  std::vector<double> hit(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) {
    const float* p = probabilities.data() + i * classes;
    if (classes == 2 && positiveClass >= 0 && positiveClass < 2) {
      conf[static_cast<size_t>(i)] = p[positiveClass];
      hit[static_cast<size_t>(i)] = labels[static_cast<size_t>(i)] == positiveClass ? 1.0 : 0.0;
    } else {
      int64_t best = 0;
      for (int64_t k = 1; k < classes; ++k) {
        best = p[k] > p[best] ? k : best;
      }
      conf[static_cast<size_t>(i)] = p[best];
      hit[static_cast<size_t>(i)] = labels[static_cast<size_t>(i)] == best ? 1.0 : 0.0;
    }
    if (!std::isfinite(conf[static_cast<size_t>(i)])) {
      return e;  // a broken probability has no calibration
    }
  }
  const auto ece = [&](const std::vector<int64_t>& idx) {
    std::vector<double> sumConf(static_cast<size_t>(bins), 0.0), sumHit(static_cast<size_t>(bins), 0.0);
    std::vector<int64_t> count(static_cast<size_t>(bins), 0);
    for (const auto i : idx) {
      const double c = conf[static_cast<size_t>(i)];
      const auto b = static_cast<size_t>(std::clamp<int64_t>(static_cast<int64_t>(c * bins), 0, bins - 1));
      sumConf[b] += c;
      sumHit[b] += hit[static_cast<size_t>(i)];
      ++count[b];
    }
    double total = 0.0;
    for (size_t b = 0; b < count.size(); ++b) {
      total += std::fabs(sumConf[b] - sumHit[b]);  // = count * |mean conf - accuracy|
    }
    return total / static_cast<double>(idx.size());
  };
  std::vector<int64_t> all(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) {
    all[static_cast<size_t>(i)] = i;
  }
  e.value = ece(all);
  if (resamples > 0) {
    e.ci95 = bootstrapInterval(n, labels, seed, resamples, ece);
  }
  return e;
}

bool isPercentFigure(const std::string& key) { return key != "auc" && key != "mean_intensity"; }

void updateFindings(SplitShift& s) {
  s.findings.clear();
  for (const auto& r : s.rows) {
    if (!r.gap) {
      continue;
    }
    const bool percent = isPercentFigure(r.key);
    const auto fmt = percent ? pct : num;
    const std::string unit = percent ? " %" : "";
    s.findings.push_back(r.label + ": " + fmt(r.val.value) + unit + " on validation, " + fmt(r.test.value) + unit +
                         " on test — " + (r.test.value < r.val.value ? "lower" : "higher") +
                         " by more than both intervals");
  }
  if (s.findings.empty()) {
    s.findings.push_back("no difference between validation and test exceeds the intervals");
  }
}

SplitShift compareSplits(const SplitProfile& val, const SplitProfile& test, int resamples, uint64_t seed) {
  const auto& v = val.evaluation;
  const auto& t = test.evaluation;
  if (v.classes != t.classes) {
    throw std::invalid_argument("validation and test have different classes");
  }
  SplitShift s;
  s.classes = v.classes;
  s.valCount = v.count;
  s.testCount = t.count;
  s.threshold = t.threshold;
  s.thresholdSource = t.thresholdSource;
  const auto k = static_cast<int64_t>(v.classes.size());
  const bool twoClass = k == 2 && v.positiveClass >= 0 && v.positiveClass < 2;
  auto add = [&](const std::string& key, const std::string& label, const Estimate& a, const Estimate& b) {
    s.rows.push_back({key, label, a, b, disjoint(a, b)});
  };
  auto countOf = [](const std::vector<int64_t>& labels, int64_t c) {
    return static_cast<int64_t>(std::count(labels.begin(), labels.end(), c));
  };
  // What the splits hold.
  for (int64_t c = 0; c < k; ++c) {
    if (twoClass && c != v.positiveClass) {
      continue;  // one share says it all for two classes
    }
    add("share_" + v.classes[static_cast<size_t>(c)], v.classes[static_cast<size_t>(c)] + " share",
        proportion(countOf(val.labels, c), static_cast<int64_t>(val.labels.size())),
        proportion(countOf(test.labels, c), static_cast<int64_t>(test.labels.size())));
  }
  add("mean_intensity", "mean image intensity", meanOf(val.imageMeans), meanOf(test.imageMeans));
  // How the model does on each, at the same threshold.
  add("accuracy", "accuracy", v.accuracy, t.accuracy);
  if (twoClass) {
    const auto& vp = v.perClass.at(static_cast<size_t>(v.positiveClass));
    const auto& tp = t.perClass.at(static_cast<size_t>(t.positiveClass));
    add("sensitivity", "sensitivity", vp.sensitivity, tp.sensitivity);
    add("specificity", "specificity", vp.specificity, tp.specificity);
  }
  add("balanced_accuracy", "balanced accuracy", v.balancedAccuracy, t.balancedAccuracy);
  add("auc", "ROC AUC", v.auc, t.auc);
  add("ece", "calibration error (ECE)",
      expectedCalibrationError(val.probabilities, val.labels, k, v.positiveClass, 10, resamples, seed),
      expectedCalibrationError(test.probabilities, test.labels, k, t.positiveClass, 10, resamples, seed + 1));
  updateFindings(s);
  return s;
}

std::string splitShiftToJson(const SplitShift& s) {
  nlohmann::ordered_json j;
  j["classes"] = s.classes;
  j["val_count"] = s.valCount;
  j["test_count"] = s.testCount;
  j["threshold"] = std::isfinite(s.threshold) ? nlohmann::ordered_json(s.threshold) : nlohmann::ordered_json();
  j["threshold_source"] = s.thresholdSource;
  j["rows"] = nlohmann::ordered_json::array();
  for (const auto& r : s.rows) {
    j["rows"].push_back({{"key", r.key},
                         {"label", r.label},
                         {"val", estimateJson(r.val)},
                         {"test", estimateJson(r.test)},
                         {"gap", r.gap}});
  }
  j["findings"] = s.findings;
  j["note"] = "95 % intervals: Wilson (shares), normal (mean intensity), stratified bootstrap (the rest); a gap is "
              "flagged where the two intervals do not overlap";
  return j.dump(2);
}

SplitShift splitShiftFromJson(const std::string& text) {
  SplitShift s;
  try {
    const auto j = nlohmann::json::parse(text);
    s.classes = j.at("classes").get<std::vector<std::string>>();
    s.valCount = j.at("val_count").get<int64_t>();
    s.testCount = j.at("test_count").get<int64_t>();
    s.threshold = j.at("threshold").is_number() ? j["threshold"].get<double>() : std::nan("");
    s.thresholdSource = j.value("threshold_source", "");
    for (const auto& r : j.at("rows")) {
      s.rows.push_back({r.at("key").get<std::string>(), r.at("label").get<std::string>(), estimateFrom(r.at("val")),
                        estimateFrom(r.at("test")), r.at("gap").get<bool>()});
    }
    s.findings = j.at("findings").get<std::vector<std::string>>();
  } catch (const nlohmann::json::exception& e) {
    throw std::runtime_error(std::string("val_vs_test.json: ") + e.what());
  }
  return s;
}

}  // namespace ampbench
