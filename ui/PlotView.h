#pragma once
// A QCustomPlot with what every AmpBench plot needs: mouse zoom/pan, "Reset view"
// (also double-click), automatic fitting until the user zooms or pans, and saving as
// PNG, SVG or PDF from the context menu.

#include <qcustomplot.h>

#include <QHash>
#include <QString>

namespace ampbench::ui {

class PlotView : public QCustomPlot {
  Q_OBJECT

 public:
  explicit PlotView(const QString& title, QWidget* parent = nullptr);

  // Keeps a value axis at this range when fitting (e.g. 0..100 %).
  void setFixedRange(QCPAxis* axis, const QCPRange& range) { fixed_.insert(axis, range); }
  // Fitting keeps 0 on this value axis (times, rates: no exaggerated noise).
  void setIncludeZero(QCPAxis* axis) { includeZero_ << axis; }
  // Extra room above the data, as a fraction of the range, so the legend does not hide it.
  void setHeadroom(double fraction) { headroom_ = fraction; }
  // Room on both sides of the key axis in key units (0.5 for epoch axes).
  void setKeyPadding(double padding) { keyPadding_ = padding; }
  // True after the user zoomed or panned; new data then leaves the view alone.
  bool userControlsView() const { return userView_; }

  // Fits the axes to the data (unless the user controls the view), then replots: queued by
  // default, or now (rpRefreshHint: drawn into the buffers now, painted with the window's next
  // update) when the caller already runs on a timer.
  void fitAndReplot(QCustomPlot::RefreshPriority priority = QCustomPlot::rpQueuedReplot);
  // Moves the legend out of the axes to a row under them, `columns` entries wide: with many
  // curves (a comparison of four modes) a legend inside the axes hides the data.
  void placeLegendBelow(int columns);
  // Forgets the user's zoom/pan and fits the data.
  void resetView();

  // Saves by suffix: .png (2x for crisp text), .svg, .pdf. Returns false on failure.
  bool saveTo(const QString& path);
  QString title() const { return title_; }
  // Milliseconds spent painting the buffers onto the widget since the last call (the paint that
  // follows a replot; QCustomPlot's replotTime() covers only the drawing into the buffers).
  double takePaintMs() {
    const double ms = paintMs_;
    paintMs_ = 0.0;
    return ms;
  }

 protected:
  void paintEvent(QPaintEvent* event) override;
  void mousePressEvent(QMouseEvent* event) override;
  void wheelEvent(QWheelEvent* event) override;
  void mouseDoubleClickEvent(QMouseEvent* event) override;
  void contextMenuEvent(QContextMenuEvent* event) override;

 private:
  void fitAxes();
  void saveWithDialog();

  QString title_;
  QHash<QCPAxis*, QCPRange> fixed_;
  QList<QCPAxis*> includeZero_;
  double headroom_ = 0.08;
  double keyPadding_ = 0.0;
  bool userView_ = false;
  double paintMs_ = 0.0;
  QCPLayoutGrid* legendBelow_ = nullptr;
};

}  // namespace ampbench::ui
