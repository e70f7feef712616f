// Issue 19, following a run another process writes (FileTail, RunTail, RunFollower and the
// window's "Open run (follow)"): rows appended in several writes, a line split across two
// of them included, arrive exactly once each; a log that shrinks or is replaced is read
// again from its top; metrics.json (newer than the logs) ends the following, an older one
// (a resumed run) does not; a deleted folder is reported, not a crash; the event loop keeps
// turning while a long run is followed (the generous bound of GuiStallTest).

#include "UiTestUtil.h"

#include "engine/util/Sanitizers.h"
#include "ui/FileTail.h"
#include "ui/FollowDriver.h"
#include "ui/MainWindow.h"
#include "ui/PlotView.h"
#include "ui/PlotsPanel.h"
#include "ui/PrecisionTab.h"
#include "ui/RunFollower.h"
#include "ui/RunsList.h"
#include "ui/RunsPresenter.h"
#include "ui/StallProbe.h"
#include "ui/TrainingController.h"

#include <QDateTime>
#include <QDir>
#include <QFile>
#include <QSignalSpy>
#include <QTemporaryDir>
#include <QTest>
#include <QThread>

#include <algorithm>

using ampbench::ui::FileTail;
using ampbench::ui::FollowUpdate;
using ampbench::ui::MainWindow;
using ampbench::ui::RunFollower;
using ampbench::ui::RunTail;
using ampbench::ui::TailRead;

namespace {

constexpr double kFreezeMs = ampbench::kThreadSanitizer ? 30000.0 : 1000.0;
const char* kStepsHeader = "epoch,step,loss,lr,loss_scale,overflow,skipped,images_per_s\n";
const char* kEpochsHeader =
    "epoch,train_loss,train_acc,val_loss,val_acc,val_auc,epoch_seconds,images_per_s,overflow_steps,loss_scale,peak_rss_mb\n";

void append(const QString& path, const QByteArray& bytes) {
  QFile f(path);
  QVERIFY(f.open(QIODevice::WriteOnly | QIODevice::Append));
  QCOMPARE(f.write(bytes), bytes.size());
}

void writeAll(const QString& path, const QByteArray& bytes) {
  QFile f(path);
  QVERIFY(f.open(QIODevice::WriteOnly | QIODevice::Truncate));
  QCOMPARE(f.write(bytes), bytes.size());
}

// As the engine's writeFileAtomic: a new file renamed over the old one (another inode).
void replace(const QString& path, const QByteArray& bytes) {
  const QString tmp = path + QStringLiteral(".tmp");
  writeAll(tmp, bytes);
  QVERIFY(::rename(QFile::encodeName(tmp).constData(), QFile::encodeName(path).constData()) == 0);
}

QByteArray stepRow(int epoch, int step) {
  return QStringLiteral("%1,%2,%3,0.01,1024,0,0,100\n").arg(epoch).arg(step).arg(1.0 / step).toUtf8();
}

QByteArray stepRows(int from, int to, int perEpoch = 4) {
  QByteArray out;
  for (int s = from; s <= to; ++s) {
    out += stepRow(1 + (s - 1) / perEpoch, s);
  }
  return out;
}

QByteArray epochRow(int epoch) {
  return QStringLiteral("%1,0.5,0.8,0.4,0.85,0.9,2,100,0,1024,300\n").arg(epoch).toUtf8();
}

// As the engine writes it: whole, by a rename. Truncated and rewritten in place, a poll between the
// two can find it empty and end the follow as "incomplete" (a flake seen under load).
void writeMetrics(const QString& dir, const char* status) {
  replace(QDir(dir).filePath(QStringLiteral("metrics.json")),
           QStringLiteral("{\"status\": \"%1\", \"val\": {\"accuracy\": 0.85, \"auc\": 0.9}}\n").arg(QLatin1String(status)).toUtf8());
}

// Every step a run of polls delivered: a reset's whole history replaces what came before.
struct Collected {
  QVector<int64_t> steps;
  QVector<int64_t> epochs;
  int resets = 0;
  void add(const FollowUpdate& u) {
    if (u.reset) {
      ++resets;
      steps.clear();
      epochs.clear();
      for (const auto& s : u.history.steps) {
        steps << s.step;
      }
      for (const auto& e : u.history.epochs) {
        epochs << e.epoch;
      }
      return;
    }
    for (const auto& s : u.steps) {
      steps << s.step;
    }
    for (const auto& e : u.epochs) {
      epochs << e.epoch;
    }
  }
};

QVector<int64_t> range(int from, int to) {
  QVector<int64_t> out;
  for (int i = from; i <= to; ++i) {
    out << i;
  }
  return out;
}

int lossPoints(MainWindow& window) { return window.plotsPanel()->lossPlot()->plottable(0)->interface1D()->dataCount(); }

}  // namespace

class RunFollowerTest : public QObject {
  Q_OBJECT

 private Q_SLOTS:
  void initTestCase() { ampbench::uitest::isolateSettings(QStringLiteral("AmpBenchRunFollowerTest")); }

  void aTailReturnsEachCompleteLineOnceAndHoldsAHalfWrittenOne() {
    QTemporaryDir dir;
    const QString path = dir.filePath(QStringLiteral("log.csv"));
    FileTail tail(path);
    TailRead r = tail.read();
    QVERIFY(!r.exists);
    QVERIFY(r.lines.isEmpty());

    append(path, "a,b\n1,2\n3,");
    r = tail.read();
    QVERIFY(r.exists && r.fromTop && !r.restarted);
    QCOMPARE(r.lines, QStringList({QStringLiteral("a,b"), QStringLiteral("1,2")}));
    QCOMPARE(r.bytes, qint64(10));
    QCOMPARE(tail.pendingBytes(), qint64(2));  // "3," waits for its newline

    r = tail.read();  // nothing new
    QVERIFY(r.lines.isEmpty());
    QCOMPARE(r.bytes, qint64(0));

    append(path, "4\r\n5,");  // the line split across two writes, a CRLF one
    r = tail.read();
    QVERIFY(!r.fromTop && !r.restarted);
    QCOMPARE(r.lines, QStringList({QStringLiteral("3,4")}));
    QCOMPARE(r.bytes, qint64(5));  // only the appended bytes are read

    append(path, "6\n");
    r = tail.read();
    QCOMPARE(r.lines, QStringList({QStringLiteral("5,6")}));
    QCOMPARE(tail.offset(), QFileInfo(path).size());
  }

  void aTailRereadsAFileThatShrankOrWasReplaced() {
    QTemporaryDir dir;
    const QString path = dir.filePath(QStringLiteral("log.csv"));
    FileTail tail(path);
    writeAll(path, "h\n1\n2\n3\n");
    QCOMPARE(tail.read().lines.size(), 4);

    writeAll(path, "h\n1\n");  // truncated (rows past a checkpoint dropped)
    TailRead r = tail.read();
    QVERIFY(r.restarted && r.fromTop);
    QCOMPARE(r.lines, QStringList({QStringLiteral("h"), QStringLiteral("1")}));

    replace(path, "h\n1\n2b\n3b\n4b\n");  // renamed over it, and longer than before
    r = tail.read();
    QVERIFY(r.restarted && r.fromTop);
    QCOMPARE(r.lines.size(), 5);
    QCOMPARE(r.lines.last(), QStringLiteral("4b"));

    writeAll(path, "h\n1\n2c\n3c\n4c\n5\n");  // rewritten in place, same inode, longer
    r = tail.read();
    QVERIFY(r.restarted);
    QCOMPARE(r.lines.size(), 6);

    QVERIFY(QFile::remove(path));  // gone: what was read no longer holds
    r = tail.read();
    QVERIFY(!r.exists && r.restarted);
    writeAll(path, "h\n9\n");
    r = tail.read();
    QVERIFY(r.exists && r.fromTop);
    QCOMPARE(r.lines, QStringList({QStringLiteral("h"), QStringLiteral("9")}));
  }

  void aRunAppendedInPiecesArrivesRowByRowOnce() {
    QTemporaryDir dir;
    const QString steps = dir.filePath(QStringLiteral("steps.csv"));
    const QString epochs = dir.filePath(QStringLiteral("epochs.csv"));
    RunTail tail(dir.path());
    Collected got;
    FollowUpdate u = tail.poll();  // nothing written yet: an empty reset
    QVERIFY(u.error.isEmpty());
    QVERIFY(u.reset);
    QVERIFY(!u.finished);
    got.add(u);

    const QByteArray all = QByteArray(kStepsHeader) + stepRows(1, 10);
    // Cut points inside the header, inside rows and right after newlines.
    const QList<qsizetype> cuts{5, 40, all.indexOf("\n1,3,") + 1, all.indexOf("\n2,6,") + 4, all.indexOf("\n3,9,") + 2, all.size()};
    QVERIFY(std::is_sorted(cuts.begin(), cuts.end()));
    qsizetype at = 0;
    for (qsizetype cut : cuts) {
      append(steps, all.mid(at, cut - at));
      at = cut;
      u = tail.poll();
      QVERIFY(!u.reset);
      got.add(u);
    }
    QCOMPARE(got.steps, range(1, 10));
    append(epochs, QByteArray(kEpochsHeader) + epochRow(1));
    got.add(tail.poll());
    append(epochs, epochRow(2).left(7));
    got.add(tail.poll());
    append(epochs, epochRow(2).mid(7));
    got.add(tail.poll());
    QCOMPARE(got.epochs, range(1, 2));
    QCOMPARE(got.resets, 1);

    // A fresh tail of the same files: one reset with every row (what "Open run" would read).
    RunTail again(dir.path());
    Collected whole;
    whole.add(again.poll());
    QCOMPARE(whole.steps, got.steps);
    QCOMPARE(whole.epochs, got.epochs);
  }

  void stepsGetTheirPlaceInTheEpoch() {
    QTemporaryDir dir;
    RunTail tail(dir.path());
    append(dir.filePath(QStringLiteral("steps.csv")), QByteArray(kStepsHeader) + stepRows(1, 3));
    tail.poll();
    append(dir.filePath(QStringLiteral("steps.csv")), stepRows(4, 6));
    const FollowUpdate u = tail.poll();
    QCOMPARE(u.steps.size(), 3);
    QCOMPARE(u.steps[0].stepInEpoch, int64_t(4));
    QCOMPARE(u.steps[0].stepsPerEpoch, int64_t(0));  // epoch 1 not known whole yet
    QCOMPARE(u.steps[1].epoch, int64_t(2));
    QCOMPARE(u.steps[1].stepInEpoch, int64_t(1));
    QCOMPARE(u.steps[1].stepsPerEpoch, int64_t(4));
  }

  void aResumeThatRewritesTheLogsMakesAReset() {
    QTemporaryDir dir;
    const QString steps = dir.filePath(QStringLiteral("steps.csv"));
    RunTail tail(dir.path());
    append(steps, QByteArray(kStepsHeader) + stepRows(1, 8));
    Collected got;
    got.add(tail.poll());
    QCOMPARE(got.steps, range(1, 8));
    // The resume keeps steps 1..5 (its checkpoint) and writes them atomically; 6.. again follow.
    replace(steps, QByteArray(kStepsHeader) + stepRows(1, 5));
    FollowUpdate u = tail.poll();
    QVERIFY(u.reset);
    got.add(u);
    QCOMPARE(got.steps, range(1, 5));
    append(steps, stepRows(6, 7));
    u = tail.poll();
    QVERIFY(!u.reset);
    got.add(u);
    QCOMPARE(got.steps, range(1, 7));
    // Truncated in place (no rename) the same way.
    writeAll(steps, QByteArray(kStepsHeader) + stepRows(1, 2));
    got.add(tail.poll());
    QCOMPARE(got.steps, range(1, 2));
    QCOMPARE(got.resets, 3);
  }

  void metricsJsonEndsItUnlessTheLogsAreNewer() {
    QTemporaryDir dir;
    const QString steps = dir.filePath(QStringLiteral("steps.csv"));
    append(steps, QByteArray(kStepsHeader) + stepRows(1, 4));
    writeMetrics(dir.path(), "finished");
    // A stopped run being resumed: its old metrics.json is older than the repaired logs.
    QFile metrics(dir.filePath(QStringLiteral("metrics.json")));
    QVERIFY(metrics.open(QIODevice::ReadWrite));
    QVERIFY(metrics.setFileTime(QDateTime::currentDateTime().addSecs(-60), QFileDevice::FileModificationTime));
    metrics.close();
    RunTail tail(dir.path());
    FollowUpdate u = tail.poll();
    QVERIFY(!u.finished);
    QCOMPARE(u.history.steps.size(), 4);

    append(steps, stepRows(5, 6));
    writeMetrics(dir.path(), "finished");  // written after the last rows
    u = tail.poll();
    QVERIFY(u.finished);
    QCOMPARE(u.steps.size(), 2);  // the rows before it still arrive
    QCOMPARE(u.entry.status, QStringLiteral("finished"));
    QCOMPARE(u.entry.valAccuracy, 0.85);
  }

  void gradStatsSamplesArriveWholeWithTheirLossScale() {
    QTemporaryDir dir;
    RunTail tail(dir.path());
    const QString stats = dir.filePath(QStringLiteral("grad_stats.csv"));
    append(dir.filePath(QStringLiteral("steps.csv")), QByteArray(kStepsHeader) + stepRows(1, 4));
    append(stats, "step,layer,kind,statistic,value\n2,conv1,grad,zero_share,0.1\n2,conv1,grad,fp16_underflow_share,0.");
    FollowUpdate u = tail.poll();
    QVERIFY(u.reset);
    QVERIFY(u.precision.samples.isEmpty());  // step 2's rows may still grow
    append(stats, "2\n4,conv1,grad,zero_share,0.3\n");
    u = tail.poll();
    QCOMPARE(u.samples.size(), 1);
    QCOMPARE(u.samples[0].step, int64_t(2));
    QCOMPARE(u.samples[0].tensors.size(), size_t(1));
    QCOMPARE(u.samples[0].tensors[0].fp16.underflow, 0.2);  // "0." then "2\n"
    QCOMPARE(u.samples[0].lossScale, 1024.0);
    append(dir.filePath(QStringLiteral("overflows.csv")), "step,layer,kind,value\n3,fc,grad,inf\n");
    writeMetrics(dir.path(), "finished");
    u = tail.poll();
    QVERIFY(u.finished);
    QCOMPARE(u.samples.size(), 1);  // the run ended: step 4's sample is whole
    QCOMPARE(u.samples[0].step, int64_t(4));
    QCOMPARE(u.overflows.size(), 1);
    QCOMPARE(QString::fromStdString(u.overflows[0].layer), QStringLiteral("fc"));
  }

  void aFolderThatIsGoneIsAnError() {
    QTemporaryDir parent;
    const QString run = parent.filePath(QStringLiteral("run"));
    RunTail missing(run);
    QVERIFY(missing.poll().error.contains(QStringLiteral("is not a folder")));
    QVERIFY(QDir().mkpath(run));
    append(QDir(run).filePath(QStringLiteral("steps.csv")), QByteArray(kStepsHeader) + stepRows(1, 2));
    RunTail tail(run);
    QVERIFY(tail.poll().error.isEmpty());
    QVERIFY(QDir(run).removeRecursively());
    const FollowUpdate u = tail.poll();
    QVERIFY2(u.error.contains(QStringLiteral("is gone")), qPrintable(u.error));
    // Caught half-way through the deletion: the log is gone, the folder not yet.
    QVERIFY(QDir().mkpath(run));
    append(QDir(run).filePath(QStringLiteral("steps.csv")), QByteArray(kStepsHeader) + stepRows(1, 2));
    RunTail halfway(run);
    QVERIFY(halfway.poll().error.isEmpty());
    QVERIFY(QFile::remove(QDir(run).filePath(QStringLiteral("steps.csv"))));
    const FollowUpdate v = halfway.poll();
    QVERIFY2(v.error.contains(QStringLiteral("steps.csv was deleted")), qPrintable(v.error));
    QVERIFY(!v.reset);  // the views keep what they showed
  }

  void theStatusLineSaysHowFreshTheRowsAre() {
    using ampbench::ui::followStatusText;
    QCOMPARE(followStatusText(QStringLiteral("r"), 0, false), QStringLiteral("Following r — waiting for its first rows"));
    QCOMPARE(followStatusText(QStringLiteral("r"), 3, true), QStringLiteral("Following r — last update 3 s ago"));
    QCOMPARE(followStatusText(QStringLiteral("r"), 59, true), QStringLiteral("Following r — last update 59 s ago"));
    QCOMPARE(followStatusText(QStringLiteral("r"), 4 * 60 + 10, true), QStringLiteral("Following r — no new rows for 4 min"));
  }

  void aPollAskedForWhileAResultWaitsLosesNothing() {
    // The worker's poll has finished but its result still waits in the event queue when a
    // timer or the file watcher asks for the next poll: that poll must come after it, not
    // replace it (an epoch row went missing from a followed run this way).
    QTemporaryDir dir;
    const QString steps = dir.filePath(QStringLiteral("steps.csv"));
    append(steps, QByteArray(kStepsHeader) + stepRows(1, 3));
    RunFollower follower;
    Collected got;
    connect(&follower, &RunFollower::updated, this, [&got](const FollowUpdate& u) { got.add(u); });
    follower.follow(dir.path());
    QThread::msleep(300);  // the first poll ends on the worker; no events are processed meanwhile
    append(steps, stepRows(4, 5));
    follower.pollSoon();
    QVERIFY(QTest::qWaitFor([&]() { return got.steps.size() >= 5; }, 20000));
    QTest::qWait(300);
    QCOMPARE(got.steps, range(1, 5));
    QCOMPARE(got.resets, 1);
  }

  void theWindowFollowsARunUntilItEnds() {
    QTemporaryDir dir;
    const QString run = dir.filePath(QStringLiteral("run"));
    QVERIFY(QDir().mkpath(run));
    const QString steps = QDir(run).filePath(QStringLiteral("steps.csv"));
    append(steps, QByteArray(kStepsHeader) + stepRows(1, 5));
    MainWindow window;
    window.setConfirmClose(false);
    window.show();
    RunFollower* follower = window.followDriver()->follower();
    follower->setPollInterval(100);
    window.followDriver()->follow(run);
    QVERIFY(follower->isFollowing());
    QVERIFY(QTest::qWaitFor([&]() { return lossPoints(window) == 5; }, 20000));
    QVERIFY2(window.presenter()->statusText().startsWith(QStringLiteral("Following run — ")),
             qPrintable(window.presenter()->statusText()));
    QVERIFY(window.windowTitle().contains(QStringLiteral("following")));
    QCOMPARE(window.runsList()->entryAt(window.runsList()->rowOf(QDir(run).absolutePath())).status, QStringLiteral("following"));

    append(steps, stepRows(6, 8) + QByteArray("1,9,0.1"));  // and half a row
    QVERIFY(QTest::qWaitFor([&]() { return lossPoints(window) == 8; }, 20000));
    append(steps, QByteArray(",0.01,1024,0,0,100\n"));
    QVERIFY(QTest::qWaitFor([&]() { return lossPoints(window) == 9; }, 20000));

    QSignalSpy finished(follower, &RunFollower::finished);
    writeMetrics(run, "finished");
    QVERIFY(finished.wait(20000));
    QVERIFY(!follower->isFollowing());
    QCOMPARE(lossPoints(window), 9);
    QCOMPARE(window.presenter()->runState(), QStringLiteral("finished"));
    QCOMPARE(window.runsList()->entryAt(window.runsList()->rowOf(QDir(run).absolutePath())).status, QStringLiteral("finished"));
  }

  void aFollowedFolderDeletedShowsAMessage() {
    QTemporaryDir dir;
    const QString run = dir.filePath(QStringLiteral("run"));
    QVERIFY(QDir().mkpath(run));
    append(QDir(run).filePath(QStringLiteral("steps.csv")), QByteArray(kStepsHeader) + stepRows(1, 3));
    MainWindow window;
    window.setConfirmClose(false);
    window.show();
    RunFollower* follower = window.followDriver()->follower();
    follower->setPollInterval(100);
    QSignalSpy failed(follower, &RunFollower::failed);
    window.followDriver()->follow(run);
    QVERIFY(QTest::qWaitFor([&]() { return lossPoints(window) == 3; }, 20000));
    QVERIFY(QDir(run).removeRecursively());
    QVERIFY(failed.wait(20000));
    QVERIFY(!follower->isFollowing());
    QVERIFY2(window.bannerText().contains(QStringLiteral("is gone")), qPrintable(window.bannerText()));
    QCOMPARE(lossPoints(window), 3);  // what was shown stays
  }

  void openingAnotherRunStopsFollowing() {
    QTemporaryDir dir;
    const QString run = dir.filePath(QStringLiteral("run"));
    const QString other = dir.filePath(QStringLiteral("other"));
    QVERIFY(QDir().mkpath(run));
    append(QDir(run).filePath(QStringLiteral("steps.csv")), QByteArray(kStepsHeader) + stepRows(1, 3));
    ampbench::uitest::writeLongRun(other, QStringLiteral("fp32"), 50);
    MainWindow window;
    window.setConfirmClose(false);
    window.followDriver()->follow(run);
    QVERIFY(QTest::qWaitFor([&]() { return lossPoints(window) == 3; }, 20000));
    QVERIFY(window.openPath(other));
    QVERIFY(!window.followDriver()->follower()->isFollowing());
    QVERIFY(QTest::qWaitFor([&]() { return lossPoints(window) == 50; }, 20000));
    append(QDir(run).filePath(QStringLiteral("steps.csv")), stepRows(4, 6));
    QTest::qWait(2500);  // a poll, were one still running, would add these rows
    QCOMPARE(lossPoints(window), 50);
  }

  void followingIsRefusedWhileARunTrainsHere() {
    QTemporaryDir dir;
    MainWindow window;
    window.setConfirmClose(false);
    QVERIFY(window.controller()->startJob(QStringLiteral("busy"), [](ampbench::RunObserver&, const ampbench::CancelToken& cancel) {
      while (!cancel.isCancelled()) {
        QThread::msleep(10);
      }
    }));
    window.followDriver()->follow(dir.path());
    QVERIFY(!window.followDriver()->follower()->isFollowing());
    QVERIFY2(window.presenter()->bannerText().contains(QStringLiteral("stop it before following")),
             qPrintable(window.presenter()->bannerText()));
    window.controller()->cancel();
    QVERIFY(QTest::qWaitFor([&]() { return !window.controller()->isBusy(); }, 20000));
  }

  void theEventLoopTurnsWhileALongRunIsFollowed() {
    QTemporaryDir dir;
    const QString run = dir.filePath(QStringLiteral("long"));
    ampbench::uitest::writeLongRun(run, QStringLiteral("fp16"), 100000);
    MainWindow window;
    window.setConfirmClose(false);
    window.show();
    RunFollower* follower = window.followDriver()->follower();
    follower->setPollInterval(50);
    ampbench::ui::StallProbe probe;
    probe.start();
    window.followDriver()->follow(run);
    QVERIFY(QTest::qWaitFor([&]() { return follower->pollsDone() >= 1; }, 120000));
    QVERIFY(QTest::qWaitFor([&]() { return follower->pollsDone() >= 20; }, 120000));  // polls of nothing new
    QTest::qWait(50);
    qInfo("worst stall following a 100k-step run: %.0f ms", probe.worstDelayMs());
    QVERIFY2(probe.worstDelayMs() < kFreezeMs, qPrintable(QString::number(probe.worstDelayMs())));
    QVERIFY(window.plotsPanel()->bufferedStepPoints() > 0);
  }
};

QTEST_MAIN(RunFollowerTest)
#include "RunFollowerTest.moc"
