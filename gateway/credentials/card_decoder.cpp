#include "gateway/credentials/card_decoder.h"

#include "gateway/credentials/citizen_number.h"

namespace yktgw {

DecodedCredential CardDecoder::decode(const Credential& credential,
                                      const DecodeContext& ctx) const {
  DecodedCredential out;
  out.reason = mac_keys_.check(ctx.terminal, ctx.mac_input, credential.mac, ctx.mac_required);
  if (out.reason != Reason::ok) return out;

  const auto info = classify_card_number(credential.card_no, china_date_of(ctx.now_ms));
  if (!info) {
    out.reason = Reason::invalid_card_no;
    return out;
  }
  // One spelling per card: the tokenizer upper-cases the x itself, the masked form must too.
  std::string number = credential.card_no;
  if (!number.empty() && number.back() == 'x') number.back() = 'X';
  out.holder.token = tokenizer_.token(number);
  if (out.holder.token.empty()) {
    // OpenSSL failed (memory): the card cannot be looked up now, but may be in a moment.
    out.reason = Reason::busy;
    return out;
  }
  out.holder.masked = mask_card_number(number);
  out.holder.region = info->region;
  out.holder.birth = info->birth;
  return out;
}

}  // namespace yktgw
