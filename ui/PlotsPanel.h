#pragma once
// The four live plots in a 2x2 grid: (1) loss per step and per epoch, (2) accuracy and
// AUC per epoch, (3) time per epoch as bars with images/s, (4) the loss scale on a log2
// axis with a marker at every overflow / skipped step.
//
// Events only append to bounded buffers (SeriesBuffer) and schedule one update: at once
// (queued behind the events being delivered) when the last was an interval ago, else on a
// single-shot timer. The update copies what changed into the plots and redraws them, unless
// the panel is hidden. The interval is at least 500 ms (<= 2 updates/s) and grows when
// updates get expensive, so drawing takes ~1 % of a core away from training (more only when
// one update costs over 10 ms: the interval stops growing at 1 s).

#include "ui/QtTypes.h"
#include "ui/SeriesBuffer.h"

#include <QElapsedTimer>
#include <QTimer>
#include <QVector>
#include <QWidget>

#include <algorithm>

class QCPBars;
class QCPGraph;
class QCPItemText;
class QLabel;

namespace ampbench::ui {

class PlotView;
struct RunHistory;

class PlotsPanel : public QWidget {
  Q_OBJECT

 public:
  // At most 2 updates per second: each one takes the GUI thread's share of a core from a
  // training step whose intra-op threads use every core (bench/gui_tax); the step events
  // arrive at the same rate (TrainingController::kStepDeliveryMs).
  static constexpr int kMinReplotIntervalMs = 500;
  static constexpr int kMaxReplotIntervalMs = 1000;
  static constexpr int kStepPointCapacity = 4000;   // per step series, then decimated

  explicit PlotsPanel(QWidget* parent = nullptr);

  // A new run: clears the plots and shows what the precision mode does.
  void startRun(const ampbench::RunStartedEvent& event);
  void clear();
  void addStep(const ampbench::StepEvent& event);
  void addEpoch(const ampbench::EpochEvent& event);
  // A run reopened from disk: the same plots, drawn from steps.csv / epochs.csv.
  void showHistory(const RunHistory& history, const QString& caption);

  // Applies pending data and replots now (tests, screenshots).
  void flush();
  void resetViews();

  PlotView* lossPlot() const { return loss_; }
  PlotView* accuracyPlot() const { return accuracy_; }
  PlotView* timePlot() const { return time_; }
  PlotView* scalePlot() const { return scale_; }
  QList<PlotView*> plots() const { return {loss_, accuracy_, time_, scale_}; }

  // Replots actually drawn (all four plots counted), and data applications.
  int replotCount() const { return replots_; }
  // The shortest interval between updates (kMinReplotIntervalMs; bench/gui_tax compares).
  void setMinReplotInterval(int ms) { minIntervalMs_ = intervalMs_ = std::max(1, ms); }
  int updateCount() const { return updates_; }
  int bufferedStepPoints() const;
  // The interval now, and the last update's measured cost (bench/gui_tax prints both).
  int updateIntervalMs() const { return intervalMs_; }
  double lastUpdateCostMs() const { return lastCostMs_; }

 protected:
  void showEvent(QShowEvent* event) override;

 private:
  // The update interval is this many times the last update's cost (drawing and painting; 100:
  // the plots take ~1 % of a core), within kMinReplotIntervalMs .. kMaxReplotIntervalMs.
  static constexpr double kCostToInterval = 100.0;

  void scheduleUpdate();
  void applyData();
  void replotPending();
  void setScaleNote(const QString& text);

  PlotView* loss_ = nullptr;
  PlotView* accuracy_ = nullptr;
  PlotView* time_ = nullptr;
  PlotView* scale_ = nullptr;
  QLabel* caption_ = nullptr;

  QCPGraph* stepLossGraph_ = nullptr;
  QCPGraph* epochLossGraph_ = nullptr;
  QCPGraph* valLossGraph_ = nullptr;
  QCPGraph* trainAccGraph_ = nullptr;
  QCPGraph* valAccGraph_ = nullptr;
  QCPGraph* valAucGraph_ = nullptr;
  QCPBars* epochTimeBars_ = nullptr;
  QCPGraph* epochRateGraph_ = nullptr;
  QCPGraph* liveRateGraph_ = nullptr;
  QCPGraph* scaleGraph_ = nullptr;
  QCPGraph* overflowGraph_ = nullptr;
  QCPGraph* overflowKeptGraph_ = nullptr;
  QCPItemText* scaleNote_ = nullptr;

  SeriesBuffer stepLoss_{kStepPointCapacity, SeriesBuffer::Decimation::Average};
  SeriesBuffer liveRate_{kStepPointCapacity, SeriesBuffer::Decimation::Keep};
  SeriesBuffer lossScale_{kStepPointCapacity, SeriesBuffer::Decimation::Keep};
  SeriesBuffer overflowSkipped_{kStepPointCapacity, SeriesBuffer::Decimation::Keep};
  SeriesBuffer overflowKept_{kStepPointCapacity, SeriesBuffer::Decimation::Keep};
  QVector<ampbench::EpochEvent> epochs_;
  QVector<double> epochEndStep_;  // x of each epoch on the step axis
  bool epochsDirty_ = false;
  int64_t lastStep_ = 0;
  int64_t lastEpoch_ = 0;
  int64_t stepsPerEpoch_ = 0;
  double lastScale_ = 0.0;

  QTimer updateTimer_;
  QElapsedTimer sinceUpdate_;  // since the last applyData
  bool updatePosted_ = false;  // an applyData queued for this wake-up
  int minIntervalMs_ = kMinReplotIntervalMs;
  int intervalMs_ = kMinReplotIntervalMs;
  int replots_ = 0;
  int updates_ = 0;
  double lastCostMs_ = 0.0;
  QList<PlotView*> unreplotted_;  // data changed, not drawn yet (hidden, or this update)
};

}  // namespace ampbench::ui
