// The data panel: the scan runs off the GUI thread; a one-class folder is refused with
// the engine's message (saying what to do) and Train stays disabled; a good folder shows
// its classes, counts and thumbnails and enables Train.

#include "UiTestUtil.h"

#include "engine/util/CancelToken.h"
#include "ui/DataPanel.h"
#include "ui/MainWindow.h"
#include "ui/RunPanel.h"

#include <QDir>
#include <QFile>
#include <QLabel>
#include <QPushButton>
#include <QSignalSpy>
#include <QTableWidget>
#include <QTemporaryDir>
#include <QTest>

using ampbench::ui::DataPanel;

class DataPanelTest : public QObject {
  Q_OBJECT

 private Q_SLOTS:
  void initTestCase() { ampbench::uitest::isolateSettings(QStringLiteral("AmpBenchDataPanelTest")); }

  void oneClassFolderIsRefusedWithTheMessage() {
    QTemporaryDir dir;
    ampbench::uitest::makeImageDataset(dir.path(), {QStringLiteral("NORMAL")}, 6, 16, {QString()});
    ampbench::ui::MainWindow window;
    window.setConfirmClose(false);
    window.show();
    DataPanel* panel = window.dataPanel();
    QSignalSpy done(panel, &DataPanel::scanFinished);
    panel->setDataPath(dir.path());
    // The result comes through the event loop (setDataPath never waits for the scan); a
    // one-class folder may already be scanned on an idle pool thread, so isScanning() may be false.
    QCOMPARE(done.count(), 0);
    QVERIFY(done.wait(20000));
    QCOMPARE(done.at(0).at(0).toBool(), false);
    QVERIFY(!panel->isUsable());
    const QString problem = panel->problem();
    qInfo("message: %s", qPrintable(problem));
    QVERIFY(problem.contains(QStringLiteral("class"), Qt::CaseInsensitive));
    QVERIFY(!window.runPanel()->trainButton()->isEnabled());
    QVERIFY(!window.runPanel()->compareButton()->isEnabled());
  }

  void missingFolderIsRefused() {
    DataPanel panel;
    QSignalSpy done(&panel, &DataPanel::scanFinished);
    panel.setDataPath(QStringLiteral("/nonexistent/ampbench-data"));
    QVERIFY(done.wait(10000));
    QVERIFY(!panel.isUsable());
    QVERIFY(!panel.problem().isEmpty());
  }

  void goodFolderShowsCountsAndEnablesTrain() {
    QTemporaryDir dir;
    ampbench::uitest::makeImageDataset(dir.path(), {QStringLiteral("NORMAL"), QStringLiteral("PNEUMONIA")}, 9, 16);
    ampbench::ui::MainWindow window;
    window.setConfirmClose(false);
    window.show();
    DataPanel* panel = window.dataPanel();
    QSignalSpy done(panel, &DataPanel::scanFinished);
    panel->setDataPath(dir.path());
    QVERIFY(done.wait(20000));
    QVERIFY2(panel->isUsable(), qPrintable(panel->problem()));
    QCOMPARE(panel->summary().classes.size(), size_t{2});
    QCOMPARE(panel->summary().counts.at("train").at(0), int64_t{9});
    QCOMPARE(panel->summary().counts.at("val").at(1), int64_t{3});
    auto* table = panel->findChild<QTableWidget*>(QStringLiteral("dataCounts"));
    QVERIFY(table && table->isVisible());
    QCOMPARE(table->rowCount(), 3);  // two classes + total
    QVERIFY(window.runPanel()->trainButton()->isEnabled());
  }

  // The panel's scan stops through the engine's token (not only between class folders).
  void scanForPanelStopsWhenItsTokenIsCancelled() {
    QTemporaryDir dir;
    makeBigFolder(dir.path(), 1500);
    ampbench::CancelToken cancel;
    int reports = 0;
    const auto r = ampbench::ui::scanForPanel(
        dir.path(),
        [&](const ampbench::DataProgressEvent&) {
          ++reports;
          cancel.cancel();
        },
        DataPanel::kThumbnailsPerClass, DataPanel::kThumbnailSize, cancel);
    QVERIFY(r.cancelled);
    QCOMPARE(reports, 1);
    QVERIFY(!r.error.isEmpty());
    QVERIFY(r.summary.classes.empty());
  }

  // Choosing another folder while a scan runs: the old scan is cancelled and only the
  // new folder's result is shown and signalled.
  void aNewFolderReplacesARunningScan() {
    QTemporaryDir big;
    makeBigFolder(big.path(), 3000);
    QTemporaryDir small;
    ampbench::uitest::makeImageDataset(small.path(), {QStringLiteral("NORMAL"), QStringLiteral("PNEUMONIA")}, 9, 16);
    DataPanel panel;
    QSignalSpy done(&panel, &DataPanel::scanFinished);
    panel.setDataPath(big.path());
    panel.setDataPath(small.path());
    QVERIFY(done.wait(20000));
    QTest::qWait(200);
    QCOMPARE(done.count(), 1);
    QCOMPARE(panel.dataPath(), small.path());
    QVERIFY2(panel.isUsable(), qPrintable(panel.problem()));
    QCOMPARE(panel.summary().counts.at("train").at(0), int64_t{9});
  }

 private:
  // Many empty files with image names: the scan lists them, it decodes only thumbnails.
  static void makeBigFolder(const QString& root, int perClass) {
    for (const QString cls : {QStringLiteral("NORMAL"), QStringLiteral("PNEUMONIA")}) {
      QDir().mkpath(root + QLatin1Char('/') + cls);
      for (int i = 0; i < perClass; ++i) {
        QFile f(root + QLatin1Char('/') + cls + QStringLiteral("/img%1.png").arg(i));
        QVERIFY(f.open(QIODevice::WriteOnly));
      }
    }
  }
};

QTEST_MAIN(DataPanelTest)
#include "DataPanelTest.moc"
