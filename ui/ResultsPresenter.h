#pragma once
// The Results tab without widgets: what a trained model gets right and wrong on a split.
// Opens a run (or a comparison: FP32 and one other mode side by side), loads
// evaluation_<split>.json + predictions_<split>.csv from the run folder, or evaluates the
// split on a worker when they are missing (and always for "another folder"), then answers
// what the tab shows: the header line, the evaluation at the slider's threshold (re-computed
// live without intervals; intervals re-computed in the background once the slider rests),
// the metrics table's cells, notes, the most confident mistakes and, for a comparison, the
// images the two modes call differently. ResultsTab applies it to widgets; tests drive it
// directly (ResultsPresenterTest).
//
// Nothing here blocks the GUI thread on files or the engine: loading, evaluating, choosing a
// threshold and interval re-computation run through QtConcurrent, one watcher each; a newer
// request supersedes an older one (its result is dropped).

#include "ui/ResultsFiles.h"
#include "engine/core/Evaluation.h"
#include "engine/util/CancelToken.h"

#include <QFutureWatcher>
#include <QObject>
#include <QString>
#include <QStringList>
#include <QTimer>
#include <QVector>

#include <functional>
#include <memory>
#include <optional>
#include <vector>

namespace ampbench::ui {

struct MetricsTable {
  struct Row {
    QString label;
    QStringList cells;      // one per column; a headline row: one per side, spanning its columns
    bool headline = false;  // accuracy, balanced accuracy, AUC, threshold
    QString tooltip;
  };
  QStringList columns;      // classes; a comparison: "FP32\nNORMAL", ...
  int columnsPerSide = 0;
  QVector<Row> rows;
  QString footnote;         // "* interval at the stored threshold 0.50 …"; empty when none is stale
};

// One image of the mistakes gallery.
struct MistakeItem {
  QString file;   // as in the predictions (relative to the dataset folder)
  QString path;   // absolute, for decoding and the inspector
  int trueClass = 0;
  int predicted = -1;
  double probability = 0.0;  // of the called class
  QString label;             // "true PNEUMONIA → called NORMAL, p = 0.93"
  QString tooltip;           // every class's probability
};

// An image the two compared modes call differently.
struct Disagreement {
  QString file;
  QString trueClass;
  QString callA, callB;  // class names ("—" for a non-finite row)
  double probabilityA = 0.0, probabilityB = 0.0;  // of each mode's call
};

class ResultsPresenter : public QObject {
  Q_OBJECT

 public:
  static constexpr int kIntervalDelayMs = 300;  // the slider rests this long before intervals are re-computed
  static constexpr int kGalleryLimit = 24;

  explicit ResultsPresenter(QObject* parent = nullptr);
  ~ResultsPresenter() override;

  // What to show. Each starts a load on a worker (cancelling one in flight).
  void openRun(const QString& runDir);
  void openComparison(const QString& dir);
  void setSplit(const QString& split);  // "val", "test"
  void evaluateFolder(const QString& folder);
  void setComparisonMode(const QString& mode);  // one of comparisonModes()
  void cancel();
  void clear();

  // The two-class threshold: live re-evaluation of the matrix and metrics.
  void setThreshold(double threshold);
  void resetThreshold();  // back to the stored one(s)
  // Chooses the run's threshold on its validation split (worker; stores decision.json)
  // and re-evaluates the shown split at it. A single two-class run only.
  void chooseThreshold(ampbench::ThresholdRule rule, double targetSensitivity);

  // State.
  bool isBusy() const;
  QString busyText() const { return busyText_; }
  QString error() const { return error_; }
  bool hasResults() const { return !sides_.empty(); }
  bool isComparison() const { return !comparisonDir_.isEmpty(); }
  QString runDir() const { return runDir_; }
  QString comparisonDir() const { return comparisonDir_; }
  QString split() const { return split_; }
  QStringList availableSplits() const { return splits_; }
  QStringList comparisonModes() const { return otherModes_; }  // modes besides the baseline
  QString comparisonMode() const { return otherMode_; }
  int sideCount() const { return static_cast<int>(sides_.size()); }
  QString sideLabel(int side) const;  // "FP32", "FP16 mixed (emulated)"; empty for a single run
  const SplitResult* result(int side) const;
  // The run dir the gallery's inspector explains (the single run, or side 0).
  QString inspectRunDir() const;

  bool thresholdAdjustable() const;  // two classes
  bool canChooseThreshold() const;   // a single two-class run, not busy
  double threshold() const { return threshold_; }
  double storedThreshold(int side = 0) const;
  bool atStoredThreshold() const;
  // True while some shown interval belongs to another threshold than the slider's.
  bool intervalsStale() const;

  // What the tab shows, at the current threshold (intervals merged from the latest
  // interval evaluation).
  ampbench::Evaluation shown(int side) const;
  QString header() const;
  MetricsTable metricsTable() const;
  QStringList notes() const;
  QVector<MistakeItem> mistakes(size_t limit = kGalleryLimit) const;  // single run / side 0
  QVector<Disagreement> disagreements() const;

 Q_SIGNALS:
  void busyChanged(bool busy, const QString& what);
  void progressChanged(int value, int maximum);
  void resultsChanged();    // new results: everything redrawn
  void thresholdChanged();  // matrix, metrics and operating points at the new threshold
  void intervalsChanged();  // intervals re-computed (table, footnote)
  void galleryChanged();    // the mistakes at the new threshold (after the slider rests)
  void errorChanged(const QString& message);
  void thresholdStored(const QString& description);

 private:
  struct Side {
    SplitResult result;
    std::vector<float> probabilities;  // flat, cached for the live view
    std::vector<int64_t> labels;
    ampbench::Evaluation live;         // at threshold_ without intervals
    ampbench::Evaluation intervals;    // with intervals at intervalThreshold
    double intervalThreshold = kDefaultDecisionThreshold;
  };
  struct LoadOutcome;
  struct ChooseOutcome;
  struct IntervalOutcome;

  void startLoad(const QString& what);
  void onLoadDone();
  void onChooseDone();
  void onIntervalsDone();
  void startIntervals();
  void recomputeLive();
  void setBusy(const QString& what);
  void setError(const QString& message);
  double thresholdFor(int side) const;  // the slider's once moved, else the side's stored one
  ampbench::EvaluationOptions optionsFor(const Side& side, double threshold, bool intervals) const;

  QString runDir_;         // the single run (empty for a comparison)
  QString comparisonDir_;  // the comparison (empty for a single run)
  QStringList modeDirs_;   // comparison: run dir per mode name below
  QStringList modeNames_;
  QString baselineMode_;
  QStringList otherModes_;
  QString otherMode_;
  QString split_ = QStringLiteral("val");
  QString folder_;         // split "folder"
  QStringList splits_;
  std::vector<Side> sides_;
  double threshold_ = kDefaultDecisionThreshold;
  bool thresholdMoved_ = false;  // false: each side at its stored threshold
  QString busyText_;
  QString error_;
  int generation_ = 0;          // bumps with every load; late results of older loads are dropped
  int intervalGeneration_ = 0;  // likewise for interval re-computation

  ampbench::CancelToken cancel_;
  QFutureWatcher<std::shared_ptr<LoadOutcome>> loadWatcher_;
  QFutureWatcher<std::shared_ptr<ChooseOutcome>> chooseWatcher_;
  QFutureWatcher<std::shared_ptr<IntervalOutcome>> intervalWatcher_;
  QTimer intervalTimer_;
};

}  // namespace ampbench::ui
