// Grad-CAM on a small CNN trained for a few seconds on generated images where one class
// carries a bright square at a random place: the map must peak on the square and follow
// it. Also the overlay, PNG output, hostile input, precision, and that no DICOM patient
// identifier reaches a run's files, predictions or a Grad-CAM output.

#include "engine/models/Registry.h"
#include "engine/train/GradCam.h"
#include "engine/train/Trainer.h"
#include "engine/util/Errors.h"
#include "engine/util/Files.h"

#include "TestUtil.h"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>
#include <torch/torch.h>

#ifdef AMPBENCH_HAVE_OPENCV
#include <opencv2/imgcodecs.hpp>
#endif

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <random>

namespace fs = std::filesystem;
using namespace ampbench;
using ampbench::test::TempDir;

namespace {

constexpr int kSize = 64;    // small_cnn's last stage is 4 x 4 here (32 px would leave 2 x 2)
constexpr int kSquare = 16;  // side of the bright square

struct Box {
  int x = 0, y = 0, side = 0;
  bool contains(int px, int py, int margin = 0) const {
    return px >= x - margin && px < x + side + margin && py >= y - margin && py < y + side + margin;
  }
};

// Dark noisy background; with a box, a bright square there.
std::vector<uint8_t> squareImage(std::mt19937& rng, const Box* box) {
  std::normal_distribution<float> noise(60.f, 15.f);
  std::vector<uint8_t> px(kSize * kSize);
  for (int y = 0; y < kSize; ++y) {
    for (int x = 0; x < kSize; ++x) {
      float v = noise(rng);
      if (box && box->contains(x, y)) {
        v += 150.f;
      }
      px[static_cast<size_t>(y) * kSize + x] = static_cast<uint8_t>(std::clamp(v, 0.f, 255.f));
    }
  }
  return px;
}

Box randomBox(std::mt19937& rng) {
  std::uniform_int_distribution<int> pos(0, kSize - kSquare);
  return {pos(rng), pos(rng), kSquare};
}

void writeText(const std::string& path, const std::string& text) {
  std::ofstream out(path, std::ios::binary);
  out << text;
}

std::string slurp(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

double correlation(const std::vector<float>& a, const std::vector<float>& b) {
  const size_t n = a.size();
  double ma = 0, mb = 0;
  for (size_t i = 0; i < n; ++i) {
    ma += a[i];
    mb += b[i];
  }
  ma /= n;
  mb /= n;
  double sab = 0, saa = 0, sbb = 0;
  for (size_t i = 0; i < n; ++i) {
    sab += (a[i] - ma) * (b[i] - mb);
    saa += (a[i] - ma) * (a[i] - ma);
    sbb += (b[i] - mb) * (b[i] - mb);
  }
  return sab / std::sqrt(saa * sbb);
}

int argmaxIndex(const HeatMap& m) {
  return static_cast<int>(std::max_element(m.values.begin(), m.values.end()) - m.values.begin());
}

// One short fp32 run shared by the suite: "plain" and "square" classes, plus a DICOM with
// patient identifiers in its header inside the "square" folder (the privacy check).
class GradCamTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    if (!imageDecodingAvailable()) {
      return;
    }
    dir_ = new TempDir;
    const auto data = *dir_ / "data";
    std::mt19937 rng(11);
    for (int i = 0; i < 70; ++i) {
      test::writePgm(data + "/plain/p" + std::to_string(i) + ".pgm", kSize, kSize, squareImage(rng, nullptr));
      const Box b = randomBox(rng);
      test::writePgm(data + "/square/s" + std::to_string(i) + ".pgm", kSize, kSize, squareImage(rng, &b));
    }
    const Box b{20, 24, kSquare};
    test::writeTestDicom(data + "/square/patient.dcm", squareImage(rng, &b), kSize, kSize);

    RunConfig c;
    c.dataPath = data;
    c.outDir = *dir_ / "run";
    c.imageSize = kSize;
    c.batchSize = 16;
    c.epochs = 6;
    c.lr = 0.05;
    c.threads = 2;
    c.seed = 5;
    c.augment.enabled = false;
    RunObserver quiet;
    const auto t0 = std::chrono::steady_clock::now();
    summary_ = new RunSummary(runTraining(c, quiet, CancelToken()));
    trainSeconds_ = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  }
  static void TearDownTestSuite() {
    delete summary_;
    delete dir_;
    summary_ = nullptr;
    dir_ = nullptr;
  }
  void SetUp() override {
    if (!imageDecodingAvailable()) {
      GTEST_SKIP() << "this build cannot decode image files";
    }
  }
  static std::string run() { return *dir_ / "run"; }
  // A held-out image of the "square" class with the square at `box`.
  static std::string heldOut(const std::string& name, const Box* box, uint32_t seed = 99) {
    std::mt19937 rng(seed);
    const auto path = *dir_ / ("heldout/" + name + ".pgm");
    test::writePgm(path, kSize, kSize, squareImage(rng, box));
    return path;
  }

  static TempDir* dir_;
  static RunSummary* summary_;
  static double trainSeconds_;
};
TempDir* GradCamTest::dir_ = nullptr;
RunSummary* GradCamTest::summary_ = nullptr;
double GradCamTest::trainSeconds_ = 0;

TEST(GradCamLayer, NamesABlockEachModelReports) {
  EXPECT_EQ(gradCamLayer("resnet18"), "layer4.1");
  EXPECT_EQ(gradCamLayer("resnet34"), "layer4.2");
  EXPECT_EQ(gradCamLayer("small_cnn"), "conv4");
  EXPECT_THROW(gradCamLayer("vgg16"), InputError);
  // The name must be one the model reports, with a spatial map.
  struct Names : ActivationProbe {
    std::map<std::string, std::vector<int64_t>> shapes;
    void record(const std::string& n, const torch::Tensor& x) override { shapes[n] = x.sizes().vec(); }
  };
  for (const auto& name : modelNames()) {
    auto model = createModel({name, 1, 2});
    model->eval();
    Names probe;
    model->setProbe(&probe);
    torch::NoGradGuard noGrad;
    model->forward(torch::zeros({1, 1, 64, 64}));
    model->setProbe(nullptr);
    const auto it = probe.shapes.find(gradCamLayer(name));
    ASSERT_NE(it, probe.shapes.end()) << name;
    EXPECT_EQ(it->second.size(), 4u) << name;
    EXPECT_GE(it->second[2], 2) << name;
  }
}

TEST_F(GradCamTest, TrainsQuicklyAndSeparatesTheClasses) {
  ASSERT_TRUE(fs::exists(run() + "/checkpoint.pt"));
  std::printf("[ measured ] training %.1f s, val accuracy %.3f\n", trainSeconds_, summary_->finalVal.accuracy);
  EXPECT_GE(summary_->finalVal.accuracy, 0.9);
}

TEST_F(GradCamTest, PeaksInsideTheSquareAndMovesWithIt) {
  GradCamExplainer explainer(run());
  ASSERT_EQ(explainer.classes(), (std::vector<std::string>{"plain", "square"}));
  EXPECT_EQ(explainer.layer(), "conv4");
  EXPECT_EQ(explainer.precision(), PrecisionMode::Fp32);
  const Box boxes[] = {{6, 8, kSquare}, {42, 40, kSquare}, {40, 6, kSquare}, {8, 42, kSquare}};
  int previous = -1;
  for (int i = 0; i < 4; ++i) {
    const auto r = explainer.explain(heldOut("sq" + std::to_string(i), &boxes[i]), 1);
    ASSERT_TRUE(r.error.empty()) << r.error;
    EXPECT_EQ(r.predicted, 1);
    EXPECT_EQ(r.targetClass, 1);
    ASSERT_EQ(r.cam.width, kSize);
    ASSERT_EQ(r.cam.height, kSize);
    EXPECT_EQ(r.input.width, kSize);
    EXPECT_EQ(r.input.channels, 1);
    const int peak = argmaxIndex(r.cam);
    const int px = peak % kSize, py = peak / kSize;
    // The last stage's cells are 16 px: the peak lies on the square or within half a cell.
    EXPECT_TRUE(boxes[i].contains(px, py, 8)) << "square at " << boxes[i].x << "," << boxes[i].y << ", peak at "
                                              << px << "," << py;
    double inside = 0, outside = 0;
    int nIn = 0, nOut = 0;
    for (int y = 0; y < kSize; ++y) {
      for (int x = 0; x < kSize; ++x) {
        const float v = r.cam.values[static_cast<size_t>(y) * kSize + x];
        EXPECT_TRUE(v >= 0.f && v <= 1.f);
        (boxes[i].contains(x, y) ? inside : outside) += v;
        ++(boxes[i].contains(x, y) ? nIn : nOut);
      }
    }
    std::printf("[ measured ] square %d: peak (%d,%d), mean map inside %.3f, outside %.3f\n", i, px, py,
                inside / nIn, outside / nOut);
    EXPECT_GT(inside / nIn, 2.0 * outside / nOut);
    EXPECT_NE(peak, previous);
    previous = peak;
  }
}

TEST_F(GradCamTest, AllBlackImageGivesAFiniteMapInRange) {
  GradCamExplainer explainer(run());
  const auto path = *dir_ / "black.pgm";
  test::writePgm(path, kSize, kSize, std::vector<uint8_t>(kSize * kSize, 0));
  for (int64_t target : {0, 1}) {
    const auto r = explainer.explain(path, target);
    ASSERT_TRUE(r.error.empty()) << r.error;
    ASSERT_EQ(r.cam.values.size(), static_cast<size_t>(kSize * kSize));
    for (float v : r.cam.values) {
      ASSERT_TRUE(std::isfinite(v) && v >= 0.f && v <= 1.f);
    }
    double sum = 0;
    for (double p : r.probabilities) {
      sum += p;
    }
    EXPECT_NEAR(sum, 1.0, 1e-5);
  }
}

TEST_F(GradCamTest, Fp16EmulatedMapIsCloseToFp32) {
  GradCamExplainer fp32(run(), PrecisionMode::Fp32);
  GradCamExplainer fp16(run(), PrecisionMode::Fp16);
  EXPECT_EQ(fp16.precision(), PrecisionMode::Fp16);
  const Box box{30, 12, kSquare};
  const auto path = heldOut("fp16", &box);
  const auto a = fp32.explain(path, 1);
  const auto b = fp16.explain(path, 1);
  ASSERT_TRUE(a.error.empty() && b.error.empty()) << a.error << b.error;
  const double r = correlation(a.cam.values, b.cam.values);
  double maxDiff = 0;
  for (size_t i = 0; i < a.cam.values.size(); ++i) {
    maxDiff = std::max(maxDiff, std::abs(double(a.cam.values[i]) - b.cam.values[i]));
  }
  std::printf("[ measured ] fp32 vs fp16-emulated map: correlation %.5f, max |diff| %.4f, p(square) %.4f vs %.4f\n",
              r, maxDiff, a.probabilities[1], b.probabilities[1]);
  EXPECT_GT(r, 0.98);
  EXPECT_NE(a.cam.values, b.cam.values);  // fp16 rounding did run: the maps are not bit-identical
}

TEST_F(GradCamTest, Fp16OverflowIsAnErrorNotAPicture) {
  // A copy of the run whose normalisation divides by ~0: inputs of ~1e7 are finite in fp32
  // but overflow fp16 (max 65504) at the first rounding.
  const auto copy = *dir_ / "overflow_run";
  fs::create_directories(copy);
  for (const auto* f : {"config.json", "checkpoint.pt"}) {
    fs::copy_file(run() + "/" + f, copy + "/" + f, fs::copy_options::overwrite_existing);
  }
  auto ds = nlohmann::json::parse(readFile(run() + "/dataset.json"));
  ds["normalisation"]["std"] = std::vector<double>{1e-5};
  writeFileAtomic(copy + "/dataset.json", ds.dump());
  const Box box{10, 10, kSquare};
  const auto path = heldOut("overflow", &box);
  const auto r16 = GradCamExplainer(copy, PrecisionMode::Fp16).explain(path, 1);
  EXPECT_NE(r16.error.find("overflow"), std::string::npos) << r16.error;
  EXPECT_NE(r16.error.find("emulated"), std::string::npos) << r16.error;
  EXPECT_TRUE(r16.cam.values.empty());
  const auto r32 = GradCamExplainer(copy, PrecisionMode::Fp32).explain(path, 1);
  EXPECT_TRUE(r32.error.empty()) << r32.error;
}

TEST_F(GradCamTest, ABlockWithOneCellFallsBackToTheDeepestSpatialBlock) {
  // small_cnn on 28 px (MedMNIST): conv4's map is 1 x 1, a uniform picture; conv3's is 3 x 3.
  // The weights do not depend on the input size, so the run is reused at 28 px.
  const auto copy = *dir_ / "run28";
  fs::create_directories(copy);
  for (const auto* f : {"dataset.json", "checkpoint.pt"}) {
    fs::copy_file(run() + "/" + f, copy + "/" + f, fs::copy_options::overwrite_existing);
  }
  auto config = nlohmann::json::parse(readFile(run() + "/config.json"));
  config["data"]["image_size"] = 28;
  writeFileAtomic(copy + "/config.json", config.dump());
  GradCamExplainer explainer(copy);
  EXPECT_EQ(explainer.layer(), "conv3");
  const Box box{4, 4, kSquare};
  const auto r = explainer.explain(heldOut("small", &box), 1);
  ASSERT_TRUE(r.error.empty()) << r.error;
  ASSERT_EQ(r.cam.width, 28);
  const auto [lo, hi] = std::minmax_element(r.cam.values.begin(), r.cam.values.end());
  EXPECT_GT(*hi - *lo, 0.1f);  // not uniform
}

TEST_F(GradCamTest, BadInputGivesAReasonNotAThrow) {
  GradCamExplainer explainer(run());
  const auto text = *dir_ / "notes.png";
  writeText(text, "this is not an image\n");
  const auto empty = *dir_ / "empty.dcm";
  writeText(empty, "");
  for (const auto& path : {text, empty, *dir_ / "missing.png"}) {
    GradCamResult r;
    EXPECT_NO_THROW(r = explainer.explain(path));
    EXPECT_FALSE(r.error.empty()) << path;
    EXPECT_EQ(r.error.find('\n'), std::string::npos) << r.error;
    EXPECT_TRUE(r.cam.values.empty());
    EXPECT_EQ(r.path, path);
  }
  const Box box{10, 10, kSquare};
  EXPECT_THROW(explainer.explain(heldOut("badclass", &box), 2), InputError);
  EXPECT_THROW(explainer.explain(heldOut("badclass", &box), -1), InputError);
}

TEST_F(GradCamTest, RunWithoutCheckpointIsRefusedClearly) {
  const auto copy = *dir_ / "no_checkpoint";
  fs::create_directories(copy);
  for (const auto* f : {"config.json", "dataset.json"}) {
    fs::copy_file(run() + "/" + f, copy + "/" + f, fs::copy_options::overwrite_existing);
  }
  try {
    GradCamExplainer explainer(copy);
    FAIL() << "no throw";
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("checkpoint"), std::string::npos) << e.what();
  }
  EXPECT_THROW(GradCamExplainer(*dir_ / "nowhere"), InputError);
}

TEST_F(GradCamTest, NoPatientIdentifierInRunFilesPredictionsOrOverlays) {
  const auto ids = test::DicomIdentifiers().all();
  // The DICOM was part of the training data (it is not skipped).
  const auto dataset = nlohmann::json::parse(readFile(run() + "/dataset.json"));
  ASSERT_EQ(dataset.at("skipped_count").get<int>(), 0) << "the DICOM was skipped: " << dataset.at("skipped");
  int checked = 0;
  for (const auto& e : fs::recursive_directory_iterator(run())) {
    const auto ext = e.path().extension().string();
    if (!e.is_regular_file() || (ext != ".json" && ext != ".csv" && ext != ".md" && ext != ".txt")) {
      continue;
    }
    const auto content = slurp(e.path().string());
    for (const auto& id : ids) {
      EXPECT_EQ(content.find(id), std::string::npos) << id << " in " << e.path();
    }
    ++checked;
  }
  EXPECT_GE(checked, 3);  // config.json, dataset.json, metrics CSV at least

  const auto dicom = *dir_ / "data/square/patient.dcm";
  ASSERT_NE(slurp(dicom).find("DOE^JANE^PRIVACY"), std::string::npos);  // the header holds it
  const auto set = predictImages(run(), {dicom});
  ASSERT_EQ(set.predictions.size(), 1u);
  ASSERT_TRUE(set.predictions[0].error.empty()) << set.predictions[0].error;
  EXPECT_EQ(set.predictions[0].path, dicom);

  GradCamExplainer explainer(run());
  const auto r = explainer.explain(dicom, 1);
  ASSERT_TRUE(r.error.empty()) << r.error;
  EXPECT_EQ(r.path, dicom);
  const auto png = *dir_ / "patient_gradcam.png";
  writePng(png, overlayHeatMap(r.input, r.cam));
  const auto bytes = slurp(png);
  for (const auto& id : ids) {
    EXPECT_EQ(bytes.find(id), std::string::npos) << id;
    EXPECT_EQ(r.error.find(id), std::string::npos) << id;
  }
}

TEST(GradCamOverlay, SizesChannelsColourOrderAndAlpha) {
  if (!imageDecodingAvailable()) {
    GTEST_SKIP() << "no OpenCV";
  }
  Image8 gray{20, 10, 1, std::vector<uint8_t>(200, 100)};
  HeatMap cam{5, 5, std::vector<float>(25, 0.f)};
  const auto out = overlayHeatMap(gray, cam, 1.0);
  EXPECT_EQ(out.width, 20);
  EXPECT_EQ(out.height, 10);
  EXPECT_EQ(out.channels, 3);
  ASSERT_EQ(out.pixels.size(), 600u);
  // Viridis at 0 is dark purple, RGB (68, 1, 84): red before blue in the output.
  EXPECT_NEAR(out.pixels[0], 68, 2);
  EXPECT_NEAR(out.pixels[1], 1, 2);
  EXPECT_NEAR(out.pixels[2], 84, 2);
  // Viridis at 1 is yellow (253, 231, 37).
  const auto top = overlayHeatMap(gray, HeatMap{5, 5, std::vector<float>(25, 1.f)}, 1.0);
  EXPECT_NEAR(top.pixels[0], 253, 2);
  EXPECT_NEAR(top.pixels[2], 37, 2);
  // alpha 0: the gray image, expanded to three equal channels.
  const auto plain = overlayHeatMap(gray, cam, 0.0);
  EXPECT_EQ(plain.pixels, std::vector<uint8_t>(600, 100));
  // Halfway blend.
  const auto half = overlayHeatMap(gray, cam, 0.5);
  EXPECT_NEAR(half.pixels[0], (100 + 68) / 2, 2);
  // Turbo differs from viridis; an RGB image keeps its size.
  Image8 rgb{8, 6, 3, std::vector<uint8_t>(144, 30)};
  const auto turbo = overlayHeatMap(rgb, HeatMap{8, 6, std::vector<float>(48, 0.5f)}, 1.0, "turbo");
  const auto viridis = overlayHeatMap(rgb, HeatMap{8, 6, std::vector<float>(48, 0.5f)}, 1.0, "viridis");
  EXPECT_EQ(turbo.pixels.size(), 144u);
  EXPECT_NE(turbo.pixels, viridis.pixels);
  // A map that varies is upsampled: left column low, right column high.
  HeatMap ramp{2, 1, {0.f, 1.f}};
  const auto r = overlayHeatMap(gray, ramp, 1.0);
  EXPECT_NEAR(r.pixels[0], 68, 2);
  EXPECT_NEAR(r.pixels[(19) * 3], 253, 2);

  EXPECT_THROW(overlayHeatMap(gray, cam, 0.5, "jet"), InputError);
  EXPECT_THROW(overlayHeatMap(gray, cam, 1.5), InputError);
  EXPECT_THROW(overlayHeatMap(gray, HeatMap{}, 0.5), InputError);
  EXPECT_THROW(overlayHeatMap(Image8{}, cam, 0.5), InputError);
}

TEST(GradCamOverlay, WritePngRoundTrips) {
#ifdef AMPBENCH_HAVE_OPENCV
  TempDir dir;
  Image8 rgb{7, 5, 3, {}};
  for (int i = 0; i < 7 * 5; ++i) {
    rgb.pixels.push_back(static_cast<uint8_t>(i * 7));
    rgb.pixels.push_back(static_cast<uint8_t>(255 - i));
    rgb.pixels.push_back(static_cast<uint8_t>(i % 3 * 100));
  }
  const auto path = dir / "a.png";
  writePng(path, rgb);
  for (const auto& entry : fs::directory_iterator(dir.path())) {  // no temporary file left behind
    EXPECT_EQ(entry.path().filename().string().find(".tmp"), std::string::npos) << entry.path();
  }
  const cv::Mat back = cv::imread(path, cv::IMREAD_UNCHANGED);
  ASSERT_EQ(back.cols, 7);
  ASSERT_EQ(back.rows, 5);
  ASSERT_EQ(back.channels(), 3);
  for (int i = 0; i < 7 * 5; ++i) {
    const auto& bgr = back.at<cv::Vec3b>(i / 7, i % 7);
    EXPECT_EQ(bgr[2], rgb.pixels[i * 3 + 0]);
    EXPECT_EQ(bgr[1], rgb.pixels[i * 3 + 1]);
    EXPECT_EQ(bgr[0], rgb.pixels[i * 3 + 2]);
  }
  Image8 gray{3, 2, 1, {0, 50, 100, 150, 200, 250}};
  writePng(dir / "g.png", gray);
  const cv::Mat g = cv::imread(dir / "g.png", cv::IMREAD_UNCHANGED);
  ASSERT_EQ(g.channels(), 1);
  EXPECT_EQ(g.at<uint8_t>(1, 2), 250);
  EXPECT_THROW(writePng(dir / "bad.png", Image8{3, 2, 1, {1, 2}}), InputError);
  EXPECT_ANY_THROW(writePng(dir / "no/such/folder/x.png", gray));
#else
  GTEST_SKIP() << "no OpenCV";
#endif
}

}  // namespace
