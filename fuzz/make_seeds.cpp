// Writes a small seed corpus for every fuzz target: OUT/<target>/<seed>. Valid files of each
// kind the loaders read (gray/colour/16-bit/float rasters, DICOM, stored and deflated npz,
// gzip and plain IDX, cache records, torch archives), so the fuzzers start inside the
// formats. fuzz/make-seeds adds torch.save pickles written by Python when it has torch.
#include "TestUtil.h"
#include "engine/data/ArrayFormats.h"
#include "engine/data/ImageCache.h"

#include <opencv2/core.hpp>
#include <opencv2/imgcodecs.hpp>
#include <torch/torch.h>
#include <zip.h>
#include <zlib.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <stdexcept>

namespace fs = std::filesystem;
using Bytes = std::vector<uint8_t>;

namespace {

fs::path out;

void put(const std::string& target, const std::string& name, const Bytes& b) {
  fs::create_directories(out / target);
  std::ofstream(out / target / name, std::ios::binary).write(reinterpret_cast<const char*>(b.data()), b.size());
}

Bytes slurp(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  return Bytes(std::istreambuf_iterator<char>(in), {});
}

Bytes gzip(const Bytes& in) {
  z_stream z{};
  deflateInit2(&z, 6, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY);  // +16: gzip wrapper
  Bytes outBuf(deflateBound(&z, in.size()) + 32);
  z.next_in = const_cast<uint8_t*>(in.data());
  z.avail_in = static_cast<uInt>(in.size());
  z.next_out = outBuf.data();
  z.avail_out = static_cast<uInt>(outBuf.size());
  deflate(&z, Z_FINISH);
  outBuf.resize(z.total_out);
  deflateEnd(&z);
  return outBuf;
}

cv::Mat pattern(int type, int w, int h) {
  cv::Mat m(h, w, type);
  cv::randu(m, 0, type == CV_32F ? 1.0 : 255.0);
  return m;
}

void rasters() {
  const std::pair<const char*, cv::Mat> cases[] = {
      {"gray.png", pattern(CV_8UC1, 12, 9)},    {"rgb.png", pattern(CV_8UC3, 8, 8)},
      {"rgba.png", pattern(CV_8UC4, 5, 7)},     {"gray16.png", pattern(CV_16UC1, 6, 6)},
      {"gray.jpg", pattern(CV_8UC1, 16, 16)},   {"rgb.jpg", pattern(CV_8UC3, 24, 8)},
      {"rgb.bmp", pattern(CV_8UC3, 4, 4)},      {"gray.tif", pattern(CV_8UC1, 8, 8)},
      {"float.tif", pattern(CV_32FC1, 4, 4)},   {"gray.pgm", pattern(CV_8UC1, 6, 5)},
  };
  for (const auto& [name, m] : cases) {
    std::vector<uchar> b;
    cv::imencode(fs::path(name).extension().string(), m, b);
    put("image", name, Bytes(b.begin(), b.end()));
  }
}

void dicoms() {
  const fs::path tmp = out / "tmp.dcm";
  Bytes pixels(64);
  for (size_t k = 0; k < pixels.size(); ++k) pixels[k] = static_cast<uint8_t>(k * 4);
  ampbench::test::writeTestDicom(tmp.string(), pixels, 8, 8);
  put("dicom", "mono8.dcm", slurp(tmp));
  put("image", "mono8.dcm", slurp(tmp));
  fs::remove(tmp);
}

void npzs() {
  for (const bool stored : {true, false}) {
    const fs::path p = out / "tmp.npz";
    int err = 0;
    zip_t* za = zip_open(p.c_str(), ZIP_CREATE | ZIP_TRUNCATE, &err);
    std::vector<std::string> keep;  // libzip reads the buffers at zip_close
    Bytes pixels(3 * 4 * 4), labels = {0, 1, 1};
    for (size_t k = 0; k < pixels.size(); ++k) pixels[k] = static_cast<uint8_t>(k);
    for (const auto& [key, shape, bytes] :
         {std::tuple{"train_images", std::vector<int64_t>{3, 4, 4}, pixels},
          std::tuple{"train_labels", std::vector<int64_t>{3, 1}, labels},
          std::tuple{"val_images", std::vector<int64_t>{3, 4, 4}, pixels},
          std::tuple{"val_labels", std::vector<int64_t>{3}, labels}}) {
      std::string npy;
      ampbench::writeNpy(npy, shape, bytes);
      keep.push_back(npy);
    }
    const char* names[] = {"train_images.npy", "train_labels.npy", "val_images.npy", "val_labels.npy"};
    for (size_t k = 0; k < keep.size(); ++k) {
      zip_source_t* src = zip_source_buffer(za, keep[k].data(), keep[k].size(), 0);
      const zip_int64_t idx = zip_file_add(za, names[k], src, ZIP_FL_OVERWRITE);
      zip_set_file_compression(za, static_cast<zip_uint64_t>(idx), stored ? ZIP_CM_STORE : ZIP_CM_DEFLATE, 0);
    }
    zip_close(za);
    put("npz", stored ? "stored.npz" : "deflated.npz", slurp(p));
    fs::remove(p);
  }
}

void idx() {
  const auto be32 = [](Bytes& b, uint32_t v) {
    for (int s = 24; s >= 0; s -= 8) b.push_back(static_cast<uint8_t>(v >> s));
  };
  Bytes images, labels;
  be32(images, 0x00000803);
  be32(images, 3);
  be32(images, 4);
  be32(images, 4);
  for (int k = 0; k < 48; ++k) images.push_back(static_cast<uint8_t>(k * 5));
  be32(labels, 0x00000801);
  be32(labels, 3);
  labels.insert(labels.end(), {0, 1, 2});
  for (const bool gz : {false, true}) {
    const Bytes l = gz ? gzip(labels) : labels, i = gz ? gzip(images) : images;
    Bytes seed;
    for (int s = 0; s < 32; s += 8) seed.push_back(static_cast<uint8_t>(l.size() >> s));
    seed.insert(seed.end(), l.begin(), l.end());
    seed.insert(seed.end(), i.begin(), i.end());
    put("idx", gz ? "pair.gz" : "pair", seed);
  }
}

// fuzz_cache's layout: N, C, S, label count, flags, int64 labels, metadata JSON.
void caches() {
  const std::string meta =
      R"({"format":"ampbench-cache-1","key":"k","source":"/data","kind":"folder","classes":["NORMAL","PNEUMONIA"],)"
      R"("image_size":4,"channels":1,"split_origin":{"train":"folder"},"skipped":[{"path":"a.png","reason":"empty file"}],)"
      R"("ids":{"train":["a","b","c"]}})";
  for (const uint8_t flags : {0, 2}) {
    Bytes seed = {3, 1, 4, 3, flags};
    for (const int64_t label : {0, 1, 1}) {
      for (int s = 0; s < 64; s += 8) seed.push_back(static_cast<uint8_t>(label >> s));
    }
    std::string m = meta;
    if (flags & 2) {
      m = meta.substr(0, meta.size() - 2) + R"(,"val":["d","e","f"]}})";
    }
    seed.insert(seed.end(), m.begin(), m.end());
    put("cache", flags ? "train-val" : "train", seed);
  }
  // fuzz_cache2: a whole format-2 file.
  ampbench::PreparedData d;
  d.summary.source = "/data";
  d.summary.kind = "folder";
  d.summary.classes = {"NORMAL", "PNEUMONIA"};
  d.summary.imageSize = 4;
  d.summary.channels = 1;
  for (const char* name : {"train", "val"}) {
    ampbench::SplitTensors s;
    s.images = torch::arange(48, torch::kLong).to(torch::kUInt8).view({3, 1, 4, 4});
    s.labels = torch::tensor({0, 1, 1}, torch::kLong);
    s.ids = {"a", "b", "c"};
    d.splits[name] = s;
  }
  const fs::path p = out / "tmp.cache";
  ampbench::saveCache(p.string(), d, "k");
  put("cache2", "train-val", slurp(p));
  fs::remove(p);
}

// Torch archives for the pre-check: a module-like archive, a checkpoint-like nested one.
void archives() {
  const fs::path p = out / "tmp.pt";
  {
    torch::serialize::OutputArchive ar;
    ar.write("conv.weight", torch::randn({2, 1, 3, 3}));
    ar.write("fc.bias", torch::zeros({2}));
    ar.save_to(p.string());
  }
  put("archive", "module.pt", slurp(p));
  {
    torch::serialize::OutputArchive root, model, pos;
    model.write("w", torch::ones({3}));
    root.write("model", model);
    root.write("position", torch::tensor({1, 10, 10, 0, 0}));
    root.save_to(p.string());
  }
  put("archive", "checkpoint.pt", slurp(p));
  fs::remove(p);
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::cerr << "usage: fuzz_make_seeds OUT_DIR\n";
    return 2;
  }
  out = argv[1];
  fs::create_directories(out);
  rasters();
  dicoms();
  npzs();
  idx();
  caches();
  archives();
  std::cout << "seeds written to " << out << "\n";
  return 0;
}
