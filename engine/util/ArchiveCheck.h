#pragma once
// Structural check of a zip archive before LibTorch's deserialiser (miniz and its
// unpickler, which trust the archive) sees it: checkpoints, model.pt, TorchScript files,
// torch.save state dicts and the decoded-image cache are all such archives. A truncated
// file, an entry whose recorded size lies or a file that is not a zip is refused with a
// one-line reason instead of reaching code that may allocate what the header claims or
// read past the data. Torch-free.

#include <cstddef>
#include <cstdint>
#include <string>

namespace ampbench {

// Throws InputError("<what> '<path>' is not usable: <reason>") unless `path` is a zip
// archive whose entries all lie inside the file, read back with the CRCs they claim, sum
// to a sane size, share one top folder and include that folder's data.pkl and version
// records (what torch::save, torch.jit.save and torch.save write). Reads the whole file
// once. Builds without libzip only check the zip signature.
void checkTorchArchive(const std::string& path, const std::string& what);

// The same on bytes in memory (fuzzing, tests); `name` stands for the path in messages.
void checkTorchArchiveBytes(const void* data, size_t size, const std::string& name, const std::string& what);

}  // namespace ampbench
