#include "engine/models/SmallCnn.h"

#include "engine/models/Layers.h"

#include <torch/torch.h>

namespace ampbench {

namespace {
const std::string kFcName = "fc";
}  // namespace

SmallCnnImpl::SmallCnnImpl(const ModelSpec& spec) : ClassifierImpl(spec) {
  const int64_t widths[kStages] = {16, 32, 64, 128};
  int64_t in = spec.inChannels;
  for (int i = 0; i < kStages; ++i) {
    const auto n = std::to_string(i + 1);
    convs[i] = register_module("conv" + n,
                               torch::nn::Conv2d(torch::nn::Conv2dOptions(in, widths[i], 3).padding(1).bias(false)));
    bns[i] = register_module("bn" + n, torch::nn::BatchNorm2d(widths[i]));
    stageNames_[i] = "conv" + n;
    in = widths[i];
  }
  fc = register_module("fc", torch::nn::Linear(in, spec.numClasses));
  layers::initLikeTorchvision(*this);
}

torch::Tensor SmallCnnImpl::forward(torch::Tensor x) {
  const auto& e = emulation();
  x = layers::round(e, x);
  for (int i = 0; i < kStages; ++i) {
    x = layers::batchNormRelu(e, bns[i], layers::conv(e, convs[i], x));  // ReLU in place: see ResNet.cpp
    // Pool while the map is larger than 1 pixel, so 28 px inputs work as well as 224 px.
    if (x.size(2) > 1 && x.size(3) > 1) {
      x = layers::maxPool(x, 2, 2);
    }
    x = report(stageNames_[i], x);  // the stage's output, after pooling
  }
  x = layers::round(e, torch::adaptive_avg_pool2d(layers::plain(x), {1, 1})).flatten(1);
  x = layers::linear(e, fc, x);
  x = report(kFcName, x);  // the logits
  return x;
}

}  // namespace ampbench
