#pragma once
#include "engine/core/RunConfig.h"

#include <cstdint>

namespace ampbench {

// Learning rate as a function of the number of optimizer steps taken (skipped steps do
// not advance it). One-cycle follows torch.optim.lr_scheduler.OneCycleLR's defaults
// (cosine, start lr/25, end lr/(25*1e4)).
class LrSchedule {
 public:
  LrSchedule(ScheduleKind kind, double lr, int64_t totalSteps, double warmupFraction);
  double at(int64_t step) const;

 private:
  ScheduleKind kind_;
  double lr_;
  int64_t total_;
  int64_t warmup_;
};

}  // namespace ampbench
