#include "gateway/crypto/card_tokenizer.h"

#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/params.h>
#include <sys/stat.h>

#include <array>
#include <cctype>
#include <fstream>
#include <sstream>

#include "gateway/core/errno_message.h"

namespace yktgw {

struct CardTokenizer::Impl {
  EVP_MAC* mac = nullptr;
  EVP_MAC_CTX* keyed = nullptr;  // initialised with the key; duplicated per call

  ~Impl() {
    EVP_MAC_CTX_free(keyed);
    EVP_MAC_free(mac);
  }
};

CardTokenizer::CardTokenizer(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
CardTokenizer::CardTokenizer(CardTokenizer&&) noexcept = default;
CardTokenizer& CardTokenizer::operator=(CardTokenizer&&) noexcept = default;
CardTokenizer::~CardTokenizer() = default;

Result<CardTokenizer> CardTokenizer::create(std::string key) {
  if (key.size() < 16) return make_error("hmac_key", "HMAC key must be at least 16 bytes");
  auto impl = std::make_unique<Impl>();
  impl->mac = EVP_MAC_fetch(nullptr, "HMAC", nullptr);
  if (impl->mac == nullptr) return make_error("hmac_key", "OpenSSL has no HMAC");
  impl->keyed = EVP_MAC_CTX_new(impl->mac);
  char digest[] = "SM3";
  std::array<OSSL_PARAM, 2> params{
      OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, digest, 0),
      OSSL_PARAM_construct_end()};
  if (impl->keyed == nullptr ||
      EVP_MAC_init(impl->keyed, reinterpret_cast<const unsigned char*>(key.data()), key.size(),
                   params.data()) != 1) {
    return make_error("hmac_key", "OpenSSL cannot set up HMAC-SM3");
  }
  return CardTokenizer(std::move(impl));
}

Result<CardTokenizer> CardTokenizer::from_key_file(const std::string& path) {
  struct stat st {};
  if (stat(path.c_str(), &st) != 0)
    return make_error("hmac_key", "cannot read '" + path + "': " + errno_message());
  if ((st.st_mode & (S_IRWXG | S_IRWXO)) != 0)
    return make_error(
        "hmac_key", "HMAC key file '" + path + "' is accessible to group or others; chmod 600 it");
  std::ifstream in(path);
  if (!in) return make_error("hmac_key", "cannot read '" + path + "': " + errno_message());
  std::stringstream ss;
  ss << in.rdbuf();
  std::string hex;
  for (char c : ss.str()) {
    if (std::isspace(static_cast<unsigned char>(c))) continue;
    if (!std::isxdigit(static_cast<unsigned char>(c)))
      return make_error("hmac_key", "HMAC key file '" + path + "' must hold hex digits only");
    hex.push_back(c);
  }
  if (hex.size() < 32 || hex.size() % 2 != 0)
    return make_error("hmac_key",
                      "HMAC key file '" + path + "' must hold at least 32 hex digits (16 bytes)");
  std::string key;
  key.reserve(hex.size() / 2);
  for (std::size_t i = 0; i < hex.size(); i += 2)
    key.push_back(static_cast<char>(std::stoi(hex.substr(i, 2), nullptr, 16)));
  return create(std::move(key));
}

std::string CardTokenizer::token(std::string_view card_no) const {
  while (!card_no.empty() && std::isspace(static_cast<unsigned char>(card_no.front())))
    card_no.remove_prefix(1);
  while (!card_no.empty() && std::isspace(static_cast<unsigned char>(card_no.back())))
    card_no.remove_suffix(1);
  std::string normal(card_no);
  for (char& c : normal) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));

  std::array<unsigned char, EVP_MAX_MD_SIZE> out{};
  std::size_t out_len = 0;
  EVP_MAC_CTX* ctx = EVP_MAC_CTX_dup(impl_->keyed);
  bool ok = ctx != nullptr &&
            EVP_MAC_update(ctx, reinterpret_cast<const unsigned char*>(normal.data()),
                           normal.size()) == 1 &&
            EVP_MAC_final(ctx, out.data(), &out_len, out.size()) == 1;
  EVP_MAC_CTX_free(ctx);
  if (!ok) return {};

  static constexpr char kHex[] = "0123456789abcdef";
  std::string hex(out_len * 2, '0');
  for (std::size_t i = 0; i < out_len; ++i) {
    hex[2 * i] = kHex[out[i] >> 4];
    hex[2 * i + 1] = kHex[out[i] & 0xf];
  }
  return hex;
}

std::string mask_card_number(std::string_view card_no) {
  const std::size_t n = card_no.size();
  std::size_t head = 0;
  std::size_t tail = 0;
  if (n >= 16) {
    head = 6;
    tail = 4;
  } else if (n >= 10) {
    head = 3;
    tail = 2;
  } else if (n >= 4) {
    tail = 1;
  }
  std::string masked(card_no.substr(0, head));
  masked.append(n - head - tail, '*');
  masked.append(card_no.substr(n - tail));
  return masked;
}

}  // namespace yktgw
