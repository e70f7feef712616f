#pragma once
// Dynamic loss scaling with torch.amp.GradScaler's semantics, which LibTorch lacks.
//
//   auto scaled = scaler.scale(loss);
//   scaled.backward();
//   scaler.unscale(optimizer);            // optional: before gradient clipping
//   clip_grad_norm_(...);
//   const bool stepped = scaler.step(optimizer);  // skipped on inf/NaN gradients
//   scaler.update();                      // backoff on overflow, growth after N clean steps
//
// Ordering is enforced: calling these out of order throws std::logic_error.
// One host sync per step: step() reads the combined inf/NaN flag once.

#include "engine/core/RunConfig.h"

#include <torch/optim/optimizer.h>
#include <torch/serialize/archive.h>
#include <torch/types.h>

namespace ampbench {

class LossScaler {
 public:
  enum class Stage { Ready = 1, Unscaled, Stepped };

  LossScaler(const LossScalerOptions& options, bool enabled, torch::Device device);

  // loss * scale (the loss itself when disabled).
  torch::Tensor scale(const torch::Tensor& loss) const;
  // Divides every gradient of the optimizer's parameters by the scale in place and
  // records whether any was inf/NaN. At most once per step.
  void unscale(torch::optim::Optimizer& optimizer);
  // Unscales if not done yet, then steps the optimizer unless a gradient was inf/NaN.
  // Returns whether the optimizer stepped.
  bool step(torch::optim::Optimizer& optimizer);
  // After unscale(): whether a gradient was inf/NaN (reads the flag step() reads anyway).
  bool foundInf() const;
  // Backoff (scale *= backoff, floor minScale) after an overflow; otherwise counts a
  // clean step and grows the scale after growthInterval of them (cap maxScale).
  void update();

  bool enabled() const { return enabled_; }
  double scaleValue() const { return enabled_ ? scale_ : 1.0; }
  int64_t growthTracker() const { return growthTracker_; }
  bool lastStepOverflowed() const { return lastOverflow_; }
  Stage stage() const { return stage_; }
  const LossScalerOptions& options() const { return options_; }

  // Saves scale, growth tracker and (for the record) whether scaling is on; load restores
  // the scale and the tracker only: enabled() stays what this run's precision set.
  void save(torch::serialize::OutputArchive& archive) const;
  void load(torch::serialize::InputArchive& archive);

 private:
  LossScalerOptions options_;
  bool enabled_;
  torch::Device device_;
  // Host copies: scale changes only by powers of two, so the host value is exact, and
  // multiplying by a host scalar costs no device round trip.
  double scale_;
  int64_t growthTracker_ = 0;
  torch::Tensor foundInf_;  // float [1] on the device
  bool lastOverflow_ = false;
  Stage stage_ = Stage::Ready;
};

// The defined gradients of the optimizer's parameters.
std::vector<torch::Tensor> gradientsOf(torch::optim::Optimizer& optimizer);

// True if any defined gradient is inf/NaN, as one float [1] tensor (no host sync). Also
// true when the gradients' elements sum beyond float range (~1e38): no usable gradient does.
torch::Tensor anyNonFinite(const std::vector<torch::Tensor>& grads);

}  // namespace ampbench
