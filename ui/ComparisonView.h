#pragma once
// FP32 vs mixed, side by side: overlaid curves in one colour per mode (loss, accuracy,
// time per epoch), a summary table with the differences highlighted, and a one-sentence
// verdict. Filled from the engine's ComparisonSummary plus each mode's run directory
// (so reopening a comparison directory restores the same view).

#include "ui/QtTypes.h"
#include "ui/RunFiles.h"

#include <QVector>
#include <QWidget>

class QLabel;
class QTableWidget;

namespace ampbench::ui {

class PlotView;

class ComparisonView : public QWidget {
  Q_OBJECT

 public:
  explicit ComparisonView(QWidget* parent = nullptr);

  // Shows a finished (or reopened) comparison; histories in summary.runs order.
  void showComparison(const ampbench::ComparisonSummary& summary, const QVector<RunHistory>& histories);
  // loadComparisonHistory(dir) on the calling thread (the window loads on a worker:
  // RunLoader). Returns false and sets `error`.
  bool openDir(const QString& dir, QString* error = nullptr);
  void clear();

  // "Mixed precision (BF16) trained 2.1x faster; validation accuracy 93.0 % vs 93.3 %."
  static QString computeVerdict(const ampbench::ComparisonSummary& summary);

  int modeCount() const { return summary_.runs.size(); }
  // Throughput of run i over the baseline's (run 0).
  double speedUp(int i) const;
  QString verdict() const;
  QTableWidget* table() const { return table_; }
  QList<PlotView*> plots() const;
  QString outDir() const { return QString::fromStdString(summary_.outDir); }

 private:
  void fillTable();
  void fillPlots();

  ampbench::ComparisonSummary summary_;
  QVector<RunHistory> histories_;
  QLabel* verdict_ = nullptr;
  QLabel* caption_ = nullptr;
  QTableWidget* table_ = nullptr;
  PlotView* loss_ = nullptr;
  PlotView* accuracy_ = nullptr;
  PlotView* time_ = nullptr;
};

}  // namespace ampbench::ui
