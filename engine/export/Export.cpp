#include "engine/export/Export.h"

#include "engine/export/ModelCard.h"
#include "engine/export/OnnxExporter.h"
#include "engine/export/TorchArchive.h"
#include "engine/models/ResNet.h"
#include "engine/models/SmallCnn.h"
#include "engine/train/Checkpoint.h"
#include "engine/train/Trainer.h"
#include "engine/util/Errors.h"
#include "engine/util/Files.h"

#include <nlohmann/json.hpp>
#include <torch/torch.h>

#include <filesystem>
#include <optional>
#include <sstream>

namespace fs = std::filesystem;

namespace ampbench {

namespace {

std::string describeArchitecture(ClassifierImpl& model) {
  const auto& s = model.spec();
  std::ostringstream ss;
  if (auto* r = dynamic_cast<ResNetImpl*>(&model)) {
    ss << "torchvision ResNet (BasicBlock, blocks per layer";
    for (const auto& l : r->layers) {
      ss << " " << l.size();
    }
    ss << "), conv1 with " << s.inChannels << " input channel" << (s.inChannels == 1 ? "" : "s") << ", fc to "
       << s.numClasses << " classes";
  } else if (dynamic_cast<SmallCnnImpl*>(&model)) {
    ss << "small CNN: 4 x (conv3x3-BN-ReLU-maxpool2x2 while the map is > 1 px; 16/32/64/128 channels), global "
          "average pool, fc to "
       << s.numClasses << " classes; " << s.inChannels << " input channel" << (s.inChannels == 1 ? "" : "s");
  } else {
    ss << s.name;
  }
  return ss.str();
}

}  // namespace

bool onnxExportSupported() { return onnxExportAvailable(); }

ExportOptions parseExportFormats(const std::string& list, ExportOptions base) {
  base.onnx = base.torch = base.card = false;
  std::stringstream ss(list);
  std::string item;
  bool any = false;
  while (std::getline(ss, item, ',')) {
    if (item.empty()) {
      continue;
    }
    any = true;
    if (item == "onnx") {
      base.onnx = true;
    } else if (item == "torch" || item == "pt") {
      base.torch = true;
    } else if (item == "card" || item == "json") {
      base.card = true;
    } else if (item == "all") {
      base.onnx = base.torch = base.card = true;
    } else {
      throw InputError("unknown export format '" + item + "': use a comma-separated list of onnx, torch, card");
    }
  }
  if (!any) {
    throw InputError("no export format given: use a comma-separated list of onnx, torch, card");
  }
  return base;
}

std::vector<std::string> exportRun(const std::string& runDir, const std::string& outDir,
                                   const ExportOptions& options) {
  if (!options.onnx && !options.torch && !options.card) {
    throw InputError("nothing to export: choose at least one of onnx, torch, card");
  }
  if (options.onnx && !onnxExportAvailable()) {
    throw InputError("this AmpBench was built without libonnx, so it cannot write model.onnx: install libonnx-dev "
                     "and rebuild, or export only the other formats (--format torch,card)");
  }
  const fs::path run(runDir);
  if (!fs::is_directory(run)) {
    throw InputError("'" + runDir + "' is not a folder: pass the run directory of a training run");
  }
  for (const char* f : {"config.json", "dataset.json"}) {
    if (!fs::exists(run / f)) {
      throw InputError("'" + runDir + "' has no " + f + ": pass a run directory written by a training run");
    }
  }
  const auto checkpoint = (run / "checkpoint.pt").string();
  if (!fs::exists(checkpoint)) {
    throw InputError("'" + runDir + "' has no checkpoint.pt: no epoch completed, so there is no model to export");
  }
  // The run's configuration through the one config.json reader; dataset.json for what only
  // the data knows (classes, normalisation).
  const RunConfig config = readRunConfig(runDir);
  nlohmann::json dataset;
  try {
    dataset = nlohmann::json::parse(readFile((run / "dataset.json").string()));
  } catch (const std::exception& e) {
    throw InputError("cannot read the run's dataset.json: " + std::string(e.what()));
  }
  ModelSpec spec;
  spec.name = config.model;
  spec.inChannels = config.channels;
  const int64_t imageSize = config.imageSize;
  std::vector<std::string> classes;
  std::vector<double> mean, sd;
  try {
    classes = dataset.at("classes").get<std::vector<std::string>>();
    mean = dataset.at("normalisation").at("mean").get<std::vector<double>>();
    sd = dataset.at("normalisation").at("std").get<std::vector<double>>();
  } catch (const std::exception& e) {
    throw InputError("the run's dataset.json lacks a field the export needs: " + std::string(e.what()));
  }
  spec.numClasses = static_cast<int64_t>(classes.size());

  auto model = createModel(spec);  // contiguous, CPU, fp32, no emulation
  // The epoch model selection kept (best.pt: the weights validation evaluated, the weight
  // average when the run kept one), else the last one's evaluation weights.
  const auto best = (run / "best.pt").string();
  if (fs::exists(best)) {
    loadCheckpoint(best, *model, nullptr, nullptr);
  } else {
    loadEvaluationWeights(checkpoint, *model);
  }
  model->eval();

  // Build everything in memory first: an unknown model type, a graph that fails its checks
  // or a damaged decision.json leaves no file behind.
  std::optional<DecisionThreshold> decision;  // two classes: decision.json, else 0.5
  if (classes.size() == 2 && (options.onnx || options.card)) {  // the files that carry it
    decision = readDecisionThreshold(runDir);
  }
  std::string onnxBytes;
  if (options.onnx) {
    OnnxOptions o;
    o.imageSize = imageSize;
    o.fp16Weights = options.onnxFp16Weights;
    o.foldBatchNorm = options.foldBatchNorm;
    o.docString = "AmpBench " + spec.name + " classifier. Input 'input': float32 N x " +
                  std::to_string(spec.inChannels) + " x " + std::to_string(imageSize) + " x " +
                  std::to_string(imageSize) + ", pixels / 255 then (x - mean) / std; output 'logits'. "
                  "Research and teaching, not for diagnosis. See model.json.";
    o.metadata = {{"classes", nlohmann::json(classes).dump()},
                  {"mean", nlohmann::json(mean).dump()},
                  {"std", nlohmann::json(sd).dump()},
                  {"image_size", std::to_string(imageSize)},
                  {"channels", std::to_string(spec.inChannels)},
                  {"intended_use", "research and teaching, not for diagnosis"}};
    if (decision) {
      o.metadata.emplace_back("decision", decisionToJson(*decision, classes));
      o.docString += " Call class 'decision.positive_class' when its softmax >= 'decision.threshold' (metadata).";
    }
    onnxBytes = buildOnnx(*model, o);
  }

  ensureWritableDir(outDir);
  const fs::path out(outDir);
  std::vector<std::string> written;
  ModelCardExtras extras;
  extras.architecture = describeArchitecture(*model);
  for (const auto& p : model->parameters()) {
    extras.parameterCount += p.numel();
  }
  extras.onnxFp16Weights = options.onnxFp16Weights;
  extras.foldBatchNorm = options.foldBatchNorm;
  if (options.onnx) {
    const auto path = (out / "model.onnx").string();
    writeFileAtomic(path, onnxBytes);
    written.push_back(path);
    extras.files.emplace_back("model.onnx", "ONNX opset 13, input 'input' (N dynamic), output 'logits'");
    extras.onnxOps = onnxOperatorTypes(*model, options.foldBatchNorm, options.onnxFp16Weights);
  }
  if (options.torch) {
    const auto path = (out / "model.pt").string();
    writeTorchArchive(*model, path);
    written.push_back(path);
    extras.files.emplace_back("model.pt",
                              "LibTorch archive (torch.jit.load), parameter and buffer names as torchvision's");
  }
  if (options.card) {
    extras.files.emplace_back("model.json", "this model card (machine-readable)");
    extras.files.emplace_back("MODEL_CARD.md", "this model card (for people)");
    const auto card = buildModelCard(runDir, extras);
    const auto jsonPath = (out / "model.json").string();
    const auto mdPath = (out / "MODEL_CARD.md").string();
    writeFileAtomic(jsonPath, card);
    writeFileAtomic(mdPath, renderModelCardMarkdown(card));
    written.push_back(jsonPath);
    written.push_back(mdPath);
  }
  return written;
}

}  // namespace ampbench
