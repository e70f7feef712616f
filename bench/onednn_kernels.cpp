// bench_onednn_kernels: every kernel oneDNN offers for a model's convolutions and batch norms, each
// one timed, on this CPU and this oneDNN. The blocked path (engine/models/Blocked.cpp) takes the
// first implementation oneDNN lists for each primitive ("first" below); this census says whether
// another one on the list is faster, shape by shape and direction by direction, and by how much a
// step would gain from choosing per shape. Where the engine computes a convolution another way
// (the weight gradient by matmul, the small-map mosaic, Winograd in fp32, the folded bf16 stem),
// bench/weight_gradient and bench/conv_choice compare that way with oneDNN's first kernel.
//
//   build/bench/bench_onednn_kernels [--dtype f32|bf16] [--size 128] [--batch 32] [--rounds 5]
//                                    [--threads 2] [--cache cold|hot] [--all] [--json]
//
// Shapes: ResNet-18's convolutions (the 7x7 stem on the image, then every 3x3 and 1x1; 20 layers,
// 11 distinct shapes; padding on the right as the engine computes it) and its 20 batch norms
// (training; the stem's and each block's first with the fused ReLU, the rest without). Layouts as the blocked
// path runs them: bf16 activations nhwc (the layout oneDNN's AMX kernels take), fp32 ones
// nChw16c on AVX-512 / nChw8c otherwise; weights in the layout each implementation asks for
// (format_tag::any); weight gradients accumulated in f32; backward-weights picks its own activation
// layouts (`any`), as the engine lets it. Batch norm is also timed in the other layout (nChw16c for
// bf16, nhwc for fp32), with the pair of reorders into and out of it that the step would add.
//
// Each implementation runs once untimed, then --rounds times; the figure is the median. With
// --cache cold (the default) a buffer of twice the last-level cache is read before each timed call,
// so the primitive reads its inputs from memory as it does inside a training step (where a layer's
// saved activations were written long before); --cache hot times it back to back. Reference and
// gemm-based kernels are listed but neither run nor timed unless --all (they are 10-100x slower).
// oneDNN's primitive cache is off: with it, walking a list after a primitive of the first kernel
// exists returns that kernel twice.
//
// An alternative counts as faster only where its slowest round beats the first's fastest; the
// summary's gain adds only those ("fastest" otherwise marks a tie inside the rounds' spread).
//
// Every timed implementation's output (forward: the destination; backward-data: the input
// gradient; backward-weights: the weight gradient; batch norm: its destination, its input
// gradient) is compared, in plain fp32, with the reference's on the same random inputs: the first
// implementation, or the first timed one where the first is not (marked "reference"). They must
// agree within 1e-4 relative (fp32) or 2e-2 (bf16), or the tool exits 1 ("agree": false).
// Exit 2: bad options; 77: --dtype bf16 on a CPU where oneDNN 2.6 has no bf16 kernels (below
// AVX-512). Speed is measured here, never asserted.

#include <CLI/CLI.hpp>
#include <oneapi/dnnl/dnnl.hpp>
#include <omp.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <functional>
#include <map>
#include <random>
#include <string>
#include <tuple>
#include <unistd.h>
#include <vector>

namespace {

using dnnl::memory;
using tag = memory::format_tag;
using dt = memory::data_type;

dnnl::engine gEng(dnnl::engine::kind::cpu, 0);
dnnl::stream gStream(gEng);

struct Options {
  std::string dtype = "bf16", cache = "cold";
  int size = 128, batch = 32, rounds = 5, threads = 2;
  bool all = false, json = false;
};
Options gOpt;
dt gDt = dt::bf16;

std::string cpuName() {
  std::ifstream in("/proc/cpuinfo");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("model name", 0) == 0) {
      return line.substr(line.find(':') + 2);
    }
  }
  return "unknown CPU";
}

std::string isaName() {
  switch (dnnl::get_effective_cpu_isa()) {
  case dnnl::cpu_isa::avx512_core_amx: return "avx512_core_amx";
  case dnnl::cpu_isa::avx512_core_bf16: return "avx512_core_bf16";
  case dnnl::cpu_isa::avx512_core_vnni: return "avx512_core_vnni";
  case dnnl::cpu_isa::avx512_core: return "avx512_core";
  case dnnl::cpu_isa::avx2_vnni: return "avx2_vnni";
  case dnnl::cpu_isa::avx2: return "avx2";
  default: return "other";
  }
}

bool avx512() {
  const auto isa = dnnl::get_effective_cpu_isa();
  return isa == dnnl::cpu_isa::avx512_core || isa == dnnl::cpu_isa::avx512_core_vnni ||
         isa == dnnl::cpu_isa::avx512_core_bf16 || isa == dnnl::cpu_isa::avx512_core_amx;
}

tag activationTag() { return gDt == dt::bf16 ? tag::nhwc : (avx512() ? tag::nChw16c : tag::nChw8c); }
tag otherTag() { return gDt == dt::bf16 ? (avx512() ? tag::nChw16c : tag::nChw8c) : tag::nhwc; }
std::string tagName(tag t) {
  return t == tag::nhwc ? "nhwc" : t == tag::nChw16c ? "nChw16c" : t == tag::nChw8c ? "nChw8c" : "nchw";
}

// The cache flush: twice the last-level cache sysconf reports, 64 MiB to 1 GiB (a KVM guest may
// report the host's whole L3: 480 MiB on the Sapphire Rapids guest).
std::vector<char> &flushBuffer() {
  static std::vector<char> b = [] {
    long llc = sysconf(_SC_LEVEL3_CACHE_SIZE);
    if (llc <= 0) {
      llc = sysconf(_SC_LEVEL2_CACHE_SIZE);
    }
    const size_t want = 2 * static_cast<size_t>(std::max(llc, 0L));
    return std::vector<char>(std::clamp<size_t>(want, size_t{64} << 20, size_t{1} << 30), 1);
  }();
  return b;
}

// Read, not written: a written buffer leaves dirty lines whose write-back the timed call would pay.
void flushCaches() {
  const auto &b = flushBuffer();
  long sum = 0;
#pragma omp parallel for reduction(+ : sum)
  for (long i = 0; i < static_cast<long>(b.size()); i += 64) {
    sum += b[static_cast<size_t>(i)];
  }
  // Kept observable so the loop is not optimised away.
  if (sum == -1) {
    std::fputs("", stderr);
  }
}

struct Timing {
  double median = -1, lo = -1, hi = -1; // -1: not timed
};

Timing timeMs(const std::function<void()> &f) {
  f();
  gStream.wait();
  std::vector<double> t;
  for (int r = 0; r < gOpt.rounds; ++r) {
    if (gOpt.cache == "cold") {
      flushCaches();
    }
    const auto t0 = std::chrono::steady_clock::now();
    f();
    gStream.wait();
    t.push_back(std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count());
  }
  std::sort(t.begin(), t.end());
  return {t[t.size() / 2], t.front(), t.back()};
}

// Plain fp32 data of a logical shape, and the same values in any layout/type.
struct Plain {
  memory::dims dims;
  std::vector<float> v;
};

Plain randomPlain(const memory::dims &d, unsigned seed, float mean = 0.f, float sd = 1.f) {
  Plain p{d, {}};
  size_t n = 1;
  for (auto x : d) {
    n *= static_cast<size_t>(x);
  }
  std::mt19937 g(seed);
  std::normal_distribution<float> nd(mean, sd);
  p.v.resize(n);
  for (auto &x : p.v) {
    x = nd(g);
  }
  return p;
}

tag plainTag(size_t rank) { return rank == 1 ? tag::a : rank == 4 ? tag::nchw : tag::undef; }

memory fromPlain(const Plain &p, const memory::desc &md) {
  memory src({p.dims, dt::f32, plainTag(p.dims.size())}, gEng, const_cast<float *>(p.v.data()));
  memory dst(md, gEng);
  dnnl::reorder(src, dst).execute(gStream, src, dst);
  gStream.wait();
  return dst;
}

std::vector<float> toPlain(memory &m) {
  const auto md = m.get_desc();
  const auto dims = md.dims();
  memory dst({dims, dt::f32, plainTag(dims.size())}, gEng);
  dnnl::reorder(m, dst).execute(gStream, m, dst);
  gStream.wait();
  size_t n = 1;
  for (auto x : dims) {
    n *= static_cast<size_t>(x);
  }
  const float *f = static_cast<const float *>(dst.get_data_handle());
  return std::vector<float>(f, f + n);
}

// The largest difference relative to the reference's largest magnitude; infinity where either
// holds a NaN or an infinity (std::max would skip a NaN).
double relDiff(const std::vector<float> &a, const std::vector<float> &ref) {
  double d = 0, m = 0;
  for (size_t i = 0; i < ref.size(); ++i) {
    if (!std::isfinite(a[i]) || !std::isfinite(ref[i])) {
      return INFINITY;
    }
    d = std::max(d, static_cast<double>(std::fabs(a[i] - ref[i])));
    m = std::max(m, static_cast<double>(std::fabs(ref[i])));
  }
  return m > 0 ? d / m : d;
}

double tolerance() { return gDt == dt::bf16 ? 2e-2 : 1e-4; }

bool untimedByDefault(const std::string &impl) {
  return impl.find("ref") != std::string::npos || impl.find("gemm") != std::string::npos;
}

struct Impl {
  std::string name;
  Timing t;
  bool compared = false, reference = false;
  double diff = 0;
};

struct Row {
  std::string primitive, shape, direction;
  int count = 1; // layers of the model with this shape
  std::vector<Impl> impls;
  bool engineLayout = true; // false: batch norm in the other layout, or the reorders it would need

  // The first implementation's median, or -1 where it was not timed.
  double firstMs() const { return impls.empty() ? -1 : impls.front().t.median; }
  // The index of the fastest implementation: an alternative only where its slowest round beats
  // the first's fastest (outside the rounds' spread), else the first. -1: the first is untimed.
  int fastest() const {
    if (firstMs() < 0) {
      return -1;
    }
    int best = 0;
    for (size_t i = 1; i < impls.size(); ++i) {
      const auto &t = impls[i].t;
      if (t.median >= 0 && t.hi < impls.front().t.lo && t.median < impls[static_cast<size_t>(best)].t.median) {
        best = static_cast<int>(i);
      }
    }
    return best;
  }
  // The smallest median of all timed implementations (ties inside the spread included).
  double smallestMs() const {
    double b = -1;
    for (const auto &i : impls) {
      if (i.t.median >= 0 && (b < 0 || i.t.median < b)) {
        b = i.t.median;
      }
    }
    return b;
  }
};
std::vector<Row> gRows;
bool gAgree = true;

// Walks `pd`'s implementation list. The op descriptor `pd` was built from must outlive the walk
// (next_impl() reads it: a temporary one cuts the list short). `run` creates and runs the current
// implementation when `timed`, filling its timing, and returns its output in plain fp32.
template <class PD>
void walk(Row row, PD &pd, const std::function<std::vector<float>(PD &, bool timed, Timing &t)> &run) {
  std::vector<float> ref;
  do {
    Impl impl;
    impl.name = pd.impl_info_str();
    const bool timed = gOpt.all || !untimedByDefault(impl.name);
    auto out = run(pd, timed, impl.t);
    if (!out.empty()) {
      if (ref.empty()) {
        ref = std::move(out); // the first timed implementation is the reference
        impl.reference = true;
      } else {
        impl.compared = true;
        impl.diff = relDiff(out, ref);
        if (!(impl.diff <= tolerance())) {
          gAgree = false;
        }
      }
    }
    row.impls.push_back(impl);
  } while (pd.next_impl());
  gRows.push_back(std::move(row));
}

struct ConvShape {
  int ic, oc, hw, k, stride, pad, count;
  bool image; // the stem: a plain input, no input gradient
};

std::vector<ConvShape> resnet18Shapes(int size) {
  const int s1 = (size + 2 * 3 - 7) / 2 + 1;  // stem output
  const int s2 = (s1 + 2 * 1 - 3) / 2 + 1;    // after the 3x3/2 max pool
  std::vector<ConvShape> v{{3, 64, size, 7, 2, 3, 1, true}, {64, 64, s2, 3, 1, 1, 4, false}};
  int c = 64, hw = s2;
  for (int stage = 1; stage < 4; ++stage) {
    const int oc = c * 2, ohw = (hw + 2 - 3) / 2 + 1;
    v.push_back({c, oc, hw, 3, 2, 1, 1, false});  // first conv of the stage
    v.push_back({c, oc, hw, 1, 2, 0, 1, false});  // its downsample
    v.push_back({oc, oc, ohw, 3, 1, 1, 3, false}); // the other three
    c = oc;
    hw = ohw;
  }
  return v;
}

void convCensus(const ConvShape &s) {
  const int n = gOpt.batch, oh = (s.hw + 2 * s.pad - s.k) / s.stride + 1;
  const memory::dims sd{n, s.ic, s.hw, s.hw}, dd{n, s.oc, oh, oh}, wd{s.oc, s.ic, s.k, s.k};
  // Right padding as the engine's padRight(): only what the last window reaches (3x3/2 on an even
  // map: 0; the 7x7/2 stem at 128 px: 2).
  const memory::dim padR = std::max(0, (oh - 1) * s.stride + s.k - s.hw - s.pad);
  const memory::dims strides{s.stride, s.stride}, padL{s.pad, s.pad}, padRight{padR, padR};
  const tag srcTag = s.image ? (gDt == dt::bf16 ? tag::nhwc : tag::nchw) : activationTag();
  const memory::desc src(sd, gDt, srcTag), dst(dd, gDt, activationTag());
  const memory::desc anyW(wd, gDt, tag::any), anyDiffW(wd, dt::f32, tag::any);
  char shape[96];
  std::snprintf(shape, sizeof shape, "%d->%d %dx%d/%d at %dx%d", s.ic, s.oc, s.k, s.k, s.stride, s.hw, s.hw);
  const auto x = randomPlain(sd, 1), w = randomPlain(wd, 2, 0.f, 0.05f), dy = randomPlain(dd, 3);

  const dnnl::convolution_forward::desc fd(dnnl::prop_kind::forward_training, dnnl::algorithm::convolution_direct,
                                           src, anyW, dst, strides, padL, padRight);
  const dnnl::convolution_forward::primitive_desc hint(fd, gEng);
  {
    dnnl::convolution_forward::primitive_desc pd(fd, gEng);
    walk<decltype(pd)>({"convolution", shape, "forward", s.count, {}}, pd, [&](auto &p, bool timed, Timing &t) {
      if (!timed) {
        return std::vector<float>{};
      }
      auto mx = fromPlain(x, p.src_desc()), mw = fromPlain(w, p.weights_desc());
      memory my(p.dst_desc(), gEng);
      dnnl::convolution_forward prim(p);
      t = timeMs([&] { prim.execute(gStream, {{DNNL_ARG_SRC, mx}, {DNNL_ARG_WEIGHTS, mw}, {DNNL_ARG_DST, my}}); });
      return toPlain(my);
    });
  }
  if (!s.image) {
    const dnnl::convolution_backward_data::desc bd(dnnl::algorithm::convolution_direct, src, anyW, dst, strides,
                                                   padL, padRight);
    dnnl::convolution_backward_data::primitive_desc pd(bd, gEng, hint);
    walk<decltype(pd)>({"convolution", shape, "backward-data", s.count, {}}, pd, [&](auto &p, bool timed, Timing &t) {
      if (!timed) {
        return std::vector<float>{};
      }
      auto mdy = fromPlain(dy, p.diff_dst_desc()), mw = fromPlain(w, p.weights_desc());
      memory mdx(p.diff_src_desc(), gEng);
      dnnl::convolution_backward_data prim(p);
      t = timeMs([&] {
        prim.execute(gStream, {{DNNL_ARG_DIFF_DST, mdy}, {DNNL_ARG_WEIGHTS, mw}, {DNNL_ARG_DIFF_SRC, mdx}});
      });
      return toPlain(mdx);
    });
  }
  {
    const dnnl::convolution_backward_weights::desc wdsc(
        dnnl::algorithm::convolution_direct, memory::desc(sd, gDt, tag::any), anyDiffW,
        memory::desc(dd, gDt, tag::any), strides, padL, padRight);
    dnnl::convolution_backward_weights::primitive_desc pd(wdsc, gEng, hint);
    walk<decltype(pd)>({"convolution", shape, "backward-weights", s.count, {}}, pd,
                       [&](auto &p, bool timed, Timing &t) {
                         if (!timed) {
                           return std::vector<float>{};
                         }
                         auto mx = fromPlain(x, p.src_desc()), mdy = fromPlain(dy, p.diff_dst_desc());
                         memory mdw(p.diff_weights_desc(), gEng);
                         dnnl::convolution_backward_weights prim(p);
                         t = timeMs([&] {
                           prim.execute(gStream,
                                        {{DNNL_ARG_SRC, mx}, {DNNL_ARG_DIFF_DST, mdy}, {DNNL_ARG_DIFF_WEIGHTS, mdw}});
                         });
                         return toPlain(mdw);
                       });
  }
}

// The output gradient and the scale and shift gradients as one vector, so all three are compared.
std::vector<float> joined(memory &dx, memory &dg, memory &db) {
  auto v = toPlain(dx);
  for (memory *m : {&dg, &db}) {
    const auto w = toPlain(*m);
    v.insert(v.end(), w.begin(), w.end());
  }
  return v;
}

// Batch norm (training), forward and backward, in layout `t`; with its ReLU fused where `relu`.
void bnCensus(int c, int hw, bool relu, int count, tag t) {
  const memory::dims sd{gOpt.batch, c, hw, hw};
  const memory::desc data(sd, gDt, t), ch({c}, dt::f32, tag::a);
  auto flags = dnnl::normalization_flags::use_scale | dnnl::normalization_flags::use_shift;
  if (relu) {
    flags = flags | dnnl::normalization_flags::fuse_norm_relu;
  }
  const std::string primitive = relu ? "batch norm + ReLU" : "batch norm";
  char shape[96];
  std::snprintf(shape, sizeof shape, "%d channels at %dx%d, %s", c, hw, hw, tagName(t).c_str());
  const auto x = randomPlain(sd, 4, 0.5f, 2.f), dy = randomPlain(sd, 5), gamma = randomPlain({c}, 6, 1.f, 0.1f),
             beta = randomPlain({c}, 7, 0.f, 0.1f);
  auto ms = fromPlain(gamma, ch), mb = fromPlain(beta, ch);

  const dnnl::batch_normalization_forward::desc fd(dnnl::prop_kind::forward_training, data, 1e-5f, flags);
  const dnnl::batch_normalization_forward::primitive_desc hint(fd, gEng);
  // The hint's statistics and workspace feed every backward implementation.
  auto mx = fromPlain(x, data);
  memory mean(hint.mean_desc(), gEng), var(hint.variance_desc(), gEng), ws(hint.workspace_desc(), gEng),
      y(data, gEng);
  dnnl::batch_normalization_forward(hint).execute(
      gStream, {{DNNL_ARG_SRC, mx}, {DNNL_ARG_DST, y}, {DNNL_ARG_MEAN, mean}, {DNNL_ARG_VARIANCE, var},
                {DNNL_ARG_SCALE, ms}, {DNNL_ARG_SHIFT, mb}, {DNNL_ARG_WORKSPACE, ws}});
  gStream.wait();
  const bool engine = t == activationTag();
  {
    dnnl::batch_normalization_forward::primitive_desc pd(fd, gEng);
    walk<decltype(pd)>({primitive, shape, "forward", count, {}, engine}, pd, [&](auto &p, bool timed, Timing &tm) {
      if (!timed) {
        return std::vector<float>{};
      }
      memory m(p.mean_desc(), gEng), v(p.variance_desc(), gEng), w(p.workspace_desc(), gEng), out(data, gEng);
      dnnl::batch_normalization_forward prim(p);
      tm = timeMs([&] {
        prim.execute(gStream, {{DNNL_ARG_SRC, mx}, {DNNL_ARG_DST, out}, {DNNL_ARG_MEAN, m}, {DNNL_ARG_VARIANCE, v},
                               {DNNL_ARG_SCALE, ms}, {DNNL_ARG_SHIFT, mb}, {DNNL_ARG_WORKSPACE, w}});
      });
      return toPlain(out);
    });
  }
  {
    const dnnl::batch_normalization_backward::desc bd(dnnl::prop_kind::backward, data, data, 1e-5f, flags);
    dnnl::batch_normalization_backward::primitive_desc pd(bd, gEng, hint);
    auto mdy = fromPlain(dy, data);
    walk<decltype(pd)>({primitive, shape, "backward", count, {}, engine}, pd, [&](auto &p, bool timed, Timing &tm) {
      if (!timed) {
        return std::vector<float>{};
      }
      memory dx(data, gEng), dg(ch, gEng), db(ch, gEng);
      dnnl::batch_normalization_backward prim(p);
      tm = timeMs([&] {
        prim.execute(gStream, {{DNNL_ARG_SRC, mx}, {DNNL_ARG_DIFF_DST, mdy}, {DNNL_ARG_DIFF_SRC, dx},
                               {DNNL_ARG_MEAN, mean}, {DNNL_ARG_VARIANCE, var}, {DNNL_ARG_SCALE, ms},
                               {DNNL_ARG_SHIFT, mb}, {DNNL_ARG_DIFF_SCALE, dg}, {DNNL_ARG_DIFF_SHIFT, db},
                               {DNNL_ARG_WORKSPACE, ws}});
      });
      return joined(dx, dg, db);
    });
  }
  if (!engine) {
    // What running it in this layout would add: the activation into it and the result back, timed
    // as one call (the second reads what the first wrote, as in a step); forward and backward each
    // need such a pair (the output gradient in, the input gradient out).
    memory a(memory::desc(sd, gDt, activationTag()), gEng), b(data, gEng), a2(a.get_desc(), gEng);
    dnnl::reorder in(a, b), out(b, a2);
    Impl pair{"jit reorders, in and back (forward and backward: twice this)", {}, false, false, 0};
    pair.t = timeMs([&] {
      in.execute(gStream, a, b);
      out.execute(gStream, b, a2);
    });
    gRows.push_back({"reorder pair", shape, tagName(activationTag()) + " <-> " + tagName(t), count, {pair}, false});
  }
}

void printText() {
  std::printf("oneDNN %d.%d.%d, ISA %s, %s, %d threads, %s, ResNet-18 at %d px, batch %d, %s caches, median of "
              "%d\n",
              dnnl::version()->major, dnnl::version()->minor, dnnl::version()->patch, isaName().c_str(),
              cpuName().c_str(), gOpt.threads, gOpt.dtype.c_str(), gOpt.size, gOpt.batch, gOpt.cache.c_str(),
              gOpt.rounds);
  std::string last;
  for (const auto &r : gRows) {
    const std::string head = r.primitive + " " + r.shape;
    if (head != last) {
      std::printf("%s  (x%d in the model)\n", head.c_str(), r.count);
      last = head;
    }
    const int fastest = r.fastest();
    const double smallest = r.smallestMs();
    for (size_t i = 0; i < r.impls.size(); ++i) {
      const auto &im = r.impls[i];
      const char *dir = i == 0 ? r.direction.c_str() : "";
      if (im.t.median < 0) {
        std::printf("  %-17s %-40s   not timed (--all)\n", dir, im.name.c_str());
        continue;
      }
      std::string note = i == 0 && r.impls.size() > 1 ? "first" : i == 0 && r.engineLayout ? "first (the only one)" : "";
      if (r.impls.size() > 1) {
        if (static_cast<int>(i) == fastest && i > 0) {
          note += "faster beyond the rounds' spread";
        } else if (static_cast<int>(i) == fastest && im.t.median == smallest) {
          note += ", fastest";
        } else if (im.t.median == smallest) {
          note += "smallest median, inside the first's spread";
        }
      }
      char extra[64] = "";
      if (im.compared) {
        std::snprintf(extra, sizeof extra, " (diff %.2g)", im.diff);
      } else if (im.reference && i > 0) {
        std::snprintf(extra, sizeof extra, " (reference: the first is not timed)");
      }
      std::printf("  %-17s %-40s %8.3f ms [%.3f-%.3f]  %s%s\n", dir, im.name.c_str(), im.t.median, im.t.lo, im.t.hi,
                  note.c_str(), extra);
    }
  }
  // Per direction: the model's step with the first implementation everywhere, and with the
  // fastest per shape (each shape weighted by its layers). A shape whose first implementation is
  // not timed (reference or gemm: --all) is left out and counted, so a sum never mixes measured
  // and missing shapes silently.
  struct Sum {
    double first = 0, best = 0;
    int untimed = 0;
  };
  std::map<std::string, Sum> sums;
  for (const auto &r : gRows) {
    if (!r.engineLayout) {
      continue;
    }
    auto &s = sums[r.primitive.substr(0, r.primitive.find(" +")) + " " + r.direction];
    if (r.firstMs() < 0) {
      ++s.untimed;
      continue;
    }
    s.first += r.count * r.firstMs();
    s.best += r.count * r.impls[static_cast<size_t>(r.fastest())].t.median;
  }
  std::printf("summary (ms a step, each shape times its layers; batch norm in the engine's layout; an alternative "
              "counts only beyond the rounds' spread):\n");
  Sum all;
  auto line = [](const std::string &k, const Sum &v) {
    std::printf("  %-34s first %8.2f   fastest per shape %8.2f   gain %6.2f", k.c_str(), v.first, v.best,
                v.first - v.best);
    if (v.untimed > 0) {
      std::printf("   (%d shapes left out: first kernel not timed, --all)", v.untimed);
    }
    std::printf("\n");
  };
  for (const auto &[k, v] : sums) {
    line(k, v);
    all.first += v.first;
    all.best += v.best;
    all.untimed += v.untimed;
  }
  line("all", all);
  std::printf("check: every timed implementation agrees with the reference within %g: %s\n", tolerance(),
              gAgree ? "yes (ok)" : "NO");
}

std::string jsonEscape(const std::string &s) {
  std::string o;
  for (unsigned char c : s) {
    if (c == '"' || c == '\\') {
      o += '\\';
      o += static_cast<char>(c);
    } else if (c < 0x20) {
      char u[8];
      std::snprintf(u, sizeof u, "\\u%04x", c);
      o += u;
    } else {
      o += static_cast<char>(c);
    }
  }
  return o;
}

// A number, or null where it is absent (< 0) or not finite (JSON has no NaN).
std::string num(double v, bool absent) {
  if (absent || !std::isfinite(v)) {
    return "null";
  }
  char b[32];
  std::snprintf(b, sizeof b, "%.6g", v);
  return b;
}

void printJson() {
  std::printf("{\"onednn\": \"%d.%d.%d\", \"isa\": \"%s\", \"cpu\": \"%s\", \"threads\": %d, \"dtype\": \"%s\", "
              "\"size\": %d, \"batch\": %d, \"cache\": \"%s\", \"rounds\": %d, \"agree\": %s, \"rows\": [",
              dnnl::version()->major, dnnl::version()->minor, dnnl::version()->patch, isaName().c_str(),
              jsonEscape(cpuName()).c_str(), gOpt.threads, gOpt.dtype.c_str(), gOpt.size, gOpt.batch,
              gOpt.cache.c_str(), gOpt.rounds, gAgree ? "true" : "false");
  for (size_t i = 0; i < gRows.size(); ++i) {
    const auto &r = gRows[i];
    std::printf("%s\n {\"primitive\": \"%s\", \"shape\": \"%s\", \"direction\": \"%s\", \"layers\": %d, "
                "\"engine_layout\": %s, \"fastest\": %d, \"impls\": [",
                i ? "," : "", jsonEscape(r.primitive).c_str(), jsonEscape(r.shape).c_str(),
                jsonEscape(r.direction).c_str(), r.count, r.engineLayout ? "true" : "false", r.fastest());
    for (size_t j = 0; j < r.impls.size(); ++j) {
      const auto &im = r.impls[j];
      const bool untimed = im.t.median < 0;
      std::printf("%s{\"name\": \"%s\", \"ms\": %s, \"ms_min\": %s, \"ms_max\": %s, \"rel_diff\": %s}", j ? ", " : "",
                  jsonEscape(im.name).c_str(), num(im.t.median, untimed).c_str(), num(im.t.lo, untimed).c_str(),
                  num(im.t.hi, untimed).c_str(), num(im.diff, !im.compared).c_str());
    }
    std::printf("]}");
  }
  std::printf("\n]}\n");
}

} // namespace

int main(int argc, char **argv) {
  CLI::App app{"Every oneDNN kernel for ResNet-18's convolutions and batch norms, timed and checked"};
  app.add_option("--dtype", gOpt.dtype, "f32 or bf16 (bf16 activations, f32 weight gradients)")
      ->check(CLI::IsMember({"f32", "bf16"}));
  app.add_option("--size", gOpt.size, "image size (px)")->check(CLI::Range(32, 1024));
  app.add_option("--batch", gOpt.batch, "images per step")->check(CLI::Range(1, 1024));
  app.add_option("--rounds", gOpt.rounds, "timed runs per implementation (median)")->check(CLI::Range(1, 1000));
  app.add_option("--threads", gOpt.threads, "OpenMP threads")->check(CLI::Range(1, 1024));
  app.add_option("--cache", gOpt.cache, "cold: caches flushed before each timed run (as inside a step); hot")
      ->check(CLI::IsMember({"cold", "hot"}));
  app.add_flag("--all", gOpt.all, "time reference and gemm kernels too (slow)");
  app.add_flag("--json", gOpt.json, "JSON instead of the table");
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError &e) {
    if (e.get_exit_code() == 0) {
      return app.exit(e);
    }
    std::fprintf(stderr, "bench_onednn_kernels: %s (see --help)\n", e.what());
    return 2;
  }
  gDt = gOpt.dtype == "bf16" ? dt::bf16 : dt::f32;
  if (gDt == dt::bf16 && !avx512()) {
    std::fprintf(stderr, "bench_onednn_kernels: oneDNN %d.%d has no bf16 convolution or batch norm below AVX-512 "
                         "(this CPU: %s): nothing to time\n",
                 dnnl::version()->major, dnnl::version()->minor, isaName().c_str());
    return 77;
  }
  omp_set_num_threads(gOpt.threads);
  // Off: walking a list after a primitive of its first kernel was created (the hints below)
  // returns that kernel a second time from the cache.
  dnnl::set_primitive_cache_capacity(0);
  try {
    for (const auto &s : resnet18Shapes(gOpt.size)) {
      convCensus(s);
    }
    // ResNet-18's 20 batch norms: the stem's (ReLU fused); per block bn1 (ReLU fused) and bn2
    // (no ReLU: the residual add comes first); stages 2-4 also the downsample's (no ReLU).
    const int s1 = (gOpt.size + 2 * 3 - 7) / 2 + 1;
    int hw = (s1 + 2 - 3) / 2 + 1;
    struct Bn {
      int c, hw;
      bool relu;
      int count;
    };
    std::vector<Bn> bns{{64, s1, true, 1}, {64, hw, true, 2}, {64, hw, false, 2}};
    for (int c = 128; c <= 512; c *= 2) {
      hw = (hw + 2 - 3) / 2 + 1;
      bns.push_back({c, hw, true, 2});
      bns.push_back({c, hw, false, 3});
    }
    for (const auto &b : bns) {
      bnCensus(b.c, b.hw, b.relu, b.count, activationTag());
      bnCensus(b.c, b.hw, b.relu, b.count, otherTag());
    }
  } catch (const dnnl::error &e) {
    std::fprintf(stderr, "bench_onednn_kernels: oneDNN: %s\n", e.what());
    return 1;
  }
  gOpt.json ? printJson() : printText();
  return gAgree ? 0 : 1;
}
