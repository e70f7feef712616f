#include "ui/RunFiles.h"

#include "ui/PrecisionData.h"

#include <QDir>
#include <QFile>
#include <QFileInfo>
#include <QHash>
#include <QMap>
#include <QTextStream>

#include <algorithm>
#include <cmath>
#include <exception>
#include <functional>
#include <limits>

namespace ampbench::ui {
namespace {

constexpr int kRowsPerPoll = 4096;  // rows between cancel checks and progress reports

// Reports the bytes consumed since the last call (the file position runs ahead of the
// parser by the stream's buffer: close enough for a progress bar).
class ProgressTracker {
 public:
  ProgressTracker(const QFile& file, const ReadControl& control) : file_(file), control_(control) {}
  ~ProgressTracker() { report(file_.size()); }
  // True when the read should stop.
  bool poll() {
    report(file_.pos());
    return control_.isCancelled();
  }

 private:
  void report(qint64 position) {
    if (control_.progress && position > reported_) {
      control_.progress(position - reported_);
      reported_ = position;
    }
  }
  const QFile& file_;
  const ReadControl& control_;
  qint64 reported_ = 0;
};

// Calls `row` for every data line of a CSV with a header.
bool readCsv(const QString& path, const std::function<void(const CsvHeader&, const QString&)>& row,
             const ReadControl& control) {
  QFile file(path);
  if (!file.open(QIODevice::ReadOnly | QIODevice::Text)) {
    return false;
  }
  ProgressTracker tracker(file, control);
  int rows = 0;
  QTextStream in(&file);
  const CsvHeader header(in.readLine());
  while (!in.atEnd()) {
    if (++rows % kRowsPerPoll == 0 && tracker.poll()) {
      return true;
    }
    const QString line = in.readLine().trimmed();
    if (!line.isEmpty()) {
      row(header, line);
    }
  }
  return true;
}

}  // namespace

CsvHeader::CsvHeader(const QString& line) {
  const QStringList names = line.trimmed().split(QLatin1Char(','));
  for (int i = 0; i < names.size(); ++i) {
    column_.insert(names[i].trimmed(), i);
  }
}

double CsvHeader::value(const QStringList& cells, const char* name) const {
  const int i = column_.value(QLatin1String(name), -1);
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
}

ampbench::StepEvent parseStepRow(const CsvHeader& header, const QString& line) {
  const QStringList cells = line.split(QLatin1Char(','));
  auto col = [&](const char* name) { return header.value(cells, name); };
  ampbench::StepEvent s;
  s.epoch = static_cast<int64_t>(col("epoch"));
  s.step = static_cast<int64_t>(col("step"));
  s.loss = col("loss");
  s.lr = col("lr");
  s.lossScale = col("loss_scale");
  s.overflow = col("overflow") != 0.0;
  s.skipped = col("skipped") != 0.0;
  s.imagesPerSecond = col("images_per_s");
  return s;
}

ampbench::EpochEvent parseEpochRow(const CsvHeader& header, const QString& line) {
  const QStringList cells = line.split(QLatin1Char(','));
  auto col = [&](const char* name) { return header.value(cells, name); };
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
  return e;
}

bool isComparisonDir(const QString& dir) { return QFileInfo::exists(QDir(dir).filePath(QStringLiteral("comparison.json"))); }

bool isRunDir(const QString& dir) {
  const QDir d(dir);
  return QFileInfo::exists(d.filePath(QStringLiteral("steps.csv"))) ||
         QFileInfo::exists(d.filePath(QStringLiteral("epochs.csv")));
}

RunHistory loadRunHistory(const QString& runDir, const ReadControl& control) {
  RunHistory h;
  h.runDir = QDir(runDir).absolutePath();
  const QDir d(runDir);
  const bool haveSteps = readCsv(d.filePath(QStringLiteral("steps.csv")),
                                 [&](const CsvHeader& header, const QString& line) { h.steps.push_back(parseStepRow(header, line)); },
                                 control);
  const bool haveEpochs = readCsv(d.filePath(QStringLiteral("epochs.csv")),
                                  [&](const CsvHeader& header, const QString& line) { h.epochs.push_back(parseEpochRow(header, line)); },
                                  control);
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
  if (control.isCancelled()) {
    h.error = QObject::tr("Reading %1 was cancelled.").arg(runDir);
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

namespace ampbench::ui {
namespace {

// "inf", "-inf", "nan" as the engine writes non-finite values; other text through toDouble.
bool parseNumber(const QString& text, double* out) {
  const QString t = text.trimmed().toLower();
  if (t == QLatin1String("inf") || t == QLatin1String("+inf") || t == QLatin1String("infinity")) {
    *out = std::numeric_limits<double>::infinity();
    return true;
  }
  if (t == QLatin1String("-inf") || t == QLatin1String("-infinity")) {
    *out = -std::numeric_limits<double>::infinity();
    return true;
  }
  if (t == QLatin1String("nan") || t == QLatin1String("-nan")) {
    *out = std::numeric_limits<double>::quiet_NaN();
    return true;
  }
  bool ok = false;
  *out = t.toDouble(&ok);
  return ok;
}

bool parseStep(const QString& text, int64_t* out) {
  bool ok = false;
  *out = text.trimmed().toLongLong(&ok);
  return ok && *out >= 0;
}

// Stores one statistic of grad_stats.csv in `t`; false for a name it does not know or
// a value that cannot be one (negative counts, non-finite shares, bins off the axis).
bool applyStatistic(ampbench::TensorPrecisionStats* t, QString name, double v) {
  const bool scaled = name.endsWith(QLatin1String("_scaled"));
  if (scaled) {
    name.chop(7);
  }
  ampbench::Log2Histogram& h = scaled ? t->scaled : t->unscaled;
  auto count = [v](int64_t* target) {
    if (!std::isfinite(v) || v < 0) {
      return false;
    }
    *target = static_cast<int64_t>(std::llround(v));
    return true;
  };
  if (name.startsWith(QLatin1String("log2_bin_"))) {
    const QString bin = name.mid(9);
    if (bin == QLatin1String("below")) {
      return count(&h.below);
    }
    if (bin == QLatin1String("above")) {
      return count(&h.above);
    }
    bool ok = false;
    const int k = bin.toInt(&ok);
    if (!ok || k < ampbench::kLog2MinExp || k >= ampbench::kLog2MaxExp) {
      return false;
    }
    return count(&h.bins[static_cast<size_t>(k - ampbench::kLog2MinExp)]);
  }
  if (name == QLatin1String("zero_count")) {
    return count(&h.zeros);
  }
  if (name == QLatin1String("inf_count")) {
    return count(&h.infs);
  }
  if (name == QLatin1String("nan_count")) {
    return count(&h.nans);
  }
  if (!std::isfinite(v) || v < 0 || v > 1) {
    return false;  // every remaining statistic is a share
  }
  static const QHash<QString, double ampbench::FormatShares::*> kShareField{
      {QStringLiteral("underflow_share"), &ampbench::FormatShares::underflow},
      {QStringLiteral("subnormal_share"), &ampbench::FormatShares::subnormal},
      {QStringLiteral("overflow_share"), &ampbench::FormatShares::overflow}};
  for (const char* format : {"fp16_", "bf16_"}) {
    if (name.startsWith(QLatin1String(format))) {
      const auto field = kShareField.value(name.mid(5), nullptr);
      if (!field) {
        return false;
      }
      const bool fp16 = format[0] == 'f';
      ampbench::FormatShares& s = fp16 ? (scaled ? t->fp16Scaled : t->fp16) : (scaled ? t->bf16Scaled : t->bf16);
      s.*field = v;
      return true;
    }
  }
  if (scaled) {
    return false;  // the shares below have no scaled variant
  }
  if (name == QLatin1String("zero_share")) {
    t->zeroShare = v;
  } else if (name == QLatin1String("update_lost_share_fp16")) {
    t->updateLostShareFp16 = v;
  } else if (name == QLatin1String("update_lost_share_bf16")) {
    t->updateLostShareBf16 = v;
  } else {
    return false;
  }
  return true;
}

// The steps.csv row in effect at `step`: the last one at or before it.
const ampbench::StepEvent* stepAtOrBefore(const QVector<ampbench::StepEvent>& steps, int64_t step) {
  auto it = std::upper_bound(steps.begin(), steps.end(), step,
                             [](int64_t s, const ampbench::StepEvent& e) { return s < e.step; });
  return it == steps.begin() ? nullptr : &*(it - 1);
}

}  // namespace

bool GradStatsRows::add(const QString& rawLine) {
  const QString line = rawLine.trimmed();
  if (line.isEmpty()) {
    return true;
  }
  const QStringList cells = line.split(QLatin1Char(','));
  int64_t step = 0;
  double value = 0.0;
  if (cells.size() != 5 || !parseStep(cells[0], &step) || cells[1].trimmed().isEmpty() || cells[2].trimmed().isEmpty() ||
      !parseNumber(cells[4], &value)) {
    ++skipped;
    return false;
  }
  const QString layer = cells[1].trimmed();
  const QString kind = cells[2].trimmed();
  ampbench::PrecisionStatsEvent& e = byStep_[step];
  e.step = step;
  const QString key = layer + QLatin1Char('\n') + kind;
  auto& index = tensorIndex_[step];
  ampbench::TensorPrecisionStats scratch;
  ampbench::TensorPrecisionStats* t = &scratch;
  if (index.contains(key)) {
    t = &e.tensors[index.value(key)];
  }
  scratch.layer = layer.toStdString();
  scratch.kind = kind.toStdString();
  if (!applyStatistic(t, cells[3].trimmed(), value)) {
    ++skipped;
    return false;
  }
  if (t == &scratch) {
    index.insert(key, e.tensors.size());
    e.tensors.push_back(scratch);
  }
  return true;
}

QVector<ampbench::PrecisionStatsEvent> GradStatsRows::take(const QVector<ampbench::StepEvent>& stepsIn, int64_t before) {
  QVector<ampbench::StepEvent> steps = stepsIn;
  std::sort(steps.begin(), steps.end(), [](const auto& a, const auto& b) { return a.step < b.step; });
  QVector<ampbench::PrecisionStatsEvent> out;
  for (auto it = byStep_.begin(); it != byStep_.end() && (before < 0 || it.key() < before);) {
    ampbench::PrecisionStatsEvent e = it.value();
    tensorIndex_.remove(it.key());
    it = byStep_.erase(it);
    if (e.tensors.empty()) {
      continue;
    }
    for (auto& t : e.tensors) {
      t.count = histogramTotal(t.unscaled);
    }
    if (const ampbench::StepEvent* s = stepAtOrBefore(steps, e.step)) {
      e.lossScale = s->lossScale > 0 ? s->lossScale : 1.0;
      e.epoch = s->epoch;
    }
    out.push_back(e);
  }
  return out;
}

int64_t GradStatsRows::lastStep() const { return byStep_.isEmpty() ? -1 : byStep_.lastKey(); }

void GradStatsRows::clear() {
  byStep_.clear();
  tensorIndex_.clear();
  skipped = 0;
}

bool parseOverflowRow(const QString& rawLine, ampbench::OverflowAttribution* out) {
  const QStringList cells = rawLine.trimmed().split(QLatin1Char(','));
  ampbench::OverflowAttribution a;
  if (cells.size() != 4 || !parseStep(cells[0], &a.step) || cells[1].trimmed().isEmpty() || !parseNumber(cells[3], &a.value)) {
    return false;
  }
  a.layer = cells[1].trimmed().toStdString();
  a.kind = cells[2].trimmed().toStdString();
  *out = a;
  return true;
}

PrecisionHistory readPrecisionFiles(const QString& gradStatsCsv, const QString& overflowsCsv,
                                    const QVector<ampbench::StepEvent>& steps, const ReadControl& control) {
  PrecisionHistory out;
  QFile stats(gradStatsCsv);
  if (stats.open(QIODevice::ReadOnly | QIODevice::Text)) {
    out.haveStats = true;
    ProgressTracker tracker(stats, control);
    int rows = 0;
    GradStatsRows parsed;
    QTextStream in(&stats);
    if (in.readLine().trimmed() != QLatin1String(kGradStatsCsvHeader)) {
      out.skippedRows += 1;  // a file without the header still has its rows read
      in.seek(0);
    }
    while (!in.atEnd()) {
      if (++rows % kRowsPerPoll == 0 && tracker.poll()) {
        return out;
      }
      parsed.add(in.readLine());
    }
    out.samples = parsed.take(steps);
    out.skippedRows += parsed.skipped;
  }

  QFile overflows(overflowsCsv);
  if (overflows.open(QIODevice::ReadOnly | QIODevice::Text)) {
    out.haveOverflows = true;
    ProgressTracker tracker(overflows, control);
    QTextStream in(&overflows);
    if (in.readLine().trimmed() != QLatin1String(kOverflowsCsvHeader)) {
      out.skippedRows += 1;
      in.seek(0);
    }
    while (!in.atEnd()) {
      const QString line = in.readLine().trimmed();
      ampbench::OverflowAttribution a;
      if (line.isEmpty()) {
        continue;
      }
      if (!parseOverflowRow(line, &a)) {
        out.skippedRows += 1;
        continue;
      }
      out.overflows.push_back(a);
    }
    std::stable_sort(out.overflows.begin(), out.overflows.end(), [](const auto& a, const auto& b) { return a.step < b.step; });
  }
  return out;
}

PrecisionHistory loadPrecisionHistory(const RunHistory& history, const ReadControl& control) {
  const QDir d(history.runDir);
  return readPrecisionFiles(d.filePath(QStringLiteral("grad_stats.csv")), d.filePath(QStringLiteral("overflows.csv")),
                            history.steps, control);
}

ComparisonHistory loadComparisonRuns(const ampbench::ComparisonSummary& summary, const ReadControl& control) {
  ComparisonHistory c;
  c.summary = summary;
  for (const auto& run : summary.runs) {
    c.runs.push_back(loadRunHistory(qs(run.runDir), control));
    if (control.isCancelled()) {
      c.error = c.runs.back().error;
      break;
    }
  }
  return c;
}

ComparisonHistory loadComparisonHistory(const QString& dir, const ReadControl& control) {
  ampbench::ComparisonSummary summary;
  try {
    summary = ampbench::readComparison(dir.toStdString());
  } catch (const std::exception& e) {
    ComparisonHistory c;
    c.error = QObject::tr("Could not read the comparison in %1: %2").arg(dir, QString::fromStdString(e.what()));
    return c;
  }
  if (summary.outDir.empty()) {
    summary.outDir = dir.toStdString();
  }
  for (size_t i = 0; i < summary.runs.size(); ++i) {
    const QString runDir = qs(summary.runs[i].runDir);
    if (runDir.isEmpty() || !QDir(runDir).exists()) {
      // Moved folders: the mode's run sits in <dir>/<mode>/.
      summary.runs[i].runDir =
          QDir(dir).filePath(i < summary.modeNames.size() ? qs(summary.modeNames[i]) : QString()).toStdString();
    }
  }
  return loadComparisonRuns(summary, control);
}

qint64 bytesToRead(const QString& dir) {
  static const QStringList kFiles{QStringLiteral("steps.csv"), QStringLiteral("epochs.csv"),
                                  QStringLiteral("grad_stats.csv"), QStringLiteral("overflows.csv")};
  QStringList runDirs{dir};
  if (isComparisonDir(dir)) {
    runDirs = QDir(dir).entryList(QDir::Dirs | QDir::NoDotAndDotDot);
    for (QString& run : runDirs) {
      run = QDir(dir).filePath(run);
    }
  }
  qint64 total = 0;
  for (const QString& run : runDirs) {
    for (const QString& file : kFiles) {
      total += QFileInfo(QDir(run).filePath(file)).size();
    }
  }
  return total;
}

}  // namespace ampbench::ui
