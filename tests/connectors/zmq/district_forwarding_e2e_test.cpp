// The whole district path on loopback with the real parts: the record store fills records.db,
// the Forwarder batches from it, DistrictLink carries the batches over CURVE to the real
// ykt-platform-sim binary, which drops acks and fails batches on purpose and deduplicates into
// its SQLite file. Checks the promise of issue 4 for the district: every record arrives exactly
// once in effect, and the only duplicates are the re-sends of batches whose ack was dropped.

#include <gtest/gtest.h>
#include <sqlite3.h>

#include <regex>
#include <set>
#include <sstream>
#include <thread>

#include "connectors/zmq/curve_keys.h"
#include "connectors/zmq/district_link.h"
#include "gateway/outbox/forwarder.h"
#include "gateway/outbox/outbox_config.h"
#include "terminals_sim/platform_https/received_store.h"
#include "tests/gateway/outbox/outbox_test_util.h"
#include "tests/integration/harness.h"

namespace yktgw {
namespace {

using namespace std::chrono_literals;
namespace t = yktgw::testing;

constexpr char kGateway[] = "wl-e2e-01";

std::uint64_t logged(const std::string& log, const std::string& key) {
  std::smatch m;
  const std::regex re("batches platform=district .*\\b" + key + "=([0-9]+)");
  if (!std::regex_search(log, m, re)) {
    ADD_FAILURE() << "no " << key << " in the platform's final log line";
    return 0;
  }
  return std::stoull(m[1]);
}

class DistrictForwardingE2E : public ::testing::Test {
 protected:
  DistrictForwardingE2E() : dir_(t::make_temp_dir("district-e2e")) {}

  void start_platform(const std::vector<std::string>& faults) {
    const auto keys = district::generate_curve_keypair().value();
    server_public_ = keys.public_key;
    ASSERT_TRUE(district::write_curve_key_file(dir_ + "/server.key", keys, true));
    t::write_file(dir_ + "/hmac.key", t::read_file(t::source_dir() + "/config/dev-keys/hmac.key"),
                  0600);
    zmq_port_ = t::free_port();
    std::vector<std::string> argv = {t::bin_dir() + "/ykt-platform-sim",
                                     "serve",
                                     "--zmq",
                                     "tcp://127.0.0.1:" + std::to_string(zmq_port_),
                                     "--server-key-file",
                                     dir_ + "/server.key",
                                     "--hmac-key-file",
                                     dir_ + "/hmac.key",
                                     "--http",
                                     "off",
                                     "--cards",
                                     "50",
                                     "--db",
                                     dir_ + "/platform.db"};
    argv.insert(argv.end(), faults.begin(), faults.end());
    platform_ = t::Process::spawn(argv, dir_ + "/platform.log");
  }

  void start_link() {
    district::DistrictLinkOptions o;
    o.endpoint = "tcp://127.0.0.1:" + std::to_string(zmq_port_);
    o.server_public_key = server_public_;
    o.client_keys = district::generate_curve_keypair().value();
    o.gateway_id = kGateway;
    o.heartbeat_interval = 100ms;
    o.heartbeat_timeout = 1000ms;
    o.batch_max_inflight = 8;
    // Long enough that an ack the platform did send is never late on a busy test machine, so
    // every re-send can be traced to a dropped ack; short enough to keep the test quick.
    o.batch_timeout = 1500ms;
    auto link = district::DistrictLink::start(o, clock_, t::quiet_log("district"));
    ASSERT_TRUE(link) << link.error().message;
    link_ = std::move(*link);
    for (int i = 0; i < 500 && !link_->up(); ++i) std::this_thread::sleep_for(10ms);
    ASSERT_TRUE(link_->up()) << t::read_file(dir_ + "/platform.log");
  }

  void start_forwarder() {
    outbox::ForwarderOptions o;
    o.records_db = dir_ + "/records.db";
    o.outbox_db = dir_ + "/outbox.db";
    o.gateway_id = kGateway;
    o.limits = outbox::BatchLimits{200, 262'144, 20ms};
    o.retry_min = 20ms;
    o.retry_max = 300ms;
    o.stats_interval = 100ms;
    auto f = outbox::Forwarder::open(o, outbox::Router(*outbox::route_table_from(UpstreamConfig{})),
                                     {{"district", link_.get()}}, clock_, t::quiet_log("fwd"));
    ASSERT_TRUE(f) << f.error().message;
    forwarder_ = std::move(*f);
    forwarder_->start();
  }

  outbox::DestinationStats district() const {
    for (const auto& s : forwarder_->stats()) {
      if (s.destination == "district") return s;
    }
    return {};
  }

  bool wait_for_cursor(std::uint64_t seq, std::chrono::seconds limit) {
    const auto deadline = std::chrono::steady_clock::now() + limit;
    while (std::chrono::steady_clock::now() < deadline) {
      if (district().acked_seq >= seq) return true;
      std::this_thread::sleep_for(20ms);
    }
    return false;
  }

  // Σ (times − 1) and Σ (times − 1) × records over the batches the platform stored: every
  // re-store of a batch under the same id, and the duplicate records it brought.
  std::pair<std::uint64_t, std::uint64_t> restores() {
    sqlite3* db = nullptr;
    EXPECT_EQ(sqlite3_open_v2((dir_ + "/platform.db").c_str(), &db, SQLITE_OPEN_READONLY, nullptr),
              SQLITE_OK);
    sqlite3_stmt* st = nullptr;
    EXPECT_EQ(sqlite3_prepare_v2(db,
                                 "SELECT COALESCE(SUM(times - 1), 0), "
                                 "COALESCE(SUM((times - 1) * records), 0) FROM received_batch "
                                 "WHERE platform = 'district'",
                                 -1, &st, nullptr),
              SQLITE_OK);
    EXPECT_EQ(sqlite3_step(st), SQLITE_ROW);
    const auto out = std::make_pair(static_cast<std::uint64_t>(sqlite3_column_int64(st, 0)),
                                    static_cast<std::uint64_t>(sqlite3_column_int64(st, 1)));
    sqlite3_finalize(st);
    sqlite3_close(db);
    return out;
  }

  void TearDown() override {
    if (forwarder_) forwarder_->stop(1s);
    forwarder_.reset();
    link_.reset();
    platform_.stop(5000ms);
  }

  std::string dir_;
  SystemClock clock_;
  std::string server_public_;
  int zmq_port_ = 0;
  t::Process platform_;
  std::unique_ptr<district::DistrictLink> link_;
  std::unique_ptr<outbox::Forwarder> forwarder_;
};

TEST_F(DistrictForwardingE2E, TenThousandRecordsArriveOnceThroughDroppedAcksAnd500s) {
  start_platform({"--drop-acks", "0.2", "--fail-500", "0.1", "--fault-seed", "20240611"});
  start_link();
  constexpr int kRecords = 10'000;
  {
    t::StoreFixture store(dir_ + "/records.db");
    store.add_many(1, kRecords, 50, clock_.wall_ms());  // region 50: the district's
  }
  start_forwarder();
  ASSERT_TRUE(wait_for_cursor(kRecords, 180s))
      << "cursor=" << district().acked_seq << " " << district().last_error;
  EXPECT_EQ(district().backlog, 0u);
  EXPECT_EQ(district().dead_letters, 0u) << "500s are retried, never dead letters";
  EXPECT_GT(district().retries, 0u);
  forwarder_->stop(1s);
  // Any ack still on its way is for a batch the cursor has passed; let it land before counting.
  std::this_thread::sleep_for(300ms);
  const auto link_stats = link_->stats();
  link_.reset();
  ASSERT_EQ(platform_.stop(5000ms), 0);
  const std::string log = t::read_file(dir_ + "/platform.log");

  // What the operator would run.
  std::string out;
  ASSERT_EQ(t::run_command(
                {t::bin_dir() + "/ykt-platform-sim", "count", "--db", dir_ + "/platform.db"}, &out),
            0)
      << out;
  std::uint64_t unique = 0;
  std::uint64_t duplicates = 0;
  std::istringstream lines(out);
  std::string line;
  int rows = 0;
  while (std::getline(lines, line)) {
    std::istringstream fields(line);
    std::string platform;
    std::string gateway;
    if (!(fields >> platform >> gateway) || platform == "platform") continue;
    ++rows;
    EXPECT_EQ(platform, "district");
    EXPECT_EQ(gateway, kGateway);
    fields >> unique >> duplicates;
  }
  EXPECT_EQ(rows, 1) << out;
  EXPECT_EQ(unique, static_cast<std::uint64_t>(kRecords)) << out;

  // Nothing missing, nothing stored twice.
  auto received = platform::ReceivedStore::open(dir_ + "/platform.db");
  ASSERT_TRUE(received);
  const auto ids = received->txn_ids("district", kGateway).value();
  const std::set<std::string> distinct(ids.begin(), ids.end());
  EXPECT_EQ(distinct.size(), ids.size());
  for (int i = 1; i <= kRecords; ++i) {
    if (!distinct.contains("ct:" + std::to_string(i))) {
      ADD_FAILURE() << "missing txn ct:" << i;
      break;
    }
  }

  // Duplicates only from dropped acks: every duplicate record came with a re-store of a whole
  // batch under its own id, and every re-store followed an ack the platform dropped (or, on a
  // machine slow enough to miss the timeout, one that arrived late).
  const std::uint64_t dropped = logged(log, "dropped_acks");
  const std::uint64_t failed = logged(log, "injected_500");
  const auto [again, again_records] = restores();
  EXPECT_GT(dropped, 0u) << log;
  EXPECT_GT(failed, 0u) << log;
  EXPECT_GT(duplicates, 0u);
  EXPECT_EQ(duplicates, again_records) << "a duplicate that is not a re-sent batch";
  EXPECT_GE(again, dropped) << "a dropped ack whose batch was never sent again";
  EXPECT_LE(again, dropped + link_stats.late_batch_acks);
  EXPECT_EQ(logged(log, "invalid"), 0u);
}

}  // namespace
}  // namespace yktgw
