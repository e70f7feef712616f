#pragma once
// One training run as a small class: set-up, a step, an epoch, validation, checkpoint and
// the final report are methods of a screenful each; what the precision mode changes is the
// PrecisionPolicy's business. Engine-internal (torch): the entry points are in Trainer.h.

#include "engine/data/Loader.h"
#include "engine/precision/GradStats.h"
#include "engine/train/Checkpoint.h"
#include "engine/train/LrSchedule.h"
#include "engine/train/PrecisionPolicy.h"
#include "engine/train/Profile.h"
#include "engine/train/RunDir.h"
#include "engine/train/Throughput.h"
#include "engine/train/TrainerInternal.h"
#include "engine/train/WeightAverage.h"

#include <torch/optim/optimizer.h>

#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace ampbench {

namespace dist {
class GradientSync;
class SyncBatchNorm;
}

class TrainingSession {
 public:
  TrainingSession(const RunConfig& config, const PreparedData& data, const PrecisionInfo& precision,
                  const torch::Device& device, const std::string* initialWeights, RunObserver& observer,
                  const CancelToken& cancel);
  ~TrainingSession();
  TrainingSession(const TrainingSession&) = delete;
  TrainingSession& operator=(const TrainingSession&) = delete;

  RunSummary run();

 private:
  using Clock = std::chrono::steady_clock;
  // Steps whose losses are read back in one go: one device sync per flush instead of one
  // per step (on a CPU the flush happens every step; reading is free there).
  struct PendingStep {
    StepEvent event;
    torch::Tensor loss;
    int64_t images = 0;
  };
  struct EpochState {
    int64_t epoch = 0;
    std::vector<PendingStep> pending;
    torch::Tensor lossSum;   // over the applied steps' images
    torch::Tensor correct;
    int64_t seen = 0;        // images of every step (throughput)
    int64_t applied = 0;     // images of the steps the optimizer took
    int64_t overflow = 0, skipped = 0;
  };

  void setUp(const std::string* initialWeights);
  void announce();
  // Trains one epoch; false when the run stops inside it (cancelled, diverged).
  bool trainEpoch(int64_t epoch);
  // One optimizer step on `batch`; false when the run must stop after it.
  bool step(EpochState& st, const Batch& batch, int64_t stepInEpoch);
  void flush(EpochState& st);
  // The throughput clock (seconds since the run started) and its edges, each after the
  // device has caught up.
  double secondsOnClock() const;
  void startThroughputClock();
  void stopThroughputClock();
  void syncDevice();
  // Precision statistics of a sampled step, and where an overflow started.
  void reportPrecisionStats(bool sampled);
  // At an overflowed step: the first layer in backward order whose gradient held inf/NaN,
  // and the first block whose forward output did, if one did (known on sampled steps, else
  // found by a forward-only replay of the batch); a row in overflows.csv and an event each.
  void reportOverflow(const Batch& batch, int64_t epoch, int64_t step, bool sampled);
  // The forward of `batch` again with the probe on and no gradients, batch-norm statistics
  // restored after: the attribution the probe makes (an activation when one overflowed).
  OverflowAttribution replayForward(const Batch& batch, int64_t epoch, int64_t step);
  void recordOverflow(const OverflowAttribution& a);
  // A loss that became inf/NaN with no loss scaler to catch it: which layer's forward
  // output overflowed first (a forward-only replay of the batch with the probe on), or
  // else which gradient; kept for the run's message.
  void explainDivergence(const Batch& batch, int64_t epoch, int64_t step);
  // Without a loss scaler nothing stops an inf/NaN from reaching the weights: true when
  // this step must not be applied (its loss or any gradient is inf/NaN, checked before
  // every step in every mode, so no checkpoint can hold a non-finite update); the run then
  // stops as diverged with the cause in its message.
  bool diverges(const Batch& batch, const torch::Tensor& loss, int64_t epoch, int64_t step);
  void divergedAt(int64_t epoch, int64_t step, const std::string& what, const std::string& cause);
  // The step's loss (with the test's injected NaN, so a replay reproduces it).
  torch::Tensor computeLoss(const torch::Tensor& logits, const Batch& batch, int64_t step);
  // --detect-anomaly: the batch's forward and backward again under LibTorch's anomaly
  // mode, batch-norm statistics restored; the backward function it names, or why none.
  std::string anomalyReport(const Batch& batch, int64_t step);
  // False (and the run diverged) when a weight is inf/NaN: a checkpoint is never written
  // over the last good one with such weights.
  bool weightsFinite(int64_t epoch);
  void endEpoch(EpochState& st);
  // Data-parallel (engine/dist): the global mean loss, images and correct predictions of a
  // step over the ranks (one small all-reduce that also carries a cancel request, so every
  // rank stops at the same step); every --dist-check-every steps, that the ranks' loss
  // scales and weights agree.
  void reduceStepFigures(torch::Tensor& loss, torch::Tensor& correct, int64_t& n);
  void checkRanksAgree(int64_t step);
  // The validation split, sharded in a data-parallel run: each rank evaluates a contiguous
  // share and the per-image outputs are all-reduced, so every rank gets the metrics (AUC and
  // calibration included) of the whole split, as one process would.
  Metrics validate(const SplitTensors& val, std::vector<float>* probabilities);
  // Model selection: when this epoch's validation beats the best so far by the run's
  // metric, best.pt gets its weights and validation outputs (ev.best set).
  void selectBest(EpochEvent& ev);
  // best.pt.new becomes best.pt once the epoch's checkpoint is written.
  void commitBest();
  // A new run removes another run's best.pt; a resumed one reads its own (and a pending
  // best.pt.new whose epoch the checkpoint holds).
  void restoreBest(bool resumed);
  // At the end of a finished run: the selected epoch's validation becomes the run's, and
  // its weights are loaded for the end-of-run evaluations.
  void useSelectedEpoch();
  bool cancelRequested();
  // Loads the checkpoint of c_.resumeFrom and checks that it continues this run.
  void resume();
  // At a step boundary inside an epoch: a checkpoint when c_.checkpointMinutes have passed
  // since the last one (or a test asks for one at this step).
  void maybeCheckpointInEpoch(EpochState& st, int64_t stepInEpoch);
  // The position inside the epoch, with its running sums; false when the weights are not
  // finite (never checkpointed: the run is about to stop as diverged).
  bool checkpointInEpoch(EpochState& st, int64_t stepInEpoch);
  void writeCheckpoint(const TrainingPosition& p, int64_t epoch, int64_t stepInEpoch);
  // "epoch 2" or "epoch 2, step 3 of 6": what checkpoint.pt holds, for messages.
  std::string checkpointHolds() const;
  void outOfMemory(const std::exception& e);
  void writeFailed(const std::exception& e);
  RunSummary finish();

  const RunConfig& c_;
  const PreparedData& data_;
  torch::Device device_;
  RunObserver& observer_;
  const CancelToken& cancel_;

  std::shared_ptr<ClassifierImpl> model_;
  std::unique_ptr<torch::optim::Optimizer> optimizer_;
  PrecisionPolicy policy_;
  std::optional<LrSchedule> schedule_;
  torch::Tensor classWeights_;
  std::unique_ptr<WeightAverage> average_;  // --ema-decay: what validation and the run's outputs use
  TrainingPosition pos_;
  std::unique_ptr<RunDirWriter> writer_;
  std::unique_ptr<StepProfiler> profiler_;
  std::unique_ptr<PrecisionStatsCollector> gradStats_;
  std::unique_ptr<PrecisionStatsWriter> statsLog_;  // grad_stats.csv, overflows.csv
  std::string divergenceCause_;
  RunSummary summary_;
  std::unique_ptr<dist::GradientSync> gradSync_;  // set in a distributed run
  bool cancelEverywhere_ = false;                 // a rank asked to stop (distributed)
  int64_t distCheckEvery_ = 0;
  double allReduceWaitSeconds_ = 0.0;             // blocked on the gradient all-reduce
  // --sync-bn: only the step's own forward synchronises; replays of its batch (overflow
  // attribution, anomaly mode) reuse that forward's statistics without a collective.
  std::unique_ptr<dist::SyncBatchNorm> syncBn_;
  bool syncBnArmed_ = false;
  std::optional<BestEpoch> best_;   // model selection: the best validated epoch so far
  bool bestPending_ = false;         // best.pt.new written, its checkpoint not yet
  bool modelHoldsBest_ = false;      // useSelectedEpoch loaded best.pt into the model
  // What EvaluationWeights does after swapping the average in: the precision policy's
  // weight rounding (a no-op outside the pure FP16/BF16 what-if modes).
  std::function<void(ClassifierImpl&)> holdWeights() {
    return [this](ClassifierImpl& m) { policy_.roundWeights(m); };
  }
  int64_t lastValidatedEpoch_ = 0;
  int64_t valShard_ = -1;  // images rank 0 validated (its share), for the run's summary line

  int threads_ = 0;
  int64_t stepsPerEpoch_ = 0, totalSteps_ = 0, profileFirst_ = 0;
  int64_t flushEvery_ = 1;
  int64_t consecutiveSkips_ = 0;
  int cudaIndex_ = -1;
  std::string checkpointPath_;
  // What checkpoint.pt holds: the epoch completed, or the epoch in progress and its steps.
  int64_t checkpointEpoch_ = -1, checkpointStepInEpoch_ = 0;
  Clock::time_point lastCheckpoint_;
  double lastCheckpointSeconds_ = 0.0;  // how long writing it took
  bool diskWriteFailed_ = false;         // the run stopped on a write the disk refused
  // A resume inside an epoch: where epoch pos_.epoch + 1 continues (0: at its start).
  int64_t resumeStepInEpoch_ = 0;
  std::string resumeNote_;
  // Tests (AMPBENCH_TEST_CHECKPOINT_AT_STEP / AMPBENCH_TEST_PAUSE_AT_STEP): a checkpoint
  // inside an epoch after global step N; a pause after step N that a test ends with SIGKILL.
  int64_t testCheckpointAtStep_ = 0, testPauseAtStep_ = 0;
  int64_t oomAtStep_ = 0;  // RunConfig::injectOomAtStep, or the test hook's step on its rank
  // Tests (AMPBENCH_TEST_MICROBATCHES=k): one process emulating k data-parallel ranks.
  int64_t microBatches_ = 1;
  std::string stopMessage_;
  std::string stopHint_;  // what to do, when the cause suggests more than the default advice
  // Where an out-of-memory failure struck: step in the epoch, -1 validation, 0 elsewhere.
  int64_t atEpoch_ = 1, atStepInEpoch_ = 0;
  Clock::time_point runStart_;
  Clock::time_point lastLogFlush_ = Clock::now();
  // Every images/s figure of the run (Throughput.h); its clock runs only during steps.
  ThroughputMeter throughput_;
  std::vector<double> epochThroughput_;  // the epoch seconds are summary_.epochSeconds
};

}  // namespace ampbench
