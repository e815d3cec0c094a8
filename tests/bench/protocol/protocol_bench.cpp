// What reading a terminal message costs, beside the JSON parser alone on the same bytes: the
// gateway's parser checks every field (types, lengths, characters, the order of the spec) and
// copies the values out; the baseline only builds simdjson's DOM. A third line gives nlohmann's
// DOM on the same bytes, the parser the gateway used before.
//
//   protocol_bench [--rounds N]   N bulk uploads of 100 records and N*100 auth requests

#include <simdjson.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "gateway/protocol/terminal_protocol.h"
#include "tests/bench/common/bench_report.h"

namespace {

using Steady = std::chrono::steady_clock;
using namespace yktgw;

constexpr int kRecordsPerMessage = 100;

std::vector<protocol::TxnMessage> records() {
  std::vector<protocol::TxnMessage> out;
  for (int i = 0; i < kRecordsPerMessage; ++i) {
    protocol::TxnMessage m;
    m.txn_id = "bus-0007:" + std::to_string(1732880000000 + i);
    m.req_id = i % 3 == 0 ? "" : "r-" + std::to_string(i);
    m.terminal = "bus-0007";
    m.scenario = "bus";
    m.ts_ms = 1732880000000 + i * 1000;
    m.credential.type = CredentialType::card;
    m.credential.card_no = "500101195001011239";
    m.amount_fen = 200;
    m.result = i % 10 == 0 ? TxnResult::declined : TxnResult::approved;
    if (m.result == TxnResult::declined) m.reason = "card_lost";
    out.push_back(m);
  }
  return out;
}

std::string auth_request() {
  return R"({"v":1,"req_id":"r-000123","terminal":"ct-0001","scenario":"canteen","ts":1732880000000,)"
         R"("credential":{"type":"card","card_no":"500101195001011239"},"amount_fen":1200})";
}

// Nanoseconds per call of f, over n calls.
template <typename F>
double ns_per_call(long n, F&& f) {
  const auto t0 = Steady::now();
  for (long i = 0; i < n; ++i) f();
  return std::chrono::duration<double, std::nano>(Steady::now() - t0).count() /
         static_cast<double>(n);
}

}  // namespace

int main(int argc, char** argv) {
  long rounds = 20'000;
  for (int i = 1; i + 1 < argc; ++i) {
    if (std::strcmp(argv[i], "--rounds") == 0) rounds = std::atol(argv[i + 1]);
  }
  if (rounds < 10) rounds = 10;
  const std::string batch = protocol::serialize_txn_batch("b-0007-1", "bus-0007", records());
  const std::string auth = auth_request();

  // Every parse must succeed, or the figures would time the error path.
  const auto probe = protocol::parse_txn_batch(batch, 500);
  if (!probe.ok() || probe.value->records.size() != kRecordsPerMessage ||
      !probe.value->records.back().ok() || !protocol::parse_auth_request(auth).ok()) {
    std::fprintf(stderr, "protocol_bench: the sample messages do not parse\n");
    return 1;
  }

  yktgw::bench::BenchReport r;
  r.section("terminal message parsing: " + std::to_string(rounds) + " bulk uploads of " +
            std::to_string(kRecordsPerMessage) + " records (" + std::to_string(batch.size()) +
            " bytes), " + std::to_string(rounds * kRecordsPerMessage) + " auth requests (" +
            std::to_string(auth.size()) + " bytes); one thread");

  std::size_t sink = 0;
  simdjson::dom::parser parser;
  const double dom_batch = ns_per_call(rounds, [&] {
    simdjson::dom::element e;
    if (parser.parse(batch.data(), batch.size()).get(e) == simdjson::SUCCESS) ++sink;
  });
  const double ours_batch = ns_per_call(
      rounds, [&] { sink += protocol::parse_txn_batch(batch, 500).value->records.size(); });
  const double nlohmann_batch =
      ns_per_call(rounds, [&] { sink += nlohmann::json::parse(batch, nullptr, false).size(); });
  const long auths = rounds * kRecordsPerMessage;
  const double dom_auth = ns_per_call(auths, [&] {
    simdjson::dom::element e;
    if (parser.parse(auth.data(), auth.size()).get(e) == simdjson::SUCCESS) ++sink;
  });
  const double ours_auth =
      ns_per_call(auths, [&] { sink += protocol::parse_auth_request(auth).ok() ? 1 : 0; });

  const double per = kRecordsPerMessage;
  r.line("parse_txn_batch_per_record", ours_batch / per, "ns", dom_batch / per);
  r.line("simdjson_dom_only_per_record", dom_batch / per, "ns");
  r.line("nlohmann_dom_only_per_record", nlohmann_batch / per, "ns", dom_batch / per);
  r.line("parse_auth_request", ours_auth, "ns", dom_auth);
  r.line("simdjson_dom_only_auth_request", dom_auth, "ns");
  r.note("checksum " + std::to_string(sink));
  return 0;
}
