#pragma once
// "Try an image": X-ray files dropped on the window's results area or chosen with
// File ▸ Predict… are shown in the image inspector (probabilities and the Grad-CAM
// overlay) for the run selected in the runs list (a comparison: its baseline run), else
// the last run, or for an exported model folder the user picked ("Use an exported model
// folder…", until a run is selected again). The file and folder dialogs are injectable
// callbacks, so tests drive it without a modal.

#include <QObject>
#include <QString>
#include <QStringList>

#include <functional>
#include <memory>

class QMimeData;
class QWidget;

namespace ampbench::ui {

class GradCamCache;
class ImageInspectorDialog;

class PredictDriver : public QObject {
  Q_OBJECT

 public:
  using CurrentRun = std::function<QString()>;  // the run (or comparison) the user has in front
  using ChooseFiles = std::function<QStringList(const QString& startDir)>;
  using ChooseFolder = std::function<QString(const QString& startDir)>;

  PredictDriver(QWidget* window, CurrentRun currentRun, QObject* parent = nullptr,
                std::shared_ptr<GradCamCache> cache = {});
  ~PredictDriver() override;

  void setChooseFiles(ChooseFiles choose) { chooseFiles_ = std::move(choose); }
  void setChooseFolder(ChooseFolder choose) { chooseFolder_ = std::move(choose); }
  // Files dropped on `target` (or a child that takes no drops itself) are predicted.
  void attachDropTarget(QWidget* target);

  // The run or model folder predictions use now; empty with `why` set when there is none.
  QString modelSource(QString* why = nullptr) const;
  QString modelFolder() const { return modelFolder_; }
  // The dialog, created on first use.
  ImageInspectorDialog* dialog();
  // The local files of a drag (folders left out).
  static QStringList droppedFiles(const QMimeData* mime);
  // The file dialog's filter: images and DICOM, or any file.
  static QString fileFilter();

 public Q_SLOTS:
  void predictWithDialog();
  void chooseModelFolder();
  // Returns false (with a message) when the folder holds neither model.pt nor checkpoint.pt.
  bool useModelFolder(const QString& dir);
  void clearModelFolder();
  // Shows the files in the inspector; false (with a message) when there is no model to use.
  bool predictFiles(const QStringList& files);

 Q_SIGNALS:
  void message(const QString& text, bool error);

 protected:
  bool eventFilter(QObject* watched, QEvent* event) override;

 private:
  QWidget* window_ = nullptr;
  CurrentRun currentRun_;
  ChooseFiles chooseFiles_;
  ChooseFolder chooseFolder_;
  std::shared_ptr<GradCamCache> cache_;
  ImageInspectorDialog* dialog_ = nullptr;
  QString modelFolder_;
  QString lastImageDir_;
};

}  // namespace ampbench::ui
