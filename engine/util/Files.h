#pragma once
#include <cstdint>
#include <string>

namespace ampbench {

// Writes `content` to `path` through `path.tmp`, fsync, rename and a sync of the folder, so
// readers never see a half-written file and a crash leaves the previous version intact.
void writeFileAtomic(const std::string& path, const std::string& content);
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
