#pragma once
// Command-line options of `ampbench`, for documentation screenshots, tests and demos:
//   ampbench --data DIR --precision MODE --model NAME --epochs N --start [--compare]
//            [--screenshot FILE.png] [--exit-when-done]
// plus --image-size, --batch-size, --lr, --seed, --limit, --init-scale, --growth-interval,
// --out, --modes, --without-fixes, --grad-stats N, --open DIR, --follow DIR, --predict IMAGE,
// --show live|precision|comparison|results
// (the view the screenshot captures), --screenshot-at-epoch N and --window-size WxH.

#include <QSize>
#include <QString>
#include <QStringList>

#include "engine/core/RunConfig.h"

#include <vector>

namespace ampbench::ui {

struct ScriptOptions {
  QString data;
  QString precision;  // empty: keep the saved setting
  QString model;
  int epochs = 0;     // 0: keep the saved setting (same for the numbers below)
  int batchSize = 0;
  int imageSize = 0;
  double lr = 0.0;
  int seed = -1;
  int limit = -1;
  double initScale = 0.0;      // loss scaler: 0 keeps the saved setting
  int growthInterval = 0;
  QString out;        // run (or comparison) directory; empty: a new one under the runs folder
  std::vector<ampbench::PrecisionMode> modes;  // comparison modes; empty: the panel's (fp32 + its mixed format)
  bool withoutFixes = false;  // the panel's comparison plus its what-ifs
  int gradStatsEvery = -1;    // precision statistics every N steps (0 off); -1 keeps the saved setting
  QString open;       // a run or comparison directory to show
  QString follow;     // a run directory another process writes, followed until the run ends
  QStringList predict;  // images shown in the image inspector with the --open run (the screenshot is the inspector's)
  // Image/DICOM files given as arguments (the desktop file's %F: "Open with AmpBench"):
  // shown in the image inspector with the selected or last run, as File ▸ Predict… does.
  QStringList files;
  bool start = false;
  bool compare = false;
  QString screenshot;
  QString show;               // "live", "precision", "comparison", "results"; empty: the view the run or --open chose
  int screenshotAtEpoch = 0;  // > 0: take the screenshot mid-run, after this epoch
  bool exitWhenDone = false;
  QSize windowSize;           // fixed size for screenshots (default 1440x900 when one is asked)
  bool showHelp = false;
  bool showVersion = false;

  bool scripted() const { return start || !screenshot.isEmpty() || exitWhenDone || !open.isEmpty() || !follow.isEmpty(); }
};

// Parses the application's arguments (argv[0] first). On a bad option returns false
// with `error` saying what to fix. --help / --version only set showHelp / showVersion.
bool parseScriptOptions(const QStringList& arguments, ScriptOptions* options, QString* error, QString* helpText = nullptr);

}  // namespace ampbench::ui
