#pragma once
// relu(a + b) in one pass: the end of every ResNet block.

#include <torch/types.h>

namespace ampbench {

// relu(a + b) with LibTorch's values and gradients: `a.add(b).relu()` bit for bit (a bf16 sum
// rounded to nearest even, as ATen rounds it; NaN and -0 stay, a NaN's payload may differ), and the
// gradient threshold_backward gives (to both inputs). For two dense CPU tensors of the same
// sizes, strides and dtype (fp32 or bf16) it reads each once and writes once, where add_ then
// relu_ take two passes (a bf16 ResNet-18 step at 128 px spent 5.3 ms in them); anything else
// takes those two ops.
torch::Tensor addRelu(const torch::Tensor& a, const torch::Tensor& b);

}  // namespace ampbench
