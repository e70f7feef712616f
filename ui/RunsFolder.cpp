#include "ui/RunsFolder.h"

#include "ui/RunFiles.h"

#include <QDateTime>
#include <QDir>
#include <QFile>
#include <QFileInfo>
#include <QJsonArray>
#include <QJsonDocument>
#include <QJsonObject>
#include <QSettings>
#include <QStandardPaths>

#include <algorithm>
#include <cmath>

namespace ampbench::ui {
namespace {

const QString kRootKey = QStringLiteral("runs/root");
constexpr qint64 kMaxJsonBytes = 16 * 1024 * 1024;  // a metrics file is a few kB: larger is not ours

// Parses a JSON object file; on failure returns false with the reason.
bool readJsonObject(const QString& path, QJsonObject* out, QString* reason) {
  QFile file(path);
  if (!file.open(QIODevice::ReadOnly)) {
    *reason = QObject::tr("%1 cannot be read (%2)").arg(QFileInfo(path).fileName(), file.errorString());
    return false;
  }
  if (file.size() > kMaxJsonBytes) {
    *reason = QObject::tr("%1 is too large to be a run file").arg(QFileInfo(path).fileName());
    return false;
  }
  QJsonParseError error{};
  const QJsonDocument doc = QJsonDocument::fromJson(file.readAll(), &error);
  if (error.error != QJsonParseError::NoError || !doc.isObject()) {
    *reason = QObject::tr("%1 is not valid JSON (%2)")
                  .arg(QFileInfo(path).fileName(),
                       error.error != QJsonParseError::NoError ? error.errorString() : QObject::tr("not an object"));
    return false;
  }
  *out = doc.object();
  return true;
}

// A finite number in [0, 1], else -1 (unknown: null, NaN written as a string, absent).
double fraction(const QJsonValue& v) {
  if (!v.isDouble()) {
    return -1.0;
  }
  const double d = v.toDouble();
  return std::isfinite(d) && d >= 0.0 && d <= 1.0 ? d : -1.0;
}

QString statusName(const QString& engineStatus, bool outOfMemory) {
  if (outOfMemory) {
    return QObject::tr("out of memory");
  }
  if (engineStatus == QLatin1String("cancelled")) {
    return QObject::tr("stopped");  // as RunsPresenter names a live run's end
  }
  if (engineStatus == QLatin1String("finished") || engineStatus == QLatin1String("diverged") ||
      engineStatus == QLatin1String("failed")) {
    return engineStatus;
  }
  return QObject::tr("incomplete");
}

// The last validated epoch of epochs.csv: val_acc, val_auc (unknown: -1). Reads the file
// from the end, a run's epochs are few.
void lastValidatedEpoch(const QString& path, RunEntry* e) {
  QFile file(path);
  if (!file.open(QIODevice::ReadOnly | QIODevice::Text) || file.size() > kMaxJsonBytes) {
    return;
  }
  const QStringList lines = QString::fromUtf8(file.readAll()).split(QLatin1Char('\n'), Qt::SkipEmptyParts);
  if (lines.size() < 2) {
    return;
  }
  const QStringList header = lines.front().trimmed().split(QLatin1Char(','));
  const int acc = header.indexOf(QStringLiteral("val_acc"));
  const int auc = header.indexOf(QStringLiteral("val_auc"));
  const int rate = header.indexOf(QStringLiteral("images_per_s"));
  for (int i = lines.size() - 1; i >= 1; --i) {
    const QStringList cells = lines[i].trimmed().split(QLatin1Char(','));
    if (cells.size() != header.size()) {
      continue;  // a row being written
    }
    bool ok = false;
    const double a = acc >= 0 ? cells[acc].toDouble(&ok) : 0.0;
    if (!ok || !std::isfinite(a) || a < 0.0 || a > 1.0) {
      continue;  // not validated this epoch
    }
    e->valAccuracy = a;
    const double u = auc >= 0 ? cells[auc].toDouble(&ok) : 0.0;
    e->valAuc = ok && std::isfinite(u) && u >= 0.0 && u <= 1.0 ? u : -1.0;
    const double r = rate >= 0 ? cells[rate].toDouble(&ok) : 0.0;
    e->imagesPerSecond = ok && std::isfinite(r) && r > 0.0 ? r : 0.0;
    return;
  }
}

QDateTime newestModification(const QDir& dir, const QStringList& names) {
  QDateTime newest;
  for (const QString& name : names) {
    const QFileInfo info(dir.filePath(name));
    if (info.exists() && (!newest.isValid() || info.lastModified() > newest)) {
      newest = info.lastModified();
    }
  }
  return newest;
}

bool looksLikeRun(const QDir& d) {
  for (const char* name : {"config.json", "metrics.json", "epochs.csv", "steps.csv", "checkpoint.pt"}) {
    if (QFileInfo::exists(d.filePath(QLatin1String(name)))) {
      return true;
    }
  }
  return false;
}

// A comparison's row and its runs'. A comparison still running has no comparison.json yet:
// its runs are listed alone.
void scanComparison(const QDir& d, QVector<RunEntry>* out) {
  RunEntry c;
  c.dir = d.absolutePath();
  c.comparison = true;
  c.date = QFileInfo(d.filePath(QStringLiteral("comparison.json"))).lastModified();
  QJsonObject json;
  QString reason;
  QStringList runDirs;
  if (readJsonObject(d.filePath(QStringLiteral("comparison.json")), &json, &reason)) {
    QStringList modes;
    for (const QJsonValue& m : json.value(QStringLiteral("modes")).toArray()) {
      const QJsonObject mode = m.toObject();
      modes << mode.value(QStringLiteral("mode")).toString();
      const QString runDir = mode.value(QStringLiteral("run_dir")).toString();
      if (!runDir.isEmpty()) {
        runDirs << (QDir::isAbsolutePath(runDir) ? runDir : d.filePath(runDir));
      }
    }
    modes.removeAll(QString());
    c.mode = modes.isEmpty() ? QObject::tr("comparison") : modes.join(QObject::tr(" vs "));
    c.status = statusName(json.value(QStringLiteral("status")).toString(), false);
    if (c.status == QObject::tr("incomplete")) {
      c.note = QObject::tr("comparison.json names no known status");
    }
  } else {
    c.mode = QObject::tr("comparison");
    c.status = QObject::tr("incomplete");
    c.note = reason;
  }
  out->push_back(c);
  if (runDirs.isEmpty()) {  // unreadable comparison.json: its mode folders as they are
    for (const QFileInfo& sub : d.entryInfoList(QDir::Dirs | QDir::NoDotAndDotDot, QDir::Name)) {
      if (looksLikeRun(QDir(sub.absoluteFilePath()))) {
        runDirs << sub.absoluteFilePath();
      }
    }
  }
  for (const QString& runDir : runDirs) {
    if (QFileInfo(runDir).isDir()) {
      out->push_back(scanRunDir(runDir));
    }
  }
}

}  // namespace

QString defaultRunsRoot() {
  return QDir(QStandardPaths::writableLocation(QStandardPaths::AppLocalDataLocation)).filePath(QStringLiteral("runs"));
}

QString runsRoot() {
  const QString root = QSettings().value(kRootKey).toString();
  return root.isEmpty() ? defaultRunsRoot() : root;
}

void setRunsRoot(const QString& dir) {
  QSettings settings;
  if (dir.isEmpty()) {
    settings.remove(kRootKey);
  } else {
    settings.setValue(kRootKey, QDir(dir).absolutePath());
  }
}

QString newRunDir(const QString& root, const QString& label) {
  const QString stamp = QDateTime::currentDateTime().toString(QStringLiteral("yyyyMMdd-HHmmss"));
  QString dir = QDir(root).filePath(stamp + QLatin1Char('-') + label);
  for (int i = 2; QFileInfo::exists(dir); ++i) {
    dir = QDir(root).filePath(QStringLiteral("%1-%2-%3").arg(stamp, label).arg(i));
  }
  return dir;
}

RunEntry scanRunDir(const QString& dirPath) {
  const QDir d(dirPath);
  RunEntry e;
  e.dir = d.absolutePath();
  e.date = newestModification(d, {QStringLiteral("metrics.json"), QStringLiteral("epochs.csv"), QStringLiteral("steps.csv"),
                                   QStringLiteral("config.json")});
  if (!e.date.isValid()) {
    e.date = QFileInfo(e.dir).lastModified();
  }
  QStringList problems;
  QJsonObject config;
  QString reason;
  if (!QFileInfo::exists(d.filePath(QStringLiteral("config.json")))) {
    problems << QObject::tr("no config.json");
  } else if (readJsonObject(d.filePath(QStringLiteral("config.json")), &config, &reason)) {
    e.mode = config.value(QStringLiteral("precision")).toObject().value(QStringLiteral("mode")).toString();
  } else {
    problems << reason;
  }
  if (e.mode.isEmpty()) {
    e.mode = QFileInfo(e.dir).fileName();  // a comparison's runs are named after their mode
  }
  QJsonObject metrics;
  const QString metricsPath = d.filePath(QStringLiteral("metrics.json"));
  if (!QFileInfo::exists(metricsPath)) {
    problems << QObject::tr("no metrics.json: the run was interrupted, is still running, or never started");
  } else if (readJsonObject(metricsPath, &metrics, &reason)) {
    e.status = statusName(metrics.value(QStringLiteral("status")).toString(),
                          metrics.value(QStringLiteral("out_of_memory")).toBool(false));
    const QJsonObject val = metrics.value(QStringLiteral("val")).toObject();
    e.valAccuracy = fraction(val.value(QStringLiteral("accuracy")));
    e.valAuc = fraction(val.value(QStringLiteral("auc")));
    // The run's own evaluation of its kept model (evaluation_val.json, at its decision
    // threshold) is the accuracy the Results tab shows: the list must not show another.
    QJsonObject evaluation;
    QString ignored;
    const QString evaluationPath = d.filePath(QStringLiteral("evaluation_val.json"));
    // Only a finished run writes it; one left by an earlier run in a reused folder is not this run's.
    const bool finished = metrics.value(QStringLiteral("status")).toString() == QLatin1String("finished");
    if (finished && QFileInfo::exists(evaluationPath) && readJsonObject(evaluationPath, &evaluation, &ignored) &&
        fraction(evaluation.value(QStringLiteral("accuracy"))) >= 0) {
      e.valAccuracy = fraction(evaluation.value(QStringLiteral("accuracy")));
    }
    const QJsonValue rate = metrics.value(QStringLiteral("images_per_s"));
    e.imagesPerSecond = rate.isDouble() && std::isfinite(rate.toDouble()) ? std::max(0.0, rate.toDouble()) : 0.0;
  } else {
    problems << reason;
  }
  if (e.status.isEmpty()) {
    e.status = QObject::tr("incomplete");
  }
  if (e.status == QObject::tr("incomplete") && e.valAccuracy < 0) {
    lastValidatedEpoch(d.filePath(QStringLiteral("epochs.csv")), &e);  // as far as it got
  }
  e.note = problems.join(QStringLiteral("; "));
  return e;
}

RunsScan scanRunsFolder(const QString& root) {
  RunsScan scan;
  scan.root = QDir(root).absolutePath();
  const QDir dir(scan.root);
  if (!dir.exists()) {
    return scan;  // nothing trained yet
  }
  if (!QFileInfo(scan.root).isReadable()) {
    scan.error = QObject::tr("The runs folder %1 cannot be read.").arg(QDir::toNativeSeparators(scan.root));
    return scan;
  }
  // Groups keep a comparison's runs right below it; groups sort newest first.
  QVector<QVector<RunEntry>> groups;
  for (const QFileInfo& info : dir.entryInfoList(QDir::Dirs | QDir::Files | QDir::NoDotAndDotDot, QDir::Name)) {
    if (!info.isDir()) {
      scan.skipped << QObject::tr("%1: a file, not a run folder").arg(info.fileName());
      continue;
    }
    const QDir d(info.absoluteFilePath());
    QVector<RunEntry> group;
    if (isComparisonDir(d.absolutePath())) {
      scanComparison(d, &group);
    } else if (looksLikeRun(d)) {
      group.push_back(scanRunDir(d.absolutePath()));
    } else {
      // A comparison still running (no comparison.json yet): its mode folders.
      for (const QFileInfo& sub : d.entryInfoList(QDir::Dirs | QDir::NoDotAndDotDot, QDir::Name)) {
        if (looksLikeRun(QDir(sub.absoluteFilePath()))) {
          group.push_back(scanRunDir(sub.absoluteFilePath()));
        }
      }
      if (group.isEmpty()) {
        scan.skipped << QObject::tr("%1: no config.json, metrics.json or comparison.json").arg(info.fileName());
        continue;
      }
    }
    groups.push_back(group);
  }
  auto groupDate = [](const QVector<RunEntry>& g) {
    QDateTime newest;
    for (const RunEntry& e : g) {
      if (e.date.isValid() && (!newest.isValid() || e.date > newest)) {
        newest = e.date;
      }
    }
    return newest;
  };
  std::stable_sort(groups.begin(), groups.end(), [&](const QVector<RunEntry>& a, const QVector<RunEntry>& b) {
    const QDateTime da = groupDate(a), db = groupDate(b);
    if (da != db) {
      return da > db;
    }
    return a.front().dir > b.front().dir;  // same second: the later name (its time stamp) first
  });
  for (const auto& g : groups) {
    scan.entries += g;
  }
  return scan;
}

}  // namespace ampbench::ui
