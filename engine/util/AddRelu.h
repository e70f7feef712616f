#pragma once
// relu(a + b) in one pass: the end of every ResNet block.

#include <torch/types.h>

namespace ampbench {

// relu(a + b) into `a`, in place, with LibTorch's values and gradients: `a.add_(b).relu_()` bit
// for bit (a bf16 sum rounded to nearest even, as ATen rounds it; NaN and -0 stay, a NaN's
// payload may differ), the same autograd checks (a leaf that requires grad, or a tensor saved
// for a backward, cannot be changed in place), and the gradient threshold_backward gives (to
// both inputs). For two dense CPU tensors of the same sizes, strides and dtype (fp32 or bf16)
// it reads each once and writes once, where add_ then relu_ take two passes; anything else
// takes those two ops. Returns `a`.
torch::Tensor addRelu_(torch::Tensor& a, const torch::Tensor& b);

}  // namespace ampbench
