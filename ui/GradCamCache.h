#pragma once
// The worker side of the image inspector: Grad-CAM explainers (each holds a loaded model)
// kept for the last few runs, so stepping through images reloads nothing. Called only on
// worker threads; calls are serialised (one model in memory is computing at a time).

#include "engine/train/GradCam.h"

#include <QImage>
#include <QString>
#include <QStringList>
#include <QVector>

#include <list>
#include <memory>
#include <mutex>
#include <optional>

namespace ampbench::ui {

// One request of the inspector.
struct InspectJob {
  QString runOrModel;
  QString imagePath;
  std::optional<int> targetClass;  // default: the predicted class
  int maxDisplaySide = 1024;       // the displayed image is at most this large
};

// What the inspector shows for a job: everything converted to Qt values on the worker.
struct InspectOutcome {
  // Empty on success. With probabilities: they and the image are shown, the map is not
  // (it overflowed in a mixed mode); without: nothing could be read.
  QString error;
  QStringList classes;
  QVector<double> probabilities;
  int predicted = -1;
  QString decisionRule;  // how `predicted` was called: "P(PNEUMONIA) >= 0.31 (youden on val)"
  int targetClass = -1;
  QString precisionLabel;  // "FP16 mixed (emulated)"
  QString layer;           // the block explained, "layer4.1"
  QImage base;             // the file at display size, as decoded for the model (its channels)
  QImage heat;             // the colour-mapped heat map at the base's size (opacity applied when painting)
};

class GradCamCache {
 public:
  explicit GradCamCache(int capacity = 2);
  // The process-wide cache the inspectors share unless given their own.
  static std::shared_ptr<GradCamCache> shared();

  // Worker thread. Never throws: a bad file, a run without weights or an engine error is
  // the outcome's `error`.
  InspectOutcome inspect(const InspectJob& job);

  int modelsLoaded() const;  // explainers constructed so far (tests: the cache is used)
  void clear();

 private:
  struct Entry {
    QString key;
    std::shared_ptr<ampbench::GradCamExplainer> explainer;
  };
  std::shared_ptr<ampbench::GradCamExplainer> explainerFor(const QString& runOrModel);

  mutable std::mutex mutex_;
  std::list<Entry> entries_;  // most recent first
  int capacity_ = 2;
  int loaded_ = 0;
};

}  // namespace ampbench::ui
