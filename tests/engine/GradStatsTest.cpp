#include "engine/precision/GradStats.h"
#include "engine/train/RunDir.h"
#include "engine/util/Errors.h"
#include "engine/util/Files.h"
#include "TestUtil.h"

#include <gtest/gtest.h>
#include <torch/torch.h>

#include <cmath>
#include <fstream>
#include <limits>
#include <map>
#include <set>
#include <sstream>

using namespace ampbench;

namespace {

const float kInf = std::numeric_limits<float>::infinity();

float below(float x) { return std::nextafter(x, 0.0f); }
float above(float x) { return std::nextafter(x, kInf); }

TensorPrecisionStats one(float x, double scale = 1.0) {
  return tensorStats(torch::tensor({x}), scale, "t", "weight_grad");
}

// Which of the fp16 / bf16 classes one value falls in: "under", "sub", "over" or "".
std::string fp16Class(float x) {
  const auto s = one(x);
  return s.fp16.underflow == 1 ? "under" : s.fp16.subnormal == 1 ? "sub" : s.fp16.overflow == 1 ? "over" : "";
}
std::string bf16Class(float x) {
  const auto s = one(x);
  return s.bf16.underflow == 1 ? "under" : s.bf16.subnormal == 1 ? "sub" : s.bf16.overflow == 1 ? "over" : "";
}

int64_t binCount(const Log2Histogram& h, int lowerExp) { return h.bins.at(lowerExp - kLog2MinExp); }

void expectFiniteShares(const TensorPrecisionStats& s) {
  for (const auto* f : {&s.fp16, &s.fp16Scaled, &s.bf16, &s.bf16Scaled}) {
    EXPECT_TRUE(std::isfinite(f->underflow) && std::isfinite(f->subnormal) && std::isfinite(f->overflow));
  }
  EXPECT_TRUE(std::isfinite(s.zeroShare));
}

std::vector<std::string> names(const PrecisionStatsEvent& e, const std::string& kind) {
  std::vector<std::string> out;
  for (const auto& t : e.tensors) {
    if (t.kind == kind) out.push_back(t.layer);
  }
  return out;
}

std::vector<std::string> readLines(const std::string& path) {
  std::ifstream in(path);
  std::vector<std::string> out;
  for (std::string line; std::getline(in, line);) out.push_back(line);
  return out;
}

}  // namespace

// ---- thresholds, exactly at the boundaries ------------------------------------------

TEST(GradStats, Fp16ThresholdsAtTheBoundaries) {
  const float p25 = std::ldexp(1.0f, -25), p24 = std::ldexp(1.0f, -24), p14 = std::ldexp(1.0f, -14);
  EXPECT_EQ(fp16Class(p25), "under");  // the tie between 0 and 2^-24 goes to the even 0
  EXPECT_EQ(fp16Class(below(p25)), "under");
  EXPECT_EQ(fp16Class(above(p25)), "sub");  // rounds up to 2^-24
  EXPECT_EQ(fp16Class(p24), "sub");
  EXPECT_EQ(fp16Class(below(p14)), "sub");
  EXPECT_EQ(fp16Class(p14), "");           // the smallest normal
  EXPECT_EQ(fp16Class(1.0f), "");
  EXPECT_EQ(fp16Class(65504.0f), "");      // the largest finite
  EXPECT_EQ(fp16Class(below(65520.0f)), "");
  EXPECT_EQ(fp16Class(65520.0f), "over");  // the tie between 65504 and 65536 goes to 65536 = inf
  EXPECT_EQ(fp16Class(-65520.0f), "over");
  EXPECT_EQ(fp16Class(-p25), "under");
  EXPECT_EQ(fp16Class(kInf), "over");  // already inf: inf in every format
}

TEST(GradStats, Bf16ThresholdsAtTheBoundaries) {
  const float p134 = std::ldexp(1.0f, -134), p133 = std::ldexp(1.0f, -133), p126 = std::ldexp(1.0f, -126);
  EXPECT_EQ(bf16Class(p134), "under");  // half the smallest subnormal 2^-133: ties to 0
  EXPECT_EQ(bf16Class(above(p134)), "sub");
  EXPECT_EQ(bf16Class(p133), "sub");
  EXPECT_EQ(bf16Class(below(p126)), "sub");
  EXPECT_EQ(bf16Class(p126), "");
  EXPECT_EQ(bf16Class(1e-30f), "");  // fp16 would lose it, bf16 keeps it
  EXPECT_EQ(fp16Class(1e-30f), "under");
  EXPECT_EQ(bf16Class(3.3895e38f), "");  // ~ the largest finite bf16
  EXPECT_EQ(bf16Class(3.39e38f), "");    // rounds down to it
  const float tie = std::ldexp(2.0f - std::ldexp(1.0f, -8), 127);  // (2 - 2^-8) * 2^127
  EXPECT_EQ(bf16Class(below(tie)), "");
  EXPECT_EQ(bf16Class(tie), "over");
  EXPECT_EQ(bf16Class(3.4e38f), "over");
  EXPECT_EQ(bf16Class(std::numeric_limits<float>::max()), "over");
  EXPECT_EQ(bf16Class(65520.0f), "");  // bf16 has fp32's range
}

TEST(GradStats, AgreesWithTorchsOwnFp16AndBf16Rounding) {
  // Random magnitudes over [2^-30, 2^20) and [2^-140, 2^-120) with random mantissas and
  // signs: the shares must count exactly the values LibTorch's conversion sends to 0 / inf.
  torch::manual_seed(3);
  const auto n = 200000;
  auto sign = torch::randint(0, 2, {n}).mul(2).sub(1).to(torch::kFloat);
  auto wide = torch::pow(2.0, torch::rand({n}, torch::kDouble) * 50 - 30).to(torch::kFloat) * sign;
  const auto s = tensorStats(wide, 1.0, "x", "weight_grad");
  const auto h = wide.to(torch::kHalf).to(torch::kFloat);
  EXPECT_EQ(std::llround(s.fp16.underflow * n), h.eq(0).sum().item<int64_t>());
  EXPECT_EQ(std::llround(s.fp16.overflow * n), h.isinf().sum().item<int64_t>());
  EXPECT_GT(s.fp16.underflow, 0.0);
  EXPECT_GT(s.fp16.overflow, 0.0);
  // bf16 near its top; its subnormals are not compared: CPUs with AVX512-BF16 convert
  // them to zero (denormals-are-zero), which is not what bf16 arithmetic elsewhere does.
  auto top = torch::pow(2.0, torch::rand({n}, torch::kDouble) * 28 + 100).to(torch::kFloat) * sign;
  const auto t = tensorStats(top, 1.0, "x", "weight_grad");
  EXPECT_EQ(std::llround(t.bf16.overflow * n), top.to(torch::kBFloat16).isinf().sum().item<int64_t>());
  EXPECT_GT(t.bf16.overflow, 0.0);
}

// ---- the histogram --------------------------------------------------------------------

TEST(GradStats, Log2BinsHoldOneOctaveEach) {
  const float p24 = std::ldexp(1.0f, -24);
  auto s = tensorStats(torch::tensor({p24, below(p24), -1.0f, 1.5f, below(2.0f), 0.0f, 0.0f}), 1.0, "x", "activation");
  EXPECT_EQ(s.count, 7);
  EXPECT_EQ(binCount(s.unscaled, -24), 1);  // 2^-24 <= |x| < 2^-23
  EXPECT_EQ(binCount(s.unscaled, -25), 1);
  EXPECT_EQ(binCount(s.unscaled, 0), 3);    // 1, 1.5 and the float just below 2
  EXPECT_EQ(s.unscaled.zeros, 2);
  EXPECT_DOUBLE_EQ(s.zeroShare, 2.0 / 7.0);
  // The ends: below 2^kLog2MinExp and from 2^kLog2MaxExp on.
  const float lo = std::ldexp(1.0f, kLog2MinExp), hi = std::ldexp(1.0f, kLog2MaxExp);
  s = tensorStats(torch::tensor({lo, below(lo), std::ldexp(1.0f, -149), below(hi), hi, 3e38f}), 1.0, "x", "w");
  EXPECT_EQ(binCount(s.unscaled, kLog2MinExp), 1);
  EXPECT_EQ(s.unscaled.below, 2);  // fp32 subnormals included
  EXPECT_EQ(binCount(s.unscaled, kLog2MaxExp - 1), 1);
  EXPECT_EQ(s.unscaled.above, 2);
  int64_t total = s.unscaled.below + s.unscaled.above;
  for (auto c : s.unscaled.bins) total += c;
  EXPECT_EQ(total, 6);
}

TEST(GradStats, ScaledAndUnscaledDifferByTheLossScale) {
  // One value at each power 2^-40 .. 2^-1, as the scaler produced them with scale 2^k:
  // the true (unscaled) values are 2^(e-k); fp16 loses those <= 2^-25.
  std::vector<float> v;
  for (int e = -40; e < 0; ++e) v.push_back(std::ldexp(1.0f, e));
  const auto t = torch::tensor(v);
  for (int k : {0, 4, 10, 16}) {
    const auto s = tensorStats(t, std::ldexp(1.0, k), "x", "weight_grad");
    int underScaled = 0, underTrue = 0;
    for (int e = -40; e < 0; ++e) {
      underScaled += e <= -25;
      underTrue += e - k <= -25;
    }
    EXPECT_DOUBLE_EQ(s.fp16Scaled.underflow, underScaled / 40.0) << k;
    EXPECT_DOUBLE_EQ(s.fp16.underflow, underTrue / 40.0) << k;
    EXPECT_EQ(binCount(s.scaled, -1), 1);
    if (k > 0) {
      EXPECT_EQ(binCount(s.unscaled, -1 - k), 1) << k;
      EXPECT_EQ(binCount(s.unscaled, -1), 0) << k;
    }
  }
  // Scaling by 2^16 moves 16 octaves out of fp16's underflow: the reason for loss scaling.
  EXPECT_GT(tensorStats(t, 65536.0, "x", "g").fp16.underflow, tensorStats(t, 65536.0, "x", "g").fp16Scaled.underflow);
}

TEST(GradStats, EmptyAndUndefinedTensorsGiveZerosNotNaN) {
  for (const auto& t : {torch::empty({0}), torch::empty({3, 0}), torch::Tensor()}) {
    const auto s = tensorStats(t, 1024.0, "x", "weight_grad");
    EXPECT_EQ(s.count, 0);
    EXPECT_EQ(s.zeroShare, 0.0);
    EXPECT_EQ(s.fp16.underflow, 0.0);
    EXPECT_EQ(s.bf16Scaled.overflow, 0.0);
    expectFiniteShares(s);
  }
}

TEST(GradStats, InfAndNanAreCountedNotBinned) {
  const float nan = std::numeric_limits<float>::quiet_NaN();
  const auto s = tensorStats(torch::tensor({1.0f, kInf, -kInf, nan, 0.0f, 1e-30f}), 1.0, "x", "weight_grad");
  EXPECT_EQ(s.count, 6);
  EXPECT_EQ(s.unscaled.infs, 2);
  EXPECT_EQ(s.unscaled.nans, 1);
  EXPECT_EQ(s.unscaled.zeros, 1);
  int64_t binned = s.unscaled.below + s.unscaled.above;
  for (auto c : s.unscaled.bins) binned += c;
  EXPECT_EQ(binned, 2);  // 1 and 1e-30 only
  expectFiniteShares(s);
  EXPECT_DOUBLE_EQ(s.fp16.overflow, 2.0 / 6.0);
  EXPECT_DOUBLE_EQ(s.fp16.underflow, 1.0 / 6.0);
  EXPECT_DOUBLE_EQ(s.bf16.underflow, 0.0);
  // A loss scale that is not finite and positive is a programming error.
  EXPECT_THROW(tensorStats(torch::ones({2}), 0.0, "x", "g"), std::invalid_argument);
  EXPECT_THROW(tensorStats(torch::ones({2}), std::nan(""), "x", "g"), std::invalid_argument);
}

TEST(GradStats, ReadsHalfBfloatAndStridedTensors) {
  const auto base = torch::tensor({{1e-6f, 2.0f}, {70000.0f, 0.0f}});
  const auto ref = tensorStats(base, 1.0, "x", "a");
  const auto strided = tensorStats(base.t(), 1.0, "x", "a");
  EXPECT_EQ(strided.unscaled.bins, ref.unscaled.bins);
  EXPECT_EQ(strided.fp16.overflow, ref.fp16.overflow);
  const auto half = tensorStats(base.to(torch::kHalf), 1.0, "x", "a");  // 70000 is already inf in fp16
  EXPECT_EQ(half.unscaled.infs, 1);
  EXPECT_DOUBLE_EQ(half.fp16.overflow, 0.25);
  const auto bf = tensorStats(base.to(torch::kBFloat16), 1.0, "x", "a");
  EXPECT_EQ(bf.unscaled.infs, 0);
  EXPECT_DOUBLE_EQ(bf.fp16.overflow, 0.25);
}

// ---- lost updates ----------------------------------------------------------------------

TEST(GradStats, UpdateLostSharesAgainstHalfAnUlp) {
  auto lost = [](float w, float d) {
    TensorPrecisionStats s;
    updateLostShares(torch::tensor({w}), torch::tensor({d}), s);
    return std::make_pair(s.updateLostShareFp16, s.updateLostShareBf16);
  };
  // fp16 ulp at 1.0 is 2^-10 (half: 4.9e-4), bf16's 2^-7 (half: 3.9e-3).
  EXPECT_EQ(lost(1.0f, 1e-4f), std::make_pair(1.0, 1.0));    // lost in both: FP32 master weights keep it
  EXPECT_EQ(lost(1.0f, -1e-4f), std::make_pair(1.0, 1.0));
  EXPECT_EQ(lost(1.0f, 1e-3f), std::make_pair(0.0, 1.0));    // fp16 keeps it, bf16 does not
  EXPECT_EQ(lost(1.0f, 1e-2f), std::make_pair(0.0, 0.0));
  EXPECT_EQ(lost(-1.5f, 1e-3f), std::make_pair(0.0, 1.0));   // same octave, same ulp
  // Exactly half an ulp counts as kept (strict comparison); just below it is lost.
  const float half16 = std::ldexp(1.0f, -11), halfBf = std::ldexp(1.0f, -8);
  EXPECT_EQ(lost(1.0f, half16).first, 0.0);
  EXPECT_EQ(lost(1.0f, below(half16)).first, 1.0);
  EXPECT_EQ(lost(1.0f, halfBf).second, 0.0);
  EXPECT_EQ(lost(1.0f, below(halfBf)).second, 1.0);
  EXPECT_EQ(lost(below(2.0f), half16).first, 0.0);            // the octave [1, 2): same ulp
  EXPECT_EQ(lost(2.0f, half16).first, 1.0);                   // [2, 4): twice the ulp
  // Below the smallest normal the ulp is the smallest subnormal: 2^-24 (fp16), 2^-133 (bf16).
  EXPECT_EQ(lost(1e-6f, std::ldexp(1.0f, -25)).first, 0.0);
  EXPECT_EQ(lost(0.0f, below(std::ldexp(1.0f, -25))).first, 1.0);
  EXPECT_EQ(lost(0.0f, std::ldexp(1.0f, -134)).second, 0.0);
  EXPECT_EQ(lost(0.0f, std::ldexp(1.0f, -135)).second, 1.0);
}

TEST(GradStats, UpdateLostShareIsOfTheNonzeroFiniteUpdates) {
  TensorPrecisionStats s;
  const float nan = std::numeric_limits<float>::quiet_NaN();
  updateLostShares(torch::ones({6}), torch::tensor({1e-4f, 1e-2f, 0.0f, 0.0f, nan, 1e-5f}), s);
  EXPECT_DOUBLE_EQ(s.updateLostShareFp16, 2.0 / 3.0);
  EXPECT_DOUBLE_EQ(s.updateLostShareBf16, 2.0 / 3.0);
  updateLostShares(torch::ones({3}), torch::zeros({3}), s);  // nothing moved
  EXPECT_EQ(s.updateLostShareFp16, 0.0);
  updateLostShares(torch::empty({0}), torch::empty({0}), s);
  EXPECT_EQ(s.updateLostShareBf16, 0.0);
  EXPECT_THROW(updateLostShares(torch::ones({3}), torch::ones({4}), s), std::invalid_argument);
}

// ---- the collector, the probe and overflow attribution ----------------------------------

namespace {

struct ProbeRun {
  std::shared_ptr<ClassifierImpl> model;
  torch::Tensor x, y;

  explicit ProbeRun(const std::string& name) {
    torch::manual_seed(11);
    model = createModel({name, 1, 3});
    x = torch::randn({4, 1, 32, 32});
    y = torch::tensor({0, 1, 2, 1}, torch::kLong);
  }
  void backward(double scale) {
    model->zero_grad();
    auto loss = torch::nn::functional::cross_entropy(model->forward(x), y);
    (loss * scale).backward();
  }
  std::vector<torch::Tensor> grads() {
    std::vector<torch::Tensor> out;
    for (const auto& p : model->parameters()) out.push_back(p.grad().clone());
    return out;
  }
};

std::vector<std::string> expectedBlocks(const std::string& model) {
  if (model == "small_cnn") return {"conv1", "conv2", "conv3", "conv4", "fc"};
  return {"conv1", "layer1.0", "layer1.1", "layer2.0", "layer2.1", "layer3.0", "layer3.1", "layer4.0", "layer4.1",
          "fc"};
}

}  // namespace

TEST(GradStats, ProbeRecordsEachBlockForwardAndBackwardWithoutChangingGradients) {
  for (const std::string name : {"small_cnn", "resnet18"}) {
    SCOPED_TRACE(name);
    ProbeRun run(name);
    const double scale = 1024.0;
    run.backward(scale);
    const auto plain = run.grads();

    PrecisionStatsCollector c(5);
    ASSERT_TRUE(c.sampling(10));
    c.beginStep(*run.model, 2, 10, scale);
    EXPECT_NE(run.model->probe(), nullptr);
    run.backward(scale);
    c.afterBackward(*run.model);
    EXPECT_EQ(run.model->probe(), nullptr) << "the probe is detached after backward";
    const auto probed = run.grads();
    ASSERT_EQ(plain.size(), probed.size());
    for (size_t i = 0; i < plain.size(); ++i) {
      EXPECT_TRUE(torch::equal(plain[i], probed[i])) << "gradient " << i << " changed under the probe";
    }
    torch::optim::SGD opt(run.model->parameters(), torch::optim::SGDOptions(0.1));
    opt.step();
    c.afterOptimizer(*run.model, true);
    const auto e = c.finish();
    EXPECT_EQ(e.step, 10);
    EXPECT_EQ(e.epoch, 2);
    EXPECT_EQ(e.lossScale, scale);

    const auto blocks = expectedBlocks(name);
    EXPECT_EQ(names(e, "activation"), blocks);  // network order
    EXPECT_EQ(names(e, "activation_grad"), std::vector<std::string>(blocks.rbegin(), blocks.rend()));  // backward
    std::vector<std::string> params;
    for (const auto& p : run.model->named_parameters()) params.push_back(p.key());
    EXPECT_EQ(names(e, "weight_grad"), params);
    EXPECT_EQ(names(e, "update"), params);
    // Grouped by kind in that order.
    std::vector<std::string> kinds;
    for (const auto& t : e.tensors) {
      if (kinds.empty() || kinds.back() != t.kind) kinds.push_back(t.kind);
    }
    EXPECT_EQ(kinds, (std::vector<std::string>{"activation", "activation_grad", "weight_grad", "update"}));

    // Weight gradients are read as scaled; the unscaled histogram is theirs divided by the scale.
    const auto& wg = *std::find_if(e.tensors.begin(), e.tensors.end(),
                                   [](const auto& t) { return t.kind == "weight_grad"; });
    const auto direct = tensorStats(plain[0] / scale, 1.0, "x", "g");
    EXPECT_EQ(wg.unscaled.bins, direct.unscaled.bins);
    EXPECT_EQ(wg.count, plain[0].numel());
    // The logits' count: batch x classes.
    EXPECT_EQ(std::find_if(e.tensors.begin(), e.tensors.end(), [](const auto& t) { return t.layer == "fc"; })->count,
              12);
    // The updates of SGD(0.1) are -0.1 * grad: nonzero.
    for (const auto& t : e.tensors) {
      if (t.kind == "update") EXPECT_LT(t.zeroShare, 1.0) << t.layer;
    }
  }
}

TEST(GradStats, ForwardWithoutProbeIsUnchangedAndNoGradForwardRecordsNoHooks) {
  ProbeRun run("resnet18");
  run.model->eval();
  const auto before = run.model->forward(run.x).detach();
  PrecisionStatsCollector c(1);
  c.beginStep(*run.model, 1, 1, 1.0);
  torch::Tensor probed;
  {
    torch::NoGradGuard noGrad;  // no graph: the probe records forward statistics only
    probed = run.model->forward(run.x);
  }
  EXPECT_TRUE(torch::equal(before, probed));
  const auto e = c.finish();
  EXPECT_EQ(names(e, "activation").size(), 10u);
  EXPECT_TRUE(names(e, "activation_grad").empty());
  EXPECT_EQ(run.model->probe(), nullptr) << "finish() detaches the probe";
  EXPECT_TRUE(torch::equal(before, run.model->forward(run.x).detach()));
}

TEST(GradStats, CollectorSamplesEveryNthStepAndIdlesOtherwise) {
  PrecisionStatsCollector off(0);
  EXPECT_FALSE(off.sampling(1));
  EXPECT_FALSE(off.sampling(100));
  PrecisionStatsCollector c(3);
  EXPECT_FALSE(c.sampling(1));
  EXPECT_FALSE(c.sampling(2));
  EXPECT_TRUE(c.sampling(3));
  EXPECT_FALSE(c.sampling(4));
  EXPECT_TRUE(c.sampling(6));
  EXPECT_THROW(PrecisionStatsCollector(-1), std::invalid_argument);
  // Calls without beginStep do nothing.
  ProbeRun run("small_cnn");
  run.backward(1.0);
  c.afterBackward(*run.model);
  c.afterOptimizer(*run.model, true);
  EXPECT_FALSE(c.active());
  const auto e = c.finish();
  EXPECT_EQ(e.step, 0);
  EXPECT_TRUE(e.tensors.empty());
  // A skipped optimizer step has no updates; a hook of a graph kept past its step records nothing.
  c.beginStep(*run.model, 1, 3, 8.0);
  auto loss = torch::nn::functional::cross_entropy(run.model->forward(run.x), run.y) * 8.0;
  loss.backward({}, /*retain_graph=*/true);
  c.afterBackward(*run.model);
  c.afterOptimizer(*run.model, false);
  const auto skipped = c.finish();
  EXPECT_FALSE(names(skipped, "weight_grad").empty());
  EXPECT_TRUE(names(skipped, "update").empty());
  loss.backward();  // the old hooks fire again, after finish(): nothing recorded, nothing crashes
  EXPECT_TRUE(c.finish().tensors.empty());
}

TEST(GradStats, OverflowAttributionNamesTheFirstLayerInBackwardOrder) {
  ProbeRun run("resnet18");
  PrecisionStatsCollector c(0);  // sampling off: weight gradients only
  run.backward(1.0);
  const auto params = run.model->named_parameters();
  params["conv1.weight"].mutable_grad().view(-1)[0] = std::nanf("");  // early layer: reached last in backward
  params["layer2.0.conv1.weight"].mutable_grad().view(-1)[5] = kInf;
  auto a = c.attributeOverflow(*run.model, 7);
  EXPECT_EQ(a.step, 7);
  EXPECT_EQ(a.layer, "layer2.0.conv1.weight");
  EXPECT_EQ(a.kind, "weight_grad");
  EXPECT_EQ(a.value, kInf);
  params["layer3.1.bn2.bias"].mutable_grad().view(-1)[0] = -kInf;
  a = c.attributeOverflow(*run.model, 7);
  EXPECT_EQ(a.layer, "layer3.1.bn2.bias");
  EXPECT_EQ(a.value, -kInf);
  // No inf/NaN (the scaler's sum check fired): the largest magnitude.
  run.backward(1.0);
  params["layer1.1.conv2.weight"].mutable_grad().view(-1)[3] = 1e37f;
  a = c.attributeOverflow(*run.model, 8);
  EXPECT_EQ(a.layer, "layer1.1.conv2.weight");
  EXPECT_FLOAT_EQ(static_cast<float>(a.value), 1e37f);
  // No gradients at all.
  run.model->zero_grad(/*set_to_none=*/true);
  EXPECT_EQ(c.attributeOverflow(*run.model, 9).layer, "");
}

TEST(GradStats, OverflowAttributionPrefersAnOverflowingForwardActivationOnSampledSteps) {
  ProbeRun run("small_cnn");
  {
    torch::NoGradGuard noGrad;
    run.model->named_parameters()["conv2.weight"].fill_(1e38f);  // stage 2's output overflows
  }
  PrecisionStatsCollector c(2);
  c.beginStep(*run.model, 1, 4, 1.0);
  run.backward(1.0);
  c.afterBackward(*run.model);
  c.afterOptimizer(*run.model, false);
  const auto e = c.finish();
  const auto& act = e.tensors.at(1);
  EXPECT_EQ(act.layer, "conv2");
  EXPECT_GT(act.unscaled.infs + act.unscaled.nans, 0);
  EXPECT_EQ(e.tensors.at(0).unscaled.infs, 0);
  auto a = c.attributeOverflow(*run.model, 4);
  EXPECT_EQ(a.kind, "activation");
  EXPECT_EQ(a.layer, "conv2");
  EXPECT_FALSE(std::isfinite(a.value));
  // Another step (not sampled): only the weight gradients speak.
  a = c.attributeOverflow(*run.model, 5);
  EXPECT_EQ(a.kind, "weight_grad");
  EXPECT_FALSE(a.layer.empty());
}

// ---- the run-dir files and the configuration -----------------------------------------------

TEST(GradStats, CsvWriterLongFormatNamesAndResume) {
  test::TempDir dir;
  PrecisionStatsEvent e;
  e.step = 3;
  e.lossScale = 1024.0;
  e.tensors.push_back(tensorStats(torch::tensor({std::ldexp(1.0f, -24) * 1024, 0.0f, kInf}), 1024.0,
                                  "layer1.0.conv1.weight", "weight_grad"));
  auto u = tensorStats(torch::tensor({1e-4f, 1e-2f}), 1.0, "fc.bias", "update");
  updateLostShares(torch::ones({2}), torch::tensor({1e-4f, 1e-2f}), u);
  e.tensors.push_back(u);
  {
    PrecisionStatsWriter w(dir.path(), 0);
    w.append(e);
    w.append(OverflowAttribution{5, "layer2.0.conv1.weight", "weight_grad", kInf});
  }
  const auto lines = readLines(dir / "grad_stats.csv");
  ASSERT_FALSE(lines.empty());
  EXPECT_EQ(lines[0], "step,layer,kind,statistic,value");
  std::map<std::string, std::string> grad, update;
  for (size_t i = 1; i < lines.size(); ++i) {
    std::vector<std::string> f;
    std::stringstream ss(lines[i]);
    for (std::string x; std::getline(ss, x, ',');) f.push_back(x);
    ASSERT_EQ(f.size(), 5u) << lines[i];
    EXPECT_EQ(f[0], "3");
    (f[2] == "update" ? update : grad)[f[3]] = f[4];
  }
  for (const std::string stat : {"count", "zero_share", "fp16_underflow_share", "fp16_subnormal_share",
                                 "fp16_overflow_share", "bf16_underflow_share", "bf16_subnormal_share",
                                 "bf16_overflow_share", "log2_bin_below", "log2_bin_above", "zero_count",
                                 "inf_count", "nan_count"}) {
    EXPECT_TRUE(grad.count(stat)) << stat;
    EXPECT_TRUE(grad.count(stat + "_scaled") || stat == "count" || stat == "zero_share") << stat;
    EXPECT_TRUE(update.count(stat)) << stat;
  }
  EXPECT_EQ(grad["count"], "3");
  EXPECT_EQ(grad["log2_bin_-24"], "1");         // unscaled 2^-24
  EXPECT_EQ(grad["log2_bin_-14_scaled"], "1");  // as scaled: 2^-14
  EXPECT_FALSE(grad.count("log2_bin_0")) << "empty bins have no row";
  EXPECT_EQ(grad["inf_count"], "1");
  EXPECT_EQ(grad["fp16_overflow_share"], "0.3333333");
  EXPECT_FALSE(grad.count("update_lost_share_fp16")) << "update rows are for kind update only";
  EXPECT_EQ(update["update_lost_share_fp16"], "0.5");
  EXPECT_EQ(update["update_lost_share_bf16"], "0.5");
  EXPECT_EQ(readLines(dir / "overflows.csv"),
            (std::vector<std::string>{"step,layer,kind,value", "5,layer2.0.conv1.weight,weight_grad,inf"}));

  // Resume after step 3 keeps step 3 and drops later rows; a fresh writer starts over.
  {
    PrecisionStatsWriter w(dir.path(), 3);
    e.step = 9;
    w.append(e);
    w.append(OverflowAttribution{9, "fc.weight", "weight_grad", kInf});
  }
  {
    PrecisionStatsWriter w(dir.path(), 4);
  }
  auto after = readLines(dir / "grad_stats.csv");
  EXPECT_EQ(after.size(), lines.size());
  EXPECT_EQ(readLines(dir / "overflows.csv").size(), 1u);  // steps 5 and 9 came after the resumed steps
  { PrecisionStatsWriter w(dir.path(), 0); }
  EXPECT_EQ(readLines(dir / "grad_stats.csv"), std::vector<std::string>{"step,layer,kind,statistic,value"});
}

TEST(GradStats, ConfigRoundTripsAndRefusesNegativeIntervals) {
  RunConfig c;
  c.dataPath = "synthetic";
  EXPECT_EQ(c.gradStatsEvery, 0);
  c.gradStatsEvery = 25;
  EXPECT_EQ(configFromJson(configToJson(c)).gradStatsEvery, 25);
  EXPECT_EQ(configFromJson("{}").gradStatsEvery, 0);
  EXPECT_NO_THROW(validateConfig(c));
  c.gradStatsEvery = 0;
  EXPECT_NO_THROW(validateConfig(c));
  c.gradStatsEvery = -1;
  try {
    validateConfig(c);
    FAIL() << "a negative interval was accepted";
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("--grad-stats"), std::string::npos) << e.what();
  }
}

