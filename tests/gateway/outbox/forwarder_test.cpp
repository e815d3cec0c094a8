#include "gateway/outbox/forwarder.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <thread>

#include "gateway/outbox/batch_format.h"
#include "gateway/outbox/outbox_admin.h"
#include "gateway/outbox/outbox_config.h"
#include "gateway/outbox/outbox_db.h"
#include "tests/gateway/outbox/outbox_test_util.h"

namespace yktgw::outbox {
namespace {

using namespace std::chrono_literals;
using ::testing::ElementsAre;
using testing::FakeClock;
using testing::FakeLink;
using ::testing::HasSubstr;
using testing::StoreFixture;
using testing::TempDir;

using Ids = std::vector<std::string>;

class ForwarderTest : public ::testing::Test {
 protected:
  ForwarderOptions options() const {
    ForwarderOptions o;
    o.records_db = dir_.file("records.db");
    o.outbox_db = dir_.file("outbox.db");
    o.gateway_id = "gw1";
    o.limits = BatchLimits{10, 1 << 20, 200ms};
    o.retry_min = 500ms;
    o.retry_max = 60'000ms;
    o.poll_interval = 5ms;
    o.stats_interval = 0ms;
    o.dead_letter_poll = 0ms;
    o.jitter = [this] { return jitter_; };
    return o;
  }

  Router router() const { return Router(*route_table_from(UpstreamConfig{})); }

  std::unique_ptr<Forwarder> open(std::map<std::string, UpstreamLink*> links,
                                  const Clock* clock = nullptr) {
    auto f = Forwarder::open(options(), router(), std::move(links), clock ? *clock : clock_,
                             testing::quiet_log());
    EXPECT_TRUE(f) << (f ? "" : f.error().message);
    return f ? std::move(f.value()) : nullptr;
  }

  std::unique_ptr<Forwarder> open_district() { return open({{"district", &district_}}); }

  DestinationStats stats_of(const Forwarder& f, const std::string& dest) {
    for (const auto& s : f.stats()) {
      if (s.destination == dest) return s;
    }
    ADD_FAILURE() << "no destination " << dest;
    return {};
  }

  std::uint64_t stored_cursor(const std::string& dest) {
    auto db = OutboxDb::open(dir_.file("outbox.db"));
    return *db->acked_seq(dest);
  }

  std::int64_t rows_in_store() {
    auto db = sqlite::Database::open(dir_.file("records.db"), false);
    auto st = db->prepare("SELECT COUNT(*) FROM txn");
    sqlite3_step(st->get());
    return sqlite3_column_int64(st->get(), 0);
  }

  static std::vector<ForwardedRecord> records_of(const Batch& b) {
    auto lines = gzip_decompress(b.payload, 1 << 24);
    EXPECT_TRUE(lines);
    auto records = parse_record_lines(*lines);
    EXPECT_TRUE(records) << records.error().message;
    return *records;
  }

  TempDir dir_;
  FakeClock clock_;
  StoreFixture store_{dir_.file("records.db")};
  FakeLink district_{"district", 3};
  FakeLink crossprov_{"crossprov", 2};
  double jitter_ = 1.0;
};

TEST_F(ForwarderTest, FormsFullBatchesUpToTheWindowAndLingersOverTheRest) {
  store_.add_many(1, 35);
  auto fwd = open_district();
  fwd->step();
  EXPECT_EQ(district_.sent_ids(),
            (Ids{"gw1-district-1-10", "gw1-district-11-20", "gw1-district-21-30"}));
  const auto first = records_of(district_.sent()[0]);
  ASSERT_EQ(first.size(), 10u);
  EXPECT_EQ(first[0].seq, 1u);
  EXPECT_EQ(first[0].gateway, "gw1");
  EXPECT_EQ(first[0].record, testing::txn(1));
  EXPECT_EQ(district_.sent()[0].count, 10u);
  EXPECT_EQ(district_.sent()[0].destination, "district");

  ASSERT_TRUE(district_.complete("gw1-district-1-10", DeliveryStatus::delivered));
  fwd->step();
  EXPECT_EQ(district_.sent().size(), 3u) << "five records wait for the linger time";
  clock_.advance(199ms);
  fwd->step();
  EXPECT_EQ(district_.sent().size(), 3u);
  clock_.advance(1ms);
  fwd->step();
  ASSERT_EQ(district_.sent().size(), 4u);
  EXPECT_EQ(district_.sent()[3].id, "gw1-district-31-35");
  EXPECT_EQ(district_.sent()[3].count, 5u);
}

TEST_F(ForwarderTest, CursorMovesOnlyOverAContiguousAckedPrefix) {
  store_.add_many(1, 30);
  auto fwd = open_district();
  fwd->step();
  ASSERT_EQ(district_.pending(), 3u);
  district_.complete("gw1-district-21-30", DeliveryStatus::delivered);
  district_.complete("gw1-district-11-20", DeliveryStatus::delivered);
  fwd->step();
  EXPECT_EQ(stats_of(*fwd, "district").acked_seq, 0u);
  EXPECT_EQ(stored_cursor("district"), 0u);
  EXPECT_EQ(stats_of(*fwd, "district").backlog, 10u);
  district_.complete("gw1-district-1-10", DeliveryStatus::delivered);
  fwd->step();
  EXPECT_EQ(stats_of(*fwd, "district").acked_seq, 30u);
  EXPECT_EQ(stored_cursor("district"), 30u);
  auto db = OutboxDb::open(dir_.file("outbox.db"));
  EXPECT_TRUE(db->batches("district")->empty()) << "batches under the cursor are forgotten";
  EXPECT_EQ(stats_of(*fwd, "district").backlog, 0u);
  EXPECT_EQ(stats_of(*fwd, "district").records_delivered, 30u);
}

TEST_F(ForwarderTest, RestartResendsUnackedBatchesUnderTheSameIds) {
  store_.add_many(1, 30);
  std::vector<Batch> first;
  {
    auto fwd = open_district();
    fwd->step();
    first = district_.sent();
    ASSERT_EQ(first.size(), 3u);
    district_.complete("gw1-district-11-20", DeliveryStatus::delivered);  // out of order
    fwd->step();
    fwd->stop(0ms);
  }
  store_.add_many(31, 10);
  FakeLink again("district", 3);
  auto fwd = open({{"district", &again}});
  fwd->step();
  const auto sent = again.sent();
  ASSERT_EQ(sent.size(), 3u);
  EXPECT_EQ(sent[0], first[0]) << "same id, same records, same bytes";
  EXPECT_EQ(sent[1], first[2]) << "the batch acked before the restart is not sent again";
  EXPECT_EQ(sent[2].id, "gw1-district-31-40");
  again.complete_all(DeliveryStatus::delivered);
  fwd->step();
  EXPECT_EQ(stored_cursor("district"), 40u);
}

TEST_F(ForwarderTest, RetriesBackOffExponentiallyWithOneProbe) {
  store_.add_many(1, 30);
  auto fwd = open_district();
  fwd->step();
  ASSERT_EQ(district_.pending(), 3u);
  // The platform goes away with three batches in flight: one failure for the backoff.
  district_.complete_all(DeliveryStatus::retry_later, "http 503");
  fwd->step();
  EXPECT_EQ(stats_of(*fwd, "district").state, DestinationState::backoff);
  EXPECT_EQ(stats_of(*fwd, "district").retries, 3u);
  EXPECT_EQ(stats_of(*fwd, "district").last_error, "http 503");

  std::vector<std::int64_t> gaps;
  for (int attempt = 0; attempt < 5; ++attempt) {
    std::int64_t waited = 0;
    while (district_.pending() == 0 && waited < 100'000) {
      clock_.advance(1ms);
      ++waited;
      fwd->step();
    }
    gaps.push_back(waited);
    EXPECT_EQ(district_.pending_ids(), Ids{"gw1-district-1-10"}) << "one probe at a time";
    district_.complete_all(DeliveryStatus::retry_later, "timeout");
    fwd->step();
  }
  EXPECT_EQ(gaps, (std::vector<std::int64_t>{500, 1000, 2000, 4000, 8000}));

  clock_.advance(16'000ms);
  fwd->step();
  ASSERT_EQ(district_.pending(), 1u);
  district_.complete_all(DeliveryStatus::delivered);
  fwd->step();
  EXPECT_EQ(district_.pending(), 2u) << "after an ack the whole window is used again";
  EXPECT_EQ(stats_of(*fwd, "district").state, DestinationState::sending);
  district_.complete_all(DeliveryStatus::delivered);
  fwd->step();
  EXPECT_EQ(stats_of(*fwd, "district").state, DestinationState::idle);
  EXPECT_EQ(stored_cursor("district"), 30u);
}

TEST_F(ForwarderTest, RetryAfterIsAFloorUnderTheJitter) {
  jitter_ = 0.0;
  store_.add_many(1, 10);
  auto fwd = open_district();
  fwd->step();
  district_.complete_all(DeliveryStatus::retry_later, "http 429 retry_after_ms=3000: slow down");
  fwd->step();
  clock_.advance(2999ms);
  fwd->step();
  EXPECT_EQ(district_.pending(), 0u);
  clock_.advance(1ms);
  fwd->step();
  EXPECT_EQ(district_.pending(), 1u);
}

TEST_F(ForwarderTest, RejectedBatchBecomesADeadLetterAndARetryResolvesIt) {
  store_.add_many(1, 20);
  auto fwd = open_district();
  fwd->step();
  district_.complete("gw1-district-1-10", DeliveryStatus::rejected, "http 400: missing field");
  district_.complete("gw1-district-11-20", DeliveryStatus::delivered);
  fwd->step();
  EXPECT_EQ(stored_cursor("district"), 20u) << "the cursor passes the dead letter";
  EXPECT_TRUE(fwd->dead_letter_alarm());
  EXPECT_EQ(stats_of(*fwd, "district").dead_letters, 1u);
  EXPECT_EQ(stats_of(*fwd, "district").batches_rejected, 1u);
  EXPECT_EQ(rows_in_store(), 20) << "a dead letter's records stay in the store";

  auto letters = list_dead_letters(dir_.file("outbox.db"));
  ASSERT_TRUE(letters);
  ASSERT_EQ(letters->size(), 1u);
  const DeadLetter& d = (*letters)[0];
  EXPECT_EQ(d.batch_id, "gw1-district-1-10");
  EXPECT_EQ(d.destination, "district");
  EXPECT_EQ(d.first_seq, 1u);
  EXPECT_EQ(d.last_seq, 10u);
  EXPECT_EQ(d.count, 10u);
  EXPECT_EQ(d.reason, "http 400: missing field");
  EXPECT_EQ(d.state, DeadLetterState::dead);
  EXPECT_EQ(d.created_ms, clock_.wall_ms());
  EXPECT_THAT(format_dead_letters(*letters), HasSubstr("gw1-district-1-10\thttp 400"));

  EXPECT_EQ(retry_dead_letter(dir_.file("outbox.db"), 999, 0).error().code, "not_found");
  auto queued = retry_dead_letter(dir_.file("outbox.db"), d.id, clock_.wall_ms());
  ASSERT_TRUE(queued) << queued.error().message;
  EXPECT_EQ(queued->state, DeadLetterState::retry_requested);
  EXPECT_EQ(retry_dead_letter(dir_.file("outbox.db"), d.id, 0).error().code, "not_dead");

  district_.clear_sent();
  fwd->step();
  ASSERT_EQ(district_.pending_ids(), Ids{"gw1-district-1-10-r1"});
  const auto resent = records_of(district_.sent()[0]);
  ASSERT_EQ(resent.size(), 10u);
  EXPECT_EQ(resent.front().seq, 1u);
  EXPECT_EQ(resent.back().seq, 10u);
  EXPECT_TRUE(fwd->dead_letter_alarm()) << "still open while the re-send is in flight";
  district_.complete_all(DeliveryStatus::delivered);
  fwd->step();
  EXPECT_FALSE(fwd->dead_letter_alarm());
  letters = list_dead_letters(dir_.file("outbox.db"), /*include_resolved=*/true);
  ASSERT_EQ(letters->size(), 1u);
  EXPECT_EQ((*letters)[0].state, DeadLetterState::resolved);
  EXPECT_EQ((*letters)[0].retries, 1);
  EXPECT_TRUE(list_dead_letters(dir_.file("outbox.db"))->empty());
}

TEST_F(ForwarderTest, ARetryRejectedAgainStaysDeadAndRetryAllQueuesItAgain) {
  store_.add_many(1, 10);
  auto fwd = open_district();
  fwd->step();
  district_.complete_all(DeliveryStatus::rejected, "http 422: bad amount");
  fwd->step();
  ASSERT_EQ(*retry_all_dead_letters(dir_.file("outbox.db"), 0), 1);
  fwd->step();
  district_.complete_all(DeliveryStatus::rejected, "http 400: still bad");
  fwd->step();
  auto letters = list_dead_letters(dir_.file("outbox.db"));
  ASSERT_EQ(letters->size(), 1u);
  EXPECT_EQ((*letters)[0].state, DeadLetterState::dead);
  EXPECT_EQ((*letters)[0].reason, "http 400: still bad");
  EXPECT_TRUE(fwd->dead_letter_alarm());
  ASSERT_EQ(*retry_all_dead_letters(dir_.file("outbox.db"), 0), 1);
  district_.clear_sent();
  fwd->step();
  EXPECT_EQ(district_.pending_ids(), Ids{"gw1-district-1-10-r2"});
  // A re-send that only meets retry_later keeps its place and backs off like any batch.
  district_.complete_all(DeliveryStatus::retry_later, "http 502");
  fwd->step();
  clock_.advance(500ms);
  fwd->step();
  EXPECT_EQ(district_.pending_ids(), Ids{"gw1-district-1-10-r2"});
}

TEST_F(ForwarderTest, RetryAllReSendsAWindowAtATime) {
  store_.add_many(1, 50);
  auto fwd = open_district();
  for (int i = 0; i < 3; ++i) {
    fwd->step();
    district_.complete_all(DeliveryStatus::rejected, "http 400: x");
  }
  fwd->step();
  ASSERT_EQ(list_dead_letters(dir_.file("outbox.db"))->size(), 5u);
  ASSERT_EQ(*retry_all_dead_letters(dir_.file("outbox.db"), 0), 5);
  fwd->step();
  EXPECT_EQ(district_.pending(), 3u) << "the link's window";
  int waiting = 0;
  // Held in a variable: a range-for over `*temporary` would iterate a destroyed vector.
  const auto letters = list_dead_letters(dir_.file("outbox.db"));
  ASSERT_TRUE(letters);
  for (const auto& d : *letters) {
    waiting += d.state == DeadLetterState::retry_requested ? 1 : 0;
  }
  EXPECT_EQ(waiting, 2);
  district_.complete_all(DeliveryStatus::delivered);
  fwd->step();
  EXPECT_EQ(district_.pending(), 2u);
  district_.complete_all(DeliveryStatus::delivered);
  fwd->step();
  EXPECT_FALSE(fwd->dead_letter_alarm());
}

TEST_F(ForwarderTest, DeadLetterRetryAfterARestart) {
  store_.add_many(1, 10);
  {
    auto fwd = open_district();
    fwd->step();
    district_.complete_all(DeliveryStatus::rejected, "http 400: x");
    fwd->step();
    ASSERT_EQ(*retry_all_dead_letters(dir_.file("outbox.db"), 0), 1);
    fwd->step();  // re-send recorded and in flight; then the gateway stops
    fwd->stop(0ms);
  }
  FakeLink again("district", 3);
  auto fwd = open({{"district", &again}});
  fwd->step();
  EXPECT_EQ(again.pending_ids(), Ids{"gw1-district-1-10-r1"});
  again.complete_all(DeliveryStatus::delivered);
  fwd->step();
  EXPECT_FALSE(fwd->dead_letter_alarm());
}

TEST_F(ForwarderTest, RoutesByRegionAndKind) {
  for (int i = 1; i <= 12; ++i) {
    const IssuerRegion region = i % 3 == 0 ? 51 : 50;
    store_.add(testing::txn(i, region, i == 12 ? CredentialType::other : CredentialType::card));
  }
  store_.flush();
  auto fwd = open({{"district", &district_}, {"crossprov", &crossprov_}});
  fwd->step();
  clock_.advance(200ms);
  fwd->step();
  std::set<std::uint64_t> d;
  std::set<std::uint64_t> c;
  for (const auto& b : district_.sent()) {
    for (const auto& r : records_of(b)) d.insert(r.seq);
  }
  for (const auto& b : crossprov_.sent()) {
    for (const auto& r : records_of(b)) {
      c.insert(r.seq);
      EXPECT_EQ(r.record.card.region, 51);
    }
  }
  EXPECT_EQ(c, (std::set<std::uint64_t>{3, 6, 9}));
  EXPECT_EQ(d, (std::set<std::uint64_t>{1, 2, 4, 5, 7, 8, 10, 11, 12}));
  EXPECT_EQ(crossprov_.sent_ids(), Ids{"gw1-crossprov-3-9"});
}

TEST_F(ForwarderTest, StatsReportBacklogLagAndState) {
  store_.add_many(1, 25, 50, clock_.wall_ms() - 5000);
  auto fwd = open_district();
  auto s = stats_of(*fwd, "district");
  EXPECT_EQ(s.backlog, 0u) << "not counted before the first pass";
  fwd->step();
  s = stats_of(*fwd, "district");
  EXPECT_EQ(s.state, DestinationState::sending);
  EXPECT_EQ(s.in_flight, 2u) << "two full batches; five records linger";
  EXPECT_EQ(s.backlog, 25u);
  EXPECT_EQ(s.lag_ms, 5000);
  EXPECT_EQ(s.last_ack_ms, 0);
  clock_.advance(1000ms);
  district_.complete_all(DeliveryStatus::delivered);
  fwd->step();
  s = stats_of(*fwd, "district");
  EXPECT_EQ(s.backlog, 5u);
  EXPECT_EQ(s.in_flight, 1u);
  EXPECT_EQ(s.lag_ms, 6000);
  district_.complete_all(DeliveryStatus::delivered);
  fwd->step();
  s = stats_of(*fwd, "district");
  EXPECT_EQ(s.backlog, 0u);
  EXPECT_EQ(s.lag_ms, 0);
  EXPECT_EQ(s.in_flight, 0u);
  EXPECT_EQ(s.state, DestinationState::idle);
  EXPECT_EQ(s.last_ack_ms, clock_.wall_ms());
  EXPECT_EQ(s.batches_delivered, 3u);
  EXPECT_EQ(stats_of(*fwd, "crossprov").state, DestinationState::no_link);
}

TEST_F(ForwarderTest, ADestinationWithoutALinkKeepsItsRecords) {
  store_.add_many(1, 5, 51, clock_.wall_ms() - 60'000);
  store_.add_many(6, 5, 50);
  auto fwd = open_district();
  fwd->step();
  clock_.advance(200ms);
  fwd->step();
  const auto s = stats_of(*fwd, "crossprov");
  EXPECT_EQ(s.state, DestinationState::no_link);
  EXPECT_EQ(s.backlog, 5u);
  EXPECT_EQ(s.lag_ms, 60'200);
  EXPECT_EQ(district_.sent_ids(), Ids{"gw1-district-6-10"});

  auto file_stats =
      outbox_stats(dir_.file("records.db"), dir_.file("outbox.db"), router(), clock_.wall_ms());
  ASSERT_TRUE(file_stats) << file_stats.error().message;
  ASSERT_EQ(file_stats->size(), 2u);
  EXPECT_EQ((*file_stats)[0].destination, "crossprov");
  EXPECT_EQ((*file_stats)[0].backlog, 5u);
  EXPECT_EQ((*file_stats)[0].lag_ms, 60'200);
  EXPECT_EQ((*file_stats)[1].destination, "district");
  EXPECT_EQ((*file_stats)[1].backlog, 5u);
  EXPECT_EQ((*file_stats)[1].open_batches, 1u);
  EXPECT_THAT(format_outbox_stats(*file_stats), HasSubstr("crossprov\t0\t5\t60\t0\t0"));
}

TEST_F(ForwarderTest, OpenFailsWithoutTheRecordStore) {
  ForwarderOptions o = options();
  o.records_db = dir_.file("missing.db");
  auto f = Forwarder::open(o, router(), {}, clock_, testing::quiet_log());
  ASSERT_FALSE(f);
  o = options();
  o.gateway_id.clear();
  EXPECT_FALSE(Forwarder::open(o, router(), {}, clock_, testing::quiet_log()));
}

// The threads: records committed while the forwarder runs all arrive, each in exactly one
// batch, and the cursor ends at the last row.
TEST_F(ForwarderTest, ThreadsDeliverEverythingOnce) {
  SystemClock clock;
  district_.set_auto_deliver(true);
  auto fwd = open({{"district", &district_}}, &clock);
  fwd->start();
  constexpr int kRecords = 5000;
  for (int i = 1; i <= kRecords; ++i) {
    store_.add(testing::txn(i));
    if (i % 500 == 0) {
      store_.flush();
      fwd->wake();
    }
  }
  store_.flush();
  const auto deadline = std::chrono::steady_clock::now() + 20s;
  while (stats_of(*fwd, "district").acked_seq < kRecords &&
         std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(10ms);
  }
  fwd->stop();
  EXPECT_EQ(stored_cursor("district"), static_cast<std::uint64_t>(kRecords));
  std::multiset<std::uint64_t> seen;
  for (const auto& b : district_.sent()) {
    for (const auto& r : records_of(b)) seen.insert(r.seq);
  }
  EXPECT_EQ(seen.size(), static_cast<std::size_t>(kRecords));
  EXPECT_EQ(std::set<std::uint64_t>(seen.begin(), seen.end()).size(), seen.size());
  EXPECT_EQ(stats_of(*fwd, "district").state, DestinationState::stopped);
}

// With threads, a batch's range is recorded before its payload is made on the compression
// thread. Stopped with batches in flight, the next start sends the same ranges under the same
// ids and bytes, then the rest, each record once.
TEST_F(ForwarderTest, CompressionBesideReadingKeepsIdsAndOrderAcrossAStop) {
  SystemClock clock;
  store_.add_many(1, 200);
  std::vector<Batch> first;
  {
    FakeLink slow("district", 4);
    auto fwd = open({{"district", &slow}}, &clock);
    fwd->start();
    const auto deadline = std::chrono::steady_clock::now() + 10s;
    while (slow.pending() < 4 && std::chrono::steady_clock::now() < deadline) {
      std::this_thread::sleep_for(2ms);
    }
    ASSERT_EQ(slow.pending(), 4u);
    fwd->stop(0ms);
    first = slow.sent();
  }
  ASSERT_EQ(first.size(), 4u);
  for (std::size_t i = 0; i < first.size(); ++i) {
    const auto lo = 10 * i + 1;
    EXPECT_EQ(first[i].id, "gw1-district-" + std::to_string(lo) + "-" + std::to_string(lo + 9));
    const auto records = records_of(first[i]);
    ASSERT_EQ(records.size(), 10u);
    EXPECT_EQ(records.front().seq, lo);
  }
  FakeLink again("district", 4);
  again.set_auto_deliver(true);
  auto fwd = open({{"district", &again}}, &clock);
  fwd->start();
  const auto deadline = std::chrono::steady_clock::now() + 20s;
  while (stats_of(*fwd, "district").acked_seq < 200 &&
         std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(5ms);
  }
  fwd->stop();
  EXPECT_EQ(stored_cursor("district"), 200u);
  const auto sent = again.sent();
  ASSERT_GE(sent.size(), 4u);
  std::set<std::string> resent;
  for (std::size_t i = 0; i < 4; ++i) resent.insert(sent[i].id);
  for (const auto& b : first) {
    EXPECT_TRUE(resent.contains(b.id)) << b.id;
    for (const auto& s : sent) {
      if (s.id == b.id) {
        EXPECT_EQ(s, b) << "same id, same records, same bytes";
      }
    }
  }
  std::multiset<std::uint64_t> seen;
  for (const auto& b : sent) {
    for (const auto& r : records_of(b)) seen.insert(r.seq);
  }
  EXPECT_EQ(seen.size(), 200u);
  EXPECT_EQ(std::set<std::uint64_t>(seen.begin(), seen.end()).size(), 200u);
}

// The destination's and the compression thread run at the configured nice value, so that a
// backlog drain yields to the threads that answer terminals; the caller's thread is untouched.
TEST_F(ForwarderTest, ThreadsRunAtTheConfiguredNiceValue) {
  SystemClock clock;
  errno = 0;
  const int own = getpriority(PRIO_PROCESS, static_cast<id_t>(gettid()));
  ForwarderOptions o = options();
  o.thread_nice = std::max(own, 6);
  auto f = Forwarder::open(o, router(), {{"district", &district_}}, clock, testing::quiet_log());
  ASSERT_TRUE(f) << f.error().message;
  auto fwd = std::move(f.value());
  fwd->start();
  // Thread name -> nice value, read from /proc for every thread of this process.
  std::map<std::string, int> nice_by_name;
  const auto deadline = std::chrono::steady_clock::now() + 5s;
  while (std::chrono::steady_clock::now() < deadline) {
    nice_by_name.clear();
    for (const auto& task : std::filesystem::directory_iterator("/proc/self/task")) {
      std::ifstream comm(task.path() / "comm");
      std::string name;
      std::getline(comm, name);
      const auto tid = static_cast<id_t>(std::stol(task.path().filename().string()));
      nice_by_name[name] = getpriority(PRIO_PROCESS, tid);
    }
    if (nice_by_name.count("fwd-district") && nice_by_name.count("fwd-gzip") &&
        nice_by_name["fwd-district"] == o.thread_nice &&
        nice_by_name["fwd-gzip"] == o.thread_nice) {
      break;
    }
    std::this_thread::sleep_for(10ms);
  }
  fwd->stop();
  EXPECT_EQ(nice_by_name["fwd-district"], o.thread_nice);
  EXPECT_EQ(nice_by_name["fwd-gzip"], o.thread_nice);
  EXPECT_EQ(getpriority(PRIO_PROCESS, static_cast<id_t>(gettid())), own);
}

TEST_F(ForwarderTest, StopWaitsForAnswersThenGivesUp) {
  SystemClock clock;
  store_.add_many(1, 30);
  auto fwd = open({{"district", &district_}}, &clock);
  fwd->start();
  const auto deadline = std::chrono::steady_clock::now() + 5s;
  while (district_.pending() < 3 && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(5ms);
  }
  ASSERT_EQ(district_.pending(), 3u);
  std::thread answer([&] {
    std::this_thread::sleep_for(50ms);
    district_.complete("gw1-district-1-10", DeliveryStatus::delivered);
  });
  const auto t0 = std::chrono::steady_clock::now();
  fwd->stop(300ms);
  const auto took = std::chrono::steady_clock::now() - t0;
  answer.join();
  EXPECT_GE(took, 250ms);
  EXPECT_LT(took, 2s);
  EXPECT_EQ(stored_cursor("district"), 10u) << "the answer that came in time was applied";
  fwd.reset();
  district_.complete_all(DeliveryStatus::delivered);  // too late: ignored, no crash

  FakeLink again("district", 3);
  auto next = open({{"district", &again}});
  next->step();
  EXPECT_EQ(again.pending_ids(), (Ids{"gw1-district-11-20", "gw1-district-21-30"}));
}

}  // namespace
}  // namespace yktgw::outbox
