// ampbench: the Qt 6 workbench. Without options it opens the window; the scripted mode
//   ampbench --data DIR --precision MODE --model NAME --epochs N --start [--compare]
//            [--screenshot FILE.png] [--exit-when-done]
// starts the run, saves a screenshot of the whole window when done and exits 0.

#include "ui/MainWindow.h"
#include "ui/ScriptOptions.h"

#include <QApplication>
#include <QIcon>

#include <cstdio>

int main(int argc, char* argv[]) {
  QApplication app(argc, argv);
  QApplication::setOrganizationName(QStringLiteral("AmpBench"));
  QApplication::setApplicationName(QStringLiteral("AmpBench"));
  QApplication::setApplicationVersion(QStringLiteral(AMPBENCH_VERSION));
  QApplication::setDesktopFileName(QStringLiteral("ampbench"));

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
    std::printf("ampbench %s\n", AMPBENCH_VERSION);
    return 0;
  }

  ampbench::ui::MainWindow window(options);
  window.show();
  return QApplication::exec();
}
