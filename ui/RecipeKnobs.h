#pragma once
// The training recipe's knobs under "Advanced" (issue 17): augmentation suited to
// radiographs (crop, rotation, shift, brightness/contrast/gamma; a horizontal flip only when
// asked, never a vertical one), label smoothing, the weight average (EMA) and test-time
// augmentation. Each maps to one RunConfig setting and one CLI flag; RunPanel owns it.

#include "ui/QtTypes.h"

#include <QWidget>

class QCheckBox;
class QDoubleSpinBox;
class QSettings;
class QSpinBox;

namespace ampbench::ui {

class RecipeKnobs : public QWidget {
  Q_OBJECT
 public:
  explicit RecipeKnobs(QWidget* parent = nullptr);

  // Writes the knobs into `c` (its other settings untouched).
  void applyTo(ampbench::RunConfig& c) const;
  void setFrom(const ampbench::RunConfig& c);
  // In the caller's QSettings group.
  void load(QSettings& s);
  void save(QSettings& s) const;

 Q_SIGNALS:
  void changed();

 private:
  QCheckBox* augment_ = nullptr;
  QDoubleSpinBox* minCropArea_ = nullptr;
  QDoubleSpinBox* rotation_ = nullptr;
  QDoubleSpinBox* translate_ = nullptr;
  QDoubleSpinBox* brightness_ = nullptr;
  QDoubleSpinBox* contrast_ = nullptr;
  QDoubleSpinBox* gamma_ = nullptr;
  QCheckBox* hflip_ = nullptr;
  QDoubleSpinBox* labelSmoothing_ = nullptr;
  QDoubleSpinBox* emaDecay_ = nullptr;
  QSpinBox* tta_ = nullptr;
};

}  // namespace ampbench::ui
