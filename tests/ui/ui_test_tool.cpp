// Helper for the scripted-mode test (scripted_mode_test.sh):
//   ui_test_tool make-data DIR             generated 2-class image folder (train/ val/)
//   ui_test_tool make-precision-run DIR [bf16]  a finished run with grad_stats.csv / overflows.csv
//   ui_test_tool check-png FILE W H        the PNG exists, is W x H and is not blank

#include "UiTestUtil.h"

#include <QGuiApplication>
#include <QImage>
#include <QSet>

#include <cstdio>

int main(int argc, char* argv[]) {
  QGuiApplication app(argc, argv);
  const QStringList args = QGuiApplication::arguments();
  if (args.size() == 3 && args[1] == QLatin1String("make-data")) {
    ampbench::uitest::makeImageDataset(args[2], {QStringLiteral("NORMAL"), QStringLiteral("PNEUMONIA")}, 24, 16);
    return 0;
  }
  if ((args.size() == 3 || args.size() == 4) && args[1] == QLatin1String("make-precision-run")) {
    ampbench::uitest::writePrecisionRun(args[2], args.size() == 4 && args[3] == QLatin1String("bf16"));
    return 0;
  }
  if (args.size() == 5 && args[1] == QLatin1String("check-png")) {
    const QImage image(args[2]);
    if (image.isNull()) {
      std::fprintf(stderr, "check-png: cannot read %s\n", qPrintable(args[2]));
      return 1;
    }
    if (image.width() != args[3].toInt() || image.height() != args[4].toInt()) {
      std::fprintf(stderr, "check-png: %s is %dx%d, expected %sx%s\n", qPrintable(args[2]), image.width(),
                   image.height(), qPrintable(args[3]), qPrintable(args[4]));
      return 1;
    }
    // Non-blank: many distinct colours, and no single colour covers nearly everything.
    QHash<QRgb, int> histogram;
    for (int y = 0; y < image.height(); y += 2) {
      for (int x = 0; x < image.width(); x += 2) {
        histogram[image.pixel(x, y)] += 1;
      }
    }
    int top = 0;
    for (int n : histogram) {
      top = std::max(top, n);
    }
    const int samples = ((image.width() + 1) / 2) * ((image.height() + 1) / 2);
    std::printf("check-png: %dx%d, %d colours, most common %.1f %%\n", image.width(), image.height(),
                static_cast<int>(histogram.size()), 100.0 * top / samples);
    if (histogram.size() < 64 || top > samples * 0.9) {
      std::fprintf(stderr, "check-png: %s looks blank\n", qPrintable(args[2]));
      return 1;
    }
    return 0;
  }
  std::fprintf(stderr, "usage: ui_test_tool make-data DIR | make-precision-run DIR [bf16] | check-png FILE W H\n");
  return 2;
}
