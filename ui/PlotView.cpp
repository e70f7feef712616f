#include "ui/PlotView.h"

#include <QContextMenuEvent>
#include <QElapsedTimer>
#include <QFileDialog>
#include <QFileInfo>
#include <QMenu>
#include <QMessageBox>
#include <QSvgGenerator>

#include <cmath>

namespace ampbench::ui {

PlotView::PlotView(const QString& title, QWidget* parent) : QCustomPlot(parent), title_(title) {
  setObjectName(title);
  setInteractions(QCP::iRangeDrag | QCP::iRangeZoom);
  setNoAntialiasingOnDrag(true);
  // A replot draws into the plot's buffers and asks for a paint (update) instead of painting
  // at once (QCustomPlot's default): the live panel's plots then share one paint pass per
  // update of the window, not one each (bench/gui_tax).
  setPlottingHint(QCP::phImmediateRefresh, false);
  // One paint buffer instead of two: the "overlay" layer holds selection rectangles, which these
  // plots (pan and zoom only) never draw, and its own buffer cost a full-size clear and a
  // composite on every replot.
  if (QCPLayer* overlay = layer(QStringLiteral("overlay"))) {
    overlay->setMode(QCPLayer::lmLogical);
  }
  setMinimumSize(260, 180);
  plotLayout()->insertRow(0);
  auto* heading = new QCPTextElement(this, title, QFont(font().family(), font().pointSize() + 1, QFont::Bold));
  plotLayout()->addElement(0, 0, heading);
  legend->setVisible(true);
  legend->setBrush(QBrush(QColor(255, 255, 255, 210)));
  legend->setFont(QFont(font().family(), font().pointSize() - 1));
  legend->setRowSpacing(-3);
  axisRect()->insetLayout()->setInsetAlignment(0, Qt::AlignTop | Qt::AlignRight);
  setToolTip(tr("Drag to pan, wheel to zoom, double-click to reset the view; right-click to save."));
}

void PlotView::placeLegendBelow(int columns) {
  if (legendBelow_) {
    return;
  }
  legendBelow_ = new QCPLayoutGrid;
  plotLayout()->addElement(plotLayout()->rowCount(), 0, legendBelow_);
  legendBelow_->setMargins(QMargins(6, 0, 6, 4));
  legendBelow_->addElement(0, 0, legend);  // takes it out of the axis rect's inset layout
  legend->setFillOrder(QCPLayoutGrid::foColumnsFirst);
  legend->setWrap(columns);
  legend->setBorderPen(Qt::NoPen);
  plotLayout()->setRowStretchFactor(plotLayout()->rowCount() - 1, 0.001);
}

void PlotView::paintEvent(QPaintEvent* event) {
  QElapsedTimer clock;
  clock.start();
  QCustomPlot::paintEvent(event);
  paintMs_ += static_cast<double>(clock.nsecsElapsed()) / 1e6;
}

void PlotView::fitAndReplot(QCustomPlot::RefreshPriority priority) {
  if (!userView_) {
    fitAxes();
  }
  replot(priority);
}

void PlotView::resetView() {
  userView_ = false;
  fitAxes();
  replot(QCustomPlot::rpQueuedReplot);
}

void PlotView::fitAxes() {
  // The union of the data ranges on each axis, computed afresh every time (QCustomPlot's
  // rescaleAxes(onlyEnlarge) would keep growing an axis that two plottables share).
  QHash<QCPAxis*, QCPRange> ranges;
  auto unite = [&ranges](QCPAxis* axis, const QCPRange& r) {
    auto it = ranges.find(axis);
    if (it == ranges.end()) {
      ranges.insert(axis, r);
    } else {
      it->expand(r);
    }
  };
  for (int i = 0; i < plottableCount(); ++i) {
    QCPAbstractPlottable* p = plottable(i);
    if (!p->visible()) {
      continue;
    }
    const auto sign = [](QCPAxis* axis) {
      return axis->scaleType() == QCPAxis::stLogarithmic ? QCP::sdPositive : QCP::sdBoth;
    };
    bool keysFound = false;
    bool valuesFound = false;
    const QCPRange keys = p->getKeyRange(keysFound, sign(p->keyAxis()));
    const QCPRange values = p->getValueRange(valuesFound, sign(p->valueAxis()));
    if (keysFound && valuesFound) {
      unite(p->keyAxis(), keys);
      unite(p->valueAxis(), values);
    }
  }
  if (ranges.isEmpty()) {
    return;
  }
  // A little air around the data, and never a zero-width range.
  for (QCPAxis* axis : {xAxis, yAxis, yAxis2}) {
    if (!ranges.contains(axis)) {
      continue;
    }
    QCPRange r = ranges.value(axis);
    if (axis->scaleType() == QCPAxis::stLogarithmic) {
      // At least 2^4 either side of the data, so a flat line sits in a readable range.
      const double lower = r.lower > 0 ? r.lower : 1.0;
      const double upper = std::max(r.upper, lower);
      axis->setRange(lower / (upper / lower < 256 ? 16.0 : 2.0), upper * (upper / lower < 256 ? 16.0 : 2.0));
      continue;
    }
    if (axis == xAxis) {
      if (r.size() <= 0 && keyPadding_ <= 0) {
        axis->setRange(r.lower - 0.5, r.upper + 0.5);
      } else {
        axis->setRange(r.lower - keyPadding_, r.upper + keyPadding_);
      }
      continue;
    }
    if (includeZero_.contains(axis)) {
      r.expand(0.0);
    }
    if (r.size() <= 0) {
      const double pad = std::max(std::abs(r.center()) * 0.1, 0.5);
      r = QCPRange(r.lower - pad, r.upper + pad);
    } else {
      // Values that are all >= 0 keep 0 as the floor (losses, seconds, images/s).
      const double lower = r.lower >= 0 ? std::max(0.0, r.lower - r.size() * 0.05) : r.lower - r.size() * 0.05;
      r = QCPRange(lower, r.upper + r.size() * headroom_);
    }
    axis->setRange(r);
  }
  for (auto it = fixed_.cbegin(); it != fixed_.cend(); ++it) {
    it.key()->setRange(it.value());
  }
}

void PlotView::mousePressEvent(QMouseEvent* event) {
  if (event->button() == Qt::LeftButton) {
    userView_ = true;
  }
  QCustomPlot::mousePressEvent(event);
}

void PlotView::wheelEvent(QWheelEvent* event) {
  userView_ = true;
  QCustomPlot::wheelEvent(event);
}

void PlotView::mouseDoubleClickEvent(QMouseEvent* event) {
  resetView();
  QCustomPlot::mouseDoubleClickEvent(event);
}

void PlotView::contextMenuEvent(QContextMenuEvent* event) {
  QMenu menu(this);
  menu.addAction(tr("Reset view"), this, &PlotView::resetView);
  menu.addAction(tr("Save plot as PNG, SVG or PDF…"), this, &PlotView::saveWithDialog);
  menu.exec(event->globalPos());
}

void PlotView::saveWithDialog() {
  QString name = title_.toLower();
  name.replace(QRegularExpression(QStringLiteral("[^a-z0-9]+")), QStringLiteral("-"));
  const QString path = QFileDialog::getSaveFileName(this, tr("Save plot"), name + QStringLiteral(".png"),
                                                    tr("PNG image (*.png);;SVG drawing (*.svg);;PDF document (*.pdf)"));
  if (path.isEmpty()) {
    return;
  }
  if (!saveTo(path)) {
    QMessageBox::warning(this, tr("Save plot"),
                         tr("Could not write %1. Choose a folder you can write to and a name ending in "
                            ".png, .svg or .pdf.").arg(path));
  }
}

bool PlotView::saveTo(const QString& path) {
  const QString suffix = QFileInfo(path).suffix().toLower();
  if (suffix == QLatin1String("png")) {
    return savePng(path, width(), height(), 2.0);
  }
  if (suffix == QLatin1String("pdf")) {
    return savePdf(path, width(), height());
  }
  if (suffix == QLatin1String("svg")) {
    QSvgGenerator generator;
    generator.setFileName(path);
    generator.setSize(size());
    generator.setViewBox(rect());
    generator.setTitle(title_);
    QCPPainter painter;
    if (!painter.begin(&generator)) {
      return false;
    }
    toPainter(&painter, width(), height());
    painter.end();
    return QFileInfo(path).size() > 0;
  }
  return false;
}

}  // namespace ampbench::ui
