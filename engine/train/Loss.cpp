#include "engine/train/Loss.h"

#include <torch/torch.h>

namespace ampbench {

torch::Tensor classificationLoss(const torch::Tensor& logits, const torch::Tensor& labels,
                                 const torch::Tensor& classWeights, double smoothing) {
  const auto x = logits.to(torch::kFloat);
  if (smoothing <= 0) {
    return torch::nn::functional::cross_entropy(
        x, labels, torch::nn::functional::CrossEntropyFuncOptions().weight(classWeights));
  }
  const auto logp = torch::log_softmax(x, 1);
  const auto nll = -logp.gather(1, labels.view({-1, 1})).squeeze(1);
  const auto uniform = -logp.mean(1);
  const auto perImage = nll * (1.0 - smoothing) + uniform * smoothing;
  if (!classWeights.defined()) {
    return perImage.mean();
  }
  const auto w = classWeights.to(torch::kFloat).index_select(0, labels);
  return (perImage * w).sum() / w.sum();
}

}  // namespace ampbench
