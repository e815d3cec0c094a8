#include "gateway/crypto/sm2.h"

#include <openssl/bio.h>
#include <openssl/evp.h>
#include <openssl/pem.h>

#include <array>
#include <fstream>
#include <sstream>

#include "gateway/core/errno_message.h"

namespace yktgw {
namespace {

struct PkeyDeleter {
  void operator()(EVP_PKEY* p) const { EVP_PKEY_free(p); }
};
using PkeyPtr = std::unique_ptr<EVP_PKEY, PkeyDeleter>;

bool is_sm2(EVP_PKEY* k) { return k != nullptr && EVP_PKEY_is_a(k, "SM2"); }

Result<std::string> read_all(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return make_error("io", "cannot read '" + path + "': " + errno_message());
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

std::string bio_string(BIO* bio) {
  char* data = nullptr;
  long n = BIO_get_mem_data(bio, &data);
  return n > 0 ? std::string(data, static_cast<std::size_t>(n)) : std::string();
}

// Digest-sign or digest-verify context with the SM2 ID set before the first update, as
// OpenSSL 3 requires for Z to include it.
struct MdCtx {
  EVP_MD_CTX* md = EVP_MD_CTX_new();
  EVP_PKEY_CTX* pk = nullptr;
  ~MdCtx() {
    EVP_MD_CTX_free(md);
    EVP_PKEY_CTX_free(pk);
  }
  bool prepare(EVP_PKEY* key, std::string_view id) {
    pk = EVP_PKEY_CTX_new_from_pkey(nullptr, key, nullptr);
    if (md == nullptr || pk == nullptr) return false;
    if (EVP_PKEY_CTX_set1_id(pk, id.data(), id.size()) <= 0) return false;
    EVP_MD_CTX_set_pkey_ctx(md, pk);
    return true;
  }
};

}  // namespace

struct Sm2PublicKey::Impl {
  PkeyPtr key;
};
struct Sm2PrivateKey::Impl {
  PkeyPtr key;
};

Sm2PublicKey::Sm2PublicKey(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Sm2PublicKey::Sm2PublicKey(Sm2PublicKey&&) noexcept = default;
Sm2PublicKey& Sm2PublicKey::operator=(Sm2PublicKey&&) noexcept = default;
Sm2PublicKey::~Sm2PublicKey() = default;

Result<Sm2PublicKey> Sm2PublicKey::from_pem(std::string_view pem) {
  BIO* bio = BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size()));
  PkeyPtr key(PEM_read_bio_PUBKEY(bio, nullptr, nullptr, nullptr));
  BIO_free(bio);
  if (!key) return make_error("sm2_key", "not a PEM public key");
  if (!is_sm2(key.get())) return make_error("sm2_key", "public key is not an SM2 key");
  auto impl = std::make_unique<Impl>();
  impl->key = std::move(key);
  return Sm2PublicKey(std::move(impl));
}

Result<Sm2PublicKey> Sm2PublicKey::from_pem_file(const std::string& path) {
  auto text = read_all(path);
  if (!text) return text.error();
  auto k = from_pem(*text);
  if (!k) return make_error(k.error().code, path + ": " + k.error().message);
  return k;
}

bool Sm2PublicKey::verify(std::string_view message, std::string_view signature,
                          std::string_view id) const {
  MdCtx ctx;
  if (!ctx.prepare(impl_->key.get(), id)) return false;
  if (EVP_DigestVerifyInit_ex(ctx.md, nullptr, "SM3", nullptr, nullptr, impl_->key.get(),
                              nullptr) != 1)
    return false;
  return EVP_DigestVerify(ctx.md, reinterpret_cast<const unsigned char*>(signature.data()),
                          signature.size(), reinterpret_cast<const unsigned char*>(message.data()),
                          message.size()) == 1;
}

std::string Sm2PublicKey::pem() const {
  BIO* bio = BIO_new(BIO_s_mem());
  PEM_write_bio_PUBKEY(bio, impl_->key.get());
  std::string out = bio_string(bio);
  BIO_free(bio);
  return out;
}

Sm2PrivateKey::Sm2PrivateKey(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Sm2PrivateKey::Sm2PrivateKey(Sm2PrivateKey&&) noexcept = default;
Sm2PrivateKey& Sm2PrivateKey::operator=(Sm2PrivateKey&&) noexcept = default;
Sm2PrivateKey::~Sm2PrivateKey() = default;

Result<Sm2PrivateKey> Sm2PrivateKey::generate() {
  PkeyPtr key(EVP_PKEY_Q_keygen(nullptr, nullptr, "SM2"));
  if (!key) return make_error("sm2_key", "SM2 key generation failed");
  auto impl = std::make_unique<Impl>();
  impl->key = std::move(key);
  return Sm2PrivateKey(std::move(impl));
}

Result<Sm2PrivateKey> Sm2PrivateKey::from_pem(std::string_view pem) {
  BIO* bio = BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size()));
  PkeyPtr key(PEM_read_bio_PrivateKey(bio, nullptr, nullptr, nullptr));
  BIO_free(bio);
  if (!key) return make_error("sm2_key", "not a PEM private key");
  if (!is_sm2(key.get())) return make_error("sm2_key", "private key is not an SM2 key");
  auto impl = std::make_unique<Impl>();
  impl->key = std::move(key);
  return Sm2PrivateKey(std::move(impl));
}

Result<Sm2PrivateKey> Sm2PrivateKey::from_pem_file(const std::string& path) {
  auto text = read_all(path);
  if (!text) return text.error();
  auto k = from_pem(*text);
  if (!k) return make_error(k.error().code, path + ": " + k.error().message);
  return k;
}

std::string Sm2PrivateKey::sign(std::string_view message, std::string_view id) const {
  MdCtx ctx;
  if (!ctx.prepare(impl_->key.get(), id)) return {};
  if (EVP_DigestSignInit_ex(ctx.md, nullptr, "SM3", nullptr, nullptr, impl_->key.get(), nullptr) !=
      1)
    return {};
  std::size_t len = 0;
  const auto* msg = reinterpret_cast<const unsigned char*>(message.data());
  if (EVP_DigestSign(ctx.md, nullptr, &len, msg, message.size()) != 1) return {};
  std::string sig(len, '\0');
  if (EVP_DigestSign(ctx.md, reinterpret_cast<unsigned char*>(sig.data()), &len, msg,
                     message.size()) != 1)
    return {};
  sig.resize(len);
  return sig;
}

std::string Sm2PrivateKey::private_pem() const {
  BIO* bio = BIO_new(BIO_s_mem());
  PEM_write_bio_PrivateKey(bio, impl_->key.get(), nullptr, nullptr, 0, nullptr, nullptr);
  std::string out = bio_string(bio);
  BIO_free(bio);
  return out;
}

std::string Sm2PrivateKey::public_pem() const {
  BIO* bio = BIO_new(BIO_s_mem());
  PEM_write_bio_PUBKEY(bio, impl_->key.get());
  std::string out = bio_string(bio);
  BIO_free(bio);
  return out;
}

Result<Sm2PublicKey> Sm2PrivateKey::public_key() const {
  return Sm2PublicKey::from_pem(public_pem());
}

std::string sm3(std::string_view data) {
  std::array<unsigned char, EVP_MAX_MD_SIZE> out{};
  unsigned int len = 0;
  EVP_Digest(data.data(), data.size(), out.data(), &len, EVP_sm3(), nullptr);
  return std::string(reinterpret_cast<const char*>(out.data()), len);
}

std::string base64url_encode(std::string_view bytes) {
  static constexpr char kAlphabet[] =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
  std::string out;
  out.reserve((bytes.size() + 2) / 3 * 4);
  std::size_t i = 0;
  for (; i + 2 < bytes.size(); i += 3) {
    const unsigned v = (static_cast<unsigned char>(bytes[i]) << 16) |
                       (static_cast<unsigned char>(bytes[i + 1]) << 8) |
                       static_cast<unsigned char>(bytes[i + 2]);
    out += kAlphabet[(v >> 18) & 63];
    out += kAlphabet[(v >> 12) & 63];
    out += kAlphabet[(v >> 6) & 63];
    out += kAlphabet[v & 63];
  }
  const std::size_t rest = bytes.size() - i;
  if (rest == 1) {
    const unsigned v = static_cast<unsigned char>(bytes[i]) << 16;
    out += kAlphabet[(v >> 18) & 63];
    out += kAlphabet[(v >> 12) & 63];
  } else if (rest == 2) {
    const unsigned v = (static_cast<unsigned char>(bytes[i]) << 16) |
                       (static_cast<unsigned char>(bytes[i + 1]) << 8);
    out += kAlphabet[(v >> 18) & 63];
    out += kAlphabet[(v >> 12) & 63];
    out += kAlphabet[(v >> 6) & 63];
  }
  return out;
}

bool base64url_decode(std::string_view text, std::string& out) {
  auto value = [](char c) -> int {
    if (c >= 'A' && c <= 'Z') return c - 'A';
    if (c >= 'a' && c <= 'z') return c - 'a' + 26;
    if (c >= '0' && c <= '9') return c - '0' + 52;
    if (c == '-') return 62;
    if (c == '_') return 63;
    return -1;
  };
  if (text.size() % 4 == 1) return false;
  out.clear();
  out.reserve(text.size() * 3 / 4);
  unsigned acc = 0;
  int bits = 0;
  for (char c : text) {
    const int v = value(c);
    if (v < 0) return false;
    acc = (acc << 6) | static_cast<unsigned>(v);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out.push_back(static_cast<char>((acc >> bits) & 0xff));
    }
  }
  // Leftover bits must be zero, so each byte string has exactly one encoding.
  return (acc & ((1u << bits) - 1)) == 0;
}

}  // namespace yktgw
