#pragma once
// How the answer to one batch POST maps onto the core's three delivery outcomes. Pure code,
// kept apart from libcurl so every case is tested without a network.
//
//   2xx                                   → delivered
//   429, 503 with Retry-After             → retry_later, "retry_after_ms=<n>" in the detail
//   5xx, 408, 429, timeouts, connect/TLS  → retry_later (records stay; the core backs off)
//   3xx                                   → retry_later (a wrong URL is fixed in config, and
//                                           dead-lettering every batch would not help)
//   other 4xx                             → rejected, with the status and a body excerpt

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "gateway/interfaces/upstream_link.h"

namespace yktgw::https {

enum class TransportError : std::uint8_t {
  none,     // an HTTP answer arrived
  timeout,  // connect or total timeout
  connect,  // refused, unreachable, name not resolved
  tls,      // handshake or certificate check failed (wrong CA, refused client cert, ...)
  other,    // connection dropped mid-answer, protocol error, ...
};
std::string_view to_string(TransportError e);

struct HttpOutcome {
  TransportError transport = TransportError::none;
  std::string transport_detail;  // the library's message when transport != none
  long status = 0;
  std::string body;                            // the first bytes of the answer's body
  std::optional<std::int64_t> retry_after_ms;  // from a Retry-After header
  std::string batch_id;                        // the id that was sent
};

DeliveryResult classify(const HttpOutcome& outcome);

// Retry-After (RFC 9110): delay-seconds, or an HTTP-date turned into a delay from `now_ms`.
// nullopt when unparseable; a date in the past gives 0.
std::optional<std::int64_t> parse_retry_after(std::string_view value, std::int64_t now_ms);

// A body excerpt safe for one log line and the dead-letter table: control characters become
// spaces, at most `max` bytes of the body, cut on a UTF-8 boundary and then marked "..." (so
// a cut excerpt has up to `max` + 3 bytes).
std::string excerpt(std::string_view body, std::size_t max = 200);

}  // namespace yktgw::https
