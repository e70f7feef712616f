#include "ui/PlotsPanel.h"

#include "ui/Format.h"
#include "ui/PlotView.h"
#include "ui/RunFiles.h"
#include "ui/Tooltips.h"

#include <QGridLayout>
#include <QLabel>
#include <QVBoxLayout>

#include <algorithm>
#include <cmath>
#include <limits>

namespace ampbench::ui {
namespace {

const QColor kBlue(31, 119, 180);
const QColor kLightBlue(31, 119, 180, 90);
const QColor kOrange(230, 120, 20);
const QColor kGreen(44, 160, 44);
const QColor kRed(214, 39, 40);
const QColor kPurple(148, 103, 189);
const QColor kGrey(120, 120, 120);

// Loss-scale ticks read as powers of two: 2^0, 2^8, 2^16...
class Log2Ticker : public QCPAxisTickerLog {
 public:
  Log2Ticker() {
    setLogBase(2.0);
    setSubTickCount(0);
    setTickCount(6);
  }

 protected:
  QString getTickLabel(double tick, const QLocale&, QChar, int) override { return formatScale(tick); }
};

QCPGraph* addLine(PlotView* plot, const QString& name, const QColor& color, double width = 1.6,
                  QCPScatterStyle::ScatterShape marker = QCPScatterStyle::ssNone, QCPAxis* valueAxis = nullptr) {
  QCPGraph* g = plot->addGraph(plot->xAxis, valueAxis ? valueAxis : plot->yAxis);
  g->setName(name);
  g->setPen(QPen(color, width));
  if (marker != QCPScatterStyle::ssNone) {
    g->setScatterStyle(QCPScatterStyle(marker, color, Qt::white, 6));
  }
  return g;
}

QCPGraph* addMarkers(PlotView* plot, const QString& name, const QColor& color, QCPScatterStyle::ScatterShape shape) {
  QCPGraph* g = plot->addGraph();
  g->setName(name);
  g->setLineStyle(QCPGraph::lsNone);
  g->setScatterStyle(QCPScatterStyle(shape, color, color, 7));
  return g;
}

}  // namespace

PlotsPanel::PlotsPanel(QWidget* parent) : QWidget(parent) {
  auto* layout = new QVBoxLayout(this);
  layout->setContentsMargins(0, 0, 0, 0);
  caption_ = new QLabel(tr("No run yet: choose a dataset on the left and press Train."), this);
  caption_->setObjectName(QStringLiteral("plotsCaption"));
  caption_->setWordWrap(true);
  layout->addWidget(caption_);
  auto* grid = new QGridLayout;
  grid->setSpacing(4);
  layout->addLayout(grid, 1);

  // (1) Loss
  loss_ = new PlotView(tr("Loss"), this);
  loss_->xAxis->setLabel(tr("training step"));
  loss_->yAxis->setLabel(tr("cross-entropy loss"));
  loss_->setHeadroom(0.25);
  stepLossGraph_ = addLine(loss_, tr("train (per step)"), kLightBlue, 1.0);
  stepLossGraph_->setAdaptiveSampling(true);
  epochLossGraph_ = addLine(loss_, tr("train (epoch mean)"), kBlue, 2.0, QCPScatterStyle::ssCircle);
  valLossGraph_ = addLine(loss_, tr("validation"), kOrange, 2.0, QCPScatterStyle::ssDiamond);
  grid->addWidget(loss_, 0, 0);

  // (2) Accuracy and AUC
  accuracy_ = new PlotView(tr("Accuracy and AUC"), this);
  accuracy_->xAxis->setLabel(tr("epoch"));
  accuracy_->yAxis->setLabel(tr("accuracy (%)"));
  accuracy_->yAxis2->setVisible(true);
  accuracy_->yAxis2->setLabel(tr("ROC AUC"));
  accuracy_->setFixedRange(accuracy_->yAxis, QCPRange(0, 100));
  accuracy_->setFixedRange(accuracy_->yAxis2, QCPRange(0, 1));
  accuracy_->yAxis->setRange(0, 100);
  accuracy_->yAxis2->setRange(0, 1);
  accuracy_->setKeyPadding(0.3);
  accuracy_->axisRect()->insetLayout()->setInsetAlignment(0, Qt::AlignBottom | Qt::AlignRight);
  trainAccGraph_ = addLine(accuracy_, tr("train accuracy"), kBlue, 2.0, QCPScatterStyle::ssCircle);
  valAccGraph_ = addLine(accuracy_, tr("validation accuracy"), kOrange, 2.0, QCPScatterStyle::ssDiamond);
  valAucGraph_ = addLine(accuracy_, tr("validation AUC (right)"), kGreen, 2.0, QCPScatterStyle::ssSquare,
                         accuracy_->yAxis2);
  valAucGraph_->setPen(QPen(kGreen, 2.0, Qt::DashLine));
  grid->addWidget(accuracy_, 0, 1);

  // (3) Time per epoch and throughput
  time_ = new PlotView(tr("Time per epoch and throughput"), this);
  time_->xAxis->setLabel(tr("epoch"));
  time_->yAxis->setLabel(tr("epoch time (s)"));
  time_->yAxis2->setVisible(true);
  time_->yAxis2->setLabel(tr("throughput (images/s)"));
  time_->setIncludeZero(time_->yAxis);
  time_->setIncludeZero(time_->yAxis2);
  time_->setHeadroom(0.45);
  time_->setKeyPadding(0.3);
  epochTimeBars_ = new QCPBars(time_->xAxis, time_->yAxis);
  epochTimeBars_->setName(tr("epoch time"));
  epochTimeBars_->setWidth(0.6);
  epochTimeBars_->setPen(QPen(kGrey.darker()));
  epochTimeBars_->setBrush(QColor(170, 190, 215));
  epochRateGraph_ = addLine(time_, tr("images/s (epoch)"), kRed, 2.0, QCPScatterStyle::ssCircle, time_->yAxis2);
  liveRateGraph_ = addLine(time_, tr("images/s (running)"), QColor(214, 39, 40, 110), 1.0,
                           QCPScatterStyle::ssNone, time_->yAxis2);
  // No adaptive sampling: QCustomPlot's sampler keeps each pixel's min and max and drops the
  // NaN points that break the line between epochs. The buffer holds at most a few thousand points.
  liveRateGraph_->setAdaptiveSampling(false);
  QSharedPointer<QCPAxisTickerFixed> epochTicker(new QCPAxisTickerFixed);
  epochTicker->setTickStep(1.0);
  epochTicker->setScaleStrategy(QCPAxisTickerFixed::ssMultiples);
  time_->xAxis->setTicker(epochTicker);
  accuracy_->xAxis->setTicker(epochTicker);
  grid->addWidget(time_, 1, 0);

  // (4) Loss scale, log2
  scale_ = new PlotView(tr("Loss scale"), this);
  scale_->xAxis->setLabel(tr("training step"));
  scale_->yAxis->setLabel(tr("loss scale (log2 axis)"));
  scale_->yAxis->setScaleType(QCPAxis::stLogarithmic);
  scale_->yAxis->setTicker(QSharedPointer<QCPAxisTicker>(new Log2Ticker));
  scale_->yAxis->setRange(0.5, 131072);
  scaleGraph_ = addLine(scale_, tr("loss scale"), kPurple, 2.0);
  scaleGraph_->setLineStyle(QCPGraph::lsStepLeft);
  overflowGraph_ = addMarkers(scale_, tr("overflow: step skipped"), kRed, QCPScatterStyle::ssTriangleInverted);
  overflowKeptGraph_ = addMarkers(scale_, tr("overflow: step kept"), kOrange, QCPScatterStyle::ssCross);
  scaleNote_ = new QCPItemText(scale_);
  scaleNote_->position->setType(QCPItemPosition::ptAxisRectRatio);
  scaleNote_->position->setCoords(0.5, 0.5);
  scaleNote_->setPositionAlignment(Qt::AlignCenter);
  scaleNote_->setColor(kGrey);
  scaleNote_->setClipToAxisRect(true);
  scale_->setToolTip(QString::fromUtf8(tips::kLossScaling) + QStringLiteral("\n\n") + scale_->toolTip());
  grid->addWidget(scale_, 1, 1);

  for (PlotView* plot : plots()) {
    connect(plot, &QCustomPlot::afterReplot, this, [this]() { ++replots_; });
  }

  updateTimer_.setSingleShot(true);
  connect(&updateTimer_, &QTimer::timeout, this, &PlotsPanel::applyData);
  clear();
}

void PlotsPanel::clear() {
  for (SeriesBuffer* b : {&stepLoss_, &liveRate_, &lossScale_, &overflowSkipped_, &overflowKept_}) {
    b->clear();
  }
  epochs_.clear();
  epochEndStep_.clear();
  epochsDirty_ = true;
  lastStep_ = 0;
  lastEpoch_ = 0;
  stepsPerEpoch_ = 0;
  lastScale_ = 0.0;
  setScaleNote(QString());
  for (PlotView* plot : plots()) {
    plot->resetView();
  }
  scheduleUpdate();
}

void PlotsPanel::startRun(const ampbench::RunStartedEvent& event) {
  clear();
  stepsPerEpoch_ = event.stepsPerEpoch;
  const auto& p = event.precision;
  caption_->setText(tr("<b>%1</b> · %2 · %3 · %4 epochs × %5 steps · batch %6 · %7 px%8")
                        .arg(qs(p.label).toHtmlEscaped(), qs(event.config.model).toHtmlEscaped(),
                             qs(event.device).toHtmlEscaped())
                        .arg(event.config.epochs)
                        .arg(event.stepsPerEpoch)
                        .arg(event.config.batchSize)
                        .arg(event.config.imageSize)
                        .arg(p.emulated ? tr(" · <span style='color:#b35900'>FP16 emulated — numerics only, no speed-up</span>")
                                        : QString()));
  caption_->setToolTip(qs(event.runDir));
  if (!p.lossScaling) {
    setScaleNote(p.computeDtype == "bfloat16"
                     ? tr("Loss scaling is off: BF16 has FP32's exponent range")
                     : tr("Loss scaling is off in this mode"));
  }
}

void PlotsPanel::setScaleNote(const QString& text) {
  scaleNote_->setText(text);
  scaleNote_->setVisible(!text.isEmpty());
}

void PlotsPanel::addStep(const ampbench::StepEvent& e) {
  const double x = static_cast<double>(e.step);
  if (std::isfinite(e.loss)) {
    stepLoss_.append(x, e.loss);
  }
  // The engine's windowed rate (engine/train/Throughput.h), on the epoch axis: epoch e's
  // bar spans e-0.5 .. e+0.5. Validation and checkpoints are not training time, so the line
  // breaks between epochs (a NaN point) instead of joining across them.
  if (e.stepsPerEpoch > 0 && e.imagesPerSecond > 0) {
    const double start = static_cast<double>(e.epoch) - 0.5;
    if (lastEpoch_ > 0 && e.epoch != lastEpoch_ && liveRate_.size() > 0) {
      liveRate_.append(start, std::numeric_limits<double>::quiet_NaN());
    }
    liveRate_.append(start + static_cast<double>(e.stepInEpoch) / e.stepsPerEpoch, e.imagesPerSecond);
  }
  // The scale changes rarely: keep the change points; the line is extended to the last step.
  if (e.lossScale != lastScale_ || lossScale_.size() == 0) {
    lossScale_.append(x, e.lossScale);
    lastScale_ = e.lossScale;
  }
  if (e.overflow) {
    (e.skipped ? overflowSkipped_ : overflowKept_).append(x, e.lossScale);
  }
  lastStep_ = e.step;
  lastEpoch_ = e.epoch;
  if (e.stepsPerEpoch > 0) {
    stepsPerEpoch_ = e.stepsPerEpoch;
  }
  scheduleUpdate();
}

void PlotsPanel::addEpoch(const ampbench::EpochEvent& e) {
  epochs_.push_back(e);
  // The epoch's values sit at its last step on the step axis.
  double x = static_cast<double>(lastStep_);
  if (lastEpoch_ != e.epoch || lastStep_ == 0) {
    x = stepsPerEpoch_ > 0 ? static_cast<double>(e.epoch * stepsPerEpoch_) : static_cast<double>(lastStep_);
  }
  epochEndStep_.push_back(x);
  epochsDirty_ = true;
  scheduleUpdate();
}

void PlotsPanel::showHistory(const RunHistory& history, const QString& caption) {
  clear();
  caption_->setText(caption);
  caption_->setToolTip(history.runDir);
  if (history.config && history.config->precision == ampbench::PrecisionMode::Bf16 &&
      history.config->scaler.mode != ampbench::ScalingKind::On) {
    setScaleNote(tr("Loss scaling is off: BF16 has FP32's exponent range"));
  } else if (history.config && history.config->precision == ampbench::PrecisionMode::Fp32) {
    setScaleNote(tr("Loss scaling is off in this mode"));
  }
  int64_t epoch = 0;
  int64_t inEpoch = 0;
  QHash<int64_t, int64_t> lastStepOf;  // epoch -> its last step
  for (const auto& s : history.steps) {
    lastStepOf[s.epoch] = std::max(lastStepOf.value(s.epoch), s.step);
  }
  for (auto s : history.steps) {
    if (s.epoch != epoch) {
      epoch = s.epoch;
      inEpoch = 0;
    }
    ++inEpoch;
    s.stepInEpoch = inEpoch;
    addStep(s);
  }
  // Epoch values sit at the last step of their epoch.
  for (const auto& e : history.epochs) {
    epochs_.push_back(e);
    epochEndStep_.push_back(static_cast<double>(lastStepOf.value(e.epoch, e.epoch)));
  }
  epochsDirty_ = true;
  flush();
}

void PlotsPanel::scheduleUpdate() {
  if (updatePosted_) {
    return;
  }
  // Due (the first data after a pause, or the next step delivery, which comes every
  // TrainingController::kStepDeliveryMs): drawn in this wake-up of the GUI thread, after the
  // rest of the delivery's events, instead of in a timer's wake-up of its own. A tenth of an
  // interval of slack absorbs the deliveries' jitter.
  const qint64 since = sinceUpdate_.isValid() ? sinceUpdate_.elapsed() : std::numeric_limits<qint64>::max();
  if (since >= intervalMs_ - intervalMs_ / 10) {
    updateTimer_.stop();
    updatePosted_ = true;
    QMetaObject::invokeMethod(
        this,
        [this]() {
          if (updatePosted_) {  // not already done by flush()
            updatePosted_ = false;
            applyData();
          }
        },
        Qt::QueuedConnection);
  } else if (!updateTimer_.isActive()) {
    // Early data (an epoch's last step, delivered at once; an epoch event) waits for the next
    // delivery. The timer is the fallback when none comes (the run ended, steps are slow): set
    // half an interval past the due time, it does not fire while deliveries keep coming, and
    // the updates stay on the deliveries instead of drifting into a cadence of their own.
    updateTimer_.start(static_cast<int>(intervalMs_ - since + intervalMs_ / 2));
  }
}

void PlotsPanel::flush() {
  updateTimer_.stop();
  updatePosted_ = false;
  applyData();
  for (PlotView* plot : plots()) {
    plot->replot(QCustomPlot::rpImmediateRefresh);
  }
}

void PlotsPanel::resetViews() {
  for (PlotView* plot : plots()) {
    plot->resetView();
  }
}

int PlotsPanel::bufferedStepPoints() const {
  return stepLoss_.size() + liveRate_.size() + lossScale_.size() + overflowSkipped_.size() + overflowKept_.size();
}

void PlotsPanel::applyData() {
  ++updates_;
  sinceUpdate_.start();
  QList<PlotView*> changed;
  auto markChanged = [&changed](PlotView* p) {
    if (!changed.contains(p)) {
      changed << p;
    }
  };
  if (stepLoss_.takeDirty()) {
    stepLossGraph_->setData(stepLoss_.keys(), stepLoss_.values(), true);
    markChanged(loss_);
  }
  if (liveRate_.takeDirty()) {
    liveRateGraph_->setData(liveRate_.keys(), liveRate_.values(), true);
    markChanged(time_);
  }
  if (lossScale_.takeDirty() || (lossScale_.size() > 0 && scaleGraph_->dataCount() > 0 &&
                                 scaleGraph_->data()->at(scaleGraph_->dataCount() - 1)->key < lastStep_)) {
    QVector<double> keys = lossScale_.keys();
    QVector<double> values = lossScale_.values();
    if (!keys.isEmpty() && keys.back() < lastStep_) {
      keys.push_back(static_cast<double>(lastStep_));
      values.push_back(values.back());
    }
    scaleGraph_->setData(keys, values, true);
    markChanged(scale_);
  }
  if (overflowSkipped_.takeDirty()) {
    overflowGraph_->setData(overflowSkipped_.keys(), overflowSkipped_.values(), true);
    markChanged(scale_);
  }
  if (overflowKept_.takeDirty()) {
    overflowKeptGraph_->setData(overflowKept_.keys(), overflowKept_.values(), true);
    markChanged(scale_);
  }
  if (epochsDirty_) {
    epochsDirty_ = false;
    QVector<double> ex, ey, vx, vy, ax, tacc, vaccX, vacc, vauc, tsec, rate;
    for (int i = 0; i < epochs_.size(); ++i) {
      const auto& e = epochs_[i];
      const double epoch = static_cast<double>(e.epoch);
      ex << epochEndStep_[i];
      ey << e.trainLoss;
      ax << epoch;
      tacc << e.trainAccuracy * 100.0;
      tsec << e.epochSeconds;
      rate << e.imagesPerSecond;
      if (e.validated) {
        vx << epochEndStep_[i];
        vy << e.val.loss;
        vaccX << epoch;
        vacc << e.val.accuracy * 100.0;
        vauc << e.val.auc;
      }
    }
    epochLossGraph_->setData(ex, ey, true);
    valLossGraph_->setData(vx, vy, true);
    trainAccGraph_->setData(ax, tacc, true);
    valAccGraph_->setData(vaccX, vacc, true);
    valAucGraph_->setData(vaccX, vauc, true);
    epochTimeBars_->setData(ax, tsec, true);
    epochRateGraph_->setData(ax, rate, true);
    for (PlotView* p : {loss_, accuracy_, time_}) {
      markChanged(p);
    }
  }
  for (PlotView* plot : changed) {
    if (!unreplotted_.contains(plot)) {
      unreplotted_ << plot;
    }
  }
  // Hidden (another tab is in front): the data is in the plots, the drawing waits for
  // showEvent. Every replot on a two-core machine is taken from a training thread.
  if (!isVisible()) {
    return;
  }
  replotPending();
}

void PlotsPanel::replotPending() {
  // Drawn now, in this wake-up of the GUI thread (not another queued one per plot), and
  // painted together with the window's next update. The interval follows the measured cost
  // of an update (this drawing, and the painting that followed the last one).
  QElapsedTimer clock;
  clock.start();
  for (PlotView* plot : std::as_const(unreplotted_)) {
    plot->fitAndReplot(QCustomPlot::rpRefreshHint);
  }
  unreplotted_.clear();
  double costMs = static_cast<double>(clock.nsecsElapsed()) / 1e6;
  for (PlotView* plot : plots()) {
    costMs += plot->takePaintMs();
  }
  lastCostMs_ = costMs;
  intervalMs_ = std::clamp(static_cast<int>(costMs * kCostToInterval), minIntervalMs_,
                           std::max(minIntervalMs_, kMaxReplotIntervalMs));
}

void PlotsPanel::showEvent(QShowEvent* event) {
  QWidget::showEvent(event);
  if (!unreplotted_.isEmpty()) {
    replotPending();
  }
}

}  // namespace ampbench::ui
