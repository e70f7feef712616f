#pragma once
// The one crossing between the GUI and the engine. TrainingController owns a worker
// QThread on which the engine's blocking calls (runTraining, runComparison) run. It is
// the engine's RunObserver: each callback, arriving on the worker thread, is re-emitted
// as a signal carrying the event by value, so receivers on the GUI thread get it queued,
// in order (step events batched: kStepDeliveryMs). Stop goes through the CancelToken (an
// atomic), never through a queued slot into the busy worker. Exceptions are caught at the thread boundary and end in failed().

#include "ui/QtTypes.h"

#include "engine/util/CancelToken.h"

#include <QObject>
#include <QString>
#include <QStringList>
#include <QThread>

#include <atomic>
#include <chrono>
#include <functional>
#include <mutex>
#include <vector>

class QTimer;

namespace ampbench::ui {

class TrainingController : public QObject, public ampbench::RunObserver {
  Q_OBJECT

 public:
  // A blocking piece of engine work; runs on the worker thread.
  using Job = std::function<void(ampbench::RunObserver& observer, const ampbench::CancelToken& cancel)>;

  explicit TrainingController(QObject* parent = nullptr);
  // Cancels a running job and waits for the worker thread to end.
  ~TrainingController() override;

  bool isBusy() const { return busy_; }
  QString jobName() const { return jobName_; }

  // Each returns false (and does nothing) while another job runs.
  bool startTraining(const ampbench::RunConfig& config);
  bool startComparison(const ampbench::RunConfig& base, const std::vector<ampbench::PrecisionMode>& modes);
  bool startJob(const QString& name, Job job);

  // Asks the engine to stop at the next step; returns at once.
  void cancel();
  bool isCancelRequested() const { return cancel_.isCancelled(); }
  // Cancels and blocks until the worker is idle (closing the window). Queued events
  // still pending for the GUI thread are delivered later as usual.
  bool cancelAndWait(int timeoutMs = -1);

  // Step events reach the GUI thread in batches, at most one wake-up per this many ms (an
  // epoch's last step at once); every step still arrives, in order, before the next other
  // event. Each wake-up of the GUI thread preempts a training thread on a machine with as
  // many intra-op threads as cores (bench/gui_tax). 0: one queued event per step.
  // 500: the plots redraw at most twice a second (PlotsPanel::kMinReplotIntervalMs) and update
  // on the deliveries; delivering more often only moved the progress bar more often, at a
  // wake-up each.
  static constexpr int kStepDeliveryMs = 500;
  void setStepDeliveryInterval(int ms) { stepDeliveryMs_ = ms; }

 Q_SIGNALS:
  void busyChanged(bool busy);
  void dataProgress(const ampbench::DataProgressEvent& event);
  void runStarted(const ampbench::RunStartedEvent& event);
  void stepDone(const ampbench::StepEvent& event);
  // After each delivery's stepDone signals: its newest step. What shows the run's state (status
  // text, progress) follows this one, not every step (and not the oldest of a batch).
  void stepsDelivered(const ampbench::StepEvent& newest);
  void epochDone(const ampbench::EpochEvent& event);
  void evaluationDone(const ampbench::EvaluationEvent& event);
  void checkpointSaved(const ampbench::CheckpointEvent& event);
  // Sampled every RunConfig::gradStatsEvery steps, so not coalesced here: the Precision
  // tab keeps the latest and redraws on its own timer.
  void precisionStats(const ampbench::PrecisionStatsEvent& event);
  void overflowAttributed(const ampbench::OverflowAttribution& attribution);
  // A run ended: Finished, Cancelled, Diverged or Failed (summary.status says which).
  void runEnded(const ampbench::RunSummary& summary);
  void compareModeStarted(int index, int count, const QString& mode);
  void comparisonDone(const ampbench::ComparisonSummary& summary);
  // The job threw: `userFixable` for InputError (the message says what to do).
  void failed(const QString& message, bool userFixable);
  // The job returned (after every event above was emitted).
  void jobEnded();

 private:
  // RunObserver, called on the worker thread.
  void onDataProgress(const ampbench::DataProgressEvent& e) override;
  void onRunStarted(const ampbench::RunStartedEvent& e) override;
  void onStep(const ampbench::StepEvent& e) override;
  void onEpoch(const ampbench::EpochEvent& e) override;
  void onEvaluation(const ampbench::EvaluationEvent& e) override;
  void onCheckpoint(const ampbench::CheckpointEvent& e) override;
  void onPrecisionStats(const ampbench::PrecisionStatsEvent& e) override;
  void onOverflowAttribution(const ampbench::OverflowAttribution& a) override;
  void onFinished(const ampbench::RunSummary& s) override;
  void onCancelled(const ampbench::RunSummary& s) override;
  void onFailed(const ampbench::RunSummary& s) override;
  void onCompareModeStarted(int index, int count, ampbench::PrecisionMode mode) override;

  void runOnWorker(Job job);  // worker thread
  void finishJob();           // GUI thread
  void postSteps();  // worker thread: queue a delivery of the pending steps, if any
  void postPendingLocked(std::chrono::steady_clock::time_point now);  // stepsMutex_ held
  void armFlushTimer();  // GUI thread
  bool deliveryDueLocked(std::chrono::steady_clock::time_point now) const;  // stepsMutex_ held

  std::mutex stepsMutex_;
  std::vector<ampbench::StepEvent> pendingSteps_;
  std::chrono::steady_clock::time_point lastStepPost_;
  std::atomic<int> stepDeliveryMs_{kStepDeliveryMs};
  QTimer* flushTimer_ = nullptr;  // GUI thread: the trailing-edge delivery, armed by each delivery

  QThread thread_;
  QObject* worker_ = nullptr;  // lives in thread_, deleted when it finishes
  ampbench::CancelToken cancel_;
  std::atomic<bool> running_{false};  // true while a job executes on the worker
  bool busy_ = false;                 // GUI-thread view: true until jobEnded is emitted
  QString jobName_;
};

}  // namespace ampbench::ui
