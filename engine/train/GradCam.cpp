#include "engine/train/GradCam.h"

#include "engine/data/ImageCache.h"
#include "engine/precision/Precision.h"
#include "engine/train/PrecisionPolicy.h"
#include "engine/train/RunModel.h"
#include "engine/train/TrainerInternal.h"
#include "engine/util/Errors.h"
#include "engine/util/Files.h"

#include <torch/torch.h>

#ifdef AMPBENCH_HAVE_OPENCV
#include <opencv2/core.hpp>
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>
#endif

#include <algorithm>
#include <cmath>

namespace ampbench {

namespace {

// Keeps the target block's output (part of the graph) from one forward pass.
class BlockCapture : public ActivationProbe {
 public:
  explicit BlockCapture(std::string name) : name_(std::move(name)) {}
  void record(const std::string& name, const torch::Tensor& x) override {
    if (name == name_) {
      activation = x;
    }
  }
  torch::Tensor activation;

 private:
  std::string name_;
};

// Detaches the probe however explain() leaves (the model outlives the capture).
class ProbeAttachment {
 public:
  ProbeAttachment(ClassifierImpl& model, ActivationProbe* probe) : model_(model) { model_.setProbe(probe); }
  ~ProbeAttachment() { model_.setProbe(nullptr); }
  ProbeAttachment(const ProbeAttachment&) = delete;
  ProbeAttachment& operator=(const ProbeAttachment&) = delete;

 private:
  ClassifierImpl& model_;
};

Image8 tensorToImage(const torch::Tensor& chw) {
  const auto hwc = chw.permute({1, 2, 0}).contiguous();
  Image8 img;
  img.channels = static_cast<int>(hwc.size(2));
  img.height = static_cast<int>(hwc.size(0));
  img.width = static_cast<int>(hwc.size(1));
  img.pixels.assign(hwc.data_ptr<uint8_t>(), hwc.data_ptr<uint8_t>() + hwc.numel());
  return img;
}

// Every block output's spatial size, in forward order.
class ShapeProbe : public ActivationProbe {
 public:
  void record(const std::string& name, const torch::Tensor& x) override {
    if (x.dim() == 4) {
      blocks.emplace_back(name, x.size(2) * x.size(3));
    }
  }
  std::vector<std::pair<std::string, int64_t>> blocks;
};

// The registry's block, unless its map is 1 x 1 at this input size (small_cnn on 28 px
// MedMNIST): a single cell makes a uniform map, so the deepest block with a spatial
// extent explains instead.
std::string chooseLayer(ClassifierImpl& model, const std::string& registered, int64_t channels, int64_t size) {
  ShapeProbe shapes;
  {
    torch::NoGradGuard noGrad;
    model.setProbe(&shapes);
    try {
      model.forward(torch::zeros({1, channels, size, size}));
    } catch (...) {
      model.setProbe(nullptr);
      throw;
    }
    model.setProbe(nullptr);
  }
  std::string deepest;
  for (const auto& [name, cells] : shapes.blocks) {
    if (name == registered && cells > 1) {
      return registered;
    }
    if (cells > 1) {
      deepest = name;
    }
    if (name == registered) {
      break;
    }
  }
  return deepest.empty() ? registered : deepest;
}

std::string classList(const std::vector<std::string>& classes) {
  std::string s;
  for (const auto& c : classes) {
    s += (s.empty() ? "" : ", ") + c;
  }
  return s;
}

}  // namespace

struct GradCamExplainer::Impl {
  RunInfo info;
  std::shared_ptr<ClassifierImpl> model;
  PrecisionInfo precision;
  std::string layer;
  torch::Device device{torch::kCPU};
};

GradCamExplainer::GradCamExplainer(const std::string& runOrModel, std::optional<PrecisionMode> precision)
    : impl_(std::make_unique<Impl>()) {
  auto& m = *impl_;
  m.info = readRunInfo(runOrModel);
  // An exported model carries no training precision: its weights are explained in fp32
  // unless a mode is asked for.
  const auto mode = precision ? *precision : (m.info.exportedModel ? PrecisionMode::Fp32 : m.info.config.precision);
  configureThreads(m.info.config.threads);
  m.precision = resolvePrecision(mode, m.device, m.info.config.scaler, false, m.info.config.bf16Kernels);
  m.model = loadModel(m.info, m.device);
  m.layer = chooseLayer(*m.model, gradCamLayer(m.info.config.model), m.info.config.channels, m.info.config.imageSize);
  m.model->setEmulatedDtype(emulatedScalarType(m.precision));
}

GradCamExplainer::~GradCamExplainer() = default;

const std::vector<std::string>& GradCamExplainer::classes() const { return impl_->info.classes; }

std::string GradCamExplainer::layer() const { return impl_->layer; }

PrecisionMode GradCamExplainer::precision() const { return impl_->precision.resolved; }

std::string GradCamExplainer::precisionLabel() const { return impl_->precision.label; }

GradCamResult GradCamExplainer::explain(const std::string& imagePath, std::optional<int64_t> targetClass) {
  auto& m = *impl_;
  const auto numClasses = static_cast<int64_t>(m.info.classes.size());
  if (targetClass && (*targetClass < 0 || *targetClass >= numClasses)) {
    throw InputError("class " + std::to_string(*targetClass) + " is out of range: the model's classes are " +
                     classList(m.info.classes));
  }
  GradCamResult r;
  r.path = imagePath;
  torch::Tensor image;
  try {
    image = decodeToTensor(imagePath, m.info.config.imageSize, m.info.config.channels, m.info.config.maxImagePixels);
  } catch (const std::exception& e) {
    r.error = e.what();
    return r;
  }
  r.input = tensorToImage(image);

  torch::AutoGradMode gradMode(true);  // callers may hold a NoGradGuard
  BlockCapture capture(m.layer);
  torch::Tensor logits;
  {
    ProbeAttachment attach(*m.model, &capture);
    AutocastGuard autocast(m.device.type(), computeScalarType(m.precision), m.precision.autocast);
    logits = m.model->forward(modelInput(m.info, image).to(m.device));
  }
  if (!capture.activation.defined()) {
    throw std::logic_error("model '" + m.info.config.model + "' reported no block '" + m.layer + "'");
  }
  const auto logits32 = logits.to(torch::kFloat)[0];
  const auto probs = torch::softmax(logits32.detach(), 0).contiguous().cpu();
  r.probabilities.assign(probs.data_ptr<float>(), probs.data_ptr<float>() + probs.numel());
  r.predicted = decideClass(m.info, std::vector<float>(probs.data_ptr<float>(), probs.data_ptr<float>() + probs.numel()));
  r.decisionRule = decisionRule(m.info);
  if (r.predicted < 0) {  // a non-finite output: explain the most probable class
    r.predicted = probs.argmax().item<int64_t>();
  }
  r.targetClass = targetClass ? *targetClass : r.predicted;

  // dy_c/dA only (autograd::grad, not backward): no parameter gradients accumulate.
  const auto score = logits[0][r.targetClass];
  const auto activation = capture.activation;
  const auto grad = torch::autograd::grad({score}, {activation})[0].to(torch::kFloat);
  const auto a = activation.detach().to(torch::kFloat);
  const auto weights = grad.mean({2, 3}, /*keepdim=*/true);           // alpha_k: 1 x K x 1 x 1
  auto cam = torch::relu((weights * a).sum(1, /*keepdim=*/true));      // 1 x 1 x h x w
  if (!torch::isfinite(cam).all().item<bool>() || !torch::isfinite(logits32).all().item<bool>()) {
    r.error = "the heat map overflowed: block '" + m.layer + "' or its gradient holds inf/NaN in " +
              m.precision.label + " (the format's range was exceeded); no map is shown";
    return r;
  }
  const auto size = m.info.config.imageSize;
  namespace F = torch::nn::functional;
  cam = F::interpolate(cam, F::InterpolateFuncOptions()
                                .size(std::vector<int64_t>{size, size})
                                .mode(torch::kBilinear)
                                .align_corners(false));
  cam = cam.clamp_min(0.0);  // bilinear weights are non-negative; guards rounding only
  const double peak = cam.max().item<double>();
  if (peak > 0.0) {
    cam = (cam / peak).clamp_max(1.0);
  }  // else: no location raised the class score; the map stays zero
  cam = cam.reshape({size, size}).contiguous().cpu();
  r.cam.width = static_cast<int>(size);
  r.cam.height = static_cast<int>(size);
  r.cam.values.assign(cam.data_ptr<float>(), cam.data_ptr<float>() + cam.numel());
  return r;
}

Image8 overlayHeatMap(const Image8& image, const HeatMap& cam, double alpha, const std::string& colormap) {
#ifdef AMPBENCH_HAVE_OPENCV
  int map = cv::COLORMAP_VIRIDIS;
  if (colormap == "turbo") {
    map = cv::COLORMAP_TURBO;
  } else if (colormap != "viridis") {
    throw InputError("unknown colour map '" + colormap + "': choose viridis or turbo");
  }
  if (!(alpha >= 0.0 && alpha <= 1.0)) {
    throw InputError("the overlay's alpha must lie in [0, 1]");
  }
  if (image.width <= 0 || image.height <= 0 || (image.channels != 1 && image.channels != 3) ||
      image.pixels.size() != static_cast<size_t>(image.width) * image.height * image.channels) {
    throw InputError("overlayHeatMap: the image is empty or its size does not match its pixels");
  }
  if (cam.width <= 0 || cam.height <= 0 || cam.values.size() != static_cast<size_t>(cam.width) * cam.height) {
    throw InputError("overlayHeatMap: the heat map is empty or its size does not match its values");
  }
  const cv::Mat src(image.height, image.width, CV_8UC(image.channels), const_cast<uint8_t*>(image.pixels.data()));
  cv::Mat rgb;
  if (image.channels == 1) {
    cv::cvtColor(src, rgb, cv::COLOR_GRAY2RGB);
  } else {
    rgb = src;
  }
  cv::Mat values(cam.height, cam.width, CV_32F, const_cast<float*>(cam.values.data()));
  if (cam.width != image.width || cam.height != image.height) {
    cv::resize(values, values, cv::Size(image.width, image.height), 0, 0, cv::INTER_LINEAR);
  }
  cv::Mat levels;
  values.convertTo(levels, CV_8U, 255.0);  // saturating: values outside [0, 1] clamp
  cv::Mat bgr, colours;
  cv::applyColorMap(levels, bgr, map);  // OpenCV colour maps are BGR
  cv::cvtColor(bgr, colours, cv::COLOR_BGR2RGB);
  cv::Mat out;
  cv::addWeighted(rgb, 1.0 - alpha, colours, alpha, 0.0, out);
  Image8 result;
  result.width = out.cols;
  result.height = out.rows;
  result.channels = 3;
  result.pixels.assign(out.data, out.data + out.total() * out.elemSize());
  return result;
#else
  (void)image, (void)cam, (void)alpha, (void)colormap;
  throw InputError("this build has no OpenCV: heat-map overlays are unavailable");
#endif
}

void writePng(const std::string& path, const Image8& image) {
#ifdef AMPBENCH_HAVE_OPENCV
  if (image.width <= 0 || image.height <= 0 || (image.channels != 1 && image.channels != 3) ||
      image.pixels.size() != static_cast<size_t>(image.width) * image.height * image.channels) {
    throw InputError("writePng: the image is empty or its size does not match its pixels");
  }
  const cv::Mat src(image.height, image.width, CV_8UC(image.channels), const_cast<uint8_t*>(image.pixels.data()));
  cv::Mat bgr;
  if (image.channels == 3) {
    cv::cvtColor(src, bgr, cv::COLOR_RGB2BGR);  // Image8 is RGB, imencode expects BGR
  } else {
    bgr = src;
  }
  std::vector<uint8_t> bytes;
  if (!cv::imencode(".png", bgr, bytes)) {
    throw std::runtime_error("cannot encode '" + path + "' as PNG");
  }
  writeFileAtomic(path, std::string(bytes.begin(), bytes.end()));
#else
  (void)path, (void)image;
  throw InputError("this build has no OpenCV: PNG output is unavailable");
#endif
}

}  // namespace ampbench
