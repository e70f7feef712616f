#pragma once
// Batches from a decoded split: seeded shuffling (or class-balanced sampling), tensor
// augmentation, normalisation, and a producer thread that prepares the next batch while
// the current one trains.

#include "engine/data/ImageCache.h"
#include "engine/core/RunConfig.h"

#include <torch/types.h>

#include <atomic>
#include <condition_variable>
#include <deque>
#include <exception>
#include <mutex>
#include <thread>

namespace ampbench {

struct Batch {
  torch::Tensor images;  // float [B, C, S, S], normalised, on the target device/format
  torch::Tensor labels;  // int64 [B]
};

struct LoaderOptions {
  int64_t batchSize = 32;
  bool shuffle = true;
  bool balanced = false;  // sample classes equally (with replacement)
  bool augment = false;
  AugmentOptions augmentation;
  uint64_t seed = 0;  // combined with the epoch: the same epoch gives the same batches
  int64_t epoch = 1;
  // Start the epoch at this batch (a run resumed mid-epoch): the order and augmentation are
  // the whole epoch's, so batch k is the same batch as in an uninterrupted run.
  int64_t firstBatch = 0;
  std::vector<double> mean;
  std::vector<double> std;
  torch::Device device = torch::kCPU;
  bool channelsLast = false;
  bool prefetch = true;
  int64_t queueDepth = 2;
  // Data-parallel training: this rank's shard of every global batch. Global batch k holds
  // images [k*B*N, (k+1)*B*N) of the epoch's order (the same order for any N) and rank r
  // takes the r-th run of B within it; a partial last global batch is dropped, so every
  // rank takes the same number of steps.
  int64_t shardRank = 0;
  int64_t shardCount = 1;
};

// Batches per epoch for n images: the last partial batch is kept unless it would hold a
// single image (batch-norm cannot train on one).
int64_t batchesPerEpoch(int64_t n, int64_t batchSize, bool training);
// The same with `shards` ranks of `batchSize` each (shards == 1: batchesPerEpoch).
int64_t batchesPerEpoch(int64_t n, int64_t batchSize, bool training, int64_t shards);

class BatchLoader {
 public:
  BatchLoader(const SplitTensors& split, LoaderOptions options, bool training);
  ~BatchLoader();
  BatchLoader(const BatchLoader&) = delete;
  BatchLoader& operator=(const BatchLoader&) = delete;

  // Next batch; false at the end of the epoch. Rethrows producer errors.
  bool next(Batch& out);
  int64_t size() const { return numBatches_; }
  // The prefetch thread's intra-op team size once it has started (0 before, or without
  // one): 1, so that it does not contend with the training step (quietHelperThread).
  int producerTeamSize() const { return producerTeam_.load(); }

 private:
  Batch make(int64_t b);
  void produce();

  const SplitTensors& split_;
  LoaderOptions opt_;
  bool training_;
  std::vector<int64_t> order_;
  int64_t numBatches_ = 0;
  int64_t consumed_ = 0;
  torch::Tensor scale_, shift_;  // per-channel normalisation as x*scale + shift

  std::mutex mutex_;
  std::condition_variable cv_;
  std::deque<Batch> queue_;
  std::exception_ptr error_;
  bool stop_ = false;
  int64_t produced_ = 0;
  std::atomic<int> producerTeam_{0};
  std::thread producer_;
};

// Random resized crop + small rotation + shift (+ optional horizontal flip; never a
// vertical one) for a float batch, one affine transform per image through a single
// grid_sample (edge pixels repeat into what a shift uncovers). Exposed for tests.
torch::Tensor augmentBatch(const torch::Tensor& images, const AugmentOptions& opt, uint64_t seed);
// Brightness, contrast and gamma jitter of a float batch in [0, 1] (before normalisation),
// one draw of each per image; the input itself when all three are off.
torch::Tensor augmentIntensity(const torch::Tensor& images, const AugmentOptions& opt, uint64_t seed);
bool hasIntensityJitter(const AugmentOptions& opt);

// Test-time augmentation: view k of `tta` (0 = the image itself; k >= 1 a shift of
// tta.shift of the size in direction 2*pi*(k-1)/(views-1), edge pixels repeated). No
// flips: a radiograph has a side and a top.
torch::Tensor testTimeView(const torch::Tensor& images, const TtaOptions& tta, int64_t k);
// "none", or what the views are, for the evaluation files.
std::string describeTta(const TtaOptions& tta);

}  // namespace ampbench
