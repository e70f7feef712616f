#pragma once
// `ampbench-cli info [--json]`: this machine's CPU (model, vector and matrix units, threads),
// GPU, library versions, and what each precision mode does here (native, emulated,
// unavailable, and why).

namespace CLI {
class App;
}

namespace ampbench::cli {

struct InfoArgs {
  bool json = false;
};

// Registers the subcommand on `app`, parsing into `args`.
CLI::App* addInfoCommand(CLI::App& app, InfoArgs& args);

// Prints the report; returns the exit code (0).
int runInfoCommand(const InfoArgs& args);

}  // namespace ampbench::cli
