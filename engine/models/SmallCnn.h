#pragma once
#include "engine/models/Registry.h"

#include <torch/nn/modules/batchnorm.h>
#include <torch/nn/modules/conv.h>
#include <torch/nn/modules/linear.h>
#include <torch/nn/pimpl.h>

#include <string>

namespace ampbench {

// Four conv-bn-relu-maxpool stages (16, 32, 64, 128 channels), global average pooling
// and one linear layer. Fast enough for tests and the first click at any image size.
class SmallCnnImpl : public ClassifierImpl {
 public:
  explicit SmallCnnImpl(const ModelSpec& spec);
  torch::Tensor forward(torch::Tensor x) override;

  static constexpr int kStages = 4;
  torch::nn::Conv2d convs[kStages]{nullptr, nullptr, nullptr, nullptr};
  torch::nn::BatchNorm2d bns[kStages]{nullptr, nullptr, nullptr, nullptr};
  torch::nn::Linear fc{nullptr};

 private:
  // Probe names: a stage is named after its conv ("conv1".."conv4"), as ResNet's stem.
  std::string stageNames_[kStages];
};
TORCH_MODULE(SmallCnn);

}  // namespace ampbench
