#include "engine/data/ImageCache.h"
#include "engine/precision/Precision.h"
#include "engine/train/Checkpoint.h"
#include "engine/train/RunModel.h"
#include "engine/train/Trainer.h"
#include "engine/train/TrainerInternal.h"
#include "engine/util/Errors.h"
#include "engine/util/Files.h"

#include <nlohmann/json.hpp>
#include <torch/torch.h>

#include <filesystem>

namespace fs = std::filesystem;

namespace ampbench {


RunConfig readRunConfig(const std::string& runDir) {
  const auto path = runDir + "/config.json";
  if (!fs::exists(path)) {
    throw InputError("no config.json in '" + runDir + "': pass a folder written by a training run");
  }
  return configFromJson(readFile(path));
}

std::string recordedMemoryFormat(const std::string& runDir) {
  try {
    const auto j = nlohmann::json::parse(readFile(runDir + "/config.json"));
    const auto r = j.find("resolved");
    if (r == j.end() || !r->is_object()) return {};
    const auto f = r->find("memory_format");
    return f != r->end() && f->is_string() ? f->get<std::string>() : std::string();
  } catch (const std::exception&) {
    return {};  // an older or damaged config.json: nothing to compare with
  }
}

PredictionSet predictImages(const std::string& runOrModel, const std::vector<std::string>& images,
                            int64_t ttaViews) {
  const auto info = readRunInfo(runOrModel);
  TtaOptions tta = info.config.tta;
  tta.views = ttaViews > 0 ? ttaViews : tta.views;
  if (tta.views > 16) {
    throw InputError("--tta must be between 1 (off) and 16 views");
  }
  configureThreads(info.config.threads);
  const torch::Device device(torch::kCPU);
  auto model = loadModel(info, device);
  torch::NoGradGuard noGrad;
  PredictionSet out;
  out.classes = info.classes;
  out.decision = info.decision;
  out.rule = decisionRule(info);
  for (const auto& path : images) {
    Prediction p;
    p.path = path;
    try {
      const auto x = modelInput(info, decodeToTensor(path, info.config.imageSize, info.config.channels, info.config.maxImagePixels));
      const auto logits = model->forward(x).to(torch::kFloat)[0].contiguous();
      p.logits.assign(logits.data_ptr<float>(), logits.data_ptr<float>() + logits.numel());
      auto probs = torch::softmax(logits, 0);
      for (int64_t k = 1; k < tta.views; ++k) {  // test-time augmentation: the views' mean (logits: the image's)
        probs = probs + torch::softmax(model->forward(testTimeView(x, tta, k)).to(torch::kFloat)[0], 0);
      }
      probs = (probs / static_cast<double>(std::max<int64_t>(1, tta.views))).contiguous();
      const std::vector<float> pf(probs.data_ptr<float>(), probs.data_ptr<float>() + probs.numel());
      p.probabilities.assign(pf.begin(), pf.end());
      p.predicted = decideClass(info, pf);
      if (p.predicted < 0) {
        p.error = "the model's output is not finite (inf/NaN) for this image";
      }
    } catch (const std::exception& e) {
      p.error = e.what();
    }
    out.predictions.push_back(std::move(p));
  }
  return out;
}

}  // namespace ampbench
