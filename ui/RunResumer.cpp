#include "ui/RunResumer.h"

#include "ui/RunsPresenter.h"
#include "ui/TrainingController.h"

#include "engine/train/Trainer.h"
#include "engine/util/Errors.h"

#include <QDir>
#include <QFile>
#include <QFileInfo>

namespace ampbench::ui {

namespace {

// Complete data rows of epochs.csv (a line cut by a kill does not count).
int completedEpochs(const QString& dir) {
  QFile f(QDir(dir).filePath(QStringLiteral("epochs.csv")));
  if (!f.open(QIODevice::ReadOnly)) {
    return 0;
  }
  const QByteArray text = f.readAll();
  const int lines = static_cast<int>(text.count('\n'));
  return lines > 0 ? lines - 1 : 0;  // the header
}

}  // namespace

RunResumer::RunResumer(TrainingController* controller, RunsPresenter* presenter, QObject* parent)
    : QObject(parent), controller_(controller), presenter_(presenter) {}

bool RunResumer::canResume(const QString& dir, QString* why) {
  auto no = [why](const QString& reason) {
    if (why) {
      *why = reason;
    }
    return false;
  };
  if (!QFileInfo::exists(QDir(dir).filePath(QStringLiteral("checkpoint.pt")))) {
    return no(tr("no checkpoint.pt: no epoch or checkpoint was written"));
  }
  ampbench::RunConfig c;
  try {
    c = resumeConfig(dir);
  } catch (const std::exception& e) {
    return no(QString::fromStdString(e.what()));
  }
  const int done = completedEpochs(dir);
  if (done >= c.epochs) {
    return no(tr("all %1 epochs are done").arg(c.epochs));
  }
  if (why) {
    *why = tr("%1 of %2 epochs done").arg(done).arg(c.epochs);
  }
  return true;
}

ampbench::RunConfig RunResumer::resumeConfig(const QString& dir) {
  auto c = ampbench::readRunConfig(QDir(dir).absolutePath().toStdString());
  c.outDir = QDir(dir).absolutePath().toStdString();
  c.resumeFrom = c.outDir;
  return c;
}

bool RunResumer::resume(const QString& dir) {
  if (controller_->isBusy()) {
    presenter_->startRefused(tr("A run is in progress: stop it or wait for it before resuming %1.")
                                 .arg(QDir::toNativeSeparators(dir)));
    return false;
  }
  QString why;
  if (!canResume(dir, &why)) {
    presenter_->startRefused(tr("%1 cannot be resumed: %2").arg(QDir::toNativeSeparators(dir), why));
    return false;
  }
  presenter_->showBanner(QString(), false);
  try {
    const auto config = resumeConfig(dir);
    ampbench::validateConfig(config);
    presenter_->trainingRequested();
    return controller_->startTraining(config);
  } catch (const std::exception& e) {
    presenter_->startRefused(QString::fromStdString(e.what()));
    return false;
  }
}

}  // namespace ampbench::ui
