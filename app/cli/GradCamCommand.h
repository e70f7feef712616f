#pragma once
// `ampbench-cli gradcam --run RUN_DIR_OR_MODEL [--class NAME] [--precision MODE]
// [--colormap viridis|turbo] [--alpha A] IMAGE... --out DIR`: writes one Grad-CAM overlay
// PNG per image, <stem>_gradcam_<class>.png, and prints one line per image.

#include <string>
#include <vector>

namespace CLI {
class App;
}

namespace ampbench::cli {

struct GradCamArgs {
  std::string run;
  std::string className;  // empty: each image's predicted class
  std::string precision;  // empty: the run's own (fp32 for an exported model)
  std::string colormap = "viridis";
  double alpha = 0.45;
  std::vector<std::string> images;
  std::string out;
};

CLI::App* addGradCamCommand(CLI::App& app, GradCamArgs& args);

// Bad arguments, a run without a checkpoint, an unknown class or an unwritable --out throw
// InputError (exit 2 in main's handler). A file that cannot be read gets a one-line reason
// on stderr and the others are still explained; returns 2 only when no file could be read.
int runGradCamCommand(const GradCamArgs& args);

}  // namespace ampbench::cli
