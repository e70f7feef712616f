#include "engine/models/Registry.h"

#include "engine/models/Blocked.h"
#include "engine/models/ResNet.h"
#include "engine/models/SmallCnn.h"
#include "engine/util/Errors.h"

#include <torch/torch.h>

namespace ampbench {

torch::Tensor ClassifierImpl::recordPlain(const std::string& name, const torch::Tensor& x) {
  if (!blocked::isBlocked(x)) {
    probe_->record(name, x);
    return x;
  }
  auto plain = blocked::toPlain(x);
  probe_->record(name, plain);
  return blocked::toBlocked(plain);
}

std::vector<std::string> modelNames() { return {"small_cnn", "resnet18", "resnet34"}; }

bool isKnownModel(const std::string& name) {
  const auto names = modelNames();
  return std::find(names.begin(), names.end(), name) != names.end();
}

namespace {
std::string knownModelList() {
  std::string names;
  for (const auto& n : modelNames()) {
    names += (names.empty() ? "" : ", ") + n;
  }
  return names;
}
}  // namespace

std::string gradCamLayer(const std::string& model) {
  // The last stage's output, after pooling: the deepest map that still has a spatial extent.
  if (model == "small_cnn") {
    return "conv" + std::to_string(SmallCnnImpl::kStages);
  }
  if (model == "resnet18") {
    return "layer4.1";  // blocks {2, 2, 2, 2}
  }
  if (model == "resnet34") {
    return "layer4.2";  // blocks {3, 4, 6, 3}
  }
  throw InputError("unknown model '" + model + "': choose one of " + knownModelList());
}

std::shared_ptr<ClassifierImpl> createModel(const ModelSpec& spec) {
  if (spec.inChannels != 1 && spec.inChannels != 3) {
    throw InputError("models take 1 (grayscale) or 3 (RGB) input channels");
  }
  if (spec.numClasses < 2) {
    throw InputError("a classifier needs at least two classes");
  }
  if (spec.name == "small_cnn") {
    return std::make_shared<SmallCnnImpl>(spec);
  }
  if (spec.name == "resnet18") {
    return std::make_shared<ResNetImpl>(spec, std::vector<int64_t>{2, 2, 2, 2});
  }
  if (spec.name == "resnet34") {
    return std::make_shared<ResNetImpl>(spec, std::vector<int64_t>{3, 4, 6, 3});
  }
  throw InputError("unknown model '" + spec.name + "': choose one of " + knownModelList());
}

}  // namespace ampbench
