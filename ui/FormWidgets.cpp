#include "ui/FormWidgets.h"

#include "engine/train/Trainer.h"
#include "ui/QtTypes.h"

#include <QComboBox>
#include <QFormLayout>
#include <QDoubleSpinBox>
#include <QSpinBox>

#include <exception>

namespace ampbench::ui::form {

QString tip(const char* text) { return QString::fromUtf8(text); }

QComboBox* enumCombo(QWidget* parent, const QList<QPair<QString, QString>>& items, const char* tooltip) {
  auto* combo = new QComboBox(parent);
  for (const auto& [label, value] : items) {
    combo->addItem(label, value);
  }
  combo->setToolTip(tip(tooltip));
  return combo;
}

QString comboValue(const QComboBox* combo) { return combo->currentData().toString(); }

void setComboValue(QComboBox* combo, const QString& value) {
  const int i = combo->findData(value);
  if (i >= 0) {
    combo->setCurrentIndex(i);
  }
}

QSpinBox* spin(QWidget* parent, int lo, int hi, int value, const char* tooltip, int step) {
  auto* s = new QSpinBox(parent);
  s->setRange(lo, hi);
  s->setValue(value);
  s->setSingleStep(step);
  s->setToolTip(tip(tooltip));
  return s;
}

QDoubleSpinBox* dspin(QWidget* parent, double lo, double hi, double value, int decimals, double step,
                      const char* tooltip) {
  auto* s = new QDoubleSpinBox(parent);
  s->setRange(lo, hi);
  s->setDecimals(decimals);
  s->setSingleStep(step);
  s->setValue(value);
  s->setToolTip(tip(tooltip));
  return s;
}

QStringList modelNames() {
  try {
    QStringList names = toQStringList(ampbench::availableModels());
    if (!names.isEmpty()) {
      return names;
    }
  } catch (const std::exception&) {
  }
  return {QStringLiteral("small_cnn"), QStringLiteral("resnet18"), QStringLiteral("resnet34")};
}


void labelTooltipsFromFields(QFormLayout* form) {
  for (int r = 0; r < form->rowCount(); ++r) {
    auto* label = form->itemAt(r, QFormLayout::LabelRole);
    auto* field = form->itemAt(r, QFormLayout::FieldRole);
    if (label && label->widget() && field && field->widget()) {
      label->widget()->setToolTip(field->widget()->toolTip());
    }
  }
}

}  // namespace ampbench::ui::form
