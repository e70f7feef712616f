#pragma once
// The engine's event structs as Qt metatypes, so they can travel through queued
// signals by value, plus the few string conversions every panel needs.

#include "engine/core/Events.h"
#include "engine/core/RunConfig.h"
#include "engine/train/Trainer.h"

#include <QMetaType>
#include <QString>
#include <QStringList>

#include <string>
#include <vector>

Q_DECLARE_METATYPE(ampbench::DataProgressEvent)
Q_DECLARE_METATYPE(ampbench::RunStartedEvent)
Q_DECLARE_METATYPE(ampbench::StepEvent)
Q_DECLARE_METATYPE(ampbench::EpochEvent)
Q_DECLARE_METATYPE(ampbench::EvaluationEvent)
Q_DECLARE_METATYPE(ampbench::CheckpointEvent)
Q_DECLARE_METATYPE(ampbench::PrecisionStatsEvent)
Q_DECLARE_METATYPE(ampbench::OverflowAttribution)
Q_DECLARE_METATYPE(ampbench::RunSummary)
Q_DECLARE_METATYPE(ampbench::ComparisonSummary)
Q_DECLARE_METATYPE(ampbench::PrecisionMode)

namespace ampbench::ui {

// Registers the metatypes above (idempotent; the bridge calls it).
void registerMetaTypes();

inline QString qs(const std::string& s) { return QString::fromStdString(s); }
inline std::string ss(const QString& s) { return s.toStdString(); }

inline QStringList toQStringList(const std::vector<std::string>& v) {
  QStringList out;
  out.reserve(static_cast<int>(v.size()));
  for (const auto& s : v) {
    out << qs(s);
  }
  return out;
}

}  // namespace ampbench::ui
