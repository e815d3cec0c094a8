// Load held (docs/RELIABILITY.md): the gateway under steady simulated load for a while, with the
// district platform storing what it forwards. Every few seconds the test samples the gateway's
// resident memory, its open file descriptors and the sizes of its SQLite files; once the warm-up
// is over they must stay flat: memory and descriptors bounded, the WAL files kept under their
// checkpoint threshold, outbox.db not growing, records.db growing only by the records it holds.
// Real parts only: Mosquitto, yktgw, yktgw-sim, ykt-platform-sim.
//
// Once the load has ended and the outbox is drained, the gateway stays idle for a tenth of the
// run (at least 15 s) and is sampled on: nothing may grow then, not the files, not the
// descriptors, and memory by no more than a few pages. (records.db keeps its records for store.retention_days, whole days, so
// under load it grows with them; flat is what it must be once nothing new comes.)
//
// YKTGW_SOAK_S sets the run's length in seconds, load and idle window together (default 150;
// the documented run is 3600). The samples go to soak-samples.csv in the test's directory.

#include <dirent.h>
#include <gtest/gtest.h>
#include <httplib.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <thread>
#include <vector>

#include "tests/integration/harness.h"

namespace yktgw::testing {
namespace {

using namespace std::chrono_literals;
using json = nlohmann::json;
using Steady = std::chrono::steady_clock;
namespace fs = std::filesystem;

const std::string kSite = "xiangkou";

int soak_seconds() {
  const char* v = std::getenv("YKTGW_SOAK_S");
  const int s = v != nullptr ? std::atoi(v) : 0;
  return s >= 30 ? s : 150;
}

// VmRSS of `pid` in KiB; -1 when unreadable.
long long rss_kib(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/status");
  for (std::string line; std::getline(in, line);) {
    if (line.rfind("VmRSS:", 0) == 0) return std::atoll(line.c_str() + 6);
  }
  return -1;
}

int open_fds(pid_t pid) {
  int n = 0;
  DIR* d = opendir(("/proc/" + std::to_string(pid) + "/fd").c_str());
  if (d == nullptr) return -1;
  while (dirent* e = readdir(d)) {
    if (e->d_name[0] != '.') ++n;
  }
  closedir(d);
  return n;
}

struct Sample {
  double t_s = 0;
  long long rss_kib = 0;
  int fds = 0;
  long long records_db = 0, records_wal = 0, outbox_db = 0, outbox_wal = 0;
  long long stored = 0;   // records the gateway has stored since it started
  long long backlog = 0;  // records the district platform has not acked yet
  bool idle = false;      // taken in the idle window after the drain
};

// How far a metric rose over the idle window above its value at the window's start.
template <class Get>
long long growth_over(const std::vector<Sample>& idle, Get get) {
  const long long first = get(idle.front());
  long long most = first;
  for (const auto& s : idle) most = std::max<long long>(most, get(s));
  return most - first;
}

TEST(Soak, MemoryDescriptorsAndFilesStayFlatUnderSteadyLoad) {
  const int run_s = soak_seconds();
  const int idle_s = std::max(15, run_s / 10);
  const int load_s = run_s - idle_s;
  const std::string dir = make_temp_dir("soak");
  fs::create_directories(dir + "/broker");
  fs::create_directories(dir + "/gw");
  Broker broker(dir + "/broker");
  GatewayFiles files = write_gateway_config(dir + "/gw", broker.uri(), kSite);
  DistrictPlatform platform(dir + "/platform", files.key_file);
  files = write_gateway_config(dir + "/gw", broker.uri(), kSite, platform.gateway_toml());
  // The simulator's card population, as the platform would deliver it.
  std::string out;
  ASSERT_EQ(run_command({bin_dir() + "/yktgw-sim", "population", "--seed", "42", "--cards", "1000",
                         "--out", dir + "/cards.csv"},
                        &out),
            0)
      << out;
  ASSERT_EQ(run_command({bin_dir() + "/yktgw", "--config", files.config, "cardlist", "import",
                         dir + "/cards.csv"},
                        &out),
            0)
      << out;
  // A small checkpoint threshold, so that the test sees the WAL being given back many times.
  constexpr int kWalCheckpointMb = 2;
  Gateway gateway(files, {"--set", "store.wal_checkpoint_mb=" + std::to_string(kWalCheckpointMb)});
  ASSERT_TRUE(gateway.wait_connected(20s)) << gateway.log();
  const pid_t pid = gateway.process().pid();

  // 40 terminals, 100 taps a second, every tap reported as a record, random link drops.
  const std::string sim_out = dir + "/sim.out";
  Process sim = Process::spawn(
      {bin_dir() + "/yktgw-sim", "soak", "--broker", broker.uri(), "--site", kSite,
       "--terminals", "40", "--rate", "100", "--duration", std::to_string(load_s), "--txn-ratio",
       "1", "--resend-ms", "2000", "--disconnect-every-s", "30", "--summary-s", "30",
       "--drain-s", "30", "--seed", "42", "--cards", "1000", "--report", dir + "/soak-report.json", "--quiet"},
      sim_out);

  httplib::Client http("127.0.0.1", files.status_port);
  http.set_read_timeout(5, 0);
  const std::string data = files.data_dir;
  std::vector<Sample> samples;
  const auto t0 = Steady::now();
  auto take = [&] {
    Sample s;
    s.t_s = std::chrono::duration<double>(Steady::now() - t0).count();
    s.rss_kib = rss_kib(pid);
    s.fds = open_fds(pid);
    s.records_db = file_size_or_zero(data + "/records.db");
    s.records_wal = file_size_or_zero(data + "/records.db-wal");
    s.outbox_db = file_size_or_zero(data + "/outbox.db");
    s.outbox_wal = file_size_or_zero(data + "/outbox.db-wal");
    if (auto r = http.Get("/api/v1/status"); r && r->status == 200) {
      const json j = json::parse(r->body, nullptr, false);
      if (j.is_object()) {
        s.stored = j["txn"].value("stored", 0LL);
        // The district platform gets every record; the cross-province link has no platform in
        // this test, so what waits for it never drains and is not counted.
        for (const auto& l : j["links"])
          if (l.value("destination", "") == "district") s.backlog += l.value("backlog", 0LL);
      }
    }
    samples.push_back(s);
  };
  const auto sample_every = std::chrono::seconds(std::max(2, load_s / 60));
  std::optional<int> sim_rc;
  while (!(sim_rc = sim.wait(sample_every))) take();
  // The sim has drained: everything it sent is acked. Let forwarding finish too.
  for (int i = 0; i < 60; ++i) {
    take();
    if (samples.back().backlog == 0) break;
    std::this_thread::sleep_for(500ms);
  }
  // Drained: the idle window. The first sample waits a moment for the last batch ack's writes.
  std::this_thread::sleep_for(2s);
  const auto idle_end = Steady::now() + std::chrono::seconds(idle_s);
  std::vector<Sample> idle;
  while (Steady::now() < idle_end) {
    take();
    samples.back().idle = true;
    idle.push_back(samples.back());
    std::this_thread::sleep_for(2s);
  }

  {
    std::ofstream csv(dir + "/soak-samples.csv");
    csv << "t_s,rss_kib,fds,records_db,records_wal,outbox_db,outbox_wal,stored,backlog,idle\n";
    for (const auto& s : samples) {
      csv << s.t_s << ',' << s.rss_kib << ',' << s.fds << ',' << s.records_db << ','
          << s.records_wal << ',' << s.outbox_db << ',' << s.outbox_wal << ',' << s.stored << ','
          << s.backlog << ',' << (s.idle ? 1 : 0) << '\n';
    }
  }
  const std::string sim_text = read_file(sim_out);
  ASSERT_EQ(*sim_rc, 0) << "the simulator reported mismatches, errors or unacked records\n"
                        << sim_text.substr(sim_text.size() > 3000 ? sim_text.size() - 3000 : 0);
  ASSERT_GE(samples.size(), 10u);
  EXPECT_EQ(samples.back().backlog, 0) << "the outbox did not drain";

  // Warm-up: the first quarter (caches, SQLite page cache, connections, allocator arenas).
  const auto warm = std::find_if(samples.begin(), samples.end(),
                                 [&](const Sample& s) { return s.t_s >= load_s / 4.0; });
  ASSERT_NE(warm, samples.end());
  const Sample& w = *warm;
  const Sample& last = samples.back();
  long long rss_max = 0, wal_max = 0, outbox_max = 0;
  int fds_min = 1 << 30, fds_max = 0;
  for (auto it = warm; it != samples.end(); ++it) {
    rss_max = std::max(rss_max, it->rss_kib);
    fds_min = std::min(fds_min, it->fds);
    fds_max = std::max(fds_max, it->fds);
    wal_max = std::max({wal_max, it->records_wal, it->outbox_wal});
    outbox_max = std::max(outbox_max, it->outbox_db);
  }
  const long long records_after_warm = last.stored - w.stored;
  ASSERT_GT(records_after_warm, 1000) << "too little load to judge";
  const double db_bytes_per_record =
      static_cast<double>(last.records_db - w.records_db) / static_cast<double>(records_after_warm);
  std::printf(
      "soak: %d s of load, %zu samples; after warm-up: RSS %lld -> max %lld KiB (end %lld), open "
      "descriptors %d..%d, largest WAL %.2f MiB, outbox.db %lld -> max %lld bytes, records.db "
      "+%.0f bytes per stored record (%lld records), backlog at end %lld\n",
      load_s, samples.size(), w.rss_kib, rss_max, last.rss_kib, fds_min, fds_max,
      static_cast<double>(wal_max) / (1 << 20), w.outbox_db, outbox_max, db_bytes_per_record,
      records_after_warm, last.backlog);

  // Memory: no growth with time beyond allocator noise.
  EXPECT_LE(rss_max, w.rss_kib + w.rss_kib / 5 + 8 * 1024) << "resident memory grew";
  // Descriptors: the same sockets and files throughout (a status request or a reconnect may
  // hold one or two more for a moment).
  EXPECT_LE(fds_max - fds_min, 4) << "open descriptors changed";
  // WAL files are checkpointed back below their threshold (plus the commits of one interval).
  EXPECT_LE(wal_max, (kWalCheckpointMb + 4) * (1LL << 20)) << "a WAL grew past its checkpoint";
  // outbox.db holds cursors and batch rows, pruned as batches are acked: flat.
  EXPECT_LE(outbox_max, w.outbox_db + (1LL << 20)) << "outbox.db grew";
  // records.db grows by the records it keeps (until retention), not more: a stored record
  // takes a few hundred bytes with its indexes.
  EXPECT_LT(db_bytes_per_record, 1024.0) << "records.db grew faster than its records";

  // Idle after the drain: flat, to the byte and the descriptor.
  ASSERT_GE(idle.size(), 5u);
  const Sample& i0 = idle.front();
  const long long idle_rss = growth_over(idle, [](const Sample& s) { return s.rss_kib; });
  const long long idle_fds = growth_over(idle, [](const Sample& s) { return s.fds; });
  const long long idle_files = growth_over(idle, [](const Sample& s) {
    return s.records_db + s.records_wal + s.outbox_db + s.outbox_wal;
  });
  long long idle_rss_min = i0.rss_kib;
  for (const auto& s : idle) idle_rss_min = std::min(idle_rss_min, s.rss_kib);
  std::printf(
      "soak idle: %zu samples over %d s after the drain: records.db %lld bytes, its WAL %lld, "
      "outbox.db %lld, its WAL %lld (growth %lld bytes); RSS %lld..%lld KiB (growth %lld KiB); "
      "%d descriptors (growth %lld); records stored during the window %lld\n",
      idle.size(), idle_s, i0.records_db, i0.records_wal, i0.outbox_db, i0.outbox_wal, idle_files,
      idle_rss_min, i0.rss_kib + idle_rss, idle_rss, i0.fds, idle_fds,
      idle.back().stored - i0.stored);
  EXPECT_EQ(idle.back().stored, i0.stored) << "records were stored with the terminals gone";
  EXPECT_EQ(idle_files, 0) << "the SQLite files grew with nothing to store";
  EXPECT_EQ(idle_fds, 0) << "descriptors opened while idle";
  // Memory is counted in pages, and an idle gateway still runs its timers, heartbeats (5 a
  // second here) and the status requests of this test: a page or two may be touched for the
  // first time (4 KiB was seen once in four runs). 64 KiB stays below what a leak of 1 KiB per
  // heartbeat would add over the 15 s. Under ASan freed memory sits in a quarantine and is not
  // reused for a while, so every request touches fresh pages: there the window only has to
  // stay small.
#if defined(__SANITIZE_ADDRESS__)
  constexpr long long kIdleRssSlackKib = 8 * 1024;
#else
  constexpr long long kIdleRssSlackKib = 64;
#endif
  EXPECT_LE(idle_rss, kIdleRssSlackKib) << "resident memory grew while idle";

  gateway.process().stop();
  for (const std::string& d : {files.data_dir, dir + "/platform"}) {
    for (const auto& [file, result] : integrity_of_databases(d)) {
      EXPECT_EQ(result, "ok") << d << "/" << file;
    }
  }
}

}  // namespace
}  // namespace yktgw::testing
