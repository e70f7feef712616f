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
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <optional>
#include <stdexcept>

namespace fs = std::filesystem;

namespace ampbench {

namespace {

std::string percent(double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.1f %%", 100.0 * v);
  return buf;
}

constexpr const char* kSpeedRangeMethod =
    "slowest to fastest ratio over every pair of epoch times after warm-up (baseline seconds / mode seconds)";

// Epochs behind the medians: the first is warm-up when there are three or more (as medianAfterWarmup).
std::vector<double> timedEpochs(std::vector<double> seconds) {
  if (seconds.size() >= 3) {
    seconds.erase(seconds.begin());
  }
  return seconds;
}

std::string ended(const RunSummary& r) {
  return r.outOfMemory ? std::string("ran out of memory") : toString(r.status);
}

// Why two runs' validation outputs cannot be compared image by image; empty when they can.
std::string whyNoDiff(const RunSummary& base, const RunSummary& mode) {
  if (mode.status != RunStatus::Finished) {
    return "the run " + ended(mode);
  }
  if (base.status != RunStatus::Finished) {
    return "the baseline " + ended(base);
  }
  const auto& labels = mode.finalValLabels;
  if (labels.empty() || base.finalValLabels.empty()) {
    return "no validation outputs were kept";
  }
  if (labels != base.finalValLabels) {
    return "the runs were validated on different images";
  }
  const size_t n = labels.size();
  if (mode.finalValProbabilities.size() != base.finalValProbabilities.size() ||
      mode.finalValProbabilities.size() % n != 0 || mode.finalValProbabilities.size() / n < 2) {
    return "validation outputs of different or unknown shapes";
  }
  return {};
}

nlohmann::ordered_json finiteOrNull(double v) { return std::isfinite(v) ? nlohmann::ordered_json(v) : nullptr; }

// null (what nlohmann writes for NaN) and absent keys read back as `fallback`.
double number(const nlohmann::json& j, const char* key, double fallback) {
  const auto it = j.find(key);
  return it != j.end() && it->is_number() ? it->get<double>() : fallback;
}

nlohmann::ordered_json diffToJson(const DiffEstimate& d, bool withMcNemar) {
  if (!d.valid()) {
    return nullptr;
  }
  nlohmann::ordered_json j;
  j["value"] = d.value;
  j["ci95"] = {d.low, d.high};
  if (withMcNemar) {
    j["mcnemar_p"] = finiteOrNull(d.mcnemarP);
  }
  j["n"] = d.n;
  return j;
}

DiffEstimate diffFromJson(const nlohmann::json& m, const char* key) {
  DiffEstimate d;
  const auto it = m.find(key);
  if (it == m.end() || !it->is_object()) {
    d.unavailable = it == m.end() ? "not in comparison.json" : "no difference was measured";
    return d;
  }
  const auto nan = std::nan("");
  d.value = number(*it, "value", nan);
  const auto ci = it->find("ci95");
  if (ci != it->end() && ci->is_array() && ci->size() == 2 && (*ci)[0].is_number() && (*ci)[1].is_number()) {
    d.low = (*ci)[0].get<double>();
    d.high = (*ci)[1].get<double>();
  }
  d.mcnemarP = number(*it, "mcnemar_p", nan);
  d.n = static_cast<int64_t>(number(*it, "n", 0.0));
  if (!d.valid()) {
    d.unavailable = "incomplete in comparison.json";
  }
  return d;
}

nlohmann::ordered_json runEntry(const std::string& mode, const RunSummary& r, const RunSummary& base,
                                const ModeComparison* vsBase) {
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
  if (vsBase) {
    j["speedup_range"] = vsBase->speedRangeKnown() ? nlohmann::ordered_json{vsBase->speedLow, vsBase->speedHigh}
                                                   : nlohmann::ordered_json(nullptr);
    j["timed_epochs"] = vsBase->timedEpochs;
    j["accuracy_diff"] = diffToJson(vsBase->accuracy, true);
    j["auc_diff"] = diffToJson(vsBase->auc, false);
    const auto& why = !vsBase->accuracy.unavailable.empty() ? vsBase->accuracy.unavailable : vsBase->auc.unavailable;
    if (!why.empty()) {
      j["diff_unavailable"] = why;
    }
  }
  j["peak_rss_mb"] = r.peakRssMb;
  if (r.peakCudaMb > 0) {
    j["peak_cuda_mb"] = r.peakCudaMb;
  }
  if (r.outOfMemory) {
    j["out_of_memory"] = true;
  }
  j["message"] = r.message;
  j["has_final_metrics"] = r.hasFinalMetrics;
  // Which epoch the figures below are (best.pt's, or 0: the last one); every mode chose it on
  // the same validation images, so the optimism of choosing is the same on both sides.
  j["selected_epoch"] = r.selectedEpoch;
  j["val_accuracy"] = finiteOrNull(r.finalVal.accuracy);
  j["val_auc"] = finiteOrNull(r.finalVal.auc);
  j["val_loss"] = finiteOrNull(r.finalVal.loss);  // a diverged run's loss is NaN
  j["overflow_steps"] = r.overflowSteps;
  j["skipped_steps"] = r.skippedSteps;
  j["final_loss_scale"] = finiteOrNull(r.finalLossScale);
  j["train_seconds"] = r.trainSeconds;
  return j;
}


std::string accuracyPart(const RunSummary& base, const RunSummary& mode, const ModeComparison& c) {
  char buf[256];
  const auto& d = c.accuracy;
  const auto n = static_cast<long long>(d.n);
  // + 0.0: "-0.0" reads as a difference that is not there.
  const double value = 100.0 * d.value + 0.0, low = 100.0 * d.low + 0.0, high = 100.0 * d.high + 0.0;
  if (d.measurable()) {
    std::snprintf(buf, sizeof buf, "%.1f points %s accurate (n = %lld, %+.1f to %+.1f)", std::abs(value),
                  value > 0 ? "more" : "less", n, low, high);
  } else if (d.valid()) {
    std::snprintf(buf, sizeof buf, "no measurable accuracy difference (n = %lld, %+.1f to %+.1f points)", n, low,
                  high);
  } else if (base.hasFinalMetrics && mode.hasFinalMetrics) {
    return "validation accuracy " + percent(mode.finalVal.accuracy) + " vs " + percent(base.finalVal.accuracy) +
           " (no interval: " + d.unavailable + ")";
  } else {
    return "accuracy not compared (" + d.unavailable + ")";
  }
  return buf;
}

std::string speedPart(const RunSummary& base, const RunSummary& mode, const ModeComparison& c) {
  if (c.speedup <= 0) {
    return "speed not measured";
  }
  char buf[256];
  const char* baseLabel = base.precision.label.c_str();
  if (!c.speedRangeKnown()) {
    std::snprintf(buf, sizeof buf, "%.2fx the speed of %s (%s: no spread to judge)", c.speedup, baseLabel,
                  c.timedEpochs == 1 ? "one timed epoch" : "epoch times unknown");
    return buf;
  }
  if (!c.faster() && !c.slower()) {
    std::snprintf(buf, sizeof buf, "no measurable speed difference (%.2f-%.2fx)", c.speedLow, c.speedHigh);
    return buf;
  }
  std::snprintf(buf, sizeof buf, "%.2fx the speed of %s (%.2f-%.2f)", c.speedup, baseLabel, c.speedLow, c.speedHigh);
  std::string v = buf;
  if (c.slower() && mode.precision.emulated) {
    v += ", the cost of emulation";
  } else if (c.slower() && mode.precision.slowKernels) {
    v += ": this CPU has no native BF16 kernels";
  }
  return v;
}

}  // namespace

ModeComparison compareWithBaseline(const RunSummary& base, const RunSummary& mode, const BootstrapOptions& options) {
  ModeComparison c;
  c.speedup = base.imagesPerSecond > 0 ? mode.imagesPerSecond / base.imagesPerSecond : 0.0;
  const auto a = timedEpochs(base.epochSeconds), b = timedEpochs(mode.epochSeconds);
  c.timedEpochs = static_cast<int64_t>(std::min(a.size(), b.size()));
  const auto positive = [](const std::vector<double>& v) {
    return std::all_of(v.begin(), v.end(), [](double x) { return std::isfinite(x) && x > 0; });
  };
  if (c.timedEpochs >= 2 && positive(a) && positive(b)) {
    const auto [aMin, aMax] = std::minmax_element(a.begin(), a.end());
    const auto [bMin, bMax] = std::minmax_element(b.begin(), b.end());
    c.speedLow = *aMin / *bMax;
    c.speedHigh = *aMax / *bMin;
    if (c.speedup > 0) {
      // Same images per epoch, so the ratio of medians lies inside; a resumed run's might not.
      c.speedLow = std::min(c.speedLow, c.speedup);
      c.speedHigh = std::max(c.speedHigh, c.speedup);
    }
  }
  const auto why = whyNoDiff(base, mode);
  if (!why.empty()) {
    c.accuracy.unavailable = why;
    c.auc.unavailable = why;
    return c;
  }
  const auto& labels = mode.finalValLabels;
  const auto classes = static_cast<int64_t>(mode.finalValProbabilities.size() / labels.size());
  try {
    c.accuracy = accuracyDifference(predictedClasses(base.finalValProbabilities, classes),
                                    predictedClasses(mode.finalValProbabilities, classes), labels, options);
    c.auc = aucDifference(base.finalValProbabilities, mode.finalValProbabilities, labels, classes, options);
  } catch (const std::invalid_argument& e) {
    c.accuracy = {};
    c.auc = {};
    c.accuracy.unavailable = c.auc.unavailable = e.what();
  }
  return c;
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
  const BootstrapOptions bootstrap;
  j["statistics"] = {
      {"differences", "mode minus baseline on the same validation images; ci95: percentile interval of a paired "
                      "bootstrap resampling images within each class"},
      {"selection", "each mode's figures are those of its selected_epoch (0: its last), chosen by the run's "
                    "--select-metric on these validation images: both sides are chosen the same way, so the "
                    "difference is fair but both levels are optimistic; the test split, when there is one, is not"},
      {"bootstrap_resamples", bootstrap.resamples},
      {"bootstrap_seed", bootstrap.seed},
      {"mcnemar", "exact two-sided binomial test on the images only one of the two runs classified correctly"},
      {"speedup_range", kSpeedRangeMethod},
  };
  j["verdict"] = s.verdict;
  j["modes"] = nlohmann::ordered_json::array();
  for (size_t i = 0; i < s.runs.size(); ++i) {
    std::optional<ModeComparison> vs;
    if (i > 0) {
      vs = i < s.versusBaseline.size() ? s.versusBaseline[i] : compareWithBaseline(s.runs[0], s.runs[i]);
    }
    j["modes"].push_back(runEntry(s.modeNames[i], s.runs[i], s.runs[0], vs ? &*vs : nullptr));
  }
  writeFileAtomic(s.outDir + "/comparison.json", j.dump(2) + "\n");
}

std::string comparisonVerdict(const ComparisonSummary& s) {
  if (s.runs.empty()) {
    return "No run completed.";
  }
  const auto& base = s.runs[0];
  if (base.outOfMemory) {
    // "Half the memory, double the batch": the baseline not fitting is itself the result.
    if (s.runs.size() >= 2 && s.runs[1].status == RunStatus::Finished) {
      return base.precision.label + " ran out of memory at this batch size; " + s.runs[1].precision.label +
             " trained with it (validation accuracy " + percent(s.runs[1].finalVal.accuracy) +
             "): its smaller activations made the batch fit.";
    }
    return base.precision.label + " ran out of memory at this batch size: lower the batch size to compare.";
  }
  if (s.runs.size() < 2) {
    return "Only one mode ran: nothing to compare.";
  }
  if (base.status != RunStatus::Finished) {
    return "The " + base.precision.label + " baseline " + ended(base) + ": nothing to compare against.";
  }
  // One line per mode: "<label>: <accuracy>; <speed>".
  std::string v;
  for (size_t i = 1; i < s.runs.size(); ++i) {
    const auto& r = s.runs[i];
    const auto c = i < s.versusBaseline.size() ? s.versusBaseline[i] : compareWithBaseline(base, r);
    v += v.empty() ? "" : "\n";
    v += r.precision.label + ": ";
    if (r.status != RunStatus::Finished) {
      v += ended(r) + (r.outOfMemory ? " at this batch size" : "") + ", not compared";
    } else {
      v += accuracyPart(base, r, c) + "; " + speedPart(base, r, c);
    }
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
  for (const auto& r : summary.runs) {
    summary.versusBaseline.push_back(&r == &summary.runs[0] ? ModeComparison{} : compareWithBaseline(summary.runs[0], r));
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
    r.precision.slowKernels = p.value("slow_reference_kernels", false);
    r.precision.label = p.value("label", "");
    r.precision.note = p.value("note", "");
    r.epochsCompleted = m.value("epochs", 0);
    r.medianEpochSeconds = number(m, "median_epoch_seconds", 0.0);
    r.imagesPerSecond = number(m, "images_per_s", 0.0);
    r.peakRssMb = number(m, "peak_rss_mb", 0.0);
    r.peakCudaMb = number(m, "peak_cuda_mb", 0.0);
    r.outOfMemory = m.value("out_of_memory", false);
    r.message = m.value("message", "");
    // null: not a number (a diverged run's loss), never 0, which would read as a result.
    const double nan = std::nan("");
    r.finalVal.accuracy = number(m, "val_accuracy", nan);
    r.finalVal.auc = number(m, "val_auc", nan);
    r.finalVal.loss = number(m, "val_loss", nan);
    r.hasFinalMetrics = m.value("has_final_metrics", true);
    r.overflowSteps = m.value("overflow_steps", 0);
    r.skippedSteps = m.value("skipped_steps", 0);
    r.finalLossScale = number(m, "final_loss_scale", 1.0);
    r.trainSeconds = number(m, "train_seconds", 0.0);

    // Written since the differences carry intervals; older files give unknown ones.
    ModeComparison c;
    if (!s.runs.empty()) {
      c.speedup = number(m, "speedup_vs_fp32", number(m, "speedup_vs_baseline", 0.0));
      const auto range = m.find("speedup_range");
      if (range != m.end() && range->is_array() && range->size() == 2 && (*range)[0].is_number() &&
          (*range)[1].is_number()) {
        c.speedLow = (*range)[0].get<double>();
        c.speedHigh = (*range)[1].get<double>();
      }
      c.timedEpochs = static_cast<int64_t>(number(m, "timed_epochs", 0.0));
      c.accuracy = diffFromJson(m, "accuracy_diff");
      c.auc = diffFromJson(m, "auc_diff");
      const auto why = m.find("diff_unavailable");
      if (why != m.end() && why->is_string()) {
        for (DiffEstimate* d : {&c.accuracy, &c.auc}) {
          d->unavailable = d->valid() ? "" : why->get<std::string>();
        }
      }
    }
    s.modeNames.push_back(m.value("mode", ""));
    s.modes.push_back(r.precision.requested);
    s.runs.push_back(r);
    s.versusBaseline.push_back(c);
  }
  return s;
}

}  // namespace ampbench
