#pragma once
// One decoder per credential type (card, ecard_qr, ykm_qr, other). A decoder checks the
// credential itself (format, check digit, MAC, signature, validity, replay) and says who holds
// it; whether the holder may pass is the policies' business.

#include <cstdint>
#include <optional>
#include <string_view>

#include "gateway/core/holder.h"
#include "gateway/core/reason.h"
#include "gateway/core/records.h"

namespace yktgw {

struct DecodeContext {
  std::string_view terminal;
  UtcMillis now_ms = 0;
  // The request's canonical form for the per-terminal MAC (see docs/terminal-protocol.md).
  std::string_view mac_input;
  bool mac_required = false;
  // Milliseconds on a monotonic clock, for how long a used QR code stays remembered; unset: the
  // wall clock `now_ms` stands in (a caller that drives one clock only).
  std::optional<std::int64_t> steady_ms;
};

struct DecodedCredential {
  Reason reason = Reason::ok;  // ok, or why the credential itself is refused
  Holder holder;
  bool operator==(const DecodedCredential&) const = default;
};

class CredentialDecoder {
 public:
  virtual ~CredentialDecoder() = default;
  virtual CredentialType type() const = 0;
  // True when decoding is expensive (SM2 verification) and belongs on the crypto pool rather
  // than on the worker that also answers card taps.
  virtual bool expensive() const = 0;
  virtual DecodedCredential decode(const Credential& credential,
                                   const DecodeContext& ctx) const = 0;
};

}  // namespace yktgw
