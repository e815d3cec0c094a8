// DistrictLink as the forwarder's UpstreamLink: batches over real CURVE sockets on loopback to
// the simulated platform's real ROUTER, batch answers and deduplicating store (a real SQLite
// file). Every batch must end exactly once, on the link's thread, as the platform's answer says.

#include <gtest/gtest.h>

#include <algorithm>
#include <condition_variable>
#include <map>
#include <mutex>
#include <random>
#include <thread>
#include <vector>

#include "connectors/zmq/district_link.h"
#include "gateway/outbox/backoff.h"
#include "gateway/outbox/batch_format.h"
#include "terminals_sim/platform/district_batches.h"
#include "terminals_sim/platform_https/received_store.h"
#include "tests/common/slowdown.h"
#include "tests/connectors/zmq/platform_peer.h"
#include "tests/gateway/outbox/outbox_test_util.h"

namespace yktgw::district {
namespace {

using namespace std::chrono_literals;
using Steady = std::chrono::steady_clock;
using testing::PlatformPeer;
using testing::quiet_logger;

constexpr auto kInterval = 100ms;
// Widened under a sanitizer, where a loaded box answered heartbeats and batches late enough
// to call the link down or a batch timed out.
constexpr auto kHeartbeatTimeout = yktgw::testing::widened(350ms);
constexpr char kGateway[] = "wl-test-01";

// Every answer a batch got: the tests check there is exactly one per batch.
class Answers {
 public:
  UpstreamLink::Done done_for(const std::string& id) {
    return [this, id](DeliveryResult r) {
      std::lock_guard lock(mu_);
      got_[id].push_back(Got{std::move(r), std::this_thread::get_id(), Steady::now()});
      cv_.notify_all();
    };
  }
  bool wait_for(std::size_t batches, std::chrono::milliseconds limit) {
    std::unique_lock lock(mu_);
    return cv_.wait_for(lock, limit, [&] { return got_.size() >= batches; });
  }
  struct Got {
    DeliveryResult result;
    std::thread::id thread;
    Steady::time_point when;
  };
  // The only answer of `id`; fails the test when there is not exactly one.
  Got only(const std::string& id) {
    std::lock_guard lock(mu_);
    const auto it = got_.find(id);
    if (it == got_.end() || it->second.size() != 1) {
      ADD_FAILURE() << id << " answered " << (it == got_.end() ? 0 : it->second.size()) << " times";
      return {};
    }
    return it->second.front();
  }
  std::map<std::string, std::vector<Got>> all() {
    std::lock_guard lock(mu_);
    return got_;
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  std::map<std::string, std::vector<Got>> got_;
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

// A batch as the outbox makes it: records first..first+count-1, gzip of their JSON lines.
Batch make_batch(int first, int count, const std::string& gateway = kGateway) {
  std::string lines;
  for (int i = first; i < first + count; ++i) {
    outbox::append_record_line(
        outbox::ForwardedRecord{static_cast<std::uint64_t>(i), gateway, testing::txn(i)}, lines);
  }
  Batch b;
  b.first_seq = static_cast<std::uint64_t>(first);
  b.last_seq = static_cast<std::uint64_t>(first + count - 1);
  b.id = outbox::batch_id(gateway, "district", b.first_seq, b.last_seq);
  b.destination = "district";
  b.count = static_cast<std::uint32_t>(count);
  b.payload = outbox::gzip_compress(lines).value();
  return b;
}

class DistrictBatchLinkTest : public ::testing::Test {
 protected:
  DistrictBatchLinkTest()
      : population_(sim::generate_population(42, 50)),
        server_keys_(generate_curve_keypair().value()),
        client_keys_(generate_curve_keypair().value()) {}

  void start_platform(platform::ReceiverFaults faults = {}, int queue_limit = 100'000) {
    platform::DistrictBatchOptions o;
    o.db_path = dir_.file("platform.db");
    o.faults = faults;
    auto r = platform::DistrictBatchReceiver::open(o, clock_);
    ASSERT_TRUE(r) << r.error().message;
    batches_ = std::move(*r);
    platform_ = std::make_unique<PlatformPeer>(population_, server_keys_,
                                               platform::ServiceOptions{}, queue_limit);
    platform::DistrictLoopOptions loop;
    loop.batches = batches_.get();
    platform_->set_loop_options(loop);
    ASSERT_TRUE(platform_->start());
  }

  DistrictLinkOptions options() const {
    DistrictLinkOptions o;
    o.endpoint = platform_ ? platform_->endpoint() : "";
    o.server_public_key = server_keys_.public_key;
    o.client_keys = client_keys_;
    o.gateway_id = kGateway;
    o.heartbeat_interval = kInterval;
    o.heartbeat_timeout = kHeartbeatTimeout;
    o.reconnect_interval = 20ms;
    o.reconnect_interval_max = 200ms;
    o.batch_max_inflight = 8;
    o.batch_timeout = yktgw::testing::widened(2000ms);
    return o;
  }

  std::unique_ptr<DistrictLink> start_link(DistrictLinkOptions o) {
    auto link = DistrictLink::start(std::move(o), clock_, quiet_logger("district"));
    EXPECT_TRUE(link) << (link ? "" : link.error().message);
    if (!link) return nullptr;
    EXPECT_TRUE(eventually([&] { return (*link)->up(); }, 3000ms)) << "link never came up";
    return std::move(*link);
  }

  platform::SourceCount counted() {
    auto c = platform::count_received(dir_.file("platform.db"));
    EXPECT_TRUE(c) << c.error().message;
    return c && !c->empty() ? (*c)[0] : platform::SourceCount{};
  }

  void TearDown() override {
    link_.reset();
    platform_.reset();
  }

  testing::TempDir dir_{"zmq-batch"};
  SystemClock clock_;
  sim::Population population_;
  CurveKeyPair server_keys_;
  CurveKeyPair client_keys_;
  std::unique_ptr<platform::DistrictBatchReceiver> batches_;
  std::unique_ptr<PlatformPeer> platform_;
  std::unique_ptr<DistrictLink> link_;
  Answers answers_;
};

TEST_F(DistrictBatchLinkTest, ABatchIsDeliveredAndStoredUnderItsGateway) {
  start_platform();
  link_ = start_link(options());
  EXPECT_EQ(link_->destination(), "district");
  EXPECT_EQ(link_->max_in_flight(), 8);
  const Batch b = make_batch(1, 10);
  link_->send(b, answers_.done_for(b.id));
  ASSERT_TRUE(answers_.wait_for(1, 3000ms));
  const auto got = answers_.only(b.id);
  EXPECT_EQ(got.result.status, DeliveryStatus::delivered) << got.result.detail;
  EXPECT_EQ(got.result.detail, "accepted=10 duplicates=0");
  EXPECT_NE(got.thread, std::this_thread::get_id()) << "done runs on the link's thread";

  const auto c = counted();
  EXPECT_EQ(c.platform, "district");
  EXPECT_EQ(c.source_gateway, kGateway);
  EXPECT_EQ(c.unique, 10u);
  EXPECT_EQ(c.duplicates, 0u);
  const auto st = link_->stats();
  EXPECT_EQ(st.batches_sent, 1u);
  EXPECT_EQ(st.batches_delivered, 1u);
  EXPECT_EQ(st.batches_inflight, 0);
}

TEST_F(DistrictBatchLinkTest, AResentBatchIdIsAckedAgainAndCountedDuplicateNotStoredTwice) {
  start_platform();
  link_ = start_link(options());
  const Batch b = make_batch(1, 10);
  link_->send(b, answers_.done_for("first"));
  ASSERT_TRUE(answers_.wait_for(1, 3000ms));
  link_->send(b, answers_.done_for("again"));
  ASSERT_TRUE(answers_.wait_for(2, 3000ms));
  EXPECT_EQ(answers_.only("first").result.detail, "accepted=10 duplicates=0");
  const auto again = answers_.only("again");
  EXPECT_EQ(again.result.status, DeliveryStatus::delivered);
  EXPECT_EQ(again.result.detail, "accepted=0 duplicates=10");

  const auto c = counted();
  EXPECT_EQ(c.unique, 10u);
  EXPECT_EQ(c.duplicates, 10u);
  auto store = platform::ReceivedStore::open(dir_.file("platform.db"));
  ASSERT_TRUE(store);
  EXPECT_EQ(store->txn_ids("district", kGateway)->size(), 10u);
}

TEST_F(DistrictBatchLinkTest, AnInvalidBatchIsRejectedAndNothingIsStored) {
  start_platform();
  link_ = start_link(options());
  Batch plain = make_batch(1, 3);
  plain.payload = "{\"v\":1}\n";  // not gzip
  Batch miscounted = make_batch(4, 3);
  miscounted.count = 2;
  Batch foreign = make_batch(7, 3, "someone-else");  // lines name another gateway
  link_->send(plain, answers_.done_for("plain"));
  link_->send(miscounted, answers_.done_for("miscounted"));
  link_->send(foreign, answers_.done_for("foreign"));
  ASSERT_TRUE(answers_.wait_for(3, 3000ms));
  for (const char* id : {"plain", "miscounted", "foreign"}) {
    SCOPED_TRACE(id);
    const auto got = answers_.only(id);
    EXPECT_EQ(got.result.status, DeliveryStatus::rejected);
    EXPECT_NE(got.result.detail.find("invalid_batch"), std::string::npos) << got.result.detail;
  }
  EXPECT_NE(answers_.only("miscounted").result.detail.find("header says 2 records"),
            std::string::npos);
  EXPECT_EQ(counted().unique, 0u);
  EXPECT_EQ(link_->stats().batches_rejected, 3u);
  EXPECT_EQ(batches_->stats().malformed, 3u);
}

TEST_F(DistrictBatchLinkTest, InjectedFaultsMapToTheForwardersOutcomes) {
  platform::ReceiverFaults f;
  f.error_400_probability = 1.0;
  start_platform(f);
  link_ = start_link(options());
  const Batch b = make_batch(1, 5);
  link_->send(b, answers_.done_for("400"));
  ASSERT_TRUE(answers_.wait_for(1, 3000ms));
  EXPECT_EQ(answers_.only("400").result.status, DeliveryStatus::rejected);

  f = {};
  f.error_500_probability = 1.0;
  batches_->set_faults(f);
  link_->send(b, answers_.done_for("500"));
  ASSERT_TRUE(answers_.wait_for(2, 3000ms));
  EXPECT_EQ(answers_.only("500").result.status, DeliveryStatus::retry_later);
  EXPECT_NE(answers_.only("500").result.detail.find("unavailable"), std::string::npos);

  f = {};
  f.error_429_probability = 1.0;
  f.retry_after_s = 2;
  batches_->set_faults(f);
  link_->send(b, answers_.done_for("429"));
  ASSERT_TRUE(answers_.wait_for(3, 3000ms));
  const auto busy = answers_.only("429");
  EXPECT_EQ(busy.result.status, DeliveryStatus::retry_later);
  // The forwarder's backoff honours the platform's wait, as it does HTTP's Retry-After.
  EXPECT_EQ(outbox::retry_after_from_detail(busy.result.detail), 2000ms) << busy.result.detail;
  EXPECT_EQ(counted().unique, 0u) << "no fault stores anything";
}

TEST_F(DistrictBatchLinkTest, PlatformDownMeansRetryLaterWellBeforeTheBatchTimeout) {
  start_platform();
  auto o = options();
  o.batch_timeout = 10'000ms;
  link_ = start_link(o);
  platform_->stop();
  // The link still believes the platform is up until a heartbeat goes unanswered; a batch
  // sent into that window must not wait out its 10 s timeout.
  const auto sent = Steady::now();
  const Batch b = make_batch(1, 5);
  link_->send(b, answers_.done_for(b.id));
  ASSERT_TRUE(answers_.wait_for(1, kHeartbeatTimeout + 3000ms));
  const auto got = answers_.only(b.id);
  EXPECT_EQ(got.result.status, DeliveryStatus::retry_later);
  EXPECT_LE(got.when - sent, kHeartbeatTimeout + 300ms) << got.result.detail;

  // Once the link is known down, batches are answered as soon as the I/O thread takes them.
  ASSERT_TRUE(eventually([&] { return !link_->up(); }, kHeartbeatTimeout + 2000ms));
  const auto later = Steady::now();
  link_->send(b, answers_.done_for("down"));
  ASSERT_TRUE(answers_.wait_for(2, 1000ms));
  const auto down = answers_.only("down");
  EXPECT_EQ(down.result.status, DeliveryStatus::retry_later);
  EXPECT_NE(down.result.detail.find("link down"), std::string::npos) << down.result.detail;
  EXPECT_LE(down.when - later, yktgw::testing::widened(200ms));
  EXPECT_NE(down.thread, std::this_thread::get_id());

  // Back up: the same batch goes through.
  ASSERT_TRUE(platform_->start());
  ASSERT_TRUE(eventually([&] { return link_->up(); }, 3000ms));
  link_->send(b, answers_.done_for("up"));
  ASSERT_TRUE(answers_.wait_for(3, 3000ms));
  EXPECT_EQ(answers_.only("up").result.status, DeliveryStatus::delivered);
}

TEST_F(DistrictBatchLinkTest, ALinkGoingDownFailsWaitingBatchesAtOnce) {
  platform::ReceiverFaults f;
  f.drop_ack_probability = 1.0;
  start_platform(f);
  auto o = options();
  o.batch_timeout = 10'000ms;
  link_ = start_link(o);
  const Batch b = make_batch(1, 5);
  link_->send(b, answers_.done_for(b.id));
  ASSERT_TRUE(eventually([&] { return batches_->stats().dropped_acks == 1; }, 2000ms));
  const auto stopped = Steady::now();
  platform_->stop();
  ASSERT_TRUE(answers_.wait_for(1, kHeartbeatTimeout + 3000ms));
  const auto got = answers_.only(b.id);
  EXPECT_EQ(got.result.status, DeliveryStatus::retry_later);
  EXPECT_NE(got.result.detail.find("went down"), std::string::npos) << got.result.detail;
  EXPECT_LE(got.when - stopped, kHeartbeatTimeout + 300ms);
}

TEST_F(DistrictBatchLinkTest, ADroppedAckMeansRetryLaterThenTheResendIsAckedAsDuplicate) {
  platform::ReceiverFaults f;
  f.drop_ack_probability = 1.0;
  start_platform(f);
  auto o = options();
  o.batch_timeout = 300ms;
  link_ = start_link(o);
  const Batch b = make_batch(1, 10);
  const auto sent = Steady::now();
  link_->send(b, answers_.done_for("dropped"));
  ASSERT_TRUE(answers_.wait_for(1, 3000ms));
  const auto dropped = answers_.only("dropped");
  EXPECT_EQ(dropped.result.status, DeliveryStatus::retry_later);
  EXPECT_NE(dropped.result.detail.find("no BATCH_ACK within 300 ms"), std::string::npos)
      << dropped.result.detail;
  EXPECT_GE(dropped.when - sent, 300ms);
  EXPECT_LE(dropped.when - sent, 700ms);
  EXPECT_EQ(counted().unique, 10u) << "stored before the ack was dropped";

  batches_->set_faults({});
  link_->send(b, answers_.done_for("resent"));
  ASSERT_TRUE(answers_.wait_for(2, 3000ms));
  const auto resent = answers_.only("resent");
  EXPECT_EQ(resent.result.status, DeliveryStatus::delivered);
  EXPECT_EQ(resent.result.detail, "accepted=0 duplicates=10");
  EXPECT_EQ(counted().unique, 10u);
  EXPECT_EQ(counted().duplicates, 10u);
  EXPECT_EQ(link_->stats().batch_timeouts, 1u);
}

TEST_F(DistrictBatchLinkTest, AnAckAfterTheTimeoutIsIgnored) {
  platform::ReceiverFaults f;
  f.ack_delay_ms = 600;
  start_platform(f);
  auto o = options();
  o.batch_timeout = 200ms;
  link_ = start_link(o);
  const Batch b = make_batch(1, 5);
  link_->send(b, answers_.done_for(b.id));
  ASSERT_TRUE(answers_.wait_for(1, 2000ms));
  EXPECT_EQ(answers_.only(b.id).result.status, DeliveryStatus::retry_later);
  ASSERT_TRUE(eventually([&] { return link_->stats().late_batch_acks == 1; }, 2000ms));
  std::this_thread::sleep_for(100ms);
  EXPECT_EQ(answers_.all().at(b.id).size(), 1u) << "one answer per batch, late ack or not";
  EXPECT_EQ(link_->stats().batches_delivered, 0u);
}

TEST_F(DistrictBatchLinkTest, EightBatchesAreInFlightAtOnce) {
  platform::ReceiverFaults f;
  f.ack_delay_ms = 400;
  start_platform(f);
  link_ = start_link(options());
  std::vector<Batch> sent;
  const auto start = Steady::now();
  for (int i = 0; i < 8; ++i) {
    sent.push_back(make_batch(1 + i * 50, 50));
    link_->send(sent.back(), answers_.done_for(sent.back().id));
  }
  EXPECT_LE(Steady::now() - start, yktgw::testing::widened(100ms)) << "send() only queues";
  ASSERT_TRUE(eventually([&] { return link_->stats().batches_sent == 8; },
                         yktgw::testing::widened(1000ms)));
  EXPECT_EQ(link_->stats().batches_inflight, 8);
  ASSERT_TRUE(answers_.wait_for(8, yktgw::testing::widened(3000ms)));
  // Eight acks each held 400 ms arrive together: the batches waited side by side. One after
  // the other would take 3.2 s, which a sanitizer build's bound still tells apart.
  EXPECT_LE(Steady::now() - start,
            yktgw::testing::kSanitizerSlowdown > 1 ? std::chrono::milliseconds(3000) : 1200ms);
  for (const Batch& b : sent) {
    EXPECT_EQ(answers_.only(b.id).result.status, DeliveryStatus::delivered) << b.id;
  }
  EXPECT_EQ(counted().unique, 400u);
  EXPECT_EQ(link_->stats().batches_inflight, 0);
}

// The forwarder never exceeds max_in_flight, but nothing in the link may block even if a burst
// meets a platform that stopped reading: ZeroMQ's queue fills and the surplus is retry_later.
TEST_F(DistrictBatchLinkTest, ABurstIntoAStalledPlatformNeverBlocks) {
  start_platform({}, /*queue_limit=*/4);
  auto o = options();
  o.max_inflight = 1;
  o.batch_max_inflight = 1;  // a send queue of 66 messages
  o.heartbeat_timeout = 1500ms;
  link_ = start_link(o);
  platform_->pause();
  std::mt19937 rng(5);
  std::string noise(std::size_t{64} * 1024, '\0');
  for (char& c : noise) c = static_cast<char>(rng());
  constexpr int kBurst = 600;
  const auto start = Steady::now();
  for (int i = 0; i < kBurst; ++i) {
    Batch b;
    b.id = "burst-" + std::to_string(i);
    b.count = 1;
    b.first_seq = b.last_seq = static_cast<std::uint64_t>(i) + 1;
    b.payload = noise;  // incompressible: the kernel's socket buffers fill quickly
    link_->send(b, answers_.done_for(b.id));
  }
  EXPECT_LE(Steady::now() - start, 1000ms);
  ASSERT_TRUE(answers_.wait_for(kBurst, 10'000ms));
  int refused = 0;
  for (const auto& [id, got] : answers_.all()) {
    ASSERT_EQ(got.size(), 1u) << id;
    EXPECT_EQ(got[0].result.status, DeliveryStatus::retry_later) << id;
    if (got[0].result.detail.find("send refused") != std::string::npos) ++refused;
  }
  EXPECT_GT(refused, 0) << "the send queue never filled";
}

TEST_F(DistrictBatchLinkTest, StopAnswersEveryWaitingBatchOnceAndLaterOnesInline) {
  platform::ReceiverFaults f;
  f.drop_ack_probability = 1.0;
  start_platform(f);
  link_ = start_link(options());
  for (int i = 0; i < 3; ++i) {
    const Batch b = make_batch(1 + i * 5, 5);
    link_->send(b, answers_.done_for(b.id));
  }
  ASSERT_TRUE(eventually([&] { return batches_->stats().dropped_acks == 3; }, 2000ms));
  link_->stop();
  ASSERT_TRUE(answers_.wait_for(3, 100ms)) << "stop() answers before it returns";
  for (const auto& [id, got] : answers_.all()) {
    ASSERT_EQ(got.size(), 1u);
    EXPECT_EQ(got[0].result.status, DeliveryStatus::retry_later);
    EXPECT_NE(got[0].result.detail.find("stopped"), std::string::npos);
  }
  const Batch late = make_batch(100, 1);
  link_->send(late, answers_.done_for("after-stop"));
  const auto got = answers_.only("after-stop");
  EXPECT_EQ(got.result.status, DeliveryStatus::retry_later);
  EXPECT_EQ(got.thread, std::this_thread::get_id());
}

TEST_F(DistrictBatchLinkTest, ADisabledLinkKeepsRecordsForLater) {
  auto link = DistrictLink::start(DistrictLinkOptions{}, clock_, quiet_logger("district"));
  ASSERT_TRUE(link);
  EXPECT_FALSE((*link)->enabled());
  (*link)->send(make_batch(1, 1), answers_.done_for("disabled"));
  const auto got = answers_.only("disabled");
  EXPECT_EQ(got.result.status, DeliveryStatus::retry_later);
  EXPECT_NE(got.result.detail.find("no district link"), std::string::npos);
}

TEST_F(DistrictBatchLinkTest, ABatchIdTheProtocolCannotCarryIsRejected) {
  start_platform();
  link_ = start_link(options());
  Batch b = make_batch(1, 1);
  b.id = std::string(kMaxMessageIdBytes + 1, 'x');
  link_->send(b, answers_.done_for("long"));
  EXPECT_EQ(answers_.only("long").result.status, DeliveryStatus::rejected);
}

TEST(DistrictBatchOptions, ComeFromTheDistrictSection) {
  DistrictConfig c;
  c.batch_max_inflight = 5;
  c.batch_timeout_ms = 2500;
  auto o = district_link_options(c, "gw");
  ASSERT_TRUE(o);
  EXPECT_EQ(o->batch_max_inflight, 5);
  EXPECT_EQ(o->batch_timeout, 2500ms);
  EXPECT_EQ(DistrictConfig{}.batch_max_inflight, 8);
  EXPECT_EQ(DistrictConfig{}.batch_timeout_ms, 10'000);
}

}  // namespace
}  // namespace yktgw::district
