#include "engine/util/DeviceMemory.h"

#include <c10/util/Exception.h>
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <new>
#include <stdexcept>

using namespace ampbench;

TEST(DeviceMemory, OutOfMemoryIsToldApartFromOtherErrors) {
  EXPECT_TRUE(isOutOfMemory(std::bad_alloc()));
  try {
    TORCH_CHECK_WITH(OutOfMemoryError, false, "CUDA out of memory. Tried to allocate 2.00 GiB");
  } catch (const std::exception& e) {
    EXPECT_TRUE(isOutOfMemory(e));
  }
  // LibTorch's default CPU allocator throws a plain c10::Error (1.13 and 2.x wordings).
  for (const char* m : {"DefaultCPUAllocator: can't allocate memory: you tried to allocate 1099511627776 bytes.",
                        "DefaultCPUAllocator: not enough memory: you tried to allocate 1099511627776 bytes."}) {
    try {
      TORCH_CHECK(false, m);
    } catch (const std::exception& e) {
      EXPECT_TRUE(isOutOfMemory(e)) << m;
    }
  }
  try {
    TORCH_CHECK(false, "Expected 4-dimensional input for 4-dimensional weight");
  } catch (const std::exception& e) {
    EXPECT_FALSE(isOutOfMemory(e));
  }
  EXPECT_FALSE(isOutOfMemory(std::runtime_error("out of memory")))
      << "only LibTorch's and the allocator's own exceptions count";
}

TEST(DeviceMemory, ARealAllocationFailureIsRecognised) {
  // Far more than any machine has: refused at once, without touching memory.
  try {
    auto t = torch::empty({int64_t{1} << 46});
    FAIL() << "a 256 TiB tensor was allocated";
  } catch (const std::exception& e) {
    EXPECT_TRUE(isOutOfMemory(e)) << e.what();
    EXPECT_EQ(firstLineOf(e).find('\n'), std::string::npos);
  }
}

TEST(DeviceMemory, FirstLineDropsTheStackTraceAndBoundsTheLength) {
  try {
    TORCH_CHECK(false, "first line\nsecond line");
  } catch (const std::exception& e) {
    EXPECT_EQ(firstLineOf(e), "first line");
  }
  const std::runtime_error longOne(std::string(500, 'x'));
  EXPECT_EQ(firstLineOf(longOne, 40).size(), 40u);
  EXPECT_EQ(firstLineOf(longOne, 40).substr(37), "...");
}

TEST(DeviceMemory, WithoutCudaStatisticsThePeakIsUnknown) {
  if (cudaMemoryStatsAvailable() && torch::cuda::is_available()) {
    GTEST_SKIP() << "a CUDA build on a GPU: covered by the GPU benchmark";
  }
  resetPeakCudaMemory(0);  // harmless without CUDA
  EXPECT_LT(peakCudaMemoryMb(0), 0.0);
  releaseCachedMemory();
}
