#pragma once
// Plain-word explanations shown as tooltips. One place, so the wording stays consistent
// between the run panel, the plots and the comparison view.

namespace ampbench::ui::tips {

inline constexpr const char* kMixedPrecision =
    "Mixed precision: most arithmetic runs in a 16-bit format (half the memory traffic, "
    "and on hardware with 16-bit units much faster), while a full 32-bit copy of the "
    "weights is kept for the updates. Switch it off for the plain FP32 baseline.";

inline constexpr const char* kPrecisionDetail =
    "Which 16-bit format.\n"
    "FP16: 5 exponent bits. Pure FP16 training has three problems: small gradients "
    "underflow to zero, large values overflow to infinity, and tiny weight updates are "
    "lost when added to a 16-bit weight. Mixed FP16 fixes them with FP32 master weights "
    "and loss scaling.\n"
    "BF16: 8 exponent bits like FP32, so no underflow/overflow and no loss scaling "
    "needed; fewer digits of precision.\n"
    "Auto: the fastest real mixed format on this device.";

inline constexpr const char* kEmulated =
    "This CPU build has no FP16 kernels: FP16 runs on FP32 kernels with every weight and "
    "layer output rounded to FP16. The numbers behave like FP16 (useful to see overflow "
    "and loss scaling at work), but it is not faster — it is slower.";

inline constexpr const char* kMasterWeights =
    "Master weights: the optimizer keeps and updates a 32-bit copy of every weight. "
    "An update much smaller than the weight would vanish if added in 16 bits; in 32 bits "
    "it is kept.";

inline constexpr const char* kLossScaling =
    "Loss scaling: the loss is multiplied by a large factor (the scale) before the "
    "backward pass so small FP16 gradients do not round to zero, and the gradients are "
    "divided by it again before the update. If a gradient overflows to infinity the step "
    "is skipped and the scale halved; after many good steps it doubles again.\n"
    "Auto: on for FP16, off for BF16 and FP32.";

inline constexpr const char* kInitScale =
    "The loss scale at the first step (2^16 = 65536, as in PyTorch's GradScaler).";
inline constexpr const char* kGrowthFactor = "Multiply the scale by this after a run of good steps.";
inline constexpr const char* kBackoffFactor =
    "Multiply the scale by this when a gradient overflowed (the step is skipped).";
inline constexpr const char* kGrowthInterval = "Good steps in a row before the scale grows.";
inline constexpr const char* kMinScale = "Never let the scale fall below this (0 = no floor).";

inline constexpr const char* kModel =
    "The network to train. small_cnn trains in seconds on small images; the ResNets are "
    "the standard image classifiers (slower, better on large images).";
inline constexpr const char* kEpochs = "How many passes over the training images.";
inline constexpr const char* kBatchSize =
    "Images per training step. Larger batches use more memory and are often faster per image.";
inline constexpr const char* kImageSize =
    "Every image is resized to this many pixels square before training.";
inline constexpr const char* kLearningRate =
    "Peak learning rate: how big each update step is. Too high and the loss jumps around "
    "or diverges; too low and training is slow.";
inline constexpr const char* kSeed =
    "Random seed for the initial weights, shuffling and augmentation. The same seed gives "
    "the same initial weights, so runs can be compared fairly.";
inline constexpr const char* kDevice = "Where to train: Auto picks a CUDA GPU when there is one, else the CPU.";
inline constexpr const char* kOptimizer = "SGD with momentum, or AdamW.";
inline constexpr const char* kSchedule =
    "How the learning rate changes during training: one-cycle (warm up, then anneal), "
    "cosine decay, or constant.";
inline constexpr const char* kMemoryFormat =
    "How activations are laid out in memory on the CPU. oneDNN blocked keeps them in oneDNN's own layout "
    "between layers (nChw8c/16c in FP32, channels last with prepacked weights in BF16 on AMX): no reorders "
    "around each convolution; distributed runs refuse it, and so does BF16 on a CPU without BF16 units. "
    "Auto: blocked on the CPU wherever it runs (measured faster there); on a GPU channels last.";
inline constexpr const char* kThreads = "CPU threads for the math (0 = all cores).";
inline constexpr const char* kLimit =
    "Use at most this many images per split (0 = all): handy for a quick try.";

inline constexpr const char* kTrain = "Train one model with the settings above, live plots on the right.";
inline constexpr const char* kStop =
    "Stop after the current step. The run directory stays consistent (checkpoint and CSVs).";
inline constexpr const char* kCompare =
    "Train twice on the same data, seed and initial weights — once in FP32, once in the "
    "mixed format chosen above — one after the other, never both at once, so each run "
    "gets every core and the timings are fair. Then show both side by side.";

inline constexpr const char* kGradStats =
    "Every N training steps, measure what FP16 and BF16 would do to this run's numbers: which gradients "
    "become zero without loss scaling, which weight updates are too small to change a weight without "
    "FP32 master weights, which layer overflows first. Shown in the Precision tab and written to "
    "grad_stats.csv. Off: no statistics (saves a little time).";
inline constexpr const char* kWithoutFixes =
    "Adds the what-if runs to the comparison: the same mixed format with its fixes switched off — no loss "
    "scaling (FP16), and no FP32 master weights (weights rounded to the format after every update). A what-if "
    "that diverges is a result, not a failure: it shows what the fix rescues.";

}  // namespace ampbench::ui::tips
