#include "engine/core/Metrics.h"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>

namespace ampbench {

double rocAuc(const std::vector<float>& scores, const std::vector<int64_t>& isPositive) {
  // Sorting with < on NaN is undefined behaviour; a model whose outputs overflowed has no AUC.
  if (std::any_of(scores.begin(), scores.end(), [](float s) { return !std::isfinite(s); })) {
    return std::numeric_limits<double>::quiet_NaN();
  }
  const size_t n = scores.size();
  std::vector<size_t> order(n);
  std::iota(order.begin(), order.end(), 0);
  std::sort(order.begin(), order.end(), [&](size_t a, size_t b) { return scores[a] < scores[b]; });
  // Mid-ranks for ties, then Mann-Whitney U.
  double positiveRankSum = 0.0;
  int64_t positives = 0;
  size_t i = 0;
  while (i < n) {
    size_t j = i;
    while (j + 1 < n && scores[order[j + 1]] == scores[order[i]]) {
      ++j;
    }
    const double midRank = 0.5 * static_cast<double>(i + j) + 1.0;
    for (size_t k = i; k <= j; ++k) {
      if (isPositive[order[k]] != 0) {
        positiveRankSum += midRank;
        ++positives;
      }
    }
    i = j + 1;
  }
  const int64_t negatives = static_cast<int64_t>(n) - positives;
  if (positives == 0 || negatives == 0) {
    return 0.5;
  }
  const double u = positiveRankSum - static_cast<double>(positives) * (positives + 1) / 2.0;
  return u / (static_cast<double>(positives) * static_cast<double>(negatives));
}

Metrics computeMetrics(const std::vector<float>& probs, const std::vector<int64_t>& labels, int64_t numClasses,
                       double meanLoss) {
  Metrics m;
  const auto n = static_cast<int64_t>(labels.size());
  m.count = n;
  m.loss = meanLoss;
  m.confusion.assign(numClasses, std::vector<int64_t>(numClasses, 0));
  int64_t correct = 0;
  for (int64_t i = 0; i < n; ++i) {
    const float* row = probs.data() + i * numClasses;
    const int64_t pred = std::max_element(row, row + numClasses) - row;
    m.confusion[labels[i]][pred] += 1;
    correct += pred == labels[i];
  }
  m.accuracy = n > 0 ? static_cast<double>(correct) / n : 0.0;

  auto aucForClass = [&](int64_t c) {
    std::vector<float> s(n);
    std::vector<int64_t> pos(n);
    for (int64_t i = 0; i < n; ++i) {
      s[i] = probs[i * numClasses + c];
      pos[i] = labels[i] == c;
    }
    return rocAuc(s, pos);
  };
  auto recallAndSpecificity = [&](int64_t c) {
    int64_t tp = 0, fn = 0, fp = 0, tn = 0;
    for (int64_t t = 0; t < numClasses; ++t) {
      for (int64_t p = 0; p < numClasses; ++p) {
        const int64_t v = m.confusion[t][p];
        if (t == c && p == c) tp += v;
        else if (t == c) fn += v;
        else if (p == c) fp += v;
        else tn += v;
      }
    }
    const double sens = tp + fn > 0 ? static_cast<double>(tp) / (tp + fn) : 0.0;
    const double spec = tn + fp > 0 ? static_cast<double>(tn) / (tn + fp) : 0.0;
    return std::pair{sens, spec};
  };

  if (numClasses == 2) {
    m.auc = aucForClass(1);
    std::tie(m.sensitivity, m.specificity) = recallAndSpecificity(1);
  } else {
    double auc = 0, sens = 0, spec = 0;
    for (int64_t c = 0; c < numClasses; ++c) {
      auc += aucForClass(c);
      const auto [se, sp] = recallAndSpecificity(c);
      sens += se;
      spec += sp;
    }
    m.auc = auc / numClasses;
    m.sensitivity = sens / numClasses;
    m.specificity = spec / numClasses;
  }
  return m;
}

std::string metricsToJson(const Metrics& m, const std::vector<std::string>& classes, int indent) {
  nlohmann::ordered_json j;
  j["count"] = m.count;
  j["loss"] = m.loss;
  j["accuracy"] = m.accuracy;
  j["auc"] = m.auc;
  j["sensitivity"] = m.sensitivity;
  j["specificity"] = m.specificity;
  j["positive_class"] = classes.size() == 2 ? classes[1] : "macro average";
  j["classes"] = classes;
  j["confusion_matrix"] = m.confusion;
  j["confusion_matrix_note"] = "rows: true class, columns: predicted class";
  return j.dump(indent);
}

double balancedAccuracy(const Metrics& m) {
  double sum = 0.0;
  int present = 0;
  for (size_t t = 0; t < m.confusion.size(); ++t) {
    int64_t n = 0;
    for (const auto v : m.confusion[t]) {
      n += v;
    }
    if (n > 0) {
      sum += static_cast<double>(t < m.confusion[t].size() ? m.confusion[t][t] : 0) / static_cast<double>(n);
      ++present;
    }
  }
  return present > 0 ? sum / present : std::numeric_limits<double>::quiet_NaN();
}

double selectionScore(SelectMetricKind metric, const Metrics& m) {
  double v = std::numeric_limits<double>::quiet_NaN();
  if (!std::isfinite(m.loss)) {
    return v;  // NaN/inf outputs: whatever the counts say, this epoch is not a model to keep
  }
  switch (metric) {
    case SelectMetricKind::BalancedAccuracy: v = balancedAccuracy(m); break;
    case SelectMetricKind::Auc: v = m.auc; break;
    case SelectMetricKind::Accuracy: v = m.accuracy; break;
    case SelectMetricKind::Loss: v = -m.loss; break;
    case SelectMetricKind::Last: break;
  }
  return std::isfinite(v) ? v : std::numeric_limits<double>::quiet_NaN();
}

}  // namespace ampbench
