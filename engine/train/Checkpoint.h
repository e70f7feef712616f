#pragma once
// checkpoint.pt: model, optimizer, loss scaler, schedule position and epoch, in one
// torch archive written to a temporary name and renamed.

#include "engine/models/Registry.h"
#include "engine/precision/LossScaler.h"

#include <torch/optim/optimizer.h>

#include <string>

namespace ampbench {

struct TrainingPosition {
  int64_t epoch = 0;          // last completed epoch
  int64_t globalStep = 0;     // steps taken (including skipped ones)
  int64_t scheduleStep = 0;   // optimizer steps actually applied (drives the LR)
  int64_t overflowSteps = 0;  // totals so far
  int64_t skippedSteps = 0;
};

void saveCheckpoint(const std::string& path, ClassifierImpl& model, torch::optim::Optimizer& optimizer,
                    const LossScaler& scaler, const TrainingPosition& position);

// Loads what is given (optimizer and scaler may be null). Throws InputError when the file
// is not an AmpBench checkpoint or does not fit the model.
TrainingPosition loadCheckpoint(const std::string& path, ClassifierImpl& model, torch::optim::Optimizer* optimizer,
                                LossScaler* scaler);

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
