#include "engine/export/ModelCard.h"

#include "engine/train/Trainer.h"
#include "engine/util/Errors.h"
#include "engine/util/Files.h"

#include <nlohmann/json.hpp>

#include <cstdio>
#include <filesystem>
#include <sstream>

namespace fs = std::filesystem;
using Json = nlohmann::ordered_json;

namespace ampbench {

namespace {

constexpr const char* kIntendedUse =
    "Research and teaching: studying mixed-precision training and image classification on medical images. "
    "Not for diagnosis, screening, triage or any other clinical decision.";

const std::vector<std::string> kLimitations = {
    "Research and teaching, not for diagnosis: the model is not a medical device and was not clinically "
    "validated.",
    "Metrics are measured on the validation (and, when present, test) split of one dataset; they do not "
    "carry over to other hospitals, scanners, populations or image sizes.",
    "Trained on images reduced to the input size of this card; inputs must be preprocessed exactly as "
    "listed, or the outputs are meaningless.",
    "The outputs are uncalibrated scores: softmax probabilities are not risks.",
};

Json readJson(const fs::path& path, bool required) {
  if (!fs::exists(path)) {
    if (required) {
      throw InputError("'" + path.parent_path().string() + "' has no " + path.filename().string() +
                       ": pass a run directory written by a training run");
    }
    return nullptr;
  }
  try {
    return Json::parse(readFile(path.string()));
  } catch (const std::exception& e) {
    throw InputError("cannot read " + path.string() + ": " + e.what());
  }
}

Json at(const Json& j, std::initializer_list<const char*> keys) {
  const Json* cur = &j;
  for (const char* k : keys) {
    if (!cur->is_object() || !cur->contains(k)) {
      return nullptr;
    }
    cur = &(*cur)[k];
  }
  return *cur;
}

std::vector<std::string> preprocessingSteps(int64_t size, int64_t channels) {
  const auto s = std::to_string(size);
  return {
      "Decode the image file (PNG, JPEG, BMP, TIFF, PGM; DICOM through GDCM with its VOI window, MONOCHROME1 "
      "inverted); 16-bit and float images are stretched to 8 bits over their value range",
      channels == 1 ? "Convert to one grayscale channel" : "Convert to three channels in RGB order",
      "Resize to " + s + " x " + s +
          " without cropping (the aspect ratio is not kept): area averaging where it shrinks, bilinear where it "
          "enlarges",
      "Divide the 8-bit values by 255 (range [0, 1])",
      "Normalise each channel: (x - mean) / std with the mean and std of this card (the training images')",
      "Lay out as float32 N x " + std::to_string(channels) + " x " + s + " x " + s + " (NCHW)",
  };
}

std::string fmt(double v, const char* f = "%.4f") {
  char buf[64];
  std::snprintf(buf, sizeof buf, f, v);
  return buf;
}

std::string str(const Json& v) {
  if (v.is_null()) {
    return "—";
  }
  if (v.is_string()) {
    return v.get<std::string>();
  }
  if (v.is_boolean()) {
    return v.get<bool>() ? "yes" : "no";
  }
  if (v.is_number_float()) {
    return fmt(v.get<double>(), "%.6g");
  }
  return v.dump();
}

}  // namespace

std::string buildModelCard(const std::string& runDir, const ModelCardExtras& extras) {
  const fs::path dir(runDir);
  const auto config = readJson(dir / "config.json", true);
  const auto dataset = readJson(dir / "dataset.json", true);
  const auto metrics = readJson(dir / "metrics.json", false);

  const auto model = at(config, {"model", "name"});
  const auto imageSize = at(config, {"data", "image_size"});
  const auto channels = at(config, {"data", "channels"});
  if (!model.is_string() || !imageSize.is_number_integer() || !channels.is_number_integer() ||
      !dataset.contains("classes") || !at(dataset, {"normalisation", "mean"}).is_array()) {
    throw InputError("'" + runDir + "' has an incomplete config.json or dataset.json: cannot describe the model");
  }

  Json card;
  card["format"] = "ampbench-model-card";
  card["format_version"] = 1;
  card["model"] = model;
  card["architecture"] = extras.architecture;
  card["parameters"] = extras.parameterCount;
  card["classes"] = dataset["classes"];
  card["positive_class"] = dataset["classes"].size() == 2 ? dataset["classes"][1] : Json(nullptr);
  if (dataset["classes"].size() == 2) {
    // The run's decision threshold travels with the model, so whatever loads it calls a
    // case as evaluation did (decision.json; 0.5 when none was chosen).
    const auto classes = dataset["classes"].get<std::vector<std::string>>();
    const auto decision = readDecisionThreshold(runDir);
    card["decision"] = Json::parse(decisionToJson(decision, classes));
  } else {
    card["decision"] = Json(nullptr);  // more classes: the most probable one
  }

  Json input;
  input["name"] = "input";
  input["image_size"] = imageSize;
  input["channels"] = channels;
  input["layout"] = "NCHW";
  input["dtype"] = "float32";
  input["color"] = channels.get<int64_t>() == 1 ? "grayscale" : "RGB";
  input["value_range"] = "8-bit pixels divided by 255 to [0, 1], then normalised with mean and std";
  input["mean"] = dataset["normalisation"]["mean"];
  input["std"] = dataset["normalisation"]["std"];
  card["input"] = input;
  card["output"] = {{"name", "logits"},
                    {"shape", Json::array({"N", dataset["classes"].size()})},
                    {"meaning", "unnormalised class scores in the order of 'classes'; softmax gives probabilities"}};
  card["preprocessing"] = preprocessingSteps(imageSize.get<int64_t>(), channels.get<int64_t>());

  Json files = Json::object();
  for (const auto& [name, what] : extras.files) {
    files[name] = what;
  }
  card["files"] = files;
  if (!extras.onnxOps.empty()) {
    card["onnx"] = {{"opset", 13},
                    {"operators", extras.onnxOps},
                    {"weights", extras.onnxFp16Weights ? "float16 (Cast to float32 in the graph)" : "float32"},
                    {"batch_norm", extras.foldBatchNorm ? "folded into Conv" : "BatchNormalization nodes"},
                    {"dynamic_axes", Json::array({"N"})}};
  }

  // How it was trained.
  Json precision = at(metrics, {"precision"});
  if (precision.is_null()) {
    precision = at(config, {"resolved", "precision"});
  }
  Json training;
  training["precision"] = {{"requested", at(config, {"precision", "mode"})},
                           {"resolved", at(precision, {"resolved"})},
                           {"label", at(precision, {"label"})},
                           {"compute_dtype", at(precision, {"compute_dtype"})},
                           {"autocast", at(precision, {"autocast"})},
                           {"emulated", at(precision, {"emulated"})},
                           {"note", at(precision, {"note"})}};
  const auto scalerOn = at(precision, {"loss_scaling"});
  training["loss_scaler"] = {{"enabled", scalerOn},
                             {"init_scale", at(config, {"precision", "loss_scaler", "init_scale"})},
                             {"growth_interval", at(config, {"precision", "loss_scaler", "growth_interval"})},
                             {"final_scale", at(metrics, {"final_loss_scale"})},
                             {"overflow_steps", at(metrics, {"overflow_steps"})},
                             {"skipped_steps", at(metrics, {"skipped_steps"})}};
  training["status"] = at(metrics, {"status"});
  training["epochs"] = at(config, {"optim", "epochs"});
  training["epochs_completed"] = at(metrics, {"epochs_completed"});
  training["steps_completed"] = at(metrics, {"steps_completed"});
  training["selected_epoch"] = at(metrics, {"selection"});  // the epoch exported (best.pt); null: the last
  training["recipe"] = at(config, {"recipe"});
  training["batch_size"] = at(config, {"optim", "batch_size"});
  training["optimizer"] = at(config, {"optim", "optimizer"});
  training["lr"] = at(config, {"optim", "lr"});
  training["schedule"] = at(config, {"optim", "schedule"});
  training["weight_decay"] = at(config, {"optim", "weight_decay"});
  training["augmentation"] = at(config, {"data", "augment"});
  training["label_smoothing"] = at(config, {"optim", "label_smoothing"});
  training["ema_decay"] = at(config, {"optim", "ema_decay"});
  training["tta"] = at(config, {"evaluation"});
  training["pretrained"] = at(config, {"model", "pretrained"});
  training["seed"] = at(config, {"run", "seed"});
  training["train_seconds"] = at(metrics, {"train_seconds"});
  training["median_epoch_seconds"] = at(metrics, {"median_epoch_seconds"});
  training["images_per_s"] = at(metrics, {"images_per_s"});
  training["device"] = at(config, {"resolved", "device"});
  training["threads"] = at(config, {"resolved", "threads"});
  training["cpu"] = at(config, {"resolved", "cpu"});
  training["started"] = at(config, {"resolved", "created"});
  card["training"] = training;

  card["dataset"] = {{"source", at(dataset, {"source"})},
                     {"kind", at(dataset, {"kind"})},
                     {"counts", at(dataset, {"counts"})},
                     {"counts_note", "images per class, in class order, per split"},
                     {"split_origin", at(dataset, {"split_origin"})},
                     {"skipped_files", at(dataset, {"skipped_count"})}};
  card["metrics"] = {{"val", at(metrics, {"val"})}, {"test", at(metrics, {"test"})}};
  if (metrics.is_null()) {
    card["metrics"]["note"] = "the run has no metrics.json (it did not finish)";
  } else if (at(metrics, {"test"}).is_null()) {
    card["metrics"]["note"] = "no test split was evaluated in the run";
  }

  card["software"] = {{"ampbench", engineVersion()},
                      {"trained_with_ampbench", at(config, {"resolved", "ampbench_version"})},
                      {"libtorch", torchVersion()}};
  card["exported"] = isoTimestampUtc();
  card["intended_use"] = kIntendedUse;
  card["limitations"] = kLimitations;
  return card.dump(2) + "\n";
}

std::string renderModelCardMarkdown(const std::string& cardJson) {
  const auto c = Json::parse(cardJson);
  std::ostringstream md;
  md << "# Model card: " << str(c["model"]) << "\n\n";
  md << "> **" << kIntendedUse << "**\n\n";
  md << "Exported by AmpBench " << str(at(c, {"software", "ampbench"})) << " (LibTorch "
     << str(at(c, {"software", "libtorch"})) << ") on " << str(c["exported"]) << ".\n\n";

  md << "## Model\n\n";
  md << "- Architecture: " << str(c["architecture"]) << "\n";
  md << "- Parameters: " << str(c["parameters"]) << "\n";
  md << "- Classes (output order): ";
  for (size_t i = 0; i < c["classes"].size(); ++i) {
    md << (i ? ", " : "") << i << " = " << str(c["classes"][i]);
  }
  md << "\n- Output: `logits`, N x " << c["classes"].size() << ", unnormalised (apply softmax for probabilities)\n";
  if (c.contains("files") && !c["files"].empty()) {
    md << "\n| file | content |\n|---|---|\n";
    for (const auto& [name, what] : c["files"].items()) {
      md << "| `" << name << "` | " << str(what) << " |\n";
    }
  }

  const auto& in = c["input"];
  md << "\n## Input and preprocessing\n\n";
  md << "Input `input`: float32, " << str(in["layout"]) << ", N x " << str(in["channels"]) << " x "
     << str(in["image_size"]) << " x " << str(in["image_size"]) << " (" << str(in["color"]) << "), "
     << str(in["value_range"]) << ".\n\n";
  md << "- mean: " << in["mean"].dump() << "\n- std: " << in["std"].dump() << "\n\n";
  int step = 1;
  for (const auto& s : c["preprocessing"]) {
    md << step++ << ". " << str(s) << "\n";
  }

  const auto& t = c["training"];
  md << "\n## Training\n\n";
  md << "| setting | value |\n|---|---|\n";
  md << "| precision | " << str(at(t, {"precision", "label"})) << " (requested " << str(at(t, {"precision", "requested"}))
     << ", compute " << str(at(t, {"precision", "compute_dtype"})) << ") |\n";
  md << "| emulated | " << str(at(t, {"precision", "emulated"})) << " |\n";
  md << "| loss scaling | " << str(at(t, {"loss_scaler", "enabled"})) << "; final scale "
     << str(at(t, {"loss_scaler", "final_scale"})) << ", overflow steps " << str(at(t, {"loss_scaler", "overflow_steps"}))
     << ", skipped steps " << str(at(t, {"loss_scaler", "skipped_steps"})) << " |\n";
  md << "| epochs | " << str(t["epochs_completed"]) << " of " << str(t["epochs"]) << " (" << str(t["status"])
     << ") |\n";
  if (t["selected_epoch"].is_object()) {
    md << "| model exported | epoch " << str(at(t, {"selected_epoch", "epoch"})) << ", chosen on validation by "
       << str(at(t, {"selected_epoch", "metric"})) << " (" << str(at(t, {"selected_epoch", "value"})) << ") |\n";
  }
  if (t["recipe"].is_string()) {
    md << "| recipe | " << str(t["recipe"]) << " |\n";
  }
  md << "| batch size / optimizer / lr | " << str(t["batch_size"]) << " / " << str(t["optimizer"]) << " / "
     << str(t["lr"]) << " (" << str(t["schedule"]) << ") |\n";
  md << "| seed | " << str(t["seed"]) << " |\n";
  md << "| augmentation | " << (t["augmentation"].is_object() ? t["augmentation"].dump() : str(t["augmentation"]))
     << " |\n";
  md << "| label smoothing / weight average (EMA decay) | " << str(t["label_smoothing"]) << " / " << str(t["ema_decay"])
     << (t["ema_decay"].is_number() && t["ema_decay"].get<double>() > 0 ? " (the exported weights are the average)" : "")
     << " |\n";
  md << "| training time | " << (t["train_seconds"].is_number() ? fmt(t["train_seconds"].get<double>(), "%.1f s")
                                                                   : std::string("—"))
     << " on " << str(t["device"]) << ", " << str(t["threads"]) << " threads (" << str(t["cpu"]) << ") |\n";
  md << "| started | " << str(t["started"]) << " |\n";

  const auto& d = c["dataset"];
  md << "\n## Data\n\n";
  md << "Source: `" << str(d["source"]) << "` (" << str(d["kind"]) << "), skipped files: " << str(d["skipped_files"])
     << ".\n\n";
  if (d["counts"].is_object()) {
    md << "| split | origin |";
    for (const auto& cls : c["classes"]) {
      md << " " << str(cls) << " |";
    }
    md << "\n|---|---|";
    for (size_t i = 0; i < c["classes"].size(); ++i) {
      md << "---|";
    }
    md << "\n";
    for (const auto& [split, counts] : d["counts"].items()) {
      md << "| " << split << " | " << str(at(d, {"split_origin", split.c_str()})) << " |";
      for (const auto& n : counts) {
        md << " " << str(n) << " |";
      }
      md << "\n";
    }
  }

  md << "\n## Metrics\n\n";
  bool any = false;
  for (const char* split : {"val", "test"}) {
    const auto m = at(c, {"metrics", split});
    if (!m.is_object()) {
      continue;
    }
    if (!any) {
      md << "| split | images | accuracy | AUC | sensitivity | specificity | loss |\n|---|---|---|---|---|---|---|\n";
      any = true;
    }
    md << "| " << split << " | " << str(m["count"]) << " | " << fmt(100.0 * m.value("accuracy", 0.0), "%.1f %%")
       << " | " << fmt(m.value("auc", 0.0), "%.3f") << " | " << fmt(m.value("sensitivity", 0.0), "%.3f") << " | "
       << fmt(m.value("specificity", 0.0), "%.3f") << " | " << fmt(m.value("loss", 0.0)) << " |\n";
  }
  if (!any) {
    md << "No final metrics.\n";
  }
  if (c["metrics"].contains("note")) {
    md << "\n" << str(c["metrics"]["note"]) << ".\n";
  }
  if (c["classes"].size() == 2) {
    md << "\nSensitivity and specificity are for the positive class `" << str(c["positive_class"]) << "`.\n";
    if (const auto d = c.find("decision"); d != c.end() && d->is_object() && d->contains("threshold") &&
        (*d)["threshold"].is_number()) {
      const auto positive = d->value("positive_class", std::string());
      md << "\n**Decision threshold:** a case is called `" << positive << "` when P(`" << positive
         << "`) >= " << fmt((*d)["threshold"].get<double>(), "%.6g") << " ("
         << d->value("source", std::string("default"))
         << "). `ampbench-cli predict` and the GUI call classes by it with this model; other tools must apply it to "
            "the softmax of the logits themselves (argmax is a threshold of 0.5). The figures above were computed "
            "by the most probable class; `ampbench-cli evaluate` gives them at the threshold. A threshold chosen "
            "after this export is not in it: export again.\n";
    }
  }

  md << "\n## Intended use and limits\n\n";
  for (const auto& l : c["limitations"]) {
    md << "- " << str(l) << "\n";
  }
  return md.str();
}

}  // namespace ampbench
