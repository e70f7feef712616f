#pragma once
// Where a model looks: Grad-CAM (Selvaraju et al. 2017) on the last convolutional block
// (named per model in the registry, gradCamLayer(); where that block's map is 1 x 1 at the
// run's image size, e.g. small_cnn on 28 px, the deepest block with a spatial map). The block's output A_k and the
// gradient of the class score y_c with respect to it give weights
// alpha_k = mean over the map of dy_c/dA_k, and the map relu(sum_k alpha_k A_k),
// upsampled to the input size and scaled to [0, 1]. Computed with the run's precision
// (autocast / fp16 emulation as it trained), so FP32 and mixed heat maps can be compared.
// Torch-free header: the CLI, the GUI and the report include it.

#include "engine/core/RunConfig.h"
#include "engine/data/Image.h"

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace ampbench {

struct HeatMap {
  int width = 0;
  int height = 0;
  std::vector<float> values;  // row-major, in [0, 1]; all zeros when no location raised the class score
};

struct GradCamResult {
  std::string path;                    // as given
  std::vector<double> probabilities;   // class order
  int64_t predicted = -1;              // at the run's decision threshold (RunInfo::decision)
  std::string decisionRule;            // how: "P(PNEUMONIA) >= 0.31 (youden on val)"
  int64_t targetClass = -1;            // the class the map explains
  HeatMap cam;                         // at the model's input size
  Image8 input;                        // the image as the model saw it (resized, its channels)
  // Non-empty when the file could not be read (input empty) or the map overflowed (inf/NaN
  // in the block or its gradient; input and probabilities set, cam empty).
  std::string error;
};

class GradCamExplainer {
 public:
  // runOrModel: a run folder (checkpoint.pt), an exported model folder or a model.pt.
  // precision: the mode to compute in; default: the run's own (fp32 for an exported model).
  // Throws InputError as predictImages does (no checkpoint, not a run).
  explicit GradCamExplainer(const std::string& runOrModel, std::optional<PrecisionMode> precision = std::nullopt);
  ~GradCamExplainer();
  GradCamExplainer(const GradCamExplainer&) = delete;
  GradCamExplainer& operator=(const GradCamExplainer&) = delete;

  const std::vector<std::string>& classes() const;
  std::string layer() const;          // the block explained, e.g. "layer4.1"
  PrecisionMode precision() const;    // what the maps are computed in
  std::string precisionLabel() const; // e.g. "FP16 mixed (emulated)": says when emulated
  // targetClass: default the predicted class. A file that cannot be decoded gives a
  // result with `error` set (never throws for bad image input); a class out of range
  // throws InputError.
  GradCamResult explain(const std::string& imagePath, std::optional<int64_t> targetClass = std::nullopt);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// The heat map blended over the image with an OpenCV colour map (perceptually uniform,
// colour-blind safe: cv::COLORMAP_VIRIDIS by default; "turbo" also accepted), 3 channels in
// RGB order (as Image8). `alpha` in [0, 1]: weight of the colour map; a gray image is
// expanded to three channels. Upsamples the map (bilinear) to the image's size. Throws
// InputError for an unknown colour map, alpha outside [0, 1] or an empty image/map.
Image8 overlayHeatMap(const Image8& image, const HeatMap& cam, double alpha = 0.45,
                      const std::string& colormap = "viridis");

// Writes an 8-bit image as PNG (temporary name, fsync, rename). Throws on failure.
void writePng(const std::string& path, const Image8& image);

}  // namespace ampbench
