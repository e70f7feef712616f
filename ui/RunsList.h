#pragma once
// Every run since the app started, plus runs and comparisons reopened from disk, with
// mode, state and final metrics. Double-click redraws a run's plots from its files (or
// restores a comparison view).

#include "ui/RunEntry.h"

#include <QString>
#include <QWidget>

class QTreeWidget;
class QTreeWidgetItem;

namespace ampbench::ui {

class RunsList : public QWidget {
  Q_OBJECT

 public:
  explicit RunsList(QWidget* parent = nullptr);

  // Adds the run, or updates the row with the same directory.
  void upsert(const RunEntry& entry);
  int count() const;
  RunEntry entryAt(int row) const;
  QString selectedDir() const;

 Q_SIGNALS:
  void runActivated(const QString& dir);
  void comparisonActivated(const QString& dir);

 private:
  QTreeWidget* tree_ = nullptr;
};

}  // namespace ampbench::ui
