#pragma once
// One run configuration: everything needed to repeat a run. Plain C++ (no torch, no Qt)
// so the UI and the CLI can include it cheaply.

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace ampbench {

// Fp16NoScale, Fp16Pure and Bf16Pure are what-ifs: a fix of Micikevicius et al. (2018)
// switched off (no loss scaling; no FP32 master weights either), to show what it rescues.
enum class PrecisionMode { Fp32 = 1, Fp16, Bf16, Auto, Fp16NoScale, Fp16Pure, Bf16Pure };
// bf16 on a CPU: Auto = native oneDNN kernels where the CPU has AVX512-BF16/AMX, emulated
// (fp32 kernels, values rounded through bfloat16) otherwise; Native forces LibTorch's own
// bf16 path (to measure it); Emulated forces the emulation.
enum class Bf16KernelsKind { Auto = 1, Native, Emulated };
enum class OptimizerKind { Sgd = 1, AdamW };
enum class ScheduleKind { OneCycle = 1, Cosine, Constant };
enum class DeviceKind { Auto = 1, Cpu, Cuda };
enum class BalanceKind { None = 1, Loss, Sampler };
enum class MemoryFormatKind { Auto = 1, Contiguous, ChannelsLast };
// Loss scaling: Auto = on for fp16, off for bf16/fp32 (bf16 has fp32's exponent range).
enum class ScalingKind { Auto = 1, On, Off };
// The epoch a run keeps for evaluation and export (best.pt), chosen on validation. Last =
// no selection: the final epoch (runs written before selection existed).
enum class SelectMetricKind { BalancedAccuracy = 1, Auc, Accuracy, Loss, Last };
// Two classes: the decision threshold chosen on validation at the end of a run (stored in
// decision.json); None keeps 0.5 unless one is chosen later (evaluate --choose-threshold).
enum class ThresholdRuleKind { None = 1, Youden, Sensitivity };

struct SelectionOptions {
  SelectMetricKind metric = SelectMetricKind::BalancedAccuracy;
  ThresholdRuleKind thresholdRule = ThresholdRuleKind::None;
  double targetSensitivity = 0.95;  // ThresholdRuleKind::Sensitivity
};

struct LossScalerOptions {
  ScalingKind mode = ScalingKind::Auto;
  double initScale = 65536.0;  // 2^16, as torch.amp.GradScaler
  double growthFactor = 2.0;
  double backoffFactor = 0.5;
  int64_t growthInterval = 2000;  // consecutive finite steps before the scale grows
  double minScale = 0.0;          // 0 = no floor
  double maxScale = 16777216.0 * 1024.0 * 1024.0;  // 2^44; keeps fp32 loss*scale finite
};

struct AugmentOptions {
  bool enabled = true;
  double minCropArea = 0.80;    // random resized crop: fraction of the area kept
  double maxRotationDeg = 7.0;  // small rotation, degrees either way
  bool horizontalFlip = false;  // off by default: X-rays have a side (heart on the left)
  // Never a vertical flip: a radiograph upside down is not a radiograph.
  double maxTranslate = 0.0;    // shift, as a fraction of the image size, either way (0 = off)
  // Intensity jitter on the [0, 1] image before normalisation, each drawn uniformly per
  // image: x * b (brightness), (x - mean) * c + mean (contrast, about the image's mean),
  // x ^ g (gamma), then clamped to [0, 1]. 0 = off; e.g. 0.1 draws from [0.9, 1.1].
  double brightness = 0.0;
  double contrast = 0.0;
  double gamma = 0.0;  // the exponent is drawn from [1 - gamma, 1 + gamma]
};

// Test-time augmentation (evaluate / predict when asked): the image plus `views - 1`
// shifted copies, softmax probabilities averaged. 1 = off.
struct TtaOptions {
  int64_t views = 1;
  double shift = 0.04;  // the largest shift, as a fraction of the image size
};

struct SplitOptions {
  double valFraction = 0.15;   // carved from train/ when there is no val/
  double testFraction = 0.0;   // carved from train/ when there is no test/ (0 = none)
  uint64_t splitSeed = 20180215;  // fixed: the split does not move with the training seed
};

// Data-parallel training over several processes (engine/dist). The run's config.json
// holds it only when world_size > 1; batchSize is then per rank.
struct DistributedOptions {
  int worldSize = 1;
  std::string backend = "gloo";  // gloo (CPU) or nccl (CUDA builds with AMPBENCH_NCCL)
  bool syncBatchNorm = false;    // batch-norm statistics over all ranks' images
};

struct RunConfig {
  // A named recipe (engine/core/Recipe.h) that chose the defaults of this run; "" = none.
  std::string recipe;

  // data
  std::string dataPath;       // folder, MedMNIST .npz, or a folder of IDX .gz files
  std::string cachePath;      // optional decoded-image cache file (read or written)
  // Decoded images held in memory at most (MiB; 0 = no cap): a larger dataset is read from
  // the cache file (or an unnamed temporary one in the run dir) through a bounded LRU.
  int64_t cacheMemoryMb = 0;
  int64_t limitPerSplit = 0;  // use at most this many images per split (0 = all)
  SplitOptions split;
  AugmentOptions augment;
  BalanceKind balance = BalanceKind::None;
  int64_t imageSize = 64;
  int64_t channels = 1;  // 1 (grayscale) or 3 (RGB)
  // Images whose header claims more pixels than this are skipped before decoding (a
  // 20000x20000 RGB PNG is 1.2 GB per decode thread). 0 = no limit.
  int64_t maxImagePixels = 100'000'000;

  // model
  std::string model = "small_cnn";
  std::string pretrained;  // optional weights file

  // precision
  PrecisionMode precision = PrecisionMode::Fp32;
  bool strict = false;  // refuse emulated modes instead of falling back to them
  Bf16KernelsKind bf16Kernels = Bf16KernelsKind::Auto;
  LossScalerOptions scaler;
  MemoryFormatKind memoryFormat = MemoryFormatKind::Auto;

  // optimisation
  int64_t epochs = 5;
  int64_t batchSize = 32;
  OptimizerKind optimizer = OptimizerKind::Sgd;
  double lr = 0.05;  // peak learning rate (one-cycle) or base rate
  double momentum = 0.9;
  double weightDecay = 5e-4;
  ScheduleKind schedule = ScheduleKind::OneCycle;
  double warmupFraction = 0.25;  // one-cycle: share of steps spent rising to lr
  double gradClipNorm = 0.0;     // 0 = off; applied to unscaled gradients
  // Cross-entropy against (1 - e) * one-hot + e / classes, in fp32 in every mode; with
  // --balance loss each image's loss is weighted by its true class's weight. 0 = off.
  double labelSmoothing = 0.0;
  // Exponential moving average of the weights (parameters and batch-norm statistics, fp32)
  // after every applied step, with the warm-up min(D, (1 + n) / (10 + n)) at its n-th
  // update; validation, the end-of-run evaluations and the export use it. 0 = off.
  double emaDecay = 0.0;
  SelectionOptions selection;

  // execution
  uint64_t seed = 42;
  int threads = 0;  // intra-op threads; 0 = all cores
  DeviceKind device = DeviceKind::Auto;
  int64_t evalEvery = 1;      // validate every N epochs (always after the last)
  int64_t stepEventEvery = 1; // step events / steps.csv rows every N steps
  // Profile this many training steps (after up to 3 warm-up steps) with LibTorch's
  // profiler: profile.csv (self time per op) and profile.trace.json in the run dir. 0 = off.
  int64_t profileSteps = 0;
  // FP16/BF16 range statistics of gradients, activations and updates every N-th global
  // step (grad_stats.csv, PrecisionStatsEvent). 0 = off.
  int64_t gradStatsEvery = 0;
  // On a non-finite loss or gradient, re-run the step's forward and backward with
  // LibTorch's anomaly mode to name the first layer that produced it (slow; off by default).
  bool detectAnomaly = false;

  // Fault injection for testing the divergence path: the loss of this global step
  // (1-based) is made NaN. 0 = off.
  int64_t injectNanAtStep = 0;
  // Tests only (not in config.json or the CLI): global step N throws out-of-memory, as a
  // GPU does when a batch no longer fits. 0 = off.
  int64_t injectOomAtStep = 0;

  // output
  std::string outDir;
  std::string resumeFrom;  // a run dir whose checkpoint.pt to continue from
  bool exportAtEnd = false;  // write model.onnx, model.pt, model.json into the run dir when it finishes
  // Besides the end of every epoch, checkpoint mid-epoch when this many minutes have passed
  // since the last checkpoint (a resumed run continues from that step). 0 = epoch ends only.
  double checkpointMinutes = 10.0;

  DistributedOptions distributed;
  TtaOptions tta;  // evaluation only: may change on resume
};

std::string toString(PrecisionMode m);
std::string toString(OptimizerKind k);
std::string toString(ScheduleKind k);
std::string toString(DeviceKind k);
std::string toString(BalanceKind k);
std::string toString(MemoryFormatKind k);
std::string toString(ScalingKind k);
std::string toString(Bf16KernelsKind k);
std::string toString(SelectMetricKind k);
std::string toString(ThresholdRuleKind k);
// The what-if modes: a fix switched off. Their divergence is a result, not a failure.
bool isWhatIf(PrecisionMode m);
// Every mode name parsePrecision accepts, in display order.
std::vector<PrecisionMode> allPrecisionModes();
// Parsers throw InputError naming the valid choices.
PrecisionMode parsePrecision(const std::string& s);
OptimizerKind parseOptimizer(const std::string& s);
ScheduleKind parseSchedule(const std::string& s);
DeviceKind parseDevice(const std::string& s);
BalanceKind parseBalance(const std::string& s);
MemoryFormatKind parseMemoryFormat(const std::string& s);
ScalingKind parseScaling(const std::string& s);
Bf16KernelsKind parseBf16Kernels(const std::string& s);
SelectMetricKind parseSelectMetric(const std::string& s);
ThresholdRuleKind parseThresholdRule(const std::string& s);
// A comma-separated list of modes ("fp32,fp16,fp16-noscale"); throws InputError naming the
// valid modes on an unknown one.
std::vector<PrecisionMode> parsePrecisionList(const std::string& s);

std::string configToJson(const RunConfig& c, int indent = 2);
RunConfig configFromJson(const std::string& json);
// Checks ranges; throws InputError with a message naming the setting and what to do.
void validateConfig(const RunConfig& c);
// The settings in which `asked` differs from the run it resumes (`recorded`, its
// config.json), as "image_size 28 -> 64". A resumed run must be the same run: only the
// epochs (extending its schedule), where it writes, threads, device, logging, profiling,
// statistics and the cache file may change; so may the world size and the per-rank batch
// of a distributed run (resume on any number of ranks, from an epoch's end).
std::vector<std::string> resumeConflicts(const RunConfig& recorded, const RunConfig& asked);

}  // namespace ampbench
