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

// What auto picks: the blocked path where bench/ measured it faster. Nowhere yet: on a quiet
// AVX2 machine ResNet-18 ran ~1.10x our plain path but its many-step agreement with the plain
// path is not settled, and small_cnn ran 0.91x (BENCHMARKS.md, "The blocked path on a quiet machine").
bool autoPrefersBlocked(const RunConfig& config, const torch::Device& device, const PrecisionInfo& precision);

// Explicit blocked that cannot run throws InputError (one line: the reason, or the module path
// of the first unsupported layer); auto with `autoPrefers` falls back to the plain path and says
// why in `fallback`; contiguous and channels_last never take it.
BlockedChoice chooseBlocked(const RunConfig& config, const torch::Device& device, const PrecisionInfo& precision,
                            const ClassifierImpl& model, bool autoPrefers);

}  // namespace ampbench
