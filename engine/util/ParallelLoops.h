#pragma once
// Whether our own loops over tensors (FusedSgd, RoundThrough, AddRelu, GradStats) really run on
// LibTorch's intra-op threads.

namespace ampbench {

// The number of distinct threads at::parallel_for used for a large range, in a file compiled as
// those loops are (engine/CMakeLists.txt, AMPBENCH_LOOP_FLAGS). ATen's OpenMP backend is an
// inline pragma: without the OpenMP flags it is 1 whatever the team size (the SGD update ran on
// one of two cores that way). For the tests.
int parallelLoopThreads();

}  // namespace ampbench
