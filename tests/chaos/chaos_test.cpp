// Chaos: faults while simulated terminals keep tapping and reporting records, with real parts
// only (Mosquitto, the yktgw binary, yktgw-sim as the terminals, ykt-platform-sim as the
// district platform, SQLite files). Each scenario is bounded in time; YKTGW_CHAOS_LONG=1 runs
// the longer mode of docs/RELIABILITY.md (the 20 kills over a longer load, a 2-minute platform
// outage, longer load elsewhere).
//
// What "nothing lost" means here: the simulator keeps every txn record until the gateway acks
// it and resends it until then, and ends with no record pending; the platform must then hold
// exactly as many distinct records from this gateway as the simulator created (each stored
// once, whatever was resent). After every scenario each SQLite file passes integrity_check.

#include <gtest/gtest.h>
#include <httplib.h>
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
#include <optional>
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

// Records the district platform stored after one with a higher sequence number; -1 when its
// database cannot be read.
long long district_out_of_order(const std::string& platform_db) {
  return sqlite_value(
      platform_db,
      "SELECT count(*) FROM (SELECT seq, lag(seq) OVER (ORDER BY rowid) AS prev FROM received "
      "WHERE platform = 'district') WHERE prev IS NOT NULL AND seq <= prev");
}

// The codes of the alarms the gateway's status API shows; none when it does not answer.
std::set<std::string> alarm_codes(httplib::Client& http) {
  std::set<std::string> codes;
  if (auto r = http.Get("/api/v1/status"); r && r->status == 200) {
    const json j = json::parse(r->body, nullptr, false);
    if (j.is_object() && j.contains("alarms")) {
      for (const auto& a : j["alarms"]) codes.insert(a.value("code", ""));
    }
  }
  return codes;
}

// What DiskQuota counts (gateway/outbox/disk_quota.h), read from outside the gateway: what the
// files keep (the pages of records.db that hold data, outbox.db) and the WAL files.
struct QuotaUsage {
  long long kept = 0;
  long long wal = 0;
};

QuotaUsage quota_usage(const std::string& data_dir) {
  const std::string records = data_dir + "/records.db";
  const long long pages = sqlite_value(records, "PRAGMA page_count");
  const long long free_pages = sqlite_value(records, "PRAGMA freelist_count");
  const long long page_size = sqlite_value(records, "PRAGMA page_size");
  return QuotaUsage{
      (pages - free_pages) * page_size + file_size_or_zero(data_dir + "/outbox.db"),
      file_size_or_zero(records + "-wal") + file_size_or_zero(data_dir + "/outbox.db-wal")};
}

// The gateway's wall clock under libfaketime (Debian package faketime): the offset is read from
// a file on every call, so a test moves the clock while the gateway runs; CLOCK_MONOTONIC is
// left alone, as the kernel would.
class FakeWallClock {
 public:
  static constexpr const char* kLib = "/usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1";
  static bool available() { return fs::exists(kLib); }

  explicit FakeWallClock(std::string rc_file) : rc_(std::move(rc_file)) { set(0); }
  // The environment that starts the gateway under this clock.
  std::vector<std::string> env() const {
    std::vector<std::string> e{std::string("LD_PRELOAD=") + kLib, "FAKETIME_TIMESTAMP_FILE=" + rc_,
                               "FAKETIME_NO_CACHE=1", "FAKETIME_DONT_FAKE_MONOTONIC=1"};
#if defined(__SANITIZE_ADDRESS__)
    // An ASan build (tests/sanitizers.sh) insists on its runtime coming first among the loaded
    // libraries; the preloaded libfaketime comes before it, which is harmless here.
    const char* asan = std::getenv("ASAN_OPTIONS");
    e.push_back(std::string("ASAN_OPTIONS=") + (asan ? std::string(asan) + ":" : "") +
                "verify_asan_link_order=0");
#endif
    return e;
  }
  // The gateway's wall clock reads real time plus `offset_s`.
  void set(long long offset_s) {
    write_file(rc_, (offset_s < 0 ? "" : "+") + std::to_string(offset_s) + "\n");
    offset_s_ = offset_s;
    // The next request must see the new offset: libfaketime rereads the file per call, this is
    // only the margin for a write racing a read.
    std::this_thread::sleep_for(std::chrono::milliseconds(300));
  }
  long long offset_s() const { return offset_s_; }

 private:
  std::string rc_;
  long long offset_s_ = 0;
};

long long real_now_s() {
  return std::chrono::duration_cast<std::chrono::seconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

// Shanghai days since 1970 (UTC+8, the day turns at 16:00 UTC), as the policies count them.
long long shanghai_day_of(long long utc_s) {
  constexpr long long kDay = 86400, kShanghai = 8 * 3600;
  return (utc_s + kShanghai) / kDay;
}

// The offset that puts a clock `minutes` past the next Shanghai midnight.
long long offset_to_after_next_midnight(int minutes) {
  constexpr long long kDay = 86400, kShanghai = 8 * 3600;
  const long long now = real_now_s();
  const long long next_midnight = (shanghai_day_of(now) + 1) * kDay - kShanghai;
  return next_midnight + minutes * 60LL - now;
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
  // `drain_s`: how long the simulator waits after the load for the last acks. It waits that
  // long whenever a request went unanswered (the gateway or the broker was away), so a
  // scenario with such gaps keeps it short, yet well past the resend backoff.
  Load(const std::string& uri, const std::string& out, int seconds, int terminals, int rate,
       int drain_s = 30)
      : out_(out) {
    proc_ =
        Process::spawn({bin_dir() + "/yktgw-sim", "run", "--broker", uri, "--site", kSite,
                        "--terminals", std::to_string(terminals), "--rate", std::to_string(rate),
                        "--duration", std::to_string(seconds), "--txn-ratio", "1", "--resend-ms",
                        "1000", "--drain-s", std::to_string(drain_s), "--quiet"},
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
    // The child inherits the environment; ours is put back as it was right after the spawn.
    std::vector<std::pair<std::string, std::optional<std::string>>> saved;
    for (const auto& e : env) {
      const std::string name = e.substr(0, e.find('='));
      const char* old = std::getenv(name.c_str());
      saved.emplace_back(name, old ? std::optional<std::string>(old) : std::nullopt);
      setenv(name.c_str(), e.substr(e.find('=') + 1).c_str(), 1);
    }
    gateway_ = std::make_unique<Gateway>(files_, gateway_args_);
    for (const auto& [name, old] : saved) {
      if (old) {
        setenv(name.c_str(), old->c_str(), 1);
      } else {
        unsetenv(name.c_str());
      }
    }
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
  // `others`: records the test itself sent besides the simulator's.
  void expect_nothing_lost(const SimSummary& s, const std::string& scenario, long long others = 0) {
    ASSERT_TRUE(s.parsed) << tail(s.raw);
    EXPECT_EQ(s.txn_pending, 0) << "records never acked";
    EXPECT_EQ(s.txn_acked, s.txn_sent);
    EXPECT_GT(s.txn_sent, 0);
    ASSERT_TRUE(wait_platform(s.txn_sent + others, 90s))
        << platform_->count().first << " of " << s.txn_sent + others << " at the platform\n"
        << tail(read_file(files_.log));
    // A little longer: anything beyond the records the terminals created would be a defect.
    std::this_thread::sleep_for(500ms);
    const auto [unique, duplicates] = platform_->count();
    EXPECT_EQ(unique, s.txn_sent + others) << "distinct records at the platform";
    std::printf(
        "%s: %lld requests (p99 %.1f ms, %lld timed out), %lld records created, %lld resent, "
        "%lld acked (%lld as duplicate), platform %lld distinct + %lld duplicate receptions\n",
        scenario.c_str(), s.sent, s.p99_ms, s.timeouts, s.txn_sent, s.txn_resent, s.txn_acked,
        s.txn_duplicate, unique, duplicates);
    last_duplicates_ = duplicates;
  }

  // Sends an auth request and returns the gateway's answer ({} when none came).
  json ask(TestClient& c, const std::string& terminal, const std::string& payload,
           const std::string& req_id) {
    c.publish("ykt/v1/" + kSite + "/" + terminal + "/auth/req", payload);
    auto r = c.wait_for(
        [&](const Received& m) {
          auto j = json::parse(m.payload, nullptr, false);
          return j.is_object() && j.value("req_id", "") == req_id;
        },
        10s);
    return r ? json::parse(r->payload) : json::object();
  }

  std::string dir_;
  std::unique_ptr<Broker> broker_;
  GatewayFiles files_;
  std::unique_ptr<DistrictPlatform> platform_;
  std::unique_ptr<Gateway> gateway_;
  std::vector<std::string> gateway_args_;  // command-line overrides for every start
  long long last_duplicates_ = 0;
};

// ---- kill -9 ----------------------------------------------------------------------------------

TEST_F(Chaos, KillNineAtRandomMomentsLosesNoAckedRecord) {
  // 20 kills in both modes; the long mode spreads them over a longer load. A restart takes
  // about 150 ms, so CI mode stays well under a minute.
  constexpr int kills = 20;
  const int seconds = long_mode() ? 60 : 20;
  // 500 records a second, so that each kill lands on records in flight: received and not yet
  // committed, or committed and not yet acked.
  constexpr int kRate = 500;
  // What the gateway can have sent to the platform and not yet seen acked when it dies: the
  // batches in flight, each at most this many records. Set here so that the bound below
  // follows from the configuration.
  constexpr int kBatchRecords = 100, kBatchesInFlight = 4;
  gateway_args_ = {"--set", "upstream.batch_max_records=" + std::to_string(kBatchRecords), "--set",
                   "district.batch_max_inflight=" + std::to_string(kBatchesInFlight)};
  configure();
  ASSERT_TRUE(start_gateway());
  Load load(broker_->uri(), dir_ + "/sim.out", seconds, 8, kRate, 15);

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
  // The kills cost records: those published while the gateway was down, and those it had
  // received or stored but not acked, were resent by the terminals.
  EXPECT_GT(s.txn_resent, 0) << "no kill caught a record in flight";
  // A record acked "duplicate" is a resend of one the gateway had already stored (committed,
  // the ack died with the process): never more than the resends.
  EXPECT_LE(s.txn_duplicate, s.txn_resent);
  // At the platform a record arrives twice only when the batch holding it was stored there and
  // its ack died with the gateway: per kill at most the batches in flight, each full.
  EXPECT_LE(last_duplicates_, static_cast<long long>(kills) * kBatchesInFlight * kBatchRecords);
  gateway_.reset();
  expect_databases_intact();
}

// ---- the broker -------------------------------------------------------------------------------

// Holds the write lock of an SQLite file (BEGIN IMMEDIATE) until destroyed: the gateway's
// writer waits (its busy timeout is 5 s), so records are received and queued but neither
// committed nor acked.
class WriteLock {
 public:
  explicit WriteLock(const std::string& path) {
    if (sqlite3_open_v2(path.c_str(), &db_, SQLITE_OPEN_READWRITE, nullptr) == SQLITE_OK) {
      sqlite3_busy_timeout(db_, 5000);
      held_ = sqlite3_exec(db_, "BEGIN IMMEDIATE", nullptr, nullptr, nullptr) == SQLITE_OK;
    }
  }
  ~WriteLock() {
    if (held_) sqlite3_exec(db_, "ROLLBACK", nullptr, nullptr, nullptr);
    sqlite3_close(db_);
  }
  bool held() const { return held_; }

 private:
  sqlite3* db_ = nullptr;
  bool held_ = false;
};

// The broker goes away while records are in flight and their acks are withheld: the test holds
// records.db's write lock for longer than the terminals' resend delay, so the records of that
// time are queued in the gateway uncommitted and resent at least once; the broker is killed
// with them, then the lock is let go (the gateway commits them and its acks go nowhere), and
// the broker restarts. The gateway reconnects and resubscribes, the terminals resend all they
// hold, and those resends are acked "duplicate". The platform stores every record once, since
// the district link never noticed.
TEST_F(Chaos, BrokerKilledAndRestartedTerminalsResendsAreAbsorbed) {
  const int seconds = long_mode() ? 40 : 12;
  constexpr auto kAcksWithheld = 1500ms;  // longer than the simulator's --resend-ms 1000
  configure();
  ASSERT_TRUE(start_gateway());
  Load load(broker_->uri(), dir_ + "/sim.out", seconds, 8, 200, 15);
  const int outages = long_mode() ? 4 : 1;
  long long withheld = 0;
  for (int i = 0; i < outages; ++i) {
    std::this_thread::sleep_for(std::chrono::seconds(seconds / (outages + 1)) - kAcksWithheld);
    const std::size_t before = count_of(read_file(files_.log), "mqtt connected");
    {
      WriteLock lock(files_.data_dir + "/records.db");
      ASSERT_TRUE(lock.held()) << "could not take records.db's write lock";
      const long long stored =
          sqlite_value(files_.data_dir + "/records.db", "SELECT count(*) FROM txn");
      std::this_thread::sleep_for(kAcksWithheld);
      broker_->kill();
      withheld -= stored;
    }
    // The gateway commits what it queued; the acks go to a broker that is not there.
    std::this_thread::sleep_for(2s);
    withheld += sqlite_value(files_.data_dir + "/records.db", "SELECT count(*) FROM txn");
    broker_->restart();
    // The gateway reconnects and subscribes again (the broker kept no session: persistence off).
    EXPECT_TRUE(
        eventually([&] { return count_of(read_file(files_.log), "mqtt connected") > before; }, 30s))
        << tail(read_file(files_.log));
  }
  const SimSummary s = load.finish(std::chrono::seconds(seconds + 60));
  ASSERT_NO_FATAL_FAILURE(expect_nothing_lost(s, "broker restarted"));
  std::printf(
      "broker restarted: %lld records committed while their acks were withheld or the "
      "broker away\n",
      withheld);
  EXPECT_GT(withheld, 0) << "no record was in flight when the broker went away";
  EXPECT_GT(s.disconnects, 0) << "the terminals never noticed the broker going away";
  // The resends were absorbed: those for records already stored were acked as such, the
  // distinct count at the platform (checked above) did not move, and no record reached the
  // platform twice.
  EXPECT_GT(s.txn_resent, 0) << "the terminals never had to resend";
  EXPECT_GT(s.txn_duplicate, 0) << "no resend came for a record already stored";
  EXPECT_LE(s.txn_duplicate, s.txn_resent);
  EXPECT_EQ(last_duplicates_, 0) << "records reached the platform twice";
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
  constexpr int kBatchRecords = 100, kBatchesInFlight = 4;
  gateway_args_ = {"--set", "upstream.batch_max_records=" + std::to_string(kBatchRecords), "--set",
                   "district.batch_max_inflight=" + std::to_string(kBatchesInFlight)};
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
  const long long out_of_order = district_out_of_order(platform_->db());
  EXPECT_EQ(out_of_order, 0);
  EXPECT_GT(s.txn_sent, at_platform_before);
  // The platform is killed (-9) at a moment of its own: a batch it had stored but not yet acked
  // comes again when it is back, at most the batches in flight, each full. The gateway's side
  // never resends a batch the platform acked.
  EXPECT_LE(last_duplicates_, static_cast<long long>(kBatchesInFlight) * kBatchRecords);
  gateway_.reset();
  expect_databases_intact();
}

// ---- disk full --------------------------------------------------------------------------------

// The data directory's file system fills up under load (the simulator's terminals plus a burst
// from one test terminal): commits fail, nothing is acked that is not committed, the status
// API shows the store_failed alarm, auth requests are still answered; once space frees the
// terminals' resends are committed and acked, and the alarm clears.
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
  httplib::Client http("127.0.0.1", files_.status_port);
  http.set_read_timeout(5, 0);
  auto joined = [](const std::set<std::string>& codes) {
    std::string out;
    for (const auto& c : codes) out += (out.empty() ? "" : ",") + c;
    return out.empty() ? std::string("none") : out;
  };
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
  EXPECT_EQ(alarm_codes(http).count("store_failed"), 0u);

  // 8 terminals, 100 taps a second, each reported as a record, throughout.
  constexpr int kLoadSeconds = 14;
  Load load(broker_->uri(), dir_ + "/sim.out", kLoadSeconds, 8, 100);
  std::this_thread::sleep_for(2s);

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
  const auto full_at = Steady::now();
  // Acks stop: a burst of records needs new pages, which cannot be written; those records are
  // not acked (the terminal keeps them) and the gateway says why. Some may still be acked if
  // they fit into space SQLite already holds (a reused WAL): an ack always means committed.
  const std::size_t alarms_before = count_of(read_file(files_.log), "disk is full");
  constexpr int kBurst = 300;
  auto id_of = [](int i) { return "ct-disk:f" + std::to_string(i); };
  for (int i = 0; i < kBurst; ++i) {
    t.publish("ykt/v1/" + kSite + "/ct-disk/txn", txn_json("ct-disk", id_of(i), card));
  }
  // The alarm is raised on the status API while the disk is full (the status is sampled once a
  // second), and stays while it is full.
  std::set<std::string> while_full;
  EXPECT_TRUE(eventually(
      [&] {
        while_full = alarm_codes(http);
        return while_full.count("store_failed") > 0;
      },
      10s, 250ms))
      << "alarms while full: " << joined(while_full) << "\n"
      << tail(read_file(files_.log));
  const double raised_s = std::chrono::duration<double>(Steady::now() - full_at).count();
  std::this_thread::sleep_for(2s);
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
  const std::set<std::string> still_full = alarm_codes(http);
  EXPECT_EQ(still_full.count("store_failed"), 1u) << "alarms: " << joined(still_full);
  EXPECT_LT(acked_while_full, static_cast<std::size_t>(kBurst)) << "acks did not stop";
  EXPECT_TRUE(gateway_->process().running()) << tail(read_file(files_.log));
  EXPECT_GT(count_of(read_file(files_.log), "disk is full"), alarms_before)
      << tail(read_file(files_.log));
  // Auth requests are still answered.
  TestClient a(broker_->uri(), "ct-auth", {"ykt/v1/" + kSite + "/ct-auth/auth/resp"});
  a.publish("ykt/v1/" + kSite + "/ct-auth/auth/req", auth_req_json("ct-auth", "full", card));
  EXPECT_TRUE(a.wait_for([](const Received&) { return true; }, 5s).has_value());
  const double full_s = std::chrono::duration<double>(Steady::now() - full_at).count();

  // Space frees: the terminals resend what was not acked, and all of it is acked.
  fs::remove(ballast);
  fs::remove(ballast + "-tail");
  const auto freed_at = Steady::now();
  for (int attempt = 0; attempt < 20 && acked_ids.size() < kBurst; ++attempt) {
    for (int i = 0; i < kBurst; ++i) {
      if (!acked_ids.count(id_of(i))) {
        t.publish("ykt/v1/" + kSite + "/ct-disk/txn", txn_json("ct-disk", id_of(i), card));
      }
    }
    std::this_thread::sleep_for(1s);
    collect();
  }
  // The next commit succeeds and the alarm goes.
  std::set<std::string> after;
  EXPECT_TRUE(eventually(
      [&] {
        after = alarm_codes(http);
        return after.count("store_failed") == 0;
      },
      10s, 250ms))
      << "alarms after space freed: " << joined(after);
  const double cleared_s = std::chrono::duration<double>(Steady::now() - freed_at).count();
  EXPECT_EQ(acked_ids.size(), static_cast<std::size_t>(kBurst)) << tail(read_file(files_.log));
  EXPECT_EQ(sqlite_value(files_.data_dir + "/records.db",
                         "SELECT count(*) FROM txn WHERE terminal = 'ct-disk'"),
            kBurst + 1);
  const SimSummary s = load.finish(std::chrono::seconds(kLoadSeconds + 60));
  ASSERT_NO_FATAL_FAILURE(expect_nothing_lost(s, "disk full under load", kBurst + 1));
  EXPECT_GT(s.txn_resent, 0) << "the terminals never had to resend";
  std::printf(
      "disk full: alarms %s raised %.1f s after the disk filled (%s after %.1f s); %zu of the %d "
      "burst records acked while full; all %zu acked after space came back, alarm gone %.1f s "
      "after; the simulator's terminals resent %lld times\n",
      joined(while_full).c_str(), raised_s, joined(still_full).c_str(), full_s, acked_while_full,
      kBurst, acked_ids.size(), cleared_s, s.txn_resent);
  gateway_.reset();
  expect_databases_intact();
}

// ---- wall-clock jumps ---------------------------------------------------------------------------

TEST_F(Chaos, WallClockJumpsOfAnHourKeepTimersAndForwardingGoing) {
  if (!FakeWallClock::available()) GTEST_SKIP() << "libfaketime not installed (package faketime)";
  FakeWallClock clock(dir_ + "/faketime.rc");
  configure();
  ASSERT_TRUE(start_gateway(clock.env()));
  TestClient t(
      broker_->uri(), "ct-clock",
      {"ykt/v1/" + kSite + "/ct-clock/auth/resp", "ykt/v1/" + kSite + "/ct-clock/txn/ack"});
  const std::string card = citizen_number("50015619900101123");
  int n = 0;
  long long forwarded = 0;
  for (const auto& [offset, label] : std::vector<std::pair<long long, std::string>>{
           {0, "no offset"}, {3600, "+1 h"}, {-3600, "-1 h"}, {0, "back"}}) {
    clock.set(offset);
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
    EXPECT_NEAR(static_cast<double>(shift_s), static_cast<double>(offset), 5.0) << label;
  }
  EXPECT_TRUE(gateway_->process().running());
  gateway_.reset();
  expect_databases_intact();
}

// The e-card QR code's validity is judged by the gateway's wall clock (docs/qr-code.md section
// 5): a code minted for real time is declined once the gateway's clock is off by more than the
// skew allowance, `expired` when it runs ahead and `not_yet_valid` when it lags, and, as a
// declined code is not written to the replay cache, the same code passes once the clock is
// right again (still only once).
TEST_F(Chaos, WallClockJumpsDeclineQrCodesBeyondTheSkewAndAcceptThemWhenTheClockIsBack) {
  if (!FakeWallClock::available()) GTEST_SKIP() << "libfaketime not installed (package faketime)";
  FakeWallClock clock(dir_ + "/faketime.rc");
  configure("\n[credentials]\necard_key_dir = \"" + source_dir() +
            "/config/dev-keys/ecard\"\nqr_clock_skew_ms = 5000\n");
  write_file(files_.policies,
             "version = 1\n[scenario.library]\nkind = \"library\"\nservice_item = 30\n"
             "unknown_card = \"allow\"\n\n[[terminal]]\nmatch = \"*\"\nscenario = \"library\"\n");
  ASSERT_TRUE(start_gateway(clock.env()));
  // Minted as the issuer does, by real time (60 s validity), with ykt-platform-sim issue-qr.
  auto mint = [&] {
    std::string out;
    EXPECT_EQ(run_command({bin_dir() + "/ykt-platform-sim", "issue-qr", "--key-file",
                           source_dir() + "/config/dev-keys/ecard/50-k1.key.pem", "--region", "50",
                           "--kid", "k1", "--card", citizen_number("50015619500101123"),
                           "--hmac-key-file", files_.key_file, "--valid-s", "60"},
                          &out),
              0)
        << out;
    return out.substr(0, out.find('\n'));
  };
  const std::string t = "lib-clock";
  TestClient c(broker_->uri(), t, {"ykt/v1/" + kSite + "/" + t + "/auth/resp"});
  int n = 0;
  auto scan = [&](const std::string& qr) {
    const std::string id = "qr-" + std::to_string(++n);
    const json r = ask(c, t,
                       R"({"v":1,"req_id":")" + id + R"(","terminal":")" + t +
                           R"(","scenario":"library","ts":1764379200000,"credential":)"
                           R"({"type":"ecard_qr","qr":")" +
                           qr + R"("},"amount_fen":0})",
                       id);
    return r.value("decision", "") == "approve" ? std::string("approve")
                                                : r.value("reason", "no answer");
  };

  const std::string before = mint();
  ASSERT_TRUE(before.starts_with("YKT1.")) << before;
  EXPECT_EQ(scan(before), "approve") << "clock right";

  const std::string code = mint();
  struct Step {
    long long offset_s;
    const char* expect;
    const char* label;
  };
  // 3 s behind is within the 5 s allowance for a code minted just now; 30 s behind is not.
  const Step steps[] = {{3600, "expired", "+1 h"},
                        {-3600, "not_yet_valid", "-1 h"},
                        {-30, "not_yet_valid", "-30 s"},
                        {0, "approve", "back"},
                        {0, "replayed", "back, the same code again"}};
  for (const Step& st : steps) {
    clock.set(st.offset_s);
    const std::string got = scan(code);
    EXPECT_EQ(got, st.expect) << st.label;
    std::printf("clock %s: a code minted for real time -> %s\n", st.label, got.c_str());
  }
  clock.set(-3);
  EXPECT_EQ(scan(mint()), "approve") << "3 s behind, within the skew allowance";
  // The code accepted before the jumps is still remembered: the jumps did not empty the replay
  // cache.
  clock.set(0);
  EXPECT_EQ(scan(before), "replayed");
  EXPECT_TRUE(gateway_->process().running());
  gateway_.reset();
  expect_databases_intact();
}

// The per-card day counters (canteen meals, offline bus amount) follow the gateway's wall clock
// in Shanghai days (docs/policies.md section 4). A jump forward over midnight starts a new day,
// as midnight itself does; a step back over midnight does not start the earlier day afresh:
// the taps count towards the later day the counter holds, and that day's cap is still used up
// when the clock is right again.
TEST_F(Chaos, WallClockStepBackOverMidnightDoesNotResetTheDayCaps) {
  if (!FakeWallClock::available()) GTEST_SKIP() << "libfaketime not installed (package faketime)";
  FakeWallClock clock(dir_ + "/faketime.rc");
  configure();
  write_file(files_.policies, R"(version = 1
[scenario.canteen]
kind = "canteen"
service_item = 16
daily_meal_cap = 2
unknown_card = "allow"

[scenario.bus]
kind = "bus"
service_item = 29
online = "never"
unknown_card = "allow"
fare_fen = 200
offline_limit_fen = 500
offline_daily_cap_fen = 600
offline_max_taps = 10

[[terminal]]
match = "bus-*"
scenario = "bus"
[[terminal]]
match = "*"
scenario = "canteen"
)");
  // 10 minutes after the next Shanghai midnight (day D), and 50 minutes before it (day D-1).
  const long long after_midnight = offset_to_after_next_midnight(10);
  const long long before_midnight = after_midnight - 3600;
  clock.set(before_midnight);
  ASSERT_TRUE(start_gateway(clock.env()));
  const long long day_d = shanghai_day_of(real_now_s() + after_midnight);

  const std::string card = citizen_number("50015619900101123");
  TestClient bus(broker_->uri(), "bus-clock", {"ykt/v1/" + kSite + "/bus-clock/auth/resp"});
  TestClient meal(broker_->uri(), "ct-clock", {"ykt/v1/" + kSite + "/ct-clock/auth/resp"});
  int n = 0;
  auto tap = [&](TestClient& c, const std::string& terminal, const std::string& scenario) {
    const std::string id = "tap-" + std::to_string(++n);
    const json r = ask(c, terminal, auth_req_json(terminal, id, card, 200, scenario), id);
    return r.value("decision", "") == "approve" ? std::string("approve")
                                                : r.value("reason", "no answer");
  };
  // Taps until the first decline; returns the approvals and the decline's reason.
  auto until_declined = [&](TestClient& c, const std::string& terminal,
                            const std::string& scenario) {
    int approved = 0;
    for (int i = 0; i < 10; ++i) {
      const std::string r = tap(c, terminal, scenario);
      if (r != "approve") return std::make_pair(approved, r);
      ++approved;
    }
    return std::make_pair(approved, std::string("never declined"));
  };

  // Day D-1, 23:10: the caps as configured (3 offline bus fares of 200 in 600; 2 meals).
  EXPECT_EQ(until_declined(bus, "bus-clock", "bus"),
            std::make_pair(3, std::string("offline_daily_cap_reached")));
  EXPECT_EQ(until_declined(meal, "ct-clock", "canteen"),
            std::make_pair(2, std::string("daily_cap_reached")));

  // +1 h, day D 00:10: a new day, as at midnight.
  clock.set(after_midnight);
  EXPECT_EQ(tap(bus, "bus-clock", "bus"), "approve");
  EXPECT_EQ(tap(meal, "ct-clock", "canteen"), "approve");

  // -1 h, back to day D-1 23:10: the counters hold day D and keep counting towards it.
  clock.set(before_midnight);
  const auto bus_back = until_declined(bus, "bus-clock", "bus");
  const auto meal_back = until_declined(meal, "ct-clock", "canteen");
  EXPECT_EQ(bus_back, std::make_pair(2, std::string("offline_daily_cap_reached")))
      << "the step back started day D-1 afresh";
  EXPECT_EQ(meal_back, std::make_pair(1, std::string("daily_cap_reached")))
      << "the step back started day D-1 afresh";

  // +1 h, day D again: that day's caps are used, nothing was reset.
  clock.set(after_midnight);
  const std::string bus_again = tap(bus, "bus-clock", "bus");
  const std::string meal_again = tap(meal, "ct-clock", "canteen");
  EXPECT_EQ(bus_again, "offline_daily_cap_reached");
  EXPECT_EQ(meal_again, "daily_cap_reached");
  std::printf(
      "clock around midnight: day D-1 3 fares + 2 meals; +1 h (day D) 1 + 1; -1 h %d + %d more, "
      "then %s / %s; +1 h again: %s / %s\n",
      bus_back.first, meal_back.first, bus_back.second.c_str(), meal_back.second.c_str(),
      bus_again.c_str(), meal_again.c_str());

  // state.db holds the same: one counter per scope for the card, on day D.
  EXPECT_TRUE(eventually(
      [&] {
        return sqlite_value(files_.data_dir + "/state.db",
                            "SELECT count(*) FROM card_day_counter WHERE day = " +
                                std::to_string(day_d)) == 2;
      },
      5s))
      << sqlite_value(files_.data_dir + "/state.db", "SELECT max(day) FROM card_day_counter")
      << " vs day " << day_d;
  EXPECT_TRUE(gateway_->process().running());
  gateway_.reset();
  expect_databases_intact();
}

// ---- a long platform outage at the disk quota
// ----------------------------------------------------

// The platform stays away long enough for the data directory to reach store.disk_quota_mb: the
// gateway stops acking new records (alarm disk_quota), so the backlog stays at the quota while
// the terminals keep their records and resend them. When the platform returns the backlog
// drains in the gateway's order, space is freed, acks resume, and every record the simulator
// created reaches the platform exactly once.
TEST_F(Chaos, LongPlatformOutageHoldsTheBacklogAtTheDiskQuotaThenDrainsInOrder) {
  constexpr long long kQuota = 1 << 20;
  // About 4 500 records fill 1 MiB: at this rate the quota is reached in about 20 s. The load
  // lasts until after the platform is back (the alarm, then the hold, then some more).
  constexpr int kRate = 250;
  const int seconds = long_mode() ? 120 : 40;
  const auto hold = long_mode() ? 60s : 8s;
  configure("\n[store]\ndisk_quota_mb = 1\nwal_checkpoint_mb = 1\n");
  ASSERT_TRUE(start_gateway());
  httplib::Client http("127.0.0.1", files_.status_port);
  const auto start = Steady::now();
  Load load(broker_->uri(), dir_ + "/sim.out", seconds, 8, kRate);
  std::this_thread::sleep_for(2s);
  platform_->kill();
  const long long at_platform_before = platform_->count().first;

  // Until the quota is reached and the alarm stands. At first it may clear once: pruning at
  // the quota deletes the records forwarded before the outage, which frees their space.
  const std::string records_db = files_.data_dir + "/records.db";
  constexpr Steady::time_point kNotUp = Steady::time_point::min();
  Steady::time_point up_since = kNotUp;  // since when the alarm has stood
  ASSERT_TRUE(eventually(
      [&] {
        if (alarm_codes(http).count("disk_quota") == 0) {
          up_since = kNotUp;
        } else if (up_since == kNotUp) {
          up_since = Steady::now();
        }
        return up_since != kNotUp && Steady::now() - up_since >= 2s;
      },
      std::chrono::seconds(seconds - 2) - hold, 250ms))
      << "the quota was never reached; kept " << quota_usage(files_.data_dir).kept << "\n"
      << tail(read_file(files_.log));
  const double reached_s = std::chrono::duration<double>(up_since - start).count();
  EXPECT_NE(read_file(files_.log).find("disk quota reached"), std::string::npos);

  // At the quota: the records held stay put and the usage bounded, while the alarm stands.
  const long long held_at_alarm = sqlite_value(records_db, "SELECT count(*) FROM txn");
  QuotaUsage most;
  int samples_with_alarm = 0, samples = 0;
  const auto hold_end = Steady::now() + hold;
  while (Steady::now() < hold_end) {
    const QuotaUsage u = quota_usage(files_.data_dir);
    most.kept = std::max(most.kept, u.kept);
    most.wal = std::max(most.wal, u.wal);
    samples_with_alarm += alarm_codes(http).count("disk_quota") ? 1 : 0;
    ++samples;
    std::this_thread::sleep_for(250ms);
  }
  const long long held_after = sqlite_value(records_db, "SELECT count(*) FROM txn");
  std::string stats;
  run_command({bin_dir() + "/yktgw", "--config", files_.config, "outbox", "stats"}, &stats);
  EXPECT_EQ(samples_with_alarm, samples) << "the alarm cleared with the platform still away";
  // What the files keep stops growing at the quota. The records stored between two checks land
  // past the mark: a check comes every second, but a round that checkpoints a WAL of several
  // MiB on a loaded box took up to 3.6 s here, so at this rate the overshoot reached a few
  // hundred KiB. The WAL comes and goes with the checkpoints on top of that; with acks stopped
  // little is written, so it is only reported.
  EXPECT_LE(most.kept, 2 * kQuota);
  EXPECT_LE(held_after - held_at_alarm, kRate) << "records kept being acked at the quota";

  // The platform returns.
  const auto up = Steady::now();
  platform_->start();
  const SimSummary s = load.finish(std::chrono::seconds(seconds + 60));
  ASSERT_NO_FATAL_FAILURE(expect_nothing_lost(s, "long outage at the disk quota"));
  const double drained_s = std::chrono::duration<double>(Steady::now() - up).count();
  const std::string log = read_file(files_.log);
  EXPECT_NE(log.find("disk quota alarm cleared"), std::string::npos) << tail(log);
  EXPECT_EQ(alarm_codes(http).count("disk_quota"), 0u);
  EXPECT_GT(s.txn_resent, 0) << "the terminals never had to resend";
  const long long out_of_order = district_out_of_order(platform_->db());
  EXPECT_EQ(out_of_order, 0);
  EXPECT_GT(s.txn_sent, at_platform_before);
  std::printf(
      "quota 1 MiB, platform away: alarm standing %.1f s after the start; held %lld records then "
      "%lld "
      "after %.0f s more at the quota (kept at most %.2f MiB, WAL at most %.2f MiB, alarm in %d "
      "of %d samples); "
      "outbox then:\n%s\nterminals resent %lld times; all %lld records at the platform %.1f s "
      "after it returned, %lld out of order\n",
      reached_s, held_at_alarm, held_after, std::chrono::duration<double>(hold).count(),
      static_cast<double>(most.kept) / 1048576.0, static_cast<double>(most.wal) / 1048576.0,
      samples_with_alarm, samples, stats.c_str(), s.txn_resent, s.txn_sent, drained_s,
      out_of_order);
  gateway_.reset();
  expect_databases_intact();
}

}  // namespace
}  // namespace yktgw::testing
