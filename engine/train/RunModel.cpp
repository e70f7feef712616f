#include "engine/train/RunModel.h"

#include "engine/train/Checkpoint.h"
#include "engine/train/Trainer.h"
#include "engine/train/TrainerInternal.h"
#include "engine/util/Errors.h"
#include "engine/util/Files.h"

#include <nlohmann/json.hpp>
#include <torch/torch.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>

namespace fs = std::filesystem;

namespace ampbench {

RunInfo readRunInfo(const std::string& runOrModel) {
  fs::path p(runOrModel);
  if (!fs::exists(p)) {
    throw InputError("'" + runOrModel + "' does not exist: pass a run folder (with checkpoint.pt) or a model.pt");
  }
  fs::path dir = fs::is_directory(p) ? p : p.parent_path();
  RunInfo info;
  if (fs::exists(dir / "config.json") && fs::exists(dir / "dataset.json")) {
    info.config = configFromJson(readFile((dir / "config.json").string()));
    const auto ds = nlohmann::json::parse(readFile((dir / "dataset.json").string()));
    info.classes = ds.at("classes").get<std::vector<std::string>>();
    info.mean = ds.at("normalisation").at("mean").get<std::vector<double>>();
    info.std = ds.at("normalisation").at("std").get<std::vector<double>>();
  } else if (fs::exists(dir / "model.json")) {
    // An exported model: the model card carries what inference needs. A card is input like
    // any file (copied, edited): a malformed one is a clear error, never a crash.
    info.exportedModel = true;
    const auto cardPath = (dir / "model.json").string();
    try {
      const auto card = nlohmann::json::parse(readFile(cardPath));
      info.config.model = card.at("model").get<std::string>();
      info.config.imageSize = card.at("input").at("image_size").get<int64_t>();
      info.config.channels = card.at("input").at("channels").get<int64_t>();
      info.classes = card.at("classes").get<std::vector<std::string>>();
      info.mean = card.at("input").at("mean").get<std::vector<double>>();
      info.std = card.at("input").at("std").get<std::vector<double>>();
      if (info.classes.size() < 2) {
        throw InputError("it names fewer than two classes");
      }
      // The run's test-time augmentation travels with the model, as its threshold does.
      if (const auto t = card.find("training"); t != card.end() && t->is_object()) {
        if (const auto e = t->find("tta"); e != t->end() && e->is_object()) {
          info.config.tta.views = e->value("tta_views", int64_t{1});
          info.config.tta.shift = e->value("tta_shift", info.config.tta.shift);
          if (info.config.tta.views < 1 || info.config.tta.views > 16 || !std::isfinite(info.config.tta.shift) ||
              info.config.tta.shift < 0 || info.config.tta.shift > 0.25) {
            throw InputError("its training.tta is out of range (1-16 views, shift 0-0.25)");
          }
        }
      }
      if (const auto d = card.find("decision"); d != card.end() && !d->is_null() && info.classes.size() == 2) {
        // decision.json's reader checks it; only a flat object is dumped for it (dumping a
        // hostile, deeply nested value would recurse without bound).
        const bool flat = d->is_object() && std::none_of(d->begin(), d->end(), [](const nlohmann::json& v) {
                            return v.is_structured();
                          });
        try {
          if (!flat) {
            throw std::runtime_error("not a flat object");
          }
          info.decision = decisionFromJson(d->dump());
        } catch (const std::runtime_error&) {
          throw InputError("its \"decision\" needs a threshold in [0, 1] and a positive_class_index of 0 or 1");
        }
        if (!d->contains("source")) {
          info.decision.source = "model card";
        }
      }
    } catch (const std::exception& e) {
      throw InputError(cardPath + " is not a usable model card (" + e.what() + "): export the model again");
    }
  } else {
    throw InputError("'" + dir.string() +
                     "' holds neither a run (config.json, dataset.json) nor an exported model (model.json)");
  }
  if (!info.exportedModel && info.classes.size() == 2) {
    info.decision = readDecisionThreshold(dir.string());  // InputError naming the file when damaged
  }
  if (fs::is_regular_file(p)) {
    info.weights = p.string();
  } else if (info.exportedModel && fs::exists(dir / "model.pt")) {
    info.weights = (dir / "model.pt").string();  // an export's model, even beside its training checkpoint
  } else if (!info.exportedModel && fs::exists(dir / "best.pt")) {
    info.weights = (dir / "best.pt").string();  // the epoch model selection kept
  } else if (fs::exists(dir / "checkpoint.pt")) {
    info.weights = (dir / "checkpoint.pt").string();
  } else if (fs::exists(dir / "model.pt")) {
    info.weights = (dir / "model.pt").string();
  } else {
    throw InputError("no weights in '" + dir.string() + "': the run has no checkpoint.pt yet (no epoch completed)");
  }
  return info;
}

std::shared_ptr<ClassifierImpl> loadModel(const RunInfo& info, const torch::Device& device) {
  RunConfig c = info.config;
  c.memoryFormat = MemoryFormatKind::Contiguous;
  PrecisionInfo fp32;
  auto model = buildModel(c, static_cast<int64_t>(info.classes.size()), device, fp32);
  if (const auto name = fs::path(info.weights).filename(); name == "best.pt") {
    loadCheckpoint(info.weights, *model, nullptr, nullptr);  // the weights validation evaluated
  } else if (name == "checkpoint.pt") {
    loadEvaluationWeights(info.weights, *model);  // the weight average when the run kept one
  } else {
    loadPretrained(info.weights, *model);
  }
  applyMemoryFormat(*model, false);  // a checkpoint brings the training run's strides
  model->eval();
  return model;
}

int64_t decideClass(const RunInfo& info, const std::vector<float>& probabilities) {
  EvaluationOptions o;
  o.threshold = info.decision.threshold;
  o.positiveClass = info.decision.positiveClass;
  return classifyAtThreshold(probabilities, static_cast<int64_t>(info.classes.size()), o).at(0);
}

std::string decisionRule(const RunInfo& info) {
  const auto& d = info.decision;
  if (info.classes.size() != 2 || d.positiveClass < 0 || d.positiveClass > 1) {
    return "the most probable class";
  }
  char t[32];
  std::snprintf(t, sizeof t, "%.4g", d.threshold);
  return "P(" + info.classes[static_cast<size_t>(d.positiveClass)] + ") >= " + t + " (" + d.source + ")";
}

torch::Tensor modelInput(const RunInfo& info, const torch::Tensor& image) {
  const auto c = static_cast<int64_t>(info.mean.size());
  auto mean = torch::tensor(std::vector<float>(info.mean.begin(), info.mean.end())).view({1, c, 1, 1});
  auto sd = torch::tensor(std::vector<float>(info.std.begin(), info.std.end())).view({1, c, 1, 1});
  return (image.unsqueeze(0).to(torch::kFloat).div_(255.0) - mean) / sd;
}


}  // namespace ampbench
