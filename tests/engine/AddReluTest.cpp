// The fused in-place relu(a + b) at the end of every ResNet block against the two ops it
// replaces: the same bits forward, the same gradient, the same autograd checks, on the values
// where an addition or a rounding differs and on every dense layout.
#include "engine/util/AddRelu.h"
#include "engine/util/ParallelLoops.h"

#include <ATen/Parallel.h>

#include <gtest/gtest.h>
#include <torch/torch.h>

#include <cmath>
#include <thread>
#include <limits>
#include <vector>

using namespace ampbench;

namespace {

// Bitwise equality (so +0 against -0 counts), NaN matching NaN (its payload may differ).
void expectSameBits(const torch::Tensor& a, const torch::Tensor& b) {
  ASSERT_EQ(a.sizes(), b.sizes());
  ASSERT_EQ(a.scalar_type(), b.scalar_type());
  const auto an = torch::isnan(a), bn = torch::isnan(b);
  EXPECT_TRUE(torch::equal(an, bn));
  const auto intType = a.scalar_type() == torch::kFloat ? torch::kInt32 : torch::kInt16;
  const auto ac = a.masked_fill(an, 0).contiguous().view(intType), bc = b.masked_fill(bn, 0).contiguous().view(intType);
  if (!torch::equal(ac, bc)) {
    const auto i = (ac != bc).view(-1).nonzero()[0].item<int64_t>();
    ADD_FAILURE() << "first difference at flat index " << i << ": " << a.contiguous().view(-1)[i].item<double>()
                  << " (bits " << ac.view(-1)[i].item<int64_t>() << ") vs " << b.contiguous().view(-1)[i].item<double>()
                  << " (bits " << bc.view(-1)[i].item<int64_t>() << ")";
  }
}

// Pairs whose sums are the hard cases: NaN, inf, inf - inf, -0 (from -0 + -0 and from x - x),
// sums that tie between two bf16 values, subnormals, overflow.
std::pair<torch::Tensor, torch::Tensor> hardPairs() {
  const float inf = std::numeric_limits<float>::infinity(), nan = std::numeric_limits<float>::quiet_NaN();
  std::vector<float> a{nan, 1.0f, inf, inf,  -inf, -0.0f, 2.5f,  1.0f, 1.0f,           1.0f,           -1.0f,
                       3e38f, std::ldexp(1.0f, -130), -std::ldexp(1.0f, -130), 1e-3f};
  std::vector<float> b{1.0f, nan, 1.0f, -inf, 1.0f, -0.0f, -2.5f, 0.0f, 1.0f / 256, 3.0f / 256, -1.0f / 256,
                       3e38f, std::ldexp(1.0f, -131), std::ldexp(1.0f, -133), -1e-3f};
  return {torch::tensor(a), torch::tensor(b)};
}

}  // namespace

TEST(AddRelu, SameBitsAndGradientsAsAddThenReluOnEveryDenseLayout) {
  torch::manual_seed(8);
  const auto [ha, hb] = hardPairs();
  for (const auto dtype : {torch::kFloat, torch::kBFloat16}) {
    SCOPED_TRACE(c10::toString(dtype));
    // Random values (about half negative sums), the hard pairs spliced in; an odd length leaves
    // a tail after the vector loop.
    std::vector<torch::Tensor> cases;
    auto a = torch::randn({3, 5, 7, 9}), b = torch::randn({3, 5, 7, 9});
    a.view(-1).narrow(0, 100, ha.numel()).copy_(ha);
    b.view(-1).narrow(0, 100, hb.numel()).copy_(hb);
    for (const bool channelsLast : {false, true}) {
      const auto fmt = channelsLast ? torch::MemoryFormat::ChannelsLast : torch::MemoryFormat::Contiguous;
      SCOPED_TRACE(channelsLast ? "channels-last" : "contiguous");
      const auto a0 = a.to(dtype).contiguous(fmt), b0 = b.to(dtype).contiguous(fmt);
      auto ar = a0.clone().requires_grad_(true), br = b0.clone().requires_grad_(true);
      auto af = a0.clone().requires_grad_(true), bf = b0.clone().requires_grad_(true);
      auto yRef = (ar * 1).add_(br).relu_();  // in place, as the blocks did
      auto sum = af * 1;                       // a non-leaf, as a block's last batch-norm output
      const void* memory = sum.data_ptr();
      auto y = addRelu_(sum, bf);
      expectSameBits(y, yRef);
      EXPECT_EQ(y.data_ptr(), memory) << "in place";
      EXPECT_EQ(y.strides(), a0.strides());
      EXPECT_TRUE(torch::isnan(y.contiguous().view(-1)[100]).item<bool>()) << "relu(NaN + 1) is NaN";
      EXPECT_TRUE(torch::isnan(y.contiguous().view(-1)[103]).item<bool>()) << "relu(inf - inf) is NaN";
      const auto g = torch::randn(a.sizes()).to(dtype).contiguous(fmt);
      yRef.backward(g);
      y.backward(g);
      expectSameBits(af.grad(), ar.grad());
      expectSameBits(bf.grad(), br.grad());
    }
    // A 5-D blocked activation, one over several threads' chunks, and a 1-element tensor.
    for (const auto& sizes : {std::vector<int64_t>{2, 2, 3, 3, 16}, std::vector<int64_t>{100001}, std::vector<int64_t>{1}}) {
      const auto a5 = torch::randn(sizes).to(dtype), b5 = torch::randn(sizes).to(dtype);
      auto a5c = a5.clone();
      expectSameBits(addRelu_(a5c, b5), a5.add(b5).relu());
    }
  }
}

TEST(AddRelu, MismatchedLayoutsAndOtherTypesTakeTheTwoOps) {
  const auto a = torch::randn({2, 3, 4, 5}), b = torch::randn({2, 3, 4, 5});
  // Different strides: the same values through add_ + relu_.
  const auto bl = b.contiguous(torch::MemoryFormat::ChannelsLast);
  auto a1 = a.clone();
  expectSameBits(addRelu_(a1, bl), a.add(b).relu());
  // A broadcast operand, fp64, a non-dense view (in place into the view).
  auto a2 = a.clone();
  expectSameBits(addRelu_(a2, b[0]), a.add(b[0]).relu());
  auto a3 = a.to(torch::kDouble);
  expectSameBits(addRelu_(a3, b.to(torch::kDouble)), a.to(torch::kDouble).add(b.to(torch::kDouble)).relu());
  auto a4 = a.clone();
  auto as = a4.narrow(3, 0, 3);
  expectSameBits(addRelu_(as, b.narrow(3, 0, 3)), a.narrow(3, 0, 3).add(b.narrow(3, 0, 3)).relu());
  EXPECT_TRUE(torch::equal(a4.narrow(3, 3, 2), a.narrow(3, 3, 2))) << "only the view changed";
  // The same tensor twice: relu(2a).
  auto a5 = a.clone();
  expectSameBits(addRelu_(a5, a5), (a * 2).relu());
}

// In place means autograd's checks: a leaf that requires grad is refused, and a tensor that
// another op saved for its backward cannot be overwritten unnoticed.
TEST(AddRelu, AutogradRefusesWhatAnInPlaceOpMayNotChange) {
  for (const auto dtype : {torch::kFloat, torch::kBFloat16}) {
    auto leaf = torch::randn({2, 16}).to(dtype).requires_grad_(true);
    const auto before = leaf.detach().clone();
    const auto b = torch::randn({2, 16}).to(dtype);
    EXPECT_THROW(addRelu_(leaf, b), c10::Error);
    EXPECT_TRUE(torch::equal(leaf.detach(), before)) << "refused before writing, as add_ is";
    auto x = torch::randn({2, 16}).to(dtype).requires_grad_(true);
    auto e = x * 1;
    auto saved = e.exp();  // exp's backward reads its output: `saved`
    addRelu_(saved, b);
    EXPECT_THROW(saved.sum().backward(), c10::Error);
  }
}

// Our loops (this one, FusedSgd's update, the emulation's rounding, GradStats) are compiled with
// the OpenMP flags that make ATen's inline parallel_for parallel: without them every one of them
// ran on one thread (the SGD update took 11 ms of a ResNet-18 step on one of two cores).
TEST(ParallelLoops, RunOnEveryIntraOpThread) {
  if (std::thread::hardware_concurrency() < 2) {
    GTEST_SKIP() << "one core here: nothing to share";
  }
  const int before = at::get_num_threads();
  at::set_num_threads(2);  // LibTorch 1.13 starts with one
  EXPECT_EQ(parallelLoopThreads(), 2);
  at::set_num_threads(before);
}
