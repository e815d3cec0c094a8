#pragma once
// The district link's wire format (docs/upstream-protocol.md, "ZeroMQ district link"). Pure
// value code with no ZeroMQ in it, shared by the gateway's DEALER side, the platform simulator's
// ROUTER side and the tests.
//
// Every message is four frames: [protocol "YKT1"][type][message id][payload]. A ROUTER sees
// the peer's routing id in front of them. The sender of a request picks the id; the answer
// echoes it. Payloads of the control types are UTF-8 JSON objects.

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "gateway/core/records.h"
#include "gateway/core/result.h"
#include "gateway/interfaces/district_link.h"

namespace yktgw::district {

inline constexpr std::string_view kProtocolTag = "YKT1";
inline constexpr std::size_t kEnvelopeFrames = 4;
inline constexpr std::size_t kMaxMessageIdBytes = 64;

// BATCH and BATCH_ACK are reserved for record forwarding (issue 4); ERROR answers a request the
// receiver could not handle (malformed, unsupported type).
enum class MessageType : std::uint8_t {
  heartbeat,
  heartbeat_ack,
  auth_req,
  auth_resp,
  batch,
  batch_ack,
  error,
};

std::string_view to_string(MessageType t);  // "HEARTBEAT", "AUTH_REQ", ...
std::optional<MessageType> message_type_from(std::string_view s);

struct Envelope {
  MessageType type = MessageType::heartbeat;
  std::string id;       // 1..64 bytes; opaque to the receiver, echoed in the answer
  std::string payload;  // JSON for the control types
  bool operator==(const Envelope&) const = default;
};

std::vector<std::string> to_frames(const Envelope& e);
// Errors: "bad_frame_count", "bad_protocol", "unknown_type", "bad_message_id".
Result<Envelope> from_frames(std::vector<std::string> frames);

// ---- payloads ------------------------------------------------------------------------------

struct Heartbeat {
  std::string gateway;  // gateway.id, so the platform can tell boxes apart in its logs
  UtcMillis ts_ms = 0;  // the gateway's clock when sent
  bool operator==(const Heartbeat&) const = default;
};

struct HeartbeatAck {
  UtcMillis ts_ms = 0;  // the platform's clock when answered
  bool operator==(const HeartbeatAck&) const = default;
};

struct ErrorReply {
  std::string code;     // "malformed", "unsupported_type", "busy", ...
  std::string message;  // for people
  bool operator==(const ErrorReply&) const = default;
};

std::string encode_heartbeat(const Heartbeat& h);
Result<Heartbeat> decode_heartbeat(std::string_view json);
std::string encode_heartbeat_ack(const HeartbeatAck& a);
Result<HeartbeatAck> decode_heartbeat_ack(std::string_view json);

// The card is named by its token only; a full card number never crosses the link.
std::string encode_auth_request(const OnlineAuthRequest& r);
Result<OnlineAuthRequest> decode_auth_request(std::string_view json);

// A decline's reason must be a code of docs/terminal-protocol.md. A code this gateway does not
// know yet (a newer platform) is kept as a decline with "declined_by_platform", never dropped.
std::string encode_auth_reply(const OnlineAuthReply& r);
Result<OnlineAuthReply> decode_auth_reply(std::string_view json);

std::string encode_error(const ErrorReply& e);
Result<ErrorReply> decode_error(std::string_view json);

}  // namespace yktgw::district
