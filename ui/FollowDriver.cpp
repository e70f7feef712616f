#include "ui/FollowDriver.h"

#include "ui/MainWindow.h"
#include "ui/PlotsPanel.h"
#include "ui/PrecisionData.h"
#include "ui/PrecisionTab.h"
#include "ui/ResultsTab.h"
#include "ui/RunFollower.h"
#include "ui/RunLoader.h"
#include "ui/RunPanel.h"
#include "ui/TrainingController.h"

#include <QAction>
#include <QDir>
#include <QFileDialog>
#include <QFileInfo>
#include <QIcon>
#include <QMenu>

namespace ampbench::ui {

FollowDriver::FollowDriver(MainWindow* window) : QObject(window), window_(window), follower_(new RunFollower(this)) {
  chooseFolder_ = [this](const QString& start) {
    return QFileDialog::getExistingDirectory(window_, tr("Follow a run directory"), start);
  };
  RunsPresenter* presenter = window_->presenter();
  connect(follower_, &RunFollower::updated, this, &FollowDriver::apply);
  connect(follower_, &RunFollower::finished, this, &FollowDriver::ended);
  connect(follower_, &RunFollower::statusChanged, this, [this, presenter](const QString& text) {
    if (follower_->isFollowing()) {
      presenter->followStatus(text);
    }
  });
  connect(follower_, &RunFollower::failed, this, [this, presenter](const QString& error) {
    presenter->followStopped(follower_->dir(), error);
    presenter->showBanner(error, true);
  });
  // The plots are the new run's or the opened one's from now on.
  connect(window_->controller(), &TrainingController::runStarted, this, &FollowDriver::stop);
  connect(window_->loader(), &RunLoader::loadingChanged, this, [this](bool loading) {
    if (loading) {
      stop();
    }
  });
}

void FollowDriver::addMenuActions(QMenu* menu) {
  QAction* follow = menu->addAction(QIcon(QStringLiteral(":/icons/open-run.svg")), tr("Open run (&follow)…"), this,
                                    &FollowDriver::followWithDialog);
  follow->setToolTip(tr("Show a run another process is writing (a CLI or cluster run in a shared folder); the plots "
                        "refresh as its CSV logs grow, until it ends."));
  QAction* stopAction = menu->addAction(tr("Stop f&ollowing"), this, &FollowDriver::stop);
  stopAction->setEnabled(false);
  connect(follower_, &RunFollower::followingChanged, stopAction, &QAction::setEnabled);
}

void FollowDriver::follow(const QString& dir) {
  if (window_->controller()->isBusy()) {
    window_->presenter()->showBanner(tr("A run is training here: stop it before following another (its plots are in use)."),
                                     true);
    return;
  }
  window_->loader()->cancel();  // a load in progress would replace the followed run's plots
  window_->presenter()->showBanner(QString(), false);
  window_->showView(RunView::Live);
  follower_->follow(dir);
}

void FollowDriver::followWithDialog() {
  const QString last = window_->lastRunDir();
  const QString dir = chooseFolder_(last.isEmpty() ? QString() : QFileInfo(last).absolutePath());
  if (!dir.isEmpty()) {
    follow(dir);
  }
}

void FollowDriver::stop() {
  if (!follower_->isFollowing()) {
    return;
  }
  const QString dir = follower_->dir();
  follower_->stop();
  window_->presenter()->followStopped(dir, tr("Stopped following %1").arg(QFileInfo(dir).fileName()));
}

void FollowDriver::apply(const FollowUpdate& u) {
  PlotsPanel* plots = window_->plotsPanel();
  PrecisionTab* precision = window_->precisionTab();
  if (u.reset) {
    const QString caption = window_->presenter()->runFollowed(u.history);
    plots->showHistory(u.history, caption);
    precision->showHistory(u.precision, contextFor(u.history));
    if (u.history.config && !window_->controller()->isBusy()) {
      window_->runPanel()->setConfig(*u.history.config);  // Train then repeats the followed run here
    }
    return;
  }
  // An epoch's values sit at its last step: its steps go in before it.
  int next = 0;
  for (const auto& e : u.epochs) {
    while (next < u.steps.size() && u.steps[next].epoch <= e.epoch) {
      plots->addStep(u.steps[next++]);
    }
    plots->addEpoch(e);
  }
  while (next < u.steps.size()) {
    plots->addStep(u.steps[next++]);
  }
  for (const auto& s : u.samples) {
    precision->addStats(s);
  }
  for (const auto& o : u.overflows) {
    precision->addOverflow(o);
  }
}

void FollowDriver::ended(const RunEntry& entry) {
  window_->flushPlots();
  window_->presenter()->followEnded(entry);
  if (entry.status == QLatin1String("finished")) {
    window_->resultsTab()->showRun(entry.dir);
  }
}

}  // namespace ampbench::ui
