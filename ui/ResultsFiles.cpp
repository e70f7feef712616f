#include "ui/ResultsFiles.h"

#include "ui/EvaluationFormat.h"
#include "ui/Format.h"
#include "engine/train/Trainer.h"
#include "engine/util/Errors.h"
#include "engine/util/Files.h"

#include <QDir>
#include <QFile>
#include <QFileInfo>
#include <QJsonDocument>
#include <QJsonObject>
#include <QObject>

#include <cmath>
#include <exception>

namespace ampbench::ui {
namespace {

QString qs(const std::string& s) { return QString::fromStdString(s); }

QJsonObject readJsonObject(const QString& path) {
  QFile f(path);
  if (!f.open(QIODevice::ReadOnly)) {
    return {};
  }
  return QJsonDocument::fromJson(f.readAll()).object();
}

}  // namespace

bool sameThreshold(double a, double b) { return std::abs(a - b) < 1e-9 || (std::isnan(a) && std::isnan(b)); }

void keepContext(ampbench::Evaluation& e, const ampbench::Evaluation& from, const std::string& thresholdSource) {
  e.split = from.split;
  e.source = from.source;
  e.loss = from.loss;
  e.thresholdSource = thresholdSource;
  if (e.notes.empty()) {
    e.notes = from.notes;
  }
}
ampbench::BootstrapOptions bootstrapLike(const ampbench::Evaluation& e) {
  ampbench::BootstrapOptions b;
  if (e.resamples >= ampbench::kMinBootstrapResamples) {
    b.resamples = e.resamples;
    b.seed = e.seed;
  }
  return b;
}

QString splitDisplayName(const QString& split) {
  if (split == QLatin1String("val")) {
    return QObject::tr("validation");
  }
  if (split == QLatin1String("folder")) {
    return QObject::tr("another folder");
  }
  return split;
}

QStringList runSplits(const QString& runDir) {
  QStringList out{QStringLiteral("val")};
  const QJsonObject counts = readJsonObject(QDir(runDir).filePath(QStringLiteral("dataset.json")))
                                 .value(QStringLiteral("counts"))
                                 .toObject();
  if (counts.contains(QStringLiteral("test")) || QFileInfo::exists(QDir(runDir).filePath(QStringLiteral("evaluation_test.json")))) {
    out << QStringLiteral("test");
  }
  return out;
}

SplitResult loadSplitResult(const QString& runDir, const QString& split, const QString& folder,
                            const std::function<void(int64_t, int64_t)>& progress, const ampbench::CancelToken& cancel) {
  SplitResult r;
  r.runDir = runDir;
  r.split = split;
  const QDir dir(runDir);
  const QJsonObject config = readJsonObject(dir.filePath(QStringLiteral("config.json")));
  const QJsonObject precision = config.value(QStringLiteral("resolved")).toObject().value(QStringLiteral("precision")).toObject();
  r.model = config.value(QStringLiteral("model")).toObject().value(QStringLiteral("name")).toString();
  r.mode = config.value(QStringLiteral("precision")).toObject().value(QStringLiteral("mode")).toString();
  if (r.mode.isEmpty()) {
    r.mode = dir.dirName();
  }
  r.precisionLabel = precision.value(QStringLiteral("label")).toString(modeDisplayName(r.mode));
  r.emulated = precision.value(QStringLiteral("emulated")).toBool(false);
  if (r.emulated && !r.precisionLabel.contains(QLatin1String("emulated"))) {
    r.precisionLabel += QObject::tr(" (emulated)");
  }
  r.dataRoot = split == QLatin1String("folder") ? folder
                                                 : config.value(QStringLiteral("data")).toObject().value(QStringLiteral("path")).toString();
  const QString evalName = QStringLiteral("evaluation_%1.json").arg(split);
  const QString predName = QStringLiteral("predictions_%1.csv").arg(split);
  try {
    if (split != QLatin1String("folder") && QFileInfo::exists(dir.filePath(evalName)) && QFileInfo::exists(dir.filePath(predName))) {
      try {
        r.evaluation = ampbench::evaluationFromJson(ampbench::readFile(dir.filePath(evalName).toStdString()));
        r.predictions = ampbench::predictionsFromCsv(ampbench::readFile(dir.filePath(predName).toStdString()));
        if (static_cast<int64_t>(r.predictions.rows.size()) != r.evaluation.count ||
            r.predictions.classes != r.evaluation.classes) {
          throw std::runtime_error(QObject::tr("the two files disagree (%1 images vs %2 rows)")
                                       .arg(r.evaluation.count)
                                       .arg(r.predictions.rows.size())
                                       .toStdString());
        }
        r.fromFiles = true;
        r.loadNotes << QObject::tr("Figures from %1 and %2 in the run folder.").arg(evalName, predName);
      } catch (const std::exception& e) {
        r.loadNotes << QObject::tr("%1 could not be used (%2): evaluated again.").arg(evalName, qs(e.what()));
      }
    }
    if (!r.fromFiles) {
      ampbench::EvaluateRequest request;
      request.runDir = runDir.toStdString();
      request.split = split.toStdString();
      if (split == QLatin1String("folder")) {
        request.dataPath = folder.toStdString();
        request.writeFiles = false;  // the run folder keeps its own splits' files only
      }
      EngineProgress observer(progress);
      ampbench::RunEvaluation evaluated = ampbench::evaluateRunSplit(request, observer, cancel);
      if (cancel.isCancelled()) {  // the engine returns an empty evaluation: not "0 images"
        throw ampbench::CancelledError("evaluation cancelled");
      }
      r.evaluation = std::move(evaluated.evaluation);
      r.predictions = std::move(evaluated.predictions);
      for (const auto& s : evaluated.skipped) {
        r.skipped << QStringLiteral("%1: %2").arg(qs(s.path), qs(s.reason));
      }
      r.loadNotes << (request.writeFiles ? QObject::tr("Evaluated now; written to %1 and %2.").arg(evalName, predName)
                                         : QObject::tr("Evaluated now on %1.").arg(QDir::toNativeSeparators(folder)));
    }
    // The headline figures are at the run's decision threshold: files written before a
    // threshold was chosen are re-computed at it (from their own predictions).
    if (r.fromFiles && r.evaluation.classes.size() == 2) {
      const ampbench::DecisionThreshold decision = ampbench::readDecisionThreshold(runDir.toStdString());
      if (!sameThreshold(decision.threshold, r.evaluation.threshold)) {
        ampbench::EvaluationOptions options;
        options.threshold = decision.threshold;
        options.positiveClass = decision.positiveClass;
        options.bootstrap = bootstrapLike(r.evaluation);
        ampbench::Evaluation again = ampbench::evaluateProbabilities(r.predictions.flatProbabilities(),
                                                                     r.predictions.labels(), r.predictions.classes, options);
        r.loadNotes << QObject::tr("Re-computed at the stored decision threshold %1 (%2); %3 was written at %4.")
                           .arg(formatThreshold(decision.threshold), qs(decision.source), evalName,
                                formatThreshold(r.evaluation.threshold));
        keepContext(again, r.evaluation, decision.source);
        r.evaluation = std::move(again);
      }
    }
    if (r.skipped.isEmpty()) {
      for (const auto& f : r.evaluation.skipped) {
        r.skipped << QStringLiteral("%1: %2").arg(qs(f.path), qs(f.reason));
      }
    }
    if (!r.evaluation.source.empty() && QFileInfo(qs(r.evaluation.source)).isDir()) {
      r.dataRoot = qs(r.evaluation.source);
    }
  } catch (const ampbench::CancelledError&) {
    r.error = QObject::tr("Evaluation cancelled.");
  } catch (const ampbench::InputError& e) {
    r.error = qs(e.what());
  } catch (const std::exception& e) {
    r.error = QObject::tr("Could not evaluate %1: %2").arg(QDir::toNativeSeparators(runDir), qs(e.what()));
  }
  return r;
}

}  // namespace ampbench::ui
