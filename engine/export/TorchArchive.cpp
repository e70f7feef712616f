#include "engine/export/TorchArchive.h"

#include "engine/util/Files.h"

#include <torch/torch.h>

namespace ampbench {

namespace {

torch::Tensor portable(const torch::Tensor& t) {
  auto c = t.detach().to(torch::kCPU);
  if (c.is_floating_point()) {
    c = c.to(torch::kFloat);
  }
  return c.contiguous().clone();
}

// Module::save's recursion, with portable tensors: one sub-archive per child module, so
// the keys Python sees are the dotted registered names.
void saveModule(const torch::nn::Module& m, torch::serialize::OutputArchive& ar) {
  for (const auto& p : m.named_parameters(/*recurse=*/false)) {
    ar.write(p.key(), portable(p.value()), /*is_buffer=*/false);
  }
  for (const auto& b : m.named_buffers(/*recurse=*/false)) {
    ar.write(b.key(), portable(b.value()), /*is_buffer=*/true);
  }
  for (const auto& child : m.named_children()) {
    torch::serialize::OutputArchive childAr(ar.compilation_unit());
    saveModule(*child.value(), childAr);
    ar.write(child.key(), childAr);
  }
}

}  // namespace

void writeTorchArchive(ClassifierImpl& model, const std::string& path) {
  torch::NoGradGuard noGrad;
  torch::serialize::OutputArchive ar;
  saveModule(model, ar);
  const auto tmp = path + ".tmp";
  ar.save_to(tmp);
  commitAtomic(tmp, path);
}

std::vector<std::pair<std::string, std::vector<int64_t>>> torchArchiveLayout(ClassifierImpl& model) {
  std::vector<std::pair<std::string, std::vector<int64_t>>> out;
  for (const auto& p : model.named_parameters(/*recurse=*/true)) {
    out.emplace_back(p.key(), p.value().sizes().vec());
  }
  for (const auto& b : model.named_buffers(/*recurse=*/true)) {
    out.emplace_back(b.key(), b.value().sizes().vec());
  }
  return out;
}

}  // namespace ampbench
