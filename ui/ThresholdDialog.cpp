#include "ui/ThresholdDialog.h"

#include <QDialog>
#include <QDialogButtonBox>
#include <QDoubleSpinBox>
#include <QFormLayout>
#include <QLabel>
#include <QRadioButton>

namespace ampbench::ui {

std::optional<ThresholdRuleChoice> askThresholdRule(QWidget* parent) {
  QDialog dialog(parent);
  dialog.setWindowTitle(QObject::tr("Choose the threshold on validation"));
  auto* form = new QFormLayout(&dialog);
  auto* youden = new QRadioButton(QObject::tr("Youden's J (largest sensitivity + specificity − 1)"), &dialog);
  auto* target = new QRadioButton(QObject::tr("The highest threshold reaching a sensitivity of"), &dialog);
  auto* sensitivity = new QDoubleSpinBox(&dialog);
  sensitivity->setRange(0.5, 0.999);
  sensitivity->setDecimals(3);
  sensitivity->setSingleStep(0.01);
  sensitivity->setValue(0.95);
  youden->setChecked(true);
  form->addRow(youden);
  form->addRow(target, sensitivity);
  auto* note = new QLabel(QObject::tr("Chosen on the validation split and stored with the run (decision.json); the "
                                      "figures shown are re-computed at it."),
                          &dialog);
  note->setWordWrap(true);
  form->addRow(note);
  auto* buttons = new QDialogButtonBox(QDialogButtonBox::Ok | QDialogButtonBox::Cancel, &dialog);
  form->addRow(buttons);
  QObject::connect(buttons, &QDialogButtonBox::accepted, &dialog, &QDialog::accept);
  QObject::connect(buttons, &QDialogButtonBox::rejected, &dialog, &QDialog::reject);
  if (dialog.exec() != QDialog::Accepted) {
    return std::nullopt;
  }
  return ThresholdRuleChoice{youden->isChecked() ? ampbench::ThresholdRule::Youden : ampbench::ThresholdRule::TargetSensitivity,
                             sensitivity->value()};
}

}  // namespace ampbench::ui
