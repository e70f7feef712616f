// bench_onednn_blocked: the ceiling of issue 16's blocked-layout path, measured before it is
// built. Drives oneDNN directly (the libdnnl.so.2 LibTorch links) on ResNet-18's 20
// convolutions, forward + backward-data + backward-weights, in three layouts:
//   nchw     plain NCHW tensors, oneDNN picks its format (format_tag::any) and every
//            convolution reorders activations, weights and gradients in and out of it:
//            what PyTorch's eager NCHW path does (ideep reorders per call);
//   nhwc     channels_last end to end: activations nhwc, plain OHWI weights reordered
//            into the kernel's format per call (what our engine and PyTorch's
//            channels_last run);
//   blocked  the format oneDNN picks (nChw8c on AVX2, nChw16c on AVX-512) end to end:
//            weights prepacked and updated in that format, each layer's output fed to
//            the next without a reorder; a reorder is executed (and counted) only where a
//            primitive asks for a format its producer did not give.
// No LibTorch: the question is what the kernels and reorders cost, and the same library
// underneath LibTorch answers it without the framework's overhead in the figures.
// Primitives and reorders are created once per shape; only their execution is timed, per
// primitive. Rounds interleave the variants (order alternating ABC / CBA) so all see the
// same machine load; medians, distribution-free 95 % intervals and paired ratios come out.
// Before timing, one step of each variant is compared element-wise (every output reordered
// to plain layout): the three must agree, or the program exits 3.
// On a shared machine run it with OMP_WAIT_POLICY=PASSIVE and read the CPU-time table too
// (BENCHMARKS.md, "Issue 16"). Speed is measured here, never asserted.

#include <CLI/CLI.hpp>
#include <oneapi/dnnl/dnnl.hpp>
#include <omp.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <fstream>
#include <map>
#include <numeric>
#include <random>
#include <stdexcept>
#include <string>
#include <vector>

namespace {

using dnnl::memory;
using tag = dnnl::memory::format_tag;
using dt = dnnl::memory::data_type;
// The activations' and weights' data type (--dtype): f32, or bf16 as mixed precision runs it on
// AMX/AVX512-BF16 (bf16 activations, weights and gradients; weight gradients accumulated in f32).
dt gDt = dt::f32;

struct Conv {
  std::string name;
  int ic, oc, k, stride, pad, inHw, outHw;
  int feed;           // index of the conv whose output (through BN/ReLU/pool/add) is the input; -1: the image
  bool needDiffSrc;   // the stem's input needs no gradient
};

// torchvision's ResNet-18 (3-channel stem 7x7/2, max-pool 3x3/2, four stages of two basic blocks).
std::vector<Conv> resnet18Convs(int size) {
  auto out = [](int in, int k, int s, int p) { return (in + 2 * p - k) / s + 1; };
  std::vector<Conv> convs;
  int hw = out(size, 7, 2, 3);
  convs.push_back({"conv1", 3, 64, 7, 2, 3, size, hw, -1, false});
  hw = out(hw, 3, 2, 1);  // max-pool
  int blockIn = 0, ch = 64;
  const int widths[] = {64, 128, 256, 512};
  for (int stage = 0; stage < 4; ++stage) {
    for (int block = 0; block < 2; ++block) {
      int w = widths[stage], s = (stage > 0 && block == 0) ? 2 : 1;
      int o = out(hw, 3, s, 1);
      std::string p = "layer" + std::to_string(stage + 1) + "." + std::to_string(block) + ".";
      int a = static_cast<int>(convs.size());
      convs.push_back({p + "conv1", ch, w, 3, s, 1, hw, o, blockIn, true});
      convs.push_back({p + "conv2", w, w, 3, 1, 1, o, o, a, true});
      if (s != 1 || ch != w) convs.push_back({p + "downsample", ch, w, 1, s, 0, hw, o, blockIn, true});
      blockIn = a + 1;  // the add takes its format from the main path
      ch = w;
      hw = o;
    }
  }
  return convs;
}

// A memory descriptor in oneDNN's own notation (abcd = nchw, acdb = nhwc, aBcd8b = nChw8c).
std::string formatName(const memory::desc& md) {
  const auto& d = md.data;
  if (d.format_kind == dnnl_format_kind_any) return "any";
  if (d.format_kind != dnnl_blocked) return "opaque";
  const auto& b = d.format_desc.blocking;
  std::vector<int> order(d.ndims);
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(), [&](int x, int y) { return b.strides[x] > b.strides[y]; });
  std::string s;
  for (int i : order) {
    bool blocked = false;
    for (int k = 0; k < b.inner_nblks; ++k) blocked |= b.inner_idxs[k] == i;
    s += static_cast<char>((blocked ? 'A' : 'a') + i);
  }
  for (int k = 0; k < b.inner_nblks; ++k)
    s += std::to_string(b.inner_blks[k]) + static_cast<char>('a' + b.inner_idxs[k]);
  return s;
}

enum Kind { kFwd, kBwdData, kBwdWeights, kReorderAct, kReorderWei, kKinds };
const char* kKindNames[] = {"fwd", "bwd-data", "bwd-weights", "reorder act", "reorder wei"};

struct Op {
  dnnl::primitive prim;
  std::unordered_map<int, memory> args;
  Kind kind;
  int layer;
};

// What the framework holds per convolution (its "user" tensors) and the ops of one step.
struct LayerMem {
  memory src, wei, dst, diffDst, diffSrc, diffWei;
  std::string impl[3], fmt[3];
};

struct Variant {
  std::string name, what;
  std::vector<LayerMem> layers;
  std::vector<Op> ops;  // forward for every layer, then backward in reverse order
};

struct Layout {
  std::string name, what;
  tag userAct, userWei;  // tag::any: take the primitive's own format (blocked variant)
  tag pdAct;             // what the primitive is created with for activations
};

dnnl::engine& cpu() {
  static dnnl::engine e(dnnl::engine::kind::cpu, 0);
  return e;
}

// The memory the primitive reads: the user's if the format matches, else a copy filled by a reorder op.
memory input(Variant& v, const memory& user, const memory::desc& want, Kind kind, int layer) {
  if (user.get_desc() == want) return user;
  memory m(want, cpu());
  v.ops.push_back({dnnl::reorder(user, m), {{DNNL_ARG_FROM, user}, {DNNL_ARG_TO, m}}, kind, layer});
  return m;
}

// The memory the primitive writes; `after` collects the reorder back to the user's format.
memory output(const memory& user, const memory::desc& have, Kind kind, int layer, std::vector<Op>& after) {
  if (user.get_desc() == have) return user;
  memory m(have, cpu());
  after.push_back({dnnl::reorder(m, user), {{DNNL_ARG_FROM, m}, {DNNL_ARG_TO, user}}, kind, layer});
  return m;
}

memory::dims actDims(int n, int c, int hw) { return {n, c, hw, hw}; }

// `like`'s activation format at other dimensions: the max-pool between the stem and layer1
// keeps its input's layout (oneDNN pooling on blocked memory) but halves the image.
memory::desc sameFormat(const memory::desc& like, const memory::dims& dims) {
  if (like.dims() == dims) return like;
  const std::map<std::string, tag> tags = {
      {"abcd", tag::nchw}, {"acdb", tag::nhwc}, {"aBcd8b", tag::nChw8c}, {"aBcd16b", tag::nChw16c}};
  auto it = tags.find(formatName(like));
  if (it == tags.end()) throw std::runtime_error("unexpected activation format " + formatName(like));
  return {dims, like.data_type(), it->second};
}

Variant build(const Layout& L, const std::vector<Conv>& convs, int batch) {
  Variant v{L.name, L.what, std::vector<LayerMem>(convs.size()), {}};
  std::vector<dnnl::convolution_forward::primitive_desc> fwdPds;
  const auto alg = dnnl::algorithm::convolution_direct;
  std::vector<std::vector<Op>> bwdOps(convs.size());
  for (size_t i = 0; i < convs.size(); ++i) {
    const Conv& c = convs[i];
    memory::dims src = actDims(batch, c.ic, c.inHw), dst = actDims(batch, c.oc, c.outHw);
    memory::dims wei = {c.oc, c.ic, c.k, c.k}, strides = {c.stride, c.stride}, pad = {c.pad, c.pad};
    memory::desc srcAny(src, gDt, L.pdAct), dstAny(dst, gDt, L.pdAct), weiAny(wei, gDt, tag::any);
    memory::desc diffWeiAny(wei, dt::f32, tag::any);
    dnnl::convolution_forward::primitive_desc fpd(
        {dnnl::prop_kind::forward_training, alg, srcAny, weiAny, dstAny, strides, pad, pad}, cpu());
    fwdPds.push_back(fpd);
    LayerMem& m = v.layers[i];
    memory::desc userSrc, userDst, userWei;
    if (L.userAct == tag::any) {  // blocked: the producer's format (the image is plain nchw)
      userSrc = c.feed < 0 ? memory::desc(src, gDt, tag::nchw) : sameFormat(fwdPds[c.feed].dst_desc(), src);
      userDst = fpd.dst_desc();
      userWei = fpd.weights_desc();
    } else {
      userSrc = {src, gDt, L.userAct};
      userDst = {dst, gDt, L.userAct};
      userWei = {wei, gDt, L.userWei};
    }
    m.src = memory(userSrc, cpu());
    m.dst = memory(userDst, cpu());
    m.diffDst = memory(userDst, cpu());
    m.diffSrc = memory(userSrc, cpu());
    m.wei = memory(userWei, cpu());
    // Weight gradients are f32 (the master weights' precision) in either --dtype; the blocked
    // variant's are in backward-weights' own format (set below: the optimizer updates them there).
    if (L.userAct != tag::any) m.diffWei = memory(memory::desc(wei, dt::f32, L.userWei), cpu());

    // Forward.
    memory s = input(v, m.src, fpd.src_desc(), kReorderAct, i);
    memory w = input(v, m.wei, fpd.weights_desc(), kReorderWei, i);
    std::vector<Op> after;
    memory d = output(m.dst, fpd.dst_desc(), kReorderAct, i, after);
    v.ops.push_back({dnnl::convolution_forward(fpd), {{DNNL_ARG_SRC, s}, {DNNL_ARG_WEIGHTS, w}, {DNNL_ARG_DST, d}},
                     kFwd, static_cast<int>(i)});
    v.ops.insert(v.ops.end(), after.begin(), after.end());
    m.impl[0] = fpd.impl_info_str();
    m.fmt[0] = "src " + formatName(fpd.src_desc()) + " wei " + formatName(fpd.weights_desc()) + " dst " +
               formatName(fpd.dst_desc());

    // Backward, built into a temporary op list of its own (executed in reverse layer order).
    Variant b;
    if (c.needDiffSrc) {
      dnnl::convolution_backward_data::primitive_desc dpd(
          {alg, srcAny, weiAny, dstAny, strides, pad, pad}, cpu(), fpd);
      memory dd = input(b, m.diffDst, dpd.diff_dst_desc(), kReorderAct, i);
      memory ww = input(b, m.wei, dpd.weights_desc(), kReorderWei, i);
      std::vector<Op> back;
      memory ds = output(m.diffSrc, dpd.diff_src_desc(), kReorderAct, i, back);
      b.ops.push_back({dnnl::convolution_backward_data(dpd),
                       {{DNNL_ARG_DIFF_DST, dd}, {DNNL_ARG_WEIGHTS, ww}, {DNNL_ARG_DIFF_SRC, ds}}, kBwdData,
                       static_cast<int>(i)});
      b.ops.insert(b.ops.end(), back.begin(), back.end());
      m.impl[1] = dpd.impl_info_str();
      m.fmt[1] = "diff_dst " + formatName(dpd.diff_dst_desc()) + " wei " + formatName(dpd.weights_desc());
    }
    dnnl::convolution_backward_weights::primitive_desc wpd(
        {alg, srcAny, diffWeiAny, dstAny, strides, pad, pad}, cpu(), fpd);
    // The nchw variant reorders again here, as PyTorch's separate backward-input/-weight calls do.
    if (L.userAct == tag::any) m.diffWei = memory(gDt == dt::f32 ? userWei : wpd.diff_weights_desc(), cpu());
    memory ss = input(b, m.src, wpd.src_desc(), kReorderAct, i);
    memory dd = input(b, m.diffDst, wpd.diff_dst_desc(), kReorderAct, i);
    std::vector<Op> back;
    memory dw = output(m.diffWei, wpd.diff_weights_desc(), kReorderWei, i, back);
    b.ops.push_back({dnnl::convolution_backward_weights(wpd),
                     {{DNNL_ARG_SRC, ss}, {DNNL_ARG_DIFF_DST, dd}, {DNNL_ARG_DIFF_WEIGHTS, dw}}, kBwdWeights,
                     static_cast<int>(i)});
    b.ops.insert(b.ops.end(), back.begin(), back.end());
    m.impl[2] = wpd.impl_info_str();
    m.fmt[2] = "src " + formatName(wpd.src_desc()) + " diff_wei " + formatName(wpd.diff_weights_desc());
    bwdOps[i] = std::move(b.ops);
  }
  for (size_t i = convs.size(); i-- > 0;) v.ops.insert(v.ops.end(), bwdOps[i].begin(), bwdOps[i].end());
  return v;
}

// Plain random data (the same for every variant: seeded per layer and tensor) reordered into `dst`.
void fill(memory& dst, const memory::dims& dims, tag plainTag, unsigned seed, float scale, dnnl::stream& st) {
  memory plain({dims, dt::f32, plainTag}, cpu());
  auto* p = static_cast<float*>(plain.get_data_handle());
  size_t n = plain.get_desc().get_size() / sizeof(float);
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> u(-scale, scale);
  for (size_t i = 0; i < n; ++i) p[i] = u(rng);
  dnnl::reorder(plain, dst).execute(st, plain, dst);
  st.wait();
}

std::vector<float> toPlain(const memory& m, tag plainTag, dnnl::stream& st) {
  memory plain({m.get_desc().dims(), dt::f32, plainTag}, cpu());
  dnnl::reorder(m, plain).execute(st, const_cast<memory&>(m), plain);
  st.wait();
  auto* p = static_cast<const float*>(plain.get_data_handle());
  return std::vector<float>(p, p + plain.get_desc().get_size() / sizeof(float));
}

// One step of one variant, in two clocks: wall time, and the CPU time of the whole process
// (all threads). Under load a preempted OpenMP thread stalls its team at the next barrier, and
// that lands on the wall time of whichever primitive is running, worst on the small ones (a
// 150 KB weight reorder read 54 ms at load average 8). With OMP_WAIT_POLICY=PASSIVE the
// waiting threads sleep instead of spinning, so the CPU time counts the work alone.
enum Clock { kWall, kCpu, kClocks };
const char* kClockNames[] = {"wall time", "CPU time of all threads"};

struct Sample {
  double byKind[kClocks][kKinds] = {};
  std::vector<double> byLayer;  // wall
  double total(int c) const { return std::accumulate(byKind[c], byKind[c] + kKinds, 0.0); }
  double reorders(int c) const { return byKind[c][kReorderAct] + byKind[c][kReorderWei]; }
};

double cpuMs() {
  timespec t{};
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
  return t.tv_sec * 1e3 + t.tv_nsec / 1e6;
}

Sample runStep(Variant& v, dnnl::stream& st, size_t layers) {
  Sample s;
  s.byLayer.assign(layers, 0.0);
  using clk = std::chrono::steady_clock;
  for (Op& op : v.ops) {
    auto t0 = clk::now();
    double c0 = cpuMs();
    op.prim.execute(st, op.args);
    st.wait();
    double ms = std::chrono::duration<double, std::milli>(clk::now() - t0).count();
    s.byKind[kWall][op.kind] += ms;
    s.byKind[kCpu][op.kind] += cpuMs() - c0;
    s.byLayer[op.layer] += ms;
  }
  return s;
}

double median(std::vector<double> x) {
  std::sort(x.begin(), x.end());
  size_t n = x.size();
  return n % 2 ? x[n / 2] : 0.5 * (x[n / 2 - 1] + x[n / 2]);
}

// Distribution-free 95 % interval of the median: order statistics k and n+1-k, with k the
// largest for which P(Binomial(n, 1/2) < k) <= 2.5 %; min..max when n is too small for that.
std::pair<double, double> medianInterval(std::vector<double> x) {
  std::sort(x.begin(), x.end());
  int n = static_cast<int>(x.size());
  double cdf = 0, c = std::pow(0.5, n);  // P(B = 0)
  int k = 0;
  for (int j = 0; j < n; ++j) {
    if (cdf + c > 0.025) break;
    cdf += c;
    c *= static_cast<double>(n - j) / (j + 1);
    k = j + 1;
  }
  if (k == 0) return {x.front(), x.back()};
  return {x[k - 1], x[n - k]};
}

std::string cpuModel() {
  std::ifstream in("/proc/cpuinfo");
  int cores = 0;
  std::string model = "unknown CPU";
  for (std::string line; std::getline(in, line);) {
    if (line.rfind("model name", 0) == 0) model = line.substr(line.find(':') + 2);
    if (line.rfind("processor", 0) == 0) ++cores;
  }
  return model + " (" + std::to_string(cores) + " logical CPUs)";
}

double loadAverage() {
  std::ifstream in("/proc/loadavg");
  double l = -1;
  in >> l;
  return l;
}

const char* isaName(dnnl::cpu_isa isa) {
  switch (isa) {
    case dnnl::cpu_isa::sse41: return "sse41";
    case dnnl::cpu_isa::avx: return "avx";
    case dnnl::cpu_isa::avx2: return "avx2";
    case dnnl::cpu_isa::avx2_vnni: return "avx2_vnni";
    case dnnl::cpu_isa::avx512_core: return "avx512_core";
    case dnnl::cpu_isa::avx512_core_vnni: return "avx512_core_vnni";
    case dnnl::cpu_isa::avx512_core_bf16: return "avx512_core_bf16";
    case dnnl::cpu_isa::avx512_core_amx: return "avx512_core_amx";
    default: return "other";
  }
}

}  // namespace

int main(int argc, char** argv) {
  int batch = 32, size = 128, threads = 2, rounds = 15;
  double stepMs = 1650, convShare = 0.91;
  bool perLayer = false;
  std::string dtype = "f32";
  CLI::App app{"ResNet-18's convolutions (forward + backward) in oneDNN: plain NCHW with reorders, NHWC, and "
               "oneDNN's blocked layout end to end, timed in interleaved rounds (issue 16's ceiling)."};
  app.add_option("--batch", batch, "batch size (default 32, as bench/run's ResNet-18 128 px)")->check(CLI::Range(1, 4096));
  app.add_option("--size", size, "image size in pixels (>= 32, so that the last stage keeps a pixel)")
      ->check(CLI::Range(32, 4096));
  app.add_option("--threads", threads, "OpenMP threads for oneDNN (default 2)")->check(CLI::Range(1, 1024));
  app.add_option("--rounds", rounds, "timed rounds; each runs one step of every variant")->check(CLI::Range(1, 100000));
  app.add_option("--step-ms", stepMs, "a full training step on a quiet machine, for the share (BENCHMARKS.md: ~1,650 ms)")
      ->check(CLI::PositiveNumber);
  app.add_option("--conv-share", convShare, "the convolutions' share of a step (BENCHMARKS.md profile: 0.91)")
      ->check(CLI::Range(0.01, 1.0));
  app.add_flag("--per-layer", perLayer, "also print the median per convolution and variant");
  app.add_option("--dtype", dtype, "f32, or bf16 (bf16 data, f32 weight gradients: needs AVX512-BF16/AMX for fast "
                                   "kernels)")
      ->check(CLI::IsMember({"f32", "bf16"}));
  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    std::fprintf(stderr, "bench_onednn_blocked: %s (see --help)\n", e.what());
    return 2;
  }
  omp_set_num_threads(threads);
  gDt = dtype == "bf16" ? dt::bf16 : dt::f32;

  auto convs = resnet18Convs(size);
  double gflop = 0;
  for (const Conv& c : convs) {
    double macs = double(batch) * c.oc * c.outHw * c.outHw * c.ic * c.k * c.k;
    gflop += 2 * macs * (c.needDiffSrc ? 3 : 2) / 1e9;
  }
  const dnnl_version_t* ver = dnnl_version();
  std::printf("oneDNN blocked-layout prototype: ResNet-18's %zu convolutions, forward + backward-data + "
              "backward-weights, %s\n", convs.size(), dtype.c_str());
  const char* wait = std::getenv("OMP_WAIT_POLICY");
  std::printf("CPU: %s; oneDNN %d.%d.%d, ISA %s; %d OpenMP threads (OMP_WAIT_POLICY %s); batch %d, %d px; "
              "%.1f GFLOP per step\n", cpuModel().c_str(), ver->major, ver->minor, ver->patch,
              isaName(dnnl::get_effective_cpu_isa()), threads, wait ? wait : "unset", batch, size, gflop);

  std::vector<Layout> layouts = {
      {"nchw", "plain NCHW, reorders around every conv", tag::nchw, tag::oihw, tag::any},
      {"nhwc", "channels_last end to end, plain weights", tag::nhwc, tag::ohwi, tag::nhwc},
      {"blocked", "oneDNN's format end to end, prepacked weights", tag::any, tag::any, tag::any}};
  std::vector<Variant> vs;
  try {
    for (const Layout& L : layouts) vs.push_back(build(L, convs, batch));
  } catch (const std::exception& e) {
    std::fprintf(stderr, "bench_onednn_blocked: could not set up the primitives: %s\n", e.what());
    return 1;
  }
  dnnl::stream st(cpu());

  // Same inputs everywhere; one step each; outputs must agree once brought to plain layout.
  for (Variant& v : vs) {
    for (size_t i = 0; i < convs.size(); ++i) {
      const Conv& c = convs[i];
      LayerMem& m = v.layers[i];
      fill(m.src, actDims(batch, c.ic, c.inHw), tag::nchw, 1000 * i + 1, 1.0f, st);
      fill(m.wei, {c.oc, c.ic, c.k, c.k}, tag::oihw, 1000 * i + 2, 1.0f / std::sqrt(float(c.ic * c.k * c.k)), st);
      fill(m.diffDst, actDims(batch, c.oc, c.outHw), tag::nchw, 1000 * i + 3, 1.0f, st);
    }
    runStep(v, st, convs.size());  // also the warm-up
  }
  double worst = 0;
  for (size_t i = 0; i < convs.size(); ++i) {
    auto check = [&](auto get, tag t) {
      std::vector<float> ref = toPlain(get(vs[0].layers[i]), t, st);
      float scale = 0;
      for (float x : ref) scale = std::max(scale, std::fabs(x));
      for (size_t k = 1; k < vs.size(); ++k) {
        std::vector<float> o = toPlain(get(vs[k].layers[i]), t, st);
        for (size_t j = 0; j < o.size(); ++j) worst = std::max(worst, double(std::fabs(o[j] - ref[j]) / scale));
      }
    };
    check([](LayerMem& m) -> memory& { return m.dst; }, tag::nchw);
    if (convs[i].needDiffSrc) check([](LayerMem& m) -> memory& { return m.diffSrc; }, tag::nchw);
    check([](LayerMem& m) -> memory& { return m.diffWei; }, tag::oihw);
  }
  // bf16: the variants' kernels round and accumulate in different orders; 8 bits of mantissa.
  bool agree = worst < (gDt == dt::bf16 ? 2e-2 : 1e-4);
  std::printf("check: outputs, input gradients and weight gradients of the three variants agree to %.1e of "
              "each tensor's largest value (%s)\n", worst, agree ? "ok" : "MISMATCH");
  if (!agree) return 3;

  std::printf("\nimplementations and formats (oneDNN notation: abcd = nchw, acdb = nhwc, aBcd8b = nChw8c):\n");
  for (const Variant& v : vs) {
    int reorders = 0;
    for (const Op& op : v.ops) reorders += op.kind == kReorderAct || op.kind == kReorderWei;
    std::printf("  %-8s %s; %d reorders per step\n", v.name.c_str(), v.what.c_str(), reorders);
    for (int p = 0; p < 3; ++p) {
      std::map<std::string, int> seen;
      for (const LayerMem& m : v.layers)
        if (!m.impl[p].empty()) ++seen[m.impl[p] + " " + m.fmt[p]];
      for (const auto& [what, n] : seen) std::printf("    %-11s %2dx %s\n", kKindNames[p], n, what.c_str());
    }
  }

  std::vector<std::vector<Sample>> samples(vs.size());
  double loadStart = loadAverage(), loadMax = loadStart;
  std::printf("\n%d rounds (load average %.2f at the start) ", rounds, loadStart);
  std::fflush(stdout);
  for (int r = 0; r < rounds; ++r) {
    for (size_t k = 0; k < vs.size(); ++k) {
      size_t idx = r % 2 ? vs.size() - 1 - k : k;
      samples[idx].push_back(runStep(vs[idx], st, convs.size()));
    }
    loadMax = std::max(loadMax, loadAverage());
    std::printf(".");
    std::fflush(stdout);
  }
  std::printf(" load average %.2f at the end, %.2f the highest seen\n\n", loadAverage(), loadMax);

  auto series = [&](size_t k, auto f) {
    std::vector<double> x;
    for (const Sample& s : samples[k]) x.push_back(f(s));
    return x;
  };
  const size_t blocked = vs.size() - 1;
  for (int c = 0; c < kClocks; ++c) {
    std::printf("%s, ms per step (medians over the rounds; reorder = the reorders' share of the step):\n",
                kClockNames[c]);
    std::printf("%-8s %9s %20s %8s %9s %8s %8s %8s %8s %8s\n", "variant", "ms/step", "95% interval", "fwd",
                "bwd-data", "bwd-wei", "reo-act", "reo-wei", "reorder", c == kCpu ? "GF/cpu-s" : "GFLOP/s");
    for (size_t k = 0; k < vs.size(); ++k) {
      auto t = series(k, [c](const Sample& s) { return s.total(c); });
      auto [lo, hi] = medianInterval(t);
      double m = median(t);
      auto kind = [&](Kind kd) { return median(series(k, [c, kd](const Sample& s) { return s.byKind[c][kd]; })); };
      double ro = median(series(k, [c](const Sample& s) { return s.reorders(c); }));
      std::printf("%-8s %9.1f %9.1f .. %7.1f %8.1f %9.1f %8.1f %8.1f %8.1f %7.1f%% %8.1f\n", vs[k].name.c_str(), m,
                  lo, hi, kind(kFwd), kind(kBwdData), kind(kBwdWeights), kind(kReorderAct), kind(kReorderWei),
                  100 * ro / m, gflop / (m / 1000));
    }
    // Paired per round: what the blocked layout saves against each other variant.
    std::printf("ceiling (paired per round; a step = the convolutions / %.2f, the profile's share; quiet step "
                "%.0f ms):\n", convShare, stepMs);
    for (size_t k = 0; k < blocked; ++k) {
      std::vector<double> ratio, saved;
      for (int r = 0; r < rounds; ++r) {
        double a = samples[k][r].total(c), b = samples[blocked][r].total(c);
        ratio.push_back(a / b);
        saved.push_back((a - b) / a);
      }
      auto [rlo, rhi] = medianInterval(ratio);
      auto [slo, shi] = medianInterval(saved);
      double sv = median(saved);
      std::printf("  blocked vs %-5s %.3fx faster (95%% %.3f .. %.3f); saves %.1f %% of its convolution time "
                  "(%.1f .. %.1f) = %.1f %% of a step = %.0f ms of %.0f\n",
                  vs[k].name.c_str(), median(ratio), rlo, rhi, 100 * sv, 100 * slo, 100 * shi,
                  100 * sv * convShare, sv * convShare * stepMs, stepMs);
    }
    std::printf("\n");
  }

  if (perLayer) {
    std::printf("per convolution, median wall ms per step (fwd + bwd + its reorders):\n%-22s", "conv");
    for (const Variant& v : vs) std::printf(" %9s", v.name.c_str());
    std::printf("\n");
    for (size_t i = 0; i < convs.size(); ++i) {
      std::printf("%-22s", convs[i].name.c_str());
      for (size_t k = 0; k < vs.size(); ++k)
        std::printf(" %9.1f", median(series(k, [i](const Sample& s) { return s.byLayer[i]; })));
      std::printf("\n");
    }
  }
  return 0;
}
