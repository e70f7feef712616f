#include "engine/precision/LossScaler.h"
#include "engine/train/LrSchedule.h"

#include <gtest/gtest.h>
#include <torch/torch.h>

#include <limits>
#include <sstream>

using ampbench::LossScaler;
using ampbench::LossScalerOptions;

namespace {

struct Fixture {
  torch::Tensor w = torch::ones({4}, torch::requires_grad());
  torch::optim::SGD opt{std::vector<torch::Tensor>{w}, torch::optim::SGDOptions(0.1)};

  // Makes the gradient `g` * scale as backward of scaler.scale(loss) would.
  void setScaledGrad(const LossScaler& s, float g) {
    w.mutable_grad() = torch::full({4}, g * static_cast<float>(s.scaleValue()));
  }
};

}  // namespace

TEST(LossScaler, ScalesLossAndUnscalesGradients) {
  LossScalerOptions o;
  LossScaler s(o, true, torch::kCPU);
  EXPECT_DOUBLE_EQ(s.scaleValue(), 65536.0);
  auto loss = torch::tensor(2.0f);
  EXPECT_FLOAT_EQ(s.scale(loss).item<float>(), 131072.0f);
  Fixture f;
  f.setScaledGrad(s, 0.5f);
  s.unscale(f.opt);
  EXPECT_TRUE(torch::allclose(f.w.grad(), torch::full({4}, 0.5f)));
  EXPECT_TRUE(s.step(f.opt));
  EXPECT_TRUE(torch::allclose(f.w.detach(), torch::full({4}, 1.0f - 0.1f * 0.5f)));
  s.update();
  EXPECT_EQ(s.growthTracker(), 1);
}

TEST(LossScaler, InfGradientSkipsStepAndHalvesScale) {
  LossScaler s(LossScalerOptions{}, true, torch::kCPU);
  Fixture f;
  f.w.mutable_grad() = torch::tensor({1.0f, std::numeric_limits<float>::infinity(), 1.0f, 1.0f});
  const auto before = f.w.detach().clone();
  EXPECT_FALSE(s.step(f.opt));
  EXPECT_TRUE(s.lastStepOverflowed());
  EXPECT_TRUE(torch::equal(f.w.detach(), before)) << "a skipped step must not change the weights";
  s.update();
  EXPECT_DOUBLE_EQ(s.scaleValue(), 32768.0);
  EXPECT_EQ(s.growthTracker(), 0);
}

TEST(LossScaler, NanGradientAlsoSkips) {
  LossScaler s(LossScalerOptions{}, true, torch::kCPU);
  Fixture f;
  f.w.mutable_grad() = torch::tensor({1.0f, std::nanf(""), 1.0f, 1.0f});
  EXPECT_FALSE(s.step(f.opt));
  s.update();
  EXPECT_DOUBLE_EQ(s.scaleValue(), 32768.0);
}

TEST(LossScaler, AnyNonFiniteFindsInfAndNanInAnyGradientButNotLargeFiniteOnes) {
  const float inf = std::numeric_limits<float>::infinity();
  const auto flag = [](std::vector<torch::Tensor> g) { return ampbench::anyNonFinite(g).item<float>(); };
  const auto ok = torch::ones({3, 3});
  EXPECT_EQ(flag({ok, torch::full({5}, 1e30f)}), 0.0f);  // large, finite: a real (if wild) gradient
  EXPECT_EQ(flag({ok, torch::tensor({1.0f, inf, 2.0f})}), 1.0f);
  EXPECT_EQ(flag({torch::tensor({-inf, 0.0f}), ok}), 1.0f);
  EXPECT_EQ(flag({ok, torch::tensor({inf, -inf})}), 1.0f);  // they would cancel in a naive check
  EXPECT_EQ(flag({ok, ok, torch::tensor({std::nanf(""), 0.0f})}), 1.0f);
  EXPECT_EQ(flag({torch::tensor({60000.0f, 60000.0f}).to(torch::kHalf)}), 0.0f);  // fp16 sums in fp32
  EXPECT_EQ(flag({}), 0.0f);
}

TEST(LossScaler, GrowsAfterIntervalOfCleanSteps) {
  LossScalerOptions o;  // default interval 2000
  LossScaler s(o, true, torch::kCPU);
  Fixture f;
  for (int i = 0; i < 1999; ++i) {
    f.setScaledGrad(s, 1e-3f);
    ASSERT_TRUE(s.step(f.opt));
    s.update();
  }
  EXPECT_DOUBLE_EQ(s.scaleValue(), 65536.0);
  EXPECT_EQ(s.growthTracker(), 1999);
  f.setScaledGrad(s, 1e-3f);
  ASSERT_TRUE(s.step(f.opt));
  s.update();
  EXPECT_DOUBLE_EQ(s.scaleValue(), 131072.0);
  EXPECT_EQ(s.growthTracker(), 0);
}

TEST(LossScaler, OverflowResetsGrowthTracker) {
  LossScalerOptions o;
  o.growthInterval = 3;
  LossScaler s(o, true, torch::kCPU);
  Fixture f;
  for (int i = 0; i < 2; ++i) {
    f.setScaledGrad(s, 1.0f);
    s.step(f.opt);
    s.update();
  }
  f.w.mutable_grad() = torch::full({4}, std::numeric_limits<float>::infinity());
  s.step(f.opt);
  s.update();
  EXPECT_EQ(s.growthTracker(), 0);
  EXPECT_DOUBLE_EQ(s.scaleValue(), 32768.0);
  for (int i = 0; i < 3; ++i) {
    f.setScaledGrad(s, 1.0f);
    s.step(f.opt);
    s.update();
  }
  EXPECT_DOUBLE_EQ(s.scaleValue(), 65536.0);
}

TEST(LossScaler, MinScaleIsRespected) {
  LossScalerOptions o;
  o.initScale = 4.0;
  o.minScale = 1.0;
  LossScaler s(o, true, torch::kCPU);
  Fixture f;
  for (int i = 0; i < 5; ++i) {
    f.w.mutable_grad() = torch::full({4}, std::numeric_limits<float>::infinity());
    s.step(f.opt);
    s.update();
  }
  EXPECT_DOUBLE_EQ(s.scaleValue(), 1.0);
}

TEST(LossScaler, MisuseThrowsLogicError) {
  LossScaler s(LossScalerOptions{}, true, torch::kCPU);
  Fixture f;
  EXPECT_THROW(s.update(), std::logic_error);  // update before step
  f.setScaledGrad(s, 1.0f);
  s.unscale(f.opt);
  EXPECT_THROW(s.unscale(f.opt), std::logic_error);  // twice in one step
  s.step(f.opt);
  EXPECT_THROW(s.step(f.opt), std::logic_error);  // step twice
  s.update();
  EXPECT_EQ(s.stage(), LossScaler::Stage::Ready);
}

TEST(LossScaler, DisabledIsPassThrough) {
  LossScaler s(LossScalerOptions{}, false, torch::kCPU);
  Fixture f;
  auto loss = torch::tensor(3.0f);
  EXPECT_FLOAT_EQ(s.scale(loss).item<float>(), 3.0f);
  EXPECT_DOUBLE_EQ(s.scaleValue(), 1.0);
  f.w.mutable_grad() = torch::full({4}, 1.0f);
  EXPECT_TRUE(s.step(f.opt));
  s.update();
}

TEST(LossScaler, StateRoundTrip) {
  LossScalerOptions o;
  LossScaler a(o, true, torch::kCPU);
  Fixture f;
  f.w.mutable_grad() = torch::full({4}, std::numeric_limits<float>::infinity());
  a.step(f.opt);
  a.update();
  f.setScaledGrad(a, 1.0f);
  a.step(f.opt);
  a.update();
  torch::serialize::OutputArchive out;
  a.save(out);
  std::ostringstream buf;
  out.save_to(buf);
  LossScaler b(o, true, torch::kCPU);
  torch::serialize::InputArchive in;
  std::istringstream ibuf(buf.str());
  in.load_from(ibuf);
  b.load(in);
  EXPECT_DOUBLE_EQ(b.scaleValue(), 32768.0);
  EXPECT_EQ(b.growthTracker(), 1);
}

TEST(LrSchedule, OneCycleRisesThenFalls) {
  ampbench::LrSchedule s(ampbench::ScheduleKind::OneCycle, 0.1, 100, 0.25);
  EXPECT_NEAR(s.at(0), 0.1 / 25, 1e-12);
  EXPECT_NEAR(s.at(25), 0.1, 1e-12);
  EXPECT_LT(s.at(100), 1e-5);
  EXPECT_GT(s.at(10), s.at(0));
  EXPECT_LT(s.at(60), s.at(25));
  ampbench::LrSchedule c(ampbench::ScheduleKind::Constant, 0.1, 100, 0.25);
  EXPECT_DOUBLE_EQ(c.at(77), 0.1);
}
