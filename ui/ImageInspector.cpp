#include "ui/ImageInspector.h"

#include "ui/Format.h"
#include "ui/GradCamCache.h"

#include <QCheckBox>
#include <QComboBox>
#include <QDialogButtonBox>
#include <QDir>
#include <QFileInfo>
#include <QFormLayout>
#include <QFutureWatcher>
#include <QGridLayout>
#include <QHBoxLayout>
#include <QLabel>
#include <QListWidget>
#include <QPainter>
#include <QProgressBar>
#include <QPushButton>
#include <QSlider>
#include <QSplitter>
#include <QVBoxLayout>
#include <QtConcurrent>

#include <algorithm>
#include <cmath>

namespace ampbench::ui {

// The image scaled to fit (aspect kept), the heat map painted over it at the opacity.
class ImageCanvas : public QWidget {
 public:
  explicit ImageCanvas(QWidget* parent) : QWidget(parent) {
    setMinimumSize(256, 256);
    setSizePolicy(QSizePolicy::Expanding, QSizePolicy::Expanding);
    setObjectName(QStringLiteral("inspectorCanvas"));
  }
  void setImages(const QImage& base, const QImage& heat) {
    base_ = base;
    heat_ = heat;
    update();
  }
  void setOverlay(bool visible, double opacity) {
    visible_ = visible;
    opacity_ = opacity;
    update();
  }
  const QImage& base() const { return base_; }
  const QImage& heat() const { return heat_; }
  QImage rendered() const {
    if (base_.isNull()) {
      return {};
    }
    QImage out = base_.convertToFormat(QImage::Format_RGB32);
    QPainter p(&out);
    paintOverlay(p, out.rect());
    return out;
  }

 protected:
  void paintEvent(QPaintEvent*) override {
    QPainter p(this);
    p.fillRect(rect(), QColor(24, 24, 24));
    if (base_.isNull()) {
      return;
    }
    const QSize fitted = base_.size().scaled(size(), Qt::KeepAspectRatio);
    const QRect target(QPoint((width() - fitted.width()) / 2, (height() - fitted.height()) / 2), fitted);
    p.setRenderHint(QPainter::SmoothPixmapTransform);
    p.drawImage(target, base_);
    paintOverlay(p, target);
  }

 private:
  void paintOverlay(QPainter& p, const QRect& target) const {
    if (visible_ && !heat_.isNull()) {
      p.setOpacity(opacity_);
      p.drawImage(target, heat_);
      p.setOpacity(1.0);
    }
  }
  QImage base_, heat_;
  bool visible_ = true;
  double opacity_ = 0.45;
};

struct ImageInspector::State {
  QFutureWatcher<InspectOutcome> watcher;
  bool running = false;
  std::optional<InspectJob> pending;  // the newest request while one runs
  InspectOutcome shown;               // what is on screen (error set: nothing usable)
  std::optional<int> trueClass;
  QVector<QProgressBar*> bars;
  QVector<QLabel*> barValues;
  QStringList barClasses;
};

namespace {

// One decimal, but never "0.0 %" / "100.0 %" for a probability that is neither.
QString percentOrUndefined(double p) {
  if (!std::isfinite(p)) {
    return QObject::tr("n/a (not finite)");
  }
  if (p > 0.0 && p < 0.0005) {
    return QObject::tr("< %1").arg(formatPercent(0.001, 1));
  }
  if (p < 1.0 && p > 0.9995) {
    return QObject::tr("> %1").arg(formatPercent(0.999, 1));
  }
  return formatPercent(p, 1);
}

QString className(const QStringList& classes, int index) {
  return index >= 0 && index < classes.size() ? classes[index] : QObject::tr("class %1").arg(index);
}

}  // namespace

ImageInspector::ImageInspector(QWidget* parent, std::shared_ptr<GradCamCache> cache)
    : QWidget(parent), state_(std::make_unique<State>()), cache_(cache ? std::move(cache) : GradCamCache::shared()) {
  setObjectName(QStringLiteral("imageInspector"));
  auto* layout = new QHBoxLayout(this);
  canvas_ = new ImageCanvas(this);
  layout->addWidget(canvas_, 1);

  auto* side = new QWidget(this);
  side->setMinimumWidth(260);
  side->setMaximumWidth(360);
  auto* col = new QVBoxLayout(side);
  col->setContentsMargins(0, 0, 0, 0);
  title_ = new QLabel(side);
  title_->setWordWrap(true);
  title_->setTextInteractionFlags(Qt::TextSelectableByMouse);
  col->addWidget(title_);
  error_ = new QLabel(side);
  error_->setObjectName(QStringLiteral("inspectorError"));
  error_->setWordWrap(true);
  error_->setTextInteractionFlags(Qt::TextSelectableByMouse);
  error_->setStyleSheet(QStringLiteral("QLabel { color: #a40000; background: #fdecea; border: 1px solid #f5c2bd; padding: 6px; }"));
  error_->setVisible(false);
  col->addWidget(error_);
  auto* busyRow = new QHBoxLayout;
  busyBar_ = new QProgressBar(side);
  busyBar_->setRange(0, 0);  // busy: no total
  busyBar_->setMaximumWidth(90);
  busyBar_->setTextVisible(false);
  busyLabel_ = new QLabel(tr("Computing Grad-CAM…"), side);
  busyRow->addWidget(busyBar_);
  busyRow->addWidget(busyLabel_, 1);
  col->addLayout(busyRow);
  busyBar_->setVisible(false);
  busyLabel_->setVisible(false);

  predicted_ = new QLabel(side);
  predicted_->setWordWrap(true);
  col->addWidget(predicted_);
  truth_ = new QLabel(side);
  truth_->setWordWrap(true);
  truth_->setVisible(false);
  col->addWidget(truth_);

  col->addWidget(new QLabel(tr("<b>Class probabilities</b>"), side));
  bars_ = new QGridLayout;
  bars_->setColumnStretch(1, 1);
  col->addLayout(bars_);

  auto* form = new QFormLayout;
  classBox_ = new QComboBox(side);
  classBox_->setObjectName(QStringLiteral("inspectorClass"));
  classBox_->setToolTip(tr("The class whose score the heat map explains: where the image raised that class's score."));
  classBox_->setEnabled(false);
  form->addRow(tr("Heat map for"), classBox_);
  overlayBox_ = new QCheckBox(tr("Show the Grad-CAM overlay"), side);
  overlayBox_->setChecked(true);
  form->addRow(overlayBox_);
  opacity_ = new QSlider(Qt::Horizontal, side);
  opacity_->setRange(0, 100);
  opacity_->setValue(45);
  opacity_->setToolTip(tr("Opacity of the heat map over the image."));
  form->addRow(tr("Opacity"), opacity_);
  col->addLayout(form);
  precision_ = new QLabel(side);
  precision_->setWordWrap(true);
  precision_->setToolTip(tr("The numeric format the model ran in for this map: the run's own precision (an exported "
                            "model: FP32). An emulated format rounds to FP16/BF16 on FP32 kernels."));
  col->addWidget(precision_);
  auto* legend = new QLabel(tr("Colour map: viridis — yellow where the image raised the class score most, dark blue "
                               "where it did not. Where the model looks is not a diagnosis."),
                            side);
  legend->setWordWrap(true);
  legend->setStyleSheet(QStringLiteral("color: palette(mid);"));
  col->addWidget(legend);
  col->addStretch(1);
  layout->addWidget(side);

  connect(classBox_, qOverload<int>(&QComboBox::activated), this, &ImageInspector::setTargetClass);
  connect(overlayBox_, &QCheckBox::toggled, this, [this](bool on) {
    opacity_->setEnabled(on);
    canvas_->setOverlay(on, overlayOpacity());
  });
  connect(opacity_, &QSlider::valueChanged, this, [this]() { canvas_->setOverlay(overlayVisible(), overlayOpacity()); });
  connect(&state_->watcher, &QFutureWatcher<InspectOutcome>::finished, this, &ImageInspector::onJobDone);
  canvas_->setOverlay(true, overlayOpacity());
  predicted_->setText(tr("No image shown yet."));
}

ImageInspector::~ImageInspector() = default;

void ImageInspector::showImage(const QString& runOrModel, const QString& imagePath, std::optional<int> trueClass) {
  source_ = runOrModel;
  path_ = imagePath;
  state_->trueClass = trueClass;
  title_->setText(tr("<b>%1</b><br>model: %2").arg(QFileInfo(imagePath).fileName().toHtmlEscaped(),
                                                   QDir::toNativeSeparators(runOrModel).toHtmlEscaped()));
  title_->setToolTip(QDir::toNativeSeparators(imagePath));
  InspectJob job;
  job.runOrModel = runOrModel;
  job.imagePath = imagePath;
  submit(job);
}

void ImageInspector::setTargetClass(int classIndex) {
  if (path_.isEmpty() || classIndex < 0 || classIndex >= state_->shown.classes.size()) {
    return;
  }
  InspectJob job;
  job.runOrModel = source_;
  job.imagePath = path_;
  job.targetClass = classIndex;
  submit(job);
}

void ImageInspector::setOverlayVisible(bool visible) { overlayBox_->setChecked(visible); }

void ImageInspector::setOverlayOpacity(double opacity) {
  opacity_->setValue(static_cast<int>(std::lround(std::clamp(opacity, 0.0, 1.0) * 100.0)));
}

void ImageInspector::submit(const InspectJob& job) {
  if (state_->running) {
    state_->pending = job;  // replaces an older waiting request: only the newest matters
    return;
  }
  state_->running = true;
  setBusy(true);
  // The worker holds the cache and the job by value: the widget may close meanwhile.
  std::shared_ptr<GradCamCache> cache = cache_;
  state_->watcher.setFuture(QtConcurrent::run([cache, job]() { return cache->inspect(job); }));
}

void ImageInspector::onJobDone() {
  state_->running = false;
  if (state_->pending) {
    const InspectJob next = *state_->pending;
    state_->pending.reset();
    submit(next);  // the finished result is for an image no longer asked for
    return;
  }
  setBusy(false);
  applyOutcome(state_->watcher.result());
  Q_EMIT resultShown();
}

void ImageInspector::applyOutcome(const InspectOutcome& outcome) {
  if (outcome.probabilities.isEmpty()) {
    showError(outcome.error.isEmpty() ? tr("the model gave no probabilities.") : outcome.error);
    return;
  }
  state_->shown = outcome;
  // Probabilities without a map (it overflowed): both said, the map not drawn.
  error_->setText(tr("No heat map: %1").arg(outcome.error));
  error_->setVisible(!outcome.error.isEmpty());
  canvas_->setImages(outcome.base, outcome.heat);
  rebuildProbabilityRows();
  const double p = outcome.predicted >= 0 && outcome.predicted < outcome.probabilities.size()
                       ? outcome.probabilities[outcome.predicted]
                       : std::nan("");
  // The run's decision rule (its threshold chosen on validation, or 0.5), as evaluation uses.
  predicted_->setText(tr("Predicted: <b>%1</b> (%2; called by %3)")
                          .arg(className(outcome.classes, outcome.predicted).toHtmlEscaped(),
                               percentOrUndefined(p).toHtmlEscaped(),
                               outcome.decisionRule.isEmpty() ? tr("the most probable class")
                                                              : outcome.decisionRule.toHtmlEscaped()));
  if (state_->trueClass) {
    const bool correct = *state_->trueClass == outcome.predicted;
    truth_->setText(tr("True class: <b>%1</b> — <span style='color:%2'><b>%3</b></span>")
                        .arg(className(outcome.classes, *state_->trueClass).toHtmlEscaped(),
                             correct ? QStringLiteral("#1b7f3b") : QStringLiteral("#a40000"), verdictText()));
    truth_->setVisible(true);
  } else {
    truth_->setVisible(false);
  }
  {
    const QSignalBlocker block(classBox_);
    classBox_->clear();
    for (int i = 0; i < outcome.classes.size(); ++i) {
      classBox_->addItem(i == outcome.predicted ? tr("%1 (predicted)").arg(outcome.classes[i]) : outcome.classes[i]);
    }
    classBox_->setCurrentIndex(outcome.targetClass);
    classBox_->setEnabled(outcome.classes.size() > 1);
  }
  precision_->setText(tr("Computed in <b>%1</b> on %2").arg(outcome.precisionLabel.toHtmlEscaped(),
                                                            outcome.layer.isEmpty() ? tr("the last convolutional block")
                                                                                    : outcome.layer.toHtmlEscaped()));
}

void ImageInspector::showError(const QString& message) {
  state_->shown = InspectOutcome{};
  state_->shown.error = message;
  canvas_->setImages({}, {});
  rebuildProbabilityRows();
  predicted_->setText(QString());
  truth_->setVisible(false);
  precision_->setText(QString());
  {
    const QSignalBlocker block(classBox_);
    classBox_->clear();
    classBox_->setEnabled(false);
  }
  error_->setText(tr("Cannot inspect the image: %1").arg(message));
  error_->setVisible(true);
}

void ImageInspector::rebuildProbabilityRows() {
  const InspectOutcome& o = state_->shown;
  if (state_->barClasses != o.classes) {
    while (QLayoutItem* item = bars_->takeAt(0)) {
      delete item->widget();
      delete item;
    }
    state_->bars.clear();
    state_->barValues.clear();
    for (int i = 0; i < o.classes.size(); ++i) {
      auto* name = new QLabel(o.classes[i], this);
      auto* bar = new QProgressBar(this);
      bar->setRange(0, 1000);
      bar->setTextVisible(false);
      bar->setMaximumHeight(14);
      auto* value = new QLabel(this);
      value->setAlignment(Qt::AlignRight | Qt::AlignVCenter);
      value->setMinimumWidth(64);
      bars_->addWidget(name, i, 0);
      bars_->addWidget(bar, i, 1);
      bars_->addWidget(value, i, 2);
      state_->bars << bar;
      state_->barValues << value;
    }
    state_->barClasses = o.classes;
  }
  for (int i = 0; i < state_->bars.size(); ++i) {
    const double p = i < o.probabilities.size() ? o.probabilities[i] : std::nan("");
    state_->bars[i]->setValue(std::isfinite(p) ? static_cast<int>(std::lround(std::clamp(p, 0.0, 1.0) * 1000.0)) : 0);
    state_->barValues[i]->setText(i < o.probabilities.size() ? percentOrUndefined(p) : QString());
  }
}

void ImageInspector::setBusy(bool busy) {
  busyBar_->setVisible(busy);
  busyLabel_->setVisible(busy);
  classBox_->setEnabled(!busy && state_->shown.classes.size() > 1 && !state_->shown.probabilities.isEmpty());
  Q_EMIT busyChanged(busy);
}

bool ImageInspector::isBusy() const { return state_->running; }
QString ImageInspector::errorText() const { return state_->shown.error; }
QStringList ImageInspector::classes() const { return state_->shown.classes; }
QVector<double> ImageInspector::probabilities() const { return state_->shown.probabilities; }
int ImageInspector::predictedClass() const { return state_->shown.probabilities.isEmpty() ? -1 : state_->shown.predicted; }
int ImageInspector::targetClass() const { return state_->shown.probabilities.isEmpty() ? -1 : state_->shown.targetClass; }
std::optional<int> ImageInspector::trueClass() const { return state_->trueClass; }
QString ImageInspector::precisionText() const { return state_->shown.precisionLabel; }
bool ImageInspector::overlayVisible() const { return overlayBox_->isChecked(); }
double ImageInspector::overlayOpacity() const { return opacity_->value() / 100.0; }
QImage ImageInspector::baseImage() const { return canvas_->base(); }
QImage ImageInspector::heatMapImage() const { return canvas_->heat(); }
QImage ImageInspector::renderedImage() const { return canvas_->rendered(); }

QString ImageInspector::verdictText() const {
  if (!state_->trueClass || predictedClass() < 0) {
    return QString();
  }
  return *state_->trueClass == predictedClass() ? tr("correct") : tr("missed");
}

ImageInspectorDialog::ImageInspectorDialog(QWidget* parent, std::shared_ptr<GradCamCache> cache) : QDialog(parent) {
  setObjectName(QStringLiteral("imageInspectorDialog"));
  setWindowTitle(tr("Image and Grad-CAM"));
  setModal(false);
  auto* layout = new QVBoxLayout(this);
  auto* split = new QSplitter(Qt::Horizontal, this);
  list_ = new QListWidget(split);
  list_->setObjectName(QStringLiteral("inspectorFiles"));
  list_->setVisible(false);
  list_->setTextElideMode(Qt::ElideMiddle);
  inspector_ = new ImageInspector(split, std::move(cache));
  split->addWidget(list_);
  split->addWidget(inspector_);
  split->setStretchFactor(1, 1);
  split->setSizes({180, 900});
  layout->addWidget(split, 1);
  auto* buttons = new QDialogButtonBox(QDialogButtonBox::Close, this);
  connect(buttons, &QDialogButtonBox::rejected, this, &QDialog::close);
  layout->addWidget(buttons);
  connect(list_, &QListWidget::currentRowChanged, this, [this](int row) {
    if (row >= 0) {
      inspector_->showImage(source_, list_->item(row)->data(Qt::UserRole).toString());
    }
  });
  resize(1100, 720);
}

void ImageInspectorDialog::showImage(const QString& runOrModel, const QString& imagePath, std::optional<int> trueClass) {
  source_ = runOrModel;
  {
    const QSignalBlocker block(list_);
    list_->clear();
  }
  list_->setVisible(false);
  inspector_->showImage(runOrModel, imagePath, trueClass);
}

void ImageInspectorDialog::showImages(const QString& runOrModel, const QStringList& imagePaths) {
  if (imagePaths.isEmpty()) {
    return;
  }
  source_ = runOrModel;
  {
    const QSignalBlocker block(list_);
    list_->clear();
    for (const QString& path : imagePaths) {
      auto* item = new QListWidgetItem(QFileInfo(path).fileName(), list_);
      item->setData(Qt::UserRole, path);
      item->setToolTip(QDir::toNativeSeparators(path));
    }
    list_->setCurrentRow(0);
  }
  list_->setVisible(imagePaths.size() > 1);
  inspector_->showImage(runOrModel, imagePaths.front());
}

QStringList ImageInspectorDialog::listedImages() const {
  QStringList out;
  for (int i = 0; i < list_->count(); ++i) {
    out << list_->item(i)->data(Qt::UserRole).toString();
  }
  return out;
}

}  // namespace ampbench::ui
