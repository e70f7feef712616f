#include "app/cli/EvaluateCommand.h"

#include "engine/train/Trainer.h"
#include "engine/util/CancelToken.h"
#include "engine/util/Errors.h"
#include "engine/util/Files.h"

#include <CLI/CLI.hpp>

#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <filesystem>

namespace fs = std::filesystem;

namespace ampbench::cli {

namespace {

constexpr int kExitOk = 0;
constexpr int kExitCancelled = 130;

// Progress on stderr, rewritten in place, only on a terminal (stdout may be JSON).
class EvaluationProgress : public RunObserver {
 public:
  void onEvaluationProgress(const EvaluationProgressEvent& e) override {
    if (tty_) {
      std::fprintf(stderr, "\revaluating %s: %lld/%lld images", e.split.c_str(), static_cast<long long>(e.done),
                   static_cast<long long>(e.total));
      if (e.done == e.total) {
        std::fprintf(stderr, "\r\033[K");
      }
    }
  }

 private:
  bool tty_ = isatty(fileno(stderr)) != 0;
};

std::string figure(const Estimate& e, const std::string& why, bool intervals) {
  char buf[96];
  if (!e.defined()) {
    return "undefined (" + why + ")";
  }
  if (!intervals) {
    std::snprintf(buf, sizeof buf, "%.3f", e.value);
  } else if (e.ci95.valid()) {
    std::snprintf(buf, sizeof buf, "%-7.3f %.3f to %.3f", e.value, e.ci95.low, e.ci95.high);
  } else {
    std::snprintf(buf, sizeof buf, "%-7.3f (no interval)", e.value);
  }
  return buf;
}

void row(const std::string& name, const Estimate& e, const std::string& why, bool intervals) {
  std::printf("  %-20s %s\n", name.c_str(), figure(e, why, intervals).c_str());
}

// Why a per-class figure is undefined, in a few words.
struct ClassReasons {
  std::string positives, negatives, called, calledOther, ranked;
};
ClassReasons reasonsFor(const Evaluation& e, const ClassEvaluation& c) {
  ClassReasons r;
  r.positives = "no " + c.name + " images";
  r.negatives = "no images of other classes";
  r.called = "no image called " + c.name;
  r.calledOther = "no image called other than " + c.name;
  r.ranked = e.nonFinite > 0 ? "non-finite probabilities" : c.support == 0 ? r.positives : r.negatives;
  return r;
}

void printHuman(const EvaluateArgs& args, const RunEvaluation& r, bool wroteRunFiles) {
  const auto& e = r.evaluation;
  std::printf("%s split of %s: %lld images", e.split.c_str(), e.source.c_str(), static_cast<long long>(e.count));
  if (e.classes.size() == 2) {
    std::printf(", %s called at P >= %.3f (%s)", e.classes[static_cast<size_t>(e.positiveClass)].c_str(),
                e.threshold, e.thresholdSource.c_str());
  } else {
    std::printf(", the most probable class called");
  }
  if (e.resamples > 0) {
    std::printf("; 95 %% intervals from %d stratified bootstrap resamples\n", e.resamples);
  } else {
    std::printf("; no intervals (--resamples 0)\n");
  }
  const bool iv = e.resamples > 0;
  std::printf("  %-20s %-7s %s\n", "metric", "value", iv ? "95 % interval" : "");
  const std::string none = e.count == 0 ? "no images" : "no class present";
  std::string rankedWhy = e.nonFinite > 0 ? "non-finite probabilities" : "needs both classes";
  if (e.classes.size() == 2 && e.positiveClass >= 0) {
    const auto& pc = e.perClass[static_cast<size_t>(e.positiveClass)];
    rankedWhy = reasonsFor(e, pc).ranked;
  }
  row("accuracy", e.accuracy, none, iv);
  row("balanced accuracy", e.balancedAccuracy, none, iv);
  row("macro F1", e.macroF1, none, iv);
  row(e.classes.size() == 2 ? "AUC" : "AUC (macro)", e.auc, rankedWhy, iv);
  row(e.classes.size() == 2 ? "average precision" : "avg precision (macro)", e.averagePrecision, rankedWhy, iv);
  for (const auto& c : e.perClass) {
    const auto why = reasonsFor(e, c);
    std::printf("%s (%lld images, %lld called %s)\n", c.name.c_str(), static_cast<long long>(c.support),
                static_cast<long long>(c.predicted), c.name.c_str());
    row("sensitivity", c.sensitivity, why.positives, iv);
    row("specificity", c.specificity, why.negatives, iv);
    row("precision (PPV)", c.precision, why.called, iv);
    row("NPV", c.npv, why.calledOther, iv);
    row("F1", c.f1, why.positives, iv);
    row("AUC", c.auc, why.ranked, iv);
    row("average precision", c.averagePrecision, why.ranked, iv);
  }
  size_t width = 9;
  for (const auto& c : e.classes) {
    width = std::max(width, c.size() + 1);
  }
  std::printf("confusion matrix (rows: true class, columns: called)\n  %-*s", static_cast<int>(width), "");
  for (const auto& c : e.classes) {
    std::printf(" %*s", static_cast<int>(width), c.c_str());
  }
  std::printf("\n");
  for (size_t t = 0; t < e.confusion.size(); ++t) {
    std::printf("  %-*s", static_cast<int>(width), e.classes[t].c_str());
    for (const auto v : e.confusion[t]) {
      std::printf(" %*lld", static_cast<int>(width), static_cast<long long>(v));
    }
    std::printf("\n");
  }
  for (const auto& n : e.notes) {
    std::printf("note: %s\n", n.c_str());
  }
  if (!r.skipped.empty()) {
    std::printf("skipped %zu unreadable files:\n", r.skipped.size());
    for (size_t i = 0; i < r.skipped.size() && i < 10; ++i) {
      std::printf("  %s: %s\n", r.skipped[i].path.c_str(), r.skipped[i].reason.c_str());
    }
  }
  const auto split = e.split;
  if (wroteRunFiles) {
    std::printf("wrote %s, %s", (fs::path(args.run) / ("evaluation_" + split + ".json")).string().c_str(),
                (fs::path(args.run) / ("predictions_" + split + ".csv")).string().c_str());
    std::printf(args.out.empty() ? "\n" : ", %s\n", args.out.c_str());
  } else {
    std::printf("the run's own evaluation files are unchanged (another threshold, folder or no intervals)%s%s\n",
                args.out.empty() ? "" : "; wrote ", args.out.c_str());
  }
}

}  // namespace

CLI::App* addEvaluateCommand(CLI::App& app, EvaluateArgs& args) {
  auto* cmd = app.add_subcommand("evaluate",
                                 "a run's model on a labelled split: confusion matrix, sensitivity, specificity, "
                                 "PPV, NPV, F1, AUC, average precision with 95 % bootstrap intervals");
  cmd->add_option("--run", args.run, "run directory (its best.pt, else checkpoint.pt)")->required();
  cmd->add_option("--data", args.data, "dataset (default: the run's)");
  cmd->add_option("--split", args.split, "train, val or test (the run's split settings)")->capture_default_str();
  cmd->add_option("--folder", args.folder, "evaluate every labelled image under DIR (class folders) instead");
  cmd->add_option("--threshold", args.threshold, "two classes: call the positive class at P >= X (default: the "
                                                 "run's decision.json, else 0.5)");
  cmd->add_option("--choose-threshold", args.chooseThreshold,
                  "choose the run's decision threshold on the validation split first and store it in decision.json")
      ->check(CLI::IsMember({"youden", "sensitivity"}));
  cmd->add_option("--target-sensitivity", args.targetSensitivity,
                  "with --choose-threshold sensitivity: the sensitivity to reach")
      ->capture_default_str();
  cmd->add_option("--resamples", args.resamples, "bootstrap resamples for the intervals (>= 1000; 0: none)")
      ->capture_default_str();
  cmd->add_option("--out", args.out, "also write the evaluation JSON here");
  cmd->add_option("--cache-memory-mb", args.cacheMemoryMb,
                  "decoded images held in memory at most (MiB; default: the run's setting); a larger split is "
                  "decoded into a temporary file and read from it");
  cmd->add_option("--tta", args.tta,
                  "average the probabilities of N views: the image and N-1 small shifts (1 = off; default: the "
                  "run's --tta); recorded as \"tta\" in evaluation_<split>.json");
  cmd->add_flag("--json", args.json, "print the evaluation JSON instead of the table");
  return cmd;
}

int runEvaluateCommand(const EvaluateArgs& args, const CancelToken& cancel) {
  if (args.resamples != 0 && args.resamples < kMinBootstrapResamples) {
    throw InputError("--resamples " + std::to_string(args.resamples) + ": use at least " +
                     std::to_string(kMinBootstrapResamples) + " for stable 95 % intervals, or 0 for none");
  }
  if (!args.folder.empty() && args.split != "val" && args.split != "folder") {
    throw InputError("--folder evaluates a folder of its own: leave out --split");
  }
  if (!args.folder.empty() && !args.data.empty()) {
    throw InputError("--folder names the images to evaluate: leave out --data");
  }
  if (args.threshold && !args.chooseThreshold.empty()) {
    throw InputError("--threshold and --choose-threshold both set the threshold: use one");
  }
  if (args.cacheMemoryMb && (*args.cacheMemoryMb < 0 || *args.cacheMemoryMb > (int64_t{1} << 24))) {
    throw InputError("--cache-memory-mb must be between 0 (no cap) and 16777216 (16 TiB)");
  }
  if (!(args.targetSensitivity > 0.0 && args.targetSensitivity <= 1.0)) {
    throw InputError("--target-sensitivity must lie in (0, 1]");
  }
  EvaluationProgress progress;
  if (!args.chooseThreshold.empty()) {
    // With --data, the validation predictions come from that copy of the dataset.
    if (!args.data.empty() && !fs::exists(fs::path(args.run) / "predictions_val.csv")) {
      EvaluateRequest val;
      val.runDir = args.run;
      val.dataPath = args.data;
      val.bootstrap.resamples = args.resamples;
      evaluateRunSplit(val, progress, cancel);
      if (cancel.isCancelled()) {
        return kExitCancelled;
      }
    }
    const auto rule = args.chooseThreshold == "youden" ? ThresholdRule::Youden : ThresholdRule::TargetSensitivity;
    DecisionThreshold d;
    try {
      d = chooseRunThreshold(args.run, rule, args.targetSensitivity, progress, cancel);
    } catch (const CancelledError&) {
      return kExitCancelled;
    }
    if (cancel.isCancelled()) {
      return kExitCancelled;
    }
    if (!args.json) {
      std::printf("decision threshold %.6g (%s) stored in %s\n", d.threshold, d.source.c_str(),
                  (fs::path(args.run) / "decision.json").string().c_str());
    }
  }
  EvaluateRequest request;
  request.runDir = args.run;
  request.dataPath = args.folder.empty() ? args.data : args.folder;
  request.split = args.folder.empty() ? args.split : "folder";
  request.threshold = args.threshold;
  request.bootstrap.resamples = args.resamples;
  request.cacheMemoryMb = args.cacheMemoryMb;
  request.ttaViews = args.tta;
  // The run's evaluation files are what the Results tab and the report show: only an
  // evaluation at the stored threshold, with intervals, on one of its own splits replaces
  // them; anything else goes to --out only.
  request.writeFiles = args.folder.empty() && !args.threshold && args.resamples >= kMinBootstrapResamples;
  const auto r = evaluateRunSplit(request, progress, cancel);
  if (cancel.isCancelled()) {
    std::fprintf(stderr, "cancelled\n");
    return kExitCancelled;
  }
  const auto json = evaluationToJson(r.evaluation);
  if (!args.out.empty()) {
    try {
      writeFileAtomic(args.out, json + "\n");
    } catch (const std::exception& e) {
      throw InputError("cannot write --out " + args.out + ": " + e.what());
    }
  }
  if (args.json) {
    std::printf("%s\n", json.c_str());
  } else {
    printHuman(args, r, request.writeFiles);
  }
  return kExitOk;
}

}  // namespace ampbench::cli
