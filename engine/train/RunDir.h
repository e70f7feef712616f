#pragma once
// The run directory format of DESIGN.md. JSON files are written atomically; the CSV
// logs are appended and flushed at every epoch end (and on stop), so a cancelled or
// diverged run leaves complete rows.

#include "engine/core/Events.h"

#include <fstream>
#include <string>

namespace ampbench {

inline constexpr const char* kStepsHeader = "epoch,step,loss,lr,loss_scale,overflow,skipped,images_per_s";
inline constexpr const char* kEpochsHeader =
    "epoch,train_loss,train_acc,val_loss,val_acc,val_auc,epoch_seconds,images_per_s,overflow_steps,loss_scale,"
    "peak_rss_mb";

class RunDirWriter {
 public:
  // `resumeAfterEpoch` > 0 keeps the CSV rows up to that epoch (resume); 0 starts fresh.
  RunDirWriter(const std::string& dir, int64_t resumeAfterEpoch);
  ~RunDirWriter();

  const std::string& dir() const { return dir_; }
  std::string path(const std::string& name) const { return dir_ + "/" + name; }

  void writeConfig(const RunConfig& config, const PrecisionInfo& precision, const std::string& device, int threads);
  void writeDataset(const DatasetSummary& summary);
  void appendStep(const StepEvent& e);
  void appendEpoch(const EpochEvent& e);
  void writeMetrics(const RunSummary& summary, const std::vector<std::string>& classes,
                    const std::string& extraJson = "");
  void flush();

 private:
  std::string dir_;
  std::ofstream steps_;
  std::ofstream epochs_;
};

// grad_stats.csv and overflows.csv (RunConfig::gradStatsEvery): long format, one row per
// statistic, appended like steps.csv. grad_stats.csv statistics per tensor:
//   count, zero_share, {fp16,bf16}_{underflow,subnormal,overflow}_share (unscaled values),
//   the same with "_scaled" (as the loss scaler produced them), update_lost_share_{fp16,bf16}
//   (kind "update" only), and the log2|x| histogram: log2_bin_<k> (k = the bin's lower
//   exponent, nonzero bins only), log2_bin_below, log2_bin_above, zero_count, inf_count,
//   nan_count, each also with "_scaled". See engine/precision/GradStats.h for definitions.
inline constexpr const char* kGradStatsHeader = "step,layer,kind,statistic,value";
inline constexpr const char* kOverflowsHeader = "step,layer,kind,value";

class PrecisionStatsWriter {
 public:
  // `resumeAfterStep` > 0 keeps the rows of global steps up to it (a resumed run's
  // checkpoint step); 0 starts both files fresh.
  PrecisionStatsWriter(const std::string& dir, int64_t resumeAfterStep);
  ~PrecisionStatsWriter();
  void append(const PrecisionStatsEvent& e);
  void append(const OverflowAttribution& a);
  void flush();

 private:
  std::ofstream stats_;
  std::ofstream overflows_;
};

std::string datasetSummaryToJson(const DatasetSummary& s, int indent = 2);
std::string precisionToJson(const PrecisionInfo& p);

}  // namespace ampbench
