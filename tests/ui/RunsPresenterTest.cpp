// The main window's bookkeeping without a window (no QApplication, no widget): run
// entries and their states, the title's run state, status text (throttled), banner,
// progress and the view in front; plus the --show option of the scripted mode.

#include "ui/AboutBox.h"
#include "ui/RunFiles.h"
#include "ui/RunsPresenter.h"
#include "ui/ScriptOptions.h"

#include <QDir>
#include <QFile>
#include <QFileInfo>
#include <QSignalSpy>
#include <QTemporaryDir>
#include <QTest>

using ampbench::ui::RunsPresenter;
using ampbench::ui::RunView;

namespace {

ampbench::RunStartedEvent started(const QString& dir, ampbench::PrecisionMode mode, int64_t epochs, int64_t steps) {
  ampbench::RunStartedEvent e;
  e.runDir = dir.toStdString();
  e.config.precision = mode;
  e.config.epochs = epochs;
  e.totalSteps = steps;
  e.stepsPerEpoch = steps / epochs;
  return e;
}

ampbench::StepEvent stepAt(int64_t epoch, int64_t step, double elapsed) {
  ampbench::StepEvent s;
  s.epoch = epoch;
  s.step = step;
  s.elapsedSeconds = elapsed;
  s.imagesPerSecond = 100;
  return s;
}

}  // namespace

class RunsPresenterTest : public QObject {
  Q_OBJECT

 private Q_SLOTS:
  void aRunGoesFromRunningToFinished() {
    RunsPresenter p;
    QCOMPARE(p.runState(), QStringLiteral("idle"));
    QCOMPARE(p.windowTitle(), QStringLiteral("AmpBench — idle"));
    int views = 0;
    connect(&p, &RunsPresenter::viewRequested, this, [&views](RunView) { ++views; });
    p.setView(RunView::Comparison);
    p.trainingRequested();
    QCOMPARE(p.runState(), QStringLiteral("starting"));
    p.runStarted(started(QStringLiteral("/tmp/r1"), ampbench::PrecisionMode::Bf16, 3, 30));
    QVERIFY(p.view() == RunView::Live);  // a new run brings the live plots to the front
    QCOMPARE(views, 2);
    QCOMPARE(p.runs().size(), 1);
    QCOMPARE(p.runs()[0].status, QStringLiteral("running"));
    QCOMPARE(p.runs()[0].mode, QStringLiteral("bf16"));
    QCOMPARE(p.runState(), QStringLiteral("training"));
    QCOMPARE(p.progressMaximum(), 30);

    p.step(stepAt(1, 10, 5.0));
    QCOMPARE(p.progressValue(), 10);
    // 20 steps left at 0.5 s each: ETA 0:10.
    QVERIFY2(p.statusText().startsWith(QStringLiteral("Epoch 1/3 · step 10/30 · ETA 0:10")), qPrintable(p.statusText()));
    QCOMPARE(p.runState(), QStringLiteral("training, epoch 1/3"));
    // Within 200 ms of the last update a step changes nothing, unless forced.
    p.step(stepAt(1, 11, 5.5));
    QCOMPARE(p.progressValue(), 10);
    p.step(stepAt(2, 12, 6.0), true);
    QCOMPARE(p.progressValue(), 12);
    QCOMPARE(p.runState(), QStringLiteral("training, epoch 2/3"));

    ampbench::RunSummary s;
    s.status = ampbench::RunStatus::Finished;
    s.runDir = "/tmp/r1";
    s.precision.requested = ampbench::PrecisionMode::Bf16;
    s.epochsCompleted = 3;
    s.hasFinalMetrics = true;
    s.finalVal.accuracy = 0.91;
    s.finalVal.auc = 0.95;
    s.imagesPerSecond = 250;
    p.runEnded(s);
    QCOMPARE(p.runs().size(), 1);  // the same row, updated
    QCOMPARE(p.runs()[0].status, QStringLiteral("finished"));
    QCOMPARE(p.runs()[0].valAccuracy, 0.91);
    QCOMPARE(p.runState(), QStringLiteral("finished"));
    QVERIFY2(p.statusText().startsWith(QStringLiteral("Run finished: 3 epochs, validation accuracy 91.0 %")),
             qPrintable(p.statusText()));
    QVERIFY(p.bannerText().isEmpty());
    QCOMPARE(p.lastRunDir(), QStringLiteral("/tmp/r1"));
  }

  void outOfMemoryAndCancelledRunsSaySoDifferently() {
    RunsPresenter p;
    p.runStarted(started(QStringLiteral("/tmp/oom"), ampbench::PrecisionMode::Fp32, 1, 10));
    ampbench::RunSummary s;
    s.status = ampbench::RunStatus::Failed;
    s.outOfMemory = true;
    s.message = "out of memory in epoch 1: Lower the batch size";
    p.runEnded(s);  // no runDir in the summary: the started run's directory
    QCOMPARE(p.runs().size(), 1);
    QCOMPARE(p.runs()[0].status, QStringLiteral("out of memory"));
    QVERIFY(p.windowTitle().contains(QStringLiteral("out of memory")));
    QVERIFY(p.bannerText().contains(QStringLiteral("Lower the batch size")));
    QVERIFY(p.bannerIsError());
    QVERIFY(p.statusText().contains(QStringLiteral("no final evaluation")));

    s.outOfMemory = false;
    s.status = ampbench::RunStatus::Cancelled;
    s.message = "stopped by the user after epoch 1";
    p.runEnded(s);
    QCOMPARE(p.runs()[0].status, QStringLiteral("stopped"));
    QVERIFY(!p.bannerIsError());  // a stop the user asked for is no error

    s.status = ampbench::RunStatus::Finished;
    s.message.clear();
    p.showBanner(QString(), false);
    p.runEnded(s);
    QVERIFY(p.bannerText().isEmpty());
  }

  void aComparisonLabelsEachRunAndEndsOnItsVerdict() {
    RunsPresenter p;
    p.comparisonRequested(2);
    QCOMPARE(p.runState(), QStringLiteral("comparing"));
    p.compareModeStarted(1, 2, QStringLiteral("bf16"));
    p.runStarted(started(QStringLiteral("/tmp/cmp/bf16"), ampbench::PrecisionMode::Bf16, 2, 20));
    QCOMPARE(p.runState(), QStringLiteral("comparing, run 2 of 2 (BF16 mixed)"));
    p.step(stepAt(1, 3, 1.0), true);
    QVERIFY2(p.statusText().startsWith(QStringLiteral("Comparison run 2 of 2 (BF16 mixed) · Epoch 1/2")),
             qPrintable(p.statusText()));
    ampbench::ComparisonSummary c;
    c.outDir = "/tmp/cmp";
    c.modeNames = {"fp32", "bf16"};
    c.status = ampbench::RunStatus::Finished;
    p.comparisonShown(c, QStringLiteral("BF16 was 1.8x faster"));
    QVERIFY(p.view() == RunView::Comparison);
    QCOMPARE(p.statusText(), QStringLiteral("BF16 was 1.8x faster"));
    QCOMPARE(p.runs().size(), 2);
    QVERIFY(p.runs()[1].comparison);
    QCOMPARE(p.runs()[1].mode, QStringLiteral("fp32 vs bf16"));
    p.jobEnded();
    QVERIFY(p.compareLabel().isEmpty());
    p.step(stepAt(1, 4, 1.0), true);
    QVERIFY(p.statusText().startsWith(QStringLiteral("Epoch")));
  }

  void failuresGoToTheBannerWithOrWithoutTheirCause() {
    RunsPresenter p;
    QSignalSpy banners(&p, &RunsPresenter::bannerChanged);
    p.jobFailed(QStringLiteral("The folder has no images: choose another."), true);
    QCOMPARE(p.bannerText(), QStringLiteral("The folder has no images: choose another."));
    QCOMPARE(p.runState(), QStringLiteral("failed"));
    p.jobFailed(QStringLiteral("std::bad_alloc"), false);
    QCOMPARE(p.bannerText(), QStringLiteral("The run failed: std::bad_alloc"));
    QCOMPARE(banners.count(), 2);
    QCOMPARE(banners.at(1).at(1).toBool(), true);
    p.stopRequested();
    QCOMPARE(p.runState(), QStringLiteral("stopping"));
    QCOMPARE(p.statusText(), QStringLiteral("Stopping after the current step…"));
  }

  void dataProgressWithoutATotalIsABusyBar() {
    RunsPresenter p;
    ampbench::DataProgressEvent e;
    e.phase = "scan";
    e.done = 120;
    p.dataProgress(e);
    QCOMPARE(p.progressMaximum(), 0);
    QCOMPARE(p.statusText(), QStringLiteral("Preparing data: scan, 120 image files found"));
    e.phase = "decode";
    e.done = 30;
    e.total = 60;
    p.dataProgress(e);
    QCOMPARE(p.progressMaximum(), 60);
    QCOMPARE(p.progressValue(), 30);
  }

  void reopenedRunsAndComparisonsAreOnDiskRows() {
    QTemporaryDir dir;
    QFile steps(QDir(dir.path()).filePath(QStringLiteral("steps.csv")));
    QVERIFY(steps.open(QIODevice::WriteOnly));
    steps.write("epoch,step,loss,lr,loss_scale,overflow,skipped,images_per_s\n1,1,0.7,0.1,65536,false,false,10\n");
    steps.close();
    QFile epochs(QDir(dir.path()).filePath(QStringLiteral("epochs.csv")));
    QVERIFY(epochs.open(QIODevice::WriteOnly));
    epochs.write("epoch,train_loss,train_acc,val_loss,val_acc,val_auc,epoch_seconds,images_per_s\n1,0.6,0.7,0.5,0.8,0.9,2,33\n");
    epochs.close();
    RunsPresenter p;
    p.setView(RunView::Comparison);
    const QString caption = p.runOpened(ampbench::ui::loadRunHistory(dir.path()));
    QVERIFY2(caption.contains(QStringLiteral("reopened from")), qPrintable(caption));
    QVERIFY(p.view() == RunView::Live);
    QCOMPARE(p.runs().size(), 1);
    QCOMPARE(p.runs()[0].status, QStringLiteral("on disk"));
    QCOMPARE(p.runs()[0].valAccuracy, 0.8);
    QCOMPARE(p.runs()[0].imagesPerSecond, 33.0);
    QCOMPARE(p.lastRunDir(), QDir(dir.path()).absolutePath());
    // Opening it again updates the row instead of adding one.
    p.runOpened(ampbench::ui::loadRunHistory(dir.path() + QStringLiteral("/.")));
    QCOMPARE(p.runs().size(), 1);
    p.comparisonOpened(QStringLiteral("/tmp/some-comparison"));
    QVERIFY(p.view() == RunView::Comparison);
    QCOMPARE(p.runs().size(), 2);
    QVERIFY(p.runs()[1].comparison);
    p.openFailed(QStringLiteral("not a run directory"));
    QVERIFY(p.bannerIsError());
  }

  void aFollowedRunIsFollowingUntilItEndsOrIsLeft() {
    ampbench::ui::RunHistory h;
    h.runDir = QStringLiteral("/tmp/cluster-run");
    ampbench::RunConfig c;
    c.model = "resnet18";
    c.batchSize = 16;
    c.distributed.worldSize = 2;
    h.config = c;
    RunsPresenter p;
    const QString caption = p.runFollowed(h);
    QVERIFY2(caption.contains(QStringLiteral("following")) && caption.contains(QStringLiteral("2 ranks × batch 16")),
             qPrintable(caption));
    QCOMPARE(p.runs().size(), 1);
    QCOMPARE(p.runs()[0].status, QStringLiteral("following"));
    QVERIFY(p.windowTitle().contains(QStringLiteral("following cluster-run")));
    p.followStopped(h.runDir, QStringLiteral("Stopped following cluster-run"));
    QCOMPARE(p.runs()[0].status, QStringLiteral("on disk"));
    QCOMPARE(p.statusText(), QStringLiteral("Stopped following cluster-run"));
    p.runFollowed(h);
    ampbench::ui::RunEntry ended = p.runs()[0];
    ended.status = QStringLiteral("finished");
    p.followEnded(ended);
    QCOMPARE(p.runs().size(), 1);
    QCOMPARE(p.runs()[0].status, QStringLiteral("finished"));
    QCOMPARE(p.runState(), QStringLiteral("finished"));
  }

  void viewNamesRoundTripAndUnknownOnesAreRefused() {
    for (RunView v : {RunView::Live, RunView::Precision, RunView::Comparison}) {
      QVERIFY(ampbench::ui::viewFromName(ampbench::ui::viewName(v)) == v);
    }
    QVERIFY(ampbench::ui::viewFromName(QStringLiteral(" Precision ")) == RunView::Precision);
    QVERIFY(!ampbench::ui::viewFromName(QStringLiteral("plots")));
    QVERIFY(!ampbench::ui::viewFromName(QString()));

    ampbench::ui::ScriptOptions o;
    QString error;
    QVERIFY2(ampbench::ui::parseScriptOptions({QStringLiteral("ampbench"), QStringLiteral("--open"), QStringLiteral("/r"),
                                               QStringLiteral("--show"), QStringLiteral("precision"),
                                               QStringLiteral("--screenshot"), QStringLiteral("/tmp/p.png")},
                                              &o, &error),
             qPrintable(error));
    QCOMPARE(o.show, QStringLiteral("precision"));
    ampbench::ui::ScriptOptions bad;
    QVERIFY(!ampbench::ui::parseScriptOptions({QStringLiteral("ampbench"), QStringLiteral("--show"), QStringLiteral("loss")},
                                              &bad, &error));
    QVERIFY2(error.contains(QStringLiteral("live, precision, comparison")) && error.contains(QStringLiteral("'loss'")),
             qPrintable(error));
  }

  // The desktop file's "Exec=ampbench %F": files given as arguments are the ones to open (the
  // image inspector); anything else that is not an option is still refused.
  void fileArgumentsAreKeptAndOtherWordsRefused() {
    QTemporaryDir dir;
    const QString image = dir.filePath(QStringLiteral("x-ray.dcm"));
    QFile f(image);
    QVERIFY(f.open(QIODevice::WriteOnly));
    f.close();
    ampbench::ui::ScriptOptions o;
    QString error;
    QVERIFY2(ampbench::ui::parseScriptOptions({QStringLiteral("ampbench"), image}, &o, &error), qPrintable(error));
    QCOMPARE(o.files, QStringList{QFileInfo(image).absoluteFilePath()});
    ampbench::ui::ScriptOptions bad;
    QVERIFY(!ampbench::ui::parseScriptOptions({QStringLiteral("ampbench"), image, QStringLiteral("train")}, &bad, &error));
    QVERIFY2(error.contains(QStringLiteral("'train'")) && error.contains(QStringLiteral("--help")), qPrintable(error));
    QVERIFY(!ampbench::ui::parseScriptOptions({QStringLiteral("ampbench"), dir.path()}, &bad, &error));  // a folder: --data/--open
  }

  // Help ▸ About and `ampbench --version` print one text: version first, then revision and libraries.
  void aboutShowsTheVersionText() {
    const QString version = ampbench::ui::guiVersionText();
    QVERIFY2(version.startsWith(QStringLiteral("ampbench " AMPBENCH_VERSION "\nrevision ")), qPrintable(version));
    QVERIFY(version.contains(QStringLiteral("\nLibTorch ")) && version.contains(QStringLiteral("\nQt 6.")));
    const QString html = ampbench::ui::AboutBox::html();
    for (const QString& line : version.split(QLatin1Char('\n'))) {
      QVERIFY2(html.contains(line.toHtmlEscaped()), qPrintable(line));
    }
  }
};

QTEST_GUILESS_MAIN(RunsPresenterTest)
#include "RunsPresenterTest.moc"
