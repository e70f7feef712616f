#pragma once
// The runs folder: where the GUI writes new runs (QSettings "runs/root", default
// <app data>/runs) and the history the runs list is filled from at start-up. The scan
// reads only the small files of each run (config.json, metrics.json, the last rows of
// epochs.csv, comparison.json), so a folder with hundreds of runs scans in a moment; it
// runs on a worker thread (RunHistoryController) and never throws.

#include "ui/RunEntry.h"

#include <QString>
#include <QStringList>
#include <QVector>

namespace ampbench::ui {

// The runs folder from the settings, else the default.
QString runsRoot();
QString defaultRunsRoot();
void setRunsRoot(const QString& dir);  // stored in QSettings; empty: back to the default
// A new, not yet existing run folder under `root`: <yyyyMMdd-HHmmss>-<label>[-N].
QString newRunDir(const QString& root, const QString& label);

struct RunsScan {
  QString root;
  QVector<RunEntry> entries;  // newest first; a comparison's runs follow it
  QStringList skipped;        // "<name>: <reason>" for folders and files that are not runs
  QString error;              // the folder itself could not be read (empty when it does not exist yet)
};

// Lists the runs and comparisons directly under `root` (a comparison's mode runs one
// level below it). A run without metrics.json (interrupted, still running, half-written)
// or with a file that does not parse is listed as "incomplete" with the reason in `note`.
RunsScan scanRunsFolder(const QString& root);

// One run folder's row (also for a folder outside the root).
RunEntry scanRunDir(const QString& dir);

}  // namespace ampbench::ui
