#include "engine/dist/SyncBatchNorm.h"

#include "engine/dist/ProcessGroup.h"

#include <torch/torch.h>

#include <stdexcept>

namespace ampbench::dist {

namespace {

using torch::autograd::AutogradContext;
using torch::autograd::variable_list;

const std::vector<int64_t> kReduce{0, 2, 3};  // every axis but the channel

torch::Tensor perChannel(const torch::Tensor& v) { return v.view({1, -1, 1, 1}); }

// The normalisation with fixed statistics, in torch's fused inference kernel on x - hi with
// lo as the mean: no cancellation, as x - hi and lo are both small. The step's forward and
// its replays share it.
torch::Tensor normalise(const torch::Tensor& x, const torch::Tensor& weight, const torch::Tensor& bias,
                        const SyncBatchNorm::Stats& s, double eps) {
  return torch::batch_norm(x.to(torch::kFloat) - perChannel(s.hi), weight.to(torch::kFloat), bias.to(torch::kFloat),
                           s.lo, s.var, /*training=*/false, 0.0, eps, /*cudnn_enabled=*/true)
      .to(x.scalar_type());
}

struct SyncBatchNormFunction : torch::autograd::Function<SyncBatchNormFunction> {
  static torch::Tensor forward(AutogradContext* ctx, const torch::Tensor& x, const torch::Tensor& weight,
                               const torch::Tensor& bias, torch::Tensor runningMean, torch::Tensor runningVar,
                               double momentum, double eps, SyncBatchNorm::Stats* keep) {
    // Statistics in fp32 with double accumulation (var_mean's Welford) whatever the
    // activations' dtype (bf16 under autocast). The mean is kept as a float pair hi + lo:
    // x - hi is exact for x near the mean, so a channel whose mean is large against its
    // spread keeps its precision (one float mean, or x * scale + (bias - mean * scale),
    // loses it: measured in DistributedTest).
    const auto xf = x.to(torch::kFloat);
    const int64_t channels = x.size(1);
    const double count = static_cast<double>(x.numel() / std::max<int64_t>(1, channels));
    auto [varLocal, hiLocal] = torch::var_mean(xf, kReduce, /*unbiased=*/false);
    const auto loLocal = (xf - perChannel(hiLocal)).mean(kReduce);
    const auto mine = torch::cat({hiLocal.to(torch::kDouble) + loLocal.to(torch::kDouble), varLocal.to(torch::kDouble),
                                  torch::full({1}, count, torch::kDouble)});
    // Per-rank mean and variance, combined here (Chan's parallel formula, in rank order, so
    // every rank computes the same statistics bit for bit).
    const auto all = allGather(mine.cpu(), "the synchronised batch norm's statistics all-gather");
    const auto counts = all.select(1, 2 * channels).unsqueeze(1);
    const double total = counts.sum().item<double>();
    if (total <= 1.0) {
      throw std::invalid_argument("batch norm needs more than one value per channel over all ranks to train");
    }
    // A rank without values (count 0: mean and variance NaN) adds nothing.
    const auto means = all.narrow(1, 0, channels).nan_to_num(0.0), vars = all.narrow(1, channels, channels).nan_to_num(0.0);
    const auto mean = (means * counts).sum(0) / total;
    const auto var = ((vars + (means - mean).pow(2)) * counts).sum(0) / total;
    const auto device = x.device();
    const auto hi = mean.to(torch::kFloat);
    const auto lo = (mean - hi.to(torch::kDouble)).to(torch::kFloat).to(device);
    const auto varF = var.to(torch::kFloat).to(device);
    {
      torch::NoGradGuard noGrad;
      runningMean.mul_(1.0 - momentum).add_(mean.to(runningMean.dtype()).to(device), momentum);
      runningVar.mul_(1.0 - momentum).add_((var * (total / (total - 1.0))).to(runningVar.dtype()).to(device), momentum);
    }
    *keep = {hi.to(device), lo, varF};
    ctx->save_for_backward({x, weight, keep->hi, lo, (var + eps).rsqrt().to(torch::kFloat).to(device)});
    ctx->saved_data["total"] = total;
    return normalise(x, weight, bias, *keep, eps);
  }

  static variable_list backward(AutogradContext* ctx, variable_list gradOutputs) {
    const auto saved = ctx->get_saved_variables();
    const auto& x = saved[0];
    const auto& weight = saved[1];
    const auto& hi = saved[2];
    const auto& lo = saved[3];
    const auto& invstd = saved[4];
    const double total = ctx->saved_data["total"].toDouble();
    const int64_t channels = x.size(1);
    const auto dy = gradOutputs[0].to(torch::kFloat);
    const auto xc = x.to(torch::kFloat) - perChannel(hi);  // x - mean = xc - lo
    const auto sumDy = dy.sum(kReduce);
    // sum(dy * xhat) = invstd * (sum(dy * xc) - lo * sum(dy))
    const auto sumDyXhat = invstd * ((dy * xc).sum(kReduce) - lo * sumDy);
    // The input's gradient needs the sums over every rank's images (their outputs depend on
    // this rank's inputs through the shared statistics). Each rank's dy is the gradient of
    // its own mean loss, so these are sums; the gradient all-reduce then averages.
    auto sums = torch::cat({sumDy, sumDyXhat}).to(torch::kDouble).cpu();
    allReduceSum(sums, "the synchronised batch norm's gradient all-reduce");
    const auto meanDy = (sums.narrow(0, 0, channels) / total).to(torch::kFloat).to(x.device());
    const auto meanDyXhat = (sums.narrow(0, channels, channels) / total).to(torch::kFloat).to(x.device());
    // dx = k (dy - meanDy - xhat meanDyXhat), k = invstd w, xhat = (xc - lo) invstd, as
    // dy a + xc b + c per channel: three passes over the activations.
    const auto k = invstd * weight.to(torch::kFloat);
    const auto b = -k * invstd * meanDyXhat;
    const auto c = -k * meanDy - b * lo;
    auto dx = dy * perChannel(k);
    dx.addcmul_(xc, perChannel(b)).add_(perChannel(c));
    return {dx.to(x.scalar_type()), sumDyXhat.to(weight.scalar_type()), sumDy.to(weight.scalar_type()),
            torch::Tensor(), torch::Tensor(), torch::Tensor(), torch::Tensor(), torch::Tensor()};
  }
};

}  // namespace

torch::Tensor SyncBatchNorm::forward(torch::nn::BatchNorm2dImpl& bn, const torch::Tensor& x, bool armed) {
  if (!bn.is_training()) {
    return bn.forward(x);
  }
  if (!armed) {
    const auto it = last_.find(&bn);
    return it == last_.end() ? bn.forward(x) : normalise(x, bn.weight, bn.bias, it->second, bn.options.eps());
  }
  const auto& o = bn.options;
  if (!o.affine() || !o.track_running_stats()) {
    throw std::logic_error("SyncBatchNorm: the registry's batch norms are affine with running statistics");
  }
  double momentum = o.momentum().value_or(0.0);
  {
    torch::NoGradGuard noGrad;
    bn.num_batches_tracked += 1;
    if (!o.momentum()) {  // a cumulative average, as in torch.nn.BatchNorm
      momentum = 1.0 / static_cast<double>(bn.num_batches_tracked.item<int64_t>());
    }
  }
  return SyncBatchNormFunction::apply(x, bn.weight, bn.bias, bn.running_mean, bn.running_var, momentum, o.eps(),
                                      &last_[&bn]);
}

}  // namespace ampbench::dist
