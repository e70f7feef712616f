#include "ui/MainWindow.h"

#include "ui/AboutBox.h"
#include "ui/ComparisonView.h"
#include "ui/DataPanel.h"
#include "ui/ExportDialog.h"
#include "ui/FollowDriver.h"
#include "ui/ReportExporter.h"
#include "ui/Format.h"
#include "ui/PlotView.h"
#include "ui/PlotsPanel.h"
#include "ui/PrecisionTab.h"
#include "ui/PredictDriver.h"
#include "ui/ResultsTab.h"
#include "ui/RunFiles.h"
#include "ui/RunHistoryController.h"
#include "ui/RunLoader.h"
#include "ui/RunResumer.h"
#include "ui/RunPanel.h"
#include "ui/RunStopper.h"
#include "ui/RunsList.h"
#include "ui/RunsFolder.h"
#include "ui/ScriptDriver.h"
#include "ui/StatusLine.h"
#include "ui/Tooltips.h"
#include "ui/TrainingController.h"

#include <QAction>
#include <QApplication>
#include <QCloseEvent>
#include <QDir>
#include <QFileDialog>
#include <QFileInfo>
#include <QLabel>
#include <QMenuBar>
#include <QMessageBox>
#include <QProgressBar>
#include <QScrollArea>
#include <QSettings>
#include <QSplitter>
#include <QStatusBar>
#include <QTabWidget>
#include <QToolBar>
#include <QVBoxLayout>

#include <cstdio>
#include <exception>

// Resources of a static library are registered by hand, outside any namespace.
static void initAmpbenchResources() { Q_INIT_RESOURCE(ampbench); }

namespace ampbench::ui {

MainWindow::MainWindow(const ScriptOptions& script, QWidget* parent) : QMainWindow(parent) {
  initAmpbenchResources();
  setWindowIcon(QIcon(QStringLiteral(":/icons/ampbench.svg")));
  controller_ = new TrainingController(this);
  presenter_ = new RunsPresenter(this);
  stopper_ = new RunStopper(controller_, this);
  loader_ = new RunLoader(this);

  // Left: data and run settings (scrollable), runs list below.
  auto* settingsColumn = new QWidget;
  auto* settingsLayout = new QVBoxLayout(settingsColumn);
  settingsLayout->setContentsMargins(0, 0, 0, 0);
  dataPanel_ = new DataPanel(settingsColumn);
  runPanel_ = new RunPanel(settingsColumn);
  settingsLayout->addWidget(dataPanel_);
  settingsLayout->addWidget(runPanel_);
  settingsLayout->addStretch(1);
  auto* scroll = new QScrollArea;
  scroll->setWidget(settingsColumn);
  scroll->setWidgetResizable(true);
  scroll->setFrameShape(QFrame::NoFrame);
  scroll->setHorizontalScrollBarPolicy(Qt::ScrollBarAlwaysOff);
  runsList_ = new RunsList;
  auto* left = new QSplitter(Qt::Vertical);
  left->addWidget(scroll);
  left->addWidget(runsList_);
  left->setStretchFactor(0, 4);
  left->setStretchFactor(1, 1);

  // Right: banner for problems, then the live plots, the precision view and the comparison as tabs.
  auto* right = new QWidget;
  auto* rightLayout = new QVBoxLayout(right);
  rightLayout->setContentsMargins(0, 0, 0, 0);
  banner_ = new QLabel(right);
  banner_->setObjectName(QStringLiteral("banner"));
  banner_->setWordWrap(true);
  banner_->setTextInteractionFlags(Qt::TextSelectableByMouse);
  banner_->setVisible(false);
  rightLayout->addWidget(banner_);
  rightLayout->addWidget(stopper_->bar());
  tabs_ = new QTabWidget(right);
  plots_ = new PlotsPanel(tabs_);
  precision_ = new PrecisionTab(tabs_);
  comparison_ = new ComparisonView(tabs_);
  tabs_->addTab(plots_, QIcon(QStringLiteral(":/icons/train.svg")), tr("Live plots"));
  tabs_->addTab(precision_, QIcon(QStringLiteral(":/icons/precision.svg")), tr("Precision"));
  tabs_->addTab(comparison_, QIcon(QStringLiteral(":/icons/compare.svg")), tr("FP32 vs mixed"));
  tabs_->setTabToolTip(0, tr("The current (or reopened) run, live."));
  tabs_->setTabToolTip(1, tr("What FP16 / BF16 would do to this run's gradients and updates, layer by layer, "
                             "from statistics sampled every N steps."));
  tabs_->setTabToolTip(2, QString::fromUtf8(tips::kCompare));
  results_ = new ResultsTab(tabs_);
  tabs_->setTabToolTip(tabs_->addTab(results_, QIcon(QStringLiteral(":/icons/results.svg")), tr("Results")),
                       tr("What the model gets right and wrong: confusion matrix, ROC, threshold, sensitivity and "
                          "specificity with intervals, the most confident mistakes."));
  // The overflow timeline spans the same steps as the loss-scale plot.
  precision_->setStepRange(plots_->scalePlot()->xAxis->range());
  connect(plots_->scalePlot()->xAxis, qOverload<const QCPRange&>(&QCPAxis::rangeChanged), precision_,
          &PrecisionTab::setStepRange);
  rightLayout->addWidget(tabs_, 1);

  splitter_ = new QSplitter(Qt::Horizontal);
  splitter_->addWidget(left);
  splitter_->addWidget(right);
  splitter_->setStretchFactor(0, 0);
  splitter_->setStretchFactor(1, 1);
  splitter_->setSizes({400, 1040});
  setCentralWidget(splitter_);

  progress_ = new QProgressBar;
  progress_->setMaximumWidth(260);
  progress_->setTextVisible(true);
  progress_->setToolTip(tr("Progress of the current run."));
  progress_->setVisible(false);
  statusText_ = new StatusLine;
  statusText_->setObjectName(QStringLiteral("statusLine"));
  statusBar()->addPermanentWidget(statusText_, 1);
  statusBar()->addPermanentWidget(new LoadIndicator(loader_));
  statusBar()->addPermanentWidget(progress_);

  // Run history (the runs folder, scanned on a worker) and "try an image" (drops on the tabs, File ▸ Predict…).
  history_ = new RunHistoryController(runsList_, this, this);
  history_->setIsTraining([this](const QString& dir) {
    const QString current = presenter_->currentRunDir();
    return controller_->isBusy() && !current.isEmpty() && (current == dir || current.startsWith(dir + QLatin1Char('/')));
  });
  predict_ = new PredictDriver(this, [this]() { return runsList_->selectedDir().isEmpty() ? lastRunDir() : runsList_->selectedDir(); }, this);
  predict_->attachDropTarget(tabs_);
  follow_ = new FollowDriver(this);  // "Open run (follow)…": a run another process writes
  buildMenus();
  connectController();
  connectPresenter();
  connectLoader();

  connect(dataPanel_, &DataPanel::dataUsableChanged, runPanel_, &RunPanel::setDataUsable);
  connect(runPanel_, &RunPanel::trainRequested, this, &MainWindow::startTraining);
  connect(runPanel_, &RunPanel::compareRequested, this, &MainWindow::startComparison);
  connect(runPanel_, &RunPanel::stopRequested, this, &MainWindow::stop);
  connect(runsList_, &RunsList::runActivated, this, &MainWindow::openPath);
  connect(runsList_, &RunsList::comparisonActivated, this, &MainWindow::openPath);
  auto* resumer = new RunResumer(controller_, presenter_, this);  // "Resume" on a stopped or killed run
  runsList_->setCanResume([this](const QString& dir) { return !controller_->isBusy() && RunResumer::canResume(dir); });
  connect(runsList_, &RunsList::resumeRequested, resumer, &RunResumer::resume);
  connect(runsList_, &RunsList::currentDirChanged, predict_, &PredictDriver::clearModelFolder);
  connect(history_, &RunHistoryController::message, presenter_, &RunsPresenter::showBanner);
  connect(predict_, &PredictDriver::message, presenter_, &RunsPresenter::showBanner);
  auto folderTip = [this](const QString& root) {
    statusBar()->setToolTip(tr("Runs folder: %1").arg(QDir::toNativeSeparators(root)));
    statusText_->setExtraToolTip(statusBar()->toolTip());
  };
  connect(history_, &RunHistoryController::rootChanged, this, folderTip);
  folderTip(history_->root());
  if (!script.scripted()) {
    history_->rescan();  // scripted runs (screenshots, tests) show only what they open
  }

  QSettings settings;
  if (script.windowSize.isValid()) {
    resize(script.windowSize);
  } else if (!restoreGeometry(settings.value(QStringLiteral("window/geometry")).toByteArray())) {
    resize(1440, 900);
  }
  splitter_->restoreState(settings.value(QStringLiteral("window/splitter")).toByteArray());
  setWindowTitle(presenter_->windowTitle());
  script_ = new ScriptDriver(script, this);
}

MainWindow::~MainWindow() = default;

void MainWindow::buildMenus() {
  auto icon = [](const char* name) { return QIcon(QStringLiteral(":/icons/%1.svg").arg(QLatin1String(name))); };
  QMenu* file = menuBar()->addMenu(tr("&File"));
  QAction* openData = file->addAction(icon("folder"), tr("Open &dataset folder…"), dataPanel_, &DataPanel::chooseFolder);
  openData->setShortcut(QKeySequence::Open);
  openData->setToolTip(tr("Choose the folder of images to train on."));
  file->addAction(tr("Open MedMNIST .&npz…"), dataPanel_, &DataPanel::chooseNpz);
  QAction* openRun = file->addAction(icon("open-run"), tr("Open &run or comparison…"), this, &MainWindow::openWithDialog);
  openRun->setToolTip(tr("Show a run directory (plots from steps.csv / epochs.csv) or a comparison directory."));
  follow_->addMenuActions(file);
  QAction* exportAction = file->addAction(icon("export"), tr("&Export model…"), this, &MainWindow::exportModel);
  exportAction->setToolTip(tr("Copy the trained model's files and its model card into a folder."));
  auto* reporter = new ReportExporter(this);
  connect(reporter, &ReportExporter::message, presenter_, &RunsPresenter::showBanner);
  file->addAction(tr("Export re&port…"), this, [this, reporter]() {
        const QString selected = runsList_->selectedDir();
        reporter->exportWithDialog(selected.isEmpty() ? lastRunDir() : selected);
      })->setToolTip(tr("A PDF of the selected run or comparison: data, settings, metrics with intervals, worst cases."));
  QAction* predict = file->addAction(icon("open-run"), tr("&Predict…"), predict_, &PredictDriver::predictWithDialog);
  predict->setToolTip(tr("Class probabilities and the Grad-CAM overlay for X-ray files (PNG, JPEG, DICOM) with the selected "
                         "run; dropping files on the plots does the same."));
  file->addAction(tr("Use an exported &model folder…"), predict_, &PredictDriver::chooseModelFolder);
  file->addSeparator();
  file->addAction(tr("&Quit"), QKeySequence::Quit, this, &QWidget::close);

  QMenu* run = menuBar()->addMenu(tr("&Run"));
  QAction* train = run->addAction(icon("train"), tr("&Train"), this, &MainWindow::startTraining);
  train->setShortcut(Qt::CTRL | Qt::Key_R);
  train->setToolTip(QString::fromUtf8(tips::kTrain));
  QAction* compare = run->addAction(icon("compare"), tr("&Compare FP32 vs mixed"), this, &MainWindow::startComparison);
  compare->setToolTip(QString::fromUtf8(tips::kCompare));
  QAction* stopAction = run->addAction(icon("stop"), tr("&Stop"), this, &MainWindow::stop);
  stopAction->setShortcut(Qt::Key_Escape);
  stopAction->setToolTip(QString::fromUtf8(tips::kStop));

  QMenu* view = menuBar()->addMenu(tr("&View"));
  view->addAction(tr("&Reset plot views"), plots_, &PlotsPanel::resetViews);

  QMenu* help = menuBar()->addMenu(tr("&Help"));
  help->addAction(tr("&About AmpBench"), this, [this]() { AboutBox::show(this); });

  QToolBar* bar = addToolBar(tr("Main"));
  bar->setObjectName(QStringLiteral("mainToolBar"));
  bar->setToolButtonStyle(Qt::ToolButtonTextBesideIcon);
  bar->setIconSize(QSize(18, 18));
  bar->setMovable(false);
  bar->addAction(openData);
  bar->addAction(openRun);
  bar->addSeparator();
  bar->addAction(train);
  bar->addAction(compare);
  bar->addAction(stopAction);
  bar->addSeparator();
  bar->addAction(exportAction);
  train->setEnabled(false);
  compare->setEnabled(false);
  stopAction->setEnabled(false);
  connect(dataPanel_, &DataPanel::dataUsableChanged, this, [this, train, compare](bool usable) {
    train->setEnabled(usable && !controller_->isBusy());
    compare->setEnabled(usable && !controller_->isBusy());
  });
  connect(controller_, &TrainingController::busyChanged, this, [this, train, compare, stopAction](bool busy) {
    train->setEnabled(!busy && dataPanel_->isUsable());
    compare->setEnabled(!busy && dataPanel_->isUsable());
    stopAction->setEnabled(busy);
  });
  // A second Stop (Esc) while the first one waits for the step would do nothing.
  connect(stopper_, &RunStopper::stopping, this, [this, stopAction]() {
    stopAction->setEnabled(false);
    runPanel_->markStopping();
  });
}

void MainWindow::connectController() {
  TrainingController* c = controller_;
  RunsPresenter* p = presenter_;
  connect(c, &TrainingController::busyChanged, runPanel_, &RunPanel::setBusy);
  connect(c, &TrainingController::busyChanged, progress_, &QWidget::setVisible);
  connect(c, &TrainingController::dataProgress, p, &RunsPresenter::dataProgress);
  connect(c, &TrainingController::runStarted, this, [this](const ampbench::RunStartedEvent& e) {
    plots_->startRun(e);
    precision_->startRun(e);
    presenter_->runStarted(e);
  });
  connect(c, &TrainingController::stepDone, plots_, &PlotsPanel::addStep);
  // The status text and progress show each delivery's newest step (throttled in the presenter).
  connect(c, &TrainingController::stepsDelivered, presenter_,
          [this](const ampbench::StepEvent& e) { presenter_->step(e); });
  connect(c, &TrainingController::epochDone, plots_, &PlotsPanel::addEpoch);
  connect(c, &TrainingController::precisionStats, precision_, &PrecisionTab::addStats);
  connect(c, &TrainingController::overflowAttributed, precision_, &PrecisionTab::addOverflow);
  connect(c, &TrainingController::runEnded, this, [this](const ampbench::RunSummary& s) {
    plots_->flush();
    precision_->flush();
    presenter_->runEnded(s);
    if (s.status == ampbench::RunStatus::Finished && presenter_->compareLabel().isEmpty()) {
      results_->showRun(presenter_->lastRunDir());  // a comparison's runs show together when it is done
    }
  });
  connect(c, &TrainingController::compareModeStarted, p, &RunsPresenter::compareModeStarted);
  connect(c, &TrainingController::comparisonDone, this, [this](const ampbench::ComparisonSummary& s) {
    loader_->openFinishedComparison(s);  // the runs' CSVs are read on a worker; the view fills in then
    results_->showComparison(qs(s.outDir));
    // a line per mode in the view, one line in the status bar
    presenter_->comparisonShown(s, ComparisonView::computeVerdict(s).replace(QLatin1Char('\n'), QStringLiteral(" · ")));
  });
  connect(c, &TrainingController::failed, p, &RunsPresenter::jobFailed);
  connect(c, &TrainingController::jobEnded, p, &RunsPresenter::jobEnded);
}

void MainWindow::connectLoader() {
  connect(stopper_, &RunStopper::stopped, presenter_, &RunsPresenter::stopRequested);
  connect(stopper_, &RunStopper::closing, presenter_, &RunsPresenter::closing);
  stopper_->setBeforeQuit([this]() { saveSettings(); });
  connect(loader_, &RunLoader::loadFailed, presenter_, &RunsPresenter::openFailed);
  connect(loader_, &RunLoader::runLoaded, this, [this](const RunHistory& history, const PrecisionHistory& precision) {
    const QString caption = presenter_->runOpened(history);
    if (history.config && !controller_->isBusy()) {
      // The settings beside a reopened run are that run's (model, size, precision, ...), not
      // whatever the panel last held; Train then repeats it.
      runPanel_->setConfig(*history.config);
    }
    plots_->showHistory(history, caption);
    precision_->showHistory(precision, contextFor(history));
    results_->showRun(history.runDir);
  });
  connect(loader_, &RunLoader::comparisonLoaded, this, [this](const ComparisonHistory& c, const QString& dir, bool fromDisk) {
    comparison_->showComparison(c.summary, c.runs);
    if (fromDisk) {
      presenter_->comparisonOpened(dir);
      results_->showComparison(dir);
    }
  });
}

void MainWindow::connectPresenter() {
  RunsPresenter* p = presenter_;
  connect(p, &RunsPresenter::stateChanged, this, [this]() { setWindowTitle(presenter_->windowTitle()); });
  connect(p, &RunsPresenter::statusTextChanged, statusText_, &StatusLine::setText);
  connect(p, &RunsPresenter::progressChanged, this, [this](int value, int maximum, const QString& format) {
    // QProgressBar::setValue repaints at once, a paint and flush of its own; with updates
    // off for the change it is painted with the window's next update, together with the plots.
    progress_->setUpdatesEnabled(false);
    progress_->setRange(0, maximum);
    progress_->setValue(value);
    progress_->setFormat(format);
    progress_->setUpdatesEnabled(true);  // schedules the update
  });
  connect(p, &RunsPresenter::bannerChanged, this, &MainWindow::setBanner);
  connect(p, &RunsPresenter::runUpserted, runsList_, &RunsList::upsert);
  connect(p, &RunsPresenter::viewRequested, this, [this](RunView view) {
    switch (view) {
      case RunView::Live:
        tabs_->setCurrentWidget(plots_);
        break;
      case RunView::Comparison:
        tabs_->setCurrentWidget(comparison_);
        break;
      case RunView::Precision:
        tabs_->setCurrentWidget(precision_);
        break;
      case RunView::Results:
        tabs_->setCurrentWidget(results_);
        break;
    }
  });
  connect(tabs_, &QTabWidget::currentChanged, this, [this]() {
    // A tab the user picks is the view from now on (the presenter's view follows it).
    const RunView view = currentView();
    if (view != presenter_->view()) {
      presenter_->setView(view);
    }
  });
}

RunView MainWindow::currentView() const {
  QWidget* current = tabs_->currentWidget();
  if (current == comparison_) {
    return RunView::Comparison;
  }
  if (current == precision_) {
    return RunView::Precision;
  }
  if (current == results_) {
    return RunView::Results;
  }
  return RunView::Live;
}

void MainWindow::showView(RunView view) { presenter_->setView(view); }

void MainWindow::flushPlots() {
  plots_->flush();
  precision_->flush();
}

void MainWindow::setConfirmClose(bool confirm) { stopper_->setConfirmClose(confirm); }

int MainWindow::scriptExitCode() const { return script_->exitCode(); }

QString MainWindow::bannerText() const { return banner_->isVisible() ? banner_->text() : QString(); }

void MainWindow::setBanner(const QString& text, bool error) {
  banner_->setText(text);
  banner_->setStyleSheet(error ? QStringLiteral("QLabel { color: #a40000; background: #fdecea; border: 1px solid #f5c2bd; "
                                                "padding: 6px; }")
                               : QStringLiteral("QLabel { background: #fff4d6; border: 1px solid #f0d48a; padding: 6px; }"));
  banner_->setVisible(!text.isEmpty());
}

ampbench::RunConfig MainWindow::configForRun(const QString& label) const {
  ampbench::RunConfig c = runPanel_->config();
  c.dataPath = dataPanel_->dataPath().toStdString();
  c.outDir = (runDirOverride_.isEmpty() ? newRunDir(history_->root(), label) : runDirOverride_).toStdString();
  return c;
}

bool MainWindow::startTraining() {
  if (controller_->isBusy() || !dataPanel_->isUsable()) {
    return false;
  }
  presenter_->showBanner(QString(), false);
  try {
    ampbench::RunConfig c = runPanel_->config();
    const ampbench::RunConfig config =
        configForRun(QStringLiteral("%1-%2").arg(qs(c.model), qs(ampbench::toString(c.precision))));
    ampbench::validateConfig(config);
    presenter_->trainingRequested();
    return controller_->startTraining(config);
  } catch (const std::exception& e) {
    presenter_->startRefused(QString::fromStdString(e.what()));
    return false;
  }
}

bool MainWindow::startComparison() {
  if (controller_->isBusy() || !dataPanel_->isUsable()) {
    return false;
  }
  presenter_->showBanner(QString(), false);
  try {
    const std::vector<ampbench::PrecisionMode> modes =
        comparisonModes_.empty() ? runPanel_->comparisonModes() : comparisonModes_;
    QStringList names;
    for (const auto m : modes) {
      names << qs(ampbench::toString(m));
    }
    ampbench::RunConfig config = configForRun(QStringLiteral("compare-%1").arg(names.join(QLatin1Char('-'))));
    ampbench::validateConfig(config);
    presenter_->comparisonRequested(static_cast<int>(modes.size()));
    return controller_->startComparison(config, modes);
  } catch (const std::exception& e) {
    presenter_->startRefused(QString::fromStdString(e.what()));
    return false;
  }
}

void MainWindow::stop() { stopper_->requestStop(); }

bool MainWindow::openPath(const QString& dir) {
  QString error;
  if (!loader_->open(dir, &error)) {
    presenter_->openFailed(error + tr(" Open a folder that holds a run (steps.csv, epochs.csv) or a comparison "
                                      "(comparison.json)."));
    return false;
  }
  return true;
}

void MainWindow::openWithDialog() {
  const QString start = lastRunDir().isEmpty() ? history_->root() : lastRunDir();  // else the runs folder
  const QString dir = QFileDialog::getExistingDirectory(this, tr("Open a run or comparison directory"), start);
  if (!dir.isEmpty()) {
    openPath(dir);
  }
}

void MainWindow::exportModel() {
  QString dir = runsList_->selectedDir();
  if (dir.isEmpty() || isComparisonDir(dir)) {
    dir = lastRunDir();
  }
  if (dir.isEmpty() || !QFileInfo(dir).isDir()) {
    presenter_->showBanner(tr("Nothing to export yet: train a model (or open a run directory) first."), false);
    return;
  }
  ExportDialog dialog(dir, this);
  dialog.exec();
}

bool MainWindow::saveScreenshot(const QString& path) {
  QDir().mkpath(QFileInfo(path).absolutePath());
  const bool ok = grab().save(path);
  if (!ok) {
    std::fprintf(stderr, "ampbench: could not write the screenshot %s\n", path.toLocal8Bit().constData());
  }
  return ok;
}

void MainWindow::closeEvent(QCloseEvent* event) {
  // During a run the close waits for the engine's step off the GUI thread ("Stopping…");
  // the stopper closes the window again when the worker has ended.
  if (!stopper_->closeRequested()) {
    event->ignore();
    return;
  }
  loader_->cancel();
  saveSettings();
  event->accept();
}

void MainWindow::saveSettings() {
  QSettings settings;
  settings.setValue(QStringLiteral("window/geometry"), saveGeometry());
  settings.setValue(QStringLiteral("window/splitter"), splitter_->saveState());
  runPanel_->saveSettings();
}

}  // namespace ampbench::ui
