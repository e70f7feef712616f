#include "ui/GradCamCache.h"

#include "ui/QtImage.h"
#include "ui/QtTypes.h"

#include <QDateTime>
#include <QDir>
#include <QFileInfo>

#include <algorithm>
#include <exception>

namespace ampbench::ui {
namespace {

// A run retrained or resumed in place has new weights: the key changes with them.
QString cacheKey(const QString& runOrModel) {
  const QFileInfo info(runOrModel);
  const QString path = info.absoluteFilePath();
  QString weights = path;
  if (info.isDir()) {
    const QDir dir(path);
    // The weights readRunInfo loads: an export's model.pt; a run's selected epoch (best.pt), else its last.
    weights = dir.filePath(QStringLiteral("model.pt"));
    const bool exported = !QFileInfo::exists(dir.filePath(QStringLiteral("config.json"))) &&
                          QFileInfo::exists(dir.filePath(QStringLiteral("model.json")));
    const QStringList names = exported ? QStringList{QStringLiteral("model.pt")}
                                       : QStringList{QStringLiteral("best.pt"), QStringLiteral("checkpoint.pt")};
    for (const QString& name : names) {
      if (QFileInfo::exists(dir.filePath(name))) {
        weights = dir.filePath(name);
        break;
      }
    }
  }
  const QFileInfo w(weights);
  // The run's decision threshold (chosen on the Results tab after the explainer was built)
  // is how the explainer calls a class: a new one makes a new explainer.
  const QFileInfo d(info.isDir() ? QDir(path).filePath(QStringLiteral("decision.json"))
                                 : info.dir().filePath(QStringLiteral("decision.json")));
  return path + QLatin1Char('|') + QString::number(w.exists() ? w.lastModified().toMSecsSinceEpoch() : 0) +
         QLatin1Char('|') + QString::number(w.exists() ? w.size() : 0) + QLatin1Char('|') +
         QString::number(d.exists() ? d.lastModified().toMSecsSinceEpoch() : 0) + QLatin1Char('|') +
         QString::number(d.exists() ? d.size() : 0);
}

QImage displayImage(const QString& path, int channels, int maxSide, const ampbench::Image8& fallback) {
  QImage image;
  try {
    image = toQImage(ampbench::decodeImageFile(path.toStdString(), channels == 3 ? 3 : 1, maxSide));
  } catch (const std::exception&) {
    image = {};  // the model read it (explain succeeded); show what the model saw instead
  }
  if (image.isNull()) {
    image = toQImage(fallback);
  }
  if (!image.isNull() && std::max(image.width(), image.height()) > maxSide) {
    image = image.scaled(maxSide, maxSide, Qt::KeepAspectRatio, Qt::SmoothTransformation);
  }
  return image;
}

// The QImage as an Image8 of its own channel count (grayscale or RGB).
ampbench::Image8 toImage8(const QImage& in) {
  const bool gray = in.format() == QImage::Format_Grayscale8;
  const QImage image = gray ? in : in.convertToFormat(QImage::Format_RGB888);
  ampbench::Image8 out;
  out.width = image.width();
  out.height = image.height();
  out.channels = gray ? 1 : 3;
  const size_t row = static_cast<size_t>(out.width) * static_cast<size_t>(out.channels);
  out.pixels.resize(row * static_cast<size_t>(out.height));
  for (int y = 0; y < out.height; ++y) {
    std::copy_n(image.constScanLine(y), row, out.pixels.data() + row * static_cast<size_t>(y));
  }
  return out;
}

}  // namespace

GradCamCache::GradCamCache(int capacity) : capacity_(std::max(1, capacity)) {}

std::shared_ptr<GradCamCache> GradCamCache::shared() {
  static const std::shared_ptr<GradCamCache> cache = std::make_shared<GradCamCache>(2);
  return cache;
}

int GradCamCache::modelsLoaded() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return loaded_;
}

void GradCamCache::clear() {
  std::lock_guard<std::mutex> lock(mutex_);
  entries_.clear();
}

std::shared_ptr<ampbench::GradCamExplainer> GradCamCache::explainerFor(const QString& runOrModel) {
  const QString key = cacheKey(runOrModel);
  auto it = std::find_if(entries_.begin(), entries_.end(), [&key](const Entry& e) { return e.key == key; });
  if (it != entries_.end()) {
    entries_.splice(entries_.begin(), entries_, it);
    return entries_.front().explainer;
  }
  // Throws InputError (no checkpoint, not a run): nothing is cached then.
  auto explainer = std::make_shared<ampbench::GradCamExplainer>(runOrModel.toStdString());
  ++loaded_;
  entries_.push_front(Entry{key, explainer});
  while (static_cast<int>(entries_.size()) > capacity_) {
    entries_.pop_back();
  }
  return explainer;
}

InspectOutcome GradCamCache::inspect(const InspectJob& job) {
  InspectOutcome out;
  std::lock_guard<std::mutex> lock(mutex_);
  try {
    const auto explainer = explainerFor(job.runOrModel);
    for (const auto& c : explainer->classes()) {
      out.classes << qs(c);
    }
    out.layer = qs(explainer->layer());
    out.precisionLabel = qs(explainer->precisionLabel());
    std::optional<int64_t> target;
    if (job.targetClass && *job.targetClass >= 0 && *job.targetClass < out.classes.size()) {
      target = *job.targetClass;
    }
    const ampbench::GradCamResult r = explainer->explain(job.imagePath.toStdString(), target);
    out.error = qs(r.error);
    if (r.probabilities.empty()) {
      return out;  // not an image: nothing to show but the reason
    }
    out.probabilities.reserve(static_cast<int>(r.probabilities.size()));
    for (double p : r.probabilities) {
      out.probabilities << p;
    }
    out.predicted = static_cast<int>(r.predicted);
    out.decisionRule = qs(r.decisionRule);
    out.targetClass = static_cast<int>(r.targetClass);
    out.base = displayImage(job.imagePath, r.input.channels, job.maxDisplaySide, r.input);
    if (out.base.isNull()) {
      out.error = QObject::tr("The image was classified but could not be shown.");
      return out;
    }
    if (!r.cam.values.empty()) {  // empty: the map overflowed (the error says where); no map is drawn
      // The colour map alone (weight 1); the widget blends it at the slider's opacity.
      out.heat = toQImage(ampbench::overlayHeatMap(toImage8(out.base), r.cam, 1.0));
    }
  } catch (const std::exception& e) {
    out.error = QString::fromStdString(e.what());
  } catch (...) {
    out.error = QObject::tr("Grad-CAM failed for an unknown reason.");
  }
  return out;
}

}  // namespace ampbench::ui
