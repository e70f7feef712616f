#pragma once
// The Results tab's gallery of the most confident mistakes: a thumbnail per image with
// "true PNEUMONIA → called NORMAL, p = 0.93" under it, in the presenter's order (missed
// positives first). Thumbnails are decoded on a worker with the engine's decodeImageFile
// (DICOM included), never on the GUI thread, and kept per path; a file that cannot be
// decoded shows its reason instead. Activating a thumbnail emits imageActivated.

#include "ui/ResultsPresenter.h"

#include <QFutureWatcher>
#include <QHash>
#include <QImage>
#include <QListWidget>

namespace ampbench::ui {

class MistakesGallery : public QListWidget {
  Q_OBJECT

 public:
  static constexpr int kThumbnailSize = 112;

  explicit MistakesGallery(QWidget* parent = nullptr);
  ~MistakesGallery() override;

  void setMistakes(const QVector<MistakeItem>& items);
  const QVector<MistakeItem>& mistakes() const { return items_; }
  // Until every decoded thumbnail is on screen (not merely decoded).
  bool isDecoding() const { return decoding_; }
  // The decoded thumbnail of item i (null while decoding or when it could not be decoded).
  QImage thumbnail(int i) const;

 Q_SIGNALS:
  void imageActivated(const ampbench::ui::MistakeItem& item);
  void thumbnailsReady();  // every thumbnail of the current items decoded (or failed)

 private:
  struct Decoded {
    QString path;
    QImage image;
    QString error;
  };
  void onDecoded(int index);
  void onDecodeFinished();
  void applyThumbnail(int row, const QImage& image, const QString& error);

  QVector<MistakeItem> items_;
  QHash<QString, QImage> cache_;
  QHash<QString, QString> errors_;
  QFutureWatcher<Decoded> watcher_;
  bool decoding_ = false;
};

}  // namespace ampbench::ui
