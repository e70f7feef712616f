#pragma once
// The loaders take paths (as the dataset scan hands them over): each fuzz input is written
// to a file in /dev/shm, one per process, and that path is decoded. A few microseconds of
// syscalls per run, and the user's path is what is fuzzed (extension sniffing included).

#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <string>

namespace ampbench::fuzz {

inline std::string fuzzDir() {
  static const std::string dir = [] {
    const std::string d = "/dev/shm/ampbench-fuzz-" + std::to_string(getpid());
    std::filesystem::create_directories(d);
    // Removed when -max_total_time exits (rebuilt from the pid: `dir` is destroyed first).
    std::atexit([] {
      std::error_code ec;
      std::filesystem::remove_all("/dev/shm/ampbench-fuzz-" + std::to_string(getpid()), ec);
    });
    return d;
  }();
  return dir;
}

inline std::string writeInput(const std::string& name, const uint8_t* data, size_t size) {
  const std::string path = fuzzDir() + "/" + name;
  FILE* f = std::fopen(path.c_str(), "wb");
  if (f == nullptr || (size > 0 && std::fwrite(data, 1, size, f) != size) || std::fclose(f) != 0) {
    std::abort();  // the harness itself failed (full /dev/shm): not a finding
  }
  return path;
}

// An exception the loader's contract does not allow: stop, so libFuzzer keeps the input.
[[noreturn]] inline void unexpected(const char* target, const std::exception& e) {
  std::fprintf(stderr, "%s: unexpected exception type: %s\n", target, e.what());
  std::abort();
}

}  // namespace ampbench::fuzz
