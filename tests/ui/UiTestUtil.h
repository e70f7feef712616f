#pragma once
// Small helpers shared by the UI tests and ui_test_tool: generated image folders (so no
// test needs external data) and settings isolation.

#include "engine/core/Events.h"

#include <QString>
#include <QStringList>

namespace ampbench::uitest {

// Writes <dir>/<split>/<class>/img_NNN.png (grayscale, size x size) for each split in
// `splits` ("" = class folders directly in dir). Class c has a bright band at a
// class-specific place plus noise, so a small CNN can learn it in an epoch or two.
void makeImageDataset(const QString& dir, const QStringList& classes, int perClass, int size,
                      const QStringList& splits = {QStringLiteral("train"), QStringLiteral("val")}, unsigned seed = 7);

// A finished run directory with precision statistics, as the engine would leave it:
// steps.csv, epochs.csv, config.json (fp16 or bf16), grad_stats.csv sampled every 100 of
// 1000 steps over ten ResNet-like layers, and overflows.csv (three overflows; none in bf16).
void writePrecisionRun(const QString& dir, bool bf16 = false);

// Trains small_cnn on `dataDir` into `outDir` (2 threads, default seed and learning rate):
// the real run folder the inspector, report and Results tests work on.
ampbench::RunSummary trainSmallRun(const QString& dataDir, const QString& outDir, int imageSize, int epochs,
                                   int batchSize);

// A long run as the engine leaves it: steps.csv with `steps` rows (1000 steps an epoch),
// epochs.csv, config.json for `mode` (fp32, fp16, bf16, ...). What the GUI must load
// without freezing (a 100k-step run is a long CPU night).
void writeLongRun(const QString& dir, const QString& mode, int steps);
// A finished comparison of `modes` in `dir` (comparison.json plus one writeLongRun per
// mode in dir/<mode>/).
void writeLongComparison(const QString& dir, const QStringList& modes, int stepsPerRun);

// Test-mode settings (QStandardPaths test mode) with everything cleared.
void isolateSettings(const QString& organization);

}  // namespace ampbench::uitest
