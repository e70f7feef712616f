#pragma once
// The scripted mode (ScriptOptions: --data, --start, --compare, --open, --follow, --show,
// --screenshot, --exit-when-done ...): applies the command line's settings to the window,
// starts the run once the data is scanned, saves the screenshot of the chosen view
// (mid-run after an epoch, or when done) and quits with an exit code: 0 done, 1 the run
// failed or was cancelled (or the screenshot could not be written), 2 bad input.

#include "ui/QtTypes.h"
#include "ui/ScriptOptions.h"

#include <QObject>

namespace ampbench::ui {

class MainWindow;

class ScriptDriver : public QObject {
  Q_OBJECT

 public:
  // Connects to the window's panels and controller; call once the window is built.
  ScriptDriver(const ScriptOptions& options, MainWindow* window);

  const ScriptOptions& options() const { return options_; }
  int exitCode() const { return exitCode_; }
  bool screenshotTaken() const { return screenshotTaken_; }

 private:
  void applySettings();
  // --follow: the screenshot after --screenshot-at-epoch's epoch or when the run ends.
  void startFollowing();
  void dataScanned(bool usable);
  void runEnded(const ampbench::RunSummary& summary);
  void failed(const QString& message, bool userFixable);
  void epochDone(const ampbench::EpochEvent& event);
  void jobEnded();
  // Shows the --show view, then saves the screenshot; false when it could not be written.
  bool takeScreenshot();
  // --predict: the inspector shows the images; false when there was nothing to show them with.
  bool startPredict();
  // Screenshot (unless taken already), then quit when --exit-when-done.
  void done();

  ScriptOptions options_;
  MainWindow* window_ = nullptr;
  bool started_ = false;
  bool screenshotTaken_ = false;
  bool predictShown_ = false;
  int exitCode_ = 0;
  int followedEpochs_ = 0;
};

}  // namespace ampbench::ui
