// The one throughput figure (engine/train/Throughput.h): the meter's arithmetic, and one run
// reporting the same figures in its events, steps.csv, epochs.csv, metrics.json and
// comparison.json.
#include "TestUtil.h"
#include "engine/train/Throughput.h"
#include "engine/train/Trainer.h"
#include "engine/util/Files.h"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <chrono>
#include <fstream>
#include <sstream>
#include <thread>

using namespace ampbench;
using ampbench::test::TempDir;

TEST(ThroughputMeter, PausesAreNotTrainingTime) {
  ThroughputMeter m(100.0);
  m.resume(0.0);
  m.mark(32, 1.0);
  m.mark(32, 2.0);
  m.pause(2.0);
  m.resume(30.0);  // 28 s of validation and checkpoint in between
  m.mark(32, 31.0);
  EXPECT_DOUBLE_EQ(m.windowRate(), 32.0);
  EXPECT_DOUBLE_EQ(m.epochSeconds(), 3.0);
  EXPECT_DOUBLE_EQ(m.epochRate(), 32.0);
}

TEST(ThroughputMeter, TheWindowKeepsTheLastSecondsAcrossEpochs) {
  ThroughputMeter m(2.0);
  m.resume(0.0);
  m.mark(10, 1.0);
  m.mark(10, 2.0);
  m.pause(2.0);
  m.beginEpoch();  // the window runs on; the epoch's sums restart
  m.resume(5.0);
  m.mark(40, 6.0);
  EXPECT_DOUBLE_EQ(m.windowRate(), 25.0) << "the last 2 s: 10 images, then 40";
  EXPECT_DOUBLE_EQ(m.epochRate(), 40.0);
  m.mark(40, 7.0);
  EXPECT_DOUBLE_EQ(m.windowRate(), 40.0) << "the first epoch's steps left the window";
  // A mark longer than the window is the window on its own.
  m.mark(300, 10.0);
  EXPECT_DOUBLE_EQ(m.windowRate(), 100.0);
}

TEST(ThroughputMeter, AResumedEpochStartsFromWhatItHadDone) {
  ThroughputMeter m;
  EXPECT_EQ(m.windowRate(), 0.0) << "no step yet: no figure, not a division by zero";
  m.beginEpoch(64, 2.0);
  m.resume(100.0);
  m.mark(32, 101.0);
  EXPECT_DOUBLE_EQ(m.epochRate(), 96.0 / 3.0);
  EXPECT_DOUBLE_EQ(m.windowRate(), 32.0);
}

namespace {

std::vector<std::vector<std::string>> csvRows(const std::string& path, std::vector<std::string>& header) {
  std::ifstream in(path);
  std::string line;
  std::vector<std::vector<std::string>> rows;
  auto split = [](const std::string& l) {
    std::vector<std::string> cells;
    std::stringstream ss(l);
    std::string c;
    while (std::getline(ss, c, ',')) cells.push_back(c);
    return cells;
  };
  std::getline(in, line);
  header = split(line);
  while (std::getline(in, line)) rows.push_back(split(line));
  return rows;
}

std::vector<double> column(const std::string& path, const std::string& name) {
  std::vector<std::string> header;
  const auto rows = csvRows(path, header);
  const auto at = std::find(header.begin(), header.end(), name) - header.begin();
  std::vector<double> out;
  for (const auto& r : rows) out.push_back(std::stod(r.at(static_cast<size_t>(at))));
  return out;
}

struct Recorder : RunObserver {
  std::vector<StepEvent> steps;
  std::vector<EpochEvent> epochs;
  void onStep(const StepEvent& e) override { steps.push_back(e); }
  void onEpoch(const EpochEvent& e) override { epochs.push_back(e); }
};

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v.size() % 2 ? v[v.size() / 2] : 0.5 * (v[v.size() / 2 - 1] + v[v.size() / 2]);
}

}  // namespace

TEST(Throughput, OneRunReportsOneFigureInItsEventsCsvsAndJson) {
  TempDir dir;
  auto c = ampbench::test::tinyRunConfig(dir / "cmp");  // 96 images, 6 steps per epoch
  c.epochs = 3;
  c.evalEvery = 1;  // validation between epochs: not training time
  Recorder rec;
  const auto s = runComparison(c, {PrecisionMode::Fp32, PrecisionMode::Bf16}, rec, CancelToken{});
  ASSERT_EQ(s.runs.size(), 2u);
  ASSERT_EQ(rec.steps.size(), 36u);
  ASSERT_EQ(rec.epochs.size(), 6u);
  const auto cmp = nlohmann::json::parse(readFile(dir / "cmp/comparison.json"));
  for (size_t r = 0; r < 2; ++r) {
    const std::string run = dir / ("cmp/" + s.modeNames[r]);
    SCOPED_TRACE(run);
    // steps.csv is the step events (7 significant digits).
    const auto stepRates = column(run + "/steps.csv", "images_per_s");
    ASSERT_EQ(stepRates.size(), 18u);
    for (size_t i = 0; i < 18; ++i) {
      EXPECT_NEAR(stepRates[i], rec.steps[r * 18 + i].imagesPerSecond, 1e-6 * stepRates[i]);
    }
    // epochs.csv is the epoch events, and rate x seconds = the epoch's images.
    const auto epochRates = column(run + "/epochs.csv", "images_per_s");
    const auto epochSeconds = column(run + "/epochs.csv", "epoch_seconds");
    ASSERT_EQ(epochRates.size(), 3u);
    double images = 0, seconds = 0;
    for (size_t e = 0; e < 3; ++e) {
      const auto& ev = rec.epochs[r * 3 + e];
      EXPECT_NEAR(epochRates[e], ev.imagesPerSecond, 1e-6 * epochRates[e]);
      EXPECT_NEAR(epochRates[e] * epochSeconds[e], 96.0, 1e-3);
      // The tiny run is far shorter than the 10 s window, so the window at an epoch's last
      // step holds every step so far: its rate is the epochs' images over their training
      // time, validation left out (it is the same clock as the epochs' figures).
      images += 96.0;
      seconds += epochSeconds[e];
      if (seconds < 9.0) {
        EXPECT_NEAR(rec.steps[r * 18 + e * 6 + 5].imagesPerSecond, images / seconds, 1e-6 * images / seconds)
            << "epoch " << e + 1;
      }
    }
    // metrics.json and comparison.json: the median of the epochs after the warm-up one.
    const double expected = median({epochRates[1], epochRates[2]});
    const auto metrics = nlohmann::json::parse(readFile(run + "/metrics.json"));
    EXPECT_NEAR(metrics["images_per_s"].get<double>(), expected, 1e-6 * expected);
    EXPECT_DOUBLE_EQ(cmp["modes"][r]["images_per_s"].get<double>(), metrics["images_per_s"].get<double>());
    EXPECT_DOUBLE_EQ(s.runs[r].imagesPerSecond, metrics["images_per_s"].get<double>());
  }
}

// Whatever happens between epochs (validation, checkpoints, the events) is not training time.
// An observer that sleeps in the epoch-end events makes that time long and known; the epochs'
// training seconds plus those sleeps must then fit in the run's wall time. Were the clock
// running through the end of an epoch, each sleep would count twice and the sum would exceed
// the wall time by seconds. No speed is asserted: the inequality holds on any machine.
TEST(Throughput, TimeBetweenEpochsIsNotTrainingTime) {
  TempDir dir;
  auto c = ampbench::test::tinyRunConfig(dir / "run");  // 96 images, 6 steps per epoch
  c.epochs = 3;
  c.evalEvery = 1;
  struct Sleeper : Recorder {
    double slept = 0;
    void nap() {
      std::this_thread::sleep_for(std::chrono::milliseconds(400));
      slept += 0.4;
    }
    void onEvaluation(const EvaluationEvent&) override { nap(); }
    void onCheckpoint(const CheckpointEvent&) override { nap(); }
    void onEpoch(const EpochEvent& e) override {
      Recorder::onEpoch(e);
      nap();
    }
  } rec;
  const auto start = std::chrono::steady_clock::now();
  const auto s = runTraining(c, rec, CancelToken{});
  const double wall = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  ASSERT_EQ(s.status, RunStatus::Finished) << s.message;
  ASSERT_EQ(rec.epochs.size(), 3u);
  ASSERT_GE(rec.slept, 3 * 0.8);  // an evaluation and an epoch event per epoch, at least
  double training = 0;
  for (const auto& e : rec.epochs) {
    EXPECT_GT(e.epochSeconds, 0.0);
    training += e.epochSeconds;
  }
  EXPECT_LE(training + rec.slept, wall) << "training " << training << " s + slept " << rec.slept << " s";
}
