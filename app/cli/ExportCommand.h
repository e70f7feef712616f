#pragma once
// `ampbench-cli export --run RUN_DIR --out DIR [--format onnx,torch,card] [--fp16-weights]
// [--fold-bn] [--json]`: writes model.onnx, model.pt, model.json + MODEL_CARD.md.

#include <string>

namespace CLI {
class App;
}

namespace ampbench::cli {

struct ExportArgs {
  std::string run;
  std::string out;
  std::string formats = "onnx,torch,card";
  bool fp16Weights = false;
  bool foldBatchNorm = false;
  bool json = false;
};

// Registers the subcommand on `app`, parsing into `args`.
CLI::App* addExportCommand(CLI::App& app, ExportArgs& args);

// Runs the export and prints the files written. Bad input throws InputError (exit 2 in
// main's handler). Returns the exit code.
int runExportCommand(const ExportArgs& args);

}  // namespace ampbench::cli
