// ampbench-cli: train, compare, evaluate and predict without a GUI.
// Exit codes: 0 ok, 1 internal error or a write the disk refused (full disk: the file named,
// the last checkpoint kept), 2 bad input (message says what to do),
// 3 the run diverged (NaN/inf loss; last good checkpoint kept), 4 out of memory (a batch did
// not fit; last good checkpoint kept), 130 cancelled (Ctrl-C).

#include "app/cli/CliReporter.h"
#include "app/cli/DistributedRun.h"
#include "app/cli/EvaluateCommand.h"
#include "app/cli/ExportCommand.h"
#include "app/cli/GradCamCommand.h"
#include "app/cli/InfoCommand.h"
#ifdef AMPBENCH_HAVE_REPORT
#include "app/cli/ReportCommand.h"
#endif
#include "engine/core/Recipe.h"
#include "engine/train/RunDir.h"
#include "engine/train/Trainer.h"
#include "engine/util/BuildInfo.h"
#include "engine/util/Errors.h"
#include "engine/util/Files.h"

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include <csignal>
#include <set>
#include <filesystem>
#include <cstdio>
#include <iostream>
#include <sstream>

namespace {

constexpr int kExitOk = 0;
constexpr int kExitError = 1;
constexpr int kExitBadInput = 2;
constexpr int kExitDiverged = 3;
constexpr int kExitOutOfMemory = 4;
constexpr int kExitCancelled = 130;

std::atomic<bool>* gCancelFlag = nullptr;

extern "C" void onSigint(int) {
  if (gCancelFlag) {
    gCancelFlag->store(true);
  }
  std::signal(SIGINT, SIG_DFL);  // a second Ctrl-C ends the process at once
}

struct StringOptions {
  std::string precision = "fp32";
  std::string optimizer = "sgd";
  std::string schedule = "onecycle";
  std::string device = "auto";
  std::string balance = "none";
  std::string memoryFormat = "auto";
  std::string lossScaling = "auto";
  std::string bf16Kernels = "auto";
  std::string selectMetric = "balanced_accuracy";
  std::string thresholdRule = "none";
  std::string recipe;
  bool noAugment = false;
};

void addRunOptions(CLI::App* app, ampbench::RunConfig& c, StringOptions& s, bool withPrecision,
                   bool dataRequired = true) {
  auto* data = app->add_option("--data", c.dataPath,
                               "dataset folder (class folders, or train/ val/ test/), a MedMNIST .npz, "
                               "a folder of MNIST-style IDX files, or synthetic[:N]");
  if (dataRequired) {
    data->required();
  }
  app->add_option("--cache", c.cachePath, "decoded-image cache file: read if it matches, else written");
  app->add_option("--cache-memory-mb", c.cacheMemoryMb,
                  "decoded images held in memory at most (MiB; 0 = no cap): a larger dataset is decoded into the "
                  "--cache file (or a temporary one in the run folder) and batches are read from it");
  app->add_option("--limit", c.limitPerSplit, "use at most N images per split (stratified; 0 = all)");
  app->add_option("--val-fraction", c.split.valFraction, "share of train/ carved as validation when there is no val/");
  app->add_option("--test-fraction", c.split.testFraction, "share of train/ carved as test when there is no test/");
  app->add_option("--split-seed", c.split.splitSeed, "seed of the carved splits");
  app->add_option("--max-image-pixels", c.maxImagePixels,
                  "skip images whose header claims more pixels than this, before decoding (0 = no limit)")
      ->capture_default_str();
  app->add_option("--model", c.model, "small_cnn, resnet18 or resnet34")->capture_default_str();
  app->add_option("--pretrained", c.pretrained, "initial weights: TorchScript, torch.save state dict, or model.pt");
  if (withPrecision) {
    app->add_option("--precision", s.precision,
                    "fp32, fp16, bf16, auto (the fastest mixed format here; emulated fp16 where none is faster), or "
                    "a what-if with a fix switched off: fp16-noscale (no loss scaling), fp16-pure / bf16-pure (no "
                    "FP32 master weights, no loss scaling)")
        ->capture_default_str();
  }
  app->add_flag("--strict", c.strict, "refuse emulated precision instead of running it");
  app->add_option("--bf16-kernels", s.bf16Kernels,
                  "bf16 on a CPU: auto (native where the CPU has AVX512-BF16/AMX, else emulated), native "
                  "(LibTorch's own bf16 path, slow without bf16 units: for measuring it), emulated");
  app->add_option("--loss-scaling", s.lossScaling, "auto (on for fp16), on, off");
  app->add_option("--init-scale", c.scaler.initScale, "initial loss scale")->capture_default_str();
  app->add_option("--growth-factor", c.scaler.growthFactor, "scale growth factor")->capture_default_str();
  app->add_option("--backoff-factor", c.scaler.backoffFactor, "scale backoff on overflow")->capture_default_str();
  app->add_option("--growth-interval", c.scaler.growthInterval, "clean steps before the scale grows")
      ->capture_default_str();
  app->add_option("--min-scale", c.scaler.minScale, "lowest loss scale (0 = no floor)");
  app->add_option("--memory-format", s.memoryFormat, "auto, contiguous or channels_last");
  app->add_option("--epochs", c.epochs,
                  "epochs (with --resume, a larger number extends the run: its one-cycle/cosine schedule is rebuilt "
                  "over the new total and continues from the current step; without it the run continues exactly)")
      ->capture_default_str();
  app->add_option("--batch-size", c.batchSize, "images per step")->capture_default_str();
  app->add_option("--image-size", c.imageSize, "images are resized to SIZE x SIZE")->capture_default_str();
  app->add_option("--channels", c.channels, "1 (grayscale) or 3 (RGB)")->capture_default_str();
  app->add_option("--optimizer", s.optimizer, "sgd (momentum) or adamw")->capture_default_str();
  app->add_option("--lr", c.lr, "peak learning rate")->capture_default_str();
  app->add_option("--momentum", c.momentum, "SGD momentum")->capture_default_str();
  app->add_option("--weight-decay", c.weightDecay, "weight decay")->capture_default_str();
  app->add_option("--schedule", s.schedule, "onecycle, cosine or constant")->capture_default_str();
  app->add_option("--warmup", c.warmupFraction, "one-cycle: share of steps rising to --lr");
  app->add_option("--grad-clip", c.gradClipNorm, "clip the gradient norm (0 = off), after unscaling");
  app->add_option("--balance", s.balance, "class imbalance: none, loss (weighted loss), sampler");
  app->add_flag("--no-augment", s.noAugment, "no augmentation");
  app->add_option("--min-crop-area", c.augment.minCropArea, "random resized crop: smallest area kept");
  app->add_option("--max-rotation", c.augment.maxRotationDeg, "random rotation, degrees either way");
  app->add_flag("--hflip", c.augment.horizontalFlip, "random horizontal flips");
  app->add_option("--max-translate", c.augment.maxTranslate, "random shift, fraction of the size either way (0 = off)");
  app->add_option("--brightness", c.augment.brightness, "brightness jitter: x * [1-B, 1+B] on the [0,1] image (0 = off)");
  app->add_option("--contrast", c.augment.contrast, "contrast jitter about the image mean, [1-C, 1+C] (0 = off)");
  app->add_option("--gamma", c.augment.gamma, "gamma jitter: x ^ [1-G, 1+G] on the [0,1] image (0 = off)");
  app->add_option("--label-smoothing", c.labelSmoothing, "label smoothing E: targets (1-E)*one-hot + E/classes (0 = off)");
  app->add_option("--ema-decay", c.emaDecay,
                  "validate, evaluate and export an exponential moving average of the weights, decay D with the "
                  "warm-up min(D, (1+n)/(10+n)) (0 = off; e.g. 0.999)");
  app->add_option("--tta", c.tta.views, "end-of-run evaluation: average the probabilities of N views (the image and "
                                        "N-1 small shifts; 1 = off)");
  app->add_option("--tta-shift", c.tta.shift, "largest test-time shift, fraction of the size");
  app->add_option("--select-metric", s.selectMetric,
                  "the epoch the run keeps, evaluates and exports (best.pt): the best validation "
                  "balanced_accuracy, auc, accuracy or loss; last = the final epoch")
      ->capture_default_str();
  app->add_option("--choose-threshold", s.thresholdRule,
                  "two classes: choose the decision threshold on validation when the run finishes (decision.json, "
                  "used by evaluate, predict and export): youden, sensitivity (reach --target-sensitivity), or none "
                  "(0.5)")
      ->capture_default_str();
  app->add_option("--target-sensitivity", c.selection.targetSensitivity,
                  "with --choose-threshold sensitivity: the sensitivity to reach on validation")
      ->capture_default_str();
  std::string recipeHelp = "a named recipe of defaults chosen by experiment (docs/RECIPES.md); options given "
                           "explicitly win over it:";
  for (const auto& r : ampbench::recipes()) {
    recipeHelp += " " + r.name + " (" + r.description + ": " + ampbench::recipeAsFlags(r) + ")";
  }
  app->add_option("--recipe", s.recipe, recipeHelp);
  app->add_option("--seed", c.seed, "seed: same seed, same run")->capture_default_str();
  app->add_option("--threads", c.threads, "intra-op threads (0 = all cores)");
  app->add_option("--device", s.device, "auto, cpu or cuda");
  app->add_option("--eval-every", c.evalEvery, "validate every N epochs");
  app->add_option("--checkpoint-minutes", c.checkpointMinutes,
                  "besides every epoch's end, checkpoint inside an epoch when N minutes passed since the last one "
                  "(0 = epoch ends only); --resume continues from the step it holds")
      ->capture_default_str();
  app->add_option("--step-events", c.stepEventEvery, "log every N-th step");
  app->add_option("--profile-steps", c.profileSteps,
                  "profile N training steps after 3 warm-up steps: self time per op, printed and in profile.csv, "
                  "with a trace (profile.trace.json: chrome://tracing or Perfetto) in the run folder");
  app->add_flag("--detect-anomaly", c.detectAnomaly,
                "when a loss or gradient becomes inf/NaN, replay the step in LibTorch's anomaly mode and name the "
                "operation that produced it (in the run's stop message)");
  app->add_option("--grad-stats", c.gradStatsEvery,
                  "every N-th step, what FP16/BF16 would do to gradients, activations and weight updates "
                  "(underflow, subnormal, overflow shares, lost updates): grad_stats.csv in the run folder")
      ->check(CLI::Validator(
          [](std::string& v) {
            long long n = 0;
            try {
              n = std::stoll(v);
            } catch (const std::exception&) {
            }
            return n > 0 ? std::string() : "takes a step interval N >= 1 (statistics every N-th step); leave it out "
                                           "to turn them off";
          },
          "N>=1"));
  app->add_option("--inject-nan-at-step", c.injectNanAtStep, "testing: make the loss of step N NaN")
      ->group("Testing");
}

// `train --resume DIR`: the value of --resume when the arguments hold one (before parsing,
// so the recorded run's settings can be the defaults that the given options override).
std::string resumeDirIn(int argc, char** argv) {
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "--resume" && i + 1 < argc) {
      return argv[i + 1];
    }
    if (a.rfind("--resume=", 0) == 0) {
      return a.substr(9);
    }
  }
  return {};
}

StringOptions stringsOf(const ampbench::RunConfig& c) {
  StringOptions s;
  s.precision = ampbench::toString(c.precision);
  s.optimizer = ampbench::toString(c.optimizer);
  s.schedule = ampbench::toString(c.schedule);
  s.device = ampbench::toString(c.device);
  s.balance = ampbench::toString(c.balance);
  s.memoryFormat = ampbench::toString(c.memoryFormat);
  s.lossScaling = ampbench::toString(c.scaler.mode);
  s.bf16Kernels = ampbench::toString(c.bf16Kernels);
  s.noAugment = !c.augment.enabled;
  s.selectMetric = ampbench::toString(c.selection.metric);
  s.thresholdRule = ampbench::toString(c.selection.thresholdRule);
  return s;
}

// The options given on the command line, as "--name" (what a recipe must not override).
std::set<std::string> explicitFlags(const CLI::App* app) {
  std::set<std::string> out;
  for (const auto* o : app->get_options()) {
    if (o->count() > 0) {
      for (const auto& n : o->get_lnames()) {
        out.insert("--" + n);
      }
    }
  }
  return out;
}

void resolveStrings(ampbench::RunConfig& c, const StringOptions& s, const CLI::App* app) {
  c.precision = ampbench::parsePrecision(s.precision);
  c.optimizer = ampbench::parseOptimizer(s.optimizer);
  c.schedule = ampbench::parseSchedule(s.schedule);
  c.device = ampbench::parseDevice(s.device);
  c.balance = ampbench::parseBalance(s.balance);
  c.memoryFormat = ampbench::parseMemoryFormat(s.memoryFormat);
  c.scaler.mode = ampbench::parseScaling(s.lossScaling);
  c.bf16Kernels = ampbench::parseBf16Kernels(s.bf16Kernels);
  c.augment.enabled = !s.noAugment;
  c.selection.metric = ampbench::parseSelectMetric(s.selectMetric);
  c.selection.thresholdRule = ampbench::parseThresholdRule(s.thresholdRule);
  if (!s.recipe.empty()) {
    ampbench::applyRecipe(ampbench::findRecipe(s.recipe), c, explicitFlags(app));
  }
  // config.json records absolute paths: `train --resume DIR` alone must find the data from
  // any working directory.
  for (auto* path : {&c.dataPath, &c.cachePath, &c.pretrained}) {
    if (!path->empty() && path->rfind("synthetic:", 0) != 0) {
      std::error_code ec;
      const auto absolute = std::filesystem::absolute(*path, ec);
      if (!ec) {
        *path = absolute.lexically_normal().string();
      }
    }
  }
  if (c.optimizer == ampbench::OptimizerKind::AdamW && c.lr == ampbench::RunConfig{}.lr) {
    c.lr = 1e-3;  // the SGD default would be far too high for AdamW
  }
}

int exitCodeFor(const ampbench::RunSummary& summary) {
  if (summary.outOfMemory) {
    return kExitOutOfMemory;
  }
  switch (summary.status) {
    case ampbench::RunStatus::Finished: return kExitOk;
    case ampbench::RunStatus::Cancelled: return kExitCancelled;
    case ampbench::RunStatus::Diverged: return kExitDiverged;
    case ampbench::RunStatus::Failed: return kExitError;
  }
  return kExitError;
}

void printComparisonTable(const ampbench::ComparisonSummary& s) {
  // On a GPU the process RSS says nothing about the tensors: show the CUDA allocator's peak.
  bool cuda = false;
  for (const auto& r : s.runs) {
    cuda = cuda || r.peakCudaMb > 0;
  }
  std::printf("\n%-13s %-34s %9s %9s %9s %9s %8s %8s %9s %8s\n", "mode", "precision", "epoch s", "img/s", "speed-up",
              cuda ? "GPU MB" : "peak MB", "val acc", "val AUC", "overflow", "skipped");
  for (size_t i = 0; i < s.runs.size(); ++i) {
    const auto& r = s.runs[i];
    if (r.outOfMemory) {
      std::printf("%-13s %-34s out of memory at this batch size\n", s.modeNames[i].c_str(), r.precision.label.c_str());
      continue;
    }
    if (r.status == ampbench::RunStatus::Diverged && r.epochsCompleted == 0) {
      std::printf("%-13s %-34s diverged at step %lld%s\n", s.modeNames[i].c_str(), r.precision.label.c_str(),
                  static_cast<long long>(r.stepsCompleted), r.precision.whatIf ? " (a what-if: the result)" : "");
      continue;
    }
    const double speedup = s.runs[0].imagesPerSecond > 0 ? r.imagesPerSecond / s.runs[0].imagesPerSecond : 0;
    // A run that stopped early keeps its last epoch's figures: say so on its row.
    const std::string label = r.status == ampbench::RunStatus::Finished
                                  ? r.precision.label
                                  : r.precision.label + " [" + ampbench::toString(r.status) + "]";
    std::printf("%-13s %-34s %9.2f %9.1f %8.2fx %9.0f %7.1f%% %8.3f %9lld %8lld\n", s.modeNames[i].c_str(),
                label.c_str(), r.medianEpochSeconds, r.imagesPerSecond, speedup,
                cuda ? r.peakCudaMb : r.peakRssMb, 100.0 * r.finalVal.accuracy, r.finalVal.auc,
                static_cast<long long>(r.overflowSteps), static_cast<long long>(r.skippedSteps));
  }
  std::printf("\n%s\nwritten: %s/comparison.json\n", s.verdict.c_str(), s.outDir.c_str());
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"AmpBench: honest mixed-precision training on medical images (headless)"};
  app.require_subcommand(1);
  // A repeated option takes its last value, so scripts can override a shared set of flags.
  app.option_defaults()->multi_option_policy(CLI::MultiOptionPolicy::TakeLast);
  app.set_version_flag("--version", ampbench::versionText("ampbench-cli"));

  ampbench::RunConfig trainCfg;
  StringOptions trainStr;
  // Resuming continues the run in config.json: its settings are the defaults here, so only
  // what is given on the command line differs (and the engine refuses what may not).
  const std::string resumeDir = resumeDirIn(argc, argv);
  bool recordedRun = false;
  if (!resumeDir.empty()) {
    try {
      trainCfg = ampbench::readRunConfig(resumeDir);
      trainCfg.outDir = resumeDir;
      trainStr = stringsOf(trainCfg);
      recordedRun = true;
    } catch (const std::exception&) {
      // No readable config.json: the options below are required as for a new run.
    }
  }
  std::string trainOut;
  bool quiet = false, jsonEvents = false;
  auto* train = app.add_subcommand("train", "train one run into a run directory");
  addRunOptions(train, trainCfg, trainStr, true, !recordedRun);
  auto* trainOutOption = train->add_option("--out", trainCfg.outDir, "run directory to write (with --resume: the run's own)");
  if (!recordedRun) {
    trainOutOption->required();
  }
  train->add_option("--resume", trainCfg.resumeFrom,
                    "continue the run in this directory from its checkpoint (an epoch's end, or the step a "
                    "mid-epoch checkpoint or a stop holds), with its own settings (config.json): same seed, same "
                    "results; --epochs extends it (the LR schedule rebuilt over the new total), other changed "
                    "settings are refused");
  train->add_flag("--export", trainCfg.exportAtEnd, "export model.onnx, model.pt and model.json when the run finishes");
  ampbench::cli::DistributedArgs distArgs;
  ampbench::cli::addDistributedOptions(train, distArgs);

  ampbench::RunConfig cmpCfg;
  StringOptions cmpStr;
  std::string modes = "fp32,auto";
  auto* compare = app.add_subcommand("compare", "train once per precision mode: same data, seed, initial weights");
  addRunOptions(compare, cmpCfg, cmpStr, false);
  compare->add_option("--modes", modes,
                      "comma-separated modes, fp32 is the baseline; what-ifs (fp16-noscale, fp16-pure, bf16-pure) "
                      "that diverge are results: the exit code stays 0")
      ->capture_default_str();
  compare->add_option("--out", cmpCfg.outDir, "folder for <mode>/ run directories and comparison.json")->required();
  ampbench::cli::DistributedArgs cmpDistArgs;
  ampbench::cli::addDistributedOptions(compare, cmpDistArgs);

  for (auto* sub : {train, compare}) {
    sub->add_flag("--quiet", quiet, "no progress output");
    sub->add_flag("--json-events", jsonEvents, "one JSON object per event on stdout");
  }

  ampbench::cli::EvaluateArgs evaluateArgs;
  auto* evaluate = ampbench::cli::addEvaluateCommand(app, evaluateArgs);

  std::string predictRun;
  std::vector<std::string> predictImagesList;
  bool predictJson = false;
  auto* predict = app.add_subcommand("predict", "class probabilities for image files");
  predict->add_option("--run,--model", predictRun, "run directory, exported model folder or model.pt")->required();
  predict->add_option("images", predictImagesList, "image files")->required();
  predict->add_flag("--json", predictJson, "JSON output");
  int64_t predictTta = 0;
  predict->add_option("--tta", predictTta, "average the probabilities of N views: the image and N-1 small shifts "
                                           "(1 = off; default: the run's --tta)")
      ->check(CLI::Range(int64_t{1}, int64_t{16}));

  ampbench::cli::ExportArgs exportArgs;
  auto* exportCmd = ampbench::cli::addExportCommand(app, exportArgs);
  ampbench::cli::InfoArgs infoArgs;
  auto* infoCmd = ampbench::cli::addInfoCommand(app, infoArgs);
#ifdef AMPBENCH_HAVE_REPORT
  ampbench::cli::ReportArgs reportArgs;
  auto* reportCmd = ampbench::cli::addReportCommand(app, reportArgs);
#endif
  ampbench::cli::GradCamArgs gradCamArgs;
  auto* gradCamCmd = ampbench::cli::addGradCamCommand(app, gradCamArgs);

  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForAllHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForVersion& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    app.exit(e);
    return kExitBadInput;
  }

  ampbench::CancelToken cancel;
  gCancelFlag = cancel.flag();
  std::signal(SIGINT, onSigint);
  std::signal(SIGTERM, onSigint);
  const auto outputMode = jsonEvents ? ampbench::cli::OutputMode::JsonEvents
                          : quiet    ? ampbench::cli::OutputMode::Quiet
                                     : ampbench::cli::OutputMode::Human;

  try {
    if (*train) {
      resolveStrings(trainCfg, trainStr, train);
      const ampbench::cli::DistributedRun distributed(distArgs, trainCfg);
      ampbench::cli::CliReporter reporter(distributed.quiet() ? ampbench::cli::OutputMode::Quiet : outputMode);
      const auto summary = ampbench::runTraining(trainCfg, reporter, cancel);
      if (outputMode == ampbench::cli::OutputMode::Human && !distributed.quiet() &&
          summary.status == ampbench::RunStatus::Finished) {
        ampbench::cli::printValVsTest(trainCfg.outDir, stdout);
      }
      return exitCodeFor(summary);
    }
    if (*compare) {
      resolveStrings(cmpCfg, cmpStr, compare);
      const ampbench::cli::DistributedRun distributed(cmpDistArgs, cmpCfg);
      ampbench::cli::CliReporter reporter(distributed.quiet() ? ampbench::cli::OutputMode::Quiet : outputMode);
      const auto summary = ampbench::runComparison(cmpCfg, ampbench::parsePrecisionList(modes), reporter, cancel);
      if (outputMode != ampbench::cli::OutputMode::JsonEvents && !distributed.quiet()) {
        printComparisonTable(summary);
      }
      if (summary.status == ampbench::RunStatus::Cancelled) {
        return kExitCancelled;
      }
      int code = kExitOk;  // a divergence outranks a mode that did not fit
      for (const auto& r : summary.runs) {
        // A what-if mode (a fix switched off) that diverges is the result it exists to show.
        if (r.status == ampbench::RunStatus::Diverged && !r.precision.whatIf) {
          return kExitDiverged;
        }
        if (r.outOfMemory) {
          code = kExitOutOfMemory;
        }
      }
      return code;
    }
    if (*evaluate) {
      return ampbench::cli::runEvaluateCommand(evaluateArgs, cancel);
    }
    if (*exportCmd) {
      return ampbench::cli::runExportCommand(exportArgs);
    }
    if (*infoCmd) {
      return ampbench::cli::runInfoCommand(infoArgs);
    }
#ifdef AMPBENCH_HAVE_REPORT
    if (*reportCmd) {
      return ampbench::cli::runReportCommand(reportArgs, cancel);
    }
#endif
    if (*gradCamCmd) {
      return ampbench::cli::runGradCamCommand(gradCamArgs);
    }
    if (*predict) {
      // A file that cannot be read gets its reason and the others are still predicted;
      // bad input (exit 2) only when no file could be read.
      const auto set = ampbench::predictImages(predictRun, predictImagesList, predictTta);
      size_t predicted = 0;
      if (predictJson) {
        nlohmann::ordered_json j;
        j["classes"] = set.classes;
        const bool two = set.classes.size() == 2;
        j["decision"] = {{"threshold", two ? nlohmann::ordered_json(set.decision.threshold) : nlohmann::ordered_json()},
                         {"positive_class", two ? nlohmann::ordered_json(set.classes[set.decision.positiveClass])
                                                : nlohmann::ordered_json()},
                         {"source", two ? set.decision.source : std::string("argmax")},
                         {"rule", set.rule}};
        j["predictions"] = nlohmann::ordered_json::array();
        for (const auto& p : set.predictions) {
          nlohmann::ordered_json e{{"path", p.path}};
          if (p.error.empty()) {
            e["probabilities"] = p.probabilities;
            e["logits"] = p.logits;
            e["predicted"] = set.classes[p.predicted];
            ++predicted;
          } else {
            e["error"] = p.error;
            std::fprintf(stderr, "%s: cannot read: %s\n", p.path.c_str(), p.error.c_str());
          }
          j["predictions"].push_back(e);
        }
        std::printf("%s\n", j.dump(2).c_str());
      } else {
        std::fprintf(stderr, "classes called by %s\n", set.rule.c_str());
        for (const auto& p : set.predictions) {
          if (!p.error.empty()) {
            std::fprintf(stderr, "%s: cannot read: %s\n", p.path.c_str(), p.error.c_str());
            continue;
          }
          ++predicted;
          std::printf("%s: %s", p.path.c_str(), set.classes[p.predicted].c_str());
          for (size_t k = 0; k < set.classes.size(); ++k) {
            std::printf("  %s %.4f", set.classes[k].c_str(), p.probabilities[k]);
          }
          std::printf("\n");
        }
      }
      if (predicted == 0) {
        std::fprintf(stderr, "error: none of the %zu file(s) could be read as an image\n", set.predictions.size());
        return kExitBadInput;
      }
      return kExitOk;
    }
  } catch (const ampbench::InputError& e) {
    std::fprintf(stderr, "error: %s\n", e.what());
    return kExitBadInput;
  } catch (const ampbench::WriteError& e) {
    std::fprintf(stderr, "error: %s\n", e.what());  // a full disk: named file and reason, not a bug
    return kExitError;
  } catch (const ampbench::dist::DistributedError& e) {
    std::fprintf(stderr, "error: %s\n", e.what());  // a peer died or stopped answering
    std::fflush(stderr);
    std::_Exit(kExitError);  // not through c10d's teardown, which may wait on the dead peer

  } catch (const std::exception& e) {
    std::fprintf(stderr, "internal error: %s\n", e.what());
    return kExitError;
  }
  return kExitError;
}
