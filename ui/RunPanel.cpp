#include "ui/RunPanel.h"

#include "engine/core/Recipe.h"

#include "ui/FormWidgets.h"
#include "ui/HardwareText.h"
#include "ui/RecipeBox.h"
#include "ui/Tooltips.h"

#include <QCheckBox>
#include <QComboBox>
#include <QDoubleSpinBox>
#include <QFormLayout>
#include <QHBoxLayout>
#include <QLabel>
#include <QPushButton>
#include <QSettings>
#include <QSpinBox>
#include <QStyle>
#include <QTimer>
#include <QToolButton>
#include <QVBoxLayout>

#include <algorithm>
#include <cmath>
#include <exception>

namespace ampbench::ui {
using namespace form;

namespace {
constexpr int kSaveDelayMs = 500;  // a burst of spin-box ticks ends in one write
}  // namespace

RunPanel::RunPanel(QWidget* parent) : QWidget(parent), hardware_(ampbench::detectHardware()) {
  const ampbench::RunConfig defaults;
  auto* layout = new QVBoxLayout(this);
  layout->setContentsMargins(6, 6, 6, 6);
  auto* title = new QLabel(tr("<b>2. Run</b>"), this);
  layout->addWidget(title);

  auto* form = new QFormLayout;
  form->setFieldGrowthPolicy(QFormLayout::AllNonFixedFieldsGrow);
  model_ = new QComboBox(this);
  model_->addItems(modelNames());
  model_->setToolTip(tip(tips::kModel));
  form->addRow(tr("Model"), model_);

  // The one obvious switch, then the detail.
  mixed_ = new QCheckBox(tr("Mixed precision"), this);
  mixed_->setObjectName(QStringLiteral("mixedPrecision"));
  QFont bold = mixed_->font();
  bold.setBold(true);
  mixed_->setFont(bold);
  mixed_->setToolTip(tip(tips::kMixedPrecision) + QStringLiteral("\n\n") + tip(tips::kMasterWeights));
  mixedFormat_ = new QComboBox(this);
  mixedFormat_->setObjectName(QStringLiteral("mixedFormat"));
  mixedFormat_->addItem(tr("BF16"), QStringLiteral("bf16"));
  mixedFormat_->addItem(tr("FP16"), QStringLiteral("fp16"));
  mixedFormat_->addItem(tr("Auto (fastest here)"), QStringLiteral("auto"));
  // The what-ifs: a fix switched off, to see what it rescues (their divergence is a result).
  mixedFormat_->insertSeparator(mixedFormat_->count());
  mixedFormat_->addItem(tr("What if: FP16 without loss scaling"), QStringLiteral("fp16-noscale"));
  mixedFormat_->addItem(tr("What if: pure FP16 (no FP32 master weights)"), QStringLiteral("fp16-pure"));
  mixedFormat_->addItem(tr("What if: pure BF16 (no FP32 master weights)"), QStringLiteral("bf16-pure"));
  mixedFormat_->setToolTip(tip(tips::kPrecisionDetail));
  // Items get long ("FP16 (emulated — ...)"): do not let them widen the panel.
  mixedFormat_->setSizeAdjustPolicy(QComboBox::AdjustToMinimumContentsLengthWithIcon);
  mixedFormat_->setMinimumContentsLength(8);
  auto* precisionRow = new QHBoxLayout;
  precisionRow->addWidget(mixed_);
  precisionRow->addWidget(mixedFormat_, 1);
  form->addRow(tr("Precision"), precisionRow);
  precisionNote_ = new QLabel(this);
  precisionNote_->setObjectName(QStringLiteral("precisionNote"));
  precisionNote_->setWordWrap(true);
  form->addRow(QString(), precisionNote_);
  hardwareLine_ = new QLabel(this);
  hardwareLine_->setObjectName(QStringLiteral("hardwareLine"));
  hardwareLine_->setWordWrap(true);
  hardwareLine_->setStyleSheet(QStringLiteral("color: #555;"));
  form->addRow(QString(), hardwareLine_);
  // Issue 13: say it in the panel, not in a tooltip, when mixed precision cannot be faster here.
  noSpeedupNote_ = new QLabel(this);
  noSpeedupNote_->setObjectName(QStringLiteral("noSpeedupNote"));
  noSpeedupNote_->setWordWrap(true);
  noSpeedupNote_->setStyleSheet(QStringLiteral("color: #b35900;"));
  form->addRow(noSpeedupNote_);  // spans the label column too: fewer lines

  device_ = enumCombo(this, {{tr("Auto"), QStringLiteral("auto")}, {tr("CPU"), QStringLiteral("cpu")},
                             {tr("CUDA GPU"), QStringLiteral("cuda")}},
                      tips::kDevice);
  form->addRow(tr("Device"), device_);
  epochs_ = spin(this, 1, 1000, static_cast<int>(defaults.epochs), tips::kEpochs);
  epochs_->setObjectName(QStringLiteral("epochs"));
  form->addRow(tr("Epochs"), epochs_);
  batchSize_ = spin(this, 1, 4096, static_cast<int>(defaults.batchSize), tips::kBatchSize, 8);
  form->addRow(tr("Batch size"), batchSize_);
  imageSize_ = spin(this, 8, 1024, static_cast<int>(defaults.imageSize), tips::kImageSize, 8);
  imageSize_->setSuffix(tr(" px"));
  form->addRow(tr("Image size"), imageSize_);
  lr_ = dspin(this, 1e-6, 10.0, defaults.lr, 5, 0.005, tips::kLearningRate);
  form->addRow(tr("Learning rate"), lr_);
  seed_ = spin(this, 0, 2147483647, static_cast<int>(defaults.seed), tips::kSeed);
  form->addRow(tr("Seed"), seed_);
  layout->addLayout(form);

  // Advanced: collapsed by default.
  advancedToggle_ = new QToolButton(this);
  advancedToggle_->setText(tr("Advanced"));
  advancedToggle_->setCheckable(true);
  advancedToggle_->setAutoRaise(true);
  advancedToggle_->setToolButtonStyle(Qt::ToolButtonTextBesideIcon);
  advancedToggle_->setArrowType(Qt::RightArrow);
  advancedToggle_->setToolTip(tr("Optimizer, schedule, threads and the loss scaler."));
  layout->addWidget(advancedToggle_);
  advanced_ = new QWidget(this);
  auto* adv = new QFormLayout(advanced_);
  adv->setContentsMargins(12, 0, 0, 0);
  optimizer_ = enumCombo(advanced_, {{tr("SGD + momentum"), QStringLiteral("sgd")}, {tr("AdamW"), QStringLiteral("adamw")}},
                         tips::kOptimizer);
  adv->addRow(tr("Optimizer"), optimizer_);
  schedule_ = enumCombo(advanced_, {{tr("One-cycle"), QStringLiteral("onecycle")}, {tr("Cosine"), QStringLiteral("cosine")},
                                    {tr("Constant"), QStringLiteral("constant")}},
                        tips::kSchedule);
  adv->addRow(tr("LR schedule"), schedule_);
  threads_ = spin(advanced_, 0, 256, 0, tips::kThreads);
  threads_->setSpecialValueText(tr("all cores"));
  adv->addRow(tr("Threads"), threads_);
  limit_ = spin(advanced_, 0, 10000000, 0, tips::kLimit, 100);
  limit_->setSpecialValueText(tr("all images"));
  adv->addRow(tr("Images per split"), limit_);
  scaling_ = enumCombo(advanced_, {{tr("Auto (on for FP16)"), QStringLiteral("auto")}, {tr("On"), QStringLiteral("on")},
                                   {tr("Off"), QStringLiteral("off")}},
                       tips::kLossScaling);
  adv->addRow(tr("Loss scaling"), scaling_);
  initScaleLog2_ = spin(advanced_, 0, 40, 16, tips::kInitScale);
  initScaleLog2_->setPrefix(QStringLiteral("2^"));
  adv->addRow(tr("Initial scale"), initScaleLog2_);
  growthFactor_ = dspin(advanced_, 1.0, 16.0, defaults.scaler.growthFactor, 2, 0.5, tips::kGrowthFactor);
  adv->addRow(tr("Growth factor"), growthFactor_);
  backoffFactor_ = dspin(advanced_, 0.01, 0.99, defaults.scaler.backoffFactor, 2, 0.05, tips::kBackoffFactor);
  adv->addRow(tr("Backoff factor"), backoffFactor_);
  growthInterval_ = spin(advanced_, 1, 1000000, static_cast<int>(defaults.scaler.growthInterval), tips::kGrowthInterval, 100);
  adv->addRow(tr("Growth interval"), growthInterval_);
  minScale_ = dspin(advanced_, 0.0, 1e6, defaults.scaler.minScale, 4, 1.0, tips::kMinScale);
  adv->addRow(tr("Minimum scale"), minScale_);
  // What FP16/BF16 do to this run's gradients (the Precision tab); 0 = off.
  gradStatsEvery_ = spin(advanced_, 0, 100000, kDefaultGradStatsEvery, tips::kGradStats, 10);
  gradStatsEvery_->setObjectName(QStringLiteral("gradStatsEvery"));
  gradStatsEvery_->setSpecialValueText(tr("off"));
  gradStatsEvery_->setPrefix(tr("every "));
  gradStatsEvery_->setSuffix(tr(" steps"));
  adv->addRow(tr("Precision statistics"), gradStatsEvery_);
  recipeBox_ = new RecipeBox(this, form, advanced_, adv, model_);
  connect(recipeBox_, &RecipeBox::recipeChosen, this, [this](const QString& name, bool wholeRecipe) {
    auto c = config();
    RecipeBox::applyChoice(name, wholeRecipe, c);
    setConfig(c);
  });
  labelTooltipsFromFields(form);  // the recipe row is added to the main form above
  labelTooltipsFromFields(adv);
  advanced_->setVisible(false);
  layout->addWidget(advanced_);
  connect(advancedToggle_, &QToolButton::toggled, this, [this](bool on) {
    advanced_->setVisible(on);
    advancedToggle_->setArrowType(on ? Qt::DownArrow : Qt::RightArrow);
  });

  // Actions.
  auto* buttons = new QHBoxLayout;
  train_ = new QPushButton(QIcon(QStringLiteral(":/icons/train.svg")), tr("Train"), this);
  train_->setObjectName(QStringLiteral("trainButton"));
  train_->setToolTip(tip(tips::kTrain));
  train_->setDefault(true);
  stop_ = new QPushButton(QIcon(QStringLiteral(":/icons/stop.svg")), tr("Stop"), this);
  stop_->setObjectName(QStringLiteral("stopButton"));
  stop_->setToolTip(tip(tips::kStop));
  buttons->addWidget(train_, 1);
  buttons->addWidget(stop_);
  layout->addLayout(buttons);
  compare_ = new QPushButton(QIcon(QStringLiteral(":/icons/compare.svg")), tr("Compare FP32 vs mixed"), this);
  compare_->setObjectName(QStringLiteral("compareButton"));
  compare_->setToolTip(tip(tips::kCompare));
  layout->addWidget(compare_);
  withoutFixes_ = new QCheckBox(tr("Also run without the fixes"), this);
  withoutFixes_->setObjectName(QStringLiteral("withoutFixes"));
  withoutFixes_->setToolTip(tip(tips::kWithoutFixes));
  layout->addWidget(withoutFixes_);
  compareNote_ = new QLabel(tr("<small>Runs FP32, then the mixed format — one after the other, never both at "
                               "once, so each run gets every core and the timings are fair.</small>"),
                            this);
  compareNote_->setWordWrap(true);
  compareNote_->setToolTip(tip(tips::kCompare));
  layout->addWidget(compareNote_);
  layout->addStretch(1);

  connect(train_, &QPushButton::clicked, this, &RunPanel::trainRequested);
  connect(stop_, &QPushButton::clicked, this, &RunPanel::stopRequested);
  connect(compare_, &QPushButton::clicked, this, &RunPanel::compareRequested);

  // Any change: refresh the precision note and persist once the changes stop.
  saveTimer_ = new QTimer(this);
  saveTimer_->setSingleShot(true);
  saveTimer_->setInterval(kSaveDelayMs);
  connect(saveTimer_, &QTimer::timeout, this, &RunPanel::saveSettings);
  auto changed = [this]() {
    updatePrecisionNote();
    if (!loading_ && persistent_) {
      saveTimer_->start();
    }
  };
  for (QComboBox* c : {model_, mixedFormat_, device_, optimizer_, schedule_, scaling_}) {
    connect(c, &QComboBox::currentIndexChanged, this, changed);
  }
  connect(mixed_, &QCheckBox::toggled, this, [this, changed](bool on) {
    mixedFormat_->setEnabled(on);
    changed();
  });
  connect(withoutFixes_, &QCheckBox::toggled, this, changed);
  connect(recipeBox_, &RecipeBox::changed, this, changed);
  for (QSpinBox* s :
       {epochs_, batchSize_, imageSize_, seed_, threads_, limit_, initScaleLog2_, growthInterval_, gradStatsEvery_}) {
    connect(s, &QSpinBox::valueChanged, this, changed);
  }
  for (QDoubleSpinBox* s : {lr_, growthFactor_, backoffFactor_, minScale_}) {
    connect(s, &QDoubleSpinBox::valueChanged, this, changed);
  }

  loadSettings();
  updateButtons();
}

QString RunPanel::precisionName() const { return mixed_->isChecked() ? comboValue(mixedFormat_) : QStringLiteral("fp32"); }

QString RunPanel::mixedModeName() const { return comboValue(mixedFormat_); }

std::vector<ampbench::PrecisionMode> RunPanel::comparisonModes() const {
  const auto mixed = ampbench::parsePrecision(mixedModeName().toStdString());
  std::vector<ampbench::PrecisionMode> modes{ampbench::PrecisionMode::Fp32, mixed};
  if (withoutFixes_->isChecked()) {
    // The fixes of the format actually run here: auto resolves to fp16 or bf16.
    const auto resolved = ampbench::describePrecision(mixed, ampbench::parseDevice(comboValue(device_).toStdString()));
    const bool bf16 = resolved.computeDtype == "bfloat16";
    const std::vector<ampbench::PrecisionMode> whatIfs =
        bf16 ? std::vector<ampbench::PrecisionMode>{ampbench::PrecisionMode::Bf16Pure}
             : std::vector<ampbench::PrecisionMode>{ampbench::PrecisionMode::Fp16NoScale,
                                                    ampbench::PrecisionMode::Fp16Pure};
    for (auto m : whatIfs) {
      if (std::find(modes.begin(), modes.end(), m) == modes.end()) {
        modes.push_back(m);
      }
    }
  }
  return modes;
}

void RunPanel::setWithoutFixes(bool on) { withoutFixes_->setChecked(on); }

bool RunPanel::setPrecisionName(const QString& mode) {
  const QString m = mode.toLower();
  if (m == QLatin1String("fp32")) {
    mixed_->setChecked(false);
    return true;
  }
  if (mixedFormat_->findData(m) < 0) {
    return false;
  }
  mixed_->setChecked(true);
  setComboValue(mixedFormat_, m);
  return true;
}

ampbench::RunConfig RunPanel::config() const {
  ampbench::RunConfig c;
  RecipeBox::carrySettingsWithoutControls(hidden_, c);
  c.model = model_->currentText().toStdString();
  c.precision = ampbench::parsePrecision(precisionName().toStdString());
  c.device = ampbench::parseDevice(comboValue(device_).toStdString());
  c.epochs = epochs_->value();
  c.batchSize = batchSize_->value();
  c.imageSize = imageSize_->value();
  c.lr = lr_->value();
  c.seed = static_cast<uint64_t>(seed_->value());
  c.optimizer = ampbench::parseOptimizer(comboValue(optimizer_).toStdString());
  c.schedule = ampbench::parseSchedule(comboValue(schedule_).toStdString());
  c.threads = threads_->value();
  c.limitPerSplit = limit_->value();
  c.scaler.mode = ampbench::parseScaling(comboValue(scaling_).toStdString());
  c.scaler.initScale = std::ldexp(1.0, initScaleLog2_->value());
  c.scaler.growthFactor = growthFactor_->value();
  c.scaler.backoffFactor = backoffFactor_->value();
  c.scaler.growthInterval = growthInterval_->value();
  c.scaler.minScale = minScale_->value();
  c.gradStatsEvery = gradStatsEvery_->value();
  recipeBox_->apply(c);  // after the carried settings: the knobs own the augmentation
  return c;
}

void RunPanel::setConfig(const ampbench::RunConfig& c) {
  loading_ = true;
  hidden_ = c;
  recipeBox_->fill(c);
  if (model_->findText(qs(c.model)) < 0) {
    model_->addItem(qs(c.model));
  }
  model_->setCurrentText(qs(c.model));
  setPrecisionName(qs(ampbench::toString(c.precision)));
  setComboValue(device_, qs(ampbench::toString(c.device)));
  epochs_->setValue(static_cast<int>(c.epochs));
  batchSize_->setValue(static_cast<int>(c.batchSize));
  imageSize_->setValue(static_cast<int>(c.imageSize));
  lr_->setValue(c.lr);
  seed_->setValue(static_cast<int>(c.seed));
  setComboValue(optimizer_, qs(ampbench::toString(c.optimizer)));
  setComboValue(schedule_, qs(ampbench::toString(c.schedule)));
  threads_->setValue(c.threads);
  limit_->setValue(static_cast<int>(c.limitPerSplit));
  setComboValue(scaling_, qs(ampbench::toString(c.scaler.mode)));
  initScaleLog2_->setValue(static_cast<int>(std::lround(std::log2(std::max(c.scaler.initScale, 1.0)))));
  growthFactor_->setValue(c.scaler.growthFactor);
  backoffFactor_->setValue(c.scaler.backoffFactor);
  growthInterval_->setValue(static_cast<int>(c.scaler.growthInterval));
  minScale_->setValue(c.scaler.minScale);
  gradStatsEvery_->setValue(static_cast<int>(c.gradStatsEvery));
  loading_ = false;
  updatePrecisionNote();
}

void RunPanel::loadSettings() {
  QSettings s;
  s.beginGroup(QStringLiteral("run"));
  loading_ = true;
  const QString model = s.value(QStringLiteral("model")).toString();
  if (!model.isEmpty() && model_->findText(model) >= 0) {
    model_->setCurrentText(model);
  }
  mixed_->setChecked(s.value(QStringLiteral("mixed"), true).toBool());
  mixedFormat_->setEnabled(mixed_->isChecked());
  setComboValue(mixedFormat_, s.value(QStringLiteral("mixedFormat"), defaultMixedFormat(hardware_)).toString());
  setComboValue(device_, s.value(QStringLiteral("device"), QStringLiteral("auto")).toString());
  epochs_->setValue(s.value(QStringLiteral("epochs"), epochs_->value()).toInt());
  batchSize_->setValue(s.value(QStringLiteral("batchSize"), batchSize_->value()).toInt());
  imageSize_->setValue(s.value(QStringLiteral("imageSize"), imageSize_->value()).toInt());
  lr_->setValue(s.value(QStringLiteral("lr"), lr_->value()).toDouble());
  seed_->setValue(s.value(QStringLiteral("seed"), seed_->value()).toInt());
  setComboValue(optimizer_, s.value(QStringLiteral("optimizer"), comboValue(optimizer_)).toString());
  setComboValue(schedule_, s.value(QStringLiteral("schedule"), comboValue(schedule_)).toString());
  threads_->setValue(s.value(QStringLiteral("threads"), threads_->value()).toInt());
  limit_->setValue(s.value(QStringLiteral("limitPerSplit"), limit_->value()).toInt());
  setComboValue(scaling_, s.value(QStringLiteral("scaling"), comboValue(scaling_)).toString());
  initScaleLog2_->setValue(s.value(QStringLiteral("initScaleLog2"), initScaleLog2_->value()).toInt());
  growthFactor_->setValue(s.value(QStringLiteral("growthFactor"), growthFactor_->value()).toDouble());
  backoffFactor_->setValue(s.value(QStringLiteral("backoffFactor"), backoffFactor_->value()).toDouble());
  growthInterval_->setValue(s.value(QStringLiteral("growthInterval"), growthInterval_->value()).toInt());
  minScale_->setValue(s.value(QStringLiteral("minScale"), minScale_->value()).toDouble());
  gradStatsEvery_->setValue(s.value(QStringLiteral("gradStatsEvery"), gradStatsEvery_->value()).toInt());
  withoutFixes_->setChecked(s.value(QStringLiteral("withoutFixes"), false).toBool());
  advancedToggle_->setChecked(s.value(QStringLiteral("advancedOpen"), false).toBool());
  recipeBox_->load(s);
  loading_ = false;
  s.endGroup();
  updatePrecisionNote();
}

RunPanel::~RunPanel() {
  if (hasPendingSave()) {
    saveSettings();
  }
}

bool RunPanel::hasPendingSave() const { return saveTimer_->isActive(); }

void RunPanel::saveSettings() {
  saveTimer_->stop();
  if (!persistent_) {
    return;
  }
  QSettings s;
  s.beginGroup(QStringLiteral("run"));
  s.setValue(QStringLiteral("model"), model_->currentText());
  s.setValue(QStringLiteral("mixed"), mixed_->isChecked());
  s.setValue(QStringLiteral("mixedFormat"), comboValue(mixedFormat_));
  s.setValue(QStringLiteral("device"), comboValue(device_));
  s.setValue(QStringLiteral("epochs"), epochs_->value());
  s.setValue(QStringLiteral("batchSize"), batchSize_->value());
  s.setValue(QStringLiteral("imageSize"), imageSize_->value());
  s.setValue(QStringLiteral("lr"), lr_->value());
  s.setValue(QStringLiteral("seed"), seed_->value());
  s.setValue(QStringLiteral("optimizer"), comboValue(optimizer_));
  s.setValue(QStringLiteral("schedule"), comboValue(schedule_));
  s.setValue(QStringLiteral("threads"), threads_->value());
  s.setValue(QStringLiteral("limitPerSplit"), limit_->value());
  s.setValue(QStringLiteral("scaling"), comboValue(scaling_));
  s.setValue(QStringLiteral("initScaleLog2"), initScaleLog2_->value());
  s.setValue(QStringLiteral("growthFactor"), growthFactor_->value());
  s.setValue(QStringLiteral("backoffFactor"), backoffFactor_->value());
  s.setValue(QStringLiteral("growthInterval"), growthInterval_->value());
  s.setValue(QStringLiteral("minScale"), minScale_->value());
  s.setValue(QStringLiteral("gradStatsEvery"), gradStatsEvery_->value());
  s.setValue(QStringLiteral("withoutFixes"), withoutFixes_->isChecked());
  s.setValue(QStringLiteral("advancedOpen"), advancedToggle_->isChecked());
  recipeBox_->save(s);
  s.endGroup();
  s.sync();
  Q_EMIT settingsSaved();
}

void RunPanel::updatePrecisionNote() {
  ampbench::DeviceKind device = ampbench::DeviceKind::Auto;
  ampbench::LossScalerOptions scaler;
  try {
    device = ampbench::parseDevice(comboValue(device_).toStdString());
    scaler.mode = ampbench::parseScaling(comboValue(scaling_).toStdString());
  } catch (const std::exception&) {
  }
  // Mark FP16 and BF16 in the list when they would only be emulated here.
  for (const auto& [mode, name] : {std::pair{ampbench::PrecisionMode::Fp16, QStringLiteral("FP16")},
                                   std::pair{ampbench::PrecisionMode::Bf16, QStringLiteral("BF16")}}) {
    try {
      const ampbench::PrecisionInfo info = ampbench::describePrecision(mode, device, scaler);
      const int i = mixedFormat_->findData(QString::fromStdString(ampbench::toString(mode)));
      mixedFormat_->setItemText(i, info.emulated ? tr("%1 (emulated — numerics only, no speed-up)").arg(name) : name);
      mixedFormat_->setItemData(i, info.emulated ? tip(tips::kEmulated) : QString(), Qt::ToolTipRole);
    } catch (const std::exception&) {
    }
  }
  QString text;
  QString tooltip;
  bool warn = false;
  try {
    const auto mode = ampbench::parsePrecision(precisionName().toStdString());
    const ampbench::PrecisionInfo info = ampbench::describePrecision(mode, device, scaler);
    text = qs(info.label);
    if (info.emulated) {
      text += text.contains(QStringLiteral("emulated")) ? tr(" — numerics only, no speed-up")
                                                       : tr(" — emulated — numerics only, no speed-up");
      tooltip = tip(tips::kEmulated);
      warn = true;
    }
    if (info.resolved == ampbench::PrecisionMode::Fp32) {
      text += tr(" — 32-bit everywhere, the baseline");
    } else {
      text += (info.masterWeights ? tr(" · FP32 master weights") : tr(" · NO master weights (what-if)")) +
              tr(" · loss scaling %1").arg(info.lossScaling ? tr("on") : tr("off"));
    }
    if (!info.note.empty()) {
      tooltip = tooltip.isEmpty() ? qs(info.note) : tooltip + QStringLiteral("\n\n") + qs(info.note);
    }
  } catch (const std::exception& e) {
    text = QString::fromStdString(e.what());
    warn = true;
  }
  precisionNote_->setText(text);
  precisionNote_->setToolTip(tooltip.isEmpty() ? tip(tips::kMixedPrecision) : tooltip);
  precisionNote_->setStyleSheet(warn ? QStringLiteral("color: #b35900;") : QStringLiteral("color: #555;"));

  const bool faster = ampbench::anyMixedFormatFaster(hardware_);
  mixedFormat_->setItemText(mixedFormat_->findData(QStringLiteral("auto")),
                            faster ? tr("Auto (fastest here)") : tr("Auto (emulated FP16 here)"));
  const bool onGpu = hardware_.gpu.present && comboValue(device_) != QLatin1String("cpu");
  hardwareLine_->setText(modeOnMachineLine(hardware_, precisionName(), onGpu));
  hardwareLine_->setToolTip(qs(ampbench::modeVerdict(precisionName().toStdString(), hardware_, onGpu).reason));
  noSpeedupNote_->setText(noSpeedupNote(hardware_));
  noSpeedupNote_->setVisible(!faster);
}

void RunPanel::setHardware(const ampbench::HardwareInfo& hardware) {
  hardware_ = hardware;
  updatePrecisionNote();
}

void RunPanel::setDataUsable(bool usable) {
  dataUsable_ = usable;
  updateButtons();
}

void RunPanel::setBusy(bool busy) {
  busy_ = busy;
  stopping_ = false;
  updateButtons();
}

void RunPanel::markStopping() {
  stopping_ = true;
  updateButtons();
}

void RunPanel::updateButtons() {
  train_->setEnabled(dataUsable_ && !busy_);
  compare_->setEnabled(dataUsable_ && !busy_);
  stop_->setEnabled(busy_ && !stopping_);
  if (!dataUsable_) {
    train_->setToolTip(tr("Choose a usable dataset first (panel above)."));
  } else {
    train_->setToolTip(tip(tips::kTrain));
  }
}

}  // namespace ampbench::ui
