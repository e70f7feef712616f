#include "engine/models/Layers.h"

#include "engine/models/Blocked.h"
#include "engine/util/AddRelu.h"
#include "engine/util/RoundThrough.h"

#include <torch/torch.h>

namespace ampbench::layers {

torch::Tensor round(const EmulationPtr& e, const torch::Tensor& t) {
  if (!e->dtype || !t.defined()) {
    return t;
  }
  return roundThrough(t, *e->dtype);  // t.to(dtype).to(t's dtype), in one pass on the CPU
}

torch::Tensor conv(const EmulationPtr& e, torch::nn::Conv2d& m, const torch::Tensor& x) {
  const auto& o = m->options;
  // Every registry conv uses "same"-style padding k/2 (3x3 -> 1, 7x7 -> 3, 1x1 -> 0); reading
  // it back from the options' variant differs between LibTorch versions.
  const int64_t pad = (*o.kernel_size())[0] / 2;
  if (e->blocked) {
    // The stem takes the plain image; its output and everything after it are blocked.
    return round(e, blocked::conv2d(x, round(e, m->weight), (*o.stride())[0], pad));
  }
  if (!e->dtype) {
    return m->forward(x);
  }
  auto y = torch::conv2d(x, round(e, m->weight), m->bias.defined() ? round(e, m->bias) : torch::Tensor(),
                         *o.stride(), {pad, pad}, *o.dilation(), o.groups());
  return round(e, y);
}

torch::Tensor batchNorm(const EmulationPtr& e, torch::nn::BatchNorm2d& m, const torch::Tensor& x) {
  // Batch-norm statistics and affine parameters stay fp32, as in fp16 autocast with cuDNN;
  // only its output is fp16.
  if (blocked::isBlocked(x)) {
    return round(e, blocked::batchNorm(x, *m));  // sync-BN runs refuse the blocked path
  }
  if (e->batchNorm && m->is_training()) {
    return round(e, e->batchNorm(*m, x));
  }
  return round(e, m->forward(x));
}

torch::Tensor batchNormRelu(const EmulationPtr& e, torch::nn::BatchNorm2d& m, const torch::Tensor& x) {
  if (blocked::isBlocked(x)) {
    // Rounding commutes with ReLU (it keeps signs and zero), so rounding the fused output
    // equals rounding between the two.
    return round(e, blocked::batchNormRelu(x, *m));
  }
  return batchNorm(e, m, x).relu_();
}

torch::Tensor linear(const EmulationPtr& e, torch::nn::Linear& m, const torch::Tensor& x) {
  if (!e->dtype) {
    return m->forward(x);
  }
  return round(e, torch::linear(x, round(e, m->weight), m->bias.defined() ? round(e, m->bias) : torch::Tensor()));
}

torch::Tensor addRelu(const EmulationPtr& e, torch::Tensor& a, const torch::Tensor& b) {
  if (!e->dtype && blocked::isBlocked(a)) {
    return addRelu_(a, b);
  }
  return round(e, a.add_(b)).relu_();  // the emulation rounds the sum before the ReLU
}

torch::Tensor maxPool(const torch::Tensor& x, int64_t kernel, int64_t stride, int64_t padding) {
  return blocked::isBlocked(x) ? blocked::maxPool2d(x, kernel, stride, padding)
                               : torch::max_pool2d(x, kernel, stride, padding);
}

torch::Tensor plain(const torch::Tensor& x) { return blocked::isBlocked(x) ? blocked::toPlain(x) : x; }

void initLikeTorchvision(torch::nn::Module& model) {
  torch::NoGradGuard noGrad;
  for (auto& module : model.modules(/*include_self=*/false)) {
    if (auto* conv = module->as<torch::nn::Conv2d>()) {
      torch::nn::init::kaiming_normal_(conv->weight, 0.0, torch::kFanOut, torch::kReLU);
      if (conv->bias.defined()) {
        conv->bias.zero_();
      }
    } else if (auto* bn = module->as<torch::nn::BatchNorm2d>()) {
      bn->weight.fill_(1.0);
      bn->bias.zero_();
    }
  }
}

}  // namespace ampbench::layers
