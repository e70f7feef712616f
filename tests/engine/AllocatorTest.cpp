#include "engine/util/Allocator.h"

#include <gtest/gtest.h>
#include <torch/torch.h>

#include <sys/resource.h>

#include <vector>

using namespace ampbench;

namespace {

long minorFaults() {
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  return u.ru_minflt;
}

// What a training step does to memory: several large tensors, written, then all freed.
void step(int64_t floats) {
  std::vector<torch::Tensor> live;
  for (int k = 0; k < 4; ++k) {
    live.push_back(torch::empty({floats}));
    live.back().fill_(1.0f);
  }
}

bool installed() {
  if (!cpuAllocatorStats().installed) {
    installCachingCpuAllocator();
  }
  return cpuAllocatorStats().installed;
}

}  // namespace

TEST(Allocator, RepeatedStepsReuseTheirBlocksWithoutNewPageFaults) {
  if (!installed()) {
    GTEST_SKIP() << cpuAllocatorDescription();
  }
  // 4 x 12 MiB per step. Through glibc alone (measured) ~90 % of these pages fault again on
  // every step: trimmed heap tops and aligned blocks that cannot take their old place.
  const int64_t floats = 3 << 20;
  const long pages = 3 * 4 * floats * 4 / 4096;
  step(floats);
  const auto before = cpuAllocatorStats();
  const long faults = minorFaults();
  for (int i = 0; i < 3; ++i) {
    step(floats);
  }
  EXPECT_LT(minorFaults() - faults, pages / 20) << "of " << pages << " pages written";
  EXPECT_GE(cpuAllocatorStats().hits - before.hits, 12u);
}

TEST(Allocator, ReleaseGivesTheCacheBackAndTheLimitBoundsIt) {
  if (!installed()) {
    GTEST_SKIP() << cpuAllocatorDescription();
  }
  step(1 << 20);
  EXPECT_GE(cpuAllocatorStats().cachedBytes, std::size_t{4} << 22);
  releaseFreeMemory();
  EXPECT_EQ(cpuAllocatorStats().cachedBytes, 0u);

  setCpuCacheLimit(std::size_t{6} << 20);  // room for one 4 MiB block, not two
  step(1 << 20);
  EXPECT_EQ(cpuAllocatorStats().cachedBytes, std::size_t{4} << 20);
  setCpuCacheLimit(std::size_t{4} << 30);
  releaseFreeMemory();

  // Small and odd sizes, views and clones still behave as tensors.
  auto a = torch::arange(10, torch::kFloat);
  auto b = torch::empty({(1 << 20) + 3}, torch::kByte).fill_(7);
  EXPECT_EQ(a.sum().item<float>(), 45.0f);
  EXPECT_EQ(b.to(torch::kLong).sum().item<int64_t>(), 7 * ((1 << 20) + 3));
  EXPECT_TRUE(torch::equal(b.clone(), b));
}
