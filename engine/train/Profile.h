#pragma once
// Profiles a window of training steps with LibTorch's profiler (host side: on a GPU it
// times launches, not kernels) and turns its chrome trace into self time per operator per
// step: the "where does a step go" table behind BENCHMARKS.md, from one CLI flag.

#include "engine/core/Events.h"

#include <chrono>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

namespace torch::autograd::profiler {
struct RecordProfile;
}

namespace ampbench {

// Self time per op of a chrome trace (a JSON array of complete "X" events with ts/dur in
// microseconds and a tid, as LibTorch writes it), per step, largest first. Nesting is
// recovered per thread from the intervals. `wallMs` is the window's wall time: what no op
// covers becomes the row "(outside any op)" (the loop itself, waiting for a batch).
// Throws std::runtime_error when the trace cannot be read.
std::vector<ProfiledOp> summariseTrace(const std::string& traceJson, int64_t steps, double wallMs);
std::string profileCsv(const StepProfile& profile);

// The trainer's phases are user-scope ranges named "ampbench::<phase>".
constexpr const char* kPhasePrefix = "ampbench::";
bool isPhase(const std::string& opName);
std::string phaseName(const std::string& opName);  // "ampbench::forward" -> "forward"
// For metrics.json and the CLI's JSON events: the window, the files, the ten largest ops;
// or {"error": ...}. "{}" when nothing was asked for.
std::string profileToJson(const StepProfile& profile);

class StepProfiler {
 public:
  // Profiles `steps` training steps from global step `firstStep` (1-based) and writes
  // profile.trace.json and profile.csv into runDir; steps == 0 does nothing. `cuda`
  // synchronises the device at both ends, so the wall time covers the kernels.
  StepProfiler(std::string runDir, int64_t firstStep, int64_t steps, bool cuda);
  ~StepProfiler();
  StepProfiler(const StepProfiler&) = delete;
  StepProfiler& operator=(const StepProfiler&) = delete;

  void beforeStep(int64_t globalStep);
  void afterStep();
  // The next afterStep() closes the window and writes the files (not training time).
  bool endsAfterThisStep() const { return recording_ && !finished_ && profiled_ + 1 >= steps_; }
  // Closes an open window early (the epoch ended: validation is not a training step) and
  // writes what it holds. Never throws: a failure lands in result().error.
  void finish();
  const StepProfile& result() const { return result_; }

 private:
  using Clock = std::chrono::steady_clock;
  std::string dir_;
  int64_t first_;
  int64_t steps_;
  bool cuda_;
  bool finished_ = false;
  int64_t profiled_ = 0;
  Clock::time_point start_{};
  std::ostringstream trace_;
  std::unique_ptr<torch::autograd::profiler::RecordProfile> recording_;
  StepProfile result_;
};

// The window a run profiles: after up to three warm-up steps (first-use allocations,
// oneDNN primitive creation), inside one epoch where it fits (an epoch's end closes the
// window), as far as the run's remaining steps allow.
// Returns {firstStep, steps}; steps == 0 when nothing is profiled.
std::pair<int64_t, int64_t> profileWindow(int64_t requested, int64_t stepsDone, int64_t totalSteps,
                                          int64_t stepsPerEpoch);

}  // namespace ampbench
