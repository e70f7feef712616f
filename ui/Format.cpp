#include "ui/Format.h"

#include <QLocale>

#include <cmath>

namespace ampbench::ui {

QString formatDuration(double seconds) {
  if (!std::isfinite(seconds) || seconds < 0) {
    return QStringLiteral("–");
  }
  const auto total = static_cast<long long>(std::llround(seconds));
  const long long h = total / 3600;
  const long long m = (total % 3600) / 60;
  const long long s = total % 60;
  if (h > 0) {
    return QStringLiteral("%1:%2:%3").arg(h).arg(m, 2, 10, QLatin1Char('0')).arg(s, 2, 10, QLatin1Char('0'));
  }
  return QStringLiteral("%1:%2").arg(m).arg(s, 2, 10, QLatin1Char('0'));
}

QString formatPercent(double fraction, int decimals) {
  return QStringLiteral("%1 %").arg(fraction * 100.0, 0, 'f', decimals);
}

QString formatRate(double imagesPerSecond) {
  return QStringLiteral("%1 img/s").arg(QLocale().toString(imagesPerSecond, 'f', imagesPerSecond < 100 ? 1 : 0));
}

QString formatScale(double scale) {
  if (scale > 0 && std::isfinite(scale)) {
    const double e = std::log2(scale);
    if (std::abs(e - std::round(e)) < 1e-9) {
      return QStringLiteral("2^%1").arg(static_cast<int>(std::lround(e)));
    }
  }
  return QString::number(scale, 'g', 4);
}

QString modeDisplayName(const QString& mode) {
  const QString m = mode.toLower();
  if (m == QLatin1String("fp32")) {
    return QStringLiteral("FP32");
  }
  if (m == QLatin1String("fp16")) {
    return QStringLiteral("FP16 mixed");
  }
  if (m == QLatin1String("bf16")) {
    return QStringLiteral("BF16 mixed");
  }
  if (m == QLatin1String("auto")) {
    return QStringLiteral("Auto mixed");
  }
  return mode.toUpper();
}

}  // namespace ampbench::ui
