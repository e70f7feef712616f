#include "engine/precision/Precision.h"

#include "engine/Compat.h"
#include "engine/util/Errors.h"
#include "engine/util/Files.h"

#include <ATen/Context.h>

namespace ampbench {

PrecisionInfo resolvePrecision(PrecisionMode mode, const c10::Device& device, const LossScalerOptions& scaler,
                               bool strict) {
  PrecisionInfo info;
  info.requested = mode;
  const bool cuda = device.is_cuda();
  if (mode == PrecisionMode::Auto) {
    mode = cuda ? PrecisionMode::Fp16 : (cpuHasBf16() ? PrecisionMode::Bf16 : PrecisionMode::Fp16);
  }
  info.resolved = mode;
  switch (mode) {
    case PrecisionMode::Fp32:
      info.computeDtype = "float32";
      info.label = "FP32";
      info.note = cuda ? "float32 everywhere, TF32 off: the honest baseline" : "float32 everywhere: the baseline";
      break;
    case PrecisionMode::Fp16:
      info.computeDtype = "float16";
      if (cuda) {
        info.autocast = true;
        info.label = "FP16 mixed";
        info.note = "autocast float16 on tensor cores, FP32 master weights, dynamic loss scaling";
      } else {
        if (strict) {
          throw InputError("fp16 is only emulated on this CPU (LibTorch has no fp16 CPU kernels): "
                           "use bf16 for a real speed-up, or drop --strict to run the emulation");
        }
        info.emulated = true;
        info.label = "FP16 mixed (emulated)";
        info.note = "fp16 numerics emulated on fp32 kernels (weights and activations rounded to float16): "
                    "faithful overflow/underflow, no speed-up";
      }
      break;
    case PrecisionMode::Bf16:
      info.computeDtype = "bfloat16";
      info.autocast = true;
      info.label = "BF16 mixed";
      info.note = cuda ? "autocast bfloat16 (Ampere or newer), FP32 master weights"
                       : (cpuHasBf16() ? "autocast bfloat16 through oneDNN (AVX512-BF16/AMX), FP32 master weights"
                                       : "autocast bfloat16, but this CPU has no native bf16 (no AVX512-BF16/AMX): "
                                         "LibTorch falls back to slow reference convolutions, expect bf16 to be "
                                         "several times SLOWER than fp32 here");
      break;
    case PrecisionMode::Auto:
      break;
  }
  switch (scaler.mode) {
    case ScalingKind::Auto: info.lossScaling = mode == PrecisionMode::Fp16; break;
    case ScalingKind::On: info.lossScaling = true; break;
    case ScalingKind::Off: info.lossScaling = false; break;
  }
  return info;
}

c10::ScalarType computeScalarType(const PrecisionInfo& info) {
  if (info.computeDtype == "float16") return c10::ScalarType::Half;
  if (info.computeDtype == "bfloat16") return c10::ScalarType::BFloat16;
  return c10::ScalarType::Float;
}

AutocastGuard::AutocastGuard(c10::DeviceType device, c10::ScalarType dtype, bool enabled)
    : device_(device), enabled_(enabled) {
  if (!enabled_) {
    return;
  }
  prevEnabled_ = compat::isAutocastEnabled(device_);
  prevDtype_ = compat::autocastDtype(device_);
  compat::setAutocastEnabled(device_, true);
  compat::setAutocastDtype(device_, dtype);
  at::autocast::increment_nesting();
}

AutocastGuard::~AutocastGuard() {
  if (!enabled_) {
    return;
  }
  // Leaving the outermost autocast region frees the cached low-precision weight casts.
  if (at::autocast::decrement_nesting() == 0) {
    at::autocast::clear_cache();
  }
  compat::setAutocastEnabled(device_, prevEnabled_);
  compat::setAutocastDtype(device_, prevDtype_);
}

void setTf32Allowed(bool allowed) {
  at::globalContext().setAllowTF32CuBLAS(allowed);
  at::globalContext().setAllowTF32CuDNN(allowed);
}

void setCudnnBenchmark(bool enabled) { at::globalContext().setBenchmarkCuDNN(enabled); }

}  // namespace ampbench
