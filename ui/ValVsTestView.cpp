#include "ui/ValVsTestView.h"

#include "engine/util/Files.h"

#include <QDir>
#include <QFileInfo>
#include <QHeaderView>
#include <QLabel>
#include <QTableWidget>
#include <QVBoxLayout>
#include <QtConcurrent/QtConcurrentRun>

namespace ampbench::ui {

namespace {

QString cell(const ampbench::Estimate& e, bool percent) {
  if (!e.defined()) {
    return QStringLiteral("—");
  }
  const double k = percent ? 100.0 : 1.0;
  const int digits = percent ? 1 : 3;
  QString s = QString::number(k * e.value, 'f', digits);
  if (e.ci95.valid()) {
    s += QStringLiteral(" (%1–%2)").arg(k * e.ci95.low, 0, 'f', digits).arg(k * e.ci95.high, 0, 'f', digits);
  }
  return s;
}

}  // namespace

ValVsTestView::ValVsTestView(QWidget* parent) : QWidget(parent) {
  auto* layout = new QVBoxLayout(this);
  layout->setContentsMargins(0, 0, 0, 0);
  title_ = new QLabel(this);
  title_->setWordWrap(true);
  layout->addWidget(title_);
  table_ = new QTableWidget(0, 3, this);
  table_->setObjectName(QStringLiteral("valVsTestTable"));
  table_->setHorizontalHeaderLabels({tr("Figure"), tr("Validation"), tr("Test")});
  table_->verticalHeader()->setVisible(false);
  table_->setEditTriggers(QAbstractItemView::NoEditTriggers);
  table_->setSelectionMode(QAbstractItemView::NoSelection);
  table_->horizontalHeader()->setSectionResizeMode(QHeaderView::ResizeToContents);
  table_->horizontalHeader()->setStretchLastSection(true);
  layout->addWidget(table_, 1);
  findings_ = new QLabel(this);
  findings_->setWordWrap(true);
  findings_->setTextInteractionFlags(Qt::TextSelectableByMouse);
  layout->addWidget(findings_);
  setVisible(false);
  connect(&watcher_, &QFutureWatcher<Loaded>::finished, this, [this] { apply(watcher_.result()); });
}

void ValVsTestView::showRun(const QString& runDir) {
  runDir_ = runDir;
  if (runDir.isEmpty()) {
    setVisible(false);
    return;
  }
  const QString path = QDir(runDir).filePath(QStringLiteral("val_vs_test.json"));
  watcher_.setFuture(QtConcurrent::run([runDir, path]() {
    Loaded l;
    l.runDir = runDir;
    if (!QFileInfo::exists(path)) {
      return l;
    }
    try {
      l.shift = ampbench::splitShiftFromJson(ampbench::readFile(path.toStdString()));
    } catch (const std::exception& e) {
      l.error = QString::fromStdString(e.what());
    }
    return l;
  }));
}

void ValVsTestView::apply(const Loaded& l) {
  if (l.runDir != runDir_) {
    return;  // another run was opened meanwhile: its load follows
  }
  if (!l.shift && l.error.isEmpty()) {
    setVisible(false);
    Q_EMIT loaded();
    return;
  }
  setVisible(true);
  if (!l.shift) {
    title_->setText(tr("<b>Validation vs test</b>: %1").arg(l.error.toHtmlEscaped()));
    table_->setRowCount(0);
    findings_->clear();
    Q_EMIT loaded();
    return;
  }
  const auto& s = *l.shift;
  title_->setText(tr("<b>Validation vs test</b> — %1 and %2 images, at the run's threshold (%3); 95 % intervals. "
                     "Rows marked ⚠ differ by more than both intervals.")
                      .arg(s.valCount)
                      .arg(s.testCount)
                      .arg(QString::fromStdString(s.thresholdSource).toHtmlEscaped()));
  table_->setRowCount(static_cast<int>(s.rows.size()));
  int bad = 0;
  for (int i = 0; i < static_cast<int>(s.rows.size()); ++i) {
    const auto& r = s.rows[static_cast<size_t>(i)];
    const bool pct = ampbench::isPercentFigure(r.key);
    auto* name = new QTableWidgetItem((r.gap ? QStringLiteral("⚠ ") : QString()) + QString::fromStdString(r.label) +
                                      (pct ? QStringLiteral(" (%)") : QString()));
    auto* val = new QTableWidgetItem(cell(r.val, pct));
    auto* test = new QTableWidgetItem(cell(r.test, pct));
    for (auto* item : {name, val, test}) {
      if (r.gap) {
        item->setBackground(QColor(255, 228, 196));  // the same warm tint as the gap's ⚠
        item->setToolTip(tr("The intervals do not overlap: validation does not predict the test split here."));
      }
    }
    bad += r.gap ? 1 : 0;
    table_->setItem(i, 0, name);
    table_->setItem(i, 1, val);
    table_->setItem(i, 2, test);
  }
  QStringList items;
  for (const auto& f : s.findings) {
    items << QString::fromStdString(f).toHtmlEscaped();
  }
  findings_->setText((bad > 0 ? tr("<b>Do not trust the validation figures alone:</b>") : QString()) +
                     QStringLiteral("<ul style='margin-left:-20px'><li>%1</li></ul>").arg(items.join(QStringLiteral("</li><li>"))));
  Q_EMIT loaded();
}

}  // namespace ampbench::ui
