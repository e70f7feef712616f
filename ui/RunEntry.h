#pragma once
// One row of the runs list: a run or a comparison, its mode, state and final metrics.
// Plain data, so the widget-free RunsPresenter can produce rows without a RunsList.

#include <QDateTime>
#include <QString>

namespace ampbench::ui {

struct RunEntry {
  QString dir;
  QString mode;    // "fp32", "bf16"... or "fp32 vs bf16" for a comparison
  QString status;  // "running", "finished", "cancelled", "diverged", "failed", "on disk", "incomplete"
  double valAccuracy = -1.0;  // < 0: unknown
  double valAuc = -1.0;
  double imagesPerSecond = 0.0;
  bool comparison = false;
  QDateTime date;  // when it last wrote a result (history); invalid for a live run: now
  QString note;    // why a run is "incomplete" or what could not be read (the row's tooltip)
};

}  // namespace ampbench::ui
