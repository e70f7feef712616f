#pragma once
// One image large with its Grad-CAM overlay, for a run or an exported model folder: the
// class probabilities as bars, the predicted class, which class the heat map explains (a
// toggle), the overlay on/off and its opacity, the precision the map was computed in
// ("FP16 mixed (emulated)"), and, when known, the true class with "correct" / "missed".
// The Results gallery opens it on a thumbnail; File ▸ Predict… and dropped files show
// their images in it (PredictDriver).
//
// All engine work runs on a worker thread: loading the model (GradCamExplainer) and
// explain(). The explainer of the last runs is kept in a worker-side cache, so clicking
// through images does not reload the model. At most one computation is in flight; a newer
// request replaces a waiting one. Errors (not an image, a run without a checkpoint) are
// shown inside the widget.

#include <QDialog>
#include <QImage>
#include <QString>
#include <QStringList>
#include <QVector>
#include <QWidget>

#include <memory>
#include <optional>

class QCheckBox;
class QComboBox;
class QGridLayout;
class QLabel;
class QListWidget;
class QProgressBar;
class QSlider;

namespace ampbench::ui {

class GradCamCache;
class ImageCanvas;
struct InspectJob;
struct InspectOutcome;

class ImageInspector : public QWidget {
  Q_OBJECT

 public:
  // `cache`: explainers shared between inspectors (default: the process-wide one).
  explicit ImageInspector(QWidget* parent = nullptr, std::shared_ptr<GradCamCache> cache = {});
  ~ImageInspector() override;

  // Shows `imagePath` as `runOrModel` (a run folder with checkpoint.pt, an exported model
  // folder, or a model.pt) sees it. `trueClass`: index in the model's class order, when the
  // image's label is known (the Results gallery); the heat map explains the predicted class.
  void showImage(const QString& runOrModel, const QString& imagePath, std::optional<int> trueClass = {});
  // The class the heat map explains (recomputes; ignored while nothing is shown).
  void setTargetClass(int classIndex);
  void setOverlayVisible(bool visible);
  void setOverlayOpacity(double opacity);  // 0..1

  // What is shown, for tests and the report.
  bool isBusy() const;
  QString errorText() const;                  // empty when the last request succeeded
  QStringList classes() const;
  QVector<double> probabilities() const;      // class order; empty when nothing is shown
  int predictedClass() const;                 // -1 when nothing is shown
  int targetClass() const;                    // the class the shown map explains, -1 when none
  std::optional<int> trueClass() const;
  QString verdictText() const;                // "correct", "missed", or empty without a true class
  QString precisionText() const;              // e.g. "FP16 mixed (emulated)"
  QString runOrModel() const { return source_; }
  QString imagePath() const { return path_; }
  bool overlayVisible() const;
  double overlayOpacity() const;
  QImage baseImage() const;                   // the file as decoded for display
  QImage heatMapImage() const;                // the colour-mapped map at the base image's size
  QImage renderedImage() const;               // what the canvas paints (base + overlay at its opacity)

 Q_SIGNALS:
  // After every finished request: a result or an error is on screen.
  void resultShown();
  void busyChanged(bool busy);

 private:
  void submit(const InspectJob& job);
  void onJobDone();
  void applyOutcome(const InspectOutcome& outcome);
  void showError(const QString& message);
  void setBusy(bool busy);
  void rebuildProbabilityRows();

  struct State;
  std::unique_ptr<State> state_;
  std::shared_ptr<GradCamCache> cache_;
  QString source_;
  QString path_;

  ImageCanvas* canvas_ = nullptr;
  QLabel* title_ = nullptr;
  QLabel* error_ = nullptr;
  QLabel* busyLabel_ = nullptr;
  QProgressBar* busyBar_ = nullptr;
  QLabel* predicted_ = nullptr;
  QLabel* truth_ = nullptr;
  QLabel* precision_ = nullptr;
  QGridLayout* bars_ = nullptr;
  QComboBox* classBox_ = nullptr;
  QCheckBox* overlayBox_ = nullptr;
  QSlider* opacity_ = nullptr;
};

// A non-modal window around an ImageInspector; with several images, a list beside it to
// step through them (PredictDriver: the files dropped or chosen).
class ImageInspectorDialog : public QDialog {
  Q_OBJECT

 public:
  explicit ImageInspectorDialog(QWidget* parent = nullptr, std::shared_ptr<GradCamCache> cache = {});

  ImageInspector* inspector() const { return inspector_; }
  void showImage(const QString& runOrModel, const QString& imagePath, std::optional<int> trueClass = {});
  // Several files for one model: the list shows them, the first is inspected.
  void showImages(const QString& runOrModel, const QStringList& imagePaths);
  QStringList listedImages() const;

 private:
  ImageInspector* inspector_ = nullptr;
  QListWidget* list_ = nullptr;
  QString source_;
};

}  // namespace ampbench::ui
