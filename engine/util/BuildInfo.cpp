#include "engine/util/BuildInfo.h"

#include "ampbench/BuildRevision.h"

#include <torch/version.h>
#ifdef AMPBENCH_HAVE_OPENCV
#include <gdcmConfigure.h>
#include <opencv2/core/version.hpp>
#endif

namespace ampbench {

BuildInfo buildInfo() {
  BuildInfo b;
  b.version = AMPBENCH_PROJECT_VERSION;
  b.revision = AMPBENCH_GIT_REVISION;
  b.libraries.emplace_back("LibTorch", TORCH_VERSION);
#ifdef AMPBENCH_HAVE_OPENCV
  b.libraries.emplace_back("OpenCV", CV_VERSION);
  b.libraries.emplace_back("GDCM", GDCM_VERSION);
#endif
  return b;
}

std::string versionText(const std::string& program, const std::vector<std::pair<std::string, std::string>>& extra) {
  const BuildInfo b = buildInfo();
  std::string text = program + " " + b.version + "\nrevision " + b.revision;
  for (const auto* list : {&b.libraries, &extra}) {
    for (const auto& [name, version] : *list) {
      text += "\n" + name + " " + version;
    }
  }
  return text;
}

}  // namespace ampbench
