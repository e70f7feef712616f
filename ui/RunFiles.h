#pragma once
// Reading a run directory back (see DESIGN.md "A run on disk"): steps.csv and epochs.csv
// into the engine's own event structs, so reopened runs go through the same plotting
// code as live ones. Columns are found by header name; missing columns read as 0.

#include "ui/QtTypes.h"

#include <QString>
#include <QVector>

#include <optional>

namespace ampbench::ui {

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

RunHistory loadRunHistory(const QString& runDir);

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
PrecisionHistory loadPrecisionHistory(const RunHistory& history);
// The same for explicit files (steps may be empty: loss scale 1, epoch 0).
PrecisionHistory readPrecisionFiles(const QString& gradStatsCsv, const QString& overflowsCsv,
                                    const QVector<ampbench::StepEvent>& steps);

}  // namespace ampbench::ui
