#include "engine/util/Files.h"

#include "engine/util/Errors.h"
#include "engine/util/Hardware.h"

#include <atomic>
#include <chrono>
#include <cstdio>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

#include <fcntl.h>
#include <unistd.h>

namespace fs = std::filesystem;

namespace ampbench {

void writeFileAtomic(const std::string& path, const std::string& content) {
  // A temporary name of its own per write: two writers of the same file (a GUI evaluation
  // and a report gathering on the same run) must not rename each other's half-written file.
  static std::atomic<uint64_t> counter{0};
  const std::string tmp = path + ".tmp." + std::to_string(::getpid()) + "." + std::to_string(counter++);
  {
    std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
    if (!out) {
      throw std::runtime_error("cannot write " + tmp);
    }
    out.write(content.data(), static_cast<std::streamsize>(content.size()));
    out.flush();
    if (!out) {
      throw std::runtime_error("failed writing " + tmp + " (disk full?)");
    }
  }
  commitAtomic(tmp, path);
}

namespace {
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
}  // namespace

void commitAtomic(const std::string& tmpPath, const std::string& path) {
  if (!syncPath(tmpPath, false)) {
    throw std::runtime_error("cannot flush " + tmpPath + " to disk (disk full or removed?)");
  }
  std::error_code ec;
  fs::rename(tmpPath, path, ec);
  if (ec) {
    throw std::runtime_error("cannot rename " + tmpPath + " to " + path + ": " + ec.message());
  }
  // The rename itself lives in the directory: sync it too (best effort: some file systems
  // refuse fsync on a directory, and the data is already safe).
  const auto parent = fs::path(path).parent_path();
  syncPath(parent.empty() ? std::string(".") : parent.string(), true);
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
