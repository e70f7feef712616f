#pragma once
// The run panel's "Recipe and model selection" rows (under Advanced): a named recipe
// (engine/core/Recipe.h, e.g. the chest X-ray recipe — applied only when picked here),
// class balance, which epoch the run keeps (best.pt) and how the decision threshold is
// chosen on validation at the end of the run.

#include <QObject>
#include <QString>

#include "engine/core/RunConfig.h"

class QComboBox;
class QDoubleSpinBox;
class QFormLayout;
class QWidget;

namespace ampbench::ui {

class RecipeBox : public QObject {
  Q_OBJECT

 public:
  // The recipe row goes into `main`, the others into `advanced` (widgets parented to the
  // forms' widgets).
  RecipeBox(QWidget* mainParent, QFormLayout* main, QWidget* advancedParent, QFormLayout* advanced);

  void fill(const ampbench::RunConfig& c);
  void apply(ampbench::RunConfig& c) const;

  QComboBox* recipeCombo() const { return recipe_; }  // for tests

  // The training settings no control of the run panel shows (a recipe's or a shown run's),
  // from `from` into `to`; never where a run writes, its cache, test hooks or distribution.
  static void carrySettingsWithoutControls(const ampbench::RunConfig& from, ampbench::RunConfig& to);

 Q_SIGNALS:
  // The user picked a recipe: apply it to the whole form.
  void recipeChosen(const QString& name);

 private:
  void updateSensitivity();

  QComboBox* recipe_ = nullptr;
  QComboBox* balance_ = nullptr;
  QComboBox* select_ = nullptr;
  QComboBox* threshold_ = nullptr;
  QDoubleSpinBox* sensitivity_ = nullptr;
  bool filling_ = false;
};

}  // namespace ampbench::ui
