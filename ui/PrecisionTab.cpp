#include "ui/PrecisionTab.h"

#include "ui/Format.h"
#include "ui/Log2HistogramPlot.h"
#include "ui/PlotView.h"
#include "ui/RunFiles.h"

#include <QComboBox>
#include <QGridLayout>
#include <QHBoxLayout>
#include <QLabel>
#include <QStackedWidget>
#include <QVBoxLayout>

#include <algorithm>
#include <cmath>

namespace ampbench::ui {
namespace {

// Okabe-Ito, as the histogram's shading.
const QColor kVermillion(0xD5, 0x5E, 0x00);
const QColor kBlue(0x00, 0x72, 0xB2);
const QColor kReddishPurple(0xCC, 0x79, 0xA7);
const QColor kOverflowRed(214, 39, 40);  // the live loss-scale plot's overflow marker
constexpr int kMaxLayerLabels = 32;      // more layers: label every n-th bar

QLabel* makeCaption(QWidget* parent) {
  auto* label = new QLabel(parent);
  label->setWordWrap(true);
  label->setAlignment(Qt::AlignLeft | Qt::AlignTop);
  label->setTextInteractionFlags(Qt::TextSelectableByMouse);
  label->setFixedWidth(260);
  label->setMargin(6);
  label->setStyleSheet(QStringLiteral("QLabel { background: #f7f7f2; border: 1px solid #deded5; }"));
  return label;
}

QCPBars* addBars(PlotView* plot, QCPBarsGroup* group, const QString& name, const QColor& color) {
  auto* bars = new QCPBars(plot->xAxis, plot->yAxis);
  bars->setName(name);
  bars->setWidth(0.28);
  bars->setPen(QPen(color.darker(120)));
  bars->setBrush(color);
  bars->setBarsGroup(group);
  return bars;
}

}  // namespace

PrecisionTab::PrecisionTab(QWidget* parent) : QWidget(parent) {
  auto* root = new QVBoxLayout(this);
  root->setContentsMargins(0, 0, 0, 0);
  stack_ = new QStackedWidget(this);
  root->addWidget(stack_);

  // The empty state: a readable column of text in the middle of the tab.
  emptyPage_ = new QWidget(stack_);
  auto* emptyLayout = new QHBoxLayout(emptyPage_);
  empty_ = new QLabel(captions::noStatistics(), emptyPage_);
  empty_->setObjectName(QStringLiteral("precisionEmpty"));
  empty_->setWordWrap(true);
  empty_->setMaximumWidth(560);
  emptyLayout->addWidget(empty_, 0, Qt::AlignCenter);
  stack_->addWidget(emptyPage_);

  auto* content = new QWidget(stack_);
  auto* layout = new QVBoxLayout(content);
  layout->setContentsMargins(0, 0, 0, 0);
  auto* top = new QHBoxLayout;
  top->addWidget(new QLabel(tr("Histogram of:"), content));
  layerCombo_ = new QComboBox(content);
  layerCombo_->setObjectName(QStringLiteral("precisionLayer"));
  layerCombo_->setSizeAdjustPolicy(QComboBox::AdjustToContents);
  layerCombo_->setToolTip(tr("The layer whose gradients the histogram shows, or all layers' weight gradients together."));
  top->addWidget(layerCombo_);
  sampleInfo_ = new QLabel(content);
  top->addWidget(sampleInfo_, 1);
  layout->addLayout(top);

  auto* grid = new QGridLayout;
  grid->setSpacing(4);
  histogram_ = new Log2HistogramPlot(content);
  histogramCaption_ = makeCaption(content);
  grid->addWidget(histogram_, 0, 0);
  grid->addWidget(histogramCaption_, 0, 1);

  layers_ = new PlotView(tr("Per layer, in network order"), content);
  layers_->yAxis->setLabel(tr("share (%)"));
  layers_->setIncludeZero(layers_->yAxis);
  layers_->setHeadroom(0.35);
  layers_->setKeyPadding(0.7);
  layers_->xAxis->setTickLabelRotation(50);
  layers_->xAxis->setTickLabelFont(QFont(font().family(), std::max(6, font().pointSize() - 2)));
  layers_->xAxis->setTicker(QSharedPointer<QCPAxisTicker>(new QCPAxisTickerText));
  barsGroup_ = new QCPBarsGroup(layers_);
  barsGroup_->setSpacing(1);
  underflowBars_ = addBars(layers_, barsGroup_, tr("zero in FP16"), kVermillion);
  underflowScaledBars_ = addBars(layers_, barsGroup_, tr("… with the loss scale"), kBlue);
  lostBars_ = addBars(layers_, barsGroup_, tr("updates lost to rounding"), kReddishPurple);
  // The legend under the axes: the tallest bars are often the last layers, top right.
  layers_->axisRect()->insetLayout()->take(layers_->legend);
  layers_->plotLayout()->addElement(2, 0, layers_->legend);
  layers_->plotLayout()->setRowStretchFactor(2, 0.001);
  layers_->legend->setFillOrder(QCPLayoutGrid::foColumnsFirst);
  layers_->legend->setWrap(3);
  layers_->legend->setBorderPen(Qt::NoPen);
  layersCaption_ = makeCaption(content);
  grid->addWidget(layers_, 1, 0);
  grid->addWidget(layersCaption_, 1, 1);

  timeline_ = new PlotView(tr("Which layer overflowed first"), content);
  timeline_->xAxis->setLabel(tr("training step (same range as the loss-scale plot) · ▼ first inf/NaN of the step"));
  timeline_->legend->setVisible(false);  // one series: the axis label says what a marker is
  timeline_->yAxis->setTicker(QSharedPointer<QCPAxisTicker>(new QCPAxisTickerText));
  timeline_->yAxis->grid()->setVisible(true);
  overflowGraph_ = timeline_->addGraph();
  overflowGraph_->setName(tr("first inf/NaN of a skipped step"));
  overflowGraph_->setLineStyle(QCPGraph::lsNone);
  overflowGraph_->setScatterStyle(QCPScatterStyle(QCPScatterStyle::ssTriangleInverted, kOverflowRed, kOverflowRed, 8));
  noOverflow_ = new QCPItemText(timeline_);
  noOverflow_->position->setType(QCPItemPosition::ptAxisRectRatio);
  noOverflow_->position->setCoords(0.5, 0.5);
  noOverflow_->setText(tr("no overflow so far"));
  noOverflow_->setColor(QColor(120, 120, 120));
  overflowCaption_ = makeCaption(content);
  grid->addWidget(timeline_, 2, 0);
  grid->addWidget(overflowCaption_, 2, 1);
  grid->setRowStretch(0, 5);
  grid->setRowStretch(1, 5);
  grid->setRowStretch(2, 3);
  grid->setColumnStretch(0, 1);
  layout->addLayout(grid, 1);
  stack_->addWidget(content);

  connect(layerCombo_, &QComboBox::currentIndexChanged, this, [this]() {
    drawHistogram();
    histogram_->replot(QCustomPlot::rpQueuedReplot);
  });
  timer_.setSingleShot(true);
  connect(&timer_, &QTimer::timeout, this, &PrecisionTab::apply);
  clear();
}

void PrecisionTab::clear() {
  latest_ = ampbench::PrecisionStatsEvent{};
  overflows_.clear();
  layerOrder_.clear();
  hasStats_ = false;
  statsDirty_ = true;
  overflowsDirty_ = true;
  layerCombo_->blockSignals(true);
  layerCombo_->clear();
  layerCombo_->blockSignals(false);
  histogram_->clearData();
  apply();
}

void PrecisionTab::setContext(const PrecisionContext& context) {
  context_ = context;
  statsDirty_ = overflowsDirty_ = true;
  schedule();
}

void PrecisionTab::startRun(const ampbench::RunStartedEvent& event) {
  clear();
  setContext(contextFor(event.precision));
}

void PrecisionTab::addStats(const ampbench::PrecisionStatsEvent& event) {
  if (event.tensors.empty()) {
    return;  // nothing measured: keep the last sample (or the empty state)
  }
  latest_ = event;  // live: the latest sampled step
  hasStats_ = true;
  for (const auto& t : event.tensors) {
    if (!layerOrder_.contains(qs(t.layer))) {
      layerOrder_ << qs(t.layer);
    }
  }
  statsDirty_ = overflowsDirty_ = true;
  schedule();
}

void PrecisionTab::addOverflow(const ampbench::OverflowAttribution& attribution) {
  overflows_.push_back(attribution);
  overflowsDirty_ = true;
  schedule();
}

void PrecisionTab::showHistory(const PrecisionHistory& history, const PrecisionContext& context) {
  clear();
  context_ = context;
  for (const auto& sample : history.samples) {
    addStats(sample);
  }
  overflows_ = history.overflows;
  overflowsDirty_ = true;
  flush();
}

void PrecisionTab::setStepRange(const QCPRange& range) {
  timeline_->setFixedRange(timeline_->xAxis, range);
  timeline_->xAxis->setRange(range);
  timeline_->replot(QCustomPlot::rpQueuedReplot);
}

void PrecisionTab::schedule() {
  if (!timer_.isActive()) {
    timer_.start(kReplotIntervalMs);
  }
}

void PrecisionTab::flush() {
  timer_.stop();
  apply();
  for (PlotView* plot : {static_cast<PlotView*>(histogram_), layers_, timeline_}) {
    plot->replot(QCustomPlot::rpImmediateRefresh);
  }
}

bool PrecisionTab::showsEmptyState() const { return stack_->currentWidget() == emptyPage_; }
QString PrecisionTab::emptyStateText() const { return empty_->text(); }
QString PrecisionTab::histogramCaption() const { return histogramCaption_->text(); }
QString PrecisionTab::layersCaption() const { return layersCaption_->text(); }
QString PrecisionTab::overflowCaption() const { return overflowCaption_->text(); }

void PrecisionTab::apply() {
  stack_->setCurrentIndex(hasStats_ || !overflows_.isEmpty() ? 1 : 0);
  if (statsDirty_) {
    statsDirty_ = false;
    rebuildLayerCombo();
    if (hasStats_) {
      sampleInfo_->setText(tr("step %1 · epoch %2 · %3 · the latest sampled step")
                               .arg(latest_.step)
                               .arg(latest_.epoch)
                               .arg(latest_.lossScale > 1.0 ? tr("loss scale %1").arg(formatScale(latest_.lossScale))
                                                            : tr("no loss scaling")));
    } else {
      sampleInfo_->setText(tr("no statistics sampled yet"));
    }
    drawHistogram();
    drawLayers();
  }
  if (overflowsDirty_) {
    overflowsDirty_ = false;
    drawOverflows();
  }
}

void PrecisionTab::rebuildLayerCombo() {
  QStringList labels{tr("All layers (weight gradients summed)")};
  for (int i : gradientTensors(latest_)) {
    labels << tensorLabel(latest_.tensors[static_cast<size_t>(i)]);
  }
  QStringList current;
  for (int i = 0; i < layerCombo_->count(); ++i) {
    current << layerCombo_->itemText(i);
  }
  if (current == labels) {
    return;
  }
  const QString selected = layerCombo_->currentText();
  layerCombo_->blockSignals(true);
  layerCombo_->clear();
  layerCombo_->addItems(labels);
  layerCombo_->setCurrentIndex(std::max<qsizetype>(0, labels.indexOf(selected)));
  layerCombo_->blockSignals(false);
}

void PrecisionTab::drawHistogram() {
  if (!hasStats_) {
    histogram_->clearData();
    histogramCaption_->setText(tr("No statistics sampled yet."));
    return;
  }
  const QVector<int> tensors = gradientTensors(latest_);
  const int choice = layerCombo_->currentIndex();
  ampbench::TensorPrecisionStats t;
  QString label;
  if (choice >= 1 && choice - 1 < tensors.size()) {
    t = latest_.tensors[static_cast<size_t>(tensors[choice - 1])];
    label = tensorLabel(t);
  } else {
    t = allLayers(latest_);
    label = tr("all layers");
  }
  histogram_->showTensor(t, latest_.lossScale, context_.bf16);
  histogramCaption_->setText(captions::histogram(t, label, latest_.step, latest_.lossScale, context_));
}

void PrecisionTab::drawLayers() {
  const QVector<LayerBarRow> rows = layerBars(latest_, context_.bf16);
  QVector<double> keys, under, underScaled, lost;
  QSharedPointer<QCPAxisTickerText> ticker(new QCPAxisTickerText);
  const int every = static_cast<int>((rows.size() + kMaxLayerLabels - 1) / kMaxLayerLabels);
  for (int i = 0; i < rows.size(); ++i) {
    const double x = i + 1;
    keys << x;
    under << rows[i].underflow * 100.0;
    underScaled << rows[i].underflowScaled * 100.0;
    lost << rows[i].lostUpdates * 100.0;
    if (every <= 1 || i % every == 0) {
      QString name = rows[i].layer;
      if (name.endsWith(QLatin1String(".weight"))) {
        name.chop(7);
      }
      ticker->addTick(x, name);
    }
  }
  layers_->xAxis->setTicker(ticker);
  underflowBars_->setData(keys, under, true);
  underflowScaledBars_->setData(keys, underScaled, true);
  lostBars_->setData(keys, lost, true);
  const QString format = context_.bf16 ? QStringLiteral("BF16") : QStringLiteral("FP16");
  lostBars_->setName(tr("updates lost (pure %1 weights)").arg(format));
  const bool scaled = latest_.lossScale > 1.0;
  underflowScaledBars_->setVisible(scaled);
  underflowScaledBars_->setName(tr("… × loss scale %1").arg(formatScale(latest_.lossScale)));
  // Group and legend in bar order, without the scaled bars when nothing scales the loss.
  layers_->legend->clearItems();
  barsGroup_->clear();
  for (QCPBars* bars : {underflowBars_, underflowScaledBars_, lostBars_}) {
    if (bars->visible()) {
      barsGroup_->append(bars);
      bars->addToLegend();
    }
  }
  layersCaption_->setText(hasStats_ ? captions::layers(rows, latest_.step, latest_.lossScale, context_) : QString());
  layers_->fitAndReplot();
}

double PrecisionTab::layerIndex(const QString& layer) {
  int i = static_cast<int>(layerOrder_.indexOf(layer));
  if (i < 0) {
    // A block ("layer3.0") sits where its first parameter does.
    const QString prefix = layer + QLatin1Char('.');
    const auto it = std::find_if(layerOrder_.cbegin(), layerOrder_.cend(), [&prefix](const QString& l) { return l.startsWith(prefix); });
    if (it != layerOrder_.cend()) {
      return static_cast<double>(it - layerOrder_.cbegin());
    }
    layerOrder_ << layer;
    i = static_cast<int>(layerOrder_.size()) - 1;
  }
  return i;
}

void PrecisionTab::drawOverflows() {
  QVector<double> steps, rows;
  QSharedPointer<QCPAxisTickerText> ticker(new QCPAxisTickerText);
  double lo = 0.0, hi = 0.0;
  for (const auto& a : overflows_) {
    const QString layer = qs(a.layer);
    const double y = layerIndex(layer);
    steps << static_cast<double>(a.step);
    rows << y;
    ticker->addTick(y, layer.endsWith(QLatin1String(".weight")) ? layer.chopped(7) : layer);
    lo = steps.size() == 1 ? y : std::min(lo, y);
    hi = steps.size() == 1 ? y : std::max(hi, y);
  }
  timeline_->yAxis->setTicker(ticker);
  overflowGraph_->setData(steps, rows);  // unsorted: one point per attribution, same-step ones kept
  // Early layers at the top, as in the network; a row of room around the data.
  timeline_->setFixedRange(timeline_->yAxis, QCPRange(lo - 1.0, hi + 1.0));
  timeline_->yAxis->setRangeReversed(true);
  overflowCaption_->setText(captions::overflows(overflows_, context_));
  noOverflow_->setVisible(overflows_.isEmpty());
  timeline_->fitAndReplot();
}

}  // namespace ampbench::ui
