// The run panel's machine notes with injected hardware: on a machine where no mixed format
// is faster the always-visible note says so (and FP16 is the default format); where one is
// faster the note is hidden; the machine line says what the chosen mode does there.

#include "UiTestUtil.h"

#include "engine/core/Recipe.h"
#include "engine/util/Hardware.h"
#include "ui/HardwareText.h"
#include "ui/RunPanel.h"

#include <QCheckBox>
#include <QComboBox>
#include <QSpinBox>
#include <QLabel>
#include <QTest>

using ampbench::HardwareInfo;
using ampbench::ui::RunPanel;

namespace {

HardwareInfo epyc() {
  HardwareInfo hw;
  hw.cpu.brand = "AMD EPYC 7B13 64-Core Processor";
  hw.cpu.avx2 = hw.cpu.fma = hw.cpu.osAvx = true;
  hw.versions.torch = "1.13.0";
  return hw;
}

HardwareInfo sapphireRapids() {
  HardwareInfo hw;
  hw.cpu.brand = "Intel(R) Xeon(R) Platinum 8480+";
  auto& c = hw.cpu;
  c.avx2 = c.fma = c.avx512f = c.avx512Bf16 = c.amxTile = c.amxBf16 = true;
  c.osAvx = c.osAvx512 = c.osAmxTile = c.amxPermitted = true;
  return hw;
}

HardwareInfo volta() {
  HardwareInfo hw = epyc();
  hw.gpu.present = true;
  hw.gpu.count = 1;
  hw.gpu.name = "Tesla V100-SXM2-16GB";
  hw.gpu.ccMajor = 7;
  return hw;
}

QLabel* label(RunPanel& panel, const char* name) {
  auto* l = panel.findChild<QLabel*>(QString::fromLatin1(name));
  if (!l) qFatal("no label %s", name);
  return l;
}

}  // namespace

class RunPanelTest : public QObject {
  Q_OBJECT

 private Q_SLOTS:
  void initTestCase() { ampbench::uitest::isolateSettings(QStringLiteral("AmpBenchRunPanelTest")); }

  void noteIsVisibleWhenNoFormatIsFaster() {
    RunPanel panel;
    panel.setPersistent(false);
    panel.show();
    panel.setHardware(epyc());
    QVERIFY(panel.setPrecisionName(QStringLiteral("fp16")));
    QLabel* note = label(panel, "noSpeedupNote");
    QVERIFY(note->isVisible());
    const QString text = note->text();
    QVERIFY2(text.contains(QStringLiteral("cannot speed up training")), qPrintable(text));
    QVERIFY2(text.contains(QStringLiteral("emulates its numerics")) && text.contains(QStringLiteral("effects are real")),
             qPrintable(text));
    QVERIFY2(text.contains(QStringLiteral("tensor cores")) && text.contains(QStringLiteral("AMX")), qPrintable(text));
    const QString line = label(panel, "hardwareLine")->text();
    QCOMPARE(line, QStringLiteral("AMD EPYC 7B13 64-Core Processor (AVX2, no AVX512-BF16/AMX): FP16 and BF16 are "
                                  "emulated here — the numbers are faithful, the speed is FP32's"));
    // FP32 chosen: the line says so, and the note stays (it is about the machine).
    QVERIFY(panel.setPrecisionName(QStringLiteral("fp32")));
    QVERIFY2(label(panel, "hardwareLine")->text().contains(QStringLiteral("FP32 runs natively here")),
             qPrintable(label(panel, "hardwareLine")->text()));
    QVERIFY(note->isVisible());
    auto* format = panel.findChild<QComboBox*>(QStringLiteral("mixedFormat"));
    QCOMPARE(format->itemText(format->findData(QStringLiteral("auto"))), QStringLiteral("Auto (emulated FP16 here)"));
  }

  void noteIsHiddenWhenAFormatIsFaster() {
    RunPanel panel;
    panel.setPersistent(false);
    panel.show();
    panel.setHardware(epyc());
    QVERIFY(label(panel, "noSpeedupNote")->isVisible());

    panel.setHardware(sapphireRapids());
    QVERIFY(panel.setPrecisionName(QStringLiteral("bf16")));
    QVERIFY(!label(panel, "noSpeedupNote")->isVisible());
    QVERIFY(label(panel, "noSpeedupNote")->text().isEmpty());
    const QString line = label(panel, "hardwareLine")->text();
    QVERIFY2(line.contains(QStringLiteral("AMX-BF16")) && line.contains(QStringLiteral("BF16 runs natively here")),
             qPrintable(line));
    QVERIFY2(label(panel, "hardwareLine")->toolTip().contains(QStringLiteral("oneDNN")),
             qPrintable(label(panel, "hardwareLine")->toolTip()));

    panel.setHardware(volta());
    QVERIFY(!label(panel, "noSpeedupNote")->isVisible());
    QVERIFY2(label(panel, "hardwareLine")->text().contains(QStringLiteral("BF16 is not available here")),
             qPrintable(label(panel, "hardwareLine")->text()));
    QVERIFY(panel.setPrecisionName(QStringLiteral("fp16")));
    QVERIFY2(label(panel, "hardwareLine")->text().contains(QStringLiteral("V100")), qPrintable(label(panel, "hardwareLine")->text()));
    // The same machine's CPU (--device cpu): the CPU's verdict.
    auto c = panel.config();
    c.device = ampbench::DeviceKind::Cpu;
    panel.setConfig(c);
    QVERIFY2(label(panel, "hardwareLine")->text().contains(QStringLiteral("AMD EPYC")) &&
                 label(panel, "hardwareLine")->text().contains(QStringLiteral("emulated")),
             qPrintable(label(panel, "hardwareLine")->text()));
  }

  void defaultFormatFollowsTheMachine() {
    QCOMPARE(ampbench::ui::defaultMixedFormat(epyc()), QStringLiteral("fp16"));
    QCOMPARE(ampbench::ui::defaultMixedFormat(sapphireRapids()), QStringLiteral("auto"));
    QCOMPARE(ampbench::ui::defaultMixedFormat(volta()), QStringLiteral("auto"));
    // Fresh settings: the panel starts on the detected machine's default.
    RunPanel panel;
    QCOMPARE(panel.mixedModeName(), ampbench::ui::defaultMixedFormat(ampbench::detectHardware()));
  }

  void alsoRunWithoutTheFixesAddsTheWhatIfs() {
    RunPanel panel;
    panel.setPersistent(false);
    panel.setPrecisionName(QStringLiteral("fp16"));
    using M = ampbench::PrecisionMode;
    QVERIFY(panel.comparisonModes() == (std::vector<M>{M::Fp32, M::Fp16}));
    auto* box = panel.findChild<QCheckBox*>(QStringLiteral("withoutFixes"));
    QVERIFY(box);
    box->setChecked(true);
    QVERIFY(panel.comparisonModes() == (std::vector<M>{M::Fp32, M::Fp16, M::Fp16NoScale, M::Fp16Pure}));
    panel.setPrecisionName(QStringLiteral("bf16"));
    QVERIFY(panel.comparisonModes() == (std::vector<M>{M::Fp32, M::Bf16, M::Bf16Pure}));
  }

  void whatIfModesAndStatisticsReachTheConfig() {
    RunPanel panel;
    panel.setPersistent(false);
    QVERIFY(panel.setPrecisionName(QStringLiteral("fp16-pure")));
    QVERIFY(panel.config().precision == ampbench::PrecisionMode::Fp16Pure);
    QVERIFY(label(panel, "precisionNote")->text().contains(QStringLiteral("NO master weights")));
    QCOMPARE(panel.config().gradStatsEvery, int64_t{ampbench::ui::kDefaultGradStatsEvery});
    auto* every = panel.findChild<QSpinBox*>(QStringLiteral("gradStatsEvery"));
    QVERIFY(every);
    every->setValue(0);
    QCOMPARE(panel.config().gradStatsEvery, int64_t{0});
  }

  void aboutTextDescribesTheMachine() {
    const QString html = ampbench::ui::aboutHardwareHtml(epyc());
    QVERIFY2(html.contains(QStringLiteral("AMD EPYC 7B13")), qPrintable(html));
    QVERIFY(html.contains(QStringLiteral("emulated")));
    QVERIFY(html.contains(QStringLiteral("cannot speed up training")));
    QVERIFY(!ampbench::ui::aboutHardwareHtml(sapphireRapids()).contains(QStringLiteral("cannot speed up training")));
    QVERIFY(ampbench::ui::aboutHardwareHtml(volta()).contains(QStringLiteral("GPU")));
  }

  // Issue 17: the chest X-ray recipe is applied only when picked, fills the form, and the
  // settings no control shows (a recipe's or a shown run's) reach the run's config.
  void recipeIsAppliedOnlyWhenPicked() {
    RunPanel panel;
    const auto before = panel.config();
    QCOMPARE(QString::fromStdString(before.recipe), QString());
    QVERIFY(before.balance == ampbench::BalanceKind::None);
    auto* combo = panel.findChild<QComboBox*>(QStringLiteral("recipeCombo"));
    QVERIFY(combo);
    const int index = combo->findData(QStringLiteral("chest-xray"));
    QVERIFY(index > 0);
    QCOMPARE(combo->itemText(index), QStringLiteral("Chest X-ray recipe"));
    combo->setCurrentIndex(index);
    const auto c = panel.config();
    QCOMPARE(QString::fromStdString(c.recipe), QStringLiteral("chest-xray"));
    QVERIFY(c.balance == ampbench::BalanceKind::Loss);
    QVERIFY(c.selection.thresholdRule == ampbench::ThresholdRuleKind::Youden);
    QVERIFY(c.selection.metric == ampbench::SelectMetricKind::BalancedAccuracy);
    ampbench::RunConfig expected;
    ampbench::applyRecipe(ampbench::findRecipe("chest-xray"), expected);
    QCOMPARE(c.imageSize, expected.imageSize);  // the form shows the recipe's values
    QCOMPARE(c.epochs, expected.epochs);
    QCOMPARE(c.model, expected.model);
  }

  void settingsWithoutAControlSurviveTheForm() {
    RunPanel panel;
    ampbench::RunConfig shown;
    shown.channels = 3;
    shown.augment.maxRotationDeg = 3.0;
    shown.selection.metric = ampbench::SelectMetricKind::Auc;
    shown.selection.thresholdRule = ampbench::ThresholdRuleKind::Sensitivity;
    shown.selection.targetSensitivity = 0.9;
    shown.resumeFrom = "/somewhere/run";
    panel.setConfig(shown);
    const auto c = panel.config();
    QCOMPARE(c.channels, int64_t{3});
    QCOMPARE(c.augment.maxRotationDeg, 3.0);
    QVERIFY(c.selection.metric == ampbench::SelectMetricKind::Auc);
    QVERIFY(c.selection.thresholdRule == ampbench::ThresholdRuleKind::Sensitivity);
    QCOMPARE(c.selection.targetSensitivity, 0.9);
    QVERIFY2(c.resumeFrom.empty(), "a shown run's settings must start a new run");
    auto* select = panel.findChild<QComboBox*>(QStringLiteral("selectMetricCombo"));
    QVERIFY(select);
    select->setCurrentIndex(select->findData(QStringLiteral("last")));
    QVERIFY(panel.config().selection.metric == ampbench::SelectMetricKind::Last);
  }
};

QTEST_MAIN(RunPanelTest)
#include "RunPanelTest.moc"
