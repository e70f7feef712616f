#pragma once
// Loading a finished run's (or an exported model's) network for inference: evaluation,
// prediction and Grad-CAM share it. Engine-internal (torch).

#include "engine/core/Evaluation.h"
#include "engine/core/RunConfig.h"
#include "engine/models/Registry.h"

#include <torch/types.h>

#include <memory>
#include <string>
#include <vector>

namespace ampbench {

// What inference needs from a run: its configuration, classes and the training
// normalisation (never recomputed from the data being evaluated).
struct RunInfo {
  RunConfig config;
  std::vector<std::string> classes;
  std::vector<double> mean, std;
  std::string weights;  // best.pt (the selected epoch), else checkpoint.pt; or model.pt
  bool exportedModel = false;  // a model folder / model.pt with model.json, not a run
  // How a class is called: the run's decision.json (a threshold chosen on validation, or
  // set by the user), or the exported model card's "decision"; 0.5 when neither has one.
  // Prediction, Grad-CAM and evaluation all call classes by it.
  DecisionThreshold decision;
};

// Throws InputError when the path is missing, is neither a run nor an exported model, or
// holds no weights yet.
RunInfo readRunInfo(const std::string& runOrModel);

// The class one image's probabilities (class order) are called: two classes at the run's
// threshold, else the most probable; -1 when a probability is not finite.
int64_t decideClass(const RunInfo& info, const std::vector<float>& probabilities);
// The rule in words: "P(PNEUMONIA) >= 0.31 (youden on val)", or "the most probable class".
std::string decisionRule(const RunInfo& info);

// The model in fp32 on `device`, contiguous, in eval mode, weights loaded.
std::shared_ptr<ClassifierImpl> loadModel(const RunInfo& info, const torch::Device& device);

// An image as the model takes it: `image` uint8 C x S x S (decodeToTensor) becomes a
// 1 x C x S x S float batch, /255 and normalised with the run's mean/std. Prediction and
// Grad-CAM share it so both see exactly what training saw.
torch::Tensor modelInput(const RunInfo& info, const torch::Tensor& image);

}  // namespace ampbench
