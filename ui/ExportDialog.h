#pragma once
// Export a trained run with the engine's exporters (engine/export/Export.h): ONNX,
// the PyTorch/LibTorch archive and the model card (model.json + MODEL_CARD.md), plus
// optionally the training checkpoint. The model card is shown before saving. The
// export runs off the GUI thread; bad input (an incomplete run, no ONNX support in this
// build) is shown inline with the engine's message.

#include <QDialog>
#include <QFutureWatcher>
#include <QString>
#include <QStringList>

class QCheckBox;
class QLabel;
class QLineEdit;
class QPlainTextEdit;
class QPushButton;

namespace ampbench::ui {

struct ExportResult {
  QStringList written;
  QString error;  // empty on success
};

class ExportDialog : public QDialog {
  Q_OBJECT

 public:
  explicit ExportDialog(const QString& runDir, QWidget* parent = nullptr);
  ~ExportDialog() override;

  // The model card as MODEL_CARD.md would read: the run's model.json when it has one,
  // else built from config.json / dataset.json / metrics.json by the engine. On
  // failure returns the reason (the run is incomplete) prefixed by "No model card: ".
  static QString modelCardPreview(const QString& runDir);
  // Runs the engine's export (any thread) and copies checkpoint.pt when asked. Never throws.
  static ExportResult exportRun(const QString& runDir, const QString& destDir, bool onnx, bool torch, bool card,
                                bool checkpoint, bool onnxFp16Weights);

  QString destination() const;
  void setDestination(const QString& dir);
  // Starts the export (asynchronous); exportFinished() follows.
  void startExport();
  bool isExporting() const { return watcher_.isRunning(); }
  QString resultText() const;

 Q_SIGNALS:
  void exportFinished(bool ok);

 private:
  void onExportDone();

  QString runDir_;
  QPlainTextEdit* card_ = nullptr;
  QCheckBox* onnx_ = nullptr;
  QCheckBox* onnxFp16_ = nullptr;
  QCheckBox* torch_ = nullptr;
  QCheckBox* cardFiles_ = nullptr;
  QCheckBox* checkpoint_ = nullptr;
  QLineEdit* dest_ = nullptr;
  QLabel* result_ = nullptr;
  QPushButton* exportButton_ = nullptr;
  QFutureWatcher<ExportResult> watcher_;
};

}  // namespace ampbench::ui
