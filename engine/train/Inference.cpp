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

PredictionSet predictImages(const std::string& runOrModel, const std::vector<std::string>& images) {
  const auto info = readRunInfo(runOrModel);
  configureThreads(info.config.threads);
  const torch::Device device(torch::kCPU);
  auto model = loadModel(info, device);
  torch::NoGradGuard noGrad;
  PredictionSet out;
  out.classes = info.classes;
  for (const auto& path : images) {
    Prediction p;
    p.path = path;
    try {
      const auto x = modelInput(info, decodeToTensor(path, info.config.imageSize, info.config.channels, info.config.maxImagePixels));
      const auto logits = model->forward(x).to(torch::kFloat)[0].contiguous();
      p.logits.assign(logits.data_ptr<float>(), logits.data_ptr<float>() + logits.numel());
      auto probs = torch::softmax(logits, 0).contiguous();
      p.probabilities.assign(probs.data_ptr<float>(), probs.data_ptr<float>() + probs.numel());
      p.predicted = probs.argmax().item<int64_t>();
    } catch (const std::exception& e) {
      p.error = e.what();
    }
    out.predictions.push_back(std::move(p));
  }
  return out;
}

}  // namespace ampbench
