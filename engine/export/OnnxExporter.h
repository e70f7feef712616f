#pragma once
// model.onnx from a registry model's own structure (no tracing): the exporter walks the
// ClassifierImpl (SmallCnnImpl, ResNetImpl) and emits one ONNX node per layer with every
// attribute written out (OpenCV 4.6's importer needs kernel_shape on Conv and MaxPool and
// rejects Identity nodes, so none are written).
//
// Contract of the file: opset 13, input "input" float32 N x C x S x S (N dynamic, S the
// image size of the run, already normalised as the model card says), output "logits"
// float32 N x classes (no softmax). Engine-internal (torch); Export.h is the torch-free
// entry point.

#include "engine/models/Registry.h"

#include <string>
#include <utility>
#include <vector>

namespace ampbench {

struct OnnxOptions {
  // Input height = width. Required: small_cnn pools only while the map is larger than
  // 1 px, so its graph depends on the size.
  int64_t imageSize = 0;
  // Conv/Gemm weights and biases stored as float16 and Cast to float32 in the graph;
  // inputs, outputs and computation stay float32. Batch-norm vectors stay float32.
  bool fp16Weights = false;
  // Batch norm folded into the preceding Conv (Conv gets a bias); no BatchNormalization.
  bool foldBatchNorm = false;
  std::string docString;
  std::vector<std::pair<std::string, std::string>> metadata;  // metadata_props
};

inline constexpr int64_t kOnnxOpset = 13;
inline constexpr const char* kOnnxInputName = "input";
inline constexpr const char* kOnnxOutputName = "logits";

// False when the engine was built without libonnx (AMPBENCH_ONNX=OFF or not installed).
bool onnxExportAvailable();

// The serialised ModelProto for `model` in eval semantics (running BN statistics). The
// graph is checked (onnx::checker and strict shape inference: the output must come out
// N x classes) before it is returned. Throws InputError for a model type the exporter
// does not know, or when built without libonnx; never returns a partial graph.
std::string buildOnnx(ClassifierImpl& model, const OnnxOptions& options);

// The operator types buildOnnx emits for this model and these options, in first-use
// order (for the model card and docs). Throws InputError for an unknown model type.
std::vector<std::string> onnxOperatorTypes(ClassifierImpl& model, bool foldBatchNorm, bool fp16Weights);

// An fp16-weight model (OnnxOptions::fp16Weights) rewritten with float32 initializers and
// without the weights' Cast nodes, for runtimes that cannot read FLOAT16 tensors
// (OpenCV 4.6's DNN; 4.7 reads them). The values stay the float16-rounded ones, so the
// result computes exactly what the fp16-weight file does. Used to verify fp16 exports.
std::string widenOnnxFp16Weights(const std::string& onnxBytes);

// buildOnnx, written to path.tmp and renamed.
void writeOnnx(ClassifierImpl& model, const std::string& path, const OnnxOptions& options);

}  // namespace ampbench
