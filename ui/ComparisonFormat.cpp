#include "ui/ComparisonFormat.h"

#include <QCoreApplication>

#include <cmath>

namespace ampbench::ui {
namespace {

QString tr(const char* text) { return QCoreApplication::translate("ComparisonFormat", text); }

// "+1.2", "−0.7" (a real minus sign), never "-0.0".
QString signedNumber(double x, int decimals) {
  const double rounded = std::round(x * std::pow(10.0, decimals)) / std::pow(10.0, decimals) + 0.0;
  const QString digits = QString::number(std::abs(rounded), 'f', decimals);
  return rounded < 0 ? QStringLiteral("\u2212") + digits : QStringLiteral("+") + digits;
}

QString pValue(double p) {
  if (!std::isfinite(p)) {
    return QString();
  }
  return p < 0.001 ? tr("McNemar p < 0.001") : tr("McNemar p = %1").arg(p, 0, 'f', 3);
}

const QString kArrowUp = QStringLiteral("\u25B2");
const QString kArrowDown = QStringLiteral("\u25BC");

// A bound that rounds to zero would read "+0.000" beside a ▼ whose interval excludes zero:
// show the digits that keep its sign (at most three more).
int decimalsKeepingSigns(const ampbench::DiffEstimate& d, double scale, int decimals) {
  for (const double b : {scale * d.low, scale * d.high}) {
    while (b != 0.0 && std::abs(b) < 0.5 * std::pow(10.0, -decimals) && decimals < 6) {
      ++decimals;
    }
  }
  return decimals;
}

// scale: 100 for points, 1 for AUC; unit appended to the value.
ComparisonCell diffCell(const ampbench::DiffEstimate& d, double scale, int decimals, const QString& unit,
                        bool withP) {
  ComparisonCell cell;
  decimals = d.valid() ? decimalsKeepingSigns(d, scale, decimals) : decimals;
  if (!d.valid()) {
    cell.text = QStringLiteral("–");
    cell.tooltip = d.unavailable.empty() ? tr("Not compared.") : tr("Not compared: %1.").arg(qs(d.unavailable));
    return cell;
  }
  const QString interval =
      tr("%1 to %2").arg(signedNumber(scale * d.low, decimals), signedNumber(scale * d.high, decimals));
  const QString p = withP ? pValue(d.mcnemarP) : QString();
  cell.tooltip = tr("Difference to the baseline on the same %1 validation images: %2%3; 95 % interval %4 "
                    "(paired bootstrap, resampled within each class)%5.")
                     .arg(d.n)
                     .arg(signedNumber(scale * d.value, decimals), unit, interval, p.isEmpty() ? QString() : ", " + p);
  if (d.measurable()) {
    const bool better = d.value > 0;
    cell.judgement = better ? Judgement::Better : Judgement::Worse;
    cell.text = QStringLiteral("%1 %2%3 (%4)")
                    .arg(better ? kArrowUp : kArrowDown, signedNumber(scale * d.value, decimals), unit, interval);
    if (!p.isEmpty()) {
      cell.text += QStringLiteral(", ") + p;
    }
  } else {
    cell.text = tr("no measurable difference (n = %1)").arg(d.n) + QLatin1Char('\n') + interval + unit;
    if (!p.isEmpty()) {
      cell.text += QStringLiteral(", ") + p;
    }
  }
  return cell;
}

}  // namespace

ComparisonCell accuracyDiffCell(const ampbench::DiffEstimate& d) {
  return diffCell(d, 100.0, 1, tr(" points"), true);
}

ComparisonCell aucDiffCell(const ampbench::DiffEstimate& d) { return diffCell(d, 1.0, 3, QString(), false); }

Judgement speedJudgement(const ampbench::ModeComparison& c) {
  return c.faster() ? Judgement::Better : c.slower() ? Judgement::Worse : Judgement::None;
}

ComparisonCell speedCell(const ampbench::ModeComparison& c, const QString& baselineLabel) {
  ComparisonCell cell;
  if (c.speedup <= 0) {
    cell.text = QStringLiteral("–");
    cell.tooltip = tr("Not timed.");
    return cell;
  }
  const QString ratio = QStringLiteral("%1x").arg(c.speedup, 0, 'f', 2);
  if (!c.speedRangeKnown()) {
    cell.text = ratio + QLatin1Char('\n') +
                (c.timedEpochs == 1 ? tr("one timed epoch: no spread") : tr("epoch times unknown: no spread"));
    cell.tooltip = tr("Throughput over %1's. Neither faster nor slower is claimed without at least two timed "
                      "epochs per run to show the noise.")
                       .arg(baselineLabel);
    return cell;
  }
  const QString range = QStringLiteral("%1–%2").arg(c.speedLow, 0, 'f', 2).arg(c.speedHigh, 0, 'f', 2);
  cell.tooltip = tr("Throughput over %1's (ratio of medians after warm-up); range: the slowest and fastest "
                    "ratio of any two epoch times after warm-up (%2 epochs).")
                     .arg(baselineLabel)
                     .arg(c.timedEpochs);
  cell.judgement = speedJudgement(c);
  if (cell.judgement == Judgement::None) {
    cell.text = QStringLiteral("%1 (%2)\n").arg(ratio, range) + tr("no measurable difference");
  } else {
    cell.text = QStringLiteral("%1 %2 (%3)").arg(cell.judgement == Judgement::Better ? kArrowUp : kArrowDown, ratio,
                                                 range);
  }
  return cell;
}

}  // namespace ampbench::ui
