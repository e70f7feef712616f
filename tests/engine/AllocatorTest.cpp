#include "engine/util/Allocator.h"

#include <gtest/gtest.h>
#include <torch/torch.h>

#include <sys/resource.h>

#include <cstdio>
#include <cstdlib>
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

namespace {

// Runs in a child process (death test) under an address-space limit `headroom` bytes above
// what the process maps now, so that "out of memory" is real and cannot hurt the suite.
void limitAddressSpace(std::size_t headroom) {
  std::size_t vmKb = 0;
  FILE* f = std::fopen("/proc/self/status", "r");
  char line[256];
  while (f && std::fgets(line, sizeof line, f)) {
    if (std::sscanf(line, "VmSize: %zu kB", &vmKb) == 1) {
      break;
    }
  }
  if (f) {
    std::fclose(f);
  }
  rlimit r{};
  r.rlim_cur = r.rlim_max = vmKb * 1024 + headroom;
  setrlimit(RLIMIT_AS, &r);
}

}  // namespace

// 400 MiB freed into the cache, then 450 MiB of another size under a 600 MiB limit: this
// fits only if the cached block is given back first. 64 GiB cannot fit at all: bad_alloc.
[[noreturn]] void allocateUnderALimit() {
  installed();
  limitAddressSpace(std::size_t{600} << 20);
  { auto a = torch::empty({int64_t{100} << 20}); }
  const bool cachedFirst = cpuAllocatorStats().cachedBytes >= (std::size_t{400} << 20);
  bool fitted = false;
  bool refused = false;
  try {
    auto b = torch::empty({int64_t{112} << 20});
    fitted = true;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "450 MiB: %s\n", e.what());
  }
  try {
    auto c = torch::empty({int64_t{16} << 30});
  } catch (const std::bad_alloc&) {
    refused = true;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "not bad_alloc: %s\n", e.what());
  }
  std::fprintf(stderr, "cached %d fitted %d refused %d\n", cachedFirst, fitted, refused);
  std::exit(cachedFirst && fitted && refused ? 0 : 1);
}

TEST(Allocator, WhenMemoryRunsOutTheCacheIsGivenBackBeforeFailing) {
  if (!installed()) {
    GTEST_SKIP() << cpuAllocatorDescription();
  }
  GTEST_FLAG_SET(death_test_style, "threadsafe");  // a fresh process: no forked thread pools
  EXPECT_EXIT(allocateUnderALimit(), ::testing::ExitedWithCode(0), "cached 1 fitted 1 refused 1");
}
