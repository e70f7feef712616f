#include "engine/train/Checkpoint.h"

#include "engine/export/TorchSaveReader.h"
#include "engine/util/ArchiveCheck.h"
#include "engine/util/Errors.h"
#include "engine/util/Files.h"

#include <torch/script.h>
#include <torch/torch.h>

#include <sstream>

namespace ampbench {

void saveCheckpoint(const std::string& path, ClassifierImpl& model, torch::optim::Optimizer& optimizer,
                    const LossScaler& scaler, const TrainingPosition& pos) {
  torch::serialize::OutputArchive root;
  torch::serialize::OutputArchive modelAr, optAr, scalerAr;
  model.save(modelAr);
  optimizer.save(optAr);
  scaler.save(scalerAr);
  root.write("model", modelAr);
  root.write("optimizer", optAr);
  root.write("scaler", scalerAr);
  root.write("format", torch::tensor({int64_t{1}}));
  root.write("position", torch::tensor({pos.epoch, pos.globalStep, pos.scheduleStep, pos.overflowSteps,
                                        pos.skippedSteps}));
  const auto tmp = path + ".tmp";
  root.save_to(tmp);
  commitAtomic(tmp, path);
}

TrainingPosition loadCheckpoint(const std::string& path, ClassifierImpl& model, torch::optim::Optimizer* optimizer,
                                LossScaler* scaler) {
  checkTorchArchive(path, "checkpoint");  // before LibTorch's reader, which trusts the zip
  torch::serialize::InputArchive root;
  try {
    root.load_from(path);
  } catch (const std::exception& e) {
    throw InputError("cannot read checkpoint '" + path + "': " + e.what());
  }
  torch::serialize::InputArchive modelAr;
  if (!root.try_read("model", modelAr)) {
    throw InputError("'" + path + "' is not an AmpBench checkpoint (no model section)");
  }
  try {
    model.load(modelAr);
  } catch (const std::exception& e) {
    throw InputError("checkpoint '" + path + "' does not fit model '" + model.spec().name + "': " + e.what());
  }
  if (optimizer) {
    torch::serialize::InputArchive optAr;
    root.read("optimizer", optAr);
    optimizer->load(optAr);
  }
  if (scaler) {
    torch::serialize::InputArchive scalerAr;
    root.read("scaler", scalerAr);
    scaler->load(scalerAr);
  }
  torch::Tensor p;
  root.read("position", p);
  TrainingPosition pos;
  pos.epoch = p[0].item<int64_t>();
  pos.globalStep = p[1].item<int64_t>();
  pos.scheduleStep = p[2].item<int64_t>();
  pos.overflowSteps = p[3].item<int64_t>();
  pos.skippedSteps = p[4].item<int64_t>();
  return pos;
}

std::vector<std::pair<std::string, torch::Tensor>> namedState(ClassifierImpl& model) {
  std::vector<std::pair<std::string, torch::Tensor>> out;
  for (const auto& p : model.named_parameters(/*recurse=*/true)) {
    out.emplace_back(p.key(), p.value());
  }
  for (const auto& b : model.named_buffers(/*recurse=*/true)) {
    out.emplace_back(b.key(), b.value());
  }
  return out;
}

void copyNamedState(ClassifierImpl& model, const std::vector<std::pair<std::string, torch::Tensor>>& state,
                    const std::string& sourceName) {
  std::map<std::string, torch::Tensor> byName(state.begin(), state.end());
  torch::NoGradGuard noGrad;
  for (auto& [name, dst] : namedState(model)) {
    const auto it = byName.find(name);
    if (it == byName.end()) {
      if (name.size() > 19 && name.compare(name.size() - 19, 19, "num_batches_tracked") == 0) {
        continue;  // optional in older files
      }
      throw InputError("'" + sourceName + "' has no tensor '" + name + "' for model '" + model.spec().name +
                       "': was it saved from the same architecture?");
    }
    if (it->second.sizes() != dst.sizes()) {
      std::ostringstream ss;
      ss << "'" << sourceName << "' does not fit model '" << model.spec().name << "': first mismatch at '" << name
         << "' (file " << it->second.sizes() << ", model " << dst.sizes()
         << "). Check --channels and the number of classes";
      throw InputError(ss.str());
    }
    dst.copy_(it->second.to(dst.dtype()));
  }
}

int64_t loadPretrained(const std::string& path, ClassifierImpl& model) {
  checkTorchArchive(path, "weights file");  // every format below is a torch zip archive
  std::vector<std::pair<std::string, torch::Tensor>> state;
  // 1. TorchScript module (torch.jit.save of a torchvision model, or our model.pt).
  try {
    auto module = torch::jit::load(path, torch::kCPU);
    for (const auto& p : module.named_parameters(/*recurse=*/true)) {
      state.emplace_back(p.name, p.value);
    }
    for (const auto& b : module.named_buffers(/*recurse=*/true)) {
      state.emplace_back(b.name, b.value);
    }
  } catch (const std::exception&) {
    state.clear();
  }
  // 2. An AmpBench checkpoint or a torch::save archive of a module.
  if (state.empty()) {
    try {
      torch::serialize::InputArchive ar;
      ar.load_from(path);
      torch::serialize::InputArchive modelAr;
      if (ar.try_read("model", modelAr)) {
        model.load(modelAr);
      } else {
        model.load(ar);
      }
      return static_cast<int64_t>(namedState(model).size());
    } catch (const InputError&) {
      throw;
    } catch (const std::exception&) {
    }
  }
  // 3. A Python state dict saved with torch.save (pickle in a zip archive). torch::pickle_load
  // of LibTorch 1.13 rejects an OrderedDict's BUILD and small dicts' SETITEM: own reader.
  std::string stateDictError;
  if (state.empty()) {
    try {
      state = readTorchSaveStateDict(path);
    } catch (const std::exception& e) {
      stateDictError = e.what();
      state.clear();
    }
  }
  if (state.empty()) {
    throw InputError("cannot read weights from '" + path +
                     "': expected a TorchScript file (torch.jit.save), a state dict saved with torch.save, "
                     "or an AmpBench checkpoint/model.pt" +
                     (stateDictError.empty() ? std::string() : " (as a torch.save file: " + stateDictError + ")"));
  }
  copyNamedState(model, state, path);
  return static_cast<int64_t>(state.size());
}

std::string serializeModel(ClassifierImpl& model) {
  torch::serialize::OutputArchive ar;
  model.save(ar);
  std::ostringstream out;
  ar.save_to(out);
  return out.str();
}

void deserializeModel(ClassifierImpl& model, const std::string& bytes) {
  std::istringstream in(bytes);
  torch::serialize::InputArchive ar;
  ar.load_from(in);
  model.load(ar);
}

}  // namespace ampbench
