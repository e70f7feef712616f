#include "engine/data/Loader.h"
#include "engine/util/Threads.h"

#include <gtest/gtest.h>
#include <torch/torch.h>

#include <thread>

using namespace ampbench;

namespace {
SplitTensors makeSplit(int64_t n) {
  SplitTensors s;
  s.images = torch::arange(n, torch::kLong).remainder(256).to(torch::kUInt8).view({n, 1, 1, 1}).expand({n, 1, 4, 4})
                 .contiguous();
  s.labels = torch::arange(n, torch::kLong).remainder(2);
  return s;
}
std::vector<int64_t> order(BatchLoader& l) {
  std::vector<int64_t> out;
  Batch b;
  while (l.next(b)) {
    auto v = (b.images.select(1, 0).select(1, 0).select(1, 0) * 1.0).round().to(torch::kLong);
    for (int64_t i = 0; i < v.size(0); ++i) out.push_back(v[i].item<int64_t>());
  }
  return out;
}
LoaderOptions plain(uint64_t seed, int64_t epoch) {
  LoaderOptions o;
  o.batchSize = 4;
  o.seed = seed;
  o.epoch = epoch;
  o.mean = {0.0};
  o.std = {1.0 / 255.0};  // x*scale+shift = pixel value itself
  return o;
}
}  // namespace

TEST(Loader, BatchesPerEpochDropsOnlyASingleLeftover) {
  EXPECT_EQ(batchesPerEpoch(10, 4, true), 3);
  EXPECT_EQ(batchesPerEpoch(9, 4, true), 2);  // a batch of one cannot train batch-norm
  EXPECT_EQ(batchesPerEpoch(9, 4, false), 3);
  EXPECT_EQ(batchesPerEpoch(8, 4, true), 2);
}

TEST(Loader, SameSeedAndEpochGiveTheSameOrder) {
  auto split = makeSplit(22);
  BatchLoader a(split, plain(5, 1), true), b(split, plain(5, 1), true), c(split, plain(5, 2), true);
  const auto oa = order(a), ob = order(b), oc = order(c);
  EXPECT_EQ(oa, ob);
  EXPECT_NE(oa, oc);
  auto sorted = oa;
  std::sort(sorted.begin(), sorted.end());
  EXPECT_EQ(sorted.size(), 22u);
  EXPECT_EQ(std::adjacent_find(sorted.begin(), sorted.end()), sorted.end()) << "each image once per epoch";
}

TEST(Loader, EvaluationIsInOrderAndComplete) {
  auto split = makeSplit(10);
  auto o = plain(5, 1);
  o.shuffle = false;
  BatchLoader l(split, o, false);
  const auto got = order(l);
  std::vector<int64_t> want(10);
  std::iota(want.begin(), want.end(), 0);
  EXPECT_EQ(got, want);
}

TEST(Loader, BalancedSamplerDrawsClassesEqually) {
  SplitTensors s;
  const int64_t n = 400;
  s.images = torch::zeros({n, 1, 2, 2}, torch::kUInt8);
  s.labels = (torch::arange(n) < 40).to(torch::kLong);  // 10 % class 1
  auto o = plain(3, 1);
  o.balanced = true;
  o.batchSize = 50;
  BatchLoader l(s, o, true);
  Batch b;
  int64_t ones = 0, total = 0;
  while (l.next(b)) {
    ones += b.labels.sum().item<int64_t>();
    total += b.labels.size(0);
  }
  EXPECT_NEAR(static_cast<double>(ones) / total, 0.5, 0.1);
}

TEST(Loader, NormalisesWithMeanAndStd) {
  SplitTensors s;
  s.images = torch::full({4, 1, 2, 2}, 255, torch::kUInt8);
  s.labels = torch::zeros({4}, torch::kLong);
  LoaderOptions o;
  o.batchSize = 4;
  o.mean = {0.5};
  o.std = {0.25};
  BatchLoader l(s, o, false);
  Batch b;
  ASSERT_TRUE(l.next(b));
  EXPECT_NEAR(b.images.max().item<float>(), 2.0f, 1e-5);  // (1 - 0.5) / 0.25
}

TEST(Augment, IdentityWhenNothingIsRandom) {
  AugmentOptions a;
  a.minCropArea = 1.0;
  a.maxRotationDeg = 0.0;
  a.horizontalFlip = false;
  auto x = torch::rand({3, 1, 16, 16});
  EXPECT_TRUE(torch::allclose(augmentBatch(x, a, 1), x, 1e-4, 1e-4));
}

TEST(Augment, ChangesImagesDeterministically) {
  AugmentOptions a;
  auto x = torch::rand({3, 1, 16, 16});
  auto y1 = augmentBatch(x, a, 7), y2 = augmentBatch(x, a, 7), y3 = augmentBatch(x, a, 8);
  EXPECT_TRUE(torch::equal(y1, y2));
  EXPECT_FALSE(torch::allclose(y1, x));
  EXPECT_FALSE(torch::equal(y1, y3));
  EXPECT_EQ(y1.sizes(), x.sizes());
}

namespace {
// Sets LibTorch's global intra-op count for one test and restores it.
struct IntraOpThreads {
  explicit IntraOpThreads(int n) : saved(at::get_num_threads()) { at::set_num_threads(n); }
  ~IntraOpThreads() { at::set_num_threads(saved); }
  int saved;
};
}  // namespace

TEST(Loader, PrefetchThreadRunsAOneThreadTeam) {
  // 3 intra-op threads whatever the machine: a new thread would inherit 3 (LibTorch's
  // per-thread init), so 1 can only come from the producer quieting itself.
  IntraOpThreads three(3);
  auto split = makeSplit(40);
  BatchLoader l(split, plain(1, 1), true);
  Batch b;
  ASSERT_TRUE(l.next(b));  // came from the producer's queue: it has started
  EXPECT_EQ(l.producerTeamSize(), 1);
  EXPECT_EQ(at::get_num_threads(), 3) << "the training thread keeps its team";
  int fresh = 0;
  std::thread([&] { fresh = currentThreadTeamSize(); }).join();
  EXPECT_EQ(fresh, 3) << "other new threads still start from the global count";
}

TEST(Loader, WithoutPrefetchThereIsNoProducerTeam) {
  auto split = makeSplit(40);
  auto o = plain(1, 1);
  o.prefetch = false;
  BatchLoader l(split, o, true);
  Batch b;
  ASSERT_TRUE(l.next(b));
  EXPECT_EQ(l.producerTeamSize(), 0);
}
