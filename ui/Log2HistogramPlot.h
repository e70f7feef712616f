#pragma once
// One tensor's log2|x| histogram on a fixed -40..20 axis, with FP16's ranges shaded
// (flushed to zero, subnormal, normal, overflow) in Okabe-Ito colours, BF16's range as a
// strip on top in a BF16 run, and a second curve for the same values times the loss
// scale, so the shift the scaler makes is visible. The legend sits under the axes.

#include "ui/PlotView.h"
#include "ui/QtTypes.h"

namespace ampbench::ui {

class Log2HistogramPlot : public PlotView {
  Q_OBJECT

 public:
  explicit Log2HistogramPlot(QWidget* parent = nullptr);

  // Draws `t`: the unscaled histogram, and the scaled one when lossScale > 1.
  void showTensor(const ampbench::TensorPrecisionStats& t, double lossScale, bool bf16);
  void clearData();

  QCPGraph* unscaledGraph() const { return unscaled_; }
  QCPGraph* scaledGraph() const { return scaled_; }
  bool bf16RangeVisible() const;
  QString offAxisNote() const;

 private:
  QCPItemRect* addRegion(double from, double to, const QColor& color, const QString& name);
  void setBf16(bool bf16);

  QCPGraph* unscaled_ = nullptr;
  QCPGraph* scaled_ = nullptr;
  QCPItemRect* bf16Strip_ = nullptr;
  QCPBars* bf16Legend_ = nullptr;
  QCPItemText* bf16Note_ = nullptr;
  QCPItemText* offAxis_ = nullptr;
};

}  // namespace ampbench::ui
