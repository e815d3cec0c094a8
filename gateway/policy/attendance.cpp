#include "gateway/policy/attendance.h"

namespace yktgw {

std::string attendance_id(std::string_view req_id, UtcMillis request_ts_ms) {
  std::string id = "attendance@";
  id += std::to_string(request_ts_ms);
  id += '@';
  id += req_id;
  return id;
}

TxnRecord attendance_record(const ClockIn& c) {
  TxnRecord r;
  r.kind = RecordKind::attendance;
  r.txn_id = attendance_id(c.req_id, c.request_ts_ms);
  r.req_id = std::string(c.req_id);
  r.site = std::string(c.site);
  r.terminal = std::string(c.terminal);
  r.scenario = std::string(c.scenario);
  r.service_item = c.service_item;
  r.ts_ms = c.decided_ms;
  r.received_ms = c.decided_ms;
  r.card.type = c.type;
  r.card.token = std::string(c.card_token);
  r.card.masked = std::string(c.card_masked);
  r.card.region = c.region;
  r.amount_fen = 0;
  r.result = TxnResult::approved;
  r.mode = c.mode;
  return r;
}

}  // namespace yktgw
