#include "engine/models/Layers.h"
#include "engine/models/Registry.h"
#include "engine/precision/Precision.h"
#include "engine/util/Errors.h"

#include <gtest/gtest.h>
#include <torch/torch.h>

#include <cmath>

using namespace ampbench;

TEST(Fp16Emulation, RoundsLikeHalf) {
  auto e = std::make_shared<Emulation>();
  e->dtype = torch::kHalf;
  // Below fp16's smallest subnormal (2^-24 ~ 5.96e-8) rounds to zero; 65520 rounds to inf.
  auto x = torch::tensor({1e-8f, 65520.0f, 65504.0f, 1.0f + 1e-4f});
  auto y = layers::round(e, x);
  EXPECT_EQ(y[0].item<float>(), 0.0f);
  EXPECT_TRUE(std::isinf(y[1].item<float>()));
  EXPECT_EQ(y[2].item<float>(), 65504.0f);
  EXPECT_EQ(y[3].item<float>(), 1.0f) << "fp16 has 10 mantissa bits: 1+1e-4 rounds to 1";
  EXPECT_EQ(y.scalar_type(), torch::kFloat);
}

TEST(Fp16Emulation, GradientIsRoundedBackward) {
  auto e = std::make_shared<Emulation>();
  e->dtype = torch::kHalf;
  auto x = torch::ones({2}, torch::requires_grad());
  auto y = layers::round(e, x);
  // A gradient of 1e-8 underflows in fp16: this is the problem loss scaling fixes.
  y.backward(torch::full({2}, 1e-8f));
  EXPECT_EQ(x.grad()[0].item<float>(), 0.0f);
  x.mutable_grad().reset();
  auto y2 = layers::round(e, x);
  y2.backward(torch::full({2}, 1e-8f * 65536.0f));
  EXPECT_GT(x.grad()[0].item<float>(), 0.0f) << "a scaled gradient survives";
}

TEST(Fp16Emulation, ModelOutputsDifferOnlyByRounding) {
  torch::manual_seed(0);
  auto model = createModel({"small_cnn", 1, 2});
  model->eval();
  auto x = torch::randn({2, 1, 32, 32});
  torch::NoGradGuard ng;
  auto ref = model->forward(x);
  model->setEmulatedDtype(torch::kHalf);
  auto emu = model->forward(x);
  EXPECT_FALSE(torch::equal(ref, emu)) << "emulation must change the numerics";
  EXPECT_TRUE(torch::allclose(ref, emu, 1e-2, 1e-2));
}

TEST(Precision, ResolvesModesOnCpu) {
  const LossScalerOptions scaler;
  auto fp32 = resolvePrecision(PrecisionMode::Fp32, torch::kCPU, scaler, false);
  EXPECT_FALSE(fp32.autocast);
  EXPECT_FALSE(fp32.lossScaling);
  auto fp16 = resolvePrecision(PrecisionMode::Fp16, torch::kCPU, scaler, false);
  EXPECT_TRUE(fp16.emulated);
  EXPECT_TRUE(fp16.lossScaling) << "loss scaling is on by default for fp16";
  EXPECT_NE(fp16.label.find("emulated"), std::string::npos);
  auto bf16 = resolvePrecision(PrecisionMode::Bf16, torch::kCPU, scaler, false);
  EXPECT_TRUE(bf16.autocast);
  EXPECT_FALSE(bf16.lossScaling) << "bf16 has fp32's range";
  auto autoMode = resolvePrecision(PrecisionMode::Auto, torch::kCPU, scaler, false);
  EXPECT_NE(autoMode.resolved, PrecisionMode::Auto);
  EXPECT_THROW(resolvePrecision(PrecisionMode::Fp16, torch::kCPU, scaler, true), InputError);
  LossScalerOptions on;
  on.mode = ScalingKind::On;
  EXPECT_TRUE(resolvePrecision(PrecisionMode::Bf16, torch::kCPU, on, false).lossScaling);
}

TEST(Precision, AutocastGuardRunsConvInBf16AndRestores) {
  auto w = torch::randn({4, 1, 3, 3});
  auto x = torch::randn({1, 1, 8, 8});
  {
    AutocastGuard guard(torch::kCPU, torch::kBFloat16, true);
    EXPECT_EQ(torch::conv2d(x, w).scalar_type(), torch::kBFloat16);
  }
  EXPECT_EQ(torch::conv2d(x, w).scalar_type(), torch::kFloat);
}
