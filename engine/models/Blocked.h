#pragma once
// The blocked-layout execution path (--memory-format blocked): fp32 activations travel between
// layers in oneDNN's nChw8c (AVX2) or nChw16c (AVX-512) layout, physically a contiguous 5-D
// tensor [N, C/B, H, W, B], so element-wise torch ops (ReLU, the residual add, the FP16/BF16
// emulation's rounding) work on it unchanged. Under bf16 autocast (a CPU with bf16 units) the
// activations are bf16 and channels-last, the layout oneDNN's AMX kernels use: the same 5-D
// form with one block of all channels, [N, 1, H, W, C]; the weights stay fp32. Convolution,
// batch norm and pooling run as oneDNN primitives on the tensors' memory, wrapped as autograd
// functions; primitives are created once per shape and cached. Weights stay plain torch parameters and are reordered
// into the primitive's weight format on every forward (the optimizer, checkpoints, export
// and the GUI never see a blocked tensor). Engine-internal (torch).

#include <torch/nn/module.h>
#include <torch/types.h>

#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace torch::nn {
class BatchNorm2dImpl;
}

namespace ampbench::blocked {

// Whether this build drives oneDNN (libdnnl-dev was found); without it every call throws.
bool available();
// Channels per block: 16 where oneDNN runs AVX-512 kernels, 8 otherwise.
int64_t blockSize();
// A blocked activation is the only 5-D tensor the models carry.
inline bool isBlocked(const torch::Tensor& x) { return x.defined() && x.dim() == 5; }

// NCHW (any strides; C a multiple of blockSize()) <-> [N, C/B, H, W, B] (B = C for bf16);
// exact copies, differentiable.
torch::Tensor toBlocked(const torch::Tensor& x);
torch::Tensor toPlain(const torch::Tensor& x);

// y = conv(x, w): `x` blocked, or plain NCHW for a stem whose input channels are not a
// multiple of the block; `w` plain [O, I, kh, kw] (O a multiple of the block); no bias,
// groups or dilation. Returns blocked.
torch::Tensor conv2d(const torch::Tensor& x, const torch::Tensor& w, int64_t stride, int64_t padding);
// Batch norm of a blocked tensor with torch's semantics: in training the batch statistics
// normalise and the running statistics are updated (momentum, unbiased variance,
// num_batches_tracked); otherwise the running statistics normalise.
torch::Tensor batchNorm(const torch::Tensor& x, torch::nn::BatchNorm2dImpl& bn);
// relu(batchNorm(x, bn)): in training one oneDNN primitive forward and backward (fuse_norm_relu),
// in evaluation the batch norm and torch's ReLU. NaN and inf come out as from torch's ops (oneDNN's
// fused ReLU alone would turn NaN into 0).
torch::Tensor batchNormRelu(const torch::Tensor& x, torch::nn::BatchNorm2dImpl& bn);
// torch::max_pool2d / avg_pool2d (count_include_pad, floor mode) of a blocked tensor, NaN kept as
// torch keeps it (oneDNN's max pooling skips NaN: it is not used where a NaN could be dropped).
torch::Tensor maxPool2d(const torch::Tensor& x, int64_t kernel, int64_t stride, int64_t padding);
torch::Tensor avgPool2d(const torch::Tensor& x, int64_t kernel, int64_t stride, int64_t padding);

// `w` reordered into each layout its convolution (for input `x`) packs it into, and back to plain
// OIHW: the forward's (the mosaic's where that runs), the input gradient's where it has its own,
// and the mosaic's transposed one (read back as [I, O, kh, kw] and transposed). Each must equal
// `w` exactly (rounded to bf16 under bf16 autocast): the round trips every step relies on. For
// the tests.
std::vector<torch::Tensor> weightsRoundTrip(const torch::Tensor& x, const torch::Tensor& w, int64_t stride,
                                            int64_t padding);

// How a convolution's weight gradient is computed. oneDNN 2.6's direct backward-weights kernels
// are slow on small maps with many channels: ResNet-18's 512-channel 4x4 layer at 128 px takes
// 10.5 ms on AMX (bf16), where oneDNN's matmul over the input's columns (im2col) takes 3.7 ms.
// Auto (the default): the matmul where it measured faster on this CPU's kind (a fixed rule by
// data type, ISA, kernel, stride and map size; Blocked.cpp), so a run and its resumption
// compute the same bits. Tuned times both on the first backward of each shape (to find the
// rule on a new CPU; not reproducible across processes). Direct and Matmul force one (tests,
// bench/). AMPBENCH_WEIGHT_GRADIENT=auto|tuned|direct|matmul sets the starting mode.
enum class WeightGradient { Auto, Tuned, Direct, Matmul };
void setWeightGradient(WeightGradient mode);
WeightGradient weightGradient();
const char* toString(WeightGradient mode);

// Which algorithm an fp32 3x3 stride-1 convolution runs. oneDNN 2.6 has Winograd F(4x4, 3x3)
// kernels for AVX-512 (jit_wino_4x3) for forward, backward-data and backward-weights: 4x fewer
// multiplications, 1.3-2.3x faster than its direct kernels on ResNet-18's maps of 8x8 and more
// (bench/conv_choice), with results within ~2e-6 relative of the direct kernels' (fp32 rounding
// differences are ~1e-7-1e-6). PyTorch's CPU convolutions always run the direct algorithm.
// Auto (the default): Winograd where it measured faster (a fixed rule by ISA, channels, map size
// and batch; Blocked.cpp), direct elsewhere and on every other CPU and data type: a rule, not a
// timing per process, so that a run and its resumption compute the same bits. Direct and Winograd
// force one (Winograd still only where oneDNN has the kernel). AMPBENCH_CONV_ALGORITHM=
// auto|direct|winograd sets the starting mode.
enum class ConvAlgorithm { Auto, Direct, Winograd };
void setConvAlgorithm(ConvAlgorithm mode);
ConvAlgorithm convAlgorithm();
const char* toString(ConvAlgorithm mode);

// How a 3x3 stride-1 convolution on a small map runs. oneDNN 2.6's AMX kernels are slow on
// small maps with many channels: they tile over the output's width, and at 4x4 most of
// each tile is empty (ResNet-18's 512-channel layer at 128 px, batch 32: 4.3 ms forward and
// 4.6 ms input gradient on Sapphire Rapids, against 1.0 ms for the same work at 8x8). Mosaic
// lays the batch out as a few large images, each image a tile followed by one zero row and
// column (that zero stands for both neighbours' padding), runs one convolution over them and
// cuts the tiles out again; the input gradient runs as a forward convolution too (of the
// flipped output gradient with the transposed weights: oneDNN's forward kernels are the fast
// ones). The weight gradient is computed as before. Auto (the default): the mosaic for bf16 on
// AMX with 512 channels on maps up to 7x7, batches of 8 and more (1.2-2.1x; bench/conv_choice,
// BENCHMARKS.md "session 18"; a fixed rule, so a run and its resumption compute the same bits),
// direct elsewhere.
// Mosaic forces it wherever the shape allows (fp32 too: the tests), Direct never.
// AMPBENCH_SMALL_MAPS=auto|direct|mosaic sets the starting mode.
enum class SmallMaps { Auto, Direct, Mosaic };
void setSmallMaps(SmallMaps mode);
SmallMaps smallMaps();
const char* toString(SmallMaps mode);

// How a bf16 stem runs (on AMX; see Auto below for AVX512-BF16 without it): a 7x7 stride-2
// convolution of the image (1 or 3 channels).
// oneDNN 2.6's AMX kernels pad the input channels to a block of 16, so such a stem's weight
// gradient does 5-16x the work: 6.2-6.4 ms of a ResNet-18 step at 128 px, batch 32, on Sapphire
// Rapids. SpaceToDepth folds each 2x2 patch of the padded image into channels (3 -> 12, 1 -> 4)
// and the weights likewise (zero-padded to 8x8), and runs the same products as a 4x4 stride-1
// convolution. Forward and weight gradient with the image's cast, batch 32, 2 threads
// (bench/conv_choice --choice stem; BENCHMARKS.md, "session 20"): 3 channels 8.8 -> 6.1 ms at
// 128 px, 3.4 -> 1.9 at 64, 31.6 -> 21.7 at 224; 1 channel 8.0 -> 4.3 at 128 px. The sums run in
// another order: the outputs differ from the direct stem's within bf16 rounding, the weight
// gradients within fp32's. Auto (the default): SpaceToDepth for a 7x7 stem in bf16 on AMX, or of
// a one-channel image on AVX512-BF16 without AMX (Zen 5: 1.16-1.21x; 3 channels gain nothing
// there), when the image needs no gradient (a fixed rule, so a run and its resumption compute
// the same bits); Direct elsewhere. SpaceToDepth forces it wherever the shape allows (bf16, stride 2, a square
// kernel of 3 or more, up to 4 channels, no input gradient): the tests.
// AMPBENCH_STEM=auto|direct|space-to-depth sets the starting mode.
enum class Stem { Auto, Direct, SpaceToDepth };
void setStem(Stem mode);
Stem stem();
const char* toString(Stem mode);

// oneDNN's scratch memory is one buffer per thread, grown to the largest primitive's need
// (Winograd's transforms: tens of MB). The end of a run frees the calling thread's, so a GUI that
// stays open does not keep it; the bytes held, for the tests.
void releaseThreadScratch();
int64_t threadScratchBytes();

// oneDNN primitives (and reorders) created so far in this process: a second step of the
// same shapes adds none.
int64_t primitivesCreated();

// Drops every cached primitive, so the next call of each shape creates (and decides the rule
// for) it anew: the tests that check which way a new shape takes, also when repeated in one process
// (--gtest_repeat). A call in progress keeps the primitives it holds.
void clearPrimitiveCaches();

// oneDNN's implementation of every cached convolution, batch-norm and pooling primitive
// ("jit:avx2", "x64:gemm:jit", ...): the tests check that none is the reference kernel.
std::vector<std::string> implementations();

// For every cached convolution, the channels its backward-weights primitive reads the
// source with (padded to oneDNN's block) and the source's real channels: a one-channel
// stem padded to a full block does 8x the work. For the tests.
std::vector<std::pair<int64_t, int64_t>> backwardWeightsSourceChannels();

// The first layer of `model` (its module path) the blocked path cannot run, or nothing.
std::optional<std::string> unsupportedLayer(const torch::nn::Module& model);

}  // namespace ampbench::blocked
