#pragma once
// Everything a PDF report shows, gathered from a run or comparison folder without widgets
// (so the slow parts, evaluation and Grad-CAM, run on a worker thread; ReportWriter then
// paints it in the GUI thread). Reads config.json, dataset.json, epochs.csv, metrics.json,
// evaluation_<split>.json, predictions_<split>.csv and comparison.json; evaluates the run
// first (evaluateRunSplit) when the evaluation files are missing, and says so.
//
// Privacy: nothing here reads a DICOM header field. Images are named by their file name
// relative to the dataset folder, and with pseudonymize by a stable id ("image-0007": the
// position of the file among the split's sorted file names), with no mapping kept.

#include "engine/core/Bootstrap.h"
#include "engine/core/Evaluation.h"
#include "engine/core/Events.h"
#include "engine/core/RunConfig.h"
#include "engine/train/Trainer.h"
#include "engine/util/CancelToken.h"

#include <QImage>
#include <QMap>
#include <QPair>
#include <QString>
#include <QStringList>
#include <QVector>

#include <functional>
#include <optional>

namespace ampbench::ui {

struct ReportOptions {
  QString split;                     // "test", "val"; empty: test when the dataset has one, else val
  std::optional<bool> pseudonymize;  // unset: on when the dataset holds DICOM files
  int worst = 6;                     // worst cases per run, each with its Grad-CAM overlay
  int thumbnailsPerClass = 4;
};

// One labelled (label, value) row of a settings-like table.
using ReportRow = QPair<QString, QString>;

struct ReportCase {
  QString name;  // file name relative to the dataset, or its pseudonym
  QString trueClass;
  QString predictedClass;
  double probability = 0.0;  // of the predicted class
  QImage image;              // the image as the model saw it (null when it could not be read)
  QImage overlay;            // Grad-CAM of the predicted class over it
  QString error;             // why there is no image / heat map
};

// What one trained run contributes (a comparison has one per mode).
struct ReportRun {
  QString dir;
  QString mode;       // "fp32", "fp16", ... (config.json, else the folder name)
  QString label;      // "FP16 mixed (emulated)"
  QString status;     // metrics.json status ("finished", "diverged", ...)
  QString message;
  QString precisionNote;      // resolved.precision.note
  bool emulated = false;
  bool whatIf = false;
  bool lossScaling = false;
  QVector<ReportRow> settings;   // model, image size, epochs, batch, optimizer, lr, seed, ...
  QVector<ReportRow> machine;    // CPU, GPU, device, threads, versions
  QVector<ReportRow> precision;  // what was native or emulated
  QVector<ReportRow> scaler;     // overflow / skipped steps, final scale
  QVector<ampbench::EpochEvent> epochs;
  std::optional<ampbench::Evaluation> evaluation;
  QString evaluationFile;  // evaluation_<split>.json
  bool evaluatedNow = false;  // the files were missing: evaluated for this report
  QString evaluationError;    // why there is no evaluation
  QVector<ReportCase> worst;
  QString gradCamPrecision;   // what the heat maps were computed in, e.g. "FP16 mixed (emulated)"
  QString gradCamLayer;       // the block explained
  QString worstNote;          // e.g. "no mistakes on this split", or why Grad-CAM is missing
};

struct ReportData {
  bool comparison = false;
  QString dir;
  QString name;       // the folder's name
  QString generated;  // date and time the report was made (local, ISO)
  QString split;      // the split evaluated
  bool pseudonymized = false;
  bool datasetHasDicom = false;

  // Dataset (dataset.json).
  QString datasetSource;
  QString datasetKind;
  QStringList classes;
  QMap<QString, QVector<qint64>> counts;  // split -> images per class
  QMap<QString, QString> splitOrigin;
  QVector<QPair<int, QImage>> thumbnails;  // (class, image), a few per class
  QString thumbnailsNote;                  // why there are none, when there are none
  QVector<ReportRow> skipped;              // (file or pseudonym, reason)
  qint64 skippedCount = 0;

  QVector<ReportRun> runs;  // one for a run; baseline first for a comparison
  ampbench::ComparisonSummary comparisonSummary;
  QStringList notes;  // said on the first page: evaluated now, pseudonymized, ...
};

// Progress: a sentence and a fraction in [0, 1] (negative: unknown).
using ReportProgress = std::function<void(const QString& what, double fraction)>;

// Gathers a report for `dir` (a run or a comparison folder). Throws InputError (message says
// what to do) for a folder that is neither, a run with neither evaluation files nor a
// checkpoint, or a split the dataset does not have; CancelledError when cancelled.
ReportData gatherReport(const QString& dir, const ReportOptions& options, const ReportProgress& progress = {},
                        const ampbench::CancelToken& cancel = ampbench::CancelToken{});

// Stable pseudonyms for file names: "image-0001" ... in the order of the sorted names.
class Pseudonyms {
 public:
  Pseudonyms() = default;
  explicit Pseudonyms(QStringList names);
  // The id of `name`; a name not known at construction gets the next free id.
  QString idOf(const QString& name);

 private:
  QMap<QString, int> ids_;
  int next_ = 1;
};

// True for a file name with a DICOM extension (.dcm, .dicom; case-insensitive).
bool hasDicomExtension(const QString& name);

}  // namespace ampbench::ui
