#include "ui/RunFiles.h"

#include <QDir>
#include <QFile>
#include <QFileInfo>
#include <QHash>
#include <QTextStream>

#include <exception>
#include <functional>

namespace ampbench::ui {
namespace {

// Calls `row` for every data line of a CSV with a header, giving a column lookup.
bool readCsv(const QString& path, const std::function<void(const std::function<double(const char*)>&)>& row) {
  QFile file(path);
  if (!file.open(QIODevice::ReadOnly | QIODevice::Text)) {
    return false;
  }
  QTextStream in(&file);
  const QStringList header = in.readLine().trimmed().split(QLatin1Char(','));
  QHash<QString, int> column;
  for (int i = 0; i < header.size(); ++i) {
    column.insert(header[i].trimmed(), i);
  }
  while (!in.atEnd()) {
    const QString line = in.readLine().trimmed();
    if (line.isEmpty()) {
      continue;
    }
    const QStringList cells = line.split(QLatin1Char(','));
    row([&](const char* name) {
      const int i = column.value(QLatin1String(name), -1);
      if (i < 0 || i >= cells.size()) {
        return 0.0;
      }
      const QString cell = cells[i].trimmed();
      if (cell == QLatin1String("true")) {
        return 1.0;
      }
      if (cell == QLatin1String("false")) {
        return 0.0;
      }
      return cell.toDouble();
    });
  }
  return true;
}

}  // namespace

bool isComparisonDir(const QString& dir) { return QFileInfo::exists(QDir(dir).filePath(QStringLiteral("comparison.json"))); }

bool isRunDir(const QString& dir) {
  const QDir d(dir);
  return QFileInfo::exists(d.filePath(QStringLiteral("steps.csv"))) ||
         QFileInfo::exists(d.filePath(QStringLiteral("epochs.csv")));
}

RunHistory loadRunHistory(const QString& runDir) {
  RunHistory h;
  h.runDir = QDir(runDir).absolutePath();
  const QDir d(runDir);
  const bool haveSteps = readCsv(d.filePath(QStringLiteral("steps.csv")), [&](const auto& col) {
    ampbench::StepEvent s;
    s.epoch = static_cast<int64_t>(col("epoch"));
    s.step = static_cast<int64_t>(col("step"));
    s.loss = col("loss");
    s.lr = col("lr");
    s.lossScale = col("loss_scale");
    s.overflow = col("overflow") != 0.0;
    s.skipped = col("skipped") != 0.0;
    s.imagesPerSecond = col("images_per_s");
    h.steps.push_back(s);
  });
  const bool haveEpochs = readCsv(d.filePath(QStringLiteral("epochs.csv")), [&](const auto& col) {
    ampbench::EpochEvent e;
    e.epoch = static_cast<int64_t>(col("epoch"));
    e.trainLoss = col("train_loss");
    e.trainAccuracy = col("train_acc");
    e.val.loss = col("val_loss");
    e.val.accuracy = col("val_acc");
    e.val.auc = col("val_auc");
    e.validated = e.val.loss != 0.0 || e.val.accuracy != 0.0;
    e.epochSeconds = col("epoch_seconds");
    e.imagesPerSecond = col("images_per_s");
    e.overflowSteps = static_cast<int64_t>(col("overflow_steps"));
    e.lossScale = col("loss_scale");
    e.peakRssMb = col("peak_rss_mb");
    h.epochs.push_back(e);
  });
  for (auto& e : h.epochs) {
    e.epochs = static_cast<int64_t>(h.epochs.size());
  }
  if (QFileInfo::exists(d.filePath(QStringLiteral("config.json")))) {
    try {
      h.config = ampbench::readRunConfig(runDir.toStdString());
    } catch (const std::exception&) {
      h.config.reset();  // an unreadable config does not hide the curves
    }
  }
  if (!haveSteps && !haveEpochs) {
    h.error = QObject::tr("%1 is not a run directory: it has neither steps.csv nor epochs.csv.").arg(runDir);
  }
  return h;
}

QString runModeName(const RunHistory& history) {
  if (history.config) {
    return QString::fromStdString(ampbench::toString(history.config->precision));
  }
  return QFileInfo(history.runDir).fileName();
}

}  // namespace ampbench::ui
