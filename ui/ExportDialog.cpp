#include "ui/ExportDialog.h"

#include "engine/export/Export.h"
#include "engine/export/ModelCard.h"
#include "engine/util/Errors.h"

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
                                     bool checkpoint, bool onnxFp16Weights) {
  ExportResult r;
  try {
    if (onnx || torch || card) {
      ampbench::ExportOptions options;
      options.onnx = onnx;
      options.torch = torch;
      options.card = card;
      options.onnxFp16Weights = onnxFp16Weights;
      for (const auto& path : ampbench::exportRun(runDir.toStdString(), destDir.toStdString(), options)) {
        r.written << QString::fromStdString(path);
      }
    }
    if (checkpoint) {
      // The checkpoint resumes training or predicts with AmpBench itself; copied as is.
      const QString from = QDir(runDir).filePath(QStringLiteral("checkpoint.pt"));
      const QString to = QDir(destDir).filePath(QStringLiteral("checkpoint.pt"));
      const QString tmp = to + QStringLiteral(".tmp");
      if (QFileInfo(from).canonicalFilePath() != QFileInfo(to).canonicalFilePath()) {
        QDir().mkpath(destDir);
        QFile::remove(tmp);
        if (!QFile::exists(from)) {
          r.error = QObject::tr("The run has no checkpoint.pt (it did not finish an epoch).");
          return r;
        }
        if (!QFile::copy(from, tmp) || (QFile::exists(to) && !QFile::remove(to)) || !QFile::rename(tmp, to)) {
          r.error = QObject::tr("Could not write %1: check the folder's permissions and free space.").arg(to);
          return r;
        }
      }
      r.written << to;
    }
    if (r.written.isEmpty()) {
      r.error = QObject::tr("Nothing to export: tick at least one file type.");
    }
  } catch (const ampbench::InputError& e) {
    r.error = QString::fromStdString(e.what());
  } catch (const std::exception& e) {
    r.error = QObject::tr("The export failed: %1").arg(QString::fromStdString(e.what()));
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
  card_->setPlainText(modelCardPreview(runDir));
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
}

ExportDialog::~ExportDialog() { watcher_.waitForFinished(); }

QString ExportDialog::destination() const { return dest_->text().trimmed(); }
void ExportDialog::setDestination(const QString& dir) { dest_->setText(dir); }
QString ExportDialog::resultText() const { return result_->text(); }

void ExportDialog::startExport() {
  const QString dest = destination();
  if (dest.isEmpty()) {
    result_->setText(tr("Choose a folder to export to."));
    return;
  }
  QSettings settings;
  settings.setValue(QStringLiteral("export/onnx"), onnx_->isChecked());
  settings.setValue(QStringLiteral("export/onnxFp16"), onnxFp16_->isChecked());
  settings.setValue(QStringLiteral("export/torch"), torch_->isChecked());
  settings.setValue(QStringLiteral("export/card"), cardFiles_->isChecked());
  settings.setValue(QStringLiteral("export/checkpoint"), checkpoint_->isChecked());
  exportButton_->setEnabled(false);
  result_->setText(tr("Exporting…"));
  const QString run = runDir_;
  const bool onnx = onnx_->isEnabled() && onnx_->isChecked();
  const bool fp16 = onnx && onnxFp16_->isChecked();
  const bool torch = torch_->isChecked();
  const bool card = cardFiles_->isChecked();
  const bool checkpoint = checkpoint_->isChecked();
  watcher_.setFuture(QtConcurrent::run(
      [=]() { return exportRun(run, dest, onnx, torch, card, checkpoint, fp16); }));
}

void ExportDialog::onExportDone() {
  exportButton_->setEnabled(true);
  const ExportResult r = watcher_.result();
  if (!r.error.isEmpty()) {
    result_->setText(QStringLiteral("<span style='color:#a40000'>%1</span>").arg(r.error.toHtmlEscaped()));
    Q_EMIT exportFinished(false);
    return;
  }
  QSettings().setValue(QStringLiteral("export/lastParent"), QFileInfo(destination()).absolutePath());
  QStringList names;
  for (const QString& path : r.written) {
    names << QFileInfo(path).fileName();
  }
  result_->setText(tr("Wrote %1 to %2.").arg(names.join(QStringLiteral(", ")), QDir::toNativeSeparators(destination())));
  Q_EMIT exportFinished(true);
}

}  // namespace ampbench::ui
