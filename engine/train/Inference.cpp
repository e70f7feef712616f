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

Metrics evaluateRun(const std::string& runDir, const std::string& dataPath, const std::string& split,
                    RunObserver& observer, const CancelToken& cancel) {
  const auto info = readRunInfo(runDir);
  RunConfig c = info.config;
  if (!dataPath.empty()) {
    c.dataPath = dataPath;
  }
  c.cachePath.clear();
  configureThreads(c.threads);
  const auto device = resolveDevice(c.device);
  const auto precision = resolvePrecision(c.precision, device, c.scaler, false, c.bf16Kernels);
  auto data = prepareData(c, [&](const DataProgressEvent& e) { observer.onDataProgress(e); }, cancel);
  if (cancel.isCancelled()) {
    return {};
  }
  if (data.summary.classes != info.classes) {
    throw InputError("the classes of '" + c.dataPath + "' differ from the ones the run was trained on");
  }
  const auto it = data.splits.find(split);
  if (it == data.splits.end()) {
    throw InputError("the dataset has no '" + split + "' split: use --split train or val" +
                     (data.splits.count("test") ? std::string(" or test") : std::string()));
  }
  data.summary.mean = info.mean;
  data.summary.std = info.std;
  c.memoryFormat = MemoryFormatKind::Contiguous;
  auto model = loadModel(info, device);
  model->setEmulatedDtype(precision.emulated ? std::optional<torch::ScalarType>(torch::kHalf) : std::nullopt);
  auto m = evaluateSplit(*model, it->second, data.summary, c, precision, device, cancel);
  observer.onEvaluation({split, m});
  return m;
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
      const auto x = modelInput(info, decodeToTensor(path, info.config.imageSize, info.config.channels));
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
