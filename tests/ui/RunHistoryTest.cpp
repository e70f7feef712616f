// Run history: the runs folder scanned into the runs list (order, columns, incomplete and
// unreadable runs, files that are not runs), the context menu's actions (delete after a
// confirmation, never while training; show in folder; change the folder and rescan), the
// scan off the GUI thread, and the main window filling its list and naming the folder in
// the status bar's tooltip.

#include "UiTestUtil.h"

#include "ui/Format.h"
#include "ui/MainWindow.h"
#include "ui/RunHistoryController.h"
#include "ui/RunsFolder.h"
#include "ui/RunsList.h"

#include <QAction>
#include <QDateTime>
#include <QDir>
#include <QFile>
#include <QMenu>
#include <QSettings>
#include <QSignalSpy>
#include <QStandardPaths>
#include <QStatusBar>
#include <QTemporaryDir>
#include <QTest>
#include <QTreeWidget>

using ampbench::ui::RunEntry;
using ampbench::ui::RunHistoryController;
using ampbench::ui::RunsList;

namespace {

enum Column { kName = 0, kMode, kStatus, kAccuracy, kAuc, kRate, kDate };

void write(const QString& path, const QByteArray& text, const QDateTime& when = {}) {
  QDir().mkpath(QFileInfo(path).absolutePath());
  QFile f(path);
  QVERIFY(f.open(QIODevice::WriteOnly | QIODevice::Truncate));
  f.write(text);
  f.flush();  // else closing writes the data and the time with it
  if (when.isValid()) {
    QVERIFY(f.setFileTime(when, QFileDevice::FileModificationTime));
  }
}

QByteArray config(const char* mode) {
  return QByteArray(R"({"model": {"name": "small_cnn"}, "precision": {"mode": ")") + mode + R"("}})";
}

QByteArray metrics(const char* status, const char* accuracy, const char* auc) {
  return QByteArray(R"({"status": ")") + status + R"(", "images_per_s": 120.4, "val": {"accuracy": )" + accuracy +
         R"(, "auc": )" + auc + "}}";
}

// A finished run written at `when`.
void finishedRun(const QString& dir, const char* mode, const char* acc, const char* auc, const QDateTime& when) {
  write(QDir(dir).filePath(QStringLiteral("config.json")), config(mode), when.addSecs(-60));
  write(QDir(dir).filePath(QStringLiteral("epochs.csv")), "epoch,val_acc,val_auc\n1,0.5,0.5\n", when.addSecs(-1));
  write(QDir(dir).filePath(QStringLiteral("metrics.json")), metrics("finished", acc, auc), when);
}

QTreeWidget* treeOf(RunsList& list) { return list.findChild<QTreeWidget*>(QStringLiteral("runsTree")); }

QString cell(RunsList& list, int row, int column) { return treeOf(list)->topLevelItem(row)->text(column); }

bool scan(RunHistoryController& history) {
  QSignalSpy done(&history, &RunHistoryController::scanFinished);
  history.rescan();
  return done.wait(30000);
}

}  // namespace

class RunHistoryTest : public QObject {
  Q_OBJECT

  QTemporaryDir root_;
  const QDateTime t0_ = QDateTime::currentDateTime().addDays(-3);

  QString at(const char* name) const { return QDir(root_.path()).filePath(QLatin1String(name)); }

 private Q_SLOTS:
  void initTestCase() {
    ampbench::uitest::isolateSettings(QStringLiteral("AmpBenchRunHistoryTest"));
    // (Deleting moves to the trash of QStandardPaths' test mode, or removes: never the user's trash.)
    QVERIFY(root_.isValid());
    QSettings().setValue(QStringLiteral("runs/root"), root_.path());
  }

  void cleanupTestCase() {
    // What this test moved to the test mode's trash.
    const QDir trash(QDir(QStandardPaths::writableLocation(QStandardPaths::GenericDataLocation)).filePath(QStringLiteral("Trash")));
    for (const char* sub : {"files", "info"}) {
      QDir d(trash.filePath(QLatin1String(sub)));
      for (const QFileInfo& f : d.entryInfoList({QStringLiteral("2024010*")}, QDir::Dirs | QDir::Files | QDir::NoDotAndDotDot)) {
        f.isDir() ? QDir(f.absoluteFilePath()).removeRecursively() : QFile::remove(f.absoluteFilePath());
      }
    }
  }

  void init() {
    // The layout every test starts from (oldest to newest):
    QDir(root_.path()).removeRecursively();
    QDir().mkpath(root_.path());
    finishedRun(at("20240101-100000-old-fp32"), "fp32", "0.9", "0.95", t0_);
    // FP16 whose AUC was undefined (one class in validation): null, shown as undefined.
    finishedRun(at("20240102-100000-new-fp16"), "fp16", "0.8", "null", t0_.addSecs(3600));
    const QString cmp = at("20240103-100000-compare-fp32-bf16");
    finishedRun(cmp + QStringLiteral("/fp32"), "fp32", "0.91", "0.96", t0_.addSecs(7000));
    finishedRun(cmp + QStringLiteral("/bf16"), "bf16", "0.92", "0.97", t0_.addSecs(7100));
    write(cmp + QStringLiteral("/comparison.json"),
          R"({"format": "ampbench-comparison-1", "status": "finished", "modes": [)"
          R"({"mode": "fp32", "run_dir": "fp32"}, {"mode": "bf16", "run_dir": "bf16"}]})",
          t0_.addSecs(7200));
    // Half-written: config.json only (the app died before the first epoch), the newest.
    write(at("20240104-100000-half") + QStringLiteral("/config.json"), config("bf16"), t0_.addSecs(9000));
    // Garbage: metrics.json that is not JSON, epochs.csv with one validated epoch.
    write(at("20240101-090000-garbage") + QStringLiteral("/config.json"), config("fp32"), t0_.addSecs(-7200));
    write(at("20240101-090000-garbage") + QStringLiteral("/epochs.csv"), "epoch,val_acc,val_auc\n1,0.75,0.8\n2,nan,\n",
          t0_.addSecs(-7100));
    write(at("20240101-090000-garbage") + QStringLiteral("/metrics.json"), "{\"status\": \"fini\x01\xff", t0_.addSecs(-7000));
    // Not runs: a stray file with garbage JSON and an unrelated folder.
    write(at("notes.json"), "{{{ not json");
    QDir().mkpath(at("photos"));
  }

  void scanOrdersRunsNewestFirstWithTheirColumns() {
    const auto scan = ampbench::ui::scanRunsFolder(root_.path());
    QVERIFY(scan.error.isEmpty());
    QStringList names;
    for (const RunEntry& e : scan.entries) {
      names << QDir(root_.path()).relativeFilePath(e.dir);
    }
    QCOMPARE(names, (QStringList{QStringLiteral("20240104-100000-half"), QStringLiteral("20240103-100000-compare-fp32-bf16"),
                                 QStringLiteral("20240103-100000-compare-fp32-bf16/fp32"),
                                 QStringLiteral("20240103-100000-compare-fp32-bf16/bf16"), QStringLiteral("20240102-100000-new-fp16"),
                                 QStringLiteral("20240101-100000-old-fp32"), QStringLiteral("20240101-090000-garbage")}));
    QCOMPARE(scan.skipped.size(), 2);
    QVERIFY(scan.skipped.join(QLatin1Char('\n')).contains(QStringLiteral("notes.json")));
    QVERIFY(scan.skipped.join(QLatin1Char('\n')).contains(QStringLiteral("photos")));

    RunsList list;
    list.setHistory(scan.entries);
    QCOMPARE(list.count(), 7);
    // The half-written run: incomplete, why, no metrics.
    QCOMPARE(cell(list, 0, kStatus), QStringLiteral("incomplete"));
    QCOMPARE(cell(list, 0, kMode), QStringLiteral("BF16 mixed"));
    QCOMPARE(cell(list, 0, kAccuracy), QStringLiteral("—"));
    QVERIFY(list.entryAt(0).note.contains(QStringLiteral("no metrics.json")));
    // The comparison and its runs below it.
    QCOMPARE(cell(list, 1, kMode), QStringLiteral("fp32 vs bf16"));
    QCOMPARE(cell(list, 1, kStatus), QStringLiteral("finished"));
    QVERIFY(list.entryAt(1).comparison);
    QCOMPARE(cell(list, 2, kName), QStringLiteral("20240103-100000-compare-fp32-bf16/fp32"));
    QCOMPARE(cell(list, 3, kAccuracy), ampbench::ui::formatPercent(0.92));
    QCOMPARE(cell(list, 3, kAuc), QStringLiteral("0.970"));
    // FP16 with an undefined AUC: undefined, not 0.000 or 0.5.
    QCOMPARE(cell(list, 4, kMode), QStringLiteral("FP16 mixed"));
    QCOMPARE(cell(list, 4, kAccuracy), ampbench::ui::formatPercent(0.8));
    QCOMPARE(cell(list, 4, kAuc), QStringLiteral("—"));
    QCOMPARE(cell(list, 4, kRate), QStringLiteral("120"));
    QCOMPARE(cell(list, 4, kDate), QLocale().toString(t0_.addSecs(3600), QStringLiteral("yyyy-MM-dd HH:mm")));
    QCOMPARE(cell(list, 5, kAccuracy), ampbench::ui::formatPercent(0.9));
    QCOMPARE(cell(list, 5, kAuc), QStringLiteral("0.950"));
    // Garbage metrics.json: incomplete, the reason said, the last validated epoch shown.
    QCOMPARE(cell(list, 6, kStatus), QStringLiteral("incomplete"));
    QVERIFY2(list.entryAt(6).note.contains(QStringLiteral("metrics.json is not valid JSON")), qPrintable(list.entryAt(6).note));
    QCOMPARE(cell(list, 6, kAccuracy), ampbench::ui::formatPercent(0.75));
    QVERIFY(treeOf(list)->topLevelItem(6)->toolTip(kName).contains(QStringLiteral("not valid JSON")));
  }

  void valAccuracyIsTheOneAtTheRunsThresholdWhenItWasEvaluated() {
    QTemporaryDir dir;
    const QDateTime when = QDateTime::currentDateTime();
    finishedRun(dir.path(), "fp32", "0.951", "0.99", when);
    QCOMPARE(ampbench::ui::scanRunDir(dir.path()).valAccuracy, 0.951);  // no evaluation: metrics.json's
    // evaluation_val.json: the kept model at the run's decision threshold (what Results shows).
    write(QDir(dir.path()).filePath(QStringLiteral("evaluation_val.json")), R"({"accuracy": 0.971, "threshold": 0.27})");
    QCOMPARE(ampbench::ui::scanRunDir(dir.path()).valAccuracy, 0.971);
    // A broken or meaningless evaluation file falls back to metrics.json's figure.
    write(QDir(dir.path()).filePath(QStringLiteral("evaluation_val.json")), R"({"accuracy": "NaN"})");
    QCOMPARE(ampbench::ui::scanRunDir(dir.path()).valAccuracy, 0.951);
    write(QDir(dir.path()).filePath(QStringLiteral("evaluation_val.json")), "{\"accuracy\": 0.9");
    QCOMPARE(ampbench::ui::scanRunDir(dir.path()).valAccuracy, 0.951);
    // A run that did not finish wrote no evaluation: one in its folder is an earlier run's.
    write(QDir(dir.path()).filePath(QStringLiteral("evaluation_val.json")), R"({"accuracy": 0.971})");
    write(QDir(dir.path()).filePath(QStringLiteral("metrics.json")), metrics("cancelled", "0.951", "0.99"));
    QCOMPARE(ampbench::ui::scanRunDir(dir.path()).valAccuracy, 0.951);
  }

  void hostileFilesNeverCrashTheScan() {
    write(at("20240105-empty-json") + QStringLiteral("/config.json"), "");
    write(at("20240105-array-json") + QStringLiteral("/config.json"), "[1, 2, 3]");
    write(at("20240105-array-json") + QStringLiteral("/metrics.json"), R"({"status": 7, "val": {"accuracy": "NaN", "auc": 1e999}})");
    write(at("20240105-bad-cmp") + QStringLiteral("/comparison.json"), "null");
    write(at("20240105-bad-cmp") + QStringLiteral("/fp32/config.json"), config("fp32"));
    const auto scan = ampbench::ui::scanRunsFolder(root_.path());
    auto find = [&scan](const QString& dir) {
      for (const RunEntry& e : scan.entries) {
        if (e.dir == QDir(dir).absolutePath()) {
          return e;
        }
      }
      return RunEntry{};
    };
    QCOMPARE(find(at("20240105-empty-json")).status, QStringLiteral("incomplete"));
    const RunEntry array = find(at("20240105-array-json"));
    QCOMPARE(array.status, QStringLiteral("incomplete"));  // a status that is no status
    QCOMPARE(array.valAccuracy, -1.0);
    QCOMPARE(array.valAuc, -1.0);
    QVERIFY(array.note.contains(QStringLiteral("config.json")));
    const RunEntry cmp = find(at("20240105-bad-cmp"));
    QVERIFY(cmp.comparison);
    QCOMPARE(cmp.status, QStringLiteral("incomplete"));
    QCOMPARE(find(at("20240105-bad-cmp/fp32")).mode, QStringLiteral("fp32"));  // its runs still listed
    // A folder that does not exist yet (nothing trained): an empty history, no error.
    const auto none = ampbench::ui::scanRunsFolder(at("not-yet"));
    QVERIFY(none.entries.isEmpty() && none.error.isEmpty());
  }

  void theScanRunsOffTheGuiThreadAndKeepsThisSessionsRows() {
    for (int i = 0; i < 300; ++i) {
      finishedRun(at("bulk") + QStringLiteral("-%1").arg(i, 3, 10, QLatin1Char('0')), "fp32", "0.5", "0.5", t0_.addSecs(-100000 + i));
    }
    RunsList list;
    RunHistoryController history(&list, nullptr);
    RunEntry live;
    live.dir = at("20240102-100000-new-fp16");
    live.mode = QStringLiteral("fp16");
    live.status = QStringLiteral("running");
    list.upsert(live);
    QSignalSpy done(&history, &RunHistoryController::scanFinished);
    history.rescan();
    QCOMPARE(list.count(), 1);  // the rows arrive through the event loop: the scan did not block
    QVERIFY(done.wait(60000));
    QCOMPARE(done.at(0).at(0).toInt(), 307);
    QCOMPARE(list.count(), 307);
    QCOMPARE(list.entryAt(list.rowOf(live.dir)).status, QStringLiteral("running"));  // not overwritten by the scan
    // A second scan replaces the history rows, it does not duplicate them.
    QVERIFY(scan(history));
    QCOMPARE(list.count(), 307);
  }

  void deleteAsksNamingTheRunAndRemovesIt() {
    RunsList list;
    RunHistoryController history(&list, nullptr);
    QVERIFY(scan(history));
    const QString run = at("20240101-100000-old-fp32");
    QString asked;
    bool answer = false;
    history.setConfirm([&](const QString&, const QString& text) {
      asked = text;
      return answer;
    });
    // Declined: nothing happens.
    QVERIFY(!history.deleteRun(run));
    QVERIFY2(asked.contains(QStringLiteral("20240101-100000-old-fp32")), qPrintable(asked));
    QVERIFY(QFileInfo::exists(run));
    QVERIFY(list.rowOf(run) >= 0);
    // Confirmed through the context menu's action: gone from disk and from the list.
    answer = true;
    std::unique_ptr<QMenu> menu(list.contextMenuFor(run, nullptr));
    QStringList actions;
    QAction* del = nullptr;
    for (QAction* a : menu->actions()) {
      actions << a->text();
      if (a->text() == QStringLiteral("Delete…")) {
        del = a;
      }
    }
    QCOMPARE(actions, (QStringList{QStringLiteral("Show in folder"), QStringLiteral("Delete…"), QString(),
                                   QStringLiteral("Change runs folder…")}));
    QSignalSpy deleted(&history, &RunHistoryController::runDeleted);
    del->trigger();
    QCOMPARE(deleted.count(), 1);
    QVERIFY(!QFileInfo::exists(run));
    // In the (test mode's) trash, never in a stray folder of the working directory.
    QVERIFY(!QFileInfo::exists(QDir::current().filePath(QStringLiteral("files/20240101-100000-old-fp32"))));
    const QString trash = QDir(QStandardPaths::writableLocation(QStandardPaths::GenericDataLocation)).filePath(QStringLiteral("Trash/files"));
    QVERIFY2(!QDir(trash).entryList({QStringLiteral("20240101-100000-old-fp32*")}, QDir::Dirs).isEmpty(), qPrintable(trash));
    QCOMPARE(list.rowOf(run), -1);
    // A comparison: it and its runs, after naming it as a comparison.
    const QString cmp = at("20240103-100000-compare-fp32-bf16");
    const int before = list.count();
    QVERIFY(history.deleteRun(cmp));
    QVERIFY(asked.contains(QStringLiteral("comparison")));
    QVERIFY(!QFileInfo::exists(cmp));
    QCOMPARE(list.count(), before - 3);
  }

  void deleteRefusesWhileTheRunTrains() {
    RunsList list;
    RunHistoryController history(&list, nullptr);
    QVERIFY(scan(history));
    const QString cmp = at("20240103-100000-compare-fp32-bf16");
    const QString training = cmp + QStringLiteral("/bf16");
    history.setIsTraining([&](const QString& dir) { return training == dir || training.startsWith(dir + QLatin1Char('/')); });
    int asked = 0;
    history.setConfirm([&](const QString&, const QString&) {
      ++asked;
      return true;
    });
    QSignalSpy message(&history, &RunHistoryController::message);
    QVERIFY(!history.deleteRun(training));
    QVERIFY(!history.deleteRun(cmp));  // the comparison holds the training run
    QCOMPARE(asked, 0);
    QCOMPARE(message.count(), 2);
    QVERIFY(message.at(0).at(0).toString().contains(QStringLiteral("training")));
    QVERIFY(message.at(0).at(1).toBool());
    QVERIFY(QFileInfo::exists(training));
    // Another run may go meanwhile.
    QVERIFY(history.deleteRun(at("20240102-100000-new-fp16")));
  }

  void showInFolderOpensTheDirectory() {
    RunsList list;
    RunHistoryController history(&list, nullptr);
    QUrl opened;
    history.setOpenUrl([&](const QUrl& url) {
      opened = url;
      return true;
    });
    QVERIFY(history.showInFolder(at("20240101-100000-old-fp32")));
    QCOMPARE(opened, QUrl::fromLocalFile(at("20240101-100000-old-fp32")));
    QSignalSpy message(&history, &RunHistoryController::message);
    QVERIFY(!history.showInFolder(at("vanished")));
    QCOMPARE(message.count(), 1);
  }

  void changeFolderRescansAndIsKept() {
    RunsList list;
    RunHistoryController history(&list, nullptr);
    QVERIFY(scan(history));
    QCOMPARE(list.count(), 7);
    QTemporaryDir other;
    finishedRun(QDir(other.path()).filePath(QStringLiteral("elsewhere-bf16")), "bf16", "0.7", "0.8", t0_);
    history.setChooseFolder([&](const QString& current) {
      [&]() { QCOMPARE(current, QDir(root_.path()).absolutePath()); }();
      return other.path();
    });
    QSignalSpy rootChanged(&history, &RunHistoryController::rootChanged);
    QSignalSpy done(&history, &RunHistoryController::scanFinished);
    history.changeRunsFolder();
    QCOMPARE(rootChanged.count(), 1);
    QVERIFY(done.wait(30000));
    QCOMPARE(list.count(), 1);
    QCOMPARE(cell(list, 0, kName), QStringLiteral("elsewhere-bf16"));
    QCOMPARE(ampbench::ui::runsRoot(), QDir(other.path()).absolutePath());  // new runs go there too
    // Cancelling the dialog changes nothing.
    history.setChooseFolder([](const QString&) { return QString(); });
    history.changeRunsFolder();
    QCOMPARE(rootChanged.count(), 1);
    QSettings().setValue(QStringLiteral("runs/root"), root_.path());
  }

  void theWindowFillsItsListAtStartAndNamesTheFolder() {
    QSettings().setValue(QStringLiteral("runs/root"), root_.path());
    ampbench::ui::MainWindow window;
    window.setConfirmClose(false);
    QVERIFY(window.statusBar()->toolTip().contains(QDir::toNativeSeparators(root_.path())));
    QCOMPARE(window.runsList()->count(), 0);  // not yet: the scan runs on a worker
    QTRY_COMPARE_WITH_TIMEOUT(window.runsList()->count(), 7, 30000);
    QCOMPARE(window.runsList()->entryAt(0).status, QStringLiteral("incomplete"));
    // Changing the folder from the window updates the tooltip.
    QTemporaryDir other;
    window.history()->setRoot(other.path());
    QVERIFY(window.statusBar()->toolTip().contains(QDir::toNativeSeparators(QDir(other.path()).absolutePath())));
    QTRY_COMPARE_WITH_TIMEOUT(window.runsList()->count(), 0, 30000);
    QSettings().setValue(QStringLiteral("runs/root"), root_.path());
  }
};

QTEST_MAIN(RunHistoryTest)
#include "RunHistoryTest.moc"
