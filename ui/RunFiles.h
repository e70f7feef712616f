#pragma once
// Reading a run directory back (see DESIGN.md "A run on disk"): steps.csv and epochs.csv
// into the engine's own event structs, so reopened runs go through the same plotting
// code as live ones. Columns are found by header name; missing columns read as 0.

#include "ui/QtTypes.h"

#include <QHash>
#include <QMap>
#include <QString>
#include <QStringList>
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

// A CSV's header line as a column lookup: cells by header name; a missing column reads as 0,
// "true" as 1 and "false" as 0.
class CsvHeader {
 public:
  CsvHeader() = default;
  explicit CsvHeader(const QString& line);
  double value(const QStringList& cells, const char* name) const;
  bool isEmpty() const { return column_.isEmpty(); }

 private:
  QHash<QString, int> column_;
};

// One data line of steps.csv / epochs.csv (the whole-file reader and the RunFollower share these).
ampbench::StepEvent parseStepRow(const CsvHeader& header, const QString& line);
ampbench::EpochEvent parseEpochRow(const CsvHeader& header, const QString& line);

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

inline constexpr const char* kGradStatsCsvHeader = "step,layer,kind,statistic,value";
inline constexpr const char* kOverflowsCsvHeader = "step,layer,kind,value";

// grad_stats.csv rows gathered into one PrecisionStatsEvent per sampled step, row by row.
class GradStatsRows {
 public:
  // False (and counted in `skipped`) for a row that does not parse; blank lines are ignored.
  bool add(const QString& line);
  // Removes and returns the samples of steps before `before` (all when < 0), by step, with
  // the loss scale and epoch of the steps.csv row at or before each.
  QVector<ampbench::PrecisionStatsEvent> take(const QVector<ampbench::StepEvent>& steps, int64_t before = -1);
  int64_t lastStep() const;  // the newest step held; -1 when none
  void clear();
  int skipped = 0;

 private:
  QMap<int64_t, ampbench::PrecisionStatsEvent> byStep_;
  QHash<int64_t, QHash<QString, size_t>> tensorIndex_;  // step -> "layer\nkind" -> index
};
// One overflows.csv row (step,layer,kind,value); false when it does not parse.
bool parseOverflowRow(const QString& line, ampbench::OverflowAttribution* out);

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
