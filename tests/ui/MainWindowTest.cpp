// The whole window on the real engine: a tiny run on generated data fills all four
// plots; FP32 vs BF16 shows two runs and a speed-up equal to the throughput ratio, and
// reopening the comparison directory restores it; settings persist across a restart of
// the window; closing during a run cancels cleanly.

#include "UiTestUtil.h"
#include "WindowTestUtil.h"

#include "engine/export/Export.h"

#include "ui/ComparisonView.h"
#include "ui/DataPanel.h"
#include "ui/ExportDialog.h"
#include "ui/MainWindow.h"
#include "ui/PlotView.h"
#include "ui/PlotsPanel.h"
#include "ui/RunPanel.h"
#include "ui/RunsList.h"
#include "ui/TrainingController.h"

#include <QCheckBox>
#include <QComboBox>
#include <QDir>
#include <QSettings>
#include <QSignalSpy>
#include <QSpinBox>
#include <QTableWidget>
#include <QTemporaryDir>
#include <QTest>

using ampbench::ui::MainWindow;
using ampbench::ui::TrainingController;

namespace {

int points(QCustomPlot* plot, int plottable) { return plot->plottable(plottable)->interface1D()->dataCount(); }

void loadData(MainWindow& window, const QString& dir) {
  QSignalSpy done(window.dataPanel(), &ampbench::ui::DataPanel::scanFinished);
  window.dataPanel()->setDataPath(dir);
  QVERIFY(done.wait(20000));
  QVERIFY2(window.dataPanel()->isUsable(), qPrintable(window.dataPanel()->problem()));
}

void tinySettings(MainWindow& window, const char* precision, int epochs) {
  ampbench::RunConfig c = window.runPanel()->config();
  c.model = "small_cnn";
  c.epochs = epochs;
  c.batchSize = 8;
  c.imageSize = 16;
  c.lr = 0.05;
  c.threads = 0;
  window.runPanel()->setConfig(c);
  QVERIFY(window.runPanel()->setPrecisionName(QString::fromLatin1(precision)));
}

}  // namespace

class MainWindowTest : public QObject {
  Q_OBJECT

 private Q_SLOTS:
  void initTestCase() {
    QTest::failOnWarning(QRegularExpression(QStringLiteral("Destroyed while thread")));
    ampbench::uitest::isolateSettings(QStringLiteral("AmpBenchMainWindowTest"));
    QVERIFY(data_.isValid() && runs_.isValid());
    ampbench::uitest::makeImageDataset(data_.path(), {QStringLiteral("NORMAL"), QStringLiteral("PNEUMONIA")}, 24, 16);
    QSettings().setValue(QStringLiteral("runs/root"), runs_.path());
  }

  void settingsPersistAcrossARestartOfTheWindow() {
    {
      MainWindow window;
      window.setConfirmClose(false);
      window.show();
      ampbench::RunConfig c = window.runPanel()->config();
      c.epochs = 7;
      c.batchSize = 48;
      c.imageSize = 40;
      c.seed = 1234;
      c.scaler.growthInterval = 500;
      window.runPanel()->setConfig(c);
      window.runPanel()->setPrecisionName(QStringLiteral("fp16"));
      window.close();
    }
    MainWindow again;
    const ampbench::RunConfig c = again.runPanel()->config();
    QCOMPARE(c.epochs, int64_t{7});
    QCOMPARE(c.batchSize, int64_t{48});
    QCOMPARE(c.imageSize, int64_t{40});
    QCOMPARE(c.seed, uint64_t{1234});
    QCOMPARE(c.scaler.growthInterval, int64_t{500});
    QVERIFY(c.precision == ampbench::PrecisionMode::Fp16);
    QCOMPARE(again.runPanel()->precisionName(), QStringLiteral("fp16"));
  }

  void tinyRunFillsAllFourPlots() {
    MainWindow window;
    window.setConfirmClose(false);
    window.show();
    loadData(window, data_.path());
    tinySettings(window, "fp16", 2);
    int64_t totalSteps = 0;
    int64_t stepEvents = 0;
    connect(window.controller(), &TrainingController::runStarted, this,
            [&](const ampbench::RunStartedEvent& e) { totalSteps = e.totalSteps; });
    connect(window.controller(), &TrainingController::stepDone, this, [&](const ampbench::StepEvent&) { ++stepEvents; });
    QSignalSpy ended(window.controller(), &TrainingController::jobEnded);
    QSignalSpy failed(window.controller(), &TrainingController::failed);
    QVERIFY(window.startTraining());
    QVERIFY(window.windowTitle().contains(QStringLiteral("AmpBench")));
    QVERIFY(ended.wait(120000));
    QVERIFY2(failed.isEmpty(), failed.isEmpty() ? "" : qPrintable(failed.at(0).at(0).toString()));
    window.plotsPanel()->flush();
    QVERIFY(totalSteps > 0);
    QCOMPARE(stepEvents, totalSteps);
    auto* plots = window.plotsPanel();
    QCOMPARE(points(plots->lossPlot(), 0), static_cast<int>(totalSteps));  // loss per step
    QCOMPARE(points(plots->lossPlot(), 2), 2);                            // validation loss per epoch
    QCOMPARE(points(plots->accuracyPlot(), 1), 2);                        // validation accuracy
    QCOMPARE(points(plots->accuracyPlot(), 2), 2);                        // AUC
    QCOMPARE(points(plots->timePlot(), 0), 2);                            // epoch time bars
    QCOMPARE(points(plots->timePlot(), 1), 2);                            // images/s
    QVERIFY(points(plots->scalePlot(), 0) >= 2);                          // loss scale line
    bool found = false;
    const QCPRange liveRates = plots->timePlot()->plottable(2)->getValueRange(found);
    const QCPRange epochRates = plots->timePlot()->plottable(1)->getValueRange(found);
    qInfo("live rates %g..%g, epoch rates %g..%g, axis %g..%g", liveRates.lower, liveRates.upper, epochRates.lower,
          epochRates.upper, plots->timePlot()->yAxis2->range().lower, plots->timePlot()->yAxis2->range().upper);
    QVERIFY(plots->timePlot()->yAxis2->range().upper < 3 * std::max(liveRates.upper, epochRates.upper));
    QVERIFY(window.windowTitle().contains(QStringLiteral("finished")));
    QCOMPARE(window.runsList()->count(), 1);
    QVERIFY(QFileInfo::exists(QDir(window.lastRunDir()).filePath(QStringLiteral("epochs.csv"))));

    // Export through the engine's exporters: the archive, the card and the checkpoint (and
    // ONNX where this build has it).
    QTemporaryDir out;
    const bool onnx = ampbench::onnxExportSupported();
    const auto exported = ampbench::ui::ExportDialog::exportRun(window.lastRunDir(), out.path(), onnx, true, true, true, false);
    QVERIFY2(exported.error.isEmpty(), qPrintable(exported.error));
    for (const char* name : {"model.pt", "model.json", "MODEL_CARD.md", "checkpoint.pt"}) {
      QVERIFY2(QFileInfo::exists(QDir(out.path()).filePath(QLatin1String(name))), name);
    }
    QCOMPARE(QFileInfo::exists(QDir(out.path()).filePath(QStringLiteral("model.onnx"))), onnx);
    QVERIFY(!ampbench::ui::ExportDialog::modelCardPreview(window.lastRunDir()).startsWith(QStringLiteral("No model card")));

    // Reopening the run directory draws the same curves from its CSV files.
    QVERIFY(ampbench::uitest::openAndWait(window, window.lastRunDir()));
    QCOMPARE(points(plots->lossPlot(), 0), static_cast<int>(totalSteps));
    QCOMPARE(points(plots->accuracyPlot(), 1), 2);
  }

  void comparisonShowsTwoRunsAndReopens() {
    MainWindow window;
    window.setConfirmClose(false);
    window.show();
    loadData(window, data_.path());
    tinySettings(window, "bf16", 2);
    ampbench::ComparisonSummary summary;
    connect(window.controller(), &TrainingController::comparisonDone, this,
            [&](const ampbench::ComparisonSummary& s) { summary = s; });
    QSignalSpy ended(window.controller(), &TrainingController::jobEnded);
    QSignalSpy failed(window.controller(), &TrainingController::failed);
    QVERIFY(window.startComparison());
    QVERIFY(ended.wait(180000));
    QVERIFY2(failed.isEmpty(), failed.isEmpty() ? "" : qPrintable(failed.at(0).at(0).toString()));
    QCOMPARE(summary.runs.size(), size_t{2});
    QVERIFY(ampbench::uitest::waitForLoad(window));  // the runs' CSVs are read on a worker
    auto* view = window.comparisonView();
    QCOMPARE(view->modeCount(), 2);
    QVERIFY(summary.runs[0].imagesPerSecond > 0);
    QCOMPARE(view->speedUp(1), summary.runs[1].imagesPerSecond / summary.runs[0].imagesPerSecond);
    QVERIFY(!view->verdict().isEmpty());
    QCOMPARE(view->plots()[1]->graphCount(), 2);
    QCOMPARE(view->plots()[1]->graph(0)->dataCount(), 2);

    // Reopen the comparison directory in a fresh window.
    MainWindow other;
    other.setConfirmClose(false);
    QVERIFY(ampbench::uitest::openAndWait(other, QString::fromStdString(summary.outDir)));
    QCOMPARE(other.comparisonView()->modeCount(), 2);
    QCOMPARE(other.comparisonView()->plots()[1]->graph(1)->dataCount(), 2);
    QVERIFY(std::abs(other.comparisonView()->speedUp(1) - view->speedUp(1)) < 0.02 * view->speedUp(1));
  }

  void aRunThatRanOutOfMemorySaysSoAndWhatToLower() {
    MainWindow window;
    window.setConfirmClose(false);
    window.show();
    ampbench::RunSummary s;
    s.status = ampbench::RunStatus::Failed;
    s.outOfMemory = true;
    s.runDir = "/tmp/ampbench-oom-run";
    s.precision.requested = ampbench::PrecisionMode::Fp32;
    s.message = "out of memory in epoch 1, step 1 of 40 (batch 512 at 224 px, resnet18, FP32 on cpu): the system "
                "refused a memory block; no epoch had completed, so there is no checkpoint. Lower the batch size";
    Q_EMIT window.controller()->runEnded(s);
    QVERIFY(window.bannerText().contains(QStringLiteral("Lower the batch size")));
    // The row of that run (the runs folder's history is listed beside it).
    const int row = window.runsList()->rowOf(QStringLiteral("/tmp/ampbench-oom-run"));
    QVERIFY(row >= 0);
    QCOMPARE(window.runsList()->entryAt(row).status, QStringLiteral("out of memory"));
    QVERIFY(window.windowTitle().contains(QStringLiteral("out of memory")));
  }

  void closingDuringARunCancelsCleanly() {
    auto window = std::make_unique<MainWindow>();
    window->setConfirmClose(false);
    window->show();
    loadData(*window, data_.path());
    tinySettings(*window, "fp32", 200);
    QSignalSpy steps(window->controller(), &TrainingController::stepDone);
    QVERIFY(window->startTraining());
    QVERIFY(steps.wait(60000));
    // The close waits for the step off the GUI thread, then the window closes itself.
    QVERIFY(!window->close());
    QVERIFY(QTest::qWaitFor([&]() { return !window->isVisible(); }, 15000));
    QVERIFY(!window->controller()->isBusy());
    window.reset();
  }

 private:
  QTemporaryDir data_;
  QTemporaryDir runs_;
};

QTEST_MAIN(MainWindowTest)
#include "MainWindowTest.moc"
