#include "engine/util/Isolated.h"

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <vector>

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define AMPBENCH_SANITIZED 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer) || __has_feature(memory_sanitizer)
#define AMPBENCH_SANITIZED 1
#endif
#endif

namespace ampbench {
namespace {

using Clock = std::chrono::steady_clock;

// The child's reply: one status byte ('R' result, 'E' exception), a 64-bit length, the bytes.
constexpr size_t kHeader = 9;

bool writeAll(int fd, const char* p, size_t n) {
  while (n > 0) {
    const ssize_t w = ::write(fd, p, n);
    if (w < 0) {
      if (errno == EINTR) {
        continue;
      }
      return false;
    }
    p += w;
    n -= static_cast<size_t>(w);
  }
  return true;
}

// Current address-space size of this process, from /proc (the child is a copy of the parent).
uint64_t addressSpaceBytes() {
  std::ifstream statm("/proc/self/statm");
  uint64_t pages = 0;
  statm >> pages;
  return pages * static_cast<uint64_t>(::sysconf(_SC_PAGESIZE));
}

[[noreturn]] void childMain(int fd, const std::function<std::string()>& work, const IsolationLimits& limits) {
  // A crash here is the parent's to report: no inherited crash handler (a fuzzer's, which
  // would save the input as its own finding; a sanitizer's) runs in the child.
  for (const int sig : {SIGABRT, SIGSEGV, SIGBUS, SIGFPE, SIGILL}) {
    ::signal(sig, SIG_DFL);
  }
#ifndef AMPBENCH_SANITIZED
  if (limits.extraAddressSpace > 0) {
    // A hostile header that makes the library allocate gigabytes fails here with
    // bad_alloc instead of pushing the machine into the OOM killer.
    const uint64_t cap = addressSpaceBytes() + limits.extraAddressSpace;
    const rlimit rl{cap, cap};
    ::setrlimit(RLIMIT_AS, &rl);
  }
#else
  (void)limits;
#endif
  char status = 'R';
  std::string payload;
  try {
    payload = work();
  } catch (const std::exception& e) {
    status = 'E';
    payload = e.what();
  } catch (...) {
    status = 'E';
    payload = "unknown exception";
  }
  char header[kHeader];
  header[0] = status;
  const uint64_t n = payload.size();
  std::memcpy(header + 1, &n, sizeof n);
  const bool ok = writeAll(fd, header, kHeader) && writeAll(fd, payload.data(), payload.size());
  // _exit: no atexit handlers, no static destructors of the parent's copied state.
  ::_exit(ok ? 0 : 1);
}

std::string describeStatus(int status) {
  if (WIFSIGNALED(status)) {
    const int sig = WTERMSIG(status);
    const char* name = ::strsignal(sig);
    return "crashed (signal " + std::to_string(sig) + (name != nullptr ? std::string(", ") + name : "") + ")";
  }
  if (WIFEXITED(status)) {
    return "exited with code " + std::to_string(WEXITSTATUS(status)) + " before finishing";
  }
  return "ended abnormally";
}

void reap(pid_t pid, int* status) {
  while (::waitpid(pid, status, 0) < 0 && errno == EINTR) {
  }
}

}  // namespace

bool isolationDisabled() {
  const char* v = std::getenv("AMPBENCH_IN_PROCESS");
  return v != nullptr && std::strcmp(v, "1") == 0;
}

std::string runIsolated(const std::function<std::string()>& work, const IsolationLimits& limits) {
  int fds[2];
  if (::pipe2(fds, O_CLOEXEC) != 0) {
    throw IsolatedError(IsolatedError::Kind::NoChild, std::string("cannot create a pipe: ") + std::strerror(errno));
  }
  const pid_t pid = ::fork();
  if (pid < 0) {
    const int err = errno;
    ::close(fds[0]);
    ::close(fds[1]);
    throw IsolatedError(IsolatedError::Kind::NoChild, std::string("cannot start a process: ") + std::strerror(err));
  }
  if (pid == 0) {
    ::close(fds[0]);
    childMain(fds[1], work, limits);
  }
  ::close(fds[1]);

  // Read exactly the header and the announced payload; not up to EOF, because a child that
  // another thread forks meanwhile holds a copy of the write end until it exits.
  std::string got;
  size_t want = kHeader;
  const Clock::time_point deadline = Clock::now() + limits.timeout;
  bool timedOut = false;
  std::vector<char> chunk(1 << 16);
  while (got.size() < want) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()).count();
    if (left <= 0) {
      timedOut = true;
      break;
    }
    pollfd p{fds[0], POLLIN, 0};
    const int r = ::poll(&p, 1, static_cast<int>(std::min<long long>(left, 1000)));
    if (r < 0 && errno != EINTR) {
      break;
    }
    if (r <= 0) {
      continue;
    }
    const ssize_t n = ::read(fds[0], chunk.data(), std::min(chunk.size(), want - got.size()));
    if (n < 0) {
      if (errno == EINTR || errno == EAGAIN) {
        continue;
      }
      break;
    }
    if (n == 0) {
      break;  // EOF: the child is gone
    }
    got.append(chunk.data(), static_cast<size_t>(n));
    if (want == kHeader && got.size() == kHeader) {
      uint64_t len = 0;
      std::memcpy(&len, got.data() + 1, sizeof len);
      want = kHeader + static_cast<size_t>(len);
    }
  }
  ::close(fds[0]);
  if (timedOut) {
    ::kill(pid, SIGKILL);
  }
  int status = 0;
  reap(pid, &status);
  if (timedOut) {
    const long long ms = limits.timeout.count();
    throw IsolatedError(IsolatedError::Kind::TimedOut,
                        "did not finish within " +
                            (ms % 1000 == 0 ? std::to_string(ms / 1000) + " s" : std::to_string(ms) + " ms"));
  }
  const bool complete = got.size() >= kHeader && got.size() == want;
  if (!complete || !WIFEXITED(status) || WEXITSTATUS(status) != 0) {
    throw IsolatedError(IsolatedError::Kind::Crashed, describeStatus(status));
  }
  if (got[0] == 'E') {
    throw IsolatedError(IsolatedError::Kind::Threw, got.substr(kHeader));
  }
  return got.substr(kHeader);
}

}  // namespace ampbench
