#pragma once
// The evaluation plots, drawn into any QCustomPlot: the Results tab's widgets and the PDF
// report's offscreen plots (QCustomPlot::toPainter / savePdf) call the same functions, so
// the report shows what the tab shows. Each call clears the plot's plottables, items and
// any colour scale it added before, and leaves the caller's title rows alone. Nothing
// depends on the widget being shown: the result is the same offscreen.
//
// Colours are colour-blind safe: cividis for the confusion matrix (perceptually uniform,
// legible in grey), Okabe & Ito for curves (EvaluationFormat's seriesColour).

#include "engine/core/Evaluation.h"

#include <QColor>
#include <QString>

#include <vector>

class QCustomPlot;
class QCPColorGradient;

namespace ampbench::ui {

// One evaluation's curves in a ROC / PR plot. `label` prefixes the legend ("FP32"); empty
// for a single run. The evaluation must outlive the call only.
struct RocSeries {
  QString label;
  const ampbench::Evaluation* evaluation = nullptr;
  QColor colour;
};

// Heat map of the row-normalised matrix (true class on y, top to bottom in class order;
// predicted on x), each cell "count\nrow %" in black or white for contrast, and unless
// `colourScale` is false (a narrow plot: the cells say their share anyway) the colour
// scale "share of the true class". A class absent from the split is a grey row reading "—".
void plotConfusionMatrix(QCustomPlot* plot, const ampbench::Evaluation& evaluation, bool colourScale = true);

// ROC curves: the positive class for two classes, else one per class present (one vs the
// rest; dashed for a second series); the chance diagonal; the legend "AUC 0.93 (0.90–0.95)"
// or "AUC undefined: <reason>"; for two classes the operating point at each evaluation's
// threshold (1 − specificity, sensitivity).
void plotRoc(QCustomPlot* plot, const std::vector<RocSeries>& series);

// Precision-recall curves likewise, with "AP ..." in the legend, the no-skill line at the
// positive class's prevalence (two classes) and the operating point (sensitivity, PPV).
void plotPrecisionRecall(QCustomPlot* plot, const std::vector<RocSeries>& series);

// The confusion matrix's gradient (cividis: dark blue to yellow), and the text colour that
// reads on a cell of gradient value v in [0, 1] (NaN: the grey of an absent row).
QCPColorGradient confusionGradient();
QColor cellTextColour(double v);

}  // namespace ampbench::ui
