#pragma once
// Reading a run directory back (see DESIGN.md "A run on disk"): steps.csv and epochs.csv
// into the engine's own event structs, so reopened runs go through the same plotting
// code as live ones. Columns are found by header name; missing columns read as 0.

#include "ui/QtTypes.h"

#include <QString>
#include <QVector>

#include <functional>
#include <optional>

namespace ampbench::ui {

// Lets a read on a worker thread be stopped and followed (steps.csv of a long run is
// 100k rows): `cancelled` is polled every few thousand rows, and a cancelled read ends
// with RunHistory::error set; `progress` gets the bytes read since its last call.
struct ReadControl {
  std::function<bool()> cancelled;
  std::function<void(qint64 bytes)> progress;
  bool isCancelled() const { return cancelled && cancelled(); }
};

struct RunHistory {
  QString runDir;
  QVector<ampbench::StepEvent> steps;
  QVector<ampbench::EpochEvent> epochs;
  std::optional<ampbench::RunConfig> config;  // from config.json when readable
  QString error;                             // why nothing could be read (empty when ok)
  bool isValid() const { return error.isEmpty(); }
};

// True for a directory holding comparison.json.
bool isComparisonDir(const QString& dir);
// True for a directory holding steps.csv or epochs.csv.
bool isRunDir(const QString& dir);

RunHistory loadRunHistory(const QString& runDir, const ReadControl& control = {});

// Mode name for a run: config.json's precision, else the directory name.
QString runModeName(const RunHistory& history);

// A run's precision statistics on disk: grad_stats.csv (long format
// step,layer,kind,statistic,value) rebuilt into the engine's events, one per sampled
// step, tensors in file order (the engine writes them in network order); overflows.csv
// (step,layer,kind,value). Loss scale and epoch of a sample come from steps.csv (the
// last row at or before its step). Rows that do not parse are skipped and counted.
struct PrecisionHistory {
  QVector<ampbench::PrecisionStatsEvent> samples;  // by step
  QVector<ampbench::OverflowAttribution> overflows;
  int skippedRows = 0;
  bool haveStats = false;      // grad_stats.csv was readable
  bool haveOverflows = false;  // overflows.csv was readable
};

// The files of a run read by loadRunHistory (its steps give the loss scales).
PrecisionHistory loadPrecisionHistory(const RunHistory& history, const ReadControl& control = {});
// The same for explicit files (steps may be empty: loss scale 1, epoch 0).
PrecisionHistory readPrecisionFiles(const QString& gradStatsCsv, const QString& overflowsCsv,
                                    const QVector<ampbench::StepEvent>& steps, const ReadControl& control = {});

// A comparison directory read back: comparison.json and each mode's run directory.
struct ComparisonHistory {
  ampbench::ComparisonSummary summary;
  QVector<RunHistory> runs;  // in summary.runs order
  QString error;             // why it could not be read (empty when ok)
};

// readComparison(dir) plus each mode's run; a mode folder moved with the comparison is
// found in <dir>/<mode>/.
ComparisonHistory loadComparisonHistory(const QString& dir, const ReadControl& control = {});
// The runs of a summary the engine just returned (summary kept as it is).
ComparisonHistory loadComparisonRuns(const ampbench::ComparisonSummary& summary, const ReadControl& control = {});
// Bytes the loads above would read for `dir` (a run or comparison directory): the CSVs
// a progress bar counts against.
qint64 bytesToRead(const QString& dir);

}  // namespace ampbench::ui
