#include "ui/RunHistoryController.h"

#include "ui/RunsList.h"

#include <QDesktopServices>
#include <QDir>
#include <QFile>
#include <QFileDialog>
#include <QFileInfo>
#include <QMessageBox>
#include <QWidget>
#include <QtConcurrent>

namespace ampbench::ui {

RunHistoryController::RunHistoryController(RunsList* list, QWidget* dialogParent, QObject* parent)
    : QObject(parent), list_(list), dialogParent_(dialogParent), root_(runsRoot()) {
  confirm_ = [this](const QString& title, const QString& text) {
    return QMessageBox::question(dialogParent_, title, text, QMessageBox::Yes | QMessageBox::Cancel, QMessageBox::Cancel) ==
           QMessageBox::Yes;
  };
  chooseFolder_ = [this](const QString& current) {
    return QFileDialog::getExistingDirectory(dialogParent_, tr("Choose the runs folder"), current);
  };
  openUrl_ = [](const QUrl& url) { return QDesktopServices::openUrl(url); };
  isTraining_ = [](const QString&) { return false; };
  connect(&watcher_, &QFutureWatcher<RunsScan>::finished, this, &RunHistoryController::onScanDone);
  connect(list_, &RunsList::showInFolderRequested, this, &RunHistoryController::showInFolder);
  connect(list_, &RunsList::deleteRequested, this, &RunHistoryController::deleteRun);
  connect(list_, &RunsList::changeFolderRequested, this, &RunHistoryController::changeRunsFolder);
}

RunHistoryController::~RunHistoryController() {
  // The scan only reads files; wait so that nothing runs past the list's lifetime.
  watcher_.waitForFinished();
}

void RunHistoryController::rescan() {
  if (watcher_.isRunning()) {
    rescanPending_ = true;  // the running scan may be of the old folder
    return;
  }
  const QString root = root_;
  watcher_.setFuture(QtConcurrent::run([root]() { return scanRunsFolder(root); }));
}

void RunHistoryController::onScanDone() {
  if (rescanPending_) {
    rescanPending_ = false;
    rescan();
    return;
  }
  lastScan_ = watcher_.result();
  list_->setHistory(lastScan_.entries);
  if (!lastScan_.error.isEmpty()) {
    Q_EMIT message(lastScan_.error, true);
  }
  Q_EMIT scanFinished(static_cast<int>(lastScan_.entries.size()));
}

void RunHistoryController::setRoot(const QString& dir) {
  if (dir.isEmpty()) {
    return;
  }
  root_ = QDir(dir).absolutePath();
  setRunsRoot(root_);
  Q_EMIT rootChanged(root_);
  rescan();
}

void RunHistoryController::changeRunsFolder() { setRoot(chooseFolder_(root_)); }

bool RunHistoryController::showInFolder(const QString& dir) {
  if (!QFileInfo(dir).isDir()) {
    Q_EMIT message(tr("%1 is no longer there.").arg(QDir::toNativeSeparators(dir)), true);
    return false;
  }
  return openUrl_(QUrl::fromLocalFile(QDir(dir).absolutePath()));
}

bool RunHistoryController::deleteRun(const QString& dir) {
  const QString path = QDir(dir).absolutePath();
  const QString name = QDir::toNativeSeparators(path);
  if (isTraining_(path)) {
    Q_EMIT message(tr("%1 is training: stop the run before deleting it.").arg(name), true);
    return false;
  }
  if (!QFileInfo(path).isDir()) {
    list_->remove(path);  // already gone: the row goes too
    return true;
  }
  const bool comparison = QFileInfo::exists(QDir(path).filePath(QStringLiteral("comparison.json")));
  const QString what = comparison ? tr("the comparison %1 and all its runs").arg(QFileInfo(path).fileName())
                                  : tr("the run %1").arg(QFileInfo(path).fileName());
  if (!confirm_(tr("Delete the run?"), tr("Delete %1?\n\n%2\n\nIts checkpoint, curves and metrics go to the trash "
                                          "(or are removed where there is no trash).")
                                           .arg(what, name))) {
    return false;
  }
  // moveToTrash where the desktop has a trash; a plain removal where it has none.
  bool gone = QFile::moveToTrash(path);
  if (!gone) {
    gone = QDir(path).removeRecursively();
  }
  if (!gone) {
    Q_EMIT message(tr("Could not delete %1: check that it is writable.").arg(name), true);
    return false;
  }
  list_->remove(path);
  Q_EMIT runDeleted(path);
  return true;
}

}  // namespace ampbench::ui
