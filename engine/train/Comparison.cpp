#include "engine/precision/Precision.h"
#include "engine/train/Checkpoint.h"
#include "engine/train/RunDir.h"
#include "engine/train/Trainer.h"
#include "engine/train/TrainerInternal.h"
#include "engine/util/Errors.h"
#include "engine/util/Files.h"

#include <nlohmann/json.hpp>
#include <torch/torch.h>

#include <algorithm>
#include <cstdio>
#include <filesystem>

namespace fs = std::filesystem;

namespace ampbench {

namespace {

std::string percent(double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.1f %%", 100.0 * v);
  return buf;
}

nlohmann::ordered_json runEntry(const std::string& mode, const RunSummary& r, const RunSummary& base) {
  nlohmann::ordered_json j;
  j["mode"] = mode;
  j["run_dir"] = mode;
  j["status"] = toString(r.status);
  j["precision"] = nlohmann::json::parse(precisionToJson(r.precision));
  j["epochs"] = r.epochsCompleted;
  j["median_epoch_seconds"] = r.medianEpochSeconds;
  j["images_per_s"] = r.imagesPerSecond;
  const double speedup = base.imagesPerSecond > 0 ? r.imagesPerSecond / base.imagesPerSecond : 0.0;
  j[base.precision.resolved == PrecisionMode::Fp32 ? "speedup_vs_fp32" : "speedup_vs_baseline"] = speedup;
  j["peak_rss_mb"] = r.peakRssMb;
  if (r.peakCudaMb > 0) {
    j["peak_cuda_mb"] = r.peakCudaMb;
  }
  if (r.outOfMemory) {
    j["out_of_memory"] = true;
  }
  j["message"] = r.message;
  j["has_final_metrics"] = r.hasFinalMetrics;
  j["val_accuracy"] = r.finalVal.accuracy;
  j["val_auc"] = r.finalVal.auc;
  j["val_loss"] = r.finalVal.loss;
  j["overflow_steps"] = r.overflowSteps;
  j["skipped_steps"] = r.skippedSteps;
  j["final_loss_scale"] = r.finalLossScale;
  j["train_seconds"] = r.trainSeconds;
  return j;
}

void writeComparison(const ComparisonSummary& s, const RunConfig& base) {
  nlohmann::ordered_json j;
  j["format"] = "ampbench-comparison-1";
  j["status"] = toString(s.status);
  j["baseline"] = s.modeNames.empty() ? "" : s.modeNames[0];
  j["data"] = base.dataPath;
  j["model"] = base.model;
  j["seed"] = base.seed;
  j["epochs"] = base.epochs;
  j["batch_size"] = base.batchSize;
  j["image_size"] = base.imageSize;
  j["identical_initial_weights"] = true;
  j["verdict"] = s.verdict;
  j["modes"] = nlohmann::ordered_json::array();
  for (size_t i = 0; i < s.runs.size(); ++i) {
    j["modes"].push_back(runEntry(s.modeNames[i], s.runs[i], s.runs[0]));
  }
  writeFileAtomic(s.outDir + "/comparison.json", j.dump(2) + "\n");
}

}  // namespace

std::string comparisonVerdict(const ComparisonSummary& s) {
  if (s.runs.empty()) {
    return "No run completed.";
  }
  const auto& base = s.runs[0];
  const auto ended = [](const RunSummary& r) {
    return r.outOfMemory ? std::string("ran out of memory") : toString(r.status);
  };
  if (base.outOfMemory) {
    // "Half the memory, double the batch": the baseline not fitting is itself the result.
    if (s.runs.size() >= 2 && s.runs[1].status == RunStatus::Finished) {
      return base.precision.label + " ran out of memory at this batch size; " + s.runs[1].precision.label +
             " trained with it (validation accuracy " + percent(s.runs[1].finalVal.accuracy) +
             "): its smaller activations made the batch fit.";
    }
    return base.precision.label + " ran out of memory at this batch size: lower the batch size to compare.";
  }
  if (s.runs.size() < 2 || base.imagesPerSecond <= 0) {
    return "Only one mode ran: nothing to compare.";
  }
  const auto& mixed = s.runs[1];
  const double speedup = mixed.imagesPerSecond / base.imagesPerSecond;
  char buf[512];
  // "9.0x slower" reads better than "0.11x as fast".
  const bool faster = speedup >= 1.0;
  std::snprintf(buf, sizeof buf, "%s trained %.*fx %s than %s; validation accuracy %s vs %s.",
                mixed.precision.label.c_str(), faster ? 2 : 1, faster ? speedup : 1.0 / speedup,
                faster ? "faster" : "slower", base.precision.label.c_str(),
                percent(mixed.finalVal.accuracy).c_str(), percent(base.finalVal.accuracy).c_str());
  std::string v = buf;
  if (mixed.precision.emulated) {
    v += " FP16 is only emulated on this CPU: it shows the numerics, not the speed.";
  }
  if (mixed.status != RunStatus::Finished) {
    v += " The " + mixed.precision.label + " run " + ended(mixed) + ".";
  }
  return v;
}

ComparisonSummary runComparison(const RunConfig& base, const std::vector<PrecisionMode>& modesIn,
                                RunObserver& observer, const CancelToken& cancel) {
  validateConfig(base);
  if (!isKnownModel(base.model)) {
    createModel({base.model, base.channels, 2});
  }
  if (base.outDir.empty()) {
    throw InputError("no output folder: pass --out DIR");
  }
  if (modesIn.size() < 2) {
    throw InputError("compare needs at least two modes, e.g. --modes fp32,bf16");
  }
  std::vector<PrecisionMode> parsed = modesIn;
  std::vector<std::string> modes;
  for (const auto m : parsed) {
    if (std::count(parsed.begin(), parsed.end(), m) > 1) {
      throw InputError("--modes names " + toString(m) + " twice: give each mode once");
    }
    modes.push_back(toString(m));
  }
  // fp32 first: it is the baseline the speed-ups are measured against.
  for (size_t i = 1; i < parsed.size(); ++i) {
    if (parsed[i] == PrecisionMode::Fp32) {
      std::swap(parsed[0], parsed[i]);
      std::swap(modes[0], modes[i]);
      break;
    }
  }
  const auto device = resolveDevice(base.device);
  std::vector<PrecisionInfo> infos;
  for (auto m : parsed) {
    infos.push_back(resolvePrecision(m, device, base.scaler, base.strict, base.bf16Kernels));
  }
  ensureWritableDir(base.outDir);
  configureThreads(base.threads);

  ComparisonSummary summary;
  summary.outDir = base.outDir;
  // Decode once; every mode trains on the same tensors.
  auto data = prepareData(base, [&](const DataProgressEvent& e) { observer.onDataProgress(e); }, cancel);
  if (cancel.isCancelled()) {
    summary.status = RunStatus::Cancelled;
    summary.verdict = "Cancelled while preparing the data.";
    return summary;
  }
  // Identical initial weights: made once from the seed, loaded by every mode.
  torch::manual_seed(base.seed);
  auto init = buildModel(base, static_cast<int64_t>(data.summary.classes.size()), torch::kCPU, infos[0]);
  if (!base.pretrained.empty()) {
    loadPretrained(base.pretrained, *init);
  }
  const auto initialWeights = serializeModel(*init);
  init.reset();

  for (size_t i = 0; i < parsed.size(); ++i) {
    observer.onCompareModeStarted(static_cast<int>(i), static_cast<int>(parsed.size()), parsed[i]);
    RunConfig c = base;
    c.precision = parsed[i];
    c.outDir = base.outDir + "/" + modes[i];
    c.resumeFrom.clear();
    auto r = trainPrepared(c, data, infos[i], device, &initialWeights, observer, cancel);
    summary.modes.push_back(parsed[i]);
    summary.modeNames.push_back(modes[i]);
    summary.runs.push_back(r);
    if (r.status == RunStatus::Cancelled) {
      summary.status = RunStatus::Cancelled;
      break;
    }
  }
  summary.verdict = comparisonVerdict(summary);
  writeComparison(summary, base);
  return summary;
}

ComparisonSummary readComparison(const std::string& outDir) {
  const auto path = outDir + "/comparison.json";
  if (!fs::exists(path)) {
    throw InputError("no comparison.json in '" + outDir + "': open the folder a comparison wrote");
  }
  const auto j = nlohmann::json::parse(readFile(path));
  ComparisonSummary s;
  s.outDir = outDir;
  s.verdict = j.value("verdict", "");
  s.status = j.value("status", "finished") == "cancelled" ? RunStatus::Cancelled : RunStatus::Finished;
  for (const auto& m : j.at("modes")) {
    RunSummary r;
    r.runDir = outDir + "/" + m.value("run_dir", m.value("mode", ""));
    const auto st = m.value("status", "finished");
    r.status = st == "finished" ? RunStatus::Finished
               : st == "cancelled" ? RunStatus::Cancelled
               : st == "diverged"  ? RunStatus::Diverged
                                   : RunStatus::Failed;
    const auto& p = m.at("precision");
    r.precision.requested = parsePrecision(p.value("requested", "fp32"));
    r.precision.resolved = parsePrecision(p.value("resolved", "fp32"));
    r.precision.computeDtype = p.value("compute_dtype", "float32");
    r.precision.autocast = p.value("autocast", false);
    r.precision.emulated = p.value("emulated", false);
    r.precision.lossScaling = p.value("loss_scaling", false);
    r.precision.masterWeights = p.value("master_weights", true);
    r.precision.whatIf = p.value("what_if", false);
    r.precision.label = p.value("label", "");
    r.precision.note = p.value("note", "");
    r.epochsCompleted = m.value("epochs", 0);
    r.medianEpochSeconds = m.value("median_epoch_seconds", 0.0);
    r.imagesPerSecond = m.value("images_per_s", 0.0);
    r.peakRssMb = m.value("peak_rss_mb", 0.0);
    r.peakCudaMb = m.value("peak_cuda_mb", 0.0);
    r.outOfMemory = m.value("out_of_memory", false);
    r.message = m.value("message", "");
    r.finalVal.accuracy = m.value("val_accuracy", 0.0);
    r.finalVal.auc = m.value("val_auc", 0.0);
    r.finalVal.loss = m.value("val_loss", 0.0);
    r.hasFinalMetrics = m.value("has_final_metrics", true);
    r.overflowSteps = m.value("overflow_steps", 0);
    r.skippedSteps = m.value("skipped_steps", 0);
    r.finalLossScale = m.value("final_loss_scale", 1.0);
    r.trainSeconds = m.value("train_seconds", 0.0);
    s.modeNames.push_back(m.value("mode", ""));
    s.modes.push_back(r.precision.requested);
    s.runs.push_back(r);
  }
  return s;
}

}  // namespace ampbench
