#pragma once
// Helper threads (the loader's prefetch thread, decode workers) next to a training step
// that already uses every core through its intra-op OpenMP team.

namespace ampbench {

// Gives the calling thread a one-thread OpenMP team, so LibTorch's intra-op work and
// oneDNN/OpenBLAS called from it run inline. GNU OpenMP (and LibTorch's lazy per-thread
// init) give every new std::thread a team of the global size: a producer's gather or
// grid_sample would otherwise wake as many threads again as the training step uses, and
// on a machine with as many cores as intra-op threads they contend with the step.
// Touches no global setting: the training thread keeps its own team size.
// AMPBENCH_HELPER_TEAM=global turns it off (for measuring what it saves).
void quietHelperThread();

// The calling thread's intra-op team size as LibTorch sees it (at::get_num_threads(), which
// is the thread's omp_get_max_threads() with the OpenMP backend). For tests and logs.
int currentThreadTeamSize();

}  // namespace ampbench
