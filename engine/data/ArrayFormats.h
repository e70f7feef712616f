#pragma once
// Datasets stored as arrays: MedMNIST .npz (train/val/test _images/_labels) and the
// gzip IDX files of the MNIST family.

#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace ampbench {

// uint8 images, count x height x width x channels, plus one label per image.
struct ImageArray {
  int64_t count = 0;
  int64_t height = 0;
  int64_t width = 0;
  int64_t channels = 1;
  std::vector<uint8_t> pixels;
  std::vector<int64_t> labels;
};

// Reads a MedMNIST-style .npz: keys "<split>_images" (N,H,W) or (N,H,W,3) uint8 and
// "<split>_labels" (N,) or (N,1) integers. Returns split name -> array.
// Throws InputError for a file that is not such an archive.
std::map<std::string, ImageArray> readNpz(const std::string& path);

// Reads one pair of IDX files (images idx3 uint8, labels idx1 uint8), gzip or plain.
ImageArray readIdx(const std::string& imagesPath, const std::string& labelsPath);

// Finds MNIST-family files in a folder: "train-images-idx3-ubyte(.gz)" with its labels,
// and "t10k-..." as the test split. Empty map if the folder holds none.
std::map<std::string, ImageArray> readIdxFolder(const std::string& folder);

// Writers, for tests and for converting data.
void writeNpy(std::string& out, const std::vector<int64_t>& shape, const std::vector<uint8_t>& data);

}  // namespace ampbench
