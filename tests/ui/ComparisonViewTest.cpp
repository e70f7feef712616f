// The comparison view: two runs overlaid, a table whose speed-up is the ratio of the
// runs' throughputs, differences highlighted, and a plain-words verdict. Also the
// scripted mode's command-line parsing.

#include "ui/ComparisonFormat.h"
#include "ui/ComparisonView.h"
#include "ui/PlotView.h"
#include "ui/ScriptOptions.h"

#include <QTableWidget>
#include <QTemporaryDir>
#include <QTest>

#include <cmath>

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
  // Epoch times within +-1 % of the median after the warm-up epoch.
  const double seconds = s.medianEpochSeconds;
  s.epochSeconds = {1.5 * seconds, seconds, 1.01 * seconds, 0.99 * seconds};
  return s;
}

// Validation outputs of 270 images (alternating classes): right where `right(i)` holds.
template <typename Right>
void setOutputs(ampbench::RunSummary& s, Right right) {
  s.finalValLabels.clear();
  s.finalValProbabilities.clear();
  int correct = 0;
  for (int i = 0; i < 270; ++i) {
    const int64_t y = i % 2;
    const int64_t predicted = right(i) ? y : 1 - y;
    correct += predicted == y;
    const float p1 = predicted == 1 ? 0.6f + 0.02f * static_cast<float>(i % 11) : 0.4f - 0.02f * static_cast<float>(i % 7);
    s.finalValLabels.push_back(y);
    s.finalValProbabilities.insert(s.finalValProbabilities.end(), {1.0f - p1, p1});
  }
  s.finalVal.count = 270;
  s.finalVal.accuracy = correct / 270.0;
}

bool baseRight(int i) { return i % 27 >= 4; }  // 230 of 270

bool highlighted(QTableWidgetItem* item) { return item->background().style() != Qt::NoBrush; }

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
    // The ratio with the range of its epoch-time ratios (2.36 x 0.99/1.01 .. 2.36 x 1.01/0.99).
    QCOMPARE(view.table()->item(speedRow, 1)->text(), QStringLiteral("▲ 2.36x (2.31–2.41)"));
    QCOMPARE(view.table()->item(speedRow, 0)->text(), QStringLiteral("1.00x"));
    // Faster beyond the spread: highlighted as better; baseline column never highlighted.
    QVERIFY(view.table()->item(speedRow, 1)->background().color().green() > 200);
    QCOMPARE(view.table()->item(speedRow, 0)->background().style(), Qt::NoBrush);
    // Both runs overlaid: two graphs per mode in the loss plot, one per mode in accuracy, bars per mode.
    const auto plots = view.plots();
    QCOMPARE(plots[0]->graphCount(), 4);
    QCOMPARE(plots[1]->graphCount(), 2);
    QCOMPARE(plots[2]->plottableCount(), 2);
    QVERIFY2(view.verdict().contains(QStringLiteral("2.36x the speed of FP32 (2.31-2.41)")), qPrintable(view.verdict()));
    // No validation outputs: the accuracies are quoted, no difference is claimed.
    QVERIFY2(view.verdict().contains(QStringLiteral("validation accuracy 93.3 % vs 93.0 % (no interval")),
             qPrintable(view.verdict()));
    const int accRow = rowOf(view.table(), QStringLiteral("Accuracy vs baseline"));
    QVERIFY(accRow >= 0);
    QCOMPARE(view.table()->item(accRow, 1)->text(), QStringLiteral("–"));
    QVERIFY(view.table()->item(accRow, 1)->toolTip().contains(QStringLiteral("no validation outputs")));
    QVERIFY(!highlighted(view.table()->item(rowOf(view.table(), QStringLiteral("Final val accuracy")), 1)));
  }

  void usesTheEnginesVerdictWhenThereIsOne() {
    ampbench::ComparisonSummary summary;
    summary.modeNames = {"fp32", "fp16"};
    summary.runs = {run("FP32", "float32", 100.0, 0.9, false), run("FP16 mixed (emulated)", "float16", 50.0, 0.9, true)};
    summary.runs[1].precision.emulated = true;
    const QString computed = ComparisonView::computeVerdict(summary);
    QVERIFY2(computed.startsWith(QStringLiteral("FP16 mixed (emulated): ")), qPrintable(computed));
    QVERIFY2(computed.contains(QStringLiteral("0.50x the speed of FP32 (0.49-0.51), the cost of emulation")),
             qPrintable(computed));
    summary.verdict = "Engine verdict.";
    ComparisonView view;
    view.showComparison(summary, {history(1), history(2)});
    QCOMPARE(view.verdict(), QStringLiteral("Engine verdict."));
    const int speedRow = rowOf(view.table(), QStringLiteral("Speed-up"));
    QVERIFY(view.table()->item(speedRow, 1)->background().color().red() > 240);  // slower: worse
    QVERIFY(view.table()->item(speedRow, 1)->text().startsWith(QStringLiteral("▼ 0.50x")));  // not colour alone
  }

  void accuracyDifferencesAreCalledOnlyBeyondTheirInterval() {
    ampbench::ComparisonSummary summary;
    summary.modeNames = {"fp32", "bf16"};
    summary.runs = {run("FP32", "float32", 100.0, 0.0, false), run("BF16 mixed", "bfloat16", 100.0, 0.0, false)};
    setOutputs(summary.runs[0], baseRight);
    setOutputs(summary.runs[1], [](int) { return true; });  // 40 images gained, none lost
    ComparisonView view;
    view.showComparison(summary, {history(10), history(10)});
    const int accRow = rowOf(view.table(), QStringLiteral("Accuracy vs baseline"));
    QVERIFY(accRow >= 0);
    auto* better = view.table()->item(accRow, 1);
    QVERIFY2(better->text().startsWith(QStringLiteral("▲ +14.8 points (+")), qPrintable(better->text()));
    QVERIFY(better->text().contains(QStringLiteral("McNemar p < 0.001")));
    QVERIFY(better->background().color().green() > 200);
    QVERIFY(better->font().bold());
    QCOMPARE(view.table()->item(accRow, 0)->text(), QStringLiteral("baseline"));
    QVERIFY(!highlighted(view.table()->item(accRow, 0)));
    const int aucRow = rowOf(view.table(), QStringLiteral("AUC vs baseline"));
    QVERIFY(view.table()->item(aucRow, 1)->text().startsWith(QStringLiteral("▲ +")));
    // Same speed within the spread: the speed figures are not highlighted.
    const int speedRow = rowOf(view.table(), QStringLiteral("Speed-up"));
    QVERIFY(view.table()->item(speedRow, 1)->text().contains(QStringLiteral("no measurable difference")));
    QVERIFY(!highlighted(view.table()->item(speedRow, 1)));

    setOutputs(summary.runs[1], [](int i) { return i % 27 >= 6; });  // 20 lost
    summary.versusBaseline.clear();
    view.showComparison(summary, {history(10), history(10)});
    auto* worse = view.table()->item(accRow, 1);
    QVERIFY2(worse->text().startsWith(QStringLiteral("▼ −7.4 points (−")), qPrintable(worse->text()));
    QVERIFY(worse->background().color().red() > 240);

    // Two gained, four lost: inside the noise of 270 images.
    setOutputs(summary.runs[1], [](int i) { return i < 2 ? true : (i >= 4 && i < 8) ? false : baseRight(i); });
    summary.versusBaseline.clear();
    view.showComparison(summary, {history(10), history(10)});
    auto* none = view.table()->item(accRow, 1);
    QVERIFY2(none->text().startsWith(QStringLiteral("no measurable difference (n = 270)\n−")), qPrintable(none->text()));
    QVERIFY(none->text().contains(QStringLiteral(" points, McNemar p = 0.6")));
    QVERIFY(!highlighted(none));
    QVERIFY(!none->font().bold());
    QVERIFY(none->toolTip().contains(QStringLiteral("95 % interval")));
    QVERIFY2(view.verdict().startsWith(QStringLiteral("BF16 mixed: no measurable accuracy difference (n = 270, -")),
             qPrintable(view.verdict()));
  }

  void throughputDifferencesInsideTheSpreadAreNotHighlighted() {
    ampbench::ComparisonSummary summary;
    summary.modeNames = {"fp32", "bf16"};
    summary.runs = {run("FP32", "float32", 100.0, 0.9, false), run("BF16 mixed", "bfloat16", 104.0, 0.9, false)};
    // 4 % faster by the medians, but the epochs spread +-5 %: not measurable.
    summary.runs[1].epochSeconds = {15.0, 9.0, 9.6, 10.1};
    ComparisonView view;
    view.showComparison(summary, {history(10), history(9.6)});
    for (const char* name : {"Speed-up", "Throughput", "Median epoch time"}) {
      const int row = rowOf(view.table(), QString::fromLatin1(name));
      QVERIFY2(!highlighted(view.table()->item(row, 1)), name);
    }
    // One epoch per run: the ratio only.
    summary.runs[0].epochSeconds = {10.0};
    summary.runs[1].epochSeconds = {5.0};
    summary.versusBaseline.clear();
    view.showComparison(summary, {history(10), history(5)});
    const int speedRow = rowOf(view.table(), QStringLiteral("Speed-up"));
    QVERIFY(view.table()->item(speedRow, 1)->text().contains(QStringLiteral("one timed epoch")));
    QVERIFY(!highlighted(view.table()->item(speedRow, 1)));
  }

  void aDivergedModeShowsNoDifferenceAndReopensFromItsFile() {
    QTemporaryDir dir;
    ampbench::ComparisonSummary summary;
    summary.outDir = dir.path().toStdString();
    summary.modeNames = {"fp32", "bf16", "fp16"};
    summary.runs = {run("FP32", "float32", 100.0, 0.0, false), run("BF16 mixed", "bfloat16", 100.0, 0.0, false),
                    run("FP16 mixed", "float16", 100.0, 0.0, true)};
    setOutputs(summary.runs[0], baseRight);
    setOutputs(summary.runs[1], [](int) { return true; });
    summary.runs[2].status = ampbench::RunStatus::Diverged;
    summary.runs[2].finalVal.loss = std::nan("");
    summary.verdict = ampbench::comparisonVerdict(summary);
    ampbench::RunConfig settings;
    ampbench::writeComparison(summary, settings);
    ComparisonView view;
    QString error;
    QVERIFY2(view.openDir(dir.path(), &error), qPrintable(error));
    QCOMPARE(view.modeCount(), 3);
    const int accRow = rowOf(view.table(), QStringLiteral("Accuracy vs baseline"));
    QVERIFY(view.table()->item(accRow, 1)->text().startsWith(QStringLiteral("▲ +14.8 points")));
    QCOMPARE(view.table()->item(accRow, 2)->text(), QStringLiteral("–"));
    QVERIFY(view.table()->item(accRow, 2)->toolTip().contains(QStringLiteral("diverged")));
    QVERIFY(view.verdict().contains(QStringLiteral("FP16 mixed: diverged, not compared")));
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

  void aBoundNearZeroKeepsItsSign() {
    // An AUC interval of -0.014 .. -0.00004 excludes zero: its upper bound must not read "+0.000".
    ampbench::DiffEstimate d;
    d.value = -0.007;
    d.low = -0.014;
    d.high = -0.00004;
    d.n = 600;
    const auto cell = ampbench::ui::aucDiffCell(d);
    QVERIFY2(cell.text.contains(QStringLiteral("0.00004")), qPrintable(cell.text));
    QVERIFY2(!cell.text.contains(QStringLiteral("+0.000")), qPrintable(cell.text));
    d.high = -0.002;
    QVERIFY2(ampbench::ui::aucDiffCell(d).text.contains(QStringLiteral("0.002)")), qPrintable(ampbench::ui::aucDiffCell(d).text));
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
    QVERIFY2(error.contains(QStringLiteral("fp8")) && error.contains(QStringLiteral("fp16-noscale")), qPrintable(error));
    // Typed comparison modes, what-ifs included; an unknown one names the valid modes.
    QVERIFY2(ampbench::ui::parseScriptOptions({QStringLiteral("ampbench"), QStringLiteral("--data"), QStringLiteral("/d"),
                                               QStringLiteral("--modes"), QStringLiteral("fp32,fp16,fp16-pure"),
                                               QStringLiteral("--grad-stats"), QStringLiteral("20")},
                                              &o, &error),
             qPrintable(error));
    QVERIFY(o.modes == (std::vector<ampbench::PrecisionMode>{ampbench::PrecisionMode::Fp32, ampbench::PrecisionMode::Fp16,
                                                            ampbench::PrecisionMode::Fp16Pure}));
    QVERIFY(o.compare);
    QCOMPARE(o.gradStatsEvery, 20);
    QVERIFY(!ampbench::ui::parseScriptOptions({QStringLiteral("ampbench"), QStringLiteral("--modes"), QStringLiteral("fp32,half")},
                                              &o, &error));
    QVERIFY2(error.contains(QStringLiteral("half")) && error.contains(QStringLiteral("bf16-pure")), qPrintable(error));
    QVERIFY(!ampbench::ui::parseScriptOptions({QStringLiteral("ampbench"), QStringLiteral("--grad-stats"), QStringLiteral("-2")},
                                              &o, &error));
    QVERIFY(!ampbench::ui::parseScriptOptions({QStringLiteral("ampbench"), QStringLiteral("--start")}, &o, &error));
    QVERIFY(error.contains(QStringLiteral("--data")));
    QVERIFY(!ampbench::ui::parseScriptOptions({QStringLiteral("ampbench"), QStringLiteral("--epochs"), QStringLiteral("zero")},
                                              &o, &error));
  }
};

QTEST_MAIN(ComparisonViewTest)
#include "ComparisonViewTest.moc"
