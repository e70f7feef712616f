#pragma once
// Rounding an fp32 tensor through a 16-bit format (the FP16/BF16 emulation's rounding).

#include <torch/types.h>

namespace ampbench {

// `t` rounded to `format`'s precision and range (kHalf or kBFloat16) and back to t's dtype:
// the values of t.to(format).to(t.scalar_type()), bit for bit (round to nearest even; overflow
// to inf) except inside NaNs (NaN stays NaN; its sign and payload may differ), differentiable
// the same way (the gradient is rounded through `format` too, to any order). On the CPU an fp32 tensor takes one pass over memory, where the two casts take two
// forward and two more backward with a 16-bit tensor in between (a third of an emulated
// ResNet-18 step at 128 px). Anything else (CUDA, other dtypes) takes the two casts.
torch::Tensor roundThrough(const torch::Tensor& t, c10::ScalarType format);

}  // namespace ampbench
