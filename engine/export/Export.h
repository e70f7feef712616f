#pragma once
// Export of a trained run as files other tools load: model.onnx (ONNX Runtime, OpenCV
// DNN), model.pt (PyTorch / LibTorch, torchvision names) and model.json + MODEL_CARD.md.
// Torch-free header: the CLI and the Qt UI call it. Runs synchronously on the caller's
// thread (a worker thread in the GUI). See docs/EXPORT.md for the file contracts.

#include <string>
#include <vector>

namespace ampbench {

struct ExportOptions {
  bool onnx = true;
  bool torch = true;
  bool card = true;
  bool onnxFp16Weights = false;  // ONNX: float16 weights, float32 inputs/outputs
  bool foldBatchNorm = false;    // ONNX: batch norm folded into the convolutions
};

// Sets onnx/torch/card from a comma-separated list ("onnx,torch,card", any subset, or
// "all"), keeping the other fields of `base`. Throws InputError naming the formats.
ExportOptions parseExportFormats(const std::string& list, ExportOptions base = {});

// Exports the model of a finished run (its checkpoint.pt, config.json, dataset.json,
// metrics.json) into outDir (created if needed; may be the run dir itself). Every file is
// written to a temporary name and renamed. Returns the paths written. Throws InputError
// when the run dir is incomplete, the format cannot be written (ONNX without libonnx),
// or the model type is unknown to the exporter - before any file is written.
std::vector<std::string> exportRun(const std::string& runDir, const std::string& outDir, const ExportOptions& options);

// False when this build has no libonnx (model.onnx cannot be written).
bool onnxExportSupported();

}  // namespace ampbench
