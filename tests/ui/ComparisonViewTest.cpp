// The comparison view: two runs overlaid, a table whose speed-up is the ratio of the
// runs' throughputs, differences highlighted, and a plain-words verdict. Also the
// scripted mode's command-line parsing.

#include "ui/ComparisonView.h"
#include "ui/PlotView.h"
#include "ui/ScriptOptions.h"

#include <QTableWidget>
#include <QTest>

using ampbench::ui::ComparisonView;

namespace {

ampbench::RunSummary run(const char* label, const char* dtype, double imagesPerSecond, double accuracy, bool scaling) {
  ampbench::RunSummary s;
  s.status = ampbench::RunStatus::Finished;
  s.precision.label = label;
  s.precision.computeDtype = dtype;
  s.precision.lossScaling = scaling;
  s.imagesPerSecond = imagesPerSecond;
  s.medianEpochSeconds = 1000.0 / imagesPerSecond;
  s.peakRssMb = 500;
  s.hasFinalMetrics = true;
  s.finalVal.count = 100;
  s.finalVal.accuracy = accuracy;
  s.finalVal.auc = 0.95;
  s.epochsCompleted = 3;
  return s;
}

ampbench::ui::RunHistory history(double secondsPerEpoch) {
  ampbench::ui::RunHistory h;
  for (int e = 1; e <= 3; ++e) {
    ampbench::EpochEvent ev;
    ev.epoch = e;
    ev.trainLoss = 0.5 / e;
    ev.validated = true;
    ev.val.loss = 0.6 / e;
    ev.val.accuracy = 0.8 + 0.03 * e;
    ev.epochSeconds = secondsPerEpoch;
    h.epochs << ev;
  }
  return h;
}

int rowOf(QTableWidget* table, const QString& name) {
  for (int r = 0; r < table->rowCount(); ++r) {
    if (table->verticalHeaderItem(r)->text() == name) {
      return r;
    }
  }
  return -1;
}

}  // namespace

class ComparisonViewTest : public QObject {
  Q_OBJECT

 private Q_SLOTS:
  void showsTwoRunsAndTheSpeedUpIsTheThroughputRatio() {
    ampbench::ComparisonSummary summary;
    summary.outDir = "/tmp/compare";
    summary.modeNames = {"fp32", "bf16"};
    summary.runs = {run("FP32", "float32", 61.0, 0.930, false), run("BF16 mixed", "bfloat16", 144.0, 0.933, false)};
    ComparisonView view;
    view.resize(1200, 800);
    view.show();
    view.showComparison(summary, {history(16.4), history(6.9)});
    QCOMPARE(view.modeCount(), 2);
    QCOMPARE(view.table()->columnCount(), 2);
    const int speedRow = rowOf(view.table(), QStringLiteral("Speed-up"));
    QVERIFY(speedRow >= 0);
    const double shown = view.table()->item(speedRow, 1)->data(Qt::UserRole).toDouble();
    QCOMPARE(shown, 144.0 / 61.0);
    QCOMPARE(view.speedUp(1), 144.0 / 61.0);
    QCOMPARE(view.table()->item(speedRow, 1)->text(), QStringLiteral("2.36x"));
    QCOMPARE(view.table()->item(speedRow, 0)->text(), QStringLiteral("1.00x"));
    // Faster: highlighted as better; baseline column never highlighted.
    QVERIFY(view.table()->item(speedRow, 1)->background().color().green() > 200);
    QCOMPARE(view.table()->item(speedRow, 0)->background().style(), Qt::NoBrush);
    // Both runs overlaid: two graphs per mode in the loss plot, one per mode in accuracy, bars per mode.
    const auto plots = view.plots();
    QCOMPARE(plots[0]->graphCount(), 4);
    QCOMPARE(plots[1]->graphCount(), 2);
    QCOMPARE(plots[2]->plottableCount(), 2);
    QVERIFY(view.verdict().contains(QStringLiteral("2.4x faster")));
    QVERIFY(view.verdict().contains(QStringLiteral("93.3 %")));
  }

  void usesTheEnginesVerdictWhenThereIsOne() {
    ampbench::ComparisonSummary summary;
    summary.modeNames = {"fp32", "fp16"};
    summary.runs = {run("FP32", "float32", 100.0, 0.9, false), run("FP16 mixed (emulated)", "float16", 50.0, 0.9, true)};
    summary.runs[1].precision.emulated = true;
    QVERIFY(ComparisonView::computeVerdict(summary).contains(QStringLiteral("2.0x slower")));
    QVERIFY(ComparisonView::computeVerdict(summary).contains(QStringLiteral("emulated")));
    summary.verdict = "Engine verdict.";
    ComparisonView view;
    view.showComparison(summary, {history(1), history(2)});
    QCOMPARE(view.verdict(), QStringLiteral("Engine verdict."));
    const int speedRow = rowOf(view.table(), QStringLiteral("Speed-up"));
    QVERIFY(view.table()->item(speedRow, 1)->background().color().red() > 240);  // slower: worse
  }

  void aModeThatRanOutOfMemorySaysSoInItsColumn() {
    ampbench::ComparisonSummary summary;
    summary.modeNames = {"fp32", "fp16"};
    summary.runs = {run("FP32", "float32", 0.0, 0.0, false), run("FP16 mixed", "float16", 900.0, 0.91, true)};
    summary.runs[0].status = ampbench::RunStatus::Failed;
    summary.runs[0].outOfMemory = true;
    summary.runs[0].hasFinalMetrics = false;
    summary.runs[0].message = "out of memory in epoch 1, step 1 of 40 (batch 512 at 224 px, resnet18, FP32 on cuda:0)";
    summary.verdict = "FP32 ran out of memory at this batch size; FP16 mixed trained with it.";
    ComparisonView view;
    view.showComparison(summary, {ampbench::ui::RunHistory{}, history(2)});
    QVERIFY(view.table()->horizontalHeaderItem(0)->text().contains(QStringLiteral("out of memory")));
    QVERIFY(view.table()->horizontalHeaderItem(0)->toolTip().contains(QStringLiteral("batch 512")));
    QVERIFY(!view.table()->horizontalHeaderItem(1)->text().contains(QStringLiteral("out of memory")));
    const int speedRow = rowOf(view.table(), QStringLiteral("Throughput"));
    QCOMPARE(view.table()->item(speedRow, 0)->text(), QStringLiteral("out of memory"));
    QCOMPARE(view.table()->item(speedRow, 1)->text(), QStringLiteral("900 img/s"));
    // Nothing to be better or worse than: the mode that fitted is not coloured against it.
    QCOMPARE(view.table()->item(speedRow, 1)->background().style(), Qt::NoBrush);
    QCOMPARE(view.verdict(), QString::fromStdString(summary.verdict));
  }

  void showsGpuMemoryWhenTheRunsHaveIt() {
    ampbench::ComparisonSummary summary;
    summary.modeNames = {"fp32", "fp16"};
    summary.runs = {run("FP32", "float32", 100.0, 0.9, false), run("FP16 mixed", "float16", 250.0, 0.9, true)};
    ComparisonView view;
    view.showComparison(summary, {history(1), history(2)});
    QVERIFY(rowOf(view.table(), QStringLiteral("Peak memory")) >= 0);  // CPU runs: the process RSS
    QCOMPARE(rowOf(view.table(), QStringLiteral("Peak GPU memory")), -1);
    summary.runs[0].peakCudaMb = 9000;
    summary.runs[1].peakCudaMb = 5200;
    view.showComparison(summary, {history(1), history(2)});
    const int row = rowOf(view.table(), QStringLiteral("Peak GPU memory"));
    QVERIFY(row >= 0);
    QCOMPARE(view.table()->item(row, 0)->text(), QStringLiteral("9000 MB"));
    QCOMPARE(view.table()->item(row, 1)->text(), QStringLiteral("5200 MB"));
    QVERIFY(view.table()->item(row, 1)->background().color().green() > 200);  // less memory: better
  }

  void scriptOptionsParseTheIssuesFlags() {
    ampbench::ui::ScriptOptions o;
    QString error;
    QVERIFY2(ampbench::ui::parseScriptOptions({QStringLiteral("ampbench"), QStringLiteral("--data"), QStringLiteral("/d"),
                                               QStringLiteral("--precision"), QStringLiteral("BF16"), QStringLiteral("--model"),
                                               QStringLiteral("small_cnn"), QStringLiteral("--epochs"), QStringLiteral("3"),
                                               QStringLiteral("--start"), QStringLiteral("--compare"),
                                               QStringLiteral("--screenshot"), QStringLiteral("/tmp/s.png"),
                                               QStringLiteral("--exit-when-done"), QStringLiteral("--image-size"),
                                               QStringLiteral("32")},
                                              &o, &error),
             qPrintable(error));
    QCOMPARE(o.data, QStringLiteral("/d"));
    QCOMPARE(o.precision, QStringLiteral("bf16"));
    QCOMPARE(o.epochs, 3);
    QCOMPARE(o.imageSize, 32);
    QVERIFY(o.start && o.compare && o.exitWhenDone);
    QCOMPARE(o.windowSize, QSize(1440, 900));
    QVERIFY(!ampbench::ui::parseScriptOptions({QStringLiteral("ampbench"), QStringLiteral("--precision"), QStringLiteral("fp8")},
                                              &o, &error));
    QVERIFY(error.contains(QStringLiteral("fp32, fp16, bf16 or auto")));
    QVERIFY(!ampbench::ui::parseScriptOptions({QStringLiteral("ampbench"), QStringLiteral("--start")}, &o, &error));
    QVERIFY(error.contains(QStringLiteral("--data")));
    QVERIFY(!ampbench::ui::parseScriptOptions({QStringLiteral("ampbench"), QStringLiteral("--epochs"), QStringLiteral("zero")},
                                              &o, &error));
  }
};

QTEST_MAIN(ComparisonViewTest)
#include "ComparisonViewTest.moc"
