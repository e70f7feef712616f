#include "ui/ComparisonView.h"

#include "ui/ComparisonFormat.h"
#include "ui/Format.h"
#include "ui/PlotView.h"
#include "ui/Tooltips.h"

#include <QDir>
#include <QGridLayout>
#include <QHeaderView>
#include <QLabel>
#include <QTableWidget>
#include <QVBoxLayout>

#include <cmath>
#include <exception>
#include <functional>

namespace ampbench::ui {
namespace {

const QColor kModeColors[] = {QColor(31, 119, 180), QColor(230, 120, 20), QColor(44, 160, 44), QColor(148, 103, 189)};
const QColor kBetter(212, 239, 214);
const QColor kWorse(250, 215, 210);

QColor modeColor(int i) { return kModeColors[i % 4]; }

// Final validation numbers of a run: the engine's final evaluation, else the last epoch.
ampbench::Metrics finalVal(const ampbench::RunSummary& run, const RunHistory* history) {
  if (run.hasFinalMetrics) {
    return run.finalVal;
  }
  if (history) {
    for (auto it = history->epochs.crbegin(); it != history->epochs.crend(); ++it) {
      if (it->validated) {
        return it->val;
      }
    }
  }
  ampbench::Metrics none;
  none.count = -1;
  return none;
}

QString modeLabel(const ampbench::ComparisonSummary& s, int i) {
  const auto& label = s.runs[i].precision.label;
  if (!label.empty()) {
    return qs(label);
  }
  return i < static_cast<int>(s.modeNames.size()) ? modeDisplayName(qs(s.modeNames[i])) : QString::number(i + 1);
}

}  // namespace

ComparisonView::ComparisonView(QWidget* parent) : QWidget(parent) {
  auto* layout = new QVBoxLayout(this);
  layout->setContentsMargins(4, 4, 4, 4);
  verdict_ = new QLabel(tr("No comparison yet. Press “Compare FP32 vs mixed”, or open a comparison folder."), this);
  verdict_->setObjectName(QStringLiteral("verdict"));
  verdict_->setWordWrap(true);
  QFont big = verdict_->font();
  big.setPointSizeF(big.pointSizeF() * 1.35);
  big.setBold(true);
  verdict_->setFont(big);
  verdict_->setTextInteractionFlags(Qt::TextSelectableByMouse);
  layout->addWidget(verdict_);
  caption_ = new QLabel(this);
  caption_->setWordWrap(true);
  caption_->setText(tr("Same data, seed and initial weights; the runs went one after the other, never at the same "
                       "time, so each had every core."));
  caption_->setToolTip(QString::fromUtf8(tips::kCompare));
  layout->addWidget(caption_);

  auto* grid = new QGridLayout;
  loss_ = new PlotView(tr("Loss per epoch"), this);
  loss_->xAxis->setLabel(tr("epoch"));
  loss_->yAxis->setLabel(tr("loss (solid: validation, dashed: train)"));
  accuracy_ = new PlotView(tr("Validation accuracy"), this);
  accuracy_->xAxis->setLabel(tr("epoch"));
  accuracy_->yAxis->setLabel(tr("accuracy (%)"));
  time_ = new PlotView(tr("Time per epoch"), this);
  time_->xAxis->setLabel(tr("epoch"));
  time_->yAxis->setLabel(tr("seconds"));
  QSharedPointer<QCPAxisTickerFixed> epochTicker(new QCPAxisTickerFixed);
  epochTicker->setTickStep(1.0);
  epochTicker->setScaleStrategy(QCPAxisTickerFixed::ssMultiples);
  for (PlotView* p : {loss_, accuracy_, time_}) {
    p->xAxis->setTicker(epochTicker);
    p->setKeyPadding(0.45);
    p->setHeadroom(0.3);
  }
  time_->setIncludeZero(time_->yAxis);
  for (PlotView* p : {loss_, accuracy_, time_}) {
    p->placeLegendBelow(2);  // four modes (what-ifs) would hide the curves under an inner legend
  }
  grid->addWidget(loss_, 0, 0);
  grid->addWidget(accuracy_, 0, 1);
  grid->addWidget(time_, 0, 2);
  layout->addLayout(grid, 3);

  table_ = new QTableWidget(this);
  table_->setObjectName(QStringLiteral("comparisonTable"));
  table_->setEditTriggers(QAbstractItemView::NoEditTriggers);
  table_->setSelectionMode(QAbstractItemView::ContiguousSelection);
  table_->horizontalHeader()->setSectionResizeMode(QHeaderView::Stretch);
  table_->setToolTip(tr("Green ▲: better than the baseline (first column) beyond the noise; red ▼: worse. A "
                        "difference whose 95 % interval includes none is shown as not measurable. Speed figures are "
                        "medians over epochs after the first (warm-up)."));
  layout->addWidget(table_, 2);
}

void ComparisonView::clear() {
  summary_ = {};
  histories_.clear();
  table_->clear();
  table_->setRowCount(0);
  table_->setColumnCount(0);
  for (PlotView* p : plots()) {
    p->clearPlottables();
    p->replot();
  }
}

QList<PlotView*> ComparisonView::plots() const { return {loss_, accuracy_, time_}; }

double ComparisonView::speedUp(int i) const {
  if (i < 0 || i >= static_cast<int>(summary_.runs.size())) {
    return 0.0;
  }
  const double base = summary_.runs.front().imagesPerSecond;
  return base > 0 ? summary_.runs[i].imagesPerSecond / base : 0.0;
}

QString ComparisonView::verdict() const { return verdict_->text(); }

bool ComparisonView::openDir(const QString& dir, QString* error) {
  const ComparisonHistory c = loadComparisonHistory(dir);
  if (!c.error.isEmpty()) {
    if (error) {
      *error = c.error;
    }
    return false;
  }
  showComparison(c.summary, c.runs);
  return true;
}

QString ComparisonView::computeVerdict(const ampbench::ComparisonSummary& s) {
  // One wording everywhere: the engine's, which calls a difference only beyond its noise.
  return qs(ampbench::comparisonVerdict(s));
}

void ComparisonView::showComparison(const ampbench::ComparisonSummary& summary, const QVector<RunHistory>& histories) {
  summary_ = summary;
  histories_ = histories;
  if (summary_.versusBaseline.size() != summary_.runs.size()) {
    summary_.versusBaseline.clear();
    for (const auto& r : summary_.runs) {
      summary_.versusBaseline.push_back(&r == &summary_.runs.front() ? ampbench::ModeComparison{}
                                                                      : ampbench::compareWithBaseline(summary_.runs.front(), r));
    }
  }
  const QString v = summary_.verdict.empty() ? computeVerdict(summary_) : qs(summary_.verdict);
  verdict_->setText(v);
  QStringList modes;
  for (int i = 0; i < static_cast<int>(summary.runs.size()); ++i) {
    modes << modeLabel(summary, i);
  }
  caption_->setText(tr("%1 — same data, seed and initial weights; run one after the other (never at the same time), "
                       "so each had every core. %2")
                        .arg(modes.join(tr(" vs ")), QDir::toNativeSeparators(qs(summary.outDir))));
  fillTable();
  fillPlots();
}

void ComparisonView::fillTable() {
  const int n = static_cast<int>(summary_.runs.size());
  table_->clear();
  table_->setColumnCount(n);
  QStringList headers;
  for (int i = 0; i < n; ++i) {
    QString h = i == 0 ? tr("%1 (baseline)").arg(modeLabel(summary_, i)) : modeLabel(summary_, i);
    if (summary_.runs[i].outOfMemory) {
      h += tr(" — out of memory");
    }
    headers << h;
  }
  table_->setHorizontalHeaderLabels(headers);
  for (int i = 0; i < n; ++i) {
    table_->horizontalHeaderItem(i)->setToolTip(qs(summary_.runs[i].message));
  }
  // On a GPU the process's resident memory says nothing about the tensors: show what the
  // CUDA caching allocator handed out instead (CPU runs have no such figure).
  bool cuda = false;
  for (const auto& r : summary_.runs) {
    cuda = cuda || r.peakCudaMb > 0;
  }

  // A row is either figures per run (value + format, judged against the baseline) or, for
  // the differences, a cell the presenter words (ComparisonFormat.h).
  struct Row {
    QString name;
    QString tooltip;
    std::function<double(int)> value;  // NaN: unknown
    std::function<QString(double)> format;
    std::function<Judgement(int, double, double)> judge;  // (run, value, baseline's value)
    std::function<ComparisonCell(int)> cell;              // set instead of value/format for differences
  };
  auto val = [this](int i) { return finalVal(summary_.runs[i], i < histories_.size() ? &histories_[i] : nullptr); };
  const double nan = std::nan("");
  const auto vs = [this](int i) -> const ampbench::ModeComparison& { return summary_.versusBaseline[i]; };
  // Speed figures follow the speed-up's range: highlighted only when it excludes 1.0.
  const auto bySpeed = [vs](int i, double, double) { return speedJudgement(vs(i)); };
  const auto none = [](int, double, double) { return Judgement::None; };
  const QString baseLabel = n > 0 ? modeLabel(summary_, 0) : QString();
  const QVector<Row> rows = {
      {tr("Median epoch time"), tr("Training phase of one epoch, median after warm-up."),
       [this](int i) { return summary_.runs[i].medianEpochSeconds; },
       [](double x) { return QStringLiteral("%1 s").arg(x, 0, 'f', 2); }, bySpeed, {}},
      {tr("Throughput"), tr("Training images per second, median of the epochs after warm-up."),
       [this](int i) { return summary_.runs[i].imagesPerSecond; }, [](double x) { return formatRate(x); }, bySpeed,
       {}},
      {tr("Speed-up"),
       tr("Throughput divided by the baseline's, with the range of the epoch-time ratios after warm-up; "
          "faster or slower only when the range excludes 1.0."),
       [this](int i) { return speedUp(i); }, {}, {},
       [this, vs, baseLabel](int i) {
         return i == 0 ? ComparisonCell{QStringLiteral("%1x").arg(speedUp(0), 0, 'f', 2), {}, Judgement::None}
                       : speedCell(vs(i), baseLabel);
       }},
      {cuda ? tr("Peak GPU memory") : tr("Peak memory"),
       cuda ? tr("Peak GPU memory held by tensors during the run (the CUDA caching allocator's peak, as "
                 "torch.cuda.max_memory_allocated).")
            : tr("Peak resident memory of the process during the run."),
       [this, cuda](int i) { return cuda ? summary_.runs[i].peakCudaMb : summary_.runs[i].peakRssMb; },
       [](double x) { return QStringLiteral("%1 MB").arg(x, 0, 'f', 0); },
       [](int, double x, double base) {  // memory is not resampled: a 5 % margin instead
         const double rel = (x - base) / std::abs(base);
         return std::abs(rel) <= 0.05 ? Judgement::None : rel < 0 ? Judgement::Better : Judgement::Worse;
       },
       {}},
      {tr("Final val accuracy"), tr("Accuracy of the final model on the validation split."),
       [val, nan](int i) { const auto m = val(i); return m.count < 0 ? nan : m.accuracy; },
       [](double x) { return formatPercent(x); }, none, {}},
      {tr("Accuracy vs baseline"),
       tr("Accuracy minus the baseline's on the same validation images, with its 95 % interval (paired bootstrap "
          "within each class) and McNemar's exact test; better or worse only when the interval excludes zero."),
       [vs, nan](int i) { return i == 0 ? nan : vs(i).accuracy.value; }, {}, {},
       [vs](int i) { return i == 0 ? ComparisonCell{tr("baseline"), {}, Judgement::None} : accuracyDiffCell(vs(i).accuracy); }},
      {tr("Val AUC"), tr("ROC AUC on the validation split (1.0 = perfect ranking, 0.5 = chance)."),
       [val, nan](int i) { const auto m = val(i); return m.count < 0 ? nan : m.auc; },
       [](double x) { return QString::number(x, 'f', 3); }, none, {}},
      {tr("AUC vs baseline"),
       tr("ROC AUC minus the baseline's on the same validation images, with its 95 % interval; better or worse "
          "only when the interval excludes zero."),
       [vs, nan](int i) { return i == 0 ? nan : vs(i).auc.value; }, {}, {},
       [vs](int i) { return i == 0 ? ComparisonCell{tr("baseline"), {}, Judgement::None} : aucDiffCell(vs(i).auc); }},
      {tr("Overflow steps"), QString::fromUtf8(tips::kLossScaling),
       [this](int i) { return static_cast<double>(summary_.runs[i].overflowSteps); },
       [](double x) { return QString::number(x, 'f', 0); }, none, {}},
      {tr("Skipped steps"), tr("Optimizer steps skipped because a gradient overflowed."),
       [this](int i) { return static_cast<double>(summary_.runs[i].skippedSteps); },
       [](double x) { return QString::number(x, 'f', 0); }, none, {}},
  };
  table_->setRowCount(rows.size() + 1);
  QStringList rowNames;
  for (int r = 0; r < rows.size(); ++r) {
    rowNames << rows[r].name;
  }
  rowNames << tr("Precision");
  table_->setVerticalHeaderLabels(rowNames);
  for (int r = 0; r < rows.size(); ++r) {
    const Row& row = rows[r];
    table_->verticalHeaderItem(r)->setToolTip(row.tooltip);
    const bool baseUsable = n > 0 && !summary_.runs[0].outOfMemory;
    const double base = baseUsable ? row.value(0) : nan;
    for (int i = 0; i < n; ++i) {
      // A run that ran out of memory has no figures to compare: its column says so instead.
      const bool oom = summary_.runs[i].outOfMemory;
      const double x = oom ? nan : row.value(i);
      ComparisonCell cell;
      if (oom) {
        cell = {tr("out of memory"), row.tooltip, Judgement::Worse};
      } else if (row.cell) {
        cell = baseUsable ? row.cell(i) : ComparisonCell{QStringLiteral("–"), tr("No baseline to compare with."), {}};
      } else {
        cell.text = std::isnan(x) ? tr("–") : row.format(x);
        cell.tooltip = row.tooltip;
        if (i > 0 && !std::isnan(x) && !std::isnan(base) && base != 0) {
          cell.judgement = row.judge(i, x, base);
        }
      }
      auto* item = new QTableWidgetItem(cell.text);
      item->setData(Qt::UserRole, x);
      item->setTextAlignment(Qt::AlignCenter);
      item->setToolTip(cell.tooltip.isEmpty() ? row.tooltip : cell.tooltip);
      if (cell.judgement != Judgement::None) {
        item->setBackground(cell.judgement == Judgement::Better ? kBetter : kWorse);
        if (!oom) {
          QFont f = item->font();
          f.setBold(true);
          item->setFont(f);
        }
      }
      table_->setItem(r, i, item);
    }
  }
  for (int i = 0; i < n; ++i) {
    const auto& p = summary_.runs[i].precision;
    QString text = qs(p.computeDtype);
    if (p.emulated) {
      text += tr(" (emulated)");
    }
    text += p.lossScaling ? tr(", loss scaling") : QString();
    auto* item = new QTableWidgetItem(text);
    item->setTextAlignment(Qt::AlignCenter);
    item->setToolTip(qs(p.note));
    table_->setItem(rows.size(), i, item);
  }
  // As tall as its rows: the plots get the rest.
  table_->resizeRowsToContents();
  int height = table_->horizontalHeader()->height() + 2 * table_->frameWidth();
  for (int r = 0; r < table_->rowCount(); ++r) {
    height += table_->rowHeight(r);
  }
  table_->setFixedHeight(height);
}

void ComparisonView::fillPlots() {
  for (PlotView* p : plots()) {
    p->clearPlottables();
  }
  const int n = std::min<int>(static_cast<int>(summary_.runs.size()), histories_.size());
  auto* group = new QCPBarsGroup(time_);
  const double barWidth = 0.8 / std::max(n, 1);
  for (int i = 0; i < n; ++i) {
    const QString name = modeLabel(summary_, i);
    const QColor color = modeColor(i);
    QVector<double> epochs, trainLoss, valEpochs, valLoss, valAcc, seconds;
    for (const auto& e : histories_[i].epochs) {
      epochs << static_cast<double>(e.epoch);
      trainLoss << e.trainLoss;
      seconds << e.epochSeconds;
      if (e.validated) {
        valEpochs << static_cast<double>(e.epoch);
        valLoss << e.val.loss;
        valAcc << e.val.accuracy * 100.0;
      }
    }
    QCPGraph* train = loss_->addGraph();
    train->setName(tr("%1 train").arg(name));
    train->setPen(QPen(color, 1.6, Qt::DashLine));
    train->setData(epochs, trainLoss, true);
    train->removeFromLegend();  // the axis label says dashed is train: one legend entry per mode
    QCPGraph* val = loss_->addGraph();
    val->setName(name);
    val->setPen(QPen(color, 2.2));
    val->setScatterStyle(QCPScatterStyle(QCPScatterStyle::ssCircle, color, Qt::white, 6));
    val->setData(valEpochs, valLoss, true);

    QCPGraph* acc = accuracy_->addGraph();
    acc->setName(name);
    acc->setPen(QPen(color, 2.2));
    acc->setScatterStyle(QCPScatterStyle(QCPScatterStyle::ssCircle, color, Qt::white, 6));
    acc->setData(valEpochs, valAcc, true);

    auto* bars = new QCPBars(time_->xAxis, time_->yAxis);
    bars->setName(name);
    bars->setWidth(barWidth);
    bars->setPen(QPen(color.darker(130)));
    bars->setBrush(color.lighter(130));
    bars->setBarsGroup(group);
    bars->setData(epochs, seconds, true);
  }
  for (PlotView* p : plots()) {
    p->resetView();
  }
}

}  // namespace ampbench::ui
