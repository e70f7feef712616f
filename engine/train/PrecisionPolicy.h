#pragma once
// Everything a precision mode changes in a training step, in one object the training loop
// calls instead of branching: the forward's format (autocast, or emulation by rounding),
// the loss scaler, and the what-ifs' missing fixes (no loss scaling; weights rounded to the
// format after every update instead of FP32 master weights). Engine-internal (torch).

#include "engine/core/Events.h"
#include "engine/models/Registry.h"
#include "engine/precision/LossScaler.h"

#include <torch/optim/optimizer.h>
#include <torch/types.h>

#include <optional>
#include <string>

namespace ampbench {

class PrecisionPolicy {
 public:
  PrecisionPolicy(const PrecisionInfo& info, const LossScalerOptions& scaler, const torch::Device& device);

  const PrecisionInfo& info() const { return info_; }
  LossScaler& scaler() { return scaler_; }
  const LossScaler& scaler() const { return scaler_; }

  // Sets the model's emulated format; in the *-pure what-ifs also rounds its weights to
  // the format (they start, and stay, representable in it).
  void prepareModel(ClassifierImpl& model) const;
  // The forward in the compute format; logits come back in fp32, so the loss and its
  // reduction run in fp32 (the activation-overflow fix).
  torch::Tensor forward(ClassifierImpl& model, const torch::Tensor& images) const;
  // loss * scale, backward.
  void backward(const torch::Tensor& loss);
  // Unscales the gradients and checks them for inf/NaN (loss scaling only); before clipping.
  void unscale(torch::optim::Optimizer& optimizer);
  // Steps unless a gradient overflowed (loss scaling only). Returns whether it stepped.
  bool step(torch::optim::Optimizer& optimizer);
  // Without master weights (the *-pure what-ifs): rounds every weight to the format after
  // the update, so an update below half an ulp of its weight is lost. Returns the name of
  // the first weight that became inf/NaN in the format ("" when none did, or with master weights).
  std::string roundWeights(torch::nn::Module& model);
  // The scaler's backoff / growth after the step.
  void update() { scaler_.update(); }

  bool overflowed() const { return scaler_.enabled() && scaler_.lastStepOverflowed(); }
  double lossScale() const { return scaler_.scaleValue(); }

 private:
  PrecisionInfo info_;
  LossScaler scaler_;
  c10::DeviceType deviceType_;
  c10::ScalarType computeDtype_;
  std::optional<c10::ScalarType> weightDtype_;  // set when there are no master weights
};

// The dtype a mode's numerics are emulated in (fp16/bf16 on fp32 kernels), if any.
std::optional<c10::ScalarType> emulatedScalarType(const PrecisionInfo& info);
// Rounds every floating parameter of `module` through `dtype` in place.
void roundParametersTo(torch::nn::Module& module, c10::ScalarType dtype);

}  // namespace ampbench
