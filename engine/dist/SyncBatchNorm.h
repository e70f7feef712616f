#pragma once
// Batch norm over the global batch of a data-parallel run (--sync-bn): the training
// statistics are those of every rank's images together, so N ranks x batch B normalise as
// one process with batch N x B would (PyTorch's SyncBatchNorm). Engine-internal (torch).

#include <torch/nn/modules/batchnorm.h>
#include <torch/types.h>

namespace ampbench::dist {

// Training-mode forward of `bn` with the ranks' statistics: one all-gather of each rank's
// per-channel mean, variance and count in the forward, one all-reduce of the per-channel
// gradient sums in the backward. The running statistics are updated from the global mean
// and (unbiased) variance, the same on every rank. Evaluation mode is the plain forward.
// The weight and bias gradients stay this rank's (the gradient all-reduce averages them).
torch::Tensor syncBatchNorm(torch::nn::BatchNorm2dImpl& bn, const torch::Tensor& x);

}  // namespace ampbench::dist
