// The launcher's environment to a rank, the config.json block of a distributed run and
// its resume rules, the loader's shards, and the collectives in one process (world size 1).
#include "engine/core/RunConfig.h"
#include "engine/data/Loader.h"
#include "engine/dist/ProcessGroup.h"
#include "engine/dist/SyncBatchNorm.h"
#include "engine/util/Errors.h"

#include <gtest/gtest.h>
#include <torch/torch.h>

#include <nlohmann/json.hpp>

#include <limits>
#include <set>

namespace ampbench {
namespace {

using Env = std::map<std::string, std::string>;

dist::DistEnv resolve(const Env& env, dist::DistOverrides o = {}) { return dist::resolveDistEnv(o, &env); }

std::string inputErrorOf(const Env& env, dist::DistOverrides o = {}) {
  try {
    resolve(env, o);
  } catch (const InputError& e) {
    return e.what();
  }
  return "";
}

TEST(DistEnv, ReadsTorchrunsVariables) {
  const auto e = resolve({{"RANK", "3"}, {"WORLD_SIZE", "4"}, {"LOCAL_RANK", "1"}, {"MASTER_ADDR", "node7"},
                          {"MASTER_PORT", "29611"}});
  EXPECT_EQ(e.rank, 3);
  EXPECT_EQ(e.worldSize, 4);
  EXPECT_EQ(e.localRank, 1);
  EXPECT_EQ(e.masterAddr, "node7");
  EXPECT_EQ(e.masterPort, 29611);
  EXPECT_EQ(e.source, "torchrun");
}

TEST(DistEnv, MapsSlurmsVariablesTheSameWay) {
  const auto e = resolve({{"SLURM_PROCID", "5"}, {"SLURM_NTASKS", "8"}, {"SLURM_LOCALID", "1"},
                          {"MASTER_ADDR", "gpu01"}});
  EXPECT_EQ(e.rank, 5);
  EXPECT_EQ(e.worldSize, 8);
  EXPECT_EQ(e.localRank, 1);
  EXPECT_EQ(e.masterPort, 29500);
  EXPECT_EQ(e.source, "slurm");
}

TEST(DistEnv, CommandLineOverridesTheEnvironment) {
  dist::DistOverrides o;
  o.rank = 1;
  o.worldSize = 2;
  o.master = "10.0.0.5:1234";
  const auto e = resolve({{"RANK", "0"}, {"WORLD_SIZE", "8"}}, o);
  EXPECT_EQ(e.rank, 1);
  EXPECT_EQ(e.worldSize, 2);
  EXPECT_EQ(e.localRank, 1);
  EXPECT_EQ(e.masterAddr, "10.0.0.5");
  EXPECT_EQ(e.masterPort, 1234);
}

TEST(DistEnv, RefusesMissingOrInconsistentValuesWithWhatToDo) {
  EXPECT_NE(inputErrorOf({}).find("start it with torchrun or srun"), std::string::npos);
  EXPECT_NE(inputErrorOf({{"RANK", "0"}}).find("the world size is missing"), std::string::npos);
  EXPECT_NE(inputErrorOf({{"RANK", "2"}, {"WORLD_SIZE", "2"}, {"MASTER_ADDR", "h"}}).find("RANK=2 does not fit WORLD_SIZE=2"),
            std::string::npos);
  EXPECT_NE(inputErrorOf({{"RANK", "-1"}, {"WORLD_SIZE", "2"}, {"MASTER_ADDR", "h"}}).find("does not fit"),
            std::string::npos);
  EXPECT_NE(inputErrorOf({{"RANK", "x"}, {"WORLD_SIZE", "2"}}).find("RANK='x' is not a whole number"),
            std::string::npos);
  EXPECT_NE(inputErrorOf({{"RANK", "0"}, {"WORLD_SIZE", "2"}}).find("MASTER_ADDR is not set"), std::string::npos);
  EXPECT_NE(inputErrorOf({{"RANK", "0"}, {"WORLD_SIZE", "2"}, {"MASTER_ADDR", "h"}, {"MASTER_PORT", "70000"}})
                .find("is not a TCP port"),
            std::string::npos);
}

TEST(DistEnv, TheNcclBackendIsRefusedOnACpuBuild) {
  if (dist::backendAvailable("nccl")) {
    GTEST_SKIP() << "this build has NCCL";
  }
  dist::DistEnv e;
  e.backend = "nccl";
  try {
    dist::initProcessGroup(e);
    FAIL() << "no error";
  } catch (const InputError& err) {
    EXPECT_NE(std::string(err.what()).find("use --backend gloo"), std::string::npos);
  }
  EXPECT_FALSE(dist::active());
}

TEST(DistributedConfig, RoundTripsAndOnlyDistributedRunsHaveTheBlock) {
  RunConfig c;
  EXPECT_FALSE(nlohmann::json::parse(configToJson(c)).contains("distributed"));
  c.distributed.worldSize = 4;
  c.batchSize = 16;
  const auto j = nlohmann::json::parse(configToJson(c));
  EXPECT_EQ(j["distributed"]["world_size"], 4);
  EXPECT_EQ(j["distributed"]["backend"], "gloo");
  EXPECT_EQ(j["distributed"]["per_rank_batch"], 16);
  const auto back = configFromJson(configToJson(c));
  EXPECT_EQ(back.distributed.worldSize, 4);
  EXPECT_EQ(back.distributed.backend, "gloo");
  EXPECT_EQ(configToJson(back), configToJson(c));
}

TEST(DistributedConfig, ResumeAcceptsAnotherWorldSizeAndPerRankBatchOnly) {
  RunConfig recorded;
  recorded.distributed.worldSize = 2;
  recorded.batchSize = 8;
  RunConfig asked = recorded;
  asked.distributed.worldSize = 1;
  asked.batchSize = 16;
  EXPECT_TRUE(resumeConflicts(recorded, asked).empty());
  asked.distributed.worldSize = 4;
  asked.batchSize = 4;
  EXPECT_TRUE(resumeConflicts(recorded, asked).empty());
  asked.lr = recorded.lr * 2;
  ASSERT_EQ(resumeConflicts(recorded, asked).size(), 1u);
  // One process to one process: the batch is the run's, as before.
  RunConfig single, other;
  other.batchSize = single.batchSize * 2;
  EXPECT_EQ(resumeConflicts(single, other).size(), 1u);
}

TEST(DistributedLoader, ShardsAreDisjointAndTogetherTheSingleProcessOrder) {
  SplitTensors split;
  const int64_t n = 37;
  split.images = torch::arange(n, torch::kLong).to(torch::kUInt8).view({n, 1, 1, 1});
  split.labels = torch::arange(n, torch::kLong);
  LoaderOptions o;
  o.batchSize = 8;
  o.prefetch = false;
  o.seed = 3;
  o.epoch = 2;
  auto global = o;  // 1 process, batch 16 = 2 ranks x 8
  global.batchSize = 16;
  BatchLoader one(split, global, true);
  std::vector<std::vector<int64_t>> ranks(2);
  for (int r = 0; r < 2; ++r) {
    auto s = o;
    s.shardRank = r;
    s.shardCount = 2;
    BatchLoader shard(split, s, true);
    EXPECT_EQ(shard.size(), 2);  // 37 images: 2 full global batches of 16, the rest dropped
    Batch b;
    while (shard.next(b)) {
      for (int64_t i = 0; i < b.labels.size(0); ++i) ranks[r].push_back(b.labels[i].item<int64_t>());
    }
  }
  std::vector<int64_t> single;
  Batch b;
  for (int k = 0; k < 2 && one.next(b); ++k) {
    for (int64_t i = 0; i < b.labels.size(0); ++i) single.push_back(b.labels[i].item<int64_t>());
  }
  ASSERT_EQ(single.size(), 32u);
  std::vector<int64_t> interleaved;
  for (int k = 0; k < 2; ++k) {
    for (int r = 0; r < 2; ++r) {
      interleaved.insert(interleaved.end(), ranks[r].begin() + 8 * k, ranks[r].begin() + 8 * (k + 1));
    }
  }
  EXPECT_EQ(interleaved, single);
  std::set<int64_t> a(ranks[0].begin(), ranks[0].end());
  for (auto v : ranks[1]) EXPECT_EQ(a.count(v), 0u);
  EXPECT_EQ(batchesPerEpoch(37, 8, true, 2), 2);
  EXPECT_EQ(batchesPerEpoch(37, 8, true, 1), batchesPerEpoch(37, 8, true));
}

// World size 1 over a real Gloo group on loopback: buckets small enough that every
// parameter has its own, so the in-order launch from hooks is exercised; the mean of one
// rank is its own gradient, and the poisoned parameter arrives as inf.
TEST(GradientSync, BucketsFromHooksGiveBackTheGradientsAndThePoison) {
  dist::DistEnv env;
  env.masterPort = 0;  // the store picks a free port (one rank needs no peer)
  env.timeoutSeconds = 20;
  dist::initProcessGroup(env);
  ASSERT_TRUE(dist::active());
  torch::manual_seed(1);
  torch::nn::Sequential net(torch::nn::Linear(4, 8), torch::nn::ReLU(), torch::nn::Linear(8, 3));
  const auto x = torch::randn({5, 4});
  net->forward(x).pow(2).sum().backward();
  std::vector<torch::Tensor> expected;
  for (const auto& p : net->parameters()) {
    expected.push_back(p.grad().clone());
    p.mutable_grad().reset();
  }
  {
    dist::GradientSync sync(net->parameters(), 4, 4);  // one parameter per bucket
    EXPECT_EQ(sync.bucketCount(), net->parameters().size());
    for (int step = 0; step < 2; ++step) {  // the same step twice: the hooks re-arm
      for (auto& p : net->parameters()) p.mutable_grad().reset();
      sync.beginStep(step == 1 ? std::optional<size_t>(0) : std::nullopt);
      net->forward(x).pow(2).sum().backward();
      sync.finish();
      const auto params = net->parameters();
      for (size_t i = 0; i < params.size(); ++i) {
        auto want = expected[i].clone();
        if (step == 1 && i == 0) {
          want.view(-1)[0] = std::numeric_limits<float>::infinity();
        }
        EXPECT_TRUE(torch::equal(params[i].grad(), want)) << "step " << step << " parameter " << i;
      }
    }
    // Unarmed (a replay's backward): the hooks leave the gradients alone.
    for (auto& p : net->parameters()) p.mutable_grad().reset();
    net->forward(x).pow(2).sum().backward();
    EXPECT_TRUE(torch::equal(net->parameters()[0].grad(), expected[0]));
  }
  std::vector<double> v{2.5};
  dist::allReduceSum(v, "test");
  EXPECT_EQ(v[0], 2.5);
  dist::destroyProcessGroup();
  EXPECT_FALSE(dist::active());
}

// One rank: the synchronised batch norm must be torch's own batch norm (outputs, the three
// gradients, the running statistics), in both memory formats, including a channel whose
// mean is 1e4 times its spread (where x * scale + (bias - mean * scale) or a sum of squares
// cancels): measured against the same computation in double, its error may not exceed
// twice torch's fp32 error plus 1e-6 of the largest value. The 2-rank equivalence is
// tests/e2e/distributed.sh h).
TEST(SyncBatchNorm, OneRankIsTorchsBatchNorm) {
  dist::DistEnv env;
  env.masterPort = 0;
  env.timeoutSeconds = 20;
  dist::initProcessGroup(env);
  // err(ours vs exact) <= 2 err(torch vs exact) + 1e-6 max|exact|
  auto noWorse = [](const torch::Tensor& ours, const torch::Tensor& torchs, const torch::Tensor& exact) {
    const double eo = (ours.to(torch::kDouble) - exact).abs().max().item<double>();
    const double et = (torchs.to(torch::kDouble) - exact).abs().max().item<double>();
    const double bound = 2 * et + 1e-6 * exact.abs().max().item<double>();
    return ::testing::AssertionResult(eo <= bound) << "error " << eo << ", torch's " << et << ", bound " << bound;
  };
  for (const bool channelsLast : {false, true}) {
    torch::manual_seed(3);
    torch::nn::BatchNorm2d ours(4), theirs(4), exact(4);
    dist::SyncBatchNorm sync;
    {
      torch::NoGradGuard noGrad;
      ours->weight.uniform_(0.5, 1.5);
      ours->bias.uniform_(-0.5, 0.5);
      theirs->weight.copy_(ours->weight);
      theirs->bias.copy_(ours->bias);
      exact->weight.copy_(ours->weight);
      exact->bias.copy_(ours->bias);
    }
    exact->to(torch::kDouble);
    auto base = torch::randn({6, 4, 5, 5});
    base.select(1, 2).mul_(0.01).add_(100.0);  // mean 100, spread 0.01
    if (channelsLast) {
      base = base.contiguous(torch::MemoryFormat::ChannelsLast);
    }
    const auto upstream = torch::randn({6, 4, 5, 5});
    auto xa = base.clone().requires_grad_(true), xb = base.clone().requires_grad_(true);
    auto xe = base.to(torch::kDouble).requires_grad_(true);
    for (int step = 0; step < 2; ++step) {
      const auto ya = sync.forward(*ours, xa, /*armed=*/true);
      const auto yb = theirs->forward(xb);
      const auto ye = exact->forward(xe);
      EXPECT_TRUE(noWorse(ya, yb, ye)) << "forward, channels_last " << channelsLast;
      EXPECT_TRUE(noWorse(ours->running_mean, theirs->running_mean, exact->running_mean));
      EXPECT_TRUE(noWorse(ours->running_var, theirs->running_var, exact->running_var));
      EXPECT_EQ(ours->num_batches_tracked.item<int64_t>(), theirs->num_batches_tracked.item<int64_t>());
      (ya * upstream).sum().backward();
      (yb * upstream).sum().backward();
      (ye * upstream.to(torch::kDouble)).sum().backward();
    }
    EXPECT_TRUE(noWorse(xa.grad(), xb.grad(), xe.grad())) << "input gradient, channels_last " << channelsLast;
    // A replay (not armed): the last armed forward's statistics, running statistics untouched.
    {
      torch::NoGradGuard noGrad;
      const auto before = ours->running_mean.clone();
      const auto armed = sync.forward(*ours, base, true);
      theirs->forward(base);  // the references' running statistics take the same step
      exact->forward(base.to(torch::kDouble));
      const auto tracked = ours->num_batches_tracked.item<int64_t>();
      EXPECT_TRUE(torch::equal(sync.forward(*ours, base, false), armed));
      EXPECT_EQ(ours->num_batches_tracked.item<int64_t>(), tracked);
      const auto one = base.narrow(0, 0, 1).narrow(2, 0, 1).narrow(3, 0, 1);  // one value per channel
      EXPECT_NO_THROW(sync.forward(*ours, one, false));  // a plain training batch norm refuses it
      EXPECT_THROW(theirs->forward(one), std::exception);
      EXPECT_FALSE(torch::equal(before, ours->running_mean));  // (the armed forward did update them)
    }
    EXPECT_TRUE(noWorse(ours->weight.grad(), theirs->weight.grad(), exact->weight.grad()));
    EXPECT_TRUE(noWorse(ours->bias.grad(), theirs->bias.grad(), exact->bias.grad()));
    // Evaluation mode: the running statistics, no collective.
    ours->eval();
    theirs->eval();
    exact->eval();
    EXPECT_TRUE(noWorse(sync.forward(*ours, base, true), theirs->forward(base), exact->forward(base.to(torch::kDouble))));
  }
  dist::destroyProcessGroup();
}

}  // namespace
}  // namespace ampbench
