#pragma once
// The main window: composes the panels, owns the TrainingController, and wires events
// to them. Status bar progress (epoch, step, ETA, images/s), window title with the run
// state, menus, and the scripted mode (start, screenshot, exit) live here; everything
// else belongs to the panels.

#include "ui/QtTypes.h"
#include "ui/ScriptOptions.h"

#include <QElapsedTimer>
#include <QMainWindow>
#include <QString>

class QLabel;
class QProgressBar;
class QSplitter;
class QTabWidget;

namespace ampbench::ui {

class ComparisonView;
class DataPanel;
class PlotsPanel;
class RunPanel;
class RunsList;
class TrainingController;

class MainWindow : public QMainWindow {
  Q_OBJECT

 public:
  explicit MainWindow(const ScriptOptions& script = {}, QWidget* parent = nullptr);
  ~MainWindow() override;

  DataPanel* dataPanel() const { return dataPanel_; }
  RunPanel* runPanel() const { return runPanel_; }
  PlotsPanel* plotsPanel() const { return plots_; }
  ComparisonView* comparisonView() const { return comparison_; }
  RunsList* runsList() const { return runsList_; }
  TrainingController* controller() const { return controller_; }
  QString lastRunDir() const { return lastRunDir_; }
  QString bannerText() const;
  // Exit code of the scripted mode: 0 finished, 1 failed/cancelled, 2 bad input.
  int scriptExitCode() const { return scriptExitCode_; }

  // Closing during a run asks first; tests and the scripted mode switch that off.
  void setConfirmClose(bool confirm) { confirmClose_ = confirm; }

 public Q_SLOTS:
  bool startTraining();
  bool startComparison();
  void stop();
  // Shows a run directory (plots from its CSVs) or a comparison directory.
  bool openPath(const QString& dir);
  void openWithDialog();
  void exportModel();
  bool saveScreenshot(const QString& path);

 protected:
  void closeEvent(QCloseEvent* event) override;

 private:
  void buildMenus();
  void connectController();
  void setRunState(const QString& state);
  void showBanner(const QString& text, bool error);
  void updateStatus(const ampbench::StepEvent& e, bool force);
  ampbench::RunConfig configForRun(const QString& label) const;
  QString newOutDir(const QString& label) const;
  void scriptedStart(bool usable);
  void scriptedDone();

  ScriptOptions script_;
  TrainingController* controller_ = nullptr;
  DataPanel* dataPanel_ = nullptr;
  RunPanel* runPanel_ = nullptr;
  PlotsPanel* plots_ = nullptr;
  ComparisonView* comparison_ = nullptr;
  RunsList* runsList_ = nullptr;
  QTabWidget* tabs_ = nullptr;
  QSplitter* splitter_ = nullptr;
  QLabel* banner_ = nullptr;
  QProgressBar* progress_ = nullptr;
  QLabel* statusText_ = nullptr;

  QString runState_;
  QString currentRunDir_;
  QString lastRunDir_;
  QString compareLabel_;  // "run 1 of 2 (FP32)" during a comparison
  int64_t totalSteps_ = 0;
  int64_t epochs_ = 0;
  QElapsedTimer statusClock_;
  bool confirmClose_ = true;
  bool scriptStarted_ = false;
  bool screenshotTaken_ = false;
  int scriptExitCode_ = 0;
};

}  // namespace ampbench::ui
