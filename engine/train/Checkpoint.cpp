#include "engine/train/Checkpoint.h"

#include "engine/export/TorchSaveReader.h"
#include "engine/train/WeightAverage.h"
#include "engine/util/ArchiveCheck.h"
#include "engine/util/DeviceMemory.h"
#include "engine/util/Errors.h"
#include "engine/util/Files.h"

#include <torch/script.h>
#include <torch/torch.h>

#include <ATen/Context.h>

#include <mutex>
#include <sstream>

namespace ampbench {

namespace {

constexpr int64_t kFormat = 2;  // 1: no configuration, position, RNG states; loaded still

torch::Device deviceOf(ClassifierImpl& model) {
  const auto params = model.parameters();
  return params.empty() ? torch::Device(torch::kCPU) : params.front().device();
}

torch::Tensor generatorState(const torch::Device& device) {
  auto gen = at::globalContext().defaultGenerator(device);
  std::lock_guard<std::mutex> lock(gen.mutex());
  return gen.get_state();
}

void setGeneratorState(const torch::Device& device, const torch::Tensor& state) {
  auto gen = at::globalContext().defaultGenerator(device);
  std::lock_guard<std::mutex> lock(gen.mutex());
  gen.set_state(state);
}

std::string joined(const std::vector<std::string>& items) {
  std::string out;
  for (const auto& s : items) {
    out += (out.empty() ? "" : ", ") + s;
  }
  return out;
}

TrainingPosition loadCheckpointInto(const std::string& path, ClassifierImpl& model, torch::optim::Optimizer* optimizer,
                                    LossScaler* scaler, const RunConfig* resuming, const torch::Device& device,
                                    WeightAverage* average, bool evaluationWeights, bool* averaged = nullptr);

}  // namespace

void saveCheckpoint(const std::string& path, ClassifierImpl& model, torch::optim::Optimizer& optimizer,
                    const LossScaler& scaler, const TrainingPosition& pos, const std::string& configJson,
                    const WeightAverage* average) {
  torch::serialize::OutputArchive root;
  torch::serialize::OutputArchive modelAr, optAr, scalerAr;
  model.save(modelAr);
  optimizer.save(optAr);
  scaler.save(scalerAr);
  root.write("model", modelAr);
  root.write("optimizer", optAr);
  root.write("scaler", scalerAr);
  root.write("format", torch::tensor({kFormat}));
  root.write("position", torch::tensor({pos.epoch, pos.globalStep, pos.scheduleStep, pos.overflowSteps,
                                        pos.skippedSteps, pos.scheduleTotalSteps, pos.consecutiveSkips,
                                        pos.stepInEpoch, pos.epochCorrect, pos.epochSeen, pos.epochApplied,
                                        pos.epochOverflow, pos.epochSkipped}));
  root.write("position_sums", torch::tensor({pos.epochLossSum, pos.epochSeconds}, torch::kDouble));
  root.write("config", c10::IValue(configJson));
  if (average) {
    torch::serialize::OutputArchive emaAr;
    average->save(emaAr);
    root.write("ema", emaAr);
  }
  // Nothing in training draws from LibTorch's generators today (data order and augmentation
  // are functions of seed, epoch and batch); kept so a model with dropout resumes exactly too.
  root.write("rng_cpu", generatorState(torch::kCPU));
  const auto device = deviceOf(model);
  if (device.is_cuda()) {
    root.write("rng_device", generatorState(device));
  }
  // Streamed through our writer: a full disk is reported by commit() naming the file, and
  // the temporary is removed; the previous checkpoint stays until the rename.
  AtomicFile file(path);
  root.save_to([&file](const void* data, size_t size) -> size_t {
    file.write(data, size);  // a failure is kept for commit(): the archive writer goes on harmlessly
    return size;
  });
  file.commit();
}

TrainingPosition loadCheckpoint(const std::string& path, ClassifierImpl& model, torch::optim::Optimizer* optimizer,
                                LossScaler* scaler, const RunConfig* resuming, const torch::Device& device,
                                WeightAverage* average) {
  return loadCheckpointInto(path, model, optimizer, scaler, resuming, device, average, false);
}

bool loadEvaluationWeights(const std::string& path, ClassifierImpl& model) {
  bool averaged = false;
  loadCheckpointInto(path, model, nullptr, nullptr, nullptr, torch::kCPU, nullptr, true, &averaged);
  return averaged;
}

namespace {

TrainingPosition loadCheckpointInto(const std::string& path, ClassifierImpl& model, torch::optim::Optimizer* optimizer,
                                    LossScaler* scaler, const RunConfig* resuming, const torch::Device& device,
                                    WeightAverage* average, bool evaluationWeights, bool* averaged) {
  // evaluationWeights: the "ema" section, when there is one, replaces the model's weights.
  checkTorchArchive(path, "checkpoint");  // before LibTorch's reader, which trusts the zip
  torch::serialize::InputArchive root;
  try {
    root.load_from(path);
  } catch (const std::exception& e) {
    throw InputError("cannot read checkpoint '" + path + "': " + firstLineOf(e));
  }
  torch::serialize::InputArchive modelAr;
  if (!root.try_read("model", modelAr)) {
    throw InputError("'" + path + "' is not an AmpBench checkpoint (no model section)");
  }
  if (resuming) {
    // The run's configuration decides (config.json, checked against the command line); a
    // checkpoint written by another run (copied in, or config.json edited) is refused.
    c10::IValue config;
    if (root.try_read("config", config) && config.isString()) {
      const auto saved = configFromJson(config.toStringRef());
      // The settings that make it another run, by the names the CLI uses; else whatever differs.
      std::vector<std::string> conflicts;
      auto differs = [&](bool changed, const std::string& name, const std::string& was, const std::string& is) {
        if (changed) {
          conflicts.push_back(name + " " + was + " -> " + is);
        }
      };
      differs(saved.precision != resuming->precision, "precision", toString(saved.precision),
              toString(resuming->precision));
      differs(saved.model != resuming->model, "model", saved.model, resuming->model);
      differs(saved.dataPath != resuming->dataPath, "data", "'" + saved.dataPath + "'", "'" + resuming->dataPath + "'");
      differs(saved.imageSize != resuming->imageSize, "image_size", std::to_string(saved.imageSize),
              std::to_string(resuming->imageSize));
      differs(saved.channels != resuming->channels, "channels", std::to_string(saved.channels),
              std::to_string(resuming->channels));
      if (conflicts.empty()) {
        conflicts = resumeConflicts(saved, *resuming);
      }
      if (!conflicts.empty()) {
        throw InputError("cannot resume from '" + path + "': it was written by a run with other settings (" +
                         joined(conflicts) +
                         " in the checkpoint -> this run's config.json): a resumed run must be the run that wrote "
                         "its checkpoint; start a new run to change them");
      }
    }
  }
  try {
    model.load(modelAr);
  } catch (const std::exception& e) {
    throw InputError("checkpoint '" + path + "' does not fit model '" + model.spec().name + "': " + firstLineOf(e));
  }
  if (average || evaluationWeights) {
    torch::serialize::InputArchive emaAr;
    const bool has = root.try_read("ema", emaAr);
    if (average && !has) {
      throw InputError("cannot resume from '" + path + "': it holds no weight average for --ema-decay " +
                       std::to_string(average->decay()) + ": start a new run");
    }
    if (average) {
      average->load(emaAr, path);
    } else if (has) {
      WeightAverage loaded(model, 0.0);
      loaded.load(emaAr, path);
      loaded.copyTo(model);
      if (averaged) {
        *averaged = true;
      }
    }
  }
  if (scaler) {
    torch::serialize::InputArchive scalerAr;
    root.read("scaler", scalerAr);
    torch::Tensor enabled;
    if (resuming && scalerAr.try_read("enabled", enabled) && (enabled.item<int64_t>() != 0) != scaler->enabled()) {
      // Checked apart from the configuration: format-1 checkpoints have none. Resuming an
      // unscaled checkpoint as fp16 would otherwise train fp16 without loss scaling.
      throw InputError("cannot resume from '" + path + "': it was written " +
                       (scaler->enabled() ? "without" : "with") + " loss scaling and this run's precision " +
                       toString(resuming->precision) + " trains " + (scaler->enabled() ? "with" : "without") +
                       " it: the precision of a run cannot change on resume; start a new run for " +
                       toString(resuming->precision));
    }
    scaler->load(scalerAr);
  }
  if (optimizer) {
    torch::serialize::InputArchive optAr;
    root.read("optimizer", optAr);
    optimizer->load(optAr);
  }
  torch::Tensor p;
  root.read("position", p);
  p = p.to(torch::kLong).contiguous();
  const auto* v = p.data_ptr<int64_t>();
  const auto n = p.numel();
  auto at = [&](int64_t i) { return i < n ? v[i] : int64_t{0}; };
  TrainingPosition pos;
  pos.epoch = at(0);
  pos.globalStep = at(1);
  pos.scheduleStep = at(2);
  pos.overflowSteps = at(3);
  pos.skippedSteps = at(4);
  pos.scheduleTotalSteps = at(5);
  pos.consecutiveSkips = at(6);
  pos.stepInEpoch = at(7);
  pos.epochCorrect = at(8);
  pos.epochSeen = at(9);
  pos.epochApplied = at(10);
  pos.epochOverflow = at(11);
  pos.epochSkipped = at(12);
  torch::Tensor sums;
  if (root.try_read("position_sums", sums) && sums.numel() >= 2) {
    sums = sums.to(torch::kDouble).contiguous();
    pos.epochLossSum = sums.data_ptr<double>()[0];
    pos.epochSeconds = sums.data_ptr<double>()[1];
  }
  if (resuming) {
    torch::Tensor rng;
    if (root.try_read("rng_cpu", rng)) {
      setGeneratorState(torch::kCPU, rng);
    }
    if (device.is_cuda() && root.try_read("rng_device", rng)) {
      setGeneratorState(device, rng);
    }
  }
  return pos;
}

}  // namespace
void saveBestEpoch(const std::string& path, ClassifierImpl& model, const BestEpoch& best) {
  torch::serialize::OutputArchive root;
  torch::serialize::OutputArchive modelAr;
  model.save(modelAr);
  root.write("model", modelAr);
  root.write("format", torch::tensor({kFormat}));
  TrainingPosition pos;
  pos.epoch = best.epoch;
  root.write("position", torch::tensor({pos.epoch, int64_t{0}}));
  root.write("best_metric", c10::IValue(best.metric));
  const auto& m = best.val;
  root.write("best_value", torch::tensor({best.value, static_cast<double>(m.count), m.loss, m.accuracy, m.auc,
                                          m.sensitivity, m.specificity},
                                         torch::kDouble));
  std::vector<int64_t> confusion;
  for (const auto& row : m.confusion) {
    confusion.insert(confusion.end(), row.begin(), row.end());
  }
  root.write("best_confusion", torch::tensor(confusion, torch::kLong).view({static_cast<int64_t>(m.confusion.size()),
                                                                            static_cast<int64_t>(m.confusion.size())}));
  root.write("best_probabilities", torch::tensor(best.probabilities, torch::kFloat));
  AtomicFile file(path);
  root.save_to([&file](const void* data, size_t size) -> size_t {
    file.write(data, size);
    return size;
  });
  file.commit();
}

BestEpoch readBestEpoch(const std::string& path) {
  checkTorchArchive(path, "best.pt");
  torch::serialize::InputArchive root;
  BestEpoch b;
  try {
    root.load_from(path);
    c10::IValue metric;
    torch::Tensor pos, values, confusion, probabilities;
    if (!root.try_read("best_metric", metric) || !metric.isString() || !root.try_read("position", pos) ||
        !root.try_read("best_value", values) || !root.try_read("best_confusion", confusion) ||
        !root.try_read("best_probabilities", probabilities)) {
      throw std::runtime_error("it holds no model-selection record");
    }
    values = values.to(torch::kDouble).contiguous();
    confusion = confusion.to(torch::kLong).contiguous();
    if (pos.numel() < 1 || values.numel() < 7 || confusion.dim() != 2 || confusion.size(0) != confusion.size(1)) {
      throw std::runtime_error("its model-selection record is malformed");
    }
    b.epoch = pos.to(torch::kLong).flatten()[0].item<int64_t>();
    b.metric = metric.toStringRef();
    const double* v = values.data_ptr<double>();
    b.value = v[0];
    b.val.count = static_cast<int64_t>(v[1]);
    b.val.loss = v[2];
    b.val.accuracy = v[3];
    b.val.auc = v[4];
    b.val.sensitivity = v[5];
    b.val.specificity = v[6];
    const auto k = confusion.size(0);
    const int64_t* c = confusion.data_ptr<int64_t>();
    b.val.confusion.assign(static_cast<size_t>(k), std::vector<int64_t>(static_cast<size_t>(k)));
    for (int64_t i = 0; i < k * k; ++i) {
      b.val.confusion[static_cast<size_t>(i / k)][static_cast<size_t>(i % k)] = c[i];
    }
    probabilities = probabilities.to(torch::kFloat).contiguous();
    b.probabilities.assign(probabilities.data_ptr<float>(), probabilities.data_ptr<float>() + probabilities.numel());
    if (b.epoch < 1 || (k > 0 && static_cast<int64_t>(b.probabilities.size()) != b.val.count * k)) {
      throw std::runtime_error("its model-selection record is inconsistent");
    }
  } catch (const InputError&) {
    throw;
  } catch (const std::exception& e) {
    throw InputError("cannot read '" + path + "': " + firstLineOf(e) + " (delete it: the run then keeps its last epoch)");
  }
  return b;
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
