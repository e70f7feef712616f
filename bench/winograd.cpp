// bench/winograd: where the blocked path's fp32 convolutions are faster as oneDNN's Winograd
// F(4x4, 3x3) kernels than as its direct kernels, per 3x3 stride-1 convolution of a model, on
// this CPU. The figures behind blocked::ConvAlgorithm::Auto's rule (engine/models/Blocked.cpp,
// winogradPays), and the way to find the rule on a new CPU.
//
//   build/bench/winograd [--model resnet18|small_cnn] [--size 128] [--batch 32] [--rounds 5]
//                        [--threads 2] [--json]
//
// Each convolution runs through the engine's blocked::conv2d, forward and backward (input and
// weight gradients), once per algorithm per round, the order alternating between rounds; the
// figure is the median over rounds of the forward + backward wall time. Both algorithms'
// outputs and gradients are compared (they must agree within 1e-4 relative: the tool exits 1
// if not; they measure ~2e-6). "auto" is what the rule chose; "winograd" is "n/a" where oneDNN
// has no Winograd kernel (AVX2, or a shape it refuses).
#include "engine/Compat.h"
#include "engine/models/Blocked.h"
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
  int64_t in, out, size;  // size: the (input = output) map
};

// The 3x3 stride-1 convolutions (the only ones Winograd runs) and their maps.
std::vector<Conv> convolutions(const std::string& model, int64_t image) {
  std::vector<Conv> v;
  if (model == "small_cnn") {  // 16, 32, 64, 128 channels, a 2x2 max pool after each
    int64_t in = 16, map = image / 2;
    for (const int64_t out : {32, 64, 128}) {
      v.push_back({std::to_string(in) + "->" + std::to_string(out), in, out, map});
      in = out;
      map /= 2;
    }
    return v;
  }
  int64_t map = image / 4;  // ResNet-18: after the stride-2 stem and the max pool
  for (const int64_t c : {64, 128, 256, 512}) {
    v.push_back({std::to_string(c) + " 3x3", c, c, map});
    map = (map + 1) / 2;
  }
  return v;
}

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

int winogradEntries() {
  int n = 0;
  for (const auto& i : blocked::implementations()) {
    n += i.find("wino") != std::string::npos;
  }
  return n;
}

double relDiff(const torch::Tensor& a, const torch::Tensor& b) {
  return ((a - b).abs().max() / b.abs().max().clamp_min(1e-12)).item<double>();
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"the blocked path's fp32 3x3 convolutions: oneDNN's direct kernels vs Winograd F(4x4, 3x3)"};
  std::string model = "resnet18";
  int64_t size = 128, batch = 32;
  int rounds = 5, threads = 2;
  bool json = false;
  app.add_option("--model", model)->check(CLI::IsMember({"resnet18", "small_cnn"}));
  app.add_option("--size", size, "image size (px)")->check(CLI::Range(16, 512));
  app.add_option("--batch", batch)->check(CLI::Range(1, 256));
  app.add_option("--rounds", rounds)->check(CLI::Range(1, 100));
  app.add_option("--threads", threads)->check(CLI::Range(1, 256));
  app.add_flag("--json", json, "one JSON object instead of the table");
  CLI11_PARSE(app, argc, argv);
  if (!blocked::available()) {
    std::fprintf(stderr, "winograd: built without oneDNN headers (libdnnl-dev)\n");
    return 2;
  }
  installCachingCpuAllocator();  // as a training run does: no page faults on each new buffer
  at::set_num_threads(threads);
  torch::manual_seed(0);
  const auto cpu = detectCpu();
  const std::string cpuName = cpu.brand + (cpu.amxUsable() ? " (AMX)" : cpu.avx512Usable() ? " (AVX-512)" : " (AVX2)");

  struct Row {
    Conv c;
    double direct = 0, winograd = 0, err = 0;
    bool available = false, autoWinograd = false;
  };
  std::vector<Row> rows;
  bool agree = true;
  for (const auto& c : convolutions(model, size)) {
    if (c.size < 1) {
      continue;
    }
    const auto xPlain = torch::relu(torch::randn({batch, c.in, c.size, c.size}));
    const auto x0 = blocked::toBlocked(xPlain);
    const auto w0 = torch::randn({c.out, c.in, 3, 3}) * 0.05;
    torch::manual_seed(1);
    const auto dyPlain = torch::randn({batch, c.out, c.size, c.size});
    const auto dy = blocked::toBlocked(dyPlain);
    struct Result {
      torch::Tensor y, dx, dw;
    };
    // Forward and backward under one algorithm; `ms` gets their wall time.
    const auto run = [&](blocked::ConvAlgorithm alg, double* ms = nullptr) {
      blocked::setConvAlgorithm(alg);
      auto x = x0.clone().requires_grad_(true);
      auto w = w0.clone().requires_grad_(true);
      const auto t0 = std::chrono::steady_clock::now();
      auto y = blocked::conv2d(x, w, 1, 1);
      y.backward(dy);
      if (ms) {
        *ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
      }
      return Result{blocked::toPlain(y.detach()), blocked::toPlain(x.grad()), w.grad()};
    };
    Row r{c};
    blocked::setConvAlgorithm(blocked::ConvAlgorithm::Auto);
    int before = winogradEntries();
    run(blocked::ConvAlgorithm::Auto);
    r.autoWinograd = winogradEntries() > before;
    before = winogradEntries();
    const auto rw = run(blocked::ConvAlgorithm::Winograd);
    r.available = r.autoWinograd || winogradEntries() > before;
    const auto rd = run(blocked::ConvAlgorithm::Direct);
    r.err = std::max({relDiff(rw.y, rd.y), relDiff(rw.dx, rd.dx), relDiff(rw.dw, rd.dw)});
    agree = agree && r.err < 1e-4;
    std::vector<double> td, tw;
    for (int i = 0; i < rounds; ++i) {
      for (int j = 0; j < 2; ++j) {
        const bool winoNow = (i + j) % 2 == 1;
        double ms = 0;
        run(winoNow ? blocked::ConvAlgorithm::Winograd : blocked::ConvAlgorithm::Direct, &ms);
        (winoNow ? tw : td).push_back(ms);
      }
    }
    r.direct = median(td);
    r.winograd = median(tw);
    rows.push_back(r);
  }
  blocked::setConvAlgorithm(blocked::ConvAlgorithm::Auto);

  if (json) {
    std::printf("{\"cpu\": \"%s\", \"model\": \"%s\", \"size\": %lld, \"batch\": %lld, \"threads\": %d, \"rounds\": %d, "
                "\"convolutions\": [",
                cpuName.c_str(), model.c_str(), static_cast<long long>(size), static_cast<long long>(batch), threads,
                rounds);
    for (size_t i = 0; i < rows.size(); ++i) {
      const auto& r = rows[i];
      std::printf("%s{\"conv\": \"%s\", \"map\": %lld, \"direct_ms\": %.3f, \"winograd_ms\": %.3f, "
                  "\"winograd_available\": %s, \"auto\": \"%s\", \"max_rel_diff\": %.3g}",
                  i ? ", " : "", r.c.name.c_str(), static_cast<long long>(r.c.size), r.direct, r.winograd,
                  r.available ? "true" : "false", r.autoWinograd ? "winograd" : "direct", r.err);
    }
    std::printf("], \"agree\": %s}\n", agree ? "true" : "false");
  } else {
    std::printf("CPU: %s; %s, %lld px, batch %lld, fp32, %d threads, median of %d rounds (forward + backward, ms)\n",
                cpuName.c_str(), model.c_str(), static_cast<long long>(size), static_cast<long long>(batch), threads,
                rounds);
    std::printf("%-12s %8s %8s %9s %8s  %-8s %s\n", "convolution", "map", "direct", "winograd", "d/w", "auto",
                "max rel diff");
    for (const auto& r : rows) {
      std::printf("%-12s %5lldx%-2lld %8.3f %9s %8s  %-8s %.2g\n", r.c.name.c_str(), static_cast<long long>(r.c.size),
                  static_cast<long long>(r.c.size), r.direct,
                  r.available ? std::to_string(r.winograd).substr(0, 7).c_str() : "n/a",
                  r.available ? std::to_string(r.direct / r.winograd).substr(0, 4).c_str() : "-",
                  r.autoWinograd ? "winograd" : "direct", r.err);
    }
  }
  if (!agree) {
    std::fprintf(stderr, "winograd: the two algorithms disagree beyond 1e-4 relative\n");
    return 1;
  }
  return 0;
}
