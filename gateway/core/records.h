#pragma once
// Plain value types for what crosses the gateway. A payload is parsed once, at the edge, into
// these; nothing past the parser sees JSON. Money is integer fen, times are UTC milliseconds.

#include <cstdint>
#include <optional>
#include <string>

#include "gateway/core/holder.h"
#include "gateway/core/reason.h"

namespace yktgw {

using Fen = std::int64_t;
using UtcMillis = std::int64_t;

enum class CredentialType : std::uint8_t { card, ecard_qr, ykm_qr, other };

std::string_view to_string(CredentialType t);
std::optional<CredentialType> credential_type_from(std::string_view s);

// The credential as presented. `card_no` is the full number read from the chip: it lives only in
// memory for the length of one request and is replaced by a token before anything is stored.
struct Credential {
  CredentialType type = CredentialType::card;
  std::string card_no;  // type card
  std::string qr;       // types ecard_qr and ykm_qr: the scanned code
  std::string mac;      // optional per-terminal MAC (hex)
  std::string method;   // type other: "cash", "id_card", ...

  bool operator==(const Credential&) const = default;
};

// The stored, de-identified form of a credential.
struct CardRef {
  CredentialType type = CredentialType::card;
  std::string token;   // HMAC-SM3 of the card number, lower-case hex; empty when none
  std::string masked;  // e.g. 500156********1234; empty when none
  std::string method;  // type other
  IssuerRegion region = 0;

  bool operator==(const CardRef&) const = default;
};

struct TopicAddress {
  std::string site;
  std::string terminal;

  bool operator==(const TopicAddress&) const = default;
};

struct AuthRequest {
  std::string req_id;
  std::string terminal;
  std::string scenario;
  UtcMillis ts_ms = 0;
  Credential credential;
  Fen amount_fen = 0;

  bool operator==(const AuthRequest&) const = default;
};

enum class Decision : std::uint8_t { approve, decline };
enum class AuthMode : std::uint8_t { online, offline };

std::string_view to_string(Decision d);
std::string_view to_string(AuthMode m);

struct AuthResponse {
  std::string req_id;
  Decision decision = Decision::decline;
  Reason reason = Reason::ok;
  AuthMode mode = AuthMode::offline;
  Fen amount_fen = 0;         // to charge, after any discount; 0 when declined
  std::string card_masked;    // shown on the terminal's display; never the full number
  Fen amount_before_fen = 0;  // as requested, before any discount; 0: same as amount_fen
  std::string rule{};         // the policy rule that decided, e.g. "canteen.age_80"; may be empty
  int service_item = 0;       // item of the district catalogue (1..47); 0 when not mapped

  bool operator==(const AuthResponse&) const = default;
};

enum class TxnResult : std::uint8_t { approved, declined };
std::string_view to_string(TxnResult r);

// What a stored record is. `txn`: a transaction the terminal reported. `attendance`: a clock-in
// (rule gate.clock_in) the gateway itself recorded from its approval (docs/policies.md).
enum class RecordKind : std::uint8_t { txn, attendance };
std::string_view to_string(RecordKind k);
std::optional<RecordKind> record_kind_from(std::string_view s);

// A completed transaction as the terminal reports it, de-identified; or, with kind attendance,
// a clock-in the gateway recorded in the same shape.
struct TxnRecord {
  std::string txn_id;
  std::string req_id;
  std::string site;
  std::string terminal;
  std::string scenario;
  UtcMillis ts_ms = 0;        // when the terminal says it happened
  UtcMillis received_ms = 0;  // when the gateway parsed it
  CardRef card;
  Fen amount_fen = 0;
  TxnResult result = TxnResult::approved;
  std::string reason;  // the decline reason code the terminal reports, empty when approved
  AuthMode mode = AuthMode::offline;  // how the terminal says the tap was decided
  int service_item = 0;               // filled in by the gateway from the terminal's mapping
  RecordKind kind = RecordKind::txn;

  bool operator==(const TxnRecord&) const = default;
};

enum class AckStatus : std::uint8_t { stored, duplicate, rejected };
std::string_view to_string(AckStatus s);

struct TxnAck {
  std::string txn_id;
  AckStatus status = AckStatus::stored;
  Reason reason = Reason::ok;  // set when rejected

  bool operator==(const TxnAck&) const = default;
};

enum class TerminalState : std::uint8_t { online, offline };

// The retained status message a terminal publishes (and its last will).
struct TerminalStatus {
  std::string terminal;
  TerminalState state = TerminalState::offline;
  std::string kind;
  std::string firmware;
  std::int64_t cardlist_version = 0;
  UtcMillis ts_ms = 0;

  bool operator==(const TerminalStatus&) const = default;
};

}  // namespace yktgw
