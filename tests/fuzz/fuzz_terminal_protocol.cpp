// The terminal protocol parsers: every topic and payload a terminal (or anyone on the broker)
// can send, plus the reply parsers the simulator uses. A parsed message must serialize again
// and parse to the same value.
#include <cstddef>
#include <cstdint>
#include <string_view>
#include <vector>

#include "gateway/protocol/terminal_protocol.h"

using namespace yktgw::protocol;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view in(reinterpret_cast<const char*>(data), size);
  (void)parse_topic(in);
  (void)is_valid_id(in);
  if (auto r = parse_auth_request(in); r.ok()) {
    const auto again = parse_auth_request(serialize(*r.value));
    if (!again.ok()) __builtin_trap();
  } else {
    (void)serialize_auth_error(r.error);
  }
  if (auto t = parse_txn(in); t.ok()) {
    const auto again = parse_txn(serialize(*t.value));
    if (!again.ok()) __builtin_trap();
  } else {
    (void)serialize_txn_error(t.error);
  }
  if (auto b = parse_txn_batch(in, 500); b.ok()) {
    std::vector<TxnMessage> good;
    for (const auto& one : b.value->records)
      if (one.ok()) good.push_back(*one.value);
    if (!good.empty()) {
      const auto again = parse_txn_batch(
          serialize_txn_batch(b.value->batch_id, b.value->terminal, good), 500);
      if (!again.ok() || again.value->records.size() != good.size()) __builtin_trap();
      for (const auto& one : again.value->records)
        if (!one.ok()) __builtin_trap();
    }
  }
  if (auto k = parse_txn_batch_ack(in); k.ok()) (void)serialize(*k.value);
  if (auto s = parse_status(in); s.ok()) (void)serialize(*s.value);
  if (auto a = parse_auth_response(in); a.ok()) (void)serialize(*a.value);
  if (auto k = parse_txn_ack(in); k.ok()) (void)serialize(*k.value);
  return 0;
}
