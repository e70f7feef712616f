#include "engine/precision/LossScaler.h"

#include <torch/torch.h>

#include <algorithm>
#include <stdexcept>

namespace ampbench {

std::vector<torch::Tensor> gradientsOf(torch::optim::Optimizer& optimizer) {
  std::vector<torch::Tensor> grads;
  for (auto& group : optimizer.param_groups()) {
    for (auto& p : group.params()) {
      if (p.grad().defined()) {
        grads.push_back(p.grad());
      }
    }
  }
  return grads;
}

torch::Tensor anyNonFinite(const std::vector<torch::Tensor>& grads) {
  if (grads.empty()) {
    return torch::zeros({1});
  }
  // One reduction per gradient, not isfinite + all (about five ops and a bool tensor of
  // the gradient's size each): a sum is inf/NaN when any element is (inf + -inf is NaN).
  // It can also overflow on finite values beyond ~1e38 in total, which no usable gradient
  // reaches; such a step is skipped like an overflow, the safe side.
  std::vector<torch::Tensor> sums;
  sums.reserve(grads.size());
  for (const auto& g : grads) {
    sums.push_back(g.sum(torch::kFloat));
  }
  return torch::isfinite(torch::stack(sums).sum()).logical_not().to(torch::kFloat).reshape({1});
}

LossScaler::LossScaler(const LossScalerOptions& options, bool enabled, torch::Device device)
    : options_(options), enabled_(enabled), device_(device), scale_(options.initScale) {
  foundInf_ = torch::zeros({1}, torch::TensorOptions().dtype(torch::kFloat).device(device_));
}

torch::Tensor LossScaler::scale(const torch::Tensor& loss) const {
  if (!enabled_) {
    return loss;
  }
  // Scaled in fp32: a large scale times an fp16 loss would overflow fp16.
  return loss.to(torch::kFloat) * scale_;
}

void LossScaler::unscale(torch::optim::Optimizer& optimizer) {
  if (!enabled_) {
    return;
  }
  if (stage_ == Stage::Unscaled) {
    throw std::logic_error("LossScaler::unscale() was already called since the last update(): call it once per step");
  }
  if (stage_ == Stage::Stepped) {
    throw std::logic_error("LossScaler::unscale() after step(): call update() to finish the step first");
  }
  torch::NoGradGuard noGrad;
  auto grads = gradientsOf(optimizer);
  if (!grads.empty()) {
    if (device_.is_cuda()) {
      auto invScale = torch::full({1}, 1.0 / scale_, torch::TensorOptions().dtype(torch::kFloat).device(device_));
      foundInf_.zero_();
      at::_amp_foreach_non_finite_check_and_unscale_(grads, foundInf_, invScale);
    } else {
      // LibTorch 1.13 has no CPU kernel for the fused check-and-unscale: unscale with one
      // foreach multiply and fold every gradient's finiteness into one flag.
      torch::_foreach_mul_(grads, 1.0 / scale_);
      foundInf_ = anyNonFinite(grads);
    }
  } else {
    foundInf_.zero_();
  }
  stage_ = Stage::Unscaled;
}

bool LossScaler::foundInf() const {
  if (!enabled_ || stage_ != Stage::Unscaled) {
    return false;
  }
  return foundInf_.item<float>() != 0.0f;
}

bool LossScaler::step(torch::optim::Optimizer& optimizer) {
  if (!enabled_) {
    optimizer.step();
    return true;
  }
  if (stage_ == Stage::Stepped) {
    throw std::logic_error("LossScaler::step() was already called: call update() before the next step");
  }
  if (stage_ == Stage::Ready) {
    unscale(optimizer);
  }
  lastOverflow_ = foundInf_.item<float>() != 0.0f;  // the step's one host sync
  if (!lastOverflow_) {
    optimizer.step();
  }
  stage_ = Stage::Stepped;
  return !lastOverflow_;
}

void LossScaler::update() {
  if (!enabled_) {
    return;
  }
  if (stage_ != Stage::Stepped) {
    throw std::logic_error("LossScaler::update() without step(): call step(optimizer) first");
  }
  if (lastOverflow_) {
    scale_ = std::max(scale_ * options_.backoffFactor, options_.minScale);
    growthTracker_ = 0;
  } else if (++growthTracker_ >= options_.growthInterval) {
    scale_ = std::min(scale_ * options_.growthFactor, options_.maxScale);
    growthTracker_ = 0;
  }
  stage_ = Stage::Ready;
}

void LossScaler::save(torch::serialize::OutputArchive& archive) const {
  archive.write("scale", torch::tensor({scale_}, torch::kDouble));
  archive.write("growth_tracker", torch::tensor({growthTracker_}, torch::kLong));
  archive.write("enabled", torch::tensor({enabled_ ? 1 : 0}, torch::kLong));
}

void LossScaler::load(torch::serialize::InputArchive& archive) {
  // Whether scaling is on is the run's precision, never the file's: an unscaled checkpoint
  // loaded into an fp16 run must not turn its scaler off (the caller refuses the mismatch).
  torch::Tensor s, g;
  archive.read("scale", s);
  archive.read("growth_tracker", g);
  scale_ = s.item<double>();
  growthTracker_ = g.item<int64_t>();
  lastOverflow_ = false;
  stage_ = Stage::Ready;
}

}  // namespace ampbench
