#pragma once
// `card`: the number read from a social security card's chip (citizen_number.h says which
// numbers are valid), with the optional per-terminal MAC (terminal_mac.h).
//
// The MAC is checked before the number: a request that may have been altered is not
// interpreted any further.

#include <utility>

#include "gateway/credentials/terminal_mac.h"
#include "gateway/crypto/card_tokenizer.h"
#include "gateway/interfaces/credential_decoder.h"

namespace yktgw {

class CardDecoder final : public CredentialDecoder {
 public:
  // `tokenizer` must outlive the decoder.
  CardDecoder(const CardTokenizer& tokenizer, TerminalMacKeys mac_keys)
      : tokenizer_(tokenizer), mac_keys_(std::move(mac_keys)) {}

  CredentialType type() const override { return CredentialType::card; }
  bool expensive() const override { return false; }
  // Uses ctx.terminal, ctx.mac_input (mac_canonical_form of the request), ctx.mac_required,
  // and ctx.now_ms, which bounds the birth date ("not born after today").
  DecodedCredential decode(const Credential& credential, const DecodeContext& ctx) const override;

  const TerminalMacKeys& mac_keys() const { return mac_keys_; }

 private:
  const CardTokenizer& tokenizer_;
  TerminalMacKeys mac_keys_;
};

}  // namespace yktgw
