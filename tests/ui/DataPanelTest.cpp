// The data panel: the scan runs off the GUI thread; a one-class folder is refused with
// the engine's message (saying what to do) and Train stays disabled; a good folder shows
// its classes, counts and thumbnails and enables Train.

#include "UiTestUtil.h"

#include "ui/DataPanel.h"
#include "ui/MainWindow.h"
#include "ui/RunPanel.h"

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
    QVERIFY(panel->isScanning() || done.count() == 1);
    QVERIFY(done.count() == 1 || done.wait(20000));
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
};

QTEST_MAIN(DataPanelTest)
#include "DataPanelTest.moc"
