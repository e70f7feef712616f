#include "app/cli/CliReporter.h"

#include "engine/core/SplitShift.h"
#include "engine/train/Profile.h"
#include "engine/util/Files.h"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cmath>
#include <vector>
#include <unistd.h>

namespace ampbench::cli {

namespace {

std::string eta(double seconds) {
  if (!std::isfinite(seconds) || seconds < 0) {
    return "--:--";
  }
  const auto s = static_cast<int64_t>(seconds + 0.5);
  char buf[32];
  if (s >= 3600) {
    std::snprintf(buf, sizeof buf, "%lld:%02lld:%02lld", static_cast<long long>(s / 3600),
                  static_cast<long long>(s / 60 % 60), static_cast<long long>(s % 60));
  } else {
    std::snprintf(buf, sizeof buf, "%lld:%02lld", static_cast<long long>(s / 60), static_cast<long long>(s % 60));
  }
  return buf;
}

nlohmann::ordered_json metricsJson(const Metrics& m) {
  return {{"count", m.count},       {"loss", m.loss},
          {"accuracy", m.accuracy}, {"auc", m.auc},
          {"sensitivity", m.sensitivity}, {"specificity", m.specificity},
          {"confusion", m.confusion}};
}

nlohmann::ordered_json summaryJson(const RunSummary& s) {
  nlohmann::ordered_json j{{"status", toString(s.status)},
                           {"message", s.message},
                           {"run_dir", s.runDir},
                           {"precision", s.precision.label},
                           {"emulated", s.precision.emulated},
                           {"epochs", s.epochsCompleted},
                           {"steps", s.stepsCompleted},
                           {"median_epoch_seconds", s.medianEpochSeconds},
                           {"images_per_s", s.imagesPerSecond},
                           {"peak_rss_mb", s.peakRssMb},
                           {"overflow_steps", s.overflowSteps},
                           {"skipped_steps", s.skippedSteps},
                           {"final_loss_scale", s.finalLossScale}};
  if (s.peakCudaMb > 0) {
    j["peak_cuda_mb"] = s.peakCudaMb;
  }
  if (s.outOfMemory) {
    j["out_of_memory"] = true;
  }
  if (s.hasFinalMetrics) {
    j["val"] = metricsJson(s.finalVal);
  }
  if (s.profile.steps > 0 || !s.profile.error.empty()) {
    j["profile"] = nlohmann::ordered_json::parse(profileToJson(s.profile));
  }
  return j;
}

void emit(std::FILE* out, const char* type, nlohmann::ordered_json body) {
  nlohmann::ordered_json j;
  j["event"] = type;
  for (auto& [k, v] : body.items()) {
    j[k] = v;
  }
  std::fprintf(out, "%s\n", j.dump().c_str());
  std::fflush(out);
}

}  // namespace

CliReporter::CliReporter(OutputMode mode, std::FILE* out) : mode_(mode), out_(out), tty_(isatty(fileno(out)) != 0) {}

bool CliReporter::throttle(double interval) {
  const auto now = Clock::now();
  if (std::chrono::duration<double>(now - lastPrint_).count() < interval) {
    return false;
  }
  lastPrint_ = now;
  return true;
}

void CliReporter::endLine() {
  if (lineOpen_) {
    std::fprintf(out_, "\n");
    lineOpen_ = false;
  }
}

void CliReporter::onDataProgress(const DataProgressEvent& e) {
  if (mode_ == OutputMode::JsonEvents) {
    if (e.done == e.total || throttle(1.0)) {
      emit(out_, "data_progress", {{"phase", e.phase}, {"done", e.done}, {"total", e.total}});
    }
    return;
  }
  if (mode_ != OutputMode::Human) {
    return;
  }
  if (e.total <= 0) {
    // Listing a folder: the total is not known yet, so a count, not a percentage. Only a
    // slow listing (a huge or network folder) is worth a line; a quick one stays silent.
    if (e.phase != "scan") {
      return;
    }
    const auto now = Clock::now();
    if (!scanStart_) {
      scanStart_ = now;
    }
    const double interval = tty_ ? 0.5 : 5.0;
    if (std::chrono::duration<double>(now - *scanStart_).count() >= interval && throttle(interval)) {
      std::fprintf(out_, "%s%sscanning the dataset: %lld image files found%s", tty_ ? "\r" : "", tag_.c_str(),
                   static_cast<long long>(e.done), tty_ ? "\x1b[K" : "\n");
      lineOpen_ = tty_;
      std::fflush(out_);
    }
    return;
  }
  if (!(e.done == e.total || throttle(tty_ ? 0.2 : 5.0))) {
    return;
  }
  std::fprintf(out_, "%s%sdecoding images %lld/%lld (%.0f %%)%s", tty_ ? "\r" : "", tag_.c_str(),
               static_cast<long long>(e.done), static_cast<long long>(e.total), 100.0 * e.done / e.total,
               tty_ ? "\x1b[K" : "\n");
  lineOpen_ = tty_;
  if (e.done == e.total) {
    endLine();
  }
  std::fflush(out_);
}

void CliReporter::onRunStarted(const RunStartedEvent& e) {
  epochs_ = e.config.epochs;
  totalSteps_ = e.totalSteps;
  firstStep_ = e.startStep;
  runStart_ = Clock::now();
  if (mode_ == OutputMode::JsonEvents) {
    emit(out_, "run_started",
         {{"run_dir", e.runDir},
          {"model", e.config.model},
          {"parameters", e.parameterCount},
          {"precision", e.precision.label},
          {"emulated", e.precision.emulated},
          {"loss_scaling", e.precision.lossScaling},
          {"device", e.device},
          {"threads", e.threads},
          {"classes", e.dataset.classes},
          {"counts", e.dataset.counts},
          {"skipped", e.dataset.skipped.size()},
          {"ignored", e.dataset.ignoredCount},
          {"steps_per_epoch", e.stepsPerEpoch},
          {"total_steps", e.totalSteps},
          {"start_epoch", e.startEpoch},
          {"start_step", e.startStep},
          {"resume_note", e.resumeNote}});
    return;
  }
  if (mode_ != OutputMode::Human) {
    return;
  }
  endLine();
  std::fprintf(out_, "%s%s on %s, %d threads: %s (%lld parameters), %lld px, batch %lld\n", tag_.c_str(),
               e.precision.label.c_str(), e.device.c_str(), e.threads, e.config.model.c_str(),
               static_cast<long long>(e.parameterCount), static_cast<long long>(e.config.imageSize),
               static_cast<long long>(e.config.batchSize));
  std::fprintf(out_, "%s  %s\n", tag_.c_str(), e.precision.note.c_str());
  if (!e.resumeNote.empty()) {
    std::fprintf(out_, "%s  %s\n", tag_.c_str(), e.resumeNote.c_str());
  }
  for (const auto& [split, counts] : e.dataset.counts) {
    std::string line;
    for (size_t i = 0; i < counts.size(); ++i) {
      line += (i ? ", " : "") + e.dataset.classes[i] + " " + std::to_string(counts[i]);
    }
    const auto origin = e.dataset.splitOrigin.count(split) ? e.dataset.splitOrigin.at(split) : "";
    std::fprintf(out_, "%s  %-5s %s%s\n", tag_.c_str(), split.c_str(), line.c_str(),
                 origin == "carved from train" ? "  (carved from train)" : "");
  }
  if (!e.dataset.skipped.empty()) {
    // A count, the first few and where the whole list is: a hostile folder can skip thousands.
    const size_t n = e.dataset.skipped.size();
    std::fprintf(out_, "%s  skipped %zu file%s that cannot be used (all listed with the reason in %s/dataset.json):\n",
                 tag_.c_str(), n, n == 1 ? "" : "s", e.runDir.c_str());
    constexpr size_t kShown = 5;
    for (size_t i = 0; i < std::min(n, kShown); ++i) {
      std::fprintf(out_, "%s    %s: %s\n", tag_.c_str(), e.dataset.skipped[i].path.c_str(),
                   e.dataset.skipped[i].reason.c_str());
    }
    if (n > kShown) {
      std::fprintf(out_, "%s    ... and %zu more\n", tag_.c_str(), n - kShown);
    }
  }
  if (e.dataset.ignoredCount > 0) {
    std::fprintf(out_, "%s  ignored %lld OS or hidden entries (__MACOSX/, .DS_Store, Thumbs.db...)\n", tag_.c_str(),
                 static_cast<long long>(e.dataset.ignoredCount));
  }
  std::fflush(out_);
}

void CliReporter::onStep(const StepEvent& e) {
  if (mode_ == OutputMode::JsonEvents) {
    emit(out_, "step",
         {{"epoch", e.epoch},
          {"step", e.step},
          {"step_in_epoch", e.stepInEpoch},
          {"loss", e.loss},
          {"lr", e.lr},
          {"loss_scale", e.lossScale},
          {"overflow", e.overflow},
          {"skipped", e.skipped},
          {"images_per_s", e.imagesPerSecond}});
    return;
  }
  if (mode_ != OutputMode::Human || !throttle(tty_ ? 0.25 : 10.0)) {
    return;
  }
  const double done = static_cast<double>(e.step - firstStep_);
  const double elapsed = std::chrono::duration<double>(Clock::now() - runStart_).count();
  const double remaining = done > 0 ? elapsed / done * static_cast<double>(totalSteps_ - e.step) : NAN;
  std::fprintf(out_, "%s%sepoch %lld/%lld %3.0f %% step %lld/%lld  loss %.4f  scale %g  %.0f img/s  ETA %s%s",
               tty_ ? "\r" : "", tag_.c_str(), static_cast<long long>(e.epoch), static_cast<long long>(epochs_),
               100.0 * e.stepInEpoch / std::max<int64_t>(1, e.stepsPerEpoch), static_cast<long long>(e.stepInEpoch),
               static_cast<long long>(e.stepsPerEpoch), e.loss, e.lossScale, e.imagesPerSecond, eta(remaining).c_str(),
               tty_ ? "\x1b[K" : "\n");
  lineOpen_ = tty_;
  std::fflush(out_);
}

void CliReporter::onEpoch(const EpochEvent& e) {
  if (mode_ == OutputMode::JsonEvents) {
    nlohmann::ordered_json j{{"epoch", e.epoch},
                             {"epochs", e.epochs},
                             {"train_loss", e.trainLoss},
                             {"train_acc", e.trainAccuracy},
                             {"epoch_seconds", e.epochSeconds},
                             {"eval_seconds", e.evalSeconds},
                             {"images_per_s", e.imagesPerSecond},
                             {"overflow_steps", e.overflowSteps},
                             {"skipped_steps", e.skippedSteps},
                             {"loss_scale", e.lossScale},
                             {"peak_rss_mb", e.peakRssMb}};
    if (e.peakCudaMb > 0) {
      j["peak_cuda_mb"] = e.peakCudaMb;
    }
    if (e.validated) {
      j["val"] = metricsJson(e.val);
    }
    emit(out_, "epoch", j);
    return;
  }
  if (mode_ != OutputMode::Human) {
    return;
  }
  endLine();
  std::fprintf(out_, "%sepoch %lld/%lld  train loss %.4f acc %.1f %%", tag_.c_str(), static_cast<long long>(e.epoch),
               static_cast<long long>(e.epochs), e.trainLoss, 100.0 * e.trainAccuracy);
  if (e.validated) {
    std::fprintf(out_, "  val loss %.4f acc %.1f %% AUC %.3f", e.val.loss, 100.0 * e.val.accuracy, e.val.auc);
  }
  std::fprintf(out_, "  %.1f s  %.0f img/s  scale %g", e.epochSeconds, e.imagesPerSecond, e.lossScale);
  if (e.overflowSteps > 0) {
    std::fprintf(out_, "  overflow %lld", static_cast<long long>(e.overflowSteps));
  }
  std::fprintf(out_, "\n");
  std::fflush(out_);
}

void CliReporter::onEvaluation(const EvaluationEvent& e) {
  if (mode_ == OutputMode::JsonEvents) {
    emit(out_, "evaluation", {{"split", e.split}, {"metrics", metricsJson(e.metrics)}});
  }
}

void CliReporter::onCheckpoint(const CheckpointEvent& e) {
  if (mode_ == OutputMode::JsonEvents) {
    emit(out_, "checkpoint", {{"path", e.path},
                              {"epoch", e.epoch},
                              {"step_in_epoch", e.stepInEpoch},
                              {"write_seconds", e.writeSeconds}});
  }
}

void CliReporter::printEnd(const char* kind, const RunSummary& s) {
  if (mode_ == OutputMode::JsonEvents) {
    emit(out_, kind, summaryJson(s));
    return;
  }
  endLine();
  printProfile(s.profile);
  if (mode_ == OutputMode::Quiet && s.status == RunStatus::Finished) {
    return;
  }
  std::fprintf(out_, "%s%s: %s\n", tag_.c_str(), kind, s.message.c_str());
  if (s.hasFinalMetrics && s.status == RunStatus::Finished) {
    std::fprintf(out_, "%sval accuracy %.1f %%, AUC %.3f, sensitivity %.3f, specificity %.3f; %.0f img/s; run in %s\n",
                 tag_.c_str(), 100.0 * s.finalVal.accuracy, s.finalVal.auc, s.finalVal.sensitivity,
                 s.finalVal.specificity, s.imagesPerSecond, s.runDir.c_str());
  }
  std::fflush(out_);
}

void CliReporter::printProfile(const StepProfile& p) {
  if (!p.error.empty()) {
    std::fprintf(out_, "%sprofile: %s\n", tag_.c_str(), p.error.c_str());
    return;
  }
  if (p.steps == 0 || mode_ == OutputMode::Quiet) {
    return;
  }
  std::fprintf(out_, "%swhere a training step goes: steps %lld-%lld, %.1f ms per step (self time per op; %s)\n",
               tag_.c_str(), static_cast<long long>(p.firstStep), static_cast<long long>(p.firstStep + p.steps - 1),
               p.wallMsPerStep, p.tracePath.c_str());
  const double wall = std::max(p.wallMsPerStep, 1e-9);
  std::fprintf(out_, "%s  %7s %6s  %s\n", tag_.c_str(), "ms/step", "share", "phase (total time)");
  std::vector<const ProfiledOp*> phases;
  for (const auto& op : p.ops) {
    if (isPhase(op.name)) {
      phases.push_back(&op);
    }
  }
  std::stable_sort(phases.begin(), phases.end(),
                   [](const ProfiledOp* a, const ProfiledOp* b) { return a->totalMsPerStep > b->totalMsPerStep; });
  for (const auto* op : phases) {
    std::fprintf(out_, "%s  %7.2f %5.1f%%  %s\n", tag_.c_str(), op->totalMsPerStep, 100.0 * op->totalMsPerStep / wall,
                 phaseName(op->name).c_str());
  }
  std::fprintf(out_, "%s  %7s %6s %7s  %s\n", tag_.c_str(), "ms/step", "share", "calls", "op (self time)");
  size_t shown = 0, ops = 0;
  for (const auto& op : p.ops) {
    if (isPhase(op.name)) {
      continue;
    }
    ++ops;
    if (shown < 15) {
      ++shown;
      std::fprintf(out_, "%s  %7.2f %5.1f%% %7.1f  %s\n", tag_.c_str(), op.selfMsPerStep, 100.0 * op.share,
                   op.callsPerStep, op.name.c_str());
    }
  }
  if (ops > shown) {
    std::fprintf(out_, "%s  ... %zu more ops in %s\n", tag_.c_str(), ops - shown, p.csvPath.c_str());
  }
}

// JSON events only: the shares per tensor (the histograms are in grad_stats.csv); a
// person at a terminal reads them in the GUI's Precision tab or grad_stats.csv.
void CliReporter::onPrecisionStats(const PrecisionStatsEvent& e) {
  if (mode_ != OutputMode::JsonEvents) {
    return;
  }
  auto shares = [](const FormatShares& f) {
    return nlohmann::ordered_json{{"underflow", f.underflow}, {"subnormal", f.subnormal}, {"overflow", f.overflow}};
  };
  nlohmann::ordered_json tensors = nlohmann::ordered_json::array();
  for (const auto& t : e.tensors) {
    nlohmann::ordered_json j{{"layer", t.layer},        {"kind", t.kind},
                             {"count", t.count},        {"zero_share", t.zeroShare},
                             {"fp16", shares(t.fp16)},  {"fp16_scaled", shares(t.fp16Scaled)},
                             {"bf16", shares(t.bf16)},  {"bf16_scaled", shares(t.bf16Scaled)}};
    if (t.kind == "update") {
      j["update_lost_share_fp16"] = t.updateLostShareFp16;
      j["update_lost_share_bf16"] = t.updateLostShareBf16;
    }
    tensors.push_back(std::move(j));
  }
  emit(out_, "precision_stats", {{"epoch", e.epoch}, {"step", e.step}, {"loss_scale", e.lossScale}, {"tensors", tensors}});
}

void CliReporter::onOverflowAttribution(const OverflowAttribution& a) {
  if (mode_ == OutputMode::JsonEvents) {
    emit(out_, "overflow", {{"step", a.step}, {"layer", a.layer}, {"kind", a.kind},
                            {"value", std::isfinite(a.value) ? nlohmann::ordered_json(a.value)
                                                             : nlohmann::ordered_json(std::isnan(a.value) ? "nan" : (a.value > 0 ? "inf" : "-inf"))}});
  }
}

void CliReporter::onFinished(const RunSummary& s) { printEnd("finished", s); }
void CliReporter::onCancelled(const RunSummary& s) { printEnd("cancelled", s); }
void CliReporter::onFailed(const RunSummary& s) { printEnd("stopped", s); }

void CliReporter::onCompareModeStarted(int index, int count, PrecisionMode mode) {
  tag_ = "[" + toString(mode) + "] ";
  if (mode_ == OutputMode::JsonEvents) {
    emit(out_, "compare_mode", {{"index", index}, {"count", count}, {"mode", toString(mode)}});
  } else if (mode_ == OutputMode::Human) {
    endLine();
    std::fprintf(out_, "\n== mode %d/%d: %s (modes run one after the other on the same data, seed and weights)\n",
                 index + 1, count, toString(mode).c_str());
  }
}

void printValVsTest(const std::string& runDir, FILE* out) {
  const std::string path = runDir + "/val_vs_test.json";
  if (access(path.c_str(), R_OK) != 0) {
    return;
  }
  SplitShift s;
  try {
    s = splitShiftFromJson(readFile(path));
  } catch (const std::exception& e) {
    std::fprintf(out, "%s: %s\n", path.c_str(), e.what());
    return;
  }
  auto cell = [](const Estimate& e, bool percent) {
    char b[64];
    if (!e.defined()) {
      return std::string("—");
    }
    const double k = percent ? 100.0 : 1.0;
    if (e.ci95.valid()) {
      std::snprintf(b, sizeof b, percent ? "%.1f (%.1f–%.1f)" : "%.3f (%.3f–%.3f)", k * e.value, k * e.ci95.low,
                    k * e.ci95.high);
    } else {
      std::snprintf(b, sizeof b, percent ? "%.1f" : "%.3f", k * e.value);
    }
    return std::string(b);
  };
  std::fprintf(out, "\nvalidation (%lld images) vs test (%lld images), at the run's threshold (%s); 95 %% intervals:\n",
               static_cast<long long>(s.valCount), static_cast<long long>(s.testCount), s.thresholdSource.c_str());
  for (const auto& r : s.rows) {
    const bool percent = isPercentFigure(r.key);
    std::fprintf(out, "  %-26s %-24s %-24s%s\n", (r.label + (percent ? " %" : "")).c_str(), cell(r.val, percent).c_str(),
                 cell(r.test, percent).c_str(), r.gap ? "  GAP" : "");
  }
  for (const auto& f : s.findings) {
    std::fprintf(out, "  %s\n", f.c_str());
  }
  std::fprintf(out, "  (%s)\n", path.c_str());
}

}  // namespace ampbench::cli
