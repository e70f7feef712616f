#pragma once
// Pieces shared by the trainer, the comparison and inference. Engine-internal (torch).

#include "engine/data/ImageCache.h"
#include "engine/data/Loader.h"
#include "engine/models/Registry.h"
#include "engine/core/Events.h"
#include "engine/train/Trainer.h"

#include <torch/types.h>

#include <functional>
#include <memory>
#include <string>

namespace ampbench {

torch::Device resolveDevice(DeviceKind kind);
// Sets LibTorch's intra-op threads (0 = all cores) and returns the number in use.
int configureThreads(int requested);
bool useChannelsLast(const RunConfig& config, const torch::Device& device);
// The memory format a run's config.json says it ran with (resolved.memory_format), or "".
std::string recordedMemoryFormat(const std::string& runDir);
// The loader settings of a run: shuffled and augmented for training, plain for evaluation.
LoaderOptions loaderOptions(const RunConfig& config, const DatasetSummary& data, const torch::Device& device,
                            int64_t epoch, bool training);
// Whether the model runs on oneDNN's blocked layout (--memory-format blocked); throws
// InputError (one line, naming the reason or the layer) when blocked was asked for and
// cannot run: not a CPU, distributed, native reduced-precision kernels, an unsupported layer.
bool useBlocked(const RunConfig& config, const torch::Device& device, const PrecisionInfo& precision,
                const ClassifierImpl& model);
// "blocked", "channels_last" or "contiguous": what a run with this model executes (config.json).
std::string memoryFormatThatRan(const RunConfig& config, const torch::Device& device, const ClassifierImpl& model);
// Puts every 4-D parameter in NHWC (channelsLast) or NCHW strides, by copy.
void applyMemoryFormat(ClassifierImpl& model, bool channelsLast);
// Lays each optimizer state tensor (SGD's momentum, AdamW's moments) out like its parameter, by
// exact copies. A loaded checkpoint brings the strides it was saved with: written with the other
// weight layout (an older build, a CPU without bf16 units) its momentum would otherwise keep the fused
// SGD step from running for the rest of the run, and change its bits.
void layStateLikeParameters(torch::optim::Optimizer& optimizer);
// Whether the run's 4-D weights are held channels-last (OHWI memory): on the channels_last path,
// and on the blocked path under bf16 autocast. Its bf16 weight gradients mostly come from the
// matmul, which writes OHWI: held so, they need no reorder back to OIHW (4.5-5.8 ms of a ResNet-18
// 128 px step, 3 channels, Sapphire Rapids; packing the weights from OHWI costs no more). fp32
// keeps OIHW: its kernels' packing from OHWI cost more (+3 ms) than the gradients' way back saved
// (-1.6 ms). bench/blocked_reorders.py measures both.
bool weightsChannelsLast(const RunConfig& config, const torch::Device& device, const ClassifierImpl& model,
                         const PrecisionInfo& precision);

// Creates the model on the device, in the run's memory format, with fp16/bf16 emulation
// when the precision asks for it.
std::shared_ptr<ClassifierImpl> buildModel(const RunConfig& config, int64_t numClasses, const torch::Device& device,
                                           const PrecisionInfo& precision);

// Evaluates on a split without augmentation, in the run's precision. `probabilities`
// receives [N x classes] softmax outputs when given, in the split's order (ids). Returns
// empty metrics (count 0) when cancelled. `progress` gets (images done, total) per batch.
// `tta` (views > 1): the probabilities are the mean of the views' (testTimeView), the loss
// their cross-entropy; validation during training does not use it.
Metrics evaluateSplit(ClassifierImpl& model, const SplitTensors& split, const DatasetSummary& data,
                      const RunConfig& config, const PrecisionInfo& precision, const torch::Device& device,
                      const CancelToken& cancel, std::vector<float>* probabilities = nullptr,
                      const std::function<void(int64_t, int64_t)>& progress = {}, const TtaOptions& tta = {});

// An image id of a split (SplitTensors::ids) as the evaluation files name it: relative to
// the dataset folder, or "<split>/<index>" for array datasets.
std::string relativeImageName(const std::string& id, const std::string& source);

// Per-image outputs of a split (probabilities in the order of `ids`) as a RunEvaluation at
// `options`' threshold, file names relative to the dataset folder `source`.
RunEvaluation evaluateOutputs(const std::string& split, const std::string& source,
                              const std::vector<std::string>& classes, const std::vector<std::string>& ids,
                              const std::vector<float>& probabilities, const std::vector<int64_t>& labels,
                              double loss, const std::vector<SkippedFile>& skipped, const EvaluationOptions& options,
                              const std::string& thresholdSource);
// Writes <runDir>/evaluation_<split>.json and predictions_<split>.csv (atomically).
void writeRunEvaluation(const std::string& runDir, const RunEvaluation& r);
// At the end of a finished run: decision.json (when absent), the validation split's files
// from summary.finalValProbabilities, and the test split (when the data has one) evaluated
// once with the final model.
void writeEndOfRunEvaluations(const RunConfig& config, const PreparedData& data, ClassifierImpl& model,
                              const RunSummary& summary, const PrecisionInfo& precision, const torch::Device& device,
                              RunObserver& observer, const CancelToken& cancel);
// Writes <runDir>/decision.json.
void writeDecision(const std::string& runDir, const DecisionThreshold& d, const std::vector<std::string>& classes);

// Trains on prepared data into config.outDir. `initialWeights` (serialised model) makes
// every mode of a comparison start from the same weights.
RunSummary trainPrepared(const RunConfig& config, const PreparedData& data, const PrecisionInfo& precision,
                         const torch::Device& device, const std::string* initialWeights, RunObserver& observer,
                         const CancelToken& cancel);

// Median of the epochs after warm-up (the first dropped when there are three or more).
double medianAfterWarmup(std::vector<double> values);

}  // namespace ampbench
