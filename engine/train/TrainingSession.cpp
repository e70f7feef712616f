#include "engine/train/TrainingSession.h"

#include "engine/train/Trainer.h"

#include "engine/core/Recipe.h"
#include "engine/dist/ProcessGroup.h"
#include "engine/dist/SyncBatchNorm.h"
#include "engine/export/Export.h"
#include "engine/models/Blocked.h"
#include "engine/train/FaultInjection.h"
#include "engine/train/FusedSgd.h"
#include "engine/train/Loss.h"
#include "engine/precision/Precision.h"
#include "engine/util/Allocator.h"
#include "engine/util/DeviceMemory.h"
#include "engine/util/Errors.h"
#include "engine/util/Files.h"

#include <ATen/record_function.h>
#include <torch/csrc/autograd/anomaly_mode.h>
#include <torch/torch.h>

#include <atomic>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <limits>
#include <numeric>
#include <cstdio>
#include <cstdlib>
#include <sstream>
#include <thread>
#include <utility>

namespace fs = std::filesystem;

namespace ampbench {

namespace {

using Clock = std::chrono::steady_clock;
double secondsSince(Clock::time_point t) { return std::chrono::duration<double>(Clock::now() - t).count(); }

// "; it started in the gradient of fc.weight (inf)": where an attribution says a
// non-finite value first appeared, for a run's stop message ("" when it names no layer).
std::string causeOf(const OverflowAttribution& a) {
  if (a.layer.empty()) {
    return {};
  }
  std::ostringstream ss;
  ss << "; it started in " << (a.kind == "activation" ? "the forward output of " : "the gradient of ") << a.layer
     << " (" << a.value << ")";
  return ss.str();
}

// A test hook's global step from the environment (0 = off).
int64_t testHookStep(const char* name) {
  const char* v = std::getenv(name);
  try {
    return v && *v ? std::stoll(v) : 0;
  } catch (const std::exception&) {
    return 0;
  }
}

// The scale cannot fix activations that overflow: give up after this many skips in a row.
constexpr int64_t kMaxConsecutiveSkips = 200;

std::atomic<int64_t> gInfGradientAtStep{0};
std::atomic<int> gInfGradientRank{-1};

// A replayed train-mode forward moves the batch-norm running statistics: they are put
// back when the replay ends.
class KeepBuffers {
 public:
  explicit KeepBuffers(torch::nn::Module& model) : model_(model) {
    for (const auto& b : model_.buffers()) {
      saved_.push_back(b.clone());
    }
  }
  ~KeepBuffers() {
    torch::NoGradGuard noGrad;
    size_t i = 0;
    for (auto& b : model_.buffers()) {
      b.copy_(saved_[i++]);
    }
  }
  KeepBuffers(const KeepBuffers&) = delete;
  KeepBuffers& operator=(const KeepBuffers&) = delete;

 private:
  torch::nn::Module& model_;
  std::vector<torch::Tensor> saved_;
};

std::unique_ptr<torch::optim::Optimizer> makeOptimizer(const RunConfig& c, ClassifierImpl& model) {
  if (c.optimizer == OptimizerKind::AdamW) {
    return std::make_unique<torch::optim::AdamW>(model.parameters(),
                                                 torch::optim::AdamWOptions(c.lr).weight_decay(c.weightDecay));
  }
  return std::make_unique<FusedSgd>(
      model.parameters(), torch::optim::SGDOptions(c.lr).momentum(c.momentum).weight_decay(c.weightDecay));
}

std::string firstLine(const std::string& s) { return s.substr(0, s.find('\n')); }

void setLearningRate(torch::optim::Optimizer& opt, double lr) {
  for (auto& group : opt.param_groups()) {
    group.options().set_lr(lr);
  }
}

void zeroGradToNone(torch::optim::Optimizer& opt) {
  for (auto& group : opt.param_groups()) {
    for (auto& p : group.params()) {
      p.mutable_grad().reset();
    }
  }
}

torch::Tensor classWeights(const RunConfig& c, const DatasetSummary& d, const torch::Device& device) {
  if (c.balance != BalanceKind::Loss) {
    return {};
  }
  const auto& counts = d.counts.at("train");
  const double total = static_cast<double>(std::accumulate(counts.begin(), counts.end(), int64_t{0}));
  std::vector<float> w;
  for (auto n : counts) {
    w.push_back(n > 0 ? static_cast<float>(total / (static_cast<double>(counts.size()) * n)) : 0.f);
  }
  return torch::tensor(w).to(device);
}

}  // namespace

namespace faults {
void setInfGradientAtStep(int64_t step) { gInfGradientAtStep = step; }
int64_t infGradientAtStep() { return gInfGradientAtStep; }
void setInfGradientRank(int rank) { gInfGradientRank = rank; }
int infGradientRank() { return gInfGradientRank; }
}  // namespace faults

TrainingSession::TrainingSession(const RunConfig& config, const PreparedData& data, const PrecisionInfo& precision,
                                 const torch::Device& device, const std::string* initialWeights,
                                 RunObserver& observer, const CancelToken& cancel)
    : c_(config), data_(data), device_(device), observer_(observer), cancel_(cancel),
      policy_(precision, config.scaler, device) {
  setUp(initialWeights);
}

TrainingSession::~TrainingSession() = default;

void TrainingSession::setUp(const std::string* initialWeights) {
  checkRecipeFits(c_, data_.summary.classes);
  threads_ = configureThreads(c_.threads);
  setTf32Allowed(false);  // fp32 stays an honest baseline; autocast modes do not use TF32 either
  torch::manual_seed(c_.seed);
  if (device_.is_cuda()) {
    torch::cuda::manual_seed_all(c_.seed);
  }
  setCudnnBenchmark(device_.is_cuda());

  const auto& train = data_.splits.at("train");
  const int64_t world = dist::worldSize();
  if (world > 1 && train.size() < c_.batchSize * world) {
    throw InputError(std::to_string(train.size()) + " training images do not fill one global batch of " +
                     std::to_string(world) + " ranks x " + std::to_string(c_.batchSize) +
                     " (--batch-size is per rank): lower --batch-size to at most " +
                     std::to_string(train.size() / world) + " or start fewer ranks");
  }
  if (train.size() < c_.batchSize) {
    throw InputError("only " + std::to_string(train.size()) + " training images but a batch of " +
                     std::to_string(c_.batchSize) + ": lower --batch-size to at most " + std::to_string(train.size()));
  }
  model_ = buildModel(c_, static_cast<int64_t>(data_.summary.classes.size()), device_, policy_.info());
  if (initialWeights) {
    deserializeModel(*model_, *initialWeights);
  } else if (!c_.pretrained.empty()) {
    loadPretrained(c_.pretrained, *model_);
  }
  optimizer_ = makeOptimizer(c_, *model_);
  stepsPerEpoch_ = batchesPerEpoch(train.size(), c_.batchSize, true, world);
  totalSteps_ = stepsPerEpoch_ * c_.epochs;
  schedule_.emplace(c_.schedule, c_.lr, totalSteps_, c_.warmupFraction);
  classWeights_ = classWeights(c_, data_.summary, device_);

  checkpointPath_ = c_.outDir + "/checkpoint.pt";
  testCheckpointAtStep_ = testHookStep("AMPBENCH_TEST_CHECKPOINT_AT_STEP");
  testPauseAtStep_ = testHookStep("AMPBENCH_TEST_PAUSE_AT_STEP");
  oomAtStep_ = c_.injectOomAtStep;
  if (const char* r = std::getenv("AMPBENCH_TEST_OOM_RANK"); !r || !*r || std::atoi(r) == dist::rank()) {
    oomAtStep_ = std::max(oomAtStep_, testHookStep("AMPBENCH_TEST_OOM_AT_STEP"));
  }
  microBatches_ = dist::active() ? 1 : std::max<int64_t>(1, testHookStep("AMPBENCH_TEST_MICROBATCHES"));
  if (const int64_t infAt = testHookStep("AMPBENCH_TEST_INF_GRADIENT_AT_STEP"); infAt > 0) {
    faults::setInfGradientAtStep(infAt);
    const char* r = std::getenv("AMPBENCH_TEST_INF_GRADIENT_RANK");
    faults::setInfGradientRank(r && *r ? std::atoi(r) : -1);
  }
  if (c_.emaDecay > 0) {
    average_ = std::make_unique<WeightAverage>(*model_, c_.emaDecay);  // restored by resume()
  }
  if (!c_.resumeFrom.empty()) {
    resume();
  }
  // Loading replaces a weight's strides with the saved ones (set_), so the format is applied again,
  // and the optimizer's state follows its weights.
  applyMemoryFormat(*model_, weightsChannelsLast(c_, device_, *model_, policy_.info()));
  layStateLikeParameters(*optimizer_);
  policy_.prepareModel(*model_);
  if (dist::active()) {
    // Every rank starts from rank 0's weights, whatever its own seed or files gave it.
    dist::broadcastModule(*model_, true, true, "the start-up broadcast of the weights");
    gradSync_ = std::make_unique<dist::GradientSync>(model_->parameters());
    if (c_.distributed.syncBatchNorm) {
      syncBn_ = std::make_unique<dist::SyncBatchNorm>();
      model_->setBatchNorm([this](torch::nn::BatchNorm2dImpl& bn, const torch::Tensor& x) {
        return syncBn_->forward(bn, x, syncBnArmed_);
      });
    }
#ifdef NDEBUG
    distCheckEvery_ = testHookStep("AMPBENCH_DIST_CHECK_EVERY");
#else
    distCheckEvery_ = std::getenv("AMPBENCH_DIST_CHECK_EVERY") ? testHookStep("AMPBENCH_DIST_CHECK_EVERY") : 50;
#endif
  }

  const bool resumed = !c_.resumeFrom.empty();
  if (average_ && !resumed) {
    average_->reset(*model_);  // the weights every rank starts from
  }
  restoreBest(resumed);
  writer_ = std::make_unique<RunDirWriter>(c_.outDir, resumed, pos_.epoch, pos_.globalStep);
  gradStats_ = std::make_unique<PrecisionStatsCollector>(c_.gradStatsEvery);
  // overflows.csv matters wherever something can overflow: sampled runs, loss-scaled runs and
  // the what-ifs; and a resumed run truncates what an earlier run wrote past its checkpoint.
  if (c_.gradStatsEvery > 0 || policy_.scaler().enabled() || policy_.info().whatIf ||
      fs::exists(c_.outDir + "/grad_stats.csv") || fs::exists(c_.outDir + "/overflows.csv")) {
    statsLog_ = std::make_unique<PrecisionStatsWriter>(c_.outDir, resumed ? pos_.globalStep : 0);
  }
  flushEvery_ = device_.is_cuda() ? 16 : 1;
  cudaIndex_ = device_.is_cuda() ? device_.index() : -1;
  const auto window = profileWindow(c_.profileSteps, pos_.globalStep, totalSteps_, stepsPerEpoch_);
  profileFirst_ = window.first;
  profiler_ = std::make_unique<StepProfiler>(c_.outDir, window.first, window.second, device_.is_cuda());
}

void TrainingSession::resume() {
  const auto from = c_.resumeFrom + "/checkpoint.pt";
  if (!fs::exists(from)) {
    throw InputError("no checkpoint.pt in '" + c_.resumeFrom + "' to resume from");
  }
  pos_ = loadCheckpoint(from, *model_, optimizer_.get(), &policy_.scaler(), &c_, device_, average_.get());
  if (pos_.epoch >= c_.epochs) {
    throw InputError("the run in '" + c_.resumeFrom + "' already completed " + std::to_string(pos_.epoch) +
                     " epochs: pass a larger --epochs to continue it");
  }
  // Another world size or per-rank batch reshapes the epoch: such a run continues from an
  // epoch's end (its steps so far keep their numbers), not from inside one.
  const auto recorded = readRunConfig(c_.resumeFrom);
  const bool reshaped =
      recorded.distributed.worldSize != c_.distributed.worldSize || recorded.batchSize != c_.batchSize;
  if (reshaped && pos_.stepInEpoch != 0) {
    throw InputError("the checkpoint in '" + c_.resumeFrom + "' is inside an epoch of a run with " +
                     std::to_string(recorded.distributed.worldSize) + " rank(s) x batch " +
                     std::to_string(recorded.batchSize) + ": resume it with that world size and --batch-size, or "
                     "from a checkpoint at an epoch's end");
  }
  if (pos_.stepInEpoch < 0 || pos_.stepInEpoch >= stepsPerEpoch_ ||
      (!reshaped && pos_.globalStep != pos_.epoch * stepsPerEpoch_ + pos_.stepInEpoch)) {
    throw InputError("cannot resume from '" + from + "': it holds " + std::to_string(pos_.globalStep) +
                     " steps, which does not fit " + std::to_string(stepsPerEpoch_) +
                     " steps per epoch of this data: the training images changed since the run started; start a "
                     "new run");
  }
  resumeStepInEpoch_ = pos_.stepInEpoch;
  consecutiveSkips_ = pos_.consecutiveSkips;
  checkpointEpoch_ = pos_.stepInEpoch > 0 ? pos_.epoch + 1 : pos_.epoch;
  checkpointStepInEpoch_ = pos_.stepInEpoch;

  std::ostringstream note;
  note << "resuming at epoch " << pos_.epoch + 1;
  if (pos_.stepInEpoch > 0) {
    note << ", step " << pos_.stepInEpoch + 1 << " of " << stepsPerEpoch_ << " (checkpoint inside the epoch)";
  }
  note << ", global step " << pos_.globalStep + 1;
  if (reshaped) {
    note << "; was " << recorded.distributed.worldSize << " rank(s) x batch " << recorded.batchSize << ", now "
         << c_.distributed.worldSize << " x " << c_.batchSize;
  }
  if (recorded.distributed.syncBatchNorm != c_.distributed.syncBatchNorm) {
    note << "; batch norm was " << (recorded.distributed.syncBatchNorm ? "synchronised" : "per rank") << ", now "
         << (c_.distributed.syncBatchNorm ? "synchronised" : "per rank");
  }
  // auto's layout can differ between the run's start and now (auto took the blocked path in
  // session 14): say so, as config.json records only the resumed run's layout from here on.
  const auto ranBefore = recordedMemoryFormat(c_.resumeFrom);
  const auto runsNow = memoryFormatThatRan(c_, device_, *model_);
  if (!ranBefore.empty() && ranBefore != runsNow) {
    note << "; memory format was " << ranBefore << ", now " << runsNow << " (the same model, summed in another order)";
  }
  if (policy_.scaler().enabled()) {
    note << "; loss scale " << policy_.scaler().scaleValue() << ", growth tracker "
         << policy_.scaler().growthTracker();
  }
  if (pos_.scheduleTotalSteps > 0 && pos_.scheduleTotalSteps != totalSteps_) {
    // --epochs changed the run's length: the schedule is the new length's, from here on.
    const LrSchedule before(c_.schedule, c_.lr, pos_.scheduleTotalSteps, c_.warmupFraction);
    note << "; " << toString(c_.schedule) << " schedule rebuilt over " << totalSteps_ << " steps (was "
         << pos_.scheduleTotalSteps << "): the learning rate goes from " << before.at(pos_.scheduleStep) << " to "
         << schedule_->at(pos_.scheduleStep) << " at its step " << pos_.scheduleStep + 1;
  }
  resumeNote_ = note.str();
}

void TrainingSession::announce() {
  writer_->writeConfig(c_, policy_.info(), device_.str(), threads_, memoryFormatThatRan(c_, device_, *model_),
                       weightsChannelsLast(c_, device_, *model_, policy_.info()) ? "ohwi" : "oihw");
  writer_->writeDataset(data_.summary);
  RunStartedEvent started;
  started.runDir = c_.outDir;
  started.config = c_;
  started.dataset = data_.summary;
  started.precision = policy_.info();
  started.device = device_.str();
  started.threads = threads_;
  started.stepsPerEpoch = stepsPerEpoch_;
  started.totalSteps = totalSteps_;
  started.startEpoch = pos_.epoch + 1;
  started.startStep = pos_.globalStep;
  started.resumeNote = resumeNote_;
  for (const auto& p : model_->parameters()) {
    started.parameterCount += p.numel();
  }
  observer_.onRunStarted(started);

  summary_.status = RunStatus::Finished;  // until something stops the run
  summary_.runDir = c_.outDir;
  summary_.precision = policy_.info();
  summary_.overflowSteps = pos_.overflowSteps;
  summary_.skippedSteps = pos_.skippedSteps;
  summary_.epochsCompleted = pos_.epoch;
  summary_.stepsCompleted = pos_.globalStep;
}

RunSummary TrainingSession::run() {
  installCachingCpuAllocator();
  struct ReleaseAfterRun {
    ~ReleaseAfterRun() {
      blocked::releaseThreadScratch();  // before the allocator's cache is given back: it goes there
      releaseFreeMemory();
    }
  } releaseAfterRun;
  announce();
  resetPeakRss();
  resetPeakCudaMemory(cudaIndex_);
  runStart_ = Clock::now();
  lastCheckpoint_ = runStart_;
  atEpoch_ = pos_.epoch + 1;
  try {
    for (int64_t epoch = pos_.epoch + 1; epoch <= c_.epochs; ++epoch) {
      if (!trainEpoch(epoch)) {
        break;
      }
    }
  } catch (const WriteError& e) {
    writeFailed(e);
  } catch (const std::exception& e) {
    if (!isOutOfMemory(e)) {
      throw;
    }
    outOfMemory(e);
  }
  return finish();
}

bool TrainingSession::trainEpoch(int64_t epoch) {
  atEpoch_ = epoch;
  atStepInEpoch_ = 0;
  model_->train();
  // A run resumed inside this epoch continues at its next step: the same batches, and the
  // running sums as they were, so the epoch's figures equal an uninterrupted run's.
  const int64_t first = std::exchange(resumeStepInEpoch_, 0);
  auto options = loaderOptions(c_, data_.summary, device_, epoch, true);
  options.firstBatch = first;
  options.shardRank = dist::rank();
  options.shardCount = dist::worldSize();
  BatchLoader loader(data_.splits.at("train"), options, true);
  EpochState st;
  st.epoch = epoch;
  st.lossSum = torch::zeros({}, torch::TensorOptions().dtype(torch::kDouble).device(device_));
  st.correct = torch::zeros({}, torch::TensorOptions().dtype(torch::kLong).device(device_));
  throughput_.beginEpoch();
  if (first > 0) {
    st.lossSum.fill_(pos_.epochLossSum);
    st.correct.fill_(pos_.epochCorrect);
    st.seen = pos_.epochSeen;
    st.applied = pos_.epochApplied;
    st.overflow = pos_.epochOverflow;
    st.skipped = pos_.epochSkipped;
    throughput_.beginEpoch(pos_.epochSeen, pos_.epochSeconds);
  }
  startThroughputClock();

  // The phases of a step are named ranges: free unless a profiler listens
  // (--profile-steps), where they say how a step divides before the per-op detail.
  auto nextBatch = [&](Batch& b, int64_t stepInEpoch) {
    if (stepInEpoch <= stepsPerEpoch_) {
      profiler_->beforeStep(pos_.globalStep + 1);  // a profiled step starts with its batch's wait
    }
    RECORD_USER_SCOPE("ampbench::next_batch");
    return loader.next(b);
  };
  Batch batch;
  bool goOn = true;
  int64_t done = first;  // steps of this epoch taken
  for (int64_t s = first + 1; goOn && nextBatch(batch, s); ++s) {
    atStepInEpoch_ = s;
    if (gradSync_ ? cancelEverywhere_ : cancel_.isCancelled()) {
      summary_.status = RunStatus::Cancelled;
      break;
    }
    goOn = step(st, batch, s);
    done = s;
    if (profiler_->endsAfterThisStep()) {
      stopThroughputClock();  // summarising and writing the trace is not training time
      profiler_->afterStep();
      startThroughputClock();
    } else {
      profiler_->afterStep();
    }
    if (goOn && s < stepsPerEpoch_) {
      maybeCheckpointInEpoch(st, s);
      goOn = summary_.status != RunStatus::Diverged;
    }
  }
  // Stopped by the user inside the epoch: checkpoint where it stopped, so a resume loses
  // nothing (a diverged run keeps its last good checkpoint instead).
  if (summary_.status == RunStatus::Cancelled && done > 0 &&
      !(checkpointEpoch_ == epoch && checkpointStepInEpoch_ == done) && checkpointInEpoch(st, done)) {
    observer_.onCheckpoint({checkpointPath_, epoch, done, lastCheckpointSeconds_});
  }
  flush(st);
  stopThroughputClock();  // validation, checkpoints and the next epoch's set-up are not training
  profiler_->finish();  // a window cut short by the epoch's end: validation is not a step
  summary_.overflowSteps += st.overflow;
  summary_.skippedSteps += st.skipped;
  summary_.stepsCompleted = pos_.globalStep;
  if (summary_.status == RunStatus::Cancelled || summary_.status == RunStatus::Diverged) {
    return false;
  }
  endEpoch(st);
  return summary_.status == RunStatus::Finished;
}

bool TrainingSession::step(EpochState& st, const Batch& batch, int64_t s) {
  const double lr = schedule_->at(pos_.scheduleStep);
  setLearningRate(*optimizer_, lr);
  zeroGradToNone(*optimizer_);
  TORCH_CHECK_WITH(OutOfMemoryError, oomAtStep_ != pos_.globalStep + 1,
                   "out of memory (injected by a test at step ", pos_.globalStep + 1, ")");
  const int64_t stepNo = pos_.globalStep + 1;
  const bool sampled = gradStats_->sampling(stepNo);
  if (sampled) {
    gradStats_->beginStep(*model_, st.epoch, stepNo, policy_.lossScale());
  }
  torch::Tensor logits, loss;
  if (microBatches_ > 1) {
    // Test reference for data-parallel runs: the batch as k ranks would see it (batch-norm
    // statistics per part), the gradients accumulated as loss_i / k: what the ranks'
    // all-reduced mean is. Forward and backward of each part here; the backward below is skipped.
    std::vector<torch::Tensor> losses, parts;
    const auto images = batch.images.chunk(microBatches_), labels = batch.labels.chunk(microBatches_);
    for (size_t i = 0; i < images.size(); ++i) {
      Batch part{images[i], labels[i]};
      const auto partLogits = policy_.forward(*model_, part.images);
      const auto partLoss = computeLoss(partLogits, part, stepNo);
      policy_.backward(partLoss / static_cast<double>(images.size()));
      losses.push_back(partLoss.detach());
      parts.push_back(partLogits.detach());
    }
    logits = torch::cat(parts);
    loss = torch::stack(losses).mean();
  } else {
    RECORD_USER_SCOPE("ampbench::forward");
    syncBnArmed_ = true;
    try {
      logits = policy_.forward(*model_, batch.images);
    } catch (...) {
      syncBnArmed_ = false;
      throw;
    }
    syncBnArmed_ = false;
    loss = computeLoss(logits, batch, stepNo);
  }
  const bool injectInf = faults::infGradientAtStep() == stepNo &&
                         (faults::infGradientRank() < 0 || faults::infGradientRank() == dist::rank());
  if (gradSync_) {
    // The test's inf goes into this rank's gradient before the all-reduce spreads it.
    gradSync_->beginStep(injectInf ? std::optional<size_t>(model_->parameters().size() - 1) : std::nullopt);
  }
  if (microBatches_ <= 1) {
    RECORD_USER_SCOPE("ampbench::backward");
    policy_.backward(loss);
  }
  int64_t n = batch.labels.size(0);
  torch::Tensor correct;
  if (gradSync_) {
    {
      RECORD_USER_SCOPE("ampbench::allreduce_wait");
      gradSync_->finish();  // every rank now holds the mean gradient: one inf/NaN decision
    }
    allReduceWaitSeconds_ += gradSync_->lastWaitSeconds();
    correct = logits.detach().argmax(1).eq(batch.labels).sum();
    reduceStepFigures(loss, correct, n);
  } else if (injectInf) {
    torch::NoGradGuard noGrad;
    if (const auto grads = gradientsOf(*optimizer_); !grads.empty()) {
      grads.back().view(-1)[0] = std::numeric_limits<float>::infinity();
    }
  }
  gradStats_->afterBackward(*model_);  // the gradients as the loss scaler produced them (sampled steps)
  const bool diverging = !policy_.scaler().enabled() && diverges(batch, loss, st.epoch, stepNo);
  if (policy_.scaler().enabled()) {
    RECORD_USER_SCOPE("ampbench::loss_scaler");  // a phase only where there is a scaler
    policy_.unscale(*optimizer_);  // and the inf/NaN check; step() below reuses it
  }
  // An overflowed step is skipped: clipping it would only turn its infs into NaNs (and
  // blur which layer held them).
  if (c_.gradClipNorm > 0 && !diverging && !policy_.scaler().foundInf()) {
    RECORD_USER_SCOPE("ampbench::grad_clip");  // on true gradients: unscaled above
    torch::nn::utils::clip_grad_norm_(model_->parameters(), c_.gradClipNorm);
  }
  bool stepped = false;
  if (!diverging) {
    RECORD_USER_SCOPE("ampbench::optimizer");
    stepped = policy_.step(*optimizer_);
  }
  const bool overflow = policy_.overflowed() || diverging;
  const double stepScale = policy_.lossScale();  // the scale this step's loss was multiplied by
  if (policy_.overflowed()) {
    reportOverflow(batch, st.epoch, stepNo, sampled);  // before the next step clears the gradients
  }
  // The updates as the optimizer proposed them: in the *-pure what-ifs the rounding below
  // is what loses the small ones.
  gradStats_->afterOptimizer(*model_, stepped);
  if (stepped) {
    if (const auto bad = policy_.roundWeights(*model_); !bad.empty()) {
      divergedAt(st.epoch, stepNo, "weight " + bad + " overflowed when rounded to " + policy_.info().computeDtype, "");
    }
    if (average_) {
      average_->update(*model_);  // applied steps only: a skipped one changed no weight
    }
  }
  reportPrecisionStats(sampled);
  policy_.update();
  if (distCheckEvery_ > 0 && stepNo % distCheckEvery_ == 0) {
    checkRanksAgree(stepNo);
  }

  RECORD_USER_SCOPE("ampbench::bookkeeping");  // metrics, events, run files
  if (stepped) {
    pos_.scheduleStep += 1;  // a skipped step does not advance the LR schedule
    consecutiveSkips_ = 0;
  } else {
    consecutiveSkips_ += 1;
  }
  pos_.globalStep += 1;
  st.overflow += overflow;
  st.skipped += !stepped;
  st.seen += n;
  {
    torch::NoGradGuard noGrad;
    const auto d = loss.detach();
    // The epoch's train loss and accuracy are the applied steps': a skipped step's loss
    // may itself be inf/NaN, and the weights never took it.
    if (stepped) {
      st.applied += n;
      st.lossSum += d.to(torch::kDouble) * n;
      st.correct += correct.defined() ? correct : logits.detach().argmax(1).eq(batch.labels).sum();
    }
    PendingStep p;
    p.loss = d;
    p.event.epoch = st.epoch;
    p.event.step = pos_.globalStep;
    p.event.stepInEpoch = s;
    p.event.stepsPerEpoch = stepsPerEpoch_;
    p.event.lr = lr;
    p.event.lossScale = stepScale;
    p.event.overflow = overflow;
    p.event.skipped = !stepped;
    p.images = n;  // the rate is set at the flush, once the device has caught up
    p.event.elapsedSeconds = secondsSince(runStart_);
    st.pending.push_back(std::move(p));
  }
  if (static_cast<int64_t>(st.pending.size()) >= flushEvery_ || s == stepsPerEpoch_ || overflow) {
    flush(st);
  }
  if (summary_.status == RunStatus::Diverged) {
    return false;
  }
  if (consecutiveSkips_ >= kMaxConsecutiveSkips) {
    summary_.status = RunStatus::Diverged;
    stopMessage_ = "gradients were inf/NaN for " + std::to_string(consecutiveSkips_) +
                   " steps in a row even as the loss scale fell to " + std::to_string(policy_.lossScale()) +
                   ": activations overflow in " + policy_.info().label + divergenceCause_;
    stopHint_ = ". A smaller loss scale cannot fix an activation beyond fp16's range (65504): train in bf16 "
                "(fp32's range) or fp32, or lower --lr";
    return false;
  }
  return true;
}

void TrainingSession::flush(EpochState& st) {
  if (st.pending.empty()) {
    return;
  }
  std::vector<torch::Tensor> losses;
  for (const auto& p : st.pending) {
    losses.push_back(p.loss);
  }
  const auto values = torch::stack(losses).to(torch::kDouble).cpu();
  const auto* v = values.data_ptr<double>();
  // The read above waited for the device: the clock now says when these steps finished.
  int64_t images = 0;
  for (const auto& p : st.pending) {
    images += p.images;
  }
  throughput_.mark(images, secondsOnClock());
  const double rate = throughput_.windowRate();
  for (size_t i = 0; i < st.pending.size(); ++i) {
    auto& e = st.pending[i].event;
    e.loss = v[i];
    e.imagesPerSecond = rate;
    // With a loss scaler a non-finite loss is an overflow the scaler skips; without one
    // the weights took the step, and the run cannot recover.
    const bool diverged = !std::isfinite(e.loss) && !policy_.scaler().enabled();
    if (diverged && summary_.status != RunStatus::Diverged) {
      summary_.status = RunStatus::Diverged;
      std::ostringstream ss;
      ss << "loss became " << e.loss << " at epoch " << e.epoch << ", step " << e.step << " ("
         << policy_.info().label << ")" << divergenceCause_ << ": the run stopped";
      stopMessage_ = ss.str();
    }
    if (e.step % c_.stepEventEvery == 0 || e.stepInEpoch == stepsPerEpoch_ || e.overflow || diverged) {
      writer_->appendStep(e);
      observer_.onStep(e);
    }
    if (diverged) {
      break;
    }
  }
  st.pending.clear();
  // The logs reach the disk every few seconds, not only at epoch ends and checkpoints: a
  // run followed from another process (the GUI's "Open run (follow)") moves while it trains.
  // Rows past the last checkpoint are what a resume already repairs.
  if (secondsSince(lastLogFlush_) >= 5.0) {
    lastLogFlush_ = Clock::now();
    writer_->flush();
    if (statsLog_) {
      statsLog_->flush();
    }
  }
}

void TrainingSession::reportPrecisionStats(bool sampled) {
  if (!sampled) {
    return;
  }
  const auto e = gradStats_->finish();
  if (statsLog_) {
    statsLog_->append(e);
  }
  observer_.onPrecisionStats(e);
}

void TrainingSession::recordOverflow(const OverflowAttribution& a) {
  if (statsLog_) {
    statsLog_->append(a);
  }
  observer_.onOverflowAttribution(a);
}

void TrainingSession::reportOverflow(const Batch& batch, int64_t epoch, int64_t step, bool sampled) {
  // A collector with no sampled step attributes by the gradients alone.
  recordOverflow(PrecisionStatsCollector(0).attributeOverflow(*model_, step));
  const auto forward = sampled ? gradStats_->attributeOverflow(*model_, step) : replayForward(batch, epoch, step);
  if (forward.kind == "activation") {
    recordOverflow(forward);
  }
}

OverflowAttribution TrainingSession::replayForward(const Batch& batch, int64_t epoch, int64_t step) {
  torch::NoGradGuard noGrad;
  const KeepBuffers keep(*model_);
  PrecisionStatsCollector replay(1);
  replay.beginStep(*model_, epoch, step, 1.0);
  policy_.forward(*model_, batch.images);  // forward only: the probe records each block's output
  const auto a = replay.attributeOverflow(*model_, step);
  replay.finish();
  return a;
}

torch::Tensor TrainingSession::computeLoss(const torch::Tensor& logits, const Batch& batch, int64_t step) {
  auto loss = classificationLoss(logits, batch.labels, classWeights_, c_.labelSmoothing);
  if (c_.injectNanAtStep == step) {
    loss = loss * std::numeric_limits<float>::quiet_NaN();
  }
  return loss;
}

bool TrainingSession::diverges(const Batch& batch, const torch::Tensor& loss, int64_t epoch, int64_t step) {
  // Every step, every mode: one fused reduction over the gradients (about 1 % of a
  // small_cnn CPU step; torch.amp.GradScaler syncs on its inf check every step too). A
  // check only at an epoch's end would let a mid-epoch checkpoint hold a non-finite update.
  if (const double value = loss.detach().item<double>(); !std::isfinite(value)) {
    explainDivergence(batch, epoch, step);
    std::ostringstream what;
    what << "loss became " << value;
    divergedAt(epoch, step, what.str(), divergenceCause_ + anomalyReport(batch, step));
    return true;
  }
  const auto grads = gradientsOf(*optimizer_);
  if (grads.empty() || anyNonFinite(grads).item<float>() == 0.0f) {
    return false;
  }
  const auto a = gradStats_->attributeOverflow(*model_, step);
  recordOverflow(a);
  divergedAt(epoch, step, "a gradient became inf/NaN with no loss scaler to skip the step",
             causeOf(a) + anomalyReport(batch, step));
  return true;
}

std::string TrainingSession::anomalyReport(const Batch& batch, int64_t step) {
  if (!c_.detectAnomaly) {
    return {};
  }
  const KeepBuffers keep(*model_);
  // Anomaly mode warns with a C++ stack of the forward call (dozens of unnamed frames):
  // the function it names goes into the run's message instead.
  struct Quiet : c10::WarningHandler {
    void process(const c10::SourceLocation&, const std::string&, const bool) override {}
  } quiet;
  const c10::Warning::WarningHandlerGuard quietGuard(&quiet);
  std::string found;
  try {
    torch::autograd::DetectAnomalyGuard anomaly;
    zeroGradToNone(*optimizer_);  // the step is not applied: its gradients may be replaced
    const auto logits = policy_.forward(*model_, batch.images);
    computeLoss(logits, batch, step).backward();
    found = "; anomaly mode found no inf/NaN when the step was replayed";
  } catch (const std::exception& e) {
    // "Function 'AddmmBackward0' returned nan values in its 0th output." (LibTorch 1.13
    // throws it as std::runtime_error, not c10::Error).
    found = "; anomaly mode: " + firstLine(e.what());
    if (found.back() == '.') {
      found.pop_back();  // the message goes on after it
    }
  }
  return found;
}

bool TrainingSession::weightsFinite(int64_t epoch) {
  std::vector<torch::Tensor> params;
  for (const auto& p : model_->parameters()) {
    params.push_back(p.detach());
  }
  if (params.empty() || anyNonFinite(params).item<float>() == 0.0f) {
    return true;
  }
  divergedAt(epoch, pos_.globalStep, "a weight became inf/NaN", "");
  return false;
}

void TrainingSession::divergedAt(int64_t epoch, int64_t step, const std::string& what, const std::string& cause) {
  if (summary_.status == RunStatus::Diverged) {
    return;  // the first cause stands
  }
  summary_.status = RunStatus::Diverged;
  std::ostringstream ss;
  ss << what << " at epoch " << epoch << ", step " << step << " (" << policy_.info().label << ")" << cause
     << ": the run stopped before applying it";
  stopMessage_ = ss.str();
}

void TrainingSession::explainDivergence(const Batch& batch, int64_t epoch, int64_t step) {
  if (!divergenceCause_.empty()) {
    return;  // explained once
  }
  const auto a = replayForward(batch, epoch, step);
  recordOverflow(a);
  divergenceCause_ = causeOf(a);
}

void TrainingSession::endEpoch(EpochState& st) {
  EpochEvent ev;
  ev.epoch = st.epoch;
  ev.epochs = c_.epochs;
  ev.epochSeconds = throughput_.epochSeconds();  // training time: the steps, not the pauses
  ev.imagesPerSecond = throughput_.epochRate();
  ev.trainLoss = st.applied > 0 ? st.lossSum.item<double>() / static_cast<double>(st.applied) : 0.0;
  ev.trainAccuracy =
      st.applied > 0 ? static_cast<double>(st.correct.item<int64_t>()) / static_cast<double>(st.applied) : 0.0;
  ev.overflowSteps = st.overflow;
  ev.skippedSteps = st.skipped;
  ev.lossScale = policy_.lossScale();
  if (gradSync_) {
    // Batch-norm statistics are per rank (without --sync-bn): rank 0's go everywhere, so
    // every rank validates, and checkpoints, the same model.
    dist::broadcastModule(*model_, false, true, "the batch-norm statistics broadcast");
    if (average_) {
      torch::nn::Module averaged;  // the average's buffers followed each rank's statistics
      for (size_t i = 0; i < average_->tensors().size(); ++i) {
        averaged.register_buffer("t" + std::to_string(i), average_->tensors()[i]);
      }
      dist::broadcastModule(averaged, false, true, "the weight average broadcast");
    }
  }
  if (st.epoch % c_.evalEvery == 0 || st.epoch == c_.epochs) {
    const auto evalStart = Clock::now();
    atStepInEpoch_ = -1;  // "validation" in an out-of-memory message
    const auto& val = data_.splits.at("val");
    {
      const EvaluationWeights evaluating(*model_, average_.get(), holdWeights());
      ev.val = validate(val, &summary_.finalValProbabilities);
    }
    ev.evalSeconds = secondsSince(evalStart);
    if (cancelRequested()) {
      summary_.status = RunStatus::Cancelled;
      return;
    }
    ev.validated = true;
    observer_.onEvaluation({"val", ev.val});
    summary_.finalVal = ev.val;
    // Per-image outputs for the comparison's paired intervals (same images in every mode).
    const auto labels = val.labels.contiguous();
    summary_.finalValLabels.assign(labels.data_ptr<int64_t>(), labels.data_ptr<int64_t>() + labels.numel());
    summary_.hasFinalMetrics = true;
    lastValidatedEpoch_ = st.epoch;
  }
  ev.peakRssMb = peakRssMb();
  ev.peakCudaMb = std::max(0.0, peakCudaMemoryMb(cudaIndex_));
  summary_.epochSeconds.push_back(ev.epochSeconds);
  epochThroughput_.push_back(ev.imagesPerSecond);
  // A weight can overflow from finite gradients (an extreme learning rate): the last good
  // checkpoint is then kept rather than overwritten.
  if (!weightsFinite(st.epoch)) {
    return;
  }
  if (ev.validated) {
    selectBest(ev);
  }
  pos_ = TrainingPosition{pos_.epoch, pos_.globalStep, pos_.scheduleStep, pos_.overflowSteps, pos_.skippedSteps};
  pos_.epoch = st.epoch;
  pos_.overflowSteps = summary_.overflowSteps;
  pos_.skippedSteps = summary_.skippedSteps;
  pos_.scheduleTotalSteps = totalSteps_;
  pos_.consecutiveSkips = consecutiveSkips_;
  // The epoch's row reaches the disk first, then the checkpoint, then the reports: a kill
  // between the two leaves a row past the checkpoint, which the resume drops and rewrites.
  writer_->appendEpoch(ev);
  writeCheckpoint(pos_, st.epoch, 0);
  commitBest();
  summary_.epochsCompleted = st.epoch;
  observer_.onEpoch(ev);
  observer_.onCheckpoint({checkpointPath_, st.epoch, 0, lastCheckpointSeconds_});
}

void TrainingSession::restoreBest(bool resumed) {
  std::error_code ec;
  const fs::path out(c_.outDir);
  if (!resumed) {
    if (dist::rank() == 0) {  // another run's files: never this run's model or comparison
      for (const char* f : {"best.pt", "best.pt.new", "val_vs_test.json", "decision.json"}) {
        fs::remove(out / f, ec);
      }
      // A previous run's evaluations would stand for this one in the runs list and Results.
      std::vector<fs::path> stale;
      for (const auto& e : fs::directory_iterator(out, ec)) {
        const auto name = e.path().filename().string();
        if ((name.rfind("evaluation_", 0) == 0 && e.path().extension() == ".json") ||
            (name.rfind("predictions_", 0) == 0 && e.path().extension() == ".csv")) {
          stale.push_back(e.path());
        }
      }
      for (const auto& f : stale) {
        fs::remove(f, ec);
      }
    }
    return;
  }
  const fs::path from(c_.resumeFrom);
  // best.pt.new is a best epoch whose checkpoint may not have been committed: it counts only
  // when the checkpoint resumed from holds that epoch (the kill came between the two renames).
  const auto pending = from / "best.pt.new";
  if (dist::rank() == 0 && fs::exists(pending, ec)) {
    bool committed = false;
    try {
      committed = readBestEpoch(pending.string()).epoch <= pos_.epoch;
    } catch (const InputError&) {
    }
    if (committed) {
      fs::rename(pending, from / "best.pt", ec);
    } else {
      fs::remove(pending, ec);
    }
  }
  const auto path = from / "best.pt";
  if (c_.selection.metric == SelectMetricKind::Last || !fs::exists(path, ec)) {
    return;
  }
  auto b = readBestEpoch(path.string());  // InputError naming the file and what to do
  if (b.metric != toString(c_.selection.metric) || b.epoch > pos_.epoch) {
    return;  // not this run's record (the settings check refuses a changed metric)
  }
  if (dist::rank() == 0 && fs::weakly_canonical(from, ec) != fs::weakly_canonical(out, ec)) {
    fs::copy_file(path, out / "best.pt", fs::copy_options::overwrite_existing);  // resumed into another folder
  }
  best_ = std::move(b);
}

void TrainingSession::commitBest() {
  if (!bestPending_) {
    return;
  }
  bestPending_ = false;
  if (dist::rank() == 0) {
    // After the checkpoint of the same epoch: a kill before this leaves best.pt.new, which
    // the resume keeps because the checkpoint holds its epoch.
    std::error_code ec;
    fs::rename(c_.outDir + "/best.pt.new", c_.outDir + "/best.pt", ec);
    if (ec) {
      throw WriteError("cannot write " + c_.outDir + "/best.pt: " + ec.message());
    }
  }
}

void TrainingSession::selectBest(EpochEvent& ev) {
  if (c_.selection.metric == SelectMetricKind::Last) {
    return;
  }
  const double score = selectionScore(c_.selection.metric, ev.val);
  // Better, or as good with a lower validation loss (counts tie often on small splits); a
  // non-finite figure never wins.
  if (!std::isfinite(score) ||
      (best_ && !(score > best_->value || (score == best_->value && ev.val.loss < best_->val.loss)))) {
    return;
  }
  BestEpoch b;
  b.epoch = ev.epoch;
  b.metric = toString(c_.selection.metric);
  b.value = score;
  b.val = ev.val;
  b.probabilities = summary_.finalValProbabilities;
  if (dist::rank() == 0) {  // every rank selects the same epoch (same global metrics)
    const EvaluationWeights evaluating(*model_, average_.get(), holdWeights());  // what validation evaluated
    saveBestEpoch(c_.outDir + "/best.pt.new", *model_, b);
  }
  best_ = std::move(b);
  bestPending_ = true;
  ev.best = true;
}

void TrainingSession::useSelectedEpoch() {
  auto& summary = summary_;
  if (!best_ || !summary.hasFinalMetrics) {
    return;
  }
  if (best_->epoch != lastValidatedEpoch_) {
    // A stopped run reports its best.pt too (what evaluate and export load); only a
    // finished one evaluates it at the end.
    if (dist::rank() == 0 && summary.status == RunStatus::Finished) {
      loadCheckpoint(c_.outDir + "/best.pt", *model_, nullptr, nullptr);
      model_->to(device_);
      modelHoldsBest_ = true;  // the evaluation weights already (no average to swap in)
    }
    summary.finalVal = best_->val;
    summary.finalValProbabilities = best_->probabilities;
  }
  summary.selectedEpoch = best_->epoch;
  summary.selectedBy = best_->metric;
  // In the metric's own terms (selection maximises a negated loss).
  summary.selectedValue = best_->metric == "loss" ? -best_->value : best_->value;
}

Metrics TrainingSession::validate(const SplitTensors& val, std::vector<float>* probabilities) {
  if (!gradSync_) {
    return evaluateSplit(*model_, val, data_.summary, c_, policy_.info(), device_, cancel_, probabilities);
  }
  const int64_t n = val.size(), world = dist::worldSize(), rank = dist::rank();
  const int64_t begin = n * rank / world, end = n * (rank + 1) / world;
  const auto classes = static_cast<int64_t>(data_.summary.classes.size());
  // [probabilities of the split (this rank's rows, the rest zero), loss sum, cancelled,
  // failed]: float is exact for the rows, as only one rank adds a non-zero value to each.
  auto all = torch::zeros({n * classes + 3}, torch::kFloat);
  auto* a = all.data_ptr<float>();
  if (end > begin) {
    // In memory the share is a view; from a file-backed store (a dataset over
    // --cache-memory-mb) it is read a chunk at a time, so memory stays bounded.
    const int64_t chunk = val.images.defined() ? end - begin : 512;
    std::vector<float> mine;
    double lossSum = 0.0;
    bool cancelled = false;
    for (int64_t b = begin; b < end && !cancelled; b += chunk) {
      const int64_t e = std::min(end, b + chunk);
      SplitTensors part;
      part.images = val.range(b, e);
      part.labels = val.labels.narrow(0, b, e - b);
      part.ids.assign(val.ids.begin() + b, val.ids.begin() + e);
      std::vector<float> probs;
      const auto m = evaluateSplit(*model_, part, data_.summary, c_, policy_.info(), device_, cancel_, &probs);
      cancelled = m.count == 0;
      mine.insert(mine.end(), probs.begin(), probs.end());
      lossSum += m.loss * static_cast<double>(e - b);
    }
    if (cancelled) {
      a[n * classes + 1] = 1.0f;  // the collective still runs, so every rank stops together
    } else if (mine.size() != static_cast<size_t>((end - begin) * classes)) {
      a[n * classes + 2] = 1.0f;
    } else {
      std::copy(mine.begin(), mine.end(), a + begin * classes);
      a[n * classes] = static_cast<float>(lossSum);
    }
  }
  dist::allReduceSum(all, "the validation all-reduce");
  a = all.data_ptr<float>();
  if (a[n * classes + 2] > 0) {
    throw std::logic_error("validation: a rank's outputs do not match its share of the split");
  }
  if (a[n * classes + 1] > 0) {
    cancelEverywhere_ = true;
    return {};
  }
  valShard_ = rank == 0 ? end - begin : valShard_;
  std::vector<float> p(a, a + n * classes);
  const auto labelsT = val.labels.contiguous();
  const std::vector<int64_t> labels(labelsT.data_ptr<int64_t>(), labelsT.data_ptr<int64_t>() + n);
  auto m = computeMetrics(p, labels, classes, static_cast<double>(a[n * classes]) / static_cast<double>(std::max<int64_t>(1, n)));
  if (probabilities) {
    *probabilities = std::move(p);
  }
  return m;
}

void TrainingSession::reduceStepFigures(torch::Tensor& loss, torch::Tensor& correct, int64_t& n) {
  // A NaN loss on one rank makes the global loss NaN on all: they diverge together.
  std::vector<double> v{loss.detach().item<double>() * static_cast<double>(n), correct.item<double>(),
                        static_cast<double>(n), cancel_.isCancelled() ? 1.0 : 0.0};
  dist::allReduceSum(v, "the step's loss all-reduce");
  n = static_cast<int64_t>(std::llround(v[2]));
  loss = torch::tensor(v[0] / v[2], torch::TensorOptions().dtype(loss.scalar_type()).device(loss.device()));
  correct = torch::tensor(static_cast<int64_t>(std::llround(v[1])), torch::TensorOptions().device(device_));
  cancelEverywhere_ = v[3] > 0;
}

bool TrainingSession::cancelRequested() {
  if (!gradSync_) {
    return cancel_.isCancelled();
  }
  std::vector<double> v{cancel_.isCancelled() ? 1.0 : 0.0};
  dist::allReduceSum(v, "the cancel check");
  cancelEverywhere_ = cancelEverywhere_ || v[0] > 0;
  return cancelEverywhere_;
}

void TrainingSession::checkRanksAgree(int64_t step) {
  double weights = 0.0;
  for (const auto& p : model_->parameters()) {
    weights += p.detach().to(torch::kDouble).sum().item<double>();
  }
  std::vector<double> mins{policy_.lossScale(), weights}, maxs = mins;
  dist::allReduceMinMax(mins, maxs, "the ranks' agreement check");
  if (mins[0] != maxs[0] || mins[1] != maxs[1]) {
    std::ostringstream ss;
    ss << "the ranks disagree after step " << step << ": loss scale " << mins[0] << ".." << maxs[0]
       << ", weight sum " << mins[1] << ".." << maxs[1] << " (a bug: every rank must apply the same update)";
    throw dist::DistributedError(ss.str());
  }
}

void TrainingSession::maybeCheckpointInEpoch(EpochState& st, int64_t stepInEpoch) {
  const bool due = c_.checkpointMinutes > 0 &&
                   std::chrono::duration<double>(Clock::now() - lastCheckpoint_).count() >= 60.0 * c_.checkpointMinutes;
  if (due || pos_.globalStep == testCheckpointAtStep_) {
    if (checkpointInEpoch(st, stepInEpoch)) {
      observer_.onCheckpoint({checkpointPath_, st.epoch, stepInEpoch, lastCheckpointSeconds_});
    }
  }
  if (pos_.globalStep == testPauseAtStep_) {
    // A test kills the process here with SIGKILL (tests/e2e/kill_resume.sh): the logs are
    // on disk up to this step, the checkpoint wherever it was last written.
    writer_->flush();
    if (statsLog_) {
      statsLog_->flush();
    }
    std::fprintf(stderr, "test hook: paused after step %lld\n", static_cast<long long>(pos_.globalStep));
    std::fflush(stderr);
    std::this_thread::sleep_for(std::chrono::seconds(120));
    std::_Exit(70);  // nobody came: fail the test rather than hang it
  }
}

bool TrainingSession::checkpointInEpoch(EpochState& st, int64_t stepInEpoch) {
  flush(st);  // pending losses first: a divergence they show is never checkpointed
  if (summary_.status == RunStatus::Diverged) {
    return false;
  }
  if (!weightsFinite(st.epoch)) {
    return false;  // the run stops as diverged; the last good checkpoint stays
  }
  TrainingPosition p = pos_;
  p.scheduleTotalSteps = totalSteps_;
  p.consecutiveSkips = consecutiveSkips_;
  p.stepInEpoch = stepInEpoch;
  p.epochLossSum = st.lossSum.item<double>();
  p.epochCorrect = st.correct.item<int64_t>();
  p.epochSeen = st.seen;
  p.epochApplied = st.applied;
  p.epochOverflow = st.overflow;
  p.epochSkipped = st.skipped;
  p.epochSeconds = throughput_.epochSeconds();
  // The logs hold every row up to the checkpoint's step before it exists.
  writer_->flush();
  if (statsLog_) {
    statsLog_->flush();
  }
  stopThroughputClock();  // a checkpoint is not training time
  writeCheckpoint(p, st.epoch, stepInEpoch);
  startThroughputClock();
  return true;
}

double TrainingSession::secondsOnClock() const {
  return std::chrono::duration<double>(Clock::now() - runStart_).count();
}

void TrainingSession::startThroughputClock() {
  syncDevice();  // an edge of the window: nothing from before may still be running
  throughput_.resume(secondsOnClock());
}

void TrainingSession::stopThroughputClock() {
  syncDevice();
  throughput_.pause(secondsOnClock());
}

void TrainingSession::syncDevice() {
  if (device_.is_cuda()) {
    torch::cuda::synchronize(device_.index());
  }
}

void TrainingSession::writeCheckpoint(const TrainingPosition& p, int64_t epoch, int64_t stepInEpoch) {
  const auto start = Clock::now();
  if (dist::rank() == 0)  // the other ranks hold the same weights; only rank 0 writes
  saveCheckpoint(checkpointPath_, *model_, *optimizer_, policy_.scaler(), p, configToJson(c_), average_.get());
  lastCheckpointSeconds_ = secondsSince(start);
  lastCheckpoint_ = Clock::now();
  checkpointEpoch_ = epoch;
  checkpointStepInEpoch_ = stepInEpoch;
}

std::string TrainingSession::checkpointHolds() const {
  std::string s = "epoch " + std::to_string(checkpointEpoch_);
  if (checkpointStepInEpoch_ > 0) {
    s += ", step " + std::to_string(checkpointStepInEpoch_) + " of " + std::to_string(stepsPerEpoch_);
  }
  return s;
}

void TrainingSession::writeFailed(const std::exception& e) {
  // A full disk: the run stops with the file and the reason; what is on disk stays valid
  // (checkpoint.pt is replaced only by a complete one; the logs are repaired on resume).
  summary_.status = RunStatus::Failed;
  diskWriteFailed_ = true;
  stopMessage_ = firstLineOf(e, 400) + ": the run stopped";
  profiler_->finish();
}

void TrainingSession::outOfMemory(const std::exception& e) {
  // A batch that does not fit is a setting to change, not a crash: end the run like a
  // divergence, with the run files consistent and the last checkpoint kept.
  summary_.status = RunStatus::Failed;
  summary_.outOfMemory = true;
  std::ostringstream ss;
  ss << "out of memory in epoch " << atEpoch_
     << (atStepInEpoch_ > 0    ? ", step " + std::to_string(atStepInEpoch_) + " of " + std::to_string(stepsPerEpoch_)
         : atStepInEpoch_ < 0 ? std::string(", validation")
                              : std::string())
     << " (batch " << c_.batchSize << " at " << c_.imageSize << " px, " << c_.model << ", "
     << policy_.info().label << " on " << device_.str() << "): "
     << (dynamic_cast<const std::bad_alloc*>(&e) ? std::string("the system refused a memory block") : firstLineOf(e));
  stopMessage_ = ss.str();
  profiler_->finish();
  releaseCachedMemory();
}

RunSummary TrainingSession::finish() {
  auto& summary = summary_;
  if (gradSync_ && dist::rank() == 0 && summary.stepsCompleted > 0) {
    // How much of the run the gradient all-reduce was not hidden behind backward.
    const double train = secondsSince(runStart_);
    std::fprintf(stderr, "distributed: %d ranks (%s), %zu gradient bucket(s); blocked on the all-reduce %.2f s of %.2f s (%.1f %%)\n",
                 dist::worldSize(), dist::backend().c_str(), gradSync_->bucketCount(), allReduceWaitSeconds_, train,
                 100.0 * allReduceWaitSeconds_ / std::max(1e-9, train));
    if (valShard_ >= 0) {
      std::fprintf(stderr, "distributed: validation: %lld images over %d ranks (rank 0 evaluated %lld)\n",
                   static_cast<long long>(data_.splits.at("val").size()), dist::worldSize(),
                   static_cast<long long>(valShard_));
    }
    if (syncBn_) {
      std::fprintf(stderr, "distributed: batch norm synchronised over the ranks (--sync-bn)\n");
    }
  }
  try {
    writer_->flush();
    if (statsLog_) {
      statsLog_->flush();
    }
  } catch (const WriteError& e) {
    if (summary.status != RunStatus::Failed) {
      writeFailed(e);
    }
  }
  summary.trainSeconds = secondsSince(runStart_);
  summary.medianEpochSeconds = medianAfterWarmup(summary.epochSeconds);
  summary.imagesPerSecond = medianAfterWarmup(epochThroughput_);
  summary.peakRssMb = peakRssMb();
  summary.peakCudaMb = std::max(0.0, peakCudaMemoryMb(cudaIndex_));
  summary.finalLossScale = policy_.lossScale();
  summary.profile = profiler_->result();
  if (c_.profileSteps > 0 && summary.profile.steps == 0 && summary.profile.error.empty()) {
    summary.profile.error = "no step was profiled: the run stopped before step " + std::to_string(profileFirst_);
  }
  const bool haveCheckpoint = checkpointEpoch_ >= 0 && fs::exists(checkpointPath_);
  const std::string lastGood = haveCheckpoint ? "; the last good checkpoint (" + checkpointHolds() + ") is kept"
                                              : "; no epoch had completed, so there is no checkpoint";
  const auto& precision = policy_.info();
  switch (summary.status) {
    case RunStatus::Cancelled:
      summary.message = "cancelled during epoch " + std::to_string(summary.epochsCompleted + 1) +
                        (haveCheckpoint ? "; checkpoint.pt holds " + checkpointHolds()
                                        : "; no epoch had completed, so there is no checkpoint");
      break;
    case RunStatus::Diverged:
      summary.message = stopMessage_ + lastGood +
                        (precision.whatIf ? ". This what-if mode has a fix switched off on purpose: its divergence "
                                            "is the result it shows"
                                          : !stopHint_.empty() ? stopHint_
                                          : std::string(". Lower --lr, or clip gradients with --grad-clip 1") +
                                                (c_.detectAnomaly ? ""
                                                                  : "; --detect-anomaly names the operation that "
                                                                    "produced the first inf/NaN"));
      break;
    case RunStatus::Failed:
      if (diskWriteFailed_) {
        summary.message = stopMessage_ + lastGood + ". Free space where the run is written, then " +
                          (haveCheckpoint ? "continue it with ampbench-cli train --resume " + c_.outDir
                                          : std::string("start it again"));
        break;
      }
      summary.message = stopMessage_ + lastGood +
                        ". Lower the batch size (--batch-size) or the image size (--image-size)" +
                        (precision.resolved == PrecisionMode::Fp32
                             ? std::string("; mixed precision (fp16/bf16) roughly halves activation memory")
                             : std::string());
      break;
    default:
      summary.status = RunStatus::Finished;
      summary.message = "finished " + std::to_string(summary.epochsCompleted) + " epochs";
      break;
  }
  if (best_) {
    try {
      useSelectedEpoch();
      if (summary.selectedEpoch > 0) {
        char v[32];
        std::snprintf(v, sizeof v, "%.4g", summary.selectedValue);
        summary.message += "; keeps epoch " + std::to_string(summary.selectedEpoch) + " (best.pt: best validation " +
                           summary.selectedBy + " " + v + ")";
      }
    } catch (const std::exception& e) {
      // best.pt unreadable (deleted, damaged): the last epoch stays the run's model, said so,
      // and the file is put aside so that evaluate and export do not load it either.
      summary.selectedEpoch = 0;
      std::error_code ec;
      fs::rename(c_.outDir + "/best.pt", c_.outDir + "/best.pt.unusable", ec);
      summary.message += "; model selection ignored (" + firstLineOf(e) + "): the last epoch is evaluated";
    }
  }
  try {
    writer_->writeMetrics(summary, data_.summary.classes);
  } catch (const WriteError& e) {
    summary.message += "; metrics.json not written: " + firstLineOf(e);
  }
  if (summary.status == RunStatus::Finished && summary.hasFinalMetrics && dist::rank() == 0) {
    try {
      const EvaluationWeights evaluating(*model_, modelHoldsBest_ ? nullptr : average_.get(), holdWeights());
      writeEndOfRunEvaluations(c_, data_, *model_, summary, policy_.info(), device_, observer_, cancel_);
    } catch (const std::exception& e) {
      // The run itself succeeded; say why its evaluation files are missing.
      summary.message += "; evaluation files not written: " + std::string(e.what());
    }
  }
  if (c_.exportAtEnd && summary.status == RunStatus::Finished && dist::rank() == 0) {
    try {
      ExportOptions formats;
      formats.onnx = onnxExportSupported();  // export what this build can write
      exportRun(c_.outDir, c_.outDir, formats);
    } catch (const std::exception& e) {
      // The run itself succeeded; say why the export did not, and keep the run.
      summary.message += "; export failed: " + std::string(e.what());
    }
  }
  switch (summary.status) {
    case RunStatus::Cancelled: observer_.onCancelled(summary); break;
    case RunStatus::Diverged:
    case RunStatus::Failed: observer_.onFailed(summary); break;
    default: observer_.onFinished(summary); break;
  }
  return summary;
}

RunSummary trainPrepared(const RunConfig& c, const PreparedData& data, const PrecisionInfo& precision,
                         const torch::Device& device, const std::string* initialWeights, RunObserver& observer,
                         const CancelToken& cancel) {
  TrainingSession session(c, data, precision, device, initialWeights, observer, cancel);
  return session.run();
}

}  // namespace ampbench
