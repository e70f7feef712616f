#pragma once
// Reads run and comparison directories on a worker (QtConcurrent), so "Open run" and a
// finished comparison never parse CSVs on the GUI thread: the steps.csv of a long run is
// 100k rows, a comparison has one per mode. The window fills its views when the data
// arrives. A newer request (or cancel()) makes the load in progress stale: its worker
// stops at its next poll and its result is dropped, so a slow old load can never
// overwrite the run the user opened after it.
//
// LoadIndicator is the status-bar strip that shows the load with its progress and a
// Cancel button.

#include "engine/util/CancelToken.h"
#include "ui/QtTypes.h"
#include "ui/RunFiles.h"

#include <QFutureWatcher>
#include <QObject>
#include <QString>
#include <QWidget>

class QLabel;
class QProgressBar;
class QToolButton;

namespace ampbench::ui {

// What one load read: a run (with its precision statistics) or a comparison.
struct LoadResult {
  QString dir;
  bool comparison = false;
  bool fromDisk = true;  // false: the runs of a comparison the engine just finished
  RunHistory run;
  PrecisionHistory precision;
  ComparisonHistory compared;
  QString error;  // empty when ok
  quint64 generation = 0;  // which request it answers
};

class RunLoader : public QObject {
  Q_OBJECT

 public:
  explicit RunLoader(QObject* parent = nullptr);
  // Cancels a load in progress without waiting for it (its worker holds no pointer to this).
  ~RunLoader() override;

  // Starts reading `dir`, a run or a comparison directory. Returns false, with the reason
  // in `error` and nothing started, when it is neither.
  bool open(const QString& dir, QString* error = nullptr);
  // Reads the runs of a comparison the engine just finished (its summary as given).
  void openFinishedComparison(const ampbench::ComparisonSummary& summary);
  // Drops the load in progress (nothing is emitted for it but loadingChanged(false)).
  void cancel();

  bool isLoading() const { return loading_; }
  // "Reading run …" while loading.
  QString text() const { return text_; }

 Q_SIGNALS:
  void loadingChanged(bool loading);
  // 0..1000 of the bytes to read; -1 while the size is unknown.
  void progressChanged(int permille);
  void runLoaded(const ampbench::ui::RunHistory& history, const ampbench::ui::PrecisionHistory& precision);
  void comparisonLoaded(const ampbench::ui::ComparisonHistory& comparison, const QString& dir, bool fromDisk);
  void loadFailed(const QString& error);

 private:
  void start(const QString& dir, const QString& text, std::function<LoadResult(const ReadControl&)> work);
  void onFinished();
  void setLoading(bool loading);

  QFutureWatcher<LoadResult> watcher_;
  ampbench::CancelToken cancel_;  // of the load in progress; replaced by each new one
  quint64 generation_ = 0;        // the load whose result counts
  bool loading_ = false;
  QString text_;
};

// "Reading run … [=====   ] Cancel" in the status bar while a RunLoader works.
class LoadIndicator : public QWidget {
  Q_OBJECT

 public:
  explicit LoadIndicator(RunLoader* loader, QWidget* parent = nullptr);

  QToolButton* cancelButton() const { return cancel_; }

 private:
  QLabel* label_ = nullptr;
  QProgressBar* progress_ = nullptr;
  QToolButton* cancel_ = nullptr;
};

}  // namespace ampbench::ui
