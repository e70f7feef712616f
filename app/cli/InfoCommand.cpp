#include "app/cli/InfoCommand.h"

#include "engine/util/Hardware.h"

#include <CLI/CLI.hpp>

#include <cstdio>
#include <string>

namespace ampbench::cli {
namespace {

const char* yesNo(bool b) { return b ? "yes" : "no"; }
std::string orDash(const std::string& s) { return s.empty() ? "-" : s; }

void printModes(const HardwareInfo& hw, bool onGpu) {
  std::printf("\nprecision modes on the %s (auto = %s):\n", onGpu ? "GPU" : "CPU", autoMixedMode(hw, onGpu).c_str());
  for (const auto& v : modeTable(hw, onGpu)) {
    std::printf("  %-13s %-12s %s\n", v.mode.c_str(), toString(v.support).c_str(), v.reason.c_str());
  }
}

}  // namespace

CLI::App* addInfoCommand(CLI::App& app, InfoArgs& args) {
  auto* cmd = app.add_subcommand("info", "this machine: CPU units, GPU, versions, and what each precision mode does here");
  cmd->add_flag("--json", args.json, "print the report as JSON");
  return cmd;
}

int runInfoCommand(const InfoArgs& args) {
  const HardwareInfo& hw = detectHardware();
  if (args.json) {
    std::printf("%s\n", hardwareToJson(hw).c_str());
    return 0;
  }
  const CpuFeatures& c = hw.cpu;
  std::printf("CPU       %s\n", cpuSummary(c).c_str());
  std::printf("          vendor %s; %s cores, %d threads (%d available to this process)\n", orDash(c.vendor).c_str(),
              c.physicalCores > 0 ? std::to_string(c.physicalCores).c_str() : "?", c.logicalCpus, c.availableCpus);
  std::printf("units     AVX2 %s, FMA %s, AVX-512F %s, AVX512-BF16 %s, AVX512-FP16 %s, AMX-TILE %s, AMX-BF16 %s\n",
              yesNo(c.avx2), yesNo(c.fma), yesNo(c.avx512f), yesNo(c.avx512Bf16), yesNo(c.avx512Fp16),
              yesNo(c.amxTile), yesNo(c.amxBf16));
  std::printf("OS state  AVX %s, AVX-512 %s, AMX tiles %s%s\n", yesNo(c.osAvx), yesNo(c.osAvx512), yesNo(c.osAmxTile),
              c.amxTile ? (c.amxPermitted ? " (permission granted)" : " (permission refused)") : "");
  std::printf("GPU       %s\n", gpuSummary(hw.gpu).c_str());
  std::printf("versions  LibTorch %s, oneDNN %s, CUDA %s, cuDNN %s\n", orDash(hw.versions.torch).c_str(),
              orDash(hw.versions.onednn).c_str(), orDash(hw.versions.cuda).c_str(), orDash(hw.versions.cudnn).c_str());
  if (hw.gpu.present) {
    printModes(hw, true);
  }
  printModes(hw, false);
  std::printf("\n%s\n", anyMixedFormatFaster(hw)
                            ? "A mixed format can train faster than FP32 here."
                            : "No mixed format trains faster than FP32 here: AmpBench emulates their numerics, so the "
                              "accuracy and gradient effects are real but the speed is FP32's. A speed-up needs a GPU "
                              "with tensor cores or a CPU with AMX/AVX512-BF16.");
  return 0;
}

}  // namespace ampbench::cli
