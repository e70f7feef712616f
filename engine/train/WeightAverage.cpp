#include "engine/train/WeightAverage.h"

#include "engine/train/Checkpoint.h"
#include "engine/util/Errors.h"

#include <torch/torch.h>

#include <algorithm>

namespace ampbench {

namespace {

std::vector<torch::Tensor> stateTensors(ClassifierImpl& model) {
  std::vector<torch::Tensor> out;
  for (auto& [name, t] : namedState(model)) {
    out.push_back(t);
  }
  return out;
}

torch::Tensor averageCopy(const torch::Tensor& t) {
  return t.is_floating_point() ? t.detach().to(torch::kFloat, /*non_blocking=*/false, /*copy=*/true)
                               : t.detach().clone();
}

}  // namespace

WeightAverage::WeightAverage(ClassifierImpl& model, double decay) : decay_(decay) { reset(model); }

double WeightAverage::decayAt(double decay, int64_t n) {
  return std::min(decay, (1.0 + static_cast<double>(n)) / (10.0 + static_cast<double>(n)));
}

void WeightAverage::reset(ClassifierImpl& model) {
  torch::NoGradGuard noGrad;
  tensors_.clear();
  for (const auto& t : stateTensors(model)) {
    tensors_.push_back(averageCopy(t));
  }
  updates_ = 0;
}

void WeightAverage::update(ClassifierImpl& model) {
  torch::NoGradGuard noGrad;
  const auto live = stateTensors(model);
  const double d = decayAt(decay_, updates_);
  for (size_t i = 0; i < tensors_.size(); ++i) {
    if (tensors_[i].is_floating_point()) {
      // avg + (1 - d) * (w - avg) = d * avg + (1 - d) * w, in fp32 whatever w's type.
      tensors_[i].lerp_(live[i].detach().to(torch::kFloat), 1.0 - d);
    } else {
      tensors_[i].copy_(live[i]);
    }
  }
  ++updates_;
}

void WeightAverage::copyTo(ClassifierImpl& model) const {
  torch::NoGradGuard noGrad;
  auto live = stateTensors(model);
  for (size_t i = 0; i < live.size(); ++i) {
    live[i].detach().copy_(tensors_[i]);
  }
}

void WeightAverage::save(torch::serialize::OutputArchive& archive) const {
  archive.write("decay", torch::tensor({decay_}, torch::kDouble));
  archive.write("updates", torch::tensor({updates_}, torch::kLong));
  for (size_t i = 0; i < tensors_.size(); ++i) {
    // Buffers, not parameters: a parameter's requires_grad would come back set.
    archive.write("t" + std::to_string(i), tensors_[i], /*is_buffer=*/true);
  }
}

void WeightAverage::load(torch::serialize::InputArchive& archive, const std::string& source) {
  torch::NoGradGuard noGrad;
  torch::Tensor updates;
  if (!archive.try_read("updates", updates)) {
    throw InputError("'" + source + "' has a damaged weight average (no update count): start a new run");
  }
  for (size_t i = 0; i < tensors_.size(); ++i) {
    torch::Tensor t;
    if (!archive.try_read("t" + std::to_string(i), t) || t.sizes() != tensors_[i].sizes()) {
      throw InputError("'" + source + "' holds a weight average that does not fit this model (tensor " +
                       std::to_string(i) + "): was it written by a run of the same model?");
    }
    tensors_[i].copy_(t);
  }
  updates_ = updates.item<int64_t>();
}

EvaluationWeights::EvaluationWeights(ClassifierImpl& model, const WeightAverage* average,
                                     const std::function<void(ClassifierImpl&)>& hold)
    : model_(model) {
  if (!average) {
    return;
  }
  torch::NoGradGuard noGrad;
  for (const auto& t : stateTensors(model_)) {
    training_.push_back(t.detach().clone());
  }
  try {
    average->copyTo(model_);
    if (hold) {
      hold(model_);
    }
  } catch (...) {
    restoreTraining();  // no destructor runs for a constructor that throws
    throw;
  }
}

EvaluationWeights::~EvaluationWeights() { restoreTraining(); }

void EvaluationWeights::restoreTraining() {
  if (training_.empty()) {
    return;
  }
  torch::NoGradGuard noGrad;
  auto live = stateTensors(model_);
  for (size_t i = 0; i < live.size(); ++i) {
    live[i].detach().copy_(training_[i]);
  }
}

}  // namespace ampbench
