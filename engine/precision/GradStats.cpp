#include "engine/precision/GradStats.h"

#include <ATen/Parallel.h>
#include <torch/torch.h>

#include <array>
#include <cmath>
#include <cstring>
#include <limits>
#include <mutex>
#include <stdexcept>

namespace ampbench {

namespace {

// One pass over a float buffer: on 2.4M elements (one thread, this CPU) 30 ms, against
// 350 ms for the same statistics as ~20 tensor ops (abs, log2, histc, a comparison and a
// sum per threshold, in double so the thresholds are exact).
struct Counts {
  std::array<int64_t, kLog2BinCount> bins{};
  int64_t below = 0, above = 0, zeros = 0, infs = 0, nans = 0;
  int64_t under16 = 0, sub16 = 0, over16 = 0, underBf = 0, subBf = 0, overBf = 0;

  void add(const Counts& o) {
    for (int i = 0; i < kLog2BinCount; ++i) bins[i] += o.bins[i];
    below += o.below, above += o.above, zeros += o.zeros, infs += o.infs, nans += o.nans;
    under16 += o.under16, sub16 += o.sub16, over16 += o.over16;
    underBf += o.underBf, subBf += o.subBf, overBf += o.overBf;
  }
};

// floor(log2 a) for a finite a > 0 that is a normal double (every float32 value, and
// every float32 divided by a loss scale in (2^-800, 2^800), is one).
inline int floorLog2(double a) {
  uint64_t bits;
  std::memcpy(&bits, &a, sizeof bits);
  const int field = static_cast<int>((bits >> 52) & 0x7ff);
  return field == 0 ? std::ilogb(a) : field - 1023;  // double subnormal: the slow way
}

inline void classify(double a, Counts& c) {  // a = |x|
  if (std::isnan(a)) {
    ++c.nans;
    return;
  }
  if (std::isinf(a)) {
    ++c.infs, ++c.over16, ++c.overBf;
    return;
  }
  if (a == 0.0) {
    ++c.zeros;
    return;
  }
  const int bin = floorLog2(a) - kLog2MinExp;
  if (bin < 0) {
    ++c.below;
  } else if (bin >= kLog2BinCount) {
    ++c.above;
  } else {
    ++c.bins[bin];
  }
  if (a <= kFp16UnderflowMax) {
    ++c.under16;
  } else if (a < kFp16MinNormal) {
    ++c.sub16;
  } else if (a >= kFp16OverflowMin) {
    ++c.over16;
  }
  if (a <= kBf16UnderflowMax) {
    ++c.underBf;
  } else if (a < kBf16MinNormal) {
    ++c.subBf;
  } else if (a >= kBf16OverflowMin) {
    ++c.overBf;
  }
}

torch::Tensor cpuFloat(const torch::Tensor& t) {
  return t.detach().to(torch::kCPU, torch::kFloat).contiguous();
}

void fill(const Counts& c, int64_t count, Log2Histogram& h, FormatShares& fp16, FormatShares& bf16) {
  h.bins.assign(c.bins.begin(), c.bins.end());
  h.below = c.below, h.above = c.above, h.zeros = c.zeros, h.infs = c.infs, h.nans = c.nans;
  const double n = count > 0 ? static_cast<double>(count) : 1.0;  // all counts are 0 then
  fp16 = {c.under16 / n, c.sub16 / n, c.over16 / n};
  bf16 = {c.underBf / n, c.subBf / n, c.overBf / n};
}

constexpr int64_t kGrain = 1 << 16;

}  // namespace

TensorPrecisionStats tensorStats(const torch::Tensor& scaledValues, double lossScale, std::string layer,
                                 std::string kind) {
  if (!(std::isfinite(lossScale) && lossScale > 0)) {
    throw std::invalid_argument("tensorStats: the loss scale must be finite and > 0");
  }
  TensorPrecisionStats s;
  s.layer = std::move(layer);
  s.kind = std::move(kind);
  if (!scaledValues.defined()) {
    return s;
  }
  torch::NoGradGuard noGrad;
  const auto t = cpuFloat(scaledValues);
  const float* x = t.data_ptr<float>();
  const int64_t n = t.numel();
  const bool sameScale = lossScale == 1.0;
  Counts unscaled, scaled;
  std::mutex merge;
  at::parallel_for(0, n, kGrain, [&](int64_t begin, int64_t end) {
    Counts u, sc;
    for (int64_t i = begin; i < end; ++i) {
      const double a = std::fabs(static_cast<double>(x[i]));
      classify(a, sc);
      if (!sameScale) {
        classify(a / lossScale, u);
      }
    }
    std::lock_guard<std::mutex> lock(merge);
    scaled.add(sc);
    unscaled.add(sameScale ? sc : u);
  });
  s.count = n;
  s.zeroShare = n > 0 ? static_cast<double>(scaled.zeros) / n : 0.0;
  fill(unscaled, n, s.unscaled, s.fp16, s.bf16);
  fill(scaled, n, s.scaled, s.fp16Scaled, s.bf16Scaled);
  return s;
}

void updateLostShares(const torch::Tensor& weightBefore, const torch::Tensor& update, TensorPrecisionStats& s) {
  if (!weightBefore.sizes().equals(update.sizes())) {
    throw std::invalid_argument("updateLostShares: the weight and its update differ in shape");
  }
  torch::NoGradGuard noGrad;
  const auto w = cpuFloat(weightBefore);
  const auto u = cpuFloat(update);
  const float* wp = w.data_ptr<float>();
  const float* up = u.data_ptr<float>();
  int64_t nonzero = 0, lost16 = 0, lostBf = 0;
  std::mutex merge;
  at::parallel_for(0, w.numel(), kGrain, [&](int64_t begin, int64_t end) {
    int64_t nz = 0, l16 = 0, lbf = 0;
    for (int64_t i = begin; i < end; ++i) {
      const double d = std::fabs(static_cast<double>(up[i]));
      const double a = std::fabs(static_cast<double>(wp[i]));
      if (!(d > 0.0 && std::isfinite(d) && std::isfinite(a))) {
        continue;  // no update, or no number to compare
      }
      ++nz;
      // |d| < 2^k  <=>  floor(log2 |d|) < k, and half an ulp is a power of two.
      const int ed = floorLog2(d);
      l16 += ed < (a >= kFp16MinNormal ? floorLog2(a) - 11 : -25);
      lbf += ed < (a >= kBf16MinNormal ? floorLog2(a) - 8 : -134);
    }
    std::lock_guard<std::mutex> lock(merge);
    nonzero += nz, lost16 += l16, lostBf += lbf;
  });
  s.updateLostShareFp16 = nonzero > 0 ? static_cast<double>(lost16) / nonzero : 0.0;
  s.updateLostShareBf16 = nonzero > 0 ? static_cast<double>(lostBf) / nonzero : 0.0;
}

// ---------------------------------------------------------------------------------------

struct PrecisionStatsCollector::State {
  std::mutex mutex;  // the hooks run on the autograd engine's thread for device tensors
  bool active = false;
  int64_t epoch = 0, step = 0;
  double lossScale = 1.0;
  std::vector<TensorPrecisionStats> activations, activationGrads, weightGrads, updates;
  std::vector<std::pair<std::string, torch::Tensor>> weightsBefore;
  // First forward activation that held inf/NaN in the last sampled step (kept past finish()).
  int64_t forwardOverflowStep = 0;
  std::string forwardOverflowLayer;
  double forwardOverflowValue = 0.0;
};

class PrecisionStatsCollector::Probe : public ActivationProbe {
 public:
  explicit Probe(std::shared_ptr<State> state) : state_(std::move(state)) {}

  void record(const std::string& name, const torch::Tensor& x) override {
    auto st = tensorStats(x, 1.0, name, "activation");
    std::lock_guard<std::mutex> lock(state_->mutex);
    if (!state_->active) {
      return;
    }
    if (state_->forwardOverflowStep != state_->step && (st.unscaled.infs > 0 || st.unscaled.nans > 0)) {
      state_->forwardOverflowStep = state_->step;
      state_->forwardOverflowLayer = name;
      state_->forwardOverflowValue =
          st.unscaled.infs > 0 ? std::numeric_limits<double>::infinity() : std::numeric_limits<double>::quiet_NaN();
    }
    state_->activations.push_back(std::move(st));
    if (x.requires_grad()) {
      // A void hook observes the gradient and leaves it unchanged. It holds the state
      // weakly and checks the step, so a graph kept past its step records nothing.
      std::weak_ptr<State> weak = state_;
      const int64_t step = state_->step;
      x.register_hook([weak, step, name](const torch::Tensor& grad) {
        auto s = weak.lock();
        if (!s) {
          return;
        }
        double scale;
        {
          std::lock_guard<std::mutex> lock(s->mutex);
          if (!s->active || s->step != step) {
            return;
          }
          scale = s->lossScale;
        }
        auto gs = tensorStats(grad, scale, name, "activation_grad");
        std::lock_guard<std::mutex> lock(s->mutex);
        s->activationGrads.push_back(std::move(gs));
      });
    }
  }

 private:
  std::shared_ptr<State> state_;
};

PrecisionStatsCollector::PrecisionStatsCollector(int64_t every)
    : every_(every), state_(std::make_shared<State>()), probe_(std::make_unique<Probe>(state_)) {
  if (every < 0) {
    throw std::invalid_argument("PrecisionStatsCollector: the sampling interval must be >= 0");
  }
}

PrecisionStatsCollector::~PrecisionStatsCollector() {
  if (attached_ && attached_->probe() == probe_.get()) {
    attached_->setProbe(nullptr);
  }
}

bool PrecisionStatsCollector::active() const {
  std::lock_guard<std::mutex> lock(state_->mutex);
  return state_->active;
}

void PrecisionStatsCollector::beginStep(ClassifierImpl& model, int64_t epoch, int64_t step, double lossScale) {
  if (!(std::isfinite(lossScale) && lossScale > 0)) {
    throw std::invalid_argument("PrecisionStatsCollector: the loss scale must be finite and > 0");
  }
  {
    std::lock_guard<std::mutex> lock(state_->mutex);
    state_->active = true;
    state_->epoch = epoch;
    state_->step = step;
    state_->lossScale = lossScale;
    state_->activations.clear();
    state_->activationGrads.clear();
    state_->weightGrads.clear();
    state_->updates.clear();
    state_->weightsBefore.clear();
  }
  model.setProbe(probe_.get());
  attached_ = &model;
}

void PrecisionStatsCollector::afterBackward(ClassifierImpl& model) {
  if (!active()) {
    return;
  }
  if (model.probe() == probe_.get()) {
    model.setProbe(nullptr);
  }
  attached_ = nullptr;
  torch::NoGradGuard noGrad;
  std::vector<TensorPrecisionStats> grads;
  std::vector<std::pair<std::string, torch::Tensor>> before;
  for (const auto& p : model.named_parameters()) {
    const auto& g = p.value().grad();
    if (!g.defined()) {
      continue;  // frozen, or not used this step: the optimizer leaves it alone too
    }
    grads.push_back(tensorStats(g, state_->lossScale, p.key(), "weight_grad"));
    before.emplace_back(p.key(), p.value().detach().clone());
  }
  std::lock_guard<std::mutex> lock(state_->mutex);
  state_->weightGrads = std::move(grads);
  state_->weightsBefore = std::move(before);
}

void PrecisionStatsCollector::afterOptimizer(ClassifierImpl& model, bool stepped) {
  if (!active()) {
    return;
  }
  std::vector<std::pair<std::string, torch::Tensor>> before;
  {
    std::lock_guard<std::mutex> lock(state_->mutex);
    before.swap(state_->weightsBefore);
  }
  if (!stepped) {
    return;  // a skipped step changed no weight
  }
  torch::NoGradGuard noGrad;
  const auto params = model.named_parameters();
  std::vector<TensorPrecisionStats> updates;
  for (const auto& [name, w0] : before) {
    const auto* p = params.find(name);
    if (!p) {
      continue;
    }
    const auto update = p->detach() - w0;
    auto st = tensorStats(update, 1.0, name, "update");
    updateLostShares(w0, update, st);
    updates.push_back(std::move(st));
  }
  std::lock_guard<std::mutex> lock(state_->mutex);
  state_->updates = std::move(updates);
}

PrecisionStatsEvent PrecisionStatsCollector::finish() {
  if (attached_) {
    if (attached_->probe() == probe_.get()) {
      attached_->setProbe(nullptr);
    }
    attached_ = nullptr;
  }
  PrecisionStatsEvent e;
  std::lock_guard<std::mutex> lock(state_->mutex);
  if (!state_->active) {
    return e;
  }
  e.epoch = state_->epoch;
  e.step = state_->step;
  e.lossScale = state_->lossScale;
  for (auto* group : {&state_->activations, &state_->activationGrads, &state_->weightGrads, &state_->updates}) {
    for (auto& t : *group) {
      e.tensors.push_back(std::move(t));
    }
    group->clear();
  }
  state_->weightsBefore.clear();
  state_->active = false;
  return e;
}

OverflowAttribution PrecisionStatsCollector::attributeOverflow(ClassifierImpl& model, int64_t step) const {
  OverflowAttribution a;
  a.step = step;
  {
    std::lock_guard<std::mutex> lock(state_->mutex);
    if (state_->forwardOverflowStep == step && step != 0) {
      a.layer = state_->forwardOverflowLayer;
      a.kind = "activation";
      a.value = state_->forwardOverflowValue;
      return a;
    }
  }
  torch::NoGradGuard noGrad;
  std::vector<std::string> names;
  std::vector<torch::Tensor> grads, nonFinite, largest;
  for (const auto& p : model.named_parameters()) {
    const auto& g = p.value().grad();
    if (g.defined() && g.numel() > 0) {
      names.push_back(p.key());
      grads.push_back(g);
      nonFinite.push_back(torch::isfinite(g).logical_not().any());
      largest.push_back(g.abs().max().to(torch::kFloat));
    }
  }
  if (grads.empty()) {
    return a;
  }
  // Two host syncs in all, not one per parameter.
  const auto flags = torch::stack(nonFinite).to(torch::kCPU);
  const auto* f = flags.data_ptr<bool>();
  a.kind = "weight_grad";
  for (int64_t i = static_cast<int64_t>(grads.size()) - 1; i >= 0; --i) {
    if (f[i]) {
      const auto& g = grads[i];
      a.layer = names[i];
      a.value = g.masked_select(torch::isfinite(g).logical_not()).index({0}).item<double>();
      return a;
    }
  }
  const auto mags = torch::stack(largest).to(torch::kCPU);
  const auto i = mags.argmax().item<int64_t>();
  a.layer = names[i];
  a.value = mags[i].item<double>();
  return a;
}

}  // namespace ampbench
