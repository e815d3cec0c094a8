#pragma once
// What the authorization engine needs of the district link: its health (from heartbeats, not
// guessed per request) and online authorization with a deadline. The ZeroMQ connector
// implements both; tests use fakes.

#include <chrono>
#include <cstdint>
#include <functional>
#include <string>

#include "gateway/core/holder.h"
#include "gateway/core/records.h"

namespace yktgw {

class LinkHealth {
 public:
  virtual ~LinkHealth() = default;
  // True while the last heartbeat answer arrived within the configured timeout.
  virtual bool up() const = 0;
  // UTC ms of the last heartbeat answer; 0 when none yet.
  virtual std::int64_t last_heartbeat_ms() const = 0;
};

struct OnlineAuthRequest {
  std::string req_id;
  std::string site;
  std::string terminal;
  std::string scenario;
  int service_item = 0;
  std::string card_token;
  IssuerRegion region = 0;
  CredentialType credential_type = CredentialType::card;
  Fen amount_fen = 0;
  UtcMillis ts_ms = 0;
  bool operator==(const OnlineAuthRequest&) const = default;
};

struct OnlineAuthReply {
  Decision decision = Decision::decline;
  std::string reason;  // a reason code of docs/terminal-protocol.md; "ok" when approved
  Fen amount_fen = 0;
  bool operator==(const OnlineAuthReply&) const = default;
};

enum class OnlineOutcome : std::uint8_t { answered, timeout, link_down, error };

class OnlineAuthClient {
 public:
  using Callback = std::function<void(OnlineOutcome, const OnlineAuthReply&)>;
  virtual ~OnlineAuthClient() = default;
  // Never blocks. `done` runs exactly once, on the client's own thread (or inline when the
  // link is known to be down, or with `error` when the client's in-flight limit is reached), at
  // the latest shortly after `deadline`.
  virtual void authorize(OnlineAuthRequest request, std::chrono::milliseconds deadline,
                         Callback done) = 0;
};

}  // namespace yktgw
