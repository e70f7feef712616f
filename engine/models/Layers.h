#pragma once
// Layer calls that honour fp16 emulation (see Emulation in Registry.h). Without
// emulation they are the plain module forwards.

#include "engine/models/Registry.h"

#include <torch/nn/modules/batchnorm.h>
#include <torch/nn/modules/conv.h>
#include <torch/nn/modules/linear.h>

namespace ampbench::layers {

torch::Tensor round(const EmulationPtr& e, const torch::Tensor& t);
torch::Tensor conv(const EmulationPtr& e, torch::nn::Conv2d& m, const torch::Tensor& x);
torch::Tensor batchNorm(const EmulationPtr& e, torch::nn::BatchNorm2d& m, const torch::Tensor& x);
// relu(batchNorm(...)), in place on the plain path; one fused primitive on the blocked one.
torch::Tensor batchNormRelu(const EmulationPtr& e, torch::nn::BatchNorm2d& m, const torch::Tensor& x);
torch::Tensor linear(const EmulationPtr& e, torch::nn::Linear& m, const torch::Tensor& x);
// relu(round(a + b)), in place on `a`: a residual block's end. One pass on the blocked path
// without emulation (engine/util/AddRelu; the same bits), add_ then relu_ elsewhere.
torch::Tensor addRelu(const EmulationPtr& e, torch::Tensor& a, const torch::Tensor& b);
// torch::max_pool2d, or its oneDNN primitive on a blocked activation.
torch::Tensor maxPool(const torch::Tensor& x, int64_t kernel, int64_t stride, int64_t padding = 0);
// Where the blocked path ends (the head): a blocked activation back in plain NCHW.
torch::Tensor plain(const torch::Tensor& x);

// torchvision's initialisation: Kaiming normal (fan_out, relu) for convs, BN to (1, 0).
void initLikeTorchvision(torch::nn::Module& model);

}  // namespace ampbench::layers
