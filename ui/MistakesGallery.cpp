#include "ui/MistakesGallery.h"

#include "engine/data/Image.h"

#include <QPainter>
#include <QtMath>
#include <QStyle>
#include <QPromise>
#include <QtConcurrent>

#include <exception>

namespace ampbench::ui {
namespace {

QImage toQImage(const ampbench::Image8& img) {
  if (img.width <= 0 || img.height <= 0 || img.pixels.empty()) {
    return {};
  }
  const QImage::Format format = img.channels == 3 ? QImage::Format_RGB888 : QImage::Format_Grayscale8;
  const QImage view(img.pixels.data(), img.width, img.height, img.width * img.channels, format);
  return view.copy();  // own the pixels
}

// A grey square saying why there is no picture.
// Drawn at the screen's device pixel ratio, so the text is crisp on HiDPI screens.
QIcon placeholder(int size, qreal dpr, const QString& text) {
  QPixmap pixmap(qCeil(size * dpr), qCeil(size * dpr));
  pixmap.setDevicePixelRatio(dpr);
  pixmap.fill(QColor(236, 236, 236));
  QPainter p(&pixmap);
  p.setPen(QColor(90, 90, 90));
  p.drawText(pixmap.rect().adjusted(6, 6, -6, -6), Qt::AlignCenter | Qt::TextWordWrap, text);
  return QIcon(pixmap);
}

}  // namespace

MistakesGallery::MistakesGallery(QWidget* parent) : QListWidget(parent) {
  setViewMode(QListView::IconMode);
  setIconSize(QSize(kThumbnailSize, kThumbnailSize));
  setGridSize(QSize(kThumbnailSize + 64, kThumbnailSize + 76));  // three lines: true, called, p
  setResizeMode(QListView::Adjust);
  setMovement(QListView::Static);
  setWordWrap(true);
  setUniformItemSizes(true);
  setSelectionMode(QAbstractItemView::SingleSelection);
  setToolTip(tr("The most confident mistakes at the threshold, missed positives first. Click one to see it large "
                "with its Grad-CAM overlay."));
  auto activate = [this](QListWidgetItem* item) {
    const int i = row(item);
    if (i >= 0 && i < items_.size()) {
      Q_EMIT imageActivated(items_[i]);
    }
  };
  // Enter (and a click where the style activates on one); else a single click too.
  connect(this, &QListWidget::itemActivated, this, activate);
  if (!style()->styleHint(QStyle::SH_ItemView_ActivateItemOnSingleClick, nullptr, this)) {
    connect(this, &QListWidget::itemClicked, this, activate);
  }
  connect(&watcher_, &QFutureWatcher<Decoded>::resultReadyAt, this, &MistakesGallery::onDecoded);
  connect(&watcher_, &QFutureWatcherBase::finished, this, &MistakesGallery::onDecodeFinished);
}

MistakesGallery::~MistakesGallery() {
  watcher_.cancel();  // the decoder holds copies only: it stops after its current image, unwatched
}

void MistakesGallery::setMistakes(const QVector<MistakeItem>& items) {
  items_ = items;
  clear();
  QStringList missing;
  for (int i = 0; i < items_.size(); ++i) {
    const MistakeItem& m = items_[i];
    auto* item = new QListWidgetItem(m.label, this);
    item->setToolTip(m.tooltip);
    item->setTextAlignment(Qt::AlignHCenter | Qt::AlignTop);
    if (cache_.contains(m.path)) {
      applyThumbnail(i, cache_.value(m.path), errors_.value(m.path));
    } else {
      item->setIcon(placeholder(kThumbnailSize, devicePixelRatioF(), tr("loading…")));
      if (!missing.contains(m.path)) {
        missing << m.path;
      }
    }
  }
  if (watcher_.isRunning()) {
    watcher_.cancel();  // the next request replaces it; a decoded image still lands in the cache
  }
  if (missing.isEmpty()) {
    decoding_ = false;
    Q_EMIT thumbnailsReady();
    return;
  }
  decoding_ = true;
  // Thumbnails in device pixels (HiDPI: 2x the icon size), marked with the ratio for Qt to draw 1:1.
  const qreal dpr = devicePixelRatioF();
  const int size = qCeil(kThumbnailSize * dpr);
  watcher_.setFuture(QtConcurrent::run([missing, size, dpr](QPromise<Decoded>& promise) {
    for (const QString& path : missing) {
      if (promise.isCanceled()) {
        return;
      }
      Decoded d;
      d.path = path;
      try {
        // Reduced-size decoding where the format allows it; the thumbnail is scaled here too.
        const QImage full = toQImage(ampbench::decodeImageFile(path.toStdString(), 1, size * 2));
        d.image = full.scaled(size, size, Qt::KeepAspectRatio, Qt::SmoothTransformation);
        d.image.setDevicePixelRatio(dpr);
      } catch (const std::exception& e) {
        d.error = QString::fromStdString(e.what());
      }
      promise.addResult(d);
    }
  }));
}

void MistakesGallery::onDecoded(int index) {
  const Decoded d = watcher_.resultAt(index);
  cache_.insert(d.path, d.image);
  if (!d.error.isEmpty()) {
    errors_.insert(d.path, d.error);
  }
  for (int i = 0; i < items_.size(); ++i) {
    if (items_[i].path == d.path) {
      applyThumbnail(i, d.image, d.error);
    }
  }
}

void MistakesGallery::onDecodeFinished() {
  decoding_ = false;
  bool all = true;
  for (const auto& m : items_) {
    all = all && cache_.contains(m.path);
  }
  if (all) {
    Q_EMIT thumbnailsReady();
  }
}

void MistakesGallery::applyThumbnail(int row, const QImage& image, const QString& error) {
  QListWidgetItem* it = item(row);
  if (!it) {
    return;
  }
  if (image.isNull()) {
    it->setIcon(placeholder(kThumbnailSize, devicePixelRatioF(), tr("cannot show: %1").arg(error.isEmpty() ? tr("not decoded") : error)));
    it->setToolTip(items_[row].tooltip + QLatin1Char('\n') + error);
    return;
  }
  it->setIcon(QIcon(QPixmap::fromImage(image)));
}

QImage MistakesGallery::thumbnail(int i) const {
  return i >= 0 && i < items_.size() ? cache_.value(items_[i].path) : QImage();
}

}  // namespace ampbench::ui
