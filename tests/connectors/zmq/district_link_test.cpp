// DistrictLink against the simulated platform's real ROUTER and answers, over CURVE on
// loopback. Short heartbeat settings keep the link-down cases quick.

#include "connectors/zmq/district_link.h"

#include <gtest/gtest.h>
#include <sys/stat.h>

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <filesystem>
#include <future>
#include <mutex>
#include <thread>
#include <vector>

#include "gateway/core/reason.h"
#include "tests/common/slowdown.h"
#include "tests/connectors/zmq/platform_peer.h"

namespace yktgw::district {
namespace {

using namespace std::chrono_literals;
using Steady = std::chrono::steady_clock;
using testing::PlatformPeer;
using testing::quiet_logger;

constexpr auto kInterval = 100ms;
// A heartbeat answer takes well under a millisecond, but a sanitizer build on a loaded box
// answered one late enough to call the link down.
constexpr auto kTimeout = testing::widened(350ms);

// What arrives through a callback, and how often: every request must end exactly once.
struct Outcome {
  std::mutex mu;
  std::condition_variable cv;
  int calls = 0;
  OnlineOutcome outcome = OnlineOutcome::error;
  OnlineAuthReply reply;
  Steady::time_point when{};
  std::thread::id thread;

  OnlineAuthClient::Callback callback() {
    return [this](OnlineOutcome o, const OnlineAuthReply& r) {
      std::lock_guard lock(mu);
      ++calls;
      outcome = o;
      reply = r;
      when = Steady::now();
      thread = std::this_thread::get_id();
      cv.notify_all();
    };
  }
  bool wait(std::chrono::milliseconds limit) {
    std::unique_lock lock(mu);
    return cv.wait_for(lock, limit, [this] { return calls > 0; });
  }
};

template <typename Pred>
bool eventually(Pred pred, std::chrono::milliseconds limit) {
  const auto end = Steady::now() + limit;
  while (Steady::now() < end) {
    if (pred()) return true;
    std::this_thread::sleep_for(5ms);
  }
  return pred();
}

class DistrictLinkTest : public ::testing::Test {
 protected:
  DistrictLinkTest()
      : population_(sim::generate_population(42, 300)),
        server_keys_(generate_curve_keypair().value()),
        client_keys_(generate_curve_keypair().value()) {}

  void start_platform(platform::ServiceOptions options = {}) {
    platform_ = std::make_unique<PlatformPeer>(population_, server_keys_, options);
    ASSERT_TRUE(platform_->start());
  }

  DistrictLinkOptions options(const std::string& endpoint) const {
    DistrictLinkOptions o;
    o.endpoint = endpoint;
    o.server_public_key = server_keys_.public_key;
    o.client_keys = client_keys_;
    o.gateway_id = "wl-test-01";
    o.heartbeat_interval = kInterval;
    o.heartbeat_timeout = kTimeout;
    o.reconnect_interval = 20ms;
    o.reconnect_interval_max = 200ms;
    return o;
  }

  std::unique_ptr<DistrictLink> start_link(DistrictLinkOptions o) {
    auto link = DistrictLink::start(std::move(o), clock_, quiet_logger("district"));
    EXPECT_TRUE(link) << (link ? "" : link.error().message);
    return link ? std::move(*link) : nullptr;
  }

  std::unique_ptr<DistrictLink> start_link_up() {
    auto link = start_link(options(platform_->endpoint()));
    EXPECT_TRUE(eventually([&] { return link->up(); }, 3000ms)) << "link never came up";
    return link;
  }

  std::string token_with(sim::CardStatus status) const {
    for (const sim::Card& c : population_) {
      if (c.status == status) return platform_->tokenizer().token(c.card_no);
    }
    ADD_FAILURE() << "no card with status " << sim::to_string(status);
    return {};
  }

  static OnlineAuthRequest request(std::string token, Fen amount = 800) {
    OnlineAuthRequest r;
    r.req_id = "r-1";
    r.site = "xiangkou";
    r.terminal = "ct-0001";
    r.scenario = "clinic";
    r.service_item = 40;
    r.card_token = std::move(token);
    r.region = kRegionChongqing;
    r.amount_fen = amount;
    r.ts_ms = 1'760'000'000'000;
    return r;
  }

  SystemClock clock_;
  sim::Population population_;
  CurveKeyPair server_keys_;
  CurveKeyPair client_keys_;
  std::unique_ptr<PlatformPeer> platform_;
};

TEST_F(DistrictLinkTest, HeartbeatsBringTheLinkUp) {
  start_platform();
  const auto before = clock_.wall_ms();
  auto link = start_link_up();
  EXPECT_TRUE(link->enabled());
  EXPECT_GE(link->last_heartbeat_ms(), before);
  const auto st = link->stats();
  EXPECT_TRUE(st.up);
  EXPECT_TRUE(st.connected);
  EXPECT_GE(st.heartbeats_answered, 1u);
  EXPECT_EQ(st.handshake_failures, 0u);
  // The platform learns the gateway's name from the heartbeats.
  ASSERT_TRUE(eventually([&] { return !platform_->service().gateways().empty(); }, 1000ms));
  EXPECT_EQ(platform_->service().gateways()[0].gateway, "wl-test-01");
  // And stays up across several timeouts.
  std::this_thread::sleep_for(kTimeout * 3);
  EXPECT_TRUE(link->up());
}

TEST_F(DistrictLinkTest, PlatformStoppedMeansDownWithinTheTimeoutAndUpAgainAfterRestart) {
  start_platform();
  auto link = start_link_up();
  const auto stopped = Steady::now();
  platform_->stop();
  ASSERT_TRUE(eventually([&] { return !link->up(); }, kTimeout + 500ms));
  const auto took = Steady::now() - stopped;
  EXPECT_LE(took, kTimeout + 60ms)
      << "down after " << std::chrono::duration_cast<std::chrono::milliseconds>(took).count()
      << " ms";
  // Down is known: online requests are answered at once, on the caller's thread.
  Outcome o;
  link->authorize(request(token_with(sim::CardStatus::active)), 150ms, o.callback());
  ASSERT_EQ(o.calls, 1);
  EXPECT_EQ(o.outcome, OnlineOutcome::link_down);
  EXPECT_EQ(o.thread, std::this_thread::get_id());

  ASSERT_TRUE(platform_->start());
  EXPECT_TRUE(eventually([&] { return link->up(); }, 3000ms)) << "no reconnect";
}

TEST_F(DistrictLinkTest, OnlineAuthorizationIsAnsweredFromThePlatformsCards) {
  start_platform();
  auto link = start_link_up();
  struct Case {
    std::string token;
    Decision decision;
    Reason reason;
    Fen amount;
  };
  const std::vector<Case> cases = {
      {token_with(sim::CardStatus::active), Decision::approve, Reason::ok, 800},
      {token_with(sim::CardStatus::lost), Decision::decline, Reason::card_lost, 0},
      {token_with(sim::CardStatus::frozen), Decision::decline, Reason::card_frozen, 0},
      {token_with(sim::CardStatus::cancelled), Decision::decline, Reason::card_cancelled, 0},
      {token_with(sim::CardStatus::unknown), Decision::decline, Reason::unknown_card, 0},
      {std::string(64, 'a'), Decision::decline, Reason::unknown_card, 0},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(std::string(reason_code(c.reason)));
    Outcome o;
    link->authorize(request(c.token), 1000ms, o.callback());
    ASSERT_TRUE(o.wait(2000ms));
    EXPECT_EQ(o.calls, 1);
    EXPECT_EQ(o.outcome, OnlineOutcome::answered);
    EXPECT_EQ(o.reply.decision, c.decision);
    EXPECT_EQ(o.reply.reason, reason_code(c.reason));
    EXPECT_EQ(o.reply.amount_fen, c.amount);
    EXPECT_NE(o.thread, std::this_thread::get_id());  // the link's own thread
  }
  EXPECT_EQ(link->stats().auth_answered, cases.size());
}

TEST_F(DistrictLinkTest, DeadlineExceededTimesOutOnTimeAndTheLateAnswerIsDropped) {
  start_platform(platform::ServiceOptions{300ms, false});
  auto link = start_link_up();
  Outcome o;
  const auto asked = Steady::now();
  link->authorize(request(token_with(sim::CardStatus::active)), 100ms, o.callback());
  ASSERT_TRUE(o.wait(1000ms));
  const auto took = std::chrono::duration_cast<std::chrono::milliseconds>(o.when - asked);
  EXPECT_EQ(o.outcome, OnlineOutcome::timeout);
  EXPECT_GE(took, 100ms);
  EXPECT_LE(took, 130ms) << "timeout callback " << took.count() << " ms after the request";

  // The answer comes at about 300 ms: counted, dropped, no second callback.
  ASSERT_TRUE(eventually([&] { return link->stats().late_answers >= 1; }, 1000ms));
  std::this_thread::sleep_for(50ms);
  EXPECT_EQ(o.calls, 1);
  const auto st = link->stats();
  EXPECT_EQ(st.auth_timeouts, 1u);
  EXPECT_EQ(st.auth_answered, 0u);
  EXPECT_EQ(st.late_answers, 1u);
  EXPECT_EQ(st.inflight, 0);
}

TEST_F(DistrictLinkTest, NoPlatformMeansLinkDownInline) {
  // A port nobody listens on: the link keeps trying, never comes up.
  auto link = start_link(options("tcp://127.0.0.1:9"));
  std::this_thread::sleep_for(kTimeout);
  EXPECT_FALSE(link->up());
  EXPECT_EQ(link->last_heartbeat_ms(), 0);
  Outcome o;
  link->authorize(request(std::string(64, 'a')), 150ms, o.callback());
  ASSERT_EQ(o.calls, 1);  // before authorize() returned
  EXPECT_EQ(o.outcome, OnlineOutcome::link_down);
  EXPECT_EQ(o.thread, std::this_thread::get_id());
  EXPECT_EQ(link->stats().auth_link_down, 1u);
}

TEST_F(DistrictLinkTest, EmptyEndpointIsADisabledLink) {
  auto link = start_link(DistrictLinkOptions{});
  EXPECT_FALSE(link->enabled());
  EXPECT_FALSE(link->up());
  Outcome o;
  link->authorize(request(std::string(64, 'a')), 150ms, o.callback());
  ASSERT_EQ(o.calls, 1);
  EXPECT_EQ(o.outcome, OnlineOutcome::link_down);
  link->stop();
  link->stop();  // idempotent
}

TEST_F(DistrictLinkTest, WrongServerKeyNeverComesUp) {
  start_platform();
  auto o = options(platform_->endpoint());
  o.server_public_key = generate_curve_keypair()->public_key;  // not the platform's
  auto link = start_link(std::move(o));
  std::this_thread::sleep_for(1000ms);
  EXPECT_FALSE(link->up());
  const auto st = link->stats();
  EXPECT_FALSE(st.connected);
  EXPECT_EQ(st.heartbeats_answered, 0u);
  EXPECT_GE(st.handshake_failures, 1u);
  // Retries back off (20 ms doubling to 200 ms) instead of libzmq's flat 20 ms: about 7 in
  // a second rather than about 50.
  EXPECT_LE(st.handshake_failures, 12u);
  EXPECT_EQ(platform_->service().stats().heartbeats, 0u);  // nothing got through
  Outcome r;
  link->authorize(request(std::string(64, 'a')), 150ms, r.callback());
  EXPECT_EQ(r.outcome, OnlineOutcome::link_down);
  link.reset();  // shuts down cleanly while the handshakes keep failing
}

TEST_F(DistrictLinkTest, UnansweredHeartbeatsMeanDownEvenWhenConnected) {
  start_platform(platform::ServiceOptions{0ms, true});
  auto link = start_link(options(platform_->endpoint()));
  ASSERT_TRUE(eventually([&] { return link->stats().connected; }, 2000ms));
  std::this_thread::sleep_for(kTimeout * 2);
  EXPECT_FALSE(link->up());
  EXPECT_GE(platform_->service().stats().heartbeats_dropped, 2u);
}

TEST_F(DistrictLinkTest, AThousandConcurrentRequestsAreEachAnsweredExactlyOnce) {
  start_platform();
  auto o = options(platform_->endpoint());
  o.max_inflight = 1000;
  auto link = start_link(std::move(o));
  ASSERT_TRUE(eventually([&] { return link->up(); }, 3000ms));

  constexpr int kRequests = 1000;
  constexpr int kThreads = 4;
  std::vector<std::atomic<int>> calls(kRequests);
  std::vector<std::atomic<int>> outcomes(kRequests);
  std::atomic<int> done{0};
  std::vector<std::string> tokens;
  for (const sim::Card& c : population_) tokens.push_back(platform_->tokenizer().token(c.card_no));

  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = t; i < kRequests; i += kThreads) {
        auto r = request(tokens[static_cast<std::size_t>(i) % tokens.size()], 100 + i);
        r.req_id = "r-" + std::to_string(i);
        link->authorize(std::move(r), testing::widened(5000ms),
                        [&, i](OnlineOutcome outcome, const OnlineAuthReply& reply) {
                          const bool echoed =
                              reply.decision == Decision::decline || reply.amount_fen == 100 + i;
                          // 1: right; 2: another request's answer; 3 and up: not answered.
                          outcomes[static_cast<std::size_t>(i)] =
                              outcome != OnlineOutcome::answered ? 3 + static_cast<int>(outcome)
                              : echoed                           ? 1
                                                                 : 2;
                          calls[static_cast<std::size_t>(i)].fetch_add(1);
                          done.fetch_add(1);
                        });
      }
    });
  }
  for (auto& th : threads) th.join();
  ASSERT_TRUE(eventually([&] { return done.load() >= kRequests; }, testing::widened(10'000ms)))
      << "only " << done.load() << " callbacks";
  std::this_thread::sleep_for(100ms);  // a second callback would show up here
  for (int i = 0; i < kRequests; ++i) {
    ASSERT_EQ(calls[static_cast<std::size_t>(i)].load(), 1) << "request " << i;
    ASSERT_EQ(outcomes[static_cast<std::size_t>(i)].load(), 1)
        << "request " << i << " (3 + OnlineOutcome when not answered); link_down "
        << link->stats().auth_link_down << ", errors " << link->stats().auth_errors
        << ", bad messages " << link->stats().bad_messages;
  }
  const auto st = link->stats();
  EXPECT_EQ(st.auth_answered, static_cast<std::uint64_t>(kRequests));
  EXPECT_EQ(st.inflight, 0);
  EXPECT_EQ(platform_->service().stats().auth_requests, static_cast<std::uint64_t>(kRequests));
}

TEST_F(DistrictLinkTest, BeyondMaxInflightIsRefusedInline) {
  start_platform(platform::ServiceOptions{400ms, false});
  auto o = options(platform_->endpoint());
  o.max_inflight = 3;
  auto link = start_link(std::move(o));
  ASSERT_TRUE(eventually([&] { return link->up(); }, 3000ms));
  std::vector<std::unique_ptr<Outcome>> waiting;
  for (int i = 0; i < 3; ++i) {
    waiting.push_back(std::make_unique<Outcome>());
    link->authorize(request(token_with(sim::CardStatus::active)), 2000ms,
                    waiting.back()->callback());
  }
  Outcome refused;
  link->authorize(request(token_with(sim::CardStatus::active)), 2000ms, refused.callback());
  ASSERT_EQ(refused.calls, 1);
  EXPECT_EQ(refused.outcome, OnlineOutcome::error);
  EXPECT_EQ(link->stats().auth_busy, 1u);
  for (auto& w : waiting) {
    ASSERT_TRUE(w->wait(2000ms));
    EXPECT_EQ(w->outcome, OnlineOutcome::answered);
  }
}

TEST_F(DistrictLinkTest, StopAnswersEveryWaitingRequestOnce) {
  start_platform(platform::ServiceOptions{5000ms, false});
  auto link = start_link_up();
  std::vector<std::unique_ptr<Outcome>> waiting;
  for (int i = 0; i < 20; ++i) {
    waiting.push_back(std::make_unique<Outcome>());
    link->authorize(request(token_with(sim::CardStatus::active)), 10'000ms,
                    waiting.back()->callback());
  }
  link->stop();
  for (auto& w : waiting) {
    EXPECT_EQ(w->calls, 1);
    EXPECT_EQ(w->outcome, OnlineOutcome::link_down);
  }
  EXPECT_FALSE(link->up());
  // After stop: inline, never lost.
  Outcome late;
  link->authorize(request(std::string(64, 'a')), 100ms, late.callback());
  EXPECT_EQ(late.calls, 1);
  EXPECT_EQ(late.outcome, OnlineOutcome::link_down);
}

TEST_F(DistrictLinkTest, LinkGoingDownFailsWaitingRequestsBeforeTheirDeadline) {
  start_platform(platform::ServiceOptions{5000ms, false});
  auto link = start_link_up();
  Outcome o;
  link->authorize(request(token_with(sim::CardStatus::active)), 10'000ms, o.callback());
  std::this_thread::sleep_for(20ms);
  const auto stopped = Steady::now();
  platform_->stop();
  ASSERT_TRUE(o.wait(kTimeout + 2000ms));
  EXPECT_EQ(o.outcome, OnlineOutcome::link_down);
  EXPECT_LE(o.when - stopped, kTimeout + 60ms);
}

TEST_F(DistrictLinkTest, ACallbackThatThrowsDoesNotStopTheLink) {
  start_platform();
  auto link = start_link_up();
  link->authorize(request(token_with(sim::CardStatus::active)), 1000ms,
                  [](OnlineOutcome, const OnlineAuthReply&) { throw std::runtime_error("boom"); });
  Outcome o;
  std::this_thread::sleep_for(50ms);
  link->authorize(request(token_with(sim::CardStatus::active)), 1000ms, o.callback());
  ASSERT_TRUE(o.wait(2000ms));
  EXPECT_EQ(o.outcome, OnlineOutcome::answered);
}

TEST(DistrictLinkStart, RefusesBadOptions) {
  SystemClock clock;
  DistrictLinkOptions o;
  o.endpoint = "tcp://127.0.0.1:7100";
  o.server_public_key = "not a key";
  o.client_keys = generate_curve_keypair().value();
  auto r = DistrictLink::start(o, clock, quiet_logger("d"));
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, "district_config");

  o.server_public_key = generate_curve_keypair()->public_key;
  o.heartbeat_timeout = o.heartbeat_interval;
  r = DistrictLink::start(o, clock, quiet_logger("d"));
  ASSERT_FALSE(r);

  o.heartbeat_timeout = 3500ms;
  o.endpoint = "bogus://x";
  r = DistrictLink::start(o, clock, quiet_logger("d"));
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, "zmq_setup");
}

// ---- options from the [district] section -----------------------------------------------------

class DistrictOptionsTest : public ::testing::Test {
 protected:
  DistrictOptionsTest() {
    dir_ = std::filesystem::temp_directory_path() /
           ("yktgw-district-options-" + std::to_string(::getpid()));
    std::filesystem::create_directories(dir_);
  }
  ~DistrictOptionsTest() override { std::filesystem::remove_all(dir_); }
  std::filesystem::path dir_;
};

TEST_F(DistrictOptionsTest, EmptyEndpointNeedsNoKeys) {
  DistrictConfig c;
  c.heartbeat_interval_ms = 500;
  auto o = district_link_options(c, "gw-1");
  ASSERT_TRUE(o) << o.error().message;
  EXPECT_TRUE(o->endpoint.empty());
  EXPECT_EQ(o->heartbeat_interval, 500ms);
  EXPECT_EQ(o->gateway_id, "gw-1");
}

TEST_F(DistrictOptionsTest, ReadsTheClientKeyFile) {
  const auto keys = generate_curve_keypair().value();
  const auto file = (dir_ / "client.key").string();
  ASSERT_TRUE(write_curve_key_file(file, keys));
  DistrictConfig c;
  c.endpoint = "tcp://127.0.0.1:7100";
  c.server_public_key = generate_curve_keypair()->public_key;
  c.client_key_file = file;
  c.online_max_inflight = 77;
  auto o = district_link_options(c, "gw-1");
  ASSERT_TRUE(o) << o.error().message;
  EXPECT_EQ(o->client_keys, keys);
  EXPECT_EQ(o->max_inflight, 77);

  ::chmod(file.c_str(), 0644);
  o = district_link_options(c, "gw-1");
  ASSERT_FALSE(o);
  // The gateway puts the key and where it was set in front (in_key()); the file is named here.
  EXPECT_EQ(o.error().code, "curve_key_file");
  EXPECT_NE(o.error().message.find(file), std::string::npos);
  EXPECT_NE(o.error().message.find("chmod 600"), std::string::npos);

  c.server_public_key = "short";
  o = district_link_options(c, "gw-1");
  ASSERT_FALSE(o);
  EXPECT_NE(o.error().message.find("district.server_public_key"), std::string::npos);
}

}  // namespace
}  // namespace yktgw::district
