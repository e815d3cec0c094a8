// Chip-card decision in process: from a parsed AuthRequest to the AuthResponse, through the
// real PolicyAuthorizer (terminal mapping, CardDecoder with the HMAC-SM3 token and, where the
// scenario asks for it, the per-terminal MAC, the card list, the scenario policy, counters),
// for every scenario kind the policy engine has. The card list is the gateway's CardListCache
// filled by a snapshot feed of --list-entries entries; the counters are the real ones, with
// their write-behind thread and a state.db in /tmp.
//
// The baseline, measured in the same run on the same cards and list, is the least any decision
// must do: the HMAC-SM3 token of the card number and one card-list lookup. The MAC figure has
// the same scenario without a MAC as its baseline; its timing includes building the canonical
// form of the request, as the dispatcher does for each request that carries a MAC.
//
// Output, one line per figure:  name value unit baseline ratio   (ratio = value / baseline).
// Target (issue 3): p99 under 10 us.
//
//   decision_bench [--decisions N] [--list-entries N] [--json FILE]

#include <stdlib.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <optional>
#include <string>
#include <vector>

#include "gateway/credentials/card_decoder.h"
#include "gateway/credentials/terminal_mac.h"
#include "gateway/crypto/card_tokenizer.h"
#include "gateway/policy/policy_authorizer.h"
#include "tests/bench/common/bench_card_list.h"
#include "tests/bench/common/bench_engine.h"
#include "tests/bench/common/bench_fakes.h"
#include "tests/bench/common/bench_percentiles.h"
#include "tests/bench/common/bench_report.h"
#include "tests/gateway/policy/engine_setup.h"

namespace yktgw {
namespace {

using bench::citizen_number;
using bench::percentiles;
using bench::Percentiles;
using testing::kResident;
using testing::kSiteWorker;

using Steady = std::chrono::steady_clock;

// Distinct cards tapped: about a township's card holders (citizen_number() makes 21 000
// distinct numbers). They sit among --list-entries listed cards.
constexpr int kCards = 20'000;
constexpr const char* kMacTerminal = "ctm-1";
constexpr const char* kMacKey = "bench-terminal-mac-key-0123456789";

struct Args {
  long decisions = 1'000'000;
  std::uint64_t list_entries = 1'000'000;
  std::string json;
};

std::optional<Args> parse_args(int argc, char** argv) {
  Args a;
  for (int i = 1; i < argc; ++i) {
    const std::string k = argv[i];
    const char* value = i + 1 < argc ? argv[i + 1] : nullptr;
    char* end = nullptr;
    const long long n = value != nullptr ? std::strtoll(value, &end, 10) : 0;
    const bool number = value != nullptr && end != value && *end == '\0' && n >= 1;
    if (k == "--json" && value != nullptr) {
      a.json = value;
    } else if (k == "--decisions" && number) {
      a.decisions = static_cast<long>(n);
    } else if (k == "--list-entries" && number) {
      a.list_entries = static_cast<std::uint64_t>(n);
    } else {
      std::fprintf(stderr,
                   "usage: decision_bench [--decisions N] [--list-entries N] [--json FILE]\n");
      return std::nullopt;
    }
    ++i;
  }
  return a;
}

// One scenario per kind (two for parking, one for each side of a lot, and a canteen whose
// terminals must send the MAC). Every holder is a listed, active site worker and resident; the
// link is down, so "prefer" scenarios decide offline and the clinic declines.
constexpr const char* kPolicies = R"toml(
[scenario.canteen]
kind = "canteen"
service_item = 16
daily_meal_cap = 0
tiers = [{ min_age = 60, percent_off = 10 }, { min_age = 70, percent_off = 30 },
         { min_age = 80, percent_off = 100 }]

[scenario.canteen_mac]
kind = "canteen"
service_item = 16
require_mac = true
daily_meal_cap = 0
tiers = [{ min_age = 60, percent_off = 10 }, { min_age = 70, percent_off = 30 },
         { min_age = 80, percent_off = 100 }]

[scenario.gate_site]
kind = "gate"
service_item = 5
allowed_groups = ["site_worker"]
hours = ["00:00-24:00"]
clock_in = true

[scenario.parking_entry]
kind = "parking"
service_item = 16
lot = "bench-lot"
side = "entry"

[scenario.parking_exit]
kind = "parking"
service_item = 16
lot = "bench-lot"
side = "exit"
online = "prefer"
free_minutes = 15
unit_minutes = 60
unit_fee_fen = 200
daily_cap_fen = 2000
no_entry = "max_fee"

[scenario.bus]
kind = "bus"
service_item = 29
online = "prefer"
fare_fen = 200
offline_limit_fen = 500
offline_daily_cap_fen = 10000000
offline_max_taps = 1000

[scenario.scenic]
kind = "scenic"
service_item = 32
online = "prefer"
price_fen = 5000
free_disabled = true
free_age = 65
free_local = false
tiers = [{ min_age = 60, percent_off = 50 }]

[scenario.library]
kind = "library"
service_item = 30

[scenario.museum]
kind = "museum"
service_item = 31

[scenario.hotel]
kind = "hotel"
service_item = 11
unknown_card = "allow"

[scenario.clinic]
kind = "clinic"
service_item = 40
online = "required"
online_deadline_ms = 300

[[terminal]]
match = "ct-*"
scenario = "canteen"
[[terminal]]
match = "ctm-*"
scenario = "canteen_mac"
[[terminal]]
match = "site-*"
scenario = "gate_site"
[[terminal]]
match = "pk-in-*"
scenario = "parking_entry"
[[terminal]]
match = "pk-out-*"
scenario = "parking_exit"
[[terminal]]
match = "bus-*"
scenario = "bus"
[[terminal]]
match = "scenic-*"
scenario = "scenic"
[[terminal]]
match = "lib-*"
scenario = "library"
[[terminal]]
match = "mus-*"
scenario = "museum"
[[terminal]]
match = "hotel-*"
scenario = "hotel"
[[terminal]]
match = "med-*"
scenario = "clinic"
)toml";

// One tap of an iteration: a case taps each of its steps once per iteration, in order (the
// parking case enters, then leaves, with the same card).
struct Step {
  const char* figure;  // decision_<figure>_p50 ...
  const char* terminal;
  const char* scenario;
  Fen amount;
  bool mac;         // the request carries the terminal's MAC
  Decision expect;  // what every tap must get
  Reason expect_reason;
};

struct Case {
  const char* kind;
  std::vector<Step> steps;
};

}  // namespace
}  // namespace yktgw

int main(int argc, char** argv) {
  using namespace yktgw;
  const std::optional<Args> parsed_args = parse_args(argc, argv);
  if (!parsed_args) return 2;
  const Args& args = *parsed_args;
  const long decisions = args.decisions;
  bench::BenchReport report(40);

  auto tokenizer = CardTokenizer::create("bench-key-0123456789abcdef");
  if (!tokenizer) {
    std::fprintf(stderr, "tokenizer: %s\n", tokenizer.error().message.c_str());
    return 1;
  }
  TerminalMacKeys mac_keys;
  if (auto r = mac_keys.add(kMacTerminal, kMacKey); !r) {
    std::fprintf(stderr, "terminal MAC key: %s\n", r.error().message.c_str());
    return 1;
  }
  const CardDecoder decoder(*tokenizer, std::move(mac_keys));

  char dir_template[] = "/tmp/yktgw-decision-bench-XXXXXX";
  const char* dir = ::mkdtemp(dir_template);
  if (dir == nullptr) {
    std::perror("mkdtemp");
    return 1;
  }
  SystemClock clock;
  std::vector<std::string> numbers;
  std::vector<bench::ListedCard> listed;
  for (int i = 0; i < kCards; ++i) {
    numbers.push_back(citizen_number(i));
    listed.push_back(
        {tokenizer->token(numbers.back()), CardEntry{CardStatus::active, kSiteWorker | kResident}});
  }
  const auto list_start = Steady::now();
  auto made = bench::make_card_list(dir, listed, args.list_entries, clock.wall_ms());
  if (!made) {
    std::fprintf(stderr, "card list: %s\n", made.error().message.c_str());
    return 1;
  }
  std::unique_ptr<CardListCache> list = std::move(made.value());
  const double list_s = std::chrono::duration<double>(Steady::now() - list_start).count();

  auto opened = bench::EngineParts::open(kPolicies, dir, clock, 16);
  if (!opened) {
    std::fprintf(stderr, "%s\n", opened.error().message.c_str());
    return 1;
  }
  std::unique_ptr<bench::EngineParts> parts = std::move(opened.value());
  std::unique_ptr<PolicyAuthorizer> engine_owner =
      parts->engine({{CredentialType::card, &decoder}}, *list);
  PolicyAuthorizer& engine = *engine_owner;

  std::printf("# decision_bench: %ld decisions per figure, %d cards tapped among %llu listed\n",
              decisions, kCards, static_cast<unsigned long long>(list->size()));
#ifndef NDEBUG
  report.note("WARNING: assertions on (Debug build); figures are not representative");
#endif
  char text[256];
  std::snprintf(text, sizeof text,
                "card list: CardListCache (SQLite + CardIndex) from a snapshot feed, %llu "
                "entries, %.1f MiB in memory, loaded in %.2f s",
                static_cast<unsigned long long>(list->size()),
                static_cast<double>(list->current()->memory_bytes()) / (1 << 20), list_s);
  report.note(text);
  std::printf("# name value unit baseline ratio\n");

  std::vector<std::int64_t> ns(static_cast<std::size_t>(decisions));
  volatile std::uint64_t sink = 0;

  // Baseline: token + one lookup, the same cards in the same order.
  auto run_baseline = [&] {
    for (long i = 0; i < decisions; ++i) {
      const std::string& n = numbers[static_cast<std::size_t>(i % kCards)];
      const auto t0 = Steady::now();
      const std::string token = tokenizer->token(n);
      const auto e = list->find(token);
      const auto t1 = Steady::now();
      sink = sink + (e ? 1 : 0);
      ns[static_cast<std::size_t>(i)] =
          std::chrono::duration_cast<std::chrono::nanoseconds>(t1 - t0).count();
    }
    return percentiles(ns);
  };

  // Runs `decisions` iterations of the case's steps (a warm-up pass over every card first);
  // the percentiles of each step, and whether every tap got what the step expects.
  auto run_case = [&](const Case& c, bool* all_ok) {
    const std::size_t steps = c.steps.size();
    std::vector<std::vector<AuthRequest>> requests(steps);
    for (std::size_t s = 0; s < steps; ++s) {
      const Step& step = c.steps[s];
      requests[s].resize(kCards);
      for (int i = 0; i < kCards; ++i) {
        AuthRequest& r = requests[s][static_cast<std::size_t>(i)];
        r = testing::card_tap("r-" + std::to_string(i), step.terminal, step.scenario,
                              numbers[static_cast<std::size_t>(i)], step.amount, clock.wall_ms());
        // The terminal's MAC over the request, as a terminal holding the key computes it.
        if (step.mac) r.credential.mac = terminal_mac_hex(kMacKey, mac_canonical_form(r));
      }
    }
    std::vector<std::vector<std::int64_t>> samples(steps, std::vector<std::int64_t>(ns.size()));
    std::vector<std::uint64_t> as_expected(steps, 0);
    std::vector<AuthResponse> unexpected(steps);
    AuthResponse last;
    auto tap = [&](std::size_t s, std::size_t card) {
      const Step& step = c.steps[s];
      const AuthRequest& r = requests[s][card];
      const auto t0 = Steady::now();
      std::string mac_input;
      if (step.mac) mac_input = mac_canonical_form(r);
      const TapContext ctx{"bench", step.terminal, 0, mac_input};
      engine.authorize(r, ctx, [&](AuthResponse resp) { last = std::move(resp); });
      const auto t1 = Steady::now();
      const bool ok = last.decision == step.expect && last.reason == step.expect_reason;
      if (!ok) unexpected[s] = last;
      return std::pair{ok, std::chrono::duration_cast<std::chrono::nanoseconds>(t1 - t0).count()};
    };
    for (int i = 0; i < kCards; ++i)  // warm caches and the allocator
      for (std::size_t s = 0; s < steps; ++s) (void)tap(s, static_cast<std::size_t>(i));
    std::fill(unexpected.begin(), unexpected.end(), AuthResponse{});
    for (long i = 0; i < decisions; ++i) {
      for (std::size_t s = 0; s < steps; ++s) {
        const auto [ok, t] = tap(s, static_cast<std::size_t>(i % kCards));
        as_expected[s] += ok ? 1 : 0;
        samples[s][static_cast<std::size_t>(i)] = t;
      }
    }
    std::vector<Percentiles> out;
    *all_ok = true;
    for (std::size_t s = 0; s < steps; ++s) {
      out.push_back(percentiles(samples[s]));
      if (as_expected[s] != static_cast<std::uint64_t>(decisions)) {
        *all_ok = false;
        std::printf("# %s: %llu of %ld as expected; an unexpected one: %s rule %s\n",
                    c.steps[s].figure, static_cast<unsigned long long>(as_expected[s]), decisions,
                    std::string(reason_code(unexpected[s].reason)).c_str(),
                    unexpected[s].rule.c_str());
      }
    }
    return out;
  };

  (void)run_baseline();  // warm caches and the allocator
  report.section("baseline: token + card-list lookup");
  const Percentiles base = run_baseline();
  report.line("baseline_token_lookup_p50", base.p50, "us", base.p50);
  report.line("baseline_token_lookup_p99", base.p99, "us", base.p99);

  constexpr Decision kApprove = Decision::approve;
  const std::vector<Case> cases = {
      {"canteen", {{"canteen", "ct-1", "canteen", 1200, false, kApprove, Reason::ok}}},
      {"gate", {{"gate_site", "site-1", "gate_site", 0, false, kApprove, Reason::ok}}},
      {"parking",
       {{"parking_entry", "pk-in-1", "parking_entry", 0, false, kApprove, Reason::ok},
        {"parking_exit", "pk-out-1", "parking_exit", 0, false, kApprove, Reason::ok}}},
      {"bus", {{"bus", "bus-1", "bus", 200, false, kApprove, Reason::ok}}},
      {"scenic", {{"scenic", "scenic-1", "scenic", 5000, false, kApprove, Reason::ok}}},
      {"library", {{"library", "lib-1", "library", 0, false, kApprove, Reason::ok}}},
      {"museum", {{"museum", "mus-1", "museum", 0, false, kApprove, Reason::ok}}},
      {"hotel", {{"hotel", "hotel-1", "hotel", 0, false, kApprove, Reason::ok}}},
      // Online only: with the district link down every tap is declined online_required, after
      // the card, the list and the policy have been checked. That path is what is timed; an
      // online answer is a platform round trip, not an in-process decision.
      {"clinic",
       {{"clinic_offline_decline", "med-1", "clinic", 0, false, Decision::decline,
         Reason::online_required}}},
      {"canteen with terminal MAC",
       {{"canteen_mac", kMacTerminal, "canteen_mac", 1200, true, kApprove, Reason::ok}}},
  };

  int failures = 0;
  Percentiles canteen;
  for (const Case& c : cases) {
    report.section(std::string("kind ") + c.kind);
    bool ok = false;
    const std::vector<Percentiles> p = run_case(c, &ok);
    failures += ok ? 0 : 1;
    for (std::size_t s = 0; s < c.steps.size(); ++s) {
      const std::string name = std::string("decision_") + c.steps[s].figure;
      // The MAC figure against the same scenario without a MAC: the ratio is what the check costs.
      const bool mac = c.steps[s].mac;
      const Percentiles& b = mac ? canteen : base;
      report.line(name + "_p50", p[s].p50, "us", b.p50);
      report.line(name + "_p99", p[s].p99, "us", b.p99);
      report.line(name + "_p999", p[s].p999, "us", b.p999);
      report.note(name + " p99 target 10 us: " + (p[s].p99 < 10.0 ? "met" : "MISSED"));
      if (std::strcmp(c.steps[s].figure, "canteen") == 0) canteen = p[s];
    }
  }
  report.note(
      "decision_canteen_mac: the canteen scenario with require_mac; baseline the canteen "
      "without (building the canonical form and the HMAC-SM3 check included)");
  const auto s = engine.stats();
  std::printf("# decisions=%llu approved=%llu declined=%llu online_link_down=%llu\n",
              static_cast<unsigned long long>(s.decisions),
              static_cast<unsigned long long>(s.approved),
              static_cast<unsigned long long>(s.declined),
              static_cast<unsigned long long>(s.online_link_down));
  parts->pool().stop();
  const auto cs = parts->counters().stats();
  std::printf("# state.db flushes=%llu rows_written=%llu failures=%llu\n",
              static_cast<unsigned long long>(cs.flushes),
              static_cast<unsigned long long>(cs.rows_written),
              static_cast<unsigned long long>(cs.flush_failures));
  report.section("done");
  parts->counters().close();
  list.reset();
  std::filesystem::remove_all(dir);
  if (!args.json.empty()) {
    nlohmann::json j = report.json("decision_bench");
    j["list_entries"] = args.list_entries;
    j["cards_tapped"] = kCards;
    std::ofstream(args.json) << j.dump(2) << "\n";
  }
  (void)sink;
  return failures == 0 ? 0 : 2;
}
