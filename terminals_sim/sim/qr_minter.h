#pragma once
// Mints the dynamic QR codes holders show: e-card codes (ecard_qr) and 渝快码 (ykm_qr), signed
// with the issuers' SM2 private keys exactly as ykt-platform-sim issue-qr signs them, with the
// card token the district HMAC-SM3 key gives. Without the keys the simulator presents cards.

#include <cstdint>
#include <map>
#include <memory>
#include <random>
#include <string>
#include <utility>

#include "gateway/core/records.h"
#include "gateway/core/result.h"
#include "terminals_sim/sim/population.h"

namespace yktgw {
class CardTokenizer;
class Sm2PrivateKey;
}  // namespace yktgw

namespace yktgw::sim {

class QrMinter {
 public:
  // Key directories hold "<region>-<kid>.key.pem" (config/dev-keys/ecard, .../ykm); either may
  // be empty. Errors name the file that could not be read.
  static Result<std::unique_ptr<QrMinter>> open(const std::string& hmac_key_file,
                                                const std::string& ecard_key_dir,
                                                const std::string& ykm_key_dir);
  ~QrMinter();

  // True when a key of this type exists for the card's issuer region.
  bool can_mint(CredentialType type, const Card& card) const;
  // A code valid for `valid_ms` from `now_ms`, with a fresh nonce; empty if it cannot be minted.
  std::string mint(CredentialType type, const Card& card, UtcMillis now_ms, std::mt19937_64& rng,
                   std::int64_t valid_ms = 60'000) const;

 private:
  QrMinter() = default;
  struct Key {
    std::string kid;
    std::unique_ptr<Sm2PrivateKey> key;
  };
  std::unique_ptr<CardTokenizer> tokenizer_;
  std::map<std::pair<CredentialType, int>, Key> keys_;  // (type, region)
  mutable std::uint64_t minted_ = 0;
};

}  // namespace yktgw::sim
