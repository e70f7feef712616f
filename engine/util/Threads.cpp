#include "engine/util/Threads.h"

#include <ATen/Parallel.h>

#include <cstdlib>
#include <cstring>

#ifdef _OPENMP
#include <omp.h>
#endif

namespace ampbench {

void quietHelperThread() {
  // AMPBENCH_HELPER_TEAM=global keeps the inherited team: bench/paired_env --preset threads.
  static const bool keepGlobal = [] {
    const char* v = std::getenv("AMPBENCH_HELPER_TEAM");
    return v != nullptr && std::strcmp(v, "global") == 0;
  }();
  // LibTorch sets a thread's OpenMP team to the global intra-op count the first time the
  // thread asks (per-thread lazy init inside libtorch); let that happen first, so it cannot
  // undo the setting below on the thread's first parallel op.
  (void)at::get_num_threads();
  if (keepGlobal) {
    return;
  }
#ifdef _OPENMP
  // Per-thread ICV: at::set_num_threads would also change the global count that every
  // later thread (the GUI's training thread among them) starts from.
  omp_set_num_threads(1);
#endif
}

int currentThreadTeamSize() { return at::get_num_threads(); }

}  // namespace ampbench
