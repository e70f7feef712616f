#include "engine/data/Loader.h"

#include "engine/util/Threads.h"

#include <torch/torch.h>

#include <algorithm>
#include <cmath>
#include <numeric>
#include <cstdio>
#include <random>

namespace ampbench {

int64_t batchesPerEpoch(int64_t n, int64_t batchSize, bool training, int64_t shards) {
  return shards <= 1 ? batchesPerEpoch(n, batchSize, training) : n / (batchSize * shards);
}

int64_t batchesPerEpoch(int64_t n, int64_t batchSize, bool training) {
  int64_t b = (n + batchSize - 1) / batchSize;
  if (training && b > 1 && n % batchSize == 1) {
    b -= 1;
  }
  return b;
}

torch::Tensor augmentBatch(const torch::Tensor& images, const AugmentOptions& opt, uint64_t seed) {
  const int64_t n = images.size(0);
  std::mt19937_64 rng(seed), shiftRng(seed ^ 0x5851f42d4c957f2dULL);
  std::uniform_real_distribution<double> u01(0.0, 1.0);
  std::vector<float> theta(static_cast<size_t>(n) * 6);
  constexpr double kPi = 3.14159265358979323846;
  for (int64_t i = 0; i < n; ++i) {
    // Side of the crop relative to the image (area fraction in [minCropArea, 1]).
    const double area = opt.minCropArea + (1.0 - opt.minCropArea) * u01(rng);
    const double side = std::sqrt(area);
    const double angle = (2.0 * u01(rng) - 1.0) * opt.maxRotationDeg * kPi / 180.0;
    // The crop centre may move as far as the crop stays inside the image.
    const double tx = (2.0 * u01(rng) - 1.0) * (1.0 - side);
    const double ty = (2.0 * u01(rng) - 1.0) * (1.0 - side);
    const double flip = (opt.horizontalFlip && u01(rng) < 0.5) ? -1.0 : 1.0;  // never vertical
    // A shift of up to maxTranslate of the size (2 * maxTranslate in grid units), from its
    // own stream: the draws above stay what they were without it.
    const double sx = (2.0 * u01(shiftRng) - 1.0) * 2.0 * opt.maxTranslate;
    const double sy = (2.0 * u01(shiftRng) - 1.0) * 2.0 * opt.maxTranslate;
    const double c = std::cos(angle) * side, s = std::sin(angle) * side;
    float* t = theta.data() + i * 6;
    t[0] = static_cast<float>(c * flip);
    t[1] = static_cast<float>(-s);
    t[2] = static_cast<float>(tx + sx);
    t[3] = static_cast<float>(s * flip);
    t[4] = static_cast<float>(c);
    t[5] = static_cast<float>(ty + sy);
  }
  auto thetaT = torch::from_blob(theta.data(), {n, 2, 3}, torch::kFloat).clone().to(images.device());
  auto grid = torch::nn::functional::affine_grid(thetaT, images.sizes(), /*align_corners=*/false);
  return torch::nn::functional::grid_sample(images, grid,
                                            torch::nn::functional::GridSampleFuncOptions()
                                                .mode(torch::kBilinear)
                                                .padding_mode(torch::kBorder)
                                                .align_corners(false));
}

bool hasIntensityJitter(const AugmentOptions& opt) {
  return opt.brightness > 0 || opt.contrast > 0 || opt.gamma > 0;
}

torch::Tensor augmentIntensity(const torch::Tensor& images, const AugmentOptions& opt, uint64_t seed) {
  if (!hasIntensityJitter(opt)) {
    return images;
  }
  const int64_t n = images.size(0);
  // Its own stream, so the geometry's draws do not depend on whether this runs.
  std::mt19937_64 rng(seed ^ 0xda942042e4dd58b5ULL);
  std::uniform_real_distribution<double> u01(0.0, 1.0);
  std::vector<float> b(n), c(n), g(n);
  for (int64_t i = 0; i < n; ++i) {
    b[i] = static_cast<float>(1.0 + (2.0 * u01(rng) - 1.0) * opt.brightness);
    c[i] = static_cast<float>(1.0 + (2.0 * u01(rng) - 1.0) * opt.contrast);
    g[i] = static_cast<float>(1.0 + (2.0 * u01(rng) - 1.0) * opt.gamma);
  }
  auto perImage = [&](std::vector<float>& v) {
    return torch::from_blob(v.data(), {n, 1, 1, 1}, torch::kFloat).clone().to(images.device());
  };
  auto x = images * perImage(b);
  const auto mean = x.mean({1, 2, 3}, /*keepdim=*/true);
  x = ((x - mean) * perImage(c) + mean).clamp_(0.0, 1.0);
  return x.pow_(perImage(g)).clamp_(0.0, 1.0);
}

torch::Tensor testTimeView(const torch::Tensor& images, const TtaOptions& tta, int64_t k) {
  if (k == 0 || tta.views <= 1) {
    return images;
  }
  constexpr double kPi = 3.14159265358979323846;
  const double angle = 2.0 * kPi * static_cast<double>(k - 1) / static_cast<double>(tta.views - 1);
  const int64_t n = images.size(0);
  // Grid units span 2 per image side: a shift of f of the size is 2f.
  const auto theta = torch::tensor({1.0, 0.0, 2.0 * tta.shift * std::cos(angle), 0.0, 1.0,
                                    2.0 * tta.shift * std::sin(angle)},
                                   torch::kFloat)
                         .view({1, 2, 3})
                         .expand({n, 2, 3})
                         .to(images.device());
  auto grid = torch::nn::functional::affine_grid(theta, images.sizes(), /*align_corners=*/false);
  return torch::nn::functional::grid_sample(images.to(torch::kFloat), grid,
                                            torch::nn::functional::GridSampleFuncOptions()
                                                .mode(torch::kBilinear)
                                                .padding_mode(torch::kBorder)
                                                .align_corners(false));
}

std::string describeTta(const TtaOptions& tta) {
  if (tta.views <= 1) {
    return "none";
  }
  char s[160];
  std::snprintf(s, sizeof s, "%lld views (the image and %lld shifts of %.3g of its size), probabilities averaged",
                static_cast<long long>(tta.views), static_cast<long long>(tta.views - 1), tta.shift);
  return s;
}

BatchLoader::BatchLoader(const SplitTensors& split, LoaderOptions options, bool training)
    : split_(split), opt_(std::move(options)), training_(training) {
  const int64_t n = split_.size();
  std::mt19937_64 rng(opt_.seed * 1000003ULL + static_cast<uint64_t>(opt_.epoch) * 7919ULL + (training ? 1 : 0));
  if (training_ && opt_.balanced) {
    // Class-balanced sampling with replacement: every class drawn equally often.
    const auto labels = split_.labels.contiguous();
    const auto* lp = labels.data_ptr<int64_t>();
    std::map<int64_t, std::vector<int64_t>> byClass;
    for (int64_t i = 0; i < n; ++i) {
      byClass[lp[i]].push_back(i);
    }
    std::vector<const std::vector<int64_t>*> classes;
    for (const auto& kv : byClass) {
      classes.push_back(&kv.second);
    }
    order_.resize(static_cast<size_t>(n));
    for (auto& o : order_) {
      const auto& members = *classes[rng() % classes.size()];
      o = members[rng() % members.size()];
    }
  } else {
    order_.resize(static_cast<size_t>(n));
    std::iota(order_.begin(), order_.end(), 0);
    if (opt_.shuffle) {
      std::shuffle(order_.begin(), order_.end(), rng);
    }
  }
  numBatches_ = batchesPerEpoch(n, opt_.batchSize, training_, opt_.shardCount);
  opt_.firstBatch = std::clamp<int64_t>(opt_.firstBatch, 0, numBatches_);
  consumed_ = opt_.firstBatch;
  const int64_t c = split_.channels();
  std::vector<float> scale(c), shift(c);
  for (int64_t k = 0; k < c; ++k) {
    const double mean = k < static_cast<int64_t>(opt_.mean.size()) ? opt_.mean[k] : 0.5;
    const double sd = k < static_cast<int64_t>(opt_.std.size()) ? opt_.std[k] : 0.25;
    scale[k] = static_cast<float>(1.0 / (255.0 * sd));
    shift[k] = static_cast<float>(-mean / sd);
  }
  scale_ = torch::tensor(scale).view({1, c, 1, 1}).to(opt_.device);
  shift_ = torch::tensor(shift).view({1, c, 1, 1}).to(opt_.device);
  if (opt_.prefetch && numBatches_ - consumed_ > 1) {
    producer_ = std::thread([this] { produce(); });
  }
}

BatchLoader::~BatchLoader() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    stop_ = true;
  }
  cv_.notify_all();
  if (producer_.joinable()) {
    producer_.join();
  }
}

Batch BatchLoader::make(int64_t b) {
  torch::NoGradGuard noGrad;
  const int64_t begin = (b * opt_.shardCount + opt_.shardRank) * opt_.batchSize;
  const int64_t end = std::min<int64_t>(begin + opt_.batchSize, static_cast<int64_t>(order_.size()));
  auto idx = torch::from_blob(order_.data() + begin, {end - begin}, torch::kLong);
  Batch out;
  auto x = split_.gather(idx);  // uint8, from memory or the split's file
  out.labels = split_.labels.index_select(0, idx);
  if (opt_.device.is_cuda()) {
    // Upload uint8 and do the float work on the GPU: a quarter of the bytes cross the bus,
    // and conversion, normalisation and augmentation stop costing host time per batch,
    // which at fp16 speeds could otherwise starve the GPU.
    x = x.pin_memory().to(opt_.device, /*non_blocking=*/true);
    out.labels = out.labels.pin_memory().to(opt_.device, /*non_blocking=*/true);
  }
  x = x.to(torch::kFloat);
  // A function of (seed, epoch, global batch index): a resumed or sharded run augments
  // the same image the same way.
  const uint64_t augSeed = opt_.seed * 6364136223846793005ULL + opt_.epoch * 1442695040888963407ULL +
                           static_cast<uint64_t>(b * opt_.shardCount + opt_.shardRank);
  const bool augment = training_ && opt_.augment;
  if (augment && hasIntensityJitter(opt_.augmentation)) {
    // Brightness, contrast and gamma act on the [0, 1] image (a gamma of normalised values,
    // negative ones included, would mean nothing); normalisation follows.
    x = augmentIntensity(x.div_(255.0), opt_.augmentation, augSeed).mul_(255.0);
  }
  x.mul_(scale_).add_(shift_);
  if (augment) {
    x = augmentBatch(x, opt_.augmentation, augSeed);
  }
  if (opt_.channelsLast) {
    x = x.contiguous(torch::MemoryFormat::ChannelsLast);
  }
  out.images = x;
  return out;
}

void BatchLoader::produce() {
  quietHelperThread();
  producerTeam_.store(currentThreadTeamSize());
  try {
    for (int64_t b = opt_.firstBatch; b < numBatches_; ++b) {
      {
        std::unique_lock<std::mutex> lock(mutex_);
        cv_.wait(lock, [&] { return stop_ || static_cast<int64_t>(queue_.size()) < opt_.queueDepth; });
        if (stop_) {
          return;
        }
      }
      Batch batch = make(b);
      {
        std::lock_guard<std::mutex> lock(mutex_);
        queue_.push_back(std::move(batch));
        ++produced_;
      }
      cv_.notify_all();
    }
  } catch (...) {
    std::lock_guard<std::mutex> lock(mutex_);
    error_ = std::current_exception();
    cv_.notify_all();
  }
}

bool BatchLoader::next(Batch& out) {
  if (consumed_ >= numBatches_) {
    return false;
  }
  if (!producer_.joinable()) {
    out = make(consumed_++);
    return true;
  }
  std::unique_lock<std::mutex> lock(mutex_);
  cv_.wait(lock, [&] { return !queue_.empty() || error_; });
  if (queue_.empty() && error_) {
    std::rethrow_exception(error_);
  }
  out = std::move(queue_.front());
  queue_.pop_front();
  ++consumed_;
  lock.unlock();
  cv_.notify_all();
  return true;
}

}  // namespace ampbench
