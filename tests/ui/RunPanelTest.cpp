// The run panel's machine notes with injected hardware: on a machine where no mixed format
// is faster the always-visible note says so (and FP16 is the default format); where one is
// faster the note is hidden; the machine line says what the chosen mode does there.

#include "UiTestUtil.h"

#include "engine/core/Recipe.h"
#include "engine/util/Hardware.h"
#include "ui/HardwareText.h"
#include "ui/RunPanel.h"

#include <cmath>

#include <QCheckBox>
#include <QComboBox>
#include <QSettings>
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

  // The recipe's knobs (ui/RecipeKnobs): shown from a run's configuration, back in the
  // panel's config, and kept in the settings.
  void recipeKnobsReachTheConfigAndPersist() {
    ampbench::RunConfig c;
    QCOMPARE(c.emaDecay, 0.0);
    c.augment.maxTranslate = 0.06;
    c.augment.brightness = 0.1;
    c.augment.contrast = 0.15;
    c.augment.gamma = 0.2;
    c.augment.maxRotationDeg = 5;
    c.labelSmoothing = 0.05;
    c.emaDecay = 0.998;
    c.tta.views = 5;
    {
      RunPanel panel;
      panel.setConfig(c);
      const auto got = panel.config();
      QCOMPARE(got.augment.maxTranslate, 0.06);
      QCOMPARE(got.augment.brightness, 0.1);
      QCOMPARE(got.augment.contrast, 0.15);
      QCOMPARE(got.augment.gamma, 0.2);
      QCOMPARE(got.augment.maxRotationDeg, 5.0);
      QCOMPARE(got.augment.horizontalFlip, false);
      QCOMPARE(got.labelSmoothing, 0.05);
      QCOMPARE(got.emaDecay, 0.998);
      QCOMPARE(got.tta.views, int64_t{5});
      panel.saveSettings();
    }
    RunPanel reopened;
    QCOMPARE(reopened.config().emaDecay, 0.998);
    QCOMPARE(reopened.config().augment.gamma, 0.2);
    QCOMPARE(reopened.config().tta.views, int64_t{5});
  }

  void recipeRowsPersistAndAHostileSettingIsIgnored() {
    ampbench::RunConfig c;
    c.recipe = "chest-xray";
    c.balance = ampbench::BalanceKind::Sampler;
    c.selection.metric = ampbench::SelectMetricKind::Auc;
    c.selection.thresholdRule = ampbench::ThresholdRuleKind::Sensitivity;
    c.selection.targetSensitivity = 0.9;
    c.imageSize = 40;  // not the recipe's: reopening must not apply the recipe again
    {
      RunPanel panel;
      panel.setConfig(c);
      panel.saveSettings();
    }
    {
      RunPanel reopened;
      const auto got = reopened.config();
      QCOMPARE(QString::fromStdString(got.recipe), QStringLiteral("chest-xray"));
      QVERIFY(got.balance == ampbench::BalanceKind::Sampler);
      QVERIFY(got.selection.metric == ampbench::SelectMetricKind::Auc);
      QVERIFY(got.selection.thresholdRule == ampbench::ThresholdRuleKind::Sensitivity);
      QCOMPARE(got.selection.targetSensitivity, 0.9);
      QCOMPARE(got.imageSize, 40);
    }
    {
      QSettings s;
      s.beginGroup(QStringLiteral("run"));
      s.setValue(QStringLiteral("balance"), QStringLiteral("upsample-everything"));
      s.setValue(QStringLiteral("selectMetric"), 42);
      s.setValue(QStringLiteral("recipe"), QStringLiteral("imagenet"));
      s.setValue(QStringLiteral("minCropArea"), QStringLiteral("abc"));
      s.setValue(QStringLiteral("emaDecay"), QStringLiteral("nan"));
    }
    RunPanel hostile;  // must not throw; the unreadable values keep the defaults
    const auto got = hostile.config();
    QVERIFY(got.balance == ampbench::RunConfig{}.balance);
    QVERIFY(got.selection.metric == ampbench::RunConfig{}.selection.metric);
    QCOMPARE(QString::fromStdString(got.recipe), QString());
    QVERIFY(got.selection.thresholdRule == ampbench::ThresholdRuleKind::Sensitivity);
    QCOMPARE(got.augment.minCropArea, c.augment.minCropArea);  // not 0, not the spin box's minimum
    QVERIFY(std::isfinite(got.emaDecay));
    QCOMPARE(got.emaDecay, c.emaDecay);
    QSettings().remove(QStringLiteral("run"));  // the tests below start from defaults
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

  void recipeFollowsTheModelFamily() {
    RunPanel panel;
    auto* recipe = panel.findChild<QComboBox*>(QStringLiteral("recipeCombo"));
    QVERIFY(recipe);
    ampbench::RunConfig shown;
    shown.model = "resnet18";
    panel.setConfig(shown);
    recipe->setCurrentIndex(recipe->findData(QStringLiteral("chest-xray")));
    auto c = panel.config();
    QCOMPARE(QString::fromStdString(c.model), QStringLiteral("resnet18"));  // the model shown is kept
    QCOMPARE(c.imageSize, 96);
    QCOMPARE(c.epochs, 10);
    // The user then picks small_cnn: its family's size and epochs, the rest untouched.
    c.lr = 0.02;
    panel.setConfig(c);
    QComboBox* model = nullptr;
    for (auto* box : panel.findChildren<QComboBox*>()) {
      if (box->findText(QStringLiteral("small_cnn")) >= 0) {
        model = box;
      }
    }
    QVERIFY(model);
    model->setCurrentIndex(model->findText(QStringLiteral("small_cnn")));
    Q_EMIT model->activated(model->currentIndex());
    c = panel.config();
    QCOMPARE(QString::fromStdString(c.model), QStringLiteral("small_cnn"));
    QCOMPARE(c.imageSize, 128);
    QCOMPARE(c.epochs, 20);
    QCOMPARE(c.lr, 0.02);
    // Re-picking the model shown (or scrolling onto it) keeps a size the user tuned.
    c.imageSize = 64;
    panel.setConfig(c);
    Q_EMIT model->activated(model->currentIndex());
    QCOMPARE(panel.config().imageSize, 64);
    // Without a recipe, a model pick changes nothing else.
    recipe->setCurrentIndex(0);
    c = panel.config();
    c.imageSize = 48;
    panel.setConfig(c);
    model->setCurrentIndex(model->findText(QStringLiteral("resnet18")));
    Q_EMIT model->activated(model->currentIndex());
    QCOMPARE(panel.config().imageSize, 48);
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
