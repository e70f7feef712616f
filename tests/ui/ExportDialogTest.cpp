// Export: an incomplete run directory is refused with the engine's message (shown in the
// dialog, nothing written); the preview says why there is no card. The full export of a
// real run is covered in MainWindowTest (it needs a trained model).

#include "UiTestUtil.h"

#include "ui/ExportDialog.h"

#include <QDir>
#include <QFile>
#include <QSignalSpy>
#include <QTemporaryDir>
#include <QTest>

using ampbench::ui::ExportDialog;

class ExportDialogTest : public QObject {
  Q_OBJECT

 private Q_SLOTS:
  void initTestCase() { ampbench::uitest::isolateSettings(QStringLiteral("AmpBenchExportTest")); }

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
    QVERIFY(!QFileInfo::exists(QDir(dest).filePath(QStringLiteral("model.pt"))));
  }
};

QTEST_MAIN(ExportDialogTest)
#include "ExportDialogTest.moc"
