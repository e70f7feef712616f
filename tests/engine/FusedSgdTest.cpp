// FusedSgd: LibTorch's SGD update in one pass per parameter. It must step exactly as
// torch::optim::SGD does (momentum, dampening, Nesterov, weight decay), keep the same state
// so checkpoints move between the two, and hand any parameter it cannot fuse to LibTorch.
#include "engine/train/FusedSgd.h"
#include "engine/train/TrainerInternal.h"

#include <gtest/gtest.h>
#include <torch/torch.h>

#include <memory>
#include <sstream>
#include <string>

using namespace ampbench;

namespace {

std::vector<torch::Tensor> leaves(int seed) {
  torch::manual_seed(seed);
  return {torch::randn({64, 32, 3, 3}).requires_grad_(), torch::randn({64}).requires_grad_(),
          torch::randn({100001}).requires_grad_()};  // above one parallel chunk, odd length
}

void setGrads(std::vector<torch::Tensor>& ps, int step) {
  torch::manual_seed(1000 + step);
  for (auto& p : ps) {
    p.mutable_grad() = torch::randn_like(p);
  }
}

// `steps` steps of both optimizers, each on the same fresh gradients.
void stepBoth(torch::optim::Optimizer& a, std::vector<torch::Tensor>& pa, torch::optim::Optimizer& b,
              std::vector<torch::Tensor>& pb, int steps) {
  for (int step = 0; step < steps; ++step) {
    setGrads(pa, step);
    setGrads(pb, step);
    a.step();
    b.step();
  }
}

double maxRel(const std::vector<torch::Tensor>& a, const std::vector<torch::Tensor>& b) {
  double worst = 0;
  for (size_t i = 0; i < a.size(); ++i) {
    worst = std::max(worst, ((a[i] - b[i]).abs().max() / b[i].abs().max()).item<double>());
  }
  return worst;
}

// An optimizer's state as a checkpoint holds it, and loaded back into another.
std::string savedState(torch::optim::Optimizer& opt) {
  torch::serialize::OutputArchive out;
  opt.save(out);
  std::ostringstream bytes;
  out.save_to(bytes);
  return bytes.str();
}

// The state a checkpoint would hold after `steps` steps of `opt` on fresh gradients.
std::string stateAfterSteps(torch::optim::Optimizer& opt, std::vector<torch::Tensor>& ps, int steps) {
  for (int step = 0; step < steps; ++step) {
    setGrads(ps, step);
    opt.step();
  }
  return savedState(opt);
}

void loadState(torch::optim::Optimizer& opt, const std::string& bytes) {
  torch::serialize::InputArchive in;
  std::istringstream is(bytes);
  in.load_from(is);
  opt.load(in);
}

// Fresh leaves with the values of `ps`, the 4-D ones held channels-last (as the blocked bf16 path
// holds its weights).
std::vector<torch::Tensor> channelsLastCopies(const std::vector<torch::Tensor>& ps) {
  std::vector<torch::Tensor> out;
  for (const auto& p : ps) {
    auto q = p.detach().clone().requires_grad_();
    if (q.dim() == 4) {
      torch::NoGradGuard noGrad;
      q.set_data(q.contiguous(torch::MemoryFormat::ChannelsLast));
    }
    out.push_back(q);
  }
  return out;
}

}  // namespace

TEST(FusedSgd, StepsAsLibTorchsSgdForEveryOptionCombination) {
  struct Case {
    double wd, dampening;
    bool nesterov;
  };
  for (const auto& c :
       {Case{0, 0, false}, Case{0, 0, true}, Case{5e-4, 0, false}, Case{5e-4, 0, true}, Case{1e-2, 0.1, false}}) {
    SCOPED_TRACE("wd " + std::to_string(c.wd) + " dampening " + std::to_string(c.dampening) +
                 (c.nesterov ? " nesterov" : ""));
    auto ref = leaves(7), fused = leaves(7);
    const auto opts = torch::optim::SGDOptions(0.05).momentum(0.9).weight_decay(c.wd).dampening(c.dampening).nesterov(
        c.nesterov);
    torch::optim::SGD sgd(ref, opts);
    FusedSgd fsgd(fused, opts);
    stepBoth(sgd, ref, fsgd, fused, 6);
    EXPECT_EQ(fsgd.fusedSteps(), 5) << "the first step creates the momentum buffers through LibTorch's step";
    // The same operations in the same order: only a fused multiply-add in ATen's vector
    // kernels can round differently (a few ulp).
    EXPECT_LT(maxRel(fused, ref), 1e-6);
    // A wrong momentum, decay or sign would be off by far more.
    EXPECT_GT(maxRel(leaves(7), ref), 1e-3);
  }
}

TEST(FusedSgd, ANonDenseParameterSendsTheStepThroughLibTorchs) {
  auto ref = leaves(3), fused = leaves(3);
  torch::manual_seed(5);
  const auto t = torch::randn({40, 60});
  ref.push_back(t.narrow(1, 0, 30).detach().requires_grad_());  // a slice: not dense
  fused.push_back(t.narrow(1, 0, 30).detach().requires_grad_());
  ASSERT_FALSE(fused.back().is_non_overlapping_and_dense());
  const auto opts = torch::optim::SGDOptions(0.1).momentum(0.9).weight_decay(1e-4);
  torch::optim::SGD sgd(ref, opts);
  FusedSgd fsgd(fused, opts);
  stepBoth(sgd, ref, fsgd, fused, 3);
  EXPECT_EQ(fsgd.fusedSteps(), 0);
  for (size_t i = 0; i < ref.size(); ++i) {
    EXPECT_TRUE(torch::equal(fused[i], ref[i]));  // LibTorch's own step, bit for bit
  }
}

// Channels-last weights (the plain path's --memory-format channels_last): parameter, gradient
// and momentum share the layout, and the loop walks their memory in step.
TEST(FusedSgd, ChannelsLastParametersAreFusedToo) {
  torch::manual_seed(8);
  const auto w = torch::randn({16, 8, 3, 3}).contiguous(torch::MemoryFormat::ChannelsLast);
  std::vector<torch::Tensor> ref{w.clone(torch::MemoryFormat::ChannelsLast).requires_grad_()},
      fused{w.clone(torch::MemoryFormat::ChannelsLast).requires_grad_()};
  ASSERT_FALSE(fused[0].is_contiguous());
  const auto opts = torch::optim::SGDOptions(0.1).momentum(0.9).weight_decay(1e-4);
  torch::optim::SGD sgd(ref, opts);
  FusedSgd fsgd(fused, opts);
  for (int step = 0; step < 4; ++step) {
    torch::manual_seed(50 + step);
    const auto g = torch::randn({16, 8, 3, 3}).contiguous(torch::MemoryFormat::ChannelsLast);
    ref[0].mutable_grad() = g.clone(torch::MemoryFormat::ChannelsLast);
    fused[0].mutable_grad() = g.clone(torch::MemoryFormat::ChannelsLast);
    sgd.step();
    fsgd.step();
  }
  EXPECT_EQ(fsgd.fusedSteps(), 3);
  EXPECT_LT(maxRel(fused, ref), 1e-6);
}

// A 1x1 convolution's channels-last weight has strides (I, 1, I, I); the momentum buffer that
// LibTorch's first step clones from its gradient plus weight decay comes out (I, 1, 1, 1). The
// same memory walk: fused all the same (it fell back to LibTorch's step for the whole model, a
// quarter slower, when every stride had to match).
TEST(FusedSgd, SizeOneDimensionsStridesDoNotMatter) {
  torch::manual_seed(9);
  const auto w = torch::randn({16, 8, 1, 1});
  std::vector<torch::Tensor> ref{w.clone(torch::MemoryFormat::ChannelsLast).requires_grad_()},
      fused{w.clone(torch::MemoryFormat::ChannelsLast).requires_grad_()};
  ASSERT_EQ(fused[0].stride(2), 8);
  const auto opts = torch::optim::SGDOptions(0.1).momentum(0.9).weight_decay(1e-4);
  torch::optim::SGD sgd(ref, opts);
  FusedSgd fsgd(fused, opts);
  for (int step = 0; step < 4; ++step) {
    torch::manual_seed(60 + step);
    const auto g = torch::randn({16, 8, 1, 1});
    ref[0].mutable_grad() = g.clone(torch::MemoryFormat::ChannelsLast);
    fused[0].mutable_grad() = g.clone(torch::MemoryFormat::ChannelsLast);
    sgd.step();
    fsgd.step();
    if (step == 0) {  // the premise: LibTorch's first step made a buffer with other strides
      const auto& state = fsgd.state().at(c10::guts::to_string(fused[0].unsafeGetTensorImpl()));
      ASSERT_NE(static_cast<torch::optim::SGDParamState&>(*state).momentum_buffer().stride(2), fused[0].stride(2));
    }
  }
  EXPECT_EQ(fsgd.fusedSteps(), 3);
  EXPECT_LT(maxRel(fused, ref), 1e-6);
}

// No momentum: LibTorch's step (there is no buffer to fuse with), and two groups with their
// own options each get theirs.
TEST(FusedSgd, WithoutMomentumItIsLibTorchsStepAndGroupsKeepTheirOptions) {
  auto ref = leaves(12), fused = leaves(12);
  {
    torch::optim::SGD sgd(ref, torch::optim::SGDOptions(0.1));
    FusedSgd fsgd(fused, torch::optim::SGDOptions(0.1));
    stepBoth(sgd, ref, fsgd, fused, 3);
    EXPECT_EQ(fsgd.fusedSteps(), 0);
    EXPECT_LT(maxRel(fused, ref), 1e-7);
  }
  const auto groups = [](const std::vector<torch::Tensor>& ps) {
    return std::vector<torch::optim::OptimizerParamGroup>{
        torch::optim::OptimizerParamGroup({ps[0]}, std::make_unique<torch::optim::SGDOptions>(
                                                       torch::optim::SGDOptions(0.1).momentum(0.9).weight_decay(1e-3))),
        torch::optim::OptimizerParamGroup({ps[1], ps[2]}, std::make_unique<torch::optim::SGDOptions>(
                                                              torch::optim::SGDOptions(0.01).momentum(0.5).nesterov(true)))};
  };
  torch::optim::SGD sgd(groups(ref), torch::optim::SGDOptions(1));
  FusedSgd fsgd(groups(fused), torch::optim::SGDOptions(1));
  stepBoth(sgd, ref, fsgd, fused, 4);
  EXPECT_EQ(fsgd.fusedSteps(), 3);
  EXPECT_LT(maxRel(fused, ref), 1e-6);
}

// A closure runs before anything is checked: on the first step it creates the gradients.
TEST(FusedSgd, AClosureRunsFirstAndItsLossIsReturned) {
  auto ref = leaves(13), fused = leaves(13);
  const auto opts = torch::optim::SGDOptions(0.05).momentum(0.9).weight_decay(5e-4);
  torch::optim::SGD sgd(ref, opts);
  FusedSgd fsgd(fused, opts);
  const auto closureFor = [](std::vector<torch::Tensor>& ps) {
    return [&ps] {
      for (auto& p : ps) {
        p.mutable_grad() = torch::Tensor();
      }
      auto loss = torch::zeros({});
      for (auto& p : ps) {
        loss = loss + (p * p).sum() * 0.01;
      }
      loss.backward();
      return loss;
    };
  };
  for (int step = 0; step < 3; ++step) {
    const auto lr = sgd.step(closureFor(ref));
    const auto lf = fsgd.step(closureFor(fused));
    ASSERT_TRUE(lf.defined());
    EXPECT_NEAR(lf.item<double>(), lr.item<double>(), 1e-5 * std::abs(lr.item<double>()));
  }
  EXPECT_EQ(fsgd.fusedSteps(), 2);
  EXPECT_LT(maxRel(fused, ref), 1e-6);
}

TEST(FusedSgd, ParametersWithoutAGradientAreLeftAlone) {
  auto ps = leaves(4);
  FusedSgd fsgd(ps, torch::optim::SGDOptions(0.1).momentum(0.9));
  for (int step = 0; step < 3; ++step) {
    setGrads(ps, step);
    ps[1].mutable_grad() = torch::Tensor();  // e.g. a frozen layer
    const auto before = ps[1].clone();
    fsgd.step();
    EXPECT_TRUE(torch::equal(ps[1], before));
  }
  EXPECT_EQ(fsgd.fusedSteps(), 2);
}

TEST(FusedSgd, StateMovesBetweenItAndLibTorchsSgdThroughACheckpoint) {
  const auto opts = torch::optim::SGDOptions(0.05).momentum(0.9).weight_decay(5e-4);
  auto a = leaves(11);
  FusedSgd fsgd(a, opts);
  const std::string bytes = stateAfterSteps(fsgd, a, 3);
  // Resume the same parameters under LibTorch's SGD, and a copy under FusedSgd.
  auto b = std::vector<torch::Tensor>{};
  for (const auto& p : a) {
    b.push_back(p.detach().clone().requires_grad_());
  }
  torch::optim::SGD sgd(b, opts);
  FusedSgd fsgd2(a, opts);
  for (auto* opt : std::initializer_list<torch::optim::Optimizer*>{&sgd, &fsgd2}) {
    loadState(*opt, bytes);
  }
  for (int step = 3; step < 5; ++step) {
    setGrads(a, step);
    setGrads(b, step);
    fsgd2.step();
    sgd.step();
  }
  EXPECT_EQ(fsgd2.fusedSteps(), 2) << "the loaded momentum buffers are used from the first step";
  EXPECT_LT(maxRel(a, b), 1e-6);
}

TEST(FusedSgd, ANanGradientPoisonsOnlyItsOwnParameter) {
  auto ref = leaves(9), fused = leaves(9);
  const auto opts = torch::optim::SGDOptions(0.1).momentum(0.9).weight_decay(1e-4);
  torch::optim::SGD sgd(ref, opts);
  FusedSgd fsgd(fused, opts);
  for (int step = 0; step < 3; ++step) {
    setGrads(ref, step);
    setGrads(fused, step);
    if (step == 2) {
      ref[1].mutable_grad()[3] = std::numeric_limits<float>::quiet_NaN();
      fused[1].mutable_grad()[3] = std::numeric_limits<float>::quiet_NaN();
    }
    sgd.step();
    fsgd.step();
  }
  EXPECT_TRUE(std::isnan(fused[1][3].item<float>()));
  EXPECT_EQ(torch::isnan(fused[1]).sum().item<int64_t>(), 1);
  EXPECT_FALSE(torch::isnan(fused[0]).any().item<bool>());
  EXPECT_TRUE(torch::equal(torch::isnan(fused[1]), torch::isnan(ref[1])));
}

// A checkpoint written with the weights in the other layout (OIHW by an older build, where the
// blocked bf16 path now holds them channels-last): its momentum comes back with the saved strides.
// Laid out like the parameters again, the fused step runs from the first step after the resume and
// gives the bits the run would have had without the layout change.
TEST(FusedSgd, StateSavedInTheOtherLayoutIsFusedOnceLaidOutLikeItsParameters) {
  const auto opts = torch::optim::SGDOptions(0.05).momentum(0.9).weight_decay(5e-4);
  auto a = leaves(13);
  FusedSgd writer(a, opts);
  const std::string bytes = stateAfterSteps(writer, a, 3);
  // Two resumed copies with channels-last weights; only one has its state laid out again.
  std::vector<std::vector<torch::Tensor>> copies(2);
  std::vector<std::unique_ptr<FusedSgd>> opt;
  for (auto& c : copies) {
    c = channelsLastCopies(a);
    opt.push_back(std::make_unique<FusedSgd>(c, opts));
    loadState(*opt.back(), bytes);
  }
  layStateLikeParameters(*opt[1]);
  for (int step = 3; step < 6; ++step) {
    setGrads(a, step);
    writer.step();  // the run that never changed layout
    for (size_t i = 0; i < 2; ++i) {
      for (size_t k = 0; k < a.size(); ++k) {  // the same gradients, in each weight's layout
        copies[i][k].mutable_grad() = torch::empty_like(copies[i][k]).copy_(a[k].grad());
      }
      opt[i]->step();
    }
  }
  EXPECT_EQ(opt[0]->fusedSteps(), 0) << "mixed strides: every step went through LibTorch's";
  EXPECT_EQ(opt[1]->fusedSteps(), 3);
  for (size_t k = 0; k < a.size(); ++k) {
    EXPECT_TRUE(torch::equal(copies[1][k], a[k])) << "parameter " << k;
  }
}

// AdamW's moments (AMSGrad off: no max_exp_avg_sq) loaded with the other layout are laid out like
// their weights too, and the step gives the bits of the run that never changed layout.
TEST(FusedSgd, AdamWStateIsLaidOutLikeItsParametersToo) {
  const auto opts = torch::optim::AdamWOptions(1e-3).weight_decay(1e-2);
  auto a = leaves(17);
  torch::optim::AdamW writer(a, opts);
  const std::string bytes = stateAfterSteps(writer, a, 2);
  auto b = channelsLastCopies(a);
  torch::optim::AdamW resumed(b, opts);
  loadState(resumed, bytes);
  layStateLikeParameters(resumed);
  const auto& st = static_cast<torch::optim::AdamWParamState&>(
      *resumed.state().at(c10::guts::to_string(b[0].unsafeGetTensorImpl())));
  EXPECT_EQ(st.exp_avg().strides(), b[0].strides());
  EXPECT_EQ(st.exp_avg_sq().strides(), b[0].strides());
  EXPECT_FALSE(st.max_exp_avg_sq().defined());
  for (int step = 2; step < 4; ++step) {
    setGrads(a, step);
    writer.step();
    for (size_t k = 0; k < a.size(); ++k) {
      b[k].mutable_grad() = torch::empty_like(b[k]).copy_(a[k].grad());
    }
    resumed.step();
  }
  for (size_t k = 0; k < a.size(); ++k) {
    EXPECT_TRUE(torch::equal(b[k], a[k])) << "parameter " << k;
  }
}
