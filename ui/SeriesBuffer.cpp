#include "ui/SeriesBuffer.h"

#include <algorithm>
#include <cmath>

namespace ampbench::ui {

SeriesBuffer::SeriesBuffer(int capacity, Decimation decimation)
    : capacity_(std::max(capacity, 8)), decimation_(decimation) {}

void SeriesBuffer::append(double key, double value) {
  recent_.emplace_back(key, value);
  if (static_cast<int>(recent_.size()) > capacity_ / 2) {
    const auto [k, v] = recent_.front();
    recent_.pop_front();
    pushHistory(k, v);
  }
  ++appended_;
  dirty_ = true;
  cacheValid_ = false;
}

void SeriesBuffer::pushHistory(double key, double value) {
  // Keep mode: a non-finite value is a gap marker (the running rate's break between epochs):
  // it always survives decimation, or the line would join across the break.
  const bool marker = decimation_ == Decimation::Keep && !std::isfinite(value);
  sumKey_ += key;
  sumValue_ += value;
  if (++pending_ < stride_ && !marker) {
    return;
  }
  if (decimation_ == Decimation::Average) {
    history_.emplace_back(sumKey_ / stride_, sumValue_ / stride_);
  } else {
    history_.emplace_back(key, value);
  }
  pending_ = 0;
  sumKey_ = sumValue_ = 0.0;
  if (static_cast<int>(history_.size()) >= capacity_ / 2) {
    // Halve the history: pairs stand for equal numbers of steps, so plain means are fair.
    size_t out = 0;
    if (decimation_ == Decimation::Average) {
      for (size_t i = 0; i + 1 < history_.size(); i += 2) {
        history_[out++] = std::make_pair(0.5 * (history_[i].first + history_[i + 1].first),
                                         0.5 * (history_[i].second + history_[i + 1].second));
      }
    } else {
      // Every second value, and every gap marker besides.
      size_t values = 0;
      for (size_t i = 0; i < history_.size(); ++i) {
        if (!std::isfinite(history_[i].second) || values++ % 2 == 1) {
          history_[out++] = history_[i];
        }
      }
    }
    history_.resize(out);
    stride_ *= 2;
  }
}

void SeriesBuffer::clear() {
  recent_.clear();
  history_.clear();
  stride_ = 1;
  pending_ = 0;
  sumKey_ = sumValue_ = 0.0;
  appended_ = 0;
  dirty_ = true;
  cacheValid_ = false;
}

bool SeriesBuffer::takeDirty() {
  const bool d = dirty_;
  dirty_ = false;
  return d;
}

void SeriesBuffer::rebuild() const {
  keys_.resize(size());
  values_.resize(size());
  int i = 0;
  for (const auto& [k, v] : history_) {
    keys_[i] = k;
    values_[i++] = v;
  }
  for (const auto& [k, v] : recent_) {
    keys_[i] = k;
    values_[i++] = v;
  }
  cacheValid_ = true;
}

const QVector<double>& SeriesBuffer::keys() const {
  if (!cacheValid_) {
    rebuild();
  }
  return keys_;
}

const QVector<double>& SeriesBuffer::values() const {
  if (!cacheValid_) {
    rebuild();
  }
  return values_;
}

}  // namespace ampbench::ui
