#include "ui/PredictDriver.h"

#include "ui/ImageInspector.h"
#include "ui/RunFiles.h"

#include <QDir>
#include <QDragEnterEvent>
#include <QDropEvent>
#include <QFile>
#include <QFileDialog>
#include <QFileInfo>
#include <QJsonArray>
#include <QJsonDocument>
#include <QJsonObject>
#include <QMimeData>
#include <QStandardPaths>
#include <QUrl>
#include <QWidget>

namespace ampbench::ui {
namespace {

bool holdsWeights(const QString& dir) {
  const QDir d(dir);
  return QFileInfo::exists(d.filePath(QStringLiteral("checkpoint.pt"))) || QFileInfo::exists(d.filePath(QStringLiteral("model.pt")));
}

// A comparison explains through its baseline run (the first mode), the run users compare against.
QString baselineRun(const QString& comparisonDir) {
  QFile file(QDir(comparisonDir).filePath(QStringLiteral("comparison.json")));
  if (!file.open(QIODevice::ReadOnly)) {
    return {};
  }
  const QJsonArray modes = QJsonDocument::fromJson(file.readAll()).object().value(QStringLiteral("modes")).toArray();
  for (const QJsonValue& m : modes) {
    const QString runDir = m.toObject().value(QStringLiteral("run_dir")).toString();
    if (!runDir.isEmpty()) {
      return QDir::isAbsolutePath(runDir) ? runDir : QDir(comparisonDir).filePath(runDir);
    }
  }
  return {};
}

}  // namespace

PredictDriver::PredictDriver(QWidget* window, CurrentRun currentRun, QObject* parent, std::shared_ptr<GradCamCache> cache)
    : QObject(parent), window_(window), currentRun_(std::move(currentRun)), cache_(std::move(cache)) {
  chooseFiles_ = [this](const QString& start) {
    return QFileDialog::getOpenFileNames(window_, tr("Predict: choose X-ray images"), start, fileFilter());
  };
  chooseFolder_ = [this](const QString& start) {
    return QFileDialog::getExistingDirectory(window_, tr("Choose an exported model folder (model.json + model.pt)"), start);
  };
}

PredictDriver::~PredictDriver() = default;

QString PredictDriver::fileFilter() {
  return tr("Images (*.png *.jpg *.jpeg *.bmp *.tif *.tiff *.pgm *.ppm *.dcm *.dicom);;All files (*)");
}

void PredictDriver::attachDropTarget(QWidget* target) {
  target->setAcceptDrops(true);
  target->installEventFilter(this);
}

QStringList PredictDriver::droppedFiles(const QMimeData* mime) {
  QStringList files;
  if (!mime || !mime->hasUrls()) {
    return files;
  }
  for (const QUrl& url : mime->urls()) {
    if (url.isLocalFile() && QFileInfo(url.toLocalFile()).isFile()) {
      files << url.toLocalFile();
    }
  }
  return files;
}

bool PredictDriver::eventFilter(QObject* watched, QEvent* event) {
  if (event->type() == QEvent::DragEnter || event->type() == QEvent::DragMove) {
    auto* drag = static_cast<QDragMoveEvent*>(event);
    if (!droppedFiles(drag->mimeData()).isEmpty()) {
      drag->acceptProposedAction();
      return true;
    }
  } else if (event->type() == QEvent::Drop) {
    auto* drop = static_cast<QDropEvent*>(event);
    const QStringList files = droppedFiles(drop->mimeData());
    if (!files.isEmpty()) {
      drop->acceptProposedAction();
      predictFiles(files);
      return true;
    }
  }
  return QObject::eventFilter(watched, event);
}

QString PredictDriver::modelSource(QString* why) const {
  if (!modelFolder_.isEmpty()) {
    return modelFolder_;
  }
  QString run = currentRun_ ? currentRun_() : QString();
  if (!run.isEmpty() && isComparisonDir(run)) {
    run = baselineRun(run);
  }
  if (run.isEmpty()) {
    if (why) {
      *why = tr("No model to predict with: select a finished run in the runs list, train one, or use an exported "
                "model folder (File ▸ Use an exported model folder…).");
    }
    return {};
  }
  return run;  // a run without a checkpoint: the inspector says so
}

ImageInspectorDialog* PredictDriver::dialog() {
  if (!dialog_) {
    dialog_ = new ImageInspectorDialog(window_, cache_);
  }
  return dialog_;
}

bool PredictDriver::predictFiles(const QStringList& files) {
  if (files.isEmpty()) {
    return false;
  }
  QString why;
  const QString source = modelSource(&why);
  if (source.isEmpty()) {
    Q_EMIT message(why, true);
    return false;
  }
  lastImageDir_ = QFileInfo(files.front()).absolutePath();
  ImageInspectorDialog* d = dialog();
  d->setWindowTitle(tr("Predict — %1").arg(QDir::toNativeSeparators(source)));
  d->showImages(source, files);
  d->show();
  d->raise();
  d->activateWindow();
  return true;
}

void PredictDriver::predictWithDialog() {
  QString why;
  if (modelSource(&why).isEmpty()) {
    Q_EMIT message(why, true);
    return;
  }
  const QString start =
      lastImageDir_.isEmpty() ? QStandardPaths::writableLocation(QStandardPaths::PicturesLocation) : lastImageDir_;
  predictFiles(chooseFiles_(start));
}

void PredictDriver::chooseModelFolder() {
  const QString dir = chooseFolder_(modelFolder_.isEmpty() ? QDir::homePath() : modelFolder_);
  if (!dir.isEmpty() && useModelFolder(dir)) {
    predictWithDialog();
  }
}

bool PredictDriver::useModelFolder(const QString& dir) {
  if (!holdsWeights(dir)) {
    Q_EMIT message(tr("%1 holds no model.pt (an exported model) or checkpoint.pt (a run): export a model with "
                      "File ▸ Export model… first.")
                       .arg(QDir::toNativeSeparators(dir)),
                   true);
    return false;
  }
  modelFolder_ = QDir(dir).absolutePath();
  Q_EMIT message(tr("Predicting with %1 until a run is selected in the runs list.").arg(QDir::toNativeSeparators(modelFolder_)),
                 false);
  return true;
}

void PredictDriver::clearModelFolder() { modelFolder_.clear(); }

}  // namespace ampbench::ui
