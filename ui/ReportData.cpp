#include "ui/ReportData.h"

#include "engine/data/Dataset.h"
#include "engine/train/GradCam.h"
#include "engine/util/Errors.h"
#include "engine/util/Files.h"
#include "ui/Format.h"
#include "ui/QtImage.h"
#include "ui/QtTypes.h"
#include "ui/RunFiles.h"

#include <QDateTime>
#include <QDir>
#include <QFile>
#include <QFileInfo>
#include <QJsonArray>
#include <QJsonDocument>
#include <QJsonObject>

#include <algorithm>
#include <cmath>

namespace ampbench::ui {
namespace {

QJsonObject readJsonObject(const QString& path) {
  QFile f(path);
  if (!f.open(QIODevice::ReadOnly)) {
    return {};
  }
  return QJsonDocument::fromJson(f.readAll()).object();
}

QString yesNo(bool b) { return b ? QObject::tr("yes") : QObject::tr("no"); }

// A path as the report names it: relative to the dataset folder when inside it.
QString relativeToDataset(const QString& path, const QString& datasetRoot) {
  if (datasetRoot.isEmpty() || QFileInfo(path).isRelative()) {
    return path;
  }
  const QString rel = QDir(datasetRoot).relativeFilePath(path);
  return rel.startsWith(QLatin1String("..")) ? QFileInfo(path).fileName() : rel;
}

QVector<ReportRow> settingsRows(const ampbench::RunConfig& c) {
  QVector<ReportRow> rows;
  rows << ReportRow{QObject::tr("Model"),
                    qs(c.model) + (c.pretrained.empty() ? QObject::tr(" (random initial weights)")
                                                        : QObject::tr(" (initial weights: %1)")
                                                              .arg(QFileInfo(qs(c.pretrained)).fileName()))};
  rows << ReportRow{QObject::tr("Image size"), QObject::tr("%1 × %1 px, %2 channel(s)").arg(c.imageSize).arg(c.channels)};
  rows << ReportRow{QObject::tr("Epochs"), QString::number(c.epochs)};
  rows << ReportRow{QObject::tr("Batch size"), QString::number(c.batchSize)};
  QString optim = qs(ampbench::toString(c.optimizer));
  if (c.optimizer == ampbench::OptimizerKind::Sgd) {
    optim += QObject::tr(", momentum %1").arg(c.momentum);
  }
  optim += QObject::tr(", weight decay %1").arg(c.weightDecay);
  rows << ReportRow{QObject::tr("Optimizer"), optim};
  rows << ReportRow{QObject::tr("Learning rate"),
                    QObject::tr("%1 (%2 schedule)").arg(c.lr).arg(qs(ampbench::toString(c.schedule)))};
  rows << ReportRow{QObject::tr("Seed"), QString::number(c.seed)};
  rows << ReportRow{QObject::tr("Precision asked for"), qs(ampbench::toString(c.precision))};
  rows << ReportRow{QObject::tr("Augmentation"),
                    c.augment.enabled ? QObject::tr("random crop (≥ %1 % of the area), rotation ±%2°%3")
                                            .arg(c.augment.minCropArea * 100.0, 0, 'f', 0)
                                            .arg(c.augment.maxRotationDeg, 0, 'f', 0)
                                            .arg(c.augment.horizontalFlip ? QObject::tr(", horizontal flips") : QString()) +
                                            (c.augment.maxTranslate > 0 ? QObject::tr(", shift ±%1 %").arg(c.augment.maxTranslate * 100.0, 0, 'f', 0) : QString()) +
                                            (c.augment.brightness > 0 || c.augment.contrast > 0 || c.augment.gamma > 0
                                                 ? QObject::tr(", brightness ±%1, contrast ±%2, gamma ±%3")
                                                       .arg(c.augment.brightness).arg(c.augment.contrast).arg(c.augment.gamma)
                                                 : QString())
                                      : QObject::tr("none")};
  if (c.labelSmoothing > 0 || c.emaDecay > 0) {
    rows << ReportRow{QObject::tr("Label smoothing / weight average"),
                      QObject::tr("%1 / %2").arg(c.labelSmoothing).arg(c.emaDecay > 0 ? QObject::tr("EMA, decay %1 (evaluated and exported)").arg(c.emaDecay) : QObject::tr("off"))};
  }
  rows << ReportRow{QObject::tr("Class balance"), qs(ampbench::toString(c.balance))};
  if (c.limitPerSplit > 0) {
    rows << ReportRow{QObject::tr("Images per split"), QObject::tr("at most %1").arg(c.limitPerSplit)};
  }
  rows << ReportRow{QObject::tr("Splits carved"),
                    QObject::tr("validation %1 %, test %2 % of train/ where the folder has none (seed %3)")
                        .arg(c.split.valFraction * 100.0, 0, 'f', 0)
                        .arg(c.split.testFraction * 100.0, 0, 'f', 0)
                        .arg(c.split.splitSeed)};
  return rows;
}

// Machine and precision rows from config.json's "resolved" block.
void fillMachine(ReportRun& run, const QJsonObject& resolved) {
  const QJsonObject hw = resolved.value(QLatin1String("hardware")).toObject();
  const QJsonObject cpu = hw.value(QLatin1String("cpu")).toObject();
  const QJsonObject gpu = hw.value(QLatin1String("gpu")).toObject();
  const QJsonObject versions = hw.value(QLatin1String("versions")).toObject();
  const QString cpuText = cpu.value(QLatin1String("summary")).toString(resolved.value(QLatin1String("cpu")).toString());
  if (!cpuText.isEmpty()) {
    run.machine << ReportRow{QObject::tr("CPU"), cpuText};
  }
  if (gpu.value(QLatin1String("present")).toBool()) {
    run.machine << ReportRow{QObject::tr("GPU"), gpu.value(QLatin1String("summary")).toString(
                                                     gpu.value(QLatin1String("name")).toString())};
  } else if (!hw.isEmpty()) {
    run.machine << ReportRow{QObject::tr("GPU"), QObject::tr("none")};
  }
  if (resolved.contains(QLatin1String("device"))) {
    run.machine << ReportRow{QObject::tr("Device"), resolved.value(QLatin1String("device")).toString()};
  }
  if (resolved.contains(QLatin1String("threads"))) {
    run.machine << ReportRow{QObject::tr("Threads"), QString::number(resolved.value(QLatin1String("threads")).toInt())};
  }
  QStringList v;
  for (const char* key : {"libtorch", "onednn", "cuda", "cudnn"}) {
    const QString s = versions.value(QLatin1String(key)).toString();
    if (!s.isEmpty()) {
      v << QStringLiteral("%1 %2").arg(QString::fromLatin1(key), s);
    }
  }
  const QString version = resolved.value(QLatin1String("ampbench_version")).toString();
  if (!version.isEmpty()) {
    v.prepend(QStringLiteral("AmpBench %1").arg(version));
  }
  if (!v.isEmpty()) {
    run.machine << ReportRow{QObject::tr("Software"), v.join(QStringLiteral(", "))};
  }

  const QJsonObject p = resolved.value(QLatin1String("precision")).toObject();
  if (!p.isEmpty()) {
    run.label = p.value(QLatin1String("label")).toString(run.label);
    run.precisionNote = p.value(QLatin1String("note")).toString();
    run.emulated = p.value(QLatin1String("emulated")).toBool();
    run.whatIf = p.value(QLatin1String("what_if")).toBool();
    run.lossScaling = p.value(QLatin1String("loss_scaling")).toBool();
    run.precision << ReportRow{QObject::tr("Mode"), run.label};
    run.precision << ReportRow{QObject::tr("Arithmetic"),
                               run.emulated ? QObject::tr("%1, emulated on float32 kernels (no speed-up)")
                                                  .arg(p.value(QLatin1String("compute_dtype")).toString())
                                            : QObject::tr("%1, native").arg(p.value(QLatin1String("compute_dtype")).toString())};
    run.precision << ReportRow{QObject::tr("Loss scaling"), yesNo(run.lossScaling)};
    run.precision << ReportRow{QObject::tr("FP32 master weights"), yesNo(p.value(QLatin1String("master_weights")).toBool(true))};
    if (run.whatIf) {
      run.precision << ReportRow{QObject::tr("What-if"), QObject::tr("a fix switched off on purpose")};
    }
    if (!run.precisionNote.isEmpty()) {
      run.precision << ReportRow{QObject::tr("Note"), run.precisionNote};
    }
  }
  // What each mode would be on this machine (native or emulated, and why).
  const QJsonObject modes = hw.value(QLatin1String("precision_modes")).toObject();
  const QString device = resolved.value(QLatin1String("device")).toString().startsWith(QLatin1String("cuda"))
                             ? QStringLiteral("cuda")
                             : QStringLiteral("cpu");
  const QString resolvedMode = p.value(QLatin1String("resolved")).toString(run.mode);
  for (const auto& m : modes.value(device).toArray()) {
    const QJsonObject o = m.toObject();
    if (o.value(QLatin1String("mode")).toString() == resolvedMode) {
      run.precision << ReportRow{QObject::tr("On this machine"), QStringLiteral("%1: %2").arg(
                                                                    o.value(QLatin1String("support")).toString(),
                                                                    o.value(QLatin1String("reason")).toString())};
    }
  }
}

void fillScaler(ReportRun& run, const QJsonObject& metrics) {
  if (metrics.isEmpty()) {
    run.scaler << ReportRow{QObject::tr("Summary"), QObject::tr("metrics.json is missing: the run did not finish")};
    return;
  }
  run.scaler << ReportRow{QObject::tr("Loss scaling"), run.lossScaling ? QObject::tr("on (dynamic)") : QObject::tr("off")};
  run.scaler << ReportRow{QObject::tr("Overflow steps"),
                          QString::number(metrics.value(QLatin1String("overflow_steps")).toInteger())};
  run.scaler << ReportRow{QObject::tr("Skipped optimizer steps"),
                          QString::number(metrics.value(QLatin1String("skipped_steps")).toInteger())};
  run.scaler << ReportRow{QObject::tr("Steps completed"),
                          QString::number(metrics.value(QLatin1String("steps_completed")).toInteger())};
  const QJsonValue scale = metrics.value(QLatin1String("final_loss_scale"));
  run.scaler << ReportRow{QObject::tr("Final loss scale"),
                          !run.lossScaling   ? QObject::tr("none (no loss scaling)")
                          : scale.isDouble() ? formatScale(scale.toDouble())
                                             : QObject::tr("undefined (not recorded)")};
  int64_t epochsWithOverflow = 0;
  for (const auto& e : run.epochs) {
    epochsWithOverflow += e.overflowSteps > 0 ? 1 : 0;
  }
  if (!run.epochs.isEmpty()) {
    run.scaler << ReportRow{QObject::tr("Epochs with an overflow"),
                            QObject::tr("%1 of %2").arg(epochsWithOverflow).arg(run.epochs.size())};
  }
}

QString statusText(const QJsonObject& metrics) {
  return metrics.value(QLatin1String("status")).toString(QObject::tr("unknown"));
}

struct Progress {
  ReportProgress fn;
  int total = 1;
  int done = 0;
  void step(const QString& what) {
    if (fn) {
      fn(what, std::min(1.0, static_cast<double>(done) / std::max(1, total)));
    }
    ++done;
  }
};

// The split a run's report evaluates: asked, else test when the run's data has one.
QString chooseSplit(const QString& asked, const QString& runDir, const QJsonObject& dataset) {
  if (!asked.isEmpty()) {
    return asked;
  }
  const bool testFiles = QFileInfo::exists(runDir + QStringLiteral("/evaluation_test.json"));
  const bool testSplit = dataset.value(QLatin1String("counts")).toObject().contains(QLatin1String("test"));
  return testFiles || testSplit ? QStringLiteral("test") : QStringLiteral("val");
}

bool isRunFolder(const QString& dir) {
  return isRunDir(dir) || QFileInfo::exists(dir + QStringLiteral("/config.json"));
}

// Reads (or computes) one run's evaluation; fills run.evaluation and returns its predictions.
ampbench::PredictionTable evaluationOf(ReportRun& run, const QString& split, const ReportProgress& progress,
                                      const ampbench::CancelToken& cancel) {
  const QString evalPath = run.dir + QStringLiteral("/evaluation_%1.json").arg(split);
  const QString predPath = run.dir + QStringLiteral("/predictions_%1.csv").arg(split);
  run.evaluationFile = QFileInfo(evalPath).fileName();
  const bool checkpoint = QFileInfo::exists(run.dir + QStringLiteral("/checkpoint.pt"));
  if (QFileInfo::exists(evalPath) && (QFileInfo::exists(predPath) || !checkpoint)) {
    try {
      run.evaluation = ampbench::evaluationFromJson(ampbench::readFile(ss(evalPath)));
      if (!QFileInfo::exists(predPath)) {
        run.worstNote = QObject::tr("%1 is missing: no worst cases.").arg(QFileInfo(predPath).fileName());
        return {};
      }
      return ampbench::predictionsFromCsv(ampbench::readFile(ss(predPath)));
    } catch (const std::exception& e) {
      // A damaged file is evaluated afresh below rather than trusted.
      run.evaluation.reset();
      run.evaluationError = QObject::tr("%1 could not be read (%2)").arg(run.evaluationFile, qs(e.what()));
    }
  }
  if (!checkpoint) {
    throw ampbench::InputError(ss(QObject::tr("'%1' has no %2 and no checkpoint.pt to evaluate: evaluate the run "
                                              "first (ampbench-cli evaluate --run %1 --split %3) or give a finished run")
                                      .arg(QDir::toNativeSeparators(run.dir), run.evaluationFile, split)));
  }
  ampbench::EvaluateRequest request;
  request.runDir = ss(run.dir);
  request.split = ss(split);
  request.writeFiles = QFileInfo(run.dir).isWritable();  // a read-only run is evaluated in memory only
  // Batches evaluated move the progress dialog.
  struct Observer : ampbench::RunObserver {
    std::function<void(int64_t, int64_t)> fn;
    void onEvaluationProgress(const ampbench::EvaluationProgressEvent& e) override { fn(e.done, e.total); }
  } observer;
  observer.fn = [&](int64_t done, int64_t total) {
    if (progress && total > 0) {
      progress(QObject::tr("Evaluating %1 on the %2 split: %3 of %4 images").arg(run.label, split).arg(done).arg(total), -1);
    }
  };
  auto result = ampbench::evaluateRunSplit(request, observer, cancel);
  if (cancel.isCancelled()) {
    throw ampbench::CancelledError("cancelled");
  }
  run.evaluation = std::move(result.evaluation);
  run.evaluatedNow = true;
  run.evaluationError.clear();
  return std::move(result.predictions);
}

void fillWorstCases(ReportRun& run, const ampbench::PredictionTable& table, const QString& datasetRoot, int limit,
                    Pseudonyms* pseudonyms, const ampbench::CancelToken& cancel) {
  if (limit <= 0 || !run.evaluation) {
    return;
  }
  ampbench::EvaluationOptions opts;
  opts.threshold = std::isfinite(run.evaluation->threshold) ? run.evaluation->threshold : ampbench::kDefaultDecisionThreshold;
  opts.positiveClass = run.evaluation->positiveClass;
  const auto worst = ampbench::worstMistakes(table, opts, static_cast<size_t>(limit));
  if (worst.empty()) {
    run.worstNote = QObject::tr("No mistakes on this split.");
    return;
  }
  std::unique_ptr<ampbench::GradCamExplainer> explainer;
  QString explainerError;
  try {
    explainer = std::make_unique<ampbench::GradCamExplainer>(ss(run.dir));
    run.gradCamPrecision = qs(explainer->precisionLabel());
    run.gradCamLayer = qs(explainer->layer());
  } catch (const std::exception& e) {
    explainerError = qs(e.what());
    run.worstNote = QObject::tr("No Grad-CAM heat maps: %1").arg(explainerError);
  }
  const auto className = [&table](int64_t k) {
    return k >= 0 && k < static_cast<int64_t>(table.classes.size()) ? qs(table.classes[k]) : QObject::tr("none");
  };
  for (size_t index : worst) {
    if (cancel.isCancelled()) {
      throw ampbench::CancelledError("cancelled");
    }
    const auto& row = table.rows[index];
    ReportCase c;
    c.name = pseudonyms ? pseudonyms->idOf(qs(row.file)) : qs(row.file);
    c.trueClass = className(row.label);
    c.predictedClass = className(row.predicted);
    c.probability = row.predicted >= 0 && row.predicted < static_cast<int64_t>(row.probabilities.size())
                        ? row.probabilities[row.predicted]
                        : std::nan("");
    if (explainer) {
      const QString path = QDir(datasetRoot).filePath(qs(row.file));
      ampbench::GradCamResult r;
      try {
        r = explainer->explain(ss(path), row.predicted >= 0 ? std::optional<int64_t>(row.predicted) : std::nullopt);
      } catch (const std::exception& e) {  // one image's failure leaves the other cases in the report
        r.error = e.what();
      }
      c.image = toQImage(r.input);
      if (r.error.empty()) {
        try {
          c.overlay = toQImage(ampbench::overlayHeatMap(r.input, r.cam));
        } catch (const std::exception& e) {
          c.error = qs(e.what());
        }
      } else if (pseudonyms) {
        // The engine's sentence names the file: a generic one instead.
        c.error = c.image.isNull() ? QObject::tr("the image could not be read")
                                   : QObject::tr("the heat map is not finite (overflow in %1)").arg(run.gradCamPrecision);
      } else {
        c.error = qs(r.error);
      }
    } else {
      c.error = QObject::tr("no heat map");
    }
    run.worst << c;
  }
}

void fillDataset(ReportData& data, const QJsonObject& dataset, const ampbench::RunConfig* config,
                 const ReportOptions& options, const ampbench::CancelToken& cancel, QStringList* fileNames,
                 QStringList* skippedPaths) {
  data.datasetSource = dataset.value(QLatin1String("source")).toString(config ? qs(config->dataPath) : QString());
  data.datasetKind = dataset.value(QLatin1String("kind")).toString();
  for (const auto& c : dataset.value(QLatin1String("classes")).toArray()) {
    data.classes << c.toString();
  }
  const QJsonObject counts = dataset.value(QLatin1String("counts")).toObject();
  for (auto it = counts.begin(); it != counts.end(); ++it) {
    QVector<qint64> perClass;
    for (const auto& n : it.value().toArray()) {
      perClass << n.toInteger();
    }
    data.counts.insert(it.key(), perClass);
  }
  const QJsonObject origin = dataset.value(QLatin1String("split_origin")).toObject();
  for (auto it = origin.begin(); it != origin.end(); ++it) {
    data.splitOrigin.insert(it.key(), it.value().toString());
  }
  data.skippedCount = dataset.value(QLatin1String("skipped_count")).toInteger();
  for (const auto& s : dataset.value(QLatin1String("skipped")).toArray()) {
    const QJsonObject o = s.toObject();
    const QString name = relativeToDataset(o.value(QLatin1String("path")).toString(), data.datasetSource);
    data.skipped << ReportRow{name, o.value(QLatin1String("reason")).toString()};
    *fileNames << name;
    *skippedPaths << o.value(QLatin1String("path")).toString();
  }
  data.skippedCount = std::max<qint64>(data.skippedCount, data.skipped.size());

  // Thumbnails from the dataset itself (still where the run read it?). Pixels only: the
  // decoder never hands a DICOM header field to the report.
  if (data.datasetSource.isEmpty() || !QFileInfo::exists(data.datasetSource)) {
    data.thumbnailsNote = QObject::tr("The dataset is no longer at %1: no example images.").arg(data.datasetSource);
    return;
  }
  try {
    ampbench::SplitOptions split = config ? config->split : ampbench::SplitOptions{};
    const auto index = ampbench::scanDataset(ss(data.datasetSource), split, {}, cancel);
    for (const auto& [name, s] : index.splits) {
      for (const auto& f : s.files) {
        if (hasDicomExtension(qs(f.path))) {
          data.datasetHasDicom = true;
          break;
        }
      }
    }
    const int size = 96;
    for (const auto& t : ampbench::sampleThumbnails(index, options.thumbnailsPerClass, size, cancel)) {
      const QImage image = toQImage(t.image);
      if (!image.isNull()) {
        data.thumbnails << qMakePair(static_cast<int>(t.label), image);
      }
    }
  } catch (const ampbench::CancelledError&) {
    throw;
  } catch (const std::exception& e) {
    data.thumbnailsNote = QObject::tr("No example images: %1").arg(qs(e.what()));
  }
}

ReportRun readRun(const QString& dir, const QString& modeFallback) {
  ReportRun run;
  run.dir = dir;
  const RunHistory history = loadRunHistory(dir);
  run.epochs = history.epochs;
  run.mode = history.config ? qs(ampbench::toString(history.config->precision)) : modeFallback;
  run.label = modeDisplayName(run.mode);
  const QJsonObject config = readJsonObject(dir + QStringLiteral("/config.json"));
  if (history.config) {
    run.settings = settingsRows(*history.config);
  }
  fillMachine(run, config.value(QLatin1String("resolved")).toObject());
  const QJsonObject metrics = readJsonObject(dir + QStringLiteral("/metrics.json"));
  run.status = statusText(metrics);
  run.message = metrics.value(QLatin1String("message")).toString();
  fillScaler(run, metrics);
  return run;
}

}  // namespace

Pseudonyms::Pseudonyms(QStringList names) {
  names.sort();
  names.removeDuplicates();
  for (const QString& n : names) {
    ids_.insert(n, next_++);
  }
}

QString Pseudonyms::idOf(const QString& name) {
  auto it = ids_.find(name);
  if (it == ids_.end()) {
    it = ids_.insert(name, next_++);
  }
  return QStringLiteral("image-%1").arg(it.value(), 4, 10, QLatin1Char('0'));
}

bool hasDicomExtension(const QString& name) {
  const QString suffix = QFileInfo(name).suffix().toLower();
  return suffix == QLatin1String("dcm") || suffix == QLatin1String("dicom");
}

ReportData gatherReport(const QString& dirIn, const ReportOptions& options, const ReportProgress& progressFn,
                        const ampbench::CancelToken& cancel) {
  const QString dir = QFileInfo(dirIn).absoluteFilePath();
  if (!QFileInfo(dir).isDir()) {
    throw ampbench::InputError(ss(QObject::tr("'%1' is not a folder: give a run or comparison folder (one that "
                                              "ampbench-cli train or compare wrote)")
                                      .arg(QDir::toNativeSeparators(dirIn))));
  }
  ReportData data;
  data.dir = dir;
  data.name = QFileInfo(dir).fileName();
  data.generated = QDateTime::currentDateTime().toString(QStringLiteral("yyyy-MM-dd HH:mm"));
  data.comparison = isComparisonDir(dir);

  QStringList runDirs, modeNames;
  if (data.comparison) {
    data.comparisonSummary = ampbench::readComparison(ss(dir));
    for (size_t i = 0; i < data.comparisonSummary.runs.size(); ++i) {
      runDirs << qs(data.comparisonSummary.runs[i].runDir);
      modeNames << (i < data.comparisonSummary.modeNames.size() ? qs(data.comparisonSummary.modeNames[i])
                                                                 : QFileInfo(runDirs.back()).fileName());
    }
    if (runDirs.isEmpty()) {
      throw ampbench::InputError(ss(QObject::tr("'%1' has a comparison.json without runs: nothing to report")
                                        .arg(QDir::toNativeSeparators(dir))));
    }
  } else if (isRunFolder(dir)) {
    runDirs << dir;
    modeNames << data.name;
  } else {
    throw ampbench::InputError(ss(QObject::tr("'%1' is neither a run nor a comparison folder (no config.json, "
                                              "epochs.csv or comparison.json): give the folder that ampbench-cli "
                                              "train or compare wrote")
                                      .arg(QDir::toNativeSeparators(dir))));
  }

  Progress progress{progressFn, 2 + 2 * static_cast<int>(runDirs.size())};
  progress.step(QObject::tr("Reading the dataset summary"));
  const QJsonObject dataset = readJsonObject(runDirs.front() + QStringLiteral("/dataset.json"));
  std::optional<ampbench::RunConfig> baseConfig;
  try {
    baseConfig = ampbench::readRunConfig(ss(runDirs.front()));
  } catch (const std::exception&) {
  }
  QStringList fileNames, skippedPaths;
  fillDataset(data, dataset, baseConfig ? &*baseConfig : nullptr, options, cancel, &fileNames, &skippedPaths);
  data.split = chooseSplit(options.split, runDirs.front(), dataset);

  // Evaluate (or read) every run first: the pseudonyms number the split's files.
  QVector<ampbench::PredictionTable> predictions;
  for (int i = 0; i < runDirs.size(); ++i) {
    ReportRun run = readRun(runDirs[i], modeNames[i]);
    progress.step(QObject::tr("Evaluation of %1 (%2 split)").arg(run.label, data.split));
    const auto table = evaluationOf(run, data.split, progressFn, cancel);
    if (i == 0 && run.evaluation) {
      for (const auto& f : run.evaluation->skipped) {
        fileNames << qs(f.path);
      }
    }
    for (const auto& row : table.rows) {
      if (i == 0) {
        fileNames << qs(row.file);
      }
      data.datasetHasDicom = data.datasetHasDicom || hasDicomExtension(qs(row.file));
    }
    if (run.evaluatedNow) {
      data.notes << QObject::tr("%1 had no evaluation of the %2 split: it was evaluated for this report.")
                        .arg(run.label, data.split);
    }
    predictions << table;
    data.runs << run;
  }
  for (const auto& row : data.skipped) {
    data.datasetHasDicom = data.datasetHasDicom || hasDicomExtension(row.first);
  }
  data.pseudonymized = options.pseudonymize.value_or(data.datasetHasDicom);
  std::optional<Pseudonyms> pseudonyms;
  if (data.pseudonymized) {
    pseudonyms.emplace(fileNames);
    for (int i = 0; i < data.skipped.size(); ++i) {
      // The engine's reason may quote the path: the name goes wherever it appears.
      ReportRow& row = data.skipped[i];
      const QString id = pseudonyms->idOf(row.first);
      for (const QString& name : {skippedPaths.value(i), row.first, QFileInfo(row.first).fileName()}) {
        if (!name.isEmpty()) {
          row.second.replace(name, id);
        }
      }
      row.first = id;
    }
    // The evaluation's sentences could quote a file: none of the names may survive.
    for (auto& run : data.runs) {
      if (run.evaluation) {
        for (auto& note : run.evaluation->notes) {
          QString text = qs(note);
          for (const QString& name : fileNames) {
            if (text.contains(name)) {
              text.replace(name, pseudonyms->idOf(name));
            }
          }
          note = ss(text);
        }
        for (auto& f : run.evaluation->skipped) {
          const QString id = pseudonyms->idOf(qs(f.path));
          f.reason = ss(qs(f.reason).replace(qs(f.path), id).replace(QFileInfo(qs(f.path)).fileName(), id));
          f.path = ss(id);
        }
      }
    }
    data.notes << QObject::tr("File names are replaced by pseudonymous ids (image-0001, ...); no mapping is kept in "
                              "this report.");
  }
  for (int i = 0; i < data.runs.size(); ++i) {
    progress.step(QObject::tr("Grad-CAM of the worst cases of %1").arg(data.runs[i].label));
    fillWorstCases(data.runs[i], predictions[i], data.datasetSource, options.worst,
                   pseudonyms ? &*pseudonyms : nullptr, cancel);
  }
  progress.step(QObject::tr("Writing the report"));
  return data;
}

}  // namespace ampbench::ui
