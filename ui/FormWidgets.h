#pragma once
// Small builders for the settings forms: combos of (label, value) pairs, spin boxes with a
// tooltip, and the model list. Shared by the run panel's main and Advanced sections.

#include <QList>
#include <QPair>
#include <QString>
#include <QStringList>

class QComboBox;
class QDoubleSpinBox;
class QFormLayout;
class QSpinBox;
class QWidget;

namespace ampbench::ui::form {

QString tip(const char* text);
QComboBox* enumCombo(QWidget* parent, const QList<QPair<QString, QString>>& items, const char* tooltip);
QString comboValue(const QComboBox* combo);
void setComboValue(QComboBox* combo, const QString& value);
QSpinBox* spin(QWidget* parent, int lo, int hi, int value, const char* tooltip, int step = 1);
QDoubleSpinBox* dspin(QWidget* parent, double lo, double hi, double value, int decimals, double step,
                      const char* tooltip);
// Each row's label gets its field's tooltip.
void labelTooltipsFromFields(QFormLayout* form);
// The engine's models, or a fixed list if it cannot say.
QStringList modelNames();

}  // namespace ampbench::ui::form
