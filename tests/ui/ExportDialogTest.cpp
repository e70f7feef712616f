// Export: an incomplete run directory is refused with the engine's message (shown in the
// dialog, nothing written); the preview says why there is no card. On a real (small)
// run: the dialog reads the card on a worker and the export leaves the event loop turning;
// a finished export leaves exactly its files (no staging folder); closing the dialog
// during an export returns at once and leaves no file, not even a partial one.

#include "UiTestUtil.h"

#include "engine/export/Export.h"
#include "engine/util/Sanitizers.h"
#include "ui/ExportDialog.h"
#include "ui/StallProbe.h"

#include <QDir>
#include <QElapsedTimer>
#include <QFile>
#include <QSemaphore>
#include <QSignalSpy>
#include <QTemporaryDir>
#include <QTest>
#include <QThreadPool>

#include <memory>

using ampbench::ui::ExportDialog;

namespace {

// A stall this long is a freeze, not noise. Under ThreadSanitizer (scripts/check-sanitizers)
// our code runs several times slower and each report is symbolised on the thread that found
// it, the GUI thread included: there the bound only catches a hang.
constexpr double kFreezeMs = ampbench::kThreadSanitizer ? 30000.0 : 1000.0;

// Every entry of dir, hidden ones included (a staging folder left behind shows here).
QStringList entries(const QString& dir) {
  return QDir(dir).entryList(QDir::AllEntries | QDir::Hidden | QDir::NoDotAndDotDot, QDir::Name);
}

}  // namespace

class ExportDialogTest : public QObject {
  Q_OBJECT

 private Q_SLOTS:
  void initTestCase() {
    ampbench::uitest::isolateSettings(QStringLiteral("AmpBenchExportTest"));
    QVERIFY(dir_.isValid());
    const QString data = QDir(dir_.path()).filePath(QStringLiteral("data"));
    run_ = QDir(dir_.path()).filePath(QStringLiteral("run"));
    ampbench::uitest::makeImageDataset(data, {QStringLiteral("NORMAL"), QStringLiteral("PNEUMONIA")}, 8, 16);
    ampbench::uitest::trainSmallRun(data, run_, 16, 1, 8);
    QVERIFY(QFileInfo::exists(QDir(run_).filePath(QStringLiteral("checkpoint.pt"))));
  }

  void incompleteRunIsRefusedWithTheEnginesMessage() {
    QTemporaryDir run;
    QTemporaryDir out;
    QFile epochs(QDir(run.path()).filePath(QStringLiteral("epochs.csv")));
    QVERIFY(epochs.open(QIODevice::WriteOnly));
    epochs.write("epoch,train_loss\n1,0.5\n");
    epochs.close();
    QVERIFY(ExportDialog::modelCardPreview(run.path()).startsWith(QStringLiteral("No model card: ")));

    ExportDialog dialog(run.path());
    const QString dest = QDir(out.path()).filePath(QStringLiteral("export"));
    dialog.setDestination(dest);
    QSignalSpy finished(&dialog, &ExportDialog::exportFinished);
    dialog.startExport();
    QVERIFY(finished.wait(20000));
    QCOMPARE(finished.at(0).at(0).toBool(), false);
    QVERIFY(!dialog.resultText().isEmpty());
    QVERIFY(!QFileInfo::exists(dest));  // created for the export, removed when it failed
  }

  void theDialogAndItsExportLeaveTheEventLoopTurning() {
    QTemporaryDir out;
    ampbench::ui::StallProbe probe;
    probe.start();
    ExportDialog dialog(run_);
    // The constructor returned before the card was read (on a worker).
    QVERIFY(dialog.isPreviewLoading() || dialog.cardText().contains(QStringLiteral("Reading")));
    QVERIFY2(!dialog.cardText().contains(QStringLiteral("small_cnn")), qPrintable(dialog.cardText()));
    dialog.show();
    QTRY_VERIFY_WITH_TIMEOUT(dialog.cardText().contains(QStringLiteral("small_cnn")), 10000);
    dialog.setDestination(out.path());
    QSignalSpy finished(&dialog, &ExportDialog::exportFinished);
    dialog.startExport();
    QVERIFY(dialog.isExporting());
    QVERIFY(finished.wait(60000));
    QVERIFY2(finished.at(0).at(0).toBool(), qPrintable(dialog.resultText()));
    QTest::qWait(50);  // the tick after a stall reports it
    qInfo("worst stall opening the dialog and exporting: %.0f ms", probe.worstDelayMs());
    QVERIFY2(probe.worstDelayMs() < kFreezeMs, qPrintable(QString::number(probe.worstDelayMs())));
    // Exactly the files, moved out of the staging folder, which is gone.
    QStringList expected{QStringLiteral("MODEL_CARD.md"), QStringLiteral("model.json"), QStringLiteral("model.pt")};
    if (ampbench::onnxExportSupported()) {
      expected << QStringLiteral("model.onnx");
    }
    expected.sort();
    QCOMPARE(entries(out.path()), expected);
  }

  void closingDuringAnExportReturnsAtOnceAndLeavesNoFile() {
    QTemporaryDir out;
    const QString dest = QDir(out.path()).filePath(QStringLiteral("export"));
    // The worker stops once the files are staged and waits there for the test (at most
    // 5 s, so that waiting for it shows as a 5 s close, not a hang).
    auto staged = std::make_shared<QSemaphore>();
    auto proceed = std::make_shared<QSemaphore>();
    auto dialog = std::make_unique<ExportDialog>(run_);
    dialog->setDestination(dest);
    dialog->setStagedHook([staged, proceed]() {
      staged->release();
      proceed->tryAcquire(1, 5000);
    });
    dialog->show();
    dialog->startExport();
    QVERIFY(staged->tryAcquire(1, 60000));
    QElapsedTimer clock;
    clock.start();
    QTest::keyClick(dialog.get(), Qt::Key_Escape);  // Esc closes (rejects) the dialog ...
    QVERIFY(!dialog->isVisible());
    dialog.reset();  // ... and MainWindow's dialog then goes out of scope
    const qint64 closeMs = clock.elapsed();
    qInfo("closing the dialog during an export took %lld ms", closeMs);
    QVERIFY2(closeMs < kFreezeMs, qPrintable(QString::number(closeMs)));
    proceed->release();
    QVERIFY(QThreadPool::globalInstance()->waitForDone(60000));
    // Dropped: no file, no staging folder, and the folder the export created is gone.
    QVERIFY2(!QFileInfo::exists(dest), qPrintable(entries(dest).join(QLatin1Char(' '))));
    QCOMPARE(entries(out.path()), QStringList());
  }

 private:
  QTemporaryDir dir_;
  QString run_;
};

QTEST_MAIN(ExportDialogTest)
#include "ExportDialogTest.moc"
