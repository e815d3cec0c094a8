#include "gateway/cardlist/card_list_image.h"

#include <fcntl.h>
#include <openssl/evp.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <new>
#include <vector>

namespace yktgw {
namespace {

// Layout (host byte order; the file never leaves the box that wrote it, and the marker below
// refuses it anywhere else):
//   "YKTCLIMG", u32 format, u32 0x01020304, i64 version, i64 updated_ms,
//   u32 length + feed id, u32 group count + (u32 length + name) each,
//   u64 key count, u64 collision count, keys (u64 each), values (u32 each),
//   collisions: u64 prefix, u32 token count, (32-byte token, u32 value) each,
//   SHA-256 of everything before it (32 bytes).
constexpr char kMagic[8] = {'Y', 'K', 'T', 'C', 'L', 'I', 'M', 'G'};
constexpr std::uint32_t kFormat = 1;
constexpr std::uint32_t kByteOrder = 0x01020304;
constexpr std::size_t kDigestBytes = 32;

struct Sha256 {
  Sha256() : ctx(EVP_MD_CTX_new()) {
    ok = ctx != nullptr && EVP_DigestInit_ex(ctx, EVP_sha256(), nullptr) == 1;
  }
  ~Sha256() { EVP_MD_CTX_free(ctx); }
  Sha256(const Sha256&) = delete;
  Sha256& operator=(const Sha256&) = delete;
  void update(const void* p, std::size_t n) { ok = ok && EVP_DigestUpdate(ctx, p, n) == 1; }
  bool final(unsigned char* out) {
    unsigned int len = 0;
    return ok && EVP_DigestFinal_ex(ctx, out, &len) == 1 && len == kDigestBytes;
  }
  EVP_MD_CTX* ctx;
  bool ok = false;
};

class Fd {
 public:
  explicit Fd(int fd) : fd_(fd) {}
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  ~Fd() {
    if (fd_ >= 0) ::close(fd_);
  }
  int get() const { return fd_; }
  int release() {
    int fd = fd_;
    fd_ = -1;
    return fd;
  }

 private:
  int fd_;
};

std::string errno_text() { return std::strerror(errno); }

class Writer {
 public:
  explicit Writer(int fd) : fd_(fd) { buf_.reserve(kBuffer); }
  void put(const void* p, std::size_t n) {
    sha_.update(p, n);
    const auto* c = static_cast<const char*>(p);
    while (n > 0 && ok_) {
      const std::size_t take = std::min(n, kBuffer - buf_.size());
      buf_.insert(buf_.end(), c, c + take);
      c += take;
      n -= take;
      if (buf_.size() == kBuffer) flush();
    }
  }
  template <typename T>
  void put_value(T v) {
    put(&v, sizeof v);
  }
  void put_text(const std::string& s) {
    put_value(static_cast<std::uint32_t>(s.size()));
    put(s.data(), s.size());
  }
  Result<void> finish() {
    unsigned char digest[kDigestBytes];
    if (!sha_.final(digest)) return make_error("image_write", "SHA-256 failed");
    buf_.insert(buf_.end(), reinterpret_cast<char*>(digest),
                reinterpret_cast<char*>(digest) + kDigestBytes);
    flush();
    if (!ok_) return make_error("image_write", "write failed: " + error_);
    return {};
  }

 private:
  static constexpr std::size_t kBuffer = 1 << 20;
  void flush() {
    std::size_t off = 0;
    while (ok_ && off < buf_.size()) {
      const ssize_t n = ::write(fd_, buf_.data() + off, buf_.size() - off);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) {
        ok_ = false;
        error_ = errno_text();
        break;
      }
      off += static_cast<std::size_t>(n);
    }
    buf_.clear();
  }
  int fd_;
  std::vector<char> buf_;
  Sha256 sha_;
  bool ok_ = true;
  std::string error_;
};

class Reader {
 public:
  Reader(int fd, std::uint64_t size) : fd_(fd), remaining_(size) {}
  bool get(void* p, std::size_t n, bool hash = true) {
    if (n > remaining_) return false;
    auto* c = static_cast<char*>(p);
    std::size_t off = 0;
    while (off < n) {
      const ssize_t r = ::read(fd_, c + off, n - off);
      if (r < 0 && errno == EINTR) continue;
      if (r <= 0) return false;
      off += static_cast<std::size_t>(r);
    }
    if (hash) sha_.update(p, n);
    remaining_ -= n;
    return true;
  }
  template <typename T>
  bool get_value(T& v) {
    return get(&v, sizeof v);
  }
  bool get_text(std::string& s, std::uint32_t max) {
    std::uint32_t len = 0;
    if (!get_value(len) || len > max) return false;
    s.resize(len);
    return get(s.data(), len);
  }
  std::uint64_t remaining() const { return remaining_; }
  bool digest_matches() {
    unsigned char want[kDigestBytes];
    unsigned char have[kDigestBytes];
    if (!sha_.final(want)) return false;
    if (!get(have, kDigestBytes, /*hash=*/false)) return false;
    return remaining_ == 0 && std::memcmp(want, have, kDigestBytes) == 0;
  }

 private:
  int fd_;
  std::uint64_t remaining_;
  Sha256 sha_;
};

Error corrupt(const std::string& path, const std::string& why) {
  return make_error("image_corrupt", path + ": " + why);
}

}  // namespace

Result<void> write_card_list_image(const std::string& path, const CardIndex& index,
                                   const AttributeNames& names) {
  if (index.is_layered()) {
    return make_error("image_layered", "an update is still layered over the index; merge it first");
  }
  namespace fs = std::filesystem;
  const fs::path target(path);
  const fs::path dir = target.has_parent_path() ? target.parent_path() : fs::path(".");
  std::string tmp = (dir / (target.filename().string() + ".XXXXXX")).string();
  Fd fd(::mkstemp(tmp.data()));
  if (fd.get() < 0) return make_error("image_write", "cannot create " + tmp + ": " + errno_text());
  auto fail = [&](Error e) {
    ::unlink(tmp.c_str());
    return e;
  };

  Writer w(fd.get());
  w.put(kMagic, sizeof kMagic);
  w.put_value(kFormat);
  w.put_value(kByteOrder);
  w.put_value(index.meta().version);
  w.put_value(index.meta().updated_ms);
  w.put_text(index.meta().feed_id);
  w.put_value(static_cast<std::uint32_t>(names.groups().size()));
  for (const auto& g : names.groups()) w.put_text(g);
  const auto keys = index.keys();
  const auto values = index.values();
  const auto collisions = index.collisions();
  w.put_value(static_cast<std::uint64_t>(keys.size()));
  w.put_value(static_cast<std::uint64_t>(collisions.size()));
  w.put(keys.data(), keys.size_bytes());
  w.put(values.data(), values.size_bytes());
  for (const auto& g : collisions) {
    w.put_value(g.prefix);
    w.put_value(static_cast<std::uint32_t>(g.tokens.size()));
    for (const auto& t : g.tokens) {
      w.put(t.token.data(), t.token.size());
      w.put_value(t.packed);
    }
  }
  if (auto r = w.finish(); !r) return fail(r.error());
  if (::fsync(fd.get()) != 0) return fail(make_error("image_write", "fsync: " + errno_text()));
  if (::close(fd.release()) != 0) return fail(make_error("image_write", "close: " + errno_text()));
  if (::rename(tmp.c_str(), path.c_str()) != 0) {
    return fail(make_error("image_write", "cannot rename to " + path + ": " + errno_text()));
  }
  // The rename is durable only once the directory entry is on disk.
  Fd dfd(::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (dfd.get() >= 0) (void)::fsync(dfd.get());
  return {};
}

Result<std::shared_ptr<const CardIndex>> read_card_list_image(const std::string& path,
                                                              const AttributeNames& names) {
  Fd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (fd.get() < 0) {
    if (errno == ENOENT) return make_error("image_missing", path + ": no image");
    return corrupt(path, "cannot open: " + errno_text());
  }
  struct stat st {};
  if (::fstat(fd.get(), &st) != 0) return corrupt(path, "cannot stat: " + errno_text());
  (void)::posix_fadvise(fd.get(), 0, 0, POSIX_FADV_SEQUENTIAL);
  Reader r(fd.get(), static_cast<std::uint64_t>(st.st_size));

  char magic[sizeof kMagic];
  std::uint32_t format = 0;
  std::uint32_t order = 0;
  if (!r.get(magic, sizeof magic) || std::memcmp(magic, kMagic, sizeof kMagic) != 0) {
    return corrupt(path, "not a card list image");
  }
  if (!r.get_value(format) || format != kFormat || !r.get_value(order) || order != kByteOrder) {
    return corrupt(path, "unknown image format or byte order");
  }
  ListMeta meta;
  std::uint32_t group_count = 0;
  if (!r.get_value(meta.version) || !r.get_value(meta.updated_ms) ||
      !r.get_text(meta.feed_id, 128) || !r.get_value(group_count) || group_count > 64) {
    return corrupt(path, "header cut short or damaged");
  }
  std::vector<std::string> groups(group_count);
  for (auto& g : groups)
    if (!r.get_text(g, 64)) return corrupt(path, "group table damaged");
  auto image_names = AttributeNames::from(std::move(groups));
  if (!image_names) return corrupt(path, image_names.error().message);

  std::uint64_t count = 0;
  std::uint64_t collision_count = 0;
  if (!r.get_value(count) || !r.get_value(collision_count)) return corrupt(path, "cut short");
  // Checked before allocating, so a damaged count cannot ask for terabytes.
  if (count > r.remaining() / 12 || collision_count > r.remaining() / 12) {
    return corrupt(path, "entry count larger than the file");
  }
  try {
    std::vector<std::uint64_t> keys(count);
    std::vector<std::uint32_t> values(count);
    if (!r.get(keys.data(), count * sizeof(std::uint64_t)) ||
        !r.get(values.data(), count * sizeof(std::uint32_t))) {
      return corrupt(path, "entries cut short");
    }
    std::vector<PrefixGroup> collisions(collision_count);
    for (auto& g : collisions) {
      std::uint32_t n = 0;
      if (!r.get_value(g.prefix) || !r.get_value(n) || n > r.remaining() / 36) {
        return corrupt(path, "collision table damaged");
      }
      g.tokens.resize(n);
      for (auto& t : g.tokens) {
        if (!r.get(t.token.data(), t.token.size()) || !r.get_value(t.packed)) {
          return corrupt(path, "collision table damaged");
        }
      }
    }
    if (!r.digest_matches()) return corrupt(path, "checksum mismatch");

    const AttributeMap to_memory(*image_names, names);
    if (!to_memory.identity()) {
      auto move_bits = [&](std::uint32_t v) {
        CardEntry e = unpack_entry(v);
        e.attributes = to_memory(e.attributes);
        return pack_entry(e);
      };
      for (auto& v : values) v = move_bits(v);
      for (auto& g : collisions)
        for (auto& t : g.tokens) t.packed = move_bits(t.packed);
    }
    auto index = CardIndex::from_sorted(std::move(keys), std::move(values), std::move(collisions),
                                        std::move(meta));
    if (!index) return corrupt(path, index.error().message);
    return index;
  } catch (const std::bad_alloc&) {
    return make_error("out_of_memory", "not enough memory to read " + path);
  }
}

}  // namespace yktgw
