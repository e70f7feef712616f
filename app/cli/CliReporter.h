#pragma once
// Prints engine events for a terminal: a live progress line (rewritten in place on a
// TTY, a line every few seconds otherwise), or one JSON object per line.

#include "engine/core/Events.h"

#include <chrono>
#include <cstdio>
#include <optional>
#include <string>

namespace ampbench::cli {

enum class OutputMode { Human = 1, Quiet, JsonEvents };

class CliReporter : public RunObserver {
 public:
  explicit CliReporter(OutputMode mode, std::FILE* out = stdout);

  void onDataProgress(const DataProgressEvent& e) override;
  void onRunStarted(const RunStartedEvent& e) override;
  void onStep(const StepEvent& e) override;
  void onEpoch(const EpochEvent& e) override;
  void onEvaluation(const EvaluationEvent& e) override;
  void onCheckpoint(const CheckpointEvent& e) override;
  void onPrecisionStats(const PrecisionStatsEvent& e) override;
  void onOverflowAttribution(const OverflowAttribution& a) override;
  void onFinished(const RunSummary& s) override;
  void onCancelled(const RunSummary& s) override;
  void onFailed(const RunSummary& s) override;
  void onCompareModeStarted(int index, int count, PrecisionMode mode) override;

 private:
  using Clock = std::chrono::steady_clock;
  bool throttle(double interval);
  void endLine();
  void printEnd(const char* kind, const RunSummary& s);
  void printProfile(const StepProfile& p);

  OutputMode mode_;
  std::FILE* out_;
  bool tty_;
  bool lineOpen_ = false;
  Clock::time_point lastPrint_{};
  std::optional<Clock::time_point> scanStart_;  // first "scan" event: is the listing slow?
  std::string tag_;  // "[fp32] " while comparing
  int64_t epochs_ = 0;
  int64_t totalSteps_ = 0;
  int64_t firstStep_ = 0;
  Clock::time_point runStart_{};
};

// After a finished run with a test split: its val_vs_test.json as a table (nothing when the
// run has none).
void printValVsTest(const std::string& runDir, FILE* out);

}  // namespace ampbench::cli
