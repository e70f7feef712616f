#pragma once
// What this build is: version (CMake project VERSION), git revision and the library
// versions it was built against, for --version of both programs and Help -> About.

#include <string>
#include <utility>
#include <vector>

namespace ampbench {

struct BuildInfo {
  std::string version;   // "0.1.0"
  std::string revision;  // `git describe --always --dirty` at configure time, or "unknown"
  // ("LibTorch", "1.13.0"), ("OpenCV", "4.6.0"), ("GDCM", "3.0.21"): what the engine uses.
  std::vector<std::pair<std::string, std::string>> libraries;
};

BuildInfo buildInfo();

// The --version text: "<program> <version>" first (help2man reads that line), then the
// revision and one "name version" per library, `extra` (the GUI's Qt) appended; no final newline.
std::string versionText(const std::string& program,
                        const std::vector<std::pair<std::string, std::string>>& extra = {});

}  // namespace ampbench
