#pragma once
// The main window: lays out the panels, owns the TrainingController, and wires its
// events to the panels and to the RunsPresenter (which decides run states, titles,
// status-bar text and the view in front). Menus and the status bar live here; the
// scripted mode is the ScriptDriver's.

#include "ui/QtTypes.h"
#include "ui/RunsPresenter.h"
#include "ui/ScriptOptions.h"

#include <QMainWindow>
#include <QString>
#include <QStringList>

class QLabel;
class QProgressBar;
class QSplitter;
class QTabWidget;

namespace ampbench::ui {

class ComparisonView;
class DataPanel;
class FollowDriver;
class PlotsPanel;
class StatusLine;
class PredictDriver;
class PrecisionTab;
class ResultsTab;
class RunHistoryController;
class RunLoader;
class RunPanel;
class RunStopper;
class RunsList;
class ScriptDriver;
class TrainingController;

class MainWindow : public QMainWindow {
  Q_OBJECT

 public:
  explicit MainWindow(const ScriptOptions& script = {}, QWidget* parent = nullptr);
  ~MainWindow() override;

  DataPanel* dataPanel() const { return dataPanel_; }
  RunPanel* runPanel() const { return runPanel_; }
  PlotsPanel* plotsPanel() const { return plots_; }
  PrecisionTab* precisionTab() const { return precision_; }
  ComparisonView* comparisonView() const { return comparison_; }
  ResultsTab* resultsTab() const { return results_; }
  RunsList* runsList() const { return runsList_; }
  TrainingController* controller() const { return controller_; }
  RunsPresenter* presenter() const { return presenter_; }
  ScriptDriver* scriptDriver() const { return script_; }
  RunHistoryController* history() const { return history_; }
  PredictDriver* predictDriver() const { return predict_; }
  RunLoader* loader() const { return loader_; }
  FollowDriver* followDriver() const { return follow_; }
  RunStopper* stopper() const { return stopper_; }
  QString lastRunDir() const { return presenter_->lastRunDir(); }
  QString bannerText() const;
  // Exit code of the scripted mode: 0 finished, 1 failed/cancelled, 2 bad input.
  int scriptExitCode() const;
  RunView currentView() const;

  // Closing during a run asks first; tests and the scripted mode switch that off.
  void setConfirmClose(bool confirm);
  // Runs go here instead of a new folder under the runs root (empty: the default).
  void setRunDirOverride(const QString& dir) { runDirOverride_ = dir; }
  // Modes a comparison runs (empty: fp32 and the run panel's mixed format).
  void setComparisonModes(const std::vector<ampbench::PrecisionMode>& modes) { comparisonModes_ = modes; }

 public Q_SLOTS:
  bool startTraining();
  bool startComparison();
  // Stop, Run ▸ Stop, Esc: a long run asks first (RunStopper).
  void stop();
  // Shows a run directory (plots from its CSVs) or a comparison directory. The files are
  // read on a worker (RunLoader) and the views fill in when they arrive; false (with the
  // reason in the banner) when `dir` is neither.
  bool openPath(const QString& dir);
  void openWithDialog();
  void exportModel();
  void showView(ampbench::ui::RunView view);
  // Applies pending plot data now (screenshots).
  void flushPlots();
  bool saveScreenshot(const QString& path);

 protected:
  void closeEvent(QCloseEvent* event) override;

 private:
  void buildMenus();
  void connectController();
  void connectPresenter();
  void connectLoader();
  void saveSettings();
  void setBanner(const QString& text, bool error);
  ampbench::RunConfig configForRun(const QString& label) const;

  RunsPresenter* presenter_ = nullptr;
  RunStopper* stopper_ = nullptr;
  RunLoader* loader_ = nullptr;
  ScriptDriver* script_ = nullptr;
  RunHistoryController* history_ = nullptr;
  PredictDriver* predict_ = nullptr;
  FollowDriver* follow_ = nullptr;
  TrainingController* controller_ = nullptr;
  DataPanel* dataPanel_ = nullptr;
  RunPanel* runPanel_ = nullptr;
  PlotsPanel* plots_ = nullptr;
  PrecisionTab* precision_ = nullptr;
  ComparisonView* comparison_ = nullptr;
  ResultsTab* results_ = nullptr;
  RunsList* runsList_ = nullptr;
  QTabWidget* tabs_ = nullptr;
  QSplitter* splitter_ = nullptr;
  QLabel* banner_ = nullptr;
  QProgressBar* progress_ = nullptr;
  StatusLine* statusText_ = nullptr;

  QString runDirOverride_;
  std::vector<ampbench::PrecisionMode> comparisonModes_;  // scripted --modes; empty: the run panel's
};

}  // namespace ampbench::ui
