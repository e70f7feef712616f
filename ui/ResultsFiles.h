#pragma once
// A run's evaluation on one split, for the Results tab: evaluation_<split>.json and
// predictions_<split>.csv read back from the run folder, or the split evaluated with the
// run's model when they are missing (loadSplitResult runs on a worker), re-computed at the
// run's stored decision threshold when the files predate it; plus the small evaluation
// helpers the presenter shares with it.

#include "engine/core/Evaluation.h"
#include "engine/core/Events.h"
#include "engine/util/CancelToken.h"

#include <QString>
#include <QStringList>

#include <functional>
#include <string>

namespace ampbench::ui {

// One run's evaluation on one split, as read from its files or evaluated on a worker.
struct SplitResult {
  QString runDir;
  QString mode;            // "fp32", "fp16"... (config.json)
  QString precisionLabel;  // "FP16 mixed (emulated)"
  bool emulated = false;
  QString model;           // "resnet18"
  QString split;           // "val", "test", "folder"
  QString dataRoot;        // the folder the predictions' file names are relative to
  ampbench::Evaluation evaluation;        // with intervals, at the stored threshold
  ampbench::PredictionTable predictions;  // one row per image
  QStringList skipped;     // "file: reason" of images that could not be read (evaluated here)
  QStringList loadNotes;   // where the figures came from, re-evaluation at decision.json's threshold
  bool fromFiles = false;
  QString error;           // non-empty: nothing usable was loaded
};

// Reads (else evaluates) one split of a run: what the worker runs. `folder` only for split
// "folder". `progress(done, total)` may be called from this thread. Never throws.
SplitResult loadSplitResult(const QString& runDir, const QString& split, const QString& folder,
                            const std::function<void(int64_t, int64_t)>& progress, const ampbench::CancelToken& cancel);

// The splits a run can show: "val", plus "test" when its dataset had one (dataset.json
// counts, or an evaluation_test.json already in the folder).
QStringList runSplits(const QString& runDir);
// "validation", "test", "another folder"
QString splitDisplayName(const QString& split);

// Forwards the engine's progress (decoding, evaluating images) as (done, total).
class EngineProgress : public ampbench::RunObserver {
 public:
  explicit EngineProgress(std::function<void(int64_t, int64_t)> f) : f_(std::move(f)) {}
  void onDataProgress(const ampbench::DataProgressEvent& e) override { report(e.done, e.total); }
  void onEvaluationProgress(const ampbench::EvaluationProgressEvent& e) override { report(e.done, e.total); }

 private:
  void report(int64_t done, int64_t total) {
    if (f_) {
      f_(done, total);
    }
  }
  std::function<void(int64_t, int64_t)> f_;
};

// Thresholds equal for display and bookkeeping (NaN equals NaN: the argmax of > 2 classes).
bool sameThreshold(double a, double b);
// The bootstrap behind `e`'s intervals (the default when it had none), so a re-computation
// draws the same resamples.
ampbench::BootstrapOptions bootstrapLike(const ampbench::Evaluation& e);
// What evaluateProbabilities cannot know, copied from the evaluation it re-computes.
void keepContext(ampbench::Evaluation& e, const ampbench::Evaluation& from, const std::string& thresholdSource);

}  // namespace ampbench::ui
