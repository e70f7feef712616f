#include "app/cli/GradCamCommand.h"

#include "engine/core/RunConfig.h"
#include "engine/train/GradCam.h"
#include "engine/util/Errors.h"

#include <CLI/CLI.hpp>

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <optional>
#include <set>

namespace fs = std::filesystem;

namespace ampbench::cli {

namespace {

std::string joined(const std::vector<std::string>& items) {
  std::string s;
  for (const auto& i : items) {
    s += (s.empty() ? "" : ", ") + i;
  }
  return s;
}

// <stem>_gradcam_<class>.png; a second input with the same stem (a/x.png, b/x.png) gets
// -2, -3... rather than overwriting the first's overlay.
std::string outputName(const std::string& image, const std::string& className, std::set<std::string>& used) {
  const auto base = fs::path(image).stem().string() + "_gradcam_" + className;
  std::string name = base + ".png";
  for (int n = 2; used.count(name); ++n) {
    name = base + "-" + std::to_string(n) + ".png";
  }
  used.insert(name);
  return name;
}

}  // namespace

CLI::App* addGradCamCommand(CLI::App& app, GradCamArgs& args) {
  auto* cmd = app.add_subcommand("gradcam", "Grad-CAM heat-map overlays (PNG) showing where the model looks");
  cmd->add_option("--run,--model", args.run, "run directory, exported model folder or model.pt")->required();
  cmd->add_option("--class", args.className, "class to explain (default: each image's predicted class)");
  cmd->add_option("--precision", args.precision, "compute in this mode (default: the run's own; fp32 for an "
                                                 "exported model)");
  cmd->add_option("--colormap", args.colormap, "viridis or turbo")->capture_default_str();
  cmd->add_option("--alpha", args.alpha, "weight of the colour map in the blend, 0..1")->capture_default_str();
  cmd->add_option("--out", args.out, "folder for the PNG overlays (created)")->required();
  cmd->add_option("images", args.images, "image files (PNG, JPEG, DICOM, ...)")->required();
  return cmd;
}

int runGradCamCommand(const GradCamArgs& args) {
  if (args.colormap != "viridis" && args.colormap != "turbo") {
    throw InputError("unknown colour map '" + args.colormap + "': choose viridis or turbo");
  }
  if (!(args.alpha >= 0.0 && args.alpha <= 1.0)) {
    throw InputError("--alpha must lie in [0, 1]");
  }
  std::optional<PrecisionMode> precision;
  if (!args.precision.empty()) {
    precision = parsePrecision(args.precision);
  }
  GradCamExplainer explainer(args.run, precision);
  const auto& classes = explainer.classes();
  std::optional<int64_t> target;
  if (!args.className.empty()) {
    const auto it = std::find(classes.begin(), classes.end(), args.className);
    if (it == classes.end()) {
      throw InputError("unknown class '" + args.className + "': the model's classes are " + joined(classes));
    }
    target = it - classes.begin();
  }
  std::error_code ec;
  fs::create_directories(args.out, ec);
  if (ec || !fs::is_directory(args.out)) {
    throw InputError("cannot create the output folder '" + args.out + "'" + (ec ? ": " + ec.message() : ""));
  }
  std::printf("Grad-CAM of block %s, computed in %s\n", explainer.layer().c_str(),
              explainer.precisionLabel().c_str());
  std::set<std::string> used;
  int read = 0;
  for (const auto& image : args.images) {
    const auto r = explainer.explain(image, target);
    if (r.input.pixels.empty()) {
      std::fprintf(stderr, "%s: cannot read: %s\n", image.c_str(), r.error.c_str());
      continue;
    }
    if (++read == 1) {  // stdout: stderr holds only the per-file reasons
      std::printf("classes called by %s\n", r.decisionRule.c_str());
    }
    const auto& predicted = classes[static_cast<size_t>(r.predicted)];
    const auto& explained = classes[static_cast<size_t>(r.targetClass)];
    if (!r.error.empty()) {
      std::fprintf(stderr, "%s: no heat map: %s\n", image.c_str(), r.error.c_str());
      continue;
    }
    const auto out = (fs::path(args.out) / outputName(image, explained, used)).string();
    try {
      writePng(out, overlayHeatMap(r.input, r.cam, args.alpha, args.colormap));
    } catch (const InputError&) {
      throw;
    } catch (const std::exception& e) {
      throw InputError("cannot write '" + out + "': " + e.what());
    }
    std::printf("%s: predicted %s %.4f, explained %s -> %s\n", image.c_str(), predicted.c_str(),
                r.probabilities[static_cast<size_t>(r.predicted)], explained.c_str(), out.c_str());
  }
  if (read == 0) {
    std::fprintf(stderr, "error: none of the %zu file(s) could be read as an image\n", args.images.size());
    return 2;
  }
  return 0;
}

}  // namespace ampbench::cli
