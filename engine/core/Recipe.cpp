#include "engine/core/Recipe.h"

#include "engine/util/Errors.h"

#include <sstream>

namespace ampbench {

namespace {

std::vector<Recipe> makeRecipes() {
  std::vector<Recipe> out;
  // Chosen on patient-disjoint held-out splits of the Kermany training folder reweighted to
  // the official test split's class shares (docs/RECIPES.md): what generalised there, in
  // about 30 minutes of training on a 2-core CPU. The same for every precision mode.
  Recipe cxr;
  cxr.name = "chest-xray";
  cxr.description =
      "two-class grayscale radiographs (NORMAL vs PNEUMONIA): small_cnn at 128 px, class-balanced loss, "
      "radiograph augmentation, the epoch with the best validation balanced accuracy, Youden threshold";
  cxr.requiredClasses = 2;
  cxr.settings = {
      {"--model", "small_cnn", [](RunConfig& c) { c.model = "small_cnn"; }},
      {"--image-size", "128", [](RunConfig& c) { c.imageSize = 128; }},
      {"--channels", "1", [](RunConfig& c) { c.channels = 1; }},
      {"--epochs", "20", [](RunConfig& c) { c.epochs = 20; }},
      {"--batch-size", "32", [](RunConfig& c) { c.batchSize = 32; }},
      {"--optimizer", "sgd", [](RunConfig& c) { c.optimizer = OptimizerKind::Sgd; }},
      {"--lr", "0.05", [](RunConfig& c) { c.lr = 0.05; }},
      {"--weight-decay", "0.0005", [](RunConfig& c) { c.weightDecay = 5e-4; }},
      {"--schedule", "onecycle", [](RunConfig& c) { c.schedule = ScheduleKind::OneCycle; }},
      {"--balance", "loss", [](RunConfig& c) { c.balance = BalanceKind::Loss; }},
      {"--min-crop-area", "0.8", [](RunConfig& c) { c.augment.minCropArea = 0.8; }},
      {"--max-rotation", "7", [](RunConfig& c) { c.augment.maxRotationDeg = 7.0; }},
      {"--select-metric", "balanced_accuracy",
       [](RunConfig& c) { c.selection.metric = SelectMetricKind::BalancedAccuracy; }},
      {"--choose-threshold", "youden", [](RunConfig& c) { c.selection.thresholdRule = ThresholdRuleKind::Youden; }},
  };
  out.push_back(std::move(cxr));
  return out;
}

}  // namespace

const std::vector<Recipe>& recipes() {
  static const std::vector<Recipe> all = makeRecipes();
  return all;
}

const Recipe& findRecipe(const std::string& name) {
  std::string names;
  for (const auto& r : recipes()) {
    if (r.name == name) {
      return r;
    }
    names += (names.empty() ? "" : ", ") + r.name;
  }
  throw InputError("unknown recipe '" + name + "': choose one of " + names);
}

void applyRecipe(const Recipe& recipe, RunConfig& c, const std::set<std::string>& keep) {
  for (const auto& s : recipe.settings) {
    if (!keep.count(s.flag)) {
      s.apply(c);
    }
  }
  c.recipe = recipe.name;
}

void checkRecipeFits(const RunConfig& c, const std::vector<std::string>& classes) {
  if (c.recipe.empty()) {
    return;
  }
  const auto& r = findRecipe(c.recipe);
  if (r.requiredClasses > 0 && static_cast<int64_t>(classes.size()) != r.requiredClasses) {
    throw InputError("the " + r.name + " recipe is for " + std::to_string(r.requiredClasses) +
                     "-class data; this dataset has " + std::to_string(classes.size()) +
                     " classes: leave out --recipe (or pick a dataset it fits)");
  }
}

std::string recipeAsFlags(const Recipe& recipe) {
  std::ostringstream out;
  for (const auto& s : recipe.settings) {
    out << (out.tellp() > 0 ? " " : "") << s.flag << (s.value.empty() ? "" : " " + s.value);
  }
  return out.str();
}

}  // namespace ampbench
