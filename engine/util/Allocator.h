#pragma once
#include <cstddef>
#include <string>

namespace ampbench {

// A caching CPU allocator for LibTorch, installed for training runs.
//
// A training step allocates the same tensors, of the same sizes, every step. Through glibc
// those large blocks either come from mmap (above M_MMAP_THRESHOLD) or from a heap top that
// free() trims back to the kernel, so each step gets fresh pages that the kernel zero-fills
// on first touch: 1.2 million minor page faults in three small_cnn 64 px epochs, about a
// quarter of the step time. glibc's mallopt/MALLOC_*_ tunables only half help, because
// LibTorch's 64-byte aligned allocations fragment the heap and an identical size often
// cannot reuse the block it just freed. The CUDA side of LibTorch solves this with its
// caching allocator; this is the CPU counterpart: freed blocks of 64 KiB and more are kept
// per exact size and handed out again, up to a byte limit.
struct CpuAllocatorStats {
  bool installed = false;
  std::size_t cachedBytes = 0;  // free blocks held for reuse
  std::size_t hits = 0;         // allocations served from the cache
  std::size_t misses = 0;       // allocations that went to the system allocator
};

// Installs the caching allocator as LibTorch's CPU allocator (once per process; later
// calls do nothing) unless AMPBENCH_CPU_ALLOCATOR=system is set in the environment.
// Returns a one-line description of what is in effect, for config.json.
std::string installCachingCpuAllocator();
std::string cpuAllocatorDescription();
CpuAllocatorStats cpuAllocatorStats();
// Frees every cached block (after a run, so a GUI that stays open does not keep the run's
// peak) and asks glibc to return free heap pages.
void releaseFreeMemory();
// Blocks beyond this many cached bytes are freed, not kept.
void setCpuCacheLimit(std::size_t bytes);

}  // namespace ampbench
