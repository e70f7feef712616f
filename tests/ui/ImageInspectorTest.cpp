// The image inspector on a real tiny run (small_cnn trained here on generated images):
// the probabilities are predictImages' for the same file, the class toggle changes the
// class the map explains, the overlay toggles and blends, the true class gives
// correct/missed, bad input (not an image, a run without a checkpoint) is shown inside the
// widget, and clicking through images loads the model once. Plus toQImage's copies.

#include "UiTestUtil.h"

#include "engine/train/Trainer.h"

#include "ui/GradCamCache.h"
#include "ui/ImageInspector.h"
#include "ui/QtImage.h"

#include <QComboBox>
#include <QDir>
#include <QFile>
#include <QLabel>
#include <QSignalSpy>
#include <QTemporaryDir>
#include <QTest>

#include <cmath>
#include <memory>

using ampbench::ui::GradCamCache;
using ampbench::ui::ImageInspector;

namespace {

bool showAndWait(ImageInspector& inspector, const QString& run, const QString& image, std::optional<int> truth = {}) {
  QSignalSpy shown(&inspector, &ImageInspector::resultShown);
  inspector.showImage(run, image, truth);
  return shown.wait(120000);
}

int differingPixels(const QImage& a, const QImage& b) {
  const QImage x = a.convertToFormat(QImage::Format_RGB32), y = b.convertToFormat(QImage::Format_RGB32);
  if (x.size() != y.size()) {
    return -1;
  }
  int n = 0;
  for (int row = 0; row < x.height(); ++row) {
    for (int col = 0; col < x.width(); ++col) {
      n += x.pixel(col, row) != y.pixel(col, row) ? 1 : 0;
    }
  }
  return n;
}

}  // namespace

class ImageInspectorTest : public QObject {
  Q_OBJECT

  QTemporaryDir tmp_;
  QString data_, run_;

  QString image(const char* cls, int i) const {
    return QDir(data_).filePath(QStringLiteral("val/%1/img_%2.png").arg(QLatin1String(cls)).arg(i, 3, 10, QLatin1Char('0')));
  }

 private Q_SLOTS:
  void initTestCase() {
    ampbench::uitest::isolateSettings(QStringLiteral("AmpBenchImageInspectorTest"));
    QVERIFY(tmp_.isValid());
    data_ = QDir(tmp_.path()).filePath(QStringLiteral("data"));
    run_ = QDir(tmp_.path()).filePath(QStringLiteral("run"));
    ampbench::uitest::makeImageDataset(data_, {QStringLiteral("NORMAL"), QStringLiteral("PNEUMONIA")}, 24, 32);
    const auto summary = ampbench::uitest::trainSmallRun(data_, run_, 32, 2, 8);
    QVERIFY2(summary.status == ampbench::RunStatus::Finished, summary.message.c_str());
  }

  void toQImageCopiesGrayAndRgbRows() {
    ampbench::Image8 gray{3, 2, 1, {1, 2, 3, 4, 5, 6}};  // odd width: QImage pads its rows
    QImage g = ampbench::ui::toQImage(gray);
    QCOMPARE(g.format(), QImage::Format_Grayscale8);
    QCOMPARE(g.size(), QSize(3, 2));
    QCOMPARE(int(g.constScanLine(1)[2]), 6);
    gray.pixels[5] = 99;  // a deep copy: the QImage keeps its own
    QCOMPARE(int(g.constScanLine(1)[2]), 6);
    const ampbench::Image8 rgb{1, 2, 3, {10, 20, 30, 40, 50, 60}};
    const QImage c = ampbench::ui::toQImage(rgb);
    QCOMPARE(c.format(), QImage::Format_RGB888);
    QCOMPARE(c.pixel(0, 1), qRgb(40, 50, 60));
    QVERIFY(ampbench::ui::toQImage(ampbench::Image8{2, 2, 2, {0, 0, 0, 0, 0, 0, 0, 0}}).isNull());  // 2 channels
    QVERIFY(ampbench::ui::toQImage(ampbench::Image8{4, 4, 1, {1, 2, 3}}).isNull());                 // short buffer
    QVERIFY(ampbench::ui::toQImage(ampbench::Image8{}).isNull());
  }

  void probabilitiesMatchPredictImages() {
    ImageInspector inspector(nullptr, std::make_shared<GradCamCache>());
    const QString file = image("PNEUMONIA", 1);
    QVERIFY(showAndWait(inspector, run_, file));
    QVERIFY2(inspector.errorText().isEmpty(), qPrintable(inspector.errorText()));
    const auto expected = ampbench::predictImages(run_.toStdString(), {file.toStdString()});
    QCOMPARE(expected.predictions.size(), size_t{1});
    const auto& p = expected.predictions[0];
    QCOMPARE(inspector.classes(), (QStringList{QStringLiteral("NORMAL"), QStringLiteral("PNEUMONIA")}));
    QCOMPARE(inspector.probabilities().size(), 2);
    for (int i = 0; i < 2; ++i) {
      QVERIFY2(std::abs(inspector.probabilities()[i] - p.probabilities[size_t(i)]) < 1e-5,
               qPrintable(QStringLiteral("%1 vs %2").arg(inspector.probabilities()[i]).arg(p.probabilities[size_t(i)])));
    }
    QCOMPARE(inspector.predictedClass(), int(p.predicted));
    QCOMPARE(inspector.targetClass(), int(p.predicted));  // the map explains the prediction by default
    QCOMPARE(inspector.precisionText(), QStringLiteral("FP32"));
    QVERIFY(!inspector.baseImage().isNull());
    QCOMPARE(inspector.heatMapImage().size(), inspector.baseImage().size());
    QVERIFY(!inspector.isBusy());
    // What a person reads: both classes with their percentages, the predicted one named.
    QStringList texts;
    for (const QLabel* label : inspector.findChildren<QLabel*>()) {
      texts << label->text();
    }
    const QString all = texts.join(QLatin1Char('\n'));
    QVERIFY2(all.contains(QStringLiteral("Predicted: <b>%1</b>").arg(inspector.classes()[inspector.predictedClass()])), qPrintable(all));
    QVERIFY2(all.contains(QStringLiteral("Computed in <b>FP32</b>")), qPrintable(all));
  }

  void classToggleChangesTheTargetClass() {
    ImageInspector inspector(nullptr, std::make_shared<GradCamCache>());
    QVERIFY(showAndWait(inspector, run_, image("NORMAL", 0)));
    const int predicted = inspector.predictedClass();
    QVERIFY(predicted == 0 || predicted == 1);
    const QImage before = inspector.heatMapImage();
    auto* box = inspector.findChild<QComboBox*>(QStringLiteral("inspectorClass"));
    QVERIFY(box && box->isEnabled());
    QCOMPARE(box->count(), 2);
    QCOMPARE(box->currentIndex(), predicted);
    QVERIFY(box->itemText(predicted).contains(QStringLiteral("(predicted)")));
    QSignalSpy shown(&inspector, &ImageInspector::resultShown);
    const int other = 1 - predicted;
    box->setCurrentIndex(other);
    Q_EMIT box->activated(other);  // as a click picks it
    QVERIFY(shown.wait(60000));
    QCOMPARE(inspector.targetClass(), other);
    QCOMPARE(inspector.predictedClass(), predicted);  // the prediction does not change with the map
    QCOMPARE(box->currentIndex(), other);
    // The map of the other class is another map (a two-class model's maps are not equal).
    QVERIFY(differingPixels(before, inspector.heatMapImage()) > 0);
    // Out-of-range classes are ignored, never passed to the engine.
    inspector.setTargetClass(7);
    QVERIFY(!inspector.isBusy());
  }

  void overlayToggleAndOpacity() {
    ImageInspector inspector(nullptr, std::make_shared<GradCamCache>());
    QVERIFY(showAndWait(inspector, run_, image("PNEUMONIA", 0)));
    inspector.setOverlayOpacity(0.8);
    QCOMPARE(inspector.overlayOpacity(), 0.8);
    const QImage strong = inspector.renderedImage();
    QVERIFY(differingPixels(strong, inspector.baseImage()) > 0);
    inspector.setOverlayOpacity(0.2);
    QVERIFY(differingPixels(strong, inspector.renderedImage()) > 0);
    inspector.setOverlayVisible(false);
    QVERIFY(!inspector.overlayVisible());
    QCOMPARE(differingPixels(inspector.renderedImage(), inspector.baseImage()), 0);  // overlay off: the image alone
  }

  void trueClassSaysCorrectOrMissed() {
    ImageInspector inspector(nullptr, std::make_shared<GradCamCache>());
    QVERIFY(showAndWait(inspector, run_, image("PNEUMONIA", 2), 1));
    const int predicted = inspector.predictedClass();
    QCOMPARE(inspector.trueClass().value(), 1);
    QCOMPARE(inspector.verdictText(), predicted == 1 ? QStringLiteral("correct") : QStringLiteral("missed"));
    QVERIFY(showAndWait(inspector, run_, image("PNEUMONIA", 2), 1 - predicted));
    QCOMPARE(inspector.verdictText(), QStringLiteral("missed"));
    QVERIFY(showAndWait(inspector, run_, image("PNEUMONIA", 2)));
    QVERIFY(inspector.verdictText().isEmpty());  // no label known: no verdict
  }

  void aNonImageFileShowsTheErrorInline() {
    ImageInspector inspector(nullptr, std::make_shared<GradCamCache>());
    inspector.show();
    QVERIFY(showAndWait(inspector, run_, image("NORMAL", 1)));
    const QString notImage = QDir(tmp_.path()).filePath(QStringLiteral("notes.png"));
    {
      QFile f(notImage);
      QVERIFY(f.open(QIODevice::WriteOnly));
      f.write("this is not a PNG\n");
    }
    QVERIFY(showAndWait(inspector, run_, notImage));
    QVERIFY(!inspector.errorText().isEmpty());
    auto* error = inspector.findChild<QLabel*>(QStringLiteral("inspectorError"));
    QVERIFY(error && error->isVisible());
    QVERIFY2(error->text().contains(inspector.errorText()), qPrintable(error->text()));
    // Nothing of the previous image stays on screen as if it were this one's.
    QVERIFY(inspector.probabilities().isEmpty());
    QCOMPARE(inspector.predictedClass(), -1);
    QVERIFY(inspector.baseImage().isNull());
    QVERIFY(!inspector.findChild<QComboBox*>(QStringLiteral("inspectorClass"))->isEnabled());
    // A missing file, too.
    QVERIFY(showAndWait(inspector, run_, QDir(tmp_.path()).filePath(QStringLiteral("gone.png"))));
    QVERIFY(!inspector.errorText().isEmpty());
    // The next good image clears the error.
    QVERIFY(showAndWait(inspector, run_, image("NORMAL", 1)));
    QVERIFY(inspector.errorText().isEmpty());
    QVERIFY(!error->isVisible());
  }

  void aRunWithoutCheckpointShowsTheErrorInline() {
    auto cache = std::make_shared<GradCamCache>();
    ImageInspector inspector(nullptr, cache);
    const QString half = QDir(tmp_.path()).filePath(QStringLiteral("half"));
    QVERIFY(QDir().mkpath(half));
    for (const QString& name : {QStringLiteral("config.json"), QStringLiteral("dataset.json")}) {
      QVERIFY(QFile::copy(QDir(run_).filePath(name), QDir(half).filePath(name)));  // a run stopped before its first checkpoint
    }
    QVERIFY(showAndWait(inspector, half, image("NORMAL", 1)));
    QVERIFY2(inspector.errorText().contains(QStringLiteral("checkpoint")), qPrintable(inspector.errorText()));
    QCOMPARE(cache->modelsLoaded(), 0);
    QVERIFY(showAndWait(inspector, QDir(tmp_.path()).filePath(QStringLiteral("nowhere")), image("NORMAL", 1)));
    QVERIFY(!inspector.errorText().isEmpty());
  }

  void clickingThroughImagesLoadsTheModelOnce() {
    auto cache = std::make_shared<GradCamCache>();
    ImageInspector inspector(nullptr, cache);
    for (int i = 0; i < 4; ++i) {
      QVERIFY(showAndWait(inspector, run_, image(i % 2 ? "NORMAL" : "PNEUMONIA", i)));
      QVERIFY(inspector.errorText().isEmpty());
    }
    QCOMPARE(cache->modelsLoaded(), 1);
    // Requests while one computes: only the newest is shown, once.
    QSignalSpy shown(&inspector, &ImageInspector::resultShown);
    inspector.showImage(run_, image("NORMAL", 0));
    inspector.showImage(run_, image("NORMAL", 1));
    inspector.showImage(run_, image("PNEUMONIA", 3));
    QVERIFY(inspector.isBusy());
    QVERIFY(shown.wait(60000));
    QTest::qWait(200);
    QCOMPARE(shown.count(), 1);
    QCOMPARE(inspector.imagePath(), image("PNEUMONIA", 3));
    const auto expected = ampbench::predictImages(run_.toStdString(), {image("PNEUMONIA", 3).toStdString()});
    QVERIFY(std::abs(inspector.probabilities()[1] - expected.predictions[0].probabilities[1]) < 1e-5);
  }
};

QTEST_MAIN(ImageInspectorTest)
#include "ImageInspectorTest.moc"
