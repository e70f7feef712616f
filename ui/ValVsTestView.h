#pragma once
// "Validation vs test" on the Results tab: the run's val_vs_test.json (written when a run
// with a test split finishes) as a table — class share, image intensity, accuracy,
// sensitivity, specificity, balanced accuracy, AUC and calibration on each split with
// 95 % intervals — with the rows whose intervals do not overlap marked, so a user sees
// when validation does not predict the test split. Read on a worker thread.

#include <QFutureWatcher>
#include <QWidget>

#include <optional>

#include "engine/core/SplitShift.h"

class QLabel;
class QTableWidget;

namespace ampbench::ui {

class ValVsTestView : public QWidget {
  Q_OBJECT

 public:
  explicit ValVsTestView(QWidget* parent = nullptr);

  // Shows the run's val_vs_test.json; hides itself when the run has none.
  void showRun(const QString& runDir);

  // For tests.
  QTableWidget* table() const { return table_; }
  QLabel* findingsLabel() const { return findings_; }
  bool isLoading() const { return watcher_.isRunning(); }

 Q_SIGNALS:
  void loaded();

 private:
  struct Loaded {
    QString runDir;
    std::optional<ampbench::SplitShift> shift;
    QString error;
  };
  void apply(const Loaded& l);

  QLabel* title_ = nullptr;
  QTableWidget* table_ = nullptr;
  QLabel* findings_ = nullptr;
  QString runDir_;
  QFutureWatcher<Loaded> watcher_;
};

}  // namespace ampbench::ui
