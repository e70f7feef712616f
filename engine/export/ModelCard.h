#pragma once
// model.json (the model card) and MODEL_CARD.md rendered from it. Torch-free.
//
// model.json keeps the keys inference reads (Inference.cpp readRunInfo): "model",
// "classes" (in output order) and "input": {"image_size", "channels", "mean", "std"};
// everything else is description: layout and value range, preprocessing steps, the
// precision the model was trained with (and whether it was emulated), the loss scaler's
// summary, the dataset and its split counts, validation (and test) metrics, training
// time, versions, seed and dates, intended use and limits.

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

namespace ampbench {

// What the export adds to what the run directory already says.
struct ModelCardExtras {
  std::vector<std::pair<std::string, std::string>> files;  // file name -> what it is
  std::string architecture;                                 // one line
  int64_t parameterCount = 0;
  bool onnxFp16Weights = false;
  bool foldBatchNorm = false;
  std::vector<std::string> onnxOps;  // operator types in model.onnx (empty: no ONNX file)
};

// Builds model.json's text from a run dir's config.json, dataset.json and metrics.json
// (metrics.json may be missing: the card then says the run has no final metrics).
// Throws InputError when config.json or dataset.json is missing or unreadable.
std::string buildModelCard(const std::string& runDir, const ModelCardExtras& extras);

// MODEL_CARD.md: the card for people, from model.json's text.
std::string renderModelCardMarkdown(const std::string& cardJson);

}  // namespace ampbench
