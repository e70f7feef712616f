#pragma once
// Loading a finished run's (or an exported model's) network for inference: evaluation,
// prediction and Grad-CAM share it. Engine-internal (torch).

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
  std::string weights;  // checkpoint.pt or model.pt
  bool exportedModel = false;  // a model folder / model.pt with model.json, not a run
};

// Throws InputError when the path is missing, is neither a run nor an exported model, or
// holds no weights yet.
RunInfo readRunInfo(const std::string& runOrModel);

// The model in fp32 on `device`, contiguous, in eval mode, weights loaded.
std::shared_ptr<ClassifierImpl> loadModel(const RunInfo& info, const torch::Device& device);

// An image as the model takes it: `image` uint8 C x S x S (decodeToTensor) becomes a
// 1 x C x S x S float batch, /255 and normalised with the run's mean/std. Prediction and
// Grad-CAM share it so both see exactly what training saw.
torch::Tensor modelInput(const RunInfo& info, const torch::Tensor& image);

}  // namespace ampbench
