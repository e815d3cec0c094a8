#include "connectors/zmq/district_protocol.h"

#include <array>
#include <cstdint>
#include <limits>
#include <nlohmann/json.hpp>
#include <utility>

#include "gateway/core/reason.h"

namespace yktgw::district {
namespace {

using nlohmann::json;

struct TypeName {
  MessageType type;
  std::string_view name;
};

constexpr std::array<TypeName, 7> kTypeNames = {{
    {MessageType::heartbeat, "HEARTBEAT"},
    {MessageType::heartbeat_ack, "HEARTBEAT_ACK"},
    {MessageType::auth_req, "AUTH_REQ"},
    {MessageType::auth_resp, "AUTH_RESP"},
    {MessageType::batch, "BATCH"},
    {MessageType::batch_ack, "BATCH_ACK"},
    {MessageType::error, "ERROR"},
}};

// Text fields end up in logs and SQLite on the platform: cap them so a broken peer cannot make
// either grow without bound.
constexpr std::size_t kMaxTextBytes = 128;

Error malformed(std::string what) { return make_error("malformed", std::move(what)); }

Result<json> parse_object(std::string_view text) {
  json doc = json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (doc.is_discarded()) return malformed("payload is not JSON");
  if (!doc.is_object()) return malformed("payload is not a JSON object");
  return doc;
}

// Field readers: each returns false and fills `err` when the field is missing or of the wrong
// type, so decoders read as a list of fields.
bool get_text(const json& doc, const char* key, std::string& out, Error& err, bool required = true,
              std::size_t max_bytes = kMaxTextBytes) {
  const auto it = doc.find(key);
  if (it == doc.end()) {
    if (!required) return true;
    err = malformed(std::string("missing field '") + key + "'");
    return false;
  }
  if (!it->is_string()) {
    err = malformed(std::string("field '") + key + "' must be a string");
    return false;
  }
  out = it->get<std::string>();
  if (out.size() > max_bytes) {
    err = malformed(std::string("field '") + key + "' is longer than " + std::to_string(max_bytes) +
                    " bytes");
    return false;
  }
  return true;
}

bool get_int(const json& doc, const char* key, std::int64_t lo, std::int64_t hi, std::int64_t& out,
             Error& err, bool required = true) {
  const auto it = doc.find(key);
  if (it == doc.end()) {
    if (!required) return true;
    err = malformed(std::string("missing field '") + key + "'");
    return false;
  }
  if (!it->is_number_integer()) {
    err = malformed(std::string("field '") + key + "' must be an integer");
    return false;
  }
  if (it->is_number_unsigned()) {
    const auto u = it->get<std::uint64_t>();
    if (u > static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max())) {
      err = malformed(std::string("field '") + key + "' is out of range");
      return false;
    }
    out = static_cast<std::int64_t>(u);
  } else {
    out = it->get<std::int64_t>();
  }
  if (out < lo || out > hi) {
    err = malformed(std::string("field '") + key + "' is out of range");
    return false;
  }
  return true;
}

bool is_token(std::string_view s) {
  if (s.size() != 64) return false;
  for (const char c : s) {
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
  }
  return true;
}

constexpr std::int64_t kMaxInt = std::numeric_limits<std::int64_t>::max();
constexpr std::int64_t kMaxCount = std::numeric_limits<std::uint32_t>::max();

}  // namespace

std::string_view to_string(MessageType t) {
  for (const TypeName& n : kTypeNames) {
    if (n.type == t) return n.name;
  }
  return "?";
}

std::optional<MessageType> message_type_from(std::string_view s) {
  for (const TypeName& n : kTypeNames) {
    if (n.name == s) return n.type;
  }
  return std::nullopt;
}

std::vector<std::string> to_frames(const Envelope& e) {
  return {std::string(kProtocolTag), std::string(to_string(e.type)), e.id, e.payload};
}

Result<Envelope> from_frames(std::vector<std::string> frames) {
  if (frames.size() != kEnvelopeFrames) {
    return make_error("bad_frame_count", "expected 4 frames, got " + std::to_string(frames.size()));
  }
  if (frames[0] != kProtocolTag) return make_error("bad_protocol", "first frame is not YKT1");
  const auto type = message_type_from(frames[1]);
  if (!type) return make_error("unknown_type", "unknown message type");
  if (frames[2].empty() || frames[2].size() > kMaxMessageIdBytes) {
    return make_error("bad_message_id", "message id must be 1..255 bytes");
  }
  return Envelope{*type, std::move(frames[2]), std::move(frames[3])};
}

std::string encode_heartbeat(const Heartbeat& h) {
  return json{{"gateway", h.gateway}, {"ts_ms", h.ts_ms}}.dump();
}

Result<Heartbeat> decode_heartbeat(std::string_view text) {
  auto doc = parse_object(text);
  if (!doc) return doc.error();
  Heartbeat h;
  Error err;
  if (!get_text(*doc, "gateway", h.gateway, err) ||
      !get_int(*doc, "ts_ms", 0, kMaxInt, h.ts_ms, err)) {
    return err;
  }
  return h;
}

std::string encode_heartbeat_ack(const HeartbeatAck& a) { return json{{"ts_ms", a.ts_ms}}.dump(); }

Result<HeartbeatAck> decode_heartbeat_ack(std::string_view text) {
  auto doc = parse_object(text);
  if (!doc) return doc.error();
  HeartbeatAck a;
  Error err;
  if (!get_int(*doc, "ts_ms", 0, kMaxInt, a.ts_ms, err)) return err;
  return a;
}

std::string encode_auth_request(const OnlineAuthRequest& r) {
  return json{{"req_id", r.req_id},
              {"site", r.site},
              {"terminal", r.terminal},
              {"scenario", r.scenario},
              {"service_item", r.service_item},
              {"card_token", r.card_token},
              {"region", r.region},
              {"credential_type", to_string(r.credential_type)},
              {"amount_fen", r.amount_fen},
              {"ts_ms", r.ts_ms}}
      .dump();
}

Result<OnlineAuthRequest> decode_auth_request(std::string_view text) {
  auto doc = parse_object(text);
  if (!doc) return doc.error();
  OnlineAuthRequest r;
  Error err;
  std::int64_t service_item = 0;
  std::int64_t region = 0;
  std::string credential;
  if (!get_text(*doc, "req_id", r.req_id, err) || !get_text(*doc, "site", r.site, err) ||
      !get_text(*doc, "terminal", r.terminal, err) ||
      !get_text(*doc, "scenario", r.scenario, err) ||
      !get_int(*doc, "service_item", 0, 1000, service_item, err) ||
      !get_text(*doc, "card_token", r.card_token, err) ||
      !get_int(*doc, "region", 0, 65535, region, err) ||
      !get_text(*doc, "credential_type", credential, err) ||
      !get_int(*doc, "amount_fen", 0, kMaxInt, r.amount_fen, err) ||
      !get_int(*doc, "ts_ms", 0, kMaxInt, r.ts_ms, err)) {
    return err;
  }
  // An empty token is a credential without a card (type other); anything else must look like
  // a token, which also keeps a full card number from being accepted in its place.
  if (!r.card_token.empty() && !is_token(r.card_token)) {
    return malformed("card_token must be 64 lower-case hex digits");
  }
  const auto type = credential_type_from(credential);
  if (!type) return malformed("unknown credential_type");
  r.credential_type = *type;
  r.service_item = static_cast<int>(service_item);
  r.region = static_cast<IssuerRegion>(region);
  return r;
}

std::string encode_auth_reply(const OnlineAuthReply& r) {
  return json{
      {"decision", to_string(r.decision)}, {"reason", r.reason}, {"amount_fen", r.amount_fen}}
      .dump();
}

Result<OnlineAuthReply> decode_auth_reply(std::string_view text) {
  auto doc = parse_object(text);
  if (!doc) return doc.error();
  OnlineAuthReply r;
  Error err;
  std::string decision;
  if (!get_text(*doc, "decision", decision, err) || !get_text(*doc, "reason", r.reason, err) ||
      !get_int(*doc, "amount_fen", 0, kMaxInt, r.amount_fen, err)) {
    return err;
  }
  const auto ok_code = reason_code(Reason::ok);
  if (decision == to_string(Decision::approve)) {
    if (r.reason != ok_code) return malformed("an approval must carry reason 'ok'");
    r.decision = Decision::approve;
  } else if (decision == to_string(Decision::decline)) {
    if (r.reason == ok_code) return malformed("a decline must carry a reason other than 'ok'");
    if (!reason_from_code(r.reason))
      r.reason = std::string(reason_code(Reason::declined_by_platform));
    r.decision = Decision::decline;
  } else {
    return malformed("decision must be 'approve' or 'decline'");
  }
  return r;
}

std::string encode_error(const ErrorReply& e) {
  json doc{{"code", e.code}, {"message", e.message}};
  if (e.retry_after_ms > 0) doc["retry_after_ms"] = e.retry_after_ms;
  return doc.dump();
}

Result<ErrorReply> decode_error(std::string_view text) {
  auto doc = parse_object(text);
  if (!doc) return doc.error();
  ErrorReply e;
  Error err;
  if (!get_text(*doc, "code", e.code, err) || !get_text(*doc, "message", e.message, err, false) ||
      !get_int(*doc, "retry_after_ms", 0, kMaxInt, e.retry_after_ms, err, false)) {
    return err;
  }
  return e;
}

std::string encode_batch_header(const BatchHeader& h) {
  return json{{"gateway", h.gateway},
              {"records", h.records},
              {"first_seq", h.first_seq},
              {"last_seq", h.last_seq}}
      .dump();
}

Result<BatchHeader> decode_batch_header(std::string_view text) {
  auto doc = parse_object(text);
  if (!doc) return doc.error();
  BatchHeader h;
  Error err;
  std::int64_t records = 0;
  std::int64_t first = 0;
  std::int64_t last = 0;
  if (!get_text(*doc, "gateway", h.gateway, err) ||
      !get_int(*doc, "records", 1, kMaxCount, records, err) ||
      !get_int(*doc, "first_seq", 0, kMaxInt, first, err) ||
      !get_int(*doc, "last_seq", 0, kMaxInt, last, err)) {
    return err;
  }
  if (h.gateway.empty()) return malformed("field 'gateway' must not be empty");
  if (last < first) return malformed("last_seq is below first_seq");
  h.records = static_cast<std::uint32_t>(records);
  h.first_seq = static_cast<std::uint64_t>(first);
  h.last_seq = static_cast<std::uint64_t>(last);
  return h;
}

std::string encode_batch(const BatchHeader& header, std::string_view body) {
  std::string out = encode_batch_header(header);
  out.reserve(out.size() + 1 + body.size());
  out += '\n';
  out.append(body);
  return out;
}

Result<BatchPayload> decode_batch(std::string_view payload) {
  const auto newline = payload.find('\n');
  if (newline == std::string_view::npos) return malformed("BATCH payload has no header line");
  auto header = decode_batch_header(payload.substr(0, newline));
  if (!header) return header.error();
  const std::string_view body = payload.substr(newline + 1);
  if (body.empty()) return malformed("BATCH payload has no body");
  return BatchPayload{std::move(*header), body};
}

std::string encode_batch_ack(const BatchAck& a) {
  return json{{"batch_id", a.batch_id}, {"accepted", a.accepted}, {"duplicates", a.duplicates}}
      .dump();
}

Result<BatchAck> decode_batch_ack(std::string_view text) {
  auto doc = parse_object(text);
  if (!doc) return doc.error();
  BatchAck a;
  Error err;
  std::int64_t accepted = 0;
  std::int64_t duplicates = 0;
  if (!get_text(*doc, "batch_id", a.batch_id, err, true, kMaxMessageIdBytes) ||
      !get_int(*doc, "accepted", 0, kMaxCount, accepted, err) ||
      !get_int(*doc, "duplicates", 0, kMaxCount, duplicates, err)) {
    return err;
  }
  a.accepted = static_cast<std::uint32_t>(accepted);
  a.duplicates = static_cast<std::uint32_t>(duplicates);
  return a;
}

}  // namespace yktgw::district
