// gui_tax: one training run through the real MainWindow (offscreen is fine), for bench/gui_tax.py,
// which alternates it with the CLI run of the same configuration and compares the epochs'
// images/s from each run's epochs.csv (the engine's one throughput figure).
//
//   QT_QPA_PLATFORM=offscreen build/bench/gui_tax --data DIR --out RUNDIR [--model small_cnn]
//       [--precision fp16] [--batch-size 32] [--image-size 28] [--epochs 3] [--threads 2]
//       [--step-delivery-ms N] [--replot-ms N]
//
// --step-delivery-ms 0 --replot-ms 50 is the GUI before issue 16 (a queued event per step,
// up to 20 replots/s); the defaults are today's. Exit 0 when the run finished.
#include "ui/DataPanel.h"
#include "ui/MainWindow.h"
#include "ui/PlotsPanel.h"
#include "ui/RunPanel.h"
#include "ui/TrainingController.h"

#include "engine/core/RunConfig.h"

#include <QApplication>
#include <QCommandLineParser>
#include <QElapsedTimer>
#include <QEventLoop>
#include <QTimer>

#include <cstdio>
#include <ctime>
#include <functional>

using ampbench::ui::MainWindow;

namespace {

double cpuSeconds(clockid_t clock) {
  timespec ts{};
  clock_gettime(clock, &ts);
  return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) * 1e-9;
}

bool waitUntil(const std::function<bool()>& done, int timeoutMs) {
  QElapsedTimer clock;
  clock.start();
  while (!done()) {
    if (clock.elapsed() > timeoutMs) {
      return false;
    }
    QEventLoop loop;
    QTimer::singleShot(20, &loop, &QEventLoop::quit);
    loop.exec();
  }
  return true;
}

}  // namespace

int main(int argc, char** argv) {
  QApplication app(argc, argv);
  QApplication::setOrganizationName(QStringLiteral("AmpBenchGuiTax"));  // not the user's settings
  QCommandLineParser p;
  p.addHelpOption();
  const QCommandLineOption data(QStringLiteral("data"), QStringLiteral("image folder"), QStringLiteral("dir"));
  const QCommandLineOption out(QStringLiteral("out"), QStringLiteral("run folder"), QStringLiteral("dir"));
  const QCommandLineOption model(QStringLiteral("model"), QStringLiteral("model"), QStringLiteral("name"),
                                 QStringLiteral("small_cnn"));
  const QCommandLineOption precision(QStringLiteral("precision"), QStringLiteral("mode"), QStringLiteral("mode"),
                                     QStringLiteral("fp16"));
  const QCommandLineOption batch(QStringLiteral("batch-size"), QStringLiteral("batch"), QStringLiteral("n"),
                                 QStringLiteral("32"));
  const QCommandLineOption size(QStringLiteral("image-size"), QStringLiteral("px"), QStringLiteral("n"),
                                QStringLiteral("28"));
  const QCommandLineOption epochs(QStringLiteral("epochs"), QStringLiteral("epochs"), QStringLiteral("n"),
                                  QStringLiteral("3"));
  const QCommandLineOption threads(QStringLiteral("threads"), QStringLiteral("threads"), QStringLiteral("n"),
                                   QStringLiteral("2"));
  const QCommandLineOption delivery(QStringLiteral("step-delivery-ms"), QStringLiteral("step event batching"),
                                    QStringLiteral("ms"),
                                    QString::number(ampbench::ui::TrainingController::kStepDeliveryMs));
  const QCommandLineOption replot(QStringLiteral("replot-ms"), QStringLiteral("shortest replot interval"),
                                  QStringLiteral("ms"), QString::number(ampbench::ui::PlotsPanel::kMinReplotIntervalMs));
  p.addOptions({data, out, model, precision, batch, size, epochs, threads, delivery, replot});
  p.process(app);
  if (!p.isSet(data) || !p.isSet(out)) {
    std::fprintf(stderr, "gui_tax: --data and --out are required\n");
    return 2;
  }
  MainWindow window;
  window.setConfirmClose(false);
  window.resize(1280, 800);
  window.show();
  window.controller()->setStepDeliveryInterval(p.value(delivery).toInt());
  if (auto* plots = window.findChild<ampbench::ui::PlotsPanel*>()) {
    plots->setMinReplotInterval(p.value(replot).toInt());
  }
  bool scanned = false;
  QObject::connect(window.dataPanel(), &ampbench::ui::DataPanel::scanFinished, &window, [&](bool) { scanned = true; });
  window.dataPanel()->setDataPath(p.value(data));
  if (!waitUntil([&] { return scanned; }, 300000) || !window.dataPanel()->isUsable()) {
    std::fprintf(stderr, "gui_tax: the data scan of %s did not finish usable\n", qPrintable(p.value(data)));
    return 1;
  }
  ampbench::RunConfig c = window.runPanel()->config();
  c.model = p.value(model).toStdString();
  c.epochs = p.value(epochs).toInt();
  c.batchSize = p.value(batch).toInt();
  c.imageSize = p.value(size).toInt();
  c.threads = p.value(threads).toInt();
  c.gradStatsEvery = 0;  // the CLI's default: the same configuration on both sides
  window.runPanel()->setConfig(c);
  window.runPanel()->setPrecisionName(p.value(precision));
  window.setRunDirOverride(p.value(out));
  bool finished = false;
  QObject::connect(window.controller(), &ampbench::ui::TrainingController::runEnded, &window,
                   [&](const ampbench::RunSummary& s) { finished = s.status == ampbench::RunStatus::Finished; });
  // The GUI thread's own CPU time over the run: on a machine with as many training threads as
  // cores, each of its CPU seconds is taken from training, so it bounds the GUI's tax without
  // the run-to-run noise of a throughput comparison.
  QElapsedTimer wall;
  wall.start();
  const double guiCpu0 = cpuSeconds(CLOCK_THREAD_CPUTIME_ID);
  const double processCpu0 = cpuSeconds(CLOCK_PROCESS_CPUTIME_ID);
  if (!window.startTraining()) {
    std::fprintf(stderr, "gui_tax: training did not start\n");
    return 1;
  }
  // Waits in the event loop for the job's end, not by polling: a poll is a wake-up of the
  // GUI thread (50 a second at 20 ms) that the real window does not have.
  {
    QEventLoop loop;
    QObject::connect(window.controller(), &ampbench::ui::TrainingController::jobEnded, &loop, &QEventLoop::quit);
    QTimer::singleShot(60 * 60 * 1000, &loop, &QEventLoop::quit);
    if (window.controller()->isBusy()) {
      loop.exec();
    }
  }
  if (window.controller()->isBusy() || !finished) {
    std::fprintf(stderr, "gui_tax: the run did not finish\n");
    return 1;
  }
  const auto* plots = window.findChild<ampbench::ui::PlotsPanel*>();
  std::printf("gui_thread_cpu_s=%.3f process_cpu_s=%.3f wall_s=%.3f plot_updates=%d plot_replots=%d "
              "plot_update_cost_ms=%.2f plot_interval_ms=%d\n",
              cpuSeconds(CLOCK_THREAD_CPUTIME_ID) - guiCpu0, cpuSeconds(CLOCK_PROCESS_CPUTIME_ID) - processCpu0,
              static_cast<double>(wall.elapsed()) / 1000.0, plots ? plots->updateCount() : -1,
              plots ? plots->replotCount() : -1, plots ? plots->lastUpdateCostMs() : -1.0,
              plots ? plots->updateIntervalMs() : -1);
  return 0;
}
