#pragma once
// Whether a run takes the blocked-layout path (--memory-format blocked, engine/models/Blocked.h).
// Engine-internal (torch).

#include "engine/core/Events.h"
#include "engine/core/RunConfig.h"

#include <torch/types.h>

#include <string>

namespace ampbench {

class ClassifierImpl;

struct BlockedChoice {
  bool blocked = false;
  // Set when auto would have taken the blocked path but this run cannot: one line naming the
  // reason (the layer, the device, ...); the run takes the plain path.
  std::string fallback;
};

// What auto picks: the blocked path where bench/ measured it faster, which is fp32 and the
// emulated formats on oneDNN's AVX2 kernels (AMD EPYC, quiet, paired rounds, session 14:
// ResNet-18 1.06-1.25x our plain path at 64-224 px, ResNet-34 1.13-1.16x, emulated FP16
// 1.19-1.37x, small_cnn 1.01-1.29x; BENCHMARKS.md, "The blocked path, session 14"). Its
// many-step drift from plain NCHW is of the same size as channels_last's (the plain choice).
// Elsewhere (AVX-512, CUDA, native bf16/fp16, distributed) it is not preferred.
bool blockedPrecision(const PrecisionInfo& precision);
bool autoPrefersBlocked(const RunConfig& config, const torch::Device& device, const PrecisionInfo& precision);

// Explicit blocked that cannot run throws InputError (one line: the reason, or the module path
// of the first unsupported layer); auto with `autoPrefers` falls back to the plain path and says
// why in `fallback`; contiguous and channels_last never take it.
BlockedChoice chooseBlocked(const RunConfig& config, const torch::Device& device, const PrecisionInfo& precision,
                            const ClassifierImpl& model, bool autoPrefers);

}  // namespace ampbench
