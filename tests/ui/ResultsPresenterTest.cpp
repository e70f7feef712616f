// ResultsPresenter on run folders with hand-made evaluation files (ResultsTestData): the
// figures at the stored threshold, the slider's live re-evaluation against hand-computed
// matrices, intervals re-computed once it rests, the mistakes in order (missed pneumonias
// first), an absent class and non-finite rows shown as undefined with the reason, a
// decision.json newer than the files, a comparison's disagreements, and unhappy paths (no
// checkpoint, a malformed file) reported instead of shown.

#include "ResultsTestData.h"
#include "UiTestUtil.h"

#include "ui/ResultsPresenter.h"
#include "engine/core/Evaluation.h"
#include "engine/train/Trainer.h"
#include "engine/util/Files.h"

#include <QDir>
#include <QSignalSpy>
#include <QTemporaryDir>
#include <QTest>

#include <cmath>
#include <limits>

using ampbench::ui::MetricsTable;
using ampbench::ui::ResultsPresenter;
using ampbench::uitest::TestImage;

namespace {

using Matrix = std::vector<std::vector<int64_t>>;

// The cell of the metrics table's row `label` in `column`.
QString cell(const MetricsTable& t, const QString& label, const QString& column) {
  const int c = static_cast<int>(t.columns.indexOf(column));
  for (const auto& row : t.rows) {
    if (row.label == label) {
      if (row.headline) {
        const int side = t.columnsPerSide > 0 ? c / t.columnsPerSide : 0;
        return side < row.cells.size() ? row.cells[side] : QString();
      }
      return c >= 0 && c < row.cells.size() ? row.cells[c] : QStringLiteral("<no column %1>").arg(column);
    }
  }
  return QStringLiteral("<no row %1>").arg(label);
}

// Loading runs on a worker; the presenter is idle once its result has been applied.
#define WAIT_LOADED(p) QTRY_VERIFY_WITH_TIMEOUT(!(p).isBusy(), 30000)

}  // namespace

class ResultsPresenterTest : public QObject {
  Q_OBJECT

 private Q_SLOTS:
  void initTestCase() {
    ampbench::uitest::isolateSettings(QStringLiteral("AmpBenchResultsPresenterTest"));
    QVERIFY(dir_.isValid());
  }

  void opensARunFromItsFilesAtTheStoredThreshold() {
    const QString run = dir_.filePath(QStringLiteral("run"));
    ampbench::uitest::writeEvaluatedRun(run, dir_.filePath(QStringLiteral("data")), ampbench::uitest::tenImages());
    ResultsPresenter p;
    QSignalSpy loaded(&p, &ResultsPresenter::resultsChanged);
    p.openRun(run);
    QVERIFY(p.isBusy());  // the files are read on a worker
    WAIT_LOADED(p);
    QVERIFY2(p.error().isEmpty(), qPrintable(p.error()));
    QCOMPARE(loaded.count(), 1);
    QVERIFY(p.hasResults() && p.result(0)->fromFiles);
    QCOMPARE(p.shown(0).confusion, (Matrix{{3, 1}, {2, 4}}));
    QCOMPARE(p.threshold(), 0.5);
    QVERIFY(p.atStoredThreshold() && !p.intervalsStale());
    QCOMPARE(p.header(), QStringLiteral("resnet18 · FP32 · validation split, 10 images · threshold 0.50 (default)"));
    QCOMPARE(p.availableSplits(), QStringList{QStringLiteral("val")});

    const MetricsTable t = p.metricsTable();
    QCOMPARE(t.columns, (QStringList{QStringLiteral("NORMAL"), QStringLiteral("PNEUMONIA")}));
    QCOMPARE(cell(t, QStringLiteral("Support"), QStringLiteral("PNEUMONIA")), QStringLiteral("6"));
    QCOMPARE(cell(t, QStringLiteral("Support"), QStringLiteral("NORMAL")), QStringLiteral("4"));
    // 4 of 6 pneumonias found, 3 of 4 normals cleared; intervals beside the values.
    QVERIFY2(cell(t, QStringLiteral("Sensitivity"), QStringLiteral("PNEUMONIA")).startsWith(QStringLiteral("0.67 (")),
             qPrintable(cell(t, QStringLiteral("Sensitivity"), QStringLiteral("PNEUMONIA"))));
    QVERIFY(cell(t, QStringLiteral("Specificity"), QStringLiteral("PNEUMONIA")).startsWith(QStringLiteral("0.75 (")));
    // PPV 4 of 5, without an interval: in a few resamples no image is called PNEUMONIA (all six
    // pneumonias drawn from the two missed ones), so the engine gives none and says so.
    QCOMPARE(cell(t, QStringLiteral("PPV"), QStringLiteral("PNEUMONIA")), QStringLiteral("0.80"));
    QVERIFY(p.notes().join(QLatin1Char(' ')).contains(QStringLiteral("no interval for")));
    QVERIFY(cell(t, QStringLiteral("NPV"), QStringLiteral("PNEUMONIA")).startsWith(QStringLiteral("0.60 (")));  // 3 of 5
    QVERIFY(cell(t, QStringLiteral("Accuracy"), QStringLiteral("NORMAL")).startsWith(QStringLiteral("0.70 (")));
    QVERIFY(cell(t, QStringLiteral("Threshold"), QStringLiteral("NORMAL")).startsWith(QStringLiteral("0.50 (default)")));
    QVERIFY(t.footnote.contains(QStringLiteral("2000 resamples")));
    QVERIFY(p.notes().join(QLatin1Char(' ')).contains(QStringLiteral("evaluation_val.json")));
  }

  void theSliderReevaluatesLiveThenRecomputesIntervals() {
    const QString run = dir_.filePath(QStringLiteral("slider"));
    ampbench::uitest::writeEvaluatedRun(run, dir_.filePath(QStringLiteral("data")), ampbench::uitest::tenImages());
    ResultsPresenter p;
    p.openRun(run);
    WAIT_LOADED(p);
    QSignalSpy intervals(&p, &ResultsPresenter::intervalsChanged);

    p.setThreshold(0.40);  // p3 (0.45) is now found
    QCOMPARE(p.shown(0).confusion, (Matrix{{3, 1}, {1, 5}}));
    QCOMPARE(p.shown(0).perClass[1].sensitivity.value, 5.0 / 6.0);
    QVERIFY(p.intervalsStale());
    MetricsTable t = p.metricsTable();
    QVERIFY(cell(t, QStringLiteral("Sensitivity"), QStringLiteral("PNEUMONIA")).startsWith(QStringLiteral("0.83 (")));
    QVERIFY(cell(t, QStringLiteral("Sensitivity"), QStringLiteral("PNEUMONIA")).endsWith(QStringLiteral(" *")));
    QVERIFY(!cell(t, QStringLiteral("AUC"), QStringLiteral("PNEUMONIA")).endsWith(QStringLiteral(" *")));  // threshold-free
    QVERIFY2(t.footnote.contains(QStringLiteral("interval at the stored threshold 0.50")), qPrintable(t.footnote));
    QVERIFY(p.header().contains(QStringLiteral("threshold 0.40 (moved; stored 0.50)")));

    // At rest the intervals are re-computed at 0.40 in the background.
    QVERIFY(intervals.wait(10000));
    QVERIFY(!p.intervalsStale());
    t = p.metricsTable();
    QVERIFY(!cell(t, QStringLiteral("Sensitivity"), QStringLiteral("PNEUMONIA")).endsWith(QStringLiteral(" *")));
    QVERIFY(p.shown(0).perClass[1].sensitivity.ci95.valid());
    QVERIFY(t.footnote.contains(QStringLiteral("Intervals at threshold 0.40")));

    p.setThreshold(0.15);  // every pneumonia found, two normals flagged
    QCOMPARE(p.shown(0).confusion, (Matrix{{2, 2}, {0, 6}}));
    QCOMPARE(p.shown(0).perClass[1].sensitivity.value, 1.0);
    QCOMPARE(p.shown(0).perClass[1].specificity.value, 0.5);

    p.resetThreshold();
    QCOMPARE(p.threshold(), 0.5);
    QCOMPARE(p.shown(0).confusion, (Matrix{{3, 1}, {2, 4}}));
    QVERIFY(p.atStoredThreshold());
    // Out of range or NaN: clamped or ignored, never a crash.
    p.setThreshold(std::numeric_limits<double>::quiet_NaN());
    QCOMPARE(p.threshold(), 0.5);
    p.setThreshold(3.0);
    QCOMPARE(p.threshold(), 1.0);
    QCOMPARE(p.shown(0).confusion, (Matrix{{4, 0}, {6, 0}}));
  }

  void mistakesListMissedPneumoniasFirst() {
    const QString run = dir_.filePath(QStringLiteral("mistakes"));
    const QString data = dir_.filePath(QStringLiteral("data"));
    ampbench::uitest::writeEvaluatedRun(run, data, ampbench::uitest::tenImages());
    ResultsPresenter p;
    p.openRun(run);
    WAIT_LOADED(p);
    const auto m = p.mistakes();
    QCOMPARE(m.size(), 3);
    QCOMPARE(m[0].file, QStringLiteral("PNEUMONIA/p4.png"));
    QCOMPARE(m[0].label, QStringLiteral("true PNEUMONIA\n→ called NORMAL\np = 0.80"));
    QCOMPARE(m[0].path, QDir(data).filePath(QStringLiteral("PNEUMONIA/p4.png")));
    QCOMPARE(m[1].file, QStringLiteral("PNEUMONIA/p3.png"));
    QCOMPARE(m[2].label, QStringLiteral("true NORMAL\n→ called PNEUMONIA\np = 0.55"));
    QVERIFY(m[0].tooltip.contains(QStringLiteral("p(PNEUMONIA) = 0.200")));
    p.setThreshold(0.15);  // no missed pneumonia left: only the two flagged normals
    const auto low = p.mistakes();
    QCOMPARE(low.size(), 2);
    QCOMPARE(low[0].file, QStringLiteral("NORMAL/n2.png"));
    QCOMPARE(low[1].file, QStringLiteral("NORMAL/n1.png"));
  }

  void anAbsentClassIsUndefinedWithTheReason() {
    const QString run = dir_.filePath(QStringLiteral("absent"));
    ampbench::uitest::writeEvaluatedRun(run, dir_.filePath(QStringLiteral("data")), ampbench::uitest::tenImages().mid(0, 6));
    ResultsPresenter p;
    p.openRun(run);
    WAIT_LOADED(p);
    QVERIFY2(p.error().isEmpty(), qPrintable(p.error()));
    const MetricsTable t = p.metricsTable();
    QCOMPARE(cell(t, QStringLiteral("AUC (PNEUMONIA)"), QStringLiteral("NORMAL")), QStringLiteral("undefined — no NORMAL images"));
    QCOMPARE(cell(t, QStringLiteral("Specificity"), QStringLiteral("PNEUMONIA")), QStringLiteral("undefined — no NORMAL images"));
    QCOMPARE(cell(t, QStringLiteral("Sensitivity"), QStringLiteral("NORMAL")), QStringLiteral("undefined — no NORMAL images"));
    QCOMPARE(cell(t, QStringLiteral("Support"), QStringLiteral("NORMAL")), QStringLiteral("0"));
    QVERIFY(cell(t, QStringLiteral("Sensitivity"), QStringLiteral("PNEUMONIA")).startsWith(QStringLiteral("0.67")));
    QVERIFY(p.notes().join(QLatin1Char(' ')).contains(QStringLiteral("no NORMAL images")));
    // Still undefined (never 0.0) after the slider moves.
    p.setThreshold(0.3);
    QVERIFY(!p.shown(0).perClass[0].sensitivity.defined());
    QVERIFY(!p.shown(0).auc.defined());
  }

  void nonFiniteRowsAreReportedNotRanked() {
    const QString run = dir_.filePath(QStringLiteral("nan"));
    auto images = ampbench::uitest::tenImages();
    images.push_back({QStringLiteral("NORMAL/overflow.png"), 0, std::numeric_limits<float>::quiet_NaN()});
    ampbench::uitest::writeEvaluatedRun(run, dir_.filePath(QStringLiteral("data")), images);
    ResultsPresenter p;
    p.openRun(run);
    WAIT_LOADED(p);
    QVERIFY2(p.error().isEmpty(), qPrintable(p.error()));
    QCOMPARE(p.shown(0).nonFinite, int64_t{1});
    const MetricsTable t = p.metricsTable();
    QCOMPARE(cell(t, QStringLiteral("AUC"), QStringLiteral("PNEUMONIA")), QStringLiteral("undefined — non-finite probabilities"));
    QVERIFY(p.notes().join(QLatin1Char(' ')).contains(QStringLiteral("non-finite"), Qt::CaseInsensitive));
    for (const auto& m : p.mistakes()) {
      QVERIFY(m.file != QStringLiteral("NORMAL/overflow.png"));
    }
  }

  void aStoredDecisionThresholdNewerThanTheFilesIsApplied() {
    const QString run = dir_.filePath(QStringLiteral("decision"));
    ampbench::uitest::writeEvaluatedRun(run, dir_.filePath(QStringLiteral("data")), ampbench::uitest::tenImages());
    ampbench::DecisionThreshold d;
    d.threshold = 0.40;
    d.source = "youden on val";
    ampbench::writeFileAtomic(QDir(run).filePath(QStringLiteral("decision.json")).toStdString(),
                              ampbench::decisionToJson(d, {"NORMAL", "PNEUMONIA"}));
    ResultsPresenter p;
    p.openRun(run);
    WAIT_LOADED(p);
    QCOMPARE(p.storedThreshold(), 0.40);
    QCOMPARE(p.shown(0).confusion, (Matrix{{3, 1}, {1, 5}}));
    QVERIFY(p.shown(0).perClass[1].sensitivity.ci95.valid());
    QVERIFY(p.header().contains(QStringLiteral("threshold 0.40 (youden on val)")));
    QVERIFY(p.notes().join(QLatin1Char(' ')).contains(QStringLiteral("Re-computed at the stored decision threshold 0.40")));
  }

  void aComparisonShowsBothModesAndTheImagesTheyDisagreeOn() {
    const QString cmp = dir_.filePath(QStringLiteral("cmp"));
    auto fp16 = ampbench::uitest::tenImages();
    fp16[3].pPositive = 0.62f;  // p3: FP32 missed it, FP16 finds it
    fp16[8].pPositive = 0.40f;  // n2: FP32 flagged it, FP16 clears it
    fp16[0].pPositive = 0.93f;  // p0: a different probability, the same call
    ampbench::uitest::writeEvaluatedComparison(cmp, dir_.filePath(QStringLiteral("data")), ampbench::uitest::tenImages(), fp16);
    ResultsPresenter p;
    p.openComparison(cmp);
    WAIT_LOADED(p);
    QVERIFY2(p.error().isEmpty(), qPrintable(p.error()));
    QVERIFY(p.isComparison());
    QCOMPARE(p.sideCount(), 2);
    QCOMPARE(p.comparisonModes(), QStringList{QStringLiteral("fp16")});
    QCOMPARE(p.sideLabel(0), QStringLiteral("FP32"));
    QCOMPARE(p.sideLabel(1), QStringLiteral("FP16 mixed (emulated)"));
    QVERIFY2(p.header().startsWith(QStringLiteral("resnet18 · FP32 vs FP16 mixed (emulated) · validation split, 10 images")),
             qPrintable(p.header()));
    QCOMPARE(p.shown(1).confusion, (Matrix{{4, 0}, {1, 5}}));
    const MetricsTable t = p.metricsTable();
    QCOMPARE(t.columns.size(), 4);
    QCOMPARE(t.columns[3], QStringLiteral("FP16 mixed\nPNEUMONIA"));
    QVERIFY(cell(t, QStringLiteral("Sensitivity"), QStringLiteral("FP32\nPNEUMONIA")).startsWith(QStringLiteral("0.67")));
    QVERIFY(cell(t, QStringLiteral("Sensitivity"), t.columns[3]).startsWith(QStringLiteral("0.83")));
    QVERIFY(cell(t, QStringLiteral("Accuracy"), t.columns[3]).startsWith(QStringLiteral("0.90")));

    const auto d = p.disagreements();
    QCOMPARE(d.size(), 2);
    QCOMPARE(d[0].file, QStringLiteral("PNEUMONIA/p3.png"));
    QCOMPARE(d[0].trueClass, QStringLiteral("PNEUMONIA"));
    QCOMPARE(d[0].callA, QStringLiteral("NORMAL"));
    QCOMPARE(d[0].callB, QStringLiteral("PNEUMONIA"));
    QCOMPARE(QString::number(d[0].probabilityA, 'f', 2), QStringLiteral("0.55"));
    QCOMPARE(QString::number(d[0].probabilityB, 'f', 2), QStringLiteral("0.62"));
    QCOMPARE(d[1].file, QStringLiteral("NORMAL/n2.png"));
    // One threshold moves both modes: at 0.61 only p3 (0.45 vs 0.62) is called differently.
    p.setThreshold(0.61);
    const auto at61 = p.disagreements();
    QCOMPARE(at61.size(), 1);
    QCOMPARE(at61[0].file, QStringLiteral("PNEUMONIA/p3.png"));
  }

  // The real engine: a tiny small_cnn run whose evaluation files are deleted is evaluated on
  // a worker (with progress, files written back), another folder is evaluated without
  // writing into the run, and "Choose on validation" stores decision.json.
  void aRunWithoutFilesIsEvaluatedOnAWorker() {
    const QString data = dir_.filePath(QStringLiteral("images"));
    const QString run = dir_.filePath(QStringLiteral("trained"));
    ampbench::uitest::makeImageDataset(data, {QStringLiteral("NORMAL"), QStringLiteral("PNEUMONIA")}, 12, 16);
    const ampbench::RunSummary s = ampbench::uitest::trainSmallRun(data, run, 16, 1, 8);
    QVERIFY2(s.status == ampbench::RunStatus::Finished, s.message.c_str());
    QFile::remove(QDir(run).filePath(QStringLiteral("evaluation_val.json")));
    QFile::remove(QDir(run).filePath(QStringLiteral("predictions_val.csv")));

    ResultsPresenter p;
    QSignalSpy progress(&p, &ResultsPresenter::progressChanged);
    p.openRun(run);
    QVERIFY(p.isBusy());
    WAIT_LOADED(p);
    QVERIFY2(p.error().isEmpty(), qPrintable(p.error()));
    QVERIFY(!p.result(0)->fromFiles);
    int64_t valImages = 0;  // what the generator put in val/
    for (const char* cls : {"NORMAL", "PNEUMONIA"}) {
      valImages += QDir(QDir(data).filePath(QStringLiteral("val/%1").arg(QLatin1String(cls)))).entryList(QDir::Files).size();
    }
    QVERIFY(valImages > 0);
    QCOMPARE(p.shown(0).count, valImages);
    QVERIFY(progress.count() >= 1);
    QVERIFY(QFile::exists(QDir(run).filePath(QStringLiteral("evaluation_val.json"))));
    QVERIFY(QFile::exists(QDir(run).filePath(QStringLiteral("predictions_val.csv"))));
    QVERIFY(p.notes().join(QLatin1Char(' ')).contains(QStringLiteral("Evaluated now")));
    QCOMPARE(p.mistakes().size(), static_cast<int>(p.shown(0).confusion[0][1] + p.shown(0).confusion[1][0]));

    p.evaluateFolder(QDir(data).filePath(QStringLiteral("val")));
    WAIT_LOADED(p);
    QVERIFY2(p.error().isEmpty(), qPrintable(p.error()));
    QCOMPARE(p.split(), QStringLiteral("folder"));
    QCOMPARE(p.shown(0).count, valImages);
    QVERIFY(!QFile::exists(QDir(run).filePath(QStringLiteral("evaluation_folder.json"))));
    QVERIFY2(p.header().contains(QStringLiteral("val, %1 images").arg(valImages)), qPrintable(p.header()));

    p.setSplit(QStringLiteral("val"));
    WAIT_LOADED(p);
    QVERIFY(p.result(0)->fromFiles);  // written by the first evaluation
    QVERIFY(p.canChooseThreshold());
    QSignalSpy stored(&p, &ResultsPresenter::thresholdStored);
    p.chooseThreshold(ampbench::ThresholdRule::Youden, 0.95);
    QVERIFY(p.isBusy());
    WAIT_LOADED(p);
    QVERIFY2(p.error().isEmpty(), qPrintable(p.error()));
    QCOMPARE(stored.count(), 1);
    const ampbench::DecisionThreshold d = ampbench::readDecisionThreshold(run.toStdString());
    QCOMPARE(d.source, std::string("youden on val"));
    QCOMPARE(p.storedThreshold(), d.threshold);
    QVERIFY(p.atStoredThreshold());
    QVERIFY(p.header().contains(QStringLiteral("(youden on val)")));
  }

  void noFilesAndNoCheckpointIsAnErrorNotAHang() {
    const QString run = dir_.filePath(QStringLiteral("bare"));
    ampbench::uitest::writeEvaluatedRun(run, dir_.filePath(QStringLiteral("data")), ampbench::uitest::tenImages());
    QFile::remove(QDir(run).filePath(QStringLiteral("predictions_val.csv")));
    ResultsPresenter p;
    QSignalSpy errors(&p, &ResultsPresenter::errorChanged);
    p.openRun(run);
    QVERIFY(p.isBusy());
    WAIT_LOADED(p);
    QVERIFY(!p.hasResults());
    QVERIFY(!p.error().isEmpty());
  }

  void aMalformedEvaluationFileIsNotShown() {
    const QString run = dir_.filePath(QStringLiteral("malformed"));
    ampbench::uitest::writeEvaluatedRun(run, dir_.filePath(QStringLiteral("data")), ampbench::uitest::tenImages());
    QFile f(QDir(run).filePath(QStringLiteral("evaluation_val.json")));
    QVERIFY(f.open(QIODevice::WriteOnly | QIODevice::Truncate));
    f.write("{\"accuracy\": \"lots\", ");
    f.close();
    ResultsPresenter p;
    p.openRun(run);
    WAIT_LOADED(p);
    // Falls back to evaluating, which needs a checkpoint this run does not have.
    QVERIFY(!p.hasResults());
    QVERIFY(!p.error().isEmpty());
  }

  void aNewerOpenSupersedesOneInFlight() {
    const QString a = dir_.filePath(QStringLiteral("first"));
    const QString b = dir_.filePath(QStringLiteral("second"));
    ampbench::uitest::writeEvaluatedRun(a, dir_.filePath(QStringLiteral("data")), ampbench::uitest::tenImages());
    ampbench::uitest::writeEvaluatedRun(b, dir_.filePath(QStringLiteral("data")), ampbench::uitest::tenImages().mid(0, 6));
    ResultsPresenter p;
    QSignalSpy loaded(&p, &ResultsPresenter::resultsChanged);
    p.openRun(a);
    p.openRun(b);
    WAIT_LOADED(p);
    QTest::qWait(50);
    QCOMPARE(loaded.count(), 1);
    QCOMPARE(p.result(0)->runDir, b);
    QCOMPARE(p.shown(0).count, int64_t{6});
  }

 private:
  QTemporaryDir dir_;
};

QTEST_GUILESS_MAIN(ResultsPresenterTest)
#include "ResultsPresenterTest.moc"
