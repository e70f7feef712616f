#include "engine/models/Registry.h"
#include "engine/models/ResNet.h"
#include "engine/util/Errors.h"

#include <gtest/gtest.h>
#include <torch/torch.h>

#include <set>

using namespace ampbench;

namespace {
int64_t countParams(ClassifierImpl& m) {
  int64_t n = 0;
  for (const auto& p : m.parameters()) n += p.numel();
  return n;
}
std::set<std::string> stateNames(ClassifierImpl& m) {
  std::set<std::string> out;
  for (const auto& p : m.named_parameters()) out.insert(p.key());
  for (const auto& b : m.named_buffers()) out.insert(b.key());
  return out;
}
}  // namespace

TEST(Models, ResNetParameterCountsMatchTorchvision) {
  // torchvision.models.resnet18() / resnet34(): 3 channels, 1000 classes.
  EXPECT_EQ(countParams(*createModel({"resnet18", 3, 1000})), 11689512);
  EXPECT_EQ(countParams(*createModel({"resnet34", 3, 1000})), 21797672);
}

TEST(Models, ResNetUsesTorchvisionNames) {
  auto m = createModel({"resnet18", 3, 2});
  const auto names = stateNames(*m);
  for (const char* n : {"conv1.weight", "bn1.weight", "bn1.running_mean", "bn1.num_batches_tracked",
                        "layer1.0.conv1.weight", "layer1.1.bn2.running_var", "layer2.0.downsample.0.weight",
                        "layer2.0.downsample.1.running_mean", "layer4.1.conv2.weight", "fc.weight", "fc.bias"}) {
    EXPECT_TRUE(names.count(n)) << n;
  }
  EXPECT_FALSE(names.count("layer1.0.downsample.0.weight"));
  // torchvision's resnet18 state dict has 122 entries (62 params + 60 buffers).
  EXPECT_EQ(names.size(), 122u);
}

TEST(Models, KaimingInitLikeTorchvision) {
  torch::manual_seed(0);
  auto m = std::dynamic_pointer_cast<ResNetImpl>(createModel({"resnet18", 3, 2}));
  ASSERT_TRUE(m);
  // kaiming_normal_(fan_out, relu): std = sqrt(2 / (64 * 7 * 7))
  EXPECT_NEAR(m->conv1->weight.std().item<double>(), std::sqrt(2.0 / (64 * 49)), 0.002);
  EXPECT_TRUE(torch::equal(m->bn1->weight, torch::ones({64})));
  EXPECT_TRUE(torch::equal(m->bn1->bias, torch::zeros({64})));
}

TEST(Models, EveryModelClassifiesAnyChannelsAndSize) {
  for (const auto& name : modelNames()) {
    for (int64_t c : {1, 3}) {
      for (int64_t size : {28, 64}) {
        auto m = createModel({name, c, 5});
        m->eval();
        torch::NoGradGuard ng;
        auto y = m->forward(torch::randn({2, c, size, size}));
        EXPECT_EQ(y.sizes(), (std::vector<int64_t>{2, 5})) << name << " " << c << "ch " << size << "px";
      }
    }
  }
}

TEST(Models, UnknownModelNamesTheChoices) {
  try {
    createModel({"vgg99", 1, 2});
    FAIL();
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("resnet18"), std::string::npos);
  }
}
