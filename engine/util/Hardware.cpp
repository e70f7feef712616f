#include "engine/util/Hardware.h"

#include <ATen/Version.h>
#include <ATen/detail/CUDAHooksInterface.h>
#include <c10/util/Exception.h>
#include <torch/cuda.h>
#include <torch/version.h>

#include <nlohmann/json.hpp>

#include <sched.h>

#include <cctype>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>
#include <thread>
#include <utility>

#if defined(__x86_64__) || defined(__i386__)
#include <cpuid.h>
#define AMPBENCH_X86 1
#endif
#if defined(__linux__) && defined(__x86_64__)
#include <sys/syscall.h>
#include <unistd.h>
#endif

// Set for this file by engine/CMakeLists.txt when LibTorch has c10_cuda and the CUDA runtime
// headers are there (as for DeviceMemory.cpp): GPU name and compute capability.
#if defined(AMPBENCH_HAVE_CUDA_STATS)
#include <c10/cuda/CUDAFunctions.h>
#include <cuda_runtime_api.h>
#endif

namespace ampbench {

namespace {

std::string trimmed(std::string s) {
  // cpuid brand strings are NUL-padded and Intel's start with spaces; collapse inner runs too.
  std::string out;
  for (char c : s) {
    if (c == '\0') break;
    if (c == ' ' && (out.empty() || out.back() == ' ')) continue;
    out += c;
  }
  while (!out.empty() && out.back() == ' ') out.pop_back();
  return out;
}

std::string procCpuinfoModel() {
  std::ifstream in("/proc/cpuinfo");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("model name", 0) == 0 || line.rfind("Model", 0) == 0) {
      const auto colon = line.find(':');
      if (colon != std::string::npos) return trimmed(line.substr(colon + 1));
    }
  }
  return {};
}

#if defined(AMPBENCH_X86)
bool bit(unsigned reg, int n) { return (reg >> n) & 1u; }

unsigned long long xgetbv0() {
  unsigned lo = 0, hi = 0;
  __asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
  return (static_cast<unsigned long long>(hi) << 32) | lo;
}

void readCpuid(CpuFeatures& f) {
  unsigned a = 0, b = 0, c = 0, d = 0;
  if (!__get_cpuid(0, &a, &b, &c, &d)) return;
  const unsigned maxLeaf = a;
  char vendor[13] = {};
  std::memcpy(vendor, &b, 4);
  std::memcpy(vendor + 4, &d, 4);
  std::memcpy(vendor + 8, &c, 4);
  f.vendor = vendor;

  bool osxsave = false;
  if (__get_cpuid(1, &a, &b, &c, &d)) {
    f.fma = bit(c, 12);
    osxsave = bit(c, 27);
  }
  if (osxsave) {
    const unsigned long long xcr0 = xgetbv0();
    f.osAvx = (xcr0 & 0x6) == 0x6;                  // SSE + AVX (YMM) state
    f.osAvx512 = f.osAvx && (xcr0 & 0xe0) == 0xe0;  // opmask, ZMM0-15 upper, ZMM16-31
    f.osAmxTile = (xcr0 & 0x60000) == 0x60000;      // XTILECFG (17) + XTILEDATA (18)
  }
  if (maxLeaf >= 7 && __get_cpuid_count(7, 0, &a, &b, &c, &d)) {
    const unsigned maxSubleaf = a;
    f.avx2 = bit(b, 5);
    f.avx512f = bit(b, 16);
    f.amxBf16 = bit(d, 22);
    f.avx512Fp16 = bit(d, 23);
    f.amxTile = bit(d, 24);
    if (maxSubleaf >= 1 && __get_cpuid_count(7, 1, &a, &b, &c, &d)) {
      f.avx512Bf16 = bit(a, 5);
    }
  }
  if (__get_cpuid(0x80000000u, &a, &b, &c, &d) && a >= 0x80000004u) {
    unsigned regs[12];
    for (unsigned i = 0; i < 3; ++i) {
      __get_cpuid(0x80000002u + i, &regs[4 * i], &regs[4 * i + 1], &regs[4 * i + 2], &regs[4 * i + 3]);
    }
    char brand[49] = {};
    std::memcpy(brand, regs, 48);
    f.brand = trimmed(brand);
  }
}
#endif

// Linux hands out the AMX tile-data state per process on request; oneDNN requests it before
// its AMX kernels run, so asking here changes nothing but tells whether it will be granted.
bool requestAmxPermission() {
#if defined(__linux__) && defined(__x86_64__)
  constexpr long kArchReqXcompPerm = 0x1023;
  constexpr long kXfeatureXtiledata = 18;
  return syscall(SYS_arch_prctl, kArchReqXcompPerm, kXfeatureXtiledata) == 0;
#else
  return false;
#endif
}

int physicalCoreCount() {
  namespace fs = std::filesystem;
  std::set<std::pair<std::string, std::string>> cores;  // (package, core)
  std::error_code ec;
  for (fs::directory_iterator it("/sys/devices/system/cpu", ec), end; !ec && it != end; it.increment(ec)) {
    const std::string name = it->path().filename().string();
    if (name.size() < 4 || name.compare(0, 3, "cpu") != 0 || name.find_first_not_of("0123456789", 3) != std::string::npos) {
      continue;
    }
    std::ifstream pkg(it->path() / "topology/physical_package_id"), core(it->path() / "topology/core_id");
    std::string p, c;
    if (pkg >> p && core >> c) cores.emplace(p, c);
  }
  return static_cast<int>(cores.size());
}

int availableCpuCount() {
  cpu_set_t set;
  CPU_ZERO(&set);
  if (sched_getaffinity(0, sizeof set, &set) != 0) return 0;
  return CPU_COUNT(&set);
}

CpuFeatures probeCpu() {
  CpuFeatures f;
#if defined(AMPBENCH_X86)
  readCpuid(f);
  if (f.amxTile && f.osAmxTile) f.amxPermitted = requestAmxPermission();
#endif
  if (f.brand.empty()) f.brand = procCpuinfoModel();
  f.logicalCpus = static_cast<int>(std::thread::hardware_concurrency());
  f.availableCpus = availableCpuCount();
  f.physicalCores = physicalCoreCount();
  return f;
}

std::string cudaVersionText(long v) {  // CUDART_VERSION: 1000 * major + 10 * minor
  return std::to_string(v / 1000) + "." + std::to_string((v % 1000) / 10);
}

std::string cudnnVersionText(long v) {  // cuDNN 8: 1000 * major + 100 * minor + patch; 9: 10000 * major + ...
  const long major = v >= 90000 ? v / 10000 : v / 1000;
  const long rest = v >= 90000 ? v % 10000 : v % 1000;
  return std::to_string(major) + "." + std::to_string(rest / 100) + "." + std::to_string(rest % 100);
}

SoftwareVersions probeVersions() {
  SoftwareVersions v;
  v.torch = TORCH_VERSION;
  // "Intel(R) MKL-DNN v2.6.3 (Git Hash ...)": LibTorch asks the oneDNN it runs (dnnl_version()).
  const std::string dnnl = at::get_mkldnn_version();
  for (size_t i = dnnl.find('v'); i != std::string::npos; i = dnnl.find('v', i + 1)) {
    const size_t end = dnnl.find_first_not_of("0123456789.", i + 1);
    if (i + 1 < dnnl.size() && std::isdigit(static_cast<unsigned char>(dnnl[i + 1]))) {
      v.onednn = dnnl.substr(i + 1, end == std::string::npos ? std::string::npos : end - i - 1);
      break;
    }
  }
  const auto& hooks = at::detail::getCUDAHooks();
  try {  // the CPU-only hooks throw from the version queries, so ask only a CUDA build
    if (hooks.hasCUDART()) v.cuda = cudaVersionText(hooks.versionCUDART());
    if (hooks.compiledWithCuDNN()) v.cudnn = cudnnVersionText(hooks.versionCuDNN());
  } catch (const c10::Error&) {
  }
  return v;
}

GpuInfo probeGpu() {
  GpuInfo g;
  g.count = static_cast<int>(torch::cuda::device_count());
  g.present = g.count > 0;
  if (!g.present) return g;
#if defined(AMPBENCH_HAVE_CUDA_STATS)
  cudaDeviceProp p{};
  if (cudaGetDeviceProperties(&p, 0) == cudaSuccess) {
    g.name = p.name;
    g.ccMajor = p.major;
    g.ccMinor = p.minor;
    g.memoryGb = static_cast<double>(p.totalGlobalMem) / 1e9;
    return g;
  }
#endif
  g.name = "CUDA device";
  g.ccMajor = -1;  // unknown: this build cannot read the properties (no CUDA runtime headers)
  return g;
}

std::string ccText(const GpuInfo& g) {
  return g.ccMajor < 0 ? std::string("unknown") : std::to_string(g.ccMajor) + "." + std::to_string(g.ccMinor);
}

std::string libtorchName(const HardwareInfo& hw) {
  return hw.versions.torch.empty() ? std::string("LibTorch") : "LibTorch " + hw.versions.torch;
}

ModeVerdict cpuVerdict(const std::string& mode, const HardwareInfo& hw) {
  const CpuFeatures& c = hw.cpu;
  if (mode == "fp32") {
    return {mode, ModeSupport::Native, "fp32 kernels (oneDNN convolutions): the baseline"};
  }
  if (mode == "fp16" || mode == "fp16-noscale" || mode == "fp16-pure") {
    std::string why = libtorchName(hw) + " has no fp16 CPU kernels: fp16 numerics emulated on fp32 kernels";
    if (mode == "fp16-noscale") why += ", without loss scaling";
    if (mode == "fp16-pure") why += ", fp16 weights without an fp32 master copy";
    if (c.avx512Fp16) why += " (this CPU's AVX512-FP16 goes unused)";
    return {mode, ModeSupport::Emulated, why};
  }
  if (mode == "bf16" || mode == "bf16-pure") {
    const std::string weights = mode == "bf16-pure" ? ", bf16 weights without an fp32 master copy" : "";
    if (c.nativeBf16()) {
      return {mode, ModeSupport::Native,
              std::string("bf16 kernels through oneDNN on ") + (c.amxUsable() ? "AMX-BF16" : "AVX512-BF16") + weights};
    }
    std::string why = "no AVX512-BF16/AMX: bf16 is emulated on fp32 kernels" + weights +
                      "; --bf16-kernels native runs LibTorch's slow reference bf16";
    if (c.amxTile && c.amxBf16 && !c.osAmxTile) why += " (AMX is there but the OS has not enabled its tile state)";
    else if (c.amxTile && c.amxBf16 && !c.amxPermitted) why += " (AMX is there but Linux refused the tile permission)";
    return {mode, ModeSupport::Emulated, why};
  }
  return {mode, ModeSupport::Unavailable, "unknown precision mode"};
}

ModeVerdict gpuVerdict(const std::string& mode, const HardwareInfo& hw) {
  const GpuInfo& g = hw.gpu;
  const std::string cc = "compute capability " + ccText(g);
  if (mode == "fp32") {
    return {mode, ModeSupport::Native, "fp32 on CUDA cores, TF32 off: the honest baseline"};
  }
  if (mode == "fp16" || mode == "fp16-noscale" || mode == "fp16-pure") {
    if (g.ccMajor >= 0 && !g.tensorCores()) {
      return {mode, ModeSupport::Native, "fp16 kernels, but no tensor cores (" + cc + " < 7.0): little or no speed-up"};
    }
    return {mode, ModeSupport::Native, "fp16 on tensor cores (" + cc + ")"};
  }
  if (mode == "bf16" || mode == "bf16-pure") {
    if (g.ccMajor >= 0 && !g.bf16()) {
      return {mode, ModeSupport::Unavailable, "bf16 needs compute capability 8.0 (Ampere) or newer; this GPU has " + ccText(g)};
    }
    return {mode, ModeSupport::Native, "bf16 on tensor cores (" + cc + ")"};
  }
  return {mode, ModeSupport::Unavailable, "unknown precision mode"};
}

}  // namespace

const CpuFeatures& detectCpu() {
  static const CpuFeatures cpu = probeCpu();
  return cpu;
}

const HardwareInfo& detectHardware() {
  static const HardwareInfo hw = [] {
    HardwareInfo h;
    h.cpu = detectCpu();
    h.gpu = probeGpu();
    h.versions = probeVersions();
    return h;
  }();
  return hw;
}

std::string toString(ModeSupport s) {
  switch (s) {
    case ModeSupport::Native: return "native";
    case ModeSupport::Emulated: return "emulated";
    case ModeSupport::Unavailable: return "unavailable";
  }
  return "unavailable";
}

const std::vector<std::string>& precisionModeNames() {
  static const std::vector<std::string> names{"fp32", "fp16", "bf16", "fp16-noscale", "fp16-pure", "bf16-pure"};
  return names;
}

std::string autoMixedMode(const HardwareInfo& hw, bool onGpu) {
  if (onGpu && hw.gpu.present) return "fp16";
  return hw.cpu.nativeBf16() ? "bf16" : "fp16";
}

ModeVerdict modeVerdict(const std::string& mode, const HardwareInfo& hw, bool onGpu) {
  const bool gpu = onGpu && hw.gpu.present;
  const std::string m = mode == "auto" ? autoMixedMode(hw, gpu) : mode;
  return gpu ? gpuVerdict(m, hw) : cpuVerdict(m, hw);
}

std::vector<ModeVerdict> modeTable(const HardwareInfo& hw, bool onGpu) {
  std::vector<ModeVerdict> rows;
  for (const auto& m : precisionModeNames()) rows.push_back(modeVerdict(m, hw, onGpu));
  return rows;
}

bool anyMixedFormatFaster(const HardwareInfo& hw) {
  // A GPU whose compute capability this build cannot read is most likely a modern one.
  const bool gpuFaster = hw.gpu.present && (hw.gpu.tensorCores() || hw.gpu.ccMajor < 0);
  return gpuFaster || hw.cpu.nativeBf16();
}

bool anyMixedFormatFaster() { return anyMixedFormatFaster(detectHardware()); }

std::string cpuSummary(const CpuFeatures& c) {
  std::vector<std::string> parts;
  if (c.avx512Usable()) parts.emplace_back("AVX-512");
  else if (c.avx2 && c.osAvx) parts.emplace_back("AVX2");
  if (c.avx512Bf16 && c.osAvx512) parts.emplace_back("AVX512-BF16");
  if (c.amxUsable()) parts.emplace_back("AMX-BF16");
  else if (c.amxTile && c.amxBf16) parts.emplace_back("AMX present but not usable");
  if (!c.nativeBf16()) parts.emplace_back("no AVX512-BF16/AMX");
  else if (!c.amxUsable() && !(c.amxTile && c.amxBf16)) parts.emplace_back("no AMX");
  std::string s = c.brand.empty() ? std::string("unknown CPU") : c.brand;
  if (!parts.empty()) {
    s += " (";
    for (size_t i = 0; i < parts.size(); ++i) s += (i ? ", " : "") + parts[i];
    s += ")";
  }
  return s;
}

std::string gpuSummary(const GpuInfo& g) {
  if (!g.present) return "none";
  std::ostringstream s;
  s << (g.name.empty() ? std::string("CUDA device") : g.name) << " (compute capability " << ccText(g);
  if (g.memoryGb > 0) {
    char mem[32];
    std::snprintf(mem, sizeof mem, ", %.1f GB", g.memoryGb);
    s << mem;
  }
  s << ")";
  if (g.count > 1) s << " x" << g.count;
  return s.str();
}

std::string hardwareToJson(const HardwareInfo& hw, int indent) {
  const CpuFeatures& c = hw.cpu;
  const GpuInfo& g = hw.gpu;
  nlohmann::ordered_json j;
  j["cpu"] = {{"vendor", c.vendor},
              {"brand", c.brand},
              {"summary", cpuSummary(c)},
              {"features",
               {{"avx2", c.avx2},
                {"fma", c.fma},
                {"avx512f", c.avx512f},
                {"avx512_bf16", c.avx512Bf16},
                {"avx512_fp16", c.avx512Fp16},
                {"amx_tile", c.amxTile},
                {"amx_bf16", c.amxBf16}}},
              {"os_enabled", {{"avx", c.osAvx}, {"avx512", c.osAvx512}, {"amx_tile", c.osAmxTile}}},
              {"amx_permitted", c.amxPermitted},
              {"native_bf16", c.nativeBf16()},
              {"physical_cores", c.physicalCores},
              {"logical_cpus", c.logicalCpus},
              {"available_cpus", c.availableCpus}};
  j["gpu"] = {{"present", g.present}, {"count", g.count}};
  if (g.present) {
    j["gpu"]["name"] = g.name;
    j["gpu"]["compute_capability"] = ccText(g);
    j["gpu"]["memory_gb"] = g.memoryGb;
    j["gpu"]["tensor_cores"] = g.tensorCores();
    j["gpu"]["bf16"] = g.bf16();
    j["gpu"]["summary"] = gpuSummary(g);
  }
  j["versions"] = {{"libtorch", hw.versions.torch},
                   {"onednn", hw.versions.onednn},
                   {"cuda", hw.versions.cuda},
                   {"cudnn", hw.versions.cudnn}};
  j["any_mixed_format_faster"] = anyMixedFormatFaster(hw);
  auto table = [&](bool onGpu) {
    nlohmann::ordered_json rows = nlohmann::ordered_json::array();
    for (const auto& v : modeTable(hw, onGpu)) {
      rows.push_back({{"mode", v.mode}, {"support", toString(v.support)}, {"reason", v.reason}});
    }
    return rows;
  };
  j["auto"] = {{"cpu", autoMixedMode(hw, false)}};
  j["precision_modes"] = {{"cpu", table(false)}};
  if (g.present) {
    j["auto"]["cuda"] = autoMixedMode(hw, true);
    j["precision_modes"]["cuda"] = table(true);
  }
  return j.dump(indent);
}

}  // namespace ampbench
