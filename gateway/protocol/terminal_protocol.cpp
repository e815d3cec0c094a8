#include "gateway/protocol/terminal_protocol.h"

#include <cstddef>
#include <cstdint>
#include <exception>
#include <limits>
#include <optional>
#include <nlohmann/json.hpp>
#include <simdjson.h>
#include <string>
#include <string_view>
#include <utility>

// Everything here runs on untrusted input from terminals (and, in the simulator, from the
// gateway): no function may throw or crash, whatever the bytes. nlohmann is used only in its
// non-throwing forms (parse with allow_exceptions=false, find, type checks before get, dump with
// error_handler_t::replace); the catch blocks at the public entry points are a safety net for a
// missed type check or exhausted memory, not control flow. A serializer that fails returns an
// empty string: publishing nothing is safe, because terminals resend until they get a reply.

namespace yktgw::protocol {
namespace {

// Incoming messages are read with simdjson's DOM (no allocation per value); nlohmann's SAX
// parser only locates the error in a payload that is not JSON.
using Json = nlohmann::json;
using Element = simdjson::dom::element;
using ElementType = simdjson::dom::element_type;
// Outgoing messages keep the key order of docs/terminal-protocol.md, so captured traffic reads
// the same as the spec.
using OrderedJson = nlohmann::ordered_json;

constexpr std::string_view kTopicRoot = "ykt/v1/";

constexpr std::size_t kMaxIdLen = 64;    // req_id, txn_id, site, terminal
constexpr std::size_t kMaxCodeLen = 32;  // scenario, credential.method
constexpr std::size_t kMaxCardNoLen = 32;
constexpr std::size_t kMaxMacLen = 128;  // hex digits
constexpr std::size_t kMaxQrLen = 4096;  // bytes
constexpr std::size_t kMaxTxnReasonLen = 64;
constexpr std::size_t kMaxKindLen = 32;
constexpr std::size_t kMaxFirmwareLen = 64;
constexpr Fen kMaxAmountFen = 1'000'000'000;  // 10 million yuan: far above any single tap

// ---------------------------------------------------------------------------------------------
// Character classes. `char` may be signed, so bytes >= 0x80 are negative and fail every test.

bool is_alnum(char c) {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
}
bool is_printable_ascii(char c) { return c >= 0x20 && c <= 0x7e; }
bool is_id_char(char c) { return is_alnum(c) || c == '_' || c == '.' || c == '-'; }
bool is_txn_id_char(char c) { return is_id_char(c) || c == ':'; }
bool is_code_char(char c) { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_'; }
bool is_hex_char(char c) {
  return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

template <typename Pred>
bool chars_ok(std::string_view s, std::size_t min_len, std::size_t max_len, Pred ok) {
  if (s.size() < min_len || s.size() > max_len) return false;
  for (char c : s) {
    if (!ok(c)) return false;
  }
  return true;
}

// ---------------------------------------------------------------------------------------------
// Parsing prologue.

// nlohmann's DOM parser has no depth limit of its own: 16 KiB of '[' would build a deep tree only
// to be refused. Counting brackets outside strings first is cheap and bounds the work. Input
// that is not JSON at all is left for the parser to refuse.
bool nesting_exceeds(std::string_view s, int max_depth) {
  int depth = 0;
  bool in_string = false;
  bool escaped = false;
  for (char c : s) {
    if (in_string) {
      if (escaped) {
        escaped = false;
      } else if (c == '\\') {
        escaped = true;
      } else if (c == '"') {
        in_string = false;
      }
      continue;
    }
    switch (c) {
      case '"':
        in_string = true;
        break;
      case '{':
      case '[':
        if (++depth > max_depth) return true;
        break;
      case '}':
      case ']':
        // A stray closer makes the payload invalid anyway; the parser stops there.
        if (--depth < 0) return false;
        break;
      default:
        break;
    }
  }
  return false;
}

// Finds where a payload stops being JSON, for the error detail. Runs only after a failed parse,
// so the success path parses once. Only the position is reported: nlohmann's message quotes the
// last token, which could be part of a card number.
struct ErrorLocator {
  bool failed = false;
  std::size_t position = 0;

  bool null() { return true; }
  bool boolean(bool) { return true; }
  bool number_integer(Json::number_integer_t) { return true; }
  bool number_unsigned(Json::number_unsigned_t) { return true; }
  bool number_float(Json::number_float_t, const Json::string_t&) { return true; }
  bool string(Json::string_t&) { return true; }
  bool binary(Json::binary_t&) { return true; }
  bool start_object(std::size_t) { return true; }
  bool key(Json::string_t&) { return true; }
  bool end_object() { return true; }
  bool start_array(std::size_t) { return true; }
  bool end_array() { return true; }
  bool parse_error(std::size_t pos, const std::string&, const Json::exception&) {
    failed = true;
    position = pos;
    return false;
  }
};

void set_error(ParseError& err, Reason reason, std::string detail) {
  err.reason = reason;
  err.detail = std::move(detail);
}

// The last field named `name` of an object (a repeated key: the last one counts), or nullopt.
std::optional<Element> field_of(const Element& obj, std::string_view name) {
  std::optional<Element> found;
  simdjson::dom::object o;
  if (obj.get_object().get(o) != simdjson::SUCCESS) return found;
  for (const simdjson::dom::key_value_pair field : o) {
    if (field.key == name) found = field.value;
  }
  return found;
}

bool is_string(const Element& e) { return e.type() == ElementType::STRING; }
// Only for an element that is_string().
std::string_view string_of(const Element& e) { return e.get_string().value_unsafe(); }

// Ids are copied into the error before anything is validated, so a refusal can still be matched
// by the terminal that sent it, even when the id itself is what is wrong.
void fill_ids(const Element& obj, ParseError& err) {
  auto grab = [&obj](std::string_view name, std::string& out) {
    const auto f = field_of(obj, name);
    if (f && is_string(*f)) out = std::string(string_of(*f));
  };
  grab("req_id", err.req_id);
  grab("txn_id", err.txn_id);
  grab("terminal", err.terminal);
}

// Reads fields of one JSON object and turns every problem into a ParseError. Each accessor
// returns false after recording the error; the first problem found wins. JSON null counts as
// absent, because many serializers emit null for unset optional fields.
class FieldReader {
 public:
  FieldReader(const Element& obj, std::string_view prefix, ParseError& err)
      : obj_(obj), prefix_(prefix), err_(err) {}

  bool string(std::string_view name, bool required, std::string& out) {
    const auto j = find(name);
    if (!j) return !required || missing(name);
    if (!is_string(*j)) return wrong_type(name, "a string");
    out = std::string(string_of(*j));
    return true;
  }

  // Integers must fit int64. JSON floats (1.0, 1e3) and booleans are not integers: money and
  // times are exact, and a float here means the terminal computed something it should not have.
  bool integer(std::string_view name, bool required, std::int64_t& out) {
    const auto j = find(name);
    if (!j) return !required || missing(name);
    switch (j->type()) {
      case ElementType::INT64:
        out = j->get_int64().value_unsafe();
        return true;
      case ElementType::UINT64: {
        const std::uint64_t u = j->get_uint64().value_unsafe();
        if (u > static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max())) {
          return wrong_type(name, "an integer");
        }
        out = static_cast<std::int64_t>(u);
        return true;
      }
      default:
        return wrong_type(name, "an integer");
    }
  }

  // Required object; nullopt after recording the error.
  std::optional<Element> object(std::string_view name) {
    const auto j = find(name);
    if (!j) {
      missing(name);
      return std::nullopt;
    }
    if (j->type() != ElementType::OBJECT) {
      wrong_type(name, "an object");
      return std::nullopt;
    }
    return j;
  }

  bool invalid(std::string_view name, std::string_view rule) {
    set_error(err_, Reason::invalid_value, "field '" + path(name) + "' " + std::string(rule));
    return false;
  }

 private:
  std::optional<Element> find(std::string_view name) const {
    auto f = field_of(obj_, name);
    if (f && f->is_null()) f.reset();
    return f;
  }
  std::string path(std::string_view name) const { return prefix_ + std::string(name); }
  bool missing(std::string_view name) {
    set_error(err_, Reason::missing_field, "missing field '" + path(name) + "'");
    return false;
  }
  bool wrong_type(std::string_view name, std::string_view what) {
    set_error(err_, Reason::wrong_type, "field '" + path(name) + "' must be " + std::string(what));
    return false;
  }

  Element obj_;
  std::string prefix_;
  ParseError& err_;
};

// One parser per thread: it keeps its buffers between messages. What open_message returns
// points into it, so it is read before the thread parses the next message.
simdjson::dom::parser& thread_parser() {
  thread_local simdjson::dom::parser parser;
  return parser;
}

// JSON, an object, ids for the error, then the version: the order the spec promises.
// `parsed`, when given, tells whether the payload was JSON at all (then `obj` may be read even
// when the message is refused for its shape or version).
bool open_message(std::string_view payload, Element& obj, ParseError& err,
                  bool* parsed = nullptr) {
  if (nesting_exceeds(payload, kMaxNestingDepth)) {
    set_error(err, Reason::malformed_json,
              "payload nests deeper than " + std::to_string(kMaxNestingDepth) + " levels");
    return false;
  }
  const auto parse_error = thread_parser().parse(payload.data(), payload.size()).get(obj);
  if (parse_error != simdjson::SUCCESS) {
    ErrorLocator locator;
    Json::sax_parse(payload.begin(), payload.end(), &locator);
    if (!locator.failed && parse_error == simdjson::NUMBER_ERROR) {
      // Valid JSON whose number does not fit 64 bits (an integer) or a double (1e400).
      set_error(err, Reason::wrong_type, "payload holds a number that does not fit 64 bits");
      return false;
    }
    set_error(
        err, Reason::malformed_json,
        "payload is not valid JSON (error near byte " + std::to_string(locator.position) + ")");
    return false;
  }
  if (parsed != nullptr) *parsed = true;
  if (obj.type() != ElementType::OBJECT) {
    set_error(err, Reason::malformed_json, "payload must be a JSON object");
    return false;
  }
  fill_ids(obj, err);
  FieldReader r(obj, "", err);
  std::int64_t v = 0;
  if (!r.integer("v", true, v)) return false;
  if (v != kVersion) {
    set_error(err, Reason::unsupported_version,
              "protocol version " + std::to_string(v) + " is not supported (expected 1)");
    return false;
  }
  return true;
}

// ---------------------------------------------------------------------------------------------
// Shared fields.

bool read_req_id(FieldReader& r, bool required, std::string& out) {
  if (!r.string("req_id", required, out)) return false;
  // In a txn the req_id may be empty: an offline tap has no auth/req before it.
  if (!required && out.empty()) return true;
  if (!chars_ok(out, 1, kMaxIdLen, is_printable_ascii)) {
    return r.invalid("req_id", "must be 1..64 printable ASCII characters");
  }
  return true;
}

bool read_terminal(FieldReader& r, std::string& out) {
  if (!r.string("terminal", true, out)) return false;
  if (!is_valid_id(out)) return r.invalid("terminal", "must be 1..64 characters of [A-Za-z0-9_.-]");
  return true;
}

bool read_scenario(FieldReader& r, std::string& out) {
  if (!r.string("scenario", true, out)) return false;
  if (!chars_ok(out, 1, kMaxCodeLen, is_code_char)) {
    return r.invalid("scenario", "must be 1..32 characters of [a-z0-9_]");
  }
  return true;
}

bool read_ts(FieldReader& r, bool required, UtcMillis& out) {
  if (!r.integer("ts", required, out)) return false;
  if (out < 0) return r.invalid("ts", "must be UTC milliseconds >= 0");
  return true;
}

bool read_amount(FieldReader& r, bool required, Fen& out) {
  if (!r.integer("amount_fen", required, out)) return false;
  if (out < 0 || out > kMaxAmountFen) return r.invalid("amount_fen", "must be 0..1000000000 fen");
  return true;
}

bool read_credential(const Element& msg, ParseError& err, Credential& out) {
  FieldReader top(msg, "", err);
  const auto c = top.object("credential");
  if (!c) return false;
  FieldReader r(*c, "credential.", err);
  std::string type;
  if (!r.string("type", true, type)) return false;
  auto t = credential_type_from(type);
  if (!t) return r.invalid("type", "must be one of card, ecard_qr, ykm_qr, other");
  out = Credential{};
  out.type = *t;
  // Fields that belong to another type are ignored, like any unknown field.
  switch (*t) {
    case CredentialType::card:
      if (!r.string("card_no", true, out.card_no)) return false;
      // Only the shape is checked here; digits and check digit are the decision path's job,
      // which answers invalid_card_no.
      if (!chars_ok(out.card_no, 1, kMaxCardNoLen, is_printable_ascii)) {
        return r.invalid("card_no", "must be 1..32 printable ASCII characters");
      }
      if (!r.string("mac", false, out.mac)) return false;
      // Empty means "no MAC", for terminals that always send the key.
      if (!chars_ok(out.mac, 0, kMaxMacLen, is_hex_char) || out.mac.size() % 2 != 0) {
        return r.invalid("mac", "must be an even number of hex digits, at most 128");
      }
      break;
    case CredentialType::ecard_qr:
    case CredentialType::ykm_qr:
      if (!r.string("qr", true, out.qr)) return false;
      if (out.qr.empty() || out.qr.size() > kMaxQrLen) {
        return r.invalid("qr", "must be 1..4096 bytes");
      }
      break;
    case CredentialType::other:
      if (!r.string("method", true, out.method)) return false;
      if (!chars_ok(out.method, 1, kMaxCodeLen, is_code_char)) {
        return r.invalid("method", "must be 1..32 characters of [a-z0-9_]");
      }
      break;
  }
  return true;
}

// Reads a reason code as the gateway sends it (terminal side).
bool read_reason_code(FieldReader& r, Reason& out) {
  std::string code;
  if (!r.string("reason", true, code)) return false;
  auto reason = reason_from_code(code);
  if (!reason) return r.invalid("reason", "is not a known reason code");
  out = *reason;
  return true;
}

// Reads an ack's "status", and its "reason" when rejected (terminal side).
bool read_ack_status(FieldReader& r, TxnAck& ack) {
  std::string status;
  if (!r.string("status", true, status)) return false;
  if (status == "stored") {
    ack.status = AckStatus::stored;
  } else if (status == "duplicate") {
    ack.status = AckStatus::duplicate;
  } else if (status == "rejected") {
    ack.status = AckStatus::rejected;
    return read_reason_code(r, ack.reason);
  } else {
    return r.invalid("status", "must be \"stored\", \"duplicate\" or \"rejected\"");
  }
  return true;
}

// ---------------------------------------------------------------------------------------------
// Serializing.

std::string dump(const OrderedJson& j) {
  // Compact, UTF-8 as is; invalid UTF-8 in a value becomes U+FFFD instead of an exception.
  return j.dump(-1, ' ', /*ensure_ascii=*/false, OrderedJson::error_handler_t::replace);
}

OrderedJson credential_json(const Credential& c) {
  OrderedJson j;
  j["type"] = std::string(to_string(c.type));
  switch (c.type) {
    case CredentialType::card:
      j["card_no"] = c.card_no;
      if (!c.mac.empty()) j["mac"] = c.mac;
      break;
    case CredentialType::ecard_qr:
    case CredentialType::ykm_qr:
      j["qr"] = c.qr;
      break;
    case CredentialType::other:
      j["method"] = c.method;
      break;
  }
  return j;
}

void put_reason(OrderedJson& j, Reason reason) {
  const ReasonText& t = reason_text(reason);
  j["reason"] = std::string(t.code);
  j["message_zh"] = std::string(t.zh);
  j["message_en"] = std::string(t.en);
}

OrderedJson auth_response_json(const AuthResponse& r) {
  OrderedJson j;
  j["v"] = kVersion;
  j["req_id"] = r.req_id;
  j["decision"] = std::string(to_string(r.decision));
  put_reason(j, r.reason);
  j["mode"] = std::string(to_string(r.mode));
  j["amount_fen"] = r.amount_fen;
  if (r.amount_before_fen != 0 && r.amount_before_fen != r.amount_fen)
    j["amount_before_fen"] = r.amount_before_fen;
  if (!r.card_masked.empty()) j["card_masked"] = r.card_masked;
  if (!r.rule.empty()) j["rule"] = r.rule;
  if (r.service_item != 0) j["service_item"] = r.service_item;
  return j;
}

OrderedJson txn_ack_json(const TxnAck& a) {
  OrderedJson j;
  j["v"] = kVersion;
  j["txn_id"] = a.txn_id;
  j["status"] = std::string(to_string(a.status));
  if (a.status == AckStatus::rejected) put_reason(j, a.reason);
  return j;
}

}  // namespace

// -----------------------------------------------------------------------------------------------
// Topics.

bool is_valid_id(std::string_view id) { return chars_ok(id, 1, kMaxIdLen, is_id_char); }

std::optional<ParsedTopic> parse_topic(std::string_view topic) {
  if (!topic.starts_with(kTopicRoot)) return std::nullopt;
  std::string_view rest = topic.substr(kTopicRoot.size());
  auto slash = rest.find('/');
  if (slash == std::string_view::npos) return std::nullopt;
  std::string_view site = rest.substr(0, slash);
  rest = rest.substr(slash + 1);
  slash = rest.find('/');
  if (slash == std::string_view::npos) return std::nullopt;
  std::string_view terminal = rest.substr(0, slash);
  std::string_view tail = rest.substr(slash + 1);
  if (!is_valid_id(site) || !is_valid_id(terminal)) return std::nullopt;

  ParsedTopic parsed;
  if (tail == "auth/req") {
    parsed.kind = TopicKind::auth_req;
  } else if (tail == "txn") {
    parsed.kind = TopicKind::txn;
  } else if (tail == "status") {
    parsed.kind = TopicKind::status;
  } else if (tail == "txn/batch") {
    parsed.kind = TopicKind::txn_batch;
  } else {
    return std::nullopt;
  }
  parsed.address = TopicAddress{std::string(site), std::string(terminal)};
  return parsed;
}

namespace {
std::string topic_for(const TopicAddress& a, std::string_view tail) {
  std::string t;
  t.reserve(kTopicRoot.size() + a.site.size() + a.terminal.size() + tail.size() + 2);
  t.append(kTopicRoot).append(a.site).append("/").append(a.terminal).append("/").append(tail);
  return t;
}
}  // namespace

std::string auth_request_topic(const TopicAddress& a) { return topic_for(a, "auth/req"); }
std::string auth_response_topic(const TopicAddress& a) { return topic_for(a, "auth/resp"); }
std::string txn_topic(const TopicAddress& a) { return topic_for(a, "txn"); }
std::string txn_ack_topic(const TopicAddress& a) { return topic_for(a, "txn/ack"); }
std::string status_topic(const TopicAddress& a) { return topic_for(a, "status"); }
std::string txn_batch_topic(const TopicAddress& a) { return topic_for(a, "txn/batch"); }
std::string txn_batch_ack_topic(const TopicAddress& a) { return topic_for(a, "txn/batch/ack"); }

std::string subscription_filter(std::string_view site, TopicKind kind) {
  std::string_view tail = "auth/req";
  if (kind == TopicKind::txn) tail = "txn";
  if (kind == TopicKind::status) tail = "status";
  if (kind == TopicKind::txn_batch) tail = "txn/batch";
  return topic_for(TopicAddress{std::string(site), "+"}, tail);
}

// -----------------------------------------------------------------------------------------------
// Messages from terminals.

Parsed<AuthRequest> parse_auth_request(std::string_view payload) {
  Parsed<AuthRequest> out;
  try {
    Element obj;
    if (!open_message(payload, obj, out.error)) return out;
    FieldReader r(obj, "", out.error);
    AuthRequest req;
    if (!read_req_id(r, true, req.req_id)) return out;
    if (!read_terminal(r, req.terminal)) return out;
    if (!read_scenario(r, req.scenario)) return out;
    if (!read_ts(r, true, req.ts_ms)) return out;
    if (!read_credential(obj, out.error, req.credential)) return out;
    if (!read_amount(r, false, req.amount_fen)) return out;
    out.value = std::move(req);
  } catch (const std::exception&) {
    out.value.reset();
    set_error(out.error, Reason::malformed_json, "payload could not be read");
  }
  return out;
}

namespace {

// The fields of one txn record (§7), after the envelope was checked.
bool read_txn_fields(const Element& obj, ParseError& err, TxnMessage& txn) {
    FieldReader r(obj, "", err);
    if (!r.string("txn_id", true, txn.txn_id)) return false;
    if (!chars_ok(txn.txn_id, 1, kMaxIdLen, is_txn_id_char)) {
      r.invalid("txn_id", "must be 1..64 characters of [A-Za-z0-9_.:-]");
      return false;
    }
    if (!read_req_id(r, false, txn.req_id)) return false;
    if (!read_terminal(r, txn.terminal)) return false;
    if (!read_scenario(r, txn.scenario)) return false;
    if (!read_ts(r, true, txn.ts_ms)) return false;
    if (!read_credential(obj, err, txn.credential)) return false;
    if (!read_amount(r, true, txn.amount_fen)) return false;
    std::string result;
    if (!r.string("result", true, result)) return false;
    if (result == "approved") {
      txn.result = TxnResult::approved;
    } else if (result == "declined") {
      txn.result = TxnResult::declined;
    } else {
      r.invalid("result", "must be \"approved\" or \"declined\"");
      return false;
    }
    if (!r.string("reason", false, txn.reason)) return false;
    if (!chars_ok(txn.reason, 0, kMaxTxnReasonLen, is_printable_ascii)) {
      r.invalid("reason", "must be at most 64 printable ASCII characters");
      return false;
    }
    std::string mode;
    if (!r.string("mode", false, mode)) return false;
    if (mode == "online") {
      txn.mode = AuthMode::online;
    } else if (mode.empty() || mode == "offline") {
      txn.mode = AuthMode::offline;
    } else {
      r.invalid("mode", "must be \"online\" or \"offline\"");
      return false;
    }
    return true;
}

}  // namespace

Parsed<TxnMessage> parse_txn(std::string_view payload) {
  Parsed<TxnMessage> out;
  try {
    Element obj;
    if (!open_message(payload, obj, out.error)) return out;
    TxnMessage txn;
    if (!read_txn_fields(obj, out.error, txn)) return out;
    out.value = std::move(txn);
  } catch (const std::exception&) {
    out.value.reset();
    set_error(out.error, Reason::malformed_json, "payload could not be read");
  }
  return out;
}

Parsed<TxnBatchMessage> parse_txn_batch(std::string_view payload, std::size_t max_records) {
  Parsed<TxnBatchMessage> out;
  try {
    Element obj;
    bool parsed = false;
    const bool opened = open_message(payload, obj, out.error, &parsed);
    // The batch id, when readable, so that the terminal can match the refusal.
    out.error.txn_id.clear();
    if (parsed && obj.type() == ElementType::OBJECT) {
      const auto id = field_of(obj, "batch_id");
      if (id && is_string(*id)) out.error.txn_id = std::string(string_of(*id));
    }
    if (!opened) return out;
    FieldReader r(obj, "", out.error);
    TxnBatchMessage batch;
    if (!r.string("batch_id", true, batch.batch_id)) return out;
    if (!chars_ok(batch.batch_id, 1, kMaxIdLen, is_txn_id_char)) {
      r.invalid("batch_id", "must be 1..64 characters of [A-Za-z0-9_.:-]");
      return out;
    }
    if (!read_terminal(r, batch.terminal)) return out;
    const auto field = field_of(obj, "records");
    if (!field || field->is_null()) {
      set_error(out.error, Reason::missing_field, "missing field 'records'");
      return out;
    }
    simdjson::dom::array records;
    if (field->get_array().get(records) != simdjson::SUCCESS) {
      set_error(out.error, Reason::wrong_type, "field 'records' must be an array");
      return out;
    }
    const std::size_t count = records.size();
    if (count == 0 || count > max_records) {
      r.invalid("records", "must hold 1.." + std::to_string(max_records) + " records");
      return out;
    }
    batch.records.reserve(count);
    for (const Element rec : records) {
      Parsed<TxnMessage> one;
      if (rec.type() != ElementType::OBJECT) {
        set_error(one.error, Reason::malformed_json, "record must be a JSON object");
      } else {
        fill_ids(rec, one.error);
        // A record may repeat the envelope's "v"; it must then be the same version.
        FieldReader rv(rec, "", one.error);
        std::int64_t v = kVersion;
        TxnMessage txn;
        if (!rv.integer("v", false, v)) {
          // not an integer: the error is recorded
        } else if (v != kVersion) {
          set_error(one.error, Reason::unsupported_version,
                    "protocol version " + std::to_string(v) + " is not supported (expected 1)");
        } else if (read_txn_fields(rec, one.error, txn)) {
          one.value = std::move(txn);
        }
      }
      batch.records.push_back(std::move(one));
    }
    out.value = std::move(batch);
  } catch (const std::exception&) {
    out.value.reset();
    set_error(out.error, Reason::malformed_json, "payload could not be read");
  }
  return out;
}

Parsed<TerminalStatus> parse_status(std::string_view payload) {
  Parsed<TerminalStatus> out;
  try {
    Element obj;
    if (!open_message(payload, obj, out.error)) return out;
    FieldReader r(obj, "", out.error);
    TerminalStatus s;
    if (!read_terminal(r, s.terminal)) return out;
    std::string state;
    if (!r.string("state", true, state)) return out;
    if (state == "online") {
      s.state = TerminalState::online;
    } else if (state == "offline") {
      s.state = TerminalState::offline;
    } else {
      r.invalid("state", "must be \"online\" or \"offline\"");
      return out;
    }
    if (!r.string("kind", false, s.kind)) return out;
    if (!chars_ok(s.kind, 0, kMaxKindLen, is_printable_ascii)) {
      r.invalid("kind", "must be at most 32 printable ASCII characters");
      return out;
    }
    if (!r.string("firmware", false, s.firmware)) return out;
    if (!chars_ok(s.firmware, 0, kMaxFirmwareLen, is_printable_ascii)) {
      r.invalid("firmware", "must be at most 64 printable ASCII characters");
      return out;
    }
    if (!r.integer("cardlist_version", false, s.cardlist_version)) return out;
    if (s.cardlist_version < 0) {
      r.invalid("cardlist_version", "must be >= 0");
      return out;
    }
    if (!read_ts(r, false, s.ts_ms)) return out;
    out.value = std::move(s);
  } catch (const std::exception&) {
    out.value.reset();
    set_error(out.error, Reason::malformed_json, "payload could not be read");
  }
  return out;
}

// -----------------------------------------------------------------------------------------------
// Replies from the gateway.

std::string serialize(const AuthResponse& r) {
  try {
    return dump(auth_response_json(r));
  } catch (const std::exception&) {
    return {};
  }
}

std::string serialize(const TxnAck& a) {
  try {
    return dump(txn_ack_json(a));
  } catch (const std::exception&) {
    return {};
  }
}

std::string serialize_auth_error(const ParseError& error) {
  try {
    AuthResponse r;
    r.req_id = error.req_id;
    r.decision = Decision::decline;
    r.reason = error.reason;
    r.mode = AuthMode::offline;
    r.amount_fen = 0;
    OrderedJson j = auth_response_json(r);
    j["detail"] = error.detail;
    return dump(j);
  } catch (const std::exception&) {
    return {};
  }
}

std::string serialize_txn_error(const ParseError& error) {
  try {
    OrderedJson j = txn_ack_json(TxnAck{error.txn_id, AckStatus::rejected, error.reason});
    j["detail"] = error.detail;
    return dump(j);
  } catch (const std::exception&) {
    return {};
  }
}

std::string serialize(const TxnBatchAck& a) {
  try {
    OrderedJson j;
    j["v"] = kVersion;
    j["batch_id"] = a.batch_id;
    if (a.rejected) {
      j["status"] = "rejected";
      put_reason(j, a.reason);
      j["detail"] = a.detail;
      return dump(j);
    }
    j["status"] = "acked";
    OrderedJson acks = OrderedJson::array();
    for (const auto& item : a.acks) {
      OrderedJson one;
      one["txn_id"] = item.ack.txn_id;
      one["status"] = std::string(to_string(item.ack.status));
      if (item.ack.status == AckStatus::rejected) {
        one["reason"] = std::string(reason_code(item.ack.reason));
        one["detail"] = item.detail;
      }
      acks.push_back(std::move(one));
    }
    j["acks"] = std::move(acks);
    return dump(j);
  } catch (const std::exception&) {
    return {};
  }
}

// -----------------------------------------------------------------------------------------------
// Messages from terminals, serialized (simulator, tests).

std::string serialize(const AuthRequest& r) {
  try {
    OrderedJson j;
    j["v"] = kVersion;
    j["req_id"] = r.req_id;
    j["terminal"] = r.terminal;
    j["scenario"] = r.scenario;
    j["ts"] = r.ts_ms;
    j["credential"] = credential_json(r.credential);
    j["amount_fen"] = r.amount_fen;
    return dump(j);
  } catch (const std::exception&) {
    return {};
  }
}

namespace {
OrderedJson txn_json(const TxnMessage& t, bool with_version) {
  OrderedJson j;
  if (with_version) j["v"] = kVersion;
  j["txn_id"] = t.txn_id;
  j["req_id"] = t.req_id;
  j["terminal"] = t.terminal;
  j["scenario"] = t.scenario;
  j["ts"] = t.ts_ms;
  j["credential"] = credential_json(t.credential);
  j["amount_fen"] = t.amount_fen;
  j["result"] = std::string(to_string(t.result));
  if (!t.reason.empty()) j["reason"] = t.reason;
  if (t.mode == AuthMode::online) j["mode"] = "online";
  return j;
}
}  // namespace

std::string serialize(const TxnMessage& t) {
  try {
    return dump(txn_json(t, true));
  } catch (const std::exception&) {
    return {};
  }
}

std::string serialize_txn_batch(std::string_view batch_id, std::string_view terminal,
                                const std::vector<TxnMessage>& records) {
  try {
    OrderedJson j;
    j["v"] = kVersion;
    j["batch_id"] = std::string(batch_id);
    j["terminal"] = std::string(terminal);
    OrderedJson recs = OrderedJson::array();
    for (const auto& t : records) recs.push_back(txn_json(t, false));
    j["records"] = std::move(recs);
    return dump(j);
  } catch (const std::exception&) {
    return {};
  }
}

std::string serialize(const TerminalStatus& s) {
  try {
    OrderedJson j;
    j["v"] = kVersion;
    j["terminal"] = s.terminal;
    j["state"] = s.state == TerminalState::online ? "online" : "offline";
    // Optional fields are left out when unset, so a last will is the minimal
    // {"v":1,"terminal":"…","state":"offline"}.
    if (!s.kind.empty()) j["kind"] = s.kind;
    if (!s.firmware.empty()) j["firmware"] = s.firmware;
    if (s.cardlist_version != 0) j["cardlist_version"] = s.cardlist_version;
    if (s.ts_ms != 0) j["ts"] = s.ts_ms;
    return dump(j);
  } catch (const std::exception&) {
    return {};
  }
}

// -----------------------------------------------------------------------------------------------
// Replies as a terminal reads them.

Parsed<AuthResponse> parse_auth_response(std::string_view payload) {
  Parsed<AuthResponse> out;
  try {
    Element obj;
    if (!open_message(payload, obj, out.error)) return out;
    FieldReader r(obj, "", out.error);
    AuthResponse resp;
    // May be empty: the gateway could not read the request's id.
    if (!r.string("req_id", true, resp.req_id)) return out;
    std::string decision;
    if (!r.string("decision", true, decision)) return out;
    if (decision == "approve") {
      resp.decision = Decision::approve;
    } else if (decision == "decline") {
      resp.decision = Decision::decline;
    } else {
      r.invalid("decision", "must be \"approve\" or \"decline\"");
      return out;
    }
    if (!read_reason_code(r, resp.reason)) return out;
    std::string mode;
    if (!r.string("mode", true, mode)) return out;
    if (mode == "online") {
      resp.mode = AuthMode::online;
    } else if (mode == "offline") {
      resp.mode = AuthMode::offline;
    } else {
      r.invalid("mode", "must be \"online\" or \"offline\"");
      return out;
    }
    if (!r.integer("amount_fen", true, resp.amount_fen)) return out;
    if (!r.integer("amount_before_fen", false, resp.amount_before_fen)) return out;
    if (!r.string("card_masked", false, resp.card_masked)) return out;
    if (!r.string("rule", false, resp.rule)) return out;
    std::int64_t item = 0;
    if (!r.integer("service_item", false, item)) return out;
    resp.service_item = static_cast<int>(item);
    out.value = std::move(resp);
  } catch (const std::exception&) {
    out.value.reset();
    set_error(out.error, Reason::malformed_json, "payload could not be read");
  }
  return out;
}

Parsed<TxnAck> parse_txn_ack(std::string_view payload) {
  Parsed<TxnAck> out;
  try {
    Element obj;
    if (!open_message(payload, obj, out.error)) return out;
    FieldReader r(obj, "", out.error);
    TxnAck ack;
    // May be empty: the gateway could not read the record's id.
    if (!r.string("txn_id", true, ack.txn_id)) return out;
    if (!read_ack_status(r, ack)) return out;
    out.value = std::move(ack);
  } catch (const std::exception&) {
    out.value.reset();
    set_error(out.error, Reason::malformed_json, "payload could not be read");
  }
  return out;
}

Parsed<TxnBatchAck> parse_txn_batch_ack(std::string_view payload) {
  Parsed<TxnBatchAck> out;
  try {
    Element obj;
    if (!open_message(payload, obj, out.error)) return out;
    FieldReader r(obj, "", out.error);
    TxnBatchAck ack;
    if (!r.string("batch_id", true, ack.batch_id)) return out;
    std::string status;
    if (!r.string("status", true, status)) return out;
    if (status == "rejected") {
      ack.rejected = true;
      if (!read_reason_code(r, ack.reason)) return out;
      if (!r.string("detail", false, ack.detail)) return out;
      out.value = std::move(ack);
      return out;
    }
    if (status != "acked") {
      r.invalid("status", "must be \"acked\" or \"rejected\"");
      return out;
    }
    const auto field = field_of(obj, "acks");
    simdjson::dom::array acks;
    if (!field || field->get_array().get(acks) != simdjson::SUCCESS) {
      set_error(out.error, Reason::missing_field, "missing field 'acks'");
      return out;
    }
    for (const Element one : acks) {
      if (one.type() != ElementType::OBJECT) {
        set_error(out.error, Reason::wrong_type, "each of 'acks' must be an object");
        return out;
      }
      FieldReader ri(one, "acks[].", out.error);
      TxnBatchAck::Item item;
      if (!ri.string("txn_id", true, item.ack.txn_id)) return out;
      if (!read_ack_status(ri, item.ack)) return out;
      if (item.ack.status == AckStatus::rejected && !ri.string("detail", false, item.detail)) {
        return out;
      }
      ack.acks.push_back(std::move(item));
    }
    out.value = std::move(ack);
  } catch (const std::exception&) {
    out.value.reset();
    set_error(out.error, Reason::malformed_json, "payload could not be read");
  }
  return out;
}

}  // namespace yktgw::protocol
