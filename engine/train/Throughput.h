#pragma once
// The one throughput figure a run reports, everywhere it is shown: step events (the GUI's
// running images/s, the CLI's progress line, steps.csv), epoch events (epochs.csv) and the
// summary (metrics.json, comparison.json) all come from this meter.
//
// Images per second of *training time*: the time of the steps themselves (with the batch
// waits between them), the clock stopped during validation, checkpoints and everything
// between epochs. Step events carry the rate over the last `windowSeconds` of training time,
// a window that runs on across epoch boundaries (so a new epoch does not restart the figure
// low); an epoch's figure is the same rate over that epoch's steps; the run's is the median
// of its epochs after the warm-up one. The caller reads the clock at the window edges after
// the device has caught up (on CUDA: after a synchronising read), never when work was only
// queued. Times are seconds on any monotonic clock.

#include <cstdint>
#include <deque>

namespace ampbench {

class ThroughputMeter {
 public:
  explicit ThroughputMeter(double windowSeconds = 10.0);

  // The clock starts (an epoch's steps begin, or resume after a checkpoint) / stops.
  void resume(double now);
  void pause(double now);
  bool running() const { return running_; }
  // `images` trained since the last mark (one or several steps); the clock must be running.
  void mark(int64_t images, double now);
  // A new epoch's sums; a run resumed mid-epoch passes what the epoch had already done.
  void beginEpoch(int64_t images = 0, double seconds = 0.0);

  double windowRate() const;  // images/s over the last windowSeconds of training time
  double epochRate() const;   // images/s of this epoch's steps
  double epochSeconds() const { return epochSeconds_; }
  int64_t epochImages() const { return epochImages_; }

 private:
  struct Mark {
    int64_t images;
    double seconds;  // training time since the previous mark
  };
  double window_;
  bool running_ = false;
  double last_ = 0.0;  // clock at the last mark or resume
  std::deque<Mark> marks_;
  int64_t windowImages_ = 0;
  double windowSeconds_ = 0.0;
  int64_t epochImages_ = 0;
  double epochSeconds_ = 0.0;
};

}  // namespace ampbench
