#include "engine/train/RunDir.h"

#include "engine/models/Blocked.h"
#include "engine/train/Profile.h"
#include "engine/util/Allocator.h"
#include "engine/util/Files.h"
#include "engine/util/Hardware.h"

#include <nlohmann/json.hpp>

#include <filesystem>
#include <sstream>

namespace fs = std::filesystem;

namespace ampbench {

namespace {

std::string fmt(double v) {
  std::ostringstream ss;
  ss.precision(7);
  ss << v;
  return ss.str();
}

}  // namespace

int64_t repairCsvForResume(const std::string& path, const char* header, int keyColumn, int64_t last) {
  if (!fs::exists(path)) {
    return 0;
  }
  const std::string text = readFile(path);
  std::string kept;
  int64_t dropped = 0;
  size_t at = 0;
  bool first = true;
  while (at < text.size()) {
    const size_t nl = text.find('\n', at);
    if (nl == std::string::npos) {
      ++dropped;  // cut mid-write: its newline never reached the disk
      break;
    }
    const std::string line = text.substr(at, nl - at);
    at = nl + 1;
    if (first) {
      first = false;
      kept = (line.rfind(header, 0) == 0 ? line : std::string(header)) + "\n";
      continue;
    }
    if (line.empty()) {
      continue;
    }
    size_t begin = 0;
    for (int k = 0; k < keyColumn && begin != std::string::npos; ++k) {
      begin = line.find(',', begin);
      begin = begin == std::string::npos ? begin : begin + 1;
    }
    bool keep = false;
    if (begin != std::string::npos) {
      try {
        size_t used = 0;
        const auto cell = line.substr(begin, line.find(',', begin) - begin);
        keep = std::stoll(cell, &used) <= last && used == cell.size();
      } catch (const std::exception&) {
      }
    }
    if (keep) {
      kept += line + "\n";
    } else {
      ++dropped;
    }
  }
  if (first) {
    kept = std::string(header) + "\n";
  }
  writeFileAtomic(path, kept);
  return dropped;
}

std::string precisionToJson(const PrecisionInfo& p) {
  nlohmann::ordered_json j;
  j["requested"] = toString(p.requested);
  j["resolved"] = toString(p.resolved);
  j["compute_dtype"] = p.computeDtype;
  j["autocast"] = p.autocast;
  j["emulated"] = p.emulated;
  j["loss_scaling"] = p.lossScaling;
  j["master_weights"] = p.masterWeights;
  j["what_if"] = p.whatIf;
  j["slow_reference_kernels"] = p.slowKernels;
  j["label"] = p.label;
  j["note"] = p.note;
  return j.dump();
}

std::string datasetSummaryToJson(const DatasetSummary& s, int indent) {
  nlohmann::ordered_json j;
  j["source"] = s.source;
  j["kind"] = s.kind;
  j["classes"] = s.classes;
  j["image_size"] = s.imageSize;
  j["channels"] = s.channels;
  j["counts"] = s.counts;
  j["split_origin"] = s.splitOrigin;
  j["normalisation"] = {{"mean", s.mean}, {"std", s.std}};
  nlohmann::ordered_json skipped = nlohmann::ordered_json::array();
  for (const auto& f : s.skipped) {
    skipped.push_back({{"path", f.path}, {"reason", f.reason}});
  }
  j["skipped_count"] = s.skipped.size();
  j["ignored_count"] = s.ignoredCount;  // OS junk (__MACOSX/, .DS_Store...), not listed
  j["skipped"] = skipped;
  // File names need not be UTF-8 (old zips, Latin-1 systems): replaced, never a throw.
  return j.dump(indent, ' ', false, nlohmann::ordered_json::error_handler_t::replace);
}

RunDirWriter::RunDirWriter(const std::string& dir, bool resume, int64_t lastEpoch, int64_t lastStep) : dir_(dir) {
  ensureWritableDir(dir_);
  if (resume && fs::exists(path("steps.csv")) && fs::exists(path("epochs.csv"))) {
    repairCsvForResume(path("steps.csv"), kStepsHeader, 1, lastStep);
    repairCsvForResume(path("epochs.csv"), kEpochsHeader, 0, lastEpoch);
    steps_.open(path("steps.csv"), false);
    epochs_.open(path("epochs.csv"), false);
    // Runs written before validation.csv existed start one at the resume.
    const bool had = fs::exists(path("validation.csv"));
    repairCsvForResume(path("validation.csv"), kValidationHeader, 0, lastEpoch);
    validation_.open(path("validation.csv"), !had);
    if (!had) {
      validation_ << kValidationHeader << "\n";
    }
  } else {
    steps_.open(path("steps.csv"), true);
    epochs_.open(path("epochs.csv"), true);
    validation_.open(path("validation.csv"), true);
    steps_ << kStepsHeader << "\n";
    epochs_ << kEpochsHeader << "\n";
    validation_ << kValidationHeader << "\n";
  }
  flush();
}

RunDirWriter::~RunDirWriter() = default;  // the logs flush what they can

void RunDirWriter::writeConfig(const RunConfig& config, const PrecisionInfo& precision, const std::string& device,
                               int threads, const std::string& memoryFormat, const std::string& weightsLayout) {
  auto j = nlohmann::ordered_json::parse(configToJson(config));
  j["resolved"] = {{"precision", nlohmann::json::parse(precisionToJson(precision))},
                   {"device", device},
                   {"threads", threads},
                   {"memory_format", memoryFormat},
                   {"cpu", cpuModelName()},
                   {"cpu_allocator", cpuAllocatorDescription()},
                   {"hardware", nlohmann::ordered_json::parse(hardwareToJson(detectHardware()))},
                   {"ampbench_version", AMPBENCH_VERSION},
                   {"created", isoTimestampUtc()}};
  if (device.rfind("cuda", 0) == 0) {
    j["resolved"]["cudnn_benchmark"] = true;  // trainPrepared turns autotuning on for CUDA runs
  }
  if (memoryFormat == "blocked") {
    // The blocked path's per-shape choices follow fixed rules from these modes (Blocked.h), so
    // the modes say what ran: Winograd or direct convolutions, matmul or direct weight gradients,
    // small maps on a mosaic or not, the stem folded (space-to-depth) or not; and the weights' layout.
    j["resolved"]["blocked"] = {{"conv_algorithm", blocked::toString(blocked::convAlgorithm())},
                                {"weight_gradient", blocked::toString(blocked::weightGradient())},
                                {"small_maps", blocked::toString(blocked::smallMaps())},
                                {"stem", blocked::toString(blocked::stem())},
                                {"weights", weightsLayout}};
  }
  writeFileAtomic(path("config.json"), j.dump(2) + "\n");
}

void RunDirWriter::writeDataset(const DatasetSummary& summary) {
  writeFileAtomic(path("dataset.json"), datasetSummaryToJson(summary) + "\n");
}

void RunDirWriter::appendStep(const StepEvent& e) {
  steps_ << e.epoch << ',' << e.step << ',' << fmt(e.loss) << ',' << fmt(e.lr) << ',' << fmt(e.lossScale) << ','
         << (e.overflow ? 1 : 0) << ',' << (e.skipped ? 1 : 0) << ',' << fmt(e.imagesPerSecond) << '\n';
}

void RunDirWriter::appendEpoch(const EpochEvent& e) {
  auto opt = [&](double v) { return e.validated ? fmt(v) : std::string(); };
  epochs_ << e.epoch << ',' << fmt(e.trainLoss) << ',' << fmt(e.trainAccuracy) << ',' << opt(e.val.loss) << ','
          << opt(e.val.accuracy) << ',' << opt(e.val.auc) << ',' << fmt(e.epochSeconds) << ','
          << fmt(e.imagesPerSecond) << ',' << e.overflowSteps << ',' << fmt(e.lossScale) << ',' << fmt(e.peakRssMb)
          << '\n';
  if (e.validated) {
    validation_ << e.epoch << ',' << fmt(balancedAccuracy(e.val)) << ',' << fmt(e.val.sensitivity) << ','
                << fmt(e.val.specificity) << ',' << fmt(e.evalSeconds) << ',' << (e.best ? 1 : 0) << '\n';
  }
  flush();
}

void RunDirWriter::writeMetrics(const RunSummary& s, const std::vector<std::string>& classes,
                                const std::string& extraJson) {
  nlohmann::ordered_json j;
  j["status"] = toString(s.status);
  j["message"] = s.message;
  j["precision"] = nlohmann::json::parse(precisionToJson(s.precision));
  j["epochs_completed"] = s.epochsCompleted;
  j["steps_completed"] = s.stepsCompleted;
  j["median_epoch_seconds"] = s.medianEpochSeconds;
  j["images_per_s"] = s.imagesPerSecond;
  j["train_seconds"] = s.trainSeconds;
  j["peak_rss_mb"] = s.peakRssMb;
  if (s.peakCudaMb > 0) {
    j["peak_cuda_mb"] = s.peakCudaMb;
  }
  if (s.outOfMemory) {
    j["out_of_memory"] = true;
  }
  j["overflow_steps"] = s.overflowSteps;
  j["skipped_steps"] = s.skippedSteps;
  j["final_loss_scale"] = s.finalLossScale;
  if (s.hasFinalMetrics) {
    j["val"] = nlohmann::json::parse(metricsToJson(s.finalVal, classes));
  }
  if (s.selectedEpoch > 0) {
    // The epoch the run keeps (best.pt): "val" above is its validation.
    j["selection"] = {{"metric", s.selectedBy},
                      {"epoch", s.selectedEpoch},
                      {"value", s.selectedValue}};
  }
  if (s.profile.steps > 0 || !s.profile.error.empty()) {
    j["profile"] = nlohmann::json::parse(profileToJson(s.profile));
  }
  if (!extraJson.empty()) {
    for (auto& [k, v] : nlohmann::json::parse(extraJson).items()) {
      j[k] = v;
    }
  }
  writeFileAtomic(path("metrics.json"), j.dump(2) + "\n");
}

void RunDirWriter::flush() {
  steps_.flush();
  epochs_.flush();
  validation_.flush();
}

PrecisionStatsWriter::PrecisionStatsWriter(const std::string& dir, int64_t resumeAfterStep) {
  ensureWritableDir(dir);
  const auto statsPath = dir + "/grad_stats.csv";
  const auto overflowsPath = dir + "/overflows.csv";
  if (resumeAfterStep > 0 && fs::exists(statsPath) && fs::exists(overflowsPath)) {
    repairCsvForResume(statsPath, kGradStatsHeader, 0, resumeAfterStep);
    repairCsvForResume(overflowsPath, kOverflowsHeader, 0, resumeAfterStep);
    stats_.open(statsPath, false);
    overflows_.open(overflowsPath, false);
  } else {
    stats_.open(statsPath, true);
    overflows_.open(overflowsPath, true);
    stats_ << kGradStatsHeader << "\n";
    overflows_ << kOverflowsHeader << "\n";
  }
  flush();
}

PrecisionStatsWriter::~PrecisionStatsWriter() = default;

void PrecisionStatsWriter::append(const PrecisionStatsEvent& e) {
  for (const auto& t : e.tensors) {
    const std::string prefix = std::to_string(e.step) + ',' + t.layer + ',' + t.kind + ',';
    auto share = [&](const std::string& name, double v) { stats_ << prefix << name << ',' << fmt(v) << '\n'; };
    auto count = [&](const std::string& name, int64_t v) { stats_ << prefix << name << ',' << v << '\n'; };
    count("count", t.count);
    share("zero_share", t.zeroShare);
    const struct {
      const char* format;
      const char* suffix;
      const FormatShares& shares;
    } formats[] = {{"fp16", "", t.fp16}, {"fp16", "_scaled", t.fp16Scaled}, {"bf16", "", t.bf16},
                   {"bf16", "_scaled", t.bf16Scaled}};
    for (const auto& f : formats) {
      share(std::string(f.format) + "_underflow_share" + f.suffix, f.shares.underflow);
      share(std::string(f.format) + "_subnormal_share" + f.suffix, f.shares.subnormal);
      share(std::string(f.format) + "_overflow_share" + f.suffix, f.shares.overflow);
    }
    if (t.kind == "update") {
      share("update_lost_share_fp16", t.updateLostShareFp16);
      share("update_lost_share_bf16", t.updateLostShareBf16);
    }
    const std::pair<const char*, const Log2Histogram*> histograms[] = {{"", &t.unscaled}, {"_scaled", &t.scaled}};
    for (const auto& [suffix, h] : histograms) {
      for (size_t i = 0; i < h->bins.size(); ++i) {
        if (h->bins[i] != 0) {
          count("log2_bin_" + std::to_string(kLog2MinExp + static_cast<int>(i)) + suffix, h->bins[i]);
        }
      }
      count(std::string("log2_bin_below") + suffix, h->below);
      count(std::string("log2_bin_above") + suffix, h->above);
      count(std::string("zero_count") + suffix, h->zeros);
      count(std::string("inf_count") + suffix, h->infs);
      count(std::string("nan_count") + suffix, h->nans);
    }
  }
  stats_.flush();  // sampled steps are rare: each lands whole
}

void PrecisionStatsWriter::append(const OverflowAttribution& a) {
  overflows_ << a.step << ',' << a.layer << ',' << a.kind << ',' << fmt(a.value) << '\n';
  overflows_.flush();
}

void PrecisionStatsWriter::flush() {
  stats_.flush();
  overflows_.flush();
}

std::string toString(RunStatus s) {
  switch (s) {
    case RunStatus::Finished: return "finished";
    case RunStatus::Cancelled: return "cancelled";
    case RunStatus::Diverged: return "diverged";
    case RunStatus::Failed: return "failed";
  }
  return "unknown";
}

}  // namespace ampbench
