#pragma once
// Test-only fault injection for the training step that RunConfig cannot carry (it would be
// written to config.json). Process-global: set it before a run, reset it to 0 after.

#include <cstdint>

namespace ampbench::faults {

// After the backward of this global step (1-based), one gradient element becomes +inf
// while the loss stays finite: the case a loss-only check misses. 0 = off.
void setInfGradientAtStep(int64_t step);
int64_t infGradientAtStep();
// In a distributed run, only this rank's gradient gets the inf (before the all-reduce);
// -1 = every rank. The CLI reads both from AMPBENCH_TEST_INF_GRADIENT_AT_STEP / _RANK.
void setInfGradientRank(int rank);
int infGradientRank();

}  // namespace ampbench::faults
