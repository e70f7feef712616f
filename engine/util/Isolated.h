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
#include <utility>

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

// A long-lived helper program that serves requests one at a time on its stdin/stdout.
// Started with posix_spawn (in its own process group, so a Ctrl-C meant for us does not
// kill it mid-file), whose cost does not grow with this process's memory (fork's does:
// about 0.1-0.2 s per GB of resident memory on our VM, paid per file). It must first send
// `hello` (a protocol version): a program that does not is refused with NoChild. After a
// crash or a timeout the next call starts a fresh one. One per thread; not thread-safe.
class WorkerProcess {
 public:
  WorkerProcess(std::string executable, std::string hello)
      : executable_(std::move(executable)), hello_(std::move(hello)) {}
  ~WorkerProcess();  // closes the connection (the worker exits at EOF) and reaps it
  WorkerProcess(const WorkerProcess&) = delete;
  WorkerProcess& operator=(const WorkerProcess&) = delete;

  // The worker's reply to `request`. Throws IsolatedError (Threw: the handler's message;
  // Crashed; TimedOut; NoChild: the program could not be started or did not say hello).
  std::string call(const std::string& request, std::chrono::milliseconds timeout);
  int starts() const { return starts_; }  // how many processes were started so far
  int pid() const { return pid_; }        // the running worker's, or -1

 private:
  void start();
  void stop(bool kill);
  bool diedWhileIdle() const;
  std::string executable_;
  std::string hello_;
  int pid_ = -1;
  int fd_ = -1;
  int starts_ = 0;
};

// The worker's side: sends `hello`, then answers requests read from `fd` with `handler`
// until EOF; a handler exception is sent back as its message. Also makes the process a
// quiet helper: no core dumps, SIGINT/SIGTERM ignored (it ends when its client does).
// Returns the process exit code.
int serveRequests(int fd, const std::string& hello, const std::function<std::string(const std::string&)>& handler);

// Limits this process's address space to its current size + `extra` (soft limit; 0 lifts
// it). For the child and the worker, never the application. No-op under ASan/TSan, whose
// shadow memory needs terabytes of address space.
void setAddressSpaceHeadroom(uint64_t extra);

// AMPBENCH_IN_PROCESS=1 in the environment: callers run the work directly instead (under
// a debugger, or to let a fuzzer see the library's own crashes).
bool isolationDisabled();

}  // namespace ampbench
