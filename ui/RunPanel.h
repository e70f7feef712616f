#pragma once
// The run settings: model, the mixed-precision switch and its format, epochs, batch
// size, image size, learning rate, seed, and (under "Advanced") optimizer, schedule,
// threads and the loss scaler. Every control has a plain-words tooltip; the values
// persist with QSettings, written once a burst of changes settles (holding a spin-box
// arrow must not rewrite the settings file on every tick). Train / Stop / Compare
// buttons live here too.

#include "engine/util/Hardware.h"
#include "ui/QtTypes.h"

#include <QWidget>

#include <vector>

class QCheckBox;
class QComboBox;
class QDoubleSpinBox;
class QLabel;
class QPushButton;
class QSpinBox;
class QTimer;
class QToolButton;

namespace ampbench::ui {

class RecipeBox;

// The GUI samples precision statistics by default at a cadence whose cost bench/run
// measures (BENCHMARKS.md: well under 3 % of training time).
constexpr int kDefaultGradStatsEvery = 50;

class RunPanel : public QWidget {
  Q_OBJECT

 public:
  explicit RunPanel(QWidget* parent = nullptr);
  ~RunPanel() override;  // writes a change still waiting for its delayed write

  // The settings as a run configuration (dataPath and outDir left empty).
  ampbench::RunConfig config() const;
  // Shows a configuration's values (scripted mode, reopened runs).
  void setConfig(const ampbench::RunConfig& config);
  // "fp32", "fp16", "bf16" or "auto"; unknown names leave the panel as it is.
  bool setPrecisionName(const QString& mode);
  QString precisionName() const;
  // The mixed format the comparison runs against FP32 ("bf16", "fp16", "auto").
  QString mixedModeName() const;
  // What "Compare" runs: FP32 and the mixed format, plus that format's what-ifs (the
  // fixes switched off) when "Also run without the fixes" is ticked.
  std::vector<ampbench::PrecisionMode> comparisonModes() const;
  void setWithoutFixes(bool on);

  void setDataUsable(bool usable);
  void setBusy(bool busy);
  // The run was asked to stop: Stop is disabled until the job ends (setBusy(false)).
  void markStopping();
  // The machine the notes describe (detected by default; tests inject others).
  void setHardware(const ampbench::HardwareInfo& hardware);

  void loadSettings();
  // Writes the settings now (closing the window) and drops a pending delayed write.
  void saveSettings();
  bool hasPendingSave() const;
  // Scripted runs (command-line settings) leave the user's saved settings alone.
  void setPersistent(bool persistent) { persistent_ = persistent; }

  QPushButton* trainButton() const { return train_; }
  QPushButton* stopButton() const { return stop_; }
  QPushButton* compareButton() const { return compare_; }

 Q_SIGNALS:
  void trainRequested();
  void stopRequested();
  void compareRequested();
  // After each write of the settings.
  void settingsSaved();

 private:
  void updatePrecisionNote();
  void updateButtons();

  QComboBox* model_ = nullptr;
  QCheckBox* mixed_ = nullptr;
  QComboBox* mixedFormat_ = nullptr;
  QLabel* precisionNote_ = nullptr;
  QLabel* hardwareLine_ = nullptr;   // the machine and what the chosen mode does on it
  QLabel* noSpeedupNote_ = nullptr;  // shown when no mixed format is faster here
  QComboBox* device_ = nullptr;
  QSpinBox* epochs_ = nullptr;
  QSpinBox* batchSize_ = nullptr;
  QSpinBox* imageSize_ = nullptr;
  QDoubleSpinBox* lr_ = nullptr;
  QSpinBox* seed_ = nullptr;
  RecipeBox* recipeBox_ = nullptr;
  ampbench::RunConfig hidden_;  // the last config shown: config() takes what no control edits from it
  QToolButton* advancedToggle_ = nullptr;
  QWidget* advanced_ = nullptr;
  QComboBox* optimizer_ = nullptr;
  QComboBox* schedule_ = nullptr;
  QSpinBox* threads_ = nullptr;
  QSpinBox* limit_ = nullptr;
  QComboBox* scaling_ = nullptr;
  QSpinBox* initScaleLog2_ = nullptr;
  QDoubleSpinBox* growthFactor_ = nullptr;
  QDoubleSpinBox* backoffFactor_ = nullptr;
  QSpinBox* growthInterval_ = nullptr;
  QDoubleSpinBox* minScale_ = nullptr;
  QPushButton* train_ = nullptr;
  QPushButton* stop_ = nullptr;
  QPushButton* compare_ = nullptr;
  QLabel* compareNote_ = nullptr;
  QCheckBox* withoutFixes_ = nullptr;
  QSpinBox* gradStatsEvery_ = nullptr;
  QTimer* saveTimer_ = nullptr;  // single-shot: the delayed write after the last change

  bool dataUsable_ = false;
  bool busy_ = false;
  bool stopping_ = false;
  bool loading_ = false;  // no saving while settings are being applied
  bool persistent_ = true;
  ampbench::HardwareInfo hardware_;
};

}  // namespace ampbench::ui
