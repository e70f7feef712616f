#pragma once
// Number and time formatting shared by the panels (one place, one style).

#include <QString>

namespace ampbench::ui {

// "0:42", "12:05", "1:02:03"
QString formatDuration(double seconds);
// 0.9312 -> "93.1 %"
QString formatPercent(double fraction, int decimals = 1);
// 1234.5 -> "1,235 img/s" (locale grouping)
QString formatRate(double imagesPerSecond);
// 65536 -> "2^16"; non powers of two as a plain number
QString formatScale(double scale);
// A precision mode string as the UI names it: "fp32" -> "FP32", "bf16" -> "BF16 mixed"
QString modeDisplayName(const QString& mode);

}  // namespace ampbench::ui
