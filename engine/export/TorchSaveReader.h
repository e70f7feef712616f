#pragma once
// Reads a state dict that Python wrote with torch.save (the zip format, pickle protocol
// 2-5): `torch.save(model.state_dict(), f)`, also a plain dict of tensors, or a dict
// holding one under "state_dict" / "model". LibTorch 1.13's torch::pickle_load cannot:
// it rejects the SETITEM opcode of small dicts and an OrderedDict's BUILD (_metadata).
// A small unpickler for exactly the opcodes and globals torch.save uses for tensors.
// Engine-internal (torch).

#include <torch/types.h>

#include <string>
#include <utility>
#include <vector>

namespace ampbench {

// name -> tensor in file order. Throws std::runtime_error saying what it cannot read
// (not a zip torch.save file, an unsupported pickle opcode or global, no tensors).
std::vector<std::pair<std::string, torch::Tensor>> readTorchSaveStateDict(const std::string& path);

}  // namespace ampbench
