// Record forwarding end to end, with real parts only: Mosquitto on a free loopback port, the real
// yktgw binary, the real ykt-platform-sim (a ZeroMQ ROUTER with CURVE as the district platform and
// an HTTPS receiver with mTLS as the cross-province platform, same SQLite file), the dev
// certificates of deploy/make-dev-certs.sh, and real SQLite files on both sides.
//
// Terminals are Paho clients that keep every txn record until the gateway acks it and resend it
// with the same txn_id until then (docs/terminal-protocol.md §8). What reached the platforms is
// read from the platform's `received` table and from `ykt-platform-sim count`.

#include <gtest/gtest.h>
#include <httplib.h>
#include <mqtt/async_client.h>
#include <signal.h>
#include <sqlite3.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <functional>
#include <map>
#include <mutex>
#include <nlohmann/json.hpp>
#include <queue>
#include <random>
#include <regex>
#include <set>
#include <sstream>
#include <thread>
#include <unordered_map>

#include "connectors/mqtt/tcp_nodelay.h"
#include "tests/common/slowdown.h"
#include "tests/integration/harness.h"

namespace yktgw::testing {
namespace {

using namespace std::chrono_literals;
using json = nlohmann::json;
using Steady = std::chrono::steady_clock;
using std::chrono::milliseconds;

const std::string kSite = "xiangkou";
const std::string kGatewayId = "gw-test";  // write_gateway_config's gateway.id
const std::string kDistrict = "district";
const std::string kCrossprov = "crossprov";

std::string topic(const std::string& terminal, const std::string& leaf) {
  return "ykt/v1/" + kSite + "/" + terminal + "/" + leaf;
}

double seconds_since(Steady::time_point t0) {
  return std::chrono::duration<double>(Steady::now() - t0).count();
}

std::string q(const std::string& s) { return "\"" + s + "\""; }

// ---- cards and routes ---------------------------------------------------------------------------

// Citizen numbers: the first two digits are the issuer region.
std::string card_of(int region, std::uint64_t i) {
  static const std::map<int, std::string> kPrefix{
      {11, "110101"}, {50, "500156"}, {51, "510104"}, {52, "520102"}, {54, "540102"}};
  char buf[32];
  std::snprintf(buf, sizeof buf, "%s199001%02d%03d", kPrefix.at(region).c_str(),
                static_cast<int>(1 + (i / 1000) % 28), static_cast<int>(i % 1000));
  return citizen_number(buf);
}

// 60 % Chongqing (district), 20 % Sichuan, 10 % Guizhou, 10 % Tibet (cross-province).
int mixed_region(std::uint64_t i) {
  switch (i % 10) {
    case 6:
    case 7:
      return 51;
    case 8:
      return 52;
    case 9:
      return 54;
    default:
      return 50;
  }
}

// The default routing table (upstream.district_regions "50", crossprov_regions "51,52,54").
std::set<std::string> default_route(int region) { return {region == 50 ? kDistrict : kCrossprov}; }

// ---- terminals
// ------------------------------------------------------------------------------------

// Several terminals publishing txn records at QoS 1. A record stays pending until a txn/ack with
// status stored or duplicate arrives for it; until then it is published again with the same
// bytes, first after `first_resend`, then with the wait doubling up to `max_resend`. At most
// `window` records per terminal are published and unacked at once (a terminal's memory).
class Fleet {
 public:
  struct Options {
    int terminals = 8;
    std::string prefix = "pos";
    milliseconds first_resend{3000};
    milliseconds max_resend{8000};
    std::size_t window = 1000;
  };
  struct Acked {
    std::string terminal;
    std::string txn_id;
    int tag = 0;  // what the test put in: the issuer region, or a case number
  };
  struct Stats {
    std::uint64_t publishes = 0;  // first publishes
    std::uint64_t resends = 0;
    std::uint64_t stored = 0;  // acks by status, every ack counted (also repeats)
    std::uint64_t duplicate = 0;
    std::uint64_t rejected = 0;
    std::uint64_t publish_errors = 0;
    std::string last_rejection;
  };

  Fleet(const std::string& uri, Options o) : o_(std::move(o)) {
    fresh_.resize(static_cast<std::size_t>(o_.terminals));
    outstanding_.assign(static_cast<std::size_t>(o_.terminals), 0);
    // Connects all at once: Paho takes a couple of seconds per connect when they go one by one.
    std::vector<::mqtt::token_ptr> pending;
    for (int t = 0; t < o_.terminals; ++t) {
      char id[64];
      std::snprintf(id, sizeof id, "%s-%02d", o_.prefix.c_str(), t);
      terminals_.emplace_back(id);
      auto cli = std::make_unique<::mqtt::async_client>(
          uri, id, ::mqtt::create_options(MQTTVERSION_5, 1'000'000),
          static_cast<::mqtt::iclient_persistence*>(nullptr));
      cli->set_message_callback([this](::mqtt::const_message_ptr m) { on_ack(m->to_string()); });
      auto opts = ::mqtt::connect_options_builder()
                      .mqtt_version(MQTTVERSION_5)
                      .clean_start(true)
                      .finalize();
      pending.push_back(cli->connect(opts));
      clients_.push_back(std::move(cli));
    }
    for (auto& tok : pending) tok->wait();
    yktgw::mqtt::set_tcp_nodelay_to_broker(uri);
    pending.clear();
    for (std::size_t t = 0; t < clients_.size(); ++t)
      pending.push_back(clients_[t]->subscribe(topic(terminals_[t], "txn/ack"), 1));
    for (auto& tok : pending) tok->wait();
    pump_ = std::thread([this] { pump(); });
  }

  ~Fleet() {
    {
      std::lock_guard lock(mu_);
      stop_ = true;
    }
    cv_.notify_all();
    pump_.join();
    for (auto& c : clients_) {
      try {
        c->disconnect()->wait_for(std::chrono::seconds(2));
      } catch (...) {
      }
    }
    clients_.clear();  // before the state their callbacks use
  }

  const std::vector<std::string>& terminals() const { return terminals_; }

  // Queues `n` card records, round robin over the terminals; the i-th record of the fleet has a
  // card of region `region_of(i)`. Returns the txn ids.
  std::vector<std::string> add(std::uint64_t n,
                               const std::function<int(std::uint64_t)>& region_of) {
    std::vector<std::string> ids;
    ids.reserve(n);
    {
      std::lock_guard lock(mu_);
      for (std::uint64_t k = 0; k < n; ++k) {
        const std::uint64_t i = next_++;
        const std::size_t t = i % terminals_.size();
        char id[96];
        std::snprintf(id, sizeof id, "%s:%07llu", terminals_[t].c_str(),
                      static_cast<unsigned long long>(i));
        const int region = region_of(i);
        queue_locked(
            t, id,
            txn_json(terminals_[t], id, card_of(region, i), 100 + static_cast<long long>(i % 900)),
            region);
        ids.emplace_back(id);
      }
    }
    cv_.notify_all();
    return ids;
  }

  // Queues one record with a payload of the test's own.
  void add_payload(std::size_t terminal, const std::string& txn_id, const std::string& payload,
                   int tag) {
    {
      std::lock_guard lock(mu_);
      queue_locked(terminal, txn_id, payload, tag);
    }
    cv_.notify_all();
  }

  std::size_t queued() const {
    std::lock_guard lock(mu_);
    return entries_.size();
  }
  std::size_t acked() const {
    std::lock_guard lock(mu_);
    return acked_;
  }
  bool wait_all_acked(milliseconds timeout) {
    std::unique_lock lock(mu_);
    return cv_.wait_for(lock, timeout, [&] { return acked_ == entries_.size(); });
  }
  std::vector<Acked> acked_records() const {
    std::lock_guard lock(mu_);
    std::vector<Acked> out;
    for (const auto& [id, e] : entries_) {
      if (e.acked) out.push_back(Acked{terminals_[e.terminal], id, e.tag});
    }
    return out;
  }
  // Milliseconds from the first publish to the ack, for the given records that were acked.
  std::vector<double> ack_latencies_ms(const std::vector<std::string>& ids) const {
    std::lock_guard lock(mu_);
    std::vector<double> out;
    for (const auto& id : ids) {
      const auto it = entries_.find(id);
      if (it == entries_.end() || !it->second.acked) continue;
      out.push_back(
          std::chrono::duration<double, std::milli>(it->second.acked_at - it->second.first_pub)
              .count());
    }
    std::sort(out.begin(), out.end());
    return out;
  }
  Stats stats() const {
    std::lock_guard lock(mu_);
    return stats_;
  }

 private:
  struct Entry {
    std::size_t terminal = 0;
    std::string payload;
    int tag = 0;
    bool published = false;
    bool acked = false;
    Steady::time_point first_pub{};
    Steady::time_point acked_at{};
    milliseconds backoff{0};
  };
  struct Due {
    Steady::time_point at;
    std::string id;
    bool operator>(const Due& o) const { return at > o.at; }
  };

  void queue_locked(std::size_t t, const std::string& id, std::string payload, int tag) {
    Entry e;
    e.terminal = t;
    e.payload = std::move(payload);
    e.tag = tag;
    if (entries_.emplace(id, std::move(e)).second) fresh_[t].push_back(id);
  }

  void on_ack(const std::string& payload) {
    const json j = json::parse(payload, nullptr, false);
    if (!j.is_object()) return;
    const std::string id = j.value("txn_id", "");
    const std::string status = j.value("status", "");
    {
      std::lock_guard lock(mu_);
      if (status == "stored") {
        ++stats_.stored;
      } else if (status == "duplicate") {
        ++stats_.duplicate;
      } else {
        ++stats_.rejected;
        stats_.last_rejection = payload;
        return;  // a rejected record is kept and resent, as the protocol asks
      }
      const auto it = entries_.find(id);
      if (it == entries_.end() || it->second.acked) return;
      it->second.acked = true;
      it->second.acked_at = Steady::now();
      it->second.payload.clear();
      it->second.payload.shrink_to_fit();
      --outstanding_[it->second.terminal];
      ++acked_;
    }
    cv_.notify_all();
  }

  void pump() {
    struct Send {
      std::size_t terminal;
      std::string payload;
    };
    std::vector<Send> batch;
    for (;;) {
      batch.clear();
      {
        std::unique_lock lock(mu_);
        if (stop_) return;
        const auto now = Steady::now();
        while (!resend_.empty() && resend_.top().at <= now && batch.size() < 4000) {
          Due d = resend_.top();
          resend_.pop();
          auto it = entries_.find(d.id);
          if (it == entries_.end() || it->second.acked) continue;
          Entry& e = it->second;
          e.backoff = std::min(e.backoff * 2, o_.max_resend);
          resend_.push(Due{now + e.backoff, d.id});
          ++stats_.resends;
          batch.push_back(Send{e.terminal, e.payload});
        }
        for (std::size_t t = 0; t < fresh_.size(); ++t) {
          while (!fresh_[t].empty() && outstanding_[t] < o_.window && batch.size() < 4000) {
            const std::string id = std::move(fresh_[t].front());
            fresh_[t].pop_front();
            Entry& e = entries_.at(id);
            e.published = true;
            e.first_pub = now;
            e.backoff = o_.first_resend;
            ++outstanding_[t];
            ++stats_.publishes;
            resend_.push(Due{now + e.backoff, id});
            batch.push_back(Send{t, e.payload});
          }
        }
        if (batch.empty()) {
          cv_.wait_for(lock, 5ms);
          continue;
        }
      }
      std::uint64_t errors = 0;
      for (const Send& s : batch) {
        try {
          clients_[s.terminal]->publish(
              ::mqtt::message::create(topic(terminals_[s.terminal], "txn"), s.payload, 1, false));
        } catch (const std::exception&) {
          ++errors;  // still pending: the resend timer publishes it again
        }
      }
      if (errors > 0) {
        std::lock_guard lock(mu_);
        stats_.publish_errors += errors;
      }
    }
  }

  const Options o_;
  std::vector<std::string> terminals_;
  std::vector<std::unique_ptr<::mqtt::async_client>> clients_;

  mutable std::mutex mu_;
  std::condition_variable cv_;
  bool stop_ = false;
  std::unordered_map<std::string, Entry> entries_;
  std::vector<std::deque<std::string>> fresh_;
  std::vector<std::size_t> outstanding_;
  std::priority_queue<Due, std::vector<Due>, std::greater<>> resend_;
  std::uint64_t next_ = 0;
  std::size_t acked_ = 0;
  Stats stats_;
  std::thread pump_;
};

// ---- the platform
// ----------------------------------------------------------------------------------

struct ReceivedRow {
  long long rowid = 0;  // arrival order
  std::string platform;
  std::string terminal;
  std::string txn_id;
  std::string batch_id;  // the batch that brought it first
  long long seq = 0;
  long long duplicates = 0;
  long long region = 0;
};

sqlite3* open_read_only(const std::string& path) {
  sqlite3* db = nullptr;
  if (sqlite3_open_v2(path.c_str(), &db, SQLITE_OPEN_READONLY, nullptr) != SQLITE_OK) {
    sqlite3_close(db);
    return nullptr;
  }
  sqlite3_busy_timeout(db, 5000);
  return db;
}

std::vector<ReceivedRow> received_rows(const std::string& path) {
  std::vector<ReceivedRow> out;
  sqlite3* db = open_read_only(path);
  if (db == nullptr) return out;
  sqlite3_stmt* st = nullptr;
  if (sqlite3_prepare_v2(db,
                         "SELECT rowid, platform, terminal, txn_id, batch_id, seq, duplicates, "
                         "issuer_region FROM received WHERE source_gateway = ?1 ORDER BY rowid",
                         -1, &st, nullptr) == SQLITE_OK) {
    sqlite3_bind_text(st, 1, kGatewayId.c_str(), -1, SQLITE_TRANSIENT);
    while (sqlite3_step(st) == SQLITE_ROW) {
      ReceivedRow r;
      auto text = [&](int i) {
        const auto* p = sqlite3_column_text(st, i);
        return p ? std::string(reinterpret_cast<const char*>(p)) : std::string();
      };
      r.rowid = sqlite3_column_int64(st, 0);
      r.platform = text(1);
      r.terminal = text(2);
      r.txn_id = text(3);
      r.batch_id = text(4);
      r.seq = sqlite3_column_int64(st, 5);
      r.duplicates = sqlite3_column_int64(st, 6);
      r.region = sqlite3_column_int64(st, 7);
      out.push_back(std::move(r));
    }
  }
  sqlite3_finalize(st);
  sqlite3_close(db);
  return out;
}

// platform -> rows, straight from the table (cheap enough to poll).
std::map<std::string, long long> unique_by_platform(const std::string& path) {
  std::map<std::string, long long> out;
  sqlite3* db = open_read_only(path);
  if (db == nullptr) return out;
  sqlite3_stmt* st = nullptr;
  if (sqlite3_prepare_v2(db, "SELECT platform, count(*) FROM received GROUP BY platform", -1, &st,
                         nullptr) == SQLITE_OK) {
    while (sqlite3_step(st) == SQLITE_ROW) {
      out[reinterpret_cast<const char*>(sqlite3_column_text(st, 0))] = sqlite3_column_int64(st, 1);
    }
  }
  sqlite3_finalize(st);
  sqlite3_close(db);
  return out;
}

// platform -> (batches received, receptions beyond the first: re-sends of a batch id).
std::map<std::string, std::pair<long long, long long>> batch_receptions(const std::string& path) {
  std::map<std::string, std::pair<long long, long long>> out;
  sqlite3* db = open_read_only(path);
  if (db == nullptr) return out;
  sqlite3_stmt* st = nullptr;
  if (sqlite3_prepare_v2(db,
                         "SELECT platform, count(*), COALESCE(sum(times - 1), 0) FROM "
                         "received_batch GROUP BY platform",
                         -1, &st, nullptr) == SQLITE_OK) {
    while (sqlite3_step(st) == SQLITE_ROW) {
      out[reinterpret_cast<const char*>(sqlite3_column_text(st, 0))] = {
          sqlite3_column_int64(st, 1), sqlite3_column_int64(st, 2)};
    }
  }
  sqlite3_finalize(st);
  sqlite3_close(db);
  return out;
}

// `ykt-platform-sim count --db FILE`: platform -> counts for this gateway.
std::map<std::string, PlatformCount> counts_at(const std::string& db) {
  std::string out;
  auto counts = platform_counts(db, kGatewayId, "", &out);
  EXPECT_TRUE(counts.has_value()) << out;
  return counts.value_or(std::map<std::string, PlatformCount>{});
}

// The platform's own figures, logged when it stops (SIGTERM): the last run's line per platform.
struct ReceiverFigures {
  long long batches = 0, records = 0, duplicates = 0, dropped_acks = 0;
};
std::map<std::string, ReceiverFigures> receiver_figures(const std::string& log) {
  std::map<std::string, ReceiverFigures> out;
  static const std::regex re(
      R"(batches platform=(\w+) accepted=(\d+) records=(\d+) duplicates=(\d+) invalid=\d+ )"
      R"(injected_500=\d+ injected_429=\d+ injected_400=\d+ dropped_acks=(\d+))");
  for (std::sregex_iterator it(log.begin(), log.end(), re), end; it != end; ++it) {
    ReceiverFigures f;
    f.batches = std::stoll((*it)[2]);
    f.records = std::stoll((*it)[3]);
    f.duplicates = std::stoll((*it)[4]);
    f.dropped_acks = std::stoll((*it)[5]);
    out[(*it)[1]] = f;
  }
  return out;
}

// ykt-platform-sim serve on fixed ports, so a restart comes back where the gateway looks.
class Platform {
 public:
  Platform(const std::string& dir, const std::string& hmac_key_file, const std::string& certs)
      : dir_(dir),
        hmac_(hmac_key_file),
        certs_(certs),
        zmq_port_(free_port()),
        https_port_(free_port()) {
    std::filesystem::create_directories(dir_);
    db_ = dir_ + "/platform.db";
    log_ = dir_ + "/platform.out";
    std::string out;
    EXPECT_EQ(run_command({bin_dir() + "/ykt-platform-sim", "keygen", "--out", dir_ + "/server.key",
                           "--force"},
                          &out),
              0)
        << out;
    public_key_ = out.substr(0, out.find('\n'));
  }
  ~Platform() { proc_.stop(); }

  void start(const std::vector<std::string>& faults = {}) {
    const auto before = count_of(read_file(log_), "ready zmq=");
    std::vector<std::string> argv{bin_dir() + "/ykt-platform-sim",
                                  "serve",
                                  "--zmq",
                                  endpoint(),
                                  "--server-key-file",
                                  dir_ + "/server.key",
                                  "--hmac-key-file",
                                  hmac_,
                                  "--http",
                                  "off",
                                  "--cards",
                                  "100",
                                  "--db",
                                  db_,
                                  "--https",
                                  "127.0.0.1:" + std::to_string(https_port_),
                                  "--tls-cert",
                                  certs_ + "/server.pem",
                                  "--tls-key",
                                  certs_ + "/server.key",
                                  "--tls-client-ca",
                                  certs_ + "/ca.pem"};
    argv.insert(argv.end(), faults.begin(), faults.end());
    proc_ = Process::spawn(argv, log_);
    const bool ready = eventually(
        [&] { return count_of(read_file(log_), "ready zmq=") > before || !proc_.running(); }, 10s,
        20ms);
    EXPECT_TRUE(ready && proc_.running()) << tail(log());
  }
  int stop() { return proc_.stop(std::chrono::milliseconds(10'000)); }
  void kill() {
    proc_.signal(SIGKILL);
    proc_.wait(5s);
  }

  std::string endpoint() const { return "tcp://127.0.0.1:" + std::to_string(zmq_port_); }
  std::string https_url() const { return "https://127.0.0.1:" + std::to_string(https_port_); }
  const std::string& public_key() const { return public_key_; }
  const std::string& db() const { return db_; }
  std::string log() const { return read_file(log_); }

 private:
  std::string dir_, hmac_, certs_, db_, log_, public_key_;
  int zmq_port_, https_port_;
  Process proc_;
};

// ---- checks
// ------------------------------------------------------------------------------------------

// Every record of `expected` (txn id -> platforms) is at exactly those platforms; the table's
// UNIQUE (platform, source_gateway, terminal, txn_id) makes "at" mean "once".
struct DeliveryCheck {
  std::size_t expected_deliveries = 0;
  std::size_t missing = 0;
  std::size_t unexpected = 0;  // at a platform it is not routed to, or never sent
  std::size_t wrong_region = 0;
  std::vector<std::string> examples;
};

DeliveryCheck check_delivery(const std::vector<ReceivedRow>& rows,
                             const std::map<std::string, std::set<std::string>>& expected,
                             const std::map<std::string, int>& regions = {}) {
  DeliveryCheck c;
  std::set<std::pair<std::string, std::string>> seen;  // (txn_id, platform)
  for (const ReceivedRow& r : rows) {
    seen.emplace(r.txn_id, r.platform);
    const auto it = expected.find(r.txn_id);
    if (it == expected.end() || !it->second.count(r.platform)) {
      ++c.unexpected;
      if (c.examples.size() < 5) c.examples.push_back("unexpected " + r.platform + " " + r.txn_id);
    }
    const auto reg = regions.find(r.txn_id);
    if (reg != regions.end() && reg->second != r.region) ++c.wrong_region;
  }
  for (const auto& [id, platforms] : expected) {
    for (const std::string& p : platforms) {
      ++c.expected_deliveries;
      if (!seen.count({id, p})) {
        ++c.missing;
        if (c.examples.size() < 10) c.examples.push_back("missing at " + p + ": " + id);
      }
    }
  }
  return c;
}

std::map<std::string, std::set<std::string>> routes_of(
    const std::vector<Fleet::Acked>& acked,
    const std::function<std::set<std::string>(int)>& route = default_route) {
  std::map<std::string, std::set<std::string>> out;
  for (const auto& a : acked) out[a.txn_id] = route(a.tag);
  return out;
}

std::map<std::string, long long> expected_per_platform(
    const std::map<std::string, std::set<std::string>>& expected) {
  std::map<std::string, long long> out;
  for (const auto& [id, platforms] : expected)
    for (const auto& p : platforms) ++out[p];
  return out;
}

// Arrival order at one platform: the rows a batch brought first are consecutive rowids (one
// transaction). `max_displacement` is the most batches with higher seq that arrived before a
// batch; 0 means strictly in seq order.
struct OrderReport {
  std::size_t batches = 0;
  std::size_t late_batches = 0;
  std::size_t max_displacement = 0;
  bool seq_increasing_within_batches = true;
};

OrderReport arrival_order(const std::vector<ReceivedRow>& rows, const std::string& platform,
                          long long after_rowid = 0) {
  struct Span {
    long long lo, hi;
  };
  std::vector<Span> spans;
  std::string last;
  long long prev_seq = -1;
  OrderReport rep;
  for (const ReceivedRow& r : rows) {
    if (r.platform != platform || r.rowid <= after_rowid) continue;
    if (spans.empty() || r.batch_id != last) {
      spans.push_back({r.seq, r.seq});
      last = r.batch_id;
    } else {
      if (r.seq <= prev_seq) rep.seq_increasing_within_batches = false;
      spans.back().hi = std::max(spans.back().hi, r.seq);
      spans.back().lo = std::min(spans.back().lo, r.seq);
    }
    prev_seq = r.seq;
  }
  rep.batches = spans.size();
  for (std::size_t i = 0; i < spans.size(); ++i) {
    std::size_t displaced = 0;
    for (std::size_t j = 0; j < i; ++j)
      if (spans[j].lo > spans[i].hi) ++displaced;
    if (displaced > 0) ++rep.late_batches;
    rep.max_displacement = std::max(rep.max_displacement, displaced);
  }
  return rep;
}

struct OutboxLine {
  long long acked_seq = 0, backlog = 0, lag_s = 0, open_batches = 0, dead_letters = 0;
};

// `yktgw outbox stats`: destination -> figures.
std::map<std::string, OutboxLine> outbox_stats(const GatewayFiles& f, std::string* raw = nullptr) {
  std::string out;
  const int rc = run_command({bin_dir() + "/yktgw", "--config", f.config, "outbox", "stats"}, &out);
  EXPECT_EQ(rc, 0) << out;
  if (raw) *raw = out;
  std::map<std::string, OutboxLine> stats;
  std::istringstream in(out);
  std::string line;
  std::getline(in, line);  // header
  while (std::getline(in, line)) {
    std::istringstream fields(line);
    std::string dest;
    OutboxLine l;
    if (fields >> dest >> l.acked_seq >> l.backlog >> l.lag_s >> l.open_batches >> l.dead_letters)
      stats[dest] = l;
  }
  return stats;
}

double percentile(const std::vector<double>& sorted, double p) {
  if (sorted.empty()) return 0;
  const auto i = static_cast<std::size_t>(p * static_cast<double>(sorted.size() - 1));
  return sorted[i];
}

// ---- the fixture
// ------------------------------------------------------------------------------------

// TOML sections the test adds to write_gateway_config's base (which has [gateway], [mqtt],
// [security], [policy] and [log]).
class Toml {
 public:
  Toml& set(const std::string& path, const std::string& value) {
    const auto dot = path.rfind('.');
    auto& sec = sections_[path.substr(0, dot)];
    const std::string key = path.substr(dot + 1);
    for (auto& kv : sec) {
      if (kv.first == key) {
        kv.second = value;
        return *this;
      }
    }
    sec.emplace_back(key, value);
    return *this;
  }
  std::string render() const {
    std::string out;
    for (const auto& [name, keys] : sections_) {
      out += "\n[" + name + "]\n";
      for (const auto& [k, v] : keys) out += k + " = " + v + "\n";
    }
    return out;
  }

 private:
  std::map<std::string, std::vector<std::pair<std::string, std::string>>> sections_;
};

class ForwardingTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    certs_ = make_temp_dir("fw-certs");
    std::string out;
    ASSERT_EQ(
        run_command({"bash", source_dir() + "/deploy/make-dev-certs.sh", certs_, kGatewayId}, &out),
        0)
        << out;
  }

  void SetUp() override {
    const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
    dir_ = make_temp_dir(std::string("fw-") + info->name());
    broker_ = std::make_unique<Broker>(dir_);
    files_ = write_gateway_config(dir_, broker_->uri(), kSite);  // writes the HMAC key too
    std::string out;
    ASSERT_EQ(
        run_command({bin_dir() + "/yktgw", "keygen", "curve", "--out", dir_ + "/client.key"}, &out),
        0)
        << out;
    platform_ = std::make_unique<Platform>(dir_ + "/platform", files_.key_file, certs_);
  }

  void TearDown() override {
    gateway_.reset();
    platform_.reset();
    broker_.reset();
  }

  // Both links to platform_, with short timeouts so faults are noticed in test time. A
  // sanitizer build answers a batch late enough to pass the 3 s timeout now and then: a
  // spurious re-send the 100k test counts as a defect, so the timeouts are widened there.
  Toml links() const {
    Toml t;
    t.set("district.endpoint", q(platform_->endpoint()))
        .set("district.server_public_key", q(platform_->public_key()))
        .set("district.client_key_file", q(dir_ + "/client.key"))
        .set("district.heartbeat_interval_ms", "200")
        .set("district.heartbeat_timeout_ms", std::to_string(1000 * kSanitizerSlowdown))
        .set("district.batch_timeout_ms", std::to_string(3000 * kSanitizerSlowdown))
        .set("upstream.batch_linger_ms", "20")
        .set("upstream.retry_min_ms", "50")
        .set("upstream.retry_max_ms", "1000")
        .set("https.url", q(platform_->https_url()))
        .set("https.ca_file", q(certs_ + "/ca.pem"))
        .set("https.client_cert_file", q(certs_ + "/client.pem"))
        .set("https.client_key_file", q(certs_ + "/client.key"))
        .set("https.connect_timeout_ms", "1000")
        .set("https.timeout_ms", std::to_string(5000 * kSanitizerSlowdown));
    return t;
  }

  void configure(const Toml& t, const std::string& data_dir = "") {
    files_ = write_gateway_config(dir_, broker_->uri(), kSite, t.render());
    if (!data_dir.empty()) {
      // Another store: rewrite the one line that names it.
      std::string text = read_file(files_.config);
      const std::string from = "data_dir = \"" + files_.data_dir + "\"";
      text.replace(text.find(from), from.size(), "data_dir = \"" + data_dir + "\"");
      write_file(files_.config, text);
      files_.data_dir = data_dir;
    }
  }

  // Starts (or restarts) the gateway and waits for this run's "mqtt connected".
  void start_gateway() {
    const auto before = count_of(read_file(files_.log), "mqtt connected");
    gateway_ = std::make_unique<Gateway>(files_);
    const bool up = eventually(
        [&] {
          return count_of(read_file(files_.log), "mqtt connected") > before ||
                 !gateway_->process().running();
        },
        15s, 20ms);
    ASSERT_TRUE(up && gateway_->process().running()) << tail(gateway_->log());
  }

  // Waits until the platform holds `expected` rows per platform (or the time is up).
  bool wait_platform(const std::map<std::string, long long>& expected, milliseconds timeout) {
    return eventually([&] { return unique_by_platform(platform_->db()) == expected; }, timeout,
                      200ms);
  }

  static std::string certs_;
  std::string dir_;
  std::unique_ptr<Broker> broker_;
  GatewayFiles files_;
  std::unique_ptr<Platform> platform_;
  std::unique_ptr<Gateway> gateway_;
};

std::string ForwardingTest::certs_;

void print_delivery(const char* what, const DeliveryCheck& c) {
  std::printf("%s: expected deliveries=%zu missing=%zu unexpected=%zu\n", what,
              c.expected_deliveries, c.missing, c.unexpected);
  for (const auto& e : c.examples) std::printf("  %s\n", e.c_str());
}

// ---------------------------------------------------------------------------------------------------
// 1. 100 000 records, both destinations, 5 % of the platform's acks dropped: every acked record
//    is at the platform of its region exactly once; the repeats the platform saw are the re-sends
//    of batches whose ack it dropped, and nothing else.

TEST_F(ForwardingTest, HundredThousandRecordsReachBothPlatformsExactlyOnceWithDroppedAcks) {
  constexpr std::uint64_t kRecords = 100'000;
  platform_->start({"--drop-acks", "0.05"});
  // The default heartbeat timeout: a loaded box must not take a slow heartbeat answer for a
  // link down, which would re-send batches the platform already has.
  Toml t = links();
  t.set("district.heartbeat_interval_ms", "1000").set("district.heartbeat_timeout_ms", "3500");
  configure(t);
  ASSERT_NO_FATAL_FAILURE(start_gateway());

  Fleet fleet(broker_->uri(), Fleet::Options{8, "pos", 5000ms, 10000ms, 1000});
  const auto t0 = Steady::now();
  fleet.add(kRecords, mixed_region);
  ASSERT_TRUE(fleet.wait_all_acked(180s)) << fleet.acked() << " of " << kRecords << " acked\n"
                                          << tail(gateway_->log());
  const double ack_s = seconds_since(t0);

  const auto acked = fleet.acked_records();
  ASSERT_EQ(acked.size(), kRecords);
  const auto expected = routes_of(acked);
  const auto per_platform = expected_per_platform(expected);
  const bool complete = wait_platform(per_platform, 180s);
  const double platform_s = seconds_since(t0);
  ASSERT_TRUE(complete) << "at the platform: " << json(unique_by_platform(platform_->db())).dump()
                        << " expected " << json(per_platform).dump() << "\n"
                        << tail(gateway_->log());
  // Every re-send is over once both cursors are at the end. With the right certificates every
  // handshake succeeds, also the resumed ones libcurl makes on each new connection (a server
  // asking for client certificates needs a session id context for those).
  std::string raw;
  EXPECT_TRUE(eventually(
      [&] {
        auto s = outbox_stats(files_, &raw);
        return s[kDistrict].backlog == 0 && s[kCrossprov].backlog == 0 &&
               s[kDistrict].open_batches == 0 && s[kCrossprov].open_batches == 0;
      },
      30s, 250ms))
      << raw;
  const double settled_s = seconds_since(t0);

  // The gateway first: the platform's HTTPS side waits for open keep-alive connections when it
  // stops. Its figures (dropped acks) are logged on a clean exit.
  EXPECT_EQ(count_of(gateway_->log(), "TLS failure"), 0u) << tail(gateway_->log());
  gateway_->process().stop();
  EXPECT_EQ(platform_->stop(), 0);
  const double stopped_s = seconds_since(t0);
  const auto rows = received_rows(platform_->db());
  std::map<std::string, int> regions;
  for (const auto& a : acked) regions[a.txn_id] = a.tag;
  const DeliveryCheck check = check_delivery(rows, expected, regions);
  print_delivery("exactly once", check);
  EXPECT_EQ(check.missing, 0u);
  EXPECT_EQ(check.unexpected, 0u);
  EXPECT_EQ(check.wrong_region, 0u);

  const auto counts = counts_at(platform_->db());
  const auto figures = receiver_figures(platform_->log());
  const auto receptions = batch_receptions(platform_->db());
  for (const std::string& p : {kDistrict, kCrossprov}) {
    const PlatformCount c = counts.count(p) ? counts.at(p) : PlatformCount{};
    const ReceiverFigures f = figures.count(p) ? figures.at(p) : ReceiverFigures{};
    const auto r = receptions.count(p) ? receptions.at(p) : std::pair<long long, long long>{};
    std::printf(
        "%s: unique=%lld (expected %lld) duplicates=%lld batches=%lld re-sent batch "
        "receptions=%lld dropped_acks=%lld\n",
        p.c_str(), c.unique, per_platform.at(p), c.duplicates, r.first, r.second, f.dropped_acks);
    EXPECT_EQ(c.unique, per_platform.at(p)) << p;
    EXPECT_EQ(c.duplicates, f.duplicates) << p << ": count and the receiver's own tally differ";
    // Repeats come from re-sent batches only, and each re-send answers one dropped ack.
    EXPECT_GT(f.dropped_acks, 0) << p << ": 5 % of some hundred batches, expected a few";
    EXPECT_GT(c.duplicates, 0) << p;
    EXPECT_EQ(r.second, f.dropped_acks)
        << p << ": batches received again without a dropped ack (a spurious timeout?)";
  }
  const auto s = fleet.stats();
  EXPECT_EQ(s.rejected, 0u) << s.last_rejection;
  std::printf(
      "100k: %llu records from 8 terminals acked in %.1f s (%.0f/s); all at the platforms after "
      "%.1f s (%.0f/s end to end); terminal resends=%llu duplicate acks=%llu\n",
      static_cast<unsigned long long>(kRecords), ack_s, kRecords / ack_s, platform_s,
      kRecords / platform_s, static_cast<unsigned long long>(s.resends),
      static_cast<unsigned long long>(s.duplicate));
  std::printf("100k: cursors settled at %.1f s, platform stopped at %.1f s, checked at %.1f s\n",
              settled_s, stopped_s, seconds_since(t0));
  RecordProperty("ack_rate_per_s", std::to_string(static_cast<long long>(kRecords / ack_s)));
  RecordProperty("end_to_end_rate_per_s",
                 std::to_string(static_cast<long long>(kRecords / platform_s)));
}

// ---------------------------------------------------------------------------------------------------
// 2. Platform down, then up: terminals are acked throughout the outage, the backlog drains after
//    it, complete and in seq order per destination.

TEST_F(ForwardingTest, PlatformDownTerminalsStillAckedThenTheBacklogDrainsInOrder) {
  platform_->start();
  configure(links());
  ASSERT_NO_FATAL_FAILURE(start_gateway());
  Fleet fleet(broker_->uri(), Fleet::Options{4, "bus", 3000ms, 6000ms, 500});

  // Link up, steady state.
  fleet.add(2000, mixed_region);
  ASSERT_TRUE(fleet.wait_all_acked(30s));
  ASSERT_TRUE(wait_platform(expected_per_platform(routes_of(fleet.acked_records())), 30s));
  long long last_rowid_before = 0;
  for (const auto& r : received_rows(platform_->db()))
    last_rowid_before = std::max(last_rowid_before, r.rowid);

  // Outage: the platform process goes away (both transports) for 8 s while terminals keep
  // reporting 1 000 records a second.
  platform_->kill();
  const auto outage = Steady::now();
  std::vector<std::string> during;
  while (seconds_since(outage) < 8.0) {
    auto ids = fleet.add(250, mixed_region);
    during.insert(during.end(), ids.begin(), ids.end());
    std::this_thread::sleep_for(250ms);
  }
  ASSERT_TRUE(fleet.wait_all_acked(10s))
      << fleet.acked() << " of " << fleet.queued() << " acked with the platform down\n"
      << tail(gateway_->log());
  const auto lat = fleet.ack_latencies_ms(during);
  std::string raw;
  const auto backlog = outbox_stats(files_, &raw);
  const double outage_s = seconds_since(outage);
  std::printf(
      "outage %.1f s: %zu records sent and acked meanwhile, ack latency p50=%.1f p99=%.1f "
      "max=%.1f ms; backlog district=%lld crossprov=%lld\n",
      outage_s, during.size(), percentile(lat, 0.5), percentile(lat, 0.99), lat.back(),
      backlog.count(kDistrict) ? backlog.at(kDistrict).backlog : -1,
      backlog.count(kCrossprov) ? backlog.at(kCrossprov).backlog : -1);
  EXPECT_EQ(lat.size(), during.size());
  // Held up would mean waits near the terminal protocol's first resend (5 s).
  EXPECT_LT(percentile(lat, 0.99), 2500.0) << "terminals held up while the platform is down";
  ASSERT_TRUE(backlog.count(kDistrict) && backlog.count(kCrossprov)) << raw;
  EXPECT_GT(backlog.at(kDistrict).backlog, 0) << raw;
  EXPECT_GT(backlog.at(kCrossprov).backlog, 0) << raw;
  // Nothing past the outage's start could reach the dead platform, and what the gateway holds is
  // what the terminals were acked for since (the records of the last batches before the kill
  // may or may not have been answered).
  EXPECT_GE(backlog.at(kDistrict).backlog + backlog.at(kCrossprov).backlog,
            static_cast<long long>(during.size()));

  // Back up: the backlog drains.
  const auto up = Steady::now();
  platform_->start();
  const auto expected = routes_of(fleet.acked_records());
  const bool drained = wait_platform(expected_per_platform(expected), 60s);
  const double drain_s = seconds_since(up);
  ASSERT_TRUE(drained) << json(unique_by_platform(platform_->db())).dump() << "\n"
                       << tail(gateway_->log());
  const auto rows = received_rows(platform_->db());
  const DeliveryCheck check = check_delivery(rows, expected);
  print_delivery("after the outage", check);
  EXPECT_EQ(check.missing, 0u);
  EXPECT_EQ(check.unexpected, 0u);

  // Order: the district link is one DEALER pipe into a single-threaded ROUTER, so its batches
  // arrive in seq order. HTTPS carries up to https.max_in_flight (4) batches at once on parallel
  // connections: a batch can be overtaken only by batches of its window (a failed one by at
  // most 4: the window it was sent in, refilled once), never by the backlog behind.
  for (const auto& [p, bound] : {std::pair<std::string, std::size_t>{kDistrict, 0},
                                 std::pair<std::string, std::size_t>{kCrossprov, 4}}) {
    const OrderReport o = arrival_order(rows, p, last_rowid_before);
    std::printf(
        "%s drain: %zu batches after the outage, %zu arrived after a later one, max "
        "displacement %zu\n",
        p.c_str(), o.batches, o.late_batches, o.max_displacement);
    EXPECT_GT(o.batches, 0u);
    EXPECT_TRUE(o.seq_increasing_within_batches) << p;
    EXPECT_LE(o.max_displacement, bound) << p;
  }
  std::printf("drain: %zu records (backlog) in %.1f s after the platform returned\n", during.size(),
              drain_s);
}

// ---------------------------------------------------------------------------------------------------
// 2b. The platform stops answering on a schedule while its process stays up (`--down`: the
//     ZeroMQ side answers nothing, heartbeats included; the HTTPS listener closes). Note that a
//     schedule begins with its up phase: "down 4s every 8s" is up 4 s, then down 4 s.

TEST_F(ForwardingTest, ScheduledPlatformOutagesTerminalsStillAckedNothingLost) {
  platform_->start({"--down", "down 4s every 8s"});
  const auto platform_start = Steady::now();
  configure(links());
  ASSERT_NO_FATAL_FAILURE(start_gateway());
  Fleet fleet(broker_->uri(), Fleet::Options{4, "scn", 3000ms, 6000ms, 500});

  // 1 000 records a second for 11 s: through the first outage (4-8 s) into the second (12-16 s).
  std::vector<std::string> ids;
  const auto t0 = Steady::now();
  while (seconds_since(t0) < 11.0) {
    auto more = fleet.add(250, mixed_region);
    ids.insert(ids.end(), more.begin(), more.end());
    std::this_thread::sleep_for(250ms);
  }
  ASSERT_TRUE(fleet.wait_all_acked(10s)) << fleet.acked() << " of " << fleet.queued();
  const auto lat = fleet.ack_latencies_ms(ids);
  EXPECT_LT(percentile(lat, 0.99), 2500.0) << "terminals held up by the platform's outages";

  const auto expected = routes_of(fleet.acked_records());
  const bool complete = wait_platform(expected_per_platform(expected), 30s);
  const double done_s = seconds_since(platform_start);
  ASSERT_TRUE(complete) << json(unique_by_platform(platform_->db())).dump() << "\n"
                        << tail(gateway_->log());
  const auto rows = received_rows(platform_->db());
  const DeliveryCheck check = check_delivery(rows, expected);
  print_delivery("scheduled outages", check);
  EXPECT_EQ(check.missing, 0u);
  EXPECT_EQ(check.unexpected, 0u);
  const std::string plog = platform_->log();
  EXPECT_NE(plog.find("district link down (schedule)"), std::string::npos) << tail(plog);
  EXPECT_NE(plog.find("https down (schedule)"), std::string::npos) << tail(plog);
  EXPECT_NE(gateway_->log().find("district link down"), std::string::npos);
  const auto counts = counts_at(platform_->db());
  for (const auto& [p, bound] : {std::pair<std::string, std::size_t>{kDistrict, 0},
                                 std::pair<std::string, std::size_t>{kCrossprov, 4}}) {
    const OrderReport o = arrival_order(rows, p);
    std::printf(
        "%s: %zu batches, %zu arrived after a later one, max displacement %zu; "
        "duplicates=%lld\n",
        p.c_str(), o.batches, o.late_batches, o.max_displacement,
        counts.count(p) ? counts.at(p).duplicates : -1);
    EXPECT_TRUE(o.seq_increasing_within_batches) << p;
    EXPECT_LE(o.max_displacement, bound) << p;
  }
  std::printf(
      "scheduled outages: %zu records, ack latency p50=%.1f p99=%.1f max=%.1f ms; all at the "
      "platforms %.1f s after the platform started\n",
      ids.size(), percentile(lat, 0.5), percentile(lat, 0.99), lat.empty() ? 0 : lat.back(),
      done_s);
}

// ---------------------------------------------------------------------------------------------------
// 3. kill -9 of the gateway in the middle of batches, five times: nothing acked goes missing.

TEST_F(ForwardingTest, FiveKillNinesInTheMiddleOfBatchesLoseNothing) {
  // Slow acks keep batches in flight on both links at any moment, and terminals report about
  // 3 000 records a second throughout, so every kill lands among open batches, records in the
  // store's queue and acks on their way.
  platform_->start({"--slow-acks-ms", "300"});
  configure(links());
  ASSERT_NO_FATAL_FAILURE(start_gateway());
  Fleet fleet(broker_->uri(), Fleet::Options{8, "gate", 2000ms, 4000ms, 400});
  std::atomic<bool> feeding{true};
  std::thread feeder([&] {
    while (feeding.load()) {
      fleet.add(30, mixed_region);
      std::this_thread::sleep_for(10ms);
    }
  });

  std::mt19937 rng(std::random_device{}());
  const auto t0 = Steady::now();
  for (int round = 0; round < 5; ++round) {
    std::this_thread::sleep_for(milliseconds(std::uniform_int_distribution<int>(700, 1500)(rng)));
    gateway_->process().signal(SIGKILL);
    const auto code = gateway_->process().wait(5s);
    if (!code || *code != 128 + SIGKILL) {
      feeding = false;
      feeder.join();
      FAIL() << "kill -9 did not end the gateway";
    }
    start_gateway();
    if (HasFatalFailure()) {
      feeding = false;
      feeder.join();
      return;
    }
  }
  feeding = false;
  feeder.join();
  const double kill_phase_s = seconds_since(t0);
  ASSERT_TRUE(fleet.wait_all_acked(90s)) << fleet.acked() << " of " << fleet.queued() << " acked\n"
                                         << tail(gateway_->log());
  const auto acked = fleet.acked_records();
  const auto expected = routes_of(acked);
  const bool complete = wait_platform(expected_per_platform(expected), 90s);
  const auto rows = received_rows(platform_->db());
  const DeliveryCheck check = check_delivery(rows, expected);
  print_delivery("after five kill -9", check);
  ASSERT_TRUE(complete) << json(unique_by_platform(platform_->db())).dump() << "\n"
                        << tail(gateway_->log());
  EXPECT_EQ(check.missing, 0u);
  EXPECT_EQ(check.unexpected, 0u);

  // The restarts picked up batches that were formed (on record in outbox.db) and unanswered.
  const std::string log = gateway_->log();
  static const std::regex resumed(
      R"(destination=(\w+) link=yes cursor=(\d+) resumed_batches=(\d+))");
  long long resumed_total = 0;
  int starts = 0;
  std::string per_start;
  for (std::sregex_iterator it(log.begin(), log.end(), resumed), end; it != end; ++it) {
    ++starts;
    resumed_total += std::stoll((*it)[3]);
    per_start += " " + (*it)[1].str() + ":" + (*it)[3].str();
  }
  const auto counts = counts_at(platform_->db());
  const auto s = fleet.stats();
  std::printf(
      "kill -9 x5 in %.1f s: %zu records acked; %d destination starts resumed %lld unanswered "
      "batches; platform duplicates district=%lld crossprov=%lld; terminal resends=%llu "
      "duplicate acks=%llu\n",
      kill_phase_s, acked.size(), starts, resumed_total,
      counts.count(kDistrict) ? counts.at(kDistrict).duplicates : 0,
      counts.count(kCrossprov) ? counts.at(kCrossprov).duplicates : 0,
      static_cast<unsigned long long>(s.resends), static_cast<unsigned long long>(s.duplicate));
  std::printf("  resumed batches per destination start:%s\n", per_start.c_str());
  EXPECT_EQ(count_of(log, "TLS failure"), 0u) << tail(log);
  EXPECT_EQ(starts, 12) << "two destinations, six starts";
  EXPECT_GT(resumed_total, 0) << "no kill hit a batch in flight";
  EXPECT_EQ(s.rejected, 0u) << s.last_rejection;
}

// ---------------------------------------------------------------------------------------------------
// 4. Disk quota with the platform down: acks stop at the quota (records kept by the terminals),
//    nothing acked is lost; with the platform back, forwarding and pruning free space and acks
//    resume; every record ends at the platform.

TEST_F(ForwardingTest, DiskQuotaStopsAcksNothingLostAcksResumeWhenThePlatformReturns) {
  Toml t = links();
  t.set("store.disk_quota_mb", "1").set("store.wal_checkpoint_mb", "1");
  configure(t);
  ASSERT_NO_FATAL_FAILURE(start_gateway());  // the platform is not running
  Fleet fleet(broker_->uri(), Fleet::Options{4, "park", 1500ms, 3000ms, 500});
  // About 2 000 records a second, so the quota (checked every second) is met near its mark
  // rather than overrun by a burst.
  constexpr std::uint64_t kRecords = 12'000;
  const auto t0 = Steady::now();
  std::atomic<bool> feeding{true};
  std::thread feeder([&] {
    for (std::uint64_t sent = 0; sent < kRecords && feeding.load(); sent += 100) {
      fleet.add(100, mixed_region);
      std::this_thread::sleep_for(50ms);
    }
  });

  // Acks stop short of the total: no progress for 4 s.
  std::size_t last = 0;
  auto last_change = Steady::now();
  while (seconds_since(t0) < 60) {
    const std::size_t now_acked = fleet.acked();
    if (now_acked != last) {
      last = now_acked;
      last_change = Steady::now();
    } else if (seconds_since(last_change) > 4.0) {
      break;
    }
    std::this_thread::sleep_for(100ms);
  }
  feeding = false;
  feeder.join();
  const std::size_t stalled_at = fleet.acked();
  const double stall_s = seconds_since(last_change) > 4.0 ? seconds_since(t0) - 4.0 : -1;
  ASSERT_LT(stalled_at, kRecords) << "the quota never stopped the acks";
  ASSERT_GT(stalled_at, 0u);
  EXPECT_NE(gateway_->log().find("disk quota reached"), std::string::npos) << tail(gateway_->log());
  // Readiness says why: the broker is fine, the store takes no more records.
  httplib::Client status("127.0.0.1", files_.status_port);
  auto ready = status.Get("/readyz");
  ASSERT_TRUE(ready);
  EXPECT_EQ(ready->status, 503) << ready->body;
  {
    const json r = json::parse(ready->body);
    EXPECT_EQ(r["broker_connected"], true) << ready->body;
    EXPECT_EQ(r["store_writable"], false) << ready->body;
    EXPECT_NE(r["detail"].get<std::string>().find("disk quota reached"), std::string::npos)
        << ready->body;
  }

  // Nothing acked is lost: every acked record is in records.db, nothing else is.
  const std::string records_db = files_.data_dir + "/records.db";
  const auto acked_then = fleet.acked_records();
  EXPECT_EQ(sqlite_value(records_db, "SELECT count(*) FROM txn"),
            static_cast<long long>(acked_then.size()));
  {
    std::set<std::string> stored;
    sqlite3* db = open_read_only(records_db);
    ASSERT_NE(db, nullptr);
    sqlite3_stmt* st = nullptr;
    ASSERT_EQ(sqlite3_prepare_v2(db, "SELECT txn_id FROM txn", -1, &st, nullptr), SQLITE_OK);
    while (sqlite3_step(st) == SQLITE_ROW)
      stored.insert(reinterpret_cast<const char*>(sqlite3_column_text(st, 0)));
    sqlite3_finalize(st);
    sqlite3_close(db);
    std::size_t missing = 0;
    for (const auto& a : acked_then) missing += stored.count(a.txn_id) ? 0 : 1;
    EXPECT_EQ(missing, 0u);
  }
  std::string raw;
  const auto held = outbox_stats(files_, &raw);
  // With the platform down, what the gateway acked is exactly what it holds for the platforms.
  const auto held_for = expected_per_platform(routes_of(acked_then));
  EXPECT_EQ(held.count(kDistrict) ? held.at(kDistrict).backlog : -1, held_for.at(kDistrict)) << raw;
  EXPECT_EQ(held.count(kCrossprov) ? held.at(kCrossprov).backlog : -1, held_for.at(kCrossprov))
      << raw;
  const auto fleet_stats = fleet.stats();
  std::smatch m;
  const std::string at_alarm = gateway_->log();
  static const std::regex alarm(R"(disk quota reached: used_mb=(\d+) quota_mb=(\d+))");
  std::printf(
      "quota 1 MiB: acks stopped at %zu of %llu records about %.1f s after the start (used at "
      "the alarm: %s MiB); backlog district=%lld crossprov=%lld; terminal resends so far=%llu\n",
      stalled_at, static_cast<unsigned long long>(fleet.queued()), stall_s,
      std::regex_search(at_alarm, m, alarm) ? m[1].str().c_str() : "?",
      held.count(kDistrict) ? held.at(kDistrict).backlog : -1,
      held.count(kCrossprov) ? held.at(kCrossprov).backlog : -1,
      static_cast<unsigned long long>(fleet_stats.resends));

  // The platform returns: forwarding, pruning at the quota, acks again.
  const auto up = Steady::now();
  platform_->start();
  ASSERT_TRUE(fleet.wait_all_acked(90s))
      << fleet.acked() << " of " << fleet.queued() << " acked after the platform returned\n"
      << tail(gateway_->log());
  const double resume_s = seconds_since(up);
  const auto expected = routes_of(fleet.acked_records());
  ASSERT_TRUE(wait_platform(expected_per_platform(expected), 60s))
      << json(unique_by_platform(platform_->db())).dump() << "\n"
      << tail(gateway_->log());
  const DeliveryCheck check = check_delivery(received_rows(platform_->db()), expected);
  print_delivery("after the quota", check);
  EXPECT_EQ(check.missing, 0u);
  EXPECT_EQ(check.unexpected, 0u);
  const std::string log = gateway_->log();
  EXPECT_NE(log.find("disk quota alarm cleared"), std::string::npos) << tail(log);
  ready = status.Get("/readyz");
  ASSERT_TRUE(ready);
  EXPECT_EQ(ready->status, 200) << "ready again once the quota alarm cleared: " << ready->body;
  static const std::regex pruned(R"(pruned records=(\d+) any_age=true)");
  long long pruned_total = 0;
  for (std::sregex_iterator it(log.begin(), log.end(), pruned), end; it != end; ++it)
    pruned_total += std::stoll((*it)[1]);
  EXPECT_GT(pruned_total, 0) << "space came back without pruning at the quota?";
  std::printf(
      "quota: all %zu acked %.1f s after the platform returned; %lld acked records pruned at "
      "the quota; quota alarms raised=%zu cleared=%zu\n",
      fleet.queued(), resume_s, pruned_total, count_of(log, "disk quota reached: used_mb"),
      count_of(log, "disk quota alarm cleared"));
}

// ---------------------------------------------------------------------------------------------------
// 5. Refused links: a wrong pinned CURVE key, a CA that did not sign the platform's certificate,
//    an expired client certificate. Records are kept, the log says why, the gateway keeps
//    running; once the configuration is right they all arrive.

TEST_F(ForwardingTest, WrongCurveKeyWrongCaAndExpiredClientCertKeepRecordsAndSaySo) {
  platform_->start();
  std::string out;
  ASSERT_EQ(run_command({bin_dir() + "/ykt-platform-sim", "keygen", "--out", dir_ + "/impostor.key",
                         "--force"},
                        &out),
            0);
  const std::string wrong_key = out.substr(0, out.find('\n'));
  ASSERT_NE(wrong_key, platform_->public_key());

  Fleet fleet(broker_->uri(), Fleet::Options{2, "lib", 2000ms, 4000ms, 500});
  auto held_back = [&](const char* what, bool district_blocked, bool crossprov_blocked) {
    std::string raw;
    const auto s = outbox_stats(files_, &raw);
    const auto at = unique_by_platform(platform_->db());
    std::printf(
        "%s: backlog district=%lld crossprov=%lld; at the platform district=%lld "
        "crossprov=%lld\n",
        what, s.count(kDistrict) ? s.at(kDistrict).backlog : -1,
        s.count(kCrossprov) ? s.at(kCrossprov).backlog : -1,
        at.count(kDistrict) ? at.at(kDistrict) : 0, at.count(kCrossprov) ? at.at(kCrossprov) : 0);
    if (district_blocked) {
      EXPECT_GT(s.count(kDistrict) ? s.at(kDistrict).backlog : 0, 0) << what << "\n" << raw;
      EXPECT_EQ(at.count(kDistrict), 0u) << what;
    }
    if (crossprov_blocked) {
      EXPECT_GT(s.count(kCrossprov) ? s.at(kCrossprov).backlog : 0, 0) << what << "\n" << raw;
      EXPECT_EQ(at.count(kCrossprov), 0u) << what;
    }
  };

  // (a) The pinned CURVE key is not the platform's, and https.ca_file is an unrelated CA.
  Toml a = links();
  a.set("district.server_public_key", q(wrong_key))
      .set("https.ca_file", q(certs_ + "/other-ca.pem"));
  configure(a);
  ASSERT_NO_FATAL_FAILURE(start_gateway());
  fleet.add(400, mixed_region);
  ASSERT_TRUE(fleet.wait_all_acked(20s)) << "terminals must be acked whatever the links do";
  std::size_t log_from = 0;
  EXPECT_TRUE(eventually(
      [&] {
        const std::string log = gateway_->log().substr(log_from);
        return log.find("CURVE handshake failed") != std::string::npos &&
               log.find("TLS failure") != std::string::npos;
      },
      10s))
      << tail(gateway_->log());
  std::this_thread::sleep_for(2s);  // time for a wrongly accepted batch to land, if any
  EXPECT_TRUE(gateway_->process().running());
  held_back("wrong CURVE key + wrong CA", true, true);
  {
    const std::string log = gateway_->log();
    const auto curve = log.find("CURVE handshake failed");
    const auto tls = log.find("TLS failure");
    if (curve != std::string::npos)
      std::printf("  log: %s\n", log.substr(curve, log.find('\n', curve) - curve).c_str());
    if (tls != std::string::npos)
      std::printf("  log: %s\n", log.substr(tls, log.find('\n', tls) - tls).c_str());
  }

  // (b) The right CURVE key and CA, an expired client certificate: the district catches up,
  //     the cross-province platform refuses the handshake.
  Toml b = links();
  b.set("https.client_cert_file", q(certs_ + "/client-expired.pem"))
      .set("https.client_key_file", q(certs_ + "/client-expired.key"));
  configure(b);
  gateway_.reset();
  log_from = read_file(files_.log).size();
  ASSERT_NO_FATAL_FAILURE(start_gateway());
  fleet.add(400, mixed_region);
  ASSERT_TRUE(fleet.wait_all_acked(20s));
  auto acked = fleet.acked_records();
  auto expected = routes_of(acked);
  const long long district_expected = expected_per_platform(expected)[kDistrict];
  EXPECT_TRUE(eventually(
      [&] {
        auto at = unique_by_platform(platform_->db());
        return at[kDistrict] == district_expected;
      },
      20s))
      << tail(gateway_->log());
  EXPECT_TRUE(eventually(
      [&] { return gateway_->log().substr(log_from).find("TLS failure") != std::string::npos; },
      10s))
      << tail(gateway_->log());
  std::this_thread::sleep_for(1s);
  EXPECT_TRUE(gateway_->process().running());
  held_back("expired client certificate", false, true);
  {
    const std::string log = gateway_->log().substr(log_from);
    const auto tls = log.find("TLS failure");
    if (tls != std::string::npos)
      std::printf("  log: %s\n", log.substr(tls, log.find('\n', tls) - tls).c_str());
  }

  // A refused handshake is a reason to retry, never to give records up as dead letters.
  {
    std::string dl;
    EXPECT_EQ(
        run_command(
            {bin_dir() + "/yktgw", "--config", files_.config, "deadletter", "list", "--all"}, &dl),
        0)
        << dl;
    EXPECT_EQ(std::count(dl.begin(), dl.end(), '\n'), 1) << "only the header expected:\n" << dl;
  }

  // (c) Everything right: what was kept arrives, exactly once.
  configure(links());
  gateway_.reset();
  ASSERT_NO_FATAL_FAILURE(start_gateway());
  ASSERT_TRUE(wait_platform(expected_per_platform(expected), 30s))
      << json(unique_by_platform(platform_->db())).dump() << "\n"
      << tail(gateway_->log());
  const DeliveryCheck check = check_delivery(received_rows(platform_->db()), expected);
  print_delivery("after fixing the configuration", check);
  EXPECT_EQ(check.missing, 0u);
  EXPECT_EQ(check.unexpected, 0u);
  const auto counts = counts_at(platform_->db());
  for (const auto& [p, c] : counts) EXPECT_EQ(c.duplicates, 0) << p;
}

// ---------------------------------------------------------------------------------------------------
// 6. Routing cases through the whole chain: unknown regions, cards without a region, records
//    without a card, and copies of every record to the district.

std::string cash_txn_json(const std::string& terminal, const std::string& txn_id) {
  return R"({"v":1,"txn_id":")" + txn_id + R"(","req_id":"","terminal":")" + terminal +
         R"(","scenario":"canteen","ts":1764379200000,"credential":{"type":"other","method":"cash"},"amount_fen":500,"result":"approved"})";
}

TEST_F(ForwardingTest, RoutingUnknownRegionsNoCardAndCopyAllToDistrict) {
  platform_->start();
  Fleet fleet(broker_->uri(), Fleet::Options{1, "rt", 2000ms, 4000ms, 100});
  const std::string t = fleet.terminals()[0];
  struct Case {
    std::string name;
    std::string payload_card;  // empty: a cash record
    std::set<std::string> phase1;
    std::set<std::string> phase2;
  };
  const std::vector<Case> cases = {
      {"chongqing", card_of(50, 1), {kDistrict}, {kDistrict}},
      {"sichuan", card_of(51, 2), {kCrossprov}, {kDistrict, kCrossprov}},
      {"guizhou", card_of(52, 3), {kCrossprov}, {kDistrict, kCrossprov}},
      {"tibet", card_of(54, 4), {kCrossprov}, {kDistrict, kCrossprov}},
      {"beijing", card_of(11, 5), {kCrossprov}, {kDistrict}},
      {"serial card", "8612345678901234", {kCrossprov}, {kDistrict}},
      {"cash", "", {kDistrict, kCrossprov}, {kDistrict}},
  };
  std::map<std::string, std::set<std::string>> expected;
  auto run_phase = [&](int phase, const Toml& toml) {
    configure(toml, dir_ + "/data-" + std::to_string(phase));
    ASSERT_NO_FATAL_FAILURE(start_gateway());
    for (std::size_t i = 0; i < cases.size(); ++i) {
      const std::string id = "p" + std::to_string(phase) + "-" + std::to_string(i);
      fleet.add_payload(0, id,
                        cases[i].payload_card.empty() ? cash_txn_json(t, id)
                                                      : txn_json(t, id, cases[i].payload_card),
                        static_cast<int>(i));
      expected[id] = phase == 1 ? cases[i].phase1 : cases[i].phase2;
    }
    ASSERT_TRUE(fleet.wait_all_acked(20s));
    ASSERT_TRUE(wait_platform(expected_per_platform(expected), 20s))
        << json(unique_by_platform(platform_->db())).dump() << "\n"
        << tail(gateway_->log());
    gateway_.reset();
  };
  // Phase 1: unknown regions to the cross-province platform, records without a card to both.
  Toml one = links();
  one.set("upstream.unknown_region_destination", q("crossprov"))
      .set("upstream.no_card_destination", q("both"));
  ASSERT_NO_FATAL_FAILURE(run_phase(1, one));
  // Phase 2: the defaults, plus a copy of every record to the district.
  Toml two = links();
  two.set("upstream.copy_all_to_district", "true");
  ASSERT_NO_FATAL_FAILURE(run_phase(2, two));

  const auto rows = received_rows(platform_->db());
  const DeliveryCheck check = check_delivery(rows, expected);
  print_delivery("routing", check);
  EXPECT_EQ(check.missing, 0u);
  EXPECT_EQ(check.unexpected, 0u);
  for (const auto& r : rows) {
    const int i = std::stoi(r.txn_id.substr(r.txn_id.find('-') + 1));
    std::printf("  %-12s %s -> %-9s issuer_region=%lld\n",
                cases[static_cast<std::size_t>(i)].name.c_str(), r.txn_id.c_str(),
                r.platform.c_str(), r.region);
  }
  const auto counts = counts_at(platform_->db());
  for (const auto& [p, c] : counts) EXPECT_EQ(c.duplicates, 0) << p;
}

}  // namespace
}  // namespace yktgw::testing
