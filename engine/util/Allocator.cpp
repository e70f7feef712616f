#include "engine/util/Allocator.h"

#include <c10/core/CPUAllocator.h>

#include <atomic>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <string>
#include <unordered_map>
#include <vector>

#if defined(__GLIBC__)
#include <malloc.h>
#endif

namespace ampbench {

namespace {

constexpr std::size_t kAlignment = 64;                 // LibTorch's CPU alignment (AVX-512 loads)
constexpr std::size_t kMinCachedBytes = 64 * 1024;     // smaller blocks: malloc's bins do well
constexpr std::size_t kDefaultLimit = std::size_t{4} << 30;

class CachingCpuAllocator final : public c10::Allocator {
 public:
  // No `override` on purpose: LibTorch 1.x declares `allocate(size_t) const`, 2.3+ a
  // non-const `allocate` plus a pure `copy_data`. Declaring both forms overrides whichever
  // the installed c10 has, so the engine builds against either.
  c10::DataPtr allocate(size_t n) const {
    void* p = take(n);
    return {p, p, &CachingCpuAllocator::deleter, c10::Device(c10::DeviceType::CPU)};
  }
  c10::DataPtr allocate(size_t n) { return static_cast<const CachingCpuAllocator*>(this)->allocate(n); }
  void copy_data(void* dest, const void* src, std::size_t count) const { std::memcpy(dest, src, count); }
  c10::DeleterFnPtr raw_deleter() const { return &CachingCpuAllocator::deleter; }

  static CachingCpuAllocator& instance() {
    static auto* a = new CachingCpuAllocator();  // never destroyed: tensors may outlive statics
    return *a;
  }

  void release() {
    std::vector<void*> blocks;
    {
      std::lock_guard<std::mutex> lock(mutex_);
      for (auto& [size, list] : free_) {
        blocks.insert(blocks.end(), list.begin(), list.end());
      }
      free_.clear();
      cached_ = 0;
    }
    for (void* p : blocks) {
      freeBlock(p);
    }
  }

  CpuAllocatorStats stats() const {
    std::lock_guard<std::mutex> lock(mutex_);
    return {true, cached_, hits_, misses_};
  }

  void setLimit(std::size_t bytes) {
    std::lock_guard<std::mutex> lock(mutex_);
    limit_ = bytes;
  }

 private:
  static void deleter(void* p) { instance().give(p); }

  // Each block carries its requested size in a 64-byte header in front of it, so the
  // deleter (a plain function pointer) knows whether to cache it without a lookup.
  static std::size_t& sizeOf(void* p) { return *reinterpret_cast<std::size_t*>(static_cast<char*>(p) - kAlignment); }
  static void freeBlock(void* p) { std::free(static_cast<char*>(p) - kAlignment); }
  static void* systemAlloc(std::size_t n) {
    void* raw = nullptr;
    return posix_memalign(&raw, kAlignment, kAlignment + n) == 0 ? raw : nullptr;
  }

  void* take(std::size_t n) const {
    if (n == 0) {
      return nullptr;
    }
    if (n >= kMinCachedBytes) {
      std::lock_guard<std::mutex> lock(mutex_);
      auto it = free_.find(n);
      if (it != free_.end() && !it->second.empty()) {
        void* p = it->second.back();
        it->second.pop_back();
        cached_ -= n;
        ++hits_;
        return p;
      }
      ++misses_;
    }
    void* raw = systemAlloc(n);
    if (!raw) {
      // Cached blocks of other sizes may be what stands between this request and the
      // memory limit: give them all back, as LibTorch's CUDA allocator does, and try once
      // more before reporting out of memory.
      const_cast<CachingCpuAllocator*>(this)->release();
#if defined(__GLIBC__)
      malloc_trim(0);
#endif
      raw = systemAlloc(n);
      if (!raw) {
        throw std::bad_alloc();
      }
    }
    void* p = static_cast<char*>(raw) + kAlignment;
    sizeOf(p) = n;
    return p;
  }

  void give(void* p) {
    if (!p) {
      return;
    }
    const std::size_t n = sizeOf(p);
    if (n >= kMinCachedBytes) {
      std::lock_guard<std::mutex> lock(mutex_);
      if (cached_ + n <= limit_) {
        free_[n].push_back(p);
        cached_ += n;
        return;
      }
    }
    freeBlock(p);
  }

  mutable std::mutex mutex_;
  mutable std::unordered_map<std::size_t, std::vector<void*>> free_;  // exact size -> free blocks
  mutable std::size_t cached_ = 0, hits_ = 0, misses_ = 0;
  std::size_t limit_ = kDefaultLimit;
};

std::once_flag installed;
std::atomic<const char*> description{nullptr};

}  // namespace

std::string installCachingCpuAllocator() {
  std::call_once(installed, [] {
    const char* env = std::getenv("AMPBENCH_CPU_ALLOCATOR");
    if (env && std::string(env) == "system") {
      description = "LibTorch default (AMPBENCH_CPU_ALLOCATOR=system)";
      return;
    }
    // Priority above LibTorch's own registration, so it stays in place.
    c10::SetCPUAllocator(&CachingCpuAllocator::instance(), /*priority=*/100);
    description = "caching (blocks >= 64 KiB reused per size)";
  });
  return cpuAllocatorDescription();
}

std::string cpuAllocatorDescription() {
  const char* d = description.load();
  return d ? d : "LibTorch default";
}

CpuAllocatorStats cpuAllocatorStats() {
  if (c10::GetCPUAllocator() != &CachingCpuAllocator::instance()) {
    return {};
  }
  return CachingCpuAllocator::instance().stats();
}

void releaseFreeMemory() {
  if (c10::GetCPUAllocator() == &CachingCpuAllocator::instance()) {
    CachingCpuAllocator::instance().release();
  }
#if defined(__GLIBC__)
  malloc_trim(0);
#endif
}

void setCpuCacheLimit(std::size_t bytes) {
  CachingCpuAllocator::instance().setLimit(bytes);
}

}  // namespace ampbench
