#pragma once
// Following a run another process writes ("Open run (follow)…", `ampbench --follow DIR`):
// a CLI run still going, or a `--distributed` run on a cluster whose rank 0 writes to a
// shared folder. The plots refresh from its CSV logs as they grow until metrics.json says
// the run ended, the folder goes away, or the user stops following.
//
// RunTail is the reading, plain data and synchronous: each poll() reads only the bytes
// appended to steps.csv, epochs.csv, grad_stats.csv and overflows.csv since the last one
// (FileTail) and returns the new rows; a log that shrank or was replaced (a resume drops
// the rows past its checkpoint) makes the update a reset holding everything read again.
// RunFollower runs the polls on a worker (QtConcurrent, one at a time) every kPollMs —
// network file systems do not report changes reliably — and a QFileSystemWatcher only
// brings the next poll forward. The GUI thread never reads a file.

#include "ui/FileTail.h"
#include "ui/QtTypes.h"
#include "ui/RunEntry.h"
#include "ui/RunFiles.h"

#include <QElapsedTimer>
#include <QFutureWatcher>
#include <QObject>
#include <QString>
#include <QTimer>
#include <QVector>

#include <memory>

class QFileSystemWatcher;

namespace ampbench::ui {

// What one poll found. Either a reset (the views start over from `history` and
// `precision`, everything read so far) or the rows new since the previous poll.
struct FollowUpdate {
  QString dir;
  bool reset = false;
  RunHistory history;          // reset: all rows so far; otherwise only runDir and config
  PrecisionHistory precision;  // reset: all samples and overflows so far
  QVector<ampbench::StepEvent> steps;   // not a reset: new rows, in file order
  QVector<ampbench::EpochEvent> epochs;
  QVector<ampbench::PrecisionStatsEvent> samples;
  QVector<ampbench::OverflowAttribution> overflows;
  qint64 bytesRead = 0;        // bytes this poll read from the logs
  QStringList files;           // the logs that exist (watched for changes)
  qint64 secondsSinceWrite = -1;  // since the newest log was last modified (-1: none yet)
  bool finished = false;       // metrics.json was written after the logs' last rows: the run ended
  RunEntry entry;              // finished: the run's row as the runs folder lists it
  QString error;               // the folder is gone or was never a run folder: following ends
  bool hasRows() const { return reset || !steps.isEmpty() || !epochs.isEmpty() || !samples.isEmpty() || !overflows.isEmpty(); }
};

class RunTail {
 public:
  explicit RunTail(const QString& dir);
  FollowUpdate poll();

 private:
  void takeSteps(const TailRead& read, FollowUpdate* u);
  void takeEpochs(const TailRead& read, FollowUpdate* u);
  void takeStats(const TailRead& read, bool finished, FollowUpdate* u);
  void takeOverflows(const TailRead& read, FollowUpdate* u);
  bool endedBeforeLogs() const;

  QString dir_;
  FileTail steps_, epochs_, stats_, overflows_;
  CsvHeader stepsHeader_, epochsHeader_;
  RunHistory history_;            // every row so far (a reset sends it whole)
  PrecisionHistory precision_;    // every complete sample and overflow so far
  GradStatsRows pendingStats_;    // rows of samples that may still be growing
  int64_t epochOfLast_ = -1;      // for stepInEpoch / stepsPerEpoch of new steps
  int64_t inEpoch_ = 0;
  int64_t stepsPerEpoch_ = 0;     // steps of the first whole epoch seen
  bool first_ = true;
  bool configRead_ = false;
};

// "Following <run> — last update 3 s ago"; "… — no new rows for 4 min" once kStaleSeconds
// passed without one; "… — waiting for the first rows" before any.
QString followStatusText(const QString& run, qint64 secondsSinceRows, bool anyRows);

class RunFollower : public QObject {
  Q_OBJECT

 public:
  static constexpr int kPollMs = 2000;
  static constexpr int kStaleSeconds = 60;

  explicit RunFollower(QObject* parent = nullptr);
  ~RunFollower() override;

  // Starts following `dir` (stops following another). Nothing is read here: the first
  // poll, on the worker, reports a folder that is not there as failed().
  void follow(const QString& dir);
  void stop();
  // Polls now unless a poll is in flight (then once more after it).
  void pollSoon();
  void setPollInterval(int ms);

  bool isFollowing() const { return following_; }
  QString dir() const { return dir_; }
  QString statusText() const;
  int pollsDone() const { return polls_; }

 Q_SIGNALS:
  void followingChanged(bool following);
  void updated(const ampbench::ui::FollowUpdate& update);  // rows or a reset
  void finished(const ampbench::ui::RunEntry& entry);      // after the last updated()
  void failed(const QString& error);
  void statusChanged(const QString& text);

 private:
  void startPoll();
  void onPolled();
  void watch(const FollowUpdate& u);
  void setFollowing(bool following);

  QFutureWatcher<FollowUpdate> watcher_;
  std::shared_ptr<RunTail> tail_;
  QTimer pollTimer_;
  QTimer statusTimer_;   // the status text's "N s ago"
  QTimer soonTimer_;     // a file-system event: poll shortly (events come in bursts)
  QFileSystemWatcher* fsWatcher_ = nullptr;
  QElapsedTimer sinceRows_;
  qint64 rowsAgeS_ = 0;     // the rows' age when they were read (the first poll: the logs' age)
  QString dir_;
  quint64 generation_ = 0;  // bumped by stop(): a poll started before is dropped
  quint64 polling_ = 0;     // the generation of the poll in flight
  bool following_ = false;
  bool inFlight_ = false;   // a poll started and its result not yet handled
  bool again_ = false;      // a poll was asked for while one ran
  bool anyRows_ = false;
  int polls_ = 0;
};

}  // namespace ampbench::ui

Q_DECLARE_METATYPE(ampbench::ui::FollowUpdate)
