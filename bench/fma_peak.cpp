// fma_peak: this CPU's single-precision FMA peak in GFLOP/s, measured (cpuid reports no clock
// on a KVM guest, so frequency x FMA units x lanes cannot be computed). Each thread runs
// independent chains of FMAs, enough of them to cover the FMA latency on both FMA pipes, on
// registers only; all threads start together; the best of several repeats counts. The widest
// vector the CPU has sets the peak: 256-bit (AVX2) and, where present, 512-bit (AVX-512F;
// a CPU with one 512-bit FMA unit gains nothing from it, so both are measured and the larger
// one counts). Where the CPU has AMX-BF16 the bf16 tile peak is measured too, and where it has
// AVX512-BF16 without AMX (Cooper Lake, AMD Zen 4/5, or AMX the kernel refused) the VDPBF16PS
// peak: a bf16 run's figures are against that peak, not fp32's.
//
//   fma_peak [--threads N] [--seconds S] [--json]
//
// Prints the all-cores peak and the one-thread figure; --json one object on the last line
// (bench/run reads "gflops_all", "isa" and, where measured, "bf16_gflops_all" and "bf16_unit").
#include <immintrin.h>
#include <sys/syscall.h>
#include <unistd.h>

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

// The same with 512-bit FMAs (16 floats each); 24 registers of 32 cover two pipes.
constexpr int kChains512 = 24;

// The 512-bit chains summed into one value, so that no chain is elided.
__attribute__((target("avx512f"), always_inline)) inline float sumChains512(const __m512 (&acc)[kChains512]) {
  __m512 s = acc[0];
  for (int i = 1; i < kChains512; ++i) {
    s = _mm512_add_ps(s, acc[i]);
  }
  alignas(64) float out[16];
  _mm512_store_ps(out, s);
  return out[0] + out[15];
}

__attribute__((target("avx512f"), noinline)) float fmaBlock512(float seed) {
  __m512 acc[kChains512];
  for (int i = 0; i < kChains512; ++i) {
    acc[i] = _mm512_set1_ps(seed + static_cast<float>(i));
  }
  const __m512 a = _mm512_set1_ps(0.999999f), b = _mm512_set1_ps(1e-7f);
  for (long k = 0; k < kInner; ++k) {
#pragma GCC unroll 24
    for (int i = 0; i < kChains512; ++i) {
      acc[i] = _mm512_fmadd_ps(acc[i], a, b);
    }
  }
  return sumChains512(acc);
}

// AVX512-BF16: VDPBF16PS multiplies 16 lanes x 2 bf16 pairs and adds them to fp32 (32
// multiply-adds); 24 independent accumulators, as for the fp32 FMA.
__attribute__((target("avx512f,avx512bf16"), noinline)) float dpbf16Block(float seed) {
  __m512 acc[kChains512];
  for (int i = 0; i < kChains512; ++i) {
    acc[i] = _mm512_set1_ps(seed + static_cast<float>(i));
  }
  const __m512bh a = (__m512bh)_mm512_set1_epi16(0x3f80), b = (__m512bh)_mm512_set1_epi16(0x3380);  // 1, ~6e-8
  for (long k = 0; k < kInner; ++k) {
#pragma GCC unroll 24
    for (int i = 0; i < kChains512; ++i) {
      acc[i] = _mm512_dpbf16_ps(acc[i], a, b);
    }
  }
  return sumChains512(acc);
}

// AMX-BF16: four independent 16x16 fp32 accumulator tiles, each += a 16x32 bf16 tile times a
// 32x16 one (TDPBF16PS: 16*16*32 multiply-adds), operands kept in tiles. Linux hands out the
// tile state only on request (arch_prctl ARCH_REQ_XCOMP_PERM), per process.
constexpr long kAmxInner = 1 << 14;
struct TileConfig {
  uint8_t palette = 1, startRow = 0, reserved[14] = {};
  uint16_t colsb[16] = {};
  uint8_t rows[16] = {};
};

__attribute__((target("amx-tile,amx-bf16"), noinline)) float amxBlock(float seed) {
  TileConfig cfg;
  for (int t = 0; t < 8; ++t) {
    cfg.rows[t] = 16;
    cfg.colsb[t] = 64;
  }
  _tile_loadconfig(&cfg);
  alignas(64) uint16_t ab[16 * 32];
  alignas(64) float c[16 * 16];
  for (int i = 0; i < 16 * 32; ++i) {
    ab[i] = 0x3f80;  // bf16 1.0
  }
  for (int i = 0; i < 16 * 16; ++i) {
    c[i] = seed;
  }
  _tile_loadd(0, c, 64);
  _tile_loadd(1, c, 64);
  _tile_loadd(2, c, 64);
  _tile_loadd(3, c, 64);
  _tile_loadd(4, ab, 64);
  _tile_loadd(5, ab, 64);
  _tile_loadd(6, ab, 64);
  _tile_loadd(7, ab, 64);
  for (long k = 0; k < kAmxInner; ++k) {
    _tile_dpbf16ps(0, 4, 6);
    _tile_dpbf16ps(1, 4, 7);
    _tile_dpbf16ps(2, 5, 6);
    _tile_dpbf16ps(3, 5, 7);
  }
  _tile_stored(0, c, 64);
  _tile_release();
  return c[0];
}
constexpr double kFlopsPerAmxBlock = 2.0 * 4 * 16 * 16 * 32 * kAmxInner;

bool amxUsable() {
  if (!__builtin_cpu_supports("avx512f")) {
    return false;  // every AMX CPU has AVX-512; also keeps old CPUs off cpuid leaf 7 below
  }
  unsigned a, b, c, d;
  __asm__("cpuid" : "=a"(a), "=b"(b), "=c"(c), "=d"(d) : "a"(7), "c"(0));
  const bool amxBf16 = (d >> 22) & 1, amxTile = (d >> 24) & 1;
  if (!amxBf16 || !amxTile) {
    return false;
  }
  constexpr int kArchReqXcompPerm = 0x1023, kXfeatureXtiledata = 18;
  return syscall(SYS_arch_prctl, kArchReqXcompPerm, kXfeatureXtiledata) == 0;
}

enum class Unit { Avx2, Avx512, Avx512Bf16, Amx };

double flopsPerBlock(Unit u) {
  switch (u) {
    case Unit::Amx: return kFlopsPerAmxBlock;
    case Unit::Avx512Bf16: return 2.0 * 32 * kChains512 * kInner;
    case Unit::Avx512: return 2.0 * 16 * kChains512 * kInner;
    case Unit::Avx2: break;
  }
  return kFlopsPerBlock;
}

float block(Unit u, float seed) {
  switch (u) {
    case Unit::Amx: return amxBlock(seed);
    case Unit::Avx512Bf16: return dpbf16Block(seed);
    case Unit::Avx512: return fmaBlock512(seed);
    case Unit::Avx2: break;
  }
  return fmaBlock(seed);
}

// GFLOP/s of `threads` threads each running blocks of `unit` for `seconds`.
double measure(Unit unit, int threads, double seconds) {
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
        s += block(unit, static_cast<float>(n));
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
  return total * flopsPerBlock(unit) / std::chrono::duration<double>(end - start).count() / 1e9;
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
  auto best = [&](Unit u, int n) {
    double g = 0;
    for (int r = 0; r < 5; ++r) {
      g = std::max(g, measure(u, n, seconds));
    }
    return g;
  };
  double all = best(Unit::Avx2, threads), one = best(Unit::Avx2, 1);
  const char* isa = "avx2";
  if (__builtin_cpu_supports("avx512f")) {
    const double all512 = best(Unit::Avx512, threads);
    std::printf("fp32 FMA, AVX2 256-bit: %.1f GFLOP/s on %d threads; AVX-512: %.1f\n", all, threads, all512);
    if (all512 > all) {
      all = all512;
      one = best(Unit::Avx512, 1);
      isa = "avx512";
    }
  }
  std::printf("FMA peak (fp32, %s FMA): %.1f GFLOP/s on %d threads, %.1f GFLOP/s on one\n", isa, all, threads, one);
  // oneDNN runs bf16 on AMX where it can, else on AVX512-BF16: the peak of the unit it uses.
  double bf16All = 0, bf16One = 0;
  const char* bf16Unit = nullptr;
  if (amxUsable()) {
    bf16All = best(Unit::Amx, threads);
    bf16One = best(Unit::Amx, 1);
    bf16Unit = "amx";
    std::printf("AMX-BF16 peak (TDPBF16PS): %.1f GFLOP/s on %d threads, %.1f GFLOP/s on one\n", bf16All, threads,
                bf16One);
  } else if (__builtin_cpu_supports("avx512bf16")) {
    bf16All = best(Unit::Avx512Bf16, threads);
    bf16One = best(Unit::Avx512Bf16, 1);
    bf16Unit = "avx512_bf16";
    std::printf("AVX512-BF16 peak (VDPBF16PS): %.1f GFLOP/s on %d threads, %.1f GFLOP/s on one\n", bf16All,
                threads, bf16One);
  }
  if (json) {
    std::printf("{\"gflops_all\": %.2f, \"threads\": %d, \"gflops_one\": %.2f, \"isa\": \"%s\"", all, threads,
                one, isa);
    if (bf16All > 0) {
      std::printf(", \"bf16_gflops_all\": %.2f, \"bf16_gflops_one\": %.2f, \"bf16_unit\": \"%s\"", bf16All,
                  bf16One, bf16Unit);
    }
    std::printf("}\n");
  }
  return 0;
}
