#pragma once
// Attendance (考勤) for construction-site clock-in gates: an approval by the rule gate.clock_in
// is recorded by the gateway itself, as a record of kind attendance in records.db, so it is
// forwarded to the platforms like the terminals' transactions (docs/policies.md §2.5). The
// record holds the card token and masked number only, never the card number.

#include <string_view>

#include "gateway/core/records.h"

namespace yktgw {

// One approved clock-in, as the engine knows it when it answers.
struct ClockIn {
  std::string_view site;
  std::string_view terminal;
  std::string_view scenario;
  int service_item = 0;
  std::string_view req_id;
  UtcMillis request_ts_ms = 0;  // the terminal's time in the request
  UtcMillis decided_ms = 0;     // the gateway's clock at the decision: the attendance time
  AuthMode mode = AuthMode::offline;
  CredentialType type = CredentialType::card;
  std::string_view card_token;
  std::string_view card_masked;
  IssuerRegion region = 0;
};

// "attendance@<request ts>@<req_id>". '@' is not among the characters of a terminal's txn_id,
// so the id never collides with a transaction of the same terminal; a request the terminal
// sends again (same req_id and ts) gives the same id and is stored once.
std::string attendance_id(std::string_view req_id, UtcMillis request_ts_ms);

// The record to store: kind attendance, result approved, amount 0, time of the decision.
TxnRecord attendance_record(const ClockIn& c);

}  // namespace yktgw
