#pragma once
// `other` (cash, an ID card shown at the counter, ...) and the stand-in for a credential type
// this gateway is not set up for.

#include "gateway/interfaces/credential_decoder.h"

namespace yktgw {

// No card checks: the tap is counted for statistics under its method. The holder stays empty.
class OtherDecoder final : public CredentialDecoder {
 public:
  CredentialType type() const override { return CredentialType::other; }
  bool expensive() const override { return false; }
  DecodedCredential decode(const Credential& credential, const DecodeContext& ctx) const override;
};

// Declines every credential with credential_not_supported; used for a QR type whose issuer key
// directory is not configured, so the terminal hears a clear reason instead of unknown_issuer.
class UnsupportedDecoder final : public CredentialDecoder {
 public:
  explicit UnsupportedDecoder(CredentialType type) : type_(type) {}
  CredentialType type() const override { return type_; }
  bool expensive() const override { return false; }
  DecodedCredential decode(const Credential& credential, const DecodeContext& ctx) const override;

 private:
  const CredentialType type_;
};

}  // namespace yktgw
