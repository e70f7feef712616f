#pragma once
// Model registry by name. Models are classifiers: input N x C x S x S float, output
// N x numClasses logits. Parameter and buffer names of resnet18/34 are exactly
// torchvision's, so weights interchange with PyTorch.

#include "engine/models/ActivationProbe.h"

#include <torch/nn/module.h>
#include <torch/types.h>

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace torch::nn {
class BatchNorm2dImpl;
}

namespace ampbench {

struct ModelSpec {
  std::string name = "small_cnn";
  int64_t inChannels = 1;
  int64_t numClasses = 2;
};

// Reduced-precision emulation shared by a model and its blocks: when `dtype` is set,
// weights and layer outputs are rounded through it (x.to(half).to(float) rounds the value
// forward and the gradient backward), which gives fp16 numerics on fp32 kernels.
// `batchNorm`, when set, replaces the training-mode batch norm of every layer (data-parallel
// runs with --sync-bn install the synchronised one; the models stay unaware of ranks).
struct Emulation {
  std::optional<torch::ScalarType> dtype;
  std::function<torch::Tensor(torch::nn::BatchNorm2dImpl&, const torch::Tensor&)> batchNorm;
  // Activations travel in oneDNN's blocked layout (engine/models/Blocked.h) from the first
  // convolution to the head, where they return to plain NCHW before global pooling.
  bool blocked = false;
};
using EmulationPtr = std::shared_ptr<Emulation>;

// Base of every registry model.
class ClassifierImpl : public torch::nn::Module {
 public:
  virtual torch::Tensor forward(torch::Tensor x) = 0;
  void setEmulatedDtype(std::optional<torch::ScalarType> dtype) { emulation_->dtype = dtype; }
  std::optional<torch::ScalarType> emulatedDtype() const { return emulation_->dtype; }
  void setBlocked(bool on) { emulation_->blocked = on; }
  bool blocked() const { return emulation_->blocked; }
  void setBatchNorm(std::function<torch::Tensor(torch::nn::BatchNorm2dImpl&, const torch::Tensor&)> fn) {
    emulation_->batchNorm = std::move(fn);
  }
  const ModelSpec& spec() const { return spec_; }
  // Block outputs go to `probe` during forward until it is detached (nullptr). Not owned.
  void setProbe(ActivationProbe* probe) { probe_ = probe; }
  ActivationProbe* probe() const { return probe_; }

 protected:
  explicit ClassifierImpl(ModelSpec spec) : spec_(std::move(spec)), emulation_(std::make_shared<Emulation>()) {}
  const EmulationPtr& emulation() const { return emulation_; }
  // Called by forward after each block with its output; the forward continues with what it
  // returns (`x` itself without a probe). A probe sees plain NCHW: on the blocked path the
  // activation passes through a plain copy (an exact round trip) so its hooks fire.
  torch::Tensor report(const std::string& name, const torch::Tensor& x) { return probe_ ? recordPlain(name, x) : x; }

 private:
  torch::Tensor recordPlain(const std::string& name, const torch::Tensor& x);
  ModelSpec spec_;
  EmulationPtr emulation_;
  ActivationProbe* probe_ = nullptr;
};

std::vector<std::string> modelNames();
bool isKnownModel(const std::string& name);
// Throws InputError naming the known models.
std::shared_ptr<ClassifierImpl> createModel(const ModelSpec& spec);
// The block Grad-CAM explains: the last convolutional block, by the name the model reports
// to its ActivationProbe ("layer4.1" for resnet18). Throws InputError for an unknown model.
std::string gradCamLayer(const std::string& model);

}  // namespace ampbench
