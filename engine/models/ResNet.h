#pragma once
// torchvision's ResNet-18/34 (BasicBlock), with torchvision's parameter and buffer names
// (conv1, bn1, layer1.0.conv1, layer2.0.downsample.0, fc, ...).

#include "engine/models/Registry.h"

#include <torch/nn/modules/batchnorm.h>
#include <torch/nn/modules/container/sequential.h>
#include <torch/nn/modules/conv.h>
#include <torch/nn/modules/linear.h>
#include <torch/nn/pimpl.h>

#include <string>
#include <vector>

namespace ampbench {

class BasicBlockImpl : public torch::nn::Module {
 public:
  BasicBlockImpl(int64_t in, int64_t out, int64_t stride, EmulationPtr emulation);
  torch::Tensor forward(torch::Tensor x);

  torch::nn::Conv2d conv1{nullptr}, conv2{nullptr};
  torch::nn::BatchNorm2d bn1{nullptr}, bn2{nullptr};
  // downsample.0 (1x1 conv) and downsample.1 (bn) when the shape changes.
  torch::nn::Conv2d downConv{nullptr};
  torch::nn::BatchNorm2d downBn{nullptr};
  int64_t stride = 1;

 private:
  EmulationPtr emulation_;
};
TORCH_MODULE(BasicBlock);

class ResNetImpl : public ClassifierImpl {
 public:
  ResNetImpl(const ModelSpec& spec, const std::vector<int64_t>& blocksPerLayer);
  torch::Tensor forward(torch::Tensor x) override;

  torch::nn::Conv2d conv1{nullptr};
  torch::nn::BatchNorm2d bn1{nullptr};
  std::vector<std::vector<BasicBlock>> layers;  // layer1..layer4
  torch::nn::Linear fc{nullptr};

 private:
  std::vector<std::vector<std::string>> blockNames_;  // "layer1.0", ...: probe names, built once
};
TORCH_MODULE(ResNet);

}  // namespace ampbench
