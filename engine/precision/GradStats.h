#pragma once
// What FP16 and BF16 would do to a run's gradients, activations and weight updates
// (issue 13), measured on sampled steps of an fp32-master-weight run.
//
// Definitions (x: one element; |x| computed in double, exact for any float32 input):
// - `unscaled` is scaled / lossScale (the true value); `scaled` is the tensor as given.
// - Histogram bin i counts 2^(kLog2MinExp+i) <= |x| < 2^(kLog2MinExp+i+1); smaller nonzero
//   values go to `below`, finite values >= 2^kLog2MaxExp to `above`; zeros, infs and NaNs
//   are counted apart and never binned.
// - Every share is a fraction of `count` (all elements, zeros and non-finite included), so
//   the shares of a tensor with no elements are 0, never NaN:
//     underflow: nonzero finite values that round to zero under round-to-nearest-even.
//                FP16: |x| <= 2^-25 (half the smallest subnormal 2^-24; the tie goes to 0).
//                BF16: |x| <= 2^-134 (half of 2^-133; the tie goes to 0).
//     subnormal: values above that and below the smallest normal, where precision is lost.
//                FP16: 2^-25 < |x| < 2^-14.  BF16: 2^-134 < |x| < 2^-126.
//     overflow:  values that are inf in the format: finite values that round past its
//                largest finite value, and infs. FP16: |x| >= 65520 (65504 + half an ulp;
//                the tie goes to the even 65536, i.e. inf). BF16: |x| >= (2 - 2^-8) * 2^127.
//   NaNs are in none of them.
// - An update is lost in a format when |update| < half an ulp of the weight it is added
//   to: ulp = 2^(floor(log2|w|) - 10) for |w| >= 2^-14 in FP16 (2^-24 below), and
//   2^(floor(log2|w|) - 7) for |w| >= 2^-126 in BF16 (2^-133 below). The comparison is
//   strict: an update of exactly half an ulp, which round-to-even loses only when the
//   weight's last bit is even, counts as kept, so the share is a lower bound. The share is
//   of the nonzero finite updates to finite weights (0 when there are none). FP32 master
//   weights keep these updates. The weight's exponent is read from its fp32 value.

#include "engine/core/Events.h"
#include "engine/models/Registry.h"

#include <torch/types.h>

#include <memory>
#include <string>
#include <vector>

namespace ampbench {

// Thresholds of the definitions above (exact binary values).
constexpr double kFp16UnderflowMax = 0x1p-25;   // <= rounds to zero
constexpr double kFp16MinNormal = 0x1p-14;
constexpr double kFp16OverflowMin = 65520.0;    // >= rounds to inf
constexpr double kBf16UnderflowMax = 0x1p-134;
constexpr double kBf16MinNormal = 0x1p-126;
constexpr double kBf16OverflowMin = 0x1.ffp127;  // (2 - 2^-8) * 2^127 ~ 3.3961e38

// Statistics of one tensor (any floating dtype or device; read on the CPU in one pass).
// `lossScale` must be finite and > 0 (std::invalid_argument otherwise); pass 1 for values
// the loss scale does not touch (activations, weights, updates).
TensorPrecisionStats tensorStats(const torch::Tensor& scaledValues, double lossScale, std::string layer,
                                 std::string kind);

// Fills s.updateLostShareFp16 / Bf16 for `update` (= weight after - weight before, fp32)
// added to `weightBefore`. Shapes must match (std::invalid_argument otherwise).
void updateLostShares(const torch::Tensor& weightBefore, const torch::Tensor& update, TensorPrecisionStats& s);

// Drives the statistics of sampled steps from the training loop. On a sampled step:
//
//   if (collector.sampling(step)) collector.beginStep(*model, epoch, step, lossScale);
//   logits = model->forward(x); ... scaled_loss.backward();
//   collector.afterBackward(*model);           // before unscaling / clipping
//   ... scaler.step(optimizer) ...
//   collector.afterOptimizer(*model, stepped);
//   observer.onPrecisionStats(collector.finish());
//
// The other calls do nothing unless beginStep started a step, so the loop may call them on
// every step. Event order: "activation" (network order), "activation_grad" (backward
// order, as the hooks fired), "weight_grad" (parameter order), "update" (parameter order;
// none when the optimizer skipped the step).
class PrecisionStatsCollector {
 public:
  explicit PrecisionStatsCollector(int64_t every);  // 0 = off
  ~PrecisionStatsCollector();
  PrecisionStatsCollector(const PrecisionStatsCollector&) = delete;
  PrecisionStatsCollector& operator=(const PrecisionStatsCollector&) = delete;

  int64_t every() const { return every_; }
  // True for global steps (1-based) N, 2N, 3N, ... when on.
  bool sampling(int64_t globalStep) const { return every_ > 0 && globalStep > 0 && globalStep % every_ == 0; }
  bool active() const;

  // Attaches the activation probe to `model` for this step's forward. `lossScale` is what
  // this step's loss is multiplied by (1 without loss scaling).
  void beginStep(ClassifierImpl& model, int64_t epoch, int64_t step, double lossScale);
  // Detaches the probe; weight_grad statistics of every parameter's .grad() as the loss
  // scaler produced it; keeps a copy of the weights for the updates.
  void afterBackward(ClassifierImpl& model);
  // Update statistics (after - before) when the optimizer stepped; frees the copy.
  void afterOptimizer(ClassifierImpl& model, bool stepped);
  // The step's event; ends the step (detaching the probe if still attached). An empty
  // event (step 0) when no step was started.
  PrecisionStatsEvent finish();

  // At a step whose gradients overflowed (call before the gradients are zeroed): the
  // first forward activation (network order) that held inf/NaN, when this step was
  // sampled and one did; otherwise the first parameter in backward order (the reverse of
  // the parameter order) whose gradient holds inf/NaN, with that value; when none does
  // (the loss scaler also flags gradients whose sum overflows), the parameter with the
  // largest |gradient| and that magnitude. Activations are only known on sampled steps;
  // weight gradients always. Layer "" when no parameter has a gradient.
  OverflowAttribution attributeOverflow(ClassifierImpl& model, int64_t step) const;

 private:
  struct State;
  class Probe;
  int64_t every_;
  std::shared_ptr<State> state_;  // shared with the gradient hooks, which may outlive a step
  std::unique_ptr<Probe> probe_;
  ClassifierImpl* attached_ = nullptr;
};

}  // namespace ampbench
