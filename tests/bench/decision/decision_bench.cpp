// Chip-card decision in process: from a parsed AuthRequest to the AuthResponse, through the
// real PolicyAuthorizer (terminal mapping, card decoder with HMAC-SM3 token, card list lookup,
// scenario policy, counters). The baseline, measured in the same run on the same cards, is the
// least any decision must do: the HMAC-SM3 token of the card number and one hash lookup.
// The counters are the real ones, with their write-behind thread and a state.db in /tmp.
//
// Output, one line per figure:  name value unit baseline ratio
// (ratio = value / baseline). Target: p99 under 10 us.

#include <stdlib.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <string>
#include <unordered_map>
#include <vector>

#include "gateway/crypto/card_tokenizer.h"
#include "gateway/policy/counter_store.h"
#include "gateway/policy/policies.h"
#include "gateway/policy/policy_authorizer.h"
#include "tests/bench/common/bench_fakes.h"
#ifdef YKTGW_HAVE_CARD_DECODER
#include "gateway/credentials/card_decoder.h"
#include "gateway/credentials/terminal_mac.h"
#endif

namespace yktgw {
namespace {

using bench::citizen_number;
using bench::MapCardList;
using bench::NoLink;
using bench::NoOnline;

using Steady = std::chrono::steady_clock;

#ifndef YKTGW_HAVE_CARD_DECODER
// Stand-in when gateway/credentials is not built: token, mask and birth date, no check digit.
class CardDecoder final : public CredentialDecoder {
 public:
  explicit CardDecoder(const CardTokenizer& t) : t_(t) {}
  CredentialType type() const override { return CredentialType::card; }
  bool expensive() const override { return false; }
  DecodedCredential decode(const Credential& c, const DecodeContext&) const override {
    DecodedCredential out;
    if (c.card_no.size() != 18) {
      out.reason = Reason::invalid_card_no;
      return out;
    }
    out.holder.token = t_.token(c.card_no);
    out.holder.masked = mask_card_number(c.card_no);
    out.holder.region = static_cast<IssuerRegion>((c.card_no[0] - '0') * 10 + c.card_no[1] - '0');
    out.holder.birth =
        BirthDate{std::stoi(c.card_no.substr(6, 4)), std::stoi(c.card_no.substr(10, 2)),
                  std::stoi(c.card_no.substr(12, 2))};
    return out;
  }

 private:
  const CardTokenizer& t_;
};
#endif

struct Percentiles {
  double p50 = 0;
  double p99 = 0;
  double p999 = 0;
};

Percentiles percentiles(std::vector<std::int64_t>& ns) {
  std::sort(ns.begin(), ns.end());
  auto at = [&](double q) {
    return static_cast<double>(ns[static_cast<std::size_t>(q * (ns.size() - 1))]) / 1000.0;
  };
  return Percentiles{at(0.50), at(0.99), at(0.999)};
}

constexpr const char* kPolicies = R"toml(
[scenario.canteen]
kind = "canteen"
service_item = 16
daily_meal_cap = 0
tiers = [{ min_age = 60, percent_off = 10 }, { min_age = 70, percent_off = 30 },
         { min_age = 80, percent_off = 100 }]

[scenario.gate_site]
kind = "gate"
service_item = 5
allowed_groups = ["site_worker"]
hours = ["00:00-24:00"]
clock_in = true

[scenario.bus]
kind = "bus"
service_item = 29
fare_fen = 200
offline_limit_fen = 500
offline_daily_cap_fen = 10000000
offline_max_taps = 1000

[[terminal]]
match = "ct-*"
scenario = "canteen"
[[terminal]]
match = "site-*"
scenario = "gate_site"
[[terminal]]
match = "bus-*"
scenario = "bus"
)toml";

}  // namespace
}  // namespace yktgw

int main(int argc, char** argv) {
  using namespace yktgw;
  long decisions = 1'000'000;
  for (int i = 1; i + 1 < argc; ++i) {
    if (std::strcmp(argv[i], "--decisions") == 0) decisions = std::atol(argv[i + 1]);
  }
  constexpr int kCards = 20'000;
  constexpr HolderAttributes kSiteWorker = 1u << (kFirstGroupBit + 2);

  auto tokenizer = CardTokenizer::create("bench-key-0123456789abcdef");
  if (!tokenizer) {
    std::fprintf(stderr, "tokenizer: %s\n", tokenizer.error().message.c_str());
    return 1;
  }
#ifdef YKTGW_HAVE_CARD_DECODER
  const CardDecoder decoder(*tokenizer, TerminalMacKeys());
  const char* decoder_name = "gateway/credentials CardDecoder";
#else
  const CardDecoder decoder(*tokenizer);
  const char* decoder_name = "inline stand-in decoder";
#endif
  std::vector<std::string> numbers;
  MapCardList list;
  SystemClock clock;
  list.updated = clock.wall_ms();
  for (int i = 0; i < kCards; ++i) {
    numbers.push_back(citizen_number(i));
    list.map.emplace(tokenizer->token(numbers.back()), CardEntry{CardStatus::active, kSiteWorker});
  }
  PolicyLoadOptions lo;
  lo.group_names = {"staff", "student", "site_worker", "resident"};
  auto parsed = parse_policies(kPolicies, "bench-policies.toml", lo);
  if (!parsed) {
    std::fprintf(stderr, "%s\n", parsed.error().message.c_str());
    return 1;
  }
  PolicyFile policies(parsed.value());
  // The real counters with their write-behind thread and state.db, as the gateway runs them.
  char dir_template[] = "/tmp/yktgw-decision-bench-XXXXXX";
  const char* dir = ::mkdtemp(dir_template);
  if (dir == nullptr) {
    std::perror("mkdtemp");
    return 1;
  }
  const std::string state_db = std::string(dir) + "/state.db";
  auto opened = CounterStore::open(CounterStore::Options{state_db, std::chrono::milliseconds(5)},
                                   clock, nullptr);
  if (!opened) {
    std::fprintf(stderr, "%s\n", opened.error().message.c_str());
    return 1;
  }
  std::unique_ptr<CounterStore> counters = std::move(opened.value());
  NoLink link;
  NoOnline online;
  WorkerPool pool(1, 16);
  PolicyAuthorizer engine(PolicyAuthorizer::Deps{policies,
                                                 {{CredentialType::card, &decoder}},
                                                 list,
                                                 *counters,
                                                 link,
                                                 online,
                                                 pool,
                                                 clock,
                                                 nullptr},
                          PolicyAuthorizer::Options{24LL * 3600 * 1000});

  std::printf("# decision_bench: %ld decisions per case, %d cards, %s\n", decisions, kCards,
              decoder_name);
#ifndef NDEBUG
  std::printf("# WARNING: assertions on (Debug build); figures are not representative\n");
#endif
  std::printf("# name value unit baseline ratio\n");

  std::vector<std::int64_t> ns(static_cast<std::size_t>(decisions));
  volatile std::uint64_t sink = 0;

  // Baseline: token + one lookup, the same cards in the same order.
  auto run_baseline = [&] {
    for (long i = 0; i < decisions; ++i) {
      const std::string& n = numbers[static_cast<std::size_t>(i % kCards)];
      const auto t0 = Steady::now();
      const std::string token = tokenizer->token(n);
      const auto e = list.find(token);
      const auto t1 = Steady::now();
      sink = sink + (e ? 1 : 0);
      ns[static_cast<std::size_t>(i)] =
          std::chrono::duration_cast<std::chrono::nanoseconds>(t1 - t0).count();
    }
    return percentiles(ns);
  };

  auto run_case = [&](const char* terminal, const char* scenario, Fen amount, bool* all_ok) {
    std::vector<AuthRequest> requests(kCards);
    for (int i = 0; i < kCards; ++i) {
      AuthRequest& r = requests[static_cast<std::size_t>(i)];
      r.req_id = "r-" + std::to_string(i);
      r.terminal = terminal;
      r.scenario = scenario;
      r.ts_ms = clock.wall_ms();
      r.credential.type = CredentialType::card;
      r.credential.card_no = numbers[static_cast<std::size_t>(i)];
      r.amount_fen = amount;
    }
    AuthResponse last;
    std::uint64_t approved = 0;
    const TapContext ctx{"bench", terminal, clock.wall_ms(), {}};
    for (long i = 0; i < decisions; ++i) {
      const AuthRequest& r = requests[static_cast<std::size_t>(i % kCards)];
      const auto t0 = Steady::now();
      engine.authorize(r, ctx, [&](AuthResponse resp) { last = std::move(resp); });
      const auto t1 = Steady::now();
      approved += last.decision == Decision::approve;
      ns[static_cast<std::size_t>(i)] =
          std::chrono::duration_cast<std::chrono::nanoseconds>(t1 - t0).count();
    }
    *all_ok = approved == static_cast<std::uint64_t>(decisions);
    if (!*all_ok) {
      std::printf("# %s: %llu of %ld approved; last reason %s rule %s\n", scenario,
                  static_cast<unsigned long long>(approved), decisions,
                  std::string(reason_code(last.reason)).c_str(), last.rule.c_str());
    }
    return percentiles(ns);
  };

  (void)run_baseline();  // warm caches and the allocator
  const Percentiles base = run_baseline();
  std::printf("baseline_token_lookup_p50 %.3f us %.3f %.2f\n", base.p50, base.p50, 1.0);
  std::printf("baseline_token_lookup_p99 %.3f us %.3f %.2f\n", base.p99, base.p99, 1.0);

  int failures = 0;
  for (const auto& [terminal, scenario, amount] :
       {std::tuple{"ct-1", "canteen", Fen{1200}}, std::tuple{"site-1", "gate_site", Fen{0}},
        std::tuple{"bus-1", "bus", Fen{200}}}) {
    bool ok = false;
    const Percentiles p = run_case(terminal, scenario, amount, &ok);
    failures += ok ? 0 : 1;
    std::printf("decision_%s_p50 %.3f us %.3f %.2f\n", scenario, p.p50, base.p50, p.p50 / base.p50);
    std::printf("decision_%s_p99 %.3f us %.3f %.2f\n", scenario, p.p99, base.p99, p.p99 / base.p99);
    std::printf("decision_%s_p999 %.3f us %.3f %.2f\n", scenario, p.p999, base.p999,
                p.p999 / base.p999);
    std::printf("# %s p99 target 10 us: %s\n", scenario, p.p99 < 10.0 ? "met" : "MISSED");
  }
  const auto s = engine.stats();
  std::printf("# decisions=%llu approved=%llu declined=%llu\n",
              static_cast<unsigned long long>(s.decisions),
              static_cast<unsigned long long>(s.approved),
              static_cast<unsigned long long>(s.declined));
  pool.stop();
  const auto cs = counters->stats();
  std::printf("# state.db flushes=%llu rows_written=%llu failures=%llu\n",
              static_cast<unsigned long long>(cs.flushes),
              static_cast<unsigned long long>(cs.rows_written),
              static_cast<unsigned long long>(cs.flush_failures));
  counters->close();
  std::filesystem::remove_all(dir);
  return failures == 0 ? 0 : 2;
}
