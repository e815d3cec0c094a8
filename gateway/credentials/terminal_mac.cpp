#include "gateway/credentials/terminal_mac.h"

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/params.h>
#include <sys/stat.h>

#include <array>
#include <fstream>
#include <sstream>
#include <utility>

#include "gateway/core/errno_message.h"

namespace yktgw {
namespace {

constexpr char kHexDigits[] = "0123456789abcdef";

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

void append_field(std::string& out, std::string_view field) {
  for (const char c : field) {
    if (c == '\\' || c == '|') out += '\\';
    out += c;
  }
}

std::string to_hex(const unsigned char* data, std::size_t n) {
  std::string hex(n * 2, '0');
  for (std::size_t i = 0; i < n; ++i) {
    hex[2 * i] = kHexDigits[data[i] >> 4];
    hex[2 * i + 1] = kHexDigits[data[i] & 0xf];
  }
  return hex;
}

bool is_terminal_char(char c) {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' ||
         c == '.' || c == '-';
}

bool is_terminal_id(std::string_view id) {
  if (id.empty() || id.size() > 64) return false;
  for (const char c : id)
    if (!is_terminal_char(c)) return false;
  return true;
}

// An HMAC-SM3 context keyed once; each MAC works on a copy so callers on many threads never
// share mutable OpenSSL state.
EVP_MAC_CTX* new_keyed_ctx(std::string_view key) {
  EVP_MAC* mac = EVP_MAC_fetch(nullptr, "HMAC", nullptr);
  if (mac == nullptr) return nullptr;
  EVP_MAC_CTX* ctx = EVP_MAC_CTX_new(mac);
  EVP_MAC_free(mac);  // the context keeps its own reference
  if (ctx == nullptr) return nullptr;
  char digest[] = "SM3";
  std::array<OSSL_PARAM, 2> params{
      OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, digest, 0),
      OSSL_PARAM_construct_end()};
  if (EVP_MAC_init(ctx, reinterpret_cast<const unsigned char*>(key.data()), key.size(),
                   params.data()) != 1) {
    EVP_MAC_CTX_free(ctx);
    return nullptr;
  }
  return ctx;
}

std::string mac_with(const EVP_MAC_CTX* keyed, std::string_view canonical) {
  std::array<unsigned char, EVP_MAX_MD_SIZE> out{};
  std::size_t len = 0;
  EVP_MAC_CTX* ctx = EVP_MAC_CTX_dup(keyed);
  const bool ok = ctx != nullptr &&
                  EVP_MAC_update(ctx, reinterpret_cast<const unsigned char*>(canonical.data()),
                                 canonical.size()) == 1 &&
                  EVP_MAC_final(ctx, out.data(), &len, out.size()) == 1;
  EVP_MAC_CTX_free(ctx);
  return ok ? to_hex(out.data(), len) : std::string();
}

}  // namespace

std::string mac_canonical_form(const AuthRequest& r) {
  std::string out;
  out.reserve(96 + r.req_id.size() + r.terminal.size() + r.credential.card_no.size());
  out += std::to_string(kMacCanonicalVersion);
  out += '|';
  append_field(out, r.req_id);
  out += '|';
  append_field(out, r.terminal);
  out += '|';
  append_field(out, r.scenario);
  out += '|';
  out += std::to_string(r.ts_ms);
  out += '|';
  out += to_string(r.credential.type);
  out += '|';
  append_field(out, r.credential.card_no);
  out += '|';
  out += std::to_string(r.amount_fen);
  return out;
}

std::string terminal_mac_hex(std::string_view key, std::string_view canonical) {
  EVP_MAC_CTX* ctx = new_keyed_ctx(key);
  if (ctx == nullptr) return {};
  std::string hex = mac_with(ctx, canonical);
  EVP_MAC_CTX_free(ctx);
  return hex;
}

bool decode_hex(std::string_view hex, std::string& out) {
  if (hex.size() % 2 != 0) return false;
  out.clear();
  out.reserve(hex.size() / 2);
  for (std::size_t i = 0; i < hex.size(); i += 2) {
    const int hi = hex_value(hex[i]);
    const int lo = hex_value(hex[i + 1]);
    if (hi < 0 || lo < 0) return false;
    out.push_back(static_cast<char>(hi * 16 + lo));
  }
  return true;
}

struct TerminalMacKeys::Keyed {
  EVP_MAC_CTX* ctx = nullptr;
  ~Keyed() { EVP_MAC_CTX_free(ctx); }
};

TerminalMacKeys::TerminalMacKeys() = default;
TerminalMacKeys::TerminalMacKeys(TerminalMacKeys&&) noexcept = default;
TerminalMacKeys& TerminalMacKeys::operator=(TerminalMacKeys&&) noexcept = default;
TerminalMacKeys::~TerminalMacKeys() = default;

Result<void> TerminalMacKeys::add(std::string terminal, std::string_view key) {
  if (!is_terminal_id(terminal))
    return make_error("mac_key", "terminal id must be 1-64 of A-Z a-z 0-9 _ . -");
  if (key.size() < kMinKeyBytes)
    return make_error("mac_key", "MAC key of terminal " + terminal + " is shorter than 16 bytes");
  auto keyed = std::make_unique<Keyed>();
  keyed->ctx = new_keyed_ctx(key);
  if (keyed->ctx == nullptr) return make_error("mac_key", "OpenSSL cannot set up HMAC-SM3");
  keys_[std::move(terminal)] = std::move(keyed);
  return {};
}

Result<TerminalMacKeys> TerminalMacKeys::parse(std::string_view text, const std::string& name) {
  TerminalMacKeys keys;
  std::size_t line_no = 0;
  while (!text.empty()) {
    ++line_no;
    const std::size_t nl = text.find('\n');
    std::string_view line = text.substr(0, nl);
    text.remove_prefix(nl == std::string_view::npos ? text.size() : nl + 1);
    if (const std::size_t hash = line.find('#'); hash != std::string_view::npos)
      line = line.substr(0, hash);
    // Split on blanks; the messages name the line but never echo a key.
    std::array<std::string_view, 3> fields{};
    std::size_t n = 0;
    std::size_t i = 0;
    while (i < line.size()) {
      while (i < line.size() && (line[i] == ' ' || line[i] == '\t' || line[i] == '\r')) ++i;
      const std::size_t start = i;
      while (i < line.size() && line[i] != ' ' && line[i] != '\t' && line[i] != '\r') ++i;
      if (i > start) {
        if (n == fields.size()) break;
        fields[n++] = line.substr(start, i - start);
      }
    }
    if (n == 0) continue;
    const std::string where = name + ":" + std::to_string(line_no) + ": ";
    if (n != 2) return make_error("mac_key", where + "expected 'terminal_id hex_key' (two fields)");
    if (!is_terminal_id(fields[0]))
      return make_error("mac_key", where + "terminal id must be 1-64 of A-Z a-z 0-9 _ . -");
    if (keys.has_key(fields[0]))
      return make_error("mac_key", where + "terminal " + std::string(fields[0]) + " listed twice");
    std::string key;
    if (!decode_hex(fields[1], key))
      return make_error("mac_key", where + "key must be an even number of hex digits");
    if (key.size() < kMinKeyBytes)
      return make_error("mac_key", where + "key must be at least 32 hex digits (16 bytes)");
    if (auto r = keys.add(std::string(fields[0]), key); !r)
      return make_error("mac_key", where + r.error().message);
  }
  return keys;
}

Result<TerminalMacKeys> TerminalMacKeys::from_file(const std::string& path) {
  struct stat st {};
  if (stat(path.c_str(), &st) != 0)
    return make_error("mac_key", "cannot read '" + path + "': " + errno_message());
  if ((st.st_mode & (S_IRWXG | S_IRWXO)) != 0)
    return make_error("mac_key", "terminal MAC key file '" + path +
                                     "' is accessible to group or others; chmod 600 it");
  std::ifstream in(path, std::ios::binary);
  if (!in) return make_error("mac_key", "cannot read '" + path + "': " + errno_message());
  std::ostringstream ss;
  ss << in.rdbuf();
  return parse(ss.str(), path);
}

std::size_t TerminalMacKeys::size() const { return keys_.size(); }

bool TerminalMacKeys::has_key(std::string_view terminal) const {
  return keys_.find(terminal) != keys_.end();
}

std::string TerminalMacKeys::compute(std::string_view terminal, std::string_view canonical) const {
  const auto it = keys_.find(terminal);
  if (it == keys_.end()) return {};
  return mac_with(it->second->ctx, canonical);
}

Reason TerminalMacKeys::check(std::string_view terminal, std::string_view canonical,
                              std::string_view mac_hex, bool required) const {
  if (mac_hex.empty()) return required ? Reason::mac_required : Reason::ok;
  const std::string expected = compute(terminal, canonical);
  if (expected.empty() || mac_hex.size() != expected.size()) return Reason::bad_mac;
  // Upper-case hex is the same MAC. OR-ing 0x20 folds A-F onto a-f and leaves digits alone;
  // the hex check first keeps other bytes from folding onto digits.
  std::string given(mac_hex);
  for (char& c : given) {
    if (hex_value(c) < 0) return Reason::bad_mac;
    c = static_cast<char>(c | 0x20);
  }
  return CRYPTO_memcmp(given.data(), expected.data(), expected.size()) == 0 ? Reason::ok
                                                                            : Reason::bad_mac;
}

}  // namespace yktgw
