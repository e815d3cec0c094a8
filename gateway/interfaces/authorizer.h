#pragma once
// Decides one tap. The engine in gateway/policy implements it with credential decoders, the
// card list, scenario policies and online authorization.

#include <functional>

#include "gateway/core/records.h"

namespace yktgw {

struct TapContext {
  std::string_view site;
  std::string_view terminal;  // from the topic, already matched against the payload
  UtcMillis received_ms = 0;
  std::string_view mac_input;  // canonical form of the request for the per-terminal MAC
};

class Authorizer {
 public:
  using Done = std::function<void(AuthResponse)>;
  virtual ~Authorizer() = default;
  // Calls `done` exactly once: inline when the decision comes from memory, later from another
  // thread when it needs the crypto pool or the platform. Never blocks the caller. `request`
  // and `ctx` are valid only during the call: keep copies of what a later decision needs.
  virtual void authorize(const AuthRequest& request, const TapContext& ctx, Done done) const = 0;
};

}  // namespace yktgw
