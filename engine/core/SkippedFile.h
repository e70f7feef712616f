#pragma once
// A file found in a dataset that could not be used, with the reason (shared by the run's
// events and the evaluation files).

#include <string>

namespace ampbench {

struct SkippedFile {
  std::string path;
  std::string reason;
};

}  // namespace ampbench
