#pragma once
// The dynamic QR code of the electronic social security card (ecard_qr) and 渝快码 (ykm_qr):
//
//   YKT1.<base64url(payload JSON)>.<base64url(DER SM2 signature)>
//
// The signature is SM2 with SM3 and the ID "1234567812345678" over the ASCII bytes of
// "YKT1." + base64url(payload), i.e. everything before the second dot. docs/qr-code.md is the
// specification; this file is its one implementation, shared by the gateway's decoder and the
// platform simulator that mints codes.
//
// parse_qr() checks structure only: it never looks at keys, clocks or the replay cache.

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

#include "gateway/core/holder.h"
#include "gateway/core/records.h"
#include "gateway/core/result.h"
#include "gateway/crypto/sm2.h"

namespace yktgw {

inline constexpr std::string_view kQrPrefix = "YKT1.";
inline constexpr int kQrPayloadVersion = 1;
// The terminal protocol's limit for a scanned code; longer input is refused unread.
inline constexpr std::size_t kMaxQrBytes = 4096;

struct QrPayload {
  int version = kQrPayloadVersion;      // "v"
  IssuerRegion issuer = 0;              // "iss", two digits, e.g. 50
  std::string kid;                      // "kid": issuer key id, 1-16 of [A-Za-z0-9_-]
  std::string token;                    // "tok": card token, 64 lower-case hex
  std::string masked;                   // "msk": masked card number, 1-32 of [0-9A-Z*]
  BirthDate birth;                      // "birth" YYYYMMDD; optional (unknown when absent)
  std::vector<std::string> attributes;  // "attr": "disabled", "local"; optional
  std::vector<std::string> groups;      // "grp": group names; optional
  UtcMillis issued_ms = 0;              // "iat"
  UtcMillis expires_ms = 0;             // "exp", not before iat
  std::string nonce;                    // "nonce": 16-32 hex digits

  bool operator==(const QrPayload&) const = default;
};

struct ParsedQr {
  QrPayload payload;
  std::string signed_text;  // "YKT1.<base64url payload>": the bytes the signature covers
  std::string signature;    // DER

  bool operator==(const ParsedQr&) const = default;
};

// Compact JSON in the documented key order; optional fields only when set.
std::string encode_qr_payload(const QrPayload& payload);

// Signs arbitrary payload JSON into a code. For tests and the simulator, which also need codes
// whose payload is deliberately wrong. Empty if signing fails.
std::string sign_qr_json(std::string_view payload_json, const Sm2PrivateKey& key);

// encode_qr_payload + sign_qr_json. Does not check the payload (the simulator mints expired
// codes on purpose); call validate_qr_payload first where that matters. Empty on failure.
std::string mint_qr(const QrPayload& payload, const Sm2PrivateKey& key);

// The structural rules parse_qr applies to the payload's fields. Error code "malformed".
Result<void> validate_qr_payload(const QrPayload& payload);

// Splits, decodes and checks the structure. Error code "malformed"; the message says which
// rule failed and never quotes the token or nonce.
Result<ParsedQr> parse_qr(std::string_view code);

}  // namespace yktgw
