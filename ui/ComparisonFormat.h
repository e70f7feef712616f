#pragma once
// How the comparison table words a difference: called better or worse only when its 95 %
// interval excludes no difference (speed: excludes 1.0), and then with ▲/▼ and the signed
// value, never colour alone. Pure formatting, no widgets: tested directly.

#include "ui/QtTypes.h"

#include <QString>

namespace ampbench::ui {

enum class Judgement { None, Better, Worse };

struct ComparisonCell {
  QString text;
  QString tooltip;
  Judgement judgement = Judgement::None;
};

// "▲ +2.1 points (+0.4 to +3.8), McNemar p = 0.031"; "no measurable difference (n = 270)"
// with the interval on a second line; "–" with the reason in the tooltip when unavailable.
ComparisonCell accuracyDiffCell(const ampbench::DiffEstimate& d);
// Likewise for the ROC AUC (in AUC units, three decimals).
ComparisonCell aucDiffCell(const ampbench::DiffEstimate& d);
// "▼ 0.82x (0.80–0.84)", "1.01x (0.97–1.04)\nno measurable difference", or the ratio with
// why there is no spread to judge it by.
ComparisonCell speedCell(const ampbench::ModeComparison& c, const QString& baselineLabel);
// Better when faster beyond the noise, worse when slower; None otherwise.
Judgement speedJudgement(const ampbench::ModeComparison& c);

}  // namespace ampbench::ui
