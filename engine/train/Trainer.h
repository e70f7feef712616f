#pragma once
// The engine's entry points. Torch-free header: the UI bridge and the CLI include it.
// Every function runs synchronously on the calling thread (a worker thread in the GUI),
// reports through the observer and stops at the next step once the token is cancelled.

#include "engine/core/Bootstrap.h"
#include "engine/core/Evaluation.h"
#include "engine/core/Events.h"
#include "engine/core/RunConfig.h"
#include "engine/util/CancelToken.h"

#include <cmath>
#include <limits>
#include <optional>
#include <string>
#include <vector>

namespace ampbench {

// Trains one run into config.outDir. Bad input throws InputError before anything is
// written (except the out dir itself). Divergence and cancellation end with a summary
// (status Diverged / Cancelled) and a consistent run dir, and so does running out of memory
// (status Failed, outOfMemory set); other failures throw.
RunSummary runTraining(const RunConfig& config, RunObserver& observer, const CancelToken& cancel);

// One mode against the baseline (run 0), with how much of each difference could be noise.
struct ModeComparison {
  // Paired over the validation images (b = this mode, a = the baseline), 95 % bootstrap
  // intervals; unavailable (with the reason) for the baseline itself, a run that did not
  // finish (diverged, out of memory) or runs without their validation outputs.
  DiffEstimate accuracy;  // fractions: 0.01 = one point
  DiffEstimate auc;
  double speedup = 0.0;  // ratio of the median throughputs after warm-up (0: not timed)
  // The slowest and fastest ratio of any pair of epoch times after warm-up (baseline's
  // epoch seconds over this mode's): NaN when either run timed fewer than two epochs.
  double speedLow = std::numeric_limits<double>::quiet_NaN();
  double speedHigh = std::numeric_limits<double>::quiet_NaN();
  int64_t timedEpochs = 0;  // the fewer of the two runs' epochs behind the range

  bool speedRangeKnown() const { return std::isfinite(speedLow) && std::isfinite(speedHigh); }
  // Only a range that excludes 1.0 makes a mode faster or slower.
  bool faster() const { return speedRangeKnown() && speedLow > 1.0; }
  bool slower() const { return speedRangeKnown() && speedHigh < 1.0; }
};

// Compares a mode's run with the baseline's (the statistics behind comparison.json).
ModeComparison compareWithBaseline(const RunSummary& baseline, const RunSummary& mode,
                                   const BootstrapOptions& options = {});

struct ComparisonSummary {
  RunStatus status = RunStatus::Finished;
  std::string outDir;
  std::vector<PrecisionMode> modes;    // as asked for (Auto stays Auto; runs[i].precision says what it became)
  std::vector<std::string> modeNames;  // their names, which are also the run folders: "fp32", "auto"...
  std::vector<RunSummary> runs;        // one per mode that ran
  std::vector<ModeComparison> versusBaseline;  // one per run; [0] is the baseline (nothing to compare)
  std::string verdict;                 // one short line per compared mode
};

// Trains the same data, seed and identical initial weights once per mode, one after the
// other, into outDir/<mode>/, then writes outDir/comparison.json. The first mode is the
// baseline for speed-ups (fp32 is moved first when present).
// A what-if mode (fp16-noscale, *-pure) that diverges is a result: the other modes go on.
// Throws InputError for fewer than two modes or a mode given twice.
ComparisonSummary runComparison(const RunConfig& base, const std::vector<PrecisionMode>& modes,
                                RunObserver& observer, const CancelToken& cancel);

// One short line per mode that sums a comparison up (ComparisonSummary::verdict): a
// difference is called better or worse only when its interval excludes zero (speed: 1.0).
// Uses s.versusBaseline, or computes it when it is missing.
std::string comparisonVerdict(const ComparisonSummary& s);

// Writes s.outDir/comparison.json (runComparison does; base: the comparison's settings).
// Non-finite figures are written as null, never NaN.
void writeComparison(const ComparisonSummary& s, const RunConfig& base);

// Reads outDir/comparison.json back (for reopening a comparison). Files written before the
// differences carried intervals load with those marked unavailable.
ComparisonSummary readComparison(const std::string& outDir);

// How `mode` would run on `device` here (for the UI, before a run starts).
PrecisionInfo describePrecision(PrecisionMode mode, DeviceKind device, const LossScalerOptions& scaler = {});

struct Prediction {
  std::string path;
  std::vector<double> probabilities;  // in class order
  std::vector<double> logits;         // the model's raw outputs, in class order
  int64_t predicted = -1;  // at the run's decision threshold (two classes), else argmax
  std::string error;  // non-empty when the image could not be read
};
struct PredictionSet {
  std::vector<std::string> classes;
  DecisionThreshold decision;  // the run's (RunInfo::decision): how `predicted` was called
  std::string rule;            // the same in words, e.g. "P(PNEUMONIA) >= 0.31 (youden on val)"
  std::vector<Prediction> predictions;
};
// Class probabilities for image files from a run dir's checkpoint (or an exported model
// directory / model.pt with its model.json beside it).
// `ttaViews`: test-time augmentation views (1 = off; 0 = the run's --tta setting).
PredictionSet predictImages(const std::string& runOrModel, const std::vector<std::string>& images,
                            int64_t ttaViews = 0);

// Evaluation of a run's model for the Results tab, the CLI and the report
// (engine/core/Evaluation.h holds the statistics).
struct EvaluateRequest {
  std::string runDir;
  std::string dataPath;        // empty: the run's dataset
  std::string split = "val";   // "train", "val", "test" (the run's split settings), or "folder":
                               // every labelled image under dataPath (class folders)
  std::optional<double> threshold;  // else the run's decision.json, else 0.5
  bool writeFiles = true;      // evaluation_<split>.json and predictions_<split>.csv in the run dir
  BootstrapOptions bootstrap;
  std::optional<int64_t> cacheMemoryMb;  // decoded images held in memory at most; empty: the run's setting
  std::optional<int64_t> ttaViews;       // test-time augmentation views (1 = off); empty: the run's --tta
};
struct RunEvaluation {
  Evaluation evaluation;
  PredictionTable predictions;     // file names relative to the dataset folder
  std::vector<SkippedFile> skipped;  // images of the split that could not be read
};
// Runs the model (with the run's precision) over the split; progress goes to
// observer.onDataProgress / onEvaluationProgress. Throws InputError for a run without a
// checkpoint, classes that differ from the run's, or a split the dataset does not have.
RunEvaluation evaluateRunSplit(const EvaluateRequest& request, RunObserver& observer, const CancelToken& cancel);

// The run's stored decision threshold (<run>/decision.json; the default when absent).
DecisionThreshold readDecisionThreshold(const std::string& runDir);
// Chooses the threshold on the run's validation split (predictions_val.csv when it is
// there, else evaluating) and stores it in <run>/decision.json. Two classes only.
DecisionThreshold chooseRunThreshold(const std::string& runDir, ThresholdRule rule, double targetSensitivity,
                                     RunObserver& observer, const CancelToken& cancel);

RunConfig readRunConfig(const std::string& runDir);

std::vector<std::string> availableModels();
std::string engineVersion();
std::string torchVersion();

}  // namespace ampbench
