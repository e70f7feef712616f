#include "ui/ScriptOptions.h"

#include "ui/RunsPresenter.h"

#include <QCommandLineParser>
#include <QFileInfo>
#include <QObject>

namespace ampbench::ui {

bool parseScriptOptions(const QStringList& arguments, ScriptOptions* o, QString* error, QString* helpText) {
  QCommandLineParser p;
  p.setApplicationDescription(QObject::tr("AmpBench: watch what mixed precision does to training."));
  p.addHelpOption();
  p.addPositionalArgument(QStringLiteral("files"), QObject::tr("X-ray images (PNG, JPEG, TIFF, BMP, DICOM) to show in the image "
                                                               "inspector with the selected or last run."),
                          QStringLiteral("[FILE...]"));
  p.addVersionOption();
  const QCommandLineOption data(QStringLiteral("data"), QObject::tr("Dataset folder or MedMNIST .npz."), QStringLiteral("DIR"));
  const QCommandLineOption precision(QStringLiteral("precision"),
                                     QObject::tr("fp32, fp16, bf16, auto, or a what-if: fp16-noscale, fp16-pure, bf16-pure."),
                                     QStringLiteral("MODE"));
  const QCommandLineOption withoutFixes(QStringLiteral("without-fixes"),
                                        QObject::tr("Compare also the mixed format with its fixes switched off."));
  const QCommandLineOption gradStats(QStringLiteral("grad-stats"),
                                     QObject::tr("Precision statistics every N steps (0 = off)."), QStringLiteral("N"));
  const QCommandLineOption model(QStringLiteral("model"), QObject::tr("Model name (small_cnn, resnet18, ...)."), QStringLiteral("NAME"));
  const QCommandLineOption epochs(QStringLiteral("epochs"), QObject::tr("Epochs."), QStringLiteral("N"));
  const QCommandLineOption batch(QStringLiteral("batch-size"), QObject::tr("Batch size."), QStringLiteral("N"));
  const QCommandLineOption image(QStringLiteral("image-size"), QObject::tr("Image size in pixels."), QStringLiteral("PX"));
  const QCommandLineOption lr(QStringLiteral("lr"), QObject::tr("Peak learning rate."), QStringLiteral("RATE"));
  const QCommandLineOption seed(QStringLiteral("seed"), QObject::tr("Random seed."), QStringLiteral("N"));
  const QCommandLineOption limit(QStringLiteral("limit"), QObject::tr("At most N images per split (0 = all)."), QStringLiteral("N"));
  const QCommandLineOption initScale(QStringLiteral("init-scale"), QObject::tr("Loss scaler: initial scale (a power of two)."),
                                     QStringLiteral("X"));
  const QCommandLineOption growth(QStringLiteral("growth-interval"), QObject::tr("Loss scaler: good steps before the scale grows."),
                                  QStringLiteral("N"));
  const QCommandLineOption out(QStringLiteral("out"), QObject::tr("Run (or comparison) directory to write."), QStringLiteral("DIR"));
  const QCommandLineOption modes(QStringLiteral("modes"), QObject::tr("Comparison modes, comma-separated (default fp32,<precision>)."),
                                 QStringLiteral("LIST"));
  const QCommandLineOption open(QStringLiteral("open"), QObject::tr("Show a run or comparison directory."), QStringLiteral("DIR"));
  const QCommandLineOption follow(QStringLiteral("follow"),
                                  QObject::tr("Follow a run another process writes: the plots refresh as its logs grow; "
                                              "done when the run ends (--screenshot-at-epoch N: the screenshot after epoch N)."),
                                  QStringLiteral("DIR"));
  const QCommandLineOption predict(QStringLiteral("predict"),
                                   QObject::tr("Show an image in the image inspector (probabilities and Grad-CAM) with the "
                                               "--open run; the screenshot is then of the inspector. Repeatable."),
                                   QStringLiteral("IMAGE"));
  const QCommandLineOption start(QStringLiteral("start"), QObject::tr("Start the run once the data is scanned."));
  const QCommandLineOption compare(QStringLiteral("compare"), QObject::tr("Run the FP32 vs mixed comparison instead of one run."));
  const QCommandLineOption screenshot(QStringLiteral("screenshot"), QObject::tr("Save a PNG of the whole window when done."),
                                      QStringLiteral("FILE.png"));
  const QCommandLineOption show(QStringLiteral("show"),
                                QObject::tr("The view the screenshot captures: live, precision, comparison or results."),
                                QStringLiteral("VIEW"));
  const QCommandLineOption shotEpoch(QStringLiteral("screenshot-at-epoch"),
                                     QObject::tr("Take the screenshot mid-run, after epoch N."), QStringLiteral("N"));
  const QCommandLineOption exitWhenDone(QStringLiteral("exit-when-done"), QObject::tr("Quit when the run (and screenshot) is done."));
  const QCommandLineOption windowSize(QStringLiteral("window-size"), QObject::tr("Window size, e.g. 1440x900."), QStringLiteral("WxH"));
  p.addOptions({data, precision, model, epochs, batch, image, lr, seed, limit, initScale, growth, out, modes, open, start, compare, screenshot,
                show, shotEpoch, exitWhenDone, windowSize, withoutFixes, gradStats, predict, follow});
  if (helpText) {
    *helpText = p.helpText();
  }
  if (!p.parse(arguments)) {
    *error = p.errorText();
    return false;
  }
  o->showHelp = p.isSet(QStringLiteral("help"));
  o->showVersion = p.isSet(QStringLiteral("version"));
  if (o->showHelp || o->showVersion) {
    return true;
  }
  for (const QString& file : p.positionalArguments()) {
    if (!QFileInfo(file).isFile()) {
      *error = QObject::tr("Unexpected argument '%1': not an image file; options start with --, see --help.").arg(file);
      return false;
    }
    o->files << QFileInfo(file).absoluteFilePath();
  }
  auto number = [&](const QCommandLineOption& opt, int lo, int* target) {
    if (!p.isSet(opt)) {
      return true;
    }
    bool ok = false;
    const int v = p.value(opt).toInt(&ok);
    if (!ok || v < lo) {
      *error = QObject::tr("--%1 needs a whole number >= %2, got '%3'.").arg(opt.names().front()).arg(lo).arg(p.value(opt));
      return false;
    }
    *target = v;
    return true;
  };
  o->data = p.value(data);
  o->precision = p.value(precision).toLower();
  try {
    if (!o->precision.isEmpty()) {  // canonical name ("FP16_PURE" -> "fp16-pure"), as the run panel lists it
      o->precision = QString::fromStdString(ampbench::toString(ampbench::parsePrecision(o->precision.toStdString())));
    }
    o->modes = ampbench::parsePrecisionList(p.value(modes).toStdString());
  } catch (const std::exception& e) {
    *error = QStringLiteral("--precision / --modes: ") + QString::fromStdString(e.what());
    return false;
  }
  o->withoutFixes = p.isSet(withoutFixes);
  if (o->withoutFixes && !o->modes.empty()) {
    *error = QObject::tr("--without-fixes adds the what-ifs to the panel's comparison; with --modes, list them "
                         "there instead (e.g. --modes fp32,fp16,fp16-noscale,fp16-pure).");
    return false;
  }
  if (p.isSet(gradStats)) {
    bool ok = false;
    o->gradStatsEvery = p.value(gradStats).toInt(&ok);
    if (!ok || o->gradStatsEvery < 0) {
      *error = QObject::tr("--grad-stats needs a step interval N >= 1 (or 0 for off), got '%1'.").arg(p.value(gradStats));
      return false;
    }
  }
  o->model = p.value(model);
  if (!number(epochs, 1, &o->epochs) || !number(batch, 1, &o->batchSize) || !number(image, 8, &o->imageSize) ||
      !number(seed, 0, &o->seed) || !number(limit, 0, &o->limit) || !number(shotEpoch, 1, &o->screenshotAtEpoch) ||
      !number(growth, 1, &o->growthInterval)) {
    return false;
  }
  if (p.isSet(lr)) {
    bool ok = false;
    o->lr = p.value(lr).toDouble(&ok);
    if (!ok || o->lr <= 0) {
      *error = QObject::tr("--lr needs a positive number, got '%1'.").arg(p.value(lr));
      return false;
    }
  }
  if (p.isSet(initScale)) {
    bool ok = false;
    o->initScale = p.value(initScale).toDouble(&ok);
    if (!ok || o->initScale < 1) {
      *error = QObject::tr("--init-scale needs a number >= 1 (e.g. 65536), got '%1'.").arg(p.value(initScale));
      return false;
    }
  }
  o->out = p.value(out);
  o->open = p.value(open);
  o->follow = p.value(follow);
  if (!o->follow.isEmpty() && (!o->open.isEmpty() || p.isSet(start) || !o->data.isEmpty())) {
    *error = QObject::tr("--follow shows a run another process writes: leave out --open, --data and --start.");
    return false;
  }
  o->predict = p.values(predict);
  if (!o->predict.isEmpty() && o->open.isEmpty()) {
    *error = QObject::tr("--predict needs --open RUN (the run or exported model folder to predict with).");
    return false;
  }
  o->start = p.isSet(start);
  o->compare = p.isSet(compare) || !o->modes.empty() || o->withoutFixes;
  o->screenshot = p.value(screenshot);
  o->show = p.value(show).trimmed().toLower();
  if (p.isSet(show) && !viewFromName(o->show)) {
    *error = QObject::tr("--show must be one of %1, got '%2'.").arg(viewNames().join(QStringLiteral(", ")), p.value(show));
    return false;
  }
  o->exitWhenDone = p.isSet(exitWhenDone);
  if (p.isSet(windowSize)) {
    const QStringList wh = p.value(windowSize).toLower().split(QLatin1Char('x'));
    const int w = wh.size() == 2 ? wh[0].toInt() : 0;
    const int h = wh.size() == 2 ? wh[1].toInt() : 0;
    if (w < 640 || h < 480) {
      *error = QObject::tr("--window-size needs WxH of at least 640x480, got '%1'.").arg(p.value(windowSize));
      return false;
    }
    o->windowSize = QSize(w, h);
  } else if (!o->screenshot.isEmpty()) {
    o->windowSize = QSize(1440, 900);
  }
  if (o->start && o->data.isEmpty()) {
    *error = QObject::tr("--start needs --data DIR (the dataset to train on).");
    return false;
  }
  return true;
}

}  // namespace ampbench::ui
