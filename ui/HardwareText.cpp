#include "ui/HardwareText.h"

#include <QCoreApplication>

namespace ampbench::ui {
namespace {

QString tr(const char* s) { return QCoreApplication::translate("HardwareText", s); }
QString qs(const std::string& s) { return QString::fromStdString(s); }

QString modeName(const std::string& mode) {
  if (mode == "fp16-noscale") return tr("FP16 without loss scaling");
  if (mode == "fp16-pure") return tr("pure FP16");
  if (mode == "bf16-pure") return tr("pure BF16");
  return qs(mode).toUpper();
}

}  // namespace

QString machineSummary(const HardwareInfo& hw) {
  QString s = qs(cpuSummary(hw.cpu));
  if (hw.gpu.present) {
    s += QStringLiteral(" · ") + qs(gpuSummary(hw.gpu));
  }
  return s;
}

QString modeOnMachineLine(const HardwareInfo& hw, const QString& mode, bool onGpu) {
  const std::string m = mode.toStdString();
  const ModeVerdict v = modeVerdict(m, hw, onGpu);
  const QString machine = onGpu && hw.gpu.present ? qs(gpuSummary(hw.gpu)) : qs(cpuSummary(hw.cpu));
  QString name = modeName(v.mode);
  if (m == "auto") {
    name = tr("Auto (%1)").arg(name);
  }
  // On a CPU without bf16 units every mixed format runs on fp32 kernels.
  const bool allEmulated = (!onGpu || !hw.gpu.present) && !hw.cpu.nativeBf16();
  if (v.support == ModeSupport::Native && v.mode == "fp32") {
    return allEmulated ? tr("%1: FP32 runs natively here; FP16 and BF16 would be emulated").arg(machine)
                       : tr("%1: FP32 runs natively here — the baseline").arg(machine);
  }
  switch (v.support) {
    case ModeSupport::Native:
      return tr("%1: %2 runs natively here — a real speed-up is possible").arg(machine, name);
    case ModeSupport::Emulated:
      if (allEmulated) {
        return tr("%1: FP16 and BF16 are emulated here — the numbers are faithful, the speed is FP32's").arg(machine);
      }
      return tr("%1: %2 is emulated here — the numbers are faithful, the speed is FP32's").arg(machine, name);
    case ModeSupport::Unavailable:
      return tr("%1: %2 is not available here — %3").arg(machine, name, qs(v.reason));
  }
  return machine;
}

QString noSpeedupNote(const HardwareInfo& hw) {
  if (anyMixedFormatFaster(hw)) {
    return {};
  }
  return tr("Mixed precision cannot speed up training on this machine. AmpBench emulates its numerics, so the "
            "accuracy and gradient effects are real; a speed-up needs a GPU with tensor cores or a CPU with "
            "AMX/AVX512-BF16.");
}

QString defaultMixedFormat(const HardwareInfo& hw) {
  return anyMixedFormatFaster(hw) ? QStringLiteral("auto") : QStringLiteral("fp16");
}

QString aboutHardwareHtml(const HardwareInfo& hw) {
  auto dash = [](const std::string& s) { return s.empty() ? QStringLiteral("–") : qs(s); };
  QString html = tr("<b>This machine</b><br>CPU: %1 — %2 cores, %3 threads<br>GPU: %4<br>"
                    "LibTorch %5, oneDNN %6, CUDA %7, cuDNN %8")
                     .arg(qs(cpuSummary(hw.cpu)).toHtmlEscaped())
                     .arg(hw.cpu.physicalCores > 0 ? QString::number(hw.cpu.physicalCores) : QStringLiteral("?"))
                     .arg(hw.cpu.logicalCpus)
                     .arg(qs(gpuSummary(hw.gpu)).toHtmlEscaped(), dash(hw.versions.torch), dash(hw.versions.onednn),
                          dash(hw.versions.cuda), dash(hw.versions.cudnn));
  const bool onGpu = hw.gpu.present;
  html += tr("<br><br><b>Precision modes here (%1)</b><table>").arg(onGpu ? tr("GPU") : tr("CPU"));
  for (const auto& v : modeTable(hw, onGpu)) {
    html += QStringLiteral("<tr><td>%1&nbsp;</td><td>%2&nbsp;</td><td>%3</td></tr>")
                .arg(qs(v.mode), qs(toString(v.support)), qs(v.reason).toHtmlEscaped());
  }
  html += QStringLiteral("</table>");
  const QString note = noSpeedupNote(hw);
  if (!note.isEmpty()) {
    html += QStringLiteral("<br>") + note.toHtmlEscaped();
  }
  return html;
}

}  // namespace ampbench::ui
