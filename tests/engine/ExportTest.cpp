// Export round trips that fail on a wrong export: the engine's logits against OpenCV
// DNN's on the exported ONNX, the torch archive's names and values, the model card, and
// inference from an exported folder against the run it came from.

#include "TestUtil.h"
#include "engine/export/Export.h"
#include "engine/export/OnnxExporter.h"
#include "engine/export/TorchArchive.h"
#include "engine/models/ResNet.h"
#include "engine/train/Checkpoint.h"
#include "engine/train/GradCam.h"
#include "engine/train/Trainer.h"
#include "engine/util/Errors.h"
#include "engine/util/Files.h"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>
#include <torch/script.h>
#include <torch/torch.h>

#ifdef AMPBENCH_HAVE_OPENCV
#include <opencv2/dnn.hpp>
#endif

#include <filesystem>
#include <iostream>

namespace fs = std::filesystem;
using namespace ampbench;
using ampbench::test::TempDir;

namespace {

// BN at its initial state is close to identity in eval mode, which would hide a wrong
// mean/var/epsilon wiring: give every BN distinct statistics and affine parameters.
void perturb(ClassifierImpl& model, uint64_t seed) {
  torch::manual_seed(seed);
  torch::NoGradGuard noGrad;
  for (auto& m : model.modules(/*include_self=*/false)) {
    if (auto* bn = m->as<torch::nn::BatchNorm2d>()) {
      const auto n = bn->running_mean.size(0);
      bn->running_mean.copy_(torch::randn({n}) * 0.2);
      bn->running_var.copy_(torch::rand({n}) + 0.5);
      bn->weight.copy_(torch::randn({n}) * 0.2 + 1.0);
      bn->bias.copy_(torch::randn({n}) * 0.1);
      bn->num_batches_tracked.fill_(7);
    }
  }
  model.eval();
}

std::shared_ptr<ClassifierImpl> makeModel(const std::string& name, int64_t channels, int64_t classes = 3,
                                          uint64_t seed = 11) {
  torch::manual_seed(seed);
  auto m = createModel({name, channels, classes});
  perturb(*m, seed + 1);
  return m;
}

torch::Tensor engineLogits(ClassifierImpl& model, const torch::Tensor& x) {
  torch::NoGradGuard noGrad;
  return model.forward(x).contiguous();
}

#ifdef AMPBENCH_HAVE_OPENCV
torch::Tensor opencvLogits(const std::string& onnxBytes, const torch::Tensor& x) {
  std::vector<uchar> buf(onnxBytes.begin(), onnxBytes.end());
  auto net = cv::dnn::readNetFromONNX(buf);
  net.setPreferableBackend(cv::dnn::DNN_BACKEND_OPENCV);
  net.setPreferableTarget(cv::dnn::DNN_TARGET_CPU);
  const auto xc = x.contiguous();
  std::vector<int> dims(xc.sizes().begin(), xc.sizes().end());
  cv::Mat blob(static_cast<int>(dims.size()), dims.data(), CV_32F, xc.data_ptr<float>());
  net.setInput(blob, kOnnxInputName);
  cv::Mat out = net.forward(kOnnxOutputName);
  auto t = torch::from_blob(out.ptr<float>(), {out.size[0], out.size[1]}, torch::kFloat).clone();
  return t;
}
#endif

double maxAbsDiff(const torch::Tensor& a, const torch::Tensor& b) {
  return (a - b).abs().max().item<double>();
}

struct Case {
  std::string model;
  int64_t channels;
  int64_t size;
};

}  // namespace

#ifdef AMPBENCH_HAVE_OPENCV

TEST(ExportOnnx, OpenCvDnnMatchesTheEngineForEveryRegistryModel) {
  if (!onnxExportAvailable()) {
    GTEST_SKIP() << "built without libonnx";
  }
  torch::set_num_threads(2);
  const std::vector<Case> cases = {{"small_cnn", 1, 32}, {"small_cnn", 3, 32}, {"small_cnn", 1, 28},
                                   {"resnet18", 1, 32},  {"resnet18", 3, 32},  {"resnet34", 1, 32}};
  // Every registry model is covered.
  for (const auto& name : modelNames()) {
    EXPECT_TRUE(std::any_of(cases.begin(), cases.end(), [&](const Case& c) { return c.model == name; })) << name;
  }
  for (const auto& c : cases) {
    for (const bool fold : {false, true}) {
      SCOPED_TRACE(c.model + " channels " + std::to_string(c.channels) + " size " + std::to_string(c.size) +
                   (fold ? " folded BN" : ""));
      auto model = makeModel(c.model, c.channels);
      OnnxOptions o;
      o.imageSize = c.size;
      o.foldBatchNorm = fold;
      const auto bytes = buildOnnx(*model, o);
      torch::manual_seed(5);
      const auto x = torch::randn({4, c.channels, c.size, c.size});
      const auto ref = engineLogits(*model, x);
      const auto got = opencvLogits(bytes, x);
      ASSERT_EQ(got.sizes(), ref.sizes());
      const double diff = maxAbsDiff(ref, got);
      std::cout << "[ diff ] " << c.model << " C=" << c.channels << " S=" << c.size << (fold ? " fold-bn" : "")
                << ": max abs logit diff engine vs OpenCV DNN " << diff << " (max |logit| "
                << ref.abs().max().item<double>() << ")\n";
      EXPECT_LE(diff, 1e-4);
      // The batch dimension is dynamic: one image gives the first row.
      const auto one = opencvLogits(bytes, x.slice(0, 0, 1));
      EXPECT_LE(maxAbsDiff(ref.slice(0, 0, 1), one), 1e-4);
    }
  }
}

TEST(ExportOnnx, Fp16WeightsLoadInOpenCvAndStayClose) {
  if (!onnxExportAvailable()) {
    GTEST_SKIP() << "built without libonnx";
  }
  torch::set_num_threads(2);
  for (const auto& name : modelNames()) {
    SCOPED_TRACE(name);
    auto model = makeModel(name, 1);
    OnnxOptions o;
    o.imageSize = 32;
    o.fp16Weights = true;
    const auto bytes = buildOnnx(*model, o);
    OnnxOptions o32 = o;
    o32.fp16Weights = false;
    // Conv/Gemm weights are half the size.
    EXPECT_LT(bytes.size(), buildOnnx(*model, o32).size() * 0.6);
    torch::manual_seed(6);
    const auto x = torch::randn({3, 1, 32, 32});
    const auto full = engineLogits(*model, x);
    // OpenCV 4.6 cannot read FLOAT16 tensors (4.7 can): run the same graph with the
    // float16-rounded values widened to float32 when the file itself is refused.
    torch::Tensor got;
    try {
      got = opencvLogits(bytes, x);
    } catch (const cv::Exception& e) {
      std::cout << "[ note ] OpenCV " << CV_VERSION << " does not load float16 initializers; checking the widened "
                << "graph (" << e.err << ")\n";
      got = opencvLogits(widenOnnxFp16Weights(bytes), x);
    }
    // Exactly the engine's model with conv/fc weights rounded through float16 ...
    {
      torch::NoGradGuard noGrad;
      for (auto& p : model->named_parameters()) {
        const bool bnParam = p.key().find("bn") != std::string::npos || p.key().find("downsample.1") != std::string::npos;
        if (!bnParam) {
          p.value().copy_(p.value().to(torch::kHalf).to(torch::kFloat));
        }
      }
    }
    const auto rounded = engineLogits(*model, x);
    std::cout << "[ diff ] " << name << " fp16 weights: vs engine with fp16-rounded weights " << maxAbsDiff(rounded, got)
              << ", vs fp32 engine " << maxAbsDiff(full, got) << "\n";
    EXPECT_LE(maxAbsDiff(rounded, got), 1e-4);
    // ... and close to the fp32 model.
    EXPECT_LE(maxAbsDiff(full, got), 2e-2 * std::max(1.0, full.abs().max().item<double>()));
  }
}

#endif

TEST(ExportOnnx, UnknownModelTypeThrowsInsteadOfWritingAFile) {
  if (!onnxExportAvailable()) {
    GTEST_SKIP() << "built without libonnx";
  }
  struct OddModelImpl : ClassifierImpl {
    OddModelImpl() : ClassifierImpl(ModelSpec{"odd_mlp", 1, 2}) { fc = register_module("fc", torch::nn::Linear(4, 2)); }
    torch::Tensor forward(torch::Tensor x) override { return fc->forward(x.flatten(1)); }
    torch::nn::Linear fc{nullptr};
  };
  OddModelImpl odd;
  TempDir dir;
  OnnxOptions o;
  o.imageSize = 2;
  try {
    writeOnnx(odd, dir / "model.onnx", o);
    FAIL() << "expected InputError";
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("odd_mlp"), std::string::npos) << e.what();
  }
  EXPECT_FALSE(fs::exists(dir / "model.onnx"));
  EXPECT_FALSE(fs::exists(dir / "model.onnx.tmp"));
}

TEST(ExportOnnx, WithoutLibOnnxTheErrorSaysSo) {
  if (onnxExportAvailable()) {
    GTEST_SKIP() << "this build has libonnx";
  }
  auto model = makeModel("small_cnn", 1);
  OnnxOptions o;
  o.imageSize = 16;
  try {
    buildOnnx(*model, o);
    FAIL() << "expected InputError";
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("libonnx"), std::string::npos) << e.what();
  }
}

TEST(ExportTorch, ArchiveHasTorchvisionNamesAndRoundTrips) {
  auto model = makeModel("resnet18", 1, 2);
  TempDir dir;
  writeTorchArchive(*model, dir / "model.pt");
  auto loaded = torch::jit::load(dir / "model.pt");
  std::map<std::string, torch::Tensor> state;
  for (const auto& p : loaded.named_parameters()) state[p.name] = p.value;
  for (const auto& b : loaded.named_buffers()) state[b.name] = b.value;
  // torchvision.models.resnet18().state_dict() has 122 entries (62 parameters, 60 buffers).
  EXPECT_EQ(state.size(), 122u);
  for (const char* key : {"conv1.weight", "bn1.running_mean", "bn1.num_batches_tracked", "layer1.0.bn1.running_mean",
                          "layer2.0.downsample.0.weight", "layer2.0.downsample.1.running_var",
                          "layer4.1.conv2.weight", "fc.weight", "fc.bias"}) {
    EXPECT_TRUE(state.count(key)) << key;
  }
  EXPECT_EQ(state["conv1.weight"].sizes(), (std::vector<int64_t>{64, 1, 7, 7}));
  EXPECT_EQ(state["bn1.num_batches_tracked"].scalar_type(), torch::kLong);
  for (const auto& [name, t] : namedState(*model)) {
    ASSERT_TRUE(state.count(name)) << name;
    EXPECT_TRUE(torch::equal(state[name], t)) << name;
  }
  // loadPretrained reads it back into a fresh model: identical logits.
  torch::manual_seed(99);
  auto fresh = createModel({"resnet18", 1, 2});
  loadPretrained(dir / "model.pt", *fresh);
  fresh->eval();
  const auto x = torch::randn({2, 1, 32, 32});
  EXPECT_TRUE(torch::equal(engineLogits(*model, x), engineLogits(*fresh, x)));
}

TEST(ExportTorch, MismatchedShapesNameTheFirstMismatchingParameter) {
  auto model = makeModel("resnet18", 1, 3);
  TempDir dir;
  writeTorchArchive(*model, dir / "model.pt");
  auto twoClasses = createModel({"resnet18", 1, 2});
  try {
    loadPretrained(dir / "model.pt", *twoClasses);
    FAIL() << "expected InputError";
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("'fc.weight'"), std::string::npos) << e.what();
  }
  auto rgb = createModel({"resnet18", 3, 3});
  try {
    loadPretrained(dir / "model.pt", *rgb);
    FAIL() << "expected InputError";
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("'conv1.weight'"), std::string::npos) << e.what();
  }
}

TEST(ExportRun, WritesAllFilesAndPredictsLikeTheRun) {
  TempDir dir;
  ampbench::test::makeBlobDataset(dir / "data", 24, 20, 2, /*withSplits=*/true);
  RunConfig c;
  c.dataPath = dir / "data";
  c.imageSize = 20;
  c.batchSize = 16;
  c.epochs = 1;
  c.threads = 2;
  c.outDir = dir / "run";
  RunObserver quiet;
  ASSERT_EQ(runTraining(c, quiet, CancelToken{}).status, RunStatus::Finished);

  ExportOptions o;
  o.onnx = onnxExportSupported();
  const auto files = exportRun(dir / "run", dir / "export", o);
  EXPECT_EQ(files.size(), o.onnx ? 4u : 3u);
  for (const auto& f : files) {
    EXPECT_TRUE(fs::exists(f)) << f;
  }
  for (const auto& entry : fs::directory_iterator(dir / "export")) {  // no temporary file left behind
    EXPECT_EQ(entry.path().filename().string().find(".tmp"), std::string::npos) << entry.path();
  }
  const auto card = nlohmann::json::parse(readFile(dir / "export/model.json"));
  const auto ds = nlohmann::json::parse(readFile(dir / "run/dataset.json"));
  EXPECT_EQ(card["model"], "small_cnn");
  EXPECT_EQ(card["classes"], ds["classes"]);
  EXPECT_EQ(card["input"]["image_size"], 20);
  EXPECT_EQ(card["input"]["channels"], 1);
  EXPECT_EQ(card["input"]["mean"], ds["normalisation"]["mean"]);
  EXPECT_EQ(card["input"]["layout"], "NCHW");
  EXPECT_TRUE(card["training"]["precision"]["emulated"].is_boolean());
  EXPECT_TRUE(card["training"]["loss_scaler"]["final_scale"].is_number());
  EXPECT_TRUE(card["metrics"]["val"]["accuracy"].is_number());
  EXPECT_EQ(card["software"]["libtorch"], torchVersion());
  const auto md = readFile(dir / "export/MODEL_CARD.md");
  EXPECT_NE(md.find("not for diagnosis"), std::string::npos);

  // The exported folder predicts exactly what the run predicts.
  std::vector<std::string> images;
  for (const auto& e : fs::directory_iterator(dir / "data/val/" + ds["classes"][1].get<std::string>())) {
    images.push_back(e.path().string());
    if (images.size() == 4) break;
  }
  const auto fromRun = predictImages(dir / "run", images);
  const auto fromExport = predictImages(dir / "export", images);
  ASSERT_EQ(fromRun.predictions.size(), fromExport.predictions.size());
  EXPECT_EQ(fromRun.classes, fromExport.classes);
  for (size_t i = 0; i < images.size(); ++i) {
    ASSERT_TRUE(fromRun.predictions[i].error.empty()) << fromRun.predictions[i].error;
    ASSERT_TRUE(fromExport.predictions[i].error.empty()) << fromExport.predictions[i].error;
    for (size_t k = 0; k < fromRun.classes.size(); ++k) {
      EXPECT_NEAR(fromRun.predictions[i].probabilities[k], fromExport.predictions[i].probabilities[k], 1e-6);
    }
  }

  // The run's decision threshold (decision.json) is how predict, Grad-CAM and an exported
  // model call a class, not argmax. Threshold 0 calls every image positive: positive class
  // 1, then 0 (each differs from argmax on some image of the other class).
  std::vector<std::string> both = images;
  for (const auto& e : fs::directory_iterator(dir / "data/val/" + ds["classes"][0].get<std::string>())) {
    both.push_back(e.path().string());
    if (both.size() == 8) break;
  }
  const auto classes = ds["classes"].get<std::vector<std::string>>();
  for (const int64_t positive : {1, 0}) {
    DecisionThreshold d;
    d.threshold = 0.0;
    d.positiveClass = positive;
    d.source = "user";
    writeFileAtomic(dir / "run/decision.json", decisionToJson(d, classes));
    const auto set = predictImages(dir / "run", both);
    EXPECT_EQ(set.decision.threshold, 0.0);
    EXPECT_EQ(set.rule, "P(" + classes[positive] + ") >= 0 (user)");
    for (const auto& p : set.predictions) {
      ASSERT_TRUE(p.error.empty()) << p.error;
      EXPECT_EQ(p.predicted, positive) << p.path;
    }
    GradCamExplainer explainer(dir / "run");
    const auto cam = explainer.explain(both[positive == 1 ? 4 : 0]);  // an image of the other class
    EXPECT_EQ(cam.predicted, positive);
    EXPECT_EQ(cam.decisionRule, set.rule);
    const std::string exported = dir / ("export-t" + std::to_string(positive));
    exportRun(dir / "run", exported, o);
    const auto c2 = nlohmann::json::parse(readFile(exported + "/model.json"));
    EXPECT_EQ(c2["decision"]["threshold"], 0.0);
    EXPECT_EQ(c2["decision"]["positive_class_index"], positive);
    EXPECT_EQ(c2["decision"]["positive_class"], classes[positive]);
    EXPECT_EQ(c2["positive_class"], classes[1]);  // the class the card's metrics are for
    EXPECT_NE(readFile(exported + "/MODEL_CARD.md").find("Decision threshold"), std::string::npos);
    for (const auto& p : predictImages(exported, both).predictions) {
      EXPECT_EQ(p.predicted, positive) << "exported model, " << p.path;
    }
  }
  // An older model card without "decision": 0.5, which is argmax for two classes.
  auto old = nlohmann::json::parse(readFile(dir / "export-t0/model.json"));
  old.erase("decision");
  writeFileAtomic(dir / "export-t0/model.json", old.dump());
  for (const auto& p : predictImages(dir / "export-t0", both).predictions) {
    EXPECT_EQ(p.predicted, p.probabilities[1] >= 0.5 ? 1 : 0);
  }
  // A damaged decision.json or card decision: a clear InputError naming the file, not argmax.
  writeFileAtomic(dir / "run/decision.json", R"({"threshold": 7, "positive_class_index": 1})");
  EXPECT_THROW(predictImages(dir / "run", both), InputError);
  // A card with an unusable decision, a non-object one, nested a million deep (its dump would
  // overflow the stack), or a card missing a field: a clear InputError naming model.json.
  std::string deep = R"({"threshold": )" + std::string(1000000, '[') + std::string(1000000, ']') +
                     R"(, "positive_class_index": 1})";
  for (const std::string& decision : {std::string(R"({"threshold": "high", "positive_class_index": 1})"),
                                      std::string(R"("0.3")"), deep, std::string("MISSING_INPUT")}) {
    auto card = old;
    if (decision == "MISSING_INPUT") {
      card.erase("input");
    } else {
      card["decision"] = nullptr;
    }
    std::string text = card.dump();
    if (decision != "MISSING_INPUT") {
      text.replace(text.find("\"decision\":null"), 15, "\"decision\":" + decision);
    }
    writeFileAtomic(dir / "export-t0/model.json", text);
    try {
      predictImages(dir / "export-t0", both);
      ADD_FAILURE() << "an unusable card was accepted: " << decision.substr(0, 60);
    } catch (const InputError& e) {
      EXPECT_NE(std::string(e.what()).find("model.json"), std::string::npos) << e.what();
    }
  }
  fs::remove(dir / "run/decision.json");

  // Bad input: nothing to export, unknown format, a folder that is not a run.
  EXPECT_THROW(parseExportFormats("onnx,tflite"), InputError);
  EXPECT_THROW(exportRun(dir / "data", dir / "x", o), InputError);
  ExportOptions none;
  none.onnx = none.torch = none.card = false;
  EXPECT_THROW(exportRun(dir / "run", dir / "x", none), InputError);
}
