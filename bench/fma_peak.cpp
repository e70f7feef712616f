// fma_peak: this CPU's single-precision FMA peak in GFLOP/s, measured (cpuid reports no clock
// on a KVM guest, so frequency x FMA units x lanes cannot be computed). Each thread runs
// independent chains of 256-bit FMAs, enough of them to cover the FMA latency on both FMA
// pipes, on registers only; all threads start together; the best of several repeats counts.
//
//   fma_peak [--threads N] [--seconds S] [--json]
//
// Prints the all-cores peak and the one-thread figure; --json one object on the last line
// (bench/run reads "gflops_all").
#include <immintrin.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

namespace {

constexpr int kChains = 12;  // > latency (4-5 cycles) x 2 pipes: the pipes never wait
constexpr long kInner = 1 << 16;

// kInner x kChains FMAs of 8 floats (16 flops each); returns a value so nothing is elided.
__attribute__((target("avx2,fma"), noinline)) float fmaBlock(float seed) {
  __m256 acc[kChains];
  for (int i = 0; i < kChains; ++i) {
    acc[i] = _mm256_set1_ps(seed + static_cast<float>(i));
  }
  const __m256 a = _mm256_set1_ps(0.999999f), b = _mm256_set1_ps(1e-7f);
  for (long k = 0; k < kInner; ++k) {
#pragma GCC unroll 12
    for (int i = 0; i < kChains; ++i) {
      acc[i] = _mm256_fmadd_ps(acc[i], a, b);
    }
  }
  __m256 s = acc[0];
  for (int i = 1; i < kChains; ++i) {
    s = _mm256_add_ps(s, acc[i]);
  }
  float out[8];
  _mm256_storeu_ps(out, s);
  return out[0] + out[7];
}

constexpr double kFlopsPerBlock = 2.0 * 8 * kChains * kInner;

// GFLOP/s of `threads` threads each running blocks for `seconds`.
double measure(int threads, double seconds) {
  std::atomic<int> ready{0};
  std::atomic<bool> go{false};
  std::vector<long> blocks(threads, 0);
  std::vector<float> sink(threads, 0.f);
  std::vector<std::thread> pool;
  using Clock = std::chrono::steady_clock;
  Clock::time_point start, end;
  for (int t = 0; t < threads; ++t) {
    pool.emplace_back([&, t] {
      ready.fetch_add(1);
      while (!go.load()) {
      }
      const auto deadline = Clock::now() + std::chrono::duration<double>(seconds);
      long n = 0;
      float s = 0.f;
      while (Clock::now() < deadline) {
        s += fmaBlock(static_cast<float>(n));
        ++n;
      }
      blocks[t] = n;
      sink[t] = s;
    });
  }
  while (ready.load() < threads) {
  }
  start = Clock::now();
  go.store(true);
  for (auto& th : pool) {
    th.join();
  }
  end = Clock::now();
  long total = 0;
  for (long b : blocks) {
    total += b;
  }
  volatile float keep = sink[0];
  (void)keep;
  return total * kFlopsPerBlock / std::chrono::duration<double>(end - start).count() / 1e9;
}

}  // namespace

int main(int argc, char** argv) {
  int threads = static_cast<int>(std::thread::hardware_concurrency());
  double seconds = 0.5;
  bool json = false;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "--threads" && i + 1 < argc) {
      threads = std::atoi(argv[++i]);
    } else if (a == "--seconds" && i + 1 < argc) {
      seconds = std::atof(argv[++i]);
    } else if (a == "--json") {
      json = true;
    } else {
      std::fprintf(stderr, "usage: fma_peak [--threads N] [--seconds S] [--json]\n");
      return 2;
    }
  }
  if (threads < 1 || seconds <= 0) {
    std::fprintf(stderr, "fma_peak: --threads must be >= 1 and --seconds > 0\n");
    return 2;
  }
  __builtin_cpu_init();
  if (!__builtin_cpu_supports("avx2") || !__builtin_cpu_supports("fma")) {
    std::fprintf(stderr, "fma_peak: this CPU has no AVX2 FMA; the benchmark measures that unit only\n");
    return 2;
  }
  // Best of 5: a preempted repeat (a shared machine) only lowers a figure.
  double all = 0, one = 0;
  for (int r = 0; r < 5; ++r) {
    all = std::max(all, measure(threads, seconds));
    one = std::max(one, measure(1, seconds));
  }
  std::printf("FMA peak (fp32, AVX2 256-bit FMA): %.1f GFLOP/s on %d threads, %.1f GFLOP/s on one\n", all, threads,
              one);
  if (json) {
    std::printf("{\"gflops_all\": %.2f, \"threads\": %d, \"gflops_one\": %.2f}\n", all, threads, one);
  }
  return 0;
}
