#include "engine/util/AddRelu.h"

#include <ATen/Parallel.h>
#include <c10/util/BFloat16.h>
#include <torch/torch.h>

#include <cstdint>

namespace ampbench {

namespace {

// LibTorch's relu: negatives become +0; NaN and -0 stay as they are.
inline float relu(float v) { return v < 0.0f ? 0.0f : v; }

// The loops vectorise (the bf16 one with c10's integer rounding); target_clones picks the widest
// unit this CPU has at load time, where the build's baseline is SSE2.
__attribute__((target_clones("avx512f", "avx2", "default"))) void addReluF32(float* __restrict a, const float* __restrict b,
                                                                              int64_t n) {
  for (int64_t i = 0; i < n; ++i) {
    a[i] = relu(a[i] + b[i]);
  }
}

__attribute__((target_clones("avx512f", "avx2", "default"))) void addReluBf16(uint16_t* __restrict a,
                                                                               const uint16_t* __restrict b, int64_t n) {
  for (int64_t i = 0; i < n; ++i) {
    // The sum rounded to bf16 first, as ATen's bf16 add does, then the ReLU of that.
    const uint16_t r =
        c10::detail::round_to_nearest_even(c10::detail::f32_from_bits(a[i]) + c10::detail::f32_from_bits(b[i]));
    a[i] = c10::detail::f32_from_bits(r) < 0.0f ? uint16_t{0} : r;
  }
}

bool fusable(const torch::Tensor& a, const torch::Tensor& b) {
  return a.defined() && b.defined() && a.device().is_cpu() && b.device().is_cpu() &&
         a.scalar_type() == b.scalar_type() &&
         (a.scalar_type() == torch::kFloat || a.scalar_type() == torch::kBFloat16) &&
         a.layout() == torch::kStrided && b.layout() == torch::kStrided && a.sizes() == b.sizes() &&
         a.strides() == b.strides() && a.is_non_overlapping_and_dense();
}

struct AddReluFn : public torch::autograd::Function<AddReluFn> {
  static torch::Tensor forward(torch::autograd::AutogradContext* ctx, torch::Tensor a, const torch::Tensor& b) {
    // In place, as add_ then relu_ were: the sum lands in memory the layer before has just
    // written (still in cache), where a fresh output costs a cold write (measured: twice the
    // time of add_ + relu_ for ResNet-18's block outputs).
    const int64_t n = a.numel();
    if (a.scalar_type() == torch::kFloat) {
      float* pa = a.data_ptr<float>();
      const float* pb = b.data_ptr<float>();
      at::parallel_for(0, n, 1 << 15, [&](int64_t begin, int64_t end) {
        addReluF32(pa + begin, pb + begin, end - begin);
      });
    } else {
      auto* pa = reinterpret_cast<uint16_t*>(a.data_ptr<c10::BFloat16>());
      const auto* pb = reinterpret_cast<const uint16_t*>(b.data_ptr<c10::BFloat16>());
      at::parallel_for(0, n, 1 << 15, [&](int64_t begin, int64_t end) {
        addReluBf16(pa + begin, pb + begin, end - begin);
      });
    }
    ctx->mark_dirty({a});
    ctx->save_for_backward({a});
    return a;
  }

  static torch::autograd::variable_list backward(torch::autograd::AutogradContext* ctx,
                                                 torch::autograd::variable_list grads) {
    // relu's own backward on its output, as autograd runs it for relu_.
    const auto y = ctx->get_saved_variables()[0];
    auto g = torch::threshold_backward(grads[0], y, 0);
    return {g, g};
  }
};

}  // namespace

torch::Tensor addRelu_(torch::Tensor& a, const torch::Tensor& b) {
  // A leaf that requires grad: add_ refuses it before writing (the Function would write first
  // and refuse after). Shared memory: the loops' __restrict promises there is none.
  if (!fusable(a, b) || (torch::GradMode::is_enabled() && a.is_leaf() && a.requires_grad()) || a.is_alias_of(b)) {
    return a.add_(b).relu_();
  }
  return AddReluFn::apply(a, b);
}

}  // namespace ampbench
