// The PDF report's rendering, from hand-made ReportData (no engine run): page count in the
// footer agrees with the PDF's pages, the disclaimer on page 1, metrics as the report
// formats them with undefined shown with its reason, every font embedded, plots as vectors
// (the only images are the thumbnails and worst cases), Letter and A4 page sizes, an
// unwritable path refused, and stable pseudonyms. Reads the PDF back with poppler-utils.

#include "ui/ReportData.h"
#include "ui/ReportWriter.h"

#include <QDir>
#include <QFile>
#include <QProcess>
#include <QStandardPaths>
#include <QTemporaryDir>
#include <QTest>

#include <cmath>

using namespace ampbench::ui;

namespace {

QString run(const QString& program, const QStringList& args) {
  QProcess p;
  p.start(program, args);
  if (!p.waitForFinished(60000) || p.exitCode() != 0) {
    return QStringLiteral("<%1 failed: %2>").arg(program, QString::fromLocal8Bit(p.readAllStandardError()));
  }
  return QString::fromUtf8(p.readAllStandardOutput());
}

int pdfPages(const QString& pdf) {
  for (const auto& line : run(QStringLiteral("pdfinfo"), {pdf}).split(QLatin1Char('\n'))) {
    if (line.startsWith(QLatin1String("Pages:"))) {
      return line.mid(6).trimmed().toInt();
    }
  }
  return -1;
}

ampbench::Estimate est(double v, double lo, double hi) {
  ampbench::Estimate e;
  e.value = v;
  e.ci95.low = lo;
  e.ci95.high = hi;
  return e;
}

QImage gradient(int size, int shift) {
  QImage img(size, size, QImage::Format_Grayscale8);
  for (int y = 0; y < size; ++y) {
    for (int x = 0; x < size; ++x) {
      img.bits()[y * img.bytesPerLine() + x] = static_cast<uchar>((x * 4 + y + shift) % 256);
    }
  }
  return img;
}

ReportRun makeRun(const QString& mode, double accuracy) {
  ReportRun r;
  r.dir = QStringLiteral("/tmp/run-") + mode;
  r.mode = mode;
  r.label = mode.toUpper();
  r.status = QStringLiteral("finished");
  r.settings = {{QStringLiteral("Model"), QStringLiteral("small_cnn")}, {QStringLiteral("Seed"), QStringLiteral("1")}};
  r.machine = {{QStringLiteral("CPU"), QStringLiteral("Test CPU")}};
  r.precision = {{QStringLiteral("Mode"), r.label}};
  r.scaler = {{QStringLiteral("Overflow steps"), QStringLiteral("0")}};
  for (int e = 1; e <= 3; ++e) {
    ampbench::EpochEvent ev;
    ev.epoch = e;
    ev.epochs = 3;
    ev.trainLoss = 1.0 / e;
    ev.trainAccuracy = 0.5 + 0.1 * e;
    ev.validated = true;
    ev.val.loss = 1.1 / e;
    ev.val.accuracy = 0.45 + 0.1 * e;
    r.epochs << ev;
  }
  ampbench::Evaluation ev;
  ev.split = "test";
  ev.classes = {"NORMAL", "PNEUMONIA"};
  ev.count = 40;
  ev.threshold = 0.5;
  ev.positiveClass = 1;
  ev.confusion = {{0, 0}, {4, 36}};
  ev.accuracy = est(accuracy, accuracy - 0.05, accuracy + 0.04);
  ev.balancedAccuracy = est(0.9, 0.85, 0.95);
  ev.resamples = 1000;
  ev.seed = 7;
  ampbench::ClassEvaluation normal;
  normal.name = "NORMAL";
  normal.undefined = "no NORMAL images in this split";
  ampbench::ClassEvaluation pneumonia;
  pneumonia.name = "PNEUMONIA";
  pneumonia.support = 40;
  pneumonia.sensitivity = est(0.9, 0.8, 0.96);
  // Specificity needs NORMAL images: undefined, never 0.
  pneumonia.undefined = "no NORMAL images in this split";
  ev.perClass = {normal, pneumonia};
  ev.notes = {"NORMAL is absent from this split: metrics that need it are undefined."};
  r.evaluation = ev;
  r.evaluationFile = QStringLiteral("evaluation_test.json");
  for (int i = 0; i < 2; ++i) {
    ReportCase c;
    c.name = QStringLiteral("image-%1").arg(i + 1, 4, 10, QLatin1Char('0'));
    c.trueClass = QStringLiteral("PNEUMONIA");
    c.predictedClass = QStringLiteral("NORMAL");
    c.probability = 0.9 - 0.1 * i;
    c.image = gradient(64, i);
    c.overlay = gradient(64, 100 + i).convertToFormat(QImage::Format_RGB888);
    r.worst << c;
  }
  return r;
}

ReportData makeData() {
  ReportData d;
  d.dir = QStringLiteral("/tmp/tiny-run");
  d.name = QStringLiteral("tiny-run");
  d.generated = QStringLiteral("2026-01-02 03:04");
  d.split = QStringLiteral("test");
  d.datasetSource = QStringLiteral("/data/xray");
  d.datasetKind = QStringLiteral("folder");
  d.classes = QStringList{QStringLiteral("NORMAL"), QStringLiteral("PNEUMONIA")};
  d.counts.insert(QStringLiteral("train"), {30, 90});
  d.counts.insert(QStringLiteral("test"), {0, 40});
  d.thumbnails << qMakePair(0, gradient(48, 3)) << qMakePair(1, gradient(48, 9));
  d.skipped << ReportRow{QStringLiteral("image-0099"), QStringLiteral("not an image")};
  d.skippedCount = 1;
  d.runs << makeRun(QStringLiteral("fp32"), 0.8867);
  return d;
}

}  // namespace

class ReportWriterTest : public QObject {
  Q_OBJECT

 private Q_SLOTS:
  void initTestCase() {
    if (QStandardPaths::findExecutable(QStringLiteral("pdftotext")).isEmpty() ||
        QStandardPaths::findExecutable(QStringLiteral("pdffonts")).isEmpty()) {
      QSKIP("poppler-utils (pdftotext, pdfinfo, pdffonts) not installed: scripts/install-deps");
    }
  }

  void footerCountsThePagesAndPageOneSaysNotForDiagnosis() {
    QTemporaryDir tmp;
    const QString pdf = tmp.filePath(QStringLiteral("r.pdf"));
    QString error;
    const int pages = writeReport(makeData(), pdf, ReportPage{QPageSize::A4}, &error);
    QVERIFY2(pages > 1, qPrintable(error));
    QCOMPARE(pdfPages(pdf), pages);
    const QString all = run(QStringLiteral("pdftotext"), {pdf, QStringLiteral("-")});
    for (int i = 1; i <= pages; ++i) {
      QVERIFY2(all.contains(QStringLiteral("page %1 of %2").arg(i).arg(pages)), qPrintable(all));
    }
    QVERIFY(!all.contains(QStringLiteral("page %1 of").arg(pages + 1)));
    const QString first =
        run(QStringLiteral("pdftotext"), {QStringLiteral("-f"), QStringLiteral("1"), QStringLiteral("-l"),
                                          QStringLiteral("1"), pdf, QStringLiteral("-")});
    QVERIFY(first.contains(QStringLiteral("For research and teaching, not for diagnosis.")));
    QVERIFY(first.contains(QStringLiteral("tiny-run")));
    const QString info = run(QStringLiteral("pdfinfo"), {pdf});
    QVERIFY2(info.contains(QStringLiteral("AmpBench run report: tiny-run")), qPrintable(info));
    QVERIFY(info.contains(QStringLiteral("595 x 842 pts")));  // A4
  }

  void metricsAsFormattedWithIntervalsAndUndefinedWithTheReason() {
    QTemporaryDir tmp;
    const QString pdf = tmp.filePath(QStringLiteral("r.pdf"));
    QString error;
    QVERIFY2(writeReport(makeData(), pdf, ReportPage{}, &error) > 0, qPrintable(error));
    // -raw keeps each table cell's text together.
    const QString text = run(QStringLiteral("pdftotext"), {QStringLiteral("-raw"), pdf, QStringLiteral("-")});
    // EvaluationFormat's wording, as the Results tab.
    QVERIFY2(text.contains(QStringLiteral("Accuracy 0.89 (0.84–0.93)")), qPrintable(text));
    QVERIFY(text.contains(QStringLiteral("Sensitivity (PNEUMONIA) 0.90 (0.80–0.96)")));
    QVERIFY(text.contains(QStringLiteral("Specificity (PNEUMONIA) undefined — no NORMAL images")));
    QVERIFY(!text.contains(QStringLiteral("nan"), Qt::CaseInsensitive));
    QVERIFY(text.contains(QStringLiteral("image-0001")));
    QVERIFY(text.contains(QStringLiteral("1000 stratified resamples")));
  }

  void everyFontIsEmbeddedAndThePlotsAreVectors() {
    QTemporaryDir tmp;
    const QString pdf = tmp.filePath(QStringLiteral("r.pdf"));
    QString error;
    QVERIFY2(writeReport(makeData(), pdf, ReportPage{}, &error) > 0, qPrintable(error));
    const QStringList fonts = run(QStringLiteral("pdffonts"), {pdf}).split(QLatin1Char('\n'), Qt::SkipEmptyParts);
    QVERIFY(fonts.size() > 2);
    for (int i = 2; i < fonts.size(); ++i) {
      // name type encoding emb sub uni object ID: emb is the 4th field from the right end.
      const QStringList f = fonts[i].simplified().split(QLatin1Char(' '));
      QVERIFY2(f.size() >= 7 && f[f.size() - 5] == QLatin1String("yes"), qPrintable(fonts[i]));
    }
    // 2 thumbnails + 2 worst cases x (image, overlay) + the confusion matrix's cells and its
    // colour scale (QCPColorMap and QCPColorScale paint images; the counts are text): the
    // curves, axes and labels of the four plots add no bitmap.
    const QStringList images = run(QStringLiteral("pdfimages"), {QStringLiteral("-list"), pdf})
                                   .split(QLatin1Char('\n'), Qt::SkipEmptyParts);
    QCOMPARE(images.size() - 2, 8);
    // The plots' axis labels are text.
    const QString text = run(QStringLiteral("pdftotext"), {pdf, QStringLiteral("-")});
    QVERIFY(text.contains(QStringLiteral("Loss per epoch")));
    QVERIFY(text.contains(QStringLiteral("cross-entropy")));
  }

  void letterPagesAre612By792Points() {
    QTemporaryDir tmp;
    const QString pdf = tmp.filePath(QStringLiteral("r.pdf"));
    QString error;
    QVERIFY(writeReport(makeData(), pdf, ReportPage{QPageSize::Letter}, &error) > 0);
    QVERIFY(run(QStringLiteral("pdfinfo"), {pdf}).contains(QStringLiteral("612 x 792 pts")));
    QCOMPARE(parsePageSize(QStringLiteral("Letter")), std::optional<QPageSize::PageSizeId>(QPageSize::Letter));
    QCOMPARE(parsePageSize(QStringLiteral("a4")), std::optional<QPageSize::PageSizeId>(QPageSize::A4));
    QVERIFY(!parsePageSize(QStringLiteral("a5")).has_value());
  }

  void comparisonShowsTheTableTheVerdictAndEachMode() {
    ReportData d = makeData();
    d.comparison = true;
    d.name = QStringLiteral("cmp");
    d.runs << makeRun(QStringLiteral("fp16"), 0.75);
    ampbench::RunSummary a, b;
    a.finalVal.accuracy = 0.8867;
    a.finalVal.auc = 0.95;
    b.finalVal.accuracy = 0.75;
    b.finalVal.auc = std::nan("");
    b.precision.lossScaling = true;
    b.finalLossScale = 32768;
    b.overflowSteps = 3;
    b.skippedSteps = 2;
    d.comparisonSummary.runs = {a, b};
    ampbench::ModeComparison vs;
    vs.accuracy.value = -0.1;
    vs.accuracy.low = -0.15;
    vs.accuracy.high = -0.05;
    vs.accuracy.n = 40;
    vs.auc.unavailable = "no AUC";
    d.comparisonSummary.versusBaseline = {ampbench::ModeComparison{}, vs};
    d.comparisonSummary.verdict = "FP16 mixed: 10.0 points less accurate\nsecond line of the verdict";
    QTemporaryDir tmp;
    const QString pdf = tmp.filePath(QStringLiteral("c.pdf"));
    QString error;
    const int pages = writeReport(d, pdf, ReportPage{}, &error);
    QVERIFY2(pages > 2, qPrintable(error));
    const QString text = run(QStringLiteral("pdftotext"), {QStringLiteral("-raw"), pdf, QStringLiteral("-")});
    QVERIFY(text.contains(QStringLiteral("FP32 vs mixed precision")));
    QVERIFY(text.contains(QStringLiteral("FP16 mixed: 10.0 points less accurate")));
    QVERIFY(text.contains(QStringLiteral("second line of the verdict")));
    QVERIFY(text.contains(QStringLiteral("Accuracy 0.75 (0.70–0.79)")));  // the fp16 run's own metrics
    QVERIFY(text.contains(QStringLiteral("75.0 %")));                     // its final val accuracy in the table
    QVERIFY(text.contains(QStringLiteral("2^15")));                 // its final loss scale
    QVERIFY(text.contains(QStringLiteral("page %1 of %1").arg(pages)));
  }

  void anUnwritablePathIsRefused() {
    QTemporaryDir tmp;
    QFile file(tmp.filePath(QStringLiteral("a-file")));
    QVERIFY(file.open(QIODevice::WriteOnly));
    file.close();
    for (const QString& bad : {tmp.filePath(QStringLiteral("a-file/r.pdf")), tmp.filePath(QStringLiteral("no/such/r.pdf")),
                               tmp.path()}) {
      QString error;
      QVERIFY(!checkReportPath(bad, &error));
      QVERIFY(!error.isEmpty());
      error.clear();
      QCOMPARE(writeReport(makeData(), bad, ReportPage{}, &error), 0);
      QVERIFY(!error.isEmpty());
    }
    QString error;
    QVERIFY(checkReportPath(tmp.filePath(QStringLiteral("ok.pdf")), &error));
    QVERIFY(!QFileInfo::exists(tmp.filePath(QStringLiteral("ok.pdf"))));  // the check writes nothing
    QCOMPARE(QDir(tmp.path()).entryList(QDir::Files).size(), 1);
  }

  void pseudonymsAreStableAndInSortedOrder() {
    Pseudonyms a(QStringList{QStringLiteral("b/x.dcm"), QStringLiteral("a/y.dcm"), QStringLiteral("a/y.dcm")});
    QCOMPARE(a.idOf(QStringLiteral("a/y.dcm")), QStringLiteral("image-0001"));
    QCOMPARE(a.idOf(QStringLiteral("b/x.dcm")), QStringLiteral("image-0002"));
    QCOMPARE(a.idOf(QStringLiteral("c/new.png")), QStringLiteral("image-0003"));
    QCOMPARE(a.idOf(QStringLiteral("c/new.png")), QStringLiteral("image-0003"));
    Pseudonyms b(QStringList{QStringLiteral("a/y.dcm"), QStringLiteral("b/x.dcm")});
    QCOMPARE(b.idOf(QStringLiteral("b/x.dcm")), QStringLiteral("image-0002"));
    QVERIFY(hasDicomExtension(QStringLiteral("p/Q.DCM")));
    QVERIFY(hasDicomExtension(QStringLiteral("q.dicom")));
    QVERIFY(!hasDicomExtension(QStringLiteral("dcm.png")));
  }
};

QTEST_MAIN(ReportWriterTest)
#include "ReportWriterTest.moc"
