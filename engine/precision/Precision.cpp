#include "engine/precision/Precision.h"

#include "engine/Compat.h"
#include "engine/util/Errors.h"
#include "engine/util/Files.h"

#include <ATen/Context.h>

namespace ampbench {

PrecisionInfo resolvePrecision(PrecisionMode mode, const c10::Device& device, const LossScalerOptions& scaler,
                               bool strict, Bf16KernelsKind bf16Kernels, bool cpuNativeBf16) {
  PrecisionInfo info;
  info.requested = mode;
  const bool cuda = device.is_cuda();
  if (mode == PrecisionMode::Auto) {
    mode = cuda ? PrecisionMode::Fp16 : (cpuNativeBf16 ? PrecisionMode::Bf16 : PrecisionMode::Fp16);
  }
  info.resolved = mode;
  info.whatIf = isWhatIf(mode);
  const bool fp16 = mode == PrecisionMode::Fp16 || mode == PrecisionMode::Fp16NoScale || mode == PrecisionMode::Fp16Pure;
  const bool bf16 = mode == PrecisionMode::Bf16 || mode == PrecisionMode::Bf16Pure;
  const char* const tail = mode == PrecisionMode::Fp16NoScale ? "; what-if: no loss scaling"
                           : (mode == PrecisionMode::Fp16Pure || mode == PrecisionMode::Bf16Pure)
                               ? "; what-if: no FP32 master weights (weights rounded after every update), no loss "
                                 "scaling"
                               : "";
  if (mode == PrecisionMode::Fp32) {
    info.computeDtype = "float32";
    info.label = "FP32";
    info.note = cuda ? "float32 everywhere, TF32 off: the honest baseline" : "float32 everywhere: the baseline";
  } else if (fp16) {
    info.computeDtype = "float16";
    info.label = mode == PrecisionMode::Fp16 ? "FP16 mixed" : mode == PrecisionMode::Fp16NoScale ? "FP16, no loss scaling" : "Pure FP16";
    if (cuda) {
      info.autocast = true;
      info.note = std::string("autocast float16 on tensor cores") +
                  (mode == PrecisionMode::Fp16 ? ", FP32 master weights, dynamic loss scaling" : tail);
    } else {
      if (strict) {
        throw InputError("fp16 is only emulated on this CPU (LibTorch has no fp16 CPU kernels): "
                         "use bf16 for a real speed-up where the CPU has AVX512-BF16/AMX, or drop --strict to run "
                         "the emulation");
      }
      info.emulated = true;
      info.label += " (emulated)";
      info.note = std::string("fp16 numerics emulated on fp32 kernels (weights and activations rounded to float16): "
                              "faithful overflow/underflow, no speed-up") + tail;
    }
  } else if (bf16) {
    info.computeDtype = "bfloat16";
    info.label = mode == PrecisionMode::Bf16 ? "BF16 mixed" : "Pure BF16";
    const bool native = cuda || bf16Kernels == Bf16KernelsKind::Native ||
                        (bf16Kernels == Bf16KernelsKind::Auto && cpuNativeBf16);
    if (native) {
      info.autocast = true;
      info.note = cuda ? "autocast bfloat16 (Ampere or newer)"
                  : cpuNativeBf16 ? "autocast bfloat16 through oneDNN (AVX512-BF16/AMX)"
                                  : "LibTorch's own bfloat16 kernels (--bf16-kernels native), but this CPU has no "
                                    "AVX512-BF16/AMX: it falls back to slow reference convolutions, expect bf16 to "
                                    "be many times SLOWER than fp32 here";
      if (!cuda && !cpuNativeBf16) {
        info.label += " (native kernels, no bf16 units)";
        info.slowKernels = true;
      }
    } else {
      if (strict) {
        throw InputError("bf16 would be emulated on this CPU (no AVX512-BF16/AMX): pass --bf16-kernels native to "
                         "run LibTorch's slow reference bf16 kernels, or drop --strict to run the emulation");
      }
      info.emulated = true;
      info.label += " (emulated)";
      info.note = "bf16 numerics emulated on fp32 kernels (weights and activations rounded to bfloat16): "
                  "this CPU has no AVX512-BF16/AMX, so bf16 cannot be faster here";
    }
    info.note += mode == PrecisionMode::Bf16 ? ", FP32 master weights" : tail;
  }
  switch (scaler.mode) {
    case ScalingKind::Auto: info.lossScaling = mode == PrecisionMode::Fp16; break;
    case ScalingKind::On: info.lossScaling = true; break;
    case ScalingKind::Off: info.lossScaling = false; break;
  }
  if (info.whatIf) {
    info.lossScaling = false;  // the fix switched off is the point of the mode
    info.masterWeights = mode == PrecisionMode::Fp16NoScale;
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
