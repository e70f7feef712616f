#include "engine/train/LrSchedule.h"

#include <algorithm>
#include <cmath>

namespace ampbench {

namespace {
constexpr double kPi = 3.14159265358979323846;
double cosineBetween(double from, double to, double t) { return to + (from - to) * 0.5 * (1.0 + std::cos(kPi * t)); }
}  // namespace

LrSchedule::LrSchedule(ScheduleKind kind, double lr, int64_t totalSteps, double warmupFraction)
    : kind_(kind), lr_(lr), total_(std::max<int64_t>(totalSteps, 1)) {
  warmup_ = std::clamp<int64_t>(static_cast<int64_t>(warmupFraction * static_cast<double>(total_)), 1, total_);
}

double LrSchedule::at(int64_t step) const {
  step = std::clamp<int64_t>(step, 0, total_);
  switch (kind_) {
    case ScheduleKind::Constant:
      return lr_;
    case ScheduleKind::Cosine:
      return cosineBetween(lr_, 0.0, static_cast<double>(step) / static_cast<double>(total_));
    case ScheduleKind::OneCycle: {
      const double initial = lr_ / 25.0;
      const double final = initial / 1e4;
      if (step < warmup_) {
        return cosineBetween(initial, lr_, static_cast<double>(step) / static_cast<double>(warmup_));
      }
      const double rest = static_cast<double>(std::max<int64_t>(total_ - warmup_, 1));
      return cosineBetween(lr_, final, static_cast<double>(step - warmup_) / rest);
    }
  }
  return lr_;
}

}  // namespace ampbench
