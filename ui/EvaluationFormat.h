#pragma once
// How evaluation figures are written for people, in one place: the Results tab, its plots
// and the PDF report say "0.91 (0.88–0.94)", "undefined — no NORMAL images" and
// "AUC 0.93 (0.90–0.95)" the same way. Widget-free (QString only).

#include "engine/core/Evaluation.h"

#include <QColor>
#include <QString>

namespace ampbench::ui {

// "0.88–0.94"; empty when the interval is invalid.
QString formatInterval(const ampbench::Interval& ci, int decimals = 2);
// "0.91 (0.88–0.94)", "0.91" without an interval, "undefined" when the value is not finite.
QString formatEstimate(const ampbench::Estimate& e, int decimals = 2);
// A threshold as shown beside the slider: "0.50", "0.437" (three places only when needed).
QString formatThreshold(double t);

// Why a class's threshold-free metrics (AUC, AP) or its sensitivity are undefined, e.g.
// "no NORMAL images in this split" (the engine's reason), else derived from the counts;
// empty when nothing is undefined.
QString undefinedReason(const ampbench::Evaluation& e, size_t classIndex);
// "AUC 0.93 (0.90–0.95)" or "AUC undefined: no NORMAL images in this split"; `name` "AP"
// for average precision.
QString curveLegend(const ampbench::Evaluation& e, size_t classIndex, const QString& name = QStringLiteral("AUC"));

// Row-normalised share of confusion[t][p]; NaN when the true class has no images.
double rowShare(const ampbench::Evaluation& e, size_t trueClass, size_t predictedClass);
// The text of a confusion-matrix cell: "123\n45.6 %" (count, share of the true class), or
// "0\n—" for a class absent from the split.
QString confusionCellText(const ampbench::Evaluation& e, size_t trueClass, size_t predictedClass);

// Okabe & Ito's colour-blind-safe palette, blue and vermillion first (series, modes).
QColor seriesColour(int index);

}  // namespace ampbench::ui
