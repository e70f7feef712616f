#include "engine/dist/ProcessGroup.h"

#include "engine/util/Errors.h"

#include <torch/csrc/distributed/c10d/PrefixStore.hpp>
#include <torch/csrc/distributed/c10d/ProcessGroup.hpp>
#include <torch/csrc/distributed/c10d/TCPStore.hpp>
#ifdef AMPBENCH_HAVE_GLOO
#include <torch/csrc/distributed/c10d/ProcessGroupGloo.hpp>
#endif
#ifdef AMPBENCH_HAVE_NCCL
#include <torch/csrc/distributed/c10d/ProcessGroupNCCL.hpp>
#endif
#include <torch/torch.h>

#include <chrono>
#include <cstdlib>
#include <sstream>

extern char** environ;

namespace ampbench::dist {

namespace {

struct Group {
  DistEnv env;
  c10::intrusive_ptr<c10d::Store> store;
  c10::intrusive_ptr<c10d::ProcessGroup> pg;
  torch::Device device = torch::kCPU;  // where collective tensors live (CUDA for nccl)
};
std::unique_ptr<Group> gGroup;
const std::string kGloo = "gloo";

std::string firstLine(const std::string& s) { return s.substr(0, s.find('\n')); }

// c10d's messages start with a source location ("[../gloo/transport/tcp/pair.cc:598] ");
// the part after it is what the user needs.
std::string reason(const std::exception& e) {
  auto s = firstLine(e.what());
  if (!s.empty() && s[0] == '[') {
    if (const auto end = s.find("] "); end != std::string::npos) {
      s = s.substr(end + 2);
    }
  }
  return s;
}

[[noreturn]] void failed(const char* what, const std::exception& e) {
  std::ostringstream ss;
  ss << "rank " << gGroup->env.rank << " of " << gGroup->env.worldSize << ": " << what << " failed (" << reason(e)
     << "): another rank stopped or did not answer within " << gGroup->env.timeoutSeconds
     << " s; the run stopped (its last checkpoint is kept: resume it with --resume)";
  throw DistributedError(ss.str());
}

// Waits for `work`, turning c10d's error into a DistributedError.
void wait(const c10::intrusive_ptr<c10d::Work>& work, const char* what) {
  try {
    work->wait();
  } catch (const std::exception& e) {
    failed(what, e);
  }
}

Group& group() {
  if (!gGroup) {
    throw std::logic_error("no process group: initProcessGroup() first");
  }
  return *gGroup;
}

int parseInt(const std::string& name, const std::string& value) {
  try {
    size_t used = 0;
    const int v = std::stoi(value, &used);
    if (used == value.size()) {
      return v;
    }
  } catch (const std::exception&) {
  }
  throw InputError(name + "='" + value + "' is not a whole number: set it as the launcher does (torchrun, srun)");
}

}  // namespace

DistEnv resolveDistEnv(const DistOverrides& o, const std::map<std::string, std::string>* given) {
  std::map<std::string, std::string> envMap;
  if (!given) {
    for (char** e = environ; e && *e; ++e) {
      const std::string kv(*e);
      if (const auto eq = kv.find('='); eq != std::string::npos) {
        envMap.emplace(kv.substr(0, eq), kv.substr(eq + 1));
      }
    }
    given = &envMap;
  }
  auto var = [&](const char* name) -> std::optional<std::string> {
    const auto it = given->find(name);
    return it != given->end() && !it->second.empty() ? std::optional<std::string>(it->second) : std::nullopt;
  };
  DistEnv env;
  env.backend = o.backend;
  env.timeoutSeconds = o.timeoutSeconds;
  // torchrun's names first, then Slurm's (srun sets them for every task).
  std::optional<int> rank, world, local;
  std::string rankName = "RANK", worldName = "WORLD_SIZE";
  if (var("RANK") || var("WORLD_SIZE")) {
    env.source = "torchrun";
    if (auto v = var("RANK")) rank = parseInt("RANK", *v);
    if (auto v = var("WORLD_SIZE")) world = parseInt("WORLD_SIZE", *v);
    if (auto v = var("LOCAL_RANK")) local = parseInt("LOCAL_RANK", *v);
  } else if (var("SLURM_PROCID") && var("SLURM_NTASKS")) {
    env.source = "slurm";
    rankName = "SLURM_PROCID";
    worldName = "SLURM_NTASKS";
    rank = parseInt("SLURM_PROCID", *var("SLURM_PROCID"));
    world = parseInt("SLURM_NTASKS", *var("SLURM_NTASKS"));
    if (auto v = var("SLURM_LOCALID")) local = parseInt("SLURM_LOCALID", *v);
  }
  if (o.rank || o.worldSize) {
    env.source = "command line";
    rankName = "--rank";
    worldName = "--world-size";
  }
  if (o.rank) rank = o.rank;
  if (o.worldSize) world = o.worldSize;
  if (o.localRank) local = o.localRank;
  if (!rank || !world) {
    throw InputError(std::string("--distributed needs this process's rank and the world size: start it with torchrun "
                                 "or srun, or set RANK and WORLD_SIZE (or pass --rank and --world-size); ") +
                     (rank ? "the world size is missing" : "the rank is missing"));
  }
  if (*world < 1 || *rank < 0 || *rank >= *world) {
    throw InputError(rankName + "=" + std::to_string(*rank) + " does not fit " + worldName + "=" +
                     std::to_string(*world) + ": ranks run from 0 to the world size minus 1");
  }
  env.rank = *rank;
  env.worldSize = *world;
  env.localRank = local.value_or(*rank);
  std::string master = o.master.value_or(var("MASTER_ADDR").value_or(""));
  std::optional<std::string> port = var("MASTER_PORT");
  if (const auto colon = master.rfind(':'); o.master && colon != std::string::npos) {
    port = master.substr(colon + 1);
    master = master.substr(0, colon);
  }
  if (master.empty()) {
    if (*world > 1 && env.source != "command line") {
      throw InputError("MASTER_ADDR is not set: set it to the host of rank 0 (srun: the first node of "
                       "$SLURM_JOB_NODELIST), or pass --master HOST:PORT");
    }
    master = "127.0.0.1";
  }
  env.masterAddr = master;
  if (port) {
    env.masterPort = parseInt("MASTER_PORT", *port);
    if (env.masterPort < 1 || env.masterPort > 65535) {
      throw InputError("MASTER_PORT=" + *port + " is not a TCP port (1-65535)");
    }
  }
  if (env.timeoutSeconds < 1) {
    throw InputError("--dist-timeout must be at least 1 second");
  }
  return env;
}

bool backendAvailable(const std::string& backend) {
#ifdef AMPBENCH_HAVE_GLOO
  if (backend == "gloo") return true;
#endif
#ifdef AMPBENCH_HAVE_NCCL
  if (backend == "nccl") return torch::cuda::is_available();
#endif
  return false;
}

void initProcessGroup(const DistEnv& env) {
  if (!backendAvailable(env.backend)) {
    throw InputError("the " + env.backend + " backend is not built into this ampbench-cli" +
                     (env.backend == "nccl" ? std::string(" (NCCL needs a CUDA LibTorch and -DAMPBENCH_NCCL=ON, and a "
                                                          "GPU): use --backend gloo")
                                            : std::string(" (it needs libgloo-dev at build time)")));
  }
  auto g = std::make_unique<Group>();
  g->env = env;
  const auto timeout = std::chrono::milliseconds(1000LL * env.timeoutSeconds);
  // Under torchrun the agent already serves a store at MASTER_PORT: the workers join it as
  // clients under the attempt's prefix (what torch.distributed's env:// does).
  const char* agentStore = std::getenv("TORCHELASTIC_USE_AGENT_STORE");
  const bool useAgentStore = agentStore && std::string(agentStore) == "True";
  try {
    c10d::TCPStoreOptions so;
    so.port = static_cast<uint16_t>(env.masterPort);
    so.isServer = env.rank == 0 && !useAgentStore;
    so.numWorkers = env.worldSize;
    so.waitWorkers = !useAgentStore;
    so.timeout = timeout;
    c10::intrusive_ptr<c10d::Store> store = c10::make_intrusive<c10d::TCPStore>(env.masterAddr, so);
    if (useAgentStore) {
      const char* attempt = std::getenv("TORCHELASTIC_RESTART_COUNT");
      store = c10::make_intrusive<c10d::PrefixStore>("/worker/attempt_" + std::string(attempt ? attempt : "0"), store);
    }
    g->store = store;
  } catch (const std::exception& e) {
    throw InputError("rank " + std::to_string(env.rank) + " of " + std::to_string(env.worldSize) +
                     ": no rendezvous at " + env.masterAddr + ":" + std::to_string(env.masterPort) + " within " +
                     std::to_string(env.timeoutSeconds) + " s (" + reason(e) +
                     "): check MASTER_ADDR/MASTER_PORT (--master), that every rank was started and that the port is "
                     "free on rank 0's host");
  }
  try {
    if (env.backend == "gloo") {
#ifdef AMPBENCH_HAVE_GLOO
      auto opts = c10d::ProcessGroupGloo::Options::create(timeout);
      // GLOO_SOCKET_IFNAME picks the network interface (as in PyTorch); on loopback
      // rendezvous the ranks talk over loopback; else the host name's address.
      const char* ifname = std::getenv("GLOO_SOCKET_IFNAME");
      const bool loopback = env.masterAddr.rfind("127.", 0) == 0 || env.masterAddr == "localhost";
      if (ifname && *ifname) {
        opts->devices.push_back(c10d::ProcessGroupGloo::createDeviceForInterface(ifname));
      } else if (loopback) {
        opts->devices.push_back(c10d::ProcessGroupGloo::createDeviceForHostname("127.0.0.1"));
      } else {
        opts->devices.push_back(c10d::ProcessGroupGloo::createDefaultDevice());
      }
      g->pg = c10::make_intrusive<c10d::ProcessGroupGloo>(g->store, env.rank, env.worldSize, opts);
#endif
    } else {
#ifdef AMPBENCH_HAVE_NCCL
      const int devices = static_cast<int>(torch::cuda::device_count());
      g->device = torch::Device(torch::kCUDA, env.localRank % std::max(1, devices));
      auto opts = c10d::ProcessGroupNCCL::Options::create();
      opts->timeout = timeout;
      g->pg = c10::make_intrusive<c10d::ProcessGroupNCCL>(g->store, env.rank, env.worldSize, opts);
#endif
    }
  } catch (const std::exception& e) {
    throw InputError("rank " + std::to_string(env.rank) + ": cannot create the " + env.backend +
                     " process group (" + reason(e) + "): check that every rank was started with the same world size");
  }
  gGroup = std::move(g);
  // One collective now: a rank that cannot reach the others fails here, not mid-epoch.
  try {
    std::vector<double> probe{1.0};
    allReduceSum(probe, "the first all-reduce");
  } catch (...) {
    gGroup.reset();
    throw;
  }
}

void destroyProcessGroup() { gGroup.reset(); }
void abandonProcessGroup() { (void)gGroup.release(); }

bool active() { return gGroup != nullptr; }
int rank() { return gGroup ? gGroup->env.rank : 0; }
int worldSize() { return gGroup ? gGroup->env.worldSize : 1; }
int localRank() { return gGroup ? gGroup->env.localRank : 0; }
const std::string& backend() { return gGroup ? gGroup->env.backend : kGloo; }

void allReduceSum(std::vector<double>& values, const char* what) {
  auto& g = group();
  std::vector<at::Tensor> t{torch::tensor(values, torch::kDouble).to(g.device)};
  wait(g.pg->allreduce(t), what);
  const auto back = t[0].cpu();
  for (size_t i = 0; i < values.size(); ++i) {
    values[i] = back[static_cast<int64_t>(i)].item<double>();
  }
}

void allReduceMinMax(std::vector<double>& mins, std::vector<double>& maxs, const char* what) {
  auto& g = group();
  for (auto [v, op] : {std::pair{&mins, c10d::ReduceOp::MIN}, std::pair{&maxs, c10d::ReduceOp::MAX}}) {
    std::vector<at::Tensor> t{torch::tensor(*v, torch::kDouble).to(g.device)};
    c10d::AllreduceOptions opts;
    opts.reduceOp = op;
    wait(g.pg->allreduce(t, opts), what);
    const auto back = t[0].cpu();
    for (size_t i = 0; i < v->size(); ++i) {
      (*v)[i] = back[static_cast<int64_t>(i)].item<double>();
    }
  }
}

void allReduceSum(torch::Tensor& values, const char* what) {
  auto& g = group();
  std::vector<at::Tensor> t{values.contiguous().to(g.device)};
  wait(g.pg->allreduce(t), what);
  if (!t[0].is_same(values)) {
    values.copy_(t[0]);
  }
}

torch::Tensor allGather(const torch::Tensor& t, const char* what) {
  auto& g = group();
  std::vector<at::Tensor> in{t.contiguous().to(g.device)};
  std::vector<std::vector<at::Tensor>> out(1);
  for (int r = 0; r < g.env.worldSize; ++r) {
    out[0].push_back(torch::empty_like(in[0]));
  }
  wait(g.pg->allgather(out, in), what);
  return torch::stack(out[0]).to(t.device());
}

void broadcastModule(torch::nn::Module& module, bool parameters, bool buffers, const char* what) {
  auto& g = group();
  std::vector<torch::Tensor> all;
  if (parameters) {
    for (const auto& p : module.parameters()) all.push_back(p);
  }
  if (buffers) {
    for (const auto& b : module.buffers()) all.push_back(b);
  }
  torch::NoGradGuard noGrad;
  std::vector<c10::intrusive_ptr<c10d::Work>> works;
  std::vector<std::vector<at::Tensor>> sent;
  for (const auto& t : all) {
    sent.push_back({t.detach().contiguous().to(g.device)});
    works.push_back(g.pg->broadcast(sent.back()));
  }
  for (size_t i = 0; i < all.size(); ++i) {
    wait(works[i], what);
    all[i].detach().copy_(sent[i][0]);
  }
}

struct GradientSync::Impl {
  struct Bucket {
    std::vector<size_t> params;
    std::vector<int64_t> offsets;
    torch::Tensor flat;
    size_t pending = 0;
    c10::intrusive_ptr<c10d::Work> work;
  };
  std::vector<torch::Tensor> params;
  std::vector<size_t> bucketOf, slotOf;
  std::vector<Bucket> buckets;
  std::vector<bool> arrived;
  std::vector<unsigned> hookIds;
  size_t nextLaunch = 0;
  bool armed = false;
  std::optional<size_t> poison;

  void launchReady() {
    auto& g = group();
    while (nextLaunch < buckets.size() && buckets[nextLaunch].pending == 0) {
      std::vector<at::Tensor> t{buckets[nextLaunch].flat};
      buckets[nextLaunch].work = g.pg->allreduce(t);
      ++nextLaunch;
    }
  }

  void onGradient(size_t i, const torch::Tensor& grad) {
    if (!armed || arrived[i]) {
      return;  // a replay's backward (overflow attribution, anomaly mode): nothing to reduce
    }
    arrived[i] = true;
    auto& b = buckets[bucketOf[i]];
    const size_t slot = slotOf[i];
    auto dst = b.flat.narrow(0, b.offsets[slot], params[i].numel());
    dst.copy_(grad.detach().reshape(-1));
    if (poison && *poison == i) {
      dst[0] = std::numeric_limits<float>::infinity();
    }
    b.pending -= 1;
    launchReady();
  }
};

GradientSync::GradientSync(std::vector<torch::Tensor> parameters, int64_t firstBucketBytes, int64_t bucketBytes)
    : impl_(std::make_unique<Impl>()) {
  auto& g = group();
  auto& m = *impl_;
  m.params = std::move(parameters);
  m.bucketOf.resize(m.params.size());
  m.slotOf.resize(m.params.size());
  m.arrived.assign(m.params.size(), false);
  int64_t bytes = 0, limit = firstBucketBytes;
  for (size_t k = m.params.size(); k-- > 0;) {
    const auto& p = m.params[k];
    if (p.scalar_type() != torch::kFloat) {
      throw std::logic_error("GradientSync: parameters must be fp32 (master weights)");
    }
    if (m.buckets.empty() || bytes >= limit) {
      if (!m.buckets.empty()) {
        limit = bucketBytes;
      }
      m.buckets.emplace_back();
      bytes = 0;
    }
    auto& b = m.buckets.back();
    m.bucketOf[k] = m.buckets.size() - 1;
    m.slotOf[k] = b.params.size();
    b.offsets.push_back(bytes / 4);
    b.params.push_back(k);
    bytes += p.numel() * 4;
  }
  for (auto& b : m.buckets) {
    const int64_t n = b.offsets.back() + m.params[b.params.back()].numel();
    b.flat = torch::zeros({n}, torch::TensorOptions().dtype(torch::kFloat).device(g.device));
  }
  for (size_t k = 0; k < m.params.size(); ++k) {
    Impl* impl = impl_.get();
    m.hookIds.push_back(m.params[k].register_hook([impl, k](torch::Tensor grad) { impl->onGradient(k, grad); }));
  }
}

GradientSync::~GradientSync() {
  for (size_t k = 0; k < impl_->params.size(); ++k) {
    impl_->params[k].remove_hook(impl_->hookIds[k]);
  }
}

size_t GradientSync::bucketCount() const { return impl_->buckets.size(); }

void GradientSync::beginStep(std::optional<size_t> poison) {
  auto& m = *impl_;
  for (auto& b : m.buckets) {
    b.pending = b.params.size();
    b.work.reset();
  }
  std::fill(m.arrived.begin(), m.arrived.end(), false);
  m.nextLaunch = 0;
  m.poison = poison;
  m.armed = true;
}

void GradientSync::finish() {
  auto& m = *impl_;
  m.armed = false;
  // A parameter backward did not reach: zeros, so every rank issues the same collectives.
  for (size_t k = 0; k < m.params.size(); ++k) {
    if (!m.arrived[k]) {
      auto& b = m.buckets[m.bucketOf[k]];
      b.flat.narrow(0, b.offsets[m.slotOf[k]], m.params[k].numel()).zero_();
      b.pending -= 1;
    }
  }
  m.launchReady();
  const auto start = std::chrono::steady_clock::now();
  const double world = worldSize();
  torch::NoGradGuard noGrad;
  for (auto& b : m.buckets) {
    wait(b.work, "the gradient all-reduce");
    b.flat.div_(world);
    for (size_t s = 0; s < b.params.size(); ++s) {
      auto& p = m.params[b.params[s]];
      auto mean = b.flat.narrow(0, b.offsets[s], p.numel()).view(p.sizes());
      if (p.grad().defined()) {
        p.mutable_grad().copy_(mean);
      } else {
        p.mutable_grad() = mean.clone().to(p.device());
      }
    }
  }
  lastWait_ = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

}  // namespace ampbench::dist
