#include "ui/EvaluationFormat.h"

#include <QLocale>
#include <QObject>

#include <cmath>

namespace ampbench::ui {
namespace {

QString number(double v, int decimals) { return QString::number(v, 'f', decimals); }

// One more place when rounding would show a figure that is not 1 (or 0) as "1.00" ("0.00"):
// an AUC of 0.996 (0.993–0.998) must not read "1.00 (0.99–1.00)", a perfect score.
int placesFor(const ampbench::Estimate& e, int decimals) {
  const double unit = std::pow(10.0, -decimals) / 2.0;
  for (double v : {e.value, e.ci95.low, e.ci95.high}) {
    if (std::isfinite(v) && ((v >= 1.0 - unit && v < 1.0) || (v > 0.0 && v < unit))) {
      return decimals + 1;
    }
  }
  return decimals;
}

}  // namespace

QString formatInterval(const ampbench::Interval& ci, int decimals) {
  if (!ci.valid()) {
    return QString();
  }
  return QStringLiteral("%1–%2").arg(number(ci.low, decimals), number(ci.high, decimals));
}

QString formatEstimate(const ampbench::Estimate& e, int decimals) {
  if (!e.defined()) {
    return QObject::tr("undefined");
  }
  decimals = placesFor(e, decimals);
  const QString ci = formatInterval(e.ci95, decimals);
  return ci.isEmpty() ? number(e.value, decimals) : QStringLiteral("%1 (%2)").arg(number(e.value, decimals), ci);
}

QString formatThreshold(double t) {
  if (!std::isfinite(t)) {
    return QObject::tr("argmax");
  }
  // Two places only when that is the applied value: a Youden threshold of 0.5004 shown as
  // "0.50" would hide why an image at p = 0.5002 is called negative.
  const double twoPlaces = std::round(t * 100.0) / 100.0;
  if (std::abs(twoPlaces - t) < 1e-9) {
    return number(t, 2);
  }
  const double threePlaces = std::round(t * 1000.0) / 1000.0;
  return std::abs(threePlaces - t) < 1e-9 ? number(t, 3) : number(t, 4);
}

QString undefinedReason(const ampbench::Evaluation& e, size_t classIndex, ClassMetric metric) {
  if (classIndex >= e.perClass.size()) {
    return QObject::tr("no such class");
  }
  const auto& c = e.perClass[classIndex];
  const ampbench::Estimate* est = nullptr;
  switch (metric) {
    case ClassMetric::Sensitivity: est = &c.sensitivity; break;
    case ClassMetric::Specificity: est = &c.specificity; break;
    case ClassMetric::Ppv: est = &c.precision; break;
    case ClassMetric::Npv: est = &c.npv; break;
    case ClassMetric::F1: est = &c.f1; break;
    case ClassMetric::Auc: est = &c.auc; break;
    case ClassMetric::AveragePrecision: est = &c.averagePrecision; break;
  }
  if (est->defined()) {
    return QString();
  }
  const QString name = QString::fromStdString(c.name);
  const int64_t n = e.count;
  const bool needsClass = metric == ClassMetric::Sensitivity || metric == ClassMetric::F1 ||
                          metric == ClassMetric::Auc || metric == ClassMetric::AveragePrecision;
  const bool needsOthers = metric == ClassMetric::Specificity || metric == ClassMetric::Auc ||
                           metric == ClassMetric::AveragePrecision;
  if (n == 0) {
    return QObject::tr("no images");
  }
  if (needsClass && c.support == 0) {
    return QObject::tr("no %1 images").arg(name);
  }
  if (needsOthers && c.support == n) {
    return e.perClass.size() == 2
               ? QObject::tr("no %1 images").arg(QString::fromStdString(e.perClass[1 - classIndex].name))
               : QObject::tr("no images of other classes");
  }
  if ((metric == ClassMetric::Ppv || metric == ClassMetric::F1) && c.predicted == 0) {
    return QObject::tr("none called %1").arg(name);
  }
  if (metric == ClassMetric::Npv && c.predicted >= n - e.nonFinite) {
    return QObject::tr("all called %1").arg(name);
  }
  if ((metric == ClassMetric::Auc || metric == ClassMetric::AveragePrecision) && e.nonFinite > 0) {
    return QObject::tr("non-finite probabilities");
  }
  return QString::fromStdString(c.undefined);
}

QString curveLegend(const ampbench::Evaluation& e, size_t classIndex, const QString& name) {
  if (classIndex >= e.perClass.size()) {
    return QObject::tr("%1 undefined").arg(name);
  }
  const auto& c = e.perClass[classIndex];
  const ampbench::Estimate& est = name == QLatin1String("AP") ? c.averagePrecision : c.auc;
  if (!est.defined()) {
    const QString reason =
        undefinedReason(e, classIndex, name == QLatin1String("AP") ? ClassMetric::AveragePrecision : ClassMetric::Auc);
    return reason.isEmpty() ? QObject::tr("%1 undefined").arg(name) : QObject::tr("%1 undefined: %2").arg(name, reason);
  }
  return QStringLiteral("%1 %2").arg(name, formatEstimate(est));
}

double rowShare(const ampbench::Evaluation& e, size_t t, size_t p) {
  if (t >= e.confusion.size() || p >= e.confusion[t].size()) {
    return std::nan("");
  }
  // Over the class's support, as the engine's confusion_normalised: rows with non-finite
  // probabilities sit in no column but are still that class's images.
  int64_t total = t < e.perClass.size() ? e.perClass[t].support : 0;
  if (total <= 0) {
    for (int64_t v : e.confusion[t]) {
      total += v;
    }
  }
  return total > 0 ? static_cast<double>(e.confusion[t][p]) / static_cast<double>(total) : std::nan("");
}

QString confusionCellText(const ampbench::Evaluation& e, size_t t, size_t p) {
  const int64_t count = t < e.confusion.size() && p < e.confusion[t].size() ? e.confusion[t][p] : 0;
  const double share = rowShare(e, t, p);
  const QString percent = std::isfinite(share) ? QStringLiteral("%1 %").arg(number(100.0 * share, 1)) : QStringLiteral("—");
  return QStringLiteral("%1\n%2").arg(QLocale().toString(static_cast<qlonglong>(count)), percent);
}

QString probabilityValue(double p) {
  if (!std::isfinite(p)) {
    return QObject::tr("not finite");
  }
  for (int decimals : {2, 3}) {
    const QString text = number(p, decimals);
    if (text != number(1.0, decimals) && text != number(0.0, decimals)) {
      return text;
    }
  }
  return p > 0.5 ? QStringLiteral("> 0.999") : QStringLiteral("< 0.001");
}

QString probabilityText(double p) {
  const QString v = probabilityValue(p);
  return v.startsWith(QLatin1Char('>')) || v.startsWith(QLatin1Char('<')) ? QStringLiteral("p %1").arg(v)
                                                                          : QStringLiteral("p = %1").arg(v);
}

QColor seriesColour(int index) {
  static const QColor kPalette[] = {QColor(0, 114, 178),  QColor(213, 94, 0),   QColor(0, 158, 115),
                                    QColor(204, 121, 167), QColor(230, 159, 0), QColor(86, 180, 233),
                                    QColor(0, 0, 0)};
  constexpr int n = static_cast<int>(sizeof(kPalette) / sizeof(kPalette[0]));
  return kPalette[((index % n) + n) % n];
}

}  // namespace ampbench::ui
