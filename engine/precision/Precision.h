#pragma once
// Precision modes as in DESIGN.md: what a mode becomes on a device, and the RAII guard
// that turns autocast on for the forward pass.

#include "engine/core/Events.h"
#include "engine/core/RunConfig.h"
#include "engine/util/Files.h"

#include <c10/core/Device.h>
#include <c10/core/ScalarType.h>

namespace ampbench {

// Resolves `mode` on `device`: Auto becomes fp16 on CUDA, bf16 on a CPU with native bf16
// (AVX512-BF16/AMX), emulated fp16 otherwise (the fastest mixed format here; where none is
// faster, the one with all three FP16 problems). fp16 on a CPU is emulated (LibTorch has no
// fp16 CPU kernels); bf16 on a CPU without bf16 units is emulated unless `bf16Kernels` is
// Native. The what-ifs switch fixes off: fp16-noscale has no loss scaling, *-pure also has
// no FP32 master weights. Throws InputError when `strict` and the mode would be emulated.
PrecisionInfo resolvePrecision(PrecisionMode mode, const c10::Device& device, const LossScalerOptions& scaler,
                               bool strict, Bf16KernelsKind bf16Kernels = Bf16KernelsKind::Auto,
                               bool cpuNativeBf16 = cpuHasBf16());

c10::ScalarType computeScalarType(const PrecisionInfo& info);

// Enables autocast for `dtype` on the device type for its lifetime (no-op when
// `enabled` is false), restoring the previous state after.
class AutocastGuard {
 public:
  AutocastGuard(c10::DeviceType device, c10::ScalarType dtype, bool enabled);
  ~AutocastGuard();
  AutocastGuard(const AutocastGuard&) = delete;
  AutocastGuard& operator=(const AutocastGuard&) = delete;

 private:
  c10::DeviceType device_;
  bool enabled_;
  bool prevEnabled_ = false;
  c10::ScalarType prevDtype_ = c10::ScalarType::Float;
};

// FP32 mode is an honest baseline: no TF32 on CUDA.
void setTf32Allowed(bool allowed);
// cuDNN autotuning (torch.backends.cudnn.benchmark): every step has the same shapes, so the
// fastest algorithm found on the first steps pays off; a tuned PyTorch loop turns it on too.
void setCudnnBenchmark(bool enabled);

}  // namespace ampbench
