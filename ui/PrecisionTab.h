#pragma once
// The Precision tab: what FP16 / BF16 do to this run's numbers, from the engine's
// sampled statistics (PrecisionStatsEvent) and overflow attributions.
//   (a) a chosen layer's gradient histogram on a log2 axis with FP16's ranges shaded,
//       unscaled and times the loss scale;
//   (b) per layer, in network order: the share of gradients FP16 flushes to zero,
//       unscaled and scaled, and the share of updates too small to change a weight;
//   (c) which layer overflowed first at each overflowing step, on the same step range
//       as the loss-scale plot of the live plots (setStepRange);
//   (d) a caption beside each plot naming the problem and the fix with the run's numbers.
// Without statistics the tab says how to turn them on. Events are kept and drawn by a
// single-shot timer, at most every kReplotIntervalMs.

#include "ui/PrecisionData.h"
#include "ui/QtTypes.h"

#include <QTimer>
#include <QVector>
#include <QWidget>

#include <qcustomplot.h>

class QComboBox;
class QLabel;
class QStackedWidget;

namespace ampbench::ui {

class Log2HistogramPlot;
class PlotView;
struct PrecisionHistory;

class PrecisionTab : public QWidget {
  Q_OBJECT

 public:
  static constexpr int kReplotIntervalMs = 200;

  explicit PrecisionTab(QWidget* parent = nullptr);

  // A new run: forgets the last one; the mode decides the captions' wording.
  void startRun(const ampbench::RunStartedEvent& event);
  void clear();
  void setContext(const PrecisionContext& context);
  void addStats(const ampbench::PrecisionStatsEvent& event);
  void addOverflow(const ampbench::OverflowAttribution& attribution);
  // A run reopened from disk: its latest sample and every overflow.
  void showHistory(const PrecisionHistory& history, const PrecisionContext& context);
  // Draws pending events now (tests, screenshots).
  void flush();

  bool hasStatistics() const { return hasStats_; }
  bool showsEmptyState() const;
  QString emptyStateText() const;
  const ampbench::PrecisionStatsEvent& latest() const { return latest_; }
  QComboBox* layerCombo() const { return layerCombo_; }
  Log2HistogramPlot* histogramPlot() const { return histogram_; }
  PlotView* layersPlot() const { return layers_; }
  PlotView* overflowPlot() const { return timeline_; }
  QCPBars* underflowBars() const { return underflowBars_; }
  QCPBars* underflowScaledBars() const { return underflowScaledBars_; }
  QCPBars* lostUpdateBars() const { return lostBars_; }
  QCPGraph* overflowGraph() const { return overflowGraph_; }
  QString histogramCaption() const;
  QString layersCaption() const;
  QString overflowCaption() const;

 public Q_SLOTS:
  // The overflow timeline shows this step range (the loss-scale plot's x range).
  void setStepRange(const QCPRange& range);

 private:
  void schedule();
  void apply();
  void rebuildLayerCombo();
  void drawHistogram();
  void drawLayers();
  void drawOverflows();
  double layerIndex(const QString& layer);

  QStackedWidget* stack_ = nullptr;
  QWidget* emptyPage_ = nullptr;
  QLabel* empty_ = nullptr;
  QLabel* sampleInfo_ = nullptr;
  QComboBox* layerCombo_ = nullptr;
  Log2HistogramPlot* histogram_ = nullptr;
  PlotView* layers_ = nullptr;
  PlotView* timeline_ = nullptr;
  QLabel* histogramCaption_ = nullptr;
  QLabel* layersCaption_ = nullptr;
  QLabel* overflowCaption_ = nullptr;
  QCPBars* underflowBars_ = nullptr;
  QCPBars* underflowScaledBars_ = nullptr;
  QCPBars* lostBars_ = nullptr;
  QCPGraph* overflowGraph_ = nullptr;
  QCPBarsGroup* barsGroup_ = nullptr;
  QCPItemText* noOverflow_ = nullptr;

  PrecisionContext context_;
  ampbench::PrecisionStatsEvent latest_;
  QVector<ampbench::OverflowAttribution> overflows_;
  QStringList layerOrder_;  // every layer seen, network order; the timeline's y
  bool hasStats_ = false;
  bool statsDirty_ = false;
  bool overflowsDirty_ = false;
  QTimer timer_;
};

}  // namespace ampbench::ui
