// The live plots: events fill the four plots with the right number of points, a long
// synthetic run (50k steps) keeps replots rate-limited and buffers bounded, and a run
// reopened from steps.csv / epochs.csv draws the same plots.

#include "ui/PlotView.h"
#include "ui/PlotsPanel.h"
#include "ui/RunFiles.h"
#include "ui/SeriesBuffer.h"

#include <QElapsedTimer>
#include <QFile>
#include <QFileInfo>
#include <QTemporaryDir>
#include <QTest>

#include <cmath>
#include <limits>

using ampbench::ui::PlotsPanel;
using ampbench::ui::SeriesBuffer;

namespace {

ampbench::StepEvent step(int64_t global, int64_t epoch, int64_t perEpoch, double scale, bool overflow) {
  ampbench::StepEvent s;
  s.step = global;
  s.epoch = epoch;
  s.stepInEpoch = (global - 1) % perEpoch + 1;
  s.stepsPerEpoch = perEpoch;
  s.loss = 1.0 / static_cast<double>(global);
  s.lossScale = scale;
  s.overflow = overflow;
  s.skipped = overflow;
  s.imagesPerSecond = 500.0;
  s.elapsedSeconds = global * 0.01;
  return s;
}

ampbench::EpochEvent epoch(int64_t e, int64_t epochs) {
  ampbench::EpochEvent ev;
  ev.epoch = e;
  ev.epochs = epochs;
  ev.trainLoss = 0.5 / e;
  ev.trainAccuracy = 0.7 + 0.05 * e;
  ev.validated = true;
  ev.val.loss = 0.6 / e;
  ev.val.accuracy = 0.65 + 0.05 * e;
  ev.val.auc = 0.8 + 0.03 * e;
  ev.epochSeconds = 2.0 + e;
  ev.imagesPerSecond = 400.0 + e;
  return ev;
}

int points(QCustomPlot* plot, int plottable) { return plot->plottable(plottable)->interface1D()->dataCount(); }

// The panel shown, with a run of `totalSteps` steps (1,000 an epoch, loss scaling on) started
// and drawn; false if the window never got exposed.
bool showWithRun(PlotsPanel& panel, int64_t totalSteps) {
  panel.resize(1000, 700);
  panel.show();
  if (!QTest::qWaitForWindowExposed(&panel)) {
    return false;
  }
  ampbench::RunStartedEvent start;
  start.stepsPerEpoch = 1000;
  start.totalSteps = totalSteps;
  start.precision.lossScaling = true;
  panel.startRun(start);
  panel.flush();
  return true;
}

}  // namespace

class PlotsPanelTest : public QObject {
  Q_OBJECT

 private Q_SLOTS:
  void seriesBufferStaysBoundedAndKeepsTheNewestPoints() {
    SeriesBuffer buffer(1000, SeriesBuffer::Decimation::Average);
    for (int i = 1; i <= 100000; ++i) {
      buffer.append(i, i);
    }
    QVERIFY(buffer.size() <= 1000);
    QCOMPARE(buffer.appended(), 100000LL);
    QCOMPARE(buffer.keys().back(), 100000.0);
    // The newest half is exact; the start of the run is still there, thinned.
    QCOMPARE(buffer.keys()[buffer.size() - 500], 99501.0);
    QVERIFY(buffer.keys().front() < buffer.stride());
    QVERIFY(buffer.stride() >= 128);
    for (int i = 1; i < buffer.size(); ++i) {
      QVERIFY(buffer.keys()[i] > buffer.keys()[i - 1]);
    }
  }

  // The running rate's gap markers (NaN between epochs) survive decimation: a run of many
  // epochs must not have its line joined across epoch breaks once the buffer thins it.
  void keepDecimationKeepsEveryGapMarker() {
    SeriesBuffer buffer(1000, SeriesBuffer::Decimation::Keep);
    constexpr int kEpochs = 40;
    constexpr int kPerEpoch = 147;  // PneumoniaMNIST's steps per epoch at batch 32
    for (int e = 1; e <= kEpochs; ++e) {
      if (e > 1) {
        buffer.append(e - 0.5, std::numeric_limits<double>::quiet_NaN());
      }
      for (int i = 1; i <= kPerEpoch; ++i) {
        buffer.append(e - 0.5 + static_cast<double>(i) / kPerEpoch, 1000.0 + i);
      }
    }
    QVERIFY(buffer.stride() > 1);  // decimated
    int gaps = 0;
    bool previousWasGap = true;
    for (double v : buffer.values()) {
      const bool gap = std::isnan(v);
      QVERIFY(!(gap && previousWasGap));  // values remain between any two markers
      gaps += gap ? 1 : 0;
      previousWasGap = gap;
    }
    QCOMPARE(gaps, kEpochs - 1);
    QVERIFY(buffer.size() <= 1000);
  }

  void eventsFillAllFourPlots() {
    PlotsPanel panel;
    panel.resize(1000, 700);
    panel.show();
    constexpr int kEpochs = 3;
    constexpr int kPerEpoch = 10;
    ampbench::RunStartedEvent start;
    start.stepsPerEpoch = kPerEpoch;
    start.totalSteps = kEpochs * kPerEpoch;
    start.config.epochs = kEpochs;
    start.precision.lossScaling = true;
    start.precision.label = "FP16 mixed (emulated)";
    panel.startRun(start);
    int overflows = 0;
    for (int e = 1; e <= kEpochs; ++e) {
      for (int i = 1; i <= kPerEpoch; ++i) {
        const int64_t g = (e - 1) * kPerEpoch + i;
        const bool overflow = g % 7 == 0;
        overflows += overflow ? 1 : 0;
        panel.addStep(step(g, e, kPerEpoch, 65536.0 / (1 << (g / 7)), overflow));
      }
      panel.addEpoch(epoch(e, kEpochs));
    }
    panel.flush();
    QCOMPARE(points(panel.lossPlot(), 0), kEpochs * kPerEpoch);  // train loss per step
    QCOMPARE(points(panel.lossPlot(), 1), kEpochs);              // train loss per epoch
    QCOMPARE(points(panel.lossPlot(), 2), kEpochs);              // validation loss
    QCOMPARE(points(panel.accuracyPlot(), 0), kEpochs);
    QCOMPARE(points(panel.accuracyPlot(), 1), kEpochs);
    QCOMPARE(points(panel.accuracyPlot(), 2), kEpochs);          // AUC
    QCOMPARE(points(panel.timePlot(), 0), kEpochs);              // bars
    QCOMPARE(points(panel.timePlot(), 1), kEpochs);              // images/s per epoch
    // The running images/s: every step from the first, with a gap (a NaN point) between
    // epochs instead of a line joining one epoch's end to the next one's start (issue 16).
    QCOMPARE(points(panel.timePlot(), 2), kEpochs * kPerEpoch + kEpochs - 1);
    const auto live = panel.timePlot()->graph(1)->data();
    QCOMPARE(live->at(0)->key, 0.5 + 1.0 / kPerEpoch);
    QVERIFY(std::isnan(live->at(kPerEpoch)->value));
    QCOMPARE(live->at(kPerEpoch)->key, 1.5);
    QCOMPARE(live->at(kPerEpoch + 1)->value, 500.0);
    QVERIFY(!panel.timePlot()->graph(1)->adaptiveSampling());  // its sampler would drop the NaN points
    QVERIFY(points(panel.scalePlot(), 0) >= 2);                  // scale line (change points)
    QCOMPARE(points(panel.scalePlot(), 1), overflows);           // overflow markers
    QCOMPARE(panel.scalePlot()->yAxis->scaleType(), QCPAxis::stLogarithmic);
    // Axes fit the data, however often the view is refitted (a shared axis must not grow
    // by its headroom on every update): throughput axis in the data's order of magnitude.
    for (int i = 0; i < 30; ++i) {
      panel.addEpoch(epoch(kEpochs, kEpochs));
      panel.flush();
    }
    QVERIFY2(panel.timePlot()->yAxis2->range().upper < 2000.0,
             qPrintable(QString::number(panel.timePlot()->yAxis2->range().upper)));
    QVERIFY(panel.timePlot()->yAxis2->range().upper > 500.0);
    // Epoch values sit at the epoch's last step.
    QCOMPARE(panel.lossPlot()->graph(1)->data()->at(0)->key, static_cast<double>(kPerEpoch));
  }

  void fiftyThousandStepsKeepReplotsBounded() {
    PlotsPanel panel;
    QVERIFY(showWithRun(panel, 50000));
    QTest::qWait(30);  // queued replots of the reset views land before counting
    const int replotsBefore = panel.replotCount();
    const int updatesBefore = panel.updateCount();
    QElapsedTimer clock;
    clock.start();
    double scale = 65536.0;
    // 50k steps delivered over about two seconds, as a fast engine would.
    for (int64_t g = 1; g <= 50000; ++g) {
      const bool overflow = g % 997 == 0;
      if (overflow) {
        scale /= 2;
      }
      panel.addStep(step(g, (g - 1) / 1000 + 1, 1000, scale, overflow));
      if (g % 1000 == 0) {
        panel.addEpoch(epoch(g / 1000, 50));
      }
      if (g % 250 == 0) {
        while (clock.elapsed() < g / 25) {
          QCoreApplication::processEvents(QEventLoop::AllEvents, 2);
        }
      }
    }
    // The last update lands, with the newest point the last step: without a further delivery,
    // the fallback timer fires up to 1.5 intervals after the previous update.
    const auto lastLossKey = [&panel] {
      const auto* loss = panel.lossPlot()->graph(0)->data().data();
      return loss->isEmpty() ? 0.0 : loss->at(loss->size() - 1)->key;
    };
    QTRY_COMPARE_WITH_TIMEOUT(lastLossKey(), 50000.0, 10 * PlotsPanel::kMaxReplotIntervalMs);
    const double seconds = clock.elapsed() / 1000.0;
    const int updates = panel.updateCount() - updatesBefore;
    const int replots = panel.replotCount() - replotsBefore;
    qInfo("50k steps in %.2f s: %d updates, %d plot replots", seconds, updates, replots);
    // At most one update per kMinReplotIntervalMs (+ slack for the timer's edges), each
    // replotting <= 4 plots.
    QVERIFY2(updates <= seconds * 1000.0 / PlotsPanel::kMinReplotIntervalMs + 3,
             qPrintable(QStringLiteral("%1 updates in %2 s").arg(updates).arg(seconds)));
    QVERIFY(replots <= 4 * (updates + 1));
    QVERIFY(updates >= 1);
    // Memory bounded: every step series at most its capacity.
    QVERIFY(points(panel.lossPlot(), 0) <= PlotsPanel::kStepPointCapacity);
    QVERIFY(panel.bufferedStepPoints() <= 5 * PlotsPanel::kStepPointCapacity);
    QCOMPARE(points(panel.timePlot(), 0), 50);
  }

  // An update follows a step delivery in the same pass of the event loop when the last update
  // was an interval ago (no timer wake-up of its own); steps inside the interval wait for the
  // timer; a hidden panel takes the data but draws nothing until it is shown again.
  void updatesFollowDeliveriesAndAHiddenPanelDoesNotDraw() {
    PlotsPanel panel;
    QVERIFY(showWithRun(panel, 1000));
    QTest::qWait(panel.updateIntervalMs() + 50);  // the last update is an interval ago

    int updates = panel.updateCount();
    int replots = panel.replotCount();
    for (int64_t g = 1; g <= 30; ++g) {  // one delivery: a batch of steps
      panel.addStep(step(g, 1, 1000, 65536.0, false));
    }
    QCoreApplication::processEvents();  // one pass: no timer can have fired
    QCOMPARE(panel.updateCount(), updates + 1);
    QVERIFY(panel.replotCount() > replots);
    QCOMPARE(points(panel.lossPlot(), 0), 30);

    // The next delivery, inside the interval: data held, drawn by the timer an interval later.
    updates = panel.updateCount();
    panel.addStep(step(31, 1, 1000, 65536.0, false));
    QCoreApplication::processEvents();
    QCOMPARE(panel.updateCount(), updates);
    QCOMPARE(points(panel.lossPlot(), 0), 30);
    QTRY_COMPARE_WITH_TIMEOUT(panel.updateCount(), updates + 1, 10 * PlotsPanel::kMaxReplotIntervalMs);
    QCOMPARE(points(panel.lossPlot(), 0), 31);

    // Hidden (another tab in front): the data goes into the plots, no replot is drawn...
    panel.hide();
    QTest::qWait(panel.updateIntervalMs() + 50);
    updates = panel.updateCount();
    replots = panel.replotCount();
    panel.addStep(step(32, 1, 1000, 65536.0, false));
    QTRY_COMPARE_WITH_TIMEOUT(panel.updateCount(), updates + 1, 10 * PlotsPanel::kMaxReplotIntervalMs);
    QCOMPARE(points(panel.lossPlot(), 0), 32);
    QCOMPARE(panel.replotCount(), replots);
    // ...until it is shown: then the changed plots are drawn at once.
    panel.show();
    QVERIFY(QTest::qWaitForWindowExposed(&panel));
    QVERIFY(panel.replotCount() > replots);
  }

  void reopenedRunIsDrawnFromItsCsvFiles() {
    QTemporaryDir dir;
    QVERIFY(dir.isValid());
    {
      QFile steps(dir.filePath(QStringLiteral("steps.csv")));
      QVERIFY(steps.open(QIODevice::WriteOnly));
      steps.write("epoch,step,loss,lr,loss_scale,overflow,skipped,images_per_s\n");
      for (int g = 1; g <= 20; ++g) {
        const bool overflow = g == 5 || g == 12;
        steps.write(QStringLiteral("%1,%2,%3,0.01,%4,%5,%5,300\n")
                        .arg((g - 1) / 10 + 1)
                        .arg(g)
                        .arg(1.0 / g)
                        .arg(g < 5 ? 65536 : 32768)
                        .arg(overflow ? 1 : 0)
                        .toUtf8());
      }
      QFile epochs(dir.filePath(QStringLiteral("epochs.csv")));
      QVERIFY(epochs.open(QIODevice::WriteOnly));
      epochs.write("epoch,train_loss,train_acc,val_loss,val_acc,val_auc,epoch_seconds,images_per_s,overflow_steps,"
                   "loss_scale,peak_rss_mb\n"
                   "1,0.6,0.7,0.55,0.72,0.8,3.5,290,1,32768,400\n"
                   "2,0.4,0.8,0.45,0.81,0.88,3.1,310,1,32768,401\n");
    }
    const auto history = ampbench::ui::loadRunHistory(dir.path());
    QVERIFY(history.isValid());
    QCOMPARE(history.steps.size(), 20);
    QCOMPARE(history.epochs.size(), 2);
    QCOMPARE(history.epochs[1].val.auc, 0.88);
    QVERIFY(history.steps[4].overflow && history.steps[4].skipped);
    PlotsPanel panel;
    panel.showHistory(history, QStringLiteral("reopened"));
    QCOMPARE(points(panel.lossPlot(), 0), 20);
    QCOMPARE(points(panel.accuracyPlot(), 1), 2);
    QCOMPARE(points(panel.timePlot(), 0), 2);
    QCOMPARE(points(panel.scalePlot(), 1), 2);
    QCOMPARE(panel.lossPlot()->graph(2)->data()->at(1)->key, 20.0);  // val loss at epoch 2's last step
  }

  void emptyDirectoryIsNotARun() {
    QTemporaryDir dir;
    const auto history = ampbench::ui::loadRunHistory(dir.path());
    QVERIFY(!history.isValid());
    QVERIFY(history.error.contains(QStringLiteral("steps.csv")));
  }

  void plotsSaveAsPngSvgAndPdf() {
    PlotsPanel panel;
    panel.resize(900, 600);
    panel.show();
    for (int g = 1; g <= 10; ++g) {
      panel.addStep(step(g, 1, 10, 1024, false));
    }
    panel.flush();
    QTemporaryDir dir;
    for (const char* suffix : {"png", "svg", "pdf"}) {
      const QString path = dir.filePath(QStringLiteral("loss.%1").arg(QLatin1String(suffix)));
      QVERIFY2(panel.lossPlot()->saveTo(path), suffix);
      QVERIFY(QFileInfo(path).size() > 500);
    }
  }
};

QTEST_MAIN(PlotsPanelTest)
#include "PlotsPanelTest.moc"
