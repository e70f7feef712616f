#pragma once
// The Precision tab's widget-free half: which tensors the histogram can show, the "all
// layers" sum, the per-layer bar rows, the FP16 / BF16 range boundaries on the log2|x|
// axis, and the captions that name the problem and the fix in plain words with this
// run's numbers. Unit-tested without a window (PrecisionTabTest).

#include "ui/QtTypes.h"

#include <QString>
#include <QVector>

namespace ampbench::ui {

// FP16 on the log2|x| axis: |x| <= 2^-25 rounds to zero, 2^-24..2^-14 is subnormal,
// the largest finite value is 65504 and |x| >= 65520 rounds to inf.
constexpr double kFp16FlushLog2 = -25.0;
constexpr double kFp16MinNormalLog2 = -14.0;
double fp16MaxLog2();       // log2(65504)
double fp16OverflowLog2();  // log2(65520)
// BF16 keeps FP32's exponent: subnormal below 2^-126, far left of the plotted -40.
constexpr int kBf16MinNormalExp = -126;

// What the run does, for the wording of the captions and which lost-update share counts.
struct PrecisionContext {
  bool bf16 = false;         // the run computes in bfloat16
  bool lossScaling = false;  // a dynamic loss scaler multiplies the loss
};

// From a run's resolved precision (live), or its config.json (reopened).
PrecisionContext contextFor(const ampbench::PrecisionInfo& info);
PrecisionContext contextFor(const ampbench::RunConfig& config);
struct RunHistory;
PrecisionContext contextFor(const RunHistory& history);  // config.json, else steps.csv's loss scales

bool isGradientKind(const std::string& kind);  // weight_grad, activation_grad
// Indices of the gradient tensors in `e`, in network order.
QVector<int> gradientTensors(const ampbench::PrecisionStatsEvent& e);
// The weight gradients summed into one tensor (counts and histograms added, shares
// weighted by count); all gradient tensors when the sample has no weight gradients.
ampbench::TensorPrecisionStats allLayers(const ampbench::PrecisionStatsEvent& e);
// "layer4.1.conv2.weight" for a weight gradient, "layer4.1 (activation gradient)" else.
QString tensorLabel(const ampbench::TensorPrecisionStats& t);
// Histogram bins as percent of the tensor's values (zeros, inf and NaN included in the total).
QVector<double> binPercent(const ampbench::Log2Histogram& h);
int64_t histogramTotal(const ampbench::Log2Histogram& h);

// One layer of the bar chart: FP16 underflow of its weight gradient (unscaled, scaled)
// and the share of its update lost to rounding (FP16, or BF16 in a BF16 run).
struct LayerBarRow {
  QString layer;
  double underflow = 0.0;
  double underflowScaled = 0.0;
  double lostUpdates = 0.0;
  bool hasGradient = false;
  bool hasUpdate = false;
};
QVector<LayerBarRow> layerBars(const ampbench::PrecisionStatsEvent& e, bool bf16);

// 0.38 -> "38 %", 0.002 -> "0.2 %", 0 -> "0 %", below 0.001 % -> "< 0.001 %".
QString sharePercent(double share);

namespace captions {
// The empty tab: how to get statistics.
QString noStatistics();
// (a) what FP16 does to one tensor's gradients and what the loss scale does about it.
QString histogram(const ampbench::TensorPrecisionStats& t, const QString& label, int64_t step, double lossScale,
                  const PrecisionContext& c);
// (b) the worst layer for underflow and for lost updates.
QString layers(const QVector<LayerBarRow>& rows, int64_t step, double lossScale, const PrecisionContext& c);
// (c) the latest overflow and which layers overflow first most often.
QString overflows(const QVector<ampbench::OverflowAttribution>& list, const PrecisionContext& c);
}  // namespace captions

}  // namespace ampbench::ui
