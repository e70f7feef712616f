#include "engine/util/Files.h"

#include "engine/util/Errors.h"
#include "engine/util/Hardware.h"

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

#include <fcntl.h>
#include <unistd.h>

namespace fs = std::filesystem;

namespace ampbench {

namespace {

// The test hook's byte budget: -2 not read from the environment yet, -1 no limit.
std::atomic<int64_t> gWriteBudget{-2};

int64_t writeBudget() {
  int64_t b = gWriteBudget.load();
  if (b == -2) {
    const char* env = std::getenv("AMPBENCH_FAIL_WRITES_AFTER_BYTES");
    int64_t fromEnv = -1;
    if (env && *env) {
      try {
        fromEnv = std::stoll(env);
      } catch (const std::exception&) {
      }
    }
    gWriteBudget.compare_exchange_strong(b, fromEnv);
    b = gWriteBudget.load();
  }
  return b;
}

// Writes all of `data` to fd; false with errno in `err` when the disk (or the test hook)
// refuses part of it. What was written before the failure stays, as on a real full disk.
bool writeAll(int fd, const char* data, size_t size, int& err) {
  while (size > 0) {
    size_t chunk = size;
    const int64_t budget = writeBudget();
    if (budget >= 0) {
      if (budget == 0) {
        err = ENOSPC;
        return false;
      }
      chunk = std::min<size_t>(chunk, static_cast<size_t>(budget));
    }
    const ssize_t n = ::write(fd, data, chunk);
    if (n < 0) {
      if (errno == EINTR) {
        continue;
      }
      err = errno;
      return false;
    }
    if (budget >= 0) {
      gWriteBudget.fetch_sub(n);
    }
    data += n;
    size -= static_cast<size_t>(n);
  }
  return true;
}

std::string reasonOf(int err) {
  std::string r = std::strerror(err);
  if (err == ENOSPC || err == EDQUOT) {
    r += " (disk full)";
  }
  return r;
}

// fsync of a file or a directory; false when it could not be opened or synced. Without it
// a crash or power loss right after the rename can leave a renamed but empty file.
bool syncPath(const std::string& path, bool directory) {
  const int fd = ::open(path.c_str(), directory ? (O_RDONLY | O_DIRECTORY) : O_RDONLY);
  if (fd < 0) {
    return false;
  }
  const bool ok = ::fsync(fd) == 0;
  ::close(fd);
  return ok;
}

void syncParentOf(const std::string& path) {
  // The rename lives in the directory: sync it too (best effort: some file systems refuse
  // fsync on a directory, and the data is already safe).
  const auto parent = fs::path(path).parent_path();
  syncPath(parent.empty() ? std::string(".") : parent.string(), true);
}

}  // namespace

void failWritesAfterBytesForTests(int64_t bytes) { gWriteBudget = bytes < 0 ? -1 : bytes; }

AtomicFile::AtomicFile(std::string path) : path_(std::move(path)) {
  // A temporary name of its own per write: two writers of the same file (a GUI evaluation
  // and a report gathering on the same run) must not rename each other's half-written file.
  static std::atomic<uint64_t> counter{0};
  tmp_ = path_ + ".tmp." + std::to_string(::getpid()) + "." + std::to_string(counter++);
  fd_ = ::open(tmp_.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd_ < 0) {
    error_ = errno;
    failedAt_ = "create";
  }
}

AtomicFile::~AtomicFile() {
  if (fd_ >= 0) {
    ::close(fd_);
  }
  if (!tmp_.empty()) {
    ::unlink(tmp_.c_str());  // not committed: nothing half-written stays behind
  }
}

bool AtomicFile::write(const void* data, size_t size) {
  if (error_ != 0) {
    return false;
  }
  if (!writeAll(fd_, static_cast<const char*>(data), size, error_)) {
    failedAt_ = "write";
    return false;
  }
  return true;
}

void AtomicFile::commit() {
  if (error_ == 0 && ::fsync(fd_) != 0) {
    error_ = errno;
    failedAt_ = "flush";
  }
  if (fd_ >= 0 && ::close(fd_) != 0 && error_ == 0) {
    error_ = errno;  // NFS and some FUSE file systems report a full disk only here
    failedAt_ = "close";
  }
  fd_ = -1;
  if (error_ != 0) {
    throw WriteError("cannot write " + path_ + ": " + reasonOf(error_) +
                     (failedAt_ == "write" ? std::string() : " (at " + failedAt_ + ")"));
  }
  std::error_code ec;
  fs::rename(tmp_, path_, ec);
  if (ec) {
    throw WriteError("cannot write " + path_ + ": renaming its temporary file failed: " + ec.message());
  }
  tmp_.clear();
  syncParentOf(path_);
}

void writeFileAtomic(const std::string& path, const std::string& content) {
  AtomicFile f(path);
  f.write(content.data(), content.size());
  f.commit();
}

AppendFile::~AppendFile() {
  flushQuietly();
  if (fd_ >= 0) {
    ::close(fd_);
  }
}

void AppendFile::open(const std::string& path, bool truncate) {
  if (fd_ >= 0) {
    ::close(fd_);
  }
  path_ = path;
  buffer_.str({});
  fd_ = ::open(path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC | (truncate ? O_TRUNC : 0), 0644);
  if (fd_ < 0) {
    throw WriteError("cannot open " + path + " for writing: " + reasonOf(errno));
  }
}

void AppendFile::flush() {
  const std::string pending = buffer_.str();
  if (pending.empty() || fd_ < 0) {
    return;
  }
  buffer_.str({});
  int err = 0;
  if (!writeAll(fd_, pending.data(), pending.size(), err)) {
    // The rows that did not fit are dropped (a resume repairs a cut last line).
    throw WriteError("cannot write " + path_ + ": " + reasonOf(err));
  }
}

void AppendFile::flushQuietly() noexcept {
  try {
    flush();
  } catch (...) {
  }
}

void commitAtomic(const std::string& tmpPath, const std::string& path) {
  if (!syncPath(tmpPath, false)) {
    throw WriteError("cannot flush " + tmpPath + " to disk (disk full or removed?)");
  }
  std::error_code ec;
  fs::rename(tmpPath, path, ec);
  if (ec) {
    throw WriteError("cannot rename " + tmpPath + " to " + path + ": " + ec.message());
  }
  syncParentOf(path);
}

std::string readFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    throw std::runtime_error("cannot read " + path);
  }
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

void ensureWritableDir(const std::string& dir) {
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec || !fs::is_directory(dir)) {
    throw InputError("cannot create output folder '" + dir + "' (" + ec.message() +
                     "): choose a folder you can write to with --out");
  }
  const std::string probe = (fs::path(dir) / ".ampbench-write-test").string();
  {
    std::ofstream out(probe);
    if (!out) {
      throw InputError("output folder '" + dir +
                       "' is not writable: choose a folder you can write to with --out");
    }
  }
  fs::remove(probe, ec);
}

static double statusFieldMb(const char* key) {
  std::ifstream in("/proc/self/status");
  std::string line;
  const std::string k(key);
  while (std::getline(in, line)) {
    if (line.compare(0, k.size(), k) == 0) {
      std::istringstream ss(line.substr(k.size()));
      double kb = 0;
      ss >> kb;
      return kb / 1024.0;
    }
  }
  return 0.0;
}

double peakRssMb() { return statusFieldMb("VmHWM:"); }
double currentRssMb() { return statusFieldMb("VmRSS:"); }

void resetPeakRss() {
  std::ofstream out("/proc/self/clear_refs");
  if (out) {
    out << "5";
  }
}

int hardwareThreads() {
  const unsigned n = std::thread::hardware_concurrency();
  return n == 0 ? 1 : static_cast<int>(n);
}

// cpuid + XGETBV (Hardware.cpp): /proc/cpuinfo lists units the OS may not have enabled.
bool cpuHasBf16() { return detectCpu().nativeBf16(); }

std::string cpuModelName() {
  const auto& name = detectCpu().brand;
  return name.empty() ? "unknown CPU" : name;
}

std::string isoTimestampUtc() {
  const std::time_t t = std::chrono::system_clock::to_time_t(std::chrono::system_clock::now());
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

}  // namespace ampbench
