#pragma once
// What the engine reports while it works: plain value structs, delivered through the
// RunObserver interface on the engine's thread. No tensors, no pointers, so the UI
// bridge can copy them across threads and the CLI can print them directly.

#include "engine/core/Metrics.h"
#include "engine/core/RunConfig.h"
#include "engine/core/SkippedFile.h"

#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace ampbench {

struct DatasetSummary {
  std::string source;  // the path given
  std::string kind;    // "folder", "npz", "idx", "cache", "synthetic"
  std::vector<std::string> classes;
  // split name ("train", "val", "test") -> images per class, in class order
  std::map<std::string, std::vector<int64_t>> counts;
  std::map<std::string, std::string> splitOrigin;  // split -> "folder" or "carved from train"
  std::vector<SkippedFile> skipped;
  int64_t ignoredCount = 0;  // OS junk (__MACOSX/, .DS_Store, @eaDir/...) left out silently
  std::vector<double> mean;  // per channel, of the training images in [0,1]
  std::vector<double> std;
  int64_t imageSize = 0;
  int64_t channels = 0;
};

// How a precision mode was realised on this device.
struct PrecisionInfo {
  PrecisionMode requested = PrecisionMode::Fp32;
  PrecisionMode resolved = PrecisionMode::Fp32;  // never Auto
  std::string computeDtype = "float32";          // float32, float16, bfloat16
  bool autocast = false;
  bool emulated = false;    // the format's numerics emulated on fp32 kernels (no speed-up)
  bool lossScaling = false;
  bool masterWeights = true;  // false in the *-pure what-ifs: weights rounded to the format after each step
  bool whatIf = false;        // a fix switched off on purpose: divergence is a result
  bool slowKernels = false;   // bf16 through LibTorch's reference kernels: a CPU without bf16 units
  std::string label;        // e.g. "FP16 mixed (emulated)", "BF16 mixed"
  std::string note;         // why, in plain words
};

struct DataProgressEvent {
  std::string phase;  // "scan", "decode", "cache"
  int64_t done = 0;
  int64_t total = 0;
};

struct RunStartedEvent {
  std::string runDir;
  RunConfig config;  // resolved
  DatasetSummary dataset;
  PrecisionInfo precision;
  std::string device;  // "cpu", "cuda:0"
  int threads = 0;
  int64_t stepsPerEpoch = 0;
  int64_t totalSteps = 0;
  int64_t startEpoch = 1;  // > 1 when resumed
  // A resumed run: the global steps already taken (mid-epoch when not a whole number of
  // epochs) and what the resume did, in a line ("" for a new run).
  int64_t startStep = 0;
  std::string resumeNote;
  int64_t parameterCount = 0;
};

struct StepEvent {
  int64_t epoch = 0;        // 1-based
  int64_t step = 0;         // global, 1-based
  int64_t stepInEpoch = 0;  // 1-based
  int64_t stepsPerEpoch = 0;
  double loss = 0.0;
  double lr = 0.0;
  double lossScale = 1.0;
  bool overflow = false;  // a gradient was inf/NaN
  bool skipped = false;   // the optimizer step was skipped because of it
  double imagesPerSecond = 0.0;  // over the last 10 s of training time, across epochs (Throughput.h)
  double elapsedSeconds = 0.0;   // since the run started
};

struct EpochEvent {
  int64_t epoch = 0;
  int64_t epochs = 0;
  double trainLoss = 0.0;
  double trainAccuracy = 0.0;
  bool validated = false;
  Metrics val;
  double epochSeconds = 0.0;  // training time: steps only, checkpoints and validation left out (a resumed epoch adds its earlier part)
  double evalSeconds = 0.0;
  double imagesPerSecond = 0.0;
  int64_t overflowSteps = 0;  // this epoch
  int64_t skippedSteps = 0;   // this epoch
  double lossScale = 1.0;     // at the end of the epoch
  double peakRssMb = 0.0;
  double peakCudaMb = 0.0;    // CUDA runs: peak bytes allocated to tensors so far; 0 otherwise
  // Model selection: this epoch's validation is the best so far by the run's metric (its
  // weights are now best.pt).
  bool best = false;
};

struct EvaluationEvent {
  std::string split;
  Metrics metrics;
};

// Batches of a split evaluated by evaluateRunSplit (or at the end of a run): one per batch.
struct EvaluationProgressEvent {
  std::string split;
  int64_t done = 0;   // images evaluated so far
  int64_t total = 0;
};

struct CheckpointEvent {
  std::string path;
  int64_t epoch = 0;        // the epoch it holds (completed, or in progress when mid-epoch)
  int64_t stepInEpoch = 0;  // 0: at the epoch's end; else the steps of `epoch` it holds
  double writeSeconds = 0.0;
};

// Where profiled training steps spent their time (RunConfig::profileSteps): LibTorch
// operators by self time (time in the op minus the ops it called), per step.
// Names starting "ampbench::" are the trainer's phases of a step (forward, backward,
// loss_scaler, optimizer, bookkeeping, next_batch); their total time is what they cover.
struct ProfiledOp {
  std::string name;          // e.g. "aten::mkldnn_convolution"; "(outside any op)" for the rest
  double callsPerStep = 0.0;
  double selfMsPerStep = 0.0;   // minus the ops it called
  double totalMsPerStep = 0.0;  // including them
  double share = 0.0;        // self time's share of the profiled steps' wall time
};

struct StepProfile {
  int64_t firstStep = 0;     // global, 1-based
  int64_t steps = 0;         // profiled (fewer than asked when the epoch or the run ended first)
  double wallMsPerStep = 0.0;
  std::vector<ProfiledOp> ops;  // by self time, largest first
  std::string tracePath;     // chrome://tracing / Perfetto trace of the same steps
  std::string csvPath;
  std::string error;         // why there is no profile, when there is none
};

// What a precision format does to one tensor at a sampled step (RunConfig::gradStatsEvery):
// a log2|x| histogram and the shares that FP16 / BF16 would lose. Values are read as the
// loss scaler produced them ("scaled", multiplied by lossScale) and divided back by the
// scale ("unscaled", the true gradients). Weight statistics (kind "update") say which
// share of this step's updates is below half an ulp of the weight it is added to.
constexpr int kLog2MinExp = -40;  // bin i holds 2^(kLog2MinExp+i) <= |x| < 2^(kLog2MinExp+i+1)
constexpr int kLog2MaxExp = 20;   // |x| >= 2^kLog2MaxExp counts as "above"
constexpr int kLog2BinCount = kLog2MaxExp - kLog2MinExp;

struct Log2Histogram {
  std::vector<int64_t> bins = std::vector<int64_t>(kLog2BinCount, 0);
  int64_t below = 0;  // 0 < |x| < 2^kLog2MinExp
  int64_t above = 0;  // |x| >= 2^kLog2MaxExp, finite
  int64_t zeros = 0, infs = 0, nans = 0;
};

struct FormatShares {
  double underflow = 0.0;  // nonzero values this format rounds to zero
  double subnormal = 0.0;  // nonzero values in its subnormal range (precision lost)
  double overflow = 0.0;   // values that round to inf
};

struct TensorPrecisionStats {
  std::string layer;  // "layer4.1.conv2.weight" (parameters) or "layer4.1" (block outputs)
  std::string kind;   // "weight_grad", "activation_grad", "update", "activation"
  int64_t count = 0;
  double zeroShare = 0.0;  // exactly zero in fp32
  Log2Histogram unscaled, scaled;
  FormatShares fp16, fp16Scaled, bf16, bf16Scaled;
  double updateLostShareFp16 = 0.0;  // kind "update" only
  double updateLostShareBf16 = 0.0;
};

struct PrecisionStatsEvent {
  int64_t epoch = 0;
  int64_t step = 0;  // global, 1-based
  double lossScale = 1.0;
  // By kind: "activation" (network order), "activation_grad" (backward order),
  // "weight_grad" and "update" (parameter order). Definitions: engine/precision/GradStats.h.
  std::vector<TensorPrecisionStats> tensors;
};

// At a step whose gradients overflowed: the first forward activation that held inf/NaN when
// the step was sampled (RunConfig::gradStatsEvery) and one did; otherwise the first
// parameter in backward order whose gradient held inf/NaN.
struct OverflowAttribution {
  int64_t step = 0;
  std::string layer;
  std::string kind;  // "weight_grad", "activation_grad", "activation"
  double value = 0.0;  // the offending value (inf or NaN) or the largest magnitude
};

enum class RunStatus { Finished = 1, Cancelled, Diverged, Failed };
std::string toString(RunStatus s);

struct RunSummary {
  RunStatus status = RunStatus::Failed;
  std::string message;
  std::string runDir;
  PrecisionInfo precision;
  int64_t epochsCompleted = 0;
  int64_t stepsCompleted = 0;
  double medianEpochSeconds = 0.0;  // after warm-up (first epoch dropped when >= 3)
  double imagesPerSecond = 0.0;     // median of epochs after warm-up
  double peakRssMb = 0.0;
  double peakCudaMb = 0.0;  // CUDA runs (builds with c10_cuda): the allocator's peak; 0 otherwise
  bool outOfMemory = false;  // status Failed because a batch did not fit in memory
  double trainSeconds = 0.0;
  int64_t overflowSteps = 0;
  int64_t skippedSteps = 0;
  double finalLossScale = 1.0;
  bool hasFinalMetrics = false;
  Metrics finalVal;  // validation of the model the run keeps: the selected epoch's (best.pt), else the last
  // Model selection (RunConfig::selection): the epoch whose weights the run keeps and
  // exports, by which metric and its value; 0 = none (the last epoch's weights).
  int64_t selectedEpoch = 0;
  std::string selectedBy;
  double selectedValue = 0.0;
  // What a comparison needs to say how much of a difference is noise: the training phase
  // of each epoch run in this session, and the kept model's validation outputs.
  std::vector<double> epochSeconds;
  std::vector<float> finalValProbabilities;  // row-major [n x classes]
  std::vector<int64_t> finalValLabels;
  StepProfile profile;  // steps == 0 unless RunConfig::profileSteps asked for one
};

// Observer of a run. Callbacks arrive on the engine's thread, in order; keep them short.
// Default implementations ignore the event.
class RunObserver {
 public:
  virtual ~RunObserver() = default;
  virtual void onDataProgress(const DataProgressEvent&) {}
  virtual void onRunStarted(const RunStartedEvent&) {}
  virtual void onStep(const StepEvent&) {}
  virtual void onEpoch(const EpochEvent&) {}
  virtual void onEvaluation(const EvaluationEvent&) {}
  virtual void onEvaluationProgress(const EvaluationProgressEvent&) {}
  virtual void onCheckpoint(const CheckpointEvent&) {}
  virtual void onPrecisionStats(const PrecisionStatsEvent&) {}
  virtual void onOverflowAttribution(const OverflowAttribution&) {}
  // Exactly one of these ends every run.
  virtual void onFinished(const RunSummary&) {}
  virtual void onCancelled(const RunSummary&) {}
  virtual void onFailed(const RunSummary&) {}
  // A comparison announces each mode before its run starts.
  virtual void onCompareModeStarted(int index, int count, PrecisionMode mode) { (void)index, (void)count, (void)mode; }
};

}  // namespace ampbench
