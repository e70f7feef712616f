#pragma once
// model.pt: the model's parameters and buffers in a LibTorch archive (the format of
// torch::save(module)), which Python reads with torch.jit.load. Keys are the registered
// names, exactly torchvision's for the ResNets (conv1.weight, layer1.0.bn1.running_mean,
// layer2.0.downsample.0.weight, ..., num_batches_tracked included), so
//   sd = torch.jit.load("model.pt").state_dict()
//   torchvision.models.resnet18(num_classes=K).load_state_dict(sd, strict=True)
// works (for one input channel, replace conv1 first: docs/EXPORT.md). Engine-internal.

#include "engine/models/Registry.h"

#include <string>
#include <utility>
#include <vector>

namespace ampbench {

// Writes path.tmp and renames it. Tensors are saved contiguous, float32 (the master
// weights; num_batches_tracked stays int64), on the CPU, whatever the model's memory
// format or device.
void writeTorchArchive(ClassifierImpl& model, const std::string& path);

// Name -> shape of every tensor writeTorchArchive writes, in registration order.
std::vector<std::pair<std::string, std::vector<int64_t>>> torchArchiveLayout(ClassifierImpl& model);

}  // namespace ampbench
