#pragma once
// "Resume" in the runs list: a stopped, failed or killed run (checkpoint.pt in its folder,
// fewer epochs in epochs.csv than its config.json asks for) continues from its checkpoint
// with its own settings, into its own folder, as `ampbench-cli train --resume DIR` does:
// from an epoch's end or from the step a mid-epoch checkpoint (or a Stop) holds. MainWindow
// only wires it to the list; tests drive it directly.

#include "engine/core/RunConfig.h"

#include <QObject>
#include <QString>

namespace ampbench::ui {

class RunsPresenter;
class TrainingController;

class RunResumer : public QObject {
  Q_OBJECT

 public:
  RunResumer(TrainingController* controller, RunsPresenter* presenter, QObject* parent = nullptr);

  // Whether `dir` is a run that can be resumed (reads its small files only); `why` gets the
  // reason it cannot, or what the resume would continue ("2 of 3 epochs done").
  static bool canResume(const QString& dir, QString* why = nullptr);
  // What a resume of `dir` trains: its config.json, written into `dir`, from its checkpoint.
  // Throws (InputError) when config.json cannot be read.
  static ampbench::RunConfig resumeConfig(const QString& dir);

 public Q_SLOTS:
  // Starts the resumed training; false, with the reason in the banner, when a job is
  // running or the run cannot be resumed.
  bool resume(const QString& dir);

 private:
  TrainingController* controller_;
  RunsPresenter* presenter_;
};

}  // namespace ampbench::ui
