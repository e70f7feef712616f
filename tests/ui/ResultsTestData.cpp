#include "ResultsTestData.h"

#include "engine/core/Evaluation.h"
#include "engine/train/Trainer.h"
#include "engine/util/Files.h"

#include <QDir>
#include <QFileInfo>
#include <QFile>
#include <QImage>

#include <cmath>

namespace ampbench::uitest {
namespace {

void save(const QString& path, const QString& text) {
  QFile f(path);
  if (!f.open(QIODevice::WriteOnly | QIODevice::Truncate)) {
    qFatal("cannot write %s", qPrintable(path));
  }
  f.write(text.toUtf8());
}

}  // namespace

QVector<TestImage> tenImages() {
  const float pneumonia[] = {0.95f, 0.85f, 0.70f, 0.45f, 0.20f, 0.60f};
  const float normal[] = {0.10f, 0.30f, 0.55f, 0.05f};
  QVector<TestImage> out;
  for (int i = 0; i < 6; ++i) {
    out.push_back({QStringLiteral("PNEUMONIA/p%1.png").arg(i), 1, pneumonia[i]});
  }
  for (int i = 0; i < 4; ++i) {
    out.push_back({QStringLiteral("NORMAL/n%1.png").arg(i), 0, normal[i]});
  }
  return out;
}

void writeEvaluatedRun(const QString& runDir, const QString& dataRoot, const QVector<TestImage>& images,
                       const QString& split, double threshold, const QString& mode, bool emulated) {
  QDir().mkpath(runDir);
  const QDir run(runDir);
  const QString label = mode == QLatin1String("fp32") ? QStringLiteral("FP32")
                                                      : QStringLiteral("FP16 mixed%1").arg(emulated ? " (emulated)" : "");
  save(run.filePath(QStringLiteral("config.json")),
       QStringLiteral("{\"data\": {\"path\": \"%1\", \"image_size\": 32}, \"model\": {\"name\": \"resnet18\"}, "
                      "\"precision\": {\"mode\": \"%2\"}, \"optim\": {\"epochs\": 1, \"batch_size\": 4}, "
                      "\"resolved\": {\"precision\": {\"label\": \"%3\", \"emulated\": %4}}}\n")
           .arg(dataRoot, mode, label, emulated ? QStringLiteral("true") : QStringLiteral("false")));
  save(run.filePath(QStringLiteral("dataset.json")),
       QStringLiteral("{\"classes\": [\"NORMAL\", \"PNEUMONIA\"], \"counts\": {\"train\": [4, 6], \"%1\": [4, 6]}}\n")
           .arg(split));
  save(run.filePath(QStringLiteral("epochs.csv")),
       QStringLiteral("epoch,train_loss,train_acc,val_loss,val_acc,val_auc,epoch_seconds,images_per_s\n"
                      "1,0.5,0.8,0.5,0.7,0.8,1,10\n"));

  ampbench::PredictionTable table;
  table.classes = {"NORMAL", "PNEUMONIA"};
  for (int i = 0; i < images.size(); ++i) {
    const TestImage& t = images[i];
    ampbench::PredictionRow row;
    row.file = t.file.toStdString();
    row.label = t.label;
    row.probabilities = {1.0f - t.pPositive, t.pPositive};
    row.predicted = std::isfinite(t.pPositive) ? (t.pPositive >= threshold ? 1 : 0) : -1;
    table.rows.push_back(row);
    // A small picture per image: dark for NORMAL, a bright band for PNEUMONIA.
    const QString path = QDir(dataRoot).filePath(t.file);
    if (!QFile::exists(path)) {
      QDir().mkpath(QFileInfo(path).absolutePath());
      QImage image(32, 32, QImage::Format_Grayscale8);
      image.fill(40 + 15 * i);
      for (int y = 10; y < 20 && t.label == 1; ++y) {
        for (int x = 0; x < 32; ++x) {
          image.setPixel(x, y, qRgb(230, 230, 230));
        }
      }
      image.save(path);
    }
  }
  ampbench::EvaluationOptions options;
  options.threshold = threshold;
  ampbench::Evaluation e = ampbench::evaluateProbabilities(table.flatProbabilities(), table.labels(), table.classes, options);
  e.split = split.toStdString();
  e.source = dataRoot.toStdString();
  ampbench::writeFileAtomic(run.filePath(QStringLiteral("evaluation_%1.json").arg(split)).toStdString(),
                            ampbench::evaluationToJson(e));
  ampbench::writeFileAtomic(run.filePath(QStringLiteral("predictions_%1.csv").arg(split)).toStdString(),
                            ampbench::predictionsToCsv(table));
}

void writeEvaluatedComparison(const QString& dir, const QString& dataRoot, const QVector<TestImage>& fp32,
                              const QVector<TestImage>& other, const QString& otherMode) {
  writeEvaluatedRun(QDir(dir).filePath(QStringLiteral("fp32")), dataRoot, fp32);
  writeEvaluatedRun(QDir(dir).filePath(otherMode), dataRoot, other, QStringLiteral("val"), 0.5, otherMode, true);
  ampbench::ComparisonSummary summary;
  summary.outDir = dir.toStdString();
  summary.modeNames = {"fp32", otherMode.toStdString()};
  summary.runs.resize(2);
  for (size_t i = 0; i < 2; ++i) {
    summary.runs[i].status = ampbench::RunStatus::Finished;
    summary.runs[i].runDir = QDir(dir).filePath(QString::fromStdString(summary.modeNames[i])).toStdString();
  }
  summary.runs[0].precision.label = "FP32";
  summary.runs[1].precision.label = "FP16 mixed (emulated)";
  summary.runs[1].precision.emulated = true;
  summary.verdict = ampbench::comparisonVerdict(summary);
  ampbench::RunConfig settings;
  settings.model = "resnet18";
  ampbench::writeComparison(summary, settings);
}

}  // namespace ampbench::uitest
