#pragma once
// Export a trained run with the engine's exporters (engine/export/Export.h): ONNX,
// the PyTorch/LibTorch archive and the model card (model.json + MODEL_CARD.md), plus
// optionally the training checkpoint. The model card is shown before saving. Nothing
// runs on the GUI thread: the card preview is read and the export written on workers.
// The export writes into a hidden staging folder inside the destination and moves the
// files into place only when it was not cancelled, so closing the dialog mid-export
// returns at once and leaves no file behind. Bad input (an incomplete run, no ONNX
// support in this build) is shown inline with the engine's message.

#include <QDialog>
#include <QFutureWatcher>
#include <QString>
#include <QStringList>

#include <functional>

#include "engine/util/CancelToken.h"

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
  // Cancels an export in progress without waiting for it (see exportRun).
  ~ExportDialog() override;

  // The model card as MODEL_CARD.md would read: the run's model.json when it has one,
  // else built from config.json / dataset.json / metrics.json by the engine. On
  // failure returns the reason (the run is incomplete) prefixed by "No model card: ".
  static QString modelCardPreview(const QString& runDir);
  // Runs the engine's export (any thread) into a staging folder inside destDir, copies
  // checkpoint.pt when asked, then moves the files into destDir unless `cancel` was set
  // (the staged files are then removed, and destDir too when this created it and it is
  // empty). `staged` runs (on the worker) between the two: tests hold the export there.
  // Never throws.
  static ExportResult exportRun(const QString& runDir, const QString& destDir, bool onnx, bool torch, bool card,
                                bool checkpoint, bool onnxFp16Weights,
                                const ampbench::CancelToken& cancel = ampbench::CancelToken{},
                                const std::function<void()>& staged = {});

  QString destination() const;
  void setDestination(const QString& dir);
  // Starts the export (asynchronous); exportFinished() follows.
  void startExport();
  bool isExporting() const { return watcher_.isRunning(); }
  // Tests: exportRun's `staged` callback for the exports this dialog starts.
  void setStagedHook(std::function<void()> hook) { stagedHook_ = std::move(hook); }
  QString resultText() const;
  QString cardText() const;
  bool isPreviewLoading() const { return previewWatcher_.isRunning(); }

 Q_SIGNALS:
  void exportFinished(bool ok);

 private:
  void onExportDone();
  void onPreviewDone();

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
  QFutureWatcher<QString> previewWatcher_;
  ampbench::CancelToken cancel_;
  std::function<void()> stagedHook_;
};

}  // namespace ampbench::ui
