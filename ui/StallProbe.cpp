#include "ui/StallProbe.h"

#include <algorithm>

namespace ampbench::ui {

StallProbe::StallProbe(int intervalMs, QObject* parent) : QObject(parent), intervalMs_(intervalMs) {
  timer_.setTimerType(Qt::PreciseTimer);
  timer_.setInterval(intervalMs_);
  connect(&timer_, &QTimer::timeout, this, &StallProbe::tick);
}

void StallProbe::start() {
  clock_.start();
  reset();
  timer_.start();
}

void StallProbe::stop() { timer_.stop(); }

void StallProbe::reset() {
  lastNs_ = clock_.isValid() ? clock_.nsecsElapsed() : 0;
  worstNs_ = 0;
  ticks_ = 0;
}

void StallProbe::tick() {
  const qint64 now = clock_.nsecsElapsed();
  // Lateness of this tick: the gap beyond one interval (a timer never fires early by more
  // than a millisecond, so the clamp only hides that jitter).
  worstNs_ = std::max(worstNs_, now - lastNs_ - qint64{intervalMs_} * 1000000);
  lastNs_ = now;
  ++ticks_;
}

}  // namespace ampbench::ui
