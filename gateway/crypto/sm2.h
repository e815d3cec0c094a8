#pragma once
// SM2 signatures with SM3 (GB/T 32918, GB/T 32905) over OpenSSL 3's EVP interface. Used for the
// QR codes of the electronic social security card and 渝快码, and for the platform's signed
// card-list snapshots and deltas.

#include <memory>
#include <string>
#include <string_view>

#include "gateway/core/result.h"

namespace yktgw {

// The distinguishing ID that goes into Z (GB/T 32918.2); both sides must use the same one.
inline constexpr std::string_view kDefaultSm2Id = "1234567812345678";

class Sm2PublicKey {
 public:
  static Result<Sm2PublicKey> from_pem(std::string_view pem);
  static Result<Sm2PublicKey> from_pem_file(const std::string& path);

  Sm2PublicKey(Sm2PublicKey&&) noexcept;
  Sm2PublicKey& operator=(Sm2PublicKey&&) noexcept;
  ~Sm2PublicKey();

  // `signature` is DER (SEQUENCE of r, s), as OpenSSL and most SM2 tools produce.
  // Thread-safe: each call uses its own contexts.
  bool verify(std::string_view message, std::string_view signature,
              std::string_view id = kDefaultSm2Id) const;
  std::string pem() const;

 private:
  struct Impl;
  explicit Sm2PublicKey(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
  friend class Sm2PrivateKey;
};

class Sm2PrivateKey {
 public:
  static Result<Sm2PrivateKey> generate();
  static Result<Sm2PrivateKey> from_pem(std::string_view pem);
  static Result<Sm2PrivateKey> from_pem_file(const std::string& path);

  Sm2PrivateKey(Sm2PrivateKey&&) noexcept;
  Sm2PrivateKey& operator=(Sm2PrivateKey&&) noexcept;
  ~Sm2PrivateKey();

  // DER signature; empty on failure.
  std::string sign(std::string_view message, std::string_view id = kDefaultSm2Id) const;
  std::string private_pem() const;  // PKCS#8
  std::string public_pem() const;   // SubjectPublicKeyInfo
  Result<Sm2PublicKey> public_key() const;

 private:
  struct Impl;
  explicit Sm2PrivateKey(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

// SM3 digest, raw 32 bytes.
std::string sm3(std::string_view data);

// base64url without padding (RFC 4648 section 5), as used in the QR codes.
std::string base64url_encode(std::string_view bytes);
// nullopt-like: returns false on any character outside the alphabet or a bad length.
bool base64url_decode(std::string_view text, std::string& out);

}  // namespace yktgw
