#include "ui/MainWindow.h"

#include "ui/ComparisonView.h"
#include "ui/DataPanel.h"
#include "ui/ExportDialog.h"
#include "ui/Format.h"
#include "ui/PlotsPanel.h"
#include "ui/RunFiles.h"
#include "ui/RunPanel.h"
#include "ui/RunsList.h"
#include "ui/Tooltips.h"
#include "ui/TrainingController.h"

#include <QAction>
#include <QApplication>
#include <QCloseEvent>
#include <QDateTime>
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
#include <QStandardPaths>
#include <QStatusBar>
#include <QTabWidget>
#include <QTimer>
#include <QToolBar>
#include <QVBoxLayout>

#include <cstdio>
#include <exception>

// Resources of a static library are registered by hand, outside any namespace.
static void initAmpbenchResources() { Q_INIT_RESOURCE(ampbench); }

namespace ampbench::ui {
namespace {

constexpr int kStatusIntervalMs = 200;  // status bar text refresh during a run

QString statusName(ampbench::RunStatus s) {
  switch (s) {
    case ampbench::RunStatus::Finished:
      return QObject::tr("finished");
    case ampbench::RunStatus::Cancelled:
      return QObject::tr("stopped");
    case ampbench::RunStatus::Diverged:
      return QObject::tr("diverged");
    case ampbench::RunStatus::Failed:
      return QObject::tr("failed");
  }
  return QObject::tr("unknown");
}

RunEntry entryFromHistory(const RunHistory& h, const QString& status) {
  RunEntry e;
  e.dir = h.runDir;
  e.mode = runModeName(h);
  e.status = status;
  for (auto it = h.epochs.crbegin(); it != h.epochs.crend(); ++it) {
    if (it->validated) {
      e.valAccuracy = it->val.accuracy;
      e.valAuc = it->val.auc;
      break;
    }
  }
  if (!h.epochs.isEmpty()) {
    e.imagesPerSecond = h.epochs.back().imagesPerSecond;
  }
  return e;
}

}  // namespace

MainWindow::MainWindow(const ScriptOptions& script, QWidget* parent) : QMainWindow(parent), script_(script) {
  initAmpbenchResources();
  setWindowIcon(QIcon(QStringLiteral(":/icons/ampbench.svg")));
  controller_ = new TrainingController(this);

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

  // Right: banner for problems, then the live plots and the comparison as tabs.
  auto* right = new QWidget;
  auto* rightLayout = new QVBoxLayout(right);
  rightLayout->setContentsMargins(0, 0, 0, 0);
  banner_ = new QLabel(right);
  banner_->setObjectName(QStringLiteral("banner"));
  banner_->setWordWrap(true);
  banner_->setTextInteractionFlags(Qt::TextSelectableByMouse);
  banner_->setVisible(false);
  rightLayout->addWidget(banner_);
  tabs_ = new QTabWidget(right);
  plots_ = new PlotsPanel(tabs_);
  comparison_ = new ComparisonView(tabs_);
  tabs_->addTab(plots_, QIcon(QStringLiteral(":/icons/train.svg")), tr("Live plots"));
  tabs_->addTab(comparison_, QIcon(QStringLiteral(":/icons/compare.svg")), tr("FP32 vs mixed"));
  tabs_->setTabToolTip(0, tr("The current (or reopened) run, live."));
  tabs_->setTabToolTip(1, QString::fromUtf8(tips::kCompare));
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
  statusText_ = new QLabel;
  statusBar()->addPermanentWidget(statusText_, 1);
  statusBar()->addPermanentWidget(progress_);

  buildMenus();
  connectController();

  connect(dataPanel_, &DataPanel::dataUsableChanged, runPanel_, &RunPanel::setDataUsable);
  connect(runPanel_, &RunPanel::trainRequested, this, &MainWindow::startTraining);
  connect(runPanel_, &RunPanel::compareRequested, this, &MainWindow::startComparison);
  connect(runPanel_, &RunPanel::stopRequested, this, &MainWindow::stop);
  connect(runsList_, &RunsList::runActivated, this, &MainWindow::openPath);
  connect(runsList_, &RunsList::comparisonActivated, this, &MainWindow::openPath);

  QSettings settings;
  if (script_.windowSize.isValid()) {
    resize(script_.windowSize);
  } else if (!restoreGeometry(settings.value(QStringLiteral("window/geometry")).toByteArray())) {
    resize(1440, 900);
  }
  splitter_->restoreState(settings.value(QStringLiteral("window/splitter")).toByteArray());
  setRunState(tr("idle"));

  // Scripted mode: settings from the command line, then start once the data is scanned.
  if (script_.scripted()) {
    confirmClose_ = false;
    runPanel_->setPersistent(false);
  }
  if (!script_.precision.isEmpty()) {
    runPanel_->setPrecisionName(script_.precision);
  }
  if (script_.model.size() > 0 || script_.epochs > 0 || script_.batchSize > 0 || script_.imageSize > 0 ||
      script_.lr > 0 || script_.seed >= 0 || script_.limit >= 0 || script_.initScale > 0 || script_.growthInterval > 0) {
    ampbench::RunConfig c = runPanel_->config();
    if (!script_.model.isEmpty()) {
      c.model = script_.model.toStdString();
    }
    c.epochs = script_.epochs > 0 ? script_.epochs : c.epochs;
    c.batchSize = script_.batchSize > 0 ? script_.batchSize : c.batchSize;
    c.imageSize = script_.imageSize > 0 ? script_.imageSize : c.imageSize;
    c.lr = script_.lr > 0 ? script_.lr : c.lr;
    c.seed = script_.seed >= 0 ? static_cast<uint64_t>(script_.seed) : c.seed;
    c.limitPerSplit = script_.limit >= 0 ? script_.limit : c.limitPerSplit;
    c.scaler.initScale = script_.initScale > 0 ? script_.initScale : c.scaler.initScale;
    c.scaler.growthInterval = script_.growthInterval > 0 ? script_.growthInterval : c.scaler.growthInterval;
    runPanel_->setConfig(c);
  }
  connect(dataPanel_, &DataPanel::scanFinished, this, &MainWindow::scriptedStart);
  if (!script_.data.isEmpty()) {
    QTimer::singleShot(0, this, [this]() { dataPanel_->setDataPath(script_.data); });
  }
  if (!script_.open.isEmpty()) {
    QTimer::singleShot(0, this, [this]() {
      scriptExitCode_ = openPath(script_.open) ? 0 : 2;
      if (script_.data.isEmpty()) {
        QTimer::singleShot(300, this, &MainWindow::scriptedDone);
      }  // else the screenshot waits for the data scan (scriptedStart)
    });
  } else if (script_.data.isEmpty() && script_.scripted()) {
    QTimer::singleShot(500, this, &MainWindow::scriptedDone);
  }
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
  QAction* exportAction = file->addAction(icon("export"), tr("&Export model…"), this, &MainWindow::exportModel);
  exportAction->setToolTip(tr("Copy the trained model's files and its model card into a folder."));
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
  help->addAction(tr("&About AmpBench"), this, [this]() {
    QMessageBox::about(this, tr("About AmpBench"),
                       tr("<b>AmpBench %1</b><br>Mixed-precision training workbench.<br>LibTorch %2, Qt %3.<br><br>%4")
                           .arg(qs(ampbench::engineVersion()), qs(ampbench::torchVersion()), QString::fromLatin1(qVersion()),
                                QString::fromUtf8(tips::kMixedPrecision).toHtmlEscaped()));
  });

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
}

void MainWindow::connectController() {
  TrainingController* c = controller_;
  connect(c, &TrainingController::busyChanged, runPanel_, &RunPanel::setBusy);
  connect(c, &TrainingController::busyChanged, progress_, &QWidget::setVisible);
  connect(c, &TrainingController::dataProgress, this, [this](const ampbench::DataProgressEvent& e) {
    if (e.total <= 0) {
      // Still listing the folder: no total yet, so a busy bar and a count.
      progress_->setRange(0, 0);
      statusText_->setText(tr("Preparing data: %1, %2 image files found").arg(qs(e.phase)).arg(e.done));
      return;
    }
    progress_->setRange(0, static_cast<int>(e.total));
    progress_->setValue(static_cast<int>(e.done));
    progress_->setFormat(tr("%1 %p%").arg(qs(e.phase)));
    statusText_->setText(tr("Preparing data: %1 %2 of %3").arg(qs(e.phase)).arg(e.done).arg(e.total));
  });
  connect(c, &TrainingController::runStarted, this, [this](const ampbench::RunStartedEvent& e) {
    currentRunDir_ = qs(e.runDir);
    totalSteps_ = e.totalSteps;
    epochs_ = e.config.epochs;
    plots_->startRun(e);
    tabs_->setCurrentWidget(plots_);
    progress_->setRange(0, static_cast<int>(std::max<int64_t>(totalSteps_, 1)));
    progress_->setValue(0);
    progress_->setFormat(QStringLiteral("%p%"));
    RunEntry entry;
    entry.dir = currentRunDir_;
    entry.mode = qs(ampbench::toString(e.config.precision));
    entry.status = tr("running");
    runsList_->upsert(entry);
    statusClock_.invalidate();
    setRunState(compareLabel_.isEmpty() ? tr("training") : tr("comparing, %1").arg(compareLabel_));
  });
  connect(c, &TrainingController::stepDone, this, [this](const ampbench::StepEvent& e) {
    plots_->addStep(e);
    updateStatus(e, false);
  });
  connect(c, &TrainingController::epochDone, this, [this](const ampbench::EpochEvent& e) {
    plots_->addEpoch(e);
    if (script_.screenshotAtEpoch > 0 && e.epoch == script_.screenshotAtEpoch && !screenshotTaken_ &&
        !script_.screenshot.isEmpty()) {
      plots_->flush();
      screenshotTaken_ = saveScreenshot(script_.screenshot);
    }
  });
  connect(c, &TrainingController::runEnded, this, [this](const ampbench::RunSummary& s) {
    lastRunDir_ = s.runDir.empty() ? currentRunDir_ : qs(s.runDir);
    RunEntry entry;
    entry.dir = lastRunDir_;
    entry.mode = qs(ampbench::toString(s.precision.requested));
    const QString ended = s.outOfMemory ? tr("out of memory") : statusName(s.status);
    entry.status = ended;
    if (s.hasFinalMetrics) {
      entry.valAccuracy = s.finalVal.accuracy;
      entry.valAuc = s.finalVal.auc;
    }
    entry.imagesPerSecond = s.imagesPerSecond;
    runsList_->upsert(entry);
    plots_->flush();
    if (s.status != ampbench::RunStatus::Finished && !s.message.empty()) {
      showBanner(qs(s.message), s.status != ampbench::RunStatus::Cancelled);
    }
    statusText_->setText(tr("Run %1: %2 epochs, %3, %4")
                             .arg(ended)
                             .arg(s.epochsCompleted)
                             .arg(s.hasFinalMetrics ? tr("validation accuracy %1").arg(formatPercent(s.finalVal.accuracy))
                                                    : tr("no final evaluation"))
                             .arg(formatRate(s.imagesPerSecond)));
    setRunState(ended);
    if (s.status != ampbench::RunStatus::Finished) {
      scriptExitCode_ = 1;
    }
  });
  connect(c, &TrainingController::compareModeStarted, this, [this](int index, int count, const QString& mode) {
    compareLabel_ = tr("run %1 of %2 (%3)").arg(index + 1).arg(count).arg(modeDisplayName(mode));
  });
  connect(c, &TrainingController::comparisonDone, this, [this](const ampbench::ComparisonSummary& s) {
    QVector<RunHistory> histories;
    for (const auto& run : s.runs) {
      histories.push_back(loadRunHistory(qs(run.runDir)));
    }
    comparison_->showComparison(s, histories);
    tabs_->setCurrentWidget(comparison_);
    RunEntry entry;
    entry.dir = qs(s.outDir);
    entry.comparison = true;
    QStringList modes;
    for (const auto& m : s.modeNames) {
      modes << qs(m);
    }
    entry.mode = modes.join(tr(" vs "));
    entry.status = s.status == ampbench::RunStatus::Finished ? tr("finished") : statusName(s.status);
    runsList_->upsert(entry);
    statusText_->setText(comparison_->verdict().replace(QLatin1Char('\n'), QStringLiteral(" · ")));  // a line per mode there, one line here
  });
  connect(c, &TrainingController::failed, this, [this](const QString& message, bool userFixable) {
    showBanner(userFixable ? message : tr("The run failed: %1").arg(message), true);
    setRunState(tr("failed"));
    scriptExitCode_ = userFixable ? 2 : 1;
    if (script_.scripted()) {
      std::fprintf(stderr, "ampbench: %s\n", message.toLocal8Bit().constData());
    }
  });
  connect(c, &TrainingController::jobEnded, this, [this]() {
    compareLabel_.clear();
    if (script_.scripted() && scriptStarted_) {
      // Let the last replot land before the screenshot.
      QTimer::singleShot(300, this, &MainWindow::scriptedDone);
    }
  });
}

QString MainWindow::bannerText() const { return banner_->isVisible() ? banner_->text() : QString(); }

void MainWindow::showBanner(const QString& text, bool error) {
  banner_->setText(text);
  banner_->setStyleSheet(error ? QStringLiteral("QLabel { color: #a40000; background: #fdecea; border: 1px solid #f5c2bd; "
                                                "padding: 6px; }")
                               : QStringLiteral("QLabel { background: #fff4d6; border: 1px solid #f0d48a; padding: 6px; }"));
  banner_->setVisible(!text.isEmpty());
}

void MainWindow::setRunState(const QString& state) {
  runState_ = state;
  setWindowTitle(tr("AmpBench — %1").arg(state));
}

void MainWindow::updateStatus(const ampbench::StepEvent& e, bool force) {
  if (!force && statusClock_.isValid() && statusClock_.elapsed() < kStatusIntervalMs) {
    return;
  }
  statusClock_.start();
  progress_->setValue(static_cast<int>(e.step));
  const double remaining = e.step > 0 && totalSteps_ > e.step
                               ? e.elapsedSeconds / static_cast<double>(e.step) * static_cast<double>(totalSteps_ - e.step)
                               : 0.0;
  QString text = tr("Epoch %1/%2 · step %3/%4 · ETA %5 · %6")
                     .arg(e.epoch)
                     .arg(epochs_)
                     .arg(e.step)
                     .arg(totalSteps_)
                     .arg(formatDuration(remaining), formatRate(e.imagesPerSecond));
  if (!compareLabel_.isEmpty()) {
    text = tr("Comparison %1 · %2").arg(compareLabel_, text);
  }
  statusText_->setText(text);
  const QString state = compareLabel_.isEmpty() ? tr("training, epoch %1/%2").arg(e.epoch).arg(epochs_)
                                                : tr("comparing, %1, epoch %2/%3").arg(compareLabel_).arg(e.epoch).arg(epochs_);
  if (state != runState_) {
    setRunState(state);
  }
}

QString MainWindow::newOutDir(const QString& label) const {
  QString root = QSettings().value(QStringLiteral("runs/root")).toString();
  if (root.isEmpty()) {
    root = QDir(QStandardPaths::writableLocation(QStandardPaths::AppLocalDataLocation)).filePath(QStringLiteral("runs"));
  }
  const QString stamp = QDateTime::currentDateTime().toString(QStringLiteral("yyyyMMdd-HHmmss"));
  QString dir = QDir(root).filePath(stamp + QLatin1Char('-') + label);
  for (int i = 2; QFileInfo::exists(dir); ++i) {
    dir = QDir(root).filePath(QStringLiteral("%1-%2-%3").arg(stamp, label).arg(i));
  }
  return dir;
}

ampbench::RunConfig MainWindow::configForRun(const QString& label) const {
  ampbench::RunConfig c = runPanel_->config();
  c.dataPath = dataPanel_->dataPath().toStdString();
  c.outDir = (script_.out.isEmpty() ? newOutDir(label) : script_.out).toStdString();
  return c;
}

bool MainWindow::startTraining() {
  if (controller_->isBusy() || !dataPanel_->isUsable()) {
    return false;
  }
  showBanner(QString(), false);
  try {
    ampbench::RunConfig c = runPanel_->config();
    const ampbench::RunConfig config =
        configForRun(QStringLiteral("%1-%2").arg(qs(c.model), qs(ampbench::toString(c.precision))));
    ampbench::validateConfig(config);
    setRunState(tr("starting"));
    return controller_->startTraining(config);
  } catch (const std::exception& e) {
    showBanner(QString::fromStdString(e.what()), true);
    return false;
  }
}

bool MainWindow::startComparison() {
  if (controller_->isBusy() || !dataPanel_->isUsable()) {
    return false;
  }
  showBanner(QString(), false);
  QStringList modes = script_.modes;
  if (modes.isEmpty()) {
    modes = {QStringLiteral("fp32"), runPanel_->mixedModeName()};
  }
  try {
    ampbench::RunConfig config = configForRun(QStringLiteral("compare-%1").arg(modes.join(QLatin1Char('-'))));
    ampbench::validateConfig(config);
    compareLabel_ = tr("run 1 of %1").arg(modes.size());
    setRunState(tr("comparing"));
    return controller_->startComparison(config, modes);
  } catch (const std::exception& e) {
    showBanner(QString::fromStdString(e.what()), true);
    return false;
  }
}

void MainWindow::stop() {
  if (controller_->isBusy()) {
    controller_->cancel();
    setRunState(tr("stopping"));
    statusText_->setText(tr("Stopping after the current step…"));
  }
}

bool MainWindow::openPath(const QString& dir) {
  if (isComparisonDir(dir)) {
    QString error;
    if (!comparison_->openDir(dir, &error)) {
      showBanner(error, true);
      return false;
    }
    RunEntry entry;
    entry.dir = dir;
    entry.comparison = true;
    entry.mode = tr("comparison");
    entry.status = tr("on disk");
    runsList_->upsert(entry);
    tabs_->setCurrentWidget(comparison_);
    showBanner(QString(), false);
    return true;
  }
  const RunHistory history = loadRunHistory(dir);
  if (!history.isValid()) {
    showBanner(history.error + tr(" Open a folder that holds a run (steps.csv, epochs.csv) or a comparison "
                                  "(comparison.json)."),
               true);
    return false;
  }
  QString caption = tr("<b>%1</b> · reopened from %2").arg(modeDisplayName(runModeName(history)).toHtmlEscaped(),
                                                           QDir::toNativeSeparators(history.runDir).toHtmlEscaped());
  if (history.config) {
    caption += tr(" · %1 · batch %2 · %3 px").arg(qs(history.config->model)).arg(history.config->batchSize).arg(history.config->imageSize);
  }
  plots_->showHistory(history, caption);
  runsList_->upsert(entryFromHistory(history, tr("on disk")));
  lastRunDir_ = history.runDir;
  tabs_->setCurrentWidget(plots_);
  showBanner(QString(), false);
  return true;
}

void MainWindow::openWithDialog() {
  const QString dir = QFileDialog::getExistingDirectory(this, tr("Open a run or comparison directory"), lastRunDir_);
  if (!dir.isEmpty()) {
    openPath(dir);
  }
}

void MainWindow::exportModel() {
  QString dir = runsList_->selectedDir();
  if (dir.isEmpty() || isComparisonDir(dir)) {
    dir = lastRunDir_;
  }
  if (dir.isEmpty() || !QFileInfo(dir).isDir()) {
    showBanner(tr("Nothing to export yet: train a model (or open a run directory) first."), false);
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

void MainWindow::scriptedStart(bool usable) {
  if (!script_.scripted() || scriptStarted_) {
    return;
  }
  if (!script_.open.isEmpty()) {
    scriptStarted_ = true;
    QTimer::singleShot(300, this, &MainWindow::scriptedDone);
    return;
  }
  scriptStarted_ = true;
  if (!script_.start) {
    // Only a screenshot of the scanned data was asked for.
    scriptExitCode_ = usable ? 0 : 2;
    QTimer::singleShot(300, this, &MainWindow::scriptedDone);
    return;
  }
  bool started = false;
  if (usable) {
    started = script_.compare ? startComparison() : startTraining();
  } else {
    std::fprintf(stderr, "ampbench: %s\n", dataPanel_->problem().toLocal8Bit().constData());
  }
  if (!started) {
    scriptExitCode_ = 2;
    QTimer::singleShot(300, this, &MainWindow::scriptedDone);
  }
}

void MainWindow::scriptedDone() {
  if (!script_.screenshot.isEmpty() && !screenshotTaken_) {
    plots_->flush();
    screenshotTaken_ = saveScreenshot(script_.screenshot);
    if (!screenshotTaken_) {
      scriptExitCode_ = 1;
    }
  }
  if (script_.exitWhenDone) {
    QApplication::exit(scriptExitCode_);
  }
}

void MainWindow::closeEvent(QCloseEvent* event) {
  if (controller_->isBusy()) {
    if (confirmClose_) {
      const auto answer = QMessageBox::question(this, tr("Stop the run?"),
                                                tr("A run is in progress. Stop it and quit? The run directory keeps "
                                                   "what was done so far."),
                                                QMessageBox::Yes | QMessageBox::No, QMessageBox::No);
      if (answer != QMessageBox::Yes) {
        event->ignore();
        return;
      }
    }
    setRunState(tr("stopping"));
    controller_->cancelAndWait();
  }
  QSettings settings;
  settings.setValue(QStringLiteral("window/geometry"), saveGeometry());
  settings.setValue(QStringLiteral("window/splitter"), splitter_->saveState());
  runPanel_->saveSettings();
  event->accept();
}

}  // namespace ampbench::ui
