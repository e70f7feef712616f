#pragma once
// The main window's bookkeeping without any widget: which runs exist and in what state,
// the run state in the window title, the status-bar text and progress, the banner, and
// which view (live plots, precision, comparison) should be in front. MainWindow feeds it
// the controller's events and the user's actions and applies its signals to widgets;
// tests drive it directly (RunsPresenterTest).

#include "ui/QtTypes.h"
#include "ui/RunEntry.h"

#include <QElapsedTimer>
#include <QObject>
#include <QString>
#include <QStringList>
#include <QVector>

#include <optional>

namespace ampbench::ui {

struct RunHistory;

// The views of the right-hand side, as the tabs show them and --show names them.
enum class RunView { Live, Precision, Comparison, Results };
QString viewName(RunView view);  // "live", "precision", "comparison", "results"
std::optional<RunView> viewFromName(const QString& name);
QStringList viewNames();

// A run's final state as the runs list and title say it: "finished", "stopped",
// "diverged", "failed", or "out of memory".
QString runEndName(const ampbench::RunSummary& summary);

class RunsPresenter : public QObject {
  Q_OBJECT

 public:
  static constexpr int kStatusIntervalMs = 200;  // status text refresh during a run (each delivery's newest step)

  explicit RunsPresenter(QObject* parent = nullptr);

  QString runState() const { return runState_; }
  QString windowTitle() const;  // "AmpBench — <state>"
  QString statusText() const { return statusText_; }
  QString bannerText() const { return banner_; }
  bool bannerIsError() const { return bannerError_; }
  QString lastRunDir() const { return lastRunDir_; }
  QString currentRunDir() const { return currentRunDir_; }
  QString compareLabel() const { return compareLabel_; }
  RunView view() const { return view_; }
  const QVector<RunEntry>& runs() const { return runs_; }
  int progressValue() const { return progressValue_; }
  int progressMaximum() const { return progressMaximum_; }  // 0: busy, no total known

  // Engine events (through TrainingController).
  void dataProgress(const ampbench::DataProgressEvent& e);
  void runStarted(const ampbench::RunStartedEvent& e);
  // Status text and progress at most every kStatusIntervalMs unless `force`.
  void step(const ampbench::StepEvent& e, bool force = false);
  void runEnded(const ampbench::RunSummary& s);
  void compareModeStarted(int index, int count, const QString& mode);
  // `verdict`: the comparison view's sentence, shown in the status bar.
  void comparisonShown(const ampbench::ComparisonSummary& s, const QString& verdict);
  void jobFailed(const QString& message, bool userFixable);
  void jobEnded();

  // User actions.
  void trainingRequested();
  void comparisonRequested(int modeCount);
  void startRefused(const QString& reason);
  void stopRequested();
  void closing();
  void comparisonOpened(const QString& dir);
  // Returns the plots caption for the reopened run.
  QString runOpened(const RunHistory& history);
  void openFailed(const QString& reason);
  // A run another process writes, followed (RunFollower): returns the plots caption; its
  // row says "following" until followEnded() (its final row) or followStopped().
  QString runFollowed(const RunHistory& history);
  void followEnded(const RunEntry& entry);
  void followStopped(const QString& dir, const QString& reason);
  void followStatus(const QString& text);
  void showBanner(const QString& text, bool error);
  void setView(RunView view);

 Q_SIGNALS:
  void stateChanged(const QString& state);
  void statusTextChanged(const QString& text);
  void progressChanged(int value, int maximum, const QString& format);
  void bannerChanged(const QString& text, bool error);  // empty text: hide it
  void runUpserted(const ampbench::ui::RunEntry& entry);
  void viewRequested(ampbench::ui::RunView view);

 private:
  void setRunState(const QString& state);
  void markStopping();
  void setStatusText(const QString& text);
  void setProgress(int value, int maximum, const QString& format);
  void upsert(const RunEntry& entry);
  QString runCaption(const RunHistory& history, const QString& how) const;

  QString runState_;
  QString statusText_;
  QString banner_;
  bool bannerError_ = false;
  QString currentRunDir_;
  QString lastRunDir_;
  QString compareLabel_;  // "run 1 of 2 (FP32)" during a comparison
  int64_t totalSteps_ = 0;
  int64_t epochs_ = 0;
  int progressValue_ = 0;
  int progressMaximum_ = 1;
  QString progressFormat_ = QStringLiteral("%p%");
  RunView view_ = RunView::Live;
  QVector<RunEntry> runs_;
  QElapsedTimer statusClock_;
};

}  // namespace ampbench::ui
