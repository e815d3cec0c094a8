#include "connectors/zmq/curve_keys.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zmq.h>

#include <array>
#include <cerrno>
#include <string>
#include <system_error>

namespace yktgw::district {
namespace {

constexpr std::string_view kZ85Alphabet =
    "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ.-:+=^!/*?&<>()[]{}@%$#";

// A key file is a few hundred bytes; anything much bigger is not one, and reading it whole
// would only waste memory.
constexpr off_t kMaxKeyFileBytes = off_t{64} * 1024;

std::string trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\r')) {
    s.remove_suffix(1);
  }
  return std::string(s);
}

// `name = "value"` or `name = value`; false when the line is not that key.
bool key_value(std::string_view line, std::string_view name, std::string& value) {
  const std::string t = trim(line);
  if (!t.starts_with(name)) return false;
  std::string_view rest = std::string_view(t).substr(name.size());
  const std::string after = trim(rest);
  if (after.empty() || after.front() != '=') return false;
  std::string v = trim(std::string_view(after).substr(1));
  if (v.size() >= 2 && v.front() == '"' && v.back() == '"') v = v.substr(1, v.size() - 2);
  value = std::move(v);
  return true;
}

// Call right after the failing system call: errno is read first, before anything can touch it.
// std::error_code rather than strerror(), whose buffer other threads may share.
Error io_error(const std::string& path, std::string_view what) {
  const std::error_code cause(errno, std::generic_category());
  return make_error("curve_key_file",
                    "CURVE key file '" + path + "': " + std::string(what) + ": " + cause.message());
}

Error format_error(const std::string& path, std::string_view what) {
  return make_error("curve_key_file", "CURVE key file '" + path + "': " + std::string(what));
}

}  // namespace

bool is_z85_key(std::string_view text) {
  if (text.size() != kZ85KeyLength) return false;
  if (text.find_first_not_of(kZ85Alphabet) != std::string_view::npos) return false;
  std::array<std::uint8_t, 32> raw{};
  const std::string z(text);  // zmq_z85_decode wants a NUL-terminated string
  return zmq_z85_decode(raw.data(), z.c_str()) != nullptr;
}

Result<CurveKeyPair> generate_curve_keypair() {
  if (zmq_has("curve") == 0) {
    return make_error("curve_unavailable", "this libzmq was built without CURVE security");
  }
  std::array<char, kZ85KeyLength + 1> pub{};
  std::array<char, kZ85KeyLength + 1> sec{};
  if (zmq_curve_keypair(pub.data(), sec.data()) != 0) {
    return make_error("curve_unavailable", std::string("cannot generate a CURVE key pair: ") +
                                               zmq_strerror(zmq_errno()));
  }
  return CurveKeyPair{std::string(pub.data(), kZ85KeyLength),
                      std::string(sec.data(), kZ85KeyLength)};
}

Result<std::string> curve_public_key_of(std::string_view secret_key) {
  if (!is_z85_key(secret_key)) {
    return make_error("bad_curve_key", "a CURVE secret key is 40 characters of Z85");
  }
  std::array<char, kZ85KeyLength + 1> pub{};
  const std::string sec(secret_key);
  if (zmq_curve_public(pub.data(), sec.c_str()) != 0) {
    return make_error("curve_unavailable", std::string("cannot derive the CURVE public key: ") +
                                               zmq_strerror(zmq_errno()));
  }
  return std::string(pub.data(), kZ85KeyLength);
}

std::string curve_key_file_text(const CurveKeyPair& keys) {
  return "#   ****  yktgw district link CURVE key pair  ****\n"
         "#   ZeroMQ CURVE **Secret** Certificate\n"
         "#   DO NOT PROVIDE THIS FILE TO OTHER USERS nor change its permissions.\n"
         "#   Give only the public key to the other side.\n"
         "\n"
         "metadata\n"
         "curve\n"
         "    public-key = \"" +
         keys.public_key +
         "\"\n"
         "    secret-key = \"" +
         keys.secret_key + "\"\n";
}

Result<CurveKeyPair> read_curve_key_file(const std::string& path) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return io_error(path, "cannot open");
  struct stat st {};
  // The checks look at the descriptor just opened, so a file swapped in between cannot slip by.
  if (::fstat(fd, &st) != 0) {
    const Error e = io_error(path, "cannot stat");
    ::close(fd);
    return e;
  }
  if (!S_ISREG(st.st_mode)) {
    ::close(fd);
    return format_error(path, "not a regular file");
  }
  if ((st.st_mode & (S_IRWXG | S_IRWXO)) != 0) {
    ::close(fd);
    return format_error(path, "is accessible to group or others; chmod 600 it");
  }
  if (st.st_size > kMaxKeyFileBytes) {
    ::close(fd);
    return format_error(path, "too large to be a key file");
  }
  std::string text(static_cast<std::size_t>(st.st_size), '\0');
  std::size_t got = 0;
  while (got < text.size()) {
    const ssize_t n = ::read(fd, text.data() + got, text.size() - got);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      const Error e = io_error(path, "cannot read");
      ::close(fd);
      return e;
    }
    if (n == 0) break;
    got += static_cast<std::size_t>(n);
  }
  ::close(fd);
  text.resize(got);

  CurveKeyPair keys;
  std::size_t start = 0;
  while (start < text.size()) {
    std::size_t end = text.find('\n', start);
    if (end == std::string::npos) end = text.size();
    const std::string_view line(text.data() + start, end - start);
    start = end + 1;
    if (trim(line).starts_with("#")) continue;
    std::string value;
    if (key_value(line, "public-key", value)) {
      keys.public_key = value;
    } else if (key_value(line, "secret-key", value)) {
      keys.secret_key = value;
    }
  }
  if (keys.secret_key.empty()) return format_error(path, "has no secret-key line");
  if (!is_z85_key(keys.secret_key)) {
    return format_error(path, "secret-key is not 40 characters of Z85");
  }
  if (keys.public_key.empty()) return format_error(path, "has no public-key line");
  if (!is_z85_key(keys.public_key)) {
    return format_error(path, "public-key is not 40 characters of Z85");
  }
  auto derived = curve_public_key_of(keys.secret_key);
  if (!derived) return derived.error();
  if (*derived != keys.public_key) {
    return format_error(path, "public-key does not belong to secret-key");
  }
  return keys;
}

Result<void> write_curve_key_file(const std::string& path, const CurveKeyPair& keys,
                                  bool overwrite) {
  if (!is_z85_key(keys.public_key) || !is_z85_key(keys.secret_key)) {
    return make_error("bad_curve_key", "refusing to write a malformed CURVE key pair");
  }
  const std::string text = curve_key_file_text(keys);
  // Without `overwrite` the final name is created exclusively; with it, a temporary file is
  // renamed over the old one so a crash never leaves a half-written key behind.
  std::string target = path;
  int fd = -1;
  if (overwrite) {
    target = path + ".tmp-XXXXXX";
    fd = ::mkstemp(target.data());  // mode 0600
  } else {
    fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  }
  if (fd < 0) {
    if (errno == EEXIST) return format_error(path, "already exists; not replacing a key");
    return io_error(path, "cannot create");
  }
  if (::fchmod(fd, 0600) != 0) {  // the umask may have taken bits away, never added; be exact
    const Error e = io_error(path, "cannot set mode 0600");
    ::close(fd);
    ::unlink(target.c_str());
    return e;
  }
  std::size_t done = 0;
  while (done < text.size()) {
    const ssize_t n = ::write(fd, text.data() + done, text.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      const Error e = io_error(path, "cannot write");
      ::close(fd);
      ::unlink(target.c_str());
      return e;
    }
    done += static_cast<std::size_t>(n);
  }
  const bool synced = ::fsync(fd) == 0;
  const int sync_errno = errno;
  const bool closed = ::close(fd) == 0;
  if (!synced || !closed) {
    if (!synced) errno = sync_errno;
    const Error e = io_error(path, "cannot flush");
    ::unlink(target.c_str());
    return e;
  }
  if (overwrite && ::rename(target.c_str(), path.c_str()) != 0) {
    const Error e = io_error(path, "cannot replace");
    ::unlink(target.c_str());
    return e;
  }
  return {};
}

}  // namespace yktgw::district
