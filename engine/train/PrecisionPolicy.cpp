#include "engine/train/PrecisionPolicy.h"

#include "engine/precision/Precision.h"

#include <torch/torch.h>

namespace ampbench {

std::optional<c10::ScalarType> emulatedScalarType(const PrecisionInfo& info) {
  if (!info.emulated) {
    return std::nullopt;
  }
  return computeScalarType(info);
}

void roundParametersTo(torch::nn::Module& module, c10::ScalarType dtype) {
  torch::NoGradGuard noGrad;
  for (auto& p : module.parameters()) {
    if (p.is_floating_point() && p.scalar_type() != dtype) {
      p.copy_(p.to(dtype));  // copy_ keeps the storage (and the optimizer's references to it)
    }
  }
}

PrecisionPolicy::PrecisionPolicy(const PrecisionInfo& info, const LossScalerOptions& scaler,
                                 const torch::Device& device)
    : info_(info),
      scaler_(scaler, info.lossScaling, device),
      deviceType_(device.type()),
      computeDtype_(computeScalarType(info)) {
  if (!info.masterWeights) {
    weightDtype_ = computeDtype_;
  }
}

void PrecisionPolicy::prepareModel(ClassifierImpl& model) const {
  model.setEmulatedDtype(emulatedScalarType(info_));
  if (weightDtype_) {
    roundParametersTo(model, *weightDtype_);
  }
}

torch::Tensor PrecisionPolicy::forward(ClassifierImpl& model, const torch::Tensor& images) const {
  torch::Tensor logits;
  {
    AutocastGuard autocast(deviceType_, computeDtype_, info_.autocast);
    logits = model.forward(images);
  }
  return logits.to(torch::kFloat);
}

void PrecisionPolicy::backward(const torch::Tensor& loss) { scaler_.scale(loss).backward(); }

void PrecisionPolicy::unscale(torch::optim::Optimizer& optimizer) {
  if (scaler_.enabled()) {
    scaler_.unscale(optimizer);
  }
}

bool PrecisionPolicy::step(torch::optim::Optimizer& optimizer) { return scaler_.step(optimizer); }

std::string PrecisionPolicy::roundWeights(torch::nn::Module& model) {
  if (!weightDtype_) {
    return {};
  }
  roundParametersTo(model, *weightDtype_);
  // A weight past the format's largest value is inf now: the run cannot go on.
  std::vector<torch::Tensor> params;
  for (const auto& p : model.parameters()) {
    params.push_back(p.detach());
  }
  if (anyNonFinite(params).item<float>() == 0.0f) {
    return {};
  }
  for (const auto& item : model.named_parameters()) {
    if (!torch::isfinite(item.value()).all().item<bool>()) {
      return item.key();
    }
  }
  return "(a weight)";
}

}  // namespace ampbench
