#pragma once
// Run folders with known evaluation files for the Results tests: probabilities chosen by
// hand, so every figure the tab shows can be computed by hand too.

#include <QString>
#include <QVector>

namespace ampbench::uitest {

struct TestImage {
  QString file;     // relative to the data folder
  int label = 0;    // 0 NORMAL, 1 PNEUMONIA
  float pPositive;  // P(PNEUMONIA)
};

// Ten images: six PNEUMONIA (p 0.95, 0.85, 0.70, 0.45, 0.20, 0.60), four NORMAL
// (p 0.10, 0.30, 0.55, 0.05). At 0.5: [[3, 1], [2, 4]]; at 0.40: [[3, 1], [1, 5]];
// at 0.15: [[2, 2], [0, 6]].
QVector<TestImage> tenImages();

// A finished run as the engine leaves it: config.json (resnet18, `mode`, "emulated" when
// asked), dataset.json, epochs.csv, the images as PNGs under dataRoot, and
// evaluation_<split>.json + predictions_<split>.csv written with the engine's own
// evaluateProbabilities / evaluationToJson / predictionsToCsv at `threshold`.
void writeEvaluatedRun(const QString& runDir, const QString& dataRoot, const QVector<TestImage>& images,
                       const QString& split = QStringLiteral("val"), double threshold = 0.5,
                       const QString& mode = QStringLiteral("fp32"), bool emulated = false);

// A comparison folder: <dir>/fp32 and <dir>/<other> runs of the same images and
// comparison.json written with the engine's writeComparison.
void writeEvaluatedComparison(const QString& dir, const QString& dataRoot, const QVector<TestImage>& fp32,
                              const QVector<TestImage>& other, const QString& otherMode = QStringLiteral("fp16"));

}  // namespace ampbench::uitest
