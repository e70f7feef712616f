#pragma once
#include <cstdint>
#include <sstream>
#include <stdexcept>
#include <string>

namespace ampbench {

// A write to disk that failed (disk full, I/O error): the message names the file and the
// system's reason ("No space left on device (disk full)").
class WriteError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// Writes `content` to `path` through a temporary file, fsync, rename and a sync of the
// folder, so readers never see a half-written file and a crash leaves the previous version
// intact. Throws WriteError (the temporary removed, `path` untouched) when a write fails.
void writeFileAtomic(const std::string& path, const std::string& content);

// A file written under a temporary name next to `path` and renamed over it by commit():
// readers see the previous file or the whole new one. An abandoned or failed write removes
// the temporary, so a full disk leaves no partial file and frees what it had taken.
class AtomicFile {
 public:
  explicit AtomicFile(std::string path);
  ~AtomicFile();
  AtomicFile(const AtomicFile&) = delete;
  AtomicFile& operator=(const AtomicFile&) = delete;
  // Appends; after a failure further writes do nothing and return false (commit() reports it).
  bool write(const void* data, size_t size);
  // fsync, rename over `path`, sync of the folder. Throws WriteError on any failure so far.
  void commit();
  const std::string& path() const { return path_; }

 private:
  std::string path_, tmp_;
  int fd_ = -1;
  int error_ = 0;  // errno of the first failure
  std::string failedAt_;
};

// An append-only log (steps.csv): rows are formatted into a buffer and written by flush(),
// which throws WriteError naming the file when the disk refuses them.
class AppendFile {
 public:
  AppendFile() = default;
  ~AppendFile();
  AppendFile(const AppendFile&) = delete;
  AppendFile& operator=(const AppendFile&) = delete;
  // Opens for appending (truncate: empty first). Throws WriteError when it cannot.
  void open(const std::string& path, bool truncate);
  template <class T>
  AppendFile& operator<<(const T& value) {
    buffer_ << value;
    return *this;
  }
  void flush();
  // Flushes what it can without throwing (destructors, a run already stopping on an error).
  void flushQuietly() noexcept;
  const std::string& path() const { return path_; }

 private:
  std::string path_;
  int fd_ = -1;
  std::ostringstream buffer_;
};

// Tests: writes through AtomicFile, AppendFile and writeFileAtomic fail with ENOSPC once this
// many more bytes have been written in this process (a full disk on demand); -1 = never.
// The environment variable AMPBENCH_FAIL_WRITES_AFTER_BYTES sets it for a whole process.
void failWritesAfterBytesForTests(int64_t bytes);
std::string readFile(const std::string& path);
// Syncs tmp to disk and renames it over path (after the caller wrote tmp itself, e.g. a
// torch archive), then syncs the folder. Throws when tmp cannot be synced or renamed.
void commitAtomic(const std::string& tmpPath, const std::string& path);
// Creates the directory (and parents) and checks that a file can be written into it.
// Throws InputError with a message saying what to do.
void ensureWritableDir(const std::string& dir);

// Process memory: peak resident set size since the last reset, in MiB. resetPeakRss()
// asks Linux to restart the high-water mark (clear_refs 5); a no-op elsewhere.
double peakRssMb();
double currentRssMb();
void resetPeakRss();

int hardwareThreads();
// True when the CPU has native bfloat16 arithmetic the OS enabled (AVX512-BF16 or AMX-BF16;
// detected by Hardware.h).
bool cpuHasBf16();
std::string cpuModelName();
std::string isoTimestampUtc();

}  // namespace ampbench
