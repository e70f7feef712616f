// Hardware detection (cpuid/XGETBV on this machine) and the per-mode table on injected
// machines: a Sapphire Rapids Xeon, an AVX2 EPYC, a Zen 4, and CUDA GPUs of cc 6.1/7.0/8.0.

#include "engine/util/Files.h"
#include "engine/util/Hardware.h"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>
#include <torch/cuda.h>
#include <torch/version.h>

#include <fstream>
#include <sstream>

namespace ampbench {
namespace {

CpuFeatures epyc() {
  CpuFeatures c;
  c.vendor = "AuthenticAMD";
  c.brand = "AMD EPYC 7B13 64-Core Processor";
  c.avx2 = c.fma = c.osAvx = true;
  c.physicalCores = 2;
  c.logicalCpus = c.availableCpus = 4;
  return c;
}

CpuFeatures zen4() {
  CpuFeatures c = epyc();
  c.brand = "AMD EPYC 9654 96-Core Processor";
  c.avx512f = c.avx512Bf16 = c.osAvx512 = true;
  return c;
}

CpuFeatures sapphireRapids() {
  CpuFeatures c;
  c.vendor = "GenuineIntel";
  c.brand = "Intel(R) Xeon(R) Platinum 8480+";
  c.avx2 = c.fma = c.avx512f = c.avx512Bf16 = c.avx512Fp16 = c.amxTile = c.amxBf16 = true;
  c.osAvx = c.osAvx512 = c.osAmxTile = c.amxPermitted = true;
  return c;
}

HardwareInfo machine(const CpuFeatures& cpu, int ccMajor = -2, int ccMinor = 0) {
  HardwareInfo hw;
  hw.cpu = cpu;
  hw.versions.torch = "1.13.0";
  if (ccMajor != -2) {
    hw.gpu.present = true;
    hw.gpu.count = 1;
    hw.gpu.name = "Test GPU";
    hw.gpu.ccMajor = ccMajor;
    hw.gpu.ccMinor = ccMinor;
  }
  return hw;
}

ModeVerdict row(const HardwareInfo& hw, bool onGpu, const std::string& mode) {
  for (const auto& v : modeTable(hw, onGpu)) {
    if (v.mode == mode) return v;
  }
  ADD_FAILURE() << "no row for " << mode;
  return {};
}

bool contains(const std::string& s, const std::string& part) { return s.find(part) != std::string::npos; }

std::string cpuinfoFlags() {
  std::ifstream in("/proc/cpuinfo");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("flags", 0) == 0) return " " + line.substr(line.find(':') + 1) + " ";
  }
  return {};
}

TEST(HardwareTest, DetectionIsSelfConsistent) {
  const HardwareInfo& hw = detectHardware();
  const CpuFeatures& c = hw.cpu;
#if defined(__x86_64__) || defined(__i386__)
  EXPECT_FALSE(c.brand.empty());
  EXPECT_EQ(c.vendor.size(), 12u) << c.vendor;
  EXPECT_EQ(c.brand.find("  "), std::string::npos) << "brand not trimmed: '" << c.brand << "'";
  EXPECT_NE(c.brand.front(), ' ');
  EXPECT_TRUE(c.osAvx || !c.osAvx512);
  // Every CPU with AMX has AVX-512 (and so every AMX detection must report it).
  if (c.amxTile || c.amxBf16) EXPECT_TRUE(c.avx512f);
  if (c.avx512Bf16 || c.avx512Fp16) EXPECT_TRUE(c.avx512f);
  // The kernel lists a flag only when cpuid has it (and clears those whose state it does not save).
  const std::string flags = cpuinfoFlags();
  if (contains(flags, " avx2 ")) EXPECT_TRUE(c.avx2);
  if (contains(flags, " fma ")) EXPECT_TRUE(c.fma);
  if (contains(flags, " avx512f ")) EXPECT_TRUE(c.avx512Usable());
  if (contains(flags, " avx512_bf16 ")) EXPECT_TRUE(c.avx512Bf16);
  if (contains(flags, " amx_bf16 ")) EXPECT_TRUE(c.amxBf16 && c.osAmxTile);
#endif
  EXPECT_EQ(cpuHasBf16(), c.nativeBf16());
  EXPECT_EQ(cpuModelName(), c.brand.empty() ? "unknown CPU" : c.brand);
  EXPECT_GE(c.logicalCpus, 1);
  EXPECT_GE(c.availableCpus, 1);
  EXPECT_LE(c.availableCpus, c.logicalCpus);
  EXPECT_LE(c.physicalCores, c.logicalCpus);
  EXPECT_EQ(hw.versions.torch, TORCH_VERSION);
  EXPECT_EQ(hw.gpu.present, torch::cuda::device_count() > 0);
  EXPECT_EQ(&detectHardware(), &hw) << "detected once";
}

TEST(HardwareTest, JsonHasTheKeys) {
  const auto j = nlohmann::json::parse(hardwareToJson(detectHardware()));
  for (const char* k : {"vendor", "brand", "summary", "features", "os_enabled", "amx_permitted", "native_bf16",
                        "physical_cores", "logical_cpus", "available_cpus"}) {
    EXPECT_TRUE(j["cpu"].contains(k)) << k;
  }
  for (const char* k : {"avx2", "fma", "avx512f", "avx512_bf16", "avx512_fp16", "amx_tile", "amx_bf16"}) {
    EXPECT_TRUE(j["cpu"]["features"][k].is_boolean()) << k;
  }
  for (const char* k : {"libtorch", "onednn", "cuda", "cudnn"}) {
    EXPECT_TRUE(j["versions"][k].is_string()) << k;
  }
  EXPECT_EQ(j["versions"]["libtorch"], TORCH_VERSION);
  EXPECT_TRUE(j["gpu"]["present"].is_boolean());
  EXPECT_TRUE(j["any_mixed_format_faster"].is_boolean());
  const auto& rows = j["precision_modes"]["cpu"];
  ASSERT_EQ(rows.size(), precisionModeNames().size());
  for (size_t i = 0; i < rows.size(); ++i) {
    EXPECT_EQ(rows[i]["mode"], precisionModeNames()[i]);
    const std::string s = rows[i]["support"];
    EXPECT_TRUE(s == "native" || s == "emulated" || s == "unavailable") << s;
    EXPECT_FALSE(rows[i]["reason"].get<std::string>().empty());
  }
  EXPECT_EQ(j["precision_modes"].contains("cuda"), detectHardware().gpu.present);
}

TEST(HardwareTest, SapphireRapidsRunsBf16Natively) {
  const auto hw = machine(sapphireRapids());
  EXPECT_TRUE(hw.cpu.nativeBf16());
  EXPECT_TRUE(anyMixedFormatFaster(hw));
  EXPECT_EQ(autoMixedMode(hw, false), "bf16");
  EXPECT_EQ(row(hw, false, "fp32").support, ModeSupport::Native);
  for (const char* m : {"bf16", "bf16-pure"}) {
    EXPECT_EQ(row(hw, false, m).support, ModeSupport::Native) << m;
    EXPECT_TRUE(contains(row(hw, false, m).reason, "AMX-BF16")) << row(hw, false, m).reason;
  }
  for (const char* m : {"fp16", "fp16-noscale", "fp16-pure"}) {
    const auto v = row(hw, false, m);
    EXPECT_EQ(v.support, ModeSupport::Emulated) << m;
    EXPECT_TRUE(contains(v.reason, "LibTorch 1.13.0 has no fp16 CPU kernels")) << v.reason;
    EXPECT_TRUE(contains(v.reason, "AVX512-FP16 goes unused")) << v.reason;
  }
  EXPECT_EQ(cpuSummary(hw.cpu), "Intel(R) Xeon(R) Platinum 8480+ (AVX-512, AVX512-BF16, AMX-BF16)");
  EXPECT_EQ(modeVerdict("auto", hw, false).mode, "bf16");
}

TEST(HardwareTest, AmxNeedsTheOsTileStateAndThePermission) {
  auto cpu = sapphireRapids();
  cpu.amxPermitted = false;  // Linux refused ARCH_REQ_XCOMP_PERM: AVX512-BF16 still carries bf16
  EXPECT_FALSE(cpu.amxUsable());
  EXPECT_TRUE(cpu.nativeBf16());
  EXPECT_TRUE(contains(row(machine(cpu), false, "bf16").reason, "AVX512-BF16"));

  cpu.osAvx512 = false;  // neither the AVX-512 nor the tile state saved: no native bf16 at all
  cpu.osAmxTile = false;
  const auto hw = machine(cpu);
  EXPECT_FALSE(hw.cpu.nativeBf16());
  EXPECT_FALSE(hw.cpu.avx512Usable());
  EXPECT_FALSE(anyMixedFormatFaster(hw));
  const auto v = row(hw, false, "bf16");
  EXPECT_EQ(v.support, ModeSupport::Emulated);
  EXPECT_TRUE(contains(v.reason, "OS has not enabled its tile state")) << v.reason;
  EXPECT_TRUE(contains(cpuSummary(hw.cpu), "AVX2")) << cpuSummary(hw.cpu);
  EXPECT_TRUE(contains(cpuSummary(hw.cpu), "no AVX512-BF16/AMX")) << cpuSummary(hw.cpu);
}

TEST(HardwareTest, Avx2EpycEmulatesEveryMixedFormat) {
  const auto hw = machine(epyc());
  EXPECT_FALSE(anyMixedFormatFaster(hw));
  EXPECT_EQ(autoMixedMode(hw, false), "fp16");
  EXPECT_EQ(autoMixedMode(hw, true), "fp16") << "no GPU: onGpu falls back to the CPU";
  EXPECT_EQ(row(hw, false, "fp32").support, ModeSupport::Native);
  for (const auto& m : precisionModeNames()) {
    if (m != "fp32") EXPECT_EQ(row(hw, false, m).support, ModeSupport::Emulated) << m;
  }
  const auto bf16 = row(hw, false, "bf16");
  EXPECT_TRUE(contains(bf16.reason, "no AVX512-BF16/AMX: bf16 is emulated on fp32 kernels")) << bf16.reason;
  EXPECT_FALSE(contains(row(hw, false, "fp16").reason, "AVX512-FP16")) << "no such unit to mention";
  EXPECT_EQ(cpuSummary(hw.cpu), "AMD EPYC 7B13 64-Core Processor (AVX2, no AVX512-BF16/AMX)");
  // onGpu without a GPU is the CPU's table.
  EXPECT_EQ(row(hw, true, "bf16").reason, bf16.reason);
}

TEST(HardwareTest, Zen4HasAvx512Bf16ButNoAmx) {
  const auto hw = machine(zen4());
  EXPECT_TRUE(anyMixedFormatFaster(hw));
  EXPECT_EQ(row(hw, false, "bf16").support, ModeSupport::Native);
  EXPECT_TRUE(contains(row(hw, false, "bf16").reason, "AVX512-BF16"));
  EXPECT_EQ(cpuSummary(hw.cpu), "AMD EPYC 9654 96-Core Processor (AVX-512, AVX512-BF16, no AMX)");
}

TEST(HardwareTest, VoltaHasFp16TensorCoresButNoBf16) {
  const auto hw = machine(epyc(), 7, 0);
  EXPECT_TRUE(hw.gpu.tensorCores());
  EXPECT_FALSE(hw.gpu.bf16());
  EXPECT_TRUE(anyMixedFormatFaster(hw));
  EXPECT_EQ(autoMixedMode(hw, true), "fp16");
  for (const char* m : {"fp32", "fp16", "fp16-noscale", "fp16-pure"}) {
    EXPECT_EQ(row(hw, true, m).support, ModeSupport::Native) << m;
  }
  EXPECT_TRUE(contains(row(hw, true, "fp16").reason, "tensor cores (compute capability 7.0)"));
  for (const char* m : {"bf16", "bf16-pure"}) {
    EXPECT_EQ(row(hw, true, m).support, ModeSupport::Unavailable) << m;
    EXPECT_TRUE(contains(row(hw, true, m).reason, "8.0")) << row(hw, true, m).reason;
  }
  // The same machine's CPU (--device cpu) keeps the CPU's verdicts.
  EXPECT_EQ(row(hw, false, "fp16").support, ModeSupport::Emulated);
}

TEST(HardwareTest, AmpereRunsBf16Natively) {
  const auto hw = machine(epyc(), 8, 0);
  EXPECT_TRUE(hw.gpu.bf16());
  EXPECT_EQ(row(hw, true, "bf16").support, ModeSupport::Native);
  EXPECT_EQ(row(hw, true, "bf16-pure").support, ModeSupport::Native);
  EXPECT_EQ(row(hw, true, "fp16").support, ModeSupport::Native);
  const auto j = nlohmann::json::parse(hardwareToJson(hw));
  EXPECT_EQ(j["gpu"]["compute_capability"], "8.0");
  EXPECT_EQ(j["gpu"]["bf16"], true);
  EXPECT_EQ(j["auto"]["cuda"], "fp16");
  EXPECT_EQ(j["auto"]["cpu"], "fp16");
  ASSERT_TRUE(j["precision_modes"].contains("cuda"));
  EXPECT_EQ(j["precision_modes"]["cuda"][2]["mode"], "bf16");
  EXPECT_EQ(j["precision_modes"]["cuda"][2]["support"], "native");
  EXPECT_EQ(j["precision_modes"]["cpu"][2]["support"], "emulated");
}

TEST(HardwareTest, PascalHasNoTensorCores) {
  const auto hw = machine(epyc(), 6, 1);
  EXPECT_FALSE(anyMixedFormatFaster(hw)) << "fp16 without tensor cores is no faster";
  const auto v = row(hw, true, "fp16");
  EXPECT_EQ(v.support, ModeSupport::Native);
  EXPECT_TRUE(contains(v.reason, "no tensor cores")) << v.reason;
  EXPECT_EQ(row(hw, true, "bf16").support, ModeSupport::Unavailable);
  EXPECT_EQ(gpuSummary(hw.gpu), "Test GPU (compute capability 6.1)");
}

TEST(HardwareTest, UnknownModesAndNoGpu) {
  const auto hw = machine(epyc());
  EXPECT_EQ(modeVerdict("fp8", hw, false).support, ModeSupport::Unavailable);
  EXPECT_EQ(modeVerdict("", hw, false).support, ModeSupport::Unavailable);
  EXPECT_EQ(modeVerdict("fp8", machine(epyc(), 8, 0), true).support, ModeSupport::Unavailable);
  EXPECT_EQ(gpuSummary(hw.gpu), "none");
  const auto j = nlohmann::json::parse(hardwareToJson(hw));
  EXPECT_FALSE(j["precision_modes"].contains("cuda"));
  EXPECT_FALSE(j["gpu"].contains("name"));
  EXPECT_EQ(j["any_mixed_format_faster"], false);
  CpuFeatures blank;  // off x86, or nothing readable
  EXPECT_EQ(cpuSummary(blank), "unknown CPU (no AVX512-BF16/AMX)");
}

}  // namespace
}  // namespace ampbench
