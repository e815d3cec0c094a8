#pragma once
// The district link's wire format (docs/upstream-protocol.md, "ZeroMQ district link"). Pure
// value code with no ZeroMQ in it, shared by the gateway's DEALER side, the platform simulator's
// ROUTER side and the tests.
//
// Every message is four frames: [protocol "YKT1"][type][message id][payload]. A ROUTER sees
// the peer's routing id in front of them. The sender of a request picks the id; the answer
// echoes it. Payloads of the control types are UTF-8 JSON objects; a BATCH payload is a JSON
// header line followed by the batch body as the outbox built it.

#include <cstddef>
#include <cstdint>
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
// A BATCH's message id is its batch id, "<gateway id>-district-<first>-<last>[-r<n>]": with a
// gateway id of up to 64 characters and two 20-digit sequence numbers that needs about 130
// bytes, so the limit leaves room for that and little more.
inline constexpr std::size_t kMaxMessageIdBytes = 255;

// BATCH carries records up (docs/upstream-protocol.md §4.6), BATCH_ACK confirms a batch id;
// ERROR answers a request the receiver could not handle (malformed, invalid batch, busy).
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
  std::string code;     // "malformed", "unsupported_type", "invalid_batch", "busy", ...
  std::string message;  // for people
  // Least wait before the request is worth repeating (an overloaded platform says so); 0: none
  // given. Sent only when positive.
  std::int64_t retry_after_ms = 0;
  bool operator==(const ErrorReply&) const = default;
};

// The ERROR codes with a meaning for batches. Only kInvalidBatch ends a batch for good (a
// dead letter at the gateway); every other code, also one a newer platform invents, means
// "try again later", so records are never given up on because of a code the gateway does not
// know.
inline constexpr std::string_view kErrorInvalidBatch = "invalid_batch";
inline constexpr std::string_view kErrorBusy = "busy";                // retry, after retry_after_ms
inline constexpr std::string_view kErrorUnavailable = "unavailable";  // retry (storage failed, ...)
inline constexpr std::string_view kErrorUnsupported = "unsupported_type";

// The first line of a BATCH payload. The body after it is the outbox's batch payload as it is
// (gzip of JSON lines, docs/upstream-https.md §2), so both links carry the same bytes.
struct BatchHeader {
  std::string gateway;          // gateway.id: the source the platform counts the records under
  std::uint32_t records = 0;    // lines in the body; a platform checks it after inflating
  std::uint64_t first_seq = 0;  // of the first and last record, for the platform's logs
  std::uint64_t last_seq = 0;
  bool operator==(const BatchHeader&) const = default;
};

struct BatchAck {
  std::string batch_id;  // the BATCH's message id, repeated so a body cannot ack another batch
  std::uint32_t accepted = 0;    // records stored for the first time
  std::uint32_t duplicates = 0;  // records the platform already had (a re-sent batch)
  bool operator==(const BatchAck&) const = default;
};

// A decoded BATCH payload. `body` points into the payload it was decoded from.
struct BatchPayload {
  BatchHeader header;
  std::string_view body;
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

// Header JSON, '\n', body. The header is one line because compact JSON never holds a raw
// newline, so a receiver splits at the first '\n' without parsing the binary body.
std::string encode_batch(const BatchHeader& header, std::string_view body);
// Errors: "malformed" (no header line, bad header JSON, empty body).
Result<BatchPayload> decode_batch(std::string_view payload);
std::string encode_batch_header(const BatchHeader& h);
Result<BatchHeader> decode_batch_header(std::string_view json);
std::string encode_batch_ack(const BatchAck& a);
Result<BatchAck> decode_batch_ack(std::string_view json);

}  // namespace yktgw::district
