#include "engine/util/Isolated.h"

#include "engine/util/Sanitizers.h"

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <limits>

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <unistd.h>


extern char** environ;

namespace ampbench {
namespace {

using Clock = std::chrono::steady_clock;

// A message: one status byte, a 64-bit length, the bytes. 'H' hello (the worker's first
// message), 'Q' request, 'R' result, 'E' the work's exception message.
constexpr size_t kHeader = 9;
// No reply is larger: a decoded DICOM frame under the largest pixel budget is far below.
constexpr uint64_t kMaxReply = uint64_t{4} << 30;
constexpr uint64_t kMaxRequest = uint64_t{1} << 20;
constexpr std::chrono::seconds kHelloTimeout{20};

// Header and payload in one go, without copying the payload into a frame (a decoded image
// may be most of what the address-space limit allows).
bool sendMessage(int fd, char status, const std::string& payload) {
  char header[kHeader];
  header[0] = status;
  const uint64_t n = payload.size();
  std::memcpy(header + 1, &n, sizeof n);
  iovec iov[2] = {{header, kHeader}, {const_cast<char*>(payload.data()), payload.size()}};
  msghdr msg{};
  msg.msg_iov = iov;
  msg.msg_iovlen = 2;
  while (msg.msg_iovlen > 0) {
    const ssize_t w = ::sendmsg(fd, &msg, MSG_NOSIGNAL);  // a dead peer is an error, not SIGPIPE
    if (w < 0) {
      if (errno == EINTR) {
        continue;
      }
      return false;
    }
    size_t left = static_cast<size_t>(w);
    while (msg.msg_iovlen > 0 && left >= msg.msg_iov[0].iov_len) {
      left -= msg.msg_iov[0].iov_len;
      ++msg.msg_iov;
      --msg.msg_iovlen;
    }
    if (msg.msg_iovlen > 0) {
      msg.msg_iov[0].iov_base = static_cast<char*>(msg.msg_iov[0].iov_base) + left;
      msg.msg_iov[0].iov_len -= left;
    }
  }
  return true;
}

enum class ReadResult { Ok, Eof, TimedOut, Malformed };

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

// One message whose status is one of `accepted` and whose length is at most `maxLength`.
// Anything else is Malformed: the stream cannot be trusted after it.
ReadResult readMessage(int fd, const char* accepted, uint64_t maxLength, const Clock::time_point* deadline,
                       char& status, std::string& payload) {
  char header[kHeader];
  ReadResult r = readExact(fd, header, kHeader, deadline);
  if (r != ReadResult::Ok) {
    return r;
  }
  uint64_t n = 0;
  std::memcpy(&n, header + 1, sizeof n);
  if (std::strchr(accepted, header[0]) == nullptr || header[0] == '\0' || n > maxLength) {
    return ReadResult::Malformed;
  }
  status = header[0];
  try {
    payload.resize(static_cast<size_t>(n));
  } catch (const std::bad_alloc&) {
    return ReadResult::Malformed;
  }
  return readExact(fd, payload.data(), payload.size(), deadline);
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

int reap(pid_t pid) {
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  return status;
}

// What a helper process changes about itself: no core dumps (an abort in a child of a
// training process would write one the size of that process), and the default action for
// crash signals (a fuzzer's or sanitizer's inherited handler would claim the crash).
void becomeHelper() {
  const rlimit noCore{0, 0};
  ::setrlimit(RLIMIT_CORE, &noCore);
  for (const int sig : {SIGABRT, SIGSEGV, SIGBUS, SIGFPE, SIGILL}) {
    ::signal(sig, SIG_DFL);
  }
}

[[noreturn]] void childMain(int fd, const std::function<std::string()>& work, uint64_t addressCap) {
  becomeHelper();
  if (addressCap > 0 && !kShadowMemorySanitizer) {
    const rlimit rl{addressCap, addressCap};
    ::setrlimit(RLIMIT_AS, &rl);
  }
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
  // _exit: no atexit handlers, no static destructors of the parent's copied state.
  ::_exit(sendMessage(fd, status, payload) ? 0 : 1);
}

// This process's address space in bytes, read without iostreams (the fork path computes it
// in the parent: nothing between fork and exec-less work should need a lock). 0 if unknown.
uint64_t addressSpaceBytes() {
  const int fd = ::open("/proc/self/statm", O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    return 0;
  }
  char buf[64] = {};
  const ssize_t n = ::read(fd, buf, sizeof buf - 1);
  ::close(fd);
  if (n <= 0) {
    return 0;
  }
  const unsigned long long pages = std::strtoull(buf, nullptr, 10);
  return pages * static_cast<uint64_t>(::sysconf(_SC_PAGESIZE));
}

uint64_t saturatingAdd(uint64_t a, uint64_t b) {
  return a > std::numeric_limits<uint64_t>::max() - b ? std::numeric_limits<uint64_t>::max() : a + b;
}

// The address-space cap for current size + extra; 0 = none (extra 0, or size unknown).
uint64_t addressCapFor(uint64_t extra) {
  const uint64_t now = extra > 0 ? addressSpaceBytes() : 0;
  return now > 0 ? saturatingAdd(now, extra) : 0;
}

}  // namespace

// ------------------------------------------------------------------ worker (client side)

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
  if (!kShadowMemorySanitizer) {
    // The library's own complaints (GDCM's assertion text) are not the user's output. Under
    // sanitizers they stay: a report from our code in the worker must be seen.
    posix_spawn_file_actions_addopen(&actions, 2, "/dev/null", O_WRONLY, 0);
  }
  posix_spawn_file_actions_addclosefrom_np(&actions, 3);  // no open file of ours leaks in
  posix_spawnattr_t attr;
  posix_spawnattr_init(&attr);
  posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETPGROUP);  // its own group: no terminal Ctrl-C
  posix_spawnattr_setpgroup(&attr, 0);
  char* argv[] = {const_cast<char*>(executable_.c_str()), nullptr};
  pid_t pid = -1;
  const int err = ::posix_spawn(&pid, executable_.c_str(), &actions, &attr, argv, environ);
  posix_spawnattr_destroy(&attr);
  posix_spawn_file_actions_destroy(&actions);
  ::close(sv[1]);
  if (err != 0) {
    ::close(sv[0]);
    throw IsolatedError(IsolatedError::Kind::NoChild, "cannot start " + executable_ + ": " + std::strerror(err));
  }
  pid_ = pid;
  fd_ = sv[0];
  ++starts_;
  // A program that cannot run (a missing library: exit 127) or speaks another protocol
  // (a stale build) is refused here, not blamed on the file it was given.
  const Clock::time_point deadline = Clock::now() + kHelloTimeout;
  char status = 0;
  std::string hello;
  const ReadResult r = readMessage(fd_, "H", 4096, &deadline, status, hello);
  if (r != ReadResult::Ok || hello != hello_) {
    stop(true);
    throw IsolatedError(IsolatedError::Kind::NoChild,
                        executable_ + " is not a working " + hello_ + " helper" +
                            (r == ReadResult::Ok ? " (it says '" + hello + "')" : ""));
  }
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
    reap(pid_);
    pid_ = -1;
  }
}

// An idle worker has nothing to say: a readable or hung-up socket before a request means
// it died between files (the OOM killer, a signal), which is not the next file's fault.
bool WorkerProcess::diedWhileIdle() const {
  pollfd pf{fd_, POLLIN, 0};
  return ::poll(&pf, 1, 0) > 0;
}

std::string WorkerProcess::call(const std::string& request, std::chrono::milliseconds timeout) {
  if (pid_ > 0 && diedWhileIdle()) {
    stop(true);
  }
  if (pid_ < 0) {
    start();
  }
  const Clock::time_point deadline = Clock::now() + timeout;
  char status = 0;
  std::string payload;
  ReadResult r = ReadResult::Eof;
  try {
    if (sendMessage(fd_, 'Q', request)) {
      r = readMessage(fd_, "RE", kMaxReply, &deadline, status, payload);
    }
  } catch (...) {
    stop(true);  // unread bytes would be taken for the next reply
    throw;
  }
  switch (r) {
    case ReadResult::Ok:
      if (status == 'E') {
        throw IsolatedError(IsolatedError::Kind::Threw, payload);
      }
      return payload;
    case ReadResult::TimedOut:
      stop(true);
      throw IsolatedError(IsolatedError::Kind::TimedOut, timeoutMessage(timeout));
    case ReadResult::Malformed:
      stop(true);
      throw IsolatedError(IsolatedError::Kind::Crashed, "sent a malformed reply");
    case ReadResult::Eof:
      break;
  }
  // The worker died on this request: its status says how. Killed first, in case it only
  // closed the socket; a dead process keeps its status.
  ::close(fd_);
  fd_ = -1;
  ::kill(pid_, SIGKILL);
  const int st = reap(pid_);
  pid_ = -1;
  throw IsolatedError(IsolatedError::Kind::Crashed, describeStatus(st));
}

// ------------------------------------------------------------------ worker (server side)

int serveRequests(int fd, const std::string& hello, const std::function<std::string(const std::string&)>& handler) {
  becomeHelper();
  ::signal(SIGINT, SIG_IGN);
  ::signal(SIGTERM, SIG_IGN);
  if (!sendMessage(fd, 'H', hello)) {
    return 1;
  }
  for (;;) {
    char status = 0;
    std::string request;
    const ReadResult r = readMessage(fd, "Q", kMaxRequest, nullptr, status, request);
    if (r == ReadResult::Eof) {
      return 0;  // the client is gone
    }
    if (r != ReadResult::Ok) {
      return 2;  // not our client
    }
    std::string reply;
    status = 'R';
    try {
      reply = handler(request);
    } catch (const std::exception& e) {
      status = 'E';
      reply = e.what();
    } catch (...) {
      status = 'E';
      reply = "unknown exception";
    }
    if (!sendMessage(fd, status, reply)) {
      return 0;
    }
  }
}

// ------------------------------------------------------------------ fork per call

std::string runIsolated(const std::function<std::string()>& work, const IsolationLimits& limits) {
  const uint64_t addressCap = addressCapFor(limits.extraAddressSpace);  // in the parent: no locks after fork
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
    childMain(sv[1], work, addressCap);
  }
  ::close(sv[1]);

  // Exactly one message; not up to EOF, because a child that another thread forks
  // meanwhile holds a copy of this socket until it exits.
  const Clock::time_point deadline = Clock::now() + limits.timeout;
  char status = 0;
  std::string payload;
  ReadResult r = ReadResult::Malformed;
  try {
    r = readMessage(sv[0], "RE", kMaxReply, &deadline, status, payload);
  } catch (...) {
  }
  ::close(sv[0]);
  if (r != ReadResult::Ok) {
    ::kill(pid, SIGKILL);  // a child still running must not outlive the call
  }
  const int st = reap(pid);
  if (r == ReadResult::TimedOut) {
    throw IsolatedError(IsolatedError::Kind::TimedOut, timeoutMessage(limits.timeout));
  }
  if (r != ReadResult::Ok || !WIFEXITED(st) || WEXITSTATUS(st) != 0) {
    throw IsolatedError(IsolatedError::Kind::Crashed,
                        r == ReadResult::Malformed ? "sent a malformed reply" : describeStatus(st));
  }
  if (status == 'E') {
    throw IsolatedError(IsolatedError::Kind::Threw, payload);
  }
  return payload;
}

void setAddressSpaceHeadroom(uint64_t extra) {
  if (kShadowMemorySanitizer) {
    return;
  }
  // A hostile header that makes a library allocate gigabytes then fails with bad_alloc
  // instead of pushing the machine into the OOM killer. The soft limit only, so that a
  // later call may restore it.
  static const rlimit original = [] {
    rlimit rl{};
    ::getrlimit(RLIMIT_AS, &rl);
    return rl;
  }();
  rlimit rl = original;
  const uint64_t cap = addressCapFor(extra);
  if (cap > 0 && (original.rlim_cur == RLIM_INFINITY || cap < original.rlim_cur)) {
    rl.rlim_cur = cap;
  }
  ::setrlimit(RLIMIT_AS, &rl);
}

bool isolationDisabled() {
  const char* v = std::getenv("AMPBENCH_IN_PROCESS");
  return v != nullptr && std::strcmp(v, "1") == 0;
}

}  // namespace ampbench
