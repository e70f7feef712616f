#pragma once
// A hook point for block outputs. LibTorch's C++ nn API has no module hooks, so the
// registry models report each block's output to a probe when one is attached
// (ClassifierImpl::setProbe). Without a probe the models pay one null check per block.

#include <torch/types.h>

#include <string>

namespace ampbench {

class ActivationProbe {
 public:
  virtual ~ActivationProbe() = default;
  // `name` is the module path of the block ("conv1", "layer1.0", "fc"); `x` its output,
  // part of the autograd graph. The probe may read it and register a gradient hook on it,
  // but must not modify it.
  virtual void record(const std::string& name, const torch::Tensor& x) = 0;
};

}  // namespace ampbench
