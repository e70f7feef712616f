#include "ui/ExportDialog.h"

#include "engine/export/Export.h"
#include "engine/export/ModelCard.h"
#include "engine/util/Errors.h"
#include "engine/util/Files.h"

#include <QCheckBox>
#include <QDialogButtonBox>
#include <QDir>
#include <QFile>
#include <QFileDialog>
#include <QFileInfo>
#include <QHBoxLayout>
#include <QLabel>
#include <QLineEdit>
#include <QPlainTextEdit>
#include <QPushButton>
#include <QSettings>
#include <QTemporaryDir>
#include <QToolButton>
#include <QVBoxLayout>
#include <QtConcurrent>

#include <exception>
#include <string>

namespace ampbench::ui {

QString ExportDialog::modelCardPreview(const QString& runDir) {
  try {
    QFile existing(QDir(runDir).filePath(QStringLiteral("model.json")));
    std::string json;
    if (existing.open(QIODevice::ReadOnly)) {
      json = existing.readAll().toStdString();
    } else {
      json = ampbench::buildModelCard(runDir.toStdString(), {});
    }
    return QString::fromStdString(ampbench::renderModelCardMarkdown(json));
  } catch (const std::exception& e) {
    return QObject::tr("No model card: %1").arg(QString::fromStdString(e.what()));
  }
}

ExportResult ExportDialog::exportRun(const QString& runDir, const QString& destDir, bool onnx, bool torch, bool card,
                                     bool checkpoint, bool onnxFp16Weights, const ampbench::CancelToken& cancel,
                                     const std::function<void()>& onStaged) {
  ExportResult r;
  if (!onnx && !torch && !card && !checkpoint) {
    r.error = QObject::tr("Nothing to export: tick at least one file type.");
    return r;
  }
  const bool destExisted = QFileInfo(destDir).isDir();
  try {
    ampbench::ensureWritableDir(destDir.toStdString());
    // Everything is written here first; the files move into destDir only when the export
    // is complete and wanted. Removed (with what is in it) when this function returns.
    QTemporaryDir staging(QDir(destDir).filePath(QStringLiteral(".ampbench-export-XXXXXX")));
    if (!staging.isValid()) {
      r.error = QObject::tr("Could not write into %1: check the folder's permissions and free space.").arg(destDir);
      return r;
    }
    QStringList staged;
    if (onnx || torch || card) {
      ampbench::ExportOptions options;
      options.onnx = onnx;
      options.torch = torch;
      options.card = card;
      options.onnxFp16Weights = onnxFp16Weights;
      for (const auto& path : ampbench::exportRun(runDir.toStdString(), staging.path().toStdString(), options)) {
        staged << QString::fromStdString(path);
      }
    }
    QStringList inPlace;
    if (checkpoint) {
      // The checkpoint resumes training or predicts with AmpBench itself; copied as is.
      const QString from = QDir(runDir).filePath(QStringLiteral("checkpoint.pt"));
      const QString to = QDir(destDir).filePath(QStringLiteral("checkpoint.pt"));
      if (!QFile::exists(from)) {
        r.error = QObject::tr("The run has no checkpoint.pt (it did not finish an epoch).");
        return r;
      }
      if (QFileInfo(from).canonicalFilePath() == QFileInfo(to).canonicalFilePath()) {
        inPlace << to;  // exporting into the run dir: the checkpoint is already there
      } else {
        const QString copy = QDir(staging.path()).filePath(QStringLiteral("checkpoint.pt"));
        if (!QFile::copy(from, copy)) {
          r.error = QObject::tr("Could not write %1: check the folder's permissions and free space.").arg(to);
          return r;
        }
        staged << copy;
      }
    }
    if (onStaged) {
      onStaged();
    }
    if (cancel.isCancelled()) {
      r.error = QObject::tr("Cancelled: nothing was written.");
    } else {
      for (const QString& path : staged) {
        const QString to = QDir(destDir).filePath(QFileInfo(path).fileName());
        ampbench::commitAtomic(path.toStdString(), to.toStdString());  // fsync, rename over, sync the folder
        r.written << to;
      }
      r.written << inPlace;
    }
  } catch (const ampbench::InputError& e) {
    r.error = QString::fromStdString(e.what());
  } catch (const std::exception& e) {
    r.error = QObject::tr("The export failed: %1").arg(QString::fromStdString(e.what()));
  }
  if (!r.error.isEmpty() && !destExisted) {
    QDir().rmdir(destDir);  // only when empty: a folder this export created and left unused
  }
  return r;
}

ExportDialog::ExportDialog(const QString& runDir, QWidget* parent) : QDialog(parent), runDir_(runDir) {
  setWindowTitle(tr("Export model — %1").arg(QFileInfo(runDir).fileName()));
  resize(760, 680);
  auto* layout = new QVBoxLayout(this);
  layout->addWidget(new QLabel(tr("Model card (written as model.json and MODEL_CARD.md beside the model):"), this));
  card_ = new QPlainTextEdit(this);
  card_->setReadOnly(true);
  // Read on a worker: building the card parses the run's JSON files, and the dialog
  // should appear at once.
  card_->setPlainText(tr("Reading the model card…"));
  card_->setToolTip(tr("What the exported model is, how it was trained and how well it did."));
  layout->addWidget(card_, 1);

  const QSettings settings;
  onnx_ = new QCheckBox(tr("ONNX (model.onnx) — for ONNX Runtime, OpenCV DNN and other tools"), this);
  onnx_->setToolTip(tr("The network and its FP32 weights in the ONNX format (opset 13 or later)."));
  onnxFp16_ = new QCheckBox(tr("ONNX weights in FP16 (half the file size; inputs and outputs stay FP32)"), this);
  onnxFp16_->setToolTip(tr("Stores the ONNX weights as 16-bit floats. Smaller, and usually the same predictions."));
  torch_ = new QCheckBox(tr("PyTorch / LibTorch archive (model.pt) — torchvision parameter names"), this);
  torch_->setToolTip(tr("Loads in Python with torch.jit.load, and in C++ with LibTorch."));
  cardFiles_ = new QCheckBox(tr("Model card (model.json + MODEL_CARD.md)"), this);
  cardFiles_->setToolTip(tr("Classes, input size and normalisation, training precision, metrics, intended use."));
  checkpoint_ = new QCheckBox(tr("Training checkpoint (checkpoint.pt) — resume training in AmpBench"), this);
  checkpoint_->setToolTip(tr("Model, optimizer, loss scaler and schedule state: continue training later."));
  onnx_->setChecked(settings.value(QStringLiteral("export/onnx"), true).toBool());
  onnxFp16_->setChecked(settings.value(QStringLiteral("export/onnxFp16"), false).toBool());
  torch_->setChecked(settings.value(QStringLiteral("export/torch"), true).toBool());
  cardFiles_->setChecked(settings.value(QStringLiteral("export/card"), true).toBool());
  checkpoint_->setChecked(settings.value(QStringLiteral("export/checkpoint"), false).toBool());
  if (!ampbench::onnxExportSupported()) {
    onnx_->setChecked(false);
    onnx_->setEnabled(false);
    onnx_->setText(tr("ONNX (model.onnx) — not available: this build has no ONNX library"));
  }
  onnxFp16_->setEnabled(onnx_->isChecked());
  connect(onnx_, &QCheckBox::toggled, onnxFp16_, &QWidget::setEnabled);
  auto* indented = new QHBoxLayout;
  indented->addSpacing(24);
  indented->addWidget(onnxFp16_);
  layout->addWidget(onnx_);
  layout->addLayout(indented);
  layout->addWidget(torch_);
  layout->addWidget(cardFiles_);
  layout->addWidget(checkpoint_);

  auto* row = new QHBoxLayout;
  row->addWidget(new QLabel(tr("Export to:"), this));
  dest_ = new QLineEdit(this);
  dest_->setToolTip(tr("The folder the files are written into (created when missing)."));
  dest_->setText(QDir(settings.value(QStringLiteral("export/lastParent"), QDir::homePath()).toString())
                     .filePath(QStringLiteral("%1-export").arg(QFileInfo(runDir).fileName())));
  row->addWidget(dest_, 1);
  auto* browse = new QToolButton(this);
  browse->setText(tr("…"));
  browse->setToolTip(tr("Choose the export folder."));
  connect(browse, &QToolButton::clicked, this, [this]() {
    const QString d = QFileDialog::getExistingDirectory(this, tr("Export to"), dest_->text());
    if (!d.isEmpty()) {
      dest_->setText(d);
    }
  });
  row->addWidget(browse);
  layout->addLayout(row);

  result_ = new QLabel(this);
  result_->setWordWrap(true);
  result_->setTextInteractionFlags(Qt::TextSelectableByMouse);
  layout->addWidget(result_);

  auto* buttons = new QDialogButtonBox(QDialogButtonBox::Close, this);
  exportButton_ = buttons->addButton(tr("Export"), QDialogButtonBox::ActionRole);
  exportButton_->setToolTip(tr("Write the ticked files into the folder."));
  exportButton_->setDefault(true);
  connect(exportButton_, &QPushButton::clicked, this, &ExportDialog::startExport);
  connect(buttons, &QDialogButtonBox::rejected, this, &QDialog::reject);
  layout->addWidget(buttons);
  connect(&watcher_, &QFutureWatcher<ExportResult>::finished, this, &ExportDialog::onExportDone);
  connect(&previewWatcher_, &QFutureWatcher<QString>::finished, this, &ExportDialog::onPreviewDone);
  previewWatcher_.setFuture(QtConcurrent::run([runDir]() { return modelCardPreview(runDir); }));
}

// The workers hold no pointer to the dialog. A running export sees the token before it
// moves its files into place and removes them instead; nothing waits for it here.
ExportDialog::~ExportDialog() { cancel_.cancel(); }

QString ExportDialog::destination() const { return dest_->text().trimmed(); }
void ExportDialog::setDestination(const QString& dir) { dest_->setText(dir); }
QString ExportDialog::resultText() const { return result_->text(); }
QString ExportDialog::cardText() const { return card_->toPlainText(); }

void ExportDialog::onPreviewDone() {
  if (previewWatcher_.future().resultCount() > 0) {
    card_->setPlainText(previewWatcher_.result());
  }
}

void ExportDialog::startExport() {
  const QString dest = destination();
  if (dest.isEmpty()) {
    result_->setText(tr("Choose a folder to export to."));
    return;
  }
  exportButton_->setEnabled(false);
  result_->setText(tr("Exporting… (closing this dialog cancels the export)"));
  const QString run = runDir_;
  const bool onnx = onnx_->isEnabled() && onnx_->isChecked();
  const bool fp16 = onnx && onnxFp16_->isChecked();
  const bool torch = torch_->isChecked();
  const bool card = cardFiles_->isChecked();
  const bool checkpoint = checkpoint_->isChecked();
  const ampbench::CancelToken cancel = cancel_;
  const std::function<void()> staged = stagedHook_;
  const bool onnxTicked = onnx_->isChecked(), fp16Ticked = onnxFp16_->isChecked();
  watcher_.setFuture(QtConcurrent::run([=]() {
    // The choices are remembered on the worker too: a QSettings write ends in an fsync
    // (QSaveFile), 10-50 ms on this shared disk, which was the GUI thread's largest share
    // of an export (bench/gui_stall). QSettings objects may be used from any thread.
    {
      QSettings settings;
      settings.setValue(QStringLiteral("export/onnx"), onnxTicked);
      settings.setValue(QStringLiteral("export/onnxFp16"), fp16Ticked);
      settings.setValue(QStringLiteral("export/torch"), torch);
      settings.setValue(QStringLiteral("export/card"), card);
      settings.setValue(QStringLiteral("export/checkpoint"), checkpoint);
    }
    ExportResult r = exportRun(run, dest, onnx, torch, card, checkpoint, fp16, cancel, staged);
    if (r.error.isEmpty()) {
      QSettings().setValue(QStringLiteral("export/lastParent"), QFileInfo(dest).absolutePath());
    }
    return r;
  }));
}

void ExportDialog::onExportDone() {
  exportButton_->setEnabled(true);
  const ExportResult r = watcher_.result();
  if (!r.error.isEmpty()) {
    result_->setText(QStringLiteral("<span style='color:#a40000'>%1</span>").arg(r.error.toHtmlEscaped()));
    Q_EMIT exportFinished(false);
    return;
  }
  QStringList names;
  for (const QString& path : r.written) {
    names << QFileInfo(path).fileName();
  }
  result_->setText(tr("Wrote %1 to %2.").arg(names.join(QStringLiteral(", ")), QDir::toNativeSeparators(destination())));
  Q_EMIT exportFinished(true);
}

}  // namespace ampbench::ui
