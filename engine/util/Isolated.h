#pragma once
// Runs a piece of work in a forked child process, so that a third-party library that
// aborts (Debian's GDCM is built with assertions) or hangs on a hostile file costs one
// file, not the run. The child shares the parent's memory image (copy on write), runs the
// work on its only thread, sends the result back through a pipe and exits without
// running destructors.

#include <chrono>
#include <cstdint>
#include <functional>
#include <stdexcept>
#include <string>

namespace ampbench {

class IsolatedError : public std::runtime_error {
 public:
  enum class Kind {
    Threw,     // the work threw; what() is its message
    Crashed,   // the child died (signal, or exited without a complete result)
    TimedOut,  // killed after the timeout
    NoChild,   // pipe or fork failed; nothing ran
  };
  IsolatedError(Kind kind, const std::string& message) : std::runtime_error(message), kind_(kind) {}
  Kind kind() const { return kind_; }

 private:
  Kind kind_;
};

struct IsolationLimits {
  std::chrono::milliseconds timeout{std::chrono::seconds(120)};
  // Address space the child may add to the parent's (RLIMIT_AS); 0 = no limit. Not applied
  // under ASan/TSan, whose shadow memory needs terabytes of address space.
  uint64_t extraAddressSpace = 0;
};

// Returns what `work` returned in the child. Throws IsolatedError; never lets the child's
// failure reach the caller as anything else.
std::string runIsolated(const std::function<std::string()>& work, const IsolationLimits& limits = {});

// AMPBENCH_IN_PROCESS=1 in the environment: callers run the work directly instead (under
// a debugger, or to let a fuzzer see the library's own crashes).
bool isolationDisabled();

}  // namespace ampbench
