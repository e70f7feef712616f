#pragma once
// Batch norm over the global batch of a data-parallel run (--sync-bn): the training
// statistics are those of every rank's images together, so N ranks x batch B normalise as
// one process with batch N x B would (PyTorch's SyncBatchNorm). Engine-internal (torch).

#include <torch/nn/modules/batchnorm.h>
#include <torch/types.h>

#include <unordered_map>

namespace ampbench::dist {

class SyncBatchNorm {
 public:
  // Training-mode forward of `bn`. Armed (the step's own forward, run by every rank): the
  // ranks' statistics, one all-gather of each rank's per-channel mean, variance and count,
  // and one all-reduce of the per-channel gradient sums in the backward; the running
  // statistics are updated from the global mean and unbiased variance, the same on every
  // rank; the weight and bias gradients stay this rank's (the gradient all-reduce averages
  // them). Not armed (a replay of the step's batch: overflow attribution, anomaly mode):
  // no collective, the last armed forward's global statistics, so the replay sees the
  // step's activations (a per-rank batch of one could not even be normalised alone).
  // Evaluation mode: the plain forward.
  torch::Tensor forward(torch::nn::BatchNorm2dImpl& bn, const torch::Tensor& x, bool armed);

  struct Stats {
    torch::Tensor hi, lo, var;  // the mean as a float pair hi + lo, the biased variance
  };

 private:
  std::unordered_map<const torch::nn::BatchNorm2dImpl*, Stats> last_;
};

}  // namespace ampbench::dist
