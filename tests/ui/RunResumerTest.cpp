// "Resume" in the runs list: a stopped run (its checkpoint inside epoch 2) is offered
// "Resume", which trains it to the end from that step with its own settings into its own
// folder; a finished run, a folder without checkpoint and a busy controller are not resumed.

#include "UiTestUtil.h"
#include "ui/RunResumer.h"
#include "ui/RunsList.h"
#include "ui/RunsPresenter.h"
#include "ui/TrainingController.h"

#include "engine/train/Trainer.h"

#include <QAction>
#include <QDir>
#include <QFile>
#include <QMenu>
#include <QSignalSpy>
#include <QTemporaryDir>
#include <QTest>

#include <memory>

using namespace ampbench::ui;

namespace {

QAction* actionNamed(QMenu* menu, const QString& text) {
  for (auto* a : menu->actions()) {
    if (a->text() == text) return a;
  }
  return nullptr;
}

int epochRows(const QString& run) {
  QFile f(QDir(run).filePath(QStringLiteral("epochs.csv")));
  if (!f.open(QIODevice::ReadOnly)) return -1;
  return static_cast<int>(f.readAll().count('\n')) - 1;
}

struct StopAtStep : ampbench::RunObserver {
  ampbench::CancelToken* cancel = nullptr;
  int64_t at = 0;
  void onStep(const ampbench::StepEvent& e) override {
    if (e.step == at) cancel->cancel();
  }
};

}  // namespace

class RunResumerTest : public QObject {
  Q_OBJECT

 private Q_SLOTS:
  void initTestCase() { ampbench::uitest::isolateSettings(QStringLiteral("AmpBenchRunResumerTest")); }

  void aStoppedRunResumesFromTheRunsListToItsEnd() {
    QTemporaryDir tmp;
    const QString data = tmp.filePath(QStringLiteral("data"));
    ampbench::uitest::makeImageDataset(data, {QStringLiteral("a"), QStringLiteral("b")}, 24, 16);
    const QString run = tmp.filePath(QStringLiteral("run"));
    ampbench::RunConfig c;
    c.dataPath = data.toStdString();
    c.outDir = run.toStdString();
    c.imageSize = 16;
    c.batchSize = 8;  // 48 training images: 6 steps per epoch
    c.epochs = 3;
    c.threads = 2;
    ampbench::CancelToken cancel;
    StopAtStep stopper;
    stopper.cancel = &cancel;
    stopper.at = 8;  // epoch 2, step 2
    QVERIFY(ampbench::runTraining(c, stopper, cancel).status == ampbench::RunStatus::Cancelled);

    QString why;
    QVERIFY(RunResumer::canResume(run, &why));
    QCOMPARE(why, QStringLiteral("1 of 3 epochs done"));

    TrainingController controller;
    RunsPresenter presenter;
    RunResumer resumer(&controller, &presenter);
    RunsList list;
    list.setCanResume([&](const QString& dir) { return !controller.isBusy() && RunResumer::canResume(dir); });
    connect(&list, &RunsList::resumeRequested, &resumer, &RunResumer::resume);
    RunEntry entry;
    entry.dir = run;
    entry.mode = QStringLiteral("fp32");
    entry.status = QStringLiteral("cancelled");
    list.upsert(entry);

    std::unique_ptr<QMenu> menu(list.contextMenuFor(QDir(run).absolutePath(), nullptr));
    QAction* resume = actionNamed(menu.get(), QStringLiteral("Resume"));
    QVERIFY(resume);
    QSignalSpy started(&controller, &TrainingController::runStarted);
    QSignalSpy ended(&controller, &TrainingController::runEnded);
    resume->trigger();
    QVERIFY(controller.isBusy());
    std::unique_ptr<QMenu> busyMenu(list.contextMenuFor(QDir(run).absolutePath(), nullptr));
    QVERIFY2(!actionNamed(busyMenu.get(), QStringLiteral("Resume")), "no Resume while a run trains");
    QVERIFY(!resumer.resume(run));  // refused while busy, with the reason in the banner
    QVERIFY(presenter.bannerIsError());
    QTRY_VERIFY_WITH_TIMEOUT(ended.count() == 1, 120000);  // a generous bound: catches a hang only
    QTRY_VERIFY_WITH_TIMEOUT(!controller.isBusy(), 10000);

    QCOMPARE(started.count(), 1);
    const auto e = started.at(0).at(0).value<ampbench::RunStartedEvent>();
    QCOMPARE(QString::fromStdString(e.config.resumeFrom), QDir(run).absolutePath());
    QCOMPARE(QString::fromStdString(e.runDir), QDir(run).absolutePath());
    QCOMPARE(e.startStep, int64_t{8});
    QCOMPARE(e.config.imageSize, int64_t{16});
    const auto s = ended.at(0).at(0).value<ampbench::RunSummary>();
    QVERIFY(s.status == ampbench::RunStatus::Finished);
    QCOMPARE(s.epochsCompleted, int64_t{3});
    QCOMPARE(epochRows(run), 3);

    QVERIFY(!RunResumer::canResume(run, &why));
    QCOMPARE(why, QStringLiteral("all 3 epochs are done"));
    std::unique_ptr<QMenu> doneMenu(list.contextMenuFor(QDir(run).absolutePath(), nullptr));
    QVERIFY(!actionNamed(doneMenu.get(), QStringLiteral("Resume")));
    QVERIFY(actionNamed(doneMenu.get(), QStringLiteral("Show in folder")));
  }

  void aFolderWithoutCheckpointIsNotResumed() {
    QTemporaryDir tmp;
    const QString run = tmp.filePath(QStringLiteral("run"));
    QVERIFY(QDir().mkpath(run));
    QString why;
    QVERIFY(!RunResumer::canResume(run, &why));
    QVERIFY2(why.contains(QStringLiteral("checkpoint.pt")), qPrintable(why));
    TrainingController controller;
    RunsPresenter presenter;
    RunResumer resumer(&controller, &presenter);
    QSignalSpy started(&controller, &TrainingController::busyChanged);
    QVERIFY(!resumer.resume(run));
    QVERIFY(presenter.bannerIsError());
    QVERIFY2(presenter.bannerText().contains(QStringLiteral("cannot be resumed")), qPrintable(presenter.bannerText()));
    QCOMPARE(started.count(), 0);
  }
};

QTEST_MAIN(RunResumerTest)
#include "RunResumerTest.moc"
