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

}  // namespace ampbench::ui
