#pragma once
// Run history: fills the runs list from the runs folder (scanned on a worker thread, so a
// folder with hundreds of runs never freezes the window) and carries out the list's
// context menu: show a run in its folder, delete it (after a confirmation naming it; to
// the trash where the platform has one; never while it trains), change the runs folder
// (kept in QSettings; new runs are written there too; rescans). The dialogs and the
// desktop are injectable callbacks, so tests drive every path without a modal.

#include "ui/RunsFolder.h"

#include <QFutureWatcher>
#include <QObject>
#include <QString>
#include <QUrl>

#include <functional>

class QWidget;

namespace ampbench::ui {

class RunsList;

class RunHistoryController : public QObject {
  Q_OBJECT

 public:
  // Asks a yes/no question; true: go ahead.
  using Confirm = std::function<bool(const QString& title, const QString& text)>;
  // Picks a folder starting at `current`; empty: cancelled.
  using ChooseFolder = std::function<QString(const QString& current)>;
  using OpenUrl = std::function<bool(const QUrl& url)>;
  // True while `dir` (a run or a comparison holding one) is being trained.
  using IsTraining = std::function<bool(const QString& dir)>;

  // `dialogParent`: the window the default dialogs belong to.
  RunHistoryController(RunsList* list, QWidget* dialogParent, QObject* parent = nullptr);
  ~RunHistoryController() override;

  void setConfirm(Confirm confirm) { confirm_ = std::move(confirm); }
  void setChooseFolder(ChooseFolder choose) { chooseFolder_ = std::move(choose); }
  void setOpenUrl(OpenUrl open) { openUrl_ = std::move(open); }
  void setIsTraining(IsTraining isTraining) { isTraining_ = std::move(isTraining); }

  QString root() const { return root_; }
  bool isScanning() const { return watcher_.isRunning(); }
  const RunsScan& lastScan() const { return lastScan_; }

 public Q_SLOTS:
  // Scans the runs folder again (a scan already running is superseded: its result is dropped).
  void rescan();
  // Stores `dir` as the runs folder and rescans.
  void setRoot(const QString& dir);
  void changeRunsFolder();
  bool showInFolder(const QString& dir);
  // Returns true when the folder is gone.
  bool deleteRun(const QString& dir);

 Q_SIGNALS:
  void scanFinished(int runs);
  void rootChanged(const QString& root);
  // Something the user should read (the window's banner).
  void message(const QString& text, bool error);
  void runDeleted(const QString& dir);

 private:
  void onScanDone();

  RunsList* list_ = nullptr;
  QWidget* dialogParent_ = nullptr;
  QString root_;
  QFutureWatcher<RunsScan> watcher_;
  bool rescanPending_ = false;
  RunsScan lastScan_;
  Confirm confirm_;
  ChooseFolder chooseFolder_;
  OpenUrl openUrl_;
  IsTraining isTraining_;
};

}  // namespace ampbench::ui
