// bench/weight_gradient: where the blocked path's weight gradient is faster as oneDNN's matmul
// over im2col columns than as oneDNN's direct backward-weights kernel, per ResNet-18
// convolution, on this CPU. The figures behind blocked::WeightGradient::Auto's rule
// (engine/models/Blocked.cpp, matmulPays), and the way to find the rule on a new CPU.
//
//   build/bench/weight_gradient [--size 128] [--batch 32] [--dtype fp32|bf16] [--rounds 5]
//                               [--threads 2] [--json]
//
// Each convolution runs through the engine's blocked::conv2d and its backward (weight gradient
// only; the clock covers the backward), once per way per round, the order alternating between
// rounds; the figure is the median over rounds. Both ways' gradients are compared (they must agree to the dtype's
// resolution: the tool exits 1 if not). "auto" is what the rule chose for that shape.
#include "engine/Compat.h"
#include "engine/models/Blocked.h"
#include "engine/precision/Precision.h"
#include "engine/util/Allocator.h"
#include "engine/util/Hardware.h"

#include <CLI/CLI.hpp>
#include <torch/torch.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <string>
#include <vector>

using namespace ampbench;

namespace {

struct Conv {
  std::string name;
  int64_t in, out, k, stride, size;  // size: the input map
};

std::vector<Conv> resnet18(int64_t image, int64_t channels) {
  std::vector<Conv> v{{"stem 7x7", channels, 64, 7, 2, image}};
  int64_t in = 64, map = image / 4;
  for (const int64_t out : {64, 128, 256, 512}) {
    if (out != in) {
      v.push_back({std::to_string(in) + "->" + std::to_string(out) + " 3x3 s2", in, out, 3, 2, map});
      v.push_back({std::to_string(in) + "->" + std::to_string(out) + " 1x1 s2", in, out, 1, 2, map});
      map /= 2;
    }
    v.push_back({std::to_string(out) + " 3x3 s1", out, out, 3, 1, map});
    in = out;
  }
  return v;
}

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

int matmulEntries() {
  int n = 0;
  for (const auto& i : blocked::implementations()) {
    n += i.find("weight gradient by matmul") != std::string::npos;
  }
  return n;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"the blocked path's weight gradient: oneDNN's direct kernel vs matmul over im2col columns"};
  int64_t size = 128, batch = 32, channels = 3;
  int rounds = 5, threads = 2;
  std::string dtype = "fp32";
  bool json = false;
  app.add_option("--size", size, "image size (px)")->check(CLI::Range(32, 512));
  app.add_option("--batch", batch)->check(CLI::Range(1, 256));
  app.add_option("--channels", channels, "image channels (the stem's input)")->check(CLI::Range(1, 3));
  app.add_option("--dtype", dtype)->check(CLI::IsMember({"fp32", "bf16"}));
  app.add_option("--rounds", rounds)->check(CLI::Range(1, 100));
  app.add_option("--threads", threads)->check(CLI::Range(1, 256));
  app.add_flag("--json", json, "one JSON object instead of the table");
  CLI11_PARSE(app, argc, argv);
  if (!blocked::available()) {
    std::fprintf(stderr, "weight_gradient: built without oneDNN headers (libdnnl-dev)\n");
    return 2;
  }
  const bool bf16 = dtype == "bf16";
  if (bf16 && !detectCpu().nativeBf16()) {
    std::fprintf(stderr, "weight_gradient: this CPU has no AVX512-BF16/AMX: oneDNN has no bf16 kernels\n");
    return 2;
  }
  installCachingCpuAllocator();  // as a training run does: no page faults on each new buffer
  at::set_num_threads(threads);
  torch::manual_seed(0);
  AutocastGuard autocast(c10::DeviceType::CPU, torch::kBFloat16, bf16);
  const auto cpu = detectCpu();
  const std::string cpuName = cpu.brand + (cpu.amxUsable() ? " (AMX)" : cpu.avx512Usable() ? " (AVX-512)" : " (AVX2)");

  struct Row {
    Conv c;
    double direct = 0, matmul = 0, err = 0;
    bool autoMatmul = false;
  };
  std::vector<Row> rows;
  bool agree = true;
  for (const auto& c : resnet18(size, channels)) {
    const bool stem = c.name.rfind("stem", 0) == 0;
    const auto xPlain = torch::randn({batch, c.in, c.size, c.size});
    const auto x = stem ? xPlain : blocked::toBlocked(bf16 ? xPlain.to(torch::kBFloat16) : xPlain);
    const auto w0 = torch::randn({c.out, c.in, c.k, c.k}) * 0.05;
    // The weight gradient alone: the forward and the output gradient are made before the clock
    // starts (`ms`, when given, gets the backward's wall time).
    const auto gradBy = [&](blocked::WeightGradient way, double* ms = nullptr) {
      blocked::setWeightGradient(way);
      auto w = w0.clone().requires_grad_(true);
      auto y = blocked::conv2d(x, w, c.stride, c.k / 2);
      torch::manual_seed(1);
      const auto dy = torch::randn_like(y);  // ones would make every way sum in the same order
      const auto t0 = std::chrono::steady_clock::now();
      y.backward(dy);
      if (ms) {
        *ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
      }
      return w.grad();
    };
    Row r{c};
    blocked::setWeightGradient(blocked::WeightGradient::Auto);  // implementations() reports by the mode
    const int before = matmulEntries();
    gradBy(blocked::WeightGradient::Auto);
    r.autoMatmul = matmulEntries() > before;
    const auto gd = gradBy(blocked::WeightGradient::Direct), gm = gradBy(blocked::WeightGradient::Matmul);
    r.err = ((gm - gd).abs().max() / gd.abs().max().clamp_min(1e-12)).item<double>();
    agree = agree && r.err < (bf16 ? 2e-2 : 1e-4);
    std::vector<double> td, tm;
    for (int i = 0; i < rounds; ++i) {
      for (int j = 0; j < 2; ++j) {
        const bool matmulNow = (i + j) % 2 == 1;
        double ms = 0;
        gradBy(matmulNow ? blocked::WeightGradient::Matmul : blocked::WeightGradient::Direct, &ms);
        (matmulNow ? tm : td).push_back(ms);
      }
    }
    r.direct = median(td);
    r.matmul = median(tm);
    rows.push_back(r);
  }
  blocked::setWeightGradient(blocked::WeightGradient::Auto);

  if (json) {
    std::printf("{\"cpu\": \"%s\", \"size\": %lld, \"batch\": %lld, \"dtype\": \"%s\", \"threads\": %d, \"rounds\": %d, "
                "\"convolutions\": [",
                cpuName.c_str(), static_cast<long long>(size), static_cast<long long>(batch), dtype.c_str(),
                threads, rounds);
    for (size_t i = 0; i < rows.size(); ++i) {
      const auto& r = rows[i];
      std::printf("%s{\"conv\": \"%s\", \"out_map\": %lld, \"direct_ms\": %.3f, \"matmul_ms\": %.3f, "
                  "\"auto\": \"%s\", \"max_rel_diff\": %.3g}",
                  i ? ", " : "", r.c.name.c_str(), static_cast<long long>((r.c.size + r.c.stride - 1) / r.c.stride),
                  r.direct, r.matmul, r.autoMatmul ? "matmul" : "direct", r.err);
    }
    std::printf("], \"agree\": %s}\n", agree ? "true" : "false");
  } else {
    std::printf("CPU: %s; %lld px, batch %lld, %s, %d threads, median of %d rounds (weight gradient, ms)\n",
                cpuName.c_str(), static_cast<long long>(size), static_cast<long long>(batch), dtype.c_str(),
                threads, rounds);
    std::printf("%-18s %8s %8s %8s %8s  %-7s %s\n", "convolution", "out map", "direct", "matmul", "d/m", "auto",
                "max rel diff");
    for (const auto& r : rows) {
      const int64_t om = (r.c.size + r.c.stride - 1) / r.c.stride;
      std::printf("%-18s %5lldx%-2lld %8.3f %8.3f %8.2f  %-7s %.2g\n", r.c.name.c_str(), static_cast<long long>(om),
                  static_cast<long long>(om), r.direct, r.matmul, r.direct / r.matmul,
                  r.autoMatmul ? "matmul" : "direct", r.err);
    }
  }
  if (!agree) {
    std::fprintf(stderr, "weight_gradient: the two ways' gradients disagree beyond the dtype's resolution\n");
    return 1;
  }
  return 0;
}
