#include "engine/util/RoundThrough.h"

#include <ATen/Parallel.h>
#include <c10/util/BFloat16.h>
#include <c10/util/Half.h>
#include <torch/torch.h>

#include <immintrin.h>

#include <cstdint>

namespace ampbench {

namespace {

// c10's own scalar conversions: what .to(kHalf) and .to(kBFloat16) compute element by element.
void halfScalar(const float* in, float* out, int64_t n) {
  for (int64_t i = 0; i < n; ++i) {
    out[i] = c10::detail::fp16_ieee_to_fp32_value(c10::detail::fp16_ieee_from_fp32_value(in[i]));
  }
}

// F16C's conversions round to nearest even as c10's do, eight values per instruction pair
// instead of a branchy scalar routine (NaN stays NaN, keeping its payload where c10 gives a
// canonical one).
__attribute__((target("avx,f16c"))) void halfF16c(const float* in, float* out, int64_t n) {
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) {
    const __m128i h = _mm256_cvtps_ph(_mm256_loadu_ps(in + i), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    _mm256_storeu_ps(out + i, _mm256_cvtph_ps(h));
  }
  halfScalar(in + i, out + i, n - i);
}

// c10::BFloat16's rounding: integer operations the compiler vectorises.
void bf16(const float* in, float* out, int64_t n) {
  for (int64_t i = 0; i < n; ++i) {
    out[i] = c10::detail::f32_from_bits(c10::detail::round_to_nearest_even(in[i]));
  }
}

bool hasF16c() {
  static const bool yes = __builtin_cpu_supports("avx") && __builtin_cpu_supports("f16c");
  return yes;
}

bool fusable(const torch::Tensor& t, c10::ScalarType format) {
  return t.device().is_cpu() && t.scalar_type() == torch::kFloat && t.layout() == torch::kStrided &&
         (format == torch::kHalf || format == torch::kBFloat16);
}

// One pass over a dense tensor's memory, whatever its layout (the rounding is elementwise).
torch::Tensor roundCpu(const torch::Tensor& t, c10::ScalarType format) {
  const auto in = t.is_non_overlapping_and_dense() ? t : t.contiguous();
  auto out = torch::empty_like(in);
  const float* src = in.data_ptr<float>();
  float* dst = out.data_ptr<float>();
  const auto kernel = format == torch::kBFloat16 ? bf16 : hasF16c() ? halfF16c : halfScalar;
  at::parallel_for(0, in.numel(), 1 << 15, [&](int64_t begin, int64_t end) {
    kernel(src + begin, dst + begin, end - begin);
  });
  return out;
}

struct RoundThroughFn : public torch::autograd::Function<RoundThroughFn> {
  static torch::Tensor forward(torch::autograd::AutogradContext* ctx, const torch::Tensor& t, int64_t format) {
    ctx->saved_data["format"] = format;
    return roundCpu(t, static_cast<c10::ScalarType>(format));
  }

  static torch::autograd::variable_list backward(torch::autograd::AutogradContext* ctx,
                                                 torch::autograd::variable_list grads) {
    // Through roundThrough itself: under create_graph the rounded gradient keeps its history.
    return {roundThrough(grads[0], static_cast<c10::ScalarType>(ctx->saved_data["format"].toInt())),
            torch::Tensor()};
  }
};

}  // namespace

torch::Tensor roundThrough(const torch::Tensor& t, c10::ScalarType format) {
  if (!t.defined() || !fusable(t, format)) {
    return t.defined() ? t.to(format).to(t.scalar_type()) : t;
  }
  return RoundThroughFn::apply(t, static_cast<int64_t>(format));
}

}  // namespace ampbench
