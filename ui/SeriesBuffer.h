#pragma once
// A bounded plot series: the newest points at full resolution, older ones decimated.
// Points arrive in key order. The newest capacity/2 points are kept as they came; points
// that fall out of that window are merged into a history at a uniform stride (averaged,
// or every stride-th kept), and when the history is full it is halved 2:1 and the stride
// doubles. Memory and drawing cost stay bounded however long the run is (100k steps and
// more), and every history point stands for the same number of steps.

#include <QVector>

#include <deque>
#include <utility>

namespace ampbench::ui {

class SeriesBuffer {
 public:
  enum class Decimation { Average = 1, Keep };

  explicit SeriesBuffer(int capacity = 4000, Decimation decimation = Decimation::Average);

  void append(double key, double value);
  void clear();

  int size() const { return static_cast<int>(history_.size() + recent_.size()); }
  int capacity() const { return capacity_; }
  // All points in key order (history, then the recent window).
  const QVector<double>& keys() const;
  const QVector<double>& values() const;
  // Total points ever appended (before decimation), and the history's current stride.
  long long appended() const { return appended_; }
  int stride() const { return stride_; }

  // True once after each change: the plot copies the data only when it changed.
  bool takeDirty();

 private:
  void pushHistory(double key, double value);
  void rebuild() const;

  int capacity_;
  Decimation decimation_;
  std::deque<std::pair<double, double>> recent_;
  std::vector<std::pair<double, double>> history_;
  int stride_ = 1;
  int pending_ = 0;  // points merged into the accumulator so far
  double sumKey_ = 0.0;
  double sumValue_ = 0.0;
  long long appended_ = 0;
  bool dirty_ = false;
  mutable bool cacheValid_ = false;
  mutable QVector<double> keys_;
  mutable QVector<double> values_;
};

}  // namespace ampbench::ui
