#pragma once
// `ecard_qr` and `ykm_qr`: one implementation, one instance per code type, each with its own
// issuer keys and its own replay cache. The code format is in qr_code.h and docs/qr-code.md.
//
// Checks, in this order, and the first failure is the answer:
//   1. structure (parse_qr) and exp - iat within max_validity_ms   → malformed
//   2. a key for (iss, kid)                                        → unknown_issuer
//   3. the SM2 signature                                           → bad_signature
//   4. iat <= now + skew                                           → not_yet_valid
//      now <= exp + skew                                           → expired
//   5. not used before (recorded only now, when all else passed)   → replayed
//      replay cache full of unexpired codes                        → busy
// Cheap checks come first so garbage never costs an SM2 verification; the replay cache only
// ever records authentic, current codes, so forged codes cannot fill it.

#include <cstddef>

#include "gateway/credentials/group_names.h"
#include "gateway/credentials/issuer_keys.h"
#include "gateway/credentials/qr_code.h"
#include "gateway/credentials/replay_cache.h"
#include "gateway/interfaces/credential_decoder.h"

namespace yktgw {

struct QrRules {
  UtcMillis clock_skew_ms = 5'000;
  UtcMillis max_validity_ms = 120'000;
  std::size_t replay_cache_entries = 500'000;
};

class QrDecoder final : public CredentialDecoder {
 public:
  QrDecoder(CredentialType type, IssuerKeyRing keys, GroupNames groups, QrRules rules)
      : type_(type),
        keys_(std::move(keys)),
        groups_(std::move(groups)),
        rules_(rules),
        replay_(rules.replay_cache_entries) {}

  CredentialType type() const override { return type_; }
  bool expensive() const override { return true; }
  // Uses ctx.now_ms. Thread-safe.
  DecodedCredential decode(const Credential& credential, const DecodeContext& ctx) const override;

  const IssuerKeyRing& keys() const { return keys_; }
  std::size_t replay_entries() const { return replay_.size(); }

 private:
  const CredentialType type_;
  const IssuerKeyRing keys_;
  const GroupNames groups_;
  const QrRules rules_;
  mutable ReplayCache replay_;
};

// The key under which a code is remembered: issuer, key id and nonce (case-folded), so two
// issuers' nonces never collide.
std::string replay_key(const QrPayload& payload);

// The attribute bits a payload names; names the gateway does not know are skipped, so an
// issuer can add attributes before every gateway knows them.
HolderAttributes attributes_of(const QrPayload& payload, const GroupNames& groups);

}  // namespace yktgw
