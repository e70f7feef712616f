#include "engine/train/Trainer.h"

#include "engine/dist/Distributed.h"

#include "engine/data/Loader.h"
#include "engine/export/Export.h"
#include "engine/models/Blocked.h"
#include "engine/precision/LossScaler.h"
#include "engine/precision/Precision.h"
#include "engine/train/BlockedChoice.h"
#include "engine/train/Checkpoint.h"
#include "engine/train/LrSchedule.h"
#include "engine/train/Profile.h"
#include "engine/train/RunDir.h"
#include "engine/train/PrecisionPolicy.h"
#include "engine/train/TrainerInternal.h"
#include "engine/util/Allocator.h"
#include "engine/util/DeviceMemory.h"
#include "engine/util/Errors.h"
#include "engine/util/Files.h"

#include <ATen/record_function.h>
#include <torch/torch.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <limits>
#include <sstream>

namespace fs = std::filesystem;

namespace ampbench {

LoaderOptions loaderOptions(const RunConfig& c, const DatasetSummary& d, const torch::Device& device, int64_t epoch,
                            bool training) {
  LoaderOptions o;
  o.batchSize = c.batchSize;
  o.shuffle = training;
  o.balanced = training && c.balance == BalanceKind::Sampler;
  o.augment = training && c.augment.enabled;
  o.augmentation = c.augment;
  o.seed = c.seed;
  o.epoch = epoch;
  o.mean = d.mean;
  o.std = d.std;
  o.device = device;
  o.channelsLast = useChannelsLast(c, device);
  return o;
}


torch::Device resolveDevice(DeviceKind kind) {
  const bool cuda = torch::cuda::is_available();
  if (kind == DeviceKind::Cuda && !cuda) {
    throw InputError("--device cuda was asked for, but no CUDA device is available in this build/machine: "
                     "use --device cpu or auto");
  }
  if (kind == DeviceKind::Cuda || (kind == DeviceKind::Auto && cuda)) {
    // One GPU per rank on a node: LOCAL_RANK's (torchrun's and srun's convention).
    const int index = dist::active() ? dist::localRank() % std::max<int>(1, torch::cuda::device_count()) : 0;
    return torch::Device(torch::kCUDA, static_cast<c10::DeviceIndex>(index));
  }
  return torch::Device(torch::kCPU);
}

int configureThreads(int requested) {
  const int n = requested > 0 ? requested : hardwareThreads();
  if (at::get_num_threads() != n) {
    at::set_num_threads(n);
  }
  return at::get_num_threads();
}

bool useChannelsLast(const RunConfig& c, const torch::Device& device) {
  switch (c.memoryFormat) {
    case MemoryFormatKind::ChannelsLast: return true;
    case MemoryFormatKind::Contiguous:
    case MemoryFormatKind::Blocked: return false;  // NCHW outside the blocked path
    case MemoryFormatKind::Auto: {
      const auto precision = resolvePrecision(c.precision, device, c.scaler, false, c.bf16Kernels);
      if (autoPrefersBlocked(c, device, precision)) {
        return false;  // the blocked path takes NCHW batches (no per-step copies); its weights: weightsChannelsLast
      }
      // oneDNN and cuDNN run convolutions in NHWC natively; the emulated modes (rounding
      // elementwise around fp32 kernels) gain nothing from it.
      return device.is_cuda() || !precision.emulated;
    }
  }
  return false;
}

double medianAfterWarmup(std::vector<double> v) {
  if (v.size() >= 3) {
    v.erase(v.begin());
  }
  if (v.empty()) {
    return 0.0;
  }
  std::sort(v.begin(), v.end());
  const size_t m = v.size() / 2;
  return v.size() % 2 ? v[m] : 0.5 * (v[m - 1] + v[m]);
}

void applyMemoryFormat(ClassifierImpl& model, bool channelsLast) {
  // A fresh copy with explicit strides, not p.contiguous(format): a weight with one input
  // channel ([O,1,k,k], the first conv of every grayscale model) satisfies both layouts, so
  // contiguous() keeps its NCHW strides, oneDNN then runs that layer (the largest
  // activations) in NCHW, and every layer boundary after it pays a layout conversion forward
  // and backward: 0.8x PyTorch, whose Module.to(memory_format) always copies.
  const auto format = channelsLast ? torch::MemoryFormat::ChannelsLast : torch::MemoryFormat::Contiguous;
  torch::NoGradGuard noGrad;
  for (auto& p : model.parameters()) {
    if (p.dim() == 4) {
      p.set_data(torch::empty_like(p, p.options().memory_format(format)).copy_(p));
    }
  }
}

void layStateLikeParameters(torch::optim::Optimizer& optimizer) {
  torch::NoGradGuard noGrad;
  const auto like = [](const torch::Tensor& p, const torch::Tensor& t) {
    if (!t.defined() || t.sizes() != p.sizes() || t.strides() == p.strides()) {
      return t;
    }
    return torch::empty_like(p, p.options().dtype(t.dtype())).copy_(t);  // p's strides
  };
  auto& state = optimizer.state();
  for (const auto& group : optimizer.param_groups()) {
    for (const auto& p : group.params()) {
      const auto it = state.find(c10::guts::to_string(p.unsafeGetTensorImpl()));
      if (it == state.end()) {
        continue;
      }
      if (auto* sgd = dynamic_cast<torch::optim::SGDParamState*>(it->second.get())) {
        sgd->momentum_buffer(like(p, sgd->momentum_buffer()));
      } else if (auto* adam = dynamic_cast<torch::optim::AdamWParamState*>(it->second.get())) {
        adam->exp_avg(like(p, adam->exp_avg()));
        adam->exp_avg_sq(like(p, adam->exp_avg_sq()));
        adam->max_exp_avg_sq(like(p, adam->max_exp_avg_sq()));
      }
    }
  }
}

bool weightsChannelsLast(const RunConfig& c, const torch::Device& device, const ClassifierImpl& model,
                         const PrecisionInfo& precision) {
  if (model.blocked()) {
    return precision.autocast && precision.computeDtype == "bfloat16";  // the bf16 kernels, not emulation
  }
  return useChannelsLast(c, device);
}

// The precisions the blocked path runs: fp32 and the emulated formats (rounding around fp32
// kernels), and bf16 mixed precision on a CPU with bf16 units (autocast; bf16 primitives).
bool blockedPrecision(const PrecisionInfo& precision) {
  if (precision.emulated || (precision.computeDtype == "float32" && !precision.autocast)) {
    return true;
  }
  return precision.autocast && precision.computeDtype == "bfloat16" && !precision.slowKernels;
}

bool autoPrefersBlocked(const RunConfig& c, const torch::Device& device, const PrecisionInfo& precision) {
  // Measured faster than channels_last (BENCHMARKS.md): fp32 and the emulated formats on
  // oneDNN's AVX2 (nChw8c) and AVX-512 (nChw16c) kernels, bf16 on AMX (Sapphire Rapids) and on
  // AVX512-BF16 without AMX (Zen 5, session 24: 1.10x in paired rounds, ResNet-18 128 px;
  // Cooper Lake and Zen 4 run the same oneDNN kernels, unmeasured).
  // Runs the path cannot take are not preferred, so auto says nothing about them:
  // distributed, synchronised batch norm, bf16 without bf16 units.
  return blocked::available() && device.is_cpu() && !dist::active() && !c.distributed.syncBatchNorm &&
         blockedPrecision(precision);
}

BlockedChoice chooseBlocked(const RunConfig& c, const torch::Device& device, const PrecisionInfo& precision,
                            const ClassifierImpl& model, bool autoPrefers) {
  const bool asked = c.memoryFormat == MemoryFormatKind::Blocked;
  if (!asked && !(c.memoryFormat == MemoryFormatKind::Auto && autoPrefers)) {
    return {};
  }
  std::string why;
  if (!blocked::available()) {
    why = "this build has no oneDNN headers (install libdnnl-dev and rebuild)";
  } else if (!device.is_cpu()) {
    why = "the blocked layout is a CPU path, the run is on " + device.str();
  } else if (dist::active() || c.distributed.syncBatchNorm) {
    why = "distributed runs (and their synchronised batch norm) use the plain path";
  } else if (!blockedPrecision(precision)) {
    why = precision.slowKernels ? "its bf16 kernels need AVX512-BF16/AMX, which this CPU lacks"
                                : "it has no " + precision.label + " kernels";
  } else if (auto layer = blocked::unsupportedLayer(model)) {
    why = "the model's layer " + *layer + " has no blocked kernel";
  }
  if (why.empty()) {
    return {true, ""};
  }
  if (asked) {
    throw InputError("--memory-format blocked: " + why + "; use auto, contiguous or channels_last");
  }
  return {false, "--memory-format auto: the plain path, not the blocked one: " + why};
}

bool useBlocked(const RunConfig& c, const torch::Device& device, const PrecisionInfo& precision,
                const ClassifierImpl& model) {
  const auto choice = chooseBlocked(c, device, precision, model, autoPrefersBlocked(c, device, precision));
  if (!choice.fallback.empty()) {
    std::fprintf(stderr, "ampbench: %s\n", choice.fallback.c_str());
  }
  return choice.blocked;
}

std::string memoryFormatThatRan(const RunConfig& c, const torch::Device& device, const ClassifierImpl& model) {
  if (model.blocked()) {
    return toString(MemoryFormatKind::Blocked);
  }
  return toString(useChannelsLast(c, device) ? MemoryFormatKind::ChannelsLast : MemoryFormatKind::Contiguous);
}

std::shared_ptr<ClassifierImpl> buildModel(const RunConfig& c, int64_t numClasses, const torch::Device& device,
                                           const PrecisionInfo& precision) {
  auto model = createModel({c.model, c.channels, numClasses});
  model->to(device);
  model->setEmulatedDtype(emulatedScalarType(precision));
  model->setBlocked(useBlocked(c, device, precision, *model));
  applyMemoryFormat(*model, weightsChannelsLast(c, device, *model, precision));
  return model;
}

Metrics evaluateSplit(ClassifierImpl& model, const SplitTensors& split, const DatasetSummary& data,
                      const RunConfig& c, const PrecisionInfo& precision, const torch::Device& device,
                      const CancelToken& cancel, std::vector<float>* probabilitiesOut,
                      const std::function<void(int64_t, int64_t)>& progress, const TtaOptions& tta) {
  torch::NoGradGuard noGrad;
  model.eval();
  BatchLoader loader(split, loaderOptions(c, data, device, 0, false), false);
  const auto numClasses = static_cast<int64_t>(data.classes.size());
  std::vector<torch::Tensor> probs;
  auto lossSum = torch::zeros({}, torch::TensorOptions().dtype(torch::kDouble).device(device));
  int64_t done = 0;
  Batch b;
  while (loader.next(b)) {
    if (cancel.isCancelled()) {
      return {};
    }
    auto forward = [&](const torch::Tensor& images) {
      AutocastGuard autocast(device.type(), computeScalarType(precision), precision.autocast);
      return model.forward(images).to(torch::kFloat);
    };
    if (tta.views > 1) {
      // Averaged in probability space (averaging logits would let one confident view dominate).
      auto p = torch::softmax(forward(b.images), 1);
      for (int64_t k = 1; k < tta.views; ++k) {
        p += torch::softmax(forward(testTimeView(b.images, tta, k)), 1);
      }
      p /= static_cast<double>(tta.views);
      lossSum += -p.gather(1, b.labels.view({-1, 1})).clamp_min(1e-12).log().sum().to(torch::kDouble);
      probs.push_back(p.cpu());
    } else {
      const auto logits = forward(b.images);
      lossSum += torch::nn::functional::cross_entropy(
                     logits, b.labels, torch::nn::functional::CrossEntropyFuncOptions().reduction(torch::kSum))
                     .to(torch::kDouble);
      probs.push_back(torch::softmax(logits, 1).cpu());
    }
    done += b.labels.size(0);
    if (progress) {
      progress(done, split.size());
    }
  }
  auto all = torch::cat(probs).contiguous();
  std::vector<float> p(all.data_ptr<float>(), all.data_ptr<float>() + all.numel());
  const auto labelsT = split.labels.contiguous();
  std::vector<int64_t> labels(labelsT.data_ptr<int64_t>(), labelsT.data_ptr<int64_t>() + labelsT.numel());
  auto m = computeMetrics(p, labels, numClasses, lossSum.item<double>() / std::max<int64_t>(1, split.size()));
  if (probabilitiesOut) {
    *probabilitiesOut = std::move(p);
  }
  return m;
}

RunSummary runTraining(const RunConfig& config, RunObserver& observer, const CancelToken& cancel) {
  validateConfig(config);
  if (!isKnownModel(config.model)) {
    createModel({config.model, config.channels, 2});  // throws the InputError naming the models
  }
  if (config.outDir.empty()) {
    throw InputError("no output folder: pass --out RUN_DIR");
  }
  // A resumed run must be the run it resumes: refused before any data is read or file written.
  if (!config.resumeFrom.empty() && fs::exists(config.resumeFrom + "/config.json")) {
    const auto conflicts = resumeConflicts(readRunConfig(config.resumeFrom), config);
    if (!conflicts.empty()) {
      std::string list;
      for (const auto& s : conflicts) {
        list += (list.empty() ? "" : ", ") + s;
      }
      throw InputError("cannot resume '" + config.resumeFrom + "' with changed settings (" + list +
                       "): a resumed run continues with its own settings (ampbench-cli train --resume DIR, "
                       "adding only --epochs to extend it); start a new run to change them");
    }
  }
  const auto device = resolveDevice(config.device);
  const auto precision =
      resolvePrecision(config.precision, device, config.scaler, config.strict, config.bf16Kernels);
  ensureWritableDir(config.outDir);
  configureThreads(config.threads);
  auto data = prepareData(config, [&](const DataProgressEvent& e) { observer.onDataProgress(e); }, cancel);
  if (cancel.isCancelled()) {
    RunSummary s;
    s.status = RunStatus::Cancelled;
    s.runDir = config.outDir;
    s.precision = precision;
    s.message = "cancelled while preparing the data";
    observer.onCancelled(s);
    return s;
  }
  return trainPrepared(config, data, precision, device, nullptr, observer, cancel);
}

PrecisionInfo describePrecision(PrecisionMode mode, DeviceKind device, const LossScalerOptions& scaler) {
  return resolvePrecision(mode, resolveDevice(device == DeviceKind::Cuda && !torch::cuda::is_available()
                                                  ? DeviceKind::Cpu
                                                  : device),
                          scaler, false);
}

std::vector<std::string> availableModels() { return modelNames(); }
std::string engineVersion() { return AMPBENCH_VERSION; }
std::string torchVersion() { return TORCH_VERSION; }

}  // namespace ampbench
