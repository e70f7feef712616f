#include "ui/ResultsPresenter.h"

#include "ui/EvaluationFormat.h"
#include "ui/Format.h"
#include "engine/train/Trainer.h"
#include "engine/util/Errors.h"

#include <QDir>
#include <QFileInfo>
#include <QHash>
#include <QPromise>
#include <QtConcurrent>

#include <cmath>
#include <exception>

namespace ampbench::ui {
namespace {

QString qs(const std::string& s) { return QString::fromStdString(s); }

// Copies every interval of `from` into `to` (same classes): the live view's point values
// beside the intervals of the stored threshold.
void mergeIntervals(ampbench::Evaluation& to, const ampbench::Evaluation& from) {
  to.accuracy.ci95 = from.accuracy.ci95;
  to.balancedAccuracy.ci95 = from.balancedAccuracy.ci95;
  to.macroF1.ci95 = from.macroF1.ci95;
  to.auc.ci95 = from.auc.ci95;
  to.averagePrecision.ci95 = from.averagePrecision.ci95;
  for (size_t i = 0; i < to.perClass.size() && i < from.perClass.size(); ++i) {
    auto& t = to.perClass[i];
    const auto& f = from.perClass[i];
    t.sensitivity.ci95 = f.sensitivity.ci95;
    t.specificity.ci95 = f.specificity.ci95;
    t.precision.ci95 = f.precision.ci95;
    t.npv.ci95 = f.npv.ci95;
    t.f1.ci95 = f.f1.ci95;
    t.auc.ci95 = f.auc.ci95;
    t.averagePrecision.ci95 = f.averagePrecision.ci95;
  }
  to.resamples = from.resamples;
  to.seed = from.seed;
}

QString className(const ampbench::Evaluation& e, int64_t c) {
  return c >= 0 && static_cast<size_t>(c) < e.classes.size() ? qs(e.classes[static_cast<size_t>(c)]) : QStringLiteral("—");
}

// "1 image", "782 images" (no translator is loaded, so %n would read "image(s)").
QString imageCount(int64_t n) {
  return n == 1 ? QObject::tr("1 image") : QObject::tr("%1 images").arg(n);
}

double probabilityOf(const ampbench::PredictionRow& row, int64_t c) {
  return c >= 0 && static_cast<size_t>(c) < row.probabilities.size() ? row.probabilities[static_cast<size_t>(c)]
                                                                     : std::nan("");
}

}  // namespace

struct ResultsPresenter::LoadOutcome {
  int generation = 0;
  std::vector<SplitResult> sides;
  QStringList splits;
  QString split;  // the split loaded (chosen by the worker when opening)
  // A comparison: its modes and their run folders, the baseline and the mode beside it.
  QStringList modeNames, modeDirs;
  QString baseline, other;
  QString error;
};

struct ResultsPresenter::ChooseOutcome {
  int generation = 0;
  ampbench::DecisionThreshold decision;
  ampbench::Evaluation evaluation;  // the shown split at the new threshold, with intervals
  QString error;
};

struct ResultsPresenter::IntervalOutcome {
  int generation = 0;
  std::vector<double> thresholds;
  std::vector<ampbench::Evaluation> evaluations;
  QString error;
};

ResultsPresenter::ResultsPresenter(QObject* parent) : QObject(parent) {
  intervalTimer_.setSingleShot(true);
  intervalTimer_.setInterval(kIntervalDelayMs);
  connect(&intervalTimer_, &QTimer::timeout, this, [this]() {
    Q_EMIT galleryChanged();
    startIntervals();
  });
  connect(&loadWatcher_, &QFutureWatcherBase::finished, this, &ResultsPresenter::onLoadDone);
  connect(&chooseWatcher_, &QFutureWatcherBase::finished, this, &ResultsPresenter::onChooseDone);
  connect(&intervalWatcher_, &QFutureWatcherBase::finished, this, &ResultsPresenter::onIntervalsDone);
  for (auto* w : {static_cast<QFutureWatcherBase*>(&loadWatcher_), static_cast<QFutureWatcherBase*>(&chooseWatcher_)}) {
    connect(w, &QFutureWatcherBase::progressRangeChanged, this,
            [this](int, int maximum) { Q_EMIT progressChanged(0, maximum); });
    connect(w, &QFutureWatcherBase::progressValueChanged, this, [this, w](int value) {
      Q_EMIT progressChanged(value, w->progressMaximum());
    });
  }
}

ResultsPresenter::~ResultsPresenter() {
  // Nothing waits here (closing the window during an evaluation must not freeze it): the
  // workers hold no pointer to this object, only copies and the token, which ends an
  // evaluation at its next check; a result that arrives later has no watcher and is dropped.
  // (QCoreApplication's destructor waits for the thread pool before main returns.)
  cancel_.cancel();
}

// Busy until the job's result has been applied (not merely computed): tests and the
// scripted screenshot wait on this.
bool ResultsPresenter::isBusy() const { return !busyText_.isEmpty(); }

void ResultsPresenter::setBusy(const QString& what) {
  busyText_ = what;
  Q_EMIT busyChanged(!what.isEmpty(), what);
}

void ResultsPresenter::setError(const QString& message) {
  error_ = message;
  Q_EMIT errorChanged(message);
}

void ResultsPresenter::clear() {
  cancel();
  ++generation_;
  runDir_.clear();
  comparisonDir_.clear();
  sides_.clear();
  setError(QString());
  Q_EMIT resultsChanged();
  setBusy(QString());
}

void ResultsPresenter::cancel() {
  cancel_.cancel();
  intervalTimer_.stop();
}

void ResultsPresenter::openRun(const QString& runDir) {
  runDir_ = runDir;
  comparisonDir_.clear();
  modeNames_.clear();
  modeDirs_.clear();
  otherModes_.clear();
  otherMode_.clear();
  split_.clear();  // the worker picks: the held-out test split when it was evaluated, else val
  startLoad(tr("Loading the results of %1 …").arg(QDir(runDir).dirName()));
}

void ResultsPresenter::openComparison(const QString& dir) {
  comparisonDir_ = dir;
  runDir_.clear();
  modeNames_.clear();
  modeDirs_.clear();
  otherModes_.clear();
  otherMode_.clear();
  split_.clear();
  startLoad(tr("Loading the comparison in %1 …").arg(QDir(dir).dirName()));
}

void ResultsPresenter::setSplit(const QString& split) {
  if ((runDir_.isEmpty() && comparisonDir_.isEmpty()) || (split == split_ && split != QLatin1String("folder"))) {
    return;
  }
  split_ = split;
  startLoad(tr("Loading the %1 split …").arg(splitDisplayName(split)));
}

void ResultsPresenter::evaluateFolder(const QString& folder) {
  if (runDir_.isEmpty() && comparisonDir_.isEmpty()) {
    return;
  }
  split_ = QStringLiteral("folder");
  folder_ = folder;
  startLoad(tr("Evaluating on %1 …").arg(QDir::toNativeSeparators(folder)));
}

void ResultsPresenter::setComparisonMode(const QString& mode) {
  if (!isComparison() || mode == otherMode_ || !otherModes_.contains(mode)) {
    return;
  }
  otherMode_ = mode;
  startLoad(tr("Loading %1 …").arg(modeDisplayName(mode)));
}

void ResultsPresenter::startLoad(const QString& what) {
  cancel_.cancel();
  cancel_ = ampbench::CancelToken{};
  intervalTimer_.stop();
  ++intervalGeneration_;
  const int generation = ++generation_;
  setError(QString());
  setBusy(what);
  const QString runDir = runDir_, comparisonDir = comparisonDir_, split = split_, folder = folder_;
  const QString wantedOther = otherMode_;
  loadWatcher_.setFuture(QtConcurrent::run([=, cancel = cancel_](QPromise<std::shared_ptr<LoadOutcome>>& promise) {
    auto out = std::make_shared<LoadOutcome>();
    out->generation = generation;
    auto progress = [&promise](int64_t done, int64_t total) {
      if (total > 0) {
        promise.setProgressRange(0, static_cast<int>(total));
        promise.setProgressValue(static_cast<int>(done));
      }
    };
    QStringList dirs;
    if (!comparisonDir.isEmpty()) {
      try {
        const ampbench::ComparisonSummary s = ampbench::readComparison(comparisonDir.toStdString());
        for (size_t i = 0; i < s.modeNames.size(); ++i) {
          out->modeNames << qs(s.modeNames[i]);
          // A moved comparison: each mode's run sits in <dir>/<mode>/.
          QString d = i < s.runs.size() ? qs(s.runs[i].runDir) : QString();
          if (d.isEmpty() || !QFileInfo(d).isDir()) {
            d = QDir(comparisonDir).filePath(out->modeNames.back());
          }
          out->modeDirs << d;
        }
      } catch (const std::exception& e) {
        out->error = QObject::tr("Could not read the comparison in %1: %2").arg(comparisonDir, qs(e.what()));
      }
      if (out->error.isEmpty() && out->modeNames.size() < 2) {
        out->error = QObject::tr("The comparison in %1 has fewer than two modes.").arg(comparisonDir);
      }
      if (!out->error.isEmpty()) {
        promise.addResult(out);
        return;
      }
      const int base = std::max<qsizetype>(0, out->modeNames.indexOf(QStringLiteral("fp32")));
      out->baseline = out->modeNames[base];
      out->other = wantedOther;
      if (!out->modeNames.contains(out->other) || out->other == out->baseline) {
        out->other = out->modeNames[base == 0 ? 1 : 0];
      }
      dirs << out->modeDirs[base] << out->modeDirs[out->modeNames.indexOf(out->other)];
    } else {
      dirs << runDir;
    }
    out->splits = runSplits(dirs.front());
    // Opening shows the held-out figures (as the report does) when the run has them on disk.
    out->split = split;
    if (out->split.isEmpty()) {
      const bool testEvaluated = out->splits.contains(QStringLiteral("test")) &&
                                 QFileInfo::exists(QDir(dirs.front()).filePath(QStringLiteral("evaluation_test.json")));
      out->split = testEvaluated ? QStringLiteral("test") : QStringLiteral("val");
    }
    for (const QString& d : dirs) {
      out->sides.push_back(loadSplitResult(d, out->split, folder, progress, cancel));
      if (!out->sides.back().error.isEmpty()) {
        out->error = out->sides.back().error;
        break;
      }
    }
    promise.addResult(out);
  }));
}

void ResultsPresenter::onLoadDone() {
  if (loadWatcher_.future().resultCount() == 0) {
    setBusy(QString());
    return;
  }
  const std::shared_ptr<LoadOutcome> out = loadWatcher_.result();
  if (!out || out->generation != generation_) {
    return;  // superseded: the newer load reports
  }
  if (!out->modeNames.isEmpty()) {
    modeNames_ = out->modeNames;
    modeDirs_ = out->modeDirs;
    baselineMode_ = out->baseline;
    otherMode_ = out->other;
    otherModes_ = out->modeNames;
    otherModes_.removeAll(out->baseline);
  }
  if (!out->splits.isEmpty()) {
    splits_ = out->splits;
  }
  if (!out->split.isEmpty()) {
    split_ = out->split;
  }
  if (!out->error.isEmpty()) {
    sides_.clear();
    setError(out->error);
    Q_EMIT resultsChanged();
    setBusy(QString());
    return;
  }
  sides_.clear();
  for (auto& r : out->sides) {
    Side s;
    s.result = std::move(r);
    s.probabilities = s.result.predictions.flatProbabilities();
    s.labels = s.result.predictions.labels();
    s.intervals = s.result.evaluation;
    s.intervalThreshold = s.result.evaluation.threshold;
    s.live = s.result.evaluation;
    sides_.push_back(std::move(s));
  }
  thresholdMoved_ = false;
  threshold_ = storedThreshold(0);
  Q_EMIT resultsChanged();
  setBusy(QString());  // after the results are applied: "not busy" means shown
}

QString ResultsPresenter::sideLabel(int side) const {
  if (!isComparison() || side < 0 || side >= sideCount()) {
    return QString();
  }
  return sides_[static_cast<size_t>(side)].result.precisionLabel;
}

const SplitResult* ResultsPresenter::result(int side) const {
  return side >= 0 && side < sideCount() ? &sides_[static_cast<size_t>(side)].result : nullptr;
}

QString ResultsPresenter::inspectRunDir() const { return sides_.empty() ? runDir_ : sides_.front().result.runDir; }

bool ResultsPresenter::thresholdAdjustable() const {
  return !sides_.empty() && sides_.front().result.evaluation.classes.size() == 2;
}

bool ResultsPresenter::canChooseThreshold() const { return !isComparison() && thresholdAdjustable() && !isBusy(); }

double ResultsPresenter::storedThreshold(int side) const {
  return side >= 0 && side < sideCount() ? sides_[static_cast<size_t>(side)].result.evaluation.threshold
                                         : kDefaultDecisionThreshold;
}

double ResultsPresenter::thresholdFor(int side) const { return thresholdMoved_ ? threshold_ : storedThreshold(side); }

bool ResultsPresenter::atStoredThreshold() const {
  for (int i = 0; i < sideCount(); ++i) {
    if (!sameThreshold(thresholdFor(i), storedThreshold(i))) {
      return false;
    }
  }
  return true;
}

bool ResultsPresenter::intervalsStale() const {
  if (!thresholdAdjustable()) {
    return false;
  }
  for (int i = 0; i < sideCount(); ++i) {
    const double t = thresholdFor(i);
    if (!sameThreshold(t, storedThreshold(i)) && !sameThreshold(t, sides_[static_cast<size_t>(i)].intervalThreshold)) {
      return true;
    }
  }
  return false;
}

ampbench::EvaluationOptions ResultsPresenter::optionsFor(const Side& side, double threshold, bool intervals) const {
  ampbench::EvaluationOptions o;
  o.threshold = threshold;
  o.positiveClass = side.result.evaluation.positiveClass;
  o.bootstrap = bootstrapLike(side.result.evaluation);
  if (!intervals) {
    o.bootstrap.resamples = 0;
  }
  return o;
}

void ResultsPresenter::setThreshold(double threshold) {
  if (!thresholdAdjustable() || !std::isfinite(threshold)) {
    return;
  }
  threshold = std::clamp(threshold, 0.0, 1.0);
  if (thresholdMoved_ && sameThreshold(threshold, threshold_)) {
    return;
  }
  threshold_ = threshold;
  thresholdMoved_ = true;
  recomputeLive();
  Q_EMIT thresholdChanged();
  if (atStoredThreshold() || !intervalsStale()) {
    intervalTimer_.stop();
    Q_EMIT galleryChanged();
  } else {
    intervalTimer_.start();
  }
}

void ResultsPresenter::resetThreshold() {
  if (sides_.empty()) {
    return;
  }
  intervalTimer_.stop();
  ++intervalGeneration_;
  thresholdMoved_ = false;
  threshold_ = storedThreshold(0);
  recomputeLive();
  Q_EMIT thresholdChanged();
  Q_EMIT galleryChanged();
}

void ResultsPresenter::recomputeLive() {
  for (auto& s : sides_) {
    const double t = thresholdMoved_ ? threshold_ : s.result.evaluation.threshold;
    if (sameThreshold(t, s.result.evaluation.threshold)) {
      s.live = s.result.evaluation;
      continue;
    }
    try {
      // Point estimates only: cheap enough for every slider step.
      s.live = ampbench::evaluateProbabilities(s.probabilities, s.labels, s.result.predictions.classes,
                                               optionsFor(s, t, false));
      keepContext(s.live, s.result.evaluation, "user");
    } catch (const std::exception& e) {
      setError(tr("Could not re-evaluate at threshold %1: %2").arg(formatThreshold(t), qs(e.what())));
    }
  }
}

void ResultsPresenter::startIntervals() {
  if (sides_.empty() || !intervalsStale()) {
    return;
  }
  const int generation = ++intervalGeneration_;
  std::vector<std::vector<float>> probabilities;
  std::vector<std::vector<int64_t>> labels;
  std::vector<std::vector<std::string>> classes;
  std::vector<ampbench::EvaluationOptions> options;
  for (int i = 0; i < sideCount(); ++i) {
    const Side& s = sides_[static_cast<size_t>(i)];
    probabilities.push_back(s.probabilities);
    labels.push_back(s.labels);
    classes.push_back(s.result.predictions.classes);
    options.push_back(optionsFor(s, thresholdFor(i), true));
  }
  intervalWatcher_.setFuture(QtConcurrent::run([=]() {
    auto out = std::make_shared<IntervalOutcome>();
    out->generation = generation;
    try {
      for (size_t i = 0; i < options.size(); ++i) {
        out->evaluations.push_back(ampbench::evaluateProbabilities(probabilities[i], labels[i], classes[i], options[i]));
        out->thresholds.push_back(options[i].threshold);
      }
    } catch (const std::exception& e) {
      out->error = qs(e.what());
    }
    return out;
  }));
}

void ResultsPresenter::onIntervalsDone() {
  if (intervalWatcher_.future().resultCount() == 0) {
    return;
  }
  const std::shared_ptr<IntervalOutcome> out = intervalWatcher_.result();
  if (!out || out->generation != intervalGeneration_ || out->evaluations.size() != sides_.size()) {
    return;
  }
  if (!out->error.isEmpty()) {
    setError(tr("Could not compute the intervals: %1").arg(out->error));
    return;
  }
  for (size_t i = 0; i < sides_.size(); ++i) {
    if (!sameThreshold(out->thresholds[i], thresholdFor(static_cast<int>(i)))) {
      return;  // the slider moved on; its own re-computation follows
    }
  }
  for (size_t i = 0; i < sides_.size(); ++i) {
    sides_[i].intervals = out->evaluations[i];
    keepContext(sides_[i].intervals, sides_[i].result.evaluation, "user");
    sides_[i].intervalThreshold = out->thresholds[i];
  }
  Q_EMIT intervalsChanged();
}

void ResultsPresenter::chooseThreshold(ampbench::ThresholdRule rule, double targetSensitivity) {
  if (!canChooseThreshold()) {
    return;
  }
  cancel_ = ampbench::CancelToken{};
  const int generation = generation_;
  const QString runDir = runDir_;
  const Side& side = sides_.front();
  const std::vector<float> probabilities = side.probabilities;
  const std::vector<int64_t> labels = side.labels;
  const std::vector<std::string> classes = side.result.predictions.classes;
  const ampbench::EvaluationOptions base = optionsFor(side, side.result.evaluation.threshold, true);
  setError(QString());
  setBusy(tr("Choosing the threshold on the validation split …"));
  chooseWatcher_.setFuture(QtConcurrent::run([=, cancel = cancel_](QPromise<std::shared_ptr<ChooseOutcome>>& promise) {
    auto out = std::make_shared<ChooseOutcome>();
    out->generation = generation;
    EngineProgress observer([&promise](int64_t done, int64_t total) {
      if (total > 0) {
        promise.setProgressRange(0, static_cast<int>(total));
        promise.setProgressValue(static_cast<int>(done));
      }
    });
    try {
      out->decision = ampbench::chooseRunThreshold(runDir.toStdString(), rule, targetSensitivity, observer, cancel);
      ampbench::EvaluationOptions options = base;
      options.threshold = out->decision.threshold;
      options.positiveClass = out->decision.positiveClass;
      out->evaluation = ampbench::evaluateProbabilities(probabilities, labels, classes, options);
    } catch (const ampbench::CancelledError&) {
      out->error = QObject::tr("Cancelled: the stored threshold is unchanged.");
    } catch (const std::exception& e) {
      out->error = QObject::tr("Could not choose a threshold: %1").arg(qs(e.what()));
    }
    promise.addResult(out);
  }));
}

void ResultsPresenter::onChooseDone() {
  if (chooseWatcher_.future().resultCount() == 0) {
    setBusy(QString());
    return;
  }
  const std::shared_ptr<ChooseOutcome> out = chooseWatcher_.result();
  if (!out || out->generation != generation_ || sides_.empty()) {
    return;  // a newer load replaced what the threshold was chosen for; it reports
  }
  if (!out->error.isEmpty()) {
    setError(out->error);
    setBusy(QString());
    return;
  }
  Side& s = sides_.front();
  keepContext(out->evaluation, s.result.evaluation, out->decision.source);
  s.result.evaluation = out->evaluation;
  s.result.loadNotes << tr("Threshold %1 chosen (%2) and stored in decision.json.")
                            .arg(formatThreshold(out->decision.threshold), qs(out->decision.source));
  s.intervals = out->evaluation;
  s.intervalThreshold = out->decision.threshold;
  s.live = out->evaluation;
  thresholdMoved_ = false;
  threshold_ = out->decision.threshold;
  intervalTimer_.stop();
  ++intervalGeneration_;
  Q_EMIT thresholdStored(qs(out->decision.source));
  Q_EMIT resultsChanged();
  setBusy(QString());
}

ampbench::Evaluation ResultsPresenter::shown(int side) const {
  if (side < 0 || side >= sideCount()) {
    return {};
  }
  const Side& s = sides_[static_cast<size_t>(side)];
  const double t = thresholdFor(side);
  if (sameThreshold(t, s.result.evaluation.threshold) || !thresholdAdjustable()) {
    return s.result.evaluation;
  }
  if (sameThreshold(t, s.intervalThreshold)) {
    return s.intervals;
  }
  // Moving: the live point values beside the stored threshold's intervals (marked stale).
  ampbench::Evaluation e = s.live;
  mergeIntervals(e, s.result.evaluation);
  return e;
}

QString ResultsPresenter::header() const {
  if (sides_.empty()) {
    return QString();
  }
  const SplitResult& a = sides_.front().result;
  QStringList parts;
  if (!a.model.isEmpty()) {
    parts << a.model;
  }
  parts << (isComparison() && sideCount() > 1 ? tr("%1 vs %2").arg(a.precisionLabel, sides_[1].result.precisionLabel)
                                              : a.precisionLabel);
  const QString where = a.split == QLatin1String("folder")
                            ? tr("%1").arg(QDir::toNativeSeparators(qs(a.evaluation.source)))
                            : tr("%1 split").arg(splitDisplayName(a.split));
  parts << QStringLiteral("%1, %2").arg(where, imageCount(a.evaluation.count));
  if (thresholdAdjustable()) {
    if (!thresholdMoved_ || atStoredThreshold()) {
      parts << (isComparison() ? tr("stored thresholds %1 / %2")
                                     .arg(formatThreshold(storedThreshold(0)), formatThreshold(storedThreshold(1)))
                               : tr("threshold %1 (%2)").arg(formatThreshold(threshold_), qs(a.evaluation.thresholdSource)));
    } else {
      parts << tr("threshold %1 (moved; stored %2)").arg(formatThreshold(threshold_), formatThreshold(storedThreshold(0)));
    }
  }
  return parts.join(QStringLiteral(" · "));
}

namespace {

enum class Metric { Support, Sensitivity, Specificity, Ppv, Npv, F1, Auc };

QString metricCell(const ampbench::Evaluation& e, size_t c, Metric m, bool stale) {
  const auto& ce = e.perClass[c];
  if (m == Metric::Support) {
    return QString::number(ce.support);
  }
  static const ClassMetric kMetric[] = {ClassMetric::Sensitivity, ClassMetric::Sensitivity, ClassMetric::Specificity,
                                        ClassMetric::Ppv, ClassMetric::Npv, ClassMetric::F1, ClassMetric::Auc};
  const ampbench::Estimate* estimates[] = {nullptr, &ce.sensitivity, &ce.specificity, &ce.precision,
                                           &ce.npv, &ce.f1, &ce.auc};
  const ampbench::Estimate& est = *estimates[static_cast<int>(m)];
  if (est.defined()) {
    const bool mark = stale && m != Metric::Auc && est.ci95.valid();
    return formatEstimate(est) + (mark ? QStringLiteral(" *") : QString());
  }
  const QString reason = undefinedReason(e, c, kMetric[static_cast<int>(m)]);
  return reason.isEmpty() ? QObject::tr("undefined") : QObject::tr("undefined — %1").arg(reason);
}

QString headlineCell(const ampbench::Evaluation& e, const ampbench::Estimate& est, bool thresholdDependent, bool stale) {
  if (est.defined()) {
    return formatEstimate(est) + (stale && thresholdDependent && est.ci95.valid() ? QStringLiteral(" *") : QString());
  }
  // AUC of the positive class (two classes) or a macro figure over no classes.
  QString reason;
  if (e.perClass.size() == 2) {
    reason = undefinedReason(e, static_cast<size_t>(std::clamp<int64_t>(e.positiveClass, 0, 1)), ClassMetric::Auc);
  }
  return reason.isEmpty() ? QObject::tr("undefined") : QObject::tr("undefined — %1").arg(reason);
}

}  // namespace

MetricsTable ResultsPresenter::metricsTable() const {
  MetricsTable t;
  if (sides_.empty()) {
    return t;
  }
  const bool stale = intervalsStale();
  std::vector<ampbench::Evaluation> shownSides;
  for (int i = 0; i < sideCount(); ++i) {
    shownSides.push_back(shown(i));
  }
  const auto& classes = shownSides.front().classes;
  t.columnsPerSide = static_cast<int>(classes.size());
  for (int i = 0; i < sideCount(); ++i) {
    for (const auto& c : classes) {
      // Two lines, the mode's short name over the class: four columns fit beside the plots.
      t.columns << (isComparison() ? QStringLiteral("%1\n%2").arg(modeDisplayName(sides_[static_cast<size_t>(i)].result.mode), qs(c))
                                   : qs(c));
    }
  }
  const bool two = classes.size() == 2;
  auto headline = [&](const QString& label, const QString& tooltip, auto&& cell) {
    MetricsTable::Row row{label, {}, true, tooltip};
    for (const auto& e : shownSides) {
      row.cells << cell(e);
    }
    t.rows << row;
  };
  headline(tr("Accuracy"), tr("Share of images called correctly at the threshold."),
           [&](const ampbench::Evaluation& e) { return headlineCell(e, e.accuracy, true, stale); });
  headline(tr("Balanced accuracy"), tr("Mean sensitivity over the classes present: not flattered by the larger class."),
           [&](const ampbench::Evaluation& e) { return headlineCell(e, e.balancedAccuracy, true, stale); });
  headline(two ? tr("AUC (%1)").arg(qs(classes[static_cast<size_t>(std::clamp<int64_t>(shownSides.front().positiveClass, 0, 1))]))
               : tr("AUC (macro)"),
           tr("Area under the ROC curve: threshold-free."),
           [&](const ampbench::Evaluation& e) { return headlineCell(e, e.auc, false, stale); });
  if (two) {
    headline(tr("Threshold"), tr("P(positive class) at or above it is called positive."),
             [&](const ampbench::Evaluation& e) {
               return e.thresholdSource == "user" ? tr("%1 (moved, not stored)").arg(formatThreshold(e.threshold))
                                                  : tr("%1 (%2)").arg(formatThreshold(e.threshold), qs(e.thresholdSource));
             });
  }
  const struct {
    Metric metric;
    QString label;
    QString tooltip;
  } perClass[] = {
      {Metric::Support, tr("Support"), tr("Images of this class in the split.")},
      {Metric::Sensitivity, tr("Sensitivity"), tr("Of the images of this class, the share called this class (recall).")},
      {Metric::Specificity, tr("Specificity"), tr("Of the images of other classes, the share not called this class.")},
      {Metric::Ppv, tr("PPV"), tr("Positive predictive value (precision): of the images called this class, the share that are.")},
      {Metric::Npv, tr("NPV"), tr("Negative predictive value: of the images not called this class, the share that are not.")},
      {Metric::F1, tr("F1"), tr("Harmonic mean of sensitivity and PPV.")},
      {Metric::Auc, tr("AUC"), tr("This class against the rest, threshold-free.")},
  };
  for (const auto& m : perClass) {
    MetricsTable::Row row{m.label, {}, false, m.tooltip};
    for (const auto& e : shownSides) {
      for (size_t c = 0; c < e.perClass.size(); ++c) {
        row.cells << metricCell(e, c, m.metric, stale);
      }
    }
    t.rows << row;
  }
  if (stale) {
    t.footnote = tr("* interval at the stored threshold %1; re-computing at %2 …")
                     .arg(formatThreshold(storedThreshold(0)), formatThreshold(threshold_));
  } else if (thresholdAdjustable() && !atStoredThreshold()) {
    t.footnote = tr("Intervals at threshold %1 (not stored; the stored one is %2).")
                     .arg(formatThreshold(threshold_), formatThreshold(storedThreshold(0)));
  }
  const int resamples = shownSides.front().resamples;
  if (resamples > 0) {
    t.footnote = (t.footnote.isEmpty() ? QString() : t.footnote + QLatin1Char(' ')) +
                 tr("95 % intervals: stratified bootstrap, %1 resamples.").arg(resamples);
  }
  return t;
}

QStringList ResultsPresenter::notes() const {
  QStringList out;
  if (sides_.empty()) {
    return out;
  }
  for (int i = 0; i < sideCount(); ++i) {
    const SplitResult& r = sides_[static_cast<size_t>(i)].result;
    const QString prefix = isComparison() ? sideLabel(i) + QStringLiteral(": ") : QString();
    const ampbench::Evaluation& e = r.evaluation;
    QStringList own;
    for (const auto& n : e.notes) {
      own << qs(n);
    }
    const QString joined = own.join(QLatin1Char(' '));
    if (e.nonFinite > 0 && !joined.contains(QLatin1String("non-finite"), Qt::CaseInsensitive)) {
      own << tr("%1 with non-finite probabilities (NaN/inf): called no class, never ranked.").arg(imageCount(e.nonFinite));
    }
    for (size_t c = 0; c < e.perClass.size(); ++c) {
      const QString name = qs(e.perClass[c].name);
      if (e.perClass[c].support == 0 && !joined.contains(name)) {
        own << tr("No %1 images in this split: the figures that need them are undefined.").arg(name);
      }
    }
    if (!r.skipped.isEmpty()) {
      QStringList shownFiles = r.skipped.mid(0, 5);
      own << tr("Unreadable, not counted (%1): ").arg(imageCount(r.skipped.size())) +
                 shownFiles.join(QStringLiteral("; ")) + (r.skipped.size() > 5 ? QStringLiteral("; …") : QString());
    }
    own << r.loadNotes;
    for (const QString& n : own) {
      out << prefix + n;
    }
  }
  return out;
}

QVector<MistakeItem> ResultsPresenter::mistakes(size_t limit) const {
  QVector<MistakeItem> out;
  if (sides_.empty()) {
    return out;
  }
  const Side& s = sides_.front();
  const ampbench::PredictionTable& table = s.result.predictions;
  const ampbench::EvaluationOptions options = optionsFor(s, thresholdFor(0), false);
  const std::vector<int64_t> calls =
      ampbench::classifyAtThreshold(s.probabilities, static_cast<int64_t>(table.classes.size()), options);
  const ampbench::Evaluation& e = s.result.evaluation;
  for (size_t index : ampbench::worstMistakes(table, options, limit)) {
    if (index >= table.rows.size()) {
      continue;
    }
    const auto& row = table.rows[index];
    MistakeItem m;
    m.file = qs(row.file);
    m.path = QDir(s.result.dataRoot).filePath(m.file);
    m.trueClass = static_cast<int>(row.label);
    m.predicted = static_cast<int>(index < calls.size() ? calls[index] : row.predicted);
    m.probability = probabilityOf(row, m.predicted);
    m.label = tr("true %1\n→ called %2\n%3")  // three short lines: a thumbnail's width elides one long one
                  .arg(className(e, m.trueClass), className(e, m.predicted), probabilityText(m.probability));
    QStringList probabilities;
    for (size_t c = 0; c < row.probabilities.size(); ++c) {
      probabilities << QStringLiteral("p(%1) = %2").arg(className(e, static_cast<int64_t>(c)))
                           .arg(QString::number(row.probabilities[c], 'f', 3));
    }
    m.tooltip = QStringLiteral("%1\n%2").arg(QDir::toNativeSeparators(m.file), probabilities.join(QStringLiteral(", ")));
    out << m;
  }
  return out;
}

QVector<Disagreement> ResultsPresenter::disagreements() const {
  QVector<Disagreement> out;
  if (sideCount() < 2) {
    return out;
  }
  const Side& a = sides_[0];
  const Side& b = sides_[1];
  const auto callsA = ampbench::classifyAtThreshold(a.probabilities, static_cast<int64_t>(a.result.predictions.classes.size()),
                                                    optionsFor(a, thresholdFor(0), false));
  const auto callsB = ampbench::classifyAtThreshold(b.probabilities, static_cast<int64_t>(b.result.predictions.classes.size()),
                                                    optionsFor(b, thresholdFor(1), false));
  QHash<QString, size_t> rowOfB;
  for (size_t i = 0; i < b.result.predictions.rows.size(); ++i) {
    rowOfB.insert(qs(b.result.predictions.rows[i].file), i);
  }
  const ampbench::Evaluation& e = a.result.evaluation;
  for (size_t i = 0; i < a.result.predictions.rows.size() && i < callsA.size(); ++i) {
    const auto& rowA = a.result.predictions.rows[i];
    const auto it = rowOfB.constFind(qs(rowA.file));
    if (it == rowOfB.constEnd() || *it >= callsB.size()) {
      continue;
    }
    const auto& rowB = b.result.predictions.rows[*it];
    if (callsA[i] == callsB[*it]) {
      continue;
    }
    Disagreement d;
    d.file = qs(rowA.file);
    d.trueClass = className(e, rowA.label);
    d.callA = className(e, callsA[i]);
    d.callB = className(e, callsB[*it]);
    d.probabilityA = probabilityOf(rowA, callsA[i]);
    d.probabilityB = probabilityOf(rowB, callsB[*it]);
    out << d;
  }
  return out;
}

}  // namespace ampbench::ui
