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
// 11 distinct shapes) and its batch norms (with the fused ReLU, training). Layouts as the blocked
// path runs them: bf16 activations nhwc (the layout oneDNN's AMX kernels take), fp32 ones
// nChw16c on AVX-512 / nChw8c otherwise; weights in the layout each implementation asks for
// (format_tag::any); weight gradients accumulated in f32; backward-weights picks its own activation
// layouts (`any`), as the engine lets it. Batch norm is also timed in the other layout (nChw16c for
// bf16, nhwc for fp32), with the pair of reorders into and out of it that the step would add.
//
// Each implementation runs once untimed, then --rounds times; the figure is the median. With
// --cache cold (the default) a buffer of twice the last-level cache is written before each timed call,
// so the primitive reads its inputs from memory as it does inside a training step (where a layer's
// saved activations were written long before); --cache hot times it back to back. Reference and
// gemm-based kernels are listed but not timed unless --all (they are 10-100x slower).
//
// Every timed implementation's output (forward: the destination; backward-data: the input
// gradient; backward-weights: the weight gradient; batch norm: its destination and input
// gradient) is compared, in plain fp32, with the first implementation's on the same random inputs:
// they must agree within 1e-4 relative (fp32) or 2e-2 (bf16), or the tool exits 1 ("agree": false).
// Exit 2: bad options. Speed is measured here, never asserted.

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
    return std::vector<char>(std::clamp<size_t>(want, size_t{64} << 20, size_t{1} << 30));
  }();
  return b;
}

void flushCaches() {
  auto &b = flushBuffer();
#pragma omp parallel for
  for (long i = 0; i < static_cast<long>(b.size()); i += 64) {
    b[static_cast<size_t>(i)] += 1;
  }
}

double medianMs(const std::function<void()> &f) {
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
  return t[t.size() / 2];
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

// The largest difference relative to the reference's largest magnitude.
double relDiff(const std::vector<float> &a, const std::vector<float> &ref) {
  double d = 0, m = 0;
  for (size_t i = 0; i < ref.size(); ++i) {
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
  double ms = -1; // -1: not timed
  double diff = 0;
};
struct Row {
  std::string primitive, shape, direction;
  int count = 1; // layers of the model with this shape
  std::vector<Impl> impls;
  bool engineLayout = true; // false: batch norm in the other layout, or the reorders it would need
  double defaultMs() const { return impls.empty() ? -1 : impls.front().ms; }
  double bestMs() const {
    double b = -1;
    for (const auto &i : impls) {
      if (i.ms >= 0 && (b < 0 || i.ms < b)) {
        b = i.ms;
      }
    }
    return b;
  }
};
std::vector<Row> gRows;
bool gAgree = true;

// Walks `pd`'s implementation list (the primitive descriptor is a named object that outlives the
// walk: next_impl() reads the op descriptor it was built from). `run` executes the current one
// and returns its output in plain fp32.
template <class PD>
void walk(Row row, PD &pd, const std::function<std::vector<float>(PD &, bool timed, double &ms)> &run) {
  std::vector<float> ref;
  do {
    Impl impl;
    impl.name = pd.impl_info_str();
    const bool timed = gOpt.all || !untimedByDefault(impl.name);
    auto out = run(pd, timed, impl.ms);
    if (ref.empty()) {
      ref = std::move(out); // the first timed implementation is the reference
    } else if (!out.empty()) {
      impl.diff = relDiff(out, ref);
      if (!(impl.diff <= tolerance())) {
        gAgree = false;
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
  const memory::dims strides{s.stride, s.stride}, pads{s.pad, s.pad};
  const tag srcTag = s.image ? (gDt == dt::bf16 ? tag::nhwc : tag::nchw) : activationTag();
  const memory::desc src(sd, gDt, srcTag), dst(dd, gDt, activationTag());
  const memory::desc anyW(wd, gDt, tag::any), anyDiffW(wd, dt::f32, tag::any);
  char shape[96];
  std::snprintf(shape, sizeof shape, "%d->%d %dx%d/%d at %dx%d", s.ic, s.oc, s.k, s.k, s.stride, s.hw, s.hw);
  const auto x = randomPlain(sd, 1), w = randomPlain(wd, 2, 0.f, 0.05f), dy = randomPlain(dd, 3);

  const dnnl::convolution_forward::desc fd(dnnl::prop_kind::forward_training, dnnl::algorithm::convolution_direct,
                                           src, anyW, dst, strides, pads, pads);
  const dnnl::convolution_forward::primitive_desc hint(fd, gEng);
  {
    dnnl::convolution_forward::primitive_desc pd(fd, gEng);
    walk<decltype(pd)>({"convolution", shape, "forward", s.count, {}}, pd, [&](auto &p, bool timed, double &ms) {
      auto ms_ = fromPlain(x, p.src_desc()), mw = fromPlain(w, p.weights_desc());
      memory md(p.dst_desc(), gEng);
      dnnl::convolution_forward prim(p);
      auto go = [&] { prim.execute(gStream, {{DNNL_ARG_SRC, ms_}, {DNNL_ARG_WEIGHTS, mw}, {DNNL_ARG_DST, md}}); };
      if (!timed) {
        return std::vector<float>{};
      }
      ms = medianMs(go);
      return toPlain(md);
    });
  }
  if (!s.image) {
    const dnnl::convolution_backward_data::desc bd(dnnl::algorithm::convolution_direct, src, anyW, dst, strides,
                                                   pads, pads);
    dnnl::convolution_backward_data::primitive_desc pd(bd, gEng, hint);
    walk<decltype(pd)>({"convolution", shape, "backward-data", s.count, {}}, pd, [&](auto &p, bool timed, double &ms) {
      auto mdy = fromPlain(dy, p.diff_dst_desc()), mw = fromPlain(w, p.weights_desc());
      memory mdx(p.diff_src_desc(), gEng);
      dnnl::convolution_backward_data prim(p);
      auto go = [&] {
        prim.execute(gStream, {{DNNL_ARG_DIFF_DST, mdy}, {DNNL_ARG_WEIGHTS, mw}, {DNNL_ARG_DIFF_SRC, mdx}});
      };
      if (!timed) {
        return std::vector<float>{};
      }
      ms = medianMs(go);
      return toPlain(mdx);
    });
  }
  {
    const dnnl::convolution_backward_weights::desc wdsc(
        dnnl::algorithm::convolution_direct, memory::desc(sd, gDt, tag::any), anyDiffW,
        memory::desc(dd, gDt, tag::any), strides, pads, pads);
    dnnl::convolution_backward_weights::primitive_desc pd(wdsc, gEng, hint);
    walk<decltype(pd)>({"convolution", shape, "backward-weights", s.count, {}}, pd,
                       [&](auto &p, bool timed, double &ms) {
                         auto mx = fromPlain(x, p.src_desc()), mdy = fromPlain(dy, p.diff_dst_desc());
                         memory mdw(p.diff_weights_desc(), gEng);
                         dnnl::convolution_backward_weights prim(p);
                         auto go = [&] {
                           prim.execute(gStream,
                                        {{DNNL_ARG_SRC, mx}, {DNNL_ARG_DIFF_DST, mdy}, {DNNL_ARG_DIFF_WEIGHTS, mdw}});
                         };
                         if (!timed) {
                           return std::vector<float>{};
                         }
                         ms = medianMs(go);
                         return toPlain(mdw);
                       });
  }
}

// Batch norm with its fused ReLU (training), forward and backward, in layout `t`.
void bnCensus(int c, int hw, int count, tag t) {
  const memory::dims sd{gOpt.batch, c, hw, hw};
  const memory::desc data(sd, gDt, t), ch({c}, dt::f32, tag::a);
  const auto flags = dnnl::normalization_flags::use_scale | dnnl::normalization_flags::use_shift |
                     dnnl::normalization_flags::fuse_norm_relu;
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
  {
    dnnl::batch_normalization_forward::primitive_desc pd(fd, gEng);
    walk<decltype(pd)>({"batch norm + ReLU", shape, "forward", count, {}, t == activationTag()}, pd, [&](auto &p, bool timed, double &t_) {
      memory m(p.mean_desc(), gEng), v(p.variance_desc(), gEng), w(p.workspace_desc(), gEng), out(data, gEng);
      dnnl::batch_normalization_forward prim(p);
      auto go = [&] {
        prim.execute(gStream, {{DNNL_ARG_SRC, mx}, {DNNL_ARG_DST, out}, {DNNL_ARG_MEAN, m}, {DNNL_ARG_VARIANCE, v},
                               {DNNL_ARG_SCALE, ms}, {DNNL_ARG_SHIFT, mb}, {DNNL_ARG_WORKSPACE, w}});
      };
      if (!timed) {
        return std::vector<float>{};
      }
      t_ = medianMs(go);
      return toPlain(out);
    });
  }
  {
    const dnnl::batch_normalization_backward::desc bd(dnnl::prop_kind::backward, data, data, 1e-5f, flags);
    dnnl::batch_normalization_backward::primitive_desc pd(bd, gEng, hint);
    auto mdy = fromPlain(dy, data);
    walk<decltype(pd)>({"batch norm + ReLU", shape, "backward", count, {}, t == activationTag()}, pd, [&](auto &p, bool timed, double &t_) {
      memory dx(data, gEng), dg(ch, gEng), db(ch, gEng);
      dnnl::batch_normalization_backward prim(p);
      auto go = [&] {
        prim.execute(gStream, {{DNNL_ARG_SRC, mx}, {DNNL_ARG_DIFF_DST, mdy}, {DNNL_ARG_DIFF_SRC, dx},
                               {DNNL_ARG_MEAN, mean}, {DNNL_ARG_VARIANCE, var}, {DNNL_ARG_SCALE, ms},
                               {DNNL_ARG_SHIFT, mb}, {DNNL_ARG_DIFF_SCALE, dg}, {DNNL_ARG_DIFF_SHIFT, db},
                               {DNNL_ARG_WORKSPACE, ws}});
      };
      if (!timed) {
        return std::vector<float>{};
      }
      t_ = medianMs(go);
      return toPlain(dx);
    });
  }
  if (t != activationTag()) {
    // What running it in this layout would add: the activation into it and the result back, once
    // forward and once backward (the output gradient in, the input gradient out).
    memory a(memory::desc(sd, gDt, activationTag()), gEng), b(data, gEng);
    dnnl::reorder in(a, b), out(b, a);
    const double pair = medianMs([&] { in.execute(gStream, a, b); }) + medianMs([&] { out.execute(gStream, b, a); });
    gRows.push_back({"reorder pair", shape, tagName(activationTag()) + " <-> " + tagName(t), count,
                     {{"jit reorders (forward and backward: twice this)", pair, 0}}, false});
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
    const double best = r.bestMs();
    for (size_t i = 0; i < r.impls.size(); ++i) {
      const auto &im = r.impls[i];
      std::string note = i > 0 ? "" : "first";
      if (im.ms >= 0 && im.ms == best && r.impls.size() > 1) {
        note += note.empty() ? "fastest" : ", fastest";
      }
      if (im.ms < 0) {
        std::printf("  %-17s %-40s   not timed (--all)\n", i == 0 ? r.direction.c_str() : "", im.name.c_str());
      } else {
        std::printf("  %-17s %-40s %8.3f ms  %s%s\n", i == 0 ? r.direction.c_str() : "", im.name.c_str(), im.ms,
                    note.c_str(), i > 0 ? (" (diff " + std::to_string(im.diff) + ")").c_str() : "");
      }
    }
  }
  // Per direction: the model's step with the first implementation everywhere, and with the fastest
  // per shape (each shape weighted by its layers).
  // A shape whose first implementation is not timed (reference or gemm: --all) is left out and
  // counted, so a sum never mixes measured and missing shapes silently.
  struct Sum {
    double first = 0, best = 0;
    int untimed = 0;
  };
  std::map<std::string, Sum> sums;
  for (const auto &r : gRows) {
    if (!r.engineLayout) {
      continue;
    }
    auto &s = sums[r.primitive + " " + r.direction];
    if (r.defaultMs() < 0) {
      ++s.untimed;
      continue;
    }
    s.first += r.count * r.defaultMs();
    s.best += r.count * r.bestMs();
  }
  std::printf("summary (ms a step, each shape times its layers; batch norm in the engine's layout):\n");
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
  std::printf("check: every timed implementation agrees with the first within %g: %s\n", tolerance(),
              gAgree ? "yes (ok)" : "NO");
}

std::string jsonEscape(const std::string &s) {
  std::string o;
  for (char c : s) {
    if (c == '"' || c == '\\') {
      o += '\\';
    }
    o += c;
  }
  return o;
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
                "\"engine_layout\": %s, \"impls\": [",
                i ? "," : "", r.primitive.c_str(), r.shape.c_str(), jsonEscape(r.direction).c_str(), r.count,
                r.engineLayout ? "true" : "false");
    for (size_t j = 0; j < r.impls.size(); ++j) {
      const auto &im = r.impls[j];
      std::printf("%s{\"name\": \"%s\", \"ms\": %s, \"rel_diff\": %.3g}", j ? ", " : "", jsonEscape(im.name).c_str(),
                  im.ms < 0 ? "null" : std::to_string(im.ms).c_str(), im.diff);
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
  omp_set_num_threads(gOpt.threads);
  try {
    for (const auto &s : resnet18Shapes(gOpt.size)) {
      convCensus(s);
    }
    // ResNet-18's batch norms: the stem's, then per stage (ResNet-18: 4, then 5, 5, 5 with the
    // downsample's).
    const int s1 = (gOpt.size + 2 * 3 - 7) / 2 + 1;
    int hw = (s1 + 2 - 3) / 2 + 1;
    std::vector<std::tuple<int, int, int>> bns{{64, s1, 1}, {64, hw, 4}};
    for (int c = 128; c <= 512; c *= 2) {
      hw = (hw + 2 - 3) / 2 + 1;
      bns.emplace_back(c, hw, 5);
    }
    for (const auto &[c, h, n] : bns) {
      bnCensus(c, h, n, activationTag());
      bnCensus(c, h, n, otherTag());
    }
  } catch (const dnnl::error &e) {
    std::fprintf(stderr, "bench_onednn_kernels: oneDNN: %s\n", e.what());
    return 1;
  }
  gOpt.json ? printJson() : printText();
  return gAgree ? 0 : 1;
}
