#pragma once
// Decides one tap. The first decision path (gateway/auth) checks the card list; the full
// engine with credential decoders and scenario policies implements the same interface.

#include "gateway/core/records.h"

namespace yktgw {

class Authorizer {
 public:
  virtual ~Authorizer() = default;
  // Must not block: runs on an ingest worker for every auth request.
  virtual AuthResponse decide(const AuthRequest& request) const = 0;
};

}  // namespace yktgw
