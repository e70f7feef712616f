#pragma once
// The run directory format of DESIGN.md. JSON files are written atomically; the CSV
// logs are append-only, flushed at every checkpoint, epoch end and stop, and repaired on
// resume (a cut last line and the rows past the checkpoint dropped). A write the disk
// refuses throws WriteError naming the file.

#include "engine/core/Events.h"
#include "engine/util/Files.h"

#include <string>

namespace ampbench {

inline constexpr const char* kStepsHeader = "epoch,step,loss,lr,loss_scale,overflow,skipped,images_per_s";
inline constexpr const char* kEpochsHeader =
    "epoch,train_loss,train_acc,val_loss,val_acc,val_auc,epoch_seconds,images_per_s,overflow_steps,loss_scale,"
    "peak_rss_mb";
// validation.csv: what model selection saw at each validated epoch (epochs.csv keeps the
// format DESIGN.md fixes). best = 1 where the epoch became the best so far (best.pt).
inline constexpr const char* kValidationHeader =
    "epoch,val_balanced_acc,val_sensitivity,val_specificity,eval_seconds,best";

class RunDirWriter {
 public:
  // A new run starts both CSV logs fresh. A resumed one keeps the rows of epochs.csv up to
  // `lastEpoch` (completed) and of steps.csv up to global step `lastStep` (the checkpoint's
  // position, mid-epoch or not) and appends after them.
  explicit RunDirWriter(const std::string& dir, bool resume = false, int64_t lastEpoch = 0, int64_t lastStep = 0);
  ~RunDirWriter();

  const std::string& dir() const { return dir_; }
  std::string path(const std::string& name) const { return dir_ + "/" + name; }

  // `weightsLayout`: how the blocked path holds the 4-D weights ("oihw" or "ohwi"), recorded with
  // its other choices.
  void writeConfig(const RunConfig& config, const PrecisionInfo& precision, const std::string& device, int threads,
                   const std::string& memoryFormat, const std::string& weightsLayout);
  void writeDataset(const DatasetSummary& summary);
  void appendStep(const StepEvent& e);
  void appendEpoch(const EpochEvent& e);
  void writeMetrics(const RunSummary& summary, const std::vector<std::string>& classes,
                    const std::string& extraJson = "");
  void flush();

 private:
  std::string dir_;
  AppendFile steps_;
  AppendFile epochs_;
  AppendFile validation_;
};

// Repairs an append-only CSV log for a resume: keeps its header and the complete rows whose
// integer in column `keyColumn` is <= `last`; drops a cut last line (no newline: a write cut
// by a kill or a full disk), rows that do not parse and rows past the checkpoint. Written
// atomically. Returns how many lines it dropped. A missing file is left missing.
int64_t repairCsvForResume(const std::string& path, const char* header, int keyColumn, int64_t last);

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
  AppendFile stats_;
  AppendFile overflows_;
};

std::string datasetSummaryToJson(const DatasetSummary& s, int indent = 2);
std::string precisionToJson(const PrecisionInfo& p);

}  // namespace ampbench
