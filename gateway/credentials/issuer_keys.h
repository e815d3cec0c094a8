#pragma once
// The SM2 public keys of the issuers whose QR codes this gateway accepts, one key set per code
// type (ecard_qr, ykm_qr). A key is named by the issuer's region and a key id, so an issuer can
// roll keys: codes signed with the old kid keep verifying until its file is removed.

#include <cstddef>
#include <map>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "gateway/core/holder.h"
#include "gateway/core/result.h"
#include "gateway/crypto/sm2.h"

namespace yktgw {

class IssuerKeyRing {
 public:
  IssuerKeyRing() = default;
  IssuerKeyRing(IssuerKeyRing&&) noexcept = default;
  IssuerKeyRing& operator=(IssuerKeyRing&&) noexcept = default;

  // Loads every `<region>-<kid>.pub.pem` in `dir` (region two digits, kid 1-16 of
  // [A-Za-z0-9_-]); other files, such as the dev private keys beside them, are skipped. A file
  // with the right name that is not an SM2 public key is an error: a typo must not silently
  // turn an issuer's codes into unknown_issuer.
  static Result<IssuerKeyRing> from_dir(const std::string& dir);

  void add(IssuerRegion region, std::string kid, Sm2PublicKey key);

  // nullptr when there is no key for the pair.
  const Sm2PublicKey* find(IssuerRegion region, std::string_view kid) const;
  std::size_t size() const { return keys_.size(); }
  // "50-k1,51-k1" for the start-up log line.
  std::string describe() const;

 private:
  std::map<std::pair<IssuerRegion, std::string>, Sm2PublicKey, std::less<>> keys_;
};

}  // namespace yktgw
