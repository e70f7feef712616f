#include "app/cli/ReportCommand.h"

#include "engine/util/Errors.h"
#include "ui/ReportData.h"
#include "ui/ReportWriter.h"

#include <CLI/CLI.hpp>

#include <QApplication>
#include <QFont>
#include <QDir>

#include <cstdio>
#include <cstdlib>
#include <memory>

namespace ampbench::cli {

CLI::App* addReportCommand(CLI::App& app, ReportArgs& args) {
  auto* cmd = app.add_subcommand("report", "write a PDF report of a run or a comparison");
  cmd->add_option("--run", args.run, "run or comparison folder")->required();
  cmd->add_option("--out", args.out, "PDF file to write")->required();
  cmd->add_option("--page-size", args.pageSize, "a4 or letter (default: the locale's)")
      ->check(CLI::IsMember({"a4", "letter"}, CLI::ignore_case));
  cmd->add_option("--split", args.split, "test or val (default: test when the data has one, else val)")
      ->check(CLI::IsMember({"test", "val"}));
  auto* on = cmd->add_flag("--pseudonymize", args.pseudonymize,
                           "name images by pseudonymous ids (image-0001...), no mapping written (default when the "
                           "dataset holds DICOM files)");
  auto* off = cmd->add_flag("--no-pseudonymize", args.noPseudonymize, "show the images' file names");
  on->excludes(off);
  cmd->add_option("--worst", args.worst, "worst cases shown with Grad-CAM, per run")
      ->check(CLI::Range(0, 100))
      ->capture_default_str();
  return cmd;
}

int runReportCommand(const ReportArgs& args, const ampbench::CancelToken& cancel) {
  // QCustomPlot needs a QApplication; headless, Qt's offscreen platform draws as well.
  if (qEnvironmentVariableIsEmpty("QT_QPA_PLATFORM") && qEnvironmentVariableIsEmpty("DISPLAY") &&
      qEnvironmentVariableIsEmpty("WAYLAND_DISPLAY")) {
    qputenv("QT_QPA_PLATFORM", "offscreen");
  }
  static int argc = 1;
  static char name[] = "ampbench-cli";
  static char* argv[] = {name, nullptr};
  QApplication app(argc, argv);
  // The plots take the application's font: without ligatures their words stay searchable.
  QFont font = QApplication::font();
  font.setStyleStrategy(QFont::PreferNoShaping);
  QApplication::setFont(font);

  const QString out = QString::fromStdString(args.out);
  QString error;
  if (!ampbench::ui::checkReportPath(out, &error)) {
    throw ampbench::InputError(error.toStdString());
  }
  ampbench::ui::ReportPage page;
  page.size = args.pageSize.empty() ? ampbench::ui::defaultPageSize()
                                    : *ampbench::ui::parsePageSize(QString::fromStdString(args.pageSize));
  ampbench::ui::ReportOptions options;
  options.split = QString::fromStdString(args.split);
  options.worst = args.worst;
  if (args.pseudonymize || args.noPseudonymize) {
    options.pseudonymize = args.pseudonymize;
  }
  const auto progress = [](const QString& what, double) {
    std::fprintf(stderr, "report: %s\n", what.toLocal8Bit().constData());
  };
  ampbench::ui::ReportData data;
  try {
    data = ampbench::ui::gatherReport(QString::fromStdString(args.run), options, progress, cancel);
  } catch (const ampbench::CancelledError&) {
    std::fprintf(stderr, "report: cancelled\n");
    return 130;
  }
  const int pages = ampbench::ui::writeReport(data, out, page, &error);
  if (pages == 0) {
    throw ampbench::InputError(error.toStdString());
  }
  std::printf("wrote %s (%d pages%s)\n", QDir::toNativeSeparators(out).toLocal8Bit().constData(), pages,
              data.pseudonymized ? ", file names pseudonymized" : "");
  return 0;
}

}  // namespace ampbench::cli
