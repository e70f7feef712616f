#include "engine/models/Blocked.h"

#include "engine/Compat.h"
#include "engine/models/ResNet.h"
#include "engine/util/Errors.h"

#include <torch/torch.h>

#ifdef AMPBENCH_HAVE_DNNL
#include <oneapi/dnnl/dnnl.hpp>
#endif

#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <initializer_list>
#include <map>
#include <memory>
#include <mutex>

namespace ampbench::blocked {

namespace {
// Channels per block of an activation of `channels` channels: bf16 travels channels-last (one
// block of all channels), the layout oneDNN's AMX kernels use; fp32 in blockSize() blocks.
int64_t blockOf(c10::ScalarType type, int64_t channels) {
  return type == torch::kBFloat16 ? channels : blockSize();
}
} // namespace

torch::Tensor toBlocked(const torch::Tensor &x) {
  TORCH_CHECK(x.dim() == 4, "blocked layout: expected NCHW");
  const int64_t b = blockOf(x.scalar_type(), x.size(1));
  TORCH_CHECK(x.size(1) % b == 0, "blocked layout: expected NCHW with C a multiple of ", b);
  return x.reshape({x.size(0), x.size(1) / b, b, x.size(2), x.size(3)})
      .permute({0, 1, 3, 4, 2})
      .contiguous();
}

torch::Tensor toPlain(const torch::Tensor &x) {
  TORCH_CHECK(isBlocked(x), "blocked layout: expected a 5-D blocked tensor");
  return x.permute({0, 1, 4, 2, 3})
      .reshape({x.size(0), x.size(1) * x.size(4), x.size(2), x.size(3)});
}

std::optional<std::string> unsupportedLayer(const torch::nn::Module &model) {
  const int64_t b = blockSize();
  bool firstConv = true;
  for (const auto &item : model.named_modules("", /*include_self=*/false)) {
    const auto *m = item.value().get();
    const std::string &name = item.key();
    if (const auto *conv = dynamic_cast<const torch::nn::Conv2dImpl *>(m)) {
      const auto &o = conv->options;
      const auto k = *o.kernel_size();
      const auto s = *o.stride();
      const auto d = *o.dilation();
      const bool plainInput =
          firstConv; // the stem reads the plain image, any channel count
      firstConv = false;
      if (o.groups() != 1 || o.bias() || k[0] != k[1] || s[0] != s[1] ||
          d[0] != 1 || d[1] != 1 || o.out_channels() % b != 0 ||
          (!plainInput && o.in_channels() % b != 0)) {
        return name +
               " (Conv2d with groups, bias, dilation, non-square kernel or "
               "channels not a multiple of " +
               std::to_string(b) + ")";
      }
    } else if (const auto *bn =
                   dynamic_cast<const torch::nn::BatchNorm2dImpl *>(m)) {
      const auto &o = bn->options;
      if (!o.affine() || !o.track_running_stats() ||
          o.num_features() % b != 0) {
        return name +
               " (BatchNorm2d without affine parameters or running statistics)";
      }
    } else if (!dynamic_cast<const torch::nn::LinearImpl *>(m) &&
               !dynamic_cast<const torch::nn::SequentialImpl *>(m) &&
               !dynamic_cast<const BasicBlockImpl *>(m)) {
      return name + " (" + m->name() + ")";
    }
  }
  return std::nullopt;
}

const char *toString(WeightGradient mode) {
  return mode == WeightGradient::Direct   ? "direct"
         : mode == WeightGradient::Matmul ? "matmul"
         : mode == WeightGradient::Tuned  ? "tuned"
                                          : "auto";
}

const char *toString(ConvAlgorithm mode) {
  return mode == ConvAlgorithm::Direct ? "direct" : mode == ConvAlgorithm::Winograd ? "winograd" : "auto";
}

const char *toString(SmallMaps mode) {
  return mode == SmallMaps::Direct ? "direct" : mode == SmallMaps::Mosaic ? "mosaic" : "auto";
}

const char *toString(Stem mode) {
  return mode == Stem::Direct ? "direct" : mode == Stem::SpaceToDepth ? "space-to-depth" : "auto";
}

#ifndef AMPBENCH_HAVE_DNNL

bool available() { return false; }
int64_t blockSize() { return 8; }
int64_t primitivesCreated() { return 0; }
void setWeightGradient(WeightGradient) {}
WeightGradient weightGradient() { return WeightGradient::Direct; }
void setConvAlgorithm(ConvAlgorithm) {}
ConvAlgorithm convAlgorithm() { return ConvAlgorithm::Direct; }
void setSmallMaps(SmallMaps) {}
SmallMaps smallMaps() { return SmallMaps::Direct; }
void setStem(Stem) {}
Stem stem() { return Stem::Direct; }
void releaseThreadScratch() {}
int64_t threadScratchBytes() { return 0; }
void clearPrimitiveCaches() {}
std::vector<std::string> implementations() { return {}; }
std::vector<std::pair<int64_t, int64_t>> backwardWeightsSourceChannels() { return {}; }
namespace {
[[noreturn]] void unavailable() {
  throw InputError("--memory-format blocked needs oneDNN's headers at build "
                   "time (Debian libdnnl-dev)");
}
} // namespace
torch::Tensor conv2d(const torch::Tensor &, const torch::Tensor &, int64_t,
                     int64_t) {
  unavailable();
}
torch::Tensor batchNormRelu(const torch::Tensor &, torch::nn::BatchNorm2dImpl &) {
  unavailable();
}
torch::Tensor batchNorm(const torch::Tensor &, torch::nn::BatchNorm2dImpl &) {
  unavailable();
}
torch::Tensor maxPool2d(const torch::Tensor &, int64_t, int64_t, int64_t) {
  unavailable();
}
torch::Tensor avgPool2d(const torch::Tensor &, int64_t, int64_t, int64_t) {
  unavailable();
}
std::vector<torch::Tensor> weightsRoundTrip(const torch::Tensor &, const torch::Tensor &, int64_t, int64_t) {
  unavailable();
}

#else

bool available() { return true; }

namespace {
// oneDNN's ISA values are bit sets, not an order (avx2_vnni, 0x407, is above avx512_core_amx,
// 0x3e7): an ISA includes another when it has all of its bits.
bool effectiveIsaIncludes(dnnl::cpu_isa isa) {
  const auto have = static_cast<unsigned>(dnnl::get_effective_cpu_isa()), want = static_cast<unsigned>(isa);
  return (have & want) == want;
}
} // namespace

int64_t blockSize() {
  static const int64_t b = effectiveIsaIncludes(dnnl::cpu_isa::avx512_core) ? 16 : 8;
  return b;
}

namespace {

using dnnl::memory;
using Tag = memory::format_tag;
using Dt = memory::data_type;
using torch::autograd::AutogradContext;
using torch::autograd::variable_list;

std::atomic<int64_t> gCreated{0};
std::mutex gCacheMutex;

dnnl::engine &cpuEngine() {
  static dnnl::engine e(dnnl::engine::kind::cpu, 0);
  return e;
}

// oneDNN's CPU stream runs on the calling thread's OpenMP team, the same
// threads LibTorch's own oneDNN calls use.
dnnl::stream &cpuStream() {
  thread_local dnnl::stream s(cpuEngine());
  return s;
}

// Every primitive takes its scratch memory from the caller (scratchpad_mode::user). With
// oneDNN's own (the default), a primitive's scratch is a thread_local buffer grown on the
// thread that created it: run from another thread (the GUI's training thread after a run on
// the main thread) its kernels wrote past the smaller buffer there (a segfault in the UI tests).
const dnnl::primitive_attr &userScratch() {
  static const dnnl::primitive_attr attr = [] {
    dnnl::primitive_attr a;
    a.set_scratchpad_mode(dnnl::scratchpad_mode::user);
    return a;
  }();
  return attr;
}

template <class P> P created(P p) {
  ++gCreated;
  return p;
}

Tag blockedTag() { return blockSize() == 16 ? Tag::nChw16c : Tag::nChw8c; }

// Logical NCHW dims of a blocked or plain activation.
memory::dims logicalDims(const torch::Tensor &x) {
  if (isBlocked(x)) {
    TORCH_CHECK(x.scalar_type() != torch::kBFloat16 || x.size(1) == 1,
                "blocked layout: a bf16 activation is one block of all channels [N, 1, H, W, C]");
    return {x.size(0), x.size(1) * x.size(4), x.size(2), x.size(3)};
  }
  return {x.size(0), x.size(1), x.size(2), x.size(3)};
}

Dt dataType(const torch::Tensor &x) {
  return x.scalar_type() == torch::kBFloat16 ? Dt::bf16 : Dt::f32;
}

// fp32 activations travel in nChw8c/16c; bf16 ones in nhwc, the layout oneDNN's AMX
// convolutions read and write (bench_onednn_blocked --dtype bf16: every bf16 kernel picks
// acdb; pinned to nChw16c they would not run on AMX). A plain bf16 input (the stem's image)
// is channels-last too.
Tag activationTag(Dt dt, bool blockedLayout) {
  if (dt == Dt::bf16) {
    return Tag::nhwc;
  }
  return blockedLayout ? blockedTag() : Tag::nchw;
}

memory::desc activationDesc(const memory::dims &d, bool blockedLayout, Dt dt) {
  return memory::desc(d, dt, activationTag(dt, blockedLayout));
}

torch::Tensor emptyBlocked(const memory::dims &d,
                           const torch::TensorOptions &o) {
  const int64_t b = blockOf(o.dtype().toScalarType(), d[1]);
  return torch::empty({d[0], d[1] / b, d[2], d[3], b}, o);
}

char dtKey(Dt dt) { return dt == Dt::bf16 ? 'h' : 'f'; }

// A buffer for an opaque oneDNN layout (weights in the primitive's format,
// workspaces).
torch::Tensor buffer(const memory::desc &md) {
  return torch::empty({static_cast<int64_t>(md.get_size())},
                      torch::TensorOptions().dtype(torch::kUInt8));
}

memory mem(const memory::desc &md, const torch::Tensor &t) {
  return memory(md, cpuEngine(), t.data_ptr());
}

// This thread's scratch buffer for oneDNN, grown (to a power of two) to the largest need so
// far and shared by every primitive run on the thread: they run one at a time (run() waits).
// A buffer per call came from the caching allocator, which keeps freed blocks by exact size,
// so every distinct scratch size stayed cached; Winograd's transform buffers (up to ~40 MB, a
// size per shape and pass) added 50 MB to ResNet-18's peak RSS at 128 px that way.
torch::Tensor &scratchSlot() {
  thread_local torch::Tensor t;
  return t;
}

const torch::Tensor &threadScratch(size_t bytes) {
  torch::Tensor &t = scratchSlot();
  if (!t.defined() || static_cast<size_t>(t.numel()) < bytes) {
    size_t rounded = size_t{1} << 16;
    while (rounded < bytes) {
      rounded <<= 1;
    }
    t = torch::Tensor();  // the old one back to the allocator before the new one is taken
    t = torch::empty({static_cast<int64_t>(rounded)}, torch::TensorOptions().dtype(torch::kUInt8));
  }
  return t;
}

// Executes `prim` on this thread's stream with this thread's scratch buffer, and waits.
void run(const dnnl::primitive &prim, std::unordered_map<int, memory> args) {
  const dnnl_memory_desc_t *md = dnnl_primitive_desc_query_md(
      prim.get_primitive_desc(), dnnl_query_scratchpad_md, 0);
  if (md != nullptr && memory::desc(*md).get_size() > 0) {
    const memory::desc d(*md);
    args.emplace(DNNL_ARG_SCRATCHPAD, mem(d, threadScratch(d.get_size())));
  }
  prim.execute(cpuStream(), args);
  cpuStream().wait(); // the scratch is reused by the next primitive only after this one is done
}

std::string dimsKey(const memory::dims &d) {
  std::string s;
  for (auto v : d) {
    s += std::to_string(v) + "x";
  }
  return s;
}

// Right padding that makes oneDNN's output size floor((in + l + r - k) / s) + 1
// equal torch's.
int64_t padRight(int64_t in, int64_t out, int64_t k, int64_t s, int64_t l) {
  return std::max<int64_t>(0, (out - 1) * s + k - in - l);
}

int64_t outSize(int64_t in, int64_t k, int64_t s, int64_t p) {
  return (in + 2 * p - k) / s + 1;
}

// A primitive is cached per shape and per OpenMP team size: oneDNN sizes its work split
// and per-thread scratch for the team it is created under, and run by a larger team (a GUI
// run with more threads than the last one) its kernels wrote past that scratch.
template <class T, class Make>
std::shared_ptr<T> cached(std::map<std::string, std::shared_ptr<T>> &cache,
                          const std::string &shapeKey, Make make) {
  const std::string key = std::to_string(at::get_num_threads()) + "t" + shapeKey;
  std::lock_guard<std::mutex> lock(gCacheMutex);
  auto it = cache.find(key);
  if (it != cache.end()) {
    return it->second;
  }
  auto v = std::make_shared<T>(make());
  cache.emplace(key, v);
  return v;
}

// A reorder between two layouts, or none when they are the same.
struct Reorder {
  std::optional<dnnl::reorder> r;
  Reorder() = default;
  Reorder(const memory::desc &from, const memory::desc &to) {
    if (from != to) {
      r = created(dnnl::reorder(
          dnnl::reorder::primitive_desc(cpuEngine(), from, cpuEngine(), to, userScratch())));
    }
  }
};

// ---- convolution
// ------------------------------------------------------------------------

struct ConvPrims {
  memory::desc src, dst, userW;
  dnnl::convolution_forward::primitive_desc fwdPd;
  dnnl::convolution_forward fwd;
  Reorder wToFwd;
  dnnl::convolution_backward_data::primitive_desc bwdDataPd;
  dnnl::convolution_backward_data bwdData;
  Reorder wToBwd; // used when backward-data wants another weight layout than
                  // forward
  bool hasBwdData = false;
  dnnl::convolution_backward_weights::primitive_desc bwdWPd;
  dnnl::convolution_backward_weights bwdW;
  Reorder srcToBwdW,
      diffDstToBwdW; // where backward-weights runs faster on another layout
  Reorder diffWToUser;
  // The weight gradient as one matmul over the input's columns (im2col): dW[O, (kh, kw, I)]
  // = dy^T[O, N*OH*OW] x cols[N*OH*OW, (kh, kw, I)], then reordered OHWI -> OIHW. Set where
  // oneDNN has a non-reference matmul for it.
  struct Matmul {
    dnnl::matmul::primitive_desc pd;
    dnnl::matmul mm;
    memory::desc dyT, cols, dwOhwi, ohwi;
    Reorder toUser;
    int64_t k = 0, stride = 0, padTop = 0, padBottom = 0, padLeft = 0, padRight = 0;
  };
  std::optional<Matmul> matmulW;
  bool matmulPays = false; // the measured rule (WeightGradient::Auto) for this shape
  bool winogradKey = false; // looked up (and cached) as a Winograd candidate: the backward asks the same
  // A small map's forward and input gradient on a mosaic of the batch (SmallMaps, Blocked.h).
  // Mosaic m holds images m*rows*cols ... as a rows x cols grid of tiles, each tile an image's
  // h x w map followed by one zero row and column; tiles past the batch are zero. With padding
  // 1 each image then reads zeros where its own padding would be, and the output's tiles are
  // the images' outputs (the zero row and column give values nobody reads).
  struct Mosaic {
    int64_t h = 0, w = 0, rows = 0, cols = 0, count = 0;
    // On the mosaics of the input ([count, I, rows*(h+1), cols*(w+1)]) and of the output.
    dnnl::convolution_forward::primitive_desc fwdPd;
    dnnl::convolution_forward fwd;
    Reorder wToFwd;
    // The input gradient as a forward convolution (src: the output gradient's mosaic, dst: the
    // input gradient's) with the weights transposed: the forward's packed weights read as
    // [I, O, 3, 3] (in bf16 half the bytes of the fp32 master weights: ResNet-18's three
    // transpositions at 128 px take 2.1 ms a step instead of 3.8).
    memory::desc packedT;
    dnnl::convolution_forward::primitive_desc bwdPd;
    dnnl::convolution_forward bwd;
    Reorder wToBwd;
  };
  std::optional<Mosaic> mosaic;
  // 0 until the first backward has timed both (WeightGradient::Tuned), then 1 + the choice.
  std::unique_ptr<std::atomic<int>> choice = std::make_unique<std::atomic<int>>(0);
};

std::map<std::string, std::shared_ptr<ConvPrims>> gConv;

// Where the matmul computes the weight gradient faster than oneDNN's direct backward-weights
// kernel, by the output map's pixels per image (`pixels`). Measured with oneDNN 2.6
// (bench/weight_gradient: ResNet-18 at 64, 128 and 224 px, batch 32, 2 threads) on Sapphire
// Rapids (BENCHMARKS.md, "Sapphire Rapids, session 16") and, without AMX, on Zen 5 ("AMD Zen 5,
// session 24"):
// - bf16 on AMX: every 1x1 convolution (1.4-9x); 3x3 maps up to 8x8 at stride 2 (1.6-4.2x) and,
//   with 256+ channels, at stride 1 (512 at 4x4: 10.5 -> 3.7 ms). Larger maps, and 128
//   channels at stride 1, lose (0.3-0.8x) or tie;
// - bf16 on AVX512-BF16 without AMX (measured on Zen 5; Cooper Lake and Zen 4 run the same
//   oneDNN kernels, unmeasured): 1x1 (1.04-2.6x; all measured ones, ResNet's, are stride 2);
//   3x3 stride 2 onto maps up to 14x14 (1.2-3.6x; 16x16 and 28x28 tie, 0.94-0.99x); 3x3 stride
//   1 with 256+ channels on maps up to 4x4 (1.5-3.3x). 256 channels at 8x8 lose (0.88-0.97x), as
//   do 128 at 8x8 (0.73x) and larger maps; 512 at 7x7 gains 1.08x, too little to count;
// - fp32 on AVX-512: 3x3 maps up to 2x2 (2.0-2.1x); 4x4 and larger tie or lose.
// Stems (7x7 on the image) and AVX2 keep the direct kernel: no faster. A rule, not a timing
// per process, so that a run and its resumption compute the same bits.
bool matmulPays(Dt dt, int64_t k, int64_t stride, int64_t outChannels, int64_t pixels) {
  if (k != 1 && k != 3) {
    return false;
  }
  if (dt == Dt::bf16 && effectiveIsaIncludes(dnnl::cpu_isa::avx512_core_amx)) {
    return k == 1 || (pixels <= 64 && (stride == 2 || outChannels >= 256));
  }
  if (dt == Dt::bf16 && effectiveIsaIncludes(dnnl::cpu_isa::avx512_core_bf16)) {
    return k == 1 || (pixels <= 196 && stride == 2) || (pixels <= 16 && outChannels >= 256);
  }
  if (dt == Dt::f32 && effectiveIsaIncludes(dnnl::cpu_isa::avx512_core)) {
    return k == 3 && pixels <= 4;
  }
  return false;
}

ConvPrims makeConvPrims(const memory::dims &sd, bool blockedSrc, Dt dt, const memory::dims &wd, bool ohwi,
                        int64_t stride, int64_t pad, int64_t oh, int64_t ow, dnnl::algorithm alg, bool mosaic);

// Weights held channels-last ([O, I, kh, kw] dims, OHWI memory: the layout the matmul weight
// gradient writes) rather than OIHW. Where both layouts are the same memory (1x1, one input
// channel) it is OIHW.
bool ohwiWeights(const torch::Tensor &w) {
  return !w.is_contiguous() && w.is_contiguous(torch::MemoryFormat::ChannelsLast);
}

// `w` in one of the two layouts the primitives read: OHWI as it is, anything else as OIHW.
torch::Tensor plainWeights(const torch::Tensor &w) { return ohwiWeights(w) ? w : w.contiguous(); }

// A mode's starting value from the environment variable `name`: one of `modes` by name, the
// first (auto) when unset or unknown (said on stderr).
template <class Mode>
Mode modeFromEnv(const char *name, std::initializer_list<std::pair<const char *, Mode>> modes) {
  const char *v = std::getenv(name);
  if (v == nullptr || *v == '\0') {
    return modes.begin()->second;
  }
  std::string names;
  for (const auto &[n, mode] : modes) {
    if (std::string(v) == n) {
      return mode;
    }
    names += std::string(names.empty() ? "" : ", ") + n;
  }
  std::fprintf(stderr, "%s=%s: not one of %s; using %s\n", name, v, names.c_str(), modes.begin()->first);
  return modes.begin()->second;
}

std::atomic<SmallMaps> gSmallMaps{modeFromEnv<SmallMaps>(
    "AMPBENCH_SMALL_MAPS", {{"auto", SmallMaps::Auto}, {"direct", SmallMaps::Direct}, {"mosaic", SmallMaps::Mosaic}})};

std::atomic<Stem> gStem{modeFromEnv<Stem>(
    "AMPBENCH_STEM", {{"auto", Stem::Auto}, {"direct", Stem::Direct}, {"space-to-depth", Stem::SpaceToDepth}})};

// What the mosaic can run: a 3x3 stride-1 convolution with padding 1 of a blocked input. One
// zero row and column between tiles then pads both neighbours, and the input gradient is the
// forward convolution of the flipped output gradient (padding 1 both ways again).
bool mosaicShape(bool blockedSrc, const memory::dims &wd, int64_t stride, int64_t pad) {
  return blockedSrc && wd[2] == 3 && wd[3] == 3 && stride == 1 && pad == 1;
}

// Where the mosaic beats oneDNN 2.6's direct kernels: forward + backward per convolution
// (bench/conv_choice --choice mosaic; BENCHMARKS.md, "Sapphire Rapids, session 18"), bf16 on AMX,
// 2 threads, batch 32 unless said. 512 channels: 1x1 1.85x, 2x2 2.1x, 4x4 1.63x (1.30x at batch
// 8), 7x7 1.16x. 128 and 256 channels on maps up to 4x4 tie (0.95-1.05x); 8x8 and larger lose
// (0.57-0.89x). Batches under 8 are unmeasured. In fp32 on AVX-512 it loses everywhere against
// the direct kernels (0.60-0.89x, 2x2 to 32x32: those are not slow on small maps), and so it
// does in bf16 on AVX512-BF16 without AMX (0.83-0.89x, 4x4 to 32x32, Zen 5): both keep the
// direct kernels.
bool mosaicPays(Dt dt, bool blockedSrc, const memory::dims &wd, int64_t stride, int64_t pad, int64_t batch,
                int64_t oh, int64_t ow) {
  return mosaicShape(blockedSrc, wd, stride, pad) && dt == Dt::bf16 &&
         effectiveIsaIncludes(dnnl::cpu_isa::avx512_core_amx) && oh <= 7 && ow <= 7 && batch >= 8 &&
         wd[0] >= 512 && wd[1] >= 512;
}

std::atomic<ConvAlgorithm> gConvAlgorithm{modeFromEnv<ConvAlgorithm>(
    "AMPBENCH_CONV_ALGORITHM",
    {{"auto", ConvAlgorithm::Auto}, {"direct", ConvAlgorithm::Direct}, {"winograd", ConvAlgorithm::Winograd}})};

// What oneDNN 2.6 has Winograd kernels for at all: fp32 3x3 stride 1 (on AVX-512), here with a
// blocked input (the stem reads the plain image).
bool winogradShape(Dt dt, bool blockedSrc, const memory::dims &wd, int64_t stride) {
  return dt == Dt::f32 && blockedSrc && wd[2] == 3 && wd[3] == 3 && stride == 1;
}

// Where Winograd F(4x4, 3x3) beats the direct kernels, fp32 on AVX-512, measured per
// convolution (forward + backward-data + backward-weights; bench/conv_choice and BENCHMARKS.md,
// "Sapphire Rapids, session 17"). At batch 32: 32+ input channels onto maps of 8x8 and more
// (1.3-2.3x: ResNet-18 at 64-224 px, small_cnn's 32->64 and 64->128 at 128 px) and 128+
// channels onto 7x7 (512 at 7x7: 1.28x). Fewer channels (small_cnn's 16->32: 0.90x at 64x64)
// and smaller maps (256 at 4x4: 0.88x; 512 at 4x4: 1.01x; 512 at 2x2: 0.48x) keep the direct
// kernel, and so do small batches (Winograd works on 4x4 output tiles of every image: below
// ~1,000 output positions it loses, e.g. 0.83x at 16x16, batch 2; 256 at 8x8, batch 8: 1.05x).
bool winogradPays(Dt dt, bool blockedSrc, const memory::dims &wd, int64_t stride, int64_t batch, int64_t pixels) {
  if (!winogradShape(dt, blockedSrc, wd, stride) || !effectiveIsaIncludes(dnnl::cpu_isa::avx512_core)) {
    return false;
  }
  const int64_t in = wd[1];
  return in >= 32 && batch * pixels >= 1024 && (pixels >= 64 || (pixels >= 49 && in >= 128));
}

// `winograd`: the forward's choice, when the backward looks its primitives up again (the mode
// may have changed in between: the backward must use the primitives the forward packed for).
std::shared_ptr<ConvPrims> convPrims(const torch::Tensor &x,
                                     const torch::Tensor &w, int64_t stride,
                                     int64_t pad, std::optional<bool> winograd = std::nullopt,
                                     std::optional<bool> mosaic = std::nullopt) {
  const auto sd = logicalDims(x);
  const bool blockedSrc = isBlocked(x);
  const Dt dt = dataType(x);
  const memory::dims wd{w.size(0), w.size(1), w.size(2), w.size(3)};
  const int64_t oh = outSize(sd[2], wd[2], stride, pad), ow = outSize(sd[3], wd[3], stride, pad);
  const auto mode = gConvAlgorithm.load();
  // Winograd exists only for fp32 3x3 stride 1 on AVX-512 (oneDNN 2.6); forced, it is still
  // tried only there, and any shape its kernel refuses keeps the direct one.
  const bool tryWinograd =
      winograd ? *winograd
      : mode == ConvAlgorithm::Winograd
          ? winogradShape(dt, blockedSrc, wd, stride)
          : mode == ConvAlgorithm::Auto && winogradPays(dt, blockedSrc, wd, stride, sd[0], oh * ow);
  const auto tiling = gSmallMaps.load();
  const bool useMosaic = mosaic ? *mosaic
                         : tiling == SmallMaps::Mosaic
                             ? mosaicShape(blockedSrc, wd, stride, pad)
                             : tiling == SmallMaps::Auto && mosaicPays(dt, blockedSrc, wd, stride, pad, sd[0], oh, ow);
  const bool ohwi = ohwiWeights(w);
  const std::string key = dimsKey(sd) + (blockedSrc ? "b" : "p") + dimsKey(wd) + (ohwi ? "o" : "") +
                          std::to_string(stride) + "s" + std::to_string(pad) + dtKey(dt) +
                          (tryWinograd ? "w" : "") + (useMosaic ? "m" : "");
  return cached(gConv, key, [&] {
    auto make = [&](dnnl::algorithm alg) {
      ConvPrims p = makeConvPrims(sd, blockedSrc, dt, wd, ohwi, stride, pad, oh, ow, alg, useMosaic);
      p.winogradKey = tryWinograd;
      return p;
    };
    if (tryWinograd) {
      try {
        return make(dnnl::algorithm::convolution_winograd);
      } catch (const dnnl::error &) {
        // no Winograd kernel for this shape on this CPU: the direct one below
      }
    }
    return make(dnnl::algorithm::convolution_direct);
  });
}

// The mosaic's primitives for input dims `sd` (mosaicShape holds): up to 16 images per
// mosaic in a near-square grid (ResNet-18's 4x4 maps at batch 32: two 20x20 mosaics).
ConvPrims::Mosaic makeMosaic(const memory::dims &sd, Dt dt, const memory::dims &wd, const memory::desc &userW) {
  ConvPrims::Mosaic m;
  m.h = sd[2];
  m.w = sd[3];
  // The fewest mosaics of at most 16 images, the batch spread evenly over them (17 images: two
  // of 9, not 16 and 1).
  const int64_t mosaics = std::max<int64_t>(1, (sd[0] + 15) / 16), per = std::max<int64_t>(1, (sd[0] + mosaics - 1) / mosaics);
  m.cols = static_cast<int64_t>(std::ceil(std::sqrt(static_cast<double>(per))));
  m.rows = (per + m.cols - 1) / m.cols;
  m.count = (sd[0] + m.rows * m.cols - 1) / (m.rows * m.cols);
  const int64_t mh = m.rows * (m.h + 1), mw = m.cols * (m.w + 1);
  const auto in = activationDesc({m.count, wd[1], mh, mw}, true, dt);
  const auto out = activationDesc({m.count, wd[0], mh, mw}, true, dt);
  // A 3x3 stride-1 convolution with padding 1 from `src` to `dst`, oneDNN choosing the weights' layout.
  const auto forward = [&](const memory::desc &src, const memory::dims &weights, const memory::desc &dst) {
    const memory::dims one{1, 1}, pad{1, 1};
    return dnnl::convolution_forward::primitive_desc(
        dnnl::convolution_forward::desc(dnnl::prop_kind::forward_training, dnnl::algorithm::convolution_direct, src,
                                        memory::desc(weights, dt, Tag::any), dst, one, pad, pad),
        userScratch(), cpuEngine());
  };
  m.fwdPd = forward(in, wd, out);
  m.fwd = created(dnnl::convolution_forward(m.fwdPd));
  m.wToFwd = Reorder(userW, m.fwdPd.weights_desc());
  const memory::dims wdT{wd[1], wd[0], wd[2], wd[3]};
  m.packedT = m.fwdPd.weights_desc().permute_axes({1, 0, 2, 3});
  m.bwdPd = forward(out, wdT, in);
  m.bwd = created(dnnl::convolution_forward(m.bwdPd));
  m.wToBwd = Reorder(m.packedT, m.bwdPd.weights_desc());
  return m;
}

// `x` ([N, C/B, H, W, B], the mosaic's h x w) as its mosaics, each image flipped in both
// spatial dimensions first when `flip`.
torch::Tensor toMosaic(const torch::Tensor &x, const ConvPrims::Mosaic &m, bool flip) {
  const int64_t n = x.size(0), cb = x.size(1), b = x.size(4);
  auto t = torch::constant_pad_nd(flip ? x.flip({2, 3}) : x,
                                  {0, 0, 0, 1, 0, 1, 0, 0, 0, m.count * m.rows * m.cols - n});
  return t.view({m.count, m.rows, m.cols, cb, m.h + 1, m.w + 1, b})
      .permute({0, 3, 1, 4, 2, 5, 6})
      .reshape({m.count, cb, m.rows * (m.h + 1), m.cols * (m.w + 1), b});
}

// The `n` images' maps cut out of mosaics `y`, flipped back when `flip`.
torch::Tensor fromMosaic(const torch::Tensor &y, const ConvPrims::Mosaic &m, int64_t n, bool flip) {
  const int64_t cb = y.size(1), b = y.size(4);
  auto t = y.view({m.count, cb, m.rows, m.h + 1, m.cols, m.w + 1, b})
               .narrow(3, 0, m.h)
               .narrow(5, 0, m.w)
               .permute({0, 2, 4, 1, 3, 5, 6})
               .reshape({m.count * m.rows * m.cols, cb, m.h, m.w, b})
               .narrow(0, 0, n);
  return (flip ? t.flip({2, 3}) : t).contiguous();
}

ConvPrims makeConvPrims(const memory::dims &sd, bool blockedSrc, Dt dt, const memory::dims &wd, bool ohwi,
                        int64_t stride, int64_t pad, int64_t oh, int64_t ow, dnnl::algorithm alg, bool mosaic) {
  ConvPrims p;
  const memory::dims dd{sd[0], wd[0], oh, ow};
  const memory::dims strides{stride, stride}, padL{pad, pad};
  const memory::dims padR{padRight(sd[2], oh, wd[2], stride, pad),
                          padRight(sd[3], ow, wd[3], stride, pad)};
  p.src = activationDesc(sd, blockedSrc, dt);
  p.dst = activationDesc(dd, true, dt);
  // The weights stay fp32 master weights; a bf16 primitive gets them rounded to bf16 by the
  // same reorder that packs them, and hands back an fp32 weight gradient, in the weights' layout.
  p.userW = memory::desc(wd, Dt::f32, ohwi ? Tag::ohwi : Tag::oihw);
  const memory::desc anyW(wd, dt, Tag::any);
  const memory::desc anyDiffW(wd, Dt::f32, Tag::any);
  p.fwdPd = dnnl::convolution_forward::primitive_desc(
      dnnl::convolution_forward::desc(dnnl::prop_kind::forward_training, alg, p.src, anyW, p.dst, strides, padL,
                                      padR),
      userScratch(), cpuEngine());
  if (!mosaic) { // with the mosaic its descriptor is only the backward-weights primitive's hint
    p.fwd = created(dnnl::convolution_forward(p.fwdPd));
  }
  p.wToFwd = Reorder(p.userW, p.fwdPd.weights_desc());
  p.hasBwdData = blockedSrc; // the plain image needs no gradient (oneDNN has
                             // only a reference kernel for it)
  if (mosaic) {
    p.mosaic = makeMosaic(sd, dt, wd, p.userW);
  } else if (p.hasBwdData) {
    p.bwdDataPd = dnnl::convolution_backward_data::primitive_desc(
        dnnl::convolution_backward_data::desc(alg, p.src, anyW, p.dst, strides, padL, padR),
        userScratch(), cpuEngine(), p.fwdPd);
    p.bwdData = created(dnnl::convolution_backward_data(p.bwdDataPd));
    if (p.bwdDataPd.weights_desc() != p.fwdPd.weights_desc()) {
      p.wToBwd = Reorder(p.fwdPd.weights_desc(), p.bwdDataPd.weights_desc());
    }
  }
  // Backward-weights picks its own activation layouts: pinned to ours,
  // oneDNN 2.6 falls back to its reference kernel for the plain-input stem
  // and for maps smaller than the kernel (ONEDNN_VERBOSE: ref:any, 6x slower
  // steps); with `any` it takes a JIT kernel and the activations are
  // reordered to it (the 3-channel image, or a tiny map).
  auto bwdW = [&](Tag t) {
    return dnnl::convolution_backward_weights::primitive_desc(
        dnnl::convolution_backward_weights::desc(
            alg, memory::desc(sd, dt, t),
            anyDiffW, memory::desc(dd, dt, t), strides, padL, padR),
        userScratch(), cpuEngine(), p.fwdPd);
  };
  p.bwdWPd = bwdW(Tag::any);
  // A one-channel stem: `any` pads the image to a full channel block (8x
  // the work; 70 ms of a 130 ms stem at 128 px, batch 32, 2 threads), where
  // oneDNN's nhwc kernel runs the real channel (16 ms + 3 ms to reorder the
  // output gradient).
  if (!blockedSrc && p.bwdWPd.src_desc().data.padded_dims[1] >= 2 * sd[1]) {
    auto nhwc = bwdW(Tag::nhwc);
    if (std::string(nhwc.impl_info_str()).rfind("ref", 0) != 0) {
      p.bwdWPd = nhwc;
    }
  }
  p.bwdW = created(dnnl::convolution_backward_weights(p.bwdWPd));
  p.srcToBwdW = Reorder(p.src, p.bwdWPd.src_desc());
  p.diffDstToBwdW = Reorder(p.dst, p.bwdWPd.diff_dst_desc());
  p.diffWToUser = Reorder(p.bwdWPd.diff_weights_desc(), p.userW);
  const int64_t nhw = dd[0] * dd[2] * dd[3], cols = wd[1] * wd[2] * wd[3];
  ConvPrims::Matmul m;
  m.dyT = memory::desc({wd[0], nhw}, dt, memory::dims{1, wd[0]}); // dy in NHWC, transposed
  m.cols = memory::desc({nhw, cols}, dt, Tag::ab);
  m.dwOhwi = memory::desc({wd[0], cols}, Dt::f32, Tag::ab);
  m.pd = dnnl::matmul::primitive_desc(dnnl::matmul::desc(m.dyT, m.cols, m.dwOhwi), userScratch(),
                                      cpuEngine());
  if (wd[2] == wd[3] && std::string(m.pd.impl_info_str()).rfind("ref", 0) != 0) {
    m.mm = created(dnnl::matmul(m.pd));
    m.ohwi = memory::desc(wd, Dt::f32, Tag::ohwi);
    if (wd[2] > 1) { // a 1x1 kernel's OHWI is OIHW: the matmul writes the gradient itself
      m.toUser = Reorder(m.ohwi, p.userW);
    }
    m.k = wd[2];
    m.stride = stride;
    m.padTop = m.padLeft = pad;
    m.padBottom = padR[0];
    m.padRight = padR[1];
    p.matmulW = std::move(m);
    p.matmulPays = matmulPays(dt, wd[2], stride, wd[0], oh * ow);
  }
  return p;
}

// An activation (or its gradient) of logical dims `d` as a contiguous NHWC tensor: a view of a
// one-block tensor (bf16, or fp32 with C equal to the block), else one copy.
torch::Tensor asNhwc(const torch::Tensor &t, const memory::dims &d) {
  if (isBlocked(t)) {
    return t.size(1) == 1 ? t.reshape({d[0], d[2], d[3], d[1]})
                          : t.permute({0, 2, 3, 1, 4}).reshape({d[0], d[2], d[3], d[1]});
  }
  return t.permute({0, 2, 3, 1}).contiguous();
}

// The weight gradient by the matmul: the padded NHWC input is read as a strided view of
// every kernel window (no copy) and gathered once into the columns matrix.
void weightGradByMatmul(const ConvPrims &p, const torch::Tensor &x, const torch::Tensor &dy,
                        torch::Tensor &dw) {
  const auto &m = *p.matmulW;
  const auto sd = p.src.dims(), dd = p.dst.dims();
  auto xn = asNhwc(x, sd);
  if (m.padTop + m.padBottom + m.padLeft + m.padRight > 0) {
    xn = torch::constant_pad_nd(xn, {0, 0, m.padLeft, m.padRight, m.padTop, m.padBottom});
  }
  const int64_t hp = xn.size(1), wp = xn.size(2), c = xn.size(3), s = m.stride;
  const auto cols = xn.as_strided({dd[0], dd[2], dd[3], m.k, m.k, c},
                                  {hp * wp * c, s * wp * c, s * c, wp * c, c, 1})
                        .contiguous();
  const auto dyn = asNhwc(dy, dd);
  auto dwOhwi = m.toUser.r ? torch::empty({dd[1], m.k * m.k * c}, dw.options()) : dw;
  run(m.mm, {{DNNL_ARG_SRC, mem(m.dyT, dyn)},
             {DNNL_ARG_WEIGHTS, mem(m.cols, cols)},
             {DNNL_ARG_DST, mem(m.dwOhwi, dwOhwi)}});
  if (m.toUser.r) {
    run(*m.toUser.r, {{DNNL_ARG_FROM, mem(m.ohwi, dwOhwi)}, {DNNL_ARG_TO, mem(p.userW, dw)}});
  }
}

// `w` (contiguous, in `from`) in the layout `to`: a reordered copy, or `w`
// itself.
torch::Tensor inLayout(const Reorder &r, const memory::desc &from,
                       const memory::desc &to, const torch::Tensor &w) {
  if (!r.r) {
    return w;
  }
  auto out = buffer(to);
  run(*r.r, {{DNNL_ARG_FROM, mem(from, w)}, {DNNL_ARG_TO, mem(to, out)}});
  return out;
}

std::atomic<WeightGradient> gWeightGradient{modeFromEnv<WeightGradient>(
    "AMPBENCH_WEIGHT_GRADIENT", {{"auto", WeightGradient::Auto},
                                 {"tuned", WeightGradient::Tuned},
                                 {"direct", WeightGradient::Direct},
                                 {"matmul", WeightGradient::Matmul}})};

constexpr int kDirect = 1, kMatmul = 2;

// Whether this convolution's weight gradient goes through the matmul. Tuned (an opt-in, to
// find the rule on a new CPU): the first backward of a shape times both ways (best of two runs
// each, after one each to warm up; every run computes the same gradient) and keeps the matmul
// where it is over 10 % faster. Its choice can differ between processes, and with it the last
// bits of the weights, so a resumed run is no longer bit-identical: never the default.
// The way already decided for this shape under the current mode; nothing while Tuned has not
// timed it yet.
std::optional<bool> decidedMatmul(const ConvPrims &p) {
  const auto mode = gWeightGradient.load();
  if (!p.matmulW || mode == WeightGradient::Direct) {
    return false;
  }
  if (mode == WeightGradient::Matmul) {
    return true;
  }
  if (mode == WeightGradient::Auto) {
    return p.matmulPays;
  }
  const int c = p.choice->load();
  return c == 0 ? std::nullopt : std::optional<bool>(c == kMatmul);
}

template <class Direct, class ByMatmul>
bool usesMatmul(const ConvPrims &p, const Direct &direct, const ByMatmul &byMatmul) {
  if (const auto decided = decidedMatmul(p)) {
    return *decided;
  }
  int c = p.choice->load();
  if (c == 0) {
    const auto bestOf = [](const auto &f) {
      double best = 1e300;
      for (int i = 0; i < 3; ++i) {
        const auto t0 = std::chrono::steady_clock::now();
        f();
        const double ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
        if (i > 0) {
          best = std::min(best, ms);
        }
      }
      return best;
    };
    const double tDirect = bestOf(direct), tMatmul = bestOf(byMatmul);
    c = tMatmul < 0.9 * tDirect ? kMatmul : kDirect;
    p.choice->store(c);
  }
  return c == kMatmul;
}

// One of the mosaic's convolutions (`conv`, made from `pd`) on `in`'s images: the weights `w`
// (read through `wDesc`) packed by `pack`, the images tiled, flipped first and back after when
// `flip` (the input gradient), cut out of the output again.
torch::Tensor onMosaic(const ConvPrims::Mosaic &m, const dnnl::convolution_forward &conv,
                       const dnnl::convolution_forward::primitive_desc &pd, const Reorder &pack,
                       const memory::desc &wDesc, const torch::Tensor &w, const torch::Tensor &in, bool flip,
                       torch::Tensor *packedOut = nullptr) {
  const auto packed = inLayout(pack, wDesc, pd.weights_desc(), w);
  if (packedOut) {
    *packedOut = packed;
  }
  const auto tiles = toMosaic(in, m, flip);
  auto out = emptyBlocked(pd.dst_desc().dims(), in.options());
  run(conv, {{DNNL_ARG_SRC, mem(pd.src_desc(), tiles)},
             {DNNL_ARG_WEIGHTS, mem(pd.weights_desc(), packed)},
             {DNNL_ARG_DST, mem(pd.dst_desc(), out)}});
  return fromMosaic(out, m, in.size(0), flip);
}

struct ConvFn : public torch::autograd::Function<ConvFn> {
  static torch::Tensor forward(AutogradContext *ctx, torch::Tensor x,
                               torch::Tensor w, int64_t stride, int64_t pad) {
    // A plain bf16 image is read channels-last (activationTag).
    x = !isBlocked(x) && x.scalar_type() == torch::kBFloat16
            ? x.contiguous(torch::MemoryFormat::ChannelsLast)
            : x.contiguous();
    w = plainWeights(w);
    auto p = convPrims(x, w, stride, pad);
    torch::Tensor y, wf;
    if (p->mosaic) {
      const auto &m = *p->mosaic;
      y = onMosaic(m, m.fwd, m.fwdPd, m.wToFwd, p->userW, w, x, false, &wf);  // wf: transposed by the backward
    } else {
      wf = inLayout(p->wToFwd, p->userW, p->fwdPd.weights_desc(), w);
      y = emptyBlocked(p->dst.dims(), x.options());
      run(p->fwd, {{DNNL_ARG_SRC, mem(p->src, x)},
                   {DNNL_ARG_WEIGHTS, mem(p->fwdPd.weights_desc(), wf)},
                   {DNNL_ARG_DST, mem(p->dst, y)}});
    }
    ctx->save_for_backward({x, w, wf});
    ctx->saved_data["stride"] = stride;
    ctx->saved_data["pad"] = pad;
    ctx->saved_data["winograd"] = p->winogradKey;
    ctx->saved_data["mosaic"] = p->mosaic.has_value();
    return y;
  }

  static variable_list backward(AutogradContext *ctx, variable_list grads) {
    const auto saved = ctx->get_saved_variables();
    const auto &x = saved[0];
    const auto &w = saved[1];
    const auto &wf = saved[2];
    auto p = convPrims(x, w, ctx->saved_data["stride"].toInt(),
                       ctx->saved_data["pad"].toInt(), ctx->saved_data["winograd"].toBool(),
                       ctx->saved_data["mosaic"].toBool());
    auto dy = grads[0].contiguous();
    torch::Tensor dx, dw;
    if (ctx->needs_input_grad(0) && p->mosaic) {
      // dx = flip(conv(flip(dy), W transposed)): per image, a 3x3 stride-1 convolution's input
      // gradient is the forward convolution of the flipped output gradient with the weights'
      // input and output channels swapped, flipped back.
      const auto &m = *p->mosaic;
      dx = onMosaic(m, m.bwd, m.bwdPd, m.wToBwd, m.packedT, wf, dy, true);
    } else if (ctx->needs_input_grad(0)) {
      TORCH_CHECK(
          p->hasBwdData,
          "blocked convolution: no input gradient for a plain (image) input");
      auto wb = p->wToBwd.r ? inLayout(p->wToBwd, p->fwdPd.weights_desc(),
                                       p->bwdDataPd.weights_desc(), wf)
                            : wf;
      dx = torch::empty_like(x);
      run(p->bwdData, {{DNNL_ARG_DIFF_DST, mem(p->dst, dy)},
                                       {DNNL_ARG_WEIGHTS,
                                        mem(p->bwdDataPd.weights_desc(), wb)},
                                       {DNNL_ARG_DIFF_SRC, mem(p->src, dx)}});
    }
    if (ctx->needs_input_grad(1)) {
      dw = torch::empty_like(w);
      const auto direct = [&] {
        const auto &dwd = p->bwdWPd.diff_weights_desc();
        auto dwb = p->diffWToUser.r ? buffer(dwd) : dw;
        const auto &sw = p->bwdWPd.src_desc();
        const auto &dyw = p->bwdWPd.diff_dst_desc();
        auto xw = inLayout(p->srcToBwdW, p->src, sw, x); // a plain reorder, or `x` itself
        auto dyW = inLayout(p->diffDstToBwdW, p->dst, dyw, dy);
        run(p->bwdW, {{DNNL_ARG_SRC, mem(sw, xw)},
                      {DNNL_ARG_DIFF_DST, mem(dyw, dyW)},
                      {DNNL_ARG_DIFF_WEIGHTS, mem(dwd, dwb)}});
        if (p->diffWToUser.r) {
          run(*p->diffWToUser.r, {{DNNL_ARG_FROM, mem(dwd, dwb)}, {DNNL_ARG_TO, mem(p->userW, dw)}});
        }
      };
      if (usesMatmul(*p, direct, [&] { weightGradByMatmul(*p, x, dy, dw); })) {
        weightGradByMatmul(*p, x, dy, dw);
      } else {
        direct();
      }
    }
    return {dx, dw, torch::Tensor(), torch::Tensor()};
  }
};

// ---- batch norm
// -------------------------------------------------------------------------

struct BnPrims {
  memory::desc data, channels;
  dnnl::batch_normalization_forward::primitive_desc trainPd;
  dnnl::batch_normalization_forward train;
  dnnl::batch_normalization_backward::primitive_desc bwdPd;
  dnnl::batch_normalization_backward bwd;
  dnnl::batch_normalization_forward::primitive_desc inferPd;
  dnnl::batch_normalization_forward infer;
};

std::map<std::string, std::shared_ptr<BnPrims>> gBn;

// `relu`: batch norm with its ReLU fused (oneDNN's fuse_norm_relu): the
// forward writes a bit mask of the positive outputs to a workspace and the
// backward applies it, so the ReLU costs no pass over the activation.
std::shared_ptr<BnPrims> bnPrims(const memory::dims &d, float eps, bool relu, Dt dt) {
  return cached(gBn, dimsKey(d) + std::to_string(eps) + (relu ? "r" : "") + dtKey(dt), [&] {
    BnPrims p;
    p.data = activationDesc(d, true, dt);
    p.channels = memory::desc({d[1]}, Dt::f32, Tag::a);
    auto flags = dnnl::normalization_flags::use_scale |
                 dnnl::normalization_flags::use_shift;
    if (relu) {
      flags = flags | dnnl::normalization_flags::fuse_norm_relu;
    }
    p.trainPd = dnnl::batch_normalization_forward::primitive_desc(
        dnnl::batch_normalization_forward::desc(
            dnnl::prop_kind::forward_training, p.data, eps, flags),
        userScratch(), cpuEngine());
    p.train = created(dnnl::batch_normalization_forward(p.trainPd));
    p.bwdPd = dnnl::batch_normalization_backward::primitive_desc(
        dnnl::batch_normalization_backward::desc(
            dnnl::prop_kind::backward, p.data, p.data, eps, flags),
        userScratch(), cpuEngine(), p.trainPd);
    p.bwd = created(dnnl::batch_normalization_backward(p.bwdPd));
    p.inferPd = dnnl::batch_normalization_forward::primitive_desc(
        dnnl::batch_normalization_forward::desc(
            dnnl::prop_kind::forward_inference, p.data, eps,
            flags | dnnl::normalization_flags::use_global_stats),
        userScratch(), cpuEngine());
    p.infer = created(dnnl::batch_normalization_forward(p.inferPd));
    return p;
  });
}

// oneDNN's fused ReLU computes max(x, 0), which turns NaN into 0, where torch's ReLU keeps it:
// a bad value would vanish and the run go on as if nothing happened. In training a NaN or an
// inf in a channel's input makes its batch statistics non-finite (so can a finite channel whose
// variance overflows fp32, where torch's double accumulation stays finite: a diverging run
// either way), and torch's batch norm then gives NaN throughout the channel. (A non-finite scale
// or shift gives a mix of NaN, inf and 0 there: those run through torch's own layer,
// batchNormImpl.) The channels (of `c`) where any of `perChannel` is not finite; an undefined
// tensor when there are none (a check of 2C values per call).
torch::Tensor nonFiniteChannels(int64_t c, std::initializer_list<torch::Tensor> perChannel) {
  bool allFinite = true;
  for (const auto &v : perChannel) {
    const float *p = v.data_ptr<float>();
    for (int64_t i = 0; i < c; ++i) {
      allFinite = allFinite && std::isfinite(p[i]);
    }
  }
  if (allFinite) {
    return {};
  }
  auto bad = torch::zeros({c}, torch::kBool);
  for (const auto &v : perChannel) {
    bad = bad | torch::logical_not(torch::isfinite(v));
  }
  return bad;
}

// Those channels of `t` ([N, C/B, H, W, B]) become NaN, as in torch; the fill only when there is
// something to fill.
void nanWhereNotFinite(torch::Tensor &t, std::initializer_list<torch::Tensor> perChannel) {
  if (const auto bad = nonFiniteChannels(t.size(1) * t.size(4), perChannel); bad.defined()) {
    t.masked_fill_(bad.view({1, t.size(1), 1, 1, t.size(4)}), std::numeric_limits<float>::quiet_NaN());
  }
}

// Training-mode batch norm (and its ReLU when `relu`); the batch mean and
// biased variance come back through `stats`.
struct BnTrainFn : public torch::autograd::Function<BnTrainFn> {
  static torch::Tensor forward(AutogradContext *ctx, torch::Tensor x,
                               torch::Tensor weight, torch::Tensor bias,
                               double eps, bool relu, torch::Tensor mean,
                               torch::Tensor var) {
    x = x.contiguous();
    auto p = bnPrims(logicalDims(x), static_cast<float>(eps), relu, dataType(x));
    auto w = weight.contiguous();
    auto b = bias.contiguous();
    auto y = torch::empty_like(x);
    std::unordered_map<int, memory> args{
        {DNNL_ARG_SRC, mem(p->data, x)},
        {DNNL_ARG_SCALE, mem(p->channels, w)},
        {DNNL_ARG_SHIFT, mem(p->channels, b)},
        {DNNL_ARG_MEAN, mem(p->trainPd.mean_desc(), mean)},
        {DNNL_ARG_VARIANCE, mem(p->trainPd.variance_desc(), var)},
        {DNNL_ARG_DST, mem(p->data, y)}};
    torch::Tensor ws;
    if (relu) {
      ws = buffer(p->trainPd.workspace_desc());
      args.emplace(DNNL_ARG_WORKSPACE, mem(p->trainPd.workspace_desc(), ws));
    }
    run(p->train, args);
    if (relu) {
      nanWhereNotFinite(y, {mean, var});
    }
    ctx->save_for_backward({x, w, b, mean, var, ws});
    ctx->saved_data["eps"] = eps;
    ctx->saved_data["relu"] = relu;
    return y;
  }

  static variable_list backward(AutogradContext *ctx, variable_list grads) {
    const auto s = ctx->get_saved_variables();
    const auto &x = s[0];
    const bool relu = ctx->saved_data["relu"].toBool();
    auto p = bnPrims(logicalDims(x),
                     static_cast<float>(ctx->saved_data["eps"].toDouble()),
                     relu, dataType(x));
    auto dy = grads[0].contiguous();
    auto dx = torch::empty_like(x);
    auto dw = torch::empty_like(s[1]);
    auto db = torch::empty_like(s[2]);
    std::unordered_map<int, memory> args{
        {DNNL_ARG_SRC, mem(p->data, x)},
        {DNNL_ARG_MEAN, mem(p->trainPd.mean_desc(), s[3])},
        {DNNL_ARG_VARIANCE, mem(p->trainPd.variance_desc(), s[4])},
        {DNNL_ARG_DIFF_DST, mem(p->data, dy)},
        {DNNL_ARG_SCALE, mem(p->channels, s[1])},
        {DNNL_ARG_SHIFT, mem(p->channels, s[2])},
        {DNNL_ARG_DIFF_SRC, mem(p->data, dx)},
        {DNNL_ARG_DIFF_SCALE, mem(p->channels, dw)},
        {DNNL_ARG_DIFF_SHIFT, mem(p->channels, db)}};
    if (relu) {
      args.emplace(DNNL_ARG_WORKSPACE, mem(p->trainPd.workspace_desc(), s[5]));
    }
    run(p->bwd, args);
    if (relu) {
      // A channel the forward made NaN: torch's ReLU passes the whole output gradient there, which
      // the workspace's mask (NaN read as not positive) zeroed; the input's and the scale's
      // gradients come out NaN either way, the shift's is the gradient's sum, as in torch.
      if (const auto bad = nonFiniteChannels(db.numel(), {s[3], s[4]}); bad.defined()) {
        const auto sum = dy.sum({0, 2, 3}, false, torch::kFloat).reshape({-1});
        db.copy_(torch::where(bad, sum, db));
      }
    }
    return {dx,
            dw,
            db,
            torch::Tensor(),
            torch::Tensor(),
            torch::Tensor(),
            torch::Tensor()};
  }
};

// ---- pooling
// ----------------------------------------------------------------------------

struct PoolPrims {
  memory::desc src, dst;
  dnnl::pooling_forward::primitive_desc fwdPd;
  dnnl::pooling_forward fwd;
  dnnl::pooling_backward::primitive_desc bwdPd;
  dnnl::pooling_backward bwd;
};

std::map<std::string, std::shared_ptr<PoolPrims>> gPool;

std::shared_ptr<PoolPrims> poolPrims(const memory::dims &sd,
                                     dnnl::algorithm algo, int64_t k, int64_t s,
                                     int64_t pad, Dt dt) {
  const std::string key = dimsKey(sd) + std::to_string(static_cast<int>(algo)) +
                          "k" + std::to_string(k) + "s" + std::to_string(s) +
                          "p" + std::to_string(pad) + dtKey(dt);
  return cached(gPool, key, [&] {
    PoolPrims p;
    const int64_t oh = outSize(sd[2], k, s, pad),
                  ow = outSize(sd[3], k, s, pad);
    p.src = activationDesc(sd, true, dt);
    p.dst = activationDesc({sd[0], sd[1], oh, ow}, true, dt);
    const memory::dims strides{s, s}, kernel{k, k}, padL{pad, pad};
    const memory::dims padR{padRight(sd[2], oh, k, s, pad),
                            padRight(sd[3], ow, k, s, pad)};
    p.fwdPd = dnnl::pooling_forward::primitive_desc(
        dnnl::pooling_forward::desc(dnnl::prop_kind::forward_training, algo,
                                    p.src, p.dst, strides, kernel, padL, padR),
        userScratch(), cpuEngine());
    p.fwd = created(dnnl::pooling_forward(p.fwdPd));
    p.bwdPd = dnnl::pooling_backward::primitive_desc(
        dnnl::pooling_backward::desc(algo, p.src, p.dst, strides, kernel, padL,
                                     padR),
        userScratch(), cpuEngine(), p.fwdPd);
    p.bwd = created(dnnl::pooling_backward(p.bwdPd));
    return p;
  });
}

struct PoolFn : public torch::autograd::Function<PoolFn> {
  static torch::Tensor forward(AutogradContext *ctx, torch::Tensor x,
                               int64_t algo, int64_t k, int64_t s,
                               int64_t pad) {
    x = x.contiguous();
    auto p = poolPrims(logicalDims(x), static_cast<dnnl::algorithm>(algo), k, s,
                       pad, dataType(x));
    auto y = emptyBlocked(p->dst.dims(), x.options());
    std::unordered_map<int, memory> args{{DNNL_ARG_SRC, mem(p->src, x)},
                                         {DNNL_ARG_DST, mem(p->dst, y)}};
    torch::Tensor ws;
    const auto wsd = p->fwdPd.workspace_desc();
    if (wsd.get_size() > 0) {
      ws = buffer(wsd);
      args.emplace(DNNL_ARG_WORKSPACE, mem(wsd, ws));
    }
    run(p->fwd, args);
    ctx->save_for_backward({ws});
    ctx->saved_data["shape"] = x.sizes().vec();
    ctx->saved_data["key"] = std::vector<int64_t>{algo, k, s, pad};
    return y;
  }

  static variable_list backward(AutogradContext *ctx, variable_list grads) {
    const auto ws = ctx->get_saved_variables()[0];
    const auto shape = ctx->saved_data["shape"].toIntVector();
    const auto key = ctx->saved_data["key"].toIntVector();
    const memory::dims sd{shape[0], shape[1] * shape[4], shape[2], shape[3]};
    auto dy = grads[0].contiguous();
    auto p = poolPrims(sd, static_cast<dnnl::algorithm>(key[0]), key[1], key[2],
                       key[3], dataType(dy));
    auto dx = torch::empty(shape, dy.options());
    std::unordered_map<int, memory> args{{DNNL_ARG_DIFF_DST, mem(p->dst, dy)},
                                         {DNNL_ARG_DIFF_SRC, mem(p->src, dx)}};
    if (ws.defined()) {
      args.emplace(DNNL_ARG_WORKSPACE, mem(p->fwdPd.workspace_desc(), ws));
    }
    run(p->bwd, args);
    return {dx, torch::Tensor(), torch::Tensor(), torch::Tensor(),
            torch::Tensor()};
  }
};

torch::Tensor pool(const torch::Tensor &x, dnnl::algorithm algo, int64_t k,
                   int64_t s, int64_t pad) {
  TORCH_CHECK(isBlocked(x) && (x.scalar_type() == torch::kFloat || x.scalar_type() == torch::kBFloat16),
              "blocked pooling: expected a blocked fp32 or bf16 tensor");
  if (algo != dnnl::algorithm::pooling_max) {
    return PoolFn::apply(x, static_cast<int64_t>(algo), k, s, pad);
  }
  // oneDNN's max pooling skips NaN (a window of NaN and numbers gives the largest number; one of
  // only NaN gives -FLT_MAX), where torch's gives NaN: a NaN would vanish there. A one-block
  // (channels-last) tensor is an NHWC view that ATen's own channels-last kernel pools with torch's
  // semantics, nearly as fast (ResNet-18's stem pool, bf16, batch 32 at 128 px: 3.0 + 4.1 ms, the
  // backward zeroing its output first, against oneDNN's 3.0 + 3.7). A blocked fp32 tensor keeps
  // oneDNN's kernel, and a non-finite sum of the input (0.6 ms for that pool's input) sends it
  // through torch's instead.
  if (x.size(1) == 1) {
    const auto n = x.size(0), h = x.size(2), w = x.size(3), c = x.size(4);
    const auto y = torch::max_pool2d(x.reshape({n, h, w, c}).permute({0, 3, 1, 2}), k, s, pad);
    return y.permute({0, 2, 3, 1}).reshape({n, 1, y.size(2), y.size(3), c});
  }
  bool finite = true;
  {
    torch::NoGradGuard noGrad;
    finite = std::isfinite(x.sum().item<float>());
  }
  if (!finite) {
    return toBlocked(torch::max_pool2d(toPlain(x), k, s, pad));
  }
  return PoolFn::apply(x, static_cast<int64_t>(algo), k, s, pad);
}

} // namespace

int64_t primitivesCreated() { return gCreated.load(); }
void setWeightGradient(WeightGradient mode) { gWeightGradient.store(mode); }
WeightGradient weightGradient() { return gWeightGradient.load(); }
void setConvAlgorithm(ConvAlgorithm mode) { gConvAlgorithm.store(mode); }
ConvAlgorithm convAlgorithm() { return gConvAlgorithm.load(); }
void setSmallMaps(SmallMaps mode) { gSmallMaps.store(mode); }
SmallMaps smallMaps() { return gSmallMaps.load(); }
void setStem(Stem mode) { gStem.store(mode); }
Stem stem() { return gStem.load(); }
void releaseThreadScratch() { scratchSlot() = torch::Tensor(); }
int64_t threadScratchBytes() { return scratchSlot().defined() ? scratchSlot().numel() : 0; }

std::vector<std::string> implementations() {
  std::lock_guard<std::mutex> lock(gCacheMutex);
  std::vector<std::string> out;
  for (const auto &[key, p] : gConv) {
    if (p->mosaic) {
      out.push_back("convolution " + key + ": " + p->mosaic->fwdPd.impl_info_str() + " (mosaic forward)");
      out.push_back("convolution " + key + ": " + p->mosaic->bwdPd.impl_info_str() + " (mosaic input gradient)");
    } else {
      out.push_back("convolution " + key + ": " + p->fwdPd.impl_info_str());
    }
    if (p->hasBwdData && !p->mosaic) {
      out.push_back("convolution " + key + ": " + p->bwdDataPd.impl_info_str());
    }
    const bool mm = decidedMatmul(*p).value_or(false);
    out.push_back("convolution " + key + ": " +
                  (mm ? "weight gradient by matmul " + std::string(p->matmulW->pd.impl_info_str())
                      : std::string(p->bwdWPd.impl_info_str())));
  }
  for (const auto &[key, p] : gBn) {
    for (const auto &s : {p->trainPd.impl_info_str(), p->bwdPd.impl_info_str(),
                          p->inferPd.impl_info_str()}) {
      out.push_back("batch norm " + key + ": " + s);
    }
  }
  for (const auto &[key, p] : gPool) {
    for (const auto &s : {p->fwdPd.impl_info_str(), p->bwdPd.impl_info_str()}) {
      out.push_back("pooling " + key + ": " + s);
    }
  }
  return out;
}

std::vector<std::pair<int64_t, int64_t>> backwardWeightsSourceChannels() {
  std::lock_guard<std::mutex> lock(gCacheMutex);
  std::vector<std::pair<int64_t, int64_t>> out;
  for (const auto &[key, p] : gConv) {
    const auto &d = p->bwdWPd.src_desc().data;
    out.emplace_back(d.padded_dims[1], d.dims[1]);
  }
  return out;
}

namespace {
std::map<std::string, std::shared_ptr<Reorder>> gCast;

// An fp32 image batch as bf16 channels-last in one oneDNN reorder. ATen's copy into a
// 3-channel NHWC tensor runs element by element: 3 ms of a ResNet-18 bf16 step at 128 px
// (batch 32), where the reorder takes ~0.3 ms.
torch::Tensor imageToBf16ChannelsLast(const torch::Tensor &x) {
  const auto xc = x.contiguous();
  const memory::dims d = logicalDims(xc);
  const memory::desc from(d, Dt::f32, Tag::nchw), to(d, Dt::bf16, Tag::nhwc);
  const auto r = cached(gCast, dimsKey(d), [&] { return Reorder(from, to); });
  auto out = torch::empty(xc.sizes(), xc.options().dtype(torch::kBFloat16).memory_format(torch::MemoryFormat::ChannelsLast));
  run(*r->r, {{DNNL_ARG_FROM, mem(from, xc)}, {DNNL_ARG_TO, mem(to, out)}});
  return out;
}

// What space-to-depth can run (Blocked.h, Stem): a bf16 stem on a plain image that needs no
// gradient (the folded convolution has no input gradient), stride 2, a square kernel, at most
// 4 channels (folded: at most 16, one AMX block).
bool spaceToDepthShape(const torch::Tensor &x, const torch::Tensor &w, int64_t stride) {
  return !isBlocked(x) && x.dim() == 4 && !x.requires_grad() && stride == 2 && w.size(2) == w.size(3) &&
         w.size(2) >= 3 && w.size(1) <= 4;
}

// Where it pays (bench/conv_choice --choice stem, batch 32, 2 threads, forward + weight
// gradient with the image's cast): 7x7 on AMX (Sapphire Rapids: 1.4-2.0x at 28-224 px, 1 and 3
// channels); on AVX512-BF16 without AMX only a one-channel image (Zen 5: 1.16-1.21x at 64-224
// px; 3 channels 0.90-1.02x).
bool usesSpaceToDepth(const torch::Tensor &x, const torch::Tensor &w, int64_t stride) {
  const auto mode = gStem.load();
  if (mode == Stem::Direct || !spaceToDepthShape(x, w, stride)) {
    return false;
  }
  if (mode == Stem::SpaceToDepth) {
    return true;
  }
  return w.size(2) == 7 && (effectiveIsaIncludes(dnnl::cpu_isa::avx512_core_amx) ||
                            (w.size(1) == 1 && effectiveIsaIncludes(dnnl::cpu_isa::avx512_core_bf16)));
}

// y = conv(x, w, stride 2, `pad`) as a stride-1 convolution on the image folded 2x2 into
// channels. With k' = ceil(k / 2) and the image padded to 2 (oh + k' - 1) rows (`pad` above, the
// rest below: at least `pad` for an odd k; for an even k the last row may be one the direct
// convolution does not read either; likewise columns):
//   y[n, o, i, j] = sum over c, a, b < k of w[o, c, a, b] xpad[n, c, 2i + a, 2j + b]
//                 = sum over (dy, dx, c), a', b' < k' of ws[o, (dy, dx, c), a', b'] xs[n, (dy, dx, c), i + a', j + b']
// where a = 2a' + dy, xs[n, (dy, dx, c), i, j] = xpad[n, c, 2i + dy, 2j + dx], and ws is w
// zero-padded to 2k' taps, folded the same way. The folding of the weights is torch ops, so
// autograd maps the folded weight gradient back (the padding taps' gradients are dropped).
torch::Tensor spaceToDepthConv(const torch::Tensor &x, const torch::Tensor &w, int64_t pad) {
  const int64_t n = x.size(0), c = x.size(1), h = x.size(2), wd = x.size(3), o = w.size(0), k = w.size(2);
  const int64_t kk = (k + 1) / 2, oh = outSize(h, k, 2, pad), ow = outSize(wd, k, 2, pad);
  const int64_t hs = oh + kk - 1, ws = ow + kk - 1; // the folded image's rows and columns
  // The image cast to bf16 and written straight into its folded place, by four oneDNN reorders
  // (ATen's strided copies took 2.5 ms more a step at 128 px): per (dy, dx), the image's rows and columns
  // of that parity, read with stride 2, into channels (dy, dx, .) of every folded pixel. What
  // falls in the padding stays zero.
  const auto xc = x.contiguous();
  auto folded = torch::zeros({n, hs, ws, 2, 2, c}, x.options().dtype(torch::kBFloat16));
  const auto span = [pad](int64_t parity, int64_t size, int64_t limit) {
    // i in [i0, i1): 0 <= 2i + parity - pad < size, i < limit
    const int64_t i0 = pad > parity ? (pad - parity + 1) / 2 : 0;
    const int64_t i1 = std::min(limit, (size + pad - parity + 1) / 2);
    return std::make_pair(i0, i1);
  };
  const Dt from = dataType(xc);
  const auto elem = [](const torch::Tensor &t, int64_t offset) {
    return static_cast<char *>(t.data_ptr()) + offset * static_cast<int64_t>(t.element_size());
  };
  for (int64_t dy = 0; dy < 2; ++dy) {
    for (int64_t dx = 0; dx < 2; ++dx) {
      const auto [i0, i1] = span(dy, h, hs);
      const auto [j0, j1] = span(dx, wd, ws);
      if (i1 <= i0 || j1 <= j0) {
        continue;
      }
      const int64_t r0 = 2 * i0 + dy - pad, c0 = 2 * j0 + dx - pad;
      const auto copyWithAten = [&] {
        folded.select(3, dy).select(3, dx).narrow(1, i0, i1 - i0).narrow(2, j0, j1 - j0).copy_(
            xc.slice(2, r0, r0 + 2 * (i1 - i0) - 1, 2).slice(3, c0, c0 + 2 * (j1 - j0) - 1, 2).permute({0, 2, 3, 1}));
      };
      if (2 * (i1 - i0) > h) {
        // An odd image's rows of this parity, one more than half: oneDNN 2.6 takes a view whose
        // rows span more than the channel's stride for overlapping, and refuses it.
        copyWithAten();
        continue;
      }
      const memory::dims d{n, c, i1 - i0, j1 - j0};
      const memory::desc src(d, from, memory::dims{c * h * wd, h * wd, 2 * wd, 2});
      const memory::desc dst(d, Dt::bf16, memory::dims{hs * ws * 4 * c, 1, ws * 4 * c, 4 * c});
      const auto r = cached(gCast, "fold" + dimsKey(d) + dimsKey({h, wd, hs, ws}) + dtKey(from),
                            [&] { return Reorder(src, dst); });
      if (!r->r) {
        // bf16 in, and descriptors oneDNN calls equal (it ignores the strides of size-1 dimensions:
        // one image, one channel, one row and column), so no reorder was made: still a copy.
        copyWithAten();
        continue;
      }
      run(*r->r, {{DNNL_ARG_FROM, memory(src, cpuEngine(), elem(xc, r0 * wd + c0))},
                  {DNNL_ARG_TO, memory(dst, cpuEngine(), elem(folded, (i0 * ws + j0) * 4 * c + (2 * dy + dx) * c))}});
    }
  }
  const auto xs = folded.view({n, hs, ws, 4 * c}).permute({0, 3, 1, 2}); // NCHW dims, channels-last memory
  const auto wsFolded = torch::constant_pad_nd(w, {0, 2 * kk - k, 0, 2 * kk - k})
                            .view({o, c, kk, 2, kk, 2})
                            .permute({0, 3, 5, 1, 2, 4})
                            .reshape({o, 4 * c, kk, kk});
  return ConvFn::apply(xs, wsFolded, 1, 0);
}
}  // namespace

torch::Tensor conv2d(const torch::Tensor &xIn, const torch::Tensor &w,
                     int64_t stride, int64_t padding) {
  // Under bf16 autocast (mixed precision on an AVX512-BF16/AMX CPU) the convolution runs in
  // bf16 as autocast's own conv2d would: the image is cast once at the stem, every later
  // activation is bf16 already; the weights stay fp32 (cast by the packing reorder).
  const bool bf16 = compat::isAutocastEnabled(c10::DeviceType::CPU) &&
                    compat::autocastDtype(c10::DeviceType::CPU) == torch::kBFloat16;
  TORCH_CHECK((xIn.scalar_type() == torch::kFloat || xIn.scalar_type() == torch::kBFloat16) &&
                  w.scalar_type() == torch::kFloat && xIn.device().is_cpu(),
              "blocked convolution: fp32 weights and fp32 or bf16 CPU activations only");
  TORCH_CHECK(w.dim() == 4 && w.size(0) % blockSize() == 0,
              "blocked convolution: output channels must be a multiple of ",
              blockSize());
  const bool cast = bf16 && xIn.scalar_type() == torch::kFloat;
  if ((cast || xIn.scalar_type() == torch::kBFloat16) && usesSpaceToDepth(xIn, w, stride)) {
    return spaceToDepthConv(xIn, w, padding); // folds (and casts) the image itself
  }
  torch::Tensor x = xIn;
  if (cast) {
    // One copy: bf16 and channels-last (the layout the primitive reads a plain bf16 input in).
    // An fp32 blocked tensor (nChw8c/16c) is not a bf16 one's [N, 1, H, W, C]: re-block it.
    // An image without gradient (the stem's input) takes one oneDNN reorder.
    x = isBlocked(xIn)          ? toBlocked(toPlain(xIn).to(torch::kBFloat16))
        : !xIn.requires_grad() && xIn.dim() == 4
                                ? imageToBf16ChannelsLast(xIn)
                                : xIn.to(xIn.options().dtype(torch::kBFloat16), false, false,
                                         torch::MemoryFormat::ChannelsLast);
  }
  return ConvFn::apply(x, w, stride, padding);
}

std::vector<torch::Tensor> weightsRoundTrip(const torch::Tensor &x, const torch::Tensor &w, int64_t stride,
                                            int64_t padding) {
  const auto wc = plainWeights(w);
  auto p = convPrims(x.contiguous(), wc, stride, padding);
  // `packed` (in `from`) read back into the fp32 OIHW layout `to`.
  const auto unpack = [](const memory::desc &from, const torch::Tensor &packed, const memory::desc &to) {
    auto out = torch::empty(to.dims(), packed.options().dtype(torch::kFloat));
    const Reorder back(from, to);
    if (!back.r) { // the same fp32 layout: `packed` holds it (as floats, or a byte buffer)
      std::memcpy(out.data_ptr(), packed.data_ptr(), to.get_size());
      return out;
    }
    run(*back.r, {{DNNL_ARG_FROM, mem(from, packed)}, {DNNL_ARG_TO, mem(to, out)}});
    return out;
  };
  const memory::desc oihw(p->userW.dims(), Dt::f32, Tag::oihw);
  std::vector<torch::Tensor> out;
  if (p->mosaic) {
    const auto &m = *p->mosaic;
    const auto &fd = m.fwdPd.weights_desc(), &bd = m.bwdPd.weights_desc();
    const auto packed = inLayout(m.wToFwd, p->userW, fd, wc);
    out.push_back(unpack(fd, packed, oihw));
    const auto wd = p->userW.dims();
    const memory::desc plainT({wd[1], wd[0], wd[2], wd[3]}, Dt::f32, Tag::oihw);
    out.push_back(unpack(bd, inLayout(m.wToBwd, m.packedT, bd, packed), plainT).transpose(0, 1).contiguous());
    return out;
  }
  const auto &fd = p->fwdPd.weights_desc();
  const auto packed = inLayout(p->wToFwd, p->userW, fd, wc);
  out.push_back(unpack(fd, packed, oihw));
  if (p->hasBwdData && p->wToBwd.r) {
    const auto &bd = p->bwdDataPd.weights_desc();
    out.push_back(unpack(bd, inLayout(p->wToBwd, fd, bd, packed), oihw));
  }
  return out;
}

namespace {
torch::Tensor batchNormImpl(const torch::Tensor &x, torch::nn::BatchNorm2dImpl &bn,
                            bool relu) {
  TORCH_CHECK(isBlocked(x) && (x.scalar_type() == torch::kFloat || x.scalar_type() == torch::kBFloat16),
              "blocked batch norm: expected a blocked fp32 or bf16 tensor");
  const auto &o = bn.options;
  const double eps = o.eps();
  const int64_t c = x.size(1) * x.size(4);
  if (bn.is_training() && nonFiniteChannels(c, {bn.weight.detach(), bn.bias.detach()}).defined()) {
    // A non-finite scale or shift (a diverged update): torch's own layer on the plain tensor gives
    // its NaN, inf and 0 element by element, forward and backward, where the fused ReLU would not.
    const auto y = bn.forward(toPlain(x).to(torch::kFloat));
    return toBlocked((relu ? y.relu() : y).to(x.scalar_type()));
  }
  if (bn.is_training()) {
    // Statistics are fp32 in either data type (oneDNN computes them in fp32).
    auto mean = torch::empty({c}, x.options().dtype(torch::kFloat));
    auto var = torch::empty({c}, x.options().dtype(torch::kFloat));
    auto y = BnTrainFn::apply(x, bn.weight, bn.bias, eps, relu, mean, var);
    // As torch's BatchNorm: running stats move by `momentum` (a cumulative
    // average when it is unset) towards the batch mean and the unbiased batch
    // variance.
    torch::NoGradGuard noGrad;
    bn.num_batches_tracked.add_(1);
    const double m = o.momentum() ? *o.momentum()
                                  : 1.0 / bn.num_batches_tracked.item<double>();
    const double n = static_cast<double>(x.numel() / c);
    bn.running_mean.mul_(1.0 - m).add_(mean, m);
    bn.running_var.mul_(1.0 - m).add_(var, m * n / std::max(1.0, n - 1.0));
    return y;
  }
  const bool needsGrad = torch::GradMode::is_enabled() &&
                         (x.requires_grad() || bn.weight.requires_grad() ||
                          bn.bias.requires_grad());
  if (needsGrad) {
    // Evaluation with gradients (rare: an eval-mode backward): the same affine
    // map in torch ops.
    const int64_t b = x.size(4);
    auto scale = bn.weight * torch::rsqrt(bn.running_var + eps);
    auto shift = bn.bias - bn.running_mean * scale;
    auto y = (x * scale.view({1, c / b, 1, 1, b}) +
              shift.view({1, c / b, 1, 1, b})).to(x.scalar_type());
    return relu ? y.relu() : y;
  }
  // Unfused here: a NaN in a single position (or in the running statistics) cannot be told from
  // C values, and oneDNN's fused ReLU would turn it into 0. torch's ReLU after it keeps NaN; an
  // extra pass only when evaluating.
  auto p = bnPrims(logicalDims(x), static_cast<float>(eps), false, dataType(x));
  auto xc = x.contiguous();
  auto y = torch::empty_like(xc);
  auto w = bn.weight.detach().contiguous(), sh = bn.bias.detach().contiguous();
  auto rm = bn.running_mean.contiguous(), rv = bn.running_var.contiguous();
  run(p->infer,
                   {{DNNL_ARG_SRC, mem(p->data, xc)},
                    {DNNL_ARG_SCALE, mem(p->channels, w)},
                    {DNNL_ARG_SHIFT, mem(p->channels, sh)},
                    {DNNL_ARG_MEAN, mem(p->inferPd.mean_desc(), rm)},
                    {DNNL_ARG_VARIANCE, mem(p->inferPd.variance_desc(), rv)},
                    {DNNL_ARG_DST, mem(p->data, y)}});
  return relu ? y.relu_() : y;
}
} // namespace

torch::Tensor batchNorm(const torch::Tensor &x,
                        torch::nn::BatchNorm2dImpl &bn) {
  return batchNormImpl(x, bn, false);
}

torch::Tensor batchNormRelu(const torch::Tensor &x,
                            torch::nn::BatchNorm2dImpl &bn) {
  return batchNormImpl(x, bn, true);
}

torch::Tensor maxPool2d(const torch::Tensor &x, int64_t kernel, int64_t stride,
                        int64_t padding) {
  return pool(x, dnnl::algorithm::pooling_max, kernel, stride, padding);
}

torch::Tensor avgPool2d(const torch::Tensor &x, int64_t kernel, int64_t stride,
                        int64_t padding) {
  return pool(x, dnnl::algorithm::pooling_avg_include_padding, kernel, stride,
              padding);
}

void clearPrimitiveCaches() {
  std::lock_guard<std::mutex> lock(gCacheMutex);
  gConv.clear();
  gBn.clear();
  gPool.clear();
  gCast.clear();
}

#endif

} // namespace ampbench::blocked
