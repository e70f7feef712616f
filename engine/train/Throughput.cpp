#include "engine/train/Throughput.h"

#include <algorithm>

namespace ampbench {

ThroughputMeter::ThroughputMeter(double windowSeconds) : window_(std::max(1e-6, windowSeconds)) {}

void ThroughputMeter::resume(double now) {
  if (!running_) {
    running_ = true;
    last_ = now;
  }
}

void ThroughputMeter::pause(double now) {
  // Time since the last mark with no images (e.g. a cancelled step) is not training time
  // anyone can attribute: it is dropped with the pause.
  running_ = false;
  last_ = now;
}

void ThroughputMeter::mark(int64_t images, double now) {
  if (!running_) {
    resume(now);  // defensive: a mark with a stopped clock counts from here
  }
  const double dt = std::max(0.0, now - last_);
  last_ = now;
  marks_.push_back({images, dt});
  windowImages_ += images;
  windowSeconds_ += dt;
  epochImages_ += images;
  epochSeconds_ += dt;
  // Oldest marks leave while the rest still cover the window: the window always holds at
  // least the newest mark, and at least windowSeconds once the run is that long.
  while (marks_.size() > 1 && windowSeconds_ - marks_.front().seconds >= window_) {
    windowImages_ -= marks_.front().images;
    windowSeconds_ -= marks_.front().seconds;
    marks_.pop_front();
  }
}

void ThroughputMeter::beginEpoch(int64_t images, double seconds) {
  epochImages_ = images;
  epochSeconds_ = seconds;
}

double ThroughputMeter::windowRate() const {
  return windowSeconds_ > 0 ? static_cast<double>(windowImages_) / windowSeconds_ : 0.0;
}

double ThroughputMeter::epochRate() const {
  return epochSeconds_ > 0 ? static_cast<double>(epochImages_) / epochSeconds_ : 0.0;
}

}  // namespace ampbench
