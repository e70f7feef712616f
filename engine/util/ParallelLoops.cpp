#include "engine/util/ParallelLoops.h"

#include <ATen/Parallel.h>

#include <mutex>
#include <set>
#include <thread>

namespace ampbench {

int parallelLoopThreads() {
  std::mutex m;
  std::set<std::thread::id> seen;
  at::parallel_for(0, int64_t{1} << 22, 1, [&](int64_t, int64_t) {
    std::lock_guard<std::mutex> lock(m);
    seen.insert(std::this_thread::get_id());
  });
  return static_cast<int>(seen.size());
}

}  // namespace ampbench
