#pragma once
// Where this process stands in a data-parallel run: its rank, the world size and the
// rendezvous, read from a launcher's environment (torchrun: RANK, WORLD_SIZE, LOCAL_RANK,
// MASTER_ADDR, MASTER_PORT; Slurm's srun: SLURM_PROCID, SLURM_NTASKS, SLURM_LOCALID) or
// given explicitly, and the one process group of the process (LibTorch's c10d). Plain C++
// (no torch): the CLI includes it; the collectives are in engine/dist/ProcessGroup.h.

#include <map>
#include <optional>
#include <stdexcept>
#include <string>

namespace ampbench::dist {

struct DistEnv {
  int rank = 0;
  int worldSize = 1;
  int localRank = 0;
  std::string masterAddr = "127.0.0.1";
  int masterPort = 29500;
  std::string backend = "gloo";
  // Rendezvous and every collective: a peer that does not answer within this long is
  // taken as gone (a dead peer's closed socket is noticed at once).
  int timeoutSeconds = 120;
  std::string source;  // "torchrun", "slurm" or "command line": for messages
};

// What the command line gives; unset fields come from the environment.
struct DistOverrides {
  std::optional<int> rank, worldSize, localRank;
  std::optional<std::string> master;  // HOST or HOST:PORT
  std::string backend = "gloo";
  int timeoutSeconds = 120;
};

// A collective failed: a peer died, or did not answer within the timeout. The message
// names the rank, the operation and what to do.
class DistributedError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// Reads the launcher's variables from `env` (the process environment when empty),
// `overrides` first. Throws InputError (one line, what to do) on missing or inconsistent
// values: a rank outside [0, world size), a world size without a rank, a bad port.
DistEnv resolveDistEnv(const DistOverrides& overrides, const std::map<std::string, std::string>* env = nullptr);

// Whether this build can create the backend's process group ("gloo" with libgloo-dev,
// "nccl" only with a CUDA LibTorch and AMPBENCH_NCCL).
bool backendAvailable(const std::string& backend);

// Rendezvous over TCPStore at the master and the process group; throws InputError when the
// backend is not built in, DistributedError when the rendezvous times out.
void initProcessGroup(const DistEnv& env);
// Drops the process group (at the end of the run).
void destroyProcessGroup();
// Forgets the process group without tearing it down (a failed run about to exit).
void abandonProcessGroup();

// The active group's figures; rank 0 of 1 when there is none.
bool active();
int rank();
int worldSize();
int localRank();
const std::string& backend();

}  // namespace ampbench::dist
