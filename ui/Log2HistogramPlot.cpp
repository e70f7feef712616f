#include "ui/Log2HistogramPlot.h"

#include "ui/Format.h"
#include "ui/PrecisionData.h"

#include <cmath>

namespace ampbench::ui {
namespace {

// Okabe & Ito's colour-blind-safe palette.
const QColor kVermillion(0xD5, 0x5E, 0x00);
const QColor kOrange(0xE6, 0x9F, 0x00);
const QColor kBluishGreen(0x00, 0x9E, 0x73);
const QColor kReddishPurple(0xCC, 0x79, 0xA7);
const QColor kSkyBlue(0x56, 0xB4, 0xE9);
const QColor kBlue(0x00, 0x72, 0xB2);

QColor withAlpha(QColor c, int alpha) {
  c.setAlpha(alpha);
  return c;
}

}  // namespace

Log2HistogramPlot::Log2HistogramPlot(QWidget* parent) : PlotView(tr("Gradient magnitudes (log2 |value|)"), parent) {
  xAxis->setLabel(tr("log2 |value|  (−14 means 2^−14 ≈ 0.00006)"));
  yAxis->setLabel(tr("share of values (%)"));
  QSharedPointer<QCPAxisTickerFixed> ticker(new QCPAxisTickerFixed);
  ticker->setTickStep(5.0);
  ticker->setScaleStrategy(QCPAxisTickerFixed::ssNone);
  xAxis->setTicker(ticker);
  setFixedRange(xAxis, QCPRange(ampbench::kLog2MinExp, ampbench::kLog2MaxExp));
  xAxis->setRange(ampbench::kLog2MinExp, ampbench::kLog2MaxExp);
  setIncludeZero(yAxis);
  setHeadroom(0.25);

  // FP16's ranges behind the data; the empty bars only carry the legend entries.
  addRegion(ampbench::kLog2MinExp, kFp16FlushLog2, kVermillion, tr("FP16 → 0 (≤ 2^−25)"));
  addRegion(kFp16FlushLog2, kFp16MinNormalLog2, kOrange, tr("FP16 subnormal"));
  addRegion(kFp16MinNormalLog2, fp16MaxLog2(), kBluishGreen, tr("FP16 normal"));
  addRegion(fp16OverflowLog2(), ampbench::kLog2MaxExp, kReddishPurple, tr("FP16 → inf (≥ 65520)"));

  bf16Strip_ = new QCPItemRect(this);
  bf16Strip_->setLayer(QStringLiteral("grid"));
  bf16Strip_->topLeft->setTypeX(QCPItemPosition::ptPlotCoords);
  bf16Strip_->topLeft->setTypeY(QCPItemPosition::ptAxisRectRatio);
  bf16Strip_->bottomRight->setTypeX(QCPItemPosition::ptPlotCoords);
  bf16Strip_->bottomRight->setTypeY(QCPItemPosition::ptAxisRectRatio);
  bf16Strip_->topLeft->setCoords(ampbench::kLog2MinExp, 0.0);
  bf16Strip_->bottomRight->setCoords(ampbench::kLog2MaxExp, 0.06);
  bf16Strip_->setPen(Qt::NoPen);
  bf16Strip_->setBrush(withAlpha(kSkyBlue, 170));
  bf16Legend_ = new QCPBars(xAxis, yAxis);
  bf16Legend_->setName(tr("BF16 normal (all)"));
  bf16Legend_->setPen(Qt::NoPen);
  bf16Legend_->setBrush(withAlpha(kSkyBlue, 170));
  bf16Note_ = new QCPItemText(this);
  bf16Note_->position->setType(QCPItemPosition::ptAxisRectRatio);
  bf16Note_->position->setCoords(0.01, 0.075);
  bf16Note_->setPositionAlignment(Qt::AlignLeft | Qt::AlignTop);
  bf16Note_->setText(tr("BF16 subnormals start below 2^%1: far off this axis, to the left").arg(kBf16MinNormalExp));
  bf16Note_->setColor(kBlue.darker(130));
  offAxis_ = new QCPItemText(this);
  offAxis_->position->setType(QCPItemPosition::ptAxisRectRatio);
  offAxis_->position->setCoords(0.01, 0.97);
  offAxis_->setPositionAlignment(Qt::AlignLeft | Qt::AlignBottom);
  offAxis_->setColor(QColor(80, 80, 80));

  unscaled_ = addGraph();
  unscaled_->setName(tr("true gradients"));
  unscaled_->setLineStyle(QCPGraph::lsStepLeft);
  unscaled_->setPen(QPen(kBlue, 2.0));
  unscaled_->setBrush(withAlpha(kBlue, 60));
  scaled_ = addGraph();
  scaled_->setName(tr("× loss scale"));
  scaled_->setLineStyle(QCPGraph::lsStepLeft);
  scaled_->setPen(QPen(Qt::black, 2.0, Qt::DashLine));

  // Many entries: the legend goes under the axes, in columns, instead of over the data.
  axisRect()->insetLayout()->take(legend);
  plotLayout()->addElement(2, 0, legend);
  plotLayout()->setRowStretchFactor(2, 0.001);
  legend->setFillOrder(QCPLayoutGrid::foColumnsFirst);
  legend->setWrap(3);
  legend->setMargins(QMargins(4, 2, 4, 2));
  legend->setBorderPen(Qt::NoPen);
  setBf16(false);
  clearData();
}

QCPItemRect* Log2HistogramPlot::addRegion(double from, double to, const QColor& color, const QString& name) {
  auto* rect = new QCPItemRect(this);
  rect->setLayer(QStringLiteral("grid"));
  for (QCPItemPosition* p : {rect->topLeft, rect->bottomRight}) {
    p->setTypeX(QCPItemPosition::ptPlotCoords);
    p->setTypeY(QCPItemPosition::ptAxisRectRatio);
  }
  rect->topLeft->setCoords(from, 0.0);
  rect->bottomRight->setCoords(to, 1.0);
  rect->setPen(Qt::NoPen);
  rect->setBrush(withAlpha(color, 55));
  auto* legendEntry = new QCPBars(xAxis, yAxis);
  legendEntry->setName(name);
  legendEntry->setPen(Qt::NoPen);
  legendEntry->setBrush(withAlpha(color, 110));
  return rect;
}

void Log2HistogramPlot::setBf16(bool bf16) {
  bf16Strip_->setVisible(bf16);
  bf16Note_->setVisible(bf16);
  bf16Legend_->setVisible(bf16);
  if (bf16) {
    bf16Legend_->addToLegend();
  } else {
    bf16Legend_->removeFromLegend();
  }
}

bool Log2HistogramPlot::bf16RangeVisible() const { return bf16Strip_->visible(); }

QString Log2HistogramPlot::offAxisNote() const { return offAxis_->visible() ? offAxis_->text() : QString(); }

void Log2HistogramPlot::clearData() {
  unscaled_->data()->clear();
  scaled_->data()->clear();
  offAxis_->setVisible(false);
  resetView();
}

void Log2HistogramPlot::showTensor(const ampbench::TensorPrecisionStats& t, double lossScale, bool bf16) {
  setBf16(bf16);
  // Step lines: bin i spans 2^(min+i) .. 2^(min+i+1); a closing point ends the last step.
  auto toSteps = [](const QVector<double>& percent, QVector<double>* keys, QVector<double>* values) {
    for (int i = 0; i < percent.size(); ++i) {
      *keys << ampbench::kLog2MinExp + i;
      *values << percent[i];
    }
    if (!percent.isEmpty()) {
      *keys << ampbench::kLog2MaxExp;
      *values << percent.back();
    }
  };
  QVector<double> k, v;
  toSteps(binPercent(t.unscaled), &k, &v);
  unscaled_->setData(k, v, true);
  const bool scaled = lossScale > 1.0 && std::isfinite(lossScale);
  scaled_->setVisible(scaled);
  if (scaled) {
    scaled_->addToLegend();
    scaled_->setName(tr("× loss scale %1").arg(formatScale(lossScale)));
    QVector<double> sk, sv;
    toSteps(binPercent(t.scaled), &sk, &sv);
    scaled_->setData(sk, sv, true);
  } else {
    scaled_->removeFromLegend();
    scaled_->data()->clear();
  }
  // What the fixed axis cannot show, in words.
  QStringList off;
  const double total = static_cast<double>(histogramTotal(t.unscaled));
  if (total > 0 && t.unscaled.below / total >= 1e-5) {
    off << tr("◀ %1 below 2^%2").arg(sharePercent(t.unscaled.below / total)).arg(ampbench::kLog2MinExp);
  }
  if (total > 0 && t.unscaled.above / total >= 1e-5) {
    off << tr("%1 at or above 2^%2 ▶").arg(sharePercent(t.unscaled.above / total)).arg(ampbench::kLog2MaxExp);
  }
  if (total > 0 && t.unscaled.infs + t.unscaled.nans > 0) {
    off << tr("%1 inf/NaN").arg(sharePercent((t.unscaled.infs + t.unscaled.nans) / total));
  }
  offAxis_->setText(off.join(QStringLiteral(" · ")));
  offAxis_->setVisible(!off.isEmpty());
  fitAndReplot();
}

}  // namespace ampbench::ui
