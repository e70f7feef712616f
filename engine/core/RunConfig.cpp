#include "engine/core/RunConfig.h"

#include "engine/util/Errors.h"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <filesystem>
#include <utility>

namespace ampbench {

namespace {

template <typename E>
struct EnumNames {
  std::vector<std::pair<E, const char*>> names;

  std::string toString(E e) const {
    for (const auto& [v, n] : names) {
      if (v == e) {
        return n;
      }
    }
    return "unknown";
  }
  E parse(const std::string& given, const char* what) const {
    std::string s = given;
    const auto first = s.find_first_not_of(" \t");
    s = first == std::string::npos ? std::string() : s.substr(first, s.find_last_not_of(" \t") - first + 1);
    std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return std::tolower(c); });
    std::replace(s.begin(), s.end(), '-', '_');
    std::string choices;
    for (const auto& [v, n] : names) {
      std::string name = n;
      std::replace(name.begin(), name.end(), '-', '_');
      if (name == s) {
        return v;
      }
      choices += (choices.empty() ? "" : ", ") + std::string(n);
    }
    throw InputError(std::string("unknown ") + what + " '" + given + "': choose one of " + choices);
  }
};

const EnumNames<PrecisionMode> kPrecision{{{PrecisionMode::Fp32, "fp32"},
                                           {PrecisionMode::Fp16, "fp16"},
                                           {PrecisionMode::Bf16, "bf16"},
                                           {PrecisionMode::Auto, "auto"},
                                           {PrecisionMode::Fp16NoScale, "fp16-noscale"},
                                           {PrecisionMode::Fp16Pure, "fp16-pure"},
                                           {PrecisionMode::Bf16Pure, "bf16-pure"}}};
const EnumNames<Bf16KernelsKind> kBf16Kernels{{{Bf16KernelsKind::Auto, "auto"},
                                               {Bf16KernelsKind::Native, "native"},
                                               {Bf16KernelsKind::Emulated, "emulated"}}};
const EnumNames<OptimizerKind> kOptimizer{{{OptimizerKind::Sgd, "sgd"}, {OptimizerKind::AdamW, "adamw"}}};
const EnumNames<ScheduleKind> kSchedule{{{ScheduleKind::OneCycle, "onecycle"},
                                         {ScheduleKind::Cosine, "cosine"},
                                         {ScheduleKind::Constant, "constant"}}};
const EnumNames<DeviceKind> kDevice{{{DeviceKind::Auto, "auto"}, {DeviceKind::Cpu, "cpu"}, {DeviceKind::Cuda, "cuda"}}};
const EnumNames<BalanceKind> kBalance{{{BalanceKind::None, "none"},
                                       {BalanceKind::Loss, "loss"},
                                       {BalanceKind::Sampler, "sampler"}}};
const EnumNames<MemoryFormatKind> kMemoryFormat{{{MemoryFormatKind::Auto, "auto"},
                                                 {MemoryFormatKind::Contiguous, "contiguous"},
                                                 {MemoryFormatKind::ChannelsLast, "channels_last"}}};
const EnumNames<SelectMetricKind> kSelectMetric{{{SelectMetricKind::BalancedAccuracy, "balanced_accuracy"},
                                                 {SelectMetricKind::Auc, "auc"},
                                                 {SelectMetricKind::Accuracy, "accuracy"},
                                                 {SelectMetricKind::Loss, "loss"},
                                                 {SelectMetricKind::Last, "last"}}};
const EnumNames<ThresholdRuleKind> kThresholdRule{{{ThresholdRuleKind::None, "none"},
                                                   {ThresholdRuleKind::Youden, "youden"},
                                                   {ThresholdRuleKind::Sensitivity, "sensitivity"}}};
const EnumNames<ScalingKind> kScaling{{{ScalingKind::Auto, "auto"}, {ScalingKind::On, "on"}, {ScalingKind::Off, "off"}}};

}  // namespace

std::string toString(PrecisionMode m) { return kPrecision.toString(m); }
std::string toString(OptimizerKind k) { return kOptimizer.toString(k); }
std::string toString(ScheduleKind k) { return kSchedule.toString(k); }
std::string toString(DeviceKind k) { return kDevice.toString(k); }
std::string toString(BalanceKind k) { return kBalance.toString(k); }
std::string toString(MemoryFormatKind k) { return kMemoryFormat.toString(k); }
std::string toString(ScalingKind k) { return kScaling.toString(k); }
std::string toString(Bf16KernelsKind k) { return kBf16Kernels.toString(k); }
std::string toString(SelectMetricKind k) { return kSelectMetric.toString(k); }
std::string toString(ThresholdRuleKind k) { return kThresholdRule.toString(k); }
bool isWhatIf(PrecisionMode m) {
  return m == PrecisionMode::Fp16NoScale || m == PrecisionMode::Fp16Pure || m == PrecisionMode::Bf16Pure;
}
std::vector<PrecisionMode> allPrecisionModes() {
  std::vector<PrecisionMode> v;
  for (const auto& [m, n] : kPrecision.names) {
    v.push_back(m);
  }
  return v;
}
PrecisionMode parsePrecision(const std::string& s) { return kPrecision.parse(s, "precision"); }
OptimizerKind parseOptimizer(const std::string& s) { return kOptimizer.parse(s, "optimizer"); }
ScheduleKind parseSchedule(const std::string& s) {
  return kSchedule.parse(s == "one_cycle" || s == "one-cycle" ? "onecycle" : s, "schedule");
}
DeviceKind parseDevice(const std::string& s) { return kDevice.parse(s, "device"); }
BalanceKind parseBalance(const std::string& s) { return kBalance.parse(s, "class balance"); }
MemoryFormatKind parseMemoryFormat(const std::string& s) { return kMemoryFormat.parse(s, "memory format"); }
ScalingKind parseScaling(const std::string& s) { return kScaling.parse(s, "loss scaling"); }
Bf16KernelsKind parseBf16Kernels(const std::string& s) { return kBf16Kernels.parse(s, "bf16 kernels"); }
SelectMetricKind parseSelectMetric(const std::string& s) { return kSelectMetric.parse(s, "selection metric"); }
ThresholdRuleKind parseThresholdRule(const std::string& s) { return kThresholdRule.parse(s, "threshold rule"); }
std::vector<PrecisionMode> parsePrecisionList(const std::string& s) {
  std::vector<PrecisionMode> modes;
  size_t start = 0;
  while (start <= s.size()) {
    const auto comma = s.find(',', start);
    const auto item = s.substr(start, comma == std::string::npos ? std::string::npos : comma - start);
    if (!item.empty()) {
      modes.push_back(parsePrecision(item));
    }
    if (comma == std::string::npos) {
      break;
    }
    start = comma + 1;
  }
  return modes;
}

std::string configToJson(const RunConfig& c, int indent) {
  nlohmann::ordered_json j;
  j["data"] = {{"path", c.dataPath},
               {"cache", c.cachePath},
               {"cache_memory_mb", c.cacheMemoryMb},
               {"limit_per_split", c.limitPerSplit},
               {"val_fraction", c.split.valFraction},
               {"test_fraction", c.split.testFraction},
               {"split_seed", c.split.splitSeed},
               {"image_size", c.imageSize},
               {"channels", c.channels},
               {"max_image_pixels", c.maxImagePixels},
               {"balance", toString(c.balance)},
               {"augment",
                {{"enabled", c.augment.enabled},
                 {"min_crop_area", c.augment.minCropArea},
                 {"max_rotation_deg", c.augment.maxRotationDeg},
                 {"horizontal_flip", c.augment.horizontalFlip},
                 {"max_translate", c.augment.maxTranslate},
                 {"brightness", c.augment.brightness},
                 {"contrast", c.augment.contrast},
                 {"gamma", c.augment.gamma}}}};
  j["model"] = {{"name", c.model}, {"pretrained", c.pretrained}};
  j["precision"] = {{"mode", toString(c.precision)},
                    {"strict", c.strict},
                    {"bf16_kernels", toString(c.bf16Kernels)},
                    {"memory_format", toString(c.memoryFormat)},
                    {"loss_scaler",
                     {{"mode", toString(c.scaler.mode)},
                      {"init_scale", c.scaler.initScale},
                      {"growth_factor", c.scaler.growthFactor},
                      {"backoff_factor", c.scaler.backoffFactor},
                      {"growth_interval", c.scaler.growthInterval},
                      {"min_scale", c.scaler.minScale},
                      {"max_scale", c.scaler.maxScale}}}};
  j["optim"] = {{"epochs", c.epochs},
                {"batch_size", c.batchSize},
                {"optimizer", toString(c.optimizer)},
                {"lr", c.lr},
                {"momentum", c.momentum},
                {"weight_decay", c.weightDecay},
                {"schedule", toString(c.schedule)},
                {"warmup_fraction", c.warmupFraction},
                {"grad_clip_norm", c.gradClipNorm},
                {"label_smoothing", c.labelSmoothing},
                {"ema_decay", c.emaDecay}};
  j["evaluation"] = {{"tta_views", c.tta.views}, {"tta_shift", c.tta.shift}};
  j["selection"] = {{"metric", toString(c.selection.metric)},
                    {"threshold_rule", toString(c.selection.thresholdRule)},
                    {"target_sensitivity", c.selection.targetSensitivity}};
  if (!c.recipe.empty()) {
    j["recipe"] = c.recipe;
  }
  j["run"] = {{"seed", c.seed},
              {"threads", c.threads},
              {"device", toString(c.device)},
              {"eval_every", c.evalEvery},
              {"step_event_every", c.stepEventEvery},
              {"profile_steps", c.profileSteps},
              {"grad_stats_every", c.gradStatsEvery},
              {"detect_anomaly", c.detectAnomaly},
              {"checkpoint_minutes", c.checkpointMinutes},
              {"inject_nan_at_step", c.injectNanAtStep},
              {"out", c.outDir},
              {"resume_from", c.resumeFrom},
              {"export_at_end", c.exportAtEnd}};
  if (c.distributed.worldSize > 1) {
    j["distributed"] = {{"world_size", c.distributed.worldSize},
                        {"backend", c.distributed.backend},
                        {"per_rank_batch", c.batchSize},
                        {"sync_bn", c.distributed.syncBatchNorm}};
  }
  return j.dump(indent);
}

RunConfig configFromJson(const std::string& text) {
  RunConfig c;
  nlohmann::json j;
  try {
    j = nlohmann::json::parse(text);
  } catch (const std::exception& e) {
    throw InputError(std::string("config.json is not valid JSON: ") + e.what());
  }
  auto get = [](const nlohmann::json& o, const char* key, auto& dst) {
    if (o.is_object() && o.contains(key) && !o[key].is_null()) {
      dst = o[key].get<std::decay_t<decltype(dst)>>();
    }
  };
  auto getEnum = [](const nlohmann::json& o, const char* key, auto& dst, auto parse) {
    if (o.is_object() && o.contains(key) && o[key].is_string()) {
      dst = parse(o[key].get<std::string>());
    }
  };
  const auto& d = j.value("data", nlohmann::json::object());
  get(d, "path", c.dataPath);
  get(d, "cache", c.cachePath);
  get(d, "cache_memory_mb", c.cacheMemoryMb);
  get(d, "limit_per_split", c.limitPerSplit);
  get(d, "val_fraction", c.split.valFraction);
  get(d, "test_fraction", c.split.testFraction);
  get(d, "split_seed", c.split.splitSeed);
  get(d, "image_size", c.imageSize);
  get(d, "channels", c.channels);
  get(d, "max_image_pixels", c.maxImagePixels);
  getEnum(d, "balance", c.balance, parseBalance);
  const auto& a = d.value("augment", nlohmann::json::object());
  get(a, "enabled", c.augment.enabled);
  get(a, "min_crop_area", c.augment.minCropArea);
  get(a, "max_rotation_deg", c.augment.maxRotationDeg);
  get(a, "horizontal_flip", c.augment.horizontalFlip);
  get(a, "max_translate", c.augment.maxTranslate);
  get(a, "brightness", c.augment.brightness);
  get(a, "contrast", c.augment.contrast);
  get(a, "gamma", c.augment.gamma);
  const auto& m = j.value("model", nlohmann::json::object());
  get(m, "name", c.model);
  get(m, "pretrained", c.pretrained);
  const auto& p = j.value("precision", nlohmann::json::object());
  getEnum(p, "mode", c.precision, parsePrecision);
  get(p, "strict", c.strict);
  getEnum(p, "bf16_kernels", c.bf16Kernels, parseBf16Kernels);
  getEnum(p, "memory_format", c.memoryFormat, parseMemoryFormat);
  const auto& s = p.value("loss_scaler", nlohmann::json::object());
  getEnum(s, "mode", c.scaler.mode, parseScaling);
  get(s, "init_scale", c.scaler.initScale);
  get(s, "growth_factor", c.scaler.growthFactor);
  get(s, "backoff_factor", c.scaler.backoffFactor);
  get(s, "growth_interval", c.scaler.growthInterval);
  get(s, "min_scale", c.scaler.minScale);
  get(s, "max_scale", c.scaler.maxScale);
  const auto& o = j.value("optim", nlohmann::json::object());
  get(o, "epochs", c.epochs);
  get(o, "batch_size", c.batchSize);
  getEnum(o, "optimizer", c.optimizer, parseOptimizer);
  get(o, "lr", c.lr);
  get(o, "momentum", c.momentum);
  get(o, "weight_decay", c.weightDecay);
  getEnum(o, "schedule", c.schedule, parseSchedule);
  get(o, "warmup_fraction", c.warmupFraction);
  get(o, "grad_clip_norm", c.gradClipNorm);
  get(o, "label_smoothing", c.labelSmoothing);
  get(o, "ema_decay", c.emaDecay);
  const auto& ev = j.value("evaluation", nlohmann::json::object());
  get(ev, "tta_views", c.tta.views);
  get(ev, "tta_shift", c.tta.shift);
  if (const auto sel = j.find("selection"); sel != j.end() && sel->is_object()) {
    getEnum(*sel, "metric", c.selection.metric, parseSelectMetric);
    getEnum(*sel, "threshold_rule", c.selection.thresholdRule, parseThresholdRule);
    get(*sel, "target_sensitivity", c.selection.targetSensitivity);
  } else {
    c.selection.metric = SelectMetricKind::Last;  // written before selection existed: the last epoch
  }
  get(j, "recipe", c.recipe);
  const auto& r = j.value("run", nlohmann::json::object());
  get(r, "seed", c.seed);
  get(r, "threads", c.threads);
  getEnum(r, "device", c.device, parseDevice);
  get(r, "eval_every", c.evalEvery);
  get(r, "step_event_every", c.stepEventEvery);
  get(r, "profile_steps", c.profileSteps);
  get(r, "grad_stats_every", c.gradStatsEvery);
  get(r, "detect_anomaly", c.detectAnomaly);
  get(r, "checkpoint_minutes", c.checkpointMinutes);
  get(r, "inject_nan_at_step", c.injectNanAtStep);
  get(r, "out", c.outDir);
  get(r, "resume_from", c.resumeFrom);
  get(r, "export_at_end", c.exportAtEnd);
  const auto& dist = j.value("distributed", nlohmann::json::object());
  get(dist, "world_size", c.distributed.worldSize);
  get(dist, "backend", c.distributed.backend);
  get(dist, "sync_bn", c.distributed.syncBatchNorm);
  return c;
}

std::vector<std::string> resumeConflicts(const RunConfig& recorded, const RunConfig& asked) {
  // Compare the JSON forms leaf by leaf, so a setting added to RunConfig is covered.
  const auto a = nlohmann::json::parse(configToJson(recorded));
  const auto b = nlohmann::json::parse(configToJson(asked));
  static const std::vector<std::string> mayChange = {
      "/optim/epochs",          "/run/out",        "/run/resume_from",      "/run/threads",
      "/run/device",            "/run/eval_every", "/run/step_event_every", "/run/profile_steps",
      "/run/inject_nan_at_step", "/run/export_at_end", "/run/grad_stats_every", "/data/cache",
      "/data/cache_memory_mb",
      "/run/detect_anomaly",    "/run/checkpoint_minutes", "/distributed/world_size",
      "/distributed/per_rank_batch", "/distributed/backend",
      "/distributed/sync_bn",   "/evaluation/tta_views", "/evaluation/tta_shift",
      "/selection/threshold_rule", "/selection/target_sensitivity"};
  // A distributed run may continue on another number of ranks: the per-rank batch is then
  // free to change too (to keep the global batch), on either side of the resume.
  const bool distributed = recorded.distributed.worldSize > 1 || asked.distributed.worldSize > 1;
  std::vector<std::string> conflicts;
  const auto fa = a.flatten(), fb = b.flatten();
  for (const auto& [key, value] : fa.items()) {
    if (std::find(mayChange.begin(), mayChange.end(), key) != mayChange.end() || !fb.contains(key) ||
        fb.at(key) == value || (distributed && key == "/optim/batch_size")) {
      continue;
    }
    // A path recorded relative (older runs) and asked absolute is the same path when it
    // resolves to it from here.
    if ((key == "/data/path" || key == "/data/cache" || key == "/model/pretrained") && value.is_string() &&
        fb.at(key).is_string()) {
      std::error_code e1, e2;
      const auto p1 = std::filesystem::weakly_canonical(value.get<std::string>(), e1);
      const auto p2 = std::filesystem::weakly_canonical(fb.at(key).get<std::string>(), e2);
      if (!e1 && !e2 && p1 == p2) {
        continue;
      }
    }
    auto name = key.substr(key.rfind('/') + 1);
    conflicts.push_back(name + " " + value.dump() + " -> " + fb.at(key).dump());
  }
  return conflicts;
}

void validateConfig(const RunConfig& c) {
  auto require = [](bool ok, const std::string& msg) {
    if (!ok) {
      throw InputError(msg);
    }
  };
  require(!c.dataPath.empty() || !c.cachePath.empty(), "no dataset given: pass --data FOLDER (or a .npz file)");
  require(c.epochs >= 1 && c.epochs <= 100000, "--epochs must be between 1 and 100000");
  require(c.batchSize >= 1 && c.batchSize <= 65536, "--batch-size must be between 1 and 65536");
  require(c.imageSize >= 8 && c.imageSize <= 1024, "--image-size must be between 8 and 1024 pixels");
  require(c.channels == 1 || c.channels == 3, "--channels must be 1 (grayscale) or 3 (RGB)");
  require(c.lr > 0 && c.lr < 100, "--lr must be a positive learning rate below 100");
  require(c.momentum >= 0 && c.momentum < 1, "--momentum must be in [0, 1)");
  require(c.weightDecay >= 0, "--weight-decay must be >= 0");
  require(c.warmupFraction >= 0 && c.warmupFraction < 1, "--warmup must be in [0, 1)");
  require(c.split.valFraction > 0 && c.split.valFraction < 0.9, "--val-fraction must be in (0, 0.9)");
  require(c.split.testFraction >= 0 && c.split.testFraction + c.split.valFraction < 0.95,
          "--test-fraction must be >= 0 and leave images to train on");
  require(c.threads >= 0 && c.threads <= 1024, "--threads must be >= 0 (0 = all cores)");
  require(c.scaler.initScale > 0, "--init-scale must be > 0");
  require(c.scaler.growthFactor > 1, "--growth-factor must be > 1");
  require(c.scaler.backoffFactor > 0 && c.scaler.backoffFactor < 1, "--backoff-factor must be in (0, 1)");
  require(c.scaler.growthInterval >= 1, "--growth-interval must be >= 1");
  require(c.scaler.minScale >= 0, "--min-scale must be >= 0");
  require(c.augment.minCropArea > 0 && c.augment.minCropArea <= 1, "--min-crop-area must be in (0, 1]");
  require(c.augment.maxRotationDeg >= 0 && c.augment.maxRotationDeg <= 45,
          "--max-rotation must be between 0 and 45 degrees");
  require(c.augment.maxTranslate >= 0 && c.augment.maxTranslate <= 0.25,
          "--max-translate must be between 0 (off) and 0.25 of the image size");
  require(c.augment.brightness >= 0 && c.augment.brightness < 1,
          "--brightness must be in [0, 1): the factor is drawn from [1 - b, 1 + b]");
  require(c.augment.contrast >= 0 && c.augment.contrast < 1,
          "--contrast must be in [0, 1): the factor is drawn from [1 - c, 1 + c]");
  require(c.augment.gamma >= 0 && c.augment.gamma < 1,
          "--gamma must be in [0, 1): the exponent is drawn from [1 - g, 1 + g]");
  require(c.labelSmoothing >= 0 && c.labelSmoothing < 1, "--label-smoothing must be in [0, 1) (0 = off)");
  require(c.emaDecay >= 0 && c.emaDecay < 1, "--ema-decay must be in [0, 1) (0 = off; e.g. 0.999)");
  require(c.tta.views >= 1 && c.tta.views <= 16, "--tta must be between 1 (off) and 16 views");
  require(c.tta.shift >= 0 && c.tta.shift <= 0.25, "--tta-shift must be between 0 and 0.25 of the image size");
  require(c.evalEvery >= 1 && c.stepEventEvery >= 1, "--eval-every and --step-events must be >= 1");
  require(c.limitPerSplit >= 0, "--limit must be >= 0");
  require(c.cacheMemoryMb >= 0 && c.cacheMemoryMb <= (int64_t{1} << 24),
          "--cache-memory-mb must be between 0 (no cap) and 16777216 (16 TiB)");
  require(c.distributed.worldSize >= 1, "the world size must be >= 1");
  require(c.distributed.backend == "gloo" || c.distributed.backend == "nccl",
          "--backend must be gloo (CPU) or nccl (CUDA)");
  require(c.maxImagePixels >= 0, "--max-image-pixels must be >= 0 (0 = no limit)");
  require(c.checkpointMinutes >= 0 && c.checkpointMinutes <= 10080,
          "--checkpoint-minutes must be between 0 (epoch ends only) and 10080");
  require(c.profileSteps >= 0 && c.profileSteps <= 1000, "--profile-steps must be between 0 (off) and 1000");
  require(c.gradStatsEvery >= 0, "--grad-stats must be a step interval >= 1 (0 in config.json = off)");
  require(c.selection.targetSensitivity > 0 && c.selection.targetSensitivity <= 1,
          "--target-sensitivity must be in (0, 1]");
}

}  // namespace ampbench
