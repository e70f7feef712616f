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

// The per-class figures, for saying why one is undefined.
enum class ClassMetric { Sensitivity, Specificity, Ppv, Npv, F1, Auc, AveragePrecision };
// Why `metric` of a class is undefined, short: "no NORMAL images", "none called NORMAL"
// (PPV), "all called NORMAL" (NPV), "non-finite probabilities"; derived from the counts, else the engine's reason;
// empty when it is defined.
QString undefinedReason(const ampbench::Evaluation& e, size_t classIndex, ClassMetric metric);
// "AUC 0.93 (0.90–0.95)" or "AUC undefined: no NORMAL images"; `name` "AP" for average
// precision.
QString curveLegend(const ampbench::Evaluation& e, size_t classIndex, const QString& name = QStringLiteral("AUC"));

// Row-normalised share of confusion[t][p]; NaN when the true class has no images.
double rowShare(const ampbench::Evaluation& e, size_t trueClass, size_t predictedClass);
// The text of a confusion-matrix cell: "123\n45.6 %" (count, share of the true class), or
// "0\n—" for a class absent from the split.
QString confusionCellText(const ampbench::Evaluation& e, size_t trueClass, size_t predictedClass);

// "p = 0.93"; a third place near 0 or 1 ("p = 0.997"), and "p > 0.999" / "p < 0.001"
// rather than a wrong call shown as "p = 1.00".
QString probabilityText(double p);
// The same without "p": "0.93", "0.997", "> 0.999".
QString probabilityValue(double p);

// Okabe & Ito's colour-blind-safe palette, blue and vermillion first (series, modes).
QColor seriesColour(int index);

}  // namespace ampbench::ui
