#pragma once
// The Results tab: what the trained model gets right and wrong. A header line (model,
// precision — "emulated" when it was —, split and image count), the split selector
// (validation / test / another folder…), the confusion matrix and the ROC curve with the
// operating point, a threshold slider that re-computes both live, "Choose on validation…",
// the per-class metrics table with intervals, notes, and the most confident mistakes (click
// one for the image inspector). A comparison shows FP32 and one other mode side by side: two
// matrices, both ROC curves, both columns of metrics, and the images the two call
// differently. The state and the arithmetic are ResultsPresenter's; this class applies them.

#include "ui/ResultsPresenter.h"

#include <QWidget>

class QComboBox;
class QCustomPlot;
class QCPTextElement;
class QDoubleSpinBox;
class QLabel;
class QProgressBar;
class QPushButton;
class QSlider;
class QTableWidget;

namespace ampbench::ui {

class ImageInspectorDialog;
class MistakesGallery;
class ValVsTestView;

class ResultsTab : public QWidget {
  Q_OBJECT

 public:
  explicit ResultsTab(QWidget* parent = nullptr);

  ResultsPresenter* presenter() const { return presenter_; }
  void showRun(const QString& runDir) { presenter_->openRun(runDir); }
  void showComparison(const QString& dir) { presenter_->openComparison(dir); }
  // Loaded (or failed) and every thumbnail decoded: what a screenshot waits for.
  bool isSettled() const;

  // For tests.
  QLabel* headerLabel() const { return header_; }
  QLabel* messageLabel() const { return message_; }
  QComboBox* splitBox() const { return splitBox_; }
  QComboBox* modeBox() const { return modeBox_; }
  QCustomPlot* confusionPlot(int side) const { return side == 0 ? matrix_[0] : matrix_[1]; }
  QCustomPlot* rocPlot() const { return roc_; }
  QSlider* thresholdSlider() const { return slider_; }
  QDoubleSpinBox* thresholdSpin() const { return spin_; }
  QPushButton* chooseButton() const { return choose_; }
  QTableWidget* metricsTable() const { return table_; }
  QLabel* footnoteLabel() const { return footnote_; }
  QLabel* notesLabel() const { return notes_; }
  MistakesGallery* gallery() const { return gallery_; }
  QTableWidget* disagreementTable() const { return disagreements_; }
  ImageInspectorDialog* inspector() const { return inspector_; }  // null until a thumbnail is clicked
  ValVsTestView* valVsTest() const { return valVsTest_; }

 Q_SIGNALS:
  // Loading ended (results shown or the reason why not) and the thumbnails are decoded.
  void settled();
  // A gallery thumbnail was clicked: the inspector (a dialog of this tab) shows it for the run.
  void inspectRequested(const QString& runDir, const QString& imagePath, int trueClass);

 private:
  void onResults();
  void onThreshold();
  void onBusy(bool busy, const QString& what);
  void redrawPlots();
  void fillTable();
  void fillNotes();
  void fillDisagreements();
  void syncThresholdControls();
  void splitChosen(int index);
  void openChooseDialog();
  void openInspector(const MistakeItem& item);
  void checkSettled();

  ResultsPresenter* presenter_ = nullptr;
  QLabel* header_ = nullptr;
  QComboBox* splitBox_ = nullptr;
  QLabel* modeLabel_ = nullptr;
  QComboBox* modeBox_ = nullptr;
  QProgressBar* progress_ = nullptr;
  QPushButton* cancel_ = nullptr;
  QLabel* message_ = nullptr;
  ValVsTestView* valVsTest_ = nullptr;
  QWidget* content_ = nullptr;  // plots, table and gallery; hidden without results
  QCustomPlot* matrix_[2] = {nullptr, nullptr};
  QCPTextElement* matrixTitle_[2] = {nullptr, nullptr};
  QCustomPlot* roc_ = nullptr;
  QWidget* thresholdRow_ = nullptr;
  QSlider* slider_ = nullptr;
  QDoubleSpinBox* spin_ = nullptr;
  QPushButton* reset_ = nullptr;
  QPushButton* choose_ = nullptr;
  QTableWidget* table_ = nullptr;
  QLabel* footnote_ = nullptr;
  QLabel* notes_ = nullptr;
  QLabel* galleryTitle_ = nullptr;
  MistakesGallery* gallery_ = nullptr;
  QTableWidget* disagreements_ = nullptr;
  ImageInspectorDialog* inspector_ = nullptr;
  bool wasSettled_ = true;
};

}  // namespace ampbench::ui
