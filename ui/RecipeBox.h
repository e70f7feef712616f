#pragma once
// The run panel's recipe: the named recipe row (engine/core/Recipe.h, e.g. the chest X-ray
// recipe — applied only when picked here) on the main form, and under Advanced its knobs
// (RecipeKnobs), class balance, which epoch the run keeps (best.pt) and how the decision
// threshold is chosen on validation at the end of the run.

#include <QObject>
#include <QString>

#include "engine/core/RunConfig.h"

class QComboBox;
class QDoubleSpinBox;
class QFormLayout;
class QSettings;
class QWidget;

namespace ampbench::ui {

class RecipeKnobs;

class RecipeBox : public QObject {
  Q_OBJECT

 public:
  // The recipe row goes into `main`, the others into `advanced` (widgets parented to the
  // forms' widgets). `model`: the panel's model combo; a model the user picks under a
  // chosen recipe gets that recipe's settings for its family (image size, epochs).
  RecipeBox(QWidget* mainParent, QFormLayout* main, QWidget* advancedParent, QFormLayout* advanced,
            QComboBox* model);

  // What a recipeChosen signal asks for, applied to `c`: the whole recipe (for the model
  // shown when the recipe has settings for it, else the recipe's own model), or only the
  // model-dependent settings.
  static void applyChoice(const QString& recipe, bool wholeRecipe, ampbench::RunConfig& c);

  void fill(const ampbench::RunConfig& c);
  void apply(ampbench::RunConfig& c) const;
  // The rows and the knobs, in the caller's QSettings group (the recipe's name is restored
  // without applying it again: the other rows were saved with its values).
  void load(QSettings& s);
  void save(QSettings& s) const;

  QComboBox* recipeCombo() const { return recipe_; }  // for tests

  // The training settings no control of the run panel shows (a recipe's or a shown run's),
  // from `from` into `to`; never where a run writes, its cache, test hooks or distribution.
  static void carrySettingsWithoutControls(const ampbench::RunConfig& from, ampbench::RunConfig& to);

 Q_SIGNALS:
  // The user picked a recipe (wholeRecipe), or another model under a chosen one: apply
  // applyChoice() to the form.
  void recipeChosen(const QString& name, bool wholeRecipe);
  // Any of its rows or knobs changed (the panel saves its settings).
  void changed();

 private:
  void updateSensitivity();

  QComboBox* model_ = nullptr;  // the panel's
  QString lastModel_;           // the model the form's recipe settings were last applied for
  RecipeKnobs* knobs_ = nullptr;  // augmentation, label smoothing, EMA, test-time augmentation
  QComboBox* recipe_ = nullptr;
  QComboBox* balance_ = nullptr;
  QComboBox* select_ = nullptr;
  QComboBox* threshold_ = nullptr;
  QDoubleSpinBox* sensitivity_ = nullptr;
  bool filling_ = false;
};

}  // namespace ampbench::ui
