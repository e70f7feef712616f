// The Precision tab from synthetic events: bar values, captions with the run's numbers,
// the histogram's curves, the empty state, one timeline point per overflow attribution
// and its step range following the loss-scale plot; the grad_stats.csv / overflows.csv
// reader on a hand-written run directory, malformed rows included; --open redraws the tab.

#include "ui/Log2HistogramPlot.h"
#include "ui/MainWindow.h"
#include "ui/PlotView.h"
#include "ui/PlotsPanel.h"
#include "ui/PrecisionData.h"
#include "ui/PrecisionTab.h"
#include "ui/RunFiles.h"
#include "ui/RunPanel.h"
#include "ui/TrainingController.h"
#include "UiTestUtil.h"
#include "WindowTestUtil.h"
#include "engine/train/Trainer.h"

#include <QComboBox>
#include <QDir>
#include <QFile>
#include <QTemporaryDir>
#include <QTest>

#include <cmath>
#include <limits>

using ampbench::ui::PrecisionContext;
using ampbench::ui::PrecisionTab;

namespace {

constexpr int kBin(int exponent) { return exponent - ampbench::kLog2MinExp; }

ampbench::TensorPrecisionStats gradient(const char* layer, double under, double underScaled) {
  ampbench::TensorPrecisionStats t;
  t.layer = layer;
  t.kind = "weight_grad";
  t.fp16.underflow = under;
  t.fp16Scaled.underflow = underScaled;
  t.bf16.underflow = 0.0;
  // 1000 values: `under` of them at 2^-30, the rest at 2^-10; scaled by 2^15.
  const auto low = static_cast<int64_t>(std::llround(under * 1000));
  t.unscaled.bins[kBin(-30)] = low;
  t.unscaled.bins[kBin(-10)] = 1000 - low;
  t.scaled.bins[kBin(-15)] = low;
  t.scaled.bins[kBin(5)] = 1000 - low;
  t.count = 1000;
  return t;
}

ampbench::TensorPrecisionStats update(const char* layer, double lostFp16, double lostBf16) {
  ampbench::TensorPrecisionStats t;
  t.layer = layer;
  t.kind = "update";
  t.updateLostShareFp16 = lostFp16;
  t.updateLostShareBf16 = lostBf16;
  return t;
}

ampbench::PrecisionStatsEvent sample() {
  ampbench::PrecisionStatsEvent e;
  e.epoch = 2;
  e.step = 300;
  e.lossScale = 32768;
  e.tensors.push_back(gradient("layer4.1.conv2.weight", 0.38, 0.002));
  e.tensors.push_back(update("layer4.1.conv2.weight", 0.0, 0.0));
  e.tensors.push_back(gradient("fc.weight", 0.05, 0.0));
  e.tensors.push_back(update("fc.weight", 0.12, 0.30));
  ampbench::TensorPrecisionStats act = gradient("layer4.1", 0.0, 0.0);
  act.kind = "activation_grad";
  e.tensors.push_back(act);
  return e;
}

double valueAt(QCPGraph* g, double key) {
  for (int i = 0; i < g->dataCount(); ++i) {
    if (g->data()->at(i)->key == key) {
      return g->data()->at(i)->value;
    }
  }
  return std::numeric_limits<double>::quiet_NaN();
}

double barAt(QCPBars* bars, double key) {
  auto it = bars->data()->findBegin(key, false);
  return it != bars->data()->constEnd() && it->key == key ? it->value : std::numeric_limits<double>::quiet_NaN();
}

void write(const QString& path, const QByteArray& text) {
  QFile f(path);
  QVERIFY(f.open(QIODevice::WriteOnly | QIODevice::Truncate));
  f.write(text);
}

ampbench::OverflowAttribution overflowAt(int64_t step, const char* layer, const char* kind) {
  ampbench::OverflowAttribution a;
  a.step = step;
  a.layer = layer;
  a.kind = kind;
  a.value = std::numeric_limits<double>::infinity();
  return a;
}

}  // namespace

class PrecisionTabTest : public QObject {
  Q_OBJECT

 private Q_SLOTS:
  void initTestCase() { ampbench::uitest::isolateSettings(QStringLiteral("AmpBenchPrecisionTabTest")); }

  void withoutStatisticsItSaysHowToTurnThemOn() {
    PrecisionTab tab;
    tab.flush();
    QVERIFY(tab.showsEmptyState());
    QVERIFY(!tab.hasStatistics());
    QVERIFY(tab.emptyStateText().contains(QStringLiteral("Precision statistics")));
    QVERIFY(tab.emptyStateText().contains(QStringLiteral("Advanced")));
    QVERIFY(tab.emptyStateText().contains(QStringLiteral("grad_stats.csv")));
    // An event without tensors is no statistics either.
    tab.addStats(ampbench::PrecisionStatsEvent{});
    tab.flush();
    QVERIFY(tab.showsEmptyState());
    tab.addStats(sample());
    tab.flush();
    QVERIFY(!tab.showsEmptyState());
    tab.clear();
    tab.flush();
    QVERIFY(tab.showsEmptyState());
  }

  void aSampleFillsBarsHistogramAndCaptions() {
    PrecisionTab tab;
    tab.setContext(PrecisionContext{false, true});
    tab.addStats(sample());
    tab.flush();
    QVERIFY(!tab.showsEmptyState());
    // Combo: all layers, then the three gradient tensors in network order.
    QCOMPARE(tab.layerCombo()->count(), 4);
    QCOMPARE(tab.layerCombo()->itemText(1), QStringLiteral("layer4.1.conv2.weight"));
    QCOMPARE(tab.layerCombo()->itemText(3), QStringLiteral("layer4.1 (activation gradient)"));

    // Bars: one group per layer with a weight (gradient or update), network order.
    QCOMPARE(tab.underflowBars()->dataCount(), 2);
    QCOMPARE(barAt(tab.underflowBars(), 1), 38.0);
    QCOMPARE(barAt(tab.underflowScaledBars(), 1), 0.2);
    QCOMPARE(barAt(tab.underflowBars(), 2), 5.0);
    QCOMPARE(barAt(tab.lostUpdateBars(), 1), 0.0);
    QCOMPARE(barAt(tab.lostUpdateBars(), 2), 12.0);  // FP16's share in an FP16 run
    QVERIFY(tab.layersCaption().contains(
        QStringLiteral("12 % of this step's updates to fc are smaller than half an FP16 ulp of their weights: pure "
                       "FP16 weights would drop them. Fix: FP32 master weights.")));
    QVERIFY2(tab.layersCaption().contains(QStringLiteral("38 % of layer4.1.conv2's gradients would be zero in FP16, 0.2 %")),
             qPrintable(tab.layersCaption()));

    // Histogram of one layer: percent of its values per bin, unscaled and scaled.
    tab.layerCombo()->setCurrentIndex(1);
    auto* h = tab.histogramPlot();
    QCOMPARE(h->unscaledGraph()->dataCount(), ampbench::kLog2BinCount + 1);
    QCOMPARE(valueAt(h->unscaledGraph(), -30), 38.0);
    QCOMPARE(valueAt(h->unscaledGraph(), -10), 62.0);
    QCOMPARE(valueAt(h->unscaledGraph(), -20), 0.0);
    QCOMPARE(valueAt(h->scaledGraph(), -15), 38.0);
    QCOMPARE(valueAt(h->scaledGraph(), 5), 62.0);
    QVERIFY(h->scaledGraph()->visible());
    QVERIFY(!h->bf16RangeVisible());
    QCOMPARE(h->xAxis->range().lower, double(ampbench::kLog2MinExp));
    QCOMPARE(h->xAxis->range().upper, double(ampbench::kLog2MaxExp));
    QVERIFY2(tab.histogramCaption().startsWith(
                 QStringLiteral("At step 300, 38 % of layer4.1.conv2's gradients would be zero in FP16; the loss scale "
                                "2^15 brings that to 0.2 %. Fix: dynamic loss scaling.")),
             qPrintable(tab.histogramCaption()));

    // All layers: the two weight gradients summed (not the activation gradient).
    tab.layerCombo()->setCurrentIndex(0);
    QCOMPARE(valueAt(h->unscaledGraph(), -30), (380.0 + 50.0) / 2000.0 * 100.0);
    QVERIFY2(tab.histogramCaption().contains(QStringLiteral("22 % of all layers' gradients")), qPrintable(tab.histogramCaption()));

    // A newer sample replaces the view (live: the latest sampled step) and keeps the choice.
    tab.layerCombo()->setCurrentIndex(2);
    ampbench::PrecisionStatsEvent next = sample();
    next.step = 400;
    next.tensors[2] = gradient("fc.weight", 0.5, 0.01);
    tab.addStats(next);
    tab.flush();
    QCOMPARE(tab.layerCombo()->currentText(), QStringLiteral("fc.weight"));
    QCOMPARE(valueAt(h->unscaledGraph(), -30), 50.0);
    QVERIFY(tab.histogramCaption().startsWith(QStringLiteral("At step 400, 50 % of fc's gradients")));
  }

  void aBf16RunShadesBf16AndCountsBf16LostUpdates() {
    PrecisionTab tab;
    tab.setContext(PrecisionContext{true, false});
    ampbench::PrecisionStatsEvent e = sample();
    e.lossScale = 1.0;  // BF16: no loss scaling
    tab.addStats(e);
    tab.flush();
    QVERIFY(tab.histogramPlot()->bf16RangeVisible());
    QVERIFY(!tab.histogramPlot()->scaledGraph()->visible());
    QCOMPARE(barAt(tab.lostUpdateBars(), 2), 30.0);
    QVERIFY2(tab.layersCaption().contains(QStringLiteral("30 % of this step's updates to fc are smaller than half a BF16 ulp "
                                                         "of their weights: pure BF16 weights would drop them.")),
             qPrintable(tab.layersCaption()));
    // BF16 is the answer here, not loss scaling.
    QVERIFY2(tab.histogramCaption().contains(QStringLiteral("would be zero in FP16, 0 % in BF16, which this run uses")),
             qPrintable(tab.histogramCaption()));
    QVERIFY(tab.histogramCaption().contains(QStringLiteral("2^-126")));
    QVERIFY(!tab.histogramCaption().contains(QStringLiteral("Fix: dynamic loss scaling")));
    QVERIFY(tab.layersCaption().contains(QStringLiteral("would be zero in FP16 (not in this BF16 run)")));
    QCOMPARE(tab.underflowScaledBars()->barsGroup(), nullptr);  // unscaled and lost bars side by side
  }

  void theOverflowTimelineHasAPointPerAttribution() {
    PrecisionTab tab;
    tab.setContext(PrecisionContext{false, true});
    tab.flush();
    QVERIFY(tab.overflowCaption().startsWith(QStringLiteral("No overflow so far")));
    tab.addStats(sample());
    tab.addOverflow(overflowAt(120, "layer4.1.conv2.weight", "weight_grad"));
    tab.addOverflow(overflowAt(812, "layer3.0", "activation_grad"));
    tab.addOverflow(overflowAt(812, "layer1.0", "activation"));  // same step: both kept
    tab.flush();
    QCOMPARE(tab.overflowGraph()->dataCount(), 3);
    // y is the layer's place in the network; a block sits at its first parameter.
    QCOMPARE(tab.overflowGraph()->data()->at(0)->value, 0.0);
    QVERIFY(tab.overflowCaption().startsWith(
        QStringLiteral("At step 812 layer1.0's forward output overflowed first; the step was skipped and the scale halved. "
                       "Fix: skip and back off.")));
    QVERIFY(tab.overflowCaption().contains(QStringLiteral("2 steps overflowed so far")));

    tab.setStepRange(QCPRange(0, 1000));
    tab.flush();
    QCOMPARE(tab.overflowPlot()->xAxis->range().lower, 0.0);
    QCOMPARE(tab.overflowPlot()->xAxis->range().upper, 1000.0);

    // Overflows alone (no statistics sampled) still show the tab.
    PrecisionTab only;
    only.addOverflow(overflowAt(5, "conv1.weight", "weight_grad"));
    only.flush();
    QVERIFY(!only.showsEmptyState());
    QCOMPARE(only.overflowGraph()->dataCount(), 1);
  }

  void captionHelpersSayPercentagesPlainly() {
    using ampbench::ui::sharePercent;
    QCOMPARE(sharePercent(0.0), QStringLiteral("0 %"));
    QCOMPARE(sharePercent(0.38), QStringLiteral("38 %"));
    QCOMPARE(sharePercent(0.002), QStringLiteral("0.2 %"));
    QCOMPARE(sharePercent(0.0123), QStringLiteral("1.2 %"));
    QCOMPARE(sharePercent(1.0), QStringLiteral("100 %"));
    QCOMPARE(sharePercent(1e-9), QStringLiteral("< 0.001 %"));
    QCOMPARE(sharePercent(std::numeric_limits<double>::quiet_NaN()), QStringLiteral("–"));
    // FP16 without a scaler: the fix is to turn one on.
    const QString unscaled = ampbench::ui::captions::histogram(gradient("fc.weight", 0.5, 0.5), QStringLiteral("fc.weight"),
                                                               9, 1.0, PrecisionContext{});
    QVERIFY2(unscaled.contains(QStringLiteral("this run does not scale the loss. Fix: dynamic loss scaling")),
             qPrintable(unscaled));
    // Nothing to fix: the caption says the gradients fit.
    ampbench::TensorPrecisionStats fine = gradient("conv1.weight", 0.0, 0.0);
    fine.fp16.subnormal = 0.04;
    const QString text = ampbench::ui::captions::histogram(fine, QStringLiteral("conv1.weight"), 7, 1.0, PrecisionContext{});
    QVERIFY2(text.startsWith(QStringLiteral("At step 7, conv1's gradients fit FP16: 0 % would be zero, 4 % subnormal")),
             qPrintable(text));
    // Overflow without a loss scaler: nothing skips the step.
    const QString o = ampbench::ui::captions::overflows({overflowAt(3, "fc.weight", "weight_grad")}, PrecisionContext{});
    QVERIFY(o.contains(QStringLiteral("without a loss scaler")));
    // A layer that is not in the sample: no bars, no crash.
    QVERIFY(ampbench::ui::layerBars(ampbench::PrecisionStatsEvent{}, false).isEmpty());
    QCOMPARE(ampbench::ui::allLayers(ampbench::PrecisionStatsEvent{}).count, int64_t{0});
  }

  void theReaderRebuildsEventsAndSkipsMalformedRows() {
    QTemporaryDir dir;
    const QDir d(dir.path());
    write(d.filePath(QStringLiteral("steps.csv")),
          "epoch,step,loss,lr,loss_scale,overflow,skipped,images_per_s\n"
          "1,1,0.7,0.1,65536,false,false,10\n"
          "1,10,0.6,0.1,32768,true,true,10\n"
          "2,20,0.5,0.1,16384,false,false,10\n");
    write(d.filePath(QStringLiteral("grad_stats.csv")),
          "step,layer,kind,statistic,value\n"
          "10,conv1.weight,weight_grad,fp16_underflow_share,0.25\n"
          "10,conv1.weight,weight_grad,fp16_underflow_share_scaled,0.001\n"
          "10,conv1.weight,weight_grad,bf16_subnormal_share,0.0\n"
          "10,conv1.weight,weight_grad,zero_share,0.1\n"
          "10,conv1.weight,weight_grad,log2_bin_-30,25\n"
          "10,conv1.weight,weight_grad,log2_bin_-5,65\n"
          "10,conv1.weight,weight_grad,log2_bin_-15_scaled,25\n"
          "10,conv1.weight,weight_grad,log2_bin_below,2\n"
          "10,conv1.weight,weight_grad,log2_bin_above_scaled,1\n"
          "10,conv1.weight,weight_grad,zero_count,10\n"
          "10,conv1.weight,weight_grad,nan_count,0\n"
          "10,conv1.weight,update,update_lost_share_fp16,0.12\n"
          "10,conv1.weight,update,update_lost_share_bf16,0.5\n"
          "10,fc.weight,weight_grad,fp16_overflow_share_scaled,0.01\n"
          "\n"
          "10,fc.weight,weight_grad,fp16_underflow_share\n"           // 4 cells
          "ten,fc.weight,weight_grad,fp16_underflow_share,0.1\n"      // step not a number
          "-3,fc.weight,weight_grad,fp16_underflow_share,0.1\n"       // negative step
          "10,fc.weight,weight_grad,fp16_made_up_share,0.1\n"         // unknown statistic
          "10,fc.weight,weight_grad,fp16_underflow_share,1.5\n"       // a share above 1
          "10,fc.weight,weight_grad,fp16_underflow_share,nan\n"       // a NaN share
          "10,fc.weight,weight_grad,log2_bin_20,4\n"                  // off the axis
          "10,fc.weight,weight_grad,log2_bin_x,4\n"                   // not a bin
          "10,fc.weight,weight_grad,zero_count,-1\n"                  // negative count
          "10,fc.weight,weight_grad,zero_share_scaled,0.1\n"          // no scaled variant
          "10,,weight_grad,zero_share,0.1\n"                          // no layer
          "25,fc.weight,weight_grad,fp16_underflow_share,0.5\n");
    write(d.filePath(QStringLiteral("overflows.csv")),
          "step,layer,kind,value\n"
          "10,layer3.0,activation_grad,inf\n"
          "4,fc.weight,weight_grad,nan\n"
          "x,fc.weight,weight_grad,inf\n"
          "7,fc.weight,weight_grad\n");
    const ampbench::ui::RunHistory run = ampbench::ui::loadRunHistory(dir.path());
    QVERIFY(run.isValid());
    const ampbench::ui::PrecisionHistory h = ampbench::ui::loadPrecisionHistory(run);
    QVERIFY(h.haveStats && h.haveOverflows);
    QCOMPARE(h.skippedRows, 11 + 2);
    QCOMPARE(h.samples.size(), 2);
    const ampbench::PrecisionStatsEvent& e = h.samples[0];
    QCOMPARE(e.step, int64_t{10});
    QCOMPARE(e.epoch, int64_t{1});
    QCOMPARE(e.lossScale, 32768.0);
    QCOMPARE(h.samples[1].lossScale, 16384.0);  // step 25: the last steps.csv row before it
    QCOMPARE(e.tensors.size(), size_t{3});       // file order: conv1 grad, conv1 update, fc grad
    const auto& g = e.tensors[0];
    QCOMPARE(g.layer, std::string("conv1.weight"));
    QCOMPARE(g.kind, std::string("weight_grad"));
    QCOMPARE(g.fp16.underflow, 0.25);
    QCOMPARE(g.fp16Scaled.underflow, 0.001);
    QCOMPARE(g.zeroShare, 0.1);
    QCOMPARE(g.unscaled.bins[kBin(-30)], int64_t{25});
    QCOMPARE(g.unscaled.bins[kBin(-5)], int64_t{65});
    QCOMPARE(g.scaled.bins[kBin(-15)], int64_t{25});
    QCOMPARE(g.unscaled.below, int64_t{2});
    QCOMPARE(g.scaled.above, int64_t{1});
    QCOMPARE(g.unscaled.zeros, int64_t{10});
    QCOMPARE(g.count, int64_t{25 + 65 + 2 + 10});
    QCOMPARE(e.tensors[1].kind, std::string("update"));
    QCOMPARE(e.tensors[1].updateLostShareFp16, 0.12);
    QCOMPARE(e.tensors[1].updateLostShareBf16, 0.5);
    QCOMPARE(e.tensors[2].fp16Scaled.overflow, 0.01);
    QCOMPARE(e.tensors[2].fp16.underflow, 0.0);  // every bad fc row was skipped
    QCOMPARE(e.tensors[2].unscaled.zeros, int64_t{0});
    QCOMPARE(h.overflows.size(), 2);
    QCOMPARE(h.overflows[0].step, int64_t{4});  // by step
    QVERIFY(std::isnan(h.overflows[0].value));
    QVERIFY(std::isinf(h.overflows[1].value));
    QCOMPARE(h.overflows[1].kind, std::string("activation_grad"));

    // No files: nothing, no error; a file of garbage: rows skipped, no crash.
    QTemporaryDir none;
    const auto missing = ampbench::ui::readPrecisionFiles(QDir(none.path()).filePath(QStringLiteral("grad_stats.csv")),
                                                          QDir(none.path()).filePath(QStringLiteral("overflows.csv")), {});
    QVERIFY(!missing.haveStats && !missing.haveOverflows && missing.samples.isEmpty());
    write(QDir(none.path()).filePath(QStringLiteral("grad_stats.csv")), QByteArray("\x01\x02,,,\n\xff\xfe garbage\n", 17));
    const auto garbage = ampbench::ui::readPrecisionFiles(QDir(none.path()).filePath(QStringLiteral("grad_stats.csv")),
                                                          QDir(none.path()).filePath(QStringLiteral("none.csv")), {});
    QVERIFY(garbage.samples.isEmpty());
    QVERIFY(garbage.skippedRows >= 2);
  }

  void openingARunDirectoryRedrawsTheTabAndItFollowsTheLossScalePlot() {
    QTemporaryDir dir;
    const QDir d(dir.path());
    write(d.filePath(QStringLiteral("steps.csv")),
          "epoch,step,loss,lr,loss_scale,overflow,skipped,images_per_s\n1,1,0.7,0.1,65536,false,false,10\n"
          "1,50,0.6,0.1,32768,true,true,10\n1,100,0.5,0.1,32768,false,false,10\n");
    write(d.filePath(QStringLiteral("grad_stats.csv")),
          "step,layer,kind,statistic,value\n50,conv1.weight,weight_grad,fp16_underflow_share,0.3\n"
          "50,conv1.weight,weight_grad,log2_bin_-30,3\n50,conv1.weight,weight_grad,log2_bin_-3,7\n");
    write(d.filePath(QStringLiteral("overflows.csv")), "step,layer,kind,value\n50,conv1.weight,weight_grad,inf\n");
    ampbench::ui::MainWindow window;
    window.setConfirmClose(false);
    QVERIFY(window.precisionTab()->showsEmptyState());
    QVERIFY(ampbench::uitest::openAndWait(window, dir.path()));
    auto* tab = window.precisionTab();
    tab->flush();
    QVERIFY(tab->hasStatistics());
    QCOMPARE(tab->latest().step, int64_t{50});
    QCOMPARE(tab->overflowGraph()->dataCount(), 1);
    QVERIFY(tab->histogramCaption().contains(QStringLiteral("30 %")));
    window.plotsPanel()->flush();
    const QCPRange scale = window.plotsPanel()->scalePlot()->xAxis->range();
    QCOMPARE(tab->overflowPlot()->xAxis->range().lower, scale.lower);
    QCOMPARE(tab->overflowPlot()->xAxis->range().upper, scale.upper);
    window.plotsPanel()->scalePlot()->xAxis->setRange(20, 80);
    QCOMPARE(tab->overflowPlot()->xAxis->range().lower, 20.0);
    QCOMPARE(tab->overflowPlot()->xAxis->range().upper, 80.0);
    window.showView(ampbench::ui::RunView::Precision);
    QVERIFY(window.currentView() == ampbench::ui::RunView::Precision);

    // Live: the controller's signals reach the tab.
    Q_EMIT window.controller()->precisionStats(sample());
    Q_EMIT window.controller()->overflowAttributed(overflowAt(60, "fc.weight", "weight_grad"));
    tab->flush();
    QCOMPARE(tab->latest().step, int64_t{300});
    QCOMPARE(tab->overflowGraph()->dataCount(), 2);
  }

  void aRealTinyRunRendersInTheTab() {
    // The engine's own output, not synthetic events: a tiny FP16 run whose first steps
    // overflow (a loss scale of 2^140), with statistics every 2 steps, reopened from its files.
    QTemporaryDir dir;
    ampbench::RunConfig c;
    c.dataPath = "synthetic:96";
    c.imageSize = 16;
    c.batchSize = 16;
    c.epochs = 1;
    c.threads = 2;
    c.precision = ampbench::PrecisionMode::Fp16;
    c.scaler.initScale = std::ldexp(1.0, 140);
    c.gradStatsEvery = 2;
    c.outDir = QDir(dir.path()).filePath(QStringLiteral("run")).toStdString();
    ampbench::RunObserver quiet;
    const auto summary = ampbench::runTraining(c, quiet, ampbench::CancelToken{});
    QVERIFY(summary.status == ampbench::RunStatus::Finished);
    QVERIFY(summary.overflowSteps > 0);
    ampbench::ui::MainWindow window;
    window.setConfirmClose(false);
    QVERIFY(ampbench::uitest::openAndWait(window, QString::fromStdString(c.outDir)));
    // The run panel shows the reopened run's settings, not the last ones it held.
    QCOMPARE(window.runPanel()->config().imageSize, int64_t{16});
    QVERIFY(window.runPanel()->config().precision == ampbench::PrecisionMode::Fp16);
    auto* tab = window.precisionTab();
    tab->flush();
    QVERIFY(tab->hasStatistics());
    QVERIFY(!tab->showsEmptyState());
    QCOMPARE(tab->latest().step % 2, int64_t{0});
    QCOMPARE(tab->overflowGraph()->dataCount(), static_cast<int>(summary.overflowSteps));
    QVERIFY(tab->underflowBars()->dataCount() >= 5);  // small_cnn: conv1..conv4 and fc at least
    // Its caption speaks of the latest sample (a skipped step here: no updates to judge).
    QVERIFY2(tab->layersCaption().contains(QStringLiteral("step %1").arg(tab->latest().step)), qPrintable(tab->layersCaption()));
    QVERIFY2(tab->histogramCaption().contains(QStringLiteral("At step")), qPrintable(tab->histogramCaption()));
  }
};

QTEST_MAIN(PrecisionTabTest)
#include "PrecisionTabTest.moc"
