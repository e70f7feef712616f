#include "engine/models/Layers.h"
#include "engine/models/Registry.h"
#include "engine/precision/Precision.h"
#include "engine/train/PrecisionPolicy.h"
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
  auto bf16 = resolvePrecision(PrecisionMode::Bf16, torch::kCPU, scaler, false, Bf16KernelsKind::Auto, true);
  EXPECT_TRUE(bf16.autocast) << "a CPU with AVX512-BF16/AMX runs bf16 natively";
  EXPECT_FALSE(bf16.emulated);
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

TEST(Precision, Bf16IsEmulatedWithoutBf16UnitsUnlessNativeIsForced) {
  const LossScalerOptions scaler;
  auto emu = resolvePrecision(PrecisionMode::Bf16, torch::kCPU, scaler, false, Bf16KernelsKind::Auto, false);
  EXPECT_TRUE(emu.emulated);
  EXPECT_FALSE(emu.autocast);
  EXPECT_NE(emu.label.find("emulated"), std::string::npos);
  EXPECT_EQ(emulatedScalarType(emu), torch::kBFloat16);
  auto native = resolvePrecision(PrecisionMode::Bf16, torch::kCPU, scaler, false, Bf16KernelsKind::Native, false);
  EXPECT_TRUE(native.autocast);
  EXPECT_FALSE(native.emulated);
  EXPECT_NE(native.note.find("SLOWER"), std::string::npos) << "native bf16 without bf16 units says it is slow";
  EXPECT_THROW(resolvePrecision(PrecisionMode::Bf16, torch::kCPU, scaler, true, Bf16KernelsKind::Auto, false),
               InputError)
      << "--strict refuses the emulation";
  EXPECT_NO_THROW(resolvePrecision(PrecisionMode::Bf16, torch::kCPU, scaler, true, Bf16KernelsKind::Native, false));
  auto forced = resolvePrecision(PrecisionMode::Bf16, torch::kCPU, scaler, false, Bf16KernelsKind::Emulated, true);
  EXPECT_TRUE(forced.emulated) << "--bf16-kernels emulated on a bf16 CPU";
  // auto: the fastest mixed format here, emulated fp16 where none is faster.
  EXPECT_EQ(resolvePrecision(PrecisionMode::Auto, torch::kCPU, scaler, false, Bf16KernelsKind::Auto, false).resolved,
            PrecisionMode::Fp16);
  EXPECT_EQ(resolvePrecision(PrecisionMode::Auto, torch::kCPU, scaler, false, Bf16KernelsKind::Auto, true).resolved,
            PrecisionMode::Bf16);
}

TEST(Precision, WhatIfModesSwitchTheFixesOff) {
  LossScalerOptions on;
  on.mode = ScalingKind::On;  // asking for scaling does not bring it back: the mode is the point
  auto noscale = resolvePrecision(PrecisionMode::Fp16NoScale, torch::kCPU, on, false);
  EXPECT_TRUE(noscale.whatIf);
  EXPECT_FALSE(noscale.lossScaling);
  EXPECT_TRUE(noscale.masterWeights);
  EXPECT_TRUE(noscale.emulated);
  auto pure = resolvePrecision(PrecisionMode::Fp16Pure, torch::kCPU, on, false);
  EXPECT_FALSE(pure.lossScaling);
  EXPECT_FALSE(pure.masterWeights);
  EXPECT_EQ(pure.computeDtype, "float16");
  auto bpure = resolvePrecision(PrecisionMode::Bf16Pure, torch::kCPU, on, false, Bf16KernelsKind::Auto, false);
  EXPECT_FALSE(bpure.masterWeights);
  EXPECT_EQ(bpure.computeDtype, "bfloat16");
  auto fp16 = resolvePrecision(PrecisionMode::Fp16, torch::kCPU, LossScalerOptions{}, false);
  EXPECT_FALSE(fp16.whatIf);
  EXPECT_TRUE(fp16.masterWeights);
}

TEST(Precision, ModeNamesParseAndUnknownOnesNameTheValidOnes) {
  EXPECT_EQ(parsePrecision("fp16-noscale"), PrecisionMode::Fp16NoScale);
  EXPECT_EQ(parsePrecision("fp16-pure"), PrecisionMode::Fp16Pure);
  EXPECT_EQ(parsePrecision("bf16-pure"), PrecisionMode::Bf16Pure);
  for (auto m : allPrecisionModes()) {
    EXPECT_EQ(parsePrecision(toString(m)), m);
  }
  EXPECT_EQ(parsePrecisionList("fp32,fp16,fp16-noscale,fp16-pure"),
            (std::vector<PrecisionMode>{PrecisionMode::Fp32, PrecisionMode::Fp16, PrecisionMode::Fp16NoScale,
                                        PrecisionMode::Fp16Pure}));
  try {
    parsePrecisionList("fp32,fp8");
    FAIL() << "fp8 is not a mode";
  } catch (const InputError& e) {
    const std::string msg = e.what();
    EXPECT_NE(msg.find("fp8"), std::string::npos);
    EXPECT_NE(msg.find("fp16-noscale"), std::string::npos) << msg;
  }
}

TEST(Bf16Emulation, RoundsLikeBfloat16) {
  auto e = std::make_shared<Emulation>();
  e->dtype = torch::kBFloat16;
  // bf16 keeps 8 significant bits: 1 + 2^-9 rounds to 1, 1 + 2^-7 survives; fp32's range.
  auto x = torch::tensor({1.0f + std::ldexp(1.0f, -9), 1.0f + std::ldexp(1.0f, -7), 1e-30f, 1e30f});
  auto y = layers::round(e, x);
  EXPECT_EQ(y[0].item<float>(), 1.0f);
  EXPECT_EQ(y[1].item<float>(), 1.0f + std::ldexp(1.0f, -7));
  EXPECT_GT(y[2].item<float>(), 0.0f) << "no underflow at 1e-30 in bf16";
  EXPECT_TRUE(std::isfinite(y[3].item<float>()));
}

namespace {

// y = round(x * round(w)): one weight, used and output in the emulated format.
struct OneWeightImpl : ClassifierImpl {
  OneWeightImpl() : ClassifierImpl({"one_weight", 1, 1}) { w = register_parameter("w", torch::ones({1})); }
  torch::Tensor forward(torch::Tensor x) override {
    return layers::round(emulation(), x * layers::round(emulation(), w));
  }
  torch::Tensor w;
};

// Trains `steps` SGD steps of loss = sum(model(x)) under `mode`; returns the weight.
float trainOneWeight(PrecisionMode mode, float x, double lr, int steps) {
  LossScalerOptions scaler;
  scaler.initScale = 1024.0;  // 2^16 times a gradient of 1 would overflow fp16 itself
  auto info = resolvePrecision(mode, torch::kCPU, scaler, false, Bf16KernelsKind::Emulated, false);
  PrecisionPolicy policy(info, scaler, torch::kCPU);
  auto model = std::make_shared<OneWeightImpl>();
  policy.prepareModel(*model);
  torch::optim::SGD opt(model->parameters(), torch::optim::SGDOptions(lr));
  for (int i = 0; i < steps; ++i) {
    opt.zero_grad();
    auto loss = policy.forward(*model, torch::full({1}, x)).sum();
    policy.backward(loss);
    policy.unscale(opt);
    if (policy.step(opt)) {
      EXPECT_EQ(policy.roundWeights(*model), "");
    }
    policy.update();
  }
  return model->w.item<float>();
}

}  // namespace

TEST(PrecisionPolicy, PureFp16LosesASmallUpdateThatMasterWeightsKeep) {
  // Gradient 1 and lr 1e-4: an update of 1e-4 to a weight of 1.0, below half an fp16 ulp
  // (2^-11 ~ 4.9e-4). With FP32 master weights it lands; rounded to fp16 it vanishes.
  const float mixed = trainOneWeight(PrecisionMode::Fp16, 1.0f, 1e-4, 1);
  const float pure = trainOneWeight(PrecisionMode::Fp16Pure, 1.0f, 1e-4, 1);
  EXPECT_FLOAT_EQ(mixed, 1.0f - 1e-4f);
  EXPECT_EQ(pure, 1.0f) << "pure fp16 drops the update";
  // Ten of them: master weights accumulate 1e-3, pure fp16 still nothing.
  EXPECT_NEAR(trainOneWeight(PrecisionMode::Fp16, 1.0f, 1e-4, 10), 1.0f - 1e-3f, 1e-6);
  EXPECT_EQ(trainOneWeight(PrecisionMode::Fp16Pure, 1.0f, 1e-4, 10), 1.0f);
  EXPECT_EQ(trainOneWeight(PrecisionMode::Bf16Pure, 1.0f, 1e-4, 10), 1.0f) << "bf16 has even fewer bits";
}

TEST(PrecisionPolicy, WithoutLossScalingTinyGradientsTrainNothing) {
  // x = 1e-8 makes dL/dw = 1e-8, below fp16's smallest subnormal (2^-24): it flushes to zero
  // in the emulated backward unless the loss scale (2^10 here) lifts it into range first.
  const float scaled = trainOneWeight(PrecisionMode::Fp16, 1e-8f, 1e4, 5);
  const float noscale = trainOneWeight(PrecisionMode::Fp16NoScale, 1e-8f, 1e4, 5);
  EXPECT_EQ(noscale, 1.0f) << "fp16-noscale: every gradient underflowed, the weight never moved";
  EXPECT_LT(scaled, 1.0f - 1e-4f) << "fp16 with loss scaling trains";
  EXPECT_LT(trainOneWeight(PrecisionMode::Fp32, 1e-8f, 1e4, 5), 1.0f - 1e-4f);
}
