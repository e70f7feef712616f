#pragma once
// checkpoint.pt: model, optimizer, loss scaler, the run's configuration, the position in
// the run (at an epoch's end or inside an epoch) and the random generators' states, in one
// torch archive written to a temporary file, fsynced and renamed: the previous checkpoint
// stays until the new one is complete.

#include "engine/core/Metrics.h"
#include "engine/core/RunConfig.h"
#include "engine/models/Registry.h"
#include "engine/precision/LossScaler.h"

#include <torch/optim/optimizer.h>

#include <string>

namespace ampbench {

class WeightAverage;

struct TrainingPosition {
  int64_t epoch = 0;          // last completed epoch
  int64_t globalStep = 0;     // steps taken (including skipped ones)
  int64_t scheduleStep = 0;   // optimizer steps actually applied (drives the LR)
  int64_t overflowSteps = 0;  // totals over the completed epochs
  int64_t skippedSteps = 0;
  int64_t scheduleTotalSteps = 0;  // the LR schedule's length when written (0: unknown, format 1)
  int64_t consecutiveSkips = 0;    // overflowed steps in a row (the give-up count)
  // Inside epoch `epoch + 1` after this many of its steps; 0 = at the end of `epoch`. The
  // epoch's running sums make its train loss/accuracy come out as in an uninterrupted run.
  int64_t stepInEpoch = 0;
  double epochLossSum = 0.0;  // over the applied steps' images
  int64_t epochCorrect = 0, epochSeen = 0, epochApplied = 0, epochOverflow = 0, epochSkipped = 0;
  double epochSeconds = 0.0;  // training time of the epoch so far
};

// Writes `path` atomically. `configJson` is the run's configuration (configToJson);
// `average` (--ema-decay) goes into its "ema" section. Throws WriteError naming the file
// when the disk refuses it (the previous checkpoint is kept).
void saveCheckpoint(const std::string& path, ClassifierImpl& model, torch::optim::Optimizer& optimizer,
                    const LossScaler& scaler, const TrainingPosition& position, const std::string& configJson,
                    const WeightAverage* average = nullptr);

// Loads what is given (optimizer and scaler may be null). Throws InputError when the file
// is not an AmpBench checkpoint or does not fit the model. With `resuming` set (a run
// continuing from it): refuses a checkpoint whose recorded configuration differs from
// `*resuming` in a setting a resume may not change (naming it), or whose loss scaling
// differs from `scaler`'s (the scaler's on/off is the run's, never the file's), and
// restores LibTorch's random generators (CPU and `device`'s) to their state when written.
// `average` is restored from the "ema" section (an InputError when there is none).
TrainingPosition loadCheckpoint(const std::string& path, ClassifierImpl& model, torch::optim::Optimizer* optimizer,
                                LossScaler* scaler, const RunConfig* resuming = nullptr,
                                const torch::Device& device = torch::kCPU, WeightAverage* average = nullptr);

// The weights a run is evaluated, predicted and exported with: the checkpoint's weight
// average when it holds one (--ema-decay), else its model's. True when it was the average.
bool loadEvaluationWeights(const std::string& path, ClassifierImpl& model);

// best.pt: the weights of the epoch model selection chose, with that epoch's validation
// (metrics and per-image probabilities, so the end of a run needs no second pass) and the
// metric's value. It has a checkpoint's model section, so loadCheckpoint(path, model) and
// --pretrained read its weights. Written atomically.
struct BestEpoch {
  int64_t epoch = 0;
  std::string metric;  // toString(SelectMetricKind)
  double value = 0.0;  // selectionScore
  Metrics val;
  std::vector<float> probabilities;  // row-major [val.count x classes]
};
void saveBestEpoch(const std::string& path, ClassifierImpl& model, const BestEpoch& best);
// The record of best.pt without its weights; throws InputError for a file that is not one.
BestEpoch readBestEpoch(const std::string& path);

// Copies weights into `model` from: an AmpBench checkpoint, an archive written by
// torch::save / our model.pt, a TorchScript file (torch.jit.save of a torchvision model),
// or a state dict saved by torch.save in Python. Names must match torchvision's; a shape
// mismatch names the first mismatching parameter. Returns how many tensors were loaded.
int64_t loadPretrained(const std::string& path, ClassifierImpl& model);

// Named parameters and buffers of the model, in registration order (torchvision names).
std::vector<std::pair<std::string, torch::Tensor>> namedState(ClassifierImpl& model);
void copyNamedState(ClassifierImpl& model, const std::vector<std::pair<std::string, torch::Tensor>>& state,
                    const std::string& sourceName);

// Serialises / restores the model's weights in memory (identical initial weights across
// the modes of a comparison).
std::string serializeModel(ClassifierImpl& model);
void deserializeModel(ClassifierImpl& model, const std::string& bytes);

}  // namespace ampbench
