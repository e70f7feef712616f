#include "engine/util/ArchiveCheck.h"

#include "engine/util/Errors.h"

#include <cstring>
#include <filesystem>
#include <fstream>
#include <memory>
#include <set>
#include <vector>

#ifdef AMPBENCH_HAVE_LIBZIP
#include <zip.h>
#endif

namespace ampbench {

namespace {

[[noreturn]] void refuse(const std::string& name, const std::string& what, const std::string& reason) {
  throw InputError(what + " '" + name + "' is not usable: " + reason);
}

// Torch archives store their records uncompressed; a deflated archive (re-zipped by hand)
// is allowed up to this expansion, far below a zip bomb's ~1000x.
constexpr uint64_t kMaxExpansion = 64;
constexpr uint64_t kMaxEntries = 1'000'000;

#ifdef AMPBENCH_HAVE_LIBZIP

std::string zipOpenError(int code) {
  zip_error_t ze;
  zip_error_init_with_code(&ze, code);
  std::string why = zip_error_strerror(&ze);
  zip_error_fini(&ze);
  return why;
}

void checkOpened(zip_t* za, uint64_t fileSize, const std::string& name, const std::string& what) {
  const zip_int64_t entries = zip_get_num_entries(za, 0);
  if (entries <= 0) {
    refuse(name, what, "empty zip archive");
  }
  if (static_cast<uint64_t>(entries) > kMaxEntries) {
    refuse(name, what, "zip archive with " + std::to_string(entries) + " entries");
  }
  std::string prefix;
  std::set<std::string> names;
  uint64_t total = 0;
  std::vector<char> buf(1 << 20);
  for (zip_int64_t i = 0; i < entries; ++i) {
    zip_stat_t st;
    zip_stat_init(&st);
    if (zip_stat_index(za, static_cast<zip_uint64_t>(i), 0, &st) != 0 || !(st.valid & ZIP_STAT_NAME) ||
        !(st.valid & ZIP_STAT_SIZE) || !(st.valid & ZIP_STAT_COMP_SIZE)) {
      refuse(name, what, "unreadable zip entry " + std::to_string(i) + " (" + zip_strerror(za) + ")");
    }
    const std::string entry = st.name;
    const size_t slash = entry.find('/');
    if (slash == std::string::npos || slash == 0) {
      refuse(name, what, "zip entry '" + entry + "' outside the archive's folder (not a torch archive)");
    }
    if (prefix.empty()) {
      prefix = entry.substr(0, slash + 1);
    } else if (entry.compare(0, prefix.size(), prefix) != 0) {
      refuse(name, what, "zip entries in more than one folder ('" + prefix + "', '" + entry + "')");
    }
    if (st.comp_size > fileSize) {
      refuse(name, what, "zip entry '" + entry + "' claims " + std::to_string(st.comp_size) +
                             " bytes, more than the file's " + std::to_string(fileSize));
    }
    const bool stored = (st.valid & ZIP_STAT_COMP_METHOD) && st.comp_method == ZIP_CM_STORE;
    if (stored && st.size != st.comp_size) {
      refuse(name, what, "zip entry '" + entry + "' has inconsistent sizes");
    }
    total += st.size;
    if (total > kMaxExpansion * fileSize + (1u << 20)) {
      refuse(name, what, "zip entries claim " + std::to_string(total) + " bytes from a file of " +
                             std::to_string(fileSize));
    }
    names.insert(entry);
    // Read the entry through: its data must be inside the file and match its CRC.
    zip_file_t* zf = zip_fopen_index(za, static_cast<zip_uint64_t>(i), 0);
    if (zf == nullptr) {
      refuse(name, what, "cannot open zip entry '" + entry + "' (" + zip_strerror(za) + ")");
    }
    const std::unique_ptr<zip_file_t, int (*)(zip_file_t*)> closer(zf, zip_fclose);
    uint64_t got = 0;
    for (;;) {
      const zip_int64_t n = zip_fread(zf, buf.data(), buf.size());
      if (n < 0) {
        refuse(name, what, "zip entry '" + entry + "' is corrupt or truncated (" + zip_file_strerror(zf) + ")");
      }
      if (n == 0) {
        break;
      }
      got += static_cast<uint64_t>(n);
    }
    if (got != st.size) {
      refuse(name, what, "zip entry '" + entry + "' holds " + std::to_string(got) + " bytes, not the " +
                             std::to_string(st.size) + " it claims");
    }
  }
  for (const char* required : {"data.pkl", "version"}) {
    if (!names.count(prefix + required)) {
      refuse(name, what, "no " + prefix + required + " record (not a torch archive)");
    }
  }
}

#endif  // AMPBENCH_HAVE_LIBZIP

bool hasZipSignature(const char* head, size_t n) { return n >= 4 && std::memcmp(head, "PK\x03\x04", 4) == 0; }

}  // namespace

void checkTorchArchive(const std::string& path, const std::string& what) {
  std::error_code ec;
  const uintmax_t size = std::filesystem::file_size(path, ec);
  if (ec) {
    refuse(path, what, "cannot read it (" + ec.message() + ")");
  }
  char head[4] = {};
  std::ifstream in(path, std::ios::binary);
  in.read(head, 4);
  if (!hasZipSignature(head, static_cast<size_t>(in.gcount()))) {
    refuse(path, what, size == 0 ? "empty file" : "not a zip archive (torch archives are zip files)");
  }
#ifdef AMPBENCH_HAVE_LIBZIP
  int err = 0;
  zip_t* za = zip_open(path.c_str(), ZIP_RDONLY | ZIP_CHECKCONS, &err);
  if (za == nullptr) {
    refuse(path, what, "truncated or corrupt zip archive (" + zipOpenError(err) + ")");
  }
  const std::unique_ptr<zip_t, void (*)(zip_t*)> closer(za, zip_discard);
  checkOpened(za, size, path, what);
#endif
}

void checkTorchArchiveBytes(const void* data, size_t size, const std::string& name, const std::string& what) {
  if (!hasZipSignature(static_cast<const char*>(data), size)) {
    refuse(name, what, size == 0 ? "empty file" : "not a zip archive (torch archives are zip files)");
  }
#ifdef AMPBENCH_HAVE_LIBZIP
  zip_error_t ze;
  zip_error_init(&ze);
  zip_source_t* src = zip_source_buffer_create(data, size, 0, &ze);
  if (src == nullptr) {
    zip_error_fini(&ze);
    refuse(name, what, "cannot read the archive");
  }
  zip_t* za = zip_open_from_source(src, ZIP_RDONLY | ZIP_CHECKCONS, &ze);
  if (za == nullptr) {
    const std::string why = zip_error_strerror(&ze);
    zip_error_fini(&ze);
    zip_source_free(src);
    refuse(name, what, "truncated or corrupt zip archive (" + why + ")");
  }
  zip_error_fini(&ze);
  const std::unique_ptr<zip_t, void (*)(zip_t*)> closer(za, zip_discard);
  checkOpened(za, size, name, what);
#endif
}

}  // namespace ampbench
