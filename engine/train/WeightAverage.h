#pragma once
// An exponential moving average of a model's weights (--ema-decay), the copy a run
// validates, evaluates and exports, and the RAII swap that puts it into the model for
// that. Engine-internal (torch).

#include "engine/models/Registry.h"

#include <torch/serialize/archive.h>

#include <functional>
#include <string>
#include <vector>

namespace ampbench {

// An fp32 copy of the parameters and buffers (batch-norm running statistics too: weights
// averaged over steps need statistics that match them, as timm's ModelEmaV2 does), in
// namedState order. After the n-th applied optimizer step (n from 0) every floating tensor
// moves as avg = d * avg + (1 - d) * w with d = min(decay, (1 + n) / (10 + n)): the
// warm-up of TensorFlow's ExponentialMovingAverage(num_updates), so a short run's average
// is not dominated by its random initial weights. Integer buffers (num_batches_tracked)
// are copied. Steps the loss scaler skips do not count.
class WeightAverage {
 public:
  WeightAverage(ClassifierImpl& model, double decay);

  // The decay of update number n (0-based).
  static double decayAt(double decay, int64_t n);
  // Starts over from the model's current weights (no updates counted).
  void reset(ClassifierImpl& model);
  void update(ClassifierImpl& model);
  int64_t updates() const { return updates_; }
  double decay() const { return decay_; }
  // The averaged tensors (fp32, or the buffer's integer type), in namedState order.
  std::vector<torch::Tensor>& tensors() { return tensors_; }
  const std::vector<torch::Tensor>& tensors() const { return tensors_; }
  // Copies the average into `model`'s parameters and buffers.
  void copyTo(ClassifierImpl& model) const;

  // checkpoint.pt's "ema" section. load() throws InputError naming `source` when the
  // section does not fit the model.
  void save(torch::serialize::OutputArchive& archive) const;
  void load(torch::serialize::InputArchive& archive, const std::string& source);

 private:
  double decay_;
  int64_t updates_ = 0;
  std::vector<torch::Tensor> tensors_;
};

// While alive, `model` holds the average's weights (nothing changes when `average` is
// null: --ema-decay 0); the training weights come back when it goes. Validation, best.pt
// and the end-of-run evaluations run inside one.
class EvaluationWeights {
 public:
  // `hold`, when given, brings the average to what the run's weights can hold (the pure
  // FP16/BF16 what-if modes round their weights: an fp32 average would hide that damage).
  EvaluationWeights(ClassifierImpl& model, const WeightAverage* average,
                    const std::function<void(ClassifierImpl&)>& hold = {});
  ~EvaluationWeights();
  EvaluationWeights(const EvaluationWeights&) = delete;
  EvaluationWeights& operator=(const EvaluationWeights&) = delete;

 private:
  void restoreTraining();  // puts the training weights back (nothing when none were swapped)

  ClassifierImpl& model_;
  std::vector<torch::Tensor> training_;  // empty: nothing was swapped
};

}  // namespace ampbench
