#include "gateway/credentials/other_decoder.h"

namespace yktgw {

DecodedCredential OtherDecoder::decode(const Credential& credential,
                                       const DecodeContext& /*ctx*/) const {
  DecodedCredential out;
  // The protocol parser already requires a method; this guards requests built elsewhere.
  if (credential.method.empty()) out.reason = Reason::missing_field;
  return out;
}

DecodedCredential UnsupportedDecoder::decode(const Credential& /*credential*/,
                                             const DecodeContext& /*ctx*/) const {
  DecodedCredential out;
  out.reason = Reason::credential_not_supported;
  return out;
}

}  // namespace yktgw
