#include "ui/RecipeBox.h"

#include "engine/core/Recipe.h"
#include "ui/FormWidgets.h"
#include "ui/RecipeKnobs.h"

#include <QComboBox>
#include <QDoubleSpinBox>
#include <QFormLayout>
#include <QSettings>

namespace ampbench::ui {

using namespace form;

RecipeBox::RecipeBox(QWidget* mainParent, QFormLayout* main, QWidget* parent, QFormLayout* form,
                     QComboBox* model)
    : QObject(mainParent) {
  knobs_ = new RecipeKnobs(parent);
  form->addRow(knobs_);
  connect(knobs_, &RecipeKnobs::changed, this, &RecipeBox::changed);
  QList<QPair<QString, QString>> recipes{{tr("Custom (the settings above)"), QString()}};
  for (const auto& r : ampbench::recipes()) {
    recipes.append({r.name == "chest-xray" ? tr("Chest X-ray recipe") : qs(r.name), qs(r.name)});
  }
  recipe_ = enumCombo(mainParent, recipes,
                      "A recipe fills in settings chosen by experiment (docs/RECIPES.md): model, image size, "
                      "epochs, class balance, augmentation, model selection and threshold. You can change any of "
                      "them afterwards; config.json records the recipe and every value the run used.");
  recipe_->setObjectName(QStringLiteral("recipeCombo"));
  for (int i = 1; i < recipe_->count(); ++i) {
    const auto& r = ampbench::findRecipe(recipe_->itemData(i).toString().toStdString());
    recipe_->setItemData(i, qs(r.description + ":\n" + ampbench::recipeAsFlags(r)), Qt::ToolTipRole);
  }
  main->insertRow(0, tr("Recipe"), recipe_);  // first: pick a recipe, then adjust
  balance_ = enumCombo(parent,
                       {{tr("None"), QStringLiteral("none")},
                        {tr("Weighted loss"), QStringLiteral("loss")},
                        {tr("Balanced sampler"), QStringLiteral("sampler")}},
                       "Class imbalance: weight the loss by inverse class frequency, or draw batches with equal "
                       "class shares. Pneumonia is 74 % of the chest X-ray training images.");
  form->addRow(tr("Class balance"), balance_);
  select_ = enumCombo(parent,
                      {{tr("Best balanced accuracy"), QStringLiteral("balanced_accuracy")},
                       {tr("Best AUC"), QStringLiteral("auc")},
                       {tr("Best accuracy"), QStringLiteral("accuracy")},
                       {tr("Lowest loss"), QStringLiteral("loss")},
                       {tr("Last epoch"), QStringLiteral("last")}},
                      "Which epoch the run keeps, evaluates and exports (best.pt), judged on validation. Raw "
                      "accuracy rewards calling the majority class on an imbalanced split; balanced accuracy "
                      "does not.");
  select_->setObjectName(QStringLiteral("selectMetricCombo"));
  form->addRow(tr("Keep the epoch with"), select_);
  threshold_ = enumCombo(parent,
                         {{tr("0.5 (most probable class)"), QStringLiteral("none")},
                          {tr("Youden's J on validation"), QStringLiteral("youden")},
                          {tr("Target sensitivity on validation"), QStringLiteral("sensitivity")}},
                         "Two classes: the decision threshold chosen on validation when the run finishes "
                         "(decision.json), used by evaluation, prediction, Grad-CAM and export.");
  form->addRow(tr("Decision threshold"), threshold_);
  sensitivity_ = dspin(parent, 0.01, 1.0, 0.95, 2, 0.01, "The sensitivity the threshold must reach on validation.");
  form->addRow(tr("Target sensitivity"), sensitivity_);
  updateSensitivity();
  connect(threshold_, &QComboBox::currentIndexChanged, this, [this] { updateSensitivity(); });
  for (QComboBox* box : {recipe_, balance_, select_, threshold_}) {
    connect(box, &QComboBox::currentIndexChanged, this, &RecipeBox::changed);
  }
  connect(sensitivity_, &QDoubleSpinBox::valueChanged, this, &RecipeBox::changed);
  connect(recipe_, &QComboBox::currentIndexChanged, this, [this] {
    if (!filling_ && !comboValue(recipe_).isEmpty()) {
      Q_EMIT recipeChosen(comboValue(recipe_), true);
    }
  });
  // activated: the user's pick only, never a form being filled from a config; and only
  // another model (re-picking the same one must not undo a tuned size or epoch count).
  model_ = model;
  lastModel_ = model->currentText();
  connect(model, &QComboBox::activated, this, [this] {
    if (model_->currentText() == lastModel_) {
      return;
    }
    lastModel_ = model_->currentText();
    if (!comboValue(recipe_).isEmpty()) {
      Q_EMIT recipeChosen(comboValue(recipe_), false);
    }
  });
}

void RecipeBox::applyChoice(const QString& recipe, bool wholeRecipe, ampbench::RunConfig& c) {
  const auto& r = ampbench::findRecipe(recipe.toStdString());
  if (!wholeRecipe) {
    ampbench::applyRecipeFamily(r, c);
    return;
  }
  const bool keepModel = ampbench::recipeFamily(r, c.model) != nullptr;
  ampbench::applyRecipe(r, c, keepModel ? std::set<std::string>{"--model"} : std::set<std::string>{});
}

void RecipeBox::carrySettingsWithoutControls(const ampbench::RunConfig& from, ampbench::RunConfig& to) {
  to.channels = from.channels;
  to.augment = from.augment;
  to.split = from.split;
  to.momentum = from.momentum;
  to.weightDecay = from.weightDecay;
  to.warmupFraction = from.warmupFraction;
  to.gradClipNorm = from.gradClipNorm;
  to.tta.shift = from.tta.shift;  // the knobs have a control for the views, not the shift
}

void RecipeBox::updateSensitivity() { sensitivity_->setEnabled(comboValue(threshold_) == QLatin1String("sensitivity")); }

void RecipeBox::fill(const ampbench::RunConfig& c) {
  filling_ = true;
  setComboValue(recipe_, qs(c.recipe));
  setComboValue(balance_, qs(ampbench::toString(c.balance)));
  setComboValue(select_, qs(ampbench::toString(c.selection.metric)));
  setComboValue(threshold_, qs(ampbench::toString(c.selection.thresholdRule)));
  sensitivity_->setValue(c.selection.targetSensitivity);
  knobs_->setFrom(c);
  lastModel_ = qs(c.model);
  filling_ = false;
}

void RecipeBox::load(QSettings& s) {
  ampbench::RunConfig c;
  apply(c);  // what the settings lack, or hold unreadable, keeps its current value
  auto read = [&s](const char* key, auto& field, auto parse) {
    try {
      field = parse(s.value(QLatin1String(key), qs(toString(field))).toString().toStdString());
    } catch (const std::exception&) {  // an edited or older settings file: keep the value
    }
  };
  c.recipe = s.value(QStringLiteral("recipe"), qs(c.recipe)).toString().toStdString();
  read("balance", c.balance, ampbench::parseBalance);
  read("selectMetric", c.selection.metric, ampbench::parseSelectMetric);
  read("thresholdRule", c.selection.thresholdRule, ampbench::parseThresholdRule);
  c.selection.targetSensitivity = s.value(QStringLiteral("targetSensitivity"), c.selection.targetSensitivity).toDouble();
  fill(c);  // an unknown recipe name leaves the combo on Custom
  knobs_->load(s);
  lastModel_ = model_->currentText();  // the panel restored its model before this
}

void RecipeBox::save(QSettings& s) const {
  ampbench::RunConfig c;
  apply(c);
  s.setValue(QStringLiteral("recipe"), qs(c.recipe));
  s.setValue(QStringLiteral("balance"), qs(toString(c.balance)));
  s.setValue(QStringLiteral("selectMetric"), qs(toString(c.selection.metric)));
  s.setValue(QStringLiteral("thresholdRule"), qs(toString(c.selection.thresholdRule)));
  s.setValue(QStringLiteral("targetSensitivity"), c.selection.targetSensitivity);
  knobs_->save(s);
}

void RecipeBox::apply(ampbench::RunConfig& c) const {
  c.recipe = comboValue(recipe_).toStdString();
  c.balance = ampbench::parseBalance(comboValue(balance_).toStdString());
  c.selection.metric = ampbench::parseSelectMetric(comboValue(select_).toStdString());
  c.selection.thresholdRule = ampbench::parseThresholdRule(comboValue(threshold_).toStdString());
  c.selection.targetSensitivity = sensitivity_->value();
  knobs_->applyTo(c);
}

}  // namespace ampbench::ui
