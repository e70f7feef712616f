// "Try an image" through the main window: files dropped on the results area open in the
// image inspector for the run in front, File > Predict… uses the selected run (a
// comparison: its baseline), an exported model folder is used until a run is selected
// again, and without a model the user is told what to do (no dialog, no crash).

#include "UiTestUtil.h"
#include "WindowTestUtil.h"

#include "engine/train/Trainer.h"

#include "ui/ExportDialog.h"
#include "ui/GradCamCache.h"
#include "ui/ImageInspector.h"
#include "ui/MainWindow.h"
#include "ui/PredictDriver.h"
#include "ui/RunsList.h"

#include <QAction>
#include <QDir>
#include <QDragEnterEvent>
#include <QDropEvent>
#include <QFile>
#include <QMenuBar>
#include <QMimeData>
#include <QSettings>
#include <QSignalSpy>
#include <QTabWidget>
#include <QTemporaryDir>
#include <QTest>
#include <QUrl>

#include <cmath>

using ampbench::ui::ImageInspector;
using ampbench::ui::MainWindow;
using ampbench::ui::PredictDriver;

namespace {

QAction* menuAction(MainWindow& window, const QString& text) {
  for (QAction* a : window.menuBar()->findChildren<QAction*>()) {
    if (a->text() == text) {
      return a;
    }
  }
  return nullptr;
}

// Drags `files` onto `target` and drops them; returns whether the drag was accepted.
bool dropOn(QWidget* target, const QStringList& files) {
  QMimeData mime;
  QList<QUrl> urls;
  for (const QString& f : files) {
    urls << QUrl::fromLocalFile(f);
  }
  mime.setUrls(urls);
  const QPoint at(target->width() / 2, target->height() / 2);
  QDragEnterEvent enter(at, Qt::CopyAction, &mime, Qt::LeftButton, Qt::NoModifier);
  QCoreApplication::sendEvent(target, &enter);
  if (!enter.isAccepted()) {
    return false;
  }
  QDropEvent drop(QPointF(at), Qt::CopyAction, &mime, Qt::LeftButton, Qt::NoModifier);
  QCoreApplication::sendEvent(target, &drop);
  return drop.isAccepted();
}

}  // namespace

class PredictDriverTest : public QObject {
  Q_OBJECT

  QTemporaryDir tmp_;
  QString data_, root_, run_;

  QString image(const char* cls, int i) const {
    return QDir(data_).filePath(QStringLiteral("val/%1/img_%2.png").arg(QLatin1String(cls)).arg(i, 3, 10, QLatin1Char('0')));
  }

 private Q_SLOTS:
  void initTestCase() {
    ampbench::uitest::isolateSettings(QStringLiteral("AmpBenchPredictDriverTest"));
    QVERIFY(tmp_.isValid());
    data_ = QDir(tmp_.path()).filePath(QStringLiteral("data"));
    root_ = QDir(tmp_.path()).filePath(QStringLiteral("runs"));
    run_ = QDir(root_).filePath(QStringLiteral("20240101-120000-small_cnn-fp32"));
    QSettings().setValue(QStringLiteral("runs/root"), root_);
    ampbench::uitest::makeImageDataset(data_, {QStringLiteral("NORMAL"), QStringLiteral("PNEUMONIA")}, 24, 32);
    const auto summary = ampbench::uitest::trainSmallRun(data_, run_, 32, 1, 8);
    QVERIFY2(summary.status == ampbench::RunStatus::Finished, summary.message.c_str());
  }

  void droppingFilesOnTheWindowRoutesToTheInspector() {
    MainWindow window;
    window.setConfirmClose(false);
    window.show();
    QVERIFY(ampbench::uitest::openAndWait(window, run_));  // the run in front
    auto* tabs = window.findChild<QTabWidget*>();
    QVERIFY(tabs);
    ImageInspector* inspector = window.predictDriver()->dialog()->inspector();
    QSignalSpy shown(inspector, &ImageInspector::resultShown);
    const QStringList files{image("PNEUMONIA", 0), image("NORMAL", 1)};
    QVERIFY(dropOn(tabs, files));
    QVERIFY(window.predictDriver()->dialog()->isVisible());
    QCOMPARE(window.predictDriver()->dialog()->listedImages(), files);
    QCOMPARE(inspector->runOrModel(), QDir(run_).absolutePath());
    QCOMPARE(inspector->imagePath(), files.front());
    QVERIFY(shown.wait(120000));
    QVERIFY2(inspector->errorText().isEmpty(), qPrintable(inspector->errorText()));
    const auto expected = ampbench::predictImages(run_.toStdString(), {files.front().toStdString()});
    QVERIFY(std::abs(inspector->probabilities()[1] - expected.predictions[0].probabilities[1]) < 1e-5);
    // A drag without local files (text, a folder) is not taken.
    QVERIFY(!dropOn(tabs, {data_}));
    QMimeData text;
    text.setText(QStringLiteral("hello"));
    QDragEnterEvent enter(QPoint(5, 5), Qt::CopyAction, &text, Qt::LeftButton, Qt::NoModifier);
    QCoreApplication::sendEvent(tabs, &enter);
    QVERIFY(!enter.isAccepted());
    window.predictDriver()->dialog()->close();
  }

  void predictMenuUsesTheSelectedRunOrAComparisonsBaseline() {
    MainWindow window;
    window.setConfirmClose(false);
    QTRY_VERIFY_WITH_TIMEOUT(window.runsList()->rowOf(run_) >= 0, 30000);  // from the history
    window.runsList()->selectDir(run_);
    QString startedIn;
    window.predictDriver()->setChooseFiles([&](const QString& start) {
      startedIn = start;
      return QStringList{image("NORMAL", 2)};
    });
    QAction* predict = menuAction(window, QStringLiteral("&Predict…"));
    QVERIFY(predict);
    predict->trigger();
    ImageInspector* inspector = window.predictDriver()->dialog()->inspector();
    QCOMPARE(inspector->runOrModel(), QDir(run_).absolutePath());
    QCOMPARE(inspector->imagePath(), image("NORMAL", 2));
    QVERIFY(window.predictDriver()->dialog()->isVisible());
    // A comparison in the list explains through its first (baseline) run.
    const QString cmp = QDir(tmp_.path()).filePath(QStringLiteral("cmp"));
    QDir().mkpath(cmp);
    QFile json(QDir(cmp).filePath(QStringLiteral("comparison.json")));
    QVERIFY(json.open(QIODevice::WriteOnly));
    json.write(QStringLiteral(R"({"status": "finished", "modes": [{"mode": "fp32", "run_dir": "%1"}]})").arg(run_).toUtf8());
    json.close();
    ampbench::ui::RunEntry entry;
    entry.dir = cmp;
    entry.comparison = true;
    entry.mode = QStringLiteral("fp32 vs fp16");
    entry.status = QStringLiteral("finished");
    window.runsList()->upsert(entry);
    window.runsList()->selectDir(cmp);
    QCOMPARE(window.predictDriver()->modelSource(), run_);
    // The file dialog cancelled: nothing happens.
    window.predictDriver()->setChooseFiles([](const QString&) { return QStringList{}; });
    QVERIFY(!window.predictDriver()->predictFiles({}));
    window.predictDriver()->dialog()->close();
  }

  void anExportedModelFolderIsUsedUntilARunIsSelected() {
    QTemporaryDir exported;
    const auto result = ampbench::ui::ExportDialog::exportRun(run_, exported.path(), false, true, true, false, false);
    QVERIFY2(result.error.isEmpty(), qPrintable(result.error));
    MainWindow window;
    window.setConfirmClose(false);
    PredictDriver* driver = window.predictDriver();
    driver->setChooseFolder([&](const QString&) { return exported.path(); });
    driver->setChooseFiles([&](const QString&) { return QStringList{image("PNEUMONIA", 1)}; });
    QAction* use = menuAction(window, QStringLiteral("Use an exported &model folder…"));
    QVERIFY(use);
    use->trigger();
    QCOMPARE(driver->modelFolder(), QDir(exported.path()).absolutePath());
    ImageInspector* inspector = driver->dialog()->inspector();
    QCOMPARE(inspector->runOrModel(), QDir(exported.path()).absolutePath());
    QSignalSpy shown(inspector, &ImageInspector::resultShown);
    QVERIFY(shown.wait(120000));
    QVERIFY2(inspector->errorText().isEmpty(), qPrintable(inspector->errorText()));
    // The exported model is the run's: the same probabilities.
    const auto expected = ampbench::predictImages(run_.toStdString(), {image("PNEUMONIA", 1).toStdString()});
    QVERIFY(std::abs(inspector->probabilities()[0] - expected.predictions[0].probabilities[0]) < 1e-5);
    QCOMPARE(inspector->precisionText(), QStringLiteral("FP32"));
    // Selecting a run in the list goes back to runs.
    QTRY_VERIFY_WITH_TIMEOUT(window.runsList()->rowOf(run_) >= 0, 30000);
    window.runsList()->selectDir(run_);
    QVERIFY(driver->modelFolder().isEmpty());
    QCOMPARE(driver->modelSource(), QDir(run_).absolutePath());
    // A folder without a model: refused with the reason, the last choice kept.
    QSignalSpy message(driver, &PredictDriver::message);
    QVERIFY(!driver->useModelFolder(data_));
    QCOMPARE(message.count(), 1);
    QVERIFY(message.at(0).at(1).toBool());
    QVERIFY(message.at(0).at(0).toString().contains(QStringLiteral("model.pt")));
    driver->dialog()->close();
  }

  void withoutAModelTheUserIsToldWhatToDo() {
    QTemporaryDir emptyRoot;
    QSettings().setValue(QStringLiteral("runs/root"), emptyRoot.path());
    MainWindow window;
    window.setConfirmClose(false);
    window.show();  // the banner shows only in a shown window
    int asked = 0;
    window.predictDriver()->setChooseFiles([&](const QString&) {
      ++asked;
      return QStringList{};
    });
    QVERIFY(!window.predictDriver()->predictFiles({image("NORMAL", 0)}));
    QVERIFY2(window.bannerText().contains(QStringLiteral("select a finished run")), qPrintable(window.bannerText()));
    window.predictDriver()->predictWithDialog();
    QCOMPARE(asked, 0);  // no file dialog when there is nothing to predict with
    QSettings().setValue(QStringLiteral("runs/root"), root_);
  }
};

QTEST_MAIN(PredictDriverTest)
#include "PredictDriverTest.moc"
