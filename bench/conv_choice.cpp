// bench/conv_choice: where the blocked path's convolutions are faster another way than as
// oneDNN's direct kernels, per convolution of a model, on this CPU. The figures behind the blocked
// path's fixed rules (engine/models/Blocked.cpp), and the way to find them on a new CPU:
//   --choice winograd  fp32: oneDNN's Winograd F(4x4, 3x3) kernels (blocked::ConvAlgorithm, winogradPays);
//   --choice mosaic    the batch's small maps tiled into a few large images (blocked::SmallMaps,
//                      mosaicPays), in fp32 or, with --dtype bf16, under bf16 autocast (CPUs with
//                      AVX512-BF16/AMX).
//   --choice stem      ResNet's 7x7 stride-2 stem on the image folded 2x2 into channels
//                      (blocked::Stem, usesSpaceToDepth): bf16 only; --channels 1 or 3.
//
//   build/bench/conv_choice [--choice winograd|mosaic|stem] [--dtype fp32|bf16] [--model resnet18|small_cnn]
//                           [--size 128] [--batch 32] [--channels 3] [--rounds 5] [--threads 2] [--json]
//
// Each convolution runs through the engine's blocked::conv2d, forward and backward (input and
// weight gradients; the stem's image has none), once per way per round, the order alternating between rounds; the figure is
// the median over rounds of the forward + backward wall time. Both ways' outputs and gradients
// are compared: they must agree within 1e-4 relative in fp32 (Winograd measures ~2e-6) and 2e-2
// in bf16 (the mosaic's input gradient sums in another order: a bf16 ulp, 0.4-0.8 %, on the
// largest elements), or the tool exits 1. "auto" is what the rule chose; the alternative is
// "n/a" where oneDNN has no kernel for it (Winograd on AVX2, or a shape it refuses). Exit 77
// for --dtype bf16 on a CPU without AVX512-BF16/AMX (nothing to compare), 2 for bad options.
#include "engine/Compat.h"
#include "engine/models/Blocked.h"
#include "engine/util/Allocator.h"
#include "engine/util/Hardware.h"

#include <CLI/CLI.hpp>
#include <torch/torch.h>

#include <algorithm>
#include <chrono>
#include <functional>
#include <cstdio>
#include <string>
#include <vector>

using namespace ampbench;

namespace {

struct Conv {
  std::string name;
  int64_t in, out, size;  // size: the input map (= the output's for 3x3 stride 1)
  int64_t k = 3, stride = 1, pad = 1;
  bool image = false;  // the plain image: no input gradient
};

// The 3x3 stride-1 convolutions (the only ones Winograd and the mosaic run) and their maps.
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

// ResNet's stem: 7x7 stride 2, padding 3, on the image.
std::vector<Conv> stems(int64_t channels, int64_t image) {
  return {{"stem 7x7/2", channels, 64, image, 7, 2, 3, true}};
}

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

// blocked::implementations() entries naming the alternative's kernels.
int entries(const std::string& marker) {
  int n = 0;
  for (const auto& i : blocked::implementations()) {
    n += i.find(marker) != std::string::npos;
  }
  return n;
}

double relDiff(const torch::Tensor& a, const torch::Tensor& b) {
  if (!a.defined() && !b.defined()) {
    return 0.0;  // no input gradient either way (the stem)
  }
  return ((a - b).abs().max() / b.abs().max().clamp_min(1e-12)).item<double>();
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"the blocked path's convolutions: oneDNN's direct kernels vs Winograd F(4x4, 3x3), the small-map "
               "mosaic (3x3 stride 1) or the folded bf16 stem"};
  std::string model = "resnet18", choice = "winograd", dtype = "fp32";
  int64_t size = 128, batch = 32, channels = 3;
  int rounds = 5, threads = 2;
  bool json = false;
  app.add_option("--choice", choice, "the way compared with the direct kernels")
      ->check(CLI::IsMember({"winograd", "mosaic", "stem"}));
  app.add_option("--dtype", dtype, "bf16: under bf16 autocast (the mosaic; a CPU with AVX512-BF16/AMX)")
      ->check(CLI::IsMember({"fp32", "bf16"}));
  app.add_option("--model", model)->check(CLI::IsMember({"resnet18", "small_cnn"}));
  app.add_option("--size", size, "image size (px)")->check(CLI::Range(16, 512));
  app.add_option("--batch", batch)->check(CLI::Range(1, 256));
  app.add_option("--channels", channels, "the image's channels (--choice stem only; the others run the 3x3 layers)")
      ->check(CLI::Range(1, 4));
  app.add_option("--rounds", rounds)->check(CLI::Range(1, 100));
  app.add_option("--threads", threads)->check(CLI::Range(1, 256));
  app.add_flag("--json", json, "one JSON object instead of the table");
  CLI11_PARSE(app, argc, argv);
  if (!blocked::available()) {
    std::fprintf(stderr, "conv_choice: built without oneDNN headers (libdnnl-dev)\n");
    return 2;
  }
  const bool winograd = choice == "winograd", stem = choice == "stem", bf16 = dtype == "bf16";
  if (winograd && bf16) {
    std::fprintf(stderr, "conv_choice: oneDNN has Winograd kernels for fp32 only\n");
    return 2;
  }
  if (stem && (!bf16 || model != "resnet18")) {
    std::fprintf(stderr, "conv_choice: --choice stem is ResNet's stem in bf16 (--dtype bf16, --model resnet18)\n");
    return 2;
  }
  installCachingCpuAllocator();  // as a training run does: no page faults on each new buffer
  at::set_num_threads(threads);
  torch::manual_seed(0);
  const auto cpu = detectCpu();
  const std::string cpuName = cpu.brand + (cpu.amxUsable() ? " (AMX)" : cpu.avx512Usable() ? " (AVX-512)" : " (AVX2)");
  if (bf16 && !cpu.nativeBf16()) {
    std::fprintf(stderr, "conv_choice: this CPU has no AVX512-BF16/AMX: the blocked path runs no bf16 here\n");
    return 77;  // nothing to compare on this CPU: CTest's smoke counts it as skipped
  }
  // One way or the other for every convolution that follows.
  const std::function<void(bool)> use = [&](bool alternative) {
    if (winograd) {
      blocked::setConvAlgorithm(alternative ? blocked::ConvAlgorithm::Winograd : blocked::ConvAlgorithm::Direct);
    } else if (stem) {
      blocked::setStem(alternative ? blocked::Stem::SpaceToDepth : blocked::Stem::Direct);
    } else {  // direct kernels on both sides (fp32 Auto would take Winograd on some maps)
      blocked::setConvAlgorithm(blocked::ConvAlgorithm::Direct);
      blocked::setSmallMaps(alternative ? blocked::SmallMaps::Mosaic : blocked::SmallMaps::Direct);
    }
  };
  const auto useAuto = [&] {
    blocked::setConvAlgorithm(blocked::ConvAlgorithm::Auto);
    blocked::setSmallMaps(blocked::SmallMaps::Auto);
    blocked::setStem(blocked::Stem::Auto);
  };
  // The folded stem's primitive: 4x the channels, stride 1, no padding, oh + ceil(k / 2) - 1
  // rows and columns (its cache key).
  const Conv s0 = stems(channels, size).front();
  const int64_t folds = (size + 2 * s0.pad - s0.k) / s0.stride + 1 + (s0.k + 1) / 2 - 1;
  const std::string marker = winograd ? "wino"
                             : stem   ? std::to_string(batch) + "x" + std::to_string(4 * channels) + "x" +
                                          std::to_string(folds) + "x" + std::to_string(folds) + "xp"
                                      : "(mosaic ";
  // The "auto" column says whether Auto took the alternative; without the mosaic, fp32 Auto may
  // still run Winograd, so that is "no mosaic", not "direct".
  const char* notChosen = winograd || stem ? "direct" : "no mosaic";
  const double tolerance = bf16 ? 2e-2 : 1e-4;
  compat::setAutocastEnabled(c10::DeviceType::CPU, bf16);
  if (bf16) {
    compat::setAutocastDtype(c10::DeviceType::CPU, torch::kBFloat16);
  }

  struct Row {
    Conv c;
    double direct = 0, alternative = 0, err = 0;
    bool available = false, autoAlternative = false;
  };
  std::vector<Row> rows;
  bool agree = true;
  const auto toInput = [&](const torch::Tensor& plain) {
    return blocked::toBlocked(bf16 ? plain.to(torch::kBFloat16) : plain);
  };
  const auto toFloat = [](const torch::Tensor& t) { return blocked::toPlain(t).to(torch::kFloat); };
  for (const auto& c : stem ? stems(channels, size) : convolutions(model, size)) {
    if (c.size < 1) {
      continue;
    }
    const int64_t outMap = (c.size + 2 * c.pad - c.k) / c.stride + 1;
    const auto x0 = c.image ? torch::rand({batch, c.in, c.size, c.size})
                            : toInput(torch::relu(torch::randn({batch, c.in, c.size, c.size})));
    const auto w0 = torch::randn({c.out, c.in, c.k, c.k}) * 0.05;
    torch::manual_seed(1);
    const auto dy = toInput(torch::randn({batch, c.out, outMap, outMap}));
    struct Result {
      torch::Tensor y, dx, dw;
    };
    // Forward and backward one way; `ms` gets their wall time.
    const auto run = [&](const std::function<void()>& choose, double* ms = nullptr) {
      choose();
      auto x = c.image ? x0 : x0.clone().requires_grad_(true);
      auto w = w0.clone().requires_grad_(true);
      const auto t0 = std::chrono::steady_clock::now();
      auto y = blocked::conv2d(x, w, c.stride, c.pad);
      y.backward(dy);
      if (ms) {
        *ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
      }
      return Result{toFloat(y.detach()), c.image ? torch::Tensor() : toFloat(x.grad()), w.grad()};
    };
    Row r{c};
    int before = entries(marker);
    run(useAuto);
    r.autoAlternative = entries(marker) > before;
    before = entries(marker);
    const auto ra = run([&] { use(true); });
    r.available = r.autoAlternative || entries(marker) > before;
    const auto rd = run([&] { use(false); });
    r.err = std::max({relDiff(ra.y, rd.y), relDiff(ra.dx, rd.dx), relDiff(ra.dw, rd.dw)});
    agree = agree && r.err < tolerance;
    std::vector<double> td, ta;
    for (int i = 0; i < rounds; ++i) {
      for (int j = 0; j < 2; ++j) {
        const bool alternativeNow = (i + j) % 2 == 1;
        double ms = 0;
        run([&] { use(alternativeNow); }, &ms);
        (alternativeNow ? ta : td).push_back(ms);
      }
    }
    r.direct = median(td);
    r.alternative = median(ta);
    rows.push_back(r);
  }
  useAuto();
  compat::setAutocastEnabled(c10::DeviceType::CPU, false);

  if (json) {
    std::printf("{\"cpu\": \"%s\", \"choice\": \"%s\", \"dtype\": \"%s\", \"model\": \"%s\", \"size\": %lld, "
                "\"batch\": %lld, \"threads\": %d, \"rounds\": %d, \"convolutions\": [",
                cpuName.c_str(), choice.c_str(), dtype.c_str(), model.c_str(), static_cast<long long>(size),
                static_cast<long long>(batch), threads, rounds);
    for (size_t i = 0; i < rows.size(); ++i) {
      const auto& r = rows[i];
      std::printf("%s{\"conv\": \"%s\", \"map\": %lld, \"direct_ms\": %.3f, \"%s_ms\": %.3f, "
                  "\"%s_available\": %s, \"auto\": \"%s\", \"max_rel_diff\": %.3g}",
                  i ? ", " : "", r.c.name.c_str(), static_cast<long long>(r.c.size), r.direct, choice.c_str(),
                  r.alternative, choice.c_str(), r.available ? "true" : "false",
                  r.autoAlternative ? choice.c_str() : notChosen, r.err);
    }
    std::printf("], \"agree\": %s}\n", agree ? "true" : "false");
  } else {
    std::printf("CPU: %s; %s, %lld px, batch %lld, %s, %d threads, median of %d rounds (forward + backward, ms)\n",
                cpuName.c_str(), model.c_str(), static_cast<long long>(size), static_cast<long long>(batch),
                dtype.c_str(), threads, rounds);
    std::printf("%-12s %8s %8s %9s %8s  %-8s %s\n", "convolution", "map", "direct", choice.c_str(), "d/alt", "auto",
                "max rel diff");
    for (const auto& r : rows) {
      std::printf("%-12s %5lldx%-2lld %8.3f %9s %8s  %-8s %.2g\n", r.c.name.c_str(), static_cast<long long>(r.c.size),
                  static_cast<long long>(r.c.size), r.direct,
                  r.available ? std::to_string(r.alternative).substr(0, 7).c_str() : "n/a",
                  r.available ? std::to_string(r.direct / r.alternative).substr(0, 4).c_str() : "-",
                  r.autoAlternative ? choice.c_str() : notChosen, r.err);
    }
  }
  if (!agree) {
    std::fprintf(stderr, "conv_choice: the two ways disagree beyond %g relative\n", tolerance);
    return 1;
  }
  return 0;
}
