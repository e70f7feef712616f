#pragma once
// Pieces shared by the trainer, the comparison and inference. Engine-internal (torch).

#include "engine/data/ImageCache.h"
#include "engine/data/Loader.h"
#include "engine/models/Registry.h"
#include "engine/core/Events.h"

#include <torch/types.h>

#include <memory>
#include <string>

namespace ampbench {

torch::Device resolveDevice(DeviceKind kind);
// Sets LibTorch's intra-op threads (0 = all cores) and returns the number in use.
int configureThreads(int requested);
bool useChannelsLast(const RunConfig& config, const torch::Device& device);
// The loader settings of a run: shuffled and augmented for training, plain for evaluation.
LoaderOptions loaderOptions(const RunConfig& config, const DatasetSummary& data, const torch::Device& device,
                            int64_t epoch, bool training);
// Puts every 4-D parameter in NHWC (channelsLast) or NCHW strides, by copy.
void applyMemoryFormat(ClassifierImpl& model, bool channelsLast);

// Creates the model on the device, in the run's memory format, with fp16/bf16 emulation
// when the precision asks for it.
std::shared_ptr<ClassifierImpl> buildModel(const RunConfig& config, int64_t numClasses, const torch::Device& device,
                                           const PrecisionInfo& precision);

// Evaluates on a split without augmentation, in the run's precision. `probabilities`
// receives [N x classes] softmax outputs when given. Returns empty metrics (count 0)
// when cancelled.
Metrics evaluateSplit(ClassifierImpl& model, const SplitTensors& split, const DatasetSummary& data,
                      const RunConfig& config, const PrecisionInfo& precision, const torch::Device& device,
                      const CancelToken& cancel, std::vector<float>* probabilities = nullptr);

// Trains on prepared data into config.outDir. `initialWeights` (serialised model) makes
// every mode of a comparison start from the same weights.
RunSummary trainPrepared(const RunConfig& config, const PreparedData& data, const PrecisionInfo& precision,
                         const torch::Device& device, const std::string* initialWeights, RunObserver& observer,
                         const CancelToken& cancel);

// Median of the epochs after warm-up (the first dropped when there are three or more).
double medianAfterWarmup(std::vector<double> values);

}  // namespace ampbench
