#include "engine/train/Profile.h"

#include "engine/util/Files.h"

#include <nlohmann/json.hpp>
#include <torch/csrc/autograd/profiler_legacy.h>
#include <torch/cuda.h>

#include <algorithm>
#include <cstdio>
#include <map>
#include <stdexcept>

namespace ampbench {

namespace {

struct Interval {
  std::string name;
  double ts = 0.0;
  double dur = 0.0;
  double children = 0.0;  // time covered by the ops it called
  double end() const { return ts + dur; }
};

std::string csvField(const std::string& s) {
  if (s.find_first_of(",\"\n") == std::string::npos) {
    return s;
  }
  std::string q = "\"";
  for (char ch : s) {
    q += ch == '"' ? std::string("\"\"") : std::string(1, ch);
  }
  return q + "\"";
}

}  // namespace

bool isPhase(const std::string& opName) { return opName.rfind(kPhasePrefix, 0) == 0; }

std::string phaseName(const std::string& opName) {
  return isPhase(opName) ? opName.substr(std::string(kPhasePrefix).size()) : opName;
}

std::vector<ProfiledOp> summariseTrace(const std::string& traceJson, int64_t steps, double wallMs) {
  if (steps <= 0) {
    throw std::runtime_error("no profiled steps");
  }
  const auto j = nlohmann::json::parse(traceJson, nullptr, /*allow_exceptions=*/false);
  if (!j.is_array()) {
    throw std::runtime_error("the profiler's trace is not a JSON array of events");
  }
  std::map<std::string, std::vector<Interval>> byThread;
  for (const auto& e : j) {
    if (!e.is_object() || e.value("ph", "") != "X" || !e.contains("ts") || !e.contains("dur")) {
      continue;  // flow and metadata events carry no time of their own
    }
    Interval iv;
    iv.name = e.value("name", "?");
    iv.ts = e["ts"].get<double>();
    iv.dur = std::max(0.0, e["dur"].get<double>());
    byThread[e.contains("tid") ? e["tid"].dump() : std::string()].push_back(std::move(iv));
  }

  struct Sum {
    int64_t calls = 0;
    double selfUs = 0.0;
    double totalUs = 0.0;
  };
  std::map<std::string, Sum> sums;
  std::vector<std::pair<double, double>> topLevel;  // [start, end) of outermost ops, all threads
  for (auto& [tid, events] : byThread) {
    // Parents start no later than their children and, at equal starts, last longer.
    std::sort(events.begin(), events.end(), [](const Interval& a, const Interval& b) {
      return a.ts != b.ts ? a.ts < b.ts : a.dur > b.dur;
    });
    std::vector<size_t> open;  // the chain of ops enclosing the current one
    for (size_t i = 0; i < events.size(); ++i) {
      while (!open.empty() && events[i].ts >= events[open.back()].end()) {
        open.pop_back();
      }
      if (open.empty()) {
        topLevel.emplace_back(events[i].ts, events[i].end());
      } else {
        events[open.back()].children += events[i].dur;
      }
      open.push_back(i);
    }
    for (const auto& e : events) {
      auto& s = sums[e.name];
      s.calls += 1;
      s.selfUs += std::max(0.0, e.dur - e.children);
      s.totalUs += e.dur;  // a recursive op would count twice; ATen ops do not recurse by name
    }
  }
  std::sort(topLevel.begin(), topLevel.end());
  double coveredUs = 0.0, reach = -1e300;
  for (const auto& [a, b] : topLevel) {
    const double from = std::max(a, reach);
    if (b > from) {
      coveredUs += b - from;
    }
    reach = std::max(reach, b);
  }

  const double n = static_cast<double>(steps);
  const double wall = std::max(wallMs, 1e-9);
  std::vector<ProfiledOp> ops;
  for (const auto& [name, s] : sums) {
    ProfiledOp op;
    op.name = name;
    op.callsPerStep = static_cast<double>(s.calls) / n;
    op.selfMsPerStep = s.selfUs / 1000.0 / n;
    op.totalMsPerStep = s.totalUs / 1000.0 / n;
    op.share = s.selfUs / 1000.0 / wall;
    ops.push_back(op);
  }
  ProfiledOp outside;
  outside.name = "(outside any op)";
  outside.selfMsPerStep = std::max(0.0, wallMs - coveredUs / 1000.0) / n;
  outside.totalMsPerStep = outside.selfMsPerStep;
  outside.share = outside.selfMsPerStep * n / wall;
  ops.push_back(outside);
  std::stable_sort(ops.begin(), ops.end(),
                   [](const ProfiledOp& a, const ProfiledOp& b) { return a.selfMsPerStep > b.selfMsPerStep; });
  return ops;
}

std::string profileCsv(const StepProfile& p) {
  std::string out = "op,calls_per_step,self_ms_per_step,total_ms_per_step,share\n";
  char buf[128];
  for (const auto& op : p.ops) {
    std::snprintf(buf, sizeof buf, ",%.2f,%.4f,%.4f,%.5f\n", op.callsPerStep, op.selfMsPerStep, op.totalMsPerStep,
                  op.share);
    out += csvField(op.name) + buf;
  }
  return out;
}

std::pair<int64_t, int64_t> profileWindow(int64_t requested, int64_t stepsDone, int64_t totalSteps,
                                          int64_t stepsPerEpoch) {
  const int64_t remaining = std::max<int64_t>(0, totalSteps - stepsDone);
  const int64_t steps = std::min(requested, remaining);
  if (steps <= 0) {
    return {0, 0};
  }
  int64_t first = stepsDone + std::min<int64_t>(3, remaining - steps) + 1;
  if (stepsPerEpoch > 0 && steps <= stepsPerEpoch) {
    const int64_t inEpoch = (first - 1) % stepsPerEpoch;  // 0-based position in its epoch
    const int64_t nextEpoch = first - inEpoch + stepsPerEpoch;
    if (inEpoch + steps > stepsPerEpoch && nextEpoch + steps - 1 <= totalSteps) {
      first = nextEpoch;  // the window would straddle validation: start it with the next epoch
    }
  }
  return {first, steps};
}

std::string profileToJson(const StepProfile& p) {
  nlohmann::ordered_json j = nlohmann::ordered_json::object();
  if (!p.error.empty()) {
    j["error"] = p.error;
  } else if (p.steps > 0) {
    j["first_step"] = p.firstStep;
    j["steps"] = p.steps;
    j["wall_ms_per_step"] = p.wallMsPerStep;
    j["csv"] = "profile.csv";
    j["trace"] = "profile.trace.json";
    auto phases = nlohmann::ordered_json::object();
    auto top = nlohmann::ordered_json::array();
    for (const auto& op : p.ops) {
      if (isPhase(op.name)) {
        phases[phaseName(op.name)] = op.totalMsPerStep;
      } else if (top.size() < 10) {
        top.push_back({{"op", op.name},
                       {"calls_per_step", op.callsPerStep},
                       {"self_ms_per_step", op.selfMsPerStep},
                       {"share", op.share}});
      }
    }
    j["phase_ms_per_step"] = phases;
    j["top"] = top;
  }
  return j.dump();
}

StepProfiler::StepProfiler(std::string runDir, int64_t firstStep, int64_t steps, bool cuda)
    : dir_(std::move(runDir)), first_(firstStep), steps_(steps), cuda_(cuda) {
  finished_ = steps_ <= 0;
}

StepProfiler::~StepProfiler() {
  // Only an exception the trainer does not handle gets here with the window open (a
  // cancelled, diverged or out-of-memory run calls finish()): turn the profiler off, write
  // nothing.
  if (recording_) {
    try {
      recording_.reset();
    } catch (...) {
    }
  }
}

void StepProfiler::beforeStep(int64_t globalStep) {
  if (finished_ || recording_ || globalStep != first_) {
    return;
  }
  if (cuda_) {
    torch::cuda::synchronize();
  }
  recording_ = std::make_unique<torch::autograd::profiler::RecordProfile>(trace_);
  start_ = Clock::now();
}

void StepProfiler::afterStep() {
  if (!recording_) {
    return;
  }
  if (++profiled_ >= steps_) {
    finish();
  }
}

void StepProfiler::finish() {
  if (finished_ || !recording_) {
    return;
  }
  finished_ = true;
  try {
    if (cuda_) {
      torch::cuda::synchronize();
    }
    const double wallMs = std::chrono::duration<double, std::milli>(Clock::now() - start_).count();
    recording_.reset();  // stops the profiler and writes the trace into trace_
    result_.firstStep = first_;
    result_.steps = profiled_;
    result_.wallMsPerStep = profiled_ > 0 ? wallMs / static_cast<double>(profiled_) : 0.0;
    const std::string trace = trace_.str();
    trace_.str(std::string());
    result_.ops = summariseTrace(trace, profiled_, wallMs);
    result_.tracePath = dir_ + "/profile.trace.json";
    result_.csvPath = dir_ + "/profile.csv";
    writeFileAtomic(result_.tracePath, trace);
    writeFileAtomic(result_.csvPath, profileCsv(result_));
  } catch (const std::exception& e) {
    result_.error = std::string("profile not written: ") + e.what();
  }
}

}  // namespace ampbench
