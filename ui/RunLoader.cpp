#include "ui/RunLoader.h"

#include <QDir>
#include <QFileInfo>
#include <QHBoxLayout>
#include <QLabel>
#include <QProgressBar>
#include <QPromise>
#include <QToolButton>
#include <QtConcurrent>

#include <algorithm>
#include <utility>

namespace ampbench::ui {

RunLoader::RunLoader(QObject* parent) : QObject(parent) {
  connect(&watcher_, &QFutureWatcher<LoadResult>::finished, this, &RunLoader::onFinished);
  connect(&watcher_, &QFutureWatcher<LoadResult>::progressValueChanged, this, &RunLoader::progressChanged);
}

RunLoader::~RunLoader() { cancel_.cancel(); }

bool RunLoader::open(const QString& dir, QString* error) {
  const QString shown = QDir::toNativeSeparators(dir);
  if (isComparisonDir(dir)) {
    start(dir, tr("Reading the comparison %1 …").arg(shown), [dir](const ReadControl& control) {
      LoadResult r;
      r.comparison = true;
      r.compared = loadComparisonHistory(dir, control);
      r.error = r.compared.error;
      return r;
    });
    return true;
  }
  if (!isRunDir(dir)) {
    if (error) {
      *error = tr("%1 is not a run directory: it has neither steps.csv nor epochs.csv.").arg(dir);
    }
    return false;
  }
  start(dir, tr("Reading the run %1 …").arg(shown), [dir](const ReadControl& control) {
    LoadResult r;
    r.run = loadRunHistory(dir, control);
    r.error = r.run.error;
    if (r.error.isEmpty()) {
      r.precision = loadPrecisionHistory(r.run, control);
    }
    return r;
  });
  return true;
}

void RunLoader::openFinishedComparison(const ampbench::ComparisonSummary& summary) {
  const QString dir = qs(summary.outDir);
  start(dir, tr("Reading the comparison's runs …"), [summary](const ReadControl& control) {
    LoadResult r;
    r.comparison = true;
    r.fromDisk = false;
    r.compared = loadComparisonRuns(summary, control);
    r.error = r.compared.error;
    return r;
  });
}

void RunLoader::cancel() {
  cancel_.cancel();
  ++generation_;
  watcher_.setFuture(QFuture<LoadResult>());  // stop watching the stale one
  setLoading(false);
}

void RunLoader::start(const QString& dir, const QString& text, std::function<LoadResult(const ReadControl&)> work) {
  cancel_.cancel();  // the previous load, if any, is stale now
  cancel_ = ampbench::CancelToken{};
  const quint64 generation = ++generation_;
  text_ = text;
  setLoading(true);
  Q_EMIT progressChanged(-1);
  watcher_.setFuture(QtConcurrent::run(
      [dir, generation, work = std::move(work), cancel = cancel_](QPromise<LoadResult>& promise) {
        // Progress in thousandths of the bytes to read (Qt drops values that do not grow).
        const qint64 total = std::max<qint64>(1, bytesToRead(dir));
        qint64 done = 0;
        promise.setProgressRange(0, 1000);
        ReadControl control;
        control.cancelled = [&promise, cancel]() { return cancel.isCancelled() || promise.isCanceled(); };
        control.progress = [&promise, &done, total](qint64 bytes) {
          done += bytes;
          promise.setProgressValue(static_cast<int>(std::min<qint64>(1000, done * 1000 / total)));
        };
        LoadResult r = work(control);
        r.dir = dir;
        r.run.runDir = r.run.runDir.isEmpty() ? dir : r.run.runDir;
        r.generation = generation;
        if (!control.isCancelled()) {
          promise.addResult(std::move(r));
        }
      }));
}

void RunLoader::onFinished() {
  const QFuture<LoadResult> future = watcher_.future();
  if (future.resultCount() == 0 || future.result().generation != generation_) {
    return;  // cancelled or stale: a newer load (or none) is what counts
  }
  const LoadResult r = future.result();
  setLoading(false);
  if (!r.error.isEmpty()) {
    Q_EMIT loadFailed(r.error);
  } else if (r.comparison) {
    Q_EMIT comparisonLoaded(r.compared, r.dir, r.fromDisk);
  } else {
    Q_EMIT runLoaded(r.run, r.precision);
  }
}

void RunLoader::setLoading(bool loading) {
  if (loading_ != loading) {
    loading_ = loading;
    Q_EMIT loadingChanged(loading);
  } else if (loading) {
    Q_EMIT loadingChanged(true);  // a new load replaced the one shown: its text changed
  }
}

LoadIndicator::LoadIndicator(RunLoader* loader, QWidget* parent) : QWidget(parent) {
  auto* layout = new QHBoxLayout(this);
  layout->setContentsMargins(0, 0, 0, 0);
  label_ = new QLabel(this);
  progress_ = new QProgressBar(this);
  progress_->setMaximumWidth(160);
  progress_->setTextVisible(false);
  cancel_ = new QToolButton(this);
  cancel_->setText(tr("Cancel"));
  cancel_->setToolTip(tr("Stop reading; the view keeps what it showed before."));
  layout->addWidget(label_);
  layout->addWidget(progress_);
  layout->addWidget(cancel_);
  setVisible(false);
  connect(cancel_, &QToolButton::clicked, loader, &RunLoader::cancel);
  connect(loader, &RunLoader::loadingChanged, this, [this, loader](bool loading) {
    label_->setText(loader->text());
    setVisible(loading);
  });
  connect(loader, &RunLoader::progressChanged, this, [this](int permille) {
    progress_->setRange(0, permille < 0 ? 0 : 1000);  // 0..0: busy, size unknown yet
    progress_->setValue(std::max(0, permille));
  });
}

}  // namespace ampbench::ui
