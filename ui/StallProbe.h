#pragma once
// Measures how long the GUI thread's event loop is kept from turning: a precise timer
// ticks every `intervalMs`; a tick that arrives late was held up by whatever ran on the
// GUI thread in between. worstDelayMs() is the largest lateness since the last reset().
// Used by bench/gui_stall (the figures in docs/reliability/gui.md) and the UI stall
// tests (which assert only a generous bound that catches a freeze).

#include <QElapsedTimer>
#include <QObject>
#include <QTimer>

namespace ampbench::ui {

class StallProbe : public QObject {
  Q_OBJECT

 public:
  explicit StallProbe(int intervalMs = 10, QObject* parent = nullptr);

  void start();
  void stop();
  // Forgets what was measured (a new scenario) and keeps ticking.
  void reset();

  // Worst gap between two ticks beyond the interval, in milliseconds.
  double worstDelayMs() const { return worstNs_ / 1e6; }
  // Ticks since the last reset (0 means the loop never turned: a freeze).
  int ticks() const { return ticks_; }

 private:
  void tick();

  QTimer timer_;
  QElapsedTimer clock_;
  int intervalMs_;
  qint64 lastNs_ = 0;
  qint64 worstNs_ = 0;
  int ticks_ = 0;
};

}  // namespace ampbench::ui
