#include "UiTestUtil.h"

#include <QCoreApplication>
#include <QDir>
#include <QImage>
#include <QSettings>
#include <QStandardPaths>

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

}  // namespace ampbench::uitest
