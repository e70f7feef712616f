#pragma once
// `ampbench-cli evaluate --run DIR [--data PATH] [--split train|val|test] [--folder DIR]
// [--threshold X] [--choose-threshold youden|sensitivity] [--target-sensitivity 0.95]
// [--resamples N] [--out FILE] [--json]`: the run's model on a labelled split, every figure
// with its 95 % bootstrap interval; writes evaluation_<split>.json and
// predictions_<split>.csv into the run dir (and the JSON to --out).

#include <optional>
#include <string>

namespace CLI {
class App;
}

namespace ampbench {
class CancelToken;
}

namespace ampbench::cli {

struct EvaluateArgs {
  std::string run;
  std::string data;
  std::string split = "val";
  std::string folder;
  std::optional<double> threshold;
  std::string chooseThreshold;  // "", "youden", "sensitivity"
  double targetSensitivity = 0.95;
  int resamples = 2000;
  std::string out;
  bool json = false;
  std::optional<int64_t> cacheMemoryMb;
  std::optional<int64_t> tta;  // test-time augmentation views; empty: the run's --tta
};

CLI::App* addEvaluateCommand(CLI::App& app, EvaluateArgs& args);

// Bad input throws InputError (exit 2 in main's handler). Returns the exit code (130 when
// cancelled).
int runEvaluateCommand(const EvaluateArgs& args, const CancelToken& cancel);

}  // namespace ampbench::cli
