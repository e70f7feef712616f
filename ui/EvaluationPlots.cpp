#include "ui/EvaluationPlots.h"

#include "ui/EvaluationFormat.h"

#include <qcustomplot.h>

#include <algorithm>
#include <cmath>

namespace ampbench::ui {
namespace {

const QColor kAbsentRow(215, 215, 215);
const QColor kChance(140, 140, 140);

// Removes what an earlier call added: plottables, items, a colour scale beside the axes.
void resetPlot(QCustomPlot* plot) {
  plot->clearPlottables();
  plot->clearItems();
  for (int i = plot->plotLayout()->elementCount() - 1; i >= 0; --i) {
    if (qobject_cast<QCPColorScale*>(plot->plotLayout()->elementAt(i))) {
      plot->plotLayout()->removeAt(i);
    }
  }
  plot->plotLayout()->simplify();
  plot->legend->setVisible(false);
  for (QCPAxis* axis : {plot->xAxis, plot->yAxis}) {
    axis->setRangeReversed(false);
    axis->setTicker(QSharedPointer<QCPAxisTicker>(new QCPAxisTicker));
    axis->grid()->setVisible(true);
    axis->setTickLength(5, 0);
    axis->setSubTicks(true);
  }
}

QFont scaledFont(const QFont& base, double factor, bool bold = false) {
  QFont f = base;
  if (f.pointSizeF() > 0) {
    f.setPointSizeF(f.pointSizeF() * factor);
  } else {
    f.setPixelSize(std::max(8, static_cast<int>(std::lround(f.pixelSize() * factor))));
  }
  f.setBold(bold);
  return f;
}

QSharedPointer<QCPAxisTickerText> classTicker(const std::vector<std::string>& classes) {
  QSharedPointer<QCPAxisTickerText> ticker(new QCPAxisTickerText);
  for (size_t i = 0; i < classes.size(); ++i) {
    ticker->addTick(static_cast<double>(i), QString::fromStdString(classes[i]));
  }
  return ticker;
}

// Unit-square axes shared by the ROC and PR plots.
void setUnitAxes(QCustomPlot* plot, const QString& x, const QString& y) {
  plot->xAxis->setLabel(x);
  plot->yAxis->setLabel(y);
  plot->xAxis->setRange(-0.02, 1.02);
  plot->yAxis->setRange(-0.02, 1.02);
  plot->legend->setVisible(true);
  plot->legend->setFont(scaledFont(plot->font(), 0.9));
  plot->legend->setBrush(QBrush(QColor(255, 255, 255, 225)));
  plot->axisRect()->insetLayout()->setInsetAlignment(0, Qt::AlignBottom | Qt::AlignRight);
}

QCPCurve* addCurve(QCustomPlot* plot, const QVector<double>& x, const QVector<double>& y, const QPen& pen,
                   const QString& name) {
  auto* curve = new QCPCurve(plot->xAxis, plot->yAxis);
  curve->setData(x, y);
  curve->setPen(pen);
  curve->setName(name);
  return curve;
}

void addOperatingPoint(QCustomPlot* plot, double x, double y, const QColor& colour, const QString& name) {
  if (!std::isfinite(x) || !std::isfinite(y)) {
    return;
  }
  QCPGraph* point = plot->addGraph(plot->xAxis, plot->yAxis);
  point->setLineStyle(QCPGraph::lsNone);
  point->setScatterStyle(QCPScatterStyle(QCPScatterStyle::ssCircle, QPen(Qt::black, 1.5), QBrush(colour), 11));
  point->setPen(QPen(colour));
  point->setData({x}, {y});
  point->setName(name);
}

QPen seriesPen(const RocSeries& s, size_t seriesIndex, size_t classIndex, bool perClass) {
  // Two classes: the series' colour. More: a colour per class and a line style per series.
  const QColor own = s.colour.isValid() ? s.colour : seriesColour(static_cast<int>(seriesIndex));
  QPen pen(perClass ? seriesColour(static_cast<int>(classIndex)) : own, 2.2);
  if (perClass) {
    static const Qt::PenStyle kStyles[] = {Qt::SolidLine, Qt::DashLine, Qt::DotLine, Qt::DashDotLine};
    pen.setStyle(kStyles[seriesIndex % 4]);
  }
  return pen;
}

QString prefixed(const QString& label, const QString& text) {
  return label.isEmpty() ? text : QStringLiteral("%1 · %2").arg(label, text);
}

// The classes a series draws curves for: the positive class, or every class.
std::vector<size_t> curveClasses(const ampbench::Evaluation& e) {
  std::vector<size_t> out;
  if (e.perClass.size() == 2) {
    out.push_back(static_cast<size_t>(std::clamp<int64_t>(e.positiveClass, 0, 1)));
  } else {
    for (size_t i = 0; i < e.perClass.size(); ++i) {
      out.push_back(i);
    }
  }
  return out;
}

enum class Curve { Roc, Pr };

void plotCurves(QCustomPlot* plot, const std::vector<RocSeries>& series, Curve kind) {
  resetPlot(plot);
  const bool roc = kind == Curve::Roc;
  if (roc) {
    setUnitAxes(plot, QObject::tr("1 − specificity (false-positive rate)"), QObject::tr("sensitivity (true-positive rate)"));
    addCurve(plot, {0.0, 1.0}, {0.0, 1.0}, QPen(kChance, 1.2, Qt::DashLine), QObject::tr("chance"));
  } else {
    setUnitAxes(plot, QObject::tr("recall (sensitivity)"), QObject::tr("precision (PPV)"));
    plot->axisRect()->insetLayout()->setInsetAlignment(0, Qt::AlignBottom | Qt::AlignLeft);
  }
  bool perClass = false;
  for (const auto& s : series) {
    perClass = perClass || (s.evaluation && s.evaluation->perClass.size() > 2);
  }
  bool baselineDrawn = false;
  for (size_t si = 0; si < series.size(); ++si) {
    const RocSeries& s = series[si];
    if (!s.evaluation) {
      continue;
    }
    const ampbench::Evaluation& e = *s.evaluation;
    const bool twoClass = e.perClass.size() == 2;
    for (size_t c : curveClasses(e)) {
      const auto& ce = e.perClass[c];
      QVector<double> x, y;
      if (roc) {
        for (const auto& p : ce.roc) {
          x << p.fpr;
          y << p.tpr;
        }
      } else {
        for (const auto& p : ce.pr) {
          x << p.recall;
          y << p.precision;
        }
      }
      QString name = curveLegend(e, c, roc ? QStringLiteral("AUC") : QStringLiteral("AP"));
      if (!twoClass) {
        name = QStringLiteral("%1 · %2").arg(QString::fromStdString(ce.name), name);
      }
      const bool defined = roc ? ce.auc.defined() : ce.averagePrecision.defined();
      // An undefined curve keeps its legend entry (the reason), without a line.
      addCurve(plot, defined ? x : QVector<double>{}, defined ? y : QVector<double>{}, seriesPen(s, si, c, perClass),
               prefixed(s.label, name));
      if (!roc && twoClass && !baselineDrawn && e.count - e.nonFinite > 0 && ce.support > 0) {
        const double prevalence = static_cast<double>(ce.support) / static_cast<double>(e.count - e.nonFinite);
        addCurve(plot, {0.0, 1.0}, {prevalence, prevalence}, QPen(kChance, 1.2, Qt::DashLine),
                 QObject::tr("no skill (prevalence %1)").arg(QString::number(prevalence, 'f', 2)));
        baselineDrawn = true;
      }
      if (twoClass) {
        const double px = roc ? 1.0 - ce.specificity.value : ce.sensitivity.value;
        const double py = roc ? ce.sensitivity.value : ce.precision.value;
        addOperatingPoint(plot, px, py, seriesPen(s, si, c, false).color(),
                          prefixed(s.label, QObject::tr("threshold %1").arg(formatThreshold(e.threshold))));
      }
    }
  }
}

}  // namespace

QCPColorGradient confusionGradient() {
  // cividis (Nuñez, Anderton & Renslow 2018): uniform in lightness, the same to readers
  // with red-green colour blindness, and ordered in grey print.
  QCPColorGradient g;
  g.clearColorStops();
  const QColor stops[] = {QColor(0, 34, 78),     QColor(18, 53, 112),  QColor(59, 73, 108),
                          QColor(87, 93, 109),   QColor(112, 113, 115), QColor(138, 134, 120),
                          QColor(165, 156, 116), QColor(195, 179, 105), QColor(254, 232, 56)};
  constexpr int n = static_cast<int>(sizeof(stops) / sizeof(stops[0]));
  for (int i = 0; i < n; ++i) {
    g.setColorStopAt(static_cast<double>(i) / (n - 1), stops[i]);
  }
  g.setColorInterpolation(QCPColorGradient::ciRGB);
  g.setNanHandling(QCPColorGradient::nhNanColor);
  g.setNanColor(kAbsentRow);
  g.setLevelCount(256);
  return g;
}

QColor cellTextColour(double v) {
  const QColor c = std::isfinite(v) ? QColor(confusionGradient().color(std::clamp(v, 0.0, 1.0), QCPRange(0.0, 1.0)))
                                    : kAbsentRow;
  // Relative luminance (sRGB, linearised); black on light cells, white on dark ones.
  auto lin = [](double u) { return u <= 0.03928 ? u / 12.92 : std::pow((u + 0.055) / 1.055, 2.4); };
  const double l = 0.2126 * lin(c.redF()) + 0.7152 * lin(c.greenF()) + 0.0722 * lin(c.blueF());
  return l > 0.18 ? QColor(Qt::black) : QColor(Qt::white);
}

void plotConfusionMatrix(QCustomPlot* plot, const ampbench::Evaluation& e, bool colourScale) {
  resetPlot(plot);
  const int n = static_cast<int>(e.classes.size());
  if (n == 0) {
    plot->replot(QCustomPlot::rpQueuedReplot);
    return;
  }
  auto* map = new QCPColorMap(plot->xAxis, plot->yAxis);
  map->data()->setSize(n, n);
  map->data()->setRange(QCPRange(0, n - 1), QCPRange(0, n - 1));
  map->setInterpolate(false);
  map->setTightBoundary(false);
  map->setGradient(confusionGradient());
  map->setDataRange(QCPRange(0.0, 1.0));
  const QFont cellFont = scaledFont(plot->font(), n <= 3 ? 1.1 : n <= 6 ? 0.95 : 0.8, true);
  for (int t = 0; t < n; ++t) {
    for (int p = 0; p < n; ++p) {
      const double share = rowShare(e, static_cast<size_t>(t), static_cast<size_t>(p));
      map->data()->setCell(p, t, share);
      auto* text = new QCPItemText(plot);
      text->position->setType(QCPItemPosition::ptPlotCoords);
      text->position->setCoords(p, t);
      text->setPositionAlignment(Qt::AlignCenter);
      text->setTextAlignment(Qt::AlignCenter);
      text->setText(confusionCellText(e, static_cast<size_t>(t), static_cast<size_t>(p)));
      text->setFont(cellFont);
      text->setColor(cellTextColour(share));
      text->setClipToAxisRect(true);
    }
  }
  for (QCPAxis* axis : {plot->xAxis, plot->yAxis}) {
    axis->setTicker(classTicker(e.classes));
    axis->setRange(-0.5, n - 0.5);
    axis->grid()->setVisible(false);
    axis->setSubTicks(false);
    axis->setTickLength(0, 0);
  }
  plot->xAxis->setLabel(QObject::tr("predicted class"));
  plot->yAxis->setLabel(QObject::tr("true class"));
  plot->yAxis->setRangeReversed(true);  // the first class on top, as a table reads
  if (!colourScale) {
    plot->replot(QCustomPlot::rpQueuedReplot);
    return;
  }

  // The colour scale beside the axes (same row as the axis rect, wherever the caller put it).
  int row = 0, column = 0;
  auto* grid = plot->plotLayout();
  for (int i = 0; i < grid->elementCount(); ++i) {
    if (grid->elementAt(i) == plot->axisRect()) {
      grid->indexToRowCol(i, row, column);
    }
  }
  auto* scale = new QCPColorScale(plot);
  if (grid->hasElement(row, column + 1)) {
    grid->insertColumn(column + 1);
  }
  grid->addElement(row, column + 1, scale);
  grid->setColumnStretchFactor(column + 1, 0.01);  // the scale keeps its own width, the matrix takes the rest
  scale->setType(QCPAxis::atRight);
  scale->setGradient(confusionGradient());
  scale->setDataRange(QCPRange(0.0, 1.0));
  scale->setBarWidth(12);
  scale->setLabel(QObject::tr("share of the true class"));
  QSharedPointer<QCPAxisTickerFixed> ticker(new QCPAxisTickerFixed);
  ticker->setTickStep(0.25);
  scale->axis()->setTicker(ticker);
  scale->axis()->setNumberFormat(QStringLiteral("f"));
  scale->axis()->setNumberPrecision(2);
  map->setColorScale(scale);
  map->setDataRange(QCPRange(0.0, 1.0));
  // One margin group per plot, reused by later calls (the plot owns it).
  auto* group = plot->findChild<QCPMarginGroup*>(QStringLiteral("confusionMargins"));
  if (!group) {
    group = new QCPMarginGroup(plot);
    group->setObjectName(QStringLiteral("confusionMargins"));
  }
  plot->axisRect()->setMarginGroup(QCP::msBottom | QCP::msTop, group);
  scale->setMarginGroup(QCP::msBottom | QCP::msTop, group);
  plot->replot(QCustomPlot::rpQueuedReplot);
}

void plotRoc(QCustomPlot* plot, const std::vector<RocSeries>& series) {
  plotCurves(plot, series, Curve::Roc);
  plot->replot(QCustomPlot::rpQueuedReplot);
}

void plotPrecisionRecall(QCustomPlot* plot, const std::vector<RocSeries>& series) {
  plotCurves(plot, series, Curve::Pr);
  plot->replot(QCustomPlot::rpQueuedReplot);
}

}  // namespace ampbench::ui
