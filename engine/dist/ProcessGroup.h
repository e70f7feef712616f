#pragma once
// The collectives data-parallel training needs, over the process group of
// engine/dist/Distributed.h. Engine-internal (torch); every failure is a DistributedError
// naming this rank and the operation, so a dead peer stops the run with a message, not a hang.

#include "engine/dist/Distributed.h"

#include <torch/nn/module.h>
#include <torch/types.h>

#include <memory>
#include <optional>
#include <vector>

namespace ampbench::dist {

// Sums `values` over the ranks in place (one collective, in double).
void allReduceSum(std::vector<double>& values, const char* what);
// The smallest and largest of `values[i]` over the ranks, in place (two collectives).
void allReduceMinMax(std::vector<double>& mins, std::vector<double>& maxs, const char* what);
// Sums a tensor over the ranks in place (any dtype the backend reduces; CPU or the group's device).
void allReduceSum(torch::Tensor& values, const char* what);
// Every rank's `t` (same shape everywhere), stacked in rank order: [world size, ...].
torch::Tensor allGather(const torch::Tensor& t, const char* what);
// Rank 0's parameters and buffers to every rank (at the start: every rank then starts
// from the same weights, whatever its seed or files did).
void broadcastModule(torch::nn::Module& module, bool parameters, bool buffers, const char* what);

// Gradient all-reduce in buckets, overlapped with the backward: a hook on every parameter
// copies its gradient into its bucket's flat buffer as autograd produces it, and a bucket
// whose gradients are all in is all-reduced asynchronously (buckets launch in one fixed
// order, as every rank must issue the same collectives). finish() waits and writes the
// ranks' mean into each .grad. Parameters are bucketed in reverse registration order,
// roughly the order backward produces them (DDP's choice too).
class GradientSync {
 public:
  explicit GradientSync(std::vector<torch::Tensor> parameters, int64_t firstBucketBytes = 1 << 20,
                        int64_t bucketBytes = 25 << 20);
  ~GradientSync();
  GradientSync(const GradientSync&) = delete;
  GradientSync& operator=(const GradientSync&) = delete;

  // Arms the hooks for one backward. `poison`: this rank's gradient of that parameter gets
  // an inf before it is reduced (the test hook for an overflow seen by one rank only).
  void beginStep(std::optional<size_t> poison = std::nullopt);
  // After backward: launches what the hooks did not (a parameter without a gradient
  // counts as zeros), waits, and leaves the ranks' mean gradient in every .grad.
  void finish();
  // Seconds finish() spent blocked on the collectives (the all-reduce not hidden by backward).
  double lastWaitSeconds() const { return lastWait_; }
  size_t bucketCount() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
  double lastWait_ = 0.0;
};

}  // namespace ampbench::dist
