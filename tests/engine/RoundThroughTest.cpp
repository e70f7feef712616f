// The FP16/BF16 emulation's one-pass rounding against LibTorch's two casts it replaces: the
// same bits forward and backward, on the values where a rounding differs (ties, the subnormal
// range, overflow, infinities, NaN) and on every dense layout.
#include "engine/util/RoundThrough.h"

#include <gtest/gtest.h>
#include <torch/torch.h>

#include <cmath>
#include <limits>
#include <vector>

using namespace ampbench;

namespace {

// Bitwise equality, NaN matching NaN (the payload may differ: F16C keeps it, c10 does not).
void expectSameBits(const torch::Tensor& a, const torch::Tensor& b) {
  ASSERT_EQ(a.sizes(), b.sizes());
  const auto an = torch::isnan(a), bn = torch::isnan(b);
  EXPECT_TRUE(torch::equal(an, bn));
  const auto ac = a.masked_fill(an, 0).contiguous(), bc = b.masked_fill(bn, 0).contiguous();
  EXPECT_TRUE(torch::equal(ac.view(torch::kInt32), bc.view(torch::kInt32)))  // -0 vs +0 too
      << "first difference at " << (ac.view(torch::kInt32) != bc.view(torch::kInt32)).nonzero()[0];
}

// Hard cases: ties between two representable values of each format, both signs, around the
// smallest subnormals and the largest finite value, and the specials.
torch::Tensor hardValues() {
  std::vector<float> v;
  const float inf = std::numeric_limits<float>::infinity();
  for (float s : {1.0f, -1.0f}) {
    for (float x : {0.0f, 1.0f, 1.0f + 1.0f / 2048, 1.0f + 3.0f / 2048, 1.0f + 1.0f / 256, 1.0f + 3.0f / 256,
                    65504.0f, 65519.0f, 65520.0f, 65536.0f, 1e5f, 3.0e38f, std::ldexp(1.0f, -24),
                    std::ldexp(1.0f, -25), std::ldexp(3.0f, -26), std::ldexp(1.0f, -14), std::ldexp(1.5f, -15),
                    std::ldexp(1.0f, -126), std::ldexp(1.0f, -140), 1e-30f, inf}) {
      v.push_back(s * x);
    }
  }
  v.push_back(std::numeric_limits<float>::quiet_NaN());
  return torch::tensor(v);
}

}  // namespace

TEST(RoundThrough, SameBitsAsLibTorchsTwoCastsForwardAndBackward) {
  torch::manual_seed(4);
  for (const auto format : {torch::kHalf, torch::kBFloat16}) {
    SCOPED_TRACE(c10::toString(format));
    // Random values over fp16's whole range and beyond, and the hard ones; an odd length leaves
    // a tail after the 8-wide loop and spans several parallel chunks.
    const auto x = torch::cat({torch::randn({70001}) * torch::pow(2.0, torch::randint(-30, 20, {70001})), hardValues()});
    auto a = x.clone().requires_grad_(true), b = x.clone().requires_grad_(true);
    const auto ya = roundThrough(a, format);
    const auto yb = b.to(format).to(torch::kFloat);
    expectSameBits(ya, yb);
    // The gradient is rounded the same way (what the casts' backward does).
    const auto g = torch::randn_like(x) * torch::pow(2.0, torch::randint(-30, 20, x.sizes()));
    ya.backward(g);
    yb.backward(g);
    expectSameBits(a.grad(), b.grad());
    // It rounds: some values changed.
    EXPECT_FALSE(torch::equal(ya.detach(), x));
  }
}

TEST(RoundThrough, KeepsEveryDenseLayoutAndTakesOthers) {
  torch::manual_seed(5);
  const auto x = torch::randn({2, 16, 5, 7});
  const auto cl = x.contiguous(torch::MemoryFormat::ChannelsLast);
  const auto y = roundThrough(cl, torch::kHalf);
  EXPECT_TRUE(y.is_contiguous(torch::MemoryFormat::ChannelsLast)) << "the layout is kept (no reorder)";
  expectSameBits(y, cl.to(torch::kHalf).to(torch::kFloat));
  const auto strided = x.transpose(1, 3).narrow(1, 1, 3);  // neither dense nor contiguous
  expectSameBits(roundThrough(strided, torch::kBFloat16), strided.to(torch::kBFloat16).to(torch::kFloat));
  // Not fp32: the casts themselves, which keep the dtype and round.
  const auto d = torch::randn({9}, torch::kDouble);
  const auto rd = roundThrough(d, torch::kHalf);
  EXPECT_EQ(rd.scalar_type(), torch::kDouble);
  EXPECT_FALSE(torch::equal(rd, d));
  EXPECT_TRUE(torch::equal(rd.to(torch::kHalf).to(torch::kDouble), rd)) << "representable in fp16";
  EXPECT_TRUE(torch::equal(rd, d.to(torch::kHalf).to(torch::kDouble)));
  EXPECT_FALSE(roundThrough(torch::Tensor(), torch::kHalf).defined());
}

// Under create_graph the rounded gradient keeps its history, as the two casts' does: a second
// derivative reaches the input.
TEST(RoundThrough, SecondDerivativesFlowThroughTheRounding) {
  auto x = torch::randn({33}).requires_grad_(true);
  const auto y = roundThrough(x, torch::kHalf).pow(3).sum();
  const auto gx = torch::autograd::grad({y}, {x}, {}, /*retain_graph=*/true, /*create_graph=*/true)[0];
  ASSERT_TRUE(gx.requires_grad());
  const auto ggx = torch::autograd::grad({gx.sum()}, {x})[0];
  auto xr = x.detach().clone().requires_grad_(true);
  const auto yr = xr.to(torch::kHalf).to(torch::kFloat).pow(3).sum();
  const auto gr = torch::autograd::grad({yr}, {xr}, {}, true, true)[0];
  const auto ggr = torch::autograd::grad({gr.sum()}, {xr})[0];
  expectSameBits(ggx, ggr);
}
