#include "ui/ResultsTab.h"

#include "ui/EvaluationFormat.h"
#include "ui/EvaluationPlots.h"
#include "ui/Format.h"
#include "ui/ImageInspector.h"
#include "ui/ThresholdDialog.h"
#include "ui/ValVsTestView.h"
#include "ui/MistakesGallery.h"
#include "ui/QtTypes.h"

#include <qcustomplot.h>

#include <QComboBox>
#include <QDir>
#include <QDoubleSpinBox>
#include <QFileDialog>
#include <QFileInfo>
#include <QHBoxLayout>
#include <QHeaderView>
#include <QLabel>
#include <QProgressBar>
#include <QPushButton>
#include <QSlider>
#include <QSplitter>
#include <QTableWidget>
#include <QVBoxLayout>

#include <algorithm>
#include <cmath>

namespace ampbench::ui {
namespace {

const QColor kHeadline(242, 242, 247);

QCustomPlot* newPlot(QWidget* parent, int minWidth, int minHeight) {
  auto* plot = new QCustomPlot(parent);
  plot->setMinimumSize(minWidth, minHeight);
  plot->setSizePolicy(QSizePolicy::Expanding, QSizePolicy::Expanding);
  return plot;
}

QString capitalised(QString s) {
  if (!s.isEmpty()) {
    s[0] = s[0].toUpper();
  }
  return s;
}

}  // namespace

ResultsTab::ResultsTab(QWidget* parent) : QWidget(parent), presenter_(new ResultsPresenter(this)) {
  auto* root = new QVBoxLayout(this);

  // The header line on its own row (it names model, precision and split: long), the
  // selectors and progress under it.
  auto* top = new QHBoxLayout;
  header_ = new QLabel(tr("No results yet."), this);
  header_->setObjectName(QStringLiteral("resultsHeader"));
  QFont bold = header_->font();
  bold.setBold(true);
  bold.setPointSizeF(bold.pointSizeF() * 1.1);
  header_->setFont(bold);
  header_->setTextInteractionFlags(Qt::TextSelectableByMouse);
  header_->setWordWrap(true);
  root->addWidget(header_);
  splitBox_ = new QComboBox(this);
  splitBox_->setToolTip(tr("The images evaluated: the run's validation split, its test split when the dataset has "
                           "one, or another labelled folder (class sub-folders), evaluated now."));
  top->addWidget(new QLabel(tr("Split:"), this));
  top->addWidget(splitBox_);
  modeLabel_ = new QLabel(tr("FP32 beside:"), this);
  modeBox_ = new QComboBox(this);
  modeBox_->setToolTip(tr("The mode shown beside FP32."));
  top->addWidget(modeLabel_);
  top->addWidget(modeBox_);
  progress_ = new QProgressBar(this);
  progress_->setMaximumWidth(180);
  progress_->setVisible(false);
  cancel_ = new QPushButton(tr("Cancel"), this);
  cancel_->setVisible(false);
  top->addWidget(progress_);
  top->addWidget(cancel_);
  top->addStretch(1);
  root->addLayout(top);

  message_ = new QLabel(tr("Open a run or a comparison (or finish one) to see what its model gets right and wrong."), this);
  message_->setWordWrap(true);
  message_->setTextInteractionFlags(Qt::TextSelectableByMouse);
  root->addWidget(message_);

  // Left: the matrices over the ROC curve. Right: threshold, metrics, notes, mistakes.
  auto* content = new QSplitter(Qt::Horizontal, this);
  content_ = content;
  auto* left = new QWidget(content);
  auto* leftLayout = new QVBoxLayout(left);
  leftLayout->setContentsMargins(0, 0, 0, 0);
  // A comparison's two matrices one above the other: side by side they would be too narrow
  // beside a four-column table.
  auto* matrices = new QVBoxLayout;
  for (int i = 0; i < 2; ++i) {
    matrix_[i] = newPlot(left, 260, 170);
    matrix_[i]->plotLayout()->insertRow(0);
    matrixTitle_[i] = new QCPTextElement(matrix_[i], QString(), bold);
    matrix_[i]->plotLayout()->addElement(0, 0, matrixTitle_[i]);
    matrices->addWidget(matrix_[i]);
  }
  leftLayout->addLayout(matrices, 1);
  roc_ = newPlot(left, 300, 240);
  leftLayout->addWidget(roc_, 1);
  valVsTest_ = new ValVsTestView(left);
  leftLayout->addWidget(valVsTest_, 1);
  content->addWidget(left);

  auto* right = new QWidget(content);
  auto* rightLayout = new QVBoxLayout(right);
  rightLayout->setContentsMargins(0, 0, 0, 0);
  thresholdRow_ = new QWidget(right);
  auto* row = new QHBoxLayout(thresholdRow_);
  row->setContentsMargins(0, 0, 0, 0);
  row->addWidget(new QLabel(tr("Threshold:"), thresholdRow_));
  slider_ = new QSlider(Qt::Horizontal, thresholdRow_);
  slider_->setRange(0, 100);
  slider_->setToolTip(tr("P(positive class) at or above the threshold is called positive. Moving it re-computes the "
                         "matrix and the figures; the stored threshold is unchanged."));
  spin_ = new QDoubleSpinBox(thresholdRow_);
  spin_->setRange(0.0, 1.0);
  spin_->setSingleStep(0.01);
  spin_->setDecimals(3);
  reset_ = new QPushButton(tr("Stored"), thresholdRow_);
  reset_->setToolTip(tr("Back to the run's stored threshold (decision.json)."));
  choose_ = new QPushButton(tr("Choose on validation…"), thresholdRow_);
  choose_->setToolTip(tr("Choose the threshold on the validation split (Youden's J, or a target sensitivity) and "
                         "store it with the run."));
  row->addWidget(slider_, 1);
  row->addWidget(spin_);
  row->addWidget(reset_);
  row->addWidget(choose_);
  rightLayout->addWidget(thresholdRow_);
  table_ = new QTableWidget(right);
  table_->setEditTriggers(QAbstractItemView::NoEditTriggers);
  table_->setSelectionMode(QAbstractItemView::NoSelection);
  table_->setWordWrap(false);
  table_->setHorizontalScrollBarPolicy(Qt::ScrollBarAlwaysOff);
  table_->setVerticalScrollBarPolicy(Qt::ScrollBarAlwaysOff);
  rightLayout->addWidget(table_);
  footnote_ = new QLabel(right);
  footnote_->setWordWrap(true);
  rightLayout->addWidget(footnote_);
  notes_ = new QLabel(right);
  notes_->setWordWrap(true);
  notes_->setTextInteractionFlags(Qt::TextSelectableByMouse);
  rightLayout->addWidget(notes_);
  galleryTitle_ = new QLabel(right);
  galleryTitle_->setFont(bold);
  rightLayout->addWidget(galleryTitle_);
  gallery_ = new MistakesGallery(right);
  gallery_->setMinimumHeight(MistakesGallery::kThumbnailSize + 64);
  rightLayout->addWidget(gallery_, 1);
  disagreements_ = new QTableWidget(right);
  disagreements_->setEditTriggers(QAbstractItemView::NoEditTriggers);
  disagreements_->verticalHeader()->setVisible(false);
  disagreements_->setSortingEnabled(true);
  disagreements_->setTextElideMode(Qt::ElideMiddle);  // a file's distinctive end stays visible
  disagreements_->setWordWrap(false);
  rightLayout->addWidget(disagreements_, 1);
  content->addWidget(right);
  content->setStretchFactor(0, 5);
  content->setStretchFactor(1, 6);
  content->setSizes({500, 600});  // else the gallery's size hint takes most of the width
  root->addWidget(content, 1);
  content->setVisible(false);

  connect(presenter_, &ResultsPresenter::resultsChanged, this, &ResultsTab::onResults);
  connect(presenter_, &ResultsPresenter::thresholdChanged, this, &ResultsTab::onThreshold);
  connect(presenter_, &ResultsPresenter::intervalsChanged, this, &ResultsTab::fillTable);
  connect(presenter_, &ResultsPresenter::galleryChanged, this, [this]() {
    if (presenter_->isComparison()) {
      fillDisagreements();
    } else {
      gallery_->setMistakes(presenter_->mistakes());
    }
  });
  connect(presenter_, &ResultsPresenter::busyChanged, this, &ResultsTab::onBusy);
  connect(presenter_, &ResultsPresenter::progressChanged, this, [this](int value, int maximum) {
    progress_->setRange(0, maximum);
    progress_->setValue(value);
  });
  connect(presenter_, &ResultsPresenter::errorChanged, this, [this](const QString& m) {
    if (!m.isEmpty()) {
      message_->setText(m);
      message_->setVisible(true);
    }
  });
  connect(cancel_, &QPushButton::clicked, presenter_, &ResultsPresenter::cancel);
  connect(splitBox_, qOverload<int>(&QComboBox::activated), this, &ResultsTab::splitChosen);
  connect(modeBox_, qOverload<int>(&QComboBox::activated), this,
          [this](int i) { presenter_->setComparisonMode(modeBox_->itemData(i).toString()); });
  connect(slider_, &QSlider::valueChanged, this, [this](int v) { presenter_->setThreshold(v / 100.0); });
  connect(spin_, qOverload<double>(&QDoubleSpinBox::valueChanged), presenter_, &ResultsPresenter::setThreshold);
  connect(reset_, &QPushButton::clicked, presenter_, &ResultsPresenter::resetThreshold);
  connect(choose_, &QPushButton::clicked, this, &ResultsTab::openChooseDialog);
  connect(gallery_, &MistakesGallery::imageActivated, this, &ResultsTab::openInspector);
  connect(gallery_, &MistakesGallery::thumbnailsReady, this, &ResultsTab::checkSettled);
  onResults();
}

bool ResultsTab::isSettled() const { return !presenter_->isBusy() && !gallery_->isDecoding(); }

void ResultsTab::checkSettled() {
  if (!wasSettled_ && isSettled()) {
    wasSettled_ = true;
    Q_EMIT settled();
  }
}

void ResultsTab::onBusy(bool busy, const QString& what) {
  progress_->setVisible(busy);
  cancel_->setVisible(busy);
  progress_->setRange(0, 0);
  choose_->setEnabled(!busy && presenter_->canChooseThreshold());
  if (busy) {
    wasSettled_ = false;
    message_->setText(what);
    message_->setVisible(true);
  } else {
    checkSettled();
  }
}

void ResultsTab::onResults() {
  ResultsPresenter* p = presenter_;
  const bool have = p->hasResults();
  content_->setVisible(have);
  message_->setVisible(!have || !p->error().isEmpty());
  if (!p->error().isEmpty()) {
    message_->setText(p->error());
  } else if (!have) {
    message_->setText(tr("Open a run or a comparison (or finish one) to see what its model gets right and wrong."));
  }
  header_->setText(have ? p->header() : tr("No results yet."));
  valVsTest_->showRun(have ? p->inspectRunDir() : QString());

  splitBox_->clear();
  for (const QString& split : p->availableSplits()) {
    splitBox_->addItem(capitalised(splitDisplayName(split)), split);
  }
  if (p->split() == QLatin1String("folder") && have) {
    splitBox_->addItem(QDir(qs(p->result(0)->evaluation.source)).dirName(), QStringLiteral("folder"));
  }
  splitBox_->addItem(tr("Another folder…"), QStringLiteral("choose"));
  splitBox_->setCurrentIndex(std::max(0, splitBox_->findData(p->split())));
  splitBox_->setEnabled(!p->runDir().isEmpty() || p->isComparison());

  modeBox_->clear();
  for (const QString& mode : p->comparisonModes()) {
    modeBox_->addItem(modeDisplayName(mode), mode);
  }
  modeBox_->setCurrentIndex(std::max(0, modeBox_->findData(p->comparisonMode())));
  const bool chooseMode = p->isComparison() && p->comparisonModes().size() > 1;
  modeLabel_->setVisible(chooseMode);
  modeBox_->setVisible(chooseMode);

  matrix_[1]->setVisible(p->sideCount() > 1);
  thresholdRow_->setVisible(p->thresholdAdjustable());
  choose_->setVisible(!p->isComparison());
  choose_->setEnabled(p->canChooseThreshold());
  gallery_->setVisible(!p->isComparison());
  disagreements_->setVisible(p->isComparison());
  if (!have) {
    gallery_->setMistakes({});
    checkSettled();
    return;
  }
  syncThresholdControls();
  redrawPlots();
  fillTable();
  fillNotes();
  if (p->isComparison()) {
    fillDisagreements();
    checkSettled();
  } else {
    galleryTitle_->setText(tr("Most confident mistakes (missed %1 first) — click one for its Grad-CAM")
                               .arg(p->thresholdAdjustable() ? qs(p->result(0)->evaluation.classes.at(
                                                                   static_cast<size_t>(p->result(0)->evaluation.positiveClass)))
                                                             : tr("cases")));
    gallery_->setMistakes(p->mistakes());
  }
}

void ResultsTab::onThreshold() {
  header_->setText(presenter_->header());
  syncThresholdControls();
  redrawPlots();
  fillTable();
}

void ResultsTab::syncThresholdControls() {
  const QSignalBlocker a(slider_), b(spin_);
  const double t = presenter_->threshold();
  slider_->setValue(static_cast<int>(std::lround(t * 100.0)));
  spin_->setValue(t);
  reset_->setEnabled(!presenter_->atStoredThreshold());
}

void ResultsTab::redrawPlots() {
  std::vector<ampbench::Evaluation> shown;
  for (int i = 0; i < presenter_->sideCount(); ++i) {
    shown.push_back(presenter_->shown(i));
  }
  std::vector<RocSeries> series;
  for (int i = 0; i < presenter_->sideCount() && i < 2; ++i) {
    const ampbench::Evaluation& e = shown[static_cast<size_t>(i)];
    // A comparison's matrices share the column with the ROC plot: no room for a colour scale.
    plotConfusionMatrix(matrix_[i], e, !presenter_->isComparison());
    const QString t = e.classes.size() == 2 ? tr("threshold %1").arg(formatThreshold(e.threshold)) : tr("argmax");
    // The short mode name: the title must fit over half the column ("emulated" is in the header line).
    matrixTitle_[i]->setText(presenter_->isComparison() ? QStringLiteral("%1 · %2").arg(modeDisplayName(presenter_->result(i)->mode), t)
                                                        : tr("Confusion at %1").arg(t));
    matrix_[i]->replot(QCustomPlot::rpQueuedReplot);
    // The short mode name keeps the legend inside a narrow plot ("emulated" is in the header line).
    series.push_back({presenter_->isComparison() ? modeDisplayName(presenter_->result(i)->mode) : QString(),
                      &shown[static_cast<size_t>(i)], seriesColour(i)});
  }
  plotRoc(roc_, series);
}

void ResultsTab::fillTable() {
  const MetricsTable t = presenter_->metricsTable();
  table_->clear();
  table_->clearSpans();
  table_->setColumnCount(static_cast<int>(t.columns.size()));
  table_->setRowCount(static_cast<int>(t.rows.size()));
  table_->setHorizontalHeaderLabels(t.columns);
  for (int r = 0; r < t.rows.size(); ++r) {
    const MetricsTable::Row& row = t.rows[r];
    auto* label = new QTableWidgetItem(row.label);
    label->setToolTip(row.tooltip);
    table_->setVerticalHeaderItem(r, label);
    for (int c = 0; c < row.cells.size(); ++c) {
      const int column = row.headline ? c * t.columnsPerSide : c;
      auto* item = new QTableWidgetItem(row.cells[c]);
      item->setTextAlignment(Qt::AlignCenter);
      item->setToolTip(row.tooltip);
      if (row.headline) {
        item->setBackground(kHeadline);
        QFont f = item->font();
        f.setBold(true);
        item->setFont(f);
        if (t.columnsPerSide > 1) {
          table_->setSpan(r, column, 1, t.columnsPerSide);
        }
      }
      table_->setItem(r, column, item);
    }
  }
  // Every figure whole: the table is at least as wide as its contents (the splitter gives it
  // the room; the plots shrink first) and as tall as its rows (the gallery gets the rest).
  QHeaderView* header = table_->horizontalHeader();
  header->setSectionResizeMode(QHeaderView::Interactive);
  table_->resizeColumnsToContents();
  table_->resizeRowsToContents();
  int widest = 0;  // the columns share the width equally: each must fit the widest
  for (int c = 0; c < table_->columnCount(); ++c) {
    widest = std::max(widest, table_->columnWidth(c));
  }
  const int width = table_->verticalHeader()->sizeHint().width() + 2 * table_->frameWidth() + 4 +
                    widest * table_->columnCount();
  header->setSectionResizeMode(QHeaderView::Stretch);
  table_->setMinimumWidth(width);
  int height = header->sizeHint().height() + 2 * table_->frameWidth();
  for (int r = 0; r < table_->rowCount(); ++r) {
    height += table_->rowHeight(r);
  }
  table_->setFixedHeight(height);
  footnote_->setText(t.footnote);
  footnote_->setVisible(!t.footnote.isEmpty());
}

void ResultsTab::fillNotes() {
  const QStringList notes = presenter_->notes();
  QStringList escaped;
  for (const QString& n : notes) {
    escaped << n.toHtmlEscaped();
  }
  notes_->setText(escaped.isEmpty() ? QString() : QStringLiteral("<ul style='margin-left:-20px'><li>%1</li></ul>")
                                                      .arg(escaped.join(QStringLiteral("</li><li>"))));
  notes_->setVisible(!notes.isEmpty());
}

void ResultsTab::fillDisagreements() {
  const QVector<Disagreement> rows = presenter_->disagreements();
  const int total = presenter_->hasResults() ? static_cast<int>(presenter_->result(0)->predictions.rows.size()) : 0;
  galleryTitle_->setText(tr("Images the two call differently: %1 of %2").arg(rows.size()).arg(total));
  disagreements_->setSortingEnabled(false);
  disagreements_->clear();
  disagreements_->setColumnCount(4);
  disagreements_->setRowCount(static_cast<int>(rows.size()));
  disagreements_->setHorizontalHeaderLabels(
      {tr("File"), tr("True class"), tr("%1 calls (p)").arg(modeDisplayName(presenter_->result(0)->mode)),
       tr("%1 calls (p)").arg(modeDisplayName(presenter_->result(1)->mode))});
  auto call = [](const QString& name, double p) {
    return std::isfinite(p) ? QStringLiteral("%1  %2").arg(name, probabilityValue(p)) : name;
  };
  for (int r = 0; r < rows.size(); ++r) {
    const Disagreement& d = rows[r];
    // The name alone (the true class is the next column); the path in the tooltip.
    auto* file = new QTableWidgetItem(QFileInfo(d.file).fileName());
    file->setToolTip(QDir::toNativeSeparators(d.file));
    disagreements_->setItem(r, 0, file);
    disagreements_->setItem(r, 1, new QTableWidgetItem(d.trueClass));
    disagreements_->setItem(r, 2, new QTableWidgetItem(call(d.callA, d.probabilityA)));
    disagreements_->setItem(r, 3, new QTableWidgetItem(call(d.callB, d.probabilityB)));
    for (int c = 2; c < 4; ++c) {
      // Bold: the mode that got this image right.
      QTableWidgetItem* item = disagreements_->item(r, c);
      const bool right = (c == 2 ? d.callA : d.callB) == d.trueClass;
      QFont f = item->font();
      f.setBold(right);
      item->setFont(f);
      item->setToolTip(right ? tr("correct") : tr("wrong"));
    }
  }
  // The calls whole; the file name takes what is left (elided in the middle, whole in its tooltip).
  disagreements_->horizontalHeader()->setSectionResizeMode(QHeaderView::ResizeToContents);
  disagreements_->horizontalHeader()->setSectionResizeMode(0, QHeaderView::Stretch);
  disagreements_->setSortingEnabled(true);
}

void ResultsTab::splitChosen(int index) {
  const QString split = splitBox_->itemData(index).toString();
  if (split != QLatin1String("choose")) {
    presenter_->setSplit(split);
    return;
  }
  const QString folder = QFileDialog::getExistingDirectory(this, tr("A labelled folder (one sub-folder per class)"));
  if (folder.isEmpty()) {
    splitBox_->setCurrentIndex(std::max(0, splitBox_->findData(presenter_->split())));
    return;
  }
  presenter_->evaluateFolder(folder);
}

void ResultsTab::openChooseDialog() {
  if (const auto choice = askThresholdRule(this)) {
    presenter_->chooseThreshold(choice->rule, choice->targetSensitivity);
  }
}

void ResultsTab::openInspector(const MistakeItem& item) {
  Q_EMIT inspectRequested(presenter_->inspectRunDir(), item.path, item.trueClass);
  if (!inspector_) {
    inspector_ = new ImageInspectorDialog(this);  // explainers shared process-wide with File ▸ Predict…
  }
  inspector_->showImage(presenter_->inspectRunDir(), item.path, item.trueClass);
  inspector_->show();
  inspector_->raise();
  inspector_->activateWindow();
}

}  // namespace ampbench::ui
