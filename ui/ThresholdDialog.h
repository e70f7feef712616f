#pragma once
// "Choose on validation…": which rule picks the run's decision threshold — Youden's J or
// the highest threshold reaching a target sensitivity. A small modal; the choosing itself
// runs on the presenter's worker.

#include "engine/core/Evaluation.h"

#include <optional>

class QWidget;

namespace ampbench::ui {

struct ThresholdRuleChoice {
  ampbench::ThresholdRule rule = ampbench::ThresholdRule::Youden;
  double targetSensitivity = 0.95;
};

// Empty when the user cancels.
std::optional<ThresholdRuleChoice> askThresholdRule(QWidget* parent);

}  // namespace ampbench::ui
