#include "ui/RecipeKnobs.h"

#include "ui/FormWidgets.h"

#include <cmath>

#include <QCheckBox>
#include <QDoubleSpinBox>
#include <QFormLayout>
#include <QSettings>
#include <QSpinBox>

namespace ampbench::ui {
using namespace form;

namespace {
// Tooltips in plain words; the CLI flag in brackets so a GUI setting can be repeated headless.
constexpr const char* kAugment = "Random changes to each training image, so the model learns the disease and not "
                                 "one scanner's framing or exposure (--no-augment turns them off).";
constexpr const char* kCrop = "Random resized crop: the smallest share of the image's area kept (--min-crop-area).";
constexpr const char* kRotation = "Random rotation, degrees either way: patients are never perfectly straight "
                                  "(--max-rotation).";
constexpr const char* kTranslate = "Random shift, as a share of the image size either way (--max-translate).";
constexpr const char* kBrightness = "Brightness jitter: the image times a factor in [1 - b, 1 + b] (--brightness).";
constexpr const char* kContrast = "Contrast jitter about the image's mean, by a factor in [1 - c, 1 + c] (--contrast).";
constexpr const char* kGamma = "Gamma jitter: pixel values (0..1) raised to a power in [1 - g, 1 + g], as exposure "
                               "and processing differ between machines (--gamma).";
constexpr const char* kFlip = "Random horizontal flips. Off by default: a chest X-ray has a side (the heart is on "
                              "the left). Never a vertical flip (--hflip).";
constexpr const char* kSmoothing = "Label smoothing: train towards 1 - e for the true class and e spread over all "
                                   "classes, so the model is less over-confident (--label-smoothing; 0 = off).";
constexpr const char* kEma = "Validate, evaluate and export an exponential moving average of the weights instead of "
                             "the last step's: steadier and often better on new images. The decay warms up as "
                             "min(D, (1 + n) / (10 + n)) (--ema-decay; 0 = off, e.g. 0.999).";
constexpr const char* kTta = "Test-time augmentation for the end-of-run evaluations: the probabilities averaged over "
                             "the image and N - 1 small shifts (--tta; 1 = off). Costs N times the evaluation.";
}  // namespace

RecipeKnobs::RecipeKnobs(QWidget* parent) : QWidget(parent) {
  const ampbench::RunConfig d;
  auto* f = new QFormLayout(this);
  f->setContentsMargins(0, 0, 0, 0);
  f->setFieldGrowthPolicy(QFormLayout::AllNonFixedFieldsGrow);
  augment_ = new QCheckBox(tr("Augment training images"), this);
  augment_->setChecked(d.augment.enabled);
  augment_->setToolTip(tip(kAugment));
  f->addRow(augment_);
  minCropArea_ = dspin(this, 0.05, 1.0, d.augment.minCropArea, 2, 0.05, kCrop);
  f->addRow(tr("Crop: area kept"), minCropArea_);
  rotation_ = dspin(this, 0.0, 45.0, d.augment.maxRotationDeg, 1, 1.0, kRotation);
  rotation_->setSuffix(tr("°"));
  f->addRow(tr("Rotation"), rotation_);
  translate_ = dspin(this, 0.0, 0.25, d.augment.maxTranslate, 2, 0.01, kTranslate);
  f->addRow(tr("Shift"), translate_);
  brightness_ = dspin(this, 0.0, 0.9, d.augment.brightness, 2, 0.05, kBrightness);
  f->addRow(tr("Brightness"), brightness_);
  contrast_ = dspin(this, 0.0, 0.9, d.augment.contrast, 2, 0.05, kContrast);
  f->addRow(tr("Contrast"), contrast_);
  gamma_ = dspin(this, 0.0, 0.9, d.augment.gamma, 2, 0.05, kGamma);
  f->addRow(tr("Gamma"), gamma_);
  hflip_ = new QCheckBox(tr("Horizontal flips"), this);
  hflip_->setChecked(d.augment.horizontalFlip);
  hflip_->setToolTip(tip(kFlip));
  f->addRow(hflip_);
  labelSmoothing_ = dspin(this, 0.0, 0.5, d.labelSmoothing, 2, 0.05, kSmoothing);
  f->addRow(tr("Label smoothing"), labelSmoothing_);
  emaDecay_ = dspin(this, 0.0, 0.9999, d.emaDecay, 4, 0.001, kEma);
  emaDecay_->setSpecialValueText(tr("off"));
  f->addRow(tr("Weight average (EMA)"), emaDecay_);
  tta_ = spin(this, 1, 16, static_cast<int>(d.tta.views), kTta);
  tta_->setSpecialValueText(tr("off"));
  tta_->setSuffix(tr(" views"));
  f->addRow(tr("Test-time augmentation"), tta_);
  for (QDoubleSpinBox* s : {minCropArea_, rotation_, translate_, brightness_, contrast_, gamma_, labelSmoothing_, emaDecay_}) {
    connect(s, &QDoubleSpinBox::valueChanged, this, &RecipeKnobs::changed);
  }
  connect(tta_, &QSpinBox::valueChanged, this, &RecipeKnobs::changed);
  for (QCheckBox* b : {augment_, hflip_}) {
    connect(b, &QCheckBox::toggled, this, &RecipeKnobs::changed);
  }
  connect(augment_, &QCheckBox::toggled, this, [this](bool on) {
    for (QWidget* w : std::initializer_list<QWidget*>{minCropArea_, rotation_, translate_, brightness_, contrast_,
                                                      gamma_, hflip_}) {
      w->setEnabled(on);
    }
  });
}

void RecipeKnobs::applyTo(ampbench::RunConfig& c) const {
  c.augment.enabled = augment_->isChecked();
  c.augment.minCropArea = minCropArea_->value();
  c.augment.maxRotationDeg = rotation_->value();
  c.augment.maxTranslate = translate_->value();
  c.augment.brightness = brightness_->value();
  c.augment.contrast = contrast_->value();
  c.augment.gamma = gamma_->value();
  c.augment.horizontalFlip = hflip_->isChecked();
  c.labelSmoothing = labelSmoothing_->value();
  c.emaDecay = emaDecay_->value();
  c.tta.views = tta_->value();
}

void RecipeKnobs::setFrom(const ampbench::RunConfig& c) {
  augment_->setChecked(c.augment.enabled);
  minCropArea_->setValue(c.augment.minCropArea);
  rotation_->setValue(c.augment.maxRotationDeg);
  translate_->setValue(c.augment.maxTranslate);
  brightness_->setValue(c.augment.brightness);
  contrast_->setValue(c.augment.contrast);
  gamma_->setValue(c.augment.gamma);
  hflip_->setChecked(c.augment.horizontalFlip);
  labelSmoothing_->setValue(c.labelSmoothing);
  emaDecay_->setValue(c.emaDecay);
  tta_->setValue(static_cast<int>(c.tta.views));
}

void RecipeKnobs::load(QSettings& s) {
  ampbench::RunConfig c;
  applyTo(c);  // the current values are the defaults of what the settings lack
  // An edited or damaged settings file: a value that is not a finite number keeps the current one.
  auto number = [&s](const char* key, double& field) {
    bool ok = false;
    const double v = s.value(QLatin1String(key), field).toDouble(&ok);
    if (ok && std::isfinite(v)) {
      field = v;
    }
  };
  c.augment.enabled = s.value(QStringLiteral("augment"), c.augment.enabled).toBool();
  number("minCropArea", c.augment.minCropArea);
  number("maxRotationDeg", c.augment.maxRotationDeg);
  number("maxTranslate", c.augment.maxTranslate);
  number("brightness", c.augment.brightness);
  number("contrast", c.augment.contrast);
  number("gamma", c.augment.gamma);
  c.augment.horizontalFlip = s.value(QStringLiteral("horizontalFlip"), c.augment.horizontalFlip).toBool();
  number("labelSmoothing", c.labelSmoothing);
  number("emaDecay", c.emaDecay);
  bool ok = false;
  const auto views = s.value(QStringLiteral("ttaViews"), static_cast<qlonglong>(c.tta.views)).toLongLong(&ok);
  if (ok) {
    c.tta.views = views;
  }
  setFrom(c);
}

void RecipeKnobs::save(QSettings& s) const {
  ampbench::RunConfig c;
  applyTo(c);
  s.setValue(QStringLiteral("augment"), c.augment.enabled);
  s.setValue(QStringLiteral("minCropArea"), c.augment.minCropArea);
  s.setValue(QStringLiteral("maxRotationDeg"), c.augment.maxRotationDeg);
  s.setValue(QStringLiteral("maxTranslate"), c.augment.maxTranslate);
  s.setValue(QStringLiteral("brightness"), c.augment.brightness);
  s.setValue(QStringLiteral("contrast"), c.augment.contrast);
  s.setValue(QStringLiteral("gamma"), c.augment.gamma);
  s.setValue(QStringLiteral("horizontalFlip"), c.augment.horizontalFlip);
  s.setValue(QStringLiteral("labelSmoothing"), c.labelSmoothing);
  s.setValue(QStringLiteral("emaDecay"), c.emaDecay);
  s.setValue(QStringLiteral("ttaViews"), static_cast<qlonglong>(c.tta.views));
}

}  // namespace ampbench::ui
