#include "engine/train/FusedSgd.h"

#include <ATen/Parallel.h>
#include <torch/torch.h>

#include <vector>

namespace ampbench {

namespace {

// The update of torch::optim::SGD::step for n elements, the same operations in the same order
// (within a few ulp: ATen's vector kernels may fuse a multiply-add that this loop rounds twice):
//   d = g + wd * p;  b = b * momentum + (1 - dampening) * d;  d = nesterov ? d + momentum * b : b;
//   p = p - lr * d.
// The three never alias (a parameter, its gradient and its momentum buffer): __restrict lets
// the compiler vectorise the loop without run-time overlap checks.
template <bool kDecay, bool kNesterov>
void updateRange(float* __restrict p, const float* __restrict g, float* __restrict b, int64_t n, float wd,
                 float mom, float damp1, float negLr) {
  for (int64_t i = 0; i < n; ++i) {
    float d = kDecay ? g[i] + wd * p[i] : g[i];
    const float bi = b[i] * mom + damp1 * d;
    b[i] = bi;
    d = kNesterov ? d + mom * bi : bi;
    p[i] = p[i] + negLr * d;
  }
}

template <bool kDecay, bool kNesterov>
void update(float* p, const float* g, float* b, int64_t n, float wd, float mom, float damp1, float negLr) {
  at::parallel_for(0, n, 1 << 15, [&](int64_t begin, int64_t end) {
    updateRange<kDecay, kNesterov>(p + begin, g + begin, b + begin, end - begin, wd, mom, damp1, negLr);
  });
}

// A dense CPU fp32 tensor (contiguous or channels-last) laid out as `like`: the loop walks the
// three tensors' memory in step. A dimension of size 1 has no say in the layout, and its stride
// is whatever the op that made the tensor chose: a 1x1 convolution's channels-last weight has
// strides (I, 1, I, I), the momentum LibTorch's first step made from it (I, 1, 1, 1).
bool fusable(const torch::Tensor& t, const torch::Tensor& like) {
  if (!t.defined() || !t.device().is_cpu() || t.scalar_type() != torch::kFloat || t.layout() != torch::kStrided ||
      !t.is_non_overlapping_and_dense() || t.sizes() != like.sizes()) {
    return false;
  }
  for (int64_t d = 0; d < t.dim(); ++d) {
    if (t.size(d) > 1 && t.stride(d) != like.stride(d)) {
      return false;
    }
  }
  return true;
}

}  // namespace

torch::Tensor FusedSgd::step(LossClosure closure) {
  // The closure first: it may create or replace the gradients the check below looks at.
  torch::Tensor loss;
  if (closure) {
    at::AutoGradMode enable(true);
    loss = closure();
  }
  // Every parameter must qualify, or LibTorch's step runs for all: no half-fused step.
  struct Item {
    torch::Tensor p, buf;
    const torch::optim::SGDOptions* o;
  };
  std::vector<Item> items;
  for (const auto& group : param_groups_) {
    const auto& o = static_cast<const torch::optim::SGDOptions&>(group.options());
    for (const auto& p : group.params()) {
      if (!p.grad().defined()) {
        continue;
      }
      const auto s = state_.find(c10::guts::to_string(p.unsafeGetTensorImpl()));
      if (o.momentum() == 0 || s == state_.end() || !fusable(p, p) || !fusable(p.grad(), p) ||
          !fusable(static_cast<torch::optim::SGDParamState&>(*s->second).momentum_buffer(), p)) {
        torch::optim::SGD::step(nullptr);
        return loss;
      }
      items.push_back({p, static_cast<torch::optim::SGDParamState&>(*s->second).momentum_buffer(), &o});
    }
  }
  torch::NoGradGuard noGrad;
  for (auto& it : items) {
    const auto& o = *it.o;
    const auto wd = static_cast<float>(o.weight_decay()), mom = static_cast<float>(o.momentum()),
               damp1 = static_cast<float>(1 - o.dampening()), negLr = static_cast<float>(-1 * o.lr());
    float* pp = it.p.data_ptr<float>();
    const float* g = it.p.grad().data_ptr<float>();
    float* b = it.buf.data_ptr<float>();
    const int64_t n = it.p.numel();
    if (wd != 0) {
      o.nesterov() ? update<true, true>(pp, g, b, n, wd, mom, damp1, negLr)
                   : update<true, false>(pp, g, b, n, wd, mom, damp1, negLr);
    } else {
      o.nesterov() ? update<false, true>(pp, g, b, n, wd, mom, damp1, negLr)
                   : update<false, false>(pp, g, b, n, wd, mom, damp1, negLr);
    }
  }
  ++fusedSteps_;
  return loss;
}

}  // namespace ampbench
