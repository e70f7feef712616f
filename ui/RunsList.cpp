#include "ui/RunsList.h"

#include "ui/Format.h"

#include <QDir>
#include <QFileInfo>
#include <QHeaderView>
#include <QLabel>
#include <QLocale>
#include <QMenu>
#include <QTreeWidget>
#include <QVBoxLayout>

namespace ampbench::ui {
namespace {

enum Column { kName = 0, kMode, kStatus, kAccuracy, kAuc, kRate, kDate, kColumnCount };
constexpr int kDirRole = Qt::UserRole + 1;
constexpr int kComparisonRole = Qt::UserRole + 2;
constexpr int kHistoryRole = Qt::UserRole + 3;  // a row from the runs folder scan, not this session
constexpr int kAccuracyRole = Qt::UserRole + 4;
constexpr int kAucRole = Qt::UserRole + 5;
constexpr int kDateRole = Qt::UserRole + 6;
constexpr int kNoteRole = Qt::UserRole + 7;

const QString kUnknown = QStringLiteral("—");

bool inside(const QString& dir, const QString& parent) {
  return dir == parent || dir.startsWith(parent + QLatin1Char('/'));
}

}  // namespace

RunsList::RunsList(QWidget* parent) : QWidget(parent) {
  auto* layout = new QVBoxLayout(this);
  layout->setContentsMargins(6, 6, 6, 6);
  layout->addWidget(new QLabel(tr("<b>Runs</b> — double-click to show one again"), this));
  tree_ = new QTreeWidget(this);
  tree_->setObjectName(QStringLiteral("runsTree"));
  tree_->setRootIsDecorated(false);
  tree_->setAlternatingRowColors(true);
  tree_->setUniformRowHeights(true);
  tree_->setTextElideMode(Qt::ElideMiddle);
  tree_->setHeaderLabels({tr("Run"), tr("Mode"), tr("State"), tr("Val acc"), tr("AUC"), tr("img/s"), tr("Date")});
  tree_->header()->setStretchLastSection(false);
  tree_->header()->setSectionResizeMode(kName, QHeaderView::Stretch);
  for (int c = kMode; c < kColumnCount; ++c) {
    tree_->header()->setSectionResizeMode(c, QHeaderView::ResizeToContents);
  }
  tree_->setToolTip(tr("Runs of this session and of the runs folder, newest first, and runs opened from disk. "
                       "Double-click to redraw a run's plots; right-click to resume a stopped run, show, delete, or change the "
                       "folder."));
  tree_->setContextMenuPolicy(Qt::CustomContextMenu);
  layout->addWidget(tree_);
  connect(tree_, &QTreeWidget::itemActivated, this, [this](QTreeWidgetItem* item) {
    const QString dir = item->data(kName, kDirRole).toString();
    if (item->data(kName, kComparisonRole).toBool()) {
      Q_EMIT comparisonActivated(dir);
    } else {
      Q_EMIT runActivated(dir);
    }
  });
  connect(tree_, &QTreeWidget::currentItemChanged, this, [this](QTreeWidgetItem* item) {
    Q_EMIT currentDirChanged(item ? item->data(kName, kDirRole).toString() : QString());
  });
  connect(tree_, &QWidget::customContextMenuRequested, this, [this](const QPoint& pos) {
    QTreeWidgetItem* item = tree_->itemAt(pos);
    QMenu* menu = contextMenuFor(item ? item->data(kName, kDirRole).toString() : QString(), this);
    menu->setAttribute(Qt::WA_DeleteOnClose);
    menu->popup(tree_->viewport()->mapToGlobal(pos));
  });
}

QMenu* RunsList::contextMenuFor(const QString& dir, QWidget* parent) {
  auto* menu = new QMenu(parent);
  if (!dir.isEmpty() && canResume_ && canResume_(dir)) {
    menu->addAction(tr("Resume"), this, [this, dir]() { Q_EMIT resumeRequested(dir); });
  }
  if (!dir.isEmpty()) {
    menu->addAction(tr("Show in folder"), this, [this, dir]() { Q_EMIT showInFolderRequested(dir); });
    menu->addAction(tr("Delete…"), this, [this, dir]() { Q_EMIT deleteRequested(dir); });
    menu->addSeparator();
  }
  menu->addAction(tr("Change runs folder…"), this, [this]() { Q_EMIT changeFolderRequested(); });
  return menu;
}

QTreeWidgetItem* RunsList::itemFor(const QString& dir) const {
  for (int i = 0; i < tree_->topLevelItemCount(); ++i) {
    if (tree_->topLevelItem(i)->data(kName, kDirRole).toString() == dir) {
      return tree_->topLevelItem(i);
    }
  }
  return nullptr;
}

void RunsList::fill(QTreeWidgetItem* item, const RunEntry& e) {
  const QString dir = QDir(e.dir).absolutePath();
  const QFileInfo info(dir);
  // A comparison's runs are named after their mode: show which comparison they belong to.
  const bool modeDir = !e.comparison && QFileInfo::exists(QDir(info.dir()).filePath(QStringLiteral("comparison.json")));
  const bool knownMode = info.fileName() == QLatin1String("auto") || info.fileName().startsWith(QLatin1String("fp16")) ||
                         info.fileName().startsWith(QLatin1String("bf16")) || info.fileName() == QLatin1String("fp32");
  item->setText(kName, modeDir || knownMode ? info.dir().dirName() + QLatin1Char('/') + info.fileName() : info.fileName());
  item->setToolTip(kName, e.note.isEmpty() ? dir : tr("%1\n%2").arg(dir, e.note));
  item->setData(kName, kDirRole, dir);
  item->setData(kName, kComparisonRole, e.comparison);
  item->setData(kName, kAccuracyRole, e.valAccuracy);
  item->setData(kName, kAucRole, e.valAuc);
  item->setData(kName, kNoteRole, e.note);
  item->setText(kMode, e.comparison ? e.mode : modeDisplayName(e.mode));
  item->setText(kStatus, e.status);
  item->setToolTip(kStatus, e.note);
  const bool running = e.status == tr("running");
  // Unknown metrics: "—" (a comparison's are in its runs' rows; a running run has none yet).
  const QString unknown = e.comparison || running ? QString() : kUnknown;
  item->setText(kAccuracy, e.valAccuracy >= 0 ? formatPercent(e.valAccuracy) : unknown);
  item->setText(kAuc, e.valAuc >= 0 ? QString::number(e.valAuc, 'f', 3) : unknown);
  item->setText(kRate, e.imagesPerSecond > 0 ? QString::number(e.imagesPerSecond, 'f', 0) : QString());
  const QDateTime date = e.date.isValid() ? e.date : QDateTime::currentDateTime();
  item->setData(kName, kDateRole, date);
  item->setText(kDate, QLocale().toString(date, QStringLiteral("yyyy-MM-dd HH:mm")));
  item->setToolTip(kDate, QLocale().toString(date, QLocale::LongFormat));
  for (int c = kAccuracy; c < kDate; ++c) {
    item->setTextAlignment(c, Qt::AlignRight | Qt::AlignVCenter);
  }
}

void RunsList::upsert(const RunEntry& e) {
  QTreeWidgetItem* item = itemFor(QDir(e.dir).absolutePath());
  if (!item) {
    item = new QTreeWidgetItem;
    tree_->insertTopLevelItem(0, item);  // newest first
    tree_->scrollToItem(item);
  }
  item->setData(kName, kHistoryRole, false);  // this session's now: a rescan leaves it alone
  fill(item, e);
}

void RunsList::setHistory(const QVector<RunEntry>& entries) {
  for (int i = tree_->topLevelItemCount() - 1; i >= 0; --i) {
    if (tree_->topLevelItem(i)->data(kName, kHistoryRole).toBool()) {
      delete tree_->takeTopLevelItem(i);
    }
  }
  for (const RunEntry& e : entries) {
    if (itemFor(QDir(e.dir).absolutePath())) {
      continue;  // this session's row knows more (running, just finished)
    }
    auto* item = new QTreeWidgetItem;
    tree_->addTopLevelItem(item);
    item->setData(kName, kHistoryRole, true);
    fill(item, e);
  }
}

void RunsList::remove(const QString& dir) {
  const QString target = QDir(dir).absolutePath();
  for (int i = tree_->topLevelItemCount() - 1; i >= 0; --i) {
    if (inside(tree_->topLevelItem(i)->data(kName, kDirRole).toString(), target)) {
      delete tree_->takeTopLevelItem(i);
    }
  }
}

int RunsList::count() const { return tree_->topLevelItemCount(); }

int RunsList::rowOf(const QString& dir) const {
  const QString target = QDir(dir).absolutePath();
  for (int i = 0; i < tree_->topLevelItemCount(); ++i) {
    if (tree_->topLevelItem(i)->data(kName, kDirRole).toString() == target) {
      return i;
    }
  }
  return -1;
}

RunEntry RunsList::entryAt(int row) const {
  RunEntry e;
  if (const QTreeWidgetItem* item = tree_->topLevelItem(row)) {
    e.dir = item->data(kName, kDirRole).toString();
    e.comparison = item->data(kName, kComparisonRole).toBool();
    e.mode = item->text(kMode);
    e.status = item->text(kStatus);
    e.valAccuracy = item->data(kName, kAccuracyRole).toDouble();
    e.valAuc = item->data(kName, kAucRole).toDouble();
    e.date = item->data(kName, kDateRole).toDateTime();
    e.note = item->data(kName, kNoteRole).toString();
  }
  return e;
}

QString RunsList::selectedDir() const {
  const QTreeWidgetItem* item = tree_->currentItem();
  return item ? item->data(kName, kDirRole).toString() : QString();
}

void RunsList::selectDir(const QString& dir) {
  if (QTreeWidgetItem* item = itemFor(QDir(dir).absolutePath())) {
    tree_->setCurrentItem(item);
  }
}

}  // namespace ampbench::ui
