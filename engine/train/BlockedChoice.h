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

// What auto picks: the blocked path wherever it runs, because bench/ measured it faster than
// channels_last everywhere it was tried (paired rounds, BENCHMARKS.md):
//  - AMD EPYC, AVX2 (nChw8c), fp32 and emulated: ResNet-18 1.06-1.25x at 64-224 px, ResNet-34
//    1.13-1.16x, emulated FP16 1.19-1.37x, small_cnn 1.01-1.29x (session 14);
//  - Sapphire Rapids, AVX-512 (nChw16c), fp32: ResNet-18 1.05-1.26x, ResNet-34 1.12x, small_cnn
//    1.13-1.27x; bf16 on AMX (channels-last, prepacked weights): ResNet-18 1.03-1.16x, ResNet-34
//    1.08x, small_cnn 1.14-1.32x (session 15);
//  - AMD Zen 5, AVX512-BF16 without AMX, bf16: ResNet-18 1.10x (1.01-1.17 per round), small_cnn
//    1.16-1.23x (session 24; Cooper Lake and Zen 4 run the same oneDNN kernels, unmeasured).
// Its many-step drift from plain NCHW is of the same size as channels_last's (the plain choice).
// Not on CUDA, distributed runs, sync-BN, or bf16 forced onto a CPU without bf16 units.
// blockedPrecision: the precisions it has kernels for (fp32, the emulated formats, bf16 with
// bf16 units).
bool blockedPrecision(const PrecisionInfo& precision);
bool autoPrefersBlocked(const RunConfig& config, const torch::Device& device, const PrecisionInfo& precision);

// Explicit blocked that cannot run throws InputError (one line: the reason, or the module path
// of the first unsupported layer); auto with `autoPrefers` falls back to the plain path and says
// why in `fallback`; contiguous and channels_last never take it.
BlockedChoice chooseBlocked(const RunConfig& config, const torch::Device& device, const PrecisionInfo& precision,
                            const ClassifierImpl& model, bool autoPrefers);

}  // namespace ampbench
