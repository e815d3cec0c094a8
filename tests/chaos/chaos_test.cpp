// Chaos: faults while simulated terminals keep tapping and reporting records, with real parts
// only (Mosquitto, the yktgw binary, yktgw-sim as the terminals, ykt-platform-sim as the
// district platform, SQLite files). Each scenario is bounded in time; YKTGW_CHAOS_LONG=1 runs
// the longer mode of docs/RELIABILITY.md (20 kills, a 2-minute platform outage, longer load).
//
// What "nothing lost" means here: the simulator keeps every txn record until the gateway acks
// it and resends it until then, and ends with no record pending; the platform must then hold
// exactly as many distinct records from this gateway as the simulator created (each stored
// once, whatever was resent). After every scenario each SQLite file passes integrity_check.

#include <gtest/gtest.h>
#include <signal.h>
#include <sqlite3.h>
#include <sys/mount.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <random>
#include <set>
#include <sstream>
#include <thread>

#include "tests/integration/harness.h"

namespace yktgw::testing {
namespace {

using namespace std::chrono_literals;
using json = nlohmann::json;
using Steady = std::chrono::steady_clock;
namespace fs = std::filesystem;

const std::string kSite = "xiangkou";

bool long_mode() {
  const char* v = std::getenv("YKTGW_CHAOS_LONG");
  return v != nullptr && *v != '\0' && std::string(v) != "0";
}

std::size_t count_of(const std::string& text, const std::string& needle) {
  std::size_t n = 0;
  for (auto p = text.find(needle); p != std::string::npos; p = text.find(needle, p + 1)) ++n;
  return n;
}

std::string tail(const std::string& text, std::size_t bytes = 3000) {
  return text.size() <= bytes ? text : text.substr(text.size() - bytes);
}

template <class Pred>
bool eventually(Pred pred, std::chrono::milliseconds timeout,
                std::chrono::milliseconds step = 100ms) {
  const auto deadline = Steady::now() + timeout;
  for (;;) {
    if (pred()) return true;
    if (Steady::now() >= deadline) return false;
    std::this_thread::sleep_for(step);
  }
}

long long sqlite_value(const std::string& path, const std::string& sql) {
  sqlite3* db = nullptr;
  long long v = -1;
  if (sqlite3_open_v2(path.c_str(), &db, SQLITE_OPEN_READONLY, nullptr) == SQLITE_OK) {
    sqlite3_busy_timeout(db, 5000);
    sqlite3_stmt* st = nullptr;
    if (sqlite3_prepare_v2(db, sql.c_str(), -1, &st, nullptr) == SQLITE_OK &&
        sqlite3_step(st) == SQLITE_ROW) {
      v = sqlite3_column_int64(st, 0);
    }
    sqlite3_finalize(st);
  }
  sqlite3_close(db);
  return v;
}

// ---- the terminals: yktgw-sim in the background ----------------------------------------------

struct SimSummary {
  bool parsed = false;
  long long sent = 0, approved = 0, declined = 0, timeouts = 0;
  long long txn_sent = 0, txn_resent = 0, txn_acked = 0, txn_stored = 0, txn_duplicate = 0,
            txn_pending = 0, disconnects = 0;
  double p99_ms = 0;
  std::string raw;
};

class Load {
 public:
  Load(const std::string& uri, const std::string& out, int seconds, int terminals, int rate)
      : out_(out) {
    proc_ =
        Process::spawn({bin_dir() + "/yktgw-sim", "run", "--broker", uri, "--site", kSite,
                        "--terminals", std::to_string(terminals), "--rate", std::to_string(rate),
                        "--duration", std::to_string(seconds), "--txn-ratio", "1", "--resend-ms",
                        "1000", "--drain-s", "30", "--quiet"},
                       out_);
  }

  SimSummary finish(std::chrono::seconds timeout) {
    SimSummary s;
    if (!proc_.wait(timeout)) {
      proc_.stop();
      s.raw = "simulator did not finish in time";
      return s;
    }
    s.raw = read_file(out_);
    std::istringstream in(s.raw);
    std::string line;
    while (std::getline(in, line)) {
      if (line.empty() || line[0] != '{') continue;
      auto j = json::parse(line, nullptr, false);
      if (!j.is_object() || !j.contains("txn_acked")) continue;
      s.parsed = true;
      s.sent = j.value("sent", 0LL);
      s.approved = j.value("approved", 0LL);
      s.declined = j.value("declined", 0LL);
      s.timeouts = j.value("timeouts", 0LL);
      s.txn_sent = j.value("txn_sent", 0LL);
      s.txn_resent = j.value("txn_resent", 0LL);
      s.txn_acked = j.value("txn_acked", 0LL);
      s.txn_stored = j.value("txn_stored", 0LL);
      s.txn_duplicate = j.value("txn_duplicate", 0LL);
      s.txn_pending = j.value("txn_pending", 0LL);
      s.disconnects = j.value("disconnects", 0LL);
      s.p99_ms = j["rtt_ms"].value("p99", 0.0);
    }
    return s;
  }

 private:
  std::string out_;
  Process proc_;
};

// ---- the fixture -------------------------------------------------------------------------------

class Chaos : public ::testing::Test {
 protected:
  void SetUp() override {
    const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
    dir_ = make_temp_dir(std::string("chaos-") + info->name());
    fs::create_directories(dir_ + "/broker");
    fs::create_directories(dir_ + "/gw");
    broker_ = std::make_unique<Broker>(dir_ + "/broker");
    files_ = write_gateway_config(dir_ + "/gw", broker_->uri(), kSite);
    platform_ = std::make_unique<DistrictPlatform>(dir_ + "/platform", files_.key_file);
  }

  void TearDown() override {
    gateway_.reset();
    platform_.reset();
    broker_.reset();
  }

  void configure(const std::string& extra_toml = "") {
    files_ = write_gateway_config(dir_ + "/gw", broker_->uri(), kSite,
                                  platform_->gateway_toml() + extra_toml);
  }

  // Starts the gateway (again) and waits for its next "mqtt connected".
  ::testing::AssertionResult start_gateway(std::vector<std::string> env = {}) {
    const std::size_t before = count_of(read_file(files_.log), "mqtt connected");
    for (const auto& e : env) putenv(const_cast<char*>(e.c_str()));
    gateway_ = std::make_unique<Gateway>(files_);
    for (const auto& e : env) unsetenv(e.substr(0, e.find('=')).c_str());
    if (!eventually(
            [&] {
              return count_of(read_file(files_.log), "mqtt connected") > before ||
                     !gateway_->process().running();
            },
            20s, 20ms) ||
        !gateway_->process().running()) {
      return ::testing::AssertionFailure() << "gateway did not connect\n"
                                           << tail(read_file(files_.log));
    }
    return ::testing::AssertionSuccess();
  }

  // Waits until the platform holds `n` distinct records of this gateway.
  bool wait_platform(long long n, std::chrono::seconds timeout) {
    return eventually([&] { return platform_->count().first >= n; }, timeout, 250ms);
  }

  void expect_databases_intact() {
    for (const std::string& d : {files_.data_dir, dir_ + "/platform"}) {
      const auto results = integrity_of_databases(d);
      EXPECT_FALSE(results.empty()) << "no database in " << d;
      for (const auto& [file, result] : results) EXPECT_EQ(result, "ok") << d << "/" << file;
    }
  }

  // Checks the simulator's end state against the platform and prints the figures.
  void expect_nothing_lost(const SimSummary& s, const std::string& scenario) {
    ASSERT_TRUE(s.parsed) << tail(s.raw);
    EXPECT_EQ(s.txn_pending, 0) << "records never acked";
    EXPECT_EQ(s.txn_acked, s.txn_sent);
    EXPECT_GT(s.txn_sent, 0);
    ASSERT_TRUE(wait_platform(s.txn_sent, 90s))
        << platform_->count().first << " of " << s.txn_sent << " at the platform\n"
        << tail(read_file(files_.log));
    // A little longer: anything beyond the records the terminals created would be a defect.
    std::this_thread::sleep_for(500ms);
    const auto [unique, duplicates] = platform_->count();
    EXPECT_EQ(unique, s.txn_sent) << "distinct records at the platform";
    std::printf(
        "%s: %lld requests (p99 %.1f ms, %lld timed out), %lld records created, %lld resent, "
        "%lld acked (%lld as duplicate), platform %lld distinct + %lld duplicate receptions\n",
        scenario.c_str(), s.sent, s.p99_ms, s.timeouts, s.txn_sent, s.txn_resent, s.txn_acked,
        s.txn_duplicate, unique, duplicates);
    last_duplicates_ = duplicates;
  }

  std::string dir_;
  std::unique_ptr<Broker> broker_;
  GatewayFiles files_;
  std::unique_ptr<DistrictPlatform> platform_;
  std::unique_ptr<Gateway> gateway_;
  long long last_duplicates_ = 0;
};

// ---- kill -9 ----------------------------------------------------------------------------------

TEST_F(Chaos, KillNineAtRandomMomentsLosesNoAckedRecord) {
  const int kills = long_mode() ? 20 : 4;
  const int seconds = long_mode() ? 60 : 10;
  configure();
  ASSERT_TRUE(start_gateway());
  Load load(broker_->uri(), dir_ + "/sim.out", seconds, 8, 200);

  std::mt19937 rng(std::random_device{}());
  const double gap_s = static_cast<double>(seconds) / kills;
  std::uniform_real_distribution<double> wait(0.2 * gap_s, 0.8 * gap_s);
  std::vector<double> downtime_ms;
  for (int k = 0; k < kills; ++k) {
    std::this_thread::sleep_for(std::chrono::duration<double>(wait(rng)));
    gateway_->process().signal(SIGKILL);
    auto code = gateway_->process().wait(5s);
    ASSERT_TRUE(code.has_value());
    EXPECT_EQ(*code, 128 + SIGKILL);
    const auto down = Steady::now();
    ASSERT_TRUE(start_gateway()) << "restart " << k + 1;
    downtime_ms.push_back(std::chrono::duration<double, std::milli>(Steady::now() - down).count());
  }
  const SimSummary s = load.finish(std::chrono::seconds(seconds + 60));
  ASSERT_NO_FATAL_FAILURE(expect_nothing_lost(s, std::to_string(kills) + " kills"));
  std::sort(downtime_ms.begin(), downtime_ms.end());
  std::printf("kill -9 x%d: restart to connected median %.0f ms, max %.0f ms\n", kills,
              downtime_ms[downtime_ms.size() / 2], downtime_ms.back());
  // Duplicates are expected only from kills: a record stored but not yet acked is resent and
  // acked "duplicate"; a batch the platform stored but whose ack died with the gateway is sent
  // again. Bound: what the gateway can have in flight when it dies, per kill.
  EXPECT_LE(s.txn_duplicate, static_cast<long long>(kills) * 8 * 200);
  EXPECT_LE(last_duplicates_, static_cast<long long>(kills) * 8 * 500);
  gateway_.reset();
  expect_databases_intact();
}

// ---- the broker -------------------------------------------------------------------------------

TEST_F(Chaos, BrokerKilledAndRestartedTerminalsResendsAreAbsorbed) {
  const int seconds = long_mode() ? 40 : 10;
  configure();
  ASSERT_TRUE(start_gateway());
  Load load(broker_->uri(), dir_ + "/sim.out", seconds, 8, 200);
  const int outages = long_mode() ? 4 : 1;
  for (int i = 0; i < outages; ++i) {
    std::this_thread::sleep_for(std::chrono::seconds(seconds / (outages + 1)));
    const std::size_t before = count_of(read_file(files_.log), "mqtt connected");
    broker_->kill();
    std::this_thread::sleep_for(2s);
    broker_->restart();
    // The gateway reconnects and subscribes again (the broker kept no session: persistence off).
    EXPECT_TRUE(
        eventually([&] { return count_of(read_file(files_.log), "mqtt connected") > before; }, 30s))
        << tail(read_file(files_.log));
  }
  const SimSummary s = load.finish(std::chrono::seconds(seconds + 60));
  ASSERT_NO_FATAL_FAILURE(expect_nothing_lost(s, "broker restarted"));
  EXPECT_GT(s.disconnects, 0) << "the terminals never noticed the broker going away";
  // Answers still flow after the last restart.
  TestClient c(broker_->uri(), "ct-after", {"ykt/v1/" + kSite + "/ct-after/auth/resp"});
  c.publish("ykt/v1/" + kSite + "/ct-after/auth/req",
            auth_req_json("ct-after", "after", citizen_number("50015619900101123")));
  EXPECT_TRUE(c.wait_for([](const Received&) { return true; }, 10s).has_value());
  gateway_.reset();
  expect_databases_intact();
}

// ---- the platform -----------------------------------------------------------------------------

TEST_F(Chaos, PlatformDownThenBackBacklogDrainsInOrder) {
  const int outage_s = long_mode() ? 120 : 6;
  const int seconds = outage_s + 6;
  configure();
  ASSERT_TRUE(start_gateway());
  Load load(broker_->uri(), dir_ + "/sim.out", seconds, 8, 200);
  std::this_thread::sleep_for(2s);
  platform_->kill();
  const long long at_platform_before = platform_->count().first;
  std::this_thread::sleep_for(std::chrono::seconds(outage_s));
  std::string stats;
  run_command({bin_dir() + "/yktgw", "--config", files_.config, "outbox", "stats"}, &stats);
  const auto up = Steady::now();
  platform_->start();
  const SimSummary s = load.finish(std::chrono::seconds(seconds + 60));
  ASSERT_NO_FATAL_FAILURE(
      expect_nothing_lost(s, "platform down " + std::to_string(outage_s) + " s"));
  std::printf("platform outage %d s: outbox before it came back:\n%s\ndrained %.1f s after\n",
              outage_s, stats.c_str(), std::chrono::duration<double>(Steady::now() - up).count());
  EXPECT_NE(stats.find("district"), std::string::npos) << stats;
  // Arrival order: the district link is one pipe, so records arrive in the gateway's order.
  const long long out_of_order = sqlite_value(
      platform_->db(),
      "SELECT count(*) FROM (SELECT seq, lag(seq) OVER (ORDER BY rowid) AS prev FROM received "
      "WHERE platform = 'district') WHERE prev IS NOT NULL AND seq <= prev");
  EXPECT_EQ(out_of_order, 0);
  EXPECT_GT(s.txn_sent, at_platform_before);
  gateway_.reset();
  expect_databases_intact();
}

// ---- disk full --------------------------------------------------------------------------------

TEST_F(Chaos, DiskFullStopsAcksWithAnAlarmAndResumesWhenSpaceFrees) {
  fs::create_directories(files_.data_dir);
  if (mount("tmpfs", files_.data_dir.c_str(), "tmpfs", 0, "size=24m,mode=0750") != 0) {
    GTEST_SKIP() << "cannot mount a tmpfs on the data directory (" << std::strerror(errno)
                 << "); run as root with CAP_SYS_ADMIN for the disk-full scenario";
  }
  struct Unmount {
    std::string path;
    ~Unmount() { umount2(path.c_str(), MNT_DETACH); }
  } unmount{files_.data_dir};
  configure();
  ASSERT_TRUE(start_gateway());
  TestClient t(broker_->uri(), "ct-disk", {"ykt/v1/" + kSite + "/ct-disk/txn/ack"});
  const std::string card = citizen_number("50015619900101123");
  auto acked = [&](const std::string& id, std::chrono::milliseconds within) {
    return t
        .wait_for([&](const Received& m) { return m.payload.find(id) != std::string::npos; },
                  within)
        .has_value();
  };
  t.publish("ykt/v1/" + kSite + "/ct-disk/txn", txn_json("ct-disk", "ct-disk:1", card));
  ASSERT_TRUE(acked("ct-disk:1", 5s));

  // Fill the file system to the last byte.
  const std::string ballast = files_.data_dir + "/ballast";
  {
    std::ofstream out(ballast, std::ios::binary);
    const std::string block(1 << 16, '\0');
    while (out.write(block.data(), static_cast<std::streamsize>(block.size()))) {
    }
  }
  {
    std::ofstream out(ballast + "-tail", std::ios::binary);
    while (out.put('\0')) {
    }
  }
  // Acks stop: a burst of records needs new pages, which cannot be written; those records are
  // not acked (the terminal keeps them) and the gateway says why. Some may still be acked if
  // they fit into space SQLite already holds (a reused WAL): an ack always means committed.
  const std::size_t alarms_before = count_of(read_file(files_.log), "disk is full");
  constexpr int kBurst = 300;
  auto id_of = [](int i) { return "ct-disk:f" + std::to_string(i); };
  for (int i = 0; i < kBurst; ++i) {
    t.publish("ykt/v1/" + kSite + "/ct-disk/txn", txn_json("ct-disk", id_of(i), card));
  }
  std::this_thread::sleep_for(3s);
  std::set<std::string> acked_ids;
  auto collect = [&] {
    for (const auto& m : t.drain()) {
      auto j = json::parse(m.payload, nullptr, false);
      if (j.is_object() && j.value("status", "") != "rejected")
        acked_ids.insert(j.value("txn_id", ""));
    }
  };
  collect();
  const std::size_t acked_while_full = acked_ids.size();
  EXPECT_LT(acked_while_full, static_cast<std::size_t>(kBurst)) << "acks did not stop";
  EXPECT_TRUE(gateway_->process().running()) << tail(read_file(files_.log));
  EXPECT_GT(count_of(read_file(files_.log), "disk is full"), alarms_before)
      << tail(read_file(files_.log));
  // Auth requests are still answered.
  TestClient a(broker_->uri(), "ct-auth", {"ykt/v1/" + kSite + "/ct-auth/auth/resp"});
  a.publish("ykt/v1/" + kSite + "/ct-auth/auth/req", auth_req_json("ct-auth", "full", card));
  EXPECT_TRUE(a.wait_for([](const Received&) { return true; }, 5s).has_value());

  // Space frees: the terminal resends what was not acked, and all of it is acked.
  fs::remove(ballast);
  fs::remove(ballast + "-tail");
  for (int attempt = 0; attempt < 20 && acked_ids.size() < kBurst; ++attempt) {
    for (int i = 0; i < kBurst; ++i) {
      if (!acked_ids.count(id_of(i))) {
        t.publish("ykt/v1/" + kSite + "/ct-disk/txn", txn_json("ct-disk", id_of(i), card));
      }
    }
    std::this_thread::sleep_for(1s);
    collect();
  }
  std::printf(
      "disk full: %zu of %d records acked while full, all %zu acked after space came back\n",
      acked_while_full, kBurst, acked_ids.size());
  EXPECT_EQ(acked_ids.size(), static_cast<std::size_t>(kBurst)) << tail(read_file(files_.log));
  EXPECT_EQ(sqlite_value(files_.data_dir + "/records.db",
                         "SELECT count(*) FROM txn WHERE terminal = 'ct-disk'"),
            kBurst + 1);
  EXPECT_TRUE(wait_platform(kBurst + 1, 30s));
  gateway_.reset();
  expect_databases_intact();
}

// ---- wall-clock jumps ---------------------------------------------------------------------------

TEST_F(Chaos, WallClockJumpsOfAnHourKeepTimersAndForwardingGoing) {
  const std::string lib = "/usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1";
  if (!fs::exists(lib)) GTEST_SKIP() << "libfaketime not installed (Debian package faketime)";
  // The offset is read from a file on every call, so the test moves the gateway's wall clock
  // while it runs; CLOCK_MONOTONIC is left alone, as the kernel would.
  const std::string rc = dir_ + "/faketime.rc";
  write_file(rc, "+0\n");
  configure();
  ASSERT_TRUE(start_gateway({"LD_PRELOAD=" + lib, "FAKETIME_TIMESTAMP_FILE=" + rc,
                             "FAKETIME_NO_CACHE=1", "FAKETIME_DONT_FAKE_MONOTONIC=1"}));
  TestClient t(
      broker_->uri(), "ct-clock",
      {"ykt/v1/" + kSite + "/ct-clock/auth/resp", "ykt/v1/" + kSite + "/ct-clock/txn/ack"});
  const std::string card = citizen_number("50015619900101123");
  int n = 0;
  long long forwarded = 0;
  for (const auto& [offset, label] : std::vector<std::pair<std::string, std::string>>{
           {"+0", "no offset"}, {"+3600", "+1 h"}, {"-3600", "-1 h"}, {"+0", "back"}}) {
    write_file(rc, offset + "\n");
    std::this_thread::sleep_for(300ms);
    // Requests are answered promptly.
    const auto t0 = Steady::now();
    const std::string req = "clk-" + std::to_string(++n);
    t.publish("ykt/v1/" + kSite + "/ct-clock/auth/req", auth_req_json("ct-clock", req, card));
    EXPECT_TRUE(
        t.wait_for([&](const Received& m) { return m.payload.find(req) != std::string::npos; }, 5s))
        << label;
    const double rtt_ms = std::chrono::duration<double, std::milli>(Steady::now() - t0).count();
    // Records are stored, acked and forwarded: the batch linger, retry and heartbeat timers run
    // on the monotonic clock and do not stall or fire early when the wall clock jumps.
    const std::string id = "ct-clock:" + std::to_string(n);
    const auto wall_before = std::chrono::duration_cast<std::chrono::milliseconds>(
                                 std::chrono::system_clock::now().time_since_epoch())
                                 .count();
    t.publish("ykt/v1/" + kSite + "/ct-clock/txn", txn_json("ct-clock", id, card));
    EXPECT_TRUE(
        t.wait_for([&](const Received& m) { return m.payload.find(id) != std::string::npos; }, 5s))
        << label;
    ++forwarded;
    const auto f0 = Steady::now();
    EXPECT_TRUE(wait_platform(forwarded, 15s)) << label << "\n" << tail(read_file(files_.log));
    const double fwd_ms = std::chrono::duration<double, std::milli>(Steady::now() - f0).count();
    // The jump is real: the gateway stamped the record with its (shifted) wall clock.
    const long long received = sqlite_value(
        files_.data_dir + "/records.db", "SELECT received_ms FROM txn WHERE txn_id = '" + id + "'");
    const long long shift_s = (received - wall_before) / 1000;
    std::printf(
        "clock %s: auth round trip %.1f ms, record at the platform %.0f ms after its ack, "
        "gateway wall clock shifted by %lld s\n",
        label.c_str(), rtt_ms, fwd_ms, shift_s);
    EXPECT_NEAR(static_cast<double>(shift_s), std::stod(offset), 5.0) << label;
  }
  EXPECT_TRUE(gateway_->process().running());
  gateway_.reset();
  expect_databases_intact();
}

}  // namespace
}  // namespace yktgw::testing
