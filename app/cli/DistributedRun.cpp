#include "app/cli/DistributedRun.h"

#include "engine/dist/Distributed.h"
#include "engine/util/Errors.h"

#include <CLI/CLI.hpp>

#include <cstdio>
#include <cstdlib>
#include <exception>
#include <filesystem>
#include <system_error>

namespace ampbench::cli {

void addDistributedOptions(CLI::App* sub, DistributedArgs& a) {
  sub->add_flag("--distributed", a.enabled,
                "data-parallel over several processes (LibTorch c10d): rank and world from torchrun's or srun's "
                "environment (RANK, WORLD_SIZE, LOCAL_RANK, MASTER_ADDR, MASTER_PORT; SLURM_PROCID, SLURM_NTASKS, "
                "SLURM_LOCALID) or the options below; --batch-size is per rank; only rank 0 writes --out");
  sub->add_option("--rank", a.rank, "this process's rank (--distributed; default: RANK or SLURM_PROCID)");
  sub->add_option("--world-size", a.worldSize, "number of processes (--distributed; default: WORLD_SIZE or SLURM_NTASKS)");
  sub->add_option("--local-rank", a.localRank, "rank on this machine (default: LOCAL_RANK or SLURM_LOCALID)");
  sub->add_option("--master", a.master, "rendezvous HOST[:PORT] of rank 0 (default: MASTER_ADDR, MASTER_PORT)");
  sub->add_option("--backend", a.backend, "gloo (CPU) or nccl (CUDA builds with AMPBENCH_NCCL)")
      ->check(CLI::IsMember({"gloo", "nccl"}))
      ->capture_default_str();
  sub->add_option("--dist-timeout", a.timeoutSeconds,
                  "seconds to wait for the rendezvous and for any collective before the run stops with an error")
      ->capture_default_str();
  sub->add_flag("--sync-bn", a.syncBn,
                "batch-norm statistics over every rank's images (as one process with the global batch); default: "
                "per rank, rank 0's running statistics shared at each epoch's end");
  sub->add_flag("--no-sync-bn", a.noSyncBn, "per-rank batch norm (to resume a --sync-bn run without it)")
      ->excludes("--sync-bn");
}

DistributedRun::DistributedRun(const DistributedArgs& args, RunConfig& config) {
  if (!args.enabled) {
    if (args.syncBn) {
      throw InputError("--sync-bn synchronises batch norm across the ranks of a data-parallel run: add --distributed "
                       "(and start the ranks with torchrun, srun or scripts/launch-local)");
    }
    config.distributed.worldSize = 1;  // a distributed run resumed in one process
    config.distributed.syncBatchNorm = false;
    return;
  }
  if (args.syncBn || args.noSyncBn) {
    config.distributed.syncBatchNorm = args.syncBn;  // else a resumed run keeps its own setting
  }
  dist::DistOverrides o;
  o.rank = args.rank;
  o.worldSize = args.worldSize;
  o.localRank = args.localRank;
  if (!args.master.empty()) {
    o.master = args.master;
  }
  o.backend = args.backend;
  o.timeoutSeconds = args.timeoutSeconds;
  const auto env = dist::resolveDistEnv(o);
  dist::initProcessGroup(env);
  rank_ = env.rank;
  config.distributed.worldSize = env.worldSize;
  config.distributed.backend = env.backend;
  if (rank_ > 0) {
    std::string tmpl = (std::filesystem::temp_directory_path() / ("ampbench-rank" + std::to_string(rank_) + "-XXXXXX")).string();
    if (::mkdtemp(tmpl.data())) {
      scratch_ = tmpl;
      config.outDir = scratch_;
      config.exportAtEnd = false;
      if (std::getenv("AMPBENCH_TEST_KEEP_RANK_DIRS")) {
        std::fprintf(stderr, "rank %d writes its own logs to %s\n", rank_, scratch_.c_str());
      }
    }
  }
}

DistributedRun::~DistributedRun() {
  // After a failed collective c10d's teardown would wait for the dead peer's other
  // collectives to time out: the process is about to exit with the error, so skip it.
  if (std::uncaught_exceptions() > 0) {
    dist::abandonProcessGroup();
  } else {
    dist::destroyProcessGroup();
  }
  // Tests read a rank's own logs (its loss scale per step) before they go.
  if (!scratch_.empty() && !std::getenv("AMPBENCH_TEST_KEEP_RANK_DIRS")) {
    std::error_code ec;
    std::filesystem::remove_all(scratch_, ec);
  }
}

}  // namespace ampbench::cli
