#pragma once
// Terminal protocol v1 (docs/terminal-protocol.md): topic layout and the JSON codec.
// Parsing happens once, here; everything behind it works on the value types of core/records.h.

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "gateway/core/reason.h"
#include "gateway/core/records.h"

namespace yktgw::protocol {

inline constexpr int kVersion = 1;
// Payloads nesting objects/arrays deeper than this are refused as malformed_json before the
// JSON parser builds anything (v1 messages nest 2 levels).
inline constexpr int kMaxNestingDepth = 16;

enum class TopicKind : std::uint8_t { auth_req, txn, status, txn_batch };

struct ParsedTopic {
  TopicKind kind = TopicKind::auth_req;
  TopicAddress address;
  bool operator==(const ParsedTopic&) const = default;
};

// "ykt/v1/{site}/{terminal}/auth/req" | ".../txn" | ".../txn/batch" | ".../status"; nullopt for
// anything else.
std::optional<ParsedTopic> parse_topic(std::string_view topic);

std::string auth_request_topic(const TopicAddress& a);   // ykt/v1/{site}/{terminal}/auth/req
std::string auth_response_topic(const TopicAddress& a);  // .../auth/resp
std::string txn_topic(const TopicAddress& a);            // .../txn
std::string txn_ack_topic(const TopicAddress& a);        // .../txn/ack
std::string status_topic(const TopicAddress& a);         // .../status
std::string txn_batch_topic(const TopicAddress& a);      // .../txn/batch
std::string txn_batch_ack_topic(const TopicAddress& a);  // .../txn/batch/ack
std::string subscription_filter(std::string_view site, TopicKind kind);  // ykt/v1/{site}/+/...

// Site and terminal ids: 1..64 of [A-Za-z0-9_.-]. Never '+', '#', '/'.
bool is_valid_id(std::string_view id);

// A refused message. `req_id`/`txn_id` are filled in when the payload got far enough to read
// them, so the error reply can be matched by the terminal.
struct ParseError {
  Reason reason = Reason::malformed_json;
  std::string detail;  // e.g. "field 'amount_fen' must be an integer"
  std::string req_id;
  std::string txn_id;
  std::string terminal;  // payload terminal, when readable
  bool operator==(const ParseError&) const = default;
};

template <typename T>
struct Parsed {
  std::optional<T> value;
  ParseError error;  // meaningful when !value
  bool ok() const { return value.has_value(); }
};

// The txn message as it arrives: still carries the full credential.
struct TxnMessage {
  std::string txn_id;
  std::string req_id;
  std::string terminal;
  std::string scenario;
  UtcMillis ts_ms = 0;
  Credential credential;
  Fen amount_fen = 0;
  TxnResult result = TxnResult::approved;
  std::string reason;
  AuthMode mode = AuthMode::offline;  // optional on the wire; "offline" when absent
  bool operator==(const TxnMessage&) const = default;
};

// Parsers never throw, whatever the bytes. Checks run in a fixed order (JSON, object, "v", then the
// fields in the order of the spec) and the first problem is reported. Unknown fields are ignored
// so that later minor revisions can add fields; JSON null counts as an absent field. The payload
// terminal is not compared with the topic here: the caller does that (terminal_mismatch).
Parsed<AuthRequest> parse_auth_request(std::string_view payload);
Parsed<TxnMessage> parse_txn(std::string_view payload);
Parsed<TerminalStatus> parse_status(std::string_view payload);

// A bulk upload (txn/batch, docs/terminal-protocol.md §7.1): records a terminal stored while it
// could not reach the gateway, sent together. Each record is read on its own, so one bad record
// is rejected and the others still stored.
struct TxnBatchMessage {
  std::string batch_id;
  std::string terminal;
  std::vector<Parsed<TxnMessage>> records;  // in the order they came
};
// Refuses the whole batch (no record read) for what spoils all of it: not JSON, wrong version,
// a missing or bad batch_id or terminal, no records or more than `max_records`. The error then
// carries the batch_id, when it could be read, in `txn_id`.
Parsed<TxnBatchMessage> parse_txn_batch(std::string_view payload, std::size_t max_records);

// Replies from the gateway: compact UTF-8 JSON (invalid UTF-8 in a value becomes U+FFFD). Every
// serializer returns an empty string only if memory ran out; publish nothing then.
std::string serialize(const AuthResponse& r);
std::string serialize(const TxnAck& a);
// A decline for a request that could not be parsed; `error.req_id` is echoed when known.
std::string serialize_auth_error(const ParseError& error);
// A rejection for a txn that could not be parsed; `error.txn_id` is echoed when known.
std::string serialize_txn_error(const ParseError& error);

// The answer to a txn/batch: one ack per record, in the order of the records, or the whole
// batch rejected (`rejected`, with `reason` and `detail`, and no acks).
struct TxnBatchAck {
  struct Item {
    TxnAck ack;
    std::string detail;  // for a rejected record
    bool operator==(const Item&) const = default;
  };
  std::string batch_id;
  bool rejected = false;
  Reason reason = Reason::ok;
  std::string detail;
  std::vector<Item> acks;
  bool operator==(const TxnBatchAck&) const = default;
};
std::string serialize(const TxnBatchAck& a);

// Messages from terminals; used by the simulator and the tests.
std::string serialize(const AuthRequest& r);
std::string serialize(const TxnMessage& t);
std::string serialize(const TerminalStatus& s);
std::string serialize_txn_batch(std::string_view batch_id, std::string_view terminal,
                                const std::vector<TxnMessage>& records);

// Replies as a terminal reads them; used by the simulator and the tests.
Parsed<AuthResponse> parse_auth_response(std::string_view payload);
Parsed<TxnAck> parse_txn_ack(std::string_view payload);
Parsed<TxnBatchAck> parse_txn_batch_ack(std::string_view payload);

}  // namespace yktgw::protocol
