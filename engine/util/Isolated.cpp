#include "engine/util/Isolated.h"

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <fstream>

#include <fcntl.h>
#include <poll.h>
#include <spawn.h>
#include <sys/socket.h>
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

extern char** environ;

namespace ampbench {
namespace {

using Clock = std::chrono::steady_clock;

// A message: one status byte ('Q' request, 'R' result, 'E' exception), a 64-bit length, the bytes.
constexpr size_t kHeader = 9;

bool sendAll(int fd, const char* p, size_t n) {
  while (n > 0) {
    const ssize_t w = ::send(fd, p, n, MSG_NOSIGNAL);  // a dead peer is an error, not SIGPIPE
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

enum class ReadResult { Ok, Eof, TimedOut };

// Reads exactly n bytes, or reports EOF / the deadline. Without a deadline, waits.
ReadResult readExact(int fd, char* p, size_t n, const Clock::time_point* deadline) {
  while (n > 0) {
    if (deadline != nullptr) {
      const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(*deadline - Clock::now()).count();
      if (left <= 0) {
        return ReadResult::TimedOut;
      }
      pollfd pf{fd, POLLIN, 0};
      const int r = ::poll(&pf, 1, static_cast<int>(std::min<long long>(left, 1000)));
      if (r < 0 && errno != EINTR) {
        return ReadResult::Eof;
      }
      if (r <= 0) {
        continue;
      }
    }
    const ssize_t got = ::read(fd, p, n);
    if (got < 0) {
      if (errno == EINTR || errno == EAGAIN) {
        continue;
      }
      return ReadResult::Eof;
    }
    if (got == 0) {
      return ReadResult::Eof;
    }
    p += got;
    n -= static_cast<size_t>(got);
  }
  return ReadResult::Ok;
}

std::string frame(char status, const std::string& payload) {
  std::string out(kHeader, '\0');
  out[0] = status;
  const uint64_t n = payload.size();
  std::memcpy(&out[1], &n, sizeof n);
  return out + payload;
}

[[noreturn]] void childMain(int fd, const std::function<std::string()>& work, const IsolationLimits& limits) {
  // A crash here is the parent's to report: no inherited crash handler (a fuzzer's, which
  // would save the input as its own finding; a sanitizer's) runs in the child.
  for (const int sig : {SIGABRT, SIGSEGV, SIGBUS, SIGFPE, SIGILL}) {
    ::signal(sig, SIG_DFL);
  }
  setAddressSpaceHeadroom(limits.extraAddressSpace);
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
  const std::string reply = frame(status, payload);
  const bool ok = sendAll(fd, reply.data(), reply.size());
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

std::string timeoutMessage(std::chrono::milliseconds timeout) {
  const long long ms = timeout.count();
  return "did not finish within " + (ms % 1000 == 0 ? std::to_string(ms / 1000) + " s" : std::to_string(ms) + " ms");
}

void reap(pid_t pid, int* status) {
  while (::waitpid(pid, status, 0) < 0 && errno == EINTR) {
  }
}

}  // namespace

WorkerProcess::~WorkerProcess() { stop(false); }

void WorkerProcess::start() {
  int sv[2];
  if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0) {
    throw IsolatedError(IsolatedError::Kind::NoChild, std::string("cannot create a socket pair: ") + std::strerror(errno));
  }
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_adddup2(&actions, sv[1], 0);
  posix_spawn_file_actions_adddup2(&actions, sv[1], 1);
  // The library's own complaints (GDCM's assertion text) are not the user's output.
  posix_spawn_file_actions_addopen(&actions, 2, "/dev/null", O_WRONLY, 0);
  posix_spawn_file_actions_addclosefrom_np(&actions, 3);  // no open file of ours leaks in
  char* argv[] = {const_cast<char*>(executable_.c_str()), nullptr};
  pid_t pid = -1;
  const int err = ::posix_spawn(&pid, executable_.c_str(), &actions, nullptr, argv, environ);
  posix_spawn_file_actions_destroy(&actions);
  ::close(sv[1]);
  if (err != 0) {
    ::close(sv[0]);
    throw IsolatedError(IsolatedError::Kind::NoChild, "cannot start " + executable_ + ": " + std::strerror(err));
  }
  pid_ = pid;
  fd_ = sv[0];
  ++starts_;
}

void WorkerProcess::stop(bool kill) {
  if (fd_ >= 0) {
    ::close(fd_);  // EOF: an idle worker exits by itself
    fd_ = -1;
  }
  if (pid_ > 0) {
    if (kill) {
      ::kill(pid_, SIGKILL);
    }
    int status = 0;
    reap(pid_, &status);
    pid_ = -1;
  }
}

std::string WorkerProcess::call(const std::string& request, std::chrono::milliseconds timeout) {
  if (pid_ < 0) {
    start();
  }
  const Clock::time_point deadline = Clock::now() + timeout;
  char header[kHeader];
  const std::string out = frame('Q', request);
  ReadResult r = sendAll(fd_, out.data(), out.size()) ? readExact(fd_, header, kHeader, &deadline) : ReadResult::Eof;
  std::string payload;
  if (r == ReadResult::Ok) {
    uint64_t n = 0;
    std::memcpy(&n, header + 1, sizeof n);
    payload.resize(static_cast<size_t>(n));
    r = readExact(fd_, payload.data(), payload.size(), &deadline);
  }
  if (r == ReadResult::TimedOut) {
    stop(true);
    throw IsolatedError(IsolatedError::Kind::TimedOut, timeoutMessage(timeout));
  }
  if (r == ReadResult::Eof) {
    // The worker died on this request: its status says how.
    ::close(fd_);
    fd_ = -1;
    int status = 0;
    reap(pid_, &status);
    pid_ = -1;
    throw IsolatedError(IsolatedError::Kind::Crashed, describeStatus(status));
  }
  if (header[0] == 'E') {
    throw IsolatedError(IsolatedError::Kind::Threw, payload);
  }
  return payload;
}

int serveRequests(int fd, const std::function<std::string(const std::string&)>& handler) {
  for (;;) {
    char header[kHeader];
    if (readExact(fd, header, kHeader, nullptr) != ReadResult::Ok) {
      return 0;  // the client is gone
    }
    uint64_t n = 0;
    std::memcpy(&n, header + 1, sizeof n);
    if (header[0] != 'Q' || n > (uint64_t{1} << 20)) {
      return 2;  // not our client
    }
    std::string request(static_cast<size_t>(n), '\0');
    if (readExact(fd, request.data(), request.size(), nullptr) != ReadResult::Ok) {
      return 0;
    }
    std::string reply;
    char status = 'R';
    try {
      reply = handler(request);
    } catch (const std::exception& e) {
      status = 'E';
      reply = e.what();
    } catch (...) {
      status = 'E';
      reply = "unknown exception";
    }
    const std::string out = frame(status, reply);
    if (!sendAll(fd, out.data(), out.size())) {
      return 0;
    }
  }
}

void setAddressSpaceHeadroom(uint64_t extra) {
#ifndef AMPBENCH_SANITIZED
  // A hostile header that makes a library allocate gigabytes then fails with bad_alloc
  // instead of pushing the machine into the OOM killer. The soft limit only, so that a
  // later call may raise it again.
  rlimit rl{};
  ::getrlimit(RLIMIT_AS, &rl);
  if (extra == 0) {
    rl.rlim_cur = rl.rlim_max;
  } else {
    std::ifstream statm("/proc/self/statm");
    uint64_t pages = 0;
    statm >> pages;
    const uint64_t cap = pages * static_cast<uint64_t>(::sysconf(_SC_PAGESIZE)) + extra;
    rl.rlim_cur = rl.rlim_max == RLIM_INFINITY ? cap : std::min<uint64_t>(cap, rl.rlim_max);
  }
  ::setrlimit(RLIMIT_AS, &rl);
#else
  (void)extra;
#endif
}

bool isolationDisabled() {
  const char* v = std::getenv("AMPBENCH_IN_PROCESS");
  return v != nullptr && std::strcmp(v, "1") == 0;
}

std::string runIsolated(const std::function<std::string()>& work, const IsolationLimits& limits) {
  int sv[2];
  if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0) {
    throw IsolatedError(IsolatedError::Kind::NoChild, std::string("cannot create a socket pair: ") + std::strerror(errno));
  }
  const pid_t pid = ::fork();
  if (pid < 0) {
    const int err = errno;
    ::close(sv[0]);
    ::close(sv[1]);
    throw IsolatedError(IsolatedError::Kind::NoChild, std::string("cannot start a process: ") + std::strerror(err));
  }
  if (pid == 0) {
    ::close(sv[0]);
    childMain(sv[1], work, limits);
  }
  ::close(sv[1]);

  // Exactly the header and the announced payload; not up to EOF, because a child that
  // another thread forks meanwhile holds a copy of this socket until it exits.
  const Clock::time_point deadline = Clock::now() + limits.timeout;
  char header[kHeader];
  std::string payload;
  ReadResult r = readExact(sv[0], header, kHeader, &deadline);
  if (r == ReadResult::Ok) {
    uint64_t n = 0;
    std::memcpy(&n, header + 1, sizeof n);
    payload.resize(static_cast<size_t>(n));
    r = readExact(sv[0], payload.data(), payload.size(), &deadline);
  }
  ::close(sv[0]);
  if (r == ReadResult::TimedOut) {
    ::kill(pid, SIGKILL);
  }
  int status = 0;
  reap(pid, &status);
  if (r == ReadResult::TimedOut) {
    throw IsolatedError(IsolatedError::Kind::TimedOut, timeoutMessage(limits.timeout));
  }
  if (r != ReadResult::Ok || !WIFEXITED(status) || WEXITSTATUS(status) != 0) {
    throw IsolatedError(IsolatedError::Kind::Crashed, describeStatus(status));
  }
  if (header[0] == 'E') {
    throw IsolatedError(IsolatedError::Kind::Threw, payload);
  }
  return payload;
}

}  // namespace ampbench
