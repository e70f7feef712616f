#include "ui/RunFollower.h"

#include "ui/RunsFolder.h"

#include <QDateTime>
#include <QDir>
#include <QFileInfo>
#include <QFileSystemWatcher>
#include <QtConcurrent>

#include <algorithm>
#include <exception>
#include <utility>

namespace ampbench::ui {
namespace {

const QString kSteps = QStringLiteral("steps.csv");
const QString kEpochs = QStringLiteral("epochs.csv");
const QString kStats = QStringLiteral("grad_stats.csv");
const QString kOverflows = QStringLiteral("overflows.csv");

}  // namespace

RunTail::RunTail(const QString& dir)
    : dir_(dir),
      steps_(QDir(dir).filePath(kSteps)),
      epochs_(QDir(dir).filePath(kEpochs)),
      stats_(QDir(dir).filePath(kStats)),
      overflows_(QDir(dir).filePath(kOverflows)) {
  history_.runDir = dir;
}

bool RunTail::endedBeforeLogs() const {
  // A resumed run repairs (rewrites) its logs after the last run's metrics.json: the run
  // has ended only when metrics.json is at least as new as the logs.
  const QDir d(dir_);
  const QFileInfo metrics(d.filePath(QStringLiteral("metrics.json")));
  if (!metrics.exists()) {
    return false;
  }
  for (const QString& log : {kSteps, kEpochs}) {
    const QFileInfo info(d.filePath(log));
    if (info.exists() && info.lastModified() > metrics.lastModified()) {
      return false;
    }
  }
  return true;
}

FollowUpdate RunTail::poll() {
  FollowUpdate u;
  u.dir = dir_;
  u.history.runDir = dir_;
  if (!QFileInfo(dir_).isDir()) {
    u.error = first_ ? QObject::tr("%1 is not a folder: follow a run folder (where a run writes config.json and steps.csv).")
                           .arg(QDir::toNativeSeparators(dir_))
                     : QObject::tr("The run folder %1 is gone (deleted or moved): following stopped.")
                           .arg(QDir::toNativeSeparators(dir_));
    return u;
  }
  if (first_ && isComparisonDir(dir_)) {
    u.error = QObject::tr("%1 is a finished comparison: open it with File ▸ Open run, or follow one of its mode folders.")
                  .arg(QDir::toNativeSeparators(dir_));
    return u;
  }
  // metrics.json before the logs: the rows flushed before it was written are all read below.
  const bool ended = endedBeforeLogs();
  if (!configRead_ && QFileInfo::exists(QDir(dir_).filePath(QStringLiteral("config.json")))) {
    try {
      history_.config = ampbench::readRunConfig(dir_.toStdString());
      configRead_ = true;
    } catch (const std::exception&) {
      history_.config.reset();  // written atomically, so not half-written: unreadable, the curves still show
      configRead_ = true;
    }
  }
  const TailRead steps = steps_.read();
  const TailRead epochs = epochs_.read();
  const TailRead stats = stats_.read();
  const TailRead overflows = overflows_.read();
  // A log is only ever replaced by a rename, never missing in between: one that vanished is
  // being deleted (with its folder, most likely). What is shown stays; following ends.
  const std::pair<const TailRead*, const FileTail*> logs[] = {
      {&steps, &steps_}, {&epochs, &epochs_}, {&stats, &stats_}, {&overflows, &overflows_}};
  for (const auto& [read, tail] : logs) {
    if (!read->exists && read->restarted) {
      u.error = QFileInfo(dir_).isDir()
                    ? QObject::tr("%1 was deleted: following stopped.").arg(QDir::toNativeSeparators(tail->path()))
                    : QObject::tr("The run folder %1 is gone (deleted or moved): following stopped.")
                          .arg(QDir::toNativeSeparators(dir_));
      return u;
    }
  }
  takeSteps(steps, &u);
  takeEpochs(epochs, &u);
  takeStats(stats, ended, &u);
  takeOverflows(overflows, &u);
  u.bytesRead = steps.bytes + epochs.bytes + stats.bytes + overflows.bytes;
  QDateTime newest;
  for (const FileTail* tail : {&steps_, &epochs_, &stats_, &overflows_}) {
    const QFileInfo info(tail->path());
    if (info.exists()) {
      u.files << tail->path();
      if (!newest.isValid() || info.lastModified() > newest) {
        newest = info.lastModified();
      }
    }
  }
  if (newest.isValid()) {
    u.secondsSinceWrite = std::max<qint64>(0, newest.secsTo(QDateTime::currentDateTime()));
  }
  u.history.config = history_.config;
  const bool restarted = steps.restarted || epochs.restarted || stats.restarted || overflows.restarted;
  if (first_ || restarted) {
    u.reset = true;
    u.history = history_;
    u.precision = precision_;
    u.steps.clear();
    u.epochs.clear();
    u.samples.clear();
    u.overflows.clear();
  }
  first_ = false;
  if (ended) {
    u.finished = true;
    u.entry = scanRunDir(dir_);
  }
  return u;
}

void RunTail::takeSteps(const TailRead& read, FollowUpdate* u) {
  if (read.restarted) {
    history_.steps.clear();
    stepsHeader_ = {};
    epochOfLast_ = -1;
    inEpoch_ = 0;
    stepsPerEpoch_ = 0;
  }
  for (int i = 0; i < read.lines.size(); ++i) {
    const QString line = read.lines[i].trimmed();
    if (read.fromTop && i == 0) {
      stepsHeader_ = CsvHeader(line);
      continue;
    }
    if (line.isEmpty() || stepsHeader_.isEmpty()) {
      continue;
    }
    ampbench::StepEvent s = parseStepRow(stepsHeader_, line);
    if (s.epoch != epochOfLast_) {
      if (epochOfLast_ >= 0 && stepsPerEpoch_ == 0) {
        stepsPerEpoch_ = inEpoch_;  // the first whole epoch: the live images/s line can be placed
      }
      epochOfLast_ = s.epoch;
      inEpoch_ = 0;
    }
    s.stepInEpoch = ++inEpoch_;
    s.stepsPerEpoch = stepsPerEpoch_;
    history_.steps.push_back(s);
    u->steps.push_back(s);
  }
}

void RunTail::takeEpochs(const TailRead& read, FollowUpdate* u) {
  if (read.restarted) {
    history_.epochs.clear();
    epochsHeader_ = {};
  }
  for (int i = 0; i < read.lines.size(); ++i) {
    const QString line = read.lines[i].trimmed();
    if (read.fromTop && i == 0) {
      epochsHeader_ = CsvHeader(line);
      continue;
    }
    if (line.isEmpty() || epochsHeader_.isEmpty()) {
      continue;
    }
    ampbench::EpochEvent e = parseEpochRow(epochsHeader_, line);
    e.epochs = history_.config ? history_.config->epochs : 0;
    history_.epochs.push_back(e);
    u->epochs.push_back(e);
  }
}

void RunTail::takeStats(const TailRead& read, bool finished, FollowUpdate* u) {
  if (read.restarted) {
    precision_.samples.clear();
    pendingStats_.clear();
  }
  precision_.haveStats = precision_.haveStats || read.exists;
  for (int i = 0; i < read.lines.size(); ++i) {
    if (read.fromTop && i == 0 && read.lines[i].trimmed() == QLatin1String(kGradStatsCsvHeader)) {
      continue;
    }
    pendingStats_.add(read.lines[i]);
  }
  // A sample is whole once a later step's rows began, and its loss scale is known once
  // steps.csv reached its step (steps.csv is flushed less often than grad_stats.csv).
  int64_t before = -1;
  if (!finished) {
    const int64_t lastRow = history_.steps.isEmpty() ? 0 : history_.steps.back().step;
    before = std::min(pendingStats_.lastStep(), lastRow + 1);
  }
  const auto samples = pendingStats_.take(history_.steps, before);
  precision_.samples += samples;
  u->samples += samples;
  precision_.skippedRows = pendingStats_.skipped;
}

void RunTail::takeOverflows(const TailRead& read, FollowUpdate* u) {
  if (read.restarted) {
    precision_.overflows.clear();
  }
  precision_.haveOverflows = precision_.haveOverflows || read.exists;
  for (int i = 0; i < read.lines.size(); ++i) {
    const QString line = read.lines[i].trimmed();
    ampbench::OverflowAttribution a;
    if ((read.fromTop && i == 0 && line == QLatin1String(kOverflowsCsvHeader)) || line.isEmpty() ||
        !parseOverflowRow(line, &a)) {
      continue;
    }
    precision_.overflows.push_back(a);
    u->overflows.push_back(a);
  }
}

QString followStatusText(const QString& run, qint64 secondsSinceRows, bool anyRows) {
  if (!anyRows) {
    return QObject::tr("Following %1 — waiting for its first rows").arg(run);
  }
  if (secondsSinceRows >= RunFollower::kStaleSeconds) {
    return QObject::tr("Following %1 — no new rows for %2 min").arg(run).arg(secondsSinceRows / 60);
  }
  return QObject::tr("Following %1 — last update %2 s ago").arg(run).arg(secondsSinceRows);
}

RunFollower::RunFollower(QObject* parent) : QObject(parent) {
  qRegisterMetaType<FollowUpdate>();
  pollTimer_.setInterval(kPollMs);
  connect(&pollTimer_, &QTimer::timeout, this, &RunFollower::pollSoon);
  statusTimer_.setInterval(1000);
  connect(&statusTimer_, &QTimer::timeout, this, [this]() { Q_EMIT statusChanged(statusText()); });
  soonTimer_.setSingleShot(true);
  soonTimer_.setInterval(200);
  connect(&soonTimer_, &QTimer::timeout, this, &RunFollower::pollSoon);
  connect(&watcher_, &QFutureWatcher<FollowUpdate>::finished, this, &RunFollower::onPolled);
}

// A poll in flight keeps its RunTail alive through its own pointer and touches nothing else.
RunFollower::~RunFollower() = default;

void RunFollower::follow(const QString& dir) {
  stop();
  dir_ = QDir::cleanPath(QDir(dir).absolutePath());
  tail_ = std::make_shared<RunTail>(dir_);
  anyRows_ = false;
  rowsAgeS_ = 0;
  sinceRows_.start();
  polls_ = 0;
  setFollowing(true);
  pollTimer_.start();
  statusTimer_.start();
  startPoll();
  Q_EMIT statusChanged(statusText());
}

void RunFollower::stop() {
  ++generation_;
  pollTimer_.stop();
  statusTimer_.stop();
  soonTimer_.stop();
  again_ = false;
  inFlight_ = false;  // a poll still running is stale: its result is dropped
  delete fsWatcher_;
  fsWatcher_ = nullptr;
  tail_.reset();
  setFollowing(false);
}

void RunFollower::setPollInterval(int ms) { pollTimer_.setInterval(ms); }

void RunFollower::pollSoon() {
  if (!following_) {
    return;
  }
  // Not watcher_.isRunning(): that turns false when the worker ends, before its result is
  // delivered, and a new setFuture() would drop that result.
  if (inFlight_) {
    again_ = true;
    return;
  }
  startPoll();
}

void RunFollower::startPoll() {
  polling_ = generation_;
  inFlight_ = true;
  std::shared_ptr<RunTail> tail = tail_;
  watcher_.setFuture(QtConcurrent::run([tail]() { return tail->poll(); }));
}

void RunFollower::onPolled() {
  inFlight_ = false;
  const QFuture<FollowUpdate> future = watcher_.future();
  if (polling_ != generation_ || !following_ || future.resultCount() == 0) {
    return;  // stopped (or following another folder) since it started
  }
  const FollowUpdate u = future.result();
  ++polls_;
  if (!u.error.isEmpty()) {
    stop();
    Q_EMIT failed(u.error);
    return;
  }
  watch(u);
  const bool rows = !u.steps.isEmpty() || !u.epochs.isEmpty() || !u.history.steps.isEmpty() || !u.history.epochs.isEmpty();
  if (rows) {
    rowsAgeS_ = anyRows_ ? 0 : std::max<qint64>(0, u.secondsSinceWrite);  // rows already there when following began
    anyRows_ = true;
    sinceRows_.restart();
  }
  if (u.hasRows()) {
    Q_EMIT updated(u);
  }
  if (u.finished) {
    stop();
    Q_EMIT finished(u.entry);
    return;
  }
  Q_EMIT statusChanged(statusText());
  if (again_) {
    again_ = false;
    startPoll();
  }
}

void RunFollower::watch(const FollowUpdate& u) {
  if (!fsWatcher_) {
    fsWatcher_ = new QFileSystemWatcher(this);
    auto soon = [this]() {
      if (!soonTimer_.isActive()) {
        soonTimer_.start();
      }
    };
    connect(fsWatcher_, &QFileSystemWatcher::directoryChanged, this, soon);
    connect(fsWatcher_, &QFileSystemWatcher::fileChanged, this, soon);
    fsWatcher_->addPath(u.dir);
  }
  // A log replaced by a rename drops out of the watcher: add it again.
  const QStringList watched = fsWatcher_->files();
  for (const QString& file : u.files) {
    if (!watched.contains(file)) {
      fsWatcher_->addPath(file);
    }
  }
}

QString RunFollower::statusText() const {
  if (!following_) {
    return {};
  }
  return followStatusText(QFileInfo(dir_).fileName(), rowsAgeS_ + sinceRows_.elapsed() / 1000, anyRows_);
}

void RunFollower::setFollowing(bool following) {
  if (following_ != following) {
    following_ = following;
    Q_EMIT followingChanged(following);
  }
}

}  // namespace ampbench::ui
