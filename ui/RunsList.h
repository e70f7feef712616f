#pragma once
// Every run since the app started and the runs folder's history (RunHistoryController),
// plus runs and comparisons reopened from disk, newest first, with mode, state, final
// metrics and date. Double-click redraws a run's plots from its files (or restores a
// comparison view); the context menu shows a run in its folder, deletes it, or changes
// the runs folder (signals: the controller acts).

#include "ui/RunEntry.h"

#include <QString>
#include <QVector>
#include <QWidget>

#include <functional>

class QMenu;
class QTreeWidget;
class QTreeWidgetItem;

namespace ampbench::ui {

class RunsList : public QWidget {
  Q_OBJECT

 public:
  explicit RunsList(QWidget* parent = nullptr);

  // Adds the run at the top, or updates the row with the same directory.
  void upsert(const RunEntry& entry);
  // The runs folder's rows, in the order given, below this session's runs. Replaces the
  // previous history rows; a row this session upserted stays as it is.
  void setHistory(const QVector<RunEntry>& entries);
  // Removes the row of `dir` and the rows of runs inside it (a comparison's).
  void remove(const QString& dir);
  int count() const;
  RunEntry entryAt(int row) const;
  int rowOf(const QString& dir) const;  // -1 when not listed
  QString selectedDir() const;
  void selectDir(const QString& dir);
  // The context menu for the row of `dir` (empty: no row), as a right-click shows it.
  QMenu* contextMenuFor(const QString& dir, QWidget* parent);
  // Whether the row of `dir` offers "Resume" (a stopped or killed run with a checkpoint).
  void setCanResume(std::function<bool(const QString& dir)> canResume) { canResume_ = std::move(canResume); }

 Q_SIGNALS:
  void runActivated(const QString& dir);
  void comparisonActivated(const QString& dir);
  void currentDirChanged(const QString& dir);
  void showInFolderRequested(const QString& dir);
  void deleteRequested(const QString& dir);
  void resumeRequested(const QString& dir);
  void changeFolderRequested();

 private:
  QTreeWidgetItem* itemFor(const QString& dir) const;
  void fill(QTreeWidgetItem* item, const RunEntry& entry);

  QTreeWidget* tree_ = nullptr;
  std::function<bool(const QString&)> canResume_;
};

}  // namespace ampbench::ui
