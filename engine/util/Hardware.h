#pragma once
// What this machine can do for each precision mode, detected rather than assumed.
//
// The CPU is read with cpuid (vendor, brand string, AVX2/FMA/AVX-512/AMX/bf16/fp16 units)
// and XGETBV (whether the OS saves the AVX-512 and AMX register state: a CPU with the unit
// but an OS without the state cannot use it). The GPU, when LibTorch has CUDA, by its compute
// capability. The mode table says for each mode whether it runs natively, emulated, or not
// at all here, and why; it takes the detected facts as a value so tests can inject machines.
// Torch-free header: the GUI and the CLI include it.

#include <string>
#include <vector>

namespace ampbench {

struct CpuFeatures {
  std::string vendor;  // "GenuineIntel", "AuthenticAMD", ... ("" off x86)
  std::string brand;   // "AMD EPYC 7B13 64-Core Processor"
  bool avx2 = false;
  bool fma = false;
  bool avx512f = false;
  bool avx512Bf16 = false;  // AVX512_BF16: bf16 dot products (Cooper Lake, Zen 4, Sapphire Rapids)
  bool avx512Fp16 = false;  // AVX512_FP16: fp16 arithmetic (Sapphire Rapids)
  bool amxTile = false;
  bool amxBf16 = false;  // AMX-BF16: bf16 tile matrix multiply (Sapphire Rapids)
  // XCR0: the OS saves these register states (without it the instructions fault).
  bool osAvx = false;     // XMM + YMM
  bool osAvx512 = false;  // opmask + ZMM
  bool osAmxTile = false; // XTILECFG + XTILEDATA
  // Linux grants a process the AMX tile state on request (arch_prctl ARCH_REQ_XCOMP_PERM;
  // oneDNN asks before using AMX). True when the request succeeded.
  bool amxPermitted = false;
  int physicalCores = 0;   // distinct cores (sysfs topology); 0 when unknown
  int logicalCpus = 0;     // hardware threads of the machine
  int availableCpus = 0;   // hardware threads this process may run on (affinity, containers)

  bool avx512Usable() const { return avx512f && osAvx512; }
  bool amxUsable() const { return amxTile && amxBf16 && osAmxTile && amxPermitted; }
  // Native bf16 arithmetic the OS lets us use: AVX512_BF16 or AMX-BF16.
  bool nativeBf16() const { return (avx512Bf16 && osAvx512) || amxUsable(); }
};

struct GpuInfo {
  bool present = false;
  int count = 0;
  std::string name;
  int ccMajor = 0;
  int ccMinor = 0;
  double memoryGb = 0.0;

  bool tensorCores() const { return present && ccMajor >= 7; }  // Volta (7.0) and newer
  bool bf16() const { return present && ccMajor >= 8; }          // Ampere (8.0) and newer
};

struct SoftwareVersions {
  std::string torch;   // TORCH_VERSION
  std::string onednn;  // the oneDNN LibTorch runs (its dnnl_version()), "" when LibTorch has none
  std::string cuda;    // CUDA runtime LibTorch was built with, "" without CUDA
  std::string cudnn;   // "" without cuDNN
};

struct HardwareInfo {
  CpuFeatures cpu;
  GpuInfo gpu;
  SoftwareVersions versions;
};

// Detected once per process (cpuid, sysfs, the CUDA runtime); later calls return the copy.
const HardwareInfo& detectHardware();
// The CPU part alone: no LibTorch or CUDA call (Files.h's cpuHasBf16 uses it).
const CpuFeatures& detectCpu();

enum class ModeSupport { Native, Emulated, Unavailable };
std::string toString(ModeSupport s);

struct ModeVerdict {
  std::string mode;  // "fp32", "fp16", "bf16", "fp16-noscale", "fp16-pure", "bf16-pure"
  ModeSupport support = ModeSupport::Native;
  std::string reason;  // one line, plain words
};

// The modes the table covers, in display order.
const std::vector<std::string>& precisionModeNames();
// What `mode` does on `hw`, on its GPU (`onGpu`, when it has one) or its CPU. "auto" is
// resolved first (autoMixedMode); an unknown name is Unavailable.
ModeVerdict modeVerdict(const std::string& mode, const HardwareInfo& hw, bool onGpu);
std::vector<ModeVerdict> modeTable(const HardwareInfo& hw, bool onGpu);
// What "auto" becomes: the fastest mixed format here, emulated fp16 where none is faster
// (fp16 on a GPU, bf16 on a CPU with native bf16, fp16 otherwise).
std::string autoMixedMode(const HardwareInfo& hw, bool onGpu);
// Whether some mixed format can train faster than fp32 here (tensor cores or native CPU bf16).
// False on a CPU without bf16 units and no GPU: mixed precision is then about numerics only.
bool anyMixedFormatFaster(const HardwareInfo& hw);
bool anyMixedFormatFaster();

// "AMD EPYC 7B13 (AVX2, no AVX512-BF16/AMX)"; "Intel Xeon Platinum 8480+ (AVX-512, AMX-BF16)".
std::string cpuSummary(const CpuFeatures& cpu);
// "NVIDIA H200 (compute capability 9.0, 139.8 GB)" or "none".
std::string gpuSummary(const GpuInfo& gpu);
// The whole record as a JSON object (cpu, gpu, versions, auto, precision_modes).
std::string hardwareToJson(const HardwareInfo& hw, int indent = 2);

}  // namespace ampbench
