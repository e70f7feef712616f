#include "ui/RunsList.h"

#include "ui/Format.h"

#include <QDir>
#include <QFileInfo>
#include <QHeaderView>
#include <QLabel>
#include <QTreeWidget>
#include <QVBoxLayout>

namespace ampbench::ui {
namespace {

enum Column { kName = 0, kMode, kStatus, kAccuracy, kAuc, kRate, kColumnCount };
constexpr int kEntryRole = Qt::UserRole + 1;

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
  tree_->setHeaderLabels({tr("Run"), tr("Mode"), tr("State"), tr("Val acc"), tr("AUC"), tr("img/s")});
  tree_->header()->setStretchLastSection(false);
  tree_->header()->setSectionResizeMode(kName, QHeaderView::Stretch);
  for (int c = kMode; c < kColumnCount; ++c) {
    tree_->header()->setSectionResizeMode(c, QHeaderView::ResizeToContents);
  }
  tree_->setToolTip(tr("Runs of this session and runs opened from disk (File ▸ Open run or comparison). "
                       "Double-click to redraw a run's plots from its steps.csv / epochs.csv."));
  layout->addWidget(tree_);
  connect(tree_, &QTreeWidget::itemActivated, this, [this](QTreeWidgetItem* item) {
    const bool comparison = item->data(kName, kEntryRole + 1).toBool();
    const QString dir = item->data(kName, kEntryRole).toString();
    if (comparison) {
      Q_EMIT comparisonActivated(dir);
    } else {
      Q_EMIT runActivated(dir);
    }
  });
}

void RunsList::upsert(const RunEntry& e) {
  const QString dir = QDir(e.dir).absolutePath();
  QTreeWidgetItem* item = nullptr;
  for (int i = 0; i < tree_->topLevelItemCount(); ++i) {
    if (tree_->topLevelItem(i)->data(kName, kEntryRole).toString() == dir) {
      item = tree_->topLevelItem(i);
      break;
    }
  }
  if (!item) {
    item = new QTreeWidgetItem(tree_);
    tree_->scrollToItem(item);
  }
  const QFileInfo info(dir);
  // A comparison's runs are named after their mode: show which comparison they belong to.
  const bool modeDir = QStringList{QStringLiteral("fp32"), QStringLiteral("fp16"), QStringLiteral("bf16"),
                                   QStringLiteral("auto")}.contains(info.fileName());
  item->setText(kName, modeDir ? info.dir().dirName() + QLatin1Char('/') + info.fileName() : info.fileName());
  item->setToolTip(kName, dir);
  item->setData(kName, kEntryRole, dir);
  item->setData(kName, kEntryRole + 1, e.comparison);
  item->setText(kMode, e.comparison ? e.mode : modeDisplayName(e.mode));
  item->setText(kStatus, e.status);
  item->setText(kAccuracy, e.valAccuracy >= 0 ? formatPercent(e.valAccuracy) : QString());
  item->setText(kAuc, e.valAuc >= 0 ? QString::number(e.valAuc, 'f', 3) : QString());
  item->setText(kRate, e.imagesPerSecond > 0 ? QString::number(e.imagesPerSecond, 'f', 0) : QString());
  for (int c = kAccuracy; c < kColumnCount; ++c) {
    item->setTextAlignment(c, Qt::AlignRight | Qt::AlignVCenter);
  }
}

int RunsList::count() const { return tree_->topLevelItemCount(); }

RunEntry RunsList::entryAt(int row) const {
  RunEntry e;
  if (const QTreeWidgetItem* item = tree_->topLevelItem(row)) {
    e.dir = item->data(kName, kEntryRole).toString();
    e.comparison = item->data(kName, kEntryRole + 1).toBool();
    e.mode = item->text(kMode);
    e.status = item->text(kStatus);
  }
  return e;
}

QString RunsList::selectedDir() const {
  const QTreeWidgetItem* item = tree_->currentItem();
  return item ? item->data(kName, kEntryRole).toString() : QString();
}

}  // namespace ampbench::ui
