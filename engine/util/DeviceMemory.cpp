#include "engine/util/DeviceMemory.h"

#include "engine/util/Allocator.h"

#include <c10/util/Exception.h>

#include <new>

// Set for this file only, by engine/CMakeLists.txt, when LibTorch has c10_cuda.
#if defined(AMPBENCH_HAVE_CUDA_STATS)
#include <c10/cuda/CUDACachingAllocator.h>
#include <c10/cuda/CUDAFunctions.h>
#endif

namespace ampbench {

namespace {
constexpr double kMiB = 1024.0 * 1024.0;

#if defined(AMPBENCH_HAVE_CUDA_STATS)
bool cudaReady(int index) { return index >= 0 && index < static_cast<int>(c10::cuda::device_count()); }
#endif
}  // namespace

bool cudaMemoryStatsAvailable() {
#if defined(AMPBENCH_HAVE_CUDA_STATS)
  return true;
#else
  return false;
#endif
}

void resetPeakCudaMemory(int index) {
#if defined(AMPBENCH_HAVE_CUDA_STATS)
  if (cudaReady(index)) {
    c10::cuda::CUDACachingAllocator::resetPeakStats(static_cast<c10::DeviceIndex>(index));
  }
#else
  (void)index;
#endif
}

double peakCudaMemoryMb(int index) {
#if defined(AMPBENCH_HAVE_CUDA_STATS)
  if (cudaReady(index)) {
    const auto stats = c10::cuda::CUDACachingAllocator::getDeviceStats(static_cast<c10::DeviceIndex>(index));
    // Index 0 is StatType::AGGREGATE (small and large pools together) in every release.
    return static_cast<double>(stats.allocated_bytes[0].peak) / kMiB;
  }
#else
  (void)index;
#endif
  return -1.0;
}

void releaseCachedMemory() {
  releaseFreeMemory();
#if defined(AMPBENCH_HAVE_CUDA_STATS)
  if (c10::cuda::device_count() > 0) {
    c10::cuda::CUDACachingAllocator::emptyCache();
  }
#endif
}

bool isOutOfMemory(const std::exception& e) {
  if (dynamic_cast<const c10::OutOfMemoryError*>(&e) || dynamic_cast<const std::bad_alloc*>(&e)) {
    return true;
  }
  if (dynamic_cast<const c10::Error*>(&e)) {
    // LibTorch's own CPU allocator (AMPBENCH_CPU_ALLOCATOR=system) throws a plain c10::Error:
    // 1.13 "can't allocate memory", 2.x "not enough memory".
    const std::string m = e.what();
    return m.find("DefaultCPUAllocator: can't allocate memory") != std::string::npos ||
           m.find("DefaultCPUAllocator: not enough memory") != std::string::npos ||
           m.find("CUDA out of memory") != std::string::npos;
  }
  return false;
}

std::string firstLineOf(const std::exception& e, std::size_t maxChars) {
  const auto* c10Error = dynamic_cast<const c10::Error*>(&e);
  std::string s = c10Error ? c10Error->what_without_backtrace() : e.what();
  const auto nl = s.find('\n');
  if (nl != std::string::npos) {
    s.resize(nl);
  }
  if (s.size() > maxChars) {
    s.resize(maxChars - 3);
    s += "...";
  }
  return s;
}

}  // namespace ampbench
