// File → Export report…: a real tiny run (small_cnn on generated PNGs) exported on workers
// with progress, evaluated first because its test files are missing; Cancel writes nothing;
// an unwritable path is refused at once with the reason; the menu holds the action.

#include "UiTestUtil.h"

#include "engine/train/Trainer.h"
#include "ui/MainWindow.h"
#include "ui/ReportExporter.h"

#include <QAction>
#include <QDir>
#include <QMenuBar>
#include <QProcess>
#include <QRegularExpression>
#include <QSignalSpy>
#include <QStandardPaths>
#include <QTemporaryDir>
#include <QTest>

using ampbench::ui::ReportExporter;
using ampbench::ui::ReportPage;

class ReportExporterTest : public QObject {
  Q_OBJECT

 private Q_SLOTS:
  void initTestCase() {
    ampbench::uitest::isolateSettings(QStringLiteral("AmpBenchReportTest"));
    QVERIFY(dir_.isValid());
    const QString data = dir_.filePath(QStringLiteral("data"));
    ampbench::uitest::makeImageDataset(data, {QStringLiteral("NORMAL"), QStringLiteral("PNEUMONIA")}, 24, 24);
    run_ = dir_.filePath(QStringLiteral("run"));
    const auto summary = ampbench::uitest::trainSmallRun(data, run_, 24, 2, 16);
    QVERIFY(summary.status == ampbench::RunStatus::Finished);
  }

  void exportsARunOnWorkersWithProgress() {
    QWidget window;
    ReportExporter exporter(&window);
    QSignalSpy finished(&exporter, &ReportExporter::finished);
    QSignalSpy progressed(&exporter, &ReportExporter::progressed);
    QSignalSpy messages(&exporter, &ReportExporter::message);
    const QString pdf = dir_.filePath(QStringLiteral("report.pdf"));
    QFile::remove(QDir(run_).filePath(QStringLiteral("evaluation_val.json")));
    QVERIFY(exporter.start(run_, pdf, ReportPage{QPageSize::Letter}));
    QVERIFY(exporter.isBusy());
    QVERIFY(finished.wait(180000));
    QVERIFY2(finished.at(0).at(0).toBool(), qPrintable(messages.isEmpty() ? QString() : messages.last().at(0).toString()));
    QCOMPARE(finished.at(0).at(1).toString(), pdf);
    const int pages = finished.at(0).at(2).toInt();
    QVERIFY(pages >= 3);
    QVERIFY(!exporter.isBusy());
    QVERIFY(progressed.count() >= 3);
    QVERIFY(QFileInfo(pdf).size() > 10000);
    // The evaluation it needed was run and kept with the run.
    QVERIFY(QFileInfo::exists(QDir(run_).filePath(QStringLiteral("evaluation_val.json"))));
    const QString last = messages.last().at(0).toString();
    QVERIFY2(last.contains(QStringLiteral("Report written")) && last.contains(QStringLiteral("%1 page").arg(pages)),
             qPrintable(last));
    QCOMPARE(messages.last().at(1).toBool(), false);
    if (!QStandardPaths::findExecutable(QStringLiteral("pdfinfo")).isEmpty()) {
      QProcess info;
      info.start(QStringLiteral("pdfinfo"), {pdf});
      QVERIFY(info.waitForFinished(30000));
      const QString text = QString::fromUtf8(info.readAllStandardOutput());
      QVERIFY2(text.contains(QRegularExpression(QStringLiteral("Pages: +%1\n").arg(pages))), qPrintable(text));
      QVERIFY(text.contains(QStringLiteral("612 x 792 pts")));
    }
  }

  void cancelWritesNothing() {
    ReportExporter exporter(nullptr);
    QSignalSpy finished(&exporter, &ReportExporter::finished);
    QSignalSpy messages(&exporter, &ReportExporter::message);
    const QString pdf = dir_.filePath(QStringLiteral("cancelled.pdf"));
    QVERIFY(exporter.start(run_, pdf, ReportPage{}));
    exporter.cancel();
    QVERIFY(finished.wait(120000));
    QCOMPARE(finished.at(0).at(0).toBool(), false);
    QVERIFY(!QFileInfo::exists(pdf));
    QVERIFY(messages.last().at(0).toString().contains(QStringLiteral("cancelled")));
    QCOMPARE(QDir(dir_.path()).entryList({QStringLiteral("cancelled.pdf*")}, QDir::Files).size(), 0);
  }

  void anUnwritablePathIsRefusedAtOnce() {
    ReportExporter exporter(nullptr);
    QSignalSpy messages(&exporter, &ReportExporter::message);
    QVERIFY(!exporter.start(run_, QStringLiteral("/nonexistent-folder/r.pdf"), ReportPage{}));
    QVERIFY(!exporter.isBusy());
    QCOMPARE(messages.count(), 1);
    QVERIFY(messages.at(0).at(0).toString().contains(QStringLiteral("cannot write")));
    QCOMPARE(messages.at(0).at(1).toBool(), true);
    // A folder that is no run: the engine's reason, inline, no crash.
    QSignalSpy finished(&exporter, &ReportExporter::finished);
    QVERIFY(exporter.start(dir_.filePath(QStringLiteral("data")), dir_.filePath(QStringLiteral("x.pdf")), ReportPage{}));
    QVERIFY(finished.wait(60000));
    QCOMPARE(finished.at(0).at(0).toBool(), false);
    QVERIFY2(messages.last().at(0).toString().contains(QStringLiteral("neither a run nor a comparison")),
             qPrintable(messages.last().at(0).toString()));
  }

  void theFileMenuHoldsTheAction() {
    ampbench::ui::MainWindow window;
    window.setConfirmClose(false);
    bool found = false;
    for (QAction* menu : window.menuBar()->actions()) {
      for (QAction* a : menu->menu() ? menu->menu()->actions() : QList<QAction*>{}) {
        found = found || a->text() == QStringLiteral("Export re&port…");
      }
    }
    QVERIFY(found);
  }

 private:
  QTemporaryDir dir_;
  QString run_;
};

QTEST_MAIN(ReportExporterTest)
#include "ReportExporterTest.moc"
