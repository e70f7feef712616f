#pragma once
#include <atomic>
#include <memory>

namespace ampbench {

// Shared cancellation flag: copies refer to the same flag. The engine checks it between
// steps (and between decoded images); any thread, or a signal handler through flag(),
// may set it.
class CancelToken {
 public:
  CancelToken() : flag_(std::make_shared<std::atomic<bool>>(false)) {}

  void cancel() const noexcept { flag_->store(true, std::memory_order_relaxed); }
  bool isCancelled() const noexcept { return flag_->load(std::memory_order_relaxed); }
  void reset() const noexcept { flag_->store(false, std::memory_order_relaxed); }
  // Lock-free atomic, so a signal handler may store to it.
  std::atomic<bool>* flag() const noexcept { return flag_.get(); }

 private:
  std::shared_ptr<std::atomic<bool>> flag_;
};

}  // namespace ampbench
