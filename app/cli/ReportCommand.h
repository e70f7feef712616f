#pragma once
// `ampbench-cli report --run RUN_DIR_OR_COMPARISON --out report.pdf [--page-size a4|letter]
// [--split test|val] [--pseudonymize|--no-pseudonymize] [--worst N]`: the PDF report
// (ui/ReportWriter). The only command that starts Qt: a QApplication for QCustomPlot, on
// the offscreen platform when there is no display.

#include "engine/util/CancelToken.h"

#include <string>

namespace CLI {
class App;
}

namespace ampbench::cli {

struct ReportArgs {
  std::string run;
  std::string out;
  std::string pageSize;  // empty: the locale's (Letter in the US and Canada, else A4)
  std::string split;     // empty: test when the run's data has one, else val
  bool pseudonymize = false;
  bool noPseudonymize = false;
  int worst = 6;
};

CLI::App* addReportCommand(CLI::App& app, ReportArgs& args);

// Writes the report. Bad input (not a run, no checkpoint nor evaluation, an unwritable
// --out) throws InputError (exit 2 in main's handler). Returns the exit code.
int runReportCommand(const ReportArgs& args, const ampbench::CancelToken& cancel);

}  // namespace ampbench::cli
