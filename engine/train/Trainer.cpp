#include "engine/train/Trainer.h"

#include "engine/data/Loader.h"
#include "engine/export/Export.h"
#include "engine/precision/LossScaler.h"
#include "engine/precision/Precision.h"
#include "engine/train/Checkpoint.h"
#include "engine/train/LrSchedule.h"
#include "engine/train/Profile.h"
#include "engine/train/RunDir.h"
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
#include <filesystem>
#include <limits>
#include <sstream>

namespace fs = std::filesystem;

namespace ampbench {

namespace {

using Clock = std::chrono::steady_clock;

double secondsSince(Clock::time_point t) { return std::chrono::duration<double>(Clock::now() - t).count(); }

std::unique_ptr<torch::optim::Optimizer> makeOptimizer(const RunConfig& c, ClassifierImpl& model) {
  if (c.optimizer == OptimizerKind::AdamW) {
    return std::make_unique<torch::optim::AdamW>(model.parameters(),
                                                 torch::optim::AdamWOptions(c.lr).weight_decay(c.weightDecay));
  }
  return std::make_unique<torch::optim::SGD>(
      model.parameters(), torch::optim::SGDOptions(c.lr).momentum(c.momentum).weight_decay(c.weightDecay));
}

void setLearningRate(torch::optim::Optimizer& opt, double lr) {
  for (auto& group : opt.param_groups()) {
    group.options().set_lr(lr);
  }
}

void zeroGradToNone(torch::optim::Optimizer& opt) {
  for (auto& group : opt.param_groups()) {
    for (auto& p : group.params()) {
      p.mutable_grad().reset();
    }
  }
}

torch::Tensor classWeights(const RunConfig& c, const DatasetSummary& d, const torch::Device& device) {
  if (c.balance != BalanceKind::Loss) {
    return {};
  }
  const auto& counts = d.counts.at("train");
  const double total = static_cast<double>(std::accumulate(counts.begin(), counts.end(), int64_t{0}));
  std::vector<float> w;
  for (auto n : counts) {
    w.push_back(n > 0 ? static_cast<float>(total / (static_cast<double>(counts.size()) * n)) : 0.f);
  }
  return torch::tensor(w).to(device);
}

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

// Steps whose values are read back in one go: one device sync per flush instead of one
// per step (on CPU the flush happens every step; reading is free there).
struct PendingStep {
  StepEvent event;
  torch::Tensor loss;
};

}  // namespace

torch::Device resolveDevice(DeviceKind kind) {
  const bool cuda = torch::cuda::is_available();
  if (kind == DeviceKind::Cuda && !cuda) {
    throw InputError("--device cuda was asked for, but no CUDA device is available in this build/machine: "
                     "use --device cpu or auto");
  }
  if (kind == DeviceKind::Cuda || (kind == DeviceKind::Auto && cuda)) {
    return torch::Device(torch::kCUDA, 0);
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
    case MemoryFormatKind::Contiguous: return false;
    case MemoryFormatKind::Auto:
      // oneDNN and cuDNN run convolutions in NHWC natively; the emulated path gains nothing.
      return device.is_cuda() || c.precision != PrecisionMode::Fp16;
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

std::shared_ptr<ClassifierImpl> buildModel(const RunConfig& c, int64_t numClasses, const torch::Device& device,
                                           const PrecisionInfo& precision) {
  auto model = createModel({c.model, c.channels, numClasses});
  model->to(device);
  applyMemoryFormat(*model, useChannelsLast(c, device));
  if (precision.emulated) {
    model->setEmulatedDtype(torch::kHalf);
  }
  return model;
}

Metrics evaluateSplit(ClassifierImpl& model, const SplitTensors& split, const DatasetSummary& data,
                      const RunConfig& c, const PrecisionInfo& precision, const torch::Device& device,
                      const CancelToken& cancel, std::vector<float>* probabilitiesOut) {
  torch::NoGradGuard noGrad;
  model.eval();
  BatchLoader loader(split, loaderOptions(c, data, device, 0, false), false);
  const auto numClasses = static_cast<int64_t>(data.classes.size());
  std::vector<torch::Tensor> probs;
  auto lossSum = torch::zeros({}, torch::TensorOptions().dtype(torch::kDouble).device(device));
  Batch b;
  while (loader.next(b)) {
    if (cancel.isCancelled()) {
      return {};
    }
    torch::Tensor logits;
    {
      AutocastGuard autocast(device.type(), computeScalarType(precision), precision.autocast);
      logits = model.forward(b.images);
    }
    logits = logits.to(torch::kFloat);
    lossSum += torch::nn::functional::cross_entropy(
                   logits, b.labels, torch::nn::functional::CrossEntropyFuncOptions().reduction(torch::kSum))
                   .to(torch::kDouble);
    probs.push_back(torch::softmax(logits, 1).cpu());
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

RunSummary trainPrepared(const RunConfig& c, const PreparedData& data, const PrecisionInfo& precision,
                         const torch::Device& device, const std::string* initialWeights, RunObserver& observer,
                         const CancelToken& cancel) {
  installCachingCpuAllocator();
  struct ReleaseAfterRun {
    ~ReleaseAfterRun() { releaseFreeMemory(); }
  } releaseAfterRun;
  const int threads = configureThreads(c.threads);
  setTf32Allowed(false);  // fp32 stays an honest baseline; autocast modes do not use TF32 either
  torch::manual_seed(c.seed);
  if (device.is_cuda()) {
    torch::cuda::manual_seed_all(c.seed);
  }
  setCudnnBenchmark(device.is_cuda());

  const auto& train = data.splits.at("train");
  const auto& val = data.splits.at("val");
  if (train.size() < c.batchSize) {
    throw InputError("only " + std::to_string(train.size()) + " training images but a batch of " +
                     std::to_string(c.batchSize) + ": lower --batch-size to at most " + std::to_string(train.size()));
  }
  const auto numClasses = static_cast<int64_t>(data.summary.classes.size());
  auto model = buildModel(c, numClasses, device, precision);
  if (initialWeights) {
    deserializeModel(*model, *initialWeights);
  } else if (!c.pretrained.empty()) {
    loadPretrained(c.pretrained, *model);
  }
  auto optimizer = makeOptimizer(c, *model);
  LossScaler scaler(c.scaler, precision.lossScaling, device);

  const int64_t stepsPerEpoch = batchesPerEpoch(train.size(), c.batchSize, true);
  const int64_t totalSteps = stepsPerEpoch * c.epochs;
  const LrSchedule schedule(c.schedule, c.lr, totalSteps, c.warmupFraction);
  const auto weights = classWeights(c, data.summary, device);
  const auto computeDtype = computeScalarType(precision);

  TrainingPosition pos;
  const std::string checkpointPath = c.outDir + "/checkpoint.pt";
  if (!c.resumeFrom.empty()) {
    const auto from = c.resumeFrom + "/checkpoint.pt";
    if (!fs::exists(from)) {
      throw InputError("no checkpoint.pt in '" + c.resumeFrom + "' to resume from");
    }
    pos = loadCheckpoint(from, *model, optimizer.get(), &scaler);
    if (pos.epoch >= c.epochs) {
      throw InputError("the run in '" + c.resumeFrom + "' already completed " + std::to_string(pos.epoch) +
                       " epochs: pass a larger --epochs to continue it");
    }
  }
  // Loading replaces a weight's strides with the saved ones (set_), so the format is applied again.
  applyMemoryFormat(*model, useChannelsLast(c, device));

  RunDirWriter writer(c.outDir, pos.epoch);
  writer.writeConfig(c, precision, device.str(), threads);
  writer.writeDataset(data.summary);

  RunStartedEvent started;
  started.runDir = c.outDir;
  started.config = c;
  started.dataset = data.summary;
  started.precision = precision;
  started.device = device.str();
  started.threads = threads;
  started.stepsPerEpoch = stepsPerEpoch;
  started.totalSteps = totalSteps;
  started.startEpoch = pos.epoch + 1;
  for (const auto& p : model->parameters()) {
    started.parameterCount += p.numel();
  }
  observer.onRunStarted(started);

  RunSummary summary;
  summary.status = RunStatus::Finished;  // until something stops the run
  summary.runDir = c.outDir;
  summary.precision = precision;
  summary.overflowSteps = pos.overflowSteps;
  summary.skippedSteps = pos.skippedSteps;
  summary.epochsCompleted = pos.epoch;
  resetPeakRss();
  const int cudaIndex = device.is_cuda() ? device.index() : -1;
  resetPeakCudaMemory(cudaIndex);
  const auto runStart = Clock::now();
  std::vector<double> epochSeconds, epochThroughput;
  const int64_t flushEvery = device.is_cuda() ? 16 : 1;
  const int64_t maxConsecutiveSkips = 200;  // the scale cannot fix overflowing activations
  int64_t consecutiveSkips = 0;
  std::string stopMessage;
  // Where an out-of-memory failure struck: step in the epoch, -1 validation, 0 elsewhere.
  int64_t atEpoch = pos.epoch + 1, atStepInEpoch = 0;
  const auto [profileFirst, profileCount] = profileWindow(c.profileSteps, pos.globalStep, totalSteps, stepsPerEpoch);
  StepProfiler profiler(c.outDir, profileFirst, profileCount, device.is_cuda());

  try {
    for (int64_t epoch = pos.epoch + 1; epoch <= c.epochs && summary.status != RunStatus::Diverged; ++epoch) {
      atEpoch = epoch;
      atStepInEpoch = 0;
      model->train();
      BatchLoader loader(train, loaderOptions(c, data.summary, device, epoch, true), true);
      std::vector<PendingStep> pending;
      auto lossSum = torch::zeros({}, torch::TensorOptions().dtype(torch::kDouble).device(device));
      auto correct = torch::zeros({}, torch::TensorOptions().dtype(torch::kLong).device(device));
      int64_t seen = 0, epochOverflow = 0, epochSkipped = 0;
      const auto epochStart = Clock::now();
      bool stop = false;

      auto flush = [&]() {
        if (pending.empty()) {
          return;
        }
        std::vector<torch::Tensor> losses;
        for (const auto& p : pending) {
          losses.push_back(p.loss);
        }
        const auto values = torch::stack(losses).to(torch::kDouble).cpu();
        const auto* v = values.data_ptr<double>();
        for (size_t i = 0; i < pending.size(); ++i) {
          auto& e = pending[i].event;
          e.loss = v[i];
          if (!std::isfinite(e.loss) && !scaler.enabled()) {
            summary.status = RunStatus::Diverged;
            std::ostringstream ss;
            ss << "loss became " << e.loss << " at epoch " << e.epoch << ", step " << e.step << " ("
               << precision.label << "): the run stopped";
            stopMessage = ss.str();
          }
          if (e.step % c.stepEventEvery == 0 || e.stepInEpoch == stepsPerEpoch || e.overflow) {
            writer.appendStep(e);
            observer.onStep(e);
          }
          if (summary.status == RunStatus::Diverged) {
            break;
          }
        }
        pending.clear();
      };

      // The phases of a step are named ranges: free unless a profiler listens
      // (--profile-steps), where they say how a step divides before the per-op detail.
      auto nextBatch = [&](Batch& b, int64_t stepInEpoch) {
        if (stepInEpoch <= stepsPerEpoch) {
          profiler.beforeStep(pos.globalStep + 1);  // a profiled step starts with its batch's wait
        }
        RECORD_USER_SCOPE("ampbench::next_batch");
        return loader.next(b);
      };
      Batch batch;
      for (int64_t s = 1; !stop && nextBatch(batch, s); ++s) {
        atStepInEpoch = s;
        if (cancel.isCancelled()) {
          summary.status = RunStatus::Cancelled;
          stop = true;
          break;
        }
        const double lr = schedule.at(pos.scheduleStep);
        setLearningRate(*optimizer, lr);
        zeroGradToNone(*optimizer);
        TORCH_CHECK_WITH(OutOfMemoryError, c.injectOomAtStep != pos.globalStep + 1,
                         "out of memory (injected by a test at step ", pos.globalStep + 1, ")");
        torch::Tensor logits, loss;
        {
          RECORD_USER_SCOPE("ampbench::forward");
          {
            AutocastGuard autocast(device.type(), computeDtype, precision.autocast);
            logits = model->forward(batch.images);
          }
          // The loss and its reduction run in fp32 (activation-overflow fix).
          logits = logits.to(torch::kFloat);
          loss = torch::nn::functional::cross_entropy(
              logits, batch.labels, torch::nn::functional::CrossEntropyFuncOptions().weight(weights));
          if (c.injectNanAtStep == pos.globalStep + 1) {
            loss = loss * std::numeric_limits<float>::quiet_NaN();
          }
        }
        {
          RECORD_USER_SCOPE("ampbench::backward");
          scaler.scale(loss).backward();
        }
        if (scaler.enabled()) {
          RECORD_USER_SCOPE("ampbench::loss_scaler");
          scaler.unscale(*optimizer);  // and the inf/NaN check; step() below reuses it
        }
        if (c.gradClipNorm > 0) {
          RECORD_USER_SCOPE("ampbench::grad_clip");  // on true gradients: unscaled above
          torch::nn::utils::clip_grad_norm_(model->parameters(), c.gradClipNorm);
        }
        bool stepped = false;
        {
          RECORD_USER_SCOPE("ampbench::optimizer");
          stepped = scaler.step(*optimizer);
        }
        const bool overflow = scaler.enabled() && scaler.lastStepOverflowed();
        const double stepScale = scaler.scaleValue();  // the scale this step's loss was multiplied by
        scaler.update();
        {
          RECORD_USER_SCOPE("ampbench::bookkeeping");  // metrics, events, run files
          if (stepped) {
            pos.scheduleStep += 1;  // a skipped step does not advance the LR schedule
            consecutiveSkips = 0;
          } else {
            consecutiveSkips += 1;
          }
          pos.globalStep += 1;
          epochOverflow += overflow;
          epochSkipped += !stepped;
          seen += batch.labels.size(0);
          {
            torch::NoGradGuard noGrad;
            const auto d = loss.detach();
            lossSum += d.to(torch::kDouble) * batch.labels.size(0);
            correct += logits.detach().argmax(1).eq(batch.labels).sum();
            PendingStep p;
            p.loss = d;
            p.event.epoch = epoch;
            p.event.step = pos.globalStep;
            p.event.stepInEpoch = s;
            p.event.stepsPerEpoch = stepsPerEpoch;
            p.event.lr = lr;
            p.event.lossScale = stepScale;
            p.event.overflow = overflow;
            p.event.skipped = !stepped;
            p.event.imagesPerSecond = static_cast<double>(seen) / std::max(1e-9, secondsSince(epochStart));
            p.event.elapsedSeconds = secondsSince(runStart);
            pending.push_back(std::move(p));
          }
          if (static_cast<int64_t>(pending.size()) >= flushEvery || s == stepsPerEpoch || overflow) {
            flush();
          }
          if (summary.status == RunStatus::Diverged) {
            stop = true;
          } else if (consecutiveSkips >= maxConsecutiveSkips) {
            summary.status = RunStatus::Diverged;
            stopMessage = "gradients were inf/NaN for " + std::to_string(consecutiveSkips) +
                          " steps in a row even as the loss scale fell to " + std::to_string(scaler.scaleValue()) +
                          ": activations overflow in " + precision.label;
            stop = true;
          }
        }
        profiler.afterStep();
      }
      flush();
      profiler.finish();  // a window cut short by the epoch's end: validation is not a step
      summary.overflowSteps += epochOverflow;
      summary.skippedSteps += epochSkipped;
      summary.stepsCompleted = pos.globalStep;
      if (summary.status == RunStatus::Cancelled || summary.status == RunStatus::Diverged) {
        break;
      }

      EpochEvent ev;
      ev.epoch = epoch;
      ev.epochs = c.epochs;
      ev.epochSeconds = secondsSince(epochStart);
      ev.imagesPerSecond = static_cast<double>(seen) / std::max(1e-9, ev.epochSeconds);
      ev.trainLoss = lossSum.item<double>() / std::max<int64_t>(1, seen);
      ev.trainAccuracy = static_cast<double>(correct.item<int64_t>()) / std::max<int64_t>(1, seen);
      ev.overflowSteps = epochOverflow;
      ev.skippedSteps = epochSkipped;
      ev.lossScale = scaler.scaleValue();
      if (epoch % c.evalEvery == 0 || epoch == c.epochs) {
        const auto evalStart = Clock::now();
        atStepInEpoch = -1;  // "validation" in an out-of-memory message
        ev.val = evaluateSplit(*model, val, data.summary, c, precision, device, cancel, &summary.finalValProbabilities);
        ev.evalSeconds = secondsSince(evalStart);
        if (cancel.isCancelled()) {
          summary.status = RunStatus::Cancelled;
          break;
        }
        ev.validated = true;
        observer.onEvaluation({"val", ev.val});
        summary.finalVal = ev.val;
        summary.finalValLabels.assign(val.labels.data_ptr<int64_t>(), val.labels.data_ptr<int64_t>() + val.size());
        summary.hasFinalMetrics = true;
      }
      ev.peakRssMb = peakRssMb();
      ev.peakCudaMb = std::max(0.0, peakCudaMemoryMb(cudaIndex));
      epochSeconds.push_back(ev.epochSeconds);
      summary.epochSeconds.push_back(ev.epochSeconds);
      epochThroughput.push_back(ev.imagesPerSecond);
      pos.epoch = epoch;
      pos.overflowSteps = summary.overflowSteps;
      pos.skippedSteps = summary.skippedSteps;
      // Checkpoint before reporting the epoch: a stop after this point loses nothing.
      saveCheckpoint(checkpointPath, *model, *optimizer, scaler, pos);
      writer.appendEpoch(ev);
      summary.epochsCompleted = epoch;
      observer.onEpoch(ev);
      observer.onCheckpoint({checkpointPath, epoch});
    }
  } catch (const std::exception& e) {
    if (!isOutOfMemory(e)) {
      throw;
    }
    // A batch that does not fit is a setting to change, not a crash: end the run like a
    // divergence, with the run files consistent and the last checkpoint kept.
    summary.status = RunStatus::Failed;
    summary.outOfMemory = true;
    std::ostringstream ss;
    ss << "out of memory in epoch " << atEpoch
       << (atStepInEpoch > 0    ? ", step " + std::to_string(atStepInEpoch) + " of " + std::to_string(stepsPerEpoch)
           : atStepInEpoch < 0 ? std::string(", validation")
                               : std::string())
       << " (batch " << c.batchSize << " at " << c.imageSize << " px, " << c.model << ", " << precision.label
       << " on " << device.str() << "): "
       << (dynamic_cast<const std::bad_alloc*>(&e) ? std::string("the system refused a memory block") : firstLineOf(e));
    stopMessage = ss.str();
    profiler.finish();
    releaseCachedMemory();
  }

  writer.flush();
  summary.trainSeconds = secondsSince(runStart);
  summary.medianEpochSeconds = medianAfterWarmup(epochSeconds);
  summary.imagesPerSecond = medianAfterWarmup(epochThroughput);
  summary.peakRssMb = peakRssMb();
  summary.peakCudaMb = std::max(0.0, peakCudaMemoryMb(cudaIndex));
  summary.finalLossScale = scaler.scaleValue();
  summary.profile = profiler.result();
  if (c.profileSteps > 0 && summary.profile.steps == 0 && summary.profile.error.empty()) {
    summary.profile.error = "no step was profiled: the run stopped before step " + std::to_string(profileFirst);
  }
  const bool haveCheckpoint = fs::exists(checkpointPath);
  const std::string lastGood = haveCheckpoint ? "; the last good checkpoint (epoch " +
                                                    std::to_string(summary.epochsCompleted) + ") is kept"
                                              : "; no epoch had completed, so there is no checkpoint";
  switch (summary.status) {
    case RunStatus::Cancelled:
      summary.message = "cancelled during epoch " + std::to_string(summary.epochsCompleted + 1) +
                        (haveCheckpoint ? "; checkpoint.pt holds epoch " + std::to_string(summary.epochsCompleted)
                                        : "; no epoch had completed, so there is no checkpoint");
      break;
    case RunStatus::Diverged:
      summary.message = stopMessage + lastGood + ". Lower --lr, or clip gradients with --grad-clip 1";
      break;
    case RunStatus::Failed:
      summary.message = stopMessage + lastGood +
                        ". Lower the batch size (--batch-size) or the image size (--image-size)" +
                        (precision.resolved == PrecisionMode::Fp32
                             ? std::string("; mixed precision (fp16/bf16) roughly halves activation memory")
                             : std::string());
      break;
    default:
      summary.status = RunStatus::Finished;
      summary.message = "finished " + std::to_string(summary.epochsCompleted) + " epochs";
      break;
  }
  writer.writeMetrics(summary, data.summary.classes);
  if (c.exportAtEnd && summary.status == RunStatus::Finished) {
    try {
      ExportOptions formats;
      formats.onnx = onnxExportSupported();  // export what this build can write
      exportRun(c.outDir, c.outDir, formats);
    } catch (const std::exception& e) {
      // The run itself succeeded; say why the export did not, and keep the run.
      summary.message += "; export failed: " + std::string(e.what());
    }
  }
  switch (summary.status) {
    case RunStatus::Cancelled: observer.onCancelled(summary); break;
    case RunStatus::Diverged:
    case RunStatus::Failed: observer.onFailed(summary); break;
    default: observer.onFinished(summary); break;
  }
  return summary;
}

RunSummary runTraining(const RunConfig& config, RunObserver& observer, const CancelToken& cancel) {
  validateConfig(config);
  if (!isKnownModel(config.model)) {
    createModel({config.model, config.channels, 2});  // throws the InputError naming the models
  }
  if (config.outDir.empty()) {
    throw InputError("no output folder: pass --out RUN_DIR");
  }
  const auto device = resolveDevice(config.device);
  const auto precision = resolvePrecision(config.precision, device, config.scaler, config.strict);
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
