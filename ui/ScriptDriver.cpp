#include "ui/ScriptDriver.h"

#include "ui/DataPanel.h"
#include "ui/FollowDriver.h"
#include "ui/ImageInspector.h"
#include "ui/MainWindow.h"
#include "ui/PredictDriver.h"
#include "ui/ResultsTab.h"
#include "ui/RunFollower.h"
#include "ui/RunLoader.h"
#include "ui/RunPanel.h"
#include "ui/RunsPresenter.h"
#include "ui/TrainingController.h"

#include <QApplication>
#include <QTimer>

#include <QDir>
#include <QFileInfo>

#include <cstdio>

namespace ampbench::ui {
namespace {

constexpr int kSettleMs = 300;  // lets the last replot land before the screenshot

}  // namespace

ScriptDriver::ScriptDriver(const ScriptOptions& options, MainWindow* window)
    : QObject(window), options_(options), window_(window) {
  applySettings();
  TrainingController* c = window_->controller();
  // Connected after the window's own handlers, so the plots have the event first.
  connect(c, &TrainingController::epochDone, this, &ScriptDriver::epochDone);
  connect(c, &TrainingController::runEnded, this, &ScriptDriver::runEnded);
  connect(c, &TrainingController::failed, this, &ScriptDriver::failed);
  connect(c, &TrainingController::jobEnded, this, &ScriptDriver::jobEnded);
  connect(window_->dataPanel(), &DataPanel::scanFinished, this, &ScriptDriver::dataScanned);
  connect(window_->loader(), &RunLoader::loadFailed, this, [this](const QString& error) {
    if (options_.scripted()) {
      exitCode_ = 2;
      std::fprintf(stderr, "ampbench: %s\n", error.toLocal8Bit().constData());
    }
  });

  // Start once the data is scanned; --open shows a directory first.
  if (!options_.data.isEmpty()) {
    QTimer::singleShot(0, this, [this]() { window_->dataPanel()->setDataPath(options_.data); });
  }
  if (!options_.follow.isEmpty()) {
    startFollowing();
  } else if (!options_.open.isEmpty()) {
    QTimer::singleShot(0, this, [this]() {
      exitCode_ = window_->openPath(options_.open) ? 0 : 2;
      if (options_.data.isEmpty()) {
        QTimer::singleShot(kSettleMs, this, &ScriptDriver::done);
      }  // else the screenshot waits for the data scan (dataScanned)
    });
  } else if (options_.data.isEmpty() && options_.scripted()) {
    QTimer::singleShot(500, this, &ScriptDriver::done);
  }
}

void ScriptDriver::startFollowing() {
  RunFollower* follower = window_->followDriver()->follower();
  // Connected after the FollowDriver's own handlers: the plots have the rows first.
  connect(follower, &RunFollower::updated, this, [this](const FollowUpdate& u) {
    followedEpochs_ = u.reset ? static_cast<int>(u.history.epochs.size()) : followedEpochs_ + static_cast<int>(u.epochs.size());
    if (options_.screenshotAtEpoch > 0 && followedEpochs_ >= options_.screenshotAtEpoch && !screenshotTaken_ &&
        !options_.screenshot.isEmpty()) {
      screenshotTaken_ = takeScreenshot();
    }
  });
  connect(follower, &RunFollower::finished, this, [this]() { QTimer::singleShot(kSettleMs, this, &ScriptDriver::done); });
  connect(follower, &RunFollower::failed, this, [this](const QString& error) {
    exitCode_ = 2;
    std::fprintf(stderr, "ampbench: %s\n", error.toLocal8Bit().constData());
    QTimer::singleShot(kSettleMs, this, &ScriptDriver::done);
  });
  QTimer::singleShot(0, this, [this]() { window_->followDriver()->follow(options_.follow); });
}

void ScriptDriver::applySettings() {
  const ScriptOptions& o = options_;
  if (o.scripted()) {
    window_->setConfirmClose(false);
    window_->runPanel()->setPersistent(false);
  }
  window_->setRunDirOverride(o.out);
  window_->setComparisonModes(o.modes);
  if (o.withoutFixes) {
    window_->runPanel()->setWithoutFixes(true);
  }
  if (!o.precision.isEmpty()) {
    window_->runPanel()->setPrecisionName(o.precision);
  }
  if (o.model.size() > 0 || o.epochs > 0 || o.batchSize > 0 || o.imageSize > 0 || o.lr > 0 || o.seed >= 0 || o.limit >= 0 ||
      o.initScale > 0 || o.growthInterval > 0 || o.gradStatsEvery >= 0) {
    ampbench::RunConfig c = window_->runPanel()->config();
    if (!o.model.isEmpty()) {
      c.model = o.model.toStdString();
    }
    c.epochs = o.epochs > 0 ? o.epochs : c.epochs;
    c.batchSize = o.batchSize > 0 ? o.batchSize : c.batchSize;
    c.imageSize = o.imageSize > 0 ? o.imageSize : c.imageSize;
    c.lr = o.lr > 0 ? o.lr : c.lr;
    c.seed = o.seed >= 0 ? static_cast<uint64_t>(o.seed) : c.seed;
    c.limitPerSplit = o.limit >= 0 ? o.limit : c.limitPerSplit;
    c.scaler.initScale = o.initScale > 0 ? o.initScale : c.scaler.initScale;
    c.scaler.growthInterval = o.growthInterval > 0 ? o.growthInterval : c.scaler.growthInterval;
    c.gradStatsEvery = o.gradStatsEvery >= 0 ? o.gradStatsEvery : c.gradStatsEvery;
    window_->runPanel()->setConfig(c);
  }
}

void ScriptDriver::dataScanned(bool usable) {
  if (!options_.scripted() || started_) {
    return;
  }
  started_ = true;
  if (!options_.open.isEmpty()) {
    QTimer::singleShot(kSettleMs, this, &ScriptDriver::done);
    return;
  }
  if (!options_.start) {
    // Only a screenshot of the scanned data was asked for.
    exitCode_ = usable ? 0 : 2;
    QTimer::singleShot(kSettleMs, this, &ScriptDriver::done);
    return;
  }
  bool started = false;
  if (usable) {
    started = options_.compare ? window_->startComparison() : window_->startTraining();
  } else {
    std::fprintf(stderr, "ampbench: %s\n", window_->dataPanel()->problem().toLocal8Bit().constData());
  }
  if (!started) {
    exitCode_ = 2;
    QTimer::singleShot(kSettleMs, this, &ScriptDriver::done);
  } else if (const auto view = viewFromName(options_.show); view && !options_.show.isEmpty()) {
    window_->showView(*view);  // --show without a screenshot: the view to watch (the demo opens on Precision)
  }
}

void ScriptDriver::runEnded(const ampbench::RunSummary& s) {
  // A what-if (a fix switched off) that diverges is the result it exists to show.
  const bool whatIfResult = s.status == ampbench::RunStatus::Diverged && s.precision.whatIf;
  if (s.status != ampbench::RunStatus::Finished && !whatIfResult) {
    exitCode_ = 1;
  }
}

void ScriptDriver::failed(const QString& message, bool userFixable) {
  exitCode_ = userFixable ? 2 : 1;
  if (options_.scripted()) {
    std::fprintf(stderr, "ampbench: %s\n", message.toLocal8Bit().constData());
  }
}

void ScriptDriver::epochDone(const ampbench::EpochEvent& e) {
  if (options_.screenshotAtEpoch > 0 && e.epoch == options_.screenshotAtEpoch && !screenshotTaken_ &&
      !options_.screenshot.isEmpty()) {
    screenshotTaken_ = takeScreenshot();
  }
}

void ScriptDriver::jobEnded() {
  if (options_.scripted() && started_) {
    QTimer::singleShot(kSettleMs, this, &ScriptDriver::done);
  }
}

bool ScriptDriver::startPredict() {
  ImageInspectorDialog* dialog = window_->predictDriver()->dialog();
  connect(
      dialog->inspector(), &ImageInspector::resultShown, this,
      [this, dialog]() {
        if (!dialog->inspector()->errorText().isEmpty()) {
          std::fprintf(stderr, "ampbench: %s\n", dialog->inspector()->errorText().toLocal8Bit().constData());
          exitCode_ = 2;
        }
        QTimer::singleShot(kSettleMs, this, &ScriptDriver::done);
      },
      Qt::SingleShotConnection);
  if (options_.windowSize.isValid()) {
    dialog->resize(options_.windowSize);
  }
  return window_->predictDriver()->predictFiles(options_.predict);
}

bool ScriptDriver::takeScreenshot() {
  if (predictShown_) {
    QWidget* dialog = window_->predictDriver()->dialog();
    QDir().mkpath(QFileInfo(options_.screenshot).absolutePath());
    return dialog->grab().save(options_.screenshot);
  }
  if (const auto view = viewFromName(options_.show); view && !options_.show.isEmpty()) {
    window_->showView(*view);
    // A tab brought to the front is laid out by posted events: let them run before the grab.
    QApplication::processEvents(QEventLoop::ExcludeUserInputEvents);
  }
  window_->flushPlots();
  return window_->saveScreenshot(options_.screenshot);
}

void ScriptDriver::done() {
  if (window_->loader()->isLoading()) {
    // --open and a finished comparison read their files on a worker: wait for the view.
    connect(window_->loader(), &RunLoader::loadingChanged, this,
            [this]() { QTimer::singleShot(kSettleMs, this, &ScriptDriver::done); }, Qt::SingleShotConnection);
    return;
  }
  if (!options_.predict.isEmpty() && !predictShown_ && exitCode_ == 0) {
    predictShown_ = true;
    if (startPredict()) {
      return;  // done() again once the inspector shows the result
    }
    exitCode_ = 2;
    predictShown_ = false;
  }
  ResultsTab* results = window_->resultsTab();
  if (viewFromName(options_.show) == RunView::Results && !results->isSettled()) {
    // The Results tab loads, evaluates and decodes thumbnails on workers: wait for them.
    connect(results, &ResultsTab::settled, this, [this]() { QTimer::singleShot(kSettleMs, this, &ScriptDriver::done); },
            Qt::SingleShotConnection);
    return;
  }
  if (viewFromName(options_.show) == RunView::Results && !results->presenter()->error().isEmpty()) {
    std::fprintf(stderr, "ampbench: results: %s\n", results->presenter()->error().toLocal8Bit().constData());
  }
  if (!options_.screenshot.isEmpty() && !screenshotTaken_) {
    screenshotTaken_ = takeScreenshot();
    if (!screenshotTaken_) {
      exitCode_ = 1;
    }
  }
  if (options_.exitWhenDone) {
    QApplication::exit(exitCode_);
  }
}

}  // namespace ampbench::ui
