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

std::string datasetSummaryToJson(const DatasetSummary& s, int indent = 2);
std::string precisionToJson(const PrecisionInfo& p);

}  // namespace ampbench
