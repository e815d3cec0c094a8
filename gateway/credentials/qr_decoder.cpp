#include "gateway/credentials/qr_decoder.h"

#include <limits>

namespace yktgw {
namespace {

DecodedCredential declined(Reason r) {
  DecodedCredential d;
  d.reason = r;
  return d;
}

// a + b for a, b >= 0 without overflow; payload times are attacker-chosen up to INT64_MAX.
UtcMillis saturating_add(UtcMillis a, UtcMillis b) {
  return a > std::numeric_limits<UtcMillis>::max() - b ? std::numeric_limits<UtcMillis>::max()
                                                       : a + b;
}

}  // namespace

std::string replay_key(const QrPayload& p) {
  std::string key = std::to_string(p.issuer);
  key += '|';
  key += p.kid;
  key += '|';
  for (const char c : p.nonce) key += (c >= 'A' && c <= 'F') ? static_cast<char>(c | 0x20) : c;
  return key;
}

HolderAttributes attributes_of(const QrPayload& p, const GroupNames& groups) {
  HolderAttributes bits = 0;
  for (const std::string& a : p.attributes) bits |= fixed_attribute_bit(a).value_or(0);
  for (const std::string& g : p.groups) bits |= groups.bit(g).value_or(0);
  return bits;
}

DecodedCredential QrDecoder::decode(const Credential& credential, const DecodeContext& ctx) const {
  auto parsed = parse_qr(credential.qr);
  if (!parsed) return declined(Reason::malformed_credential);
  const QrPayload& p = parsed->payload;
  // Validity is a property of the code as issued, checked before any key is touched.
  if (p.expires_ms - p.issued_ms > rules_.max_validity_ms)
    return declined(Reason::malformed_credential);

  const Sm2PublicKey* key = keys_.find(p.issuer, p.kid);
  if (key == nullptr) return declined(Reason::unknown_issuer);
  if (!key->verify(parsed->signed_text, parsed->signature)) return declined(Reason::bad_signature);

  if (p.issued_ms > saturating_add(ctx.now_ms, rules_.clock_skew_ms))
    return declined(Reason::not_yet_valid);
  const UtcMillis valid_until = saturating_add(p.expires_ms, rules_.clock_skew_ms);
  if (ctx.now_ms > valid_until) return declined(Reason::expired);

  switch (replay_.check_and_record(replay_key(p), valid_until, ctx.now_ms,
                                   ctx.steady_ms.value_or(ctx.now_ms))) {
    case ReplayCache::Verdict::fresh:
      break;
    case ReplayCache::Verdict::replayed:
      return declined(Reason::replayed);
    case ReplayCache::Verdict::full:
      return declined(Reason::busy);
  }

  DecodedCredential out;
  out.holder.token = p.token;
  out.holder.masked = p.masked;
  out.holder.region = p.issuer;
  out.holder.birth = p.birth;
  out.holder.attributes = attributes_of(p, groups_);
  return out;
}

}  // namespace yktgw
