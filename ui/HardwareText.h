#pragma once
// Plain-words text about this machine for the GUI: what it is, what a precision mode does
// here, the note shown when no mixed format can be faster, and the Help -> About summary.
// Everything takes the hardware as a value so tests can inject a machine.

#include "engine/util/Hardware.h"

#include <QString>

namespace ampbench::ui {

// "AMD EPYC 7B13 (AVX2, no AVX512-BF16/AMX)", plus " · NVIDIA H200 (compute capability 9.0, ...)".
QString machineSummary(const ampbench::HardwareInfo& hw);
// One line: the machine and what `mode` ("fp32", "fp16", "bf16", "auto", ...) does on it,
// on its GPU when `onGpu` and it has one. The verdict's reason is left for the tooltip.
QString modeOnMachineLine(const ampbench::HardwareInfo& hw, const QString& mode, bool onGpu);
// The always-visible note when no mixed format is faster here; empty otherwise.
QString noSpeedupNote(const ampbench::HardwareInfo& hw);
// The mixed format offered first: emulated FP16 where none is faster, else auto (the fastest).
QString defaultMixedFormat(const ampbench::HardwareInfo& hw);
// Rich text for Help -> About: CPU, GPU, versions and the per-mode table.
QString aboutHardwareHtml(const ampbench::HardwareInfo& hw);

}  // namespace ampbench::ui
