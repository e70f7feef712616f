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

// What auto picks: the blocked path where bench/blocked.py measured it faster. Nowhere yet
// (BENCHMARKS.md, "The blocked path": 0.92x our plain path on ResNet-18, 0.74x on small_cnn).
bool autoPrefersBlocked(const RunConfig& config, const torch::Device& device, const PrecisionInfo& precision);

// Explicit blocked that cannot run throws InputError (one line: the reason, or the module path
// of the first unsupported layer); auto with `autoPrefers` falls back to the plain path and says
// why in `fallback`; contiguous and channels_last never take it.
BlockedChoice chooseBlocked(const RunConfig& config, const torch::Device& device, const PrecisionInfo& precision,
                            const ClassifierImpl& model, bool autoPrefers);

}  // namespace ampbench
