#pragma once
// `train --distributed`: the launcher's environment (or --rank/--world-size/--master) to a
// process group for the run, and what each rank writes: rank 0 the run directory, the
// others a scratch folder removed at the end (their logs would repeat rank 0's).

#include "engine/core/RunConfig.h"
#include "engine/dist/Distributed.h"  // DistributedError, caught by main

#include <optional>
#include <string>

namespace CLI {
class App;
}

namespace ampbench::cli {

struct DistributedArgs {
  bool enabled = false;
  std::optional<int> rank, worldSize, localRank;
  std::string master;  // HOST[:PORT]
  std::string backend = "gloo";
  int timeoutSeconds = 120;
  bool syncBn = false, noSyncBn = false;
};

void addDistributedOptions(CLI::App* sub, DistributedArgs& args);

// Joins the process group (when asked) and adapts `config` for this rank; leaves it at the end.
class DistributedRun {
 public:
  DistributedRun(const DistributedArgs& args, RunConfig& config);
  ~DistributedRun();
  DistributedRun(const DistributedRun&) = delete;
  DistributedRun& operator=(const DistributedRun&) = delete;
  // Ranks other than 0 print only errors (their progress would repeat rank 0's).
  bool quiet() const { return rank_ > 0; }

 private:
  int rank_ = 0;
  std::string scratch_;
};

}  // namespace ampbench::cli
