#include "ui/ReportWriter.h"

#include "ui/ComparisonFormat.h"
#include "ui/EvaluationFormat.h"
#include "ui/EvaluationPlots.h"
#include "ui/Format.h"
#include "ui/QtTypes.h"

#include <qcustomplot.h>

#include <QAbstractTextDocumentLayout>
#include <QDir>
#include <QFileInfo>
#include <QLocale>
#include <QPainter>
#include <QPdfWriter>
#include <QPicture>
#include <QSaveFile>
#include <QTextBlock>
#include <QTextCursor>
#include <QTextDocument>
#include <QTextObjectInterface>
#include <QUrl>

#include <cmath>
#include <memory>

namespace ampbench::ui {
namespace {

constexpr int kDpi = 300;
constexpr int kPlotObject = QTextFormat::UserObject + 1;
constexpr int kPlotId = QTextFormat::UserProperty + 1;
constexpr int kPlotSize = QTextFormat::UserProperty + 2;
constexpr int kPlotScale = QTextFormat::UserProperty + 3;
const char* const kDisclaimer = "For research and teaching, not for diagnosis.";
const char* const kHeaderBg = "#e6edf3";

QString esc(const QString& s) { return s.toHtmlEscaped(); }

QString cannotWrite(const QString& path, const QString& why) {
  return QObject::tr("cannot write '%1' (%2): choose a folder you can write to").arg(QDir::toNativeSeparators(path), why);
}


// The plots of a report: QCustomPlot's drawing recorded as QPictures (vector commands),
// replayed onto the PDF painter where the document places them.
class PlotObjects : public QObject, public QTextObjectInterface {
  Q_OBJECT
  Q_INTERFACES(QTextObjectInterface)

 public:
  QVector<QPicture> pictures;

  QSizeF intrinsicSize(QTextDocument*, int, const QTextFormat& format) override {
    return format.property(kPlotSize).toSizeF();
  }
  void drawObject(QPainter* painter, const QRectF& rect, QTextDocument*, int, const QTextFormat& format) override {
    const int id = format.intProperty(kPlotId);
    if (id >= 0 && id < pictures.size()) {
      // QPainter::drawPicture scales from the picture's resolution to the device's; the
      // plot's own scale shrinks one drawn larger than its place (room for its labels).
      const double scale = format.doubleProperty(kPlotScale);
      painter->save();
      painter->translate(rect.topLeft());
      if (scale > 0) {
        painter->scale(scale, scale);
      }
      painter->drawPicture(QPointF(0, 0), pictures[id]);
      painter->restore();
    }
  }
};

// Builds the report's HTML; records its plots and collects its images on the way.
class Builder {
 public:
  Builder(PreparedReport& out, double bodyWidth) : out_(out), bodyWidth_(bodyWidth) {}

  // An <img> the document later turns into the vector plot: `widthFraction` of the body,
  // laid out as if `1 / shrink` times as large (small plots keep room for their labels).
  QString plot(QCustomPlot& p, double widthFraction, double aspect, double shrink = 1.0) {
    QPicture picture;
    const double dpiScale = static_cast<double>(kDpi) / picture.logicalDpiX();
    const int w = static_cast<int>(bodyWidth_ * widthFraction / dpiScale / shrink);
    const int h = static_cast<int>(w * aspect);
    {
      QCPPainter painter(&picture);
      p.toPainter(&painter, w, h);
    }
    out_.pictures << picture;
    return QStringLiteral("<img src=\"plot:%1:%2\" width=\"%3\" height=\"%4\">")
        .arg(out_.pictures.size() - 1)
        .arg(shrink)
        .arg(static_cast<int>(w * dpiScale * shrink))
        .arg(static_cast<int>(h * dpiScale * shrink));
  }
  QString image(const QImage& img, double widthMm) {
    const QString name = QStringLiteral("img:%1").arg(out_.images.size());
    out_.images << qMakePair(name, img);
    // Image sizes are in screen pixels (96 per inch): the layout scales them to the page.
    const int w = static_cast<int>(std::lround(widthMm / 25.4 * 96.0));
    const int h = img.width() > 0 ? w * img.height() / img.width() : w;
    return QStringLiteral("<img src=\"%1\" width=\"%2\" height=\"%3\">").arg(name).arg(w).arg(h);
  }
  static int mm(double v) { return static_cast<int>(std::lround(v / 25.4 * kDpi)); }

 private:
  PreparedReport& out_;
  double bodyWidth_;
};

QString heading(const QString& text, bool pageBreak = false) {
  return QStringLiteral("<h2 style=\"%1\">%2</h2>")
      .arg(pageBreak ? QStringLiteral("page-break-before: always;") : QString(), esc(text));
}

// A two-column label/value table.
QString rowsTable(const QVector<ReportRow>& rows) {
  QString h = QStringLiteral("<table border=\"0\" cellspacing=\"0\" cellpadding=\"2\" width=\"100%\">");
  for (const auto& r : rows) {
    h += QStringLiteral("<tr><td width=\"28%\"><b>%1</b></td><td>%2</td></tr>").arg(esc(r.first), esc(r.second));
  }
  return h + QStringLiteral("</table>");
}

QString gridTable(const QStringList& header, const QVector<QStringList>& rows, bool escapeCells = true) {
  QString h = QStringLiteral("<table border=\"1\" cellspacing=\"0\" cellpadding=\"3\" width=\"100%\" "
                             "style=\"border-collapse: collapse; border-color: #9aa5b1;\"><thead><tr>");
  for (const auto& c : header) {
    h += QStringLiteral("<th bgcolor=\"%1\" align=\"left\">%2</th>").arg(QLatin1String(kHeaderBg), esc(c));
  }
  h += QStringLiteral("</tr></thead>");  // repeated on the next page when the table breaks
  for (const auto& row : rows) {
    h += QStringLiteral("<tr>");
    for (const auto& c : row) {
      h += QStringLiteral("<td>%1</td>").arg(escapeCells ? esc(c) : c);
    }
    h += QStringLiteral("</tr>");
  }
  return h + QStringLiteral("</table>");
}

QString paragraph(const QString& text) { return QStringLiteral("<p>%1</p>").arg(esc(text)); }

// Two figures on a row, one at each edge.
QString sideBySide(const QString& left, const QString& right) {
  return QStringLiteral("<table width=\"100%\" cellspacing=\"0\" cellpadding=\"0\"><tr><td>%1</td>"
                        "<td align=\"right\">%2</td></tr></table>")
      .arg(left, right);
}

// ---- plots ----

void styleAxes(QCustomPlot& p, const QString& title, const QString& x, const QString& y) {
  p.plotLayout()->insertRow(0);
  QFont bold = p.font();
  bold.setBold(true);
  p.plotLayout()->addElement(0, 0, new QCPTextElement(&p, title, bold));
  p.xAxis->setLabel(x);
  p.yAxis->setLabel(y);
  p.legend->setVisible(true);
  QFont small = p.font();
  small.setPointSizeF(small.pointSizeF() - 1);
  p.legend->setFont(small);
  p.legend->setBrush(QColor(255, 255, 255, 220));
}

// Loss or accuracy per epoch: train solid, validation dashed with markers; one colour per run.
// The legend under the axes, `columns` entries wide: with several runs, inside them it
// hides the curves.
void legendBelow(QCustomPlot& p, int columns) {
  auto* grid = new QCPLayoutGrid;
  p.plotLayout()->addElement(p.plotLayout()->rowCount(), 0, grid);
  grid->setMargins(QMargins(6, 0, 6, 4));
  grid->addElement(0, 0, p.legend);  // takes it out of the axis rect's inset layout
  p.legend->setWrap(columns);  // before the order, which rearranges the entries by it
  p.legend->setFillOrder(QCPLayoutGrid::foColumnsFirst, true);
  p.legend->setBorderPen(Qt::NoPen);
  p.plotLayout()->setRowStretchFactor(p.plotLayout()->rowCount() - 1, 0.001);
}

void plotEpochs(QCustomPlot& p, const QVector<ReportRun>& runs, bool accuracy) {
  styleAxes(p, accuracy ? QObject::tr("Accuracy per epoch") : QObject::tr("Loss per epoch"), QObject::tr("epoch"),
            accuracy ? QObject::tr("accuracy (%)") : QObject::tr("cross-entropy"));
  double maxEpoch = 1;
  double maxLoss = 0;
  for (int r = 0; r < runs.size(); ++r) {
    const QColor colour = seriesColour(r);  // Okabe & Ito, as the Results tab
    QVector<double> e, train, val, valEpochs;
    for (const auto& ev : runs[r].epochs) {
      const double t = accuracy ? 100.0 * ev.trainAccuracy : ev.trainLoss;
      if (std::isfinite(t)) {
        e << ev.epoch;
        train << t;
      }
      const double v = accuracy ? 100.0 * ev.val.accuracy : ev.val.loss;
      if (ev.validated && std::isfinite(v)) {
        valEpochs << ev.epoch;
        val << v;
      }
      maxEpoch = std::max<double>(maxEpoch, ev.epoch);
    }
    for (double x : train + val) {
      maxLoss = std::max(maxLoss, x);
    }
    const QString prefix = runs.size() > 1 ? runs[r].label + QStringLiteral(" ") : QString();
    QCPGraph* g = p.addGraph();
    g->setName(prefix + QObject::tr("train"));
    g->setPen(QPen(colour, 2));
    g->setData(e, train, true);
    QCPGraph* v = p.addGraph();
    v->setName(prefix + QObject::tr("validation"));
    v->setPen(QPen(colour, 2, Qt::DashLine));
    v->setScatterStyle(QCPScatterStyle(QCPScatterStyle::ssCircle, colour, Qt::white, 5));
    v->setData(valEpochs, val, true);
  }
  p.xAxis->setRange(0.5, maxEpoch + 0.5);
  QSharedPointer<QCPAxisTickerFixed> ticker(new QCPAxisTickerFixed);
  ticker->setTickStep(1.0);
  ticker->setScaleStrategy(QCPAxisTickerFixed::ssMultiples);
  p.xAxis->setTicker(ticker);
  if (runs.size() > 1) {
    legendBelow(p, 2);
  }
  if (accuracy) {
    p.yAxis->setRange(0, 100);
    p.axisRect()->insetLayout()->setInsetAlignment(0, Qt::AlignBottom | Qt::AlignRight);
  } else {
    p.yAxis->setRange(0, maxLoss > 0 ? maxLoss * 1.1 : 1.0);
  }
}

// ---- figures ----

// The Results tab's wording (EvaluationFormat): "0.91 (0.88–0.94)", "undefined — reason".
QString estimateCell(const ampbench::Estimate& e, const QString& undefinedWhy) {
  if (!e.defined()) {
    return undefinedWhy.isEmpty() ? formatEstimate(e) : QStringLiteral("%1 — %2").arg(formatEstimate(e), undefinedWhy);
  }
  return formatEstimate(e);
}

QString sectionMetrics(Builder& b, const ReportRun& run, const QString& split) {
  QString h;
  if (!run.evaluation) {
    return paragraph(QObject::tr("No evaluation: %1").arg(run.evaluationError));
  }
  const auto& e = *run.evaluation;
  const QString splitName = split == QLatin1String("test") ? QObject::tr("Test") : QObject::tr("Validation");
  QString intro = QObject::tr("%1 split: %2 images (%3).").arg(splitName).arg(e.count).arg(run.evaluationFile);
  const bool binary = e.classes.size() == 2 && e.positiveClass >= 0 &&
                      e.positiveClass < static_cast<int64_t>(e.perClass.size());
  if (binary) {
    intro += QObject::tr(" Decision threshold %1 on P(%2) (%3).")
                 .arg(formatThreshold(e.threshold), qs(e.classes[static_cast<size_t>(e.positiveClass)]),
                      qs(e.thresholdSource));
  } else {
    intro += QObject::tr(" Each image is called its most probable class.");
  }
  if (e.resamples > 0) {
    intro += QObject::tr(" In brackets: 95 % bootstrap interval (%1 stratified resamples, seed %2).")
                 .arg(e.resamples)
                 .arg(e.seed);
  } else {
    intro += QObject::tr(" No intervals were computed for this evaluation.");
  }
  if (run.evaluatedNow) {
    intro += QObject::tr(" Evaluated for this report.");
  }
  h += paragraph(intro);

  QVector<QStringList> rows;
  rows << QStringList{QObject::tr("Accuracy"), estimateCell(e.accuracy, {})};
  rows << QStringList{QObject::tr("Balanced accuracy"), estimateCell(e.balancedAccuracy, {})};
  if (binary) {
    const auto k = static_cast<size_t>(e.positiveClass);
    const auto& pc = e.perClass[k];
    auto why = [&](ClassMetric m) { return undefinedReason(e, k, m); };
    rows << QStringList{QObject::tr("Sensitivity (%1)").arg(qs(pc.name)),
                        estimateCell(pc.sensitivity, why(ClassMetric::Sensitivity))};
    rows << QStringList{QObject::tr("Specificity (%1)").arg(qs(pc.name)),
                        estimateCell(pc.specificity, why(ClassMetric::Specificity))};
    rows << QStringList{QObject::tr("PPV (%1)").arg(qs(pc.name)), estimateCell(pc.precision, why(ClassMetric::Ppv))};
    rows << QStringList{QObject::tr("NPV (%1)").arg(qs(pc.name)), estimateCell(pc.npv, why(ClassMetric::Npv))};
  }
  const auto positive = static_cast<size_t>(std::max<int64_t>(0, e.positiveClass));
  const QString aucWhy = binary ? undefinedReason(e, positive, ClassMetric::Auc) : QString();
  const QString apWhy = binary ? undefinedReason(e, positive, ClassMetric::AveragePrecision) : QString();
  rows << QStringList{binary ? QObject::tr("ROC AUC") : QObject::tr("ROC AUC (macro, one-vs-rest)"),
                      estimateCell(e.auc, aucWhy)};
  rows << QStringList{binary ? QObject::tr("Average precision") : QObject::tr("Average precision (macro)"),
                      estimateCell(e.averagePrecision, apWhy)};
  rows << QStringList{QObject::tr("Macro F1"), estimateCell(e.macroF1, {})};
  if (std::isfinite(e.loss)) {
    rows << QStringList{QObject::tr("Mean cross-entropy"), QString::number(e.loss, 'f', 4)};
  }
  h += gridTable({QObject::tr("Metric"), QObject::tr("Value (95 % interval)")}, rows);

  // Per class, one against the rest; why a cell is undefined is said once under the table.
  QVector<QStringList> perClass;
  QStringList reasons;
  for (size_t k = 0; k < e.perClass.size(); ++k) {
    const auto& c = e.perClass[k];
    perClass << QStringList{qs(c.name),         QString::number(c.support), formatEstimate(c.sensitivity),
                            formatEstimate(c.specificity), formatEstimate(c.precision), formatEstimate(c.f1),
                            formatEstimate(c.auc)};
    QStringList whys;  // each distinct reason once: "no NORMAL images" explains several cells
    for (const auto m : {ClassMetric::Sensitivity, ClassMetric::Specificity, ClassMetric::Ppv, ClassMetric::F1,
                         ClassMetric::Auc}) {
      const QString why = undefinedReason(e, k, m);
      if (!why.isEmpty() && !whys.contains(why)) {
        whys << why;
      }
    }
    if (!whys.isEmpty()) {
      reasons << QObject::tr("%1: undefined — %2.").arg(qs(c.name), whys.join(QStringLiteral("; ")));
    }
  }
  h += QStringLiteral("<p></p>");
  h += gridTable({QObject::tr("Class"), QObject::tr("Images"), QObject::tr("Sensitivity"), QObject::tr("Specificity"),
                  QObject::tr("PPV"), QObject::tr("F1"), QObject::tr("AUC")},
                 perClass);
  if (!reasons.isEmpty()) {
    h += paragraph(reasons.join(QStringLiteral(" ")));
  }
  QStringList notes;
  for (const auto& n : e.notes) {
    notes << qs(n);
  }
  if (!notes.isEmpty()) {
    h += paragraph(notes.join(QStringLiteral(" ")));
  }
  if (!e.skipped.empty()) {
    constexpr size_t kListed = 10;
    QStringList names;
    for (size_t i = 0; i < std::min(kListed, e.skipped.size()); ++i) {
      names << QStringLiteral("%1 (%2)").arg(qs(e.skipped[i].path), qs(e.skipped[i].reason));
    }
    h += paragraph(QObject::tr("%1 image(s) of this split could not be read and are not counted: %2%3")
                       .arg(e.skipped.size())
                       .arg(names.join(QStringLiteral("; ")), e.skipped.size() > kListed ? QStringLiteral(" …") : QString()));
  }

  // The Results tab's plots, drawn by the same functions.
  if (!e.confusion.empty()) {
    QCustomPlot confusion, roc;
    plotConfusionMatrix(&confusion, e);
    plotRoc(&roc, {RocSeries{QString(), &e, seriesColour(0)}});
    h += sideBySide(b.plot(confusion, 0.48, 0.86, 0.75), b.plot(roc, 0.48, 0.86, 0.75));
  }
  return h;
}

QString sectionWorst(Builder& b, const ReportRun& run, bool pseudonymized) {
  QString h;
  if (!run.evaluation) {
    return h;
  }
  if (run.worst.isEmpty()) {
    return paragraph(run.worstNote.isEmpty() ? QObject::tr("No worst cases to show.") : run.worstNote);
  }
  h += paragraph(QObject::tr("The most confident mistakes, missed positives first. Left: the image as the model saw "
                             "it; right: where the model looked for its prediction (Grad-CAM: yellow = most). "
                             "%1")
                     .arg(pseudonymized ? QObject::tr("Images are named by pseudonymous ids.") : QString()));
  if (!run.gradCamPrecision.isEmpty()) {
    h += paragraph(QObject::tr("Heat maps of block %1, computed in %2.").arg(run.gradCamLayer, run.gradCamPrecision));
  }
  if (!run.worstNote.isEmpty()) {
    h += paragraph(run.worstNote);
  }
  h += QStringLiteral("<table border=\"0\" cellspacing=\"0\" cellpadding=\"4\" width=\"100%\">");
  for (int i = 0; i < run.worst.size(); ++i) {
    const ReportCase& c = run.worst[i];
    if (i % 2 == 0) {
      h += QStringLiteral("<tr>");
    }
    QString cell;
    if (!c.image.isNull()) {
      cell += b.image(c.image, 38) + QStringLiteral("&nbsp;");
    }
    if (!c.overlay.isNull()) {
      cell += b.image(c.overlay, 38);
    }
    cell += QStringLiteral("<br/><b>%1</b><br/>%2")
                .arg(esc(c.name),
                     esc(QObject::tr("true %1, predicted %2 (p = %3)")
                             .arg(c.trueClass, c.predictedClass)
                             .arg(std::isfinite(c.probability) ? QString::number(c.probability, 'f', 3)
                                                               : QObject::tr("not finite"))));
    if (!c.error.isEmpty()) {
      cell += QStringLiteral("<br/><i>%1</i>").arg(esc(QObject::tr("No heat map: %1").arg(c.error)));
    }
    h += QStringLiteral("<td width=\"50%\" valign=\"top\">%1</td>").arg(cell);
    if (i % 2 == 1 || i + 1 == run.worst.size()) {
      h += QStringLiteral("</tr>");
    }
  }
  return h + QStringLiteral("</table>");
}

QString sectionDataset(Builder& b, const ReportData& d) {
  QString h = heading(QObject::tr("Dataset"));
  h += rowsTable({{QObject::tr("Source"), QDir::toNativeSeparators(d.datasetSource)},
                  {QObject::tr("Kind"), d.datasetKind},
                  {QObject::tr("Classes"), d.classes.join(QStringLiteral(", "))}});
  QStringList header{QObject::tr("Split")};
  header << d.classes << QObject::tr("Total") << QObject::tr("Origin");
  QVector<QStringList> rows;
  for (const char* split : {"train", "val", "test"}) {
    if (!d.counts.contains(split)) {
      continue;
    }
    QStringList row{split};
    qint64 total = 0;
    for (qint64 n : d.counts.value(split)) {
      row << QLocale().toString(n);
      total += n;
    }
    while (row.size() < d.classes.size() + 1) {
      row << QString();
    }
    row << QLocale().toString(total) << d.splitOrigin.value(split);
    rows << row;
  }
  h += gridTable(header, rows);
  if (!d.thumbnails.isEmpty()) {
    h += QStringLiteral("<p>%1</p><table border=\"0\" cellspacing=\"0\" cellpadding=\"2\">")
             .arg(esc(QObject::tr("Examples from the training split:")));
    for (int k = 0; k < d.classes.size(); ++k) {
      QString cells;
      for (const auto& [label, image] : d.thumbnails) {
        if (label == k) {
          cells += b.image(image, 22) + QStringLiteral("&nbsp;");
        }
      }
      if (!cells.isEmpty()) {
        h += QStringLiteral("<tr><td valign=\"middle\" width=\"22%\"><b>%1</b></td><td>%2</td></tr>")
                 .arg(esc(d.classes[k]), cells);
      }
    }
    h += QStringLiteral("</table>");
  } else if (!d.thumbnailsNote.isEmpty()) {
    h += paragraph(d.thumbnailsNote);
  }
  if (d.skippedCount == 0) {
    h += paragraph(QObject::tr("No files were skipped."));
  } else {
    constexpr int kListed = 20;
    h += paragraph(QObject::tr("%n file(s) skipped (not readable as an image):", nullptr, static_cast<int>(d.skippedCount)));
    QVector<QStringList> skipped;
    for (int i = 0; i < std::min<int>(kListed, d.skipped.size()); ++i) {
      skipped << QStringList{d.skipped[i].first, d.skipped[i].second};
    }
    h += gridTable({QObject::tr("File"), QObject::tr("Reason")}, skipped);
    if (d.skippedCount > kListed) {
      h += paragraph(QObject::tr("… and %1 more (dataset.json lists them).").arg(d.skippedCount - kListed));
    }
  }
  return h;
}

QString sectionComparison(const ReportData& d) {
  const auto& s = d.comparisonSummary;
  QString h = heading(QObject::tr("FP32 vs mixed precision"));
  h += paragraph(QObject::tr("Same data, seed and initial weights, one run after the other. Differences are mode minus "
                             "%1 on the same validation images, with 95 % paired bootstrap intervals; a difference is "
                             "called only when its interval excludes zero.")
                     .arg(d.runs.isEmpty() ? QString() : d.runs.front().label));
  const int n = static_cast<int>(s.runs.size());
  QStringList header{QString()};
  for (int i = 0; i < n && i < d.runs.size(); ++i) {
    header << d.runs[i].label;
  }
  auto cellOr = [](bool base, const ComparisonCell& c) { return base ? QObject::tr("baseline") : c.text; };
  QVector<QStringList> rows;
  QStringList acc{QObject::tr("Final val accuracy")}, accDiff{QObject::tr("Accuracy vs baseline")},
      auc{QObject::tr("Val AUC")}, aucDiff{QObject::tr("AUC vs baseline")}, speed{QObject::tr("Speed-up")},
      rate{QObject::tr("Throughput")}, overflow{QObject::tr("Overflow / skipped steps")},
      scale{QObject::tr("Final loss scale")};
  const QString baseLabel = d.runs.isEmpty() ? QString() : d.runs.front().label;
  for (int i = 0; i < n && i < d.runs.size(); ++i) {
    const auto& r = s.runs[static_cast<size_t>(i)];
    const bool base = i == 0;
    const auto vs = i < static_cast<int>(s.versusBaseline.size()) ? s.versusBaseline[static_cast<size_t>(i)]
                                                                 : ampbench::ModeComparison{};
    // As the comparison view words them (percent, AUC to three places).
    acc << (std::isfinite(r.finalVal.accuracy) ? formatPercent(r.finalVal.accuracy) : QObject::tr("undefined"));
    accDiff << cellOr(base, accuracyDiffCell(vs.accuracy));
    auc << (std::isfinite(r.finalVal.auc) ? QString::number(r.finalVal.auc, 'f', 3) : QObject::tr("undefined"));
    aucDiff << cellOr(base, aucDiffCell(vs.auc));
    speed << (base ? QObject::tr("1.00x (baseline)") : speedCell(vs, baseLabel).text);
    rate << formatRate(r.imagesPerSecond);
    overflow << QStringLiteral("%1 / %2").arg(r.overflowSteps).arg(r.skippedSteps);
    scale << (r.precision.lossScaling ? formatScale(r.finalLossScale) : QObject::tr("no loss scaling"));
  }
  rows << acc << accDiff << auc << aucDiff << rate << speed << overflow << scale;
  for (auto& row : rows) {
    for (auto& c : row) {
      c = esc(c).replace(QLatin1Char('\n'), QStringLiteral("<br/>"));
    }
  }
  h += gridTable(header, rows, false);
  h += QStringLiteral("<p><b>%1</b></p>").arg(esc(QObject::tr("Verdict")));
  const QString verdict = qs(s.verdict);
  for (const auto& line : verdict.split(QLatin1Char('\n'), Qt::SkipEmptyParts)) {
    h += paragraph(line);
  }
  return h;
}

// Everything one run contributes after the shared sections.
QString sectionRun(Builder& b, const ReportData& d, const ReportRun& run, bool withSettings) {
  QString h;
  const QString suffix = d.comparison ? QStringLiteral(" — %1").arg(run.label) : QString();
  if (d.comparison) {
    h += QStringLiteral("<h1 style=\"page-break-before: always;\">%1</h1>").arg(esc(run.label));
    if (!run.message.isEmpty()) {
      h += paragraph(QObject::tr("Status: %1 (%2).").arg(run.status, run.message));
    }
  }
  if (withSettings && !run.settings.isEmpty()) {
    h += heading(QObject::tr("Settings")) + rowsTable(run.settings);
  }
  if (withSettings && !run.machine.isEmpty()) {
    h += heading(QObject::tr("Machine")) + rowsTable(run.machine);
  }
  if (!run.precision.isEmpty()) {
    h += heading(QObject::tr("Precision") + suffix) + rowsTable(run.precision);
  }
  h += heading(QObject::tr("Loss scaler") + suffix) + rowsTable(run.scaler);
  if (!d.comparison) {
    h += heading(QObject::tr("Training curves"));
    QCustomPlot loss, acc;
    plotEpochs(loss, {run}, false);
    plotEpochs(acc, {run}, true);
    h += sideBySide(b.plot(loss, 0.48, 0.72, 0.85), b.plot(acc, 0.48, 0.72, 0.85));
  }
  const QString split = d.split == QLatin1String("val") ? QObject::tr("validation") : d.split;
  h += heading(QObject::tr("Metrics on the %1 split").arg(split) + suffix) + sectionMetrics(b, run, d.split);
  h += heading(QObject::tr("Worst cases") + suffix, true) + sectionWorst(b, run, d.pseudonymized);
  return h;
}

QString buildHtml(Builder& b, const ReportData& d) {
  QString h;
  h += QStringLiteral("<h1>%1</h1>").arg(esc(d.comparison ? QObject::tr("AmpBench comparison report")
                                                         : QObject::tr("AmpBench run report")));
  h += QStringLiteral("<p style=\"font-size: 13pt;\"><b>%1</b></p>").arg(esc(d.name));
  h += paragraph(QObject::tr("Folder: %1").arg(QDir::toNativeSeparators(d.dir)));
  h += paragraph(QObject::tr("Report made %1.").arg(d.generated));
  h += QStringLiteral("<table border=\"1\" cellspacing=\"0\" cellpadding=\"6\" width=\"100%\" "
                      "style=\"border-collapse: collapse; border-color: #b00020;\"><tr><td bgcolor=\"#fff4f4\">"
                      "<span style=\"font-size: 13pt;\"><b>%1</b></span><br/>%2</td></tr></table>")
           .arg(esc(QString::fromUtf8(kDisclaimer)),
                esc(QObject::tr("A model trained in minutes on a small dataset, shown to teach what mixed precision "
                                "does to training. Its figures describe this dataset only.")));
  for (const auto& note : d.notes) {
    h += paragraph(note);
  }
  h += sectionDataset(b, d);
  if (d.comparison) {
    const ReportRun& base = d.runs.front();
    if (!base.settings.isEmpty()) {
      h += heading(QObject::tr("Settings")) + rowsTable(base.settings);
    }
    if (!base.machine.isEmpty()) {
      h += heading(QObject::tr("Machine")) + rowsTable(base.machine);
    }
    h += sectionComparison(d);
    h += heading(QObject::tr("Training curves"));
    QCustomPlot loss, acc;
    plotEpochs(loss, d.runs, false);
    plotEpochs(acc, d.runs, true);
    h += QStringLiteral("<p>%1</p><p>%2</p>").arg(b.plot(loss, 0.85, 0.62, 0.9), b.plot(acc, 0.85, 0.62, 0.9));
    for (const auto& run : d.runs) {
      h += sectionRun(b, d, run, false);
    }
  } else {
    h += sectionRun(b, d, d.runs.front(), true);
  }
  return h;
}

// Turns the <img src="plot:N"> placeholders into plot objects drawn by PlotObjects
// (found first, then replaced: changing formats while iterating would split fragments).
void placePlots(QTextDocument& doc) {
  struct Placeholder {
    int position;
    int length;
    int id;
    double shrink;
    QSizeF size;
  };
  QVector<Placeholder> found;
  for (QTextBlock block = doc.begin(); block.isValid(); block = block.next()) {
    for (auto it = block.begin(); !it.atEnd(); ++it) {
      const QTextFragment fragment = it.fragment();
      const QTextCharFormat format = fragment.charFormat();
      if (format.isImageFormat() && format.toImageFormat().name().startsWith(QLatin1String("plot:"))) {
        const QTextImageFormat image = format.toImageFormat();
        const QStringList parts = image.name().split(QLatin1Char(':'));  // plot:id:shrink
        found.push_back({fragment.position(), fragment.length(), parts.value(1).toInt(), parts.value(2).toDouble(),
                         QSizeF(image.width(), image.height())});
      }
    }
  }
  for (const auto& p : found) {
    QTextCharFormat plot;
    plot.setObjectType(kPlotObject);
    plot.setProperty(kPlotId, p.id);
    plot.setProperty(kPlotSize, p.size);
    plot.setProperty(kPlotScale, p.shrink);
    QTextCursor cursor(&doc);
    cursor.setPosition(p.position);
    cursor.setPosition(p.position + p.length, QTextCursor::KeepAnchor);
    cursor.setCharFormat(plot);
  }
}

// Qt's layout has no "keep with next": a heading left at the foot of a page, with what
// it introduces on the next, gets a page break before it instead (laid out again until
// none is left; each pass only moves headings forward).
void keepHeadingsWithContent(QTextDocument& doc, double pageHeight, double footer) {
  const double minimumBelow = Builder::mm(40);  // a heading needs this much room under it
  for (int pass = 0; pass < 50; ++pass) {
    bool moved = false;
    for (QTextBlock block = doc.begin(); block.isValid(); block = block.next()) {
      if (block.blockFormat().headingLevel() == 0 ||
          block.blockFormat().pageBreakPolicy() & QTextFormat::PageBreak_AlwaysBefore) {
        continue;
      }
      const QRectF r = doc.documentLayout()->blockBoundingRect(block);
      const double top = std::fmod(r.top(), pageHeight);
      // What it introduces starts on a later page (its first line: the layout moves lines,
      // not blocks, to the next page), or too little of it fits under the heading.
      const QTextBlock next = block.next();
      double nextTop = r.bottom();
      if (next.isValid() && next.layout() && next.layout()->lineCount() > 0) {
        nextTop = doc.documentLayout()->blockBoundingRect(next).top() + next.layout()->lineAt(0).y();
      }
      const bool alone = std::floor(nextTop / pageHeight) > std::floor(r.top() / pageHeight);
      if (top > 1 && (alone || pageHeight - footer - top < minimumBelow)) {
        QTextCursor cursor(block);
        QTextBlockFormat format = block.blockFormat();
        format.setPageBreakPolicy(QTextFormat::PageBreak_AlwaysBefore);
        cursor.setBlockFormat(format);
        // The incremental relayout after a format change leaves later pages stale: redo all.
        doc.markContentsDirty(0, doc.characterCount());
        moved = true;
        break;  // the layout below it changed: measure again
      }
    }
    if (!moved) {
      return;
    }
  }
}

}  // namespace

std::optional<QPageSize::PageSizeId> parsePageSize(const QString& name) {
  const QString n = name.trimmed().toLower();
  if (n == QLatin1String("a4")) {
    return QPageSize::A4;
  }
  if (n == QLatin1String("letter")) {
    return QPageSize::Letter;
  }
  return std::nullopt;
}

QPageSize::PageSizeId defaultPageSize() {
  switch (QLocale().territory()) {
    case QLocale::UnitedStates:
    case QLocale::Canada:
    case QLocale::Mexico:
    case QLocale::Philippines:
    case QLocale::Chile:
    case QLocale::Colombia:
      return QPageSize::Letter;
    default:
      return QPageSize::A4;
  }
}

bool checkReportPath(const QString& path, QString* error) {
  const QFileInfo info(path);
  if (path.isEmpty() || info.isDir()) {
    *error = QObject::tr("'%1' is not a file name: give a PDF file name such as report.pdf").arg(path);
    return false;
  }
  QSaveFile probe(path);
  if (!probe.open(QIODevice::WriteOnly)) {
    *error = cannotWrite(path, probe.errorString());
    return false;
  }
  probe.cancelWriting();  // nothing is written: the temporary file goes away
  return true;
}

namespace {

const QMarginsF kMarginsMm(16, 14, 16, 12);

void configure(QPdfWriter& writer, const ReportPage& page) {
  writer.setResolution(kDpi);
  writer.setPageSize(QPageSize(page.size));
  writer.setPageMargins(kMarginsMm, QPageLayout::Millimeter);
}

QSizeF bodySize(const ReportPage& page) {
  QPageLayout layout(QPageSize(page.size), QPageLayout::Portrait, kMarginsMm, QPageLayout::Millimeter);
  return layout.paintRectPixels(kDpi).size();
}

}  // namespace

PreparedReport prepareReport(const ReportData& data, const ReportPage& page) {
  PreparedReport out;
  out.page = page;
  out.name = data.name;
  out.title = data.comparison ? QObject::tr("AmpBench comparison report: %1").arg(data.name)
                              : QObject::tr("AmpBench run report: %1").arg(data.name);
  if (data.runs.isEmpty()) {
    return out;
  }
  Builder builder(out, bodySize(page).width());
  out.html = buildHtml(builder, data);
  return out;
}

int renderReport(const PreparedReport& report, const QString& path, QString* error) {
  if (report.html.isEmpty()) {
    *error = QObject::tr("nothing to report");
    return 0;
  }
  QSaveFile file(path);
  if (!file.open(QIODevice::WriteOnly)) {
    *error = cannotWrite(path, file.errorString());
    return 0;
  }
  int pages = 0;
  {
    QPdfWriter writer(&file);
    configure(writer, report.page);
    writer.setTitle(report.title);
    writer.setCreator(QStringLiteral("AmpBench %1").arg(qs(ampbench::engineVersion())));
    const QSizeF body = bodySize(report.page);
    const double footer = Builder::mm(9);

    // Laid out on the PDF's own resolution, so point sizes and pixel widths are the page's.
    QTextDocument doc;
    doc.documentLayout()->setPaintDevice(&writer);
    QFont font = doc.defaultFont();
    font.setPointSizeF(9.0);
    // No ligatures: "ﬁ" as one glyph would make "Specificity" unsearchable in the PDF.
    font.setStyleStrategy(QFont::PreferNoShaping);
    doc.setDefaultFont(font);
    doc.setDefaultStyleSheet(QStringLiteral("h1 { font-size: 17pt; } h2 { font-size: 12.5pt; }"));
    PlotObjects plots;
    plots.pictures = report.pictures;
    doc.documentLayout()->registerHandler(kPlotObject, &plots);
    for (const auto& [name, image] : report.images) {
      doc.addResource(QTextDocument::ImageResource, QUrl(name), image);
    }
    doc.setHtml(report.html);
    placePlots(doc);
    QTextFrameFormat root = doc.rootFrame()->frameFormat();
    root.setMargin(0);
    root.setBottomMargin(footer);  // on every page: the footer's room
    doc.rootFrame()->setFrameFormat(root);
    doc.setPageSize(body);
    keepHeadingsWithContent(doc, body.height(), footer);
    pages = doc.pageCount();

    QPainter painter(&writer);
    QFont footerFont = font;
    footerFont.setPointSizeF(7.5);
    for (int i = 0; i < pages; ++i) {
      if (i > 0) {
        writer.newPage();
      }
      painter.save();
      const QRectF view(0, i * body.height(), body.width(), body.height() - footer);
      painter.translate(0, -view.top());
      painter.setClipRect(view);
      QAbstractTextDocumentLayout::PaintContext ctx;
      ctx.clip = view;
      doc.documentLayout()->draw(&painter, ctx);
      painter.restore();
      painter.setFont(footerFont);
      painter.setPen(QColor(60, 60, 60));
      const QRectF foot(0, body.height() - footer * 0.6, body.width(), footer * 0.6);
      painter.drawLine(QPointF(0, foot.top()), QPointF(body.width(), foot.top()));
      painter.drawText(foot, Qt::AlignLeft | Qt::AlignBottom,
                       QStringLiteral("%1 · %2").arg(report.name, QString::fromUtf8(kDisclaimer)));
      painter.drawText(foot, Qt::AlignRight | Qt::AlignBottom, QObject::tr("page %1 of %2").arg(i + 1).arg(pages));
    }
    painter.end();
  }
  if (!file.commit()) {  // flushes, syncs and renames over `path`
    *error = cannotWrite(path, file.errorString());
    return 0;
  }
  return pages;
}

int writeReport(const ReportData& data, const QString& path, const ReportPage& page, QString* error) {
  return renderReport(prepareReport(data, page), path, error);
}

}  // namespace ampbench::ui

#include "ReportWriter.moc"
