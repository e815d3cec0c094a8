#pragma once
// Decides one tap. The first decision path (gateway/auth) checks the card list; the engine in
// gateway/policy adds credential decoders, scenario policies and online authorization behind
// the same interface.

#include <functional>

#include "gateway/core/records.h"

namespace yktgw {

struct TapContext {
  std::string_view site;
  std::string_view terminal;   // from the topic, already matched against the payload
  UtcMillis received_ms = 0;
  std::string_view mac_input;  // canonical form of the request for the per-terminal MAC
};

class Authorizer {
 public:
  using Done = std::function<void(AuthResponse)>;
  virtual ~Authorizer() = default;
  // Calls `done` exactly once: inline when the decision comes from memory, later from another
  // thread when it needs the crypto pool or the platform. Never blocks the caller.
  virtual void authorize(const AuthRequest& request, const TapContext& ctx, Done done) const = 0;
};

}  // namespace yktgw
