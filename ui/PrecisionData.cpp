#include "ui/PrecisionData.h"

#include "ui/Format.h"
#include "ui/RunFiles.h"

#include <QHash>
#include <QObject>
#include <QSet>

#include <algorithm>
#include <cmath>

namespace ampbench::ui {
namespace {

constexpr double kNegligible = 0.001;  // shares below 0.1 % are not worth a sentence

// "layer4.1.conv2.weight" -> "layer4.1.conv2" for prose; other names as they are.
QString proseLayer(const QString& name) {
  return name.endsWith(QLatin1String(".weight")) ? name.left(name.size() - 7) : name;
}

QString kindNoun(const std::string& kind) {
  if (kind == "activation_grad") {
    return QObject::tr("activation gradient");
  }
  if (kind == "activation") {
    return QObject::tr("forward output");
  }
  return QObject::tr("gradient");
}

void addShares(ampbench::FormatShares* sum, const ampbench::FormatShares& s, double weight) {
  sum->underflow += s.underflow * weight;
  sum->subnormal += s.subnormal * weight;
  sum->overflow += s.overflow * weight;
}

void scaleShares(ampbench::FormatShares* s, double factor) {
  s->underflow *= factor;
  s->subnormal *= factor;
  s->overflow *= factor;
}

void addHistogram(ampbench::Log2Histogram* sum, const ampbench::Log2Histogram& h) {
  for (size_t i = 0; i < sum->bins.size() && i < h.bins.size(); ++i) {
    sum->bins[i] += h.bins[i];
  }
  sum->below += h.below;
  sum->above += h.above;
  sum->zeros += h.zeros;
  sum->infs += h.infs;
  sum->nans += h.nans;
}

}  // namespace

double fp16MaxLog2() { return std::log2(65504.0); }
double fp16OverflowLog2() { return std::log2(65520.0); }

PrecisionContext contextFor(const ampbench::PrecisionInfo& info) {
  return PrecisionContext{info.computeDtype == "bfloat16", info.lossScaling};
}

PrecisionContext contextFor(const RunHistory& history) {
  if (history.config) {
    return contextFor(*history.config);
  }
  // No config.json: a loss scale other than 1 in steps.csv means a scaler ran.
  PrecisionContext c;
  c.lossScaling = std::any_of(history.steps.begin(), history.steps.end(), [](const auto& s) { return s.lossScale != 1.0; });
  return c;
}

PrecisionContext contextFor(const ampbench::RunConfig& config) {
  PrecisionContext c;
  c.bf16 = config.precision == ampbench::PrecisionMode::Bf16;
  c.lossScaling = config.scaler.mode == ampbench::ScalingKind::On ||
                  (config.scaler.mode == ampbench::ScalingKind::Auto && config.precision == ampbench::PrecisionMode::Fp16);
  return c;
}

bool isGradientKind(const std::string& kind) { return kind == "weight_grad" || kind == "activation_grad"; }

QVector<int> gradientTensors(const ampbench::PrecisionStatsEvent& e) {
  QVector<int> out;
  for (size_t i = 0; i < e.tensors.size(); ++i) {
    if (isGradientKind(e.tensors[i].kind)) {
      out << static_cast<int>(i);
    }
  }
  return out;
}

ampbench::TensorPrecisionStats allLayers(const ampbench::PrecisionStatsEvent& e) {
  const bool haveWeights = std::any_of(e.tensors.begin(), e.tensors.end(), [](const auto& t) { return t.kind == "weight_grad"; });
  ampbench::TensorPrecisionStats sum;
  sum.layer = "all layers";
  sum.kind = haveWeights ? "weight_grad" : "activation_grad";
  double weight = 0.0;
  for (const auto& t : e.tensors) {
    if (haveWeights ? t.kind != "weight_grad" : !isGradientKind(t.kind)) {
      continue;
    }
    const double w = static_cast<double>(std::max<int64_t>(t.count, 0));
    sum.count += t.count;
    weight += w;
    sum.zeroShare += t.zeroShare * w;
    addHistogram(&sum.unscaled, t.unscaled);
    addHistogram(&sum.scaled, t.scaled);
    addShares(&sum.fp16, t.fp16, w);
    addShares(&sum.fp16Scaled, t.fp16Scaled, w);
    addShares(&sum.bf16, t.bf16, w);
    addShares(&sum.bf16Scaled, t.bf16Scaled, w);
  }
  if (weight > 0) {
    sum.zeroShare /= weight;
    for (auto* s : {&sum.fp16, &sum.fp16Scaled, &sum.bf16, &sum.bf16Scaled}) {
      scaleShares(s, 1.0 / weight);
    }
  }
  return sum;
}

QString tensorLabel(const ampbench::TensorPrecisionStats& t) {
  if (t.kind == "weight_grad") {
    return qs(t.layer);
  }
  return QStringLiteral("%1 (%2)").arg(qs(t.layer), kindNoun(t.kind));
}

int64_t histogramTotal(const ampbench::Log2Histogram& h) {
  int64_t total = h.below + h.above + h.zeros + h.infs + h.nans;
  for (int64_t b : h.bins) {
    total += b;
  }
  return total;
}

QVector<double> binPercent(const ampbench::Log2Histogram& h) {
  const double total = static_cast<double>(histogramTotal(h));
  QVector<double> out;
  out.reserve(static_cast<int>(h.bins.size()));
  for (int64_t b : h.bins) {
    out << (total > 0 ? 100.0 * static_cast<double>(b) / total : 0.0);
  }
  return out;
}

QVector<LayerBarRow> layerBars(const ampbench::PrecisionStatsEvent& e, bool bf16) {
  QVector<LayerBarRow> rows;
  QHash<QString, int> rowOf;
  for (const auto& t : e.tensors) {
    if (t.kind != "weight_grad" && t.kind != "update") {
      continue;
    }
    const QString layer = qs(t.layer);
    int i = rowOf.value(layer, -1);
    if (i < 0) {
      i = static_cast<int>(rows.size());
      rowOf.insert(layer, i);
      rows.push_back(LayerBarRow{layer});
    }
    LayerBarRow& r = rows[i];
    if (t.kind == "weight_grad") {
      r.underflow = t.fp16.underflow;
      r.underflowScaled = t.fp16Scaled.underflow;
      r.hasGradient = true;
    } else {
      r.lostUpdates = bf16 ? t.updateLostShareBf16 : t.updateLostShareFp16;
      r.hasUpdate = true;
    }
  }
  return rows;
}

QString sharePercent(double share) {
  if (!std::isfinite(share)) {
    return QStringLiteral("–");
  }
  const double p = share * 100.0;
  if (p == 0.0) {
    return QStringLiteral("0 %");
  }
  if (p < 0.001) {
    return QStringLiteral("< 0.001 %");
  }
  if (p >= 10.0) {
    return QStringLiteral("%1 %").arg(std::round(p), 0, 'f', 0);
  }
  return QStringLiteral("%1 %").arg(QString::number(p, 'g', p >= 1.0 ? 2 : 1));
}

namespace captions {

QString noStatistics() {
  return QObject::tr(
      "<p><b>No precision statistics yet.</b></p>"
      "<p>This tab shows what FP16 and BF16 would do to this run's numbers: which gradients "
      "become zero, which updates are too small to change a weight, and which layer overflows first.</p>"
      "<p>The engine measures this on a sample of training steps (every N steps), which costs a little "
      "time. Turn it on with <b>Precision statistics</b> under <b>Advanced</b> in the run settings, then "
      "train; or open a run directory that has <tt>grad_stats.csv</tt>.</p>");
}

QString histogram(const ampbench::TensorPrecisionStats& t, const QString& label, int64_t step, double lossScale,
                  const PrecisionContext& c) {
  const QString subject = t.layer == "all layers" ? QObject::tr("all layers' gradients")
                                                  : QObject::tr("%1's %2s").arg(proseLayer(label.section(QLatin1String(" ("), 0, 0)),
                                                                                kindNoun(t.kind));
  const bool scaled = lossScale > 1.0 && std::isfinite(lossScale);
  QString text;
  if (c.bf16) {
    // The run computes in BF16: FP16 is the comparison, BF16's range the answer.
    text = QObject::tr("At step %1, %2 of %3 would be zero in FP16, %4 in BF16, which this run uses: BF16 keeps "
                       "FP32's exponent range (its subnormals start below 2^%5, off this axis), so it needs no loss "
                       "scale. Its price is precision: 8 significant bits instead of FP16's 11.")
               .arg(step)
               .arg(sharePercent(t.fp16.underflow), subject, sharePercent(t.bf16.underflow))
               .arg(kBf16MinNormalExp);
  } else if (t.fp16.underflow >= kNegligible) {
    text = QObject::tr("At step %1, %2 of %3 would be zero in FP16")
               .arg(step)
               .arg(sharePercent(t.fp16.underflow), subject);
    if (scaled) {
      text += QObject::tr("; the loss scale %1 brings that to %2. Fix: dynamic loss scaling.")
                  .arg(formatScale(lossScale), sharePercent(t.fp16Scaled.underflow));
    } else {
      text += QObject::tr("; this run does not scale the loss. Fix: dynamic loss scaling (FP16 mixed turns it on).");
    }
  } else {
    text = QObject::tr("At step %1, %2 fit FP16: %3 would be zero, %4 subnormal (less precise).")
               .arg(step)
               .arg(subject, sharePercent(t.fp16.underflow), sharePercent(t.fp16.subnormal));
    if (scaled) {
      text += QObject::tr(" The loss scale %1 shifts them right by %2 powers of two.")
                  .arg(formatScale(lossScale))
                  .arg(std::log2(lossScale), 0, 'f', 0);
    }
  }
  if (scaled && t.fp16Scaled.overflow > 0) {
    text += QObject::tr(" Scaled, %1 overflow FP16: the scaler skips such a step and halves the scale.")
                .arg(sharePercent(t.fp16Scaled.overflow));
  }
  if (t.zeroShare > 0) {
    text += QObject::tr(" %1 are exactly zero already in FP32 (not on the log axis).").arg(sharePercent(t.zeroShare));
  }
  return text;
}

QString layers(const QVector<LayerBarRow>& rows, int64_t step, double lossScale, const PrecisionContext& c) {
  const LayerBarRow* worstUnder = nullptr;
  const LayerBarRow* worstLost = nullptr;
  for (const auto& r : rows) {
    if (r.hasGradient && (!worstUnder || r.underflow > worstUnder->underflow)) {
      worstUnder = &r;
    }
    if (r.hasUpdate && (!worstLost || r.lostUpdates > worstLost->lostUpdates)) {
      worstLost = &r;
    }
  }
  const QString format = c.bf16 ? QStringLiteral("BF16") : QStringLiteral("FP16");
  QStringList parts;
  if (worstUnder && worstUnder->underflow >= kNegligible) {
    QString under = QObject::tr("Most underflow: %1 of %2's gradients would be zero in FP16")
                        .arg(sharePercent(worstUnder->underflow), proseLayer(worstUnder->layer));
    if (lossScale > 1.0 && std::isfinite(lossScale)) {
      under += QObject::tr(", %1 with the loss scale. Fix: dynamic loss scaling.").arg(sharePercent(worstUnder->underflowScaled));
    } else if (c.bf16) {
      under += QObject::tr(" (not in this BF16 run).");
    } else {
      under += QObject::tr(". Fix: dynamic loss scaling.");
    }
    parts << under;
  } else if (worstUnder) {
    parts << QObject::tr("No layer's gradients underflow FP16 by more than 0.1 % at step %1.").arg(step);
  }
  if (worstLost && worstLost->lostUpdates >= kNegligible) {
    // "an FP16" but "a BF16", as they are read aloud.
    parts << (c.bf16 ? QObject::tr("%1 of this step's updates to %2 are smaller than half a BF16 ulp of their weights: "
                                   "pure BF16 weights would drop them. Fix: FP32 master weights.")
                     : QObject::tr("%1 of this step's updates to %2 are smaller than half an FP16 ulp of their weights: "
                                   "pure FP16 weights would drop them. Fix: FP32 master weights."))
                 .arg(sharePercent(worstLost->lostUpdates), proseLayer(worstLost->layer));
  } else if (worstLost) {
    parts << QObject::tr("Every layer's updates are large enough to change %1 weights (under 0.1 % lost).").arg(format);
  } else {
    parts << QObject::tr("This sample has no weight-update statistics.");
  }
  return parts.join(QLatin1Char(' '));
}

QString overflows(const QVector<ampbench::OverflowAttribution>& list, const PrecisionContext& c) {
  if (list.isEmpty()) {
    return c.lossScaling ? QObject::tr("No overflow so far: no step's scaled gradients held inf or NaN.")
                         : QObject::tr("No overflow so far: no step's gradients held inf or NaN.");
  }
  const auto& last = list.back();
  QString text = QObject::tr("At step %1 %2's %3 overflowed first; ")
                     .arg(last.step)
                     .arg(proseLayer(qs(last.layer)), kindNoun(last.kind));
  text += c.lossScaling ? QObject::tr("the step was skipped and the scale halved. Fix: skip and back off.")
                        : QObject::tr("without a loss scaler nothing skips that step. Fix: a lower learning rate or "
                                      "gradient clipping.");
  // Which layer overflows first most often.
  QHash<QString, int> counts;
  QSet<int64_t> steps;
  for (const auto& a : list) {
    counts[proseLayer(qs(a.layer))] += 1;
    steps.insert(a.step);
  }
  auto top = counts.cbegin();
  for (auto it = counts.cbegin(); it != counts.cend(); ++it) {
    if (it.value() > top.value() || (it.value() == top.value() && it.key() < top.key())) {
      top = it;
    }
  }
  if (steps.size() > 1) {
    text += QObject::tr(" %1 steps overflowed so far; %2 was first %3 times.").arg(steps.size()).arg(top.key()).arg(top.value());
  }
  return text;
}

}  // namespace captions

}  // namespace ampbench::ui
