// A run's model evaluated on a labelled split: the per-image outputs of evaluateSplit (in
// the run's precision) turned into engine/core/Evaluation.h's figures and written into the
// run dir as evaluation_<split>.json and predictions_<split>.csv.

#include "engine/core/SplitShift.h"
#include "engine/data/Dataset.h"
#include "engine/data/Image.h"
#include "engine/data/ImageCache.h"
#include "engine/precision/Precision.h"
#include "engine/train/PrecisionPolicy.h"
#include "engine/train/RunModel.h"
#include "engine/train/Trainer.h"
#include "engine/train/TrainerInternal.h"
#include "engine/util/Errors.h"
#include "engine/util/Files.h"

#include <nlohmann/json.hpp>
#include <torch/torch.h>

#include <algorithm>
#include <cstdio>
#include <filesystem>

namespace fs = std::filesystem;

namespace ampbench {

namespace {

const char* const kRunSplits[] = {"train", "val", "test"};

std::string listOf(const std::vector<std::string>& v) {
  std::string out;
  for (const auto& s : v) {
    out += (out.empty() ? "" : ", ") + s;
  }
  return out;
}

// Every labelled image under `root`: class folders, or train/ val/ test/ holding them
// (merged). Class folders must be classes of the run.
SplitSource scanLabelledFolder(const std::string& root, const std::vector<std::string>& classes,
                               std::vector<SkippedFile>& skipped, const CancelToken& cancel) {
  const fs::path base(root);
  std::error_code ec;
  if (!fs::is_directory(base, ec)) {
    throw InputError("'" + root + "' is not a folder: --split folder evaluates a folder of class folders (" +
                     listOf(classes) + ")");
  }
  std::vector<fs::path> parents;
  for (const char* s : kRunSplits) {
    if (fs::is_directory(base / s, ec)) {
      parents.push_back(base / s);
    }
  }
  if (parents.empty()) {
    parents.push_back(base);
  }
  SplitSource out;
  out.origin = "folder";
  for (const auto& parent : parents) {
    std::vector<fs::path> classDirs;
    for (const auto& e : fs::directory_iterator(parent, ec)) {
      const auto name = e.path().filename().string();
      if (e.is_directory() && !name.empty() && name[0] != '.') {
        classDirs.push_back(e.path());
      }
    }
    std::sort(classDirs.begin(), classDirs.end());
    for (const auto& dir : classDirs) {
      const auto name = dir.filename().string();
      const auto it = std::find(classes.begin(), classes.end(), name);
      if (it == classes.end()) {
        throw InputError("class folder '" + dir.string() + "' is not one of the run's classes (" + listOf(classes) +
                         "): evaluate a folder whose class folders the run was trained on");
      }
      std::vector<std::string> files;
      for (auto f = fs::recursive_directory_iterator(dir, fs::directory_options::skip_permission_denied, ec);
           f != fs::recursive_directory_iterator(); f.increment(ec)) {
        if (ec || cancel.isCancelled()) {
          break;
        }
        const auto fname = f->path().filename().string();
        if (!fname.empty() && fname[0] == '.') {
          if (f->is_directory()) {
            f.disable_recursion_pending();
          }
          continue;
        }
        if (!f->is_regular_file()) {
          continue;
        }
        if (looksLikeImageFile(f->path().string())) {
          files.push_back(f->path().string());
        } else {
          skipped.push_back({f->path().string(), "not an image file (unknown extension)"});
        }
      }
      std::sort(files.begin(), files.end());
      for (auto& f : files) {
        out.files.push_back({std::move(f), it - classes.begin()});
      }
    }
  }
  if (out.files.empty() && !cancel.isCancelled()) {
    throw InputError("no images in class folders under '" + root + "': put images into folders named after the " +
                     "run's classes (" + listOf(classes) + ")");
  }
  return out;
}

// Files the scan or the decoder could not use within the split's own folder (the files of
// a carved split lie in train/ and are not told apart from train's).
std::vector<SkippedFile> skippedInSplit(const std::vector<SkippedFile>& all, const std::string& source,
                                        const std::string& split) {
  const auto prefix = (fs::path(source) / split).lexically_normal().string() + "/";
  std::vector<SkippedFile> out;
  for (const auto& s : all) {
    if (fs::path(s.path).lexically_normal().string().rfind(prefix, 0) == 0) {
      out.push_back(s);
    }
  }
  return out;
}

// The images of a split of the run's dataset, split as the run split it (seeded carving,
// per-split limit).
SplitSource runSplitSource(const RunConfig& c, const std::string& split, const std::vector<std::string>& classes,
                           std::vector<SkippedFile>& skipped, RunObserver& observer, const CancelToken& cancel) {
  auto index = scanDataset(c.dataPath, c.split, [&](const DataProgressEvent& e) { observer.onDataProgress(e); },
                           cancel);
  limitPerSplit(index, c.limitPerSplit, c.split.splitSeed);
  if (index.classes != classes) {
    throw InputError("the classes of '" + c.dataPath + "' (" + listOf(index.classes) +
                     ") differ from the ones the run was trained on (" + listOf(classes) + ")");
  }
  const auto it = index.splits.find(split);
  if (it == index.splits.end()) {
    std::vector<std::string> have;
    for (const auto& [name, s] : index.splits) {
      have.push_back(name);
    }
    throw InputError("the dataset has no '" + split + "' split: use --split " + listOf(have) +
                     (split == "test" ? " (a run carves a test split with --test-fraction)" : ""));
  }
  const auto inSplit = skippedInSplit(index.skipped, c.dataPath, split);
  skipped.insert(skipped.end(), inSplit.begin(), inSplit.end());
  return it->second;
}

fs::path splitFile(const std::string& runDir, const std::string& stem, const std::string& split,
                   const std::string& ext) {
  return fs::path(runDir) / (stem + "_" + split + ext);
}

}  // namespace

std::string relativeImageName(const std::string& id, const std::string& source) {
  const auto hash = id.find('#');
  if (hash != std::string::npos && id.compare(0, hash, source) == 0) {
    return id.substr(hash + 1);  // array datasets: "<split>/<index>"
  }
  const auto file = fs::path(id).lexically_normal();
  const auto root = fs::path(source).lexically_normal();
  const auto rel = file.lexically_relative(root.has_filename() ? root : root.parent_path());
  const auto relText = rel.generic_string();
  if (!rel.empty() && relText.rfind("..", 0) != 0) {
    return relText;
  }
  return file.generic_string();
}

RunEvaluation evaluateOutputs(const std::string& split, const std::string& source,
                              const std::vector<std::string>& classes, const std::vector<std::string>& ids,
                              const std::vector<float>& probabilities, const std::vector<int64_t>& labels,
                              double loss, const std::vector<SkippedFile>& skipped, const EvaluationOptions& options,
                              const std::string& thresholdSource) {
  if (ids.size() != labels.size()) {
    throw std::invalid_argument("evaluateOutputs: " + std::to_string(ids.size()) + " ids for " +
                                std::to_string(labels.size()) + " labels");
  }
  RunEvaluation r;
  r.evaluation = evaluateProbabilities(probabilities, labels, classes, options);
  auto& e = r.evaluation;
  e.split = split;
  e.source = source;
  e.loss = loss;
  if (classes.size() == 2) {
    e.thresholdSource = thresholdSource;
  }
  for (const auto& s : skipped) {
    r.skipped.push_back({relativeImageName(s.path, source), s.reason});
  }
  e.skipped = r.skipped;
  const auto k = classes.size();
  const auto predicted = classifyAtThreshold(probabilities, static_cast<int64_t>(k), options);
  r.predictions.classes = classes;
  for (size_t i = 0; i < ids.size(); ++i) {
    PredictionRow row;
    row.file = relativeImageName(ids[i], source);
    row.label = labels[i];
    row.predicted = predicted[i];
    row.probabilities.assign(probabilities.begin() + static_cast<std::ptrdiff_t>(i * k),
                             probabilities.begin() + static_cast<std::ptrdiff_t>((i + 1) * k));
    r.predictions.rows.push_back(std::move(row));
  }
  return r;
}

void writeRunEvaluation(const std::string& runDir, const RunEvaluation& r) {
  const auto& split = r.evaluation.split;
  writeFileAtomic(splitFile(runDir, "predictions", split, ".csv").string(), predictionsToCsv(r.predictions));
  writeFileAtomic(splitFile(runDir, "evaluation", split, ".json").string(), evaluationToJson(r.evaluation) + "\n");
}

void writeDecision(const std::string& runDir, const DecisionThreshold& d, const std::vector<std::string>& classes) {
  writeFileAtomic((fs::path(runDir) / "decision.json").string(), decisionToJson(d, classes) + "\n");
}

DecisionThreshold readDecisionThreshold(const std::string& runDir) {
  const auto path = fs::path(runDir) / "decision.json";
  if (!fs::exists(path)) {
    return {};
  }
  try {
    return decisionFromJson(readFile(path.string()));
  } catch (const std::runtime_error& e) {
    throw InputError(path.string() + ": " + e.what() + " (delete it to use the default 0.5)");
  }
}

RunEvaluation evaluateRunSplit(const EvaluateRequest& request, RunObserver& observer, const CancelToken& cancel) {
  const auto& split = request.split;
  if (split != "train" && split != "val" && split != "test" && split != "folder") {
    throw InputError("unknown split '" + split + "': use train, val, test or folder");
  }
  const auto info = readRunInfo(request.runDir);
  RunConfig c = info.config;
  if (!request.dataPath.empty()) {
    c.dataPath = request.dataPath;
  }
  if (c.dataPath.empty() || !fs::exists(c.dataPath)) {
    throw InputError("dataset '" + c.dataPath + "' not found: pass the dataset with --data PATH");
  }
  if (request.threshold && !(*request.threshold >= 0.0 && *request.threshold <= 1.0)) {
    throw InputError("the threshold must lie in [0, 1]");
  }
  DecisionThreshold decision = readDecisionThreshold(request.runDir);
  if (request.threshold) {
    decision.threshold = *request.threshold;
    decision.source = "user";
  }
  configureThreads(c.threads);
  const auto device = resolveDevice(c.device);
  const auto precision = resolvePrecision(c.precision, device, c.scaler, false, c.bf16Kernels);

  std::vector<SkippedFile> skipped;
  SplitSource source;
  try {
    source = split == "folder" ? scanLabelledFolder(c.dataPath, info.classes, skipped, cancel)
                               : runSplitSource(c, split, info.classes, skipped, observer, cancel);
  } catch (const CancelledError&) {
    return {};
  }
  if (cancel.isCancelled()) {
    return {};
  }
  if (!source.files.empty() && !imageDecodingAvailable()) {
    throw InputError("this build cannot decode image files (built with AMPBENCH_OPENCV=OFF)");
  }
  const int threads = std::max(1, c.threads > 0 ? c.threads : hardwareThreads());
  const auto tensors = decodeSplitCapped(
      source, c.dataPath, split, c.imageSize, c.channels, skipped,
      [&](const DataProgressEvent& e) { observer.onDataProgress(e); }, cancel, threads, c.maxImagePixels,
      request.cacheMemoryMb.value_or(c.cacheMemoryMb), request.runDir);
  if (cancel.isCancelled()) {
    return {};
  }
  if (tensors.size() == 0) {
    throw InputError("no readable images in the " + split + " split of '" + c.dataPath + "' (see the skipped files)");
  }

  DatasetSummary summary;
  summary.classes = info.classes;
  summary.mean = info.mean;  // the training normalisation, never the evaluated images'
  summary.std = info.std;
  c.memoryFormat = MemoryFormatKind::Contiguous;
  auto model = loadModel(info, device);
  model->setEmulatedDtype(emulatedScalarType(precision));
  std::vector<float> probabilities;
  const auto total = tensors.size();
  observer.onEvaluationProgress({split, 0, total});
  TtaOptions tta = c.tta;
  tta.views = request.ttaViews.value_or(tta.views);
  if (tta.views < 1 || tta.views > 16) {
    throw InputError("--tta must be between 1 (off) and 16 views");
  }
  const auto m = evaluateSplit(*model, tensors, summary, c, precision, device, cancel, &probabilities,
                               [&](int64_t done, int64_t n) { observer.onEvaluationProgress({split, done, n}); },
                               tta);
  if (cancel.isCancelled()) {
    return {};
  }
  const auto labelsT = tensors.labels.contiguous();
  const std::vector<int64_t> labels(labelsT.data_ptr<int64_t>(), labelsT.data_ptr<int64_t>() + labelsT.numel());

  EvaluationOptions options;
  options.threshold = decision.threshold;
  options.positiveClass = decision.positiveClass;
  options.bootstrap = request.bootstrap;
  auto r = evaluateOutputs(split, c.dataPath, info.classes, tensors.ids, probabilities, labels, m.loss, skipped,
                           options, decision.source);
  r.evaluation.testTimeAugmentation = describeTta(tta);
  // The run's own files hold its evaluation as trained (its --tta): another number of views
  // is a what-if for --out, not a replacement of what Results, the report and the threshold
  // chooser read.
  if (request.writeFiles && tta.views == c.tta.views) {
    writeRunEvaluation(request.runDir, r);
  }
  return r;
}

namespace {

// Each image's mean intensity in [0, 1], a chunk of the split at a time.
std::vector<double> imageMeans(const SplitTensors& split) {
  std::vector<double> out;
  const int64_t n = split.size();
  out.reserve(static_cast<size_t>(n));
  for (int64_t s = 0; s < n; s += 256) {
    const auto chunk = split.range(s, std::min(n, s + 256)).to(torch::kDouble).flatten(1).mean(1).div_(255.0).contiguous();
    out.insert(out.end(), chunk.data_ptr<double>(), chunk.data_ptr<double>() + chunk.numel());
  }
  return out;
}

// A split as val_vs_test.json compares it: the stored evaluation and predictions (at the
// run's decision threshold) and, when given, the images' intensities.
SplitProfile storedProfile(const std::string& runDir, const std::string& split, const SplitTensors* images) {
  SplitProfile p;
  p.evaluation = evaluationFromJson(readFile(splitFile(runDir, "evaluation", split, ".json").string()));
  const auto table = predictionsFromCsv(readFile(splitFile(runDir, "predictions", split, ".csv").string()));
  p.probabilities = table.flatProbabilities();
  p.labels = table.labels();
  if (images) {
    p.imageMeans = imageMeans(*images);
  }
  return p;
}

void writeValVsTest(const std::string& runDir, const PreparedData& data) {
  const auto shift = compareSplits(storedProfile(runDir, "val", &data.splits.at("val")),
                                   storedProfile(runDir, "test", &data.splits.at("test")));
  writeFileAtomic((fs::path(runDir) / "val_vs_test.json").string(), splitShiftToJson(shift) + "\n");
}

// After the threshold changed: val_vs_test.json again from the re-evaluated files, keeping
// its intensity row (the images are not read again). Best effort: an unreadable file is
// left as it is.
void refreshValVsTest(const std::string& runDir) {
  const auto path = (fs::path(runDir) / "val_vs_test.json").string();
  if (!fs::exists(path)) {
    return;
  }
  try {
    const auto old = splitShiftFromJson(readFile(path));
    auto shift = compareSplits(storedProfile(runDir, "val", nullptr), storedProfile(runDir, "test", nullptr));
    const auto isIntensity = [](const ShiftRow& r) { return r.key == "mean_intensity"; };
    const auto kept = std::find_if(old.rows.begin(), old.rows.end(), isIntensity);
    const auto fresh = std::find_if(shift.rows.begin(), shift.rows.end(), isIntensity);
    if (kept != old.rows.end() && fresh != shift.rows.end()) {
      *fresh = *kept;
    }
    updateFindings(shift);
    writeFileAtomic(path, splitShiftToJson(shift) + "\n");
  } catch (const std::exception&) {
  }
}

}  // namespace

void writeEndOfRunEvaluations(const RunConfig& c, const PreparedData& data, ClassifierImpl& model,
                               const RunSummary& summary, const PrecisionInfo& precision, const torch::Device& device,
                               RunObserver& observer, const CancelToken& cancel) {
  const auto& classes = data.summary.classes;
  const auto& source = data.summary.source;
  const auto& val = data.splits.at("val");
  // The validation outputs the run is judged by: training's (the kept epoch's), or with
  // test-time augmentation evaluated again, so the threshold is chosen on the very
  // probabilities it is applied to and validation and test are judged alike.
  const std::vector<float>* valProbabilities = &summary.finalValProbabilities;
  double valLoss = summary.finalVal.loss;
  std::vector<float> ttaProbabilities;
  if (c.tta.views > 1) {
    const auto m = evaluateSplit(model, val, data.summary, c, precision, device, cancel, &ttaProbabilities,
                                 [&](int64_t done, int64_t n) { observer.onEvaluationProgress({"val", done, n}); },
                                 c.tta);
    if (cancel.isCancelled()) {
      return;
    }
    valProbabilities = &ttaProbabilities;
    valLoss = m.loss;
  }
  auto decision = readDecisionThreshold(c.outDir);  // a resumed run keeps a chosen threshold
  if (c.selection.thresholdRule != ThresholdRuleKind::None && classes.size() == 2) {
    // The run's rule chooses on the kept model's validation outputs (an extended run may
    // keep another epoch, so it chooses again); decision.json is written once, then every
    // split is evaluated at it.
    std::vector<float> scores;
    std::vector<int64_t> positive;
    const auto k = static_cast<size_t>(decision.positiveClass);
    for (size_t i = 0; i < summary.finalValLabels.size(); ++i) {
      scores.push_back(valProbabilities->at(i * 2 + k));
      positive.push_back(summary.finalValLabels[i] == decision.positiveClass);
    }
    try {
      const auto choice = chooseThreshold(scores, positive,
                                          c.selection.thresholdRule == ThresholdRuleKind::Youden
                                              ? ThresholdRule::Youden
                                              : ThresholdRule::TargetSensitivity,
                                          c.selection.targetSensitivity, "val");
      decision.threshold = choice.threshold;
      decision.source = choice.description;
    } catch (const std::invalid_argument& e) {
      // One class in validation, or non-finite outputs: keep what there is, and say so.
      std::fprintf(stderr, "decision threshold not chosen on validation (%s): %s\n", e.what(),
                   decision.source == "default" ? "0.5 is used" : "the stored one is kept");
    }
    writeDecision(c.outDir, decision, classes);
  } else if (!fs::exists(fs::path(c.outDir) / "decision.json")) {
    writeDecision(c.outDir, decision, classes);
  }
  EvaluationOptions options;
  options.threshold = decision.threshold;
  options.positiveClass = decision.positiveClass;
  {
    auto r = evaluateOutputs("val", source, classes, val.ids, *valProbabilities, summary.finalValLabels, valLoss,
                             skippedInSplit(data.summary.skipped, source, "val"), options, decision.source);
    if (c.tta.views > 1) {
      r.evaluation.testTimeAugmentation = describeTta(c.tta);
    }
    writeRunEvaluation(c.outDir, r);
  }
  const auto test = data.splits.find("test");
  if (test == data.splits.end()) {
    return;
  }
  // The test split is looked at once, with the run's model, at the end.
  std::vector<float> probabilities;
  const auto& t = test->second;
  const auto m = evaluateSplit(model, t, data.summary, c, precision, device, cancel, &probabilities,
                               [&](int64_t done, int64_t n) { observer.onEvaluationProgress({"test", done, n}); },
                               c.tta);
  if (cancel.isCancelled()) {
    return;
  }
  const auto labelsT = t.labels.contiguous();
  const std::vector<int64_t> labels(labelsT.data_ptr<int64_t>(), labelsT.data_ptr<int64_t>() + labelsT.numel());
  auto r = evaluateOutputs("test", source, classes, t.ids, probabilities, labels, m.loss,
                           skippedInSplit(data.summary.skipped, source, "test"), options, decision.source);
  r.evaluation.testTimeAugmentation = describeTta(c.tta);
  writeRunEvaluation(c.outDir, r);
  writeValVsTest(c.outDir, data);
}

DecisionThreshold chooseRunThreshold(const std::string& runDir, ThresholdRule rule, double targetSensitivity,
                                     RunObserver& observer, const CancelToken& cancel) {
  const auto datasetJson = fs::path(runDir) / "dataset.json";
  if (!fs::exists(datasetJson)) {
    throw InputError("'" + runDir + "' is not a run folder (no dataset.json)");
  }
  const auto classes =
      nlohmann::json::parse(readFile(datasetJson.string())).at("classes").get<std::vector<std::string>>();
  if (classes.size() != 2) {
    throw InputError("a decision threshold needs two classes; this run has " + std::to_string(classes.size()) +
                     " and calls the most probable one");
  }
  auto decision = readDecisionThreshold(runDir);
  const auto readTable = [&](const fs::path& path) {
    try {
      auto t = predictionsFromCsv(readFile(path.string()));
      if (t.classes != classes) {
        throw std::runtime_error("its classes differ from the run's");
      }
      return t;
    } catch (const std::runtime_error& e) {
      throw InputError(path.string() + ": " + e.what() + " (delete it to evaluate the split again)");
    }
  };
  const auto valCsv = splitFile(runDir, "predictions", "val", ".csv");
  PredictionTable val;
  if (fs::exists(valCsv)) {
    val = readTable(valCsv);
  } else {
    EvaluateRequest request;
    request.runDir = runDir;
    auto r = evaluateRunSplit(request, observer, cancel);
    if (cancel.isCancelled()) {  // nothing was chosen: callers must not report a stored threshold
      throw CancelledError("choosing the threshold was cancelled");
    }
    val = std::move(r.predictions);
  }
  std::vector<float> scores;
  std::vector<int64_t> positive;
  for (const auto& row : val.rows) {
    scores.push_back(row.probabilities[static_cast<size_t>(decision.positiveClass)]);
    positive.push_back(row.label == decision.positiveClass);
  }
  ThresholdChoice choice;
  try {
    choice = chooseThreshold(scores, positive, rule, targetSensitivity, "val");
  } catch (const std::invalid_argument& e) {
    throw InputError(std::string("cannot choose a threshold on the validation split: ") + e.what());
  }
  decision.threshold = choice.threshold;
  decision.source = choice.description;
  writeDecision(runDir, decision, classes);

  // The stored evaluations follow the decision threshold: re-evaluate every split that has
  // predictions (no model run: the probabilities do not depend on the threshold).
  std::vector<fs::path> tables;  // listed first: the loop writes into the folder
  for (const auto& entry : fs::directory_iterator(runDir)) {
    const auto name = entry.path().filename().string();
    if (name.rfind("predictions_", 0) == 0 && entry.path().extension() == ".csv") {
      tables.push_back(entry.path());
    }
  }
  for (const auto& path : tables) {
    const auto name = path.filename().string();
    const auto split = name.substr(12, name.size() - 12 - 4);
    const auto table = readTable(path);
    Evaluation old;
    const auto jsonPath = splitFile(runDir, "evaluation", split, ".json");
    if (fs::exists(jsonPath)) {
      try {
        old = evaluationFromJson(readFile(jsonPath.string()));
      } catch (const std::runtime_error&) {
        old = {};  // rewritten below from the predictions
      }
    }
    EvaluationOptions options;
    options.threshold = decision.threshold;
    options.positiveClass = decision.positiveClass;
    if (old.resamples > 0) {
      options.bootstrap.resamples = old.resamples;
      options.bootstrap.seed = old.seed;
    }
    RunEvaluation r;
    r.predictions = table;
    r.evaluation = evaluateProbabilities(table.flatProbabilities(), table.labels(), classes, options);
    r.evaluation.split = split;
    r.evaluation.source = old.source;
    r.evaluation.loss = old.loss;
    r.evaluation.skipped = old.skipped;
    r.evaluation.thresholdSource = decision.source;
    r.evaluation.testTimeAugmentation = old.testTimeAugmentation;
    const auto predicted = classifyAtThreshold(table.flatProbabilities(), 2, options);
    for (size_t i = 0; i < r.predictions.rows.size(); ++i) {
      r.predictions.rows[i].predicted = predicted[i];
    }
    writeRunEvaluation(runDir, r);
  }
  refreshValVsTest(runDir);
  return decision;
}

}  // namespace ampbench
