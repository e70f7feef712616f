// decode_report OUTDIR: writes the decoders' hostile cases (truncated, huge-header, odd
// and non-image files, DICOM, npz, IDX) into OUTDIR and decodes each in a child process,
// printing a Markdown table: case, file size, what the decoder said, the child's peak RSS.
// docs/reliability/decode.md is made from its output against this build and the one
// before the hardening. It uses only the long-standing API (decodeImageFile(path,
// channels), readNpz, readIdx) so it builds against both. Children run under a 6 GiB
// address-space limit so an old decoder's 100 GB allocation fails instead of paging.

#include "engine/data/ArrayFormats.h"
#include "engine/data/Image.h"
#include "engine/util/Errors.h"

#include "../engine/TestUtil.h"

#include <opencv2/core.hpp>
#include <opencv2/imgcodecs.hpp>
#include <zip.h>
#include <zlib.h>

#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmath>
#include <csignal>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iterator>
#include <limits>
#include <random>
#include <string>
#include <vector>

namespace fs = std::filesystem;
using namespace ampbench;

namespace {

std::string dir;

void writeBytes(const std::string& name, const std::string& bytes) {
  std::ofstream out(dir + "/" + name, std::ios::binary);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
}

std::string readBytes(const std::string& name) {
  std::ifstream in(dir + "/" + name, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

std::string encode(const std::string& ext, const cv::Mat& m, const std::vector<int>& params = {}) {
  std::vector<uint8_t> buf;
  cv::imencode(ext, m, buf, params);
  return std::string(buf.begin(), buf.end());
}

cv::Mat noise(int rows, int cols, int type) {
  cv::Mat m(rows, cols, type);
  cv::theRNG().state = 1;
  cv::randu(m, cv::Scalar::all(0), cv::Scalar::all(255));
  return m;
}

std::string npy(const std::string& descr, const std::string& shape, const std::string& data, bool fortran = false) {
  std::string dict = "{'descr': '" + descr + "', 'fortran_order': " + (fortran ? "True" : "False") +
                     ", 'shape': " + shape + ", }";
  while ((10 + dict.size() + 1) % 64 != 0) {
    dict += ' ';
  }
  dict += '\n';
  std::string s("\x93NUMPY\x01\x00", 8);
  s += static_cast<char>(dict.size() & 0xFF);
  s += static_cast<char>(dict.size() >> 8);
  return s + dict + data;
}

void writeNpz(const std::string& name, const std::vector<std::pair<std::string, std::string>>& entries) {
  int err = 0;
  zip_t* za = zip_open((dir + "/" + name).c_str(), ZIP_CREATE | ZIP_TRUNCATE, &err);
  for (const auto& [key, data] : entries) {
    void* copy = std::malloc(data.size() + 1);
    std::memcpy(copy, data.data(), data.size());
    zip_source_t* src = zip_source_buffer(za, copy, data.size(), 1);
    zip_file_add(za, key.c_str(), src, ZIP_FL_OVERWRITE);
  }
  zip_close(za);
}

std::string le64(int64_t v) {
  std::string s;
  for (int k = 0; k < 8; ++k) {
    s += static_cast<char>((static_cast<uint64_t>(v) >> (8 * k)) & 0xFF);
  }
  return s;
}

std::string idxHeader(std::vector<uint32_t> words) {
  std::string s;
  for (uint32_t v : words) {
    for (int shift = 24; shift >= 0; shift -= 8) {
      s += static_cast<char>((v >> shift) & 0xFF);
    }
  }
  return s;
}

struct Case {
  std::string name;      // shown in the table
  std::string file;      // under dir ("" for arrays that use two)
  std::function<std::string()> run;  // returns what the decoder said
};

std::string describeImage(const std::string& file) {
  try {
    const Image8 img = decodeImageFile(dir + "/" + file, 1);
    return "decoded " + std::to_string(img.width) + "x" + std::to_string(img.height);
  } catch (const DecodeError& e) {
    return std::string("DecodeError: ") + e.what();
  } catch (const std::exception& e) {
    return std::string("uncaught exception: ") + e.what();
  }
}

std::string describeArrays(const std::function<void()>& read) {
  const auto local = [](std::string what) {  // the case folder is noise in the table
    for (size_t at = what.find(dir + "/"); at != std::string::npos; at = what.find(dir + "/")) {
      what.erase(at, dir.size() + 1);
    }
    return what;
  };
  try {
    read();
    return "read without error";
  } catch (const InputError& e) {
    return "InputError: " + local(e.what());
  } catch (const std::bad_alloc&) {
    return "uncaught std::bad_alloc";
  } catch (const std::exception& e) {
    return "uncaught exception: " + local(e.what());
  }
}

// Runs one case in a child; returns (result, peak RSS in MB).
std::pair<std::string, double> runIsolated(const Case& c) {
  int fds[2];
  if (pipe(fds) != 0) {
    return {"pipe failed", 0};
  }
  const pid_t pid = fork();
  if (pid == 0) {
    close(fds[0]);
    const rlimit as{6ull << 30, 6ull << 30};
    setrlimit(RLIMIT_AS, &as);
    const std::string r = c.run();
    (void)!write(fds[1], r.data(), r.size());
    _exit(0);
  }
  close(fds[1]);
  std::string out;
  char buf[4096];
  ssize_t n;
  while ((n = read(fds[0], buf, sizeof buf)) > 0) {
    out.append(buf, static_cast<size_t>(n));
  }
  close(fds[0]);
  int status = 0;
  rusage ru{};
  wait4(pid, &status, 0, &ru);
  if (WIFSIGNALED(status)) {
    out = std::string("crashed: ") + strsignal(WTERMSIG(status));
  }
  return {out, static_cast<double>(ru.ru_maxrss) / 1024.0};
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: decode_report OUTDIR\n");
    return 2;
  }
  dir = argv[1];
  fs::create_directories(dir);
  std::vector<Case> cases;
  const auto image = [&](const std::string& name, const std::string& file, const std::string& bytes) {
    writeBytes(file, bytes);
    cases.push_back({name, file, [file] { return describeImage(file); }});
  };

  const cv::Mat rgb = noise(96, 96, CV_8UC3);
  const std::string jpg = encode(".jpg", rgb);
  const std::string prog = encode(".jpg", rgb, {cv::IMWRITE_JPEG_PROGRESSIVE, 1});
  const std::string png = encode(".png", rgb);
  const std::string tif = encode(".tif", rgb, {cv::IMWRITE_TIFF_COMPRESSION, 1});
  const std::string lzw = encode(".tif", rgb);
  const std::string bmp = encode(".bmp", rgb);
  const std::string pgm = encode(".pgm", noise(96, 96, CV_8UC1));
  image("JPEG 96x96, complete", "ok.jpg", jpg);
  image("JPEG cut at 50%", "cut50.jpg", jpg.substr(0, jpg.size() / 2));
  image("JPEG cut at 90%", "cut90.jpg", jpg.substr(0, jpg.size() * 9 / 10));
  image("JPEG without its last 2 bytes (EOI)", "noeoi.jpg", jpg.substr(0, jpg.size() - 2));
  image("JPEG header only (first 300 bytes)", "header.jpg", jpg.substr(0, 300));
  image("progressive JPEG cut at 50%", "prog50.jpg", prog.substr(0, prog.size() / 2));
  image("JPEG + 100 zero bytes + trailer after EOI", "padded.jpg", jpg + std::string(100, '\0') + "trailer");
  image("PNG cut at 50%", "cut50.png", png.substr(0, png.size() / 2));
  image("PNG without IEND (last 12 bytes)", "noiend.png", png.substr(0, png.size() - 12));
  image("TIFF (uncompressed) cut at 50%", "cut50.tif", tif.substr(0, tif.size() / 2));
  image("TIFF (LZW) cut at 75%", "cut75-lzw.tif", lzw.substr(0, lzw.size() * 3 / 4));
  image("BMP cut at 50%", "cut50.bmp", bmp.substr(0, bmp.size() / 2));
  image("PGM cut at 50%", "cut50.pgm", pgm.substr(0, pgm.size() / 2));

  test::writeBlackPng(dir + "/huge.png", 20000, 20000);
  cases.push_back({"valid 20000x20000 gray PNG (" + std::to_string(fs::file_size(dir + "/huge.png") / 1024) + " KB)",
                   "huge.png", [] { return describeImage("huge.png"); }});
  std::string bigJpg = encode(".jpg", noise(16, 16, CV_8UC1));
  const size_t sof = bigJpg.find("\xFF\xC0");
  bigJpg[sof + 5] = bigJpg[sof + 7] = static_cast<char>(0x75);
  bigJpg[sof + 6] = bigJpg[sof + 8] = static_cast<char>(0x30);
  image("JPEG whose frame header claims 30000x30000", "huge.jpg", bigJpg);
  std::string hugeTif("II*\0\x08\0\0\0\x02\0", 10);
  for (const uint16_t tag : {256, 257}) {
    hugeTif += std::string{static_cast<char>(tag & 0xFF), static_cast<char>(tag >> 8), 4, 0, 1, 0, 0, 0};
    hugeTif += std::string("\x50\xC3\0\0", 4);  // 50000
  }
  hugeTif += std::string(4, '\0');
  image("TIFF IFD claiming 50000x50000, no strips", "huge.tif", hugeTif);
  image("PGM header claiming 65535x65535, 3 data bytes", "huge.pgm", "P5\n65535 65535\n255\nxyz");

  cv::imwrite(dir + "/one.png", cv::Mat(1, 1, CV_8UC1, cv::Scalar(200)));
  cases.push_back({"1x1 PNG", "one.png", [] { return describeImage("one.png"); }});
  cv::imwrite(dir + "/rgba.png", cv::Mat(4, 4, CV_8UC4, cv::Scalar(0, 0, 255, 128)));
  cases.push_back({"RGBA PNG", "rgba.png", [] { return describeImage("rgba.png"); }});
  cv::imwrite(dir + "/gray16.tif", cv::Mat(4, 4, CV_16UC1, cv::Scalar(1000)));
  cases.push_back({"16-bit gray TIFF", "gray16.tif", [] { return describeImage("gray16.tif"); }});
  cv::imwrite(dir + "/rgb16.png", cv::Mat(4, 4, CV_16UC3, cv::Scalar(0, 1000, 60000)));
  cases.push_back({"16-bit RGB PNG", "rgb16.png", [] { return describeImage("rgb16.png"); }});
  test::writeBlackPng(dir + "/two.png", 4, 4, 4);
  cases.push_back({"2-channel (gray+alpha) PNG", "two.png", [] { return describeImage("two.png"); }});
  cv::Mat f(1, 3, CV_32FC1);
  f.at<float>(0, 0) = -1.f;
  f.at<float>(0, 1) = 0.5f;
  f.at<float>(0, 2) = 3.f;
  cv::imwrite(dir + "/float.tif", f);
  cases.push_back({"float32 TIFF", "float.tif", [] { return describeImage("float.tif"); }});
  f.at<float>(0, 1) = std::nanf("");
  cv::imwrite(dir + "/nan.tif", f);
  cases.push_back({"float32 TIFF with a NaN pixel", "nan.tif", [] { return describeImage("nan.tif"); }});
  f.at<float>(0, 1) = std::numeric_limits<float>::infinity();
  cv::imwrite(dir + "/inf.tif", f);
  cases.push_back({"float32 TIFF with an inf pixel", "inf.tif", [] { return describeImage("inf.tif"); }});

  image("text saved as .png", "text.png", "This is a README saved as .png by mistake.\n");
  std::mt19937 rng(11);
  std::string random(4096, '\0');
  for (char& ch : random) {
    ch = static_cast<char>(rng() & 0xFF);
  }
  random[0] = 'x';
  image("4 KB random bytes as .jpg", "random.jpg", random);
  image("0-byte .png", "empty.png", "");
  std::string garbled = encode(".png", noise(16, 16, CV_8UC1));
  for (size_t k = garbled.find("IDAT") + 4, end = k + 36; k < end; ++k) {
    garbled[k] = static_cast<char>(rng() & 0xFF);
  }
  image("PNG with garbled IDAT data (chunks complete)", "garbled.png", garbled);
  cases.push_back({"file deleted between scan and decode", "gone.png", [] { return describeImage("gone.png"); }});

  test::writeTestDicom(dir + "/ok.dcm", std::vector<uint8_t>(64 * 64, 7), 64, 64);
  cases.push_back({"DICOM 64x64", "ok.dcm", [] { return describeImage("ok.dcm"); }});
  const std::string dcm = readBytes("ok.dcm");
  std::string ts = dcm;
  for (size_t at = ts.find("1.2.840.10008.1.2.1"); at != std::string::npos; at = ts.find("1.2.840.10008.1.2.1")) {
    ts.replace(at, 19, "1.2.840.99999.9.9.9");
  }
  image("DICOM with an unknown transfer syntax UID", "unknown-ts.dcm", ts);
  image("DICOM without pixel data", "nopixels.dcm", dcm.substr(0, dcm.rfind(std::string("\xe0\x7f\x10\x00", 4))));
  std::string tall = dcm;
  const size_t rowsAt = tall.find(std::string("\x28\x00\x10\x00US\x02\x00", 8));
  tall[rowsAt + 8] = static_cast<char>(0xFF);
  tall[rowsAt + 9] = static_cast<char>(0x7F);
  image("DICOM whose Rows claim 32767 (data for 64)", "tall.dcm", tall);
  image("DICOM cut in its pixel data", "cut.dcm", dcm.substr(0, dcm.size() - 1000));

  // Arrays.
  const auto npzCase = [&](const std::string& name, const std::string& file,
                           const std::vector<std::pair<std::string, std::string>>& entries) {
    writeNpz(file, entries);
    cases.push_back({name, file, [file] { return describeArrays([&] { readNpz(dir + "/" + file); }); }});
  };
  const std::string images2 = npy("|u1", "(2, 1, 1)", "\x05\x06");
  const std::string labels1 = npy("|u1", "(1,)", std::string(1, '\0'));
  npzCase(".npz whose images header claims 100000x1000x1000 (93 GB)", "huge.npz",
          {{"train_images.npy", npy("|u1", "(100000, 1000, 1000)", std::string(64, '\0'))},
           {"train_labels.npy", labels1}});
  npzCase(".npz whose images claim 1 byte more than the entry holds", "cut.npz",
          {{"train_images.npy", npy("|u1", "(2, 4, 4)", std::string(31, '\x01'))},
           {"train_labels.npy", npy("|u1", "(2,)", std::string("\0\1", 2))}});
  npzCase(".npz with a label of 2^62", "label62.npz",
          {{"train_images.npy", images2}, {"train_labels.npy", npy("<i8", "(2,)", le64(0) + le64(int64_t{1} << 62))}});
  npzCase(".npz with a label of -1", "negative.npz",
          {{"train_images.npy", images2}, {"train_labels.npy", npy("<i8", "(2,)", le64(0) + le64(-1))}});
  npzCase(".npz with float32 images", "float.npz",
          {{"train_images.npy", npy("<f4", "(1, 1, 1)", std::string(4, '\0'))}, {"train_labels.npy", labels1}});
  npzCase(".npz with Fortran-ordered images", "fortran.npz",
          {{"train_images.npy", npy("|u1", "(1, 2, 2)", std::string(4, '\0'), true)}, {"train_labels.npy", labels1}});
  npzCase(".npz with 2 images and 1 label", "mismatch.npz",
          {{"train_images.npy", images2}, {"train_labels.npy", labels1}});
  writeBytes("huge-idx", idxHeader({0x803, 1u << 20, 1024, 1024}) + std::string(64, '\0'));
  writeBytes("labels-idx", idxHeader({0x801, 1u << 20}) + std::string(1u << 20, '\1'));
  {
    gzFile gz = gzopen((dir + "/huge-idx.gz").c_str(), "wb");
    const std::string bytes = readBytes("huge-idx");
    gzwrite(gz, bytes.data(), static_cast<unsigned>(bytes.size()));
    gzclose(gz);
  }
  for (const std::string file : {"huge-idx", "huge-idx.gz"}) {
    cases.push_back({std::string("IDX") + (file.size() > 8 ? " (gzip)" : "") + " whose dims claim 2^20x1024x1024 (1 TiB)",
                     file, [file] {
                       return describeArrays([&] { readIdx(dir + "/" + file, dir + "/labels-idx"); });
                     }});
  }

  std::printf("| case | file | result | peak RSS |\n|---|---|---|---|\n");
  for (const Case& c : cases) {
    std::error_code ec;
    const auto size = fs::file_size(dir + "/" + c.file, ec);
    const auto [result, rss] = runIsolated(c);
    std::printf("| %s | %s | %s | %.0f MB |\n", c.name.c_str(), ec ? "-" : (std::to_string(size) + " B").c_str(),
                result.c_str(), rss);
    std::fflush(stdout);
  }
  return 0;
}
