#pragma once
// Test-only fault injection for the training step that RunConfig cannot carry (it would be
// written to config.json). Process-global: set it before a run, reset it to 0 after.

#include <cstdint>

namespace ampbench::faults {

// After the backward of this global step (1-based), one gradient element becomes +inf
// while the loss stays finite: the case a loss-only check misses. 0 = off.
void setInfGradientAtStep(int64_t step);
int64_t infGradientAtStep();

}  // namespace ampbench::faults
