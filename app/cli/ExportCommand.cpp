#include "app/cli/ExportCommand.h"

#include "engine/export/Export.h"
#include "engine/util/Errors.h"

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include <cstdio>

namespace ampbench::cli {

CLI::App* addExportCommand(CLI::App& app, ExportArgs& args) {
  auto* cmd = app.add_subcommand("export", "export a run's model: model.onnx, model.pt, model.json + MODEL_CARD.md");
  cmd->add_option("--run", args.run, "run directory (its best.pt, else checkpoint.pt)")->required();
  cmd->add_option("--out", args.out, "folder to write the files into (may be the run directory)")->required();
  cmd->add_option("--format", args.formats, "comma-separated: onnx, torch, card (default all)")
      ->capture_default_str();
  cmd->add_flag("--fp16-weights", args.fp16Weights, "ONNX: store weights as float16 (inputs and outputs stay float32)");
  cmd->add_flag("--fold-bn", args.foldBatchNorm, "ONNX: fold batch norm into the convolutions");
  cmd->add_flag("--json", args.json, "print the written files as JSON");
  return cmd;
}

int runExportCommand(const ExportArgs& args) {
  ExportOptions options;
  options.onnxFp16Weights = args.fp16Weights;
  options.foldBatchNorm = args.foldBatchNorm;
  options = parseExportFormats(args.formats, options);
  if ((args.fp16Weights || args.foldBatchNorm) && !options.onnx) {
    throw InputError("--fp16-weights and --fold-bn apply to ONNX: add onnx to --format");
  }
  const auto files = exportRun(args.run, args.out, options);
  if (args.json) {
    std::printf("%s\n", nlohmann::json{{"out", args.out}, {"files", files}}.dump(2).c_str());
  } else {
    for (const auto& f : files) {
      std::printf("wrote %s\n", f.c_str());
    }
  }
  return 0;
}

}  // namespace ampbench::cli
