// The bridge: events cross from the worker thread to the GUI thread in order, as values;
// cancellation stops the worker through the token; exceptions end in failed(); deleting
// the controller during a run cancels and waits (no "QThread: Destroyed while running").

#include "ui/TrainingController.h"

#include "engine/util/Errors.h"

#include <QSignalSpy>
#include <QTest>
#include <QThread>

#include <atomic>
#include <memory>

using ampbench::ui::TrainingController;

class TrainingControllerTest : public QObject {
  Q_OBJECT

 private Q_SLOTS:
  void initTestCase() { QTest::failOnWarning(QRegularExpression(QStringLiteral("Destroyed while thread"))); }

  void eventsArriveInOrderOnTheGuiThread() {
    TrainingController controller;
    constexpr int kSteps = 3000;
    constexpr int kPerEpoch = 500;
    QStringList order;  // "S" run started, "e<N>" epoch, "E" end
    int64_t expectedStep = 1;
    bool stepsInOrder = true;
    bool allOnGuiThread = true;
    QThread* gui = QThread::currentThread();
    QThread* workerThread = nullptr;
    connect(&controller, &TrainingController::runStarted, this, [&](const ampbench::RunStartedEvent& e) {
      order << QStringLiteral("S");
      allOnGuiThread &= QThread::currentThread() == gui;
      QCOMPARE(e.totalSteps, static_cast<int64_t>(kSteps));
    });
    connect(&controller, &TrainingController::stepDone, this, [&](const ampbench::StepEvent& e) {
      stepsInOrder &= e.step == expectedStep++;
      allOnGuiThread &= QThread::currentThread() == gui;
    });
    connect(&controller, &TrainingController::epochDone, this, [&](const ampbench::EpochEvent& e) {
      order << QStringLiteral("e%1@%2").arg(e.epoch).arg(expectedStep - 1);
    });
    connect(&controller, &TrainingController::checkpointSaved, this, [&](const ampbench::CheckpointEvent& e) {
      order << QStringLiteral("c%1@%2").arg(e.epoch).arg(expectedStep - 1);
    });
    connect(&controller, &TrainingController::runEnded, this, [&](const ampbench::RunSummary& s) {
      order << QStringLiteral("E");
      QVERIFY(s.status == ampbench::RunStatus::Finished);
    });
    QSignalSpy ended(&controller, &TrainingController::jobEnded);
    QVERIFY(controller.startJob(QStringLiteral("fake"), [&](ampbench::RunObserver& o, const ampbench::CancelToken&) {
      workerThread = QThread::currentThread();
      ampbench::RunStartedEvent start;
      start.totalSteps = kSteps;
      o.onRunStarted(start);
      for (int i = 1; i <= kSteps; ++i) {
        ampbench::StepEvent s;
        s.step = i;
        s.epoch = (i - 1) / kPerEpoch + 1;
        s.stepInEpoch = (i - 1) % kPerEpoch + 1;
        s.stepsPerEpoch = kPerEpoch;  // steps are held between deliveries, as in a run
        o.onStep(s);
        if (i % kPerEpoch == kPerEpoch / 2) {
          ampbench::CheckpointEvent c;
          c.epoch = s.epoch;
          o.onCheckpoint(c);  // mid-epoch: the held steps must arrive before it
        }
        if (i % kPerEpoch == 0) {
          ampbench::EpochEvent e;
          e.epoch = i / kPerEpoch;
          o.onEpoch(e);
        }
      }
      ampbench::RunSummary summary;
      summary.status = ampbench::RunStatus::Finished;
      o.onFinished(summary);
    }));
    QVERIFY(controller.isBusy());
    QVERIFY(ended.wait(10000));
    QVERIFY(!controller.isBusy());
    QVERIFY(workerThread != nullptr && workerThread != gui);
    QVERIFY(stepsInOrder);
    QCOMPARE(expectedStep, kSteps + 1);
    QVERIFY(allOnGuiThread);
    QStringList want{QStringLiteral("S")};
    for (int epoch = 1; epoch <= kSteps / kPerEpoch; ++epoch) {
      want << QStringLiteral("c%1@%2").arg(epoch).arg((epoch - 1) * kPerEpoch + kPerEpoch / 2)
           << QStringLiteral("e%1@%2").arg(epoch).arg(epoch * kPerEpoch);
    }
    want << QStringLiteral("E");
    QCOMPARE(order, want);
  }

  // Issue 16: a queued event per step woke the GUI thread as often as the engine stepped,
  // and each wake-up took a core from the training threads. Steps now arrive in batches
  // (every TrainingController::kStepDeliveryMs, an epoch's last step at once): all of them,
  // in order, but through a handful of event-loop deliveries instead of one per step.
  void stepEventsReachTheGuiThreadInBatches() {
    TrainingController controller;
    constexpr int kSteps = 2000;
    // Deliveries are queued calls to the controller: count the ones it receives (the
    // receiver of stepDone below is called directly, on the GUI thread).
    struct CountMetaCalls : QObject {
      int calls = 0;
      bool eventFilter(QObject*, QEvent* e) override {
        calls += e->type() == QEvent::MetaCall;
        return false;
      }
    } receiver;
    controller.installEventFilter(&receiver);
    int64_t expected = 1;
    bool inOrder = true;
    int lastSteps = 0;
    connect(&controller, &TrainingController::stepDone, &receiver, [&](const ampbench::StepEvent& e) {
      inOrder &= e.step == expected++;
      lastSteps += e.stepInEpoch == e.stepsPerEpoch;
    });
    // After each delivery's steps, its newest one (what the status text shows): the step just
    // emitted, never an older one of the batch.
    int batches = 0;
    bool newest = true;
    connect(&controller, &TrainingController::stepsDelivered, &receiver, [&](const ampbench::StepEvent& e) {
      ++batches;
      newest &= e.step == expected - 1;
    });
    QSignalSpy ended(&controller, &TrainingController::jobEnded);
    QVERIFY(controller.startJob(QStringLiteral("fake"), [&](ampbench::RunObserver& o, const ampbench::CancelToken&) {
      for (int i = 1; i <= kSteps; ++i) {  // far faster than the delivery interval
        ampbench::StepEvent s;
        s.step = i;
        s.stepInEpoch = (i - 1) % 1000 + 1;
        s.stepsPerEpoch = 1000;
        o.onStep(s);
      }
      ampbench::RunSummary summary;
      summary.status = ampbench::RunStatus::Finished;
      o.onFinished(summary);
    }));
    QVERIFY(ended.wait(10000));
    QCOMPARE(expected, kSteps + 1);
    QVERIFY(inOrder);
    QCOMPARE(lastSteps, 2);
    QVERIFY(newest);
    QVERIFY(batches >= 2);        // an epoch's last step goes at once: 2 epochs, 2 deliveries at least
    QVERIFY(batches <= receiver.calls);
    QVERIFY2(receiver.calls < 50, qPrintable(QStringLiteral("%1 queued deliveries for %2 steps").arg(receiver.calls).arg(kSteps)));

    // 0 restores one queued event per step (bench/gui_tax measures the difference).
    controller.setStepDeliveryInterval(0);
    receiver.calls = 0;
    expected = 1;
    QVERIFY(controller.startJob(QStringLiteral("fake"), [&](ampbench::RunObserver& o, const ampbench::CancelToken&) {
      for (int i = 1; i <= 100; ++i) {
        ampbench::StepEvent s;
        s.step = i;
        o.onStep(s);
      }
    }));
    QVERIFY(ended.wait(10000));
    QCOMPARE(expected, 101);
    QVERIFY2(receiver.calls >= 100, qPrintable(QString::number(receiver.calls)));  // one per step, plus the job's end
  }

  // Steps held by the batching and followed by no other event (a burst flushed at once on
  // CUDA, a step before a long checkpoint write) still reach the GUI within about the
  // delivery interval, not only when the next event or the job's end comes.
  void heldStepsArriveWithoutALaterEvent() {
    TrainingController controller;
    int received = 0;
    std::atomic<bool> seen{false};
    connect(&controller, &TrainingController::stepDone, this, [&](const ampbench::StepEvent&) {
      if (++received == 20) {
        seen = true;
      }
    });
    bool deliveredWhileRunning = false;
    QSignalSpy ended(&controller, &TrainingController::jobEnded);
    QVERIFY(controller.startJob(QStringLiteral("fake"), [&](ampbench::RunObserver& o, const ampbench::CancelToken&) {
      for (int i = 1; i <= 20; ++i) {  // within microseconds: all but the first held
        ampbench::StepEvent s;
        s.step = i;
        s.stepInEpoch = i;
        s.stepsPerEpoch = 1000;
        o.onStep(s);
      }
      for (int waited = 0; waited < 5000 && !seen; waited += 10) {  // a generous bound: only catches "never"
        QThread::msleep(10);
      }
      deliveredWhileRunning = seen;
    }));
    QVERIFY(ended.wait(10000));
    QCOMPARE(received, 20);
    QVERIFY(deliveredWhileRunning);
  }

  void cancelStopsTheWorker() {
    TrainingController controller;
    std::atomic<int> steps{0};
    ampbench::RunStatus status = ampbench::RunStatus::Failed;
    connect(&controller, &TrainingController::runEnded, this, [&](const ampbench::RunSummary& s) { status = s.status; });
    QSignalSpy ended(&controller, &TrainingController::jobEnded);
    controller.startJob(QStringLiteral("endless"), [&](ampbench::RunObserver& o, const ampbench::CancelToken& cancel) {
      while (!cancel.isCancelled()) {
        ampbench::StepEvent s;
        s.step = ++steps;
        o.onStep(s);
        QThread::msleep(1);
      }
      ampbench::RunSummary summary;
      summary.status = ampbench::RunStatus::Cancelled;
      o.onCancelled(summary);
    });
    QTRY_VERIFY_WITH_TIMEOUT(steps > 20, 5000);
    // A second job is refused while one runs.
    QVERIFY(!controller.startJob(QStringLiteral("second"), [](ampbench::RunObserver&, const ampbench::CancelToken&) {}));
    controller.cancel();
    QVERIFY(ended.wait(3000));
    const int atEnd = steps;
    QTest::qWait(50);
    QCOMPARE(steps.load(), atEnd);  // the worker really stopped
    QVERIFY(status == ampbench::RunStatus::Cancelled);
    QVERIFY(!controller.isBusy());
  }

  void inputErrorEndsInFailedWithTheMessage() {
    TrainingController controller;
    QSignalSpy failed(&controller, &TrainingController::failed);
    QSignalSpy ended(&controller, &TrainingController::jobEnded);
    controller.startJob(QStringLiteral("bad"), [](ampbench::RunObserver&, const ampbench::CancelToken&) {
      throw ampbench::InputError("The folder has one class: add a folder per class.");
    });
    QVERIFY(ended.wait(3000));
    QCOMPARE(failed.count(), 1);
    QCOMPARE(failed.at(0).at(0).toString(), QStringLiteral("The folder has one class: add a folder per class."));
    QCOMPARE(failed.at(0).at(1).toBool(), true);

    controller.startJob(QStringLiteral("crash"), [](ampbench::RunObserver&, const ampbench::CancelToken&) {
      throw std::runtime_error("boom");
    });
    QVERIFY(ended.wait(3000));
    QCOMPARE(failed.count(), 2);
    QCOMPARE(failed.at(1).at(1).toBool(), false);
  }

  void deletingDuringARunCancelsAndWaits() {
    auto controller = std::make_unique<TrainingController>();
    std::atomic<bool> sawCancel{false};
    std::atomic<bool> started{false};
    controller->startJob(QStringLiteral("endless"), [&](ampbench::RunObserver&, const ampbench::CancelToken& cancel) {
      started = true;
      while (!cancel.isCancelled()) {
        QThread::msleep(2);
      }
      sawCancel = true;
    });
    QTRY_VERIFY_WITH_TIMEOUT(started.load(), 3000);
    controller.reset();  // must cancel, let the job return, and join the thread
    QVERIFY(sawCancel.load());
  }

  void cancelAndWaitReturnsWhenTheJobEnds() {
    TrainingController controller;
    std::atomic<bool> started{false};
    controller.startJob(QStringLiteral("endless"), [&](ampbench::RunObserver&, const ampbench::CancelToken& cancel) {
      started = true;
      while (!cancel.isCancelled()) {
        QThread::msleep(2);
      }
    });
    QTRY_VERIFY_WITH_TIMEOUT(started.load(), 3000);
    QVERIFY(controller.cancelAndWait(3000));
    QSignalSpy ended(&controller, &TrainingController::jobEnded);
    QVERIFY(ended.wait(1000));
  }
  void precisionStatisticsAndOverflowsCrossAsValuesInOrder() {
    TrainingController controller;
    QThread* gui = QThread::currentThread();
    QStringList order;
    bool onGui = true;
    ampbench::PrecisionStatsEvent received;
    connect(&controller, &TrainingController::stepDone, this,
            [&](const ampbench::StepEvent& e) { order << QStringLiteral("s%1").arg(e.step); });
    connect(&controller, &TrainingController::precisionStats, this, [&](const ampbench::PrecisionStatsEvent& e) {
      order << QStringLiteral("p%1").arg(e.step);
      onGui &= QThread::currentThread() == gui;
      received = e;
    });
    connect(&controller, &TrainingController::overflowAttributed, this, [&](const ampbench::OverflowAttribution& a) {
      order << QStringLiteral("o%1:%2").arg(a.step).arg(QString::fromStdString(a.layer));
      onGui &= QThread::currentThread() == gui;
    });
    QSignalSpy ended(&controller, &TrainingController::jobEnded);
    QVERIFY(controller.startJob(QStringLiteral("fake"), [](ampbench::RunObserver& o, const ampbench::CancelToken&) {
      for (int64_t i = 1; i <= 4; ++i) {
        ampbench::StepEvent s;
        s.step = i;
        o.onStep(s);
        if (i == 2) {
          ampbench::PrecisionStatsEvent e;
          e.step = i;
          e.lossScale = 1024;
          ampbench::TensorPrecisionStats t;
          t.layer = "fc.weight";
          t.kind = "weight_grad";
          t.fp16.underflow = 0.25;
          t.unscaled.bins[3] = 7;
          e.tensors.push_back(t);
          o.onPrecisionStats(e);
        }
        if (i == 3) {
          ampbench::OverflowAttribution a;
          a.step = i;
          a.layer = "layer3.0";
          o.onOverflowAttribution(a);
        }
      }
    }));
    QVERIFY(ended.wait(10000));
    QCOMPARE(order, (QStringList{QStringLiteral("s1"), QStringLiteral("s2"), QStringLiteral("p2"), QStringLiteral("s3"),
                                 QStringLiteral("o3:layer3.0"), QStringLiteral("s4")}));
    QVERIFY(onGui);
    QCOMPARE(received.lossScale, 1024.0);
    QCOMPARE(received.tensors.size(), size_t{1});
    QCOMPARE(received.tensors[0].fp16.underflow, 0.25);
    QCOMPARE(received.tensors[0].unscaled.bins[3], int64_t{7});
  }
};

QTEST_GUILESS_MAIN(TrainingControllerTest)
#include "TrainingControllerTest.moc"
