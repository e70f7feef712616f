// ampbench: the Qt 6 workbench. Without options it opens the window; the scripted mode
//   ampbench --data DIR --precision MODE --model NAME --epochs N --start [--compare]
//            [--screenshot FILE.png] [--exit-when-done]
// starts the run, saves a screenshot of the whole window when done and exits 0.

#include "ui/AboutBox.h"
#include "ui/MainWindow.h"
#include "ui/PredictDriver.h"
#include "ui/ScriptOptions.h"

#include <QApplication>
#include <QIcon>

#include <cstdio>

int main(int argc, char* argv[]) {
  QApplication app(argc, argv);
  QApplication::setOrganizationName(QStringLiteral("AmpBench"));
  QApplication::setApplicationName(QStringLiteral("AmpBench"));
  QApplication::setApplicationVersion(QStringLiteral(AMPBENCH_VERSION));
  // The Wayland app id: the compositor matches it with org.ampbench.AmpBench.desktop (icon, name).
  QApplication::setDesktopFileName(QStringLiteral("org.ampbench.AmpBench"));

  ampbench::ui::ScriptOptions options;
  QString error;
  QString help;
  if (!ampbench::ui::parseScriptOptions(QApplication::arguments(), &options, &error, &help)) {
    std::fprintf(stderr, "ampbench: %s\n", error.toLocal8Bit().constData());
    return 2;
  }
  if (options.showHelp) {
    std::fputs(help.toLocal8Bit().constData(), stdout);
    return 0;
  }
  if (options.showVersion) {
    std::printf("%s\n", ampbench::ui::guiVersionText().toLocal8Bit().constData());
    return 0;
  }

  ampbench::ui::MainWindow window(options);
  window.show();
  if (!options.files.isEmpty()) {  // "Open with AmpBench": as File ▸ Predict… (a banner says when no run is there)
    window.predictDriver()->predictFiles(options.files);
  }
  return QApplication::exec();
}
