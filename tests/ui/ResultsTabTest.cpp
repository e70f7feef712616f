// The Results tab's widgets on hand-made run folders: the confusion matrix's cell texts,
// the metrics table, the ROC curve's legend and operating point, the slider and spin box
// re-computing both to hand-computed values, the gallery (thumbnails decoded on a worker,
// a click asking for the inspector), an absent class shown as undefined, a comparison's
// two matrices and disagreement list through MainWindow, --show results, and the plots
// rendering the same offscreen as on screen (the PDF report draws them offscreen).

#include "ResultsTestData.h"
#include "UiTestUtil.h"
#include "WindowTestUtil.h"

#include "ui/EvaluationPlots.h"
#include "ui/ImageInspector.h"
#include "ui/MainWindow.h"
#include "ui/MistakesGallery.h"
#include "ui/ResultsTab.h"
#include "ui/ValVsTestView.h"
#include "engine/core/SplitShift.h"
#include "ui/RunsPresenter.h"

#include <qcustomplot.h>

#include <QComboBox>
#include <QDoubleSpinBox>
#include <QHeaderView>
#include <QLabel>
#include <QSignalSpy>
#include <QtMath>
#include <QSlider>
#include <QTableWidget>
#include <QTemporaryDir>
#include <QTest>

using ampbench::ui::ResultsTab;

namespace {

QStringList cellTexts(QCustomPlot* plot) {
  QStringList out;
  for (int i = 0; i < plot->itemCount(); ++i) {
    if (auto* t = qobject_cast<QCPItemText*>(plot->item(i))) {
      out << t->text();
    }
  }
  return out;
}

QString tableCell(QTableWidget* table, const QString& row, const QString& column) {
  for (int r = 0; r < table->rowCount(); ++r) {
    if (table->verticalHeaderItem(r) && table->verticalHeaderItem(r)->text() == row) {
      for (int c = 0; c < table->columnCount(); ++c) {
        if (table->horizontalHeaderItem(c)->text() == column) {
          return table->item(r, c) ? table->item(r, c)->text() : QStringLiteral("<empty>");
        }
      }
    }
  }
  return QStringLiteral("<none>");
}

// The operating point: the one-point graph of the ROC plot.
QPointF operatingPoint(QCustomPlot* plot) {
  for (int i = 0; i < plot->graphCount(); ++i) {
    if (plot->graph(i)->dataCount() == 1) {
      return {plot->graph(i)->data()->at(0)->key, plot->graph(i)->data()->at(0)->value};
    }
  }
  return {-1, -1};
}

QStringList legendNames(QCustomPlot* plot) {
  QStringList out;
  for (int i = 0; i < plot->plottableCount(); ++i) {
    out << plot->plottable(i)->name();
  }
  return out;
}

#define WAIT_SETTLED(tab) QTRY_VERIFY_WITH_TIMEOUT((tab).isSettled() && (tab).presenter()->hasResults(), 30000)

}  // namespace

class ResultsTabTest : public QObject {
  Q_OBJECT

 private Q_SLOTS:
  void initTestCase() {
    ampbench::uitest::isolateSettings(QStringLiteral("AmpBenchResultsTabTest"));
    QVERIFY(dir_.isValid());
    data_ = dir_.filePath(QStringLiteral("data"));
    run_ = dir_.filePath(QStringLiteral("run"));
    ampbench::uitest::writeEvaluatedRun(run_, data_, ampbench::uitest::tenImages(), QStringLiteral("val"), 0.5,
                                        QStringLiteral("fp16"), true);
  }

  void showsTheMatrixTableAndRocOfARun() {
    ResultsTab tab;
    tab.resize(1200, 800);
    tab.show();
    QSignalSpy settled(&tab, &ResultsTab::settled);
    tab.showRun(run_);
    WAIT_SETTLED(tab);
    QVERIFY(settled.count() >= 1);
    QCOMPARE(tab.headerLabel()->text(),
             QStringLiteral("resnet18 · FP16 mixed (emulated) · validation split, 10 images · threshold 0.50 (default)"));
    // [[3, 1], [2, 4]], each cell with its share of the true class.
    QCOMPARE(cellTexts(tab.confusionPlot(0)),
             (QStringList{QStringLiteral("3\n75.0 %"), QStringLiteral("1\n25.0 %"), QStringLiteral("2\n33.3 %"),
                          QStringLiteral("4\n66.7 %")}));
    QCOMPARE(tab.confusionPlot(0)->xAxis->label(), QStringLiteral("predicted class"));
    QVERIFY(tab.confusionPlot(1)->isHidden());
    QVERIFY(tableCell(tab.metricsTable(), QStringLiteral("Sensitivity"), QStringLiteral("PNEUMONIA")).startsWith(QStringLiteral("0.67 (")));
    QCOMPARE(tableCell(tab.metricsTable(), QStringLiteral("Support"), QStringLiteral("NORMAL")), QStringLiteral("4"));
    QVERIFY(tableCell(tab.metricsTable(), QStringLiteral("Accuracy"), QStringLiteral("NORMAL")).startsWith(QStringLiteral("0.70 (")));
    // The headline spans both class columns.
    QCOMPARE(tab.metricsTable()->columnSpan(0, 0), 2);
    // ROC: the chance line, the curve with its AUC and interval, the operating point at (1 - 0.75, 0.67).
    const QStringList names = legendNames(tab.rocPlot());
    QVERIFY2(names.contains(QStringLiteral("chance")), qPrintable(names.join(QLatin1Char('|'))));
    QVERIFY(std::any_of(names.begin(), names.end(), [](const QString& n) {
      return QRegularExpression(QStringLiteral("^AUC 0\\.\\d\\d \\(0\\.\\d\\d–[01]\\.\\d\\d\\)$")).match(n).hasMatch();
    }));
    QVERIFY(names.contains(QStringLiteral("threshold 0.50")));
    const QPointF op = operatingPoint(tab.rocPlot());
    QCOMPARE(op.x(), 0.25);
    QVERIFY(qFuzzyCompare(op.y(), 4.0 / 6.0));
    QVERIFY(tab.disagreementTable()->isHidden());
    QVERIFY(!tab.thresholdSlider()->parentWidget()->isHidden());
  }

  void theSliderAndSpinBoxReevaluateTheMatrixAndFigures() {
    ResultsTab tab;
    tab.resize(1200, 800);
    tab.show();
    tab.showRun(run_);
    WAIT_SETTLED(tab);
    QCOMPARE(tab.thresholdSlider()->value(), 50);
    tab.thresholdSlider()->setValue(40);
    QCOMPARE(tab.thresholdSpin()->value(), 0.40);
    QCOMPARE(cellTexts(tab.confusionPlot(0)),
             (QStringList{QStringLiteral("3\n75.0 %"), QStringLiteral("1\n25.0 %"), QStringLiteral("1\n16.7 %"),
                          QStringLiteral("5\n83.3 %")}));
    const QString sensitivity = tableCell(tab.metricsTable(), QStringLiteral("Sensitivity"), QStringLiteral("PNEUMONIA"));
    QVERIFY2(sensitivity.startsWith(QStringLiteral("0.83 (")) && sensitivity.endsWith(QStringLiteral(" *")), qPrintable(sensitivity));
    QVERIFY(tab.footnoteLabel()->text().contains(QStringLiteral("stored threshold 0.50")));
    QVERIFY(qFuzzyCompare(operatingPoint(tab.rocPlot()).y(), 5.0 / 6.0));
    QVERIFY(tab.headerLabel()->text().contains(QStringLiteral("threshold 0.40 (moved; stored 0.50)")));
    // At rest: intervals at 0.40, the mark gone.
    QTRY_VERIFY_WITH_TIMEOUT(!tableCell(tab.metricsTable(), QStringLiteral("Sensitivity"), QStringLiteral("PNEUMONIA"))
                                  .endsWith(QStringLiteral(" *")),
                             10000);

    tab.thresholdSpin()->setValue(0.15);
    QCOMPARE(tab.thresholdSlider()->value(), 15);
    QCOMPARE(cellTexts(tab.confusionPlot(0)),
             (QStringList{QStringLiteral("2\n50.0 %"), QStringLiteral("2\n50.0 %"), QStringLiteral("0\n0.0 %"),
                          QStringLiteral("6\n100.0 %")}));
    QVERIFY(tableCell(tab.metricsTable(), QStringLiteral("Sensitivity"), QStringLiteral("PNEUMONIA")).startsWith(QStringLiteral("1.00")));
    QVERIFY(tableCell(tab.metricsTable(), QStringLiteral("Specificity"), QStringLiteral("PNEUMONIA")).startsWith(QStringLiteral("0.50")));
  }

  void theGalleryShowsMissedPneumoniasFirstAndOpensTheInspector() {
    ResultsTab tab;
    tab.resize(1200, 800);
    tab.show();
    tab.showRun(run_);
    WAIT_SETTLED(tab);
    auto* gallery = tab.gallery();
    QCOMPARE(gallery->count(), 3);
    QCOMPARE(gallery->item(0)->text(), QStringLiteral("true PNEUMONIA\n→ called NORMAL\np = 0.80"));
    QCOMPARE(gallery->item(2)->text(), QStringLiteral("true NORMAL\n→ called PNEUMONIA\np = 0.55"));
    // Decoded on a worker: 32 x 32 PNGs scaled into the thumbnail box, in device pixels (the
    // ui_ResultsTabTest_hidpi run: QT_SCALE_FACTOR=2, twice the box, marked as 2x so it is not blurred).
    QVERIFY(!gallery->thumbnail(0).isNull());
    const qreal dpr = gallery->devicePixelRatioF();
    QCOMPARE(gallery->thumbnail(0).width(), qCeil(ampbench::ui::MistakesGallery::kThumbnailSize * dpr));
    QCOMPARE(gallery->thumbnail(0).devicePixelRatio(), dpr);
    QVERIFY(qEnvironmentVariable("QT_SCALE_FACTOR") != QLatin1String("2") || dpr == 2.0);
    QSignalSpy inspect(&tab, &ResultsTab::inspectRequested);
    gallery->scrollToItem(gallery->item(0));
    QTest::mouseClick(gallery->viewport(), Qt::LeftButton, {}, gallery->visualItemRect(gallery->item(0)).center());
    QCOMPARE(inspect.count(), 1);
    QCOMPARE(inspect[0][0].toString(), run_);
    QVERIFY(inspect[0][1].toString().endsWith(QStringLiteral("PNEUMONIA/p4.png")));
    QCOMPARE(inspect[0][2].toInt(), 1);
    QVERIFY(tab.inspector() && tab.inspector()->isVisible());
    QVERIFY(tab.inspector()->inspector()->imagePath().endsWith(QStringLiteral("PNEUMONIA/p4.png")));
    QCOMPARE(tab.inspector()->inspector()->trueClass(), std::optional<int>(1));
    // This run has no checkpoint: the inspector says so inside itself, the tab carries on.
    QTRY_VERIFY_WITH_TIMEOUT(!tab.inspector()->inspector()->isBusy(), 30000);
    QVERIFY(!tab.inspector()->inspector()->errorText().isEmpty());
    tab.inspector()->close();
    // The slider at rest re-lists them: at 0.15 only the two flagged normals.
    tab.thresholdSlider()->setValue(15);
    QTRY_COMPARE(gallery->count(), 2);
    QVERIFY(gallery->item(0)->text().startsWith(QStringLiteral("true NORMAL")));
  }

  void anAbsentClassReadsUndefined() {
    const QString run = dir_.filePath(QStringLiteral("absent"));
    ampbench::uitest::writeEvaluatedRun(run, data_, ampbench::uitest::tenImages().mid(0, 6));
    ResultsTab tab;
    tab.showRun(run);
    WAIT_SETTLED(tab);
    QCOMPARE(tableCell(tab.metricsTable(), QStringLiteral("Specificity"), QStringLiteral("PNEUMONIA")),
             QStringLiteral("undefined — no NORMAL images"));
    QVERIFY(cellTexts(tab.confusionPlot(0)).contains(QStringLiteral("0\n—")));  // the absent row
    QVERIFY(legendNames(tab.rocPlot()).contains(QStringLiteral("AUC undefined: no NORMAL images")));
    QVERIFY(tab.notesLabel()->text().contains(QStringLiteral("no NORMAL images")));
  }

  void aComparisonOpensSideBySideThroughTheWindow() {
    const QString cmp = dir_.filePath(QStringLiteral("cmp"));
    auto fp16 = ampbench::uitest::tenImages();
    fp16[3].pPositive = 0.62f;
    fp16[8].pPositive = 0.40f;
    ampbench::uitest::writeEvaluatedComparison(cmp, data_, ampbench::uitest::tenImages(), fp16);
    ampbench::ui::MainWindow window;
    window.setConfirmClose(false);
    window.show();
    QVERIFY(ampbench::uitest::openAndWait(window, cmp));
    ResultsTab& tab = *window.resultsTab();
    WAIT_SETTLED(tab);
    window.showView(ampbench::ui::RunView::Results);
    QCOMPARE(window.currentView(), ampbench::ui::RunView::Results);
    QVERIFY(!tab.confusionPlot(1)->isHidden());
    QCOMPARE(cellTexts(tab.confusionPlot(1)),
             (QStringList{QStringLiteral("4\n100.0 %"), QStringLiteral("0\n0.0 %"), QStringLiteral("1\n16.7 %"),
                          QStringLiteral("5\n83.3 %")}));
    QCOMPARE(tab.metricsTable()->columnCount(), 4);
    QVERIFY(tableCell(tab.metricsTable(), QStringLiteral("Sensitivity"), QStringLiteral("FP16 mixed\nPNEUMONIA"))
                .startsWith(QStringLiteral("0.83")));
    // Both ROC curves in one plot, each with its operating point.
    const QStringList names = legendNames(tab.rocPlot());
    QCOMPARE(names.filter(QStringLiteral("AUC")).size(), 2);
    QVERIFY(names.contains(QStringLiteral("FP16 mixed · threshold 0.50")));
    QVERIFY(tab.gallery()->isHidden());
    QTableWidget* d = tab.disagreementTable();
    QCOMPARE(d->rowCount(), 2);
    QStringList files;
    for (int r = 0; r < d->rowCount(); ++r) {
      files << d->item(r, 0)->toolTip();
    }
    files.sort();
    QCOMPARE(files, (QStringList{QStringLiteral("NORMAL/n2.png"), QStringLiteral("PNEUMONIA/p3.png")}));
    QCOMPARE(d->horizontalHeaderItem(3)->text(), QStringLiteral("FP16 mixed calls (p)"));
    // Reopening a single run afterwards shows one matrix again.
    QVERIFY(ampbench::uitest::openAndWait(window, run_));
    WAIT_SETTLED(tab);
    QTRY_VERIFY(tab.confusionPlot(1)->isHidden());
    QVERIFY(!tab.presenter()->isComparison());
  }

  void resultsIsAScriptedView() {
    QCOMPARE(ampbench::ui::viewFromName(QStringLiteral("results")), std::optional(ampbench::ui::RunView::Results));
    QVERIFY(ampbench::ui::viewNames().contains(QStringLiteral("results")));
  }

  // Opening shows the held-out test figures when the run has them (as the report does).
  void theSplitSelectorOffersTestWhenTheRunHasOne() {
    const QString run = dir_.filePath(QStringLiteral("withtest"));
    ampbench::uitest::writeEvaluatedRun(run, data_, ampbench::uitest::tenImages());
    ampbench::uitest::writeEvaluatedRun(run, data_, ampbench::uitest::tenImages().mid(0, 8), QStringLiteral("test"));
    ResultsTab tab;
    tab.showRun(run);
    WAIT_SETTLED(tab);
    QCOMPARE(tab.splitBox()->count(), 3);  // validation, test, another folder…
    QCOMPARE(tab.splitBox()->itemData(1).toString(), QStringLiteral("test"));
    QVERIFY2(tab.headerLabel()->text().contains(QStringLiteral("test split, 8 images")),
             qPrintable(tab.headerLabel()->text()));
    QCOMPARE(tab.splitBox()->currentText(), QStringLiteral("Test"));
    tab.presenter()->setSplit(QStringLiteral("val"));
    QTRY_VERIFY_WITH_TIMEOUT(!tab.presenter()->isBusy(), 30000);
    QVERIFY2(tab.headerLabel()->text().contains(QStringLiteral("validation split, 10 images")),
             qPrintable(tab.headerLabel()->text()));
  }

  void plotsRenderTheSameOffscreenAsOnScreen() {
    ampbench::ui::ResultsPresenter p;
    p.openRun(run_);
    QTRY_VERIFY_WITH_TIMEOUT(!p.isBusy(), 30000);
    const ampbench::Evaluation e = p.shown(0);
    QCustomPlot shown, hidden;
    shown.resize(480, 360);
    shown.show();
    QVERIFY(QTest::qWaitForWindowExposed(&shown));
    ampbench::ui::plotConfusionMatrix(&shown, e);
    ampbench::ui::plotConfusionMatrix(&hidden, e);
    QCOMPARE(shown.toPixmap(480, 360).toImage(), hidden.toPixmap(480, 360).toImage());
    ampbench::ui::plotRoc(&shown, {{QString(), &e, QColor()}});
    ampbench::ui::plotRoc(&hidden, {{QString(), &e, QColor()}});
    QCOMPARE(shown.toPixmap(480, 360).toImage(), hidden.toPixmap(480, 360).toImage());
    ampbench::ui::plotPrecisionRecall(&hidden, {{QStringLiteral("FP32"), &e, QColor(Qt::black)}});
    QVERIFY(legendNames(&hidden).filter(QStringLiteral("AP ")).size() == 1);
    QVERIFY(legendNames(&hidden).filter(QStringLiteral("no skill (prevalence 0.60)")).size() == 1);
    // Drawn again into the same plot: no second colour scale or stale items.
    ampbench::ui::plotConfusionMatrix(&hidden, e);
    ampbench::ui::plotConfusionMatrix(&hidden, e);
    QCOMPARE(hidden.itemCount(), 4);
    int scales = 0;
    for (int i = 0; i < hidden.plotLayout()->elementCount(); ++i) {
      scales += qobject_cast<QCPColorScale*>(hidden.plotLayout()->elementAt(i)) ? 1 : 0;
    }
    QCOMPARE(scales, 1);
    QTemporaryDir out;
    QVERIFY(hidden.savePdf(out.filePath(QStringLiteral("m.pdf")), 400, 300));
    QVERIFY(QFileInfo(out.filePath(QStringLiteral("m.pdf"))).size() > 1000);
    // Text on the darkest and lightest cells stays readable.
    QCOMPARE(ampbench::ui::cellTextColour(0.0), QColor(Qt::white));
    QCOMPARE(ampbench::ui::cellTextColour(1.0), QColor(Qt::black));
  }

  // Issue 17: a run with val_vs_test.json shows validation and test side by side, the gap
  // rows marked; a run without one shows no such table; a damaged file says so.
  void validationVsTestIsShownWithItsGaps() {
    ResultsTab tab;
    tab.resize(1200, 900);
    tab.show();
    QSignalSpy loads(tab.valVsTest(), &ampbench::ui::ValVsTestView::loaded);
    tab.showRun(run_);
    WAIT_SETTLED(tab);
    QTRY_VERIFY(loads.count() >= 1);
    QVERIFY(tab.valVsTest()->isHidden());

    QTemporaryDir copy;
    const QString run = copy.filePath(QStringLiteral("run"));
    ampbench::uitest::writeEvaluatedRun(run, data_, ampbench::uitest::tenImages(), QStringLiteral("val"), 0.5,
                                        QStringLiteral("fp32"), true);
    ampbench::SplitShift shift;
    shift.classes = {"NORMAL", "PNEUMONIA"};
    shift.valCount = 700;
    shift.testCount = 624;
    shift.thresholdSource = "youden on val";
    ampbench::Estimate v, t;
    v.value = 0.96, v.ci95 = {0.94, 0.97};
    t.value = 0.81, t.ci95 = {0.78, 0.84};
    shift.rows.push_back({"accuracy", "accuracy", v, t, true});
    shift.rows.push_back({"auc", "ROC AUC", t, t, false});
    shift.findings = {"accuracy: 96.0 % on validation, 81.0 % on test — lower by more than both intervals"};
    QFile f(run + QStringLiteral("/val_vs_test.json"));
    QVERIFY(f.open(QIODevice::WriteOnly));
    f.write(QByteArray::fromStdString(ampbench::splitShiftToJson(shift)));
    f.close();
    loads.clear();
    tab.showRun(run);
    QTRY_VERIFY(loads.count() >= 1 && tab.valVsTest()->isVisible());
    auto* table = tab.valVsTest()->table();
    QCOMPARE(table->rowCount(), 2);
    QCOMPARE(table->item(0, 0)->text(), QStringLiteral("⚠ accuracy (%)"));
    QCOMPARE(table->item(0, 1)->text(), QStringLiteral("96.0 (94.0–97.0)"));
    QCOMPARE(table->item(0, 2)->text(), QStringLiteral("81.0 (78.0–84.0)"));
    QCOMPARE(table->item(1, 0)->text(), QStringLiteral("ROC AUC"));
    QCOMPARE(table->item(1, 1)->text(), QStringLiteral("0.810 (0.780–0.840)"));
    QVERIFY(tab.valVsTest()->findingsLabel()->text().contains(QStringLiteral("Do not trust the validation figures")));

    QVERIFY(f.open(QIODevice::WriteOnly | QIODevice::Truncate));
    f.write("{\"classes\": 3}");
    f.close();
    tab.showRun(run_);
    QTRY_VERIFY(tab.valVsTest()->isHidden());
    loads.clear();
    tab.showRun(run);
    QTRY_VERIFY(loads.count() >= 1 && tab.valVsTest()->isVisible());
    QCOMPARE(tab.valVsTest()->table()->rowCount(), 0);
  }
 private:
  QTemporaryDir dir_;
  QString data_, run_;
};

QTEST_MAIN(ResultsTabTest)
#include "ResultsTabTest.moc"
