#include "ui/TrainingController.h"

#include "engine/util/Errors.h"

#include <QCoreApplication>
#include <QDeadlineTimer>
#include <QMetaObject>
#include <QTimer>

#include <algorithm>
#include <exception>
#include <string>
#include <vector>

namespace ampbench::ui {

void registerMetaTypes() {
  qRegisterMetaType<ampbench::DataProgressEvent>();
  qRegisterMetaType<ampbench::RunStartedEvent>();
  qRegisterMetaType<ampbench::StepEvent>();
  qRegisterMetaType<ampbench::EpochEvent>();
  qRegisterMetaType<ampbench::EvaluationEvent>();
  qRegisterMetaType<ampbench::CheckpointEvent>();
  qRegisterMetaType<ampbench::PrecisionStatsEvent>();
  qRegisterMetaType<ampbench::OverflowAttribution>();
  qRegisterMetaType<ampbench::RunSummary>();
  qRegisterMetaType<ampbench::ComparisonSummary>();
  qRegisterMetaType<ampbench::PrecisionMode>();
}

TrainingController::TrainingController(QObject* parent) : QObject(parent) {
  registerMetaTypes();
  thread_.setObjectName(QStringLiteral("ampbench-engine"));
  worker_ = new QObject;  // no parent: it moves to the worker thread
  worker_->moveToThread(&thread_);
  connect(&thread_, &QThread::finished, worker_, &QObject::deleteLater);
  thread_.start();
  // The trailing edge of step batching: steps that arrived within the interval of the last
  // delivery and were followed by no other event (a burst of flushed steps on CUDA, a step
  // before a long checkpoint write) are delivered when the interval has passed. Single-shot,
  // re-armed by every delivery for 1.5 intervals: while steps keep coming the worker's own
  // deliveries come first and it never fires, so it costs the GUI thread no wake-ups (a
  // periodic timer cost one per interval; each preempts a training thread, bench/gui_tax).
  flushTimer_ = new QTimer(this);
  flushTimer_->setSingleShot(true);
  connect(flushTimer_, &QTimer::timeout, this, [this]() {
    std::lock_guard<std::mutex> lock(stepsMutex_);
    const auto now = std::chrono::steady_clock::now();
    if (pendingSteps_.empty()) {
      return;
    }
    if (deliveryDueLocked(now)) {
      postPendingLocked(now);  // queued behind every event the worker posted before it: order kept
    } else {
      armFlushTimer();  // a delivery whose call has not reached this thread yet: never strand a step
    }
  });
}

TrainingController::~TrainingController() {
  cancel_.cancel();
  thread_.quit();  // takes effect once the running job (if any) returns
  thread_.wait();
}

bool TrainingController::startTraining(const ampbench::RunConfig& config) {
  return startJob(tr("training"), [config](ampbench::RunObserver& observer, const ampbench::CancelToken& cancel) {
    ampbench::runTraining(config, observer, cancel);
  });
}

bool TrainingController::startComparison(const ampbench::RunConfig& base,
                                         const std::vector<ampbench::PrecisionMode>& modes) {
  return startJob(tr("comparison"), [this, base, modes](ampbench::RunObserver& observer,
                                                        const ampbench::CancelToken& cancel) {
    const ampbench::ComparisonSummary summary = ampbench::runComparison(base, modes, observer, cancel);
    Q_EMIT comparisonDone(summary);
  });
}

bool TrainingController::startJob(const QString& name, Job job) {
  if (busy_ || running_) {
    return false;
  }
  busy_ = true;
  running_ = true;
  jobName_ = name;
  cancel_.reset();
  armFlushTimer();
  Q_EMIT busyChanged(true);
  QMetaObject::invokeMethod(worker_, [this, job = std::move(job)]() { runOnWorker(job); }, Qt::QueuedConnection);
  return true;
}

void TrainingController::runOnWorker(Job job) {
  try {
    job(*this, cancel_);
    postSteps();
  } catch (const ampbench::InputError& e) {
    postSteps();
    Q_EMIT failed(QString::fromStdString(e.what()), true);
  } catch (const std::exception& e) {
    postSteps();
    Q_EMIT failed(QString::fromStdString(e.what()), false);
  } catch (...) {
    postSteps();
    Q_EMIT failed(tr("The engine stopped with an unknown error."), false);
  }
  running_ = false;
  // Posted after every signal emitted above, so jobEnded arrives last on the GUI thread.
  QMetaObject::invokeMethod(this, [this]() { finishJob(); }, Qt::QueuedConnection);
}

void TrainingController::armFlushTimer() {
  const int interval = std::max(1, stepDeliveryMs_.load());
  flushTimer_->start(interval + interval / 2);
}

void TrainingController::finishJob() {
  flushTimer_->stop();
  busy_ = false;
  Q_EMIT jobEnded();
  Q_EMIT busyChanged(false);
}

void TrainingController::cancel() { cancel_.cancel(); }

bool TrainingController::cancelAndWait(int timeoutMs) {
  cancel_.cancel();
  QDeadlineTimer deadline(timeoutMs < 0 ? QDeadlineTimer::Forever : QDeadlineTimer(timeoutMs));
  while (running_) {
    if (deadline.hasExpired()) {
      return false;
    }
    QThread::msleep(5);
  }
  return true;
}

void TrainingController::onStep(const ampbench::StepEvent& e) {
  // Always through the queue (0 = a delivery per step): stepDone is emitted on the GUI thread
  // in every mode, and a step never overtakes one still pending.
  std::lock_guard<std::mutex> lock(stepsMutex_);
  pendingSteps_.push_back(e);
  const auto now = std::chrono::steady_clock::now();
  if (e.stepInEpoch == e.stepsPerEpoch || deliveryDueLocked(now)) {
    postPendingLocked(now);
  }
}

// An interval of 0 (or less) is always due.
bool TrainingController::deliveryDueLocked(std::chrono::steady_clock::time_point now) const {
  return now - lastStepPost_ >= std::chrono::milliseconds(stepDeliveryMs_.load());
}

void TrainingController::postSteps() {
  std::lock_guard<std::mutex> lock(stepsMutex_);
  if (!pendingSteps_.empty()) {
    postPendingLocked(std::chrono::steady_clock::now());
  }
}

// The batch travels inside its queued call: a delivery holds exactly the steps queued before
// it, so a later event (posted after it) cannot overtake them and later steps cannot jump
// ahead of an earlier event.
void TrainingController::postPendingLocked(std::chrono::steady_clock::time_point now) {
  lastStepPost_ = now;
  QMetaObject::invokeMethod(
      this,
      [this, steps = std::move(pendingSteps_)]() {
        if (busy_) {
          armFlushTimer();
        }
        for (const auto& step : steps) {
          Q_EMIT stepDone(step);
        }
        if (!steps.empty()) {
          Q_EMIT stepsDelivered(steps.back());
        }
      },
      Qt::QueuedConnection);
  pendingSteps_.clear();  // moved-from: make it empty for certain
}

// Every other event first queues the steps before it, so receivers see the run in order.
void TrainingController::onDataProgress(const ampbench::DataProgressEvent& e) {
  postSteps();
  Q_EMIT dataProgress(e);
}
void TrainingController::onRunStarted(const ampbench::RunStartedEvent& e) {
  postSteps();
  Q_EMIT runStarted(e);
}
void TrainingController::onEpoch(const ampbench::EpochEvent& e) {
  postSteps();
  Q_EMIT epochDone(e);
}
void TrainingController::onEvaluation(const ampbench::EvaluationEvent& e) {
  postSteps();
  Q_EMIT evaluationDone(e);
}
void TrainingController::onCheckpoint(const ampbench::CheckpointEvent& e) {
  postSteps();
  Q_EMIT checkpointSaved(e);
}
void TrainingController::onPrecisionStats(const ampbench::PrecisionStatsEvent& e) {
  postSteps();
  Q_EMIT precisionStats(e);
}
void TrainingController::onOverflowAttribution(const ampbench::OverflowAttribution& a) {
  postSteps();
  Q_EMIT overflowAttributed(a);
}
void TrainingController::onFinished(const ampbench::RunSummary& s) {
  postSteps();
  Q_EMIT runEnded(s);
}
void TrainingController::onCancelled(const ampbench::RunSummary& s) {
  postSteps();
  Q_EMIT runEnded(s);
}
void TrainingController::onFailed(const ampbench::RunSummary& s) {
  postSteps();
  Q_EMIT runEnded(s);
}
void TrainingController::onCompareModeStarted(int index, int count, ampbench::PrecisionMode mode) {
  postSteps();
  Q_EMIT compareModeStarted(index, count, QString::fromStdString(ampbench::toString(mode)));
}

}  // namespace ampbench::ui
