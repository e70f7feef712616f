#include "engine/models/ResNet.h"

#include "engine/models/Layers.h"

#include <torch/torch.h>

namespace ampbench {

namespace {
const std::string kStemName = "conv1";
const std::string kFcName = "fc";

torch::nn::Conv2dOptions conv3x3(int64_t in, int64_t out, int64_t stride) {
  return torch::nn::Conv2dOptions(in, out, 3).stride(stride).padding(1).bias(false);
}
}  // namespace

BasicBlockImpl::BasicBlockImpl(int64_t in, int64_t out, int64_t stride_, EmulationPtr emulation)
    : stride(stride_), emulation_(std::move(emulation)) {
  conv1 = register_module("conv1", torch::nn::Conv2d(conv3x3(in, out, stride)));
  bn1 = register_module("bn1", torch::nn::BatchNorm2d(out));
  conv2 = register_module("conv2", torch::nn::Conv2d(conv3x3(out, out, 1)));
  bn2 = register_module("bn2", torch::nn::BatchNorm2d(out));
  if (stride != 1 || in != out) {
    downConv = torch::nn::Conv2d(torch::nn::Conv2dOptions(in, out, 1).stride(stride).bias(false));
    downBn = torch::nn::BatchNorm2d(out);
    // Registered as a Sequential so the names are downsample.0.* / downsample.1.*.
    register_module("downsample", torch::nn::Sequential(downConv, downBn));
  }
}

torch::Tensor BasicBlockImpl::forward(torch::Tensor x) {
  const auto& e = emulation_;
  // In place, as torchvision's BasicBlock (ReLU(inplace=True), out += identity): batch-norm's
  // backward needs its input, not its output, and ReLU's backward needs only its output, so
  // nothing autograd saved is overwritten; two activation-sized tensors fewer per block.
  auto out = layers::batchNormRelu(e, bn1, layers::conv(e, conv1, x));
  out = layers::batchNorm(e, bn2, layers::conv(e, conv2, out));
  auto identity = downConv ? layers::batchNorm(e, downBn, layers::conv(e, downConv, x)) : x;
  return layers::addRelu(e, out, identity);
}

ResNetImpl::ResNetImpl(const ModelSpec& spec, const std::vector<int64_t>& blocksPerLayer) : ClassifierImpl(spec) {
  conv1 = register_module(
      "conv1", torch::nn::Conv2d(torch::nn::Conv2dOptions(spec.inChannels, 64, 7).stride(2).padding(3).bias(false)));
  bn1 = register_module("bn1", torch::nn::BatchNorm2d(64));
  int64_t in = 64;
  const int64_t widths[4] = {64, 128, 256, 512};
  for (int l = 0; l < 4; ++l) {
    torch::nn::Sequential seq;
    std::vector<BasicBlock> blocks;
    for (int64_t b = 0; b < blocksPerLayer[l]; ++b) {
      const int64_t stride = (b == 0 && l > 0) ? 2 : 1;
      blocks.emplace_back(in, widths[l], stride, emulation());
      seq->push_back(blocks.back());
      in = widths[l];
    }
    register_module("layer" + std::to_string(l + 1), seq);
    layers.push_back(std::move(blocks));
    blockNames_.emplace_back();
    for (size_t b = 0; b < layers.back().size(); ++b) {
      blockNames_.back().push_back("layer" + std::to_string(l + 1) + "." + std::to_string(b));
    }
  }
  fc = register_module("fc", torch::nn::Linear(512, spec.numClasses));
  layers::initLikeTorchvision(*this);
}

torch::Tensor ResNetImpl::forward(torch::Tensor x) {
  const auto& e = emulation();
  x = layers::round(e, x);
  x = layers::batchNormRelu(e, bn1, layers::conv(e, conv1, x));
  x = report(kStemName, x);  // the stem's output, before max pooling
  x = layers::maxPool(x, /*kernel=*/3, /*stride=*/2, /*padding=*/1);
  for (size_t l = 0; l < layers.size(); ++l) {
    for (size_t b = 0; b < layers[l].size(); ++b) {
      x = layers[l][b]->forward(x);
      x = report(blockNames_[l][b], x);
    }
  }
  x = layers::round(e, torch::adaptive_avg_pool2d(layers::plain(x), {1, 1})).flatten(1);
  x = layers::linear(e, fc, x);
  x = report(kFcName, x);  // the logits
  return x;
}

}  // namespace ampbench
