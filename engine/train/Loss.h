#pragma once
// The training loss. Engine-internal (torch).

#include <torch/types.h>

namespace ampbench {

// Cross-entropy of `logits` [N, C] against `labels` [N], in fp32 whatever the logits' type.
// `classWeights` [C] (--balance loss; undefined = none) weights each image by its true
// class: sum_i w(y_i) l_i / sum_i w(y_i), as torch's weighted mean. With `smoothing` e > 0
// the target is (1 - e) * one-hot + e / C, so l_i = (1 - e) * -log p(y_i) + e * mean_c -log p(c);
// the weight stays the true class's (torch's own label_smoothing weights the e-term per
// class instead, which lets a rare class's weight leak into every image's loss).
torch::Tensor classificationLoss(const torch::Tensor& logits, const torch::Tensor& labels,
                                 const torch::Tensor& classWeights, double smoothing);

}  // namespace ampbench
