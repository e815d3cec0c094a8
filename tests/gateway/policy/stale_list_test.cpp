// The decision engine and the card list's status judge a list's age by one rule: a list the
// platform produced long ago but confirmed current recently ("up to date", HTTP 204) is not
// stale for either. Runs the engine over the real CardListCache.

#include <gtest/gtest.h>

#include <future>

#include "gateway/cardlist/card_list_cache.h"
#include "gateway/policy/policy_authorizer.h"
#include "tests/gateway/cardlist/cardlist_test_util.h"
#include "tests/gateway/policy/fakes.h"

namespace yktgw {
namespace {

using namespace std::chrono_literals;
using testing::FakeClock;
using testing::FakeDecoder;
using testing::FakeLink;
using testing::FakeOnlineClient;

constexpr std::int64_t kMinute = 60'000;
constexpr std::int64_t kHour = 60 * kMinute;
constexpr std::int64_t kT0 = 1'700'000'000'000;  // the platform's time of the snapshot

constexpr const char* kPolicies = R"toml(
version = 1

[scenario.canteen_stale]
kind = "canteen"
service_item = 16
unknown_card = "allow"
stale_offline_limit_fen = 500
daily_meal_cap = 0

[[terminal]]
match = "cts-*"
scenario = "canteen_stale"
)toml";

class StaleListTest : public ::testing::Test {
 protected:
  StaleListTest() {
    CardListOptions o;
    o.db_path = dir_.file("cardlist.db");
    o.groups = AttributeNames::parse(std::string(kDefaultCardGroups)).value();
    o.max_age_ms = kHour;
    auto c = CardListCache::open(o, nullptr);
    EXPECT_TRUE(c.ok()) << (c.ok() ? "" : c.error().message);
    if (c.ok()) cache_ = std::move(c).value();
    Holder h;
    h.token = "tok-adult";
    h.masked = "masked-adult";
    h.region = 50;
    card_.add("adult", h);
    auto parsed = parse_policies(kPolicies, "stale-policies.toml", PolicyLoadOptions{});
    EXPECT_TRUE(parsed.ok()) << (parsed.ok() ? "" : parsed.error().message);
    file_ = std::make_unique<PolicyFile>(parsed ? parsed.value() : nullptr);
    counters_ = CounterStore::in_memory(clock_);
    engine_ =
        std::make_unique<PolicyAuthorizer>(PolicyAuthorizer::Deps{*file_,
                                                                  {{CredentialType::card, &card_}},
                                                                  *cache_,
                                                                  *counters_,
                                                                  link_,
                                                                  online_,
                                                                  pool_,
                                                                  clock_,
                                                                  nullptr},
                                           PolicyAuthorizer::Options{kHour});
  }
  ~StaleListTest() override { pool_.stop(); }

  AuthResponse tap(Fen amount) {
    AuthRequest r;
    r.req_id = "r-1";
    r.terminal = "cts-1";
    r.scenario = "canteen_stale";
    r.ts_ms = clock_.wall_ms();
    r.credential.card_no = "adult";
    r.amount_fen = amount;
    std::promise<AuthResponse> p;
    auto f = p.get_future();
    engine_->authorize(r, TapContext{"xiangkou", r.terminal, clock_.wall_ms(), {}},
                       [&](AuthResponse resp) { p.set_value(std::move(resp)); });
    EXPECT_EQ(f.wait_for(5s), std::future_status::ready);
    return f.get();
  }

  // The status flag and the engine's view agree, and a tap above the stale limit follows them.
  void expect_stale(bool stale) {
    const std::int64_t now = clock_.wall_ms();
    EXPECT_EQ(cache_->status(now).stale, stale);
    EXPECT_EQ(engine_->card_list_stale(now), stale);
    EXPECT_EQ(cache_->stale(now), stale);
    const AuthResponse r = tap(600);
    EXPECT_EQ(r.mode, AuthMode::offline);
    if (stale) {
      EXPECT_EQ(r.decision, Decision::decline);
      EXPECT_EQ(r.reason, Reason::card_list_stale);
    } else {
      EXPECT_EQ(r.decision, Decision::approve) << reason_code(r.reason);
      EXPECT_EQ(r.amount_fen, 600);
    }
  }

  testing::TempDir dir_;
  std::unique_ptr<CardListCache> cache_;
  FakeClock clock_{kT0};
  FakeDecoder card_{CredentialType::card, false};
  FakeLink link_;
  FakeOnlineClient online_;
  WorkerPool pool_{1, 8};
  std::unique_ptr<PolicyFile> file_;
  std::unique_ptr<CounterStore> counters_;
  std::unique_ptr<PolicyAuthorizer> engine_;
};

TEST_F(StaleListTest, ANeverArrivedListIsStaleForBoth) {
  ASSERT_TRUE(cache_);
  expect_stale(true);
}

TEST_F(StaleListTest, AnOldListRecentlyConfirmedIsCurrentForBoth) {
  ASSERT_TRUE(cache_);
  auto feed = decode_feed(testing::snapshot_bytes(1, {}, kT0), testing::platform_public_key());
  ASSERT_TRUE(feed.ok());
  ASSERT_TRUE(cache_->apply(*feed).ok());

  clock_.set(kT0 + 30 * kMinute);
  expect_stale(false);

  // Old and not confirmed since: stale.
  clock_.set(kT0 + 2 * kHour);
  expect_stale(true);

  // The platform answers "up to date": the same old list is current again.
  ASSERT_TRUE(cache_->mark_checked(kT0 + 2 * kHour - 10 * kMinute).ok());
  expect_stale(false);
  EXPECT_EQ(cache_->status(clock_.wall_ms()).age_ms, 10 * kMinute);

  // Until that confirmation is older than the limit in turn.
  clock_.set(kT0 + 3 * kHour);
  expect_stale(true);
}

}  // namespace
}  // namespace yktgw
