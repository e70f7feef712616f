#include "engine/export/OnnxExporter.h"

#include "engine/models/ResNet.h"
#include "engine/models/SmallCnn.h"
#include "engine/util/Errors.h"
#include "engine/util/Files.h"

#ifdef AMPBENCH_HAVE_ONNX
#include <onnx/checker.h>
#include <onnx/onnx_pb.h>
#include <onnx/shape_inference/implementation.h>
#endif

#include <torch/torch.h>

#include <cctype>
#include <cstring>
#include <map>
#include <set>
#include <sstream>

namespace ampbench {

#ifndef AMPBENCH_HAVE_ONNX

bool onnxExportAvailable() { return false; }

std::string buildOnnx(ClassifierImpl& model, const OnnxOptions&) {
  throw InputError("this AmpBench was built without libonnx, so it cannot write model.onnx: install libonnx-dev "
                   "and rebuild with -DAMPBENCH_ONNX=ON, or export only the other formats (--format torch,card)");
}

std::string widenOnnxFp16Weights(const std::string&) {
  throw InputError("this AmpBench was built without libonnx, so it cannot rewrite ONNX files");
}

#else

bool onnxExportAvailable() { return true; }

namespace {

// Builds the GraphProto: initializers, nodes with explicit attributes, and names.
class GraphBuilder {
 public:
  GraphBuilder(onnx::GraphProto* graph, const OnnxOptions& options) : graph_(graph), options_(options) {}

  // A float tensor as an initializer named `name` (torchvision's name). With
  // `allowFp16` and the fp16 option it is stored as float16 and Cast back to float32;
  // returns the value name the consumer reads.
  std::string weight(const std::string& name, const torch::Tensor& t, bool allowFp16) {
    auto* init = graph_->add_initializer();
    init->set_name(name);
    for (const auto d : t.sizes()) {
      init->add_dims(d);
    }
    if (allowFp16 && options_.fp16Weights) {
      const auto h = t.detach().to(torch::kCPU).to(torch::kHalf).contiguous();
      init->set_data_type(onnx::TensorProto::FLOAT16);
      init->set_raw_data(std::string(static_cast<const char*>(h.data_ptr()), h.numel() * sizeof(uint16_t)));
      auto* cast = addNode("Cast", name + "/Cast", {name}, name + "/fp32");
      addInt(cast, "to", onnx::TensorProto::FLOAT);
      return name + "/fp32";
    }
    const auto f = t.detach().to(torch::kCPU).to(torch::kFloat).contiguous();
    init->set_data_type(onnx::TensorProto::FLOAT);
    init->set_raw_data(std::string(static_cast<const char*>(f.data_ptr()), f.numel() * sizeof(float)));
    return name;
  }

  onnx::NodeProto* addNode(const std::string& op, const std::string& name, const std::vector<std::string>& inputs,
                           const std::string& output) {
    auto* n = graph_->add_node();
    n->set_op_type(op);
    n->set_name(name);
    for (const auto& in : inputs) {
      n->add_input(in);
    }
    n->add_output(output);
    return n;
  }

  static void addInt(onnx::NodeProto* n, const std::string& name, int64_t v) {
    auto* a = n->add_attribute();
    a->set_name(name);
    a->set_type(onnx::AttributeProto::INT);
    a->set_i(v);
  }
  static void addFloat(onnx::NodeProto* n, const std::string& name, float v) {
    auto* a = n->add_attribute();
    a->set_name(name);
    a->set_type(onnx::AttributeProto::FLOAT);
    a->set_f(v);
  }
  static void addInts(onnx::NodeProto* n, const std::string& name, const std::vector<int64_t>& v) {
    auto* a = n->add_attribute();
    a->set_name(name);
    a->set_type(onnx::AttributeProto::INTS);
    for (const auto x : v) {
      a->add_ints(x);
    }
  }

  // Conv (+ BatchNormalization, or folded into the Conv). `prefix` is the module name
  // (conv1, layer1.0.conv1, layer2.0.downsample.0), `bnPrefix` the BN's.
  std::string convBn(const std::string& x, torch::nn::Conv2d& conv, const std::string& prefix,
                     torch::nn::BatchNorm2d& bn, const std::string& bnPrefix) {
    const auto& o = conv->options;
    const int64_t k = (*o.kernel_size())[0];
    const int64_t k2 = (*o.kernel_size())[1];
    const int64_t stride = (*o.stride())[0];
    const int64_t stride2 = (*o.stride())[1];
    const int64_t dil = (*o.dilation())[0];
    const int64_t dil2 = (*o.dilation())[1];
    if (k != k2 || k % 2 != 1 || stride != stride2 || dil != 1 || dil2 != 1 || o.groups() != 1) {
      throw InputError("ONNX export: conv '" + prefix +
                       "' is not a square odd-kernel, ungrouped, undilated convolution; the exporter does not "
                       "know this layer");
    }
    // Registry convs all pad k/2 ("same" for stride 1), as layers::conv assumes too.
    const int64_t pad = k / 2;

    torch::Tensor w = conv->weight.detach().to(torch::kFloat);
    torch::Tensor b = conv->bias.defined() ? conv->bias.detach().to(torch::kFloat) : torch::Tensor();
    checkBn(bn, bnPrefix);
    const float eps = static_cast<float>(bn->options.eps());
    if (options_.foldBatchNorm) {
      // y = gamma * (conv(x) + b - mean) / sqrt(var + eps) + beta, computed in double.
      const auto gamma = bn->weight.detach().to(torch::kDouble);
      const auto beta = bn->bias.detach().to(torch::kDouble);
      const auto mean = bn->running_mean.detach().to(torch::kDouble);
      const auto var = bn->running_var.detach().to(torch::kDouble);
      const auto scale = gamma / torch::sqrt(var + bn->options.eps());
      const auto b0 = b.defined() ? b.to(torch::kDouble) : torch::zeros_like(mean);
      w = (w.to(torch::kDouble) * scale.view({-1, 1, 1, 1})).to(torch::kFloat);
      b = ((b0 - mean) * scale + beta).to(torch::kFloat);
    }
    std::vector<std::string> inputs{x, weight(prefix + ".weight", w, true)};
    if (b.defined()) {
      inputs.push_back(weight(prefix + (options_.foldBatchNorm ? ".bias_folded_bn" : ".bias"), b, true));
    }
    auto* n = addNode("Conv", prefix, inputs, prefix + "/Conv");
    addInts(n, "kernel_shape", {k, k});
    addInts(n, "strides", {stride, stride});
    addInts(n, "pads", {pad, pad, pad, pad});
    addInts(n, "dilations", {1, 1});
    addInt(n, "group", 1);
    if (options_.foldBatchNorm) {
      return prefix + "/Conv";
    }
    auto* bnNode = addNode("BatchNormalization", bnPrefix,
                           {prefix + "/Conv", weight(bnPrefix + ".weight", bn->weight, false),
                            weight(bnPrefix + ".bias", bn->bias, false),
                            weight(bnPrefix + ".running_mean", bn->running_mean, false),
                            weight(bnPrefix + ".running_var", bn->running_var, false)},
                           bnPrefix + "/BatchNormalization");
    addFloat(bnNode, "epsilon", eps);
    // ONNX momentum weighs the running value, PyTorch's the batch value.
    addFloat(bnNode, "momentum", static_cast<float>(1.0 - bn->options.momentum().value_or(0.1)));
    return bnPrefix + "/BatchNormalization";
  }

  std::string relu(const std::string& x, const std::string& name) {
    addNode("Relu", name, {x}, name + "/Relu");
    return name + "/Relu";
  }

  std::string maxPool(const std::string& x, const std::string& name, int64_t k, int64_t stride, int64_t pad) {
    auto* n = addNode("MaxPool", name, {x}, name + "/MaxPool");
    addInts(n, "kernel_shape", {k, k});
    addInts(n, "strides", {stride, stride});
    addInts(n, "pads", {pad, pad, pad, pad});
    addInt(n, "ceil_mode", 0);
    return name + "/MaxPool";
  }

  std::string add(const std::string& a, const std::string& b, const std::string& name) {
    addNode("Add", name, {a, b}, name + "/Add");
    return name + "/Add";
  }

  // GlobalAveragePool -> Flatten(axis 1) -> Gemm(fc), writing the graph output.
  void head(const std::string& x, torch::nn::Linear& fc) {
    addNode("GlobalAveragePool", "avgpool", {x}, "avgpool/GlobalAveragePool");
    auto* flat = addNode("Flatten", "flatten", {"avgpool/GlobalAveragePool"}, "flatten/Flatten");
    addInt(flat, "axis", 1);
    std::vector<std::string> inputs{"flatten/Flatten", weight("fc.weight", fc->weight, true)};
    if (fc->bias.defined()) {
      inputs.push_back(weight("fc.bias", fc->bias, true));
    }
    auto* gemm = addNode("Gemm", "fc", inputs, kOnnxOutputName);
    addFloat(gemm, "alpha", 1.0f);
    addFloat(gemm, "beta", 1.0f);
    addInt(gemm, "transA", 0);
    addInt(gemm, "transB", 1);
  }

 private:
  static void checkBn(torch::nn::BatchNorm2d& bn, const std::string& name) {
    if (!bn->options.affine() || !bn->running_mean.defined() || !bn->running_var.defined()) {
      throw InputError("ONNX export: batch norm '" + name +
                       "' has no affine parameters or no running statistics; the exporter does not know it");
    }
  }

  onnx::GraphProto* graph_;
  const OnnxOptions& options_;
};

void emitSmallCnn(SmallCnnImpl& m, GraphBuilder& g, int64_t imageSize) {
  std::string x = kOnnxInputName;
  int64_t size = imageSize;
  for (int i = 0; i < SmallCnnImpl::kStages; ++i) {
    const auto n = std::to_string(i + 1);
    x = g.convBn(x, m.convs[i], "conv" + n, m.bns[i], "bn" + n);
    x = g.relu(x, "relu" + n);
    // Same rule as SmallCnnImpl::forward: pool 2x2 (floor) while the map is > 1 px.
    if (size > 1) {
      x = g.maxPool(x, "pool" + n, 2, 2, 0);
      size /= 2;
    }
  }
  g.head(x, m.fc);
}

void emitResNet(ResNetImpl& m, GraphBuilder& g) {
  std::string x = g.convBn(kOnnxInputName, m.conv1, "conv1", m.bn1, "bn1");
  x = g.relu(x, "relu");
  x = g.maxPool(x, "maxpool", 3, 2, 1);
  for (size_t l = 0; l < m.layers.size(); ++l) {
    for (size_t b = 0; b < m.layers[l].size(); ++b) {
      auto& block = m.layers[l][b];
      const auto p = "layer" + std::to_string(l + 1) + "." + std::to_string(b);
      auto out = g.convBn(x, block->conv1, p + ".conv1", block->bn1, p + ".bn1");
      out = g.relu(out, p + ".relu1");
      out = g.convBn(out, block->conv2, p + ".conv2", block->bn2, p + ".bn2");
      std::string identity = x;
      if (block->downConv) {
        identity = g.convBn(x, block->downConv, p + ".downsample.0", block->downBn, p + ".downsample.1");
      }
      x = g.relu(g.add(out, identity, p + ".add"), p + ".relu2");
    }
  }
  g.head(x, m.fc);
}

void setTensorType(onnx::ValueInfoProto* v, const std::string& name, const std::vector<std::string>& dims) {
  v->set_name(name);
  auto* t = v->mutable_type()->mutable_tensor_type();
  t->set_elem_type(onnx::TensorProto::FLOAT);
  auto* shape = t->mutable_shape();
  for (const auto& d : dims) {
    auto* dim = shape->add_dim();
    if (!d.empty() && std::isdigit(static_cast<unsigned char>(d[0]))) {
      dim->set_dim_value(std::stoll(d));
    } else {
      dim->set_dim_param(d);
    }
  }
}

}  // namespace

std::string buildOnnx(ClassifierImpl& model, const OnnxOptions& options) {
  if (options.imageSize <= 0) {
    throw InputError("ONNX export needs the image size the model was trained with");
  }
  const auto& spec = model.spec();
  auto* smallCnn = dynamic_cast<SmallCnnImpl*>(&model);
  auto* resnet = dynamic_cast<ResNetImpl*>(&model);
  if (!smallCnn && !resnet) {
    throw InputError("ONNX export does not know model type '" + spec.name +
                     "' (it exports small_cnn and the ResNets layer by layer); no model.onnx was written");
  }
  torch::NoGradGuard noGrad;

  onnx::ModelProto proto;
  proto.set_ir_version(onnx::IR_VERSION_2020_5_8);  // IR 7 goes with opset 13
  proto.set_producer_name("AmpBench");
  proto.set_producer_version(AMPBENCH_VERSION);
  proto.set_domain("org.ampbench");
  proto.set_model_version(1);
  proto.set_doc_string(options.docString);
  auto* opset = proto.add_opset_import();
  opset->set_domain("");
  opset->set_version(kOnnxOpset);
  for (const auto& [k, v] : options.metadata) {
    auto* p = proto.add_metadata_props();
    p->set_key(k);
    p->set_value(v);
  }

  auto* graph = proto.mutable_graph();
  graph->set_name(spec.name);
  const auto s = std::to_string(options.imageSize);
  setTensorType(graph->add_input(), kOnnxInputName, {"N", std::to_string(spec.inChannels), s, s});
  setTensorType(graph->add_output(), kOnnxOutputName, {"N", std::to_string(spec.numClasses)});

  GraphBuilder g(graph, options);
  if (smallCnn) {
    emitSmallCnn(*smallCnn, g, options.imageSize);
  } else {
    emitResNet(*resnet, g);
  }

  // Refuse to hand out a wrong file: the checker, then strict shape inference (type
  // checks on, node errors thrown), whose result must agree with the declared output.
  try {
    onnx::checker::check_model(proto);
    onnx::ModelProto inferred = proto;
    onnx::shape_inference::InferShapes(inferred, onnx::OpSchemaRegistry::Instance(),
                                       onnx::ShapeInferenceOptions(/*check_type=*/true, /*strict_mode=*/1));
  } catch (const std::exception& e) {
    throw std::runtime_error("internal error: the ONNX graph built for '" + spec.name +
                             "' failed validation, so it was not written: " + e.what());
  }
  std::string bytes;
  if (!proto.SerializeToString(&bytes)) {
    throw std::runtime_error("cannot serialise the ONNX model (larger than 2 GB?)");
  }
  return bytes;
}

std::string widenOnnxFp16Weights(const std::string& onnxBytes) {
  onnx::ModelProto proto;
  if (!proto.ParseFromString(onnxBytes)) {
    throw InputError("not an ONNX model (cannot parse the protobuf)");
  }
  auto* graph = proto.mutable_graph();
  std::set<std::string> widened;
  for (auto& init : *graph->mutable_initializer()) {
    if (init.data_type() != onnx::TensorProto::FLOAT16) {
      continue;
    }
    if (init.raw_data().empty()) {
      throw InputError("float16 initializer '" + init.name() + "' without raw_data is not supported");
    }
    const auto& raw = init.raw_data();
    std::vector<uint16_t> bits(raw.size() / sizeof(uint16_t));
    std::memcpy(bits.data(), raw.data(), bits.size() * sizeof(uint16_t));
    const auto f = torch::from_blob(bits.data(), {static_cast<int64_t>(bits.size())}, torch::kHalf)
                       .to(torch::kFloat)
                       .contiguous();
    init.set_data_type(onnx::TensorProto::FLOAT);
    init.set_raw_data(std::string(static_cast<const char*>(f.data_ptr()), f.numel() * sizeof(float)));
    widened.insert(init.name());
  }
  // Drop the Casts of widened initializers; their consumers read the initializer itself.
  std::map<std::string, std::string> rename;
  google::protobuf::RepeatedPtrField<onnx::NodeProto> kept;
  for (const auto& node : graph->node()) {
    if (node.op_type() == "Cast" && node.input_size() == 1 && widened.count(node.input(0))) {
      rename[node.output(0)] = node.input(0);
      continue;
    }
    auto* n = kept.Add();
    *n = node;
    for (int i = 0; i < n->input_size(); ++i) {
      const auto it = rename.find(n->input(i));
      if (it != rename.end()) {
        n->set_input(i, it->second);
      }
    }
  }
  graph->mutable_node()->Swap(&kept);
  std::string bytes;
  proto.SerializeToString(&bytes);
  return bytes;
}

#endif  // AMPBENCH_HAVE_ONNX

std::vector<std::string> onnxOperatorTypes(ClassifierImpl& model, bool foldBatchNorm, bool fp16Weights) {
  const bool resnet = dynamic_cast<ResNetImpl*>(&model) != nullptr;
  if (!resnet && dynamic_cast<SmallCnnImpl*>(&model) == nullptr) {
    throw InputError("ONNX export does not know model type '" + model.spec().name + "'");
  }
  std::vector<std::string> ops;
  if (fp16Weights) {
    ops.push_back("Cast");
  }
  ops.push_back("Conv");
  if (!foldBatchNorm) {
    ops.push_back("BatchNormalization");
  }
  ops.push_back("Relu");
  ops.push_back("MaxPool");
  if (resnet) {
    ops.push_back("Add");
  }
  for (const char* op : {"GlobalAveragePool", "Flatten", "Gemm"}) {
    ops.push_back(op);
  }
  return ops;
}

void writeOnnx(ClassifierImpl& model, const std::string& path, const OnnxOptions& options) {
  writeFileAtomic(path, buildOnnx(model, options));
}

}  // namespace ampbench
