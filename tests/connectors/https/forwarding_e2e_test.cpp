// The whole cross-province path on loopback: the real record store fills records.db, the
// Forwarder batches from it, HttpsLink carries the batches over TLS to the platform's receiver,
// which deduplicates into its own SQLite file. Checks the promise of issue 4: every record
// arrives exactly once in effect, through faults, outages and restarts.

#include <gtest/gtest.h>

#include <set>
#include <thread>

#include "connectors/https/https_link.h"
#include "gateway/outbox/forwarder.h"
#include "gateway/outbox/outbox_admin.h"
#include "gateway/outbox/outbox_config.h"
#include "terminals_sim/platform_https/https_batch_receiver.h"
#include "terminals_sim/platform_https/received_store.h"
#include "tests/connectors/https/dev_certs.h"
#include "tests/gateway/outbox/outbox_test_util.h"

namespace yktgw {
namespace {

using namespace std::chrono_literals;
using outbox::DestinationState;
using outbox::Forwarder;
using platform::ReceiverFaults;
using testing::dev_certs;

class ForwardingE2E : public ::testing::Test {
 protected:
  void SetUp() override {
    platform::HttpsReceiverOptions o;
    o.cert_file = dev_certs().server_cert;
    o.key_file = dev_certs().server_key;
    o.client_ca_file = dev_certs().ca;  // mTLS, as a cross-province platform would ask
    o.db_path = dir_.file("platform.db");
    o.keep_alive_timeout_s = 1;
    auto r = platform::HttpsBatchReceiver::start(o, testing::quiet_log("platform"));
    ASSERT_TRUE(r) << r.error().message;
    receiver_ = std::move(r.value());
    open_link();
  }

  void open_link() {
    https::HttpsLinkOptions o;
    o.url = "https://127.0.0.1:" + std::to_string(receiver_->port());
    o.gateway_id = "gw1";
    o.ca_file = dev_certs().ca;
    o.client_cert_file = dev_certs().client_cert;
    o.client_key_file = dev_certs().client_key;
    o.connect_timeout_ms = 1000;
    o.timeout_ms = 2000;
    o.max_in_flight = 4;
    auto l = https::HttpsLink::create(o, testing::quiet_log("https"));
    ASSERT_TRUE(l) << l.error().message;
    link_ = std::move(l.value());
  }

  void open_forwarder() {
    outbox::ForwarderOptions o;
    o.records_db = dir_.file("records.db");
    o.outbox_db = dir_.file("outbox.db");
    o.gateway_id = "gw1";
    o.limits = outbox::BatchLimits{500, 262'144, 20ms};
    o.retry_min = 20ms;
    o.retry_max = 300ms;
    o.stats_interval = 100ms;
    o.dead_letter_poll = 50ms;
    auto f = Forwarder::open(o, outbox::Router(*outbox::route_table_from(UpstreamConfig{})),
                             {{"crossprov", link_.get()}}, clock_, testing::quiet_log("fwd"));
    ASSERT_TRUE(f) << f.error().message;
    forwarder_ = std::move(f.value());
    forwarder_->start();
  }

  void add(int from, int count) {
    store_.add_many(from, count, 51, clock_.wall_ms());
    if (forwarder_) forwarder_->wake();
  }

  outbox::DestinationStats crossprov() const {
    for (const auto& s : forwarder_->stats()) {
      if (s.destination == "crossprov") return s;
    }
    return {};
  }

  bool wait_for_cursor(std::uint64_t seq, std::chrono::seconds limit = 60s) {
    const auto deadline = std::chrono::steady_clock::now() + limit;
    while (std::chrono::steady_clock::now() < deadline) {
      if (crossprov().acked_seq >= seq) return true;
      std::this_thread::sleep_for(20ms);
    }
    return false;
  }

  platform::SourceCount counted() {
    auto c = platform::count_received(dir_.file("platform.db"));
    EXPECT_TRUE(c);
    return c && !c->empty() ? (*c)[0] : platform::SourceCount{};
  }

  // The platform has exactly the records 1..n from this gateway.
  void expect_all_there(int n) {
    auto store = platform::ReceivedStore::open(dir_.file("platform.db"));
    ASSERT_TRUE(store);
    auto ids = store->txn_ids("crossprov", "gw1");
    ASSERT_TRUE(ids);
    std::set<std::string> got(ids->begin(), ids->end());
    EXPECT_EQ(got.size(), ids->size());
    for (int i = 1; i <= n; ++i) {
      if (!got.contains("ct:" + std::to_string(i))) {
        ADD_FAILURE() << "missing txn ct:" << i;
        return;
      }
    }
    EXPECT_EQ(got.size(), static_cast<std::size_t>(n));
  }

  void TearDown() override {
    if (forwarder_) forwarder_->stop(1s);
    forwarder_.reset();
    link_.reset();
    receiver_.reset();
  }

  testing::TempDir dir_{"e2e"};
  SystemClock clock_;
  testing::StoreFixture store_{dir_.file("records.db")};
  std::unique_ptr<platform::HttpsBatchReceiver> receiver_;
  std::unique_ptr<https::HttpsLink> link_;
  std::unique_ptr<Forwarder> forwarder_;
};

TEST_F(ForwardingE2E, EveryRecordArrivesOnceThrough500sAnd429s) {
  ReceiverFaults f;
  f.error_500_probability = 0.15;
  f.error_429_probability = 0.1;
  f.retry_after_s = 0;
  f.seed = 7;
  receiver_->set_faults(f);
  open_forwarder();
  constexpr int kRecords = 20'000;
  for (int i = 1; i <= kRecords; i += 1000) add(i, 1000);
  ASSERT_TRUE(wait_for_cursor(kRecords)) << "cursor=" << crossprov().acked_seq;
  EXPECT_EQ(counted().unique, static_cast<std::uint64_t>(kRecords));
  EXPECT_EQ(counted().duplicates, 0u) << "no ack was lost, so nothing arrived twice";
  expect_all_there(kRecords);
  EXPECT_GT(receiver_->stats().injected_500, 0u);
  EXPECT_GT(crossprov().retries, 0u);
}

TEST_F(ForwardingE2E, DroppedAcksAreTheOnlySourceOfDuplicates) {
  ReceiverFaults f;
  f.drop_ack_probability = 0.2;
  f.seed = 11;
  receiver_->set_faults(f);
  open_forwarder();
  constexpr int kRecords = 10'000;
  add(1, kRecords);
  ASSERT_TRUE(wait_for_cursor(kRecords));
  const auto c = counted();
  EXPECT_EQ(c.unique, static_cast<std::uint64_t>(kRecords));
  EXPECT_GT(c.duplicates, 0u);
  EXPECT_LE(c.duplicates, receiver_->stats().dropped_acks * 500);
  expect_all_there(kRecords);
}

TEST_F(ForwardingE2E, BacklogDrainsAfterAnOutage) {
  ASSERT_TRUE(receiver_->set_up(false));
  open_forwarder();
  add(1, 5000);
  const auto deadline = std::chrono::steady_clock::now() + 10s;
  while (crossprov().state != DestinationState::backoff &&
         std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(10ms);
  }
  EXPECT_EQ(crossprov().state, DestinationState::backoff);
  std::this_thread::sleep_for(300ms);
  EXPECT_EQ(crossprov().backlog, 5000u);
  EXPECT_EQ(crossprov().acked_seq, 0u);
  add(5001, 1000);  // the gateway keeps storing meanwhile
  ASSERT_TRUE(receiver_->set_up(true));
  ASSERT_TRUE(wait_for_cursor(6000));
  EXPECT_EQ(counted().unique, 6000u);
  EXPECT_EQ(counted().duplicates, 0u);
  EXPECT_EQ(crossprov().backlog, 0u);
}

TEST_F(ForwardingE2E, RestartsInTheMiddleLoseNothing) {
  ReceiverFaults f;
  f.ack_delay_ms = 30;
  receiver_->set_faults(f);
  constexpr int kRounds = 5;
  constexpr int kPerRound = 3000;
  for (int round = 0; round < kRounds; ++round) {
    add(round * kPerRound + 1, kPerRound);
    open_forwarder();
    std::this_thread::sleep_for(150ms);
    // As close to kill -9 as a test process gets: no time to wait for answers in flight.
    forwarder_->stop(0ms);
    forwarder_.reset();
    link_.reset();
    open_link();
  }
  receiver_->set_faults({});
  open_forwarder();
  ASSERT_TRUE(wait_for_cursor(kRounds * kPerRound));
  EXPECT_EQ(counted().unique, static_cast<std::uint64_t>(kRounds * kPerRound));
  expect_all_there(kRounds * kPerRound);
}

TEST_F(ForwardingE2E, RejectedBatchesWaitAsDeadLettersUntilRetried) {
  ReceiverFaults f;
  f.error_400_probability = 1.0;
  receiver_->set_faults(f);
  open_forwarder();
  add(1, 1200);
  ASSERT_TRUE(wait_for_cursor(1200)) << "the cursor passes dead letters";
  EXPECT_TRUE(forwarder_->dead_letter_alarm());
  EXPECT_EQ(counted().unique, 0u);
  auto letters = outbox::list_dead_letters(dir_.file("outbox.db"));
  ASSERT_TRUE(letters);
  std::uint64_t in_letters = 0;
  for (const auto& d : *letters) in_letters += d.count;
  EXPECT_EQ(in_letters, 1200u);
  const int letter_count = static_cast<int>(letters->size());

  receiver_->set_faults({});
  ASSERT_EQ(*outbox::retry_all_dead_letters(dir_.file("outbox.db"), clock_.wall_ms()),
            letter_count);
  const auto deadline = std::chrono::steady_clock::now() + 20s;
  while (forwarder_->dead_letter_alarm() && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(20ms);
  }
  EXPECT_FALSE(forwarder_->dead_letter_alarm());
  EXPECT_EQ(counted().unique, 1200u);
  expect_all_there(1200);
}

}  // namespace
}  // namespace yktgw
