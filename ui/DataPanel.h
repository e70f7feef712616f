#pragma once
// Choosing and checking a dataset: a folder (QFileDialog, drag and drop, recent folders)
// or a MedMNIST .npz. The scan (engine scanDataset + thumbnails) runs off the GUI thread
// with progress; then the panel shows classes, counts per split, a thumbnail strip per
// class and the skipped files with reasons. Problems are shown inline with what to do,
// and dataUsableChanged(false) keeps Train disabled until the data is usable.

#include "ui/QtTypes.h"

#include "engine/util/CancelToken.h"

#include <QFutureWatcher>
#include <QImage>
#include <QMap>
#include <QStringList>
#include <QVector>
#include <QWidget>

class QComboBox;
class QLabel;
class QProgressBar;
class QPushButton;
class QTableWidget;
class QToolButton;
class QListWidget;
class QVBoxLayout;

namespace ampbench::ui {

struct ScanResult {
  QString path;
  QString error;  // InputError message (what to do) or another failure; empty when usable
  bool cancelled = false;
  ampbench::DatasetSummary summary;
  QVector<QPair<int, QImage>> thumbnails;  // class index, image
};

class DataPanel : public QWidget {
  Q_OBJECT

 public:
  static constexpr int kMaxRecent = 8;
  static constexpr int kThumbnailsPerClass = 6;
  static constexpr int kThumbnailSize = 40;

  explicit DataPanel(QWidget* parent = nullptr);
  ~DataPanel() override;

  QString dataPath() const { return path_; }
  bool isUsable() const { return usable_; }
  bool isScanning() const;
  QString problem() const;  // the inline message, empty when fine
  const ampbench::DatasetSummary& summary() const { return result_.summary; }

 public Q_SLOTS:
  // Starts a scan of `path` (folder or .npz).
  void setDataPath(const QString& path);
  void chooseFolder();
  void chooseNpz();

 Q_SIGNALS:
  void dataUsableChanged(bool usable);
  void scanFinished(bool usable);

 protected:
  void dragEnterEvent(QDragEnterEvent* event) override;
  void dropEvent(QDropEvent* event) override;

 private:
  void onScanDone();
  void cancelScan();
  void showResult();
  void setUsable(bool usable);
  void rememberRecent(const QString& path);

  QComboBox* pathCombo_ = nullptr;
  QToolButton* browseButton_ = nullptr;
  QProgressBar* progress_ = nullptr;
  QLabel* status_ = nullptr;
  QLabel* problem_ = nullptr;
  QTableWidget* counts_ = nullptr;
  QWidget* thumbnails_ = nullptr;
  QVBoxLayout* thumbnailsLayout_ = nullptr;
  QToolButton* skippedToggle_ = nullptr;
  QListWidget* skipped_ = nullptr;

  QString path_;
  bool usable_ = false;
  ScanResult result_;
  QFutureWatcher<ScanResult> watcher_;
  ampbench::CancelToken scanCancel_;  // the running scan's; replaced for each scan
};

// Runs the engine's scan and thumbnail sampling (any thread). Never throws.
ScanResult scanForPanel(const QString& path, const std::function<void(const ampbench::DataProgressEvent&)>& progress,
                        int thumbnailsPerClass, int thumbnailSize,
                        const ampbench::CancelToken& cancel = ampbench::CancelToken{});

}  // namespace ampbench::ui
