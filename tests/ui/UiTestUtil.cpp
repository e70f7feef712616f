#include "UiTestUtil.h"

#include "engine/core/Events.h"
#include "engine/train/Trainer.h"

#include <QCoreApplication>
#include <QDir>
#include <QFile>
#include <QImage>
#include <QSettings>
#include <QStandardPaths>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <random>

namespace ampbench::uitest {

void makeImageDataset(const QString& dir, const QStringList& classes, int perClass, int size, const QStringList& splits,
                      unsigned seed) {
  std::mt19937 rng(seed);
  std::uniform_int_distribution<int> noise(0, 60);
  for (const QString& split : splits) {
    const int count = split == QLatin1String("train") || split.isEmpty() ? perClass : std::max(2, perClass / 3);
    for (int c = 0; c < classes.size(); ++c) {
      const QString classDir = split.isEmpty() ? QDir(dir).filePath(classes[c]) : QDir(dir).filePath(split + QLatin1Char('/') + classes[c]);
      QDir().mkpath(classDir);
      for (int i = 0; i < count; ++i) {
        QImage img(size, size, QImage::Format_Grayscale8);
        for (int y = 0; y < size; ++y) {
          uchar* row = img.scanLine(y);
          for (int x = 0; x < size; ++x) {
            // Class c: a bright vertical band in the c-th of (classes) columns.
            const int band = x * classes.size() / size;
            row[x] = static_cast<uchar>((band == c ? 170 : 40) + noise(rng));
          }
        }
        img.save(QDir(classDir).filePath(QStringLiteral("img_%1.png").arg(i, 3, 10, QLatin1Char('0'))));
      }
    }
  }
}

void isolateSettings(const QString& organization) {
  QStandardPaths::setTestModeEnabled(true);
  QCoreApplication::setOrganizationName(organization);
  QCoreApplication::setApplicationName(QStringLiteral("AmpBenchUiTest"));
  QSettings().clear();
}

void writePrecisionRun(const QString& dir, bool bf16) {
  QDir().mkpath(dir);
  const QDir d(dir);
  auto save = [&d](const char* name, const QString& text) {
    QFile f(d.filePath(QLatin1String(name)));
    if (f.open(QIODevice::WriteOnly | QIODevice::Truncate | QIODevice::Text)) {
      f.write(text.toUtf8());
    }
  };
  const QStringList layers{QStringLiteral("conv1.weight"),          QStringLiteral("layer1.0.conv1.weight"),
                           QStringLiteral("layer1.0.conv2.weight"), QStringLiteral("layer2.0.conv1.weight"),
                           QStringLiteral("layer2.0.conv2.weight"), QStringLiteral("layer3.0.conv1.weight"),
                           QStringLiteral("layer3.0.conv2.weight"), QStringLiteral("layer4.0.conv1.weight"),
                           QStringLiteral("layer4.1.conv2.weight"), QStringLiteral("fc.weight")};
  constexpr int kSteps = 1000;
  constexpr int kEvery = 100;
  const QList<int> overflowSteps{120, 410, 812};
  // The scaler: 2^16, halved at each overflow, doubled every 250 good steps (bf16: none).
  QVector<double> scale(kSteps + 1, bf16 ? 1.0 : 65536.0);
  for (int s = 2, good = 0; s <= kSteps && !bf16; ++s) {
    scale[s] = scale[s - 1];
    if (overflowSteps.contains(s - 1)) {
      scale[s] /= 2;
      good = 0;
    } else if (++good == 250) {
      scale[s] *= 2;
      good = 0;
    }
  }
  QString steps = QStringLiteral("epoch,step,loss,lr,loss_scale,overflow,skipped,images_per_s\n");
  for (int s = 1; s <= kSteps; ++s) {
    const bool over = !bf16 && overflowSteps.contains(s);
    steps += QStringLiteral("%1,%2,%3,0.05,%4,%5,%5,120\n")
                 .arg(1 + (s - 1) / 250)
                 .arg(s)
                 .arg(0.7 * std::exp(-s / 400.0) + 0.05, 0, 'f', 4)
                 .arg(scale[s], 0, 'f', 0)
                 .arg(over ? QStringLiteral("true") : QStringLiteral("false"));
  }
  save("steps.csv", steps);
  QString epochs = QStringLiteral("epoch,train_loss,train_acc,val_loss,val_acc,val_auc,epoch_seconds,images_per_s,overflow_steps,loss_scale,peak_rss_mb\n");
  for (int e = 1; e <= 4; ++e) {
    epochs += QStringLiteral("%1,%2,%3,%4,%5,%6,60,120,1,%7,900\n")
                  .arg(e)
                  .arg(0.6 / e)
                  .arg(0.7 + 0.05 * e)
                  .arg(0.65 / e)
                  .arg(0.68 + 0.05 * e)
                  .arg(0.75 + 0.04 * e)
                  .arg(scale[e * 250], 0, 'f', 0);
  }
  save("epochs.csv", epochs);
  save("config.json", QStringLiteral("{\"model\": {\"name\": \"resnet18\"}, \"precision\": {\"mode\": \"%1\"}, "
                                     "\"optim\": {\"epochs\": 4, \"batch_size\": 32}, \"data\": {\"image_size\": 128}}\n")
                          .arg(bf16 ? QStringLiteral("bf16") : QStringLiteral("fp16")));

  // Gradients: log2|g| normal around a centre that falls with depth; 100000 values each.
  QString stats = QStringLiteral("step,layer,kind,statistic,value\n");
  auto share = [](double centre, double sigma, double below) {  // P(log2|g| < below)
    return 0.5 * std::erfc(-(below - centre) / (sigma * std::sqrt(2.0)));
  };
  for (int s = kEvery; s <= kSteps; s += kEvery) {
    const double shift = std::log2(scale[s]);
    for (int i = 0; i < layers.size(); ++i) {
      const QString row = QStringLiteral("%1,%2,").arg(s).arg(layers[i]);
      const double centre = -13.0 - 1.3 * i - s / 400.0;
      const double sigma = 3.2;
      constexpr double n = 100000;
      auto histogram = [&](double c, const QString& suffix) {
        double below = share(c, sigma, ampbench::kLog2MinExp) * n;
        stats += row + QStringLiteral("weight_grad,log2_bin_below%1,%2\n").arg(suffix).arg(std::llround(below));
        for (int k = ampbench::kLog2MinExp; k < ampbench::kLog2MaxExp; ++k) {
          const double count = (share(c, sigma, k + 1) - share(c, sigma, k)) * n;
          if (count >= 0.5) {
            stats += row + QStringLiteral("weight_grad,log2_bin_%1%2,%3\n").arg(k).arg(suffix).arg(std::llround(count));
          }
        }
        const double above = (1.0 - share(c, sigma, ampbench::kLog2MaxExp)) * n;
        stats += row + QStringLiteral("weight_grad,log2_bin_above%1,%2\n").arg(suffix).arg(std::llround(above));
      };
      histogram(centre, QString());
      histogram(centre + shift, QStringLiteral("_scaled"));
      const auto shares = [&](const char* name, double value) {
        stats += row + QStringLiteral("weight_grad,%1,%2\n").arg(QLatin1String(name)).arg(value, 0, 'g', 6);
      };
      shares("fp16_underflow_share", share(centre, sigma, -25));
      shares("fp16_subnormal_share", share(centre, sigma, -14) - share(centre, sigma, -25));
      shares("fp16_overflow_share", 1.0 - share(centre, sigma, std::log2(65520.0)));
      shares("fp16_underflow_share_scaled", share(centre + shift, sigma, -25));
      shares("fp16_subnormal_share_scaled", share(centre + shift, sigma, -14) - share(centre + shift, sigma, -25));
      shares("fp16_overflow_share_scaled", 1.0 - share(centre + shift, sigma, std::log2(65520.0)));
      shares("bf16_underflow_share", share(centre, sigma, -133));
      shares("bf16_subnormal_share", share(centre, sigma, -126));
      shares("zero_share", 0.0);
      stats += row + QStringLiteral("update,update_lost_share_fp16,%1\n").arg(std::min(0.6, 0.01 * i * i / 4.0 + s / 1e5), 0, 'g', 4);
      stats += row + QStringLiteral("update,update_lost_share_bf16,%1\n").arg(std::min(0.9, 0.04 * i * i / 4.0 + s / 2e4), 0, 'g', 4);
    }
  }
  save("grad_stats.csv", stats);
  QString overflows = QStringLiteral("step,layer,kind,value\n");
  if (!bf16) {
    overflows += QStringLiteral("120,layer4.1.conv2.weight,weight_grad,inf\n410,layer3.0,activation_grad,inf\n"
                                "812,layer3.0,activation_grad,nan\n");
  }
  save("overflows.csv", overflows);
}

void writeLongRun(const QString& dir, const QString& mode, int steps) {
  QDir().mkpath(dir);
  const QDir d(dir);
  constexpr int kStepsPerEpoch = 1000;
  QFile stepsFile(d.filePath(QStringLiteral("steps.csv")));
  if (stepsFile.open(QIODevice::WriteOnly | QIODevice::Truncate)) {
    QByteArray text("epoch,step,loss,lr,loss_scale,overflow,skipped,images_per_s\n");
    text.reserve(steps * 48);
    char line[128];
    for (int s = 1; s <= steps; ++s) {
      const int n = std::snprintf(line, sizeof line, "%d,%d,%.6f,0.001,%s,0,0,%.3f\n", 1 + (s - 1) / kStepsPerEpoch, s,
                                  0.7 * std::exp(-s / 20000.0) + 0.05 + 0.01 * std::sin(s * 0.7),
                                  mode.startsWith(QLatin1String("fp16")) ? "65536" : "1", 120.0 + (s % 17));
      text.append(line, n);
    }
    stepsFile.write(text);
  }
  QString epochs = QStringLiteral("epoch,train_loss,train_acc,val_loss,val_acc,val_auc,epoch_seconds,images_per_s,"
                                  "overflow_steps,loss_scale,peak_rss_mb\n");
  for (int e = 1; e <= std::max(1, steps / kStepsPerEpoch); ++e) {
    epochs += QStringLiteral("%1,%2,%3,%4,%5,%6,260,123,0,1,900\n")
                  .arg(e)
                  .arg(0.6 / e)
                  .arg(0.7 + 0.2 * e / (e + 10.0))
                  .arg(0.65 / e)
                  .arg(0.68 + 0.2 * e / (e + 10.0))
                  .arg(0.75 + 0.2 * e / (e + 10.0));
  }
  QFile epochsFile(d.filePath(QStringLiteral("epochs.csv")));
  if (epochsFile.open(QIODevice::WriteOnly | QIODevice::Truncate)) {
    epochsFile.write(epochs.toUtf8());
  }
  QFile config(d.filePath(QStringLiteral("config.json")));
  if (config.open(QIODevice::WriteOnly | QIODevice::Truncate)) {
    config.write(QStringLiteral("{\"model\": {\"name\": \"resnet18\"}, \"precision\": {\"mode\": \"%1\"}, "
                                "\"optim\": {\"epochs\": %2, \"batch_size\": 32}, \"data\": {\"image_size\": 128}}\n")
                     .arg(mode)
                     .arg(std::max(1, steps / kStepsPerEpoch))
                     .toUtf8());
  }
}

void writeLongComparison(const QString& dir, const QStringList& modes, int stepsPerRun) {
  ampbench::ComparisonSummary summary;
  summary.outDir = dir.toStdString();
  for (int i = 0; i < modes.size(); ++i) {
    const QString runDir = QDir(dir).filePath(modes[i]);
    writeLongRun(runDir, modes[i], stepsPerRun);
    summary.modes.push_back(ampbench::parsePrecision(modes[i].toStdString()));
    summary.modeNames.push_back(modes[i].toStdString());
    ampbench::RunSummary r;
    r.status = ampbench::RunStatus::Finished;
    r.runDir = runDir.toStdString();
    r.precision.label = modes[i].toUpper().toStdString();
    r.precision.computeDtype = i == 0 ? "float32" : "float16";
    r.imagesPerSecond = 100.0 + 20.0 * i;
    r.medianEpochSeconds = 1000.0 / r.imagesPerSecond;
    r.epochSeconds = {1.5 * r.medianEpochSeconds, r.medianEpochSeconds, r.medianEpochSeconds};
    r.epochsCompleted = std::max(1, stepsPerRun / 1000);
    r.stepsCompleted = stepsPerRun;
    r.hasFinalMetrics = true;
    r.finalVal.count = 100;
    r.finalVal.accuracy = 0.9;
    r.finalVal.auc = 0.95;
    summary.runs.push_back(r);
  }
  summary.verdict = ampbench::comparisonVerdict(summary);
  ampbench::writeComparison(summary, ampbench::RunConfig{});
}

ampbench::RunSummary trainSmallRun(const QString& dataDir, const QString& outDir, int imageSize, int epochs,
                                   int batchSize) {
  ampbench::RunConfig c;
  c.dataPath = dataDir.toStdString();
  c.outDir = outDir.toStdString();
  c.model = "small_cnn";
  c.imageSize = imageSize;
  c.batchSize = batchSize;
  c.epochs = epochs;
  c.threads = 2;
  ampbench::RunObserver quiet;
  return ampbench::runTraining(c, quiet, ampbench::CancelToken{});
}

}  // namespace ampbench::uitest
