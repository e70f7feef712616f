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

struct Recipe {
  std::string name;         // "chest-xray"
  std::string description;  // one line: what data it is for and what it was chosen by
  int64_t requiredClasses = 0;  // 0 = any number
  std::vector<RecipeSetting> settings;
};

// The recipes, in display order.
const std::vector<Recipe>& recipes();
// Throws InputError naming the recipes for an unknown name.
const Recipe& findRecipe(const std::string& name);

// Applies `recipe` to `c` (and records its name), except the settings whose flag is in
// `keep` (given explicitly by the user).
void applyRecipe(const Recipe& recipe, RunConfig& c, const std::set<std::string>& keep = {});

// Whether a dataset with these classes fits the recipe of `c` (none: always); throws
// InputError saying what to do when it does not.
void checkRecipeFits(const RunConfig& c, const std::vector<std::string>& classes);

// "--image-size 128 --epochs 20 ...": the recipe as flags (help text, docs, the GUI's tooltip).
std::string recipeAsFlags(const Recipe& recipe);

}  // namespace ampbench
