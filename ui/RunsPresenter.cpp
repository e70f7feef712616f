#include "ui/RunsPresenter.h"

#include "ui/Format.h"
#include "ui/RunFiles.h"

#include <QDir>
#include <QFileInfo>

#include <algorithm>
#include <limits>

namespace ampbench::ui {
namespace {

QString statusName(ampbench::RunStatus s) {
  switch (s) {
    case ampbench::RunStatus::Finished:
      return QObject::tr("finished");
    case ampbench::RunStatus::Cancelled:
      return QObject::tr("stopped");
    case ampbench::RunStatus::Diverged:
      return QObject::tr("diverged");
    case ampbench::RunStatus::Failed:
      return QObject::tr("failed");
  }
  return QObject::tr("unknown");
}

RunEntry entryFromHistory(const RunHistory& h, const QString& status) {
  RunEntry e;
  e.dir = h.runDir;
  e.mode = runModeName(h);
  e.status = status;
  for (auto it = h.epochs.crbegin(); it != h.epochs.crend(); ++it) {
    if (it->validated) {
      e.valAccuracy = it->val.accuracy;
      e.valAuc = it->val.auc;
      break;
    }
  }
  if (!h.epochs.isEmpty()) {
    e.imagesPerSecond = h.epochs.back().imagesPerSecond;
  }
  return e;
}

int clampToInt(int64_t v) { return static_cast<int>(std::clamp<int64_t>(v, 0, std::numeric_limits<int>::max())); }

}  // namespace

QString viewName(RunView view) {
  switch (view) {
    case RunView::Live:
      return QStringLiteral("live");
    case RunView::Precision:
      return QStringLiteral("precision");
    case RunView::Comparison:
      return QStringLiteral("comparison");
    case RunView::Results:
      return QStringLiteral("results");
  }
  return QString();
}

std::optional<RunView> viewFromName(const QString& name) {
  for (RunView v : {RunView::Live, RunView::Precision, RunView::Comparison, RunView::Results}) {
    if (viewName(v) == name.trimmed().toLower()) {
      return v;
    }
  }
  return std::nullopt;
}

QStringList viewNames() {
  return {viewName(RunView::Live), viewName(RunView::Precision), viewName(RunView::Comparison), viewName(RunView::Results)};
}

QString runEndName(const ampbench::RunSummary& s) { return s.outOfMemory ? QObject::tr("out of memory") : statusName(s.status); }

RunsPresenter::RunsPresenter(QObject* parent) : QObject(parent) { runState_ = tr("idle"); }

QString RunsPresenter::windowTitle() const { return tr("AmpBench — %1").arg(runState_); }

void RunsPresenter::setRunState(const QString& state) {
  runState_ = state;
  Q_EMIT stateChanged(state);
}

void RunsPresenter::setStatusText(const QString& text) {
  statusText_ = text;
  Q_EMIT statusTextChanged(text);
}

void RunsPresenter::setProgress(int value, int maximum, const QString& format) {
  progressValue_ = value;
  progressMaximum_ = maximum;
  progressFormat_ = format;
  Q_EMIT progressChanged(value, maximum, format);
}

void RunsPresenter::showBanner(const QString& text, bool error) {
  banner_ = text;
  bannerError_ = error;
  Q_EMIT bannerChanged(text, error);
}

void RunsPresenter::setView(RunView view) {
  view_ = view;
  Q_EMIT viewRequested(view);
}

void RunsPresenter::upsert(const RunEntry& entry) {
  const QString dir = QDir(entry.dir).absolutePath();
  auto it = std::find_if(runs_.begin(), runs_.end(), [&dir](const RunEntry& e) { return e.dir == dir; });
  RunEntry stored = entry;
  stored.dir = dir;
  if (it == runs_.end()) {
    runs_.push_back(stored);
  } else {
    *it = stored;
  }
  Q_EMIT runUpserted(entry);
}

void RunsPresenter::dataProgress(const ampbench::DataProgressEvent& e) {
  if (e.total <= 0) {
    // Still listing the folder: no total yet, so a busy bar and a count.
    setProgress(0, 0, progressFormat_);
    setStatusText(tr("Preparing data: %1, %2 image files found").arg(qs(e.phase)).arg(e.done));
    return;
  }
  setProgress(clampToInt(e.done), clampToInt(e.total), tr("%1 %p%").arg(qs(e.phase)));
  setStatusText(tr("Preparing data: %1 %2 of %3").arg(qs(e.phase)).arg(e.done).arg(e.total));
}

void RunsPresenter::runStarted(const ampbench::RunStartedEvent& e) {
  currentRunDir_ = qs(e.runDir);
  totalSteps_ = e.totalSteps;
  epochs_ = e.config.epochs;
  setView(RunView::Live);
  setProgress(0, clampToInt(std::max<int64_t>(totalSteps_, 1)), QStringLiteral("%p%"));
  RunEntry entry;
  entry.dir = currentRunDir_;
  entry.mode = qs(ampbench::toString(e.config.precision));
  entry.status = tr("running");
  upsert(entry);
  statusClock_.invalidate();
  setRunState(compareLabel_.isEmpty() ? tr("training") : tr("comparing, %1").arg(compareLabel_));
}

void RunsPresenter::step(const ampbench::StepEvent& e, bool force) {
  if (!force && statusClock_.isValid() && statusClock_.elapsed() < kStatusIntervalMs) {
    return;
  }
  statusClock_.start();
  setProgress(clampToInt(e.step), progressMaximum_, progressFormat_);
  const double remaining = e.step > 0 && totalSteps_ > e.step
                               ? e.elapsedSeconds / static_cast<double>(e.step) * static_cast<double>(totalSteps_ - e.step)
                               : 0.0;
  QString text = tr("Epoch %1/%2 · step %3/%4 · ETA %5 · %6")
                     .arg(e.epoch)
                     .arg(epochs_)
                     .arg(e.step)
                     .arg(totalSteps_)
                     .arg(formatDuration(remaining), formatRate(e.imagesPerSecond));
  if (!compareLabel_.isEmpty()) {
    text = tr("Comparison %1 · %2").arg(compareLabel_, text);
  }
  setStatusText(text);
  const QString state = compareLabel_.isEmpty() ? tr("training, epoch %1/%2").arg(e.epoch).arg(epochs_)
                                                : tr("comparing, %1, epoch %2/%3").arg(compareLabel_).arg(e.epoch).arg(epochs_);
  if (state != runState_) {
    setRunState(state);
  }
}

void RunsPresenter::runEnded(const ampbench::RunSummary& s) {
  lastRunDir_ = s.runDir.empty() ? currentRunDir_ : qs(s.runDir);
  RunEntry entry;
  entry.dir = lastRunDir_;
  entry.mode = qs(ampbench::toString(s.precision.requested));
  const QString ended = runEndName(s);
  entry.status = ended;
  if (s.hasFinalMetrics) {
    entry.valAccuracy = s.finalVal.accuracy;
    entry.valAuc = s.finalVal.auc;
  }
  entry.imagesPerSecond = s.imagesPerSecond;
  upsert(entry);
  if (s.status != ampbench::RunStatus::Finished && !s.message.empty()) {
    showBanner(qs(s.message), s.status != ampbench::RunStatus::Cancelled);
  }
  setStatusText(tr("Run %1: %2 epochs, %3, %4")
                    .arg(ended)
                    .arg(s.epochsCompleted)
                    .arg(s.hasFinalMetrics ? tr("validation accuracy %1").arg(formatPercent(s.finalVal.accuracy))
                                           : tr("no final evaluation"))
                    .arg(formatRate(s.imagesPerSecond)));
  setRunState(ended);
}

void RunsPresenter::compareModeStarted(int index, int count, const QString& mode) {
  compareLabel_ = tr("run %1 of %2 (%3)").arg(index + 1).arg(count).arg(modeDisplayName(mode));
}

void RunsPresenter::comparisonShown(const ampbench::ComparisonSummary& s, const QString& verdict) {
  setView(RunView::Comparison);
  RunEntry entry;
  entry.dir = qs(s.outDir);
  entry.comparison = true;
  QStringList modes;
  for (const auto& m : s.modeNames) {
    modes << qs(m);
  }
  entry.mode = modes.join(tr(" vs "));
  entry.status = statusName(s.status);
  upsert(entry);
  setStatusText(verdict);
}

void RunsPresenter::jobFailed(const QString& message, bool userFixable) {
  showBanner(userFixable ? message : tr("The run failed: %1").arg(message), true);
  setRunState(tr("failed"));
}

void RunsPresenter::jobEnded() { compareLabel_.clear(); }

void RunsPresenter::trainingRequested() {
  setRunState(tr("starting"));
}

void RunsPresenter::comparisonRequested(int modeCount) {
  compareLabel_ = tr("run 1 of %1").arg(modeCount);
  setRunState(tr("comparing"));
}

void RunsPresenter::startRefused(const QString& reason) { showBanner(reason, true); }

void RunsPresenter::stopRequested() {
  markStopping();
  setStatusText(tr("Stopping after the current step…"));
}

void RunsPresenter::closing() { markStopping(); }

void RunsPresenter::markStopping() {
  setRunState(tr("stopping"));
  // The run's row too: "running" until the engine's step ends would read as if Stop failed.
  const QString dir = QDir(currentRunDir_).absolutePath();
  for (const RunEntry& e : runs_) {
    if (!currentRunDir_.isEmpty() && e.dir == dir && e.status == tr("running")) {
      RunEntry stopping = e;
      stopping.status = tr("stopping");
      upsert(stopping);
      return;
    }
  }
}

void RunsPresenter::comparisonOpened(const QString& dir) {
  RunEntry entry;
  entry.dir = dir;
  entry.comparison = true;
  entry.mode = tr("comparison");
  entry.status = tr("on disk");
  upsert(entry);
  setView(RunView::Comparison);
  showBanner(QString(), false);
}

QString RunsPresenter::runOpened(const RunHistory& history) {
  upsert(entryFromHistory(history, tr("on disk")));
  lastRunDir_ = history.runDir;
  setView(RunView::Live);
  showBanner(QString(), false);
  return runCaption(history, tr("reopened from"));
}

QString RunsPresenter::runCaption(const RunHistory& history, const QString& how) const {
  QString caption = tr("<b>%1</b> · %2 %3").arg(modeDisplayName(runModeName(history)).toHtmlEscaped(), how,
                                                QDir::toNativeSeparators(history.runDir).toHtmlEscaped());
  if (const auto& c = history.config) {
    const QString batch = c->distributed.worldSize > 1 ? tr("%1 ranks × batch %2").arg(c->distributed.worldSize).arg(c->batchSize)
                                                       : tr("batch %1").arg(c->batchSize);
    caption += tr(" · %1 · %2 · %3 px").arg(qs(c->model), batch).arg(c->imageSize);
  }
  return caption;
}

QString RunsPresenter::runFollowed(const RunHistory& history) {
  upsert(entryFromHistory(history, tr("following")));
  lastRunDir_ = history.runDir;
  setRunState(tr("following %1").arg(QFileInfo(history.runDir).fileName()));
  return runCaption(history, tr("following"));
}

void RunsPresenter::followEnded(const RunEntry& entry) {
  upsert(entry);
  setRunState(entry.status);
  setStatusText(tr("Followed %1 to its end: %2").arg(QFileInfo(entry.dir).fileName(), entry.status));
}

void RunsPresenter::followStopped(const QString& dir, const QString& reason) {
  const QString absolute = QDir(dir).absolutePath();
  for (const RunEntry& e : runs_) {
    if (e.dir == absolute && e.status == tr("following")) {
      RunEntry stopped = e;
      stopped.status = tr("on disk");
      upsert(stopped);
      break;
    }
  }
  setRunState(tr("not following"));
  setStatusText(reason);
}

void RunsPresenter::followStatus(const QString& text) { setStatusText(text); }

void RunsPresenter::openFailed(const QString& reason) { showBanner(reason, true); }

}  // namespace ampbench::ui
