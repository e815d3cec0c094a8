// End-to-end figures through a real Mosquitto (issue 5, "tests/bench"), each beside a baseline
// measured in the same run. Started by tests/bench/run.sh, which starts the broker, the gateway
// and the platform simulator; every mode prints `name value unit baseline ratio` lines.
//
//   mqtt_bench echo --broker URI --site S
//       A bare Paho C++ responder: answers every ykt/v1/S/+/auth/req on .../auth/resp with a
//       reply of the gateway's shape and size, straight from the message callback. The baseline
//       of the auth figures.
//   mqtt_bench auth --broker URI --site GW_SITE --echo-site ECHO_SITE [--terminals N]
//                   [--window W] [--count C] [--seq N] [--open-s SEC] [--json FILE]
//       Auth round trips against the gateway and the echo responder with the same payloads,
//       topic shape and window: closed-loop throughput with W requests in flight, open-loop
//       p50/p99 at half of the gateway's throughput (latency from the intended send time),
//       sequential p50/p99 with one request in flight.
//   mqtt_bench openloop --broker URI --site S --rate R [--until-file F] [--max-s SEC]
//                       [--name PREFIX] [--baseline-p50 MS --baseline-p99 MS]
//       Open-loop auth requests at a fixed rate until F exists (or SEC passed): p50/p99/max.
//   mqtt_bench ingest --broker URI --site S --count C [--terminals N] [--window W]
//                     [--records-per-message K] [--region 500156] [--name PREFIX]
//                     [--baseline RPS]
//       Transaction records through MQTT, each counted when its txn/ack says "stored": records/s.
//       With K > 1 the terminals bulk-upload K records a message on txn/batch (W records in
//       flight, W/K messages), and a record counts when its txn/batch/ack says "stored".
//   mqtt_bench sqlite --dir DIR --count C [--batch B]
//       The ingest baseline: a raw SQLite loop inserting rows of the record store's schema in
//       transactions of B rows, journal_mode=WAL and synchronous=FULL as the store sets them.

#include <mqtt/async_client.h>
#include <sqlite3.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <memory>
#include <mutex>
#include <random>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "connectors/mqtt/tcp_nodelay.h"
#include "gateway/store/sqlite_record_store.h"
#include "terminals_sim/sim/citizen_id.h"
#include "tests/bench/common/bench_report.h"

namespace paho = ::mqtt;
using Clock = std::chrono::steady_clock;

namespace {

[[noreturn]] void die(const std::string& why) {
  std::fprintf(stderr, "mqtt_bench: %s\n", why.c_str());
  std::exit(1);
}

std::int64_t now_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(Clock::now().time_since_epoch())
      .count();
}

std::int64_t wall_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

struct Args {
  std::string mode;
  std::string broker;
  std::string site;
  std::string echo_site;
  std::string dir;
  std::string json;
  std::string until_file;
  std::string name;
  std::string region = "500156";
  int terminals = 4;
  int window = 64;
  long count = 20000;
  long seq = 2000;
  double open_s = 5;
  double rate = 1000;
  double max_s = 120;
  int batch = 2000;
  int records_per_message = 1;
  double baseline = 0;
  double baseline_p50 = 0;
  double baseline_p99 = 0;
};

Args parse(int argc, char** argv) {
  if (argc < 2) die("usage: mqtt_bench echo|auth|openloop|ingest|sqlite [options] (see source)");
  Args a;
  a.mode = argv[1];
  for (int i = 2; i < argc; ++i) {
    const std::string k = argv[i];
    if (i + 1 >= argc) die("missing value for " + k);
    const std::string v = argv[++i];
    try {
      if (k == "--broker")
        a.broker = v;
      else if (k == "--site")
        a.site = v;
      else if (k == "--echo-site")
        a.echo_site = v;
      else if (k == "--dir")
        a.dir = v;
      else if (k == "--json")
        a.json = v;
      else if (k == "--until-file")
        a.until_file = v;
      else if (k == "--name")
        a.name = v;
      else if (k == "--region")
        a.region = v;
      else if (k == "--terminals")
        a.terminals = std::stoi(v);
      else if (k == "--window")
        a.window = std::stoi(v);
      else if (k == "--count")
        a.count = std::stol(v);
      else if (k == "--seq")
        a.seq = std::stol(v);
      else if (k == "--open-s")
        a.open_s = std::stod(v);
      else if (k == "--rate")
        a.rate = std::stod(v);
      else if (k == "--max-s")
        a.max_s = std::stod(v);
      else if (k == "--batch")
        a.batch = std::stoi(v);
      else if (k == "--records-per-message")
        a.records_per_message = std::stoi(v);
      else if (k == "--baseline")
        a.baseline = std::stod(v);
      else if (k == "--baseline-p50")
        a.baseline_p50 = std::stod(v);
      else if (k == "--baseline-p99")
        a.baseline_p99 = std::stod(v);
      else
        die("unknown option " + k);
    } catch (const std::exception&) {
      die("bad value for " + k + ": '" + v + "'");
    }
  }
  if (a.terminals < 1 || a.window < 1 || a.count < 1) die("terminals, window, count must be >= 1");
  if (a.rate <= 0 || a.max_s <= 0 || a.open_s <= 0 || a.batch < 1 || a.records_per_message < 1)
    die("rates, durations, batch and records per message must be > 0");
  return a;
}

// A value of a JSON string field, found by text: `"key":"value"`. The payloads here are ours or
// the gateway's compact JSON; a real parser would be measured along with the broker.
std::string_view field(std::string_view json, std::string_view key) {
  std::string pat = "\"";
  pat += key;
  pat += "\":\"";
  const auto at = json.find(pat);
  if (at == std::string_view::npos) return {};
  const auto start = at + pat.size();
  const auto end = json.find('"', start);
  if (end == std::string_view::npos) return {};
  return json.substr(start, end - start);
}

// The index encoded after the last '-' or ':' of an id made by this program.
long index_of(std::string_view id) {
  const auto p = id.find_last_of("-:");
  if (p == std::string_view::npos) return -1;
  long v = 0;
  for (char c : id.substr(p + 1)) {
    if (c < '0' || c > '9') return -1;
    v = v * 10 + (c - '0');
  }
  return v;
}

// Valid citizen numbers of one region (check digit right), varied birth dates.
std::vector<std::string> make_cards(const std::string& region, std::size_t n) {
  std::vector<std::string> cards;
  cards.reserve(n);
  std::mt19937_64 rng(42);
  for (std::size_t i = 0; i < n; ++i) {
    yktgw::sim::BirthDate b{1940 + static_cast<int>(rng() % 60), 1 + static_cast<int>(rng() % 12),
                            1 + static_cast<int>(rng() % 28)};
    cards.push_back(yktgw::sim::make_citizen_id(region, b, static_cast<int>(i % 1000)));
  }
  return cards;
}

double percentile(std::vector<double> v, double q) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  const auto i = static_cast<std::size_t>(q * static_cast<double>(v.size() - 1) + 0.5);
  return v[std::min(i, v.size() - 1)];
}

// ---- one MQTT v5 connection, as a terminal or as the echo responder

class Client {
 public:
  using OnMessage = std::function<void(const paho::const_message_ptr&)>;
  Client(const std::string& broker, const std::string& id, OnMessage on_message)
      : broker_(broker),
        cli_(broker, id, paho::create_options(MQTTVERSION_5, 200000),
             static_cast<paho::iclient_persistence*>(nullptr)) {
    cli_.set_message_callback(std::move(on_message));
  }
  ~Client() {
    try {
      if (cli_.is_connected()) cli_.disconnect(0)->wait_for(std::chrono::milliseconds(500));
    } catch (const paho::exception&) {
    }
  }
  // Starts a disconnect; the destructor then finds the client gone or going.
  paho::token_ptr begin_disconnect() {
    try {
      if (cli_.is_connected()) return cli_.disconnect(0);
    } catch (const paho::exception&) {
    }
    return {};
  }
  void connect(const std::vector<std::string>& topics) {
    auto opts = paho::connect_options_builder()
                    .mqtt_version(MQTTVERSION_5)
                    .clean_start(true)
                    .keep_alive_interval(std::chrono::seconds(30))
                    .max_inflight(65535)
                    .finalize();
    try {
      if (!cli_.connect(opts)->wait_for(std::chrono::seconds(10))) die("connect timed out");
      yktgw::mqtt::set_tcp_nodelay_to_broker(broker_);
      if (!topics.empty()) {
        std::vector<int> qos(topics.size(), 1);
        if (!cli_.subscribe(paho::string_collection::create(topics), qos)
                 ->wait_for(std::chrono::seconds(10)))
          die("subscribe timed out");
      }
    } catch (const paho::exception& e) {
      die(std::string("MQTT ") + broker_ + ": " + e.what());
    }
  }
  void publish(const std::string& topic, const std::string& payload) {
    for (int attempt = 0;; ++attempt) {
      try {
        cli_.publish(topic, payload.data(), payload.size(), 1, false);
        return;
      } catch (const paho::exception& e) {
        // Paho's own buffer is full: wait for acks rather than drop a request.
        if (e.get_return_code() != MQTTASYNC_MAX_BUFFERED_MESSAGES || attempt > 20000)
          die(std::string("publish: ") + e.what());
        std::this_thread::sleep_for(std::chrono::microseconds(200));
      }
    }
  }

 private:
  std::string broker_;
  paho::async_client cli_;
};

std::string topic(const std::string& site, const std::string& terminal, const char* leaf) {
  return "ykt/v1/" + site + "/" + terminal + "/" + leaf;
}

std::string terminal_name(int i) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "xy-ct-bench-%02d", i + 1);
  return buf;
}

// ---- echo responder

int run_echo(const Args& a) {
  if (a.broker.empty() || a.site.empty()) die("echo needs --broker and --site");
  std::unique_ptr<Client> c;
  std::atomic<std::uint64_t> answered{0};
  c = std::make_unique<Client>(a.broker, "bench-echo-" + std::to_string(::getpid()),
                               [&](const paho::const_message_ptr& m) {
                                 const std::string& t = m->get_topic();
                                 const std::string& p = m->get_payload_str();
                                 // ykt/v1/{site}/{terminal}/auth/req -> .../auth/resp
                                 std::string reply_topic = t.substr(0, t.size() - 3) + "resp";
                                 std::string reply = "{\"v\":1,\"req_id\":\"";
                                 reply += field(p, "req_id");
                                 reply +=
                                     "\",\"decision\":\"approve\",\"reason\":\"ok\","
                                     "\"message_zh\":\"通过\",\"message_en\":\"Approved\","
                                     "\"mode\":\"offline\",\"amount_fen\":1200,"
                                     "\"amount_before_fen\":1200,\"rule\":\"canteen_campus\","
                                     "\"card_masked\":\"500156********1239\"}";
                                 c->publish(reply_topic, reply);
                                 ++answered;
                               });
  c->connect({"ykt/v1/" + a.site + "/+/auth/req"});
  std::printf("# echo responder ready site=%s\n", a.site.c_str());
  std::fflush(stdout);
  // Runs until killed (run.sh stops it with SIGTERM).
  for (;;) std::this_thread::sleep_for(std::chrono::seconds(3600));
}

// ---- terminals sending auth requests or txn records and timing their answers

class Terminals {
 public:
  enum class Kind { auth, txn, txn_batch };
  static const char* request_leaf(Kind k) {
    return k == Kind::auth ? "auth/req" : k == Kind::txn ? "txn" : "txn/batch";
  }
  static const char* reply_leaf(Kind k) {
    return k == Kind::auth ? "auth/resp" : k == Kind::txn ? "txn/ack" : "txn/batch/ack";
  }
  static const char* id_field(Kind k) {
    return k == Kind::auth ? "req_id" : k == Kind::txn ? "txn_id" : "batch_id";
  }
  Terminals(const Args& a, const std::string& site, Kind kind, std::size_t capacity)
      : a_(a), site_(site), kind_(kind), sent_ns_(capacity), lat_ns_(capacity) {
    cards_ = make_cards(a.region, 50000);
    run_tag_ = std::to_string(wall_ms());
    for (int i = 0; i < a.terminals; ++i) {
      names_.push_back(terminal_name(i));
      req_topics_.push_back(topic(site, names_.back(), request_leaf(kind)));
    }
    for (int i = 0; i < a.terminals; ++i) {
      clients_.push_back(std::make_unique<Client>(
          a.broker, names_[i] + "-" + site + "-" + std::to_string(::getpid()),
          [this, i](const paho::const_message_ptr& m) { on_reply(i, m); }));
    }
    // In parallel: one after the other, each connect and subscribe took about 2 s here (Paho C
    // 1.3.11 with several clients in one process); together they take a fraction of a second.
    std::vector<std::thread> connecting;
    for (int i = 0; i < a.terminals; ++i) {
      connecting.emplace_back([this, i, kind] {
        clients_[static_cast<std::size_t>(i)]->connect({topic(site_, names_[i], reply_leaf(kind))});
      });
    }
    for (auto& t : connecting) t.join();
  }

  ~Terminals() {
    // All at once: each disconnect may take until the broker closes the socket.
    std::vector<paho::token_ptr> tokens;
    for (auto& c : clients_) tokens.push_back(c->begin_disconnect());
    for (auto& t : tokens) {
      try {
        if (t) t->wait_for(std::chrono::milliseconds(500));
      } catch (const paho::exception&) {
      }
    }
  }

  // Request `idx`; for a bulk upload, batch `idx` holding records idx*K .. idx*K+K-1.
  std::string payload(int term, long idx) const {
    if (kind_ != Kind::txn_batch) return record(term, kind_, idx, true);
    const long k = a_.records_per_message;
    std::string p = "{\"v\":1,\"batch_id\":\"b" + run_tag_ + ":" + std::to_string(idx) +
                    "\",\"terminal\":\"" + names_[term] + "\",\"records\":[";
    for (long i = 0; i < k; ++i) {
      if (i > 0) p += ',';
      p += record(term, Kind::txn, idx * k + i, false);
    }
    p += "]}";
    return p;
  }

  std::string record(int term, Kind kind, long idx, bool with_version) const {
    const std::string& card = cards_[static_cast<std::size_t>(idx) % cards_.size()];
    std::string p = with_version ? "{\"v\":1," : "{";
    if (kind == Kind::auth) {
      p += "\"req_id\":\"r" + run_tag_ + "-" + std::to_string(idx) + "\",";
    } else {
      p += "\"txn_id\":\"t" + run_tag_ + ":" + std::to_string(idx) + "\",\"req_id\":\"\",";
    }
    p += "\"terminal\":\"" + names_[term] +
         "\",\"scenario\":\"canteen_campus\",\"ts\":" + std::to_string(wall_ms()) +
         ",\"credential\":{\"type\":\"card\",\"card_no\":\"" + card + "\"},";
    p += kind == Kind::auth ? "\"amount_fen\":1200}"
                            : "\"amount_fen\":600,\"result\":\"approved\"}";
    return p;
  }

  // Sends request `idx` from terminal `term`; `intended_ns` is when it was due.
  void send(int term, long idx, std::int64_t intended_ns) {
    sent_ns_[static_cast<std::size_t>(idx)] = intended_ns;
    clients_[static_cast<std::size_t>(term)]->publish(req_topics_[term], payload(term, idx));
  }

  // Closed loop: `window` requests in flight over all terminals, `count` in all.
  double closed_loop(long count, int window) {
    reset(count);
    closed_total_ = count;
    next_.store(0);
    const auto t0 = now_ns();
    // Round robin over the terminals, so a window of 1 is one request in flight in all.
    for (int k = 0; k < window; ++k) {
      const long idx = next_.fetch_add(1);
      if (idx >= count) break;
      send(k % a_.terminals, idx, now_ns());
    }
    wait_all(count);
    return static_cast<double>(count) / (static_cast<double>(now_ns() - t0) / 1e9);
  }

  // Open loop at `rate` for `seconds` (or until `until_file` exists): latency from the intended
  // send time, so a stall counts against us. Returns the number sent.
  long open_loop(double rate, double seconds, const std::string& until_file) {
    const long n = std::max(1L, static_cast<long>(rate * seconds));
    reset(n);
    closed_total_ = 0;
    const auto t0 = now_ns();
    const double gap = 1e9 / rate;
    long sent = 0;
    for (long i = 0; i < n; ++i) {
      const auto due = t0 + static_cast<std::int64_t>(gap * static_cast<double>(i));
      auto now = now_ns();
      if (due > now) std::this_thread::sleep_for(std::chrono::nanoseconds(due - now));
      if (!until_file.empty() && (i % 256) == 0 && std::filesystem::exists(until_file)) break;
      send(static_cast<int>(i % a_.terminals), i, due);
      ++sent;
    }
    wait_all(sent);
    return sent;
  }

  // Latencies of the answered requests in ms.
  std::vector<double> latencies_ms(long n) const {
    std::vector<double> v;
    v.reserve(static_cast<std::size_t>(n));
    for (long i = 0; i < n; ++i) {
      const auto l = lat_ns_[static_cast<std::size_t>(i)].load(std::memory_order_relaxed);
      if (l >= 0) v.push_back(static_cast<double>(l) / 1e6);
    }
    return v;
  }
  std::uint64_t not_stored() const { return not_stored_.load(); }
  std::uint64_t declined() const { return declined_.load(); }
  std::string sample_reply() const {
    std::lock_guard lock(mu_);
    return sample_;
  }

 private:
  void reset(long n) {
    if (static_cast<std::size_t>(n) > sent_ns_.size()) die("capacity too small");
    for (long i = 0; i < n; ++i) lat_ns_[static_cast<std::size_t>(i)].store(-1);
    done_.store(0);
    target_.store(-1);
  }

  void wait_all(long n) {
    target_.store(n);
    std::unique_lock lock(mu_);
    long last = -1;
    while (done_.load() < n) {
      const long d = done_.load();
      if (d == last) {
        die("no answers for 30 s: " + std::to_string(d) + " of " + std::to_string(n) +
            " answered (site " + site_ + ")");
      }
      last = d;
      cv_.wait_for(lock, std::chrono::seconds(30), [&] { return done_.load() >= n; });
    }
  }

  void on_reply(int term, const paho::const_message_ptr& m) {
    const auto t = now_ns();
    const std::string& p = m->get_payload_str();
    const auto id = field(p, id_field(kind_));
    const long idx = index_of(id);
    if (idx < 0 || static_cast<std::size_t>(idx) >= lat_ns_.size()) return;
    const bool not_stored =
        (kind_ == Kind::txn && field(p, "status") != "stored") ||
        (kind_ == Kind::txn_batch &&
         (field(p, "status") != "acked" || p.find("\"duplicate\"") != std::string::npos ||
          p.find("\"rejected\"") != std::string::npos));
    if (not_stored) {
      ++not_stored_;
      if (not_stored_.load() <= 3) std::fprintf(stderr, "# txn/ack not stored: %s\n", p.c_str());
    }
    if (kind_ == Kind::auth && field(p, "decision") != "approve") ++declined_;
    std::int64_t unset = -1;
    if (!lat_ns_[static_cast<std::size_t>(idx)].compare_exchange_strong(
            unset, t - sent_ns_[static_cast<std::size_t>(idx)]))
      return;  // a duplicate delivery
    if (idx == 0) {
      std::lock_guard lock(mu_);
      sample_ = p;
    }
    if (closed_total_ > 0) {
      const long next = next_.fetch_add(1);
      if (next < closed_total_) send(term, next, now_ns());
    }
    if (done_.fetch_add(1) + 1 == target_.load(std::memory_order_relaxed)) {
      std::lock_guard lock(mu_);  // so the waiter cannot miss the wake-up
      cv_.notify_all();
    }
  }

  const Args& a_;
  std::string site_;
  Kind kind_;
  std::string run_tag_;
  std::vector<std::string> cards_;
  std::vector<std::string> names_;
  std::vector<std::string> req_topics_;
  std::vector<std::unique_ptr<Client>> clients_;
  std::vector<std::int64_t> sent_ns_;
  std::vector<std::atomic<std::int64_t>> lat_ns_;
  std::atomic<long> next_{0};
  std::atomic<long> done_{0};
  std::atomic<long> target_{-1};
  long closed_total_ = 0;
  std::atomic<std::uint64_t> not_stored_{0};
  std::atomic<std::uint64_t> declined_{0};
  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::string sample_;
};

void write_json(const Args& a, const yktgw::bench::BenchReport& r) {
  if (a.json.empty()) return;
  std::ofstream(a.json) << r.json("mqtt_bench " + a.mode).dump(2) << "\n";
}

int run_auth(const Args& a) {
  if (a.broker.empty() || a.site.empty() || a.echo_site.empty())
    die("auth needs --broker, --site and --echo-site");
  yktgw::bench::BenchReport r(34);
  const std::size_t cap = static_cast<std::size_t>(
      std::max({a.count, a.seq, static_cast<long>(a.open_s * 200000)}) + 16);
  Terminals gw(a, a.site, Terminals::Kind::auth, cap);
  Terminals echo(a, a.echo_site, Terminals::Kind::auth, cap);

  // Warm-up: connections, the gateway's caches, the allocator.
  (void)gw.closed_loop(std::min(a.count, 2000L), a.window);
  (void)echo.closed_loop(std::min(a.count, 2000L), a.window);

  r.section("auth throughput, closed loop, " + std::to_string(a.window) + " in flight over " +
            std::to_string(a.terminals) + " terminals, " + std::to_string(a.count) + " requests");
  const double echo_rps = echo.closed_loop(a.count, a.window);
  const double gw_rps = gw.closed_loop(a.count, a.window);
  r.line("auth_throughput_echo", echo_rps, "req/s");
  r.line("auth_throughput", gw_rps, "req/s", echo_rps);
  r.note("auth throughput target: >= 0.8 of the echo responder");
  r.note("gateway reply sample: " + gw.sample_reply());
  if (gw.declined() > 0) r.note("gateway declined " + std::to_string(gw.declined()) + " requests");

  const double half = gw_rps / 2;
  r.section("open loop at half the gateway's throughput: " + std::to_string(half) + " req/s for " +
            std::to_string(a.open_s) + " s");
  const long ne = echo.open_loop(half, a.open_s, "");
  const auto le = echo.latencies_ms(ne);
  const long ng = gw.open_loop(half, a.open_s, "");
  const auto lg = gw.latencies_ms(ng);
  r.line("auth_half_rate", half, "req/s");
  r.line("auth_p50_at_half_rate", percentile(lg, 0.50), "ms", percentile(le, 0.50));
  r.line("auth_p99_at_half_rate", percentile(lg, 0.99), "ms", percentile(le, 0.99));
  r.line("auth_max_at_half_rate", percentile(lg, 1.0), "ms", percentile(le, 1.0));
  r.note("p99 at half throughput target: < 2 ms");

  r.section("sequential, one request in flight, " + std::to_string(a.seq) + " requests");
  (void)echo.closed_loop(a.seq, 1);
  const auto se = echo.latencies_ms(a.seq);
  (void)gw.closed_loop(a.seq, 1);
  const auto sg = gw.latencies_ms(a.seq);
  r.line("auth_sequential_p50", percentile(sg, 0.50), "ms", percentile(se, 0.50));
  r.line("auth_sequential_p99", percentile(sg, 0.99), "ms", percentile(se, 0.99));
  r.note("sequential p50 target: < 0.3 ms");
  write_json(a, r);
  return 0;
}

int run_openloop(const Args& a) {
  if (a.broker.empty() || a.site.empty()) die("openloop needs --broker and --site");
  yktgw::bench::BenchReport r(34);
  const std::size_t cap = static_cast<std::size_t>(a.rate * a.max_s) + 16;
  Terminals gw(a, a.site, Terminals::Kind::auth, cap);
  (void)gw.closed_loop(200, 8);  // connections and caches warm
  const std::string prefix = a.name.empty() ? "auth_open" : a.name;
  r.section(prefix + ": open loop at " + std::to_string(a.rate) + " req/s");
  std::printf("# open loop running\n");  // run.sh waits for this line
  std::fflush(stdout);
  const auto t0 = now_ns();
  const long n = gw.open_loop(a.rate, a.max_s, a.until_file);
  const double secs = static_cast<double>(now_ns() - t0) / 1e9;
  const auto l = gw.latencies_ms(n);
  auto base = [](double b) { return b > 0 ? std::optional<double>(b) : std::nullopt; };
  r.line(prefix + "_requests", static_cast<double>(n), "req");
  r.line(prefix + "_seconds", secs, "s");
  r.line(prefix + "_p50", percentile(l, 0.50), "ms", base(a.baseline_p50));
  r.line(prefix + "_p99", percentile(l, 0.99), "ms", base(a.baseline_p99));
  r.line(prefix + "_max", percentile(l, 1.0), "ms");
  write_json(a, r);
  return 0;
}

int run_ingest(const Args& a) {
  if (a.broker.empty() || a.site.empty()) die("ingest needs --broker and --site");
  yktgw::bench::BenchReport r(34);
  const long k = a.records_per_message;
  const bool bulk = k > 1;
  // Messages: one per record, or batches of k records (the count rounded up to whole batches).
  const long messages = bulk ? (a.count + k - 1) / k : a.count;
  const int window = bulk ? std::max(1, static_cast<int>(a.window / k)) : a.window;
  Terminals t(a, a.site, bulk ? Terminals::Kind::txn_batch : Terminals::Kind::txn,
              static_cast<std::size_t>(messages) + 16);
  const std::string prefix = a.name.empty() ? "txn_ingest" : a.name;
  r.section(prefix + ": " + std::to_string(messages * k) + " records, " +
            std::to_string(window * k) + " in flight over " + std::to_string(a.terminals) +
            " terminals" +
            (bulk ? ", " + std::to_string(k) + " records a txn/batch message" : std::string()));
  const double rps = t.closed_loop(messages, window) * static_cast<double>(k);
  const auto l = t.latencies_ms(messages);
  r.line(prefix + "_records_per_s", rps, "records/s",
         a.baseline > 0 ? std::optional<double>(a.baseline) : std::nullopt);
  r.line(prefix + "_ack_p50", percentile(l, 0.50), "ms");
  r.line(prefix + "_ack_p99", percentile(l, 0.99), "ms");
  if (t.not_stored() > 0) {
    r.note(std::to_string(t.not_stored()) + " records were not acked as stored");
    write_json(a, r);
    return 2;
  }
  r.note("txn ingest target: >= 50000 records/s and >= 0.5 of the raw SQLite loop");
  write_json(a, r);
  return 0;
}

// ---- the raw SQLite baseline of the ingest

void exec(sqlite3* db, const std::string& sql) {
  char* err = nullptr;
  if (sqlite3_exec(db, sql.c_str(), nullptr, nullptr, &err) != SQLITE_OK) {
    std::string why = err ? err : "?";
    sqlite3_free(err);
    die("sqlite: " + why + " in: " + sql.substr(0, 60));
  }
}

int run_sqlite(const Args& a) {
  if (a.dir.empty()) die("sqlite needs --dir");
  std::filesystem::create_directories(a.dir);
  const std::string path = a.dir + "/baseline.db";
  for (const char* sfx : {"", "-wal", "-shm"}) std::filesystem::remove(path + sfx);
  sqlite3* db = nullptr;
  if (sqlite3_open(path.c_str(), &db) != SQLITE_OK) die("cannot open " + path);
  exec(db, "PRAGMA journal_mode=WAL");
  exec(db, "PRAGMA synchronous=FULL");
  // The record store's own schema, so rows, indexes and the UNIQUE check are the same.
  for (auto m : yktgw::SqliteRecordStore::migrations())
    exec(db, "BEGIN;" + std::string(m) + "COMMIT;");
  sqlite3_stmt* st = nullptr;
  const char* sql =
      "INSERT OR IGNORE INTO txn (terminal, txn_id, req_id, site, scenario, ts_ms, received_ms,"
      " cred_type, card_token, card_masked, cred_method, amount_fen, result, reason,"
      " issuer_region, service_item, mode)"
      " VALUES (?1,?2,?3,?4,?5,?6,?7,?8,?9,?10,?11,?12,?13,?14,?15,?16,?17)";
  if (sqlite3_prepare_v3(db, sql, -1, SQLITE_PREPARE_PERSISTENT, &st, nullptr) != SQLITE_OK)
    die(sqlite3_errmsg(db));
  const std::string token(64, 'a');
  const std::int64_t ts = wall_ms();
  yktgw::bench::BenchReport r(34);
  r.section("raw SQLite: " + std::to_string(a.count) + " rows in transactions of " +
            std::to_string(a.batch) + ", WAL, synchronous=FULL");
  const auto t0 = now_ns();
  for (long i = 0; i < a.count;) {
    exec(db, "BEGIN");
    for (int k = 0; k < a.batch && i < a.count; ++k, ++i) {
      const std::string term = terminal_name(static_cast<int>(i % 8));
      const std::string txn = "t" + std::to_string(ts) + ":" + std::to_string(i);
      sqlite3_bind_text(st, 1, term.c_str(), -1, SQLITE_TRANSIENT);
      sqlite3_bind_text(st, 2, txn.c_str(), -1, SQLITE_TRANSIENT);
      sqlite3_bind_text(st, 3, "", -1, SQLITE_STATIC);
      sqlite3_bind_text(st, 4, "bench", -1, SQLITE_STATIC);
      sqlite3_bind_text(st, 5, "canteen_campus", -1, SQLITE_STATIC);
      sqlite3_bind_int64(st, 6, ts + i);
      sqlite3_bind_int64(st, 7, ts + i);
      sqlite3_bind_text(st, 8, "card", -1, SQLITE_STATIC);
      sqlite3_bind_text(st, 9, token.c_str(), -1, SQLITE_STATIC);
      sqlite3_bind_text(st, 10, "500156********1239", -1, SQLITE_STATIC);
      sqlite3_bind_text(st, 11, "", -1, SQLITE_STATIC);
      sqlite3_bind_int64(st, 12, 600);
      sqlite3_bind_text(st, 13, "approved", -1, SQLITE_STATIC);
      sqlite3_bind_text(st, 14, "", -1, SQLITE_STATIC);
      sqlite3_bind_int64(st, 15, 50);
      sqlite3_bind_int64(st, 16, 16);
      sqlite3_bind_text(st, 17, "offline", -1, SQLITE_STATIC);
      if (sqlite3_step(st) != SQLITE_DONE) die(sqlite3_errmsg(db));
      sqlite3_reset(st);
    }
    exec(db, "COMMIT");
  }
  const double secs = static_cast<double>(now_ns() - t0) / 1e9;
  sqlite3_finalize(st);
  sqlite3_close(db);
  r.line("txn_sqlite_raw_records_per_s", static_cast<double>(a.count) / secs, "records/s");
  write_json(a, r);
  for (const char* sfx : {"", "-wal", "-shm"}) std::filesystem::remove(path + sfx);
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  const Args a = parse(argc, argv);
  if (a.mode == "echo") return run_echo(a);
  if (a.mode == "auth") return run_auth(a);
  if (a.mode == "openloop") return run_openloop(a);
  if (a.mode == "ingest") return run_ingest(a);
  if (a.mode == "sqlite") return run_sqlite(a);
  die("unknown mode " + a.mode);
}
