#pragma once
// Named training recipes: a set of RunConfig defaults chosen by experiment (docs/RECIPES.md)
// that a user picks by name (`--recipe chest-xray`, the GUI's preset). Never applied unless
// chosen; a setting the user gives explicitly wins over the recipe's. Plain C++ (no torch).

#include "engine/core/RunConfig.h"

#include <functional>
#include <set>
#include <string>
#include <vector>

namespace ampbench {

struct RecipeSetting {
  std::string flag;   // the CLI flag that overrides it, e.g. "--image-size"
  std::string value;  // as the flag takes it, for help and docs ("" for a switch)
  std::function<void(RunConfig&)> apply;
};

// The settings that depend on the model: one family per kind of network (a ResNet-18 needs
// a smaller image and fewer epochs than small_cnn to fit the same training time).
struct RecipeFamily {
  std::string name;                 // "small CNN", "ResNet"
  std::vector<std::string> models;  // the registry models it serves; the first is its default
  std::vector<RecipeSetting> settings;
};

struct Recipe {
  std::string name;         // "chest-xray"
  std::string description;  // one line: what data it is for and what it was chosen by
  int64_t requiredClasses = 0;  // 0 = any number
  std::vector<RecipeSetting> settings;  // for every model
  std::vector<RecipeFamily> families;   // the first is the recipe's default model
};

// The recipes, in display order.
const std::vector<Recipe>& recipes();
// Throws InputError naming the recipes for an unknown name.
const Recipe& findRecipe(const std::string& name);

// The family of `recipe` for `model`; null when the recipe has none for it.
const RecipeFamily* recipeFamily(const Recipe& recipe, const std::string& model);

// Applies `recipe` to `c` (and records its name), except the settings whose flag is in
// `keep` (given explicitly by the user). The model is the recipe's default unless "--model"
// is in `keep`; then the family of c.model gives the model-dependent settings (InputError,
// naming the models it has settings for, when it has none).
void applyRecipe(const Recipe& recipe, RunConfig& c, const std::set<std::string>& keep = {});

// Applies only the model-dependent settings of `recipe` for c.model (image size, epochs):
// when the model changes under a chosen recipe. Returns false (nothing changed) when the
// recipe has no family for the model.
bool applyRecipeFamily(const Recipe& recipe, RunConfig& c);

// Whether a dataset with these classes fits the recipe of `c` (none: always); throws
// InputError saying what to do when it does not.
void checkRecipeFits(const RunConfig& c, const std::vector<std::string>& classes);

// "--image-size 128 --epochs 20 ... (small CNN: --model small_cnn ...; ResNet: ...)": the
// recipe as flags (help text, docs, the GUI's tooltip).
std::string recipeAsFlags(const Recipe& recipe);

}  // namespace ampbench
