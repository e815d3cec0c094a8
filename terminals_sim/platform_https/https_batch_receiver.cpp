#include "terminals_sim/platform_https/https_batch_receiver.h"

#include <httplib.h>
#include <openssl/ssl.h>
#include <spdlog/spdlog.h>
#include <sys/socket.h>

#include <atomic>
#include <charconv>
#include <condition_variable>
#include <csignal>
#include <mutex>
#include <nlohmann/json.hpp>
#include <random>
#include <thread>
#include <vector>

#include "gateway/outbox/batch_format.h"
#include "terminals_sim/platform_https/received_store.h"

namespace yktgw::platform {
namespace {

using std::chrono::milliseconds;

Result<milliseconds> parse_duration(std::string_view text) {
  std::int64_t value = 0;
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc() || end == text.data() || value < 0) {
    return make_error("bad_schedule", "expected a duration such as 500ms, 10s or 2m, got '" +
                                          std::string(text) + "'");
  }
  const std::string_view unit(end, static_cast<std::size_t>(text.data() + text.size() - end));
  if (unit == "ms") return milliseconds(value);
  if (unit == "s" || unit.empty()) return milliseconds(value * 1000);
  if (unit == "m") return milliseconds(value * 60'000);
  return make_error("bad_schedule", "unknown unit '" + std::string(unit) + "' (ms, s or m)");
}

std::string json_error(std::string_view code, std::string_view message) {
  return nlohmann::json{{"error", code}, {"message", message}}.dump();
}

// Ends the connection under a request without an answer: what a lost ack looks like to the
// gateway. The handler still returns; cpp-httplib's write then fails and it closes the socket.
void drop_connection(const httplib::Request& req) {
  if (req.ssl == nullptr) return;
  const int fd = SSL_get_fd(req.ssl);
  if (fd >= 0) ::shutdown(fd, SHUT_RDWR);
}

}  // namespace

Result<DownSchedule> parse_down_schedule(std::string_view text) {
  DownSchedule s;
  auto words = [&] {
    std::vector<std::string_view> out;
    std::size_t i = 0;
    while (i < text.size()) {
      while (i < text.size() && text[i] == ' ') ++i;
      const std::size_t start = i;
      while (i < text.size() && text[i] != ' ') ++i;
      if (i > start) out.push_back(text.substr(start, i - start));
    }
    return out;
  }();
  if (words.empty()) return s;
  if (words.size() != 4 || words[0] != "down" || words[2] != "every") {
    return make_error("bad_schedule",
                      "expected 'down <duration> every <duration>', e.g. 'down 10s every 30s'");
  }
  auto down = parse_duration(words[1]);
  if (!down) return down.error();
  auto every = parse_duration(words[3]);
  if (!every) return every.error();
  if (down->count() <= 0 || *every <= *down) {
    return make_error("bad_schedule", "the down time must be positive and shorter than the period");
  }
  s.down = *down;
  s.every = *every;
  return s;
}

struct HttpsBatchReceiver::Impl {
  struct Serving {
    std::unique_ptr<httplib::SSLServer> server;
    std::thread listener;
    std::shared_ptr<std::atomic<bool>> finished = std::make_shared<std::atomic<bool>>(false);
  };

  HttpsReceiverOptions options;
  std::shared_ptr<spdlog::logger> log;

  std::mutex store_mu;
  std::optional<ReceivedStore> store;

  mutable std::mutex faults_mu;
  ReceiverFaults faults;
  std::mt19937_64 rng;

  mutable std::mutex stats_mu;
  ReceiverStats stats;

  mutable std::mutex server_mu;  // serving, retired, port
  Serving serving;
  std::vector<Serving> retired;  // stopped servers whose listener thread may still be closing
  int port = 0;
  std::atomic<bool> is_up{false};

  std::mutex sched_mu;
  std::condition_variable sched_cv;
  bool stopping = false;
  std::thread scheduler;

  enum class Fault : std::uint8_t { none, e500, e429, e400 };

  Fault draw(int& retry_after_s) {
    std::lock_guard lock(faults_mu);
    retry_after_s = faults.retry_after_s;
    const double r = std::uniform_real_distribution<double>(0.0, 1.0)(rng);
    double edge = faults.error_500_probability;
    if (r < edge) return Fault::e500;
    edge += faults.error_429_probability;
    if (r < edge) return Fault::e429;
    edge += faults.error_400_probability;
    if (r < edge) return Fault::e400;
    return Fault::none;
  }

  bool draw_drop(int& delay_ms) {
    std::lock_guard lock(faults_mu);
    delay_ms = faults.ack_delay_ms;
    if (faults.drop_ack_probability <= 0) return false;
    return std::uniform_real_distribution<double>(0.0, 1.0)(rng) < faults.drop_ack_probability;
  }

  void bump(std::uint64_t ReceiverStats::*field, std::uint64_t n = 1) {
    std::lock_guard lock(stats_mu);
    stats.*field += n;
  }

  void malformed(httplib::Response& res, std::string_view message) {
    bump(&ReceiverStats::malformed);
    res.status = 400;
    res.set_content(json_error("malformed", message), "application/json");
  }

  void handle(const httplib::Request& req, httplib::Response& res,
              const httplib::ContentReader& reader) {
    if (!is_up.load()) {
      drop_connection(req);
      return;
    }
    std::string body;
    bool too_large = false;
    const bool read_ok = reader([&](const char* data, std::size_t n) {
      if (body.size() + n > options.max_body_bytes) {
        too_large = true;
        return false;
      }
      body.append(data, n);
      return true;
    });
    if (too_large) {
      res.status = 413;
      res.set_content(json_error("too_large", "batch body too large"), "application/json");
      return;
    }
    if (!read_ok) return malformed(res, "body could not be read or inflated");

    int retry_after_s = 1;
    switch (draw(retry_after_s)) {
      case Fault::e500:
        bump(&ReceiverStats::injected_500);
        res.status = 500;
        res.set_content(json_error("injected", "fault injection: 500"), "application/json");
        return;
      case Fault::e429:
        bump(&ReceiverStats::injected_429);
        res.status = 429;
        res.set_header("Retry-After", std::to_string(retry_after_s));
        res.set_content(json_error("injected", "fault injection: 429"), "application/json");
        return;
      case Fault::e400:
        bump(&ReceiverStats::injected_400);
        res.status = 400;
        res.set_content(json_error("injected", "fault injection: 400"), "application/json");
        return;
      case Fault::none:
        break;
    }

    const std::string gateway = req.get_header_value("X-Gateway-Id");
    const std::string batch_id = req.get_header_value("Idempotency-Key");
    if (gateway.empty()) return malformed(res, "missing X-Gateway-Id");
    if (batch_id.empty()) return malformed(res, "missing Idempotency-Key");
    // cpp-httplib inflates a body sent with Content-Encoding: gzip; one sent without the header
    // is inflated here.
    if (outbox::looks_gzipped(body)) {
      auto inflated = outbox::gzip_decompress(body, options.max_body_bytes);
      if (!inflated) return malformed(res, inflated.error().message);
      body = std::move(inflated.value());
    }
    auto records = outbox::parse_record_lines(body);
    if (!records) return malformed(res, records.error().message);
    if (records->empty()) return malformed(res, "empty batch");
    for (const auto& r : *records) {
      if (r.gateway != gateway) {
        return malformed(res, "record seq " + std::to_string(r.seq) + " names gateway '" +
                                  r.gateway + "', the header '" + gateway + "'");
      }
    }

    const auto now_ms = std::chrono::duration_cast<milliseconds>(
                            std::chrono::system_clock::now().time_since_epoch())
                            .count();
    Result<AcceptCounts> counts = make_error("", "");
    {
      std::lock_guard lock(store_mu);
      counts = store->accept(options.platform, gateway, batch_id, *records, now_ms);
    }
    if (!counts) {
      log->error("platform={} cannot store batch={}: {}", options.platform, batch_id,
                 counts.error().message);
      res.status = 500;
      res.set_content(json_error("store", "cannot store the batch"), "application/json");
      return;
    }
    {
      std::lock_guard lock(stats_mu);
      ++stats.batches_accepted;
      stats.records_accepted += counts->accepted;
      stats.duplicates += counts->duplicates;
    }
    int delay_ms = 0;
    const bool drop = draw_drop(delay_ms);
    if (delay_ms > 0) std::this_thread::sleep_for(milliseconds(delay_ms));
    if (drop) {
      bump(&ReceiverStats::dropped_acks);
      drop_connection(req);
      return;
    }
    res.status = 200;
    res.set_content(nlohmann::json{{"batch_id", batch_id},
                                   {"accepted", counts->accepted},
                                   {"duplicates", counts->duplicates}}
                        .dump(),
                    "application/json");
  }

  void reap_retired() {
    std::erase_if(retired, [](Serving& s) {
      if (!s.finished->load()) return false;
      if (s.listener.joinable()) s.listener.join();
      return true;
    });
  }

  // Under server_mu.
  Result<void> bring_up() {
    if (serving.server) return {};
    reap_retired();
    auto server = std::make_unique<httplib::SSLServer>(
        options.cert_file.c_str(), options.key_file.c_str(),
        options.client_ca_file.empty() ? nullptr : options.client_ca_file.c_str());
    if (!server->is_valid()) {
      return make_error("tls", "cannot load certificate '" + options.cert_file + "', key '" +
                                   options.key_file + "' or client CA '" + options.client_ca_file +
                                   "'");
    }
    // A server that asks for client certificates needs a session id context, or OpenSSL
    // answers every resumed handshake (libcurl resumes on each new connection) with an
    // internal_error alert.
    static constexpr unsigned char kSessionContext[] = "ykt-platform-sim";
    SSL_CTX_set_session_id_context(server->ssl_context(), kSessionContext,
                                   sizeof kSessionContext - 1);
    const auto threads = static_cast<std::size_t>(std::max(1, options.threads));
    server->new_task_queue = [threads] { return new httplib::ThreadPool(threads); };
    server->set_keep_alive_timeout(options.keep_alive_timeout_s);
    // cpp-httplib leaves Nagle on (each answer then waits ~40 ms for the client's delayed ACK)
    // and closes a connection after 5 requests; a batch receiver wants neither.
    server->set_tcp_nodelay(true);
    server->set_keep_alive_max_count(100000);
    server->set_payload_max_length(options.max_body_bytes);
    server->Post("/batches",
                 [this](const httplib::Request& req, httplib::Response& res,
                        const httplib::ContentReader& reader) { handle(req, res, reader); });
    server->Get("/health", [](const httplib::Request&, httplib::Response& res) {
      res.set_content("{\"status\":\"up\"}", "application/json");
    });
    if (port == 0) {
      const int bound = server->bind_to_any_port(options.host);
      if (bound <= 0) return make_error("bind", "cannot bind " + options.host + ":0");
      port = bound;
    } else if (!server->bind_to_port(options.host, port)) {
      return make_error("bind", "cannot bind " + options.host + ":" + std::to_string(port));
    }
    Serving s;
    s.server = std::move(server);
    s.listener = std::thread([srv = s.server.get(), done = s.finished] {
      srv->listen_after_bind();
      done->store(true);
    });
    // cpp-httplib's stop() does nothing until the listener has started running; wait for it, so
    // a bring_down() right after this cannot be lost.
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
    while (!s.server->is_running() && !s.finished->load() &&
           std::chrono::steady_clock::now() < deadline) {
      std::this_thread::sleep_for(milliseconds(1));
    }
    serving = std::move(s);
    is_up = true;
    return {};
  }

  // Under server_mu. Closes the listener; connections still open are dropped at their next
  // request (is_up is false) or end at cpp-httplib's keep-alive timeout.
  void bring_down() {
    is_up = false;
    if (!serving.server) return;
    serving.server->stop();
    retired.push_back(std::move(serving));
    serving = Serving{};
  }

  void run_schedule(DownSchedule schedule) {
    const auto start = std::chrono::steady_clock::now();
    const auto up_for = schedule.every - schedule.down;
    std::unique_lock lock(sched_mu);
    while (!stopping) {
      const auto phase =
          std::chrono::duration_cast<milliseconds>(std::chrono::steady_clock::now() - start) %
          schedule.every;
      const bool want_up = phase < up_for;
      {
        std::lock_guard server_lock(server_mu);
        if (want_up && !serving.server) {
          if (auto r = bring_up(); !r) {
            log->error("platform={} cannot come back up: {}", options.platform, r.error().message);
          } else {
            log->info("platform={} https up (schedule) port={}", options.platform, port);
          }
        } else if (!want_up && serving.server) {
          bring_down();
          log->info("platform={} https down (schedule) for {} ms", options.platform,
                    schedule.down.count());
        }
      }
      const auto wait = want_up ? up_for - phase : schedule.every - phase;
      sched_cv.wait_for(lock, std::max(wait, milliseconds(1)), [this] { return stopping; });
    }
  }
};

HttpsBatchReceiver::HttpsBatchReceiver(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

Result<std::unique_ptr<HttpsBatchReceiver>> HttpsBatchReceiver::start(
    HttpsReceiverOptions options, std::shared_ptr<spdlog::logger> log) {
  if (!log) log = spdlog::default_logger();
  // A dropped ack shuts the socket under a pending write; that must be an error, not SIGPIPE.
  std::signal(SIGPIPE, SIG_IGN);
  auto impl = std::make_unique<Impl>();
  auto store = ReceivedStore::open(options.db_path);
  if (!store) return store.error();
  impl->store.emplace(std::move(store.value()));
  impl->faults = options.faults;
  impl->rng.seed(options.faults.seed != 0 ? options.faults.seed : std::random_device{}());
  impl->options = std::move(options);
  impl->log = std::move(log);
  impl->port = impl->options.port;
  {
    std::lock_guard lock(impl->server_mu);
    if (auto r = impl->bring_up(); !r) return r.error();
  }
  const DownSchedule schedule = impl->options.faults.down;
  if (schedule.active()) {
    Impl* raw = impl.get();
    impl->scheduler = std::thread([raw, schedule] { raw->run_schedule(schedule); });
  }
  impl->log->info("platform={} https receiver port={} mtls={} db={}", impl->options.platform,
                  impl->port, impl->options.client_ca_file.empty() ? "no" : "yes",
                  impl->options.db_path);
  return std::unique_ptr<HttpsBatchReceiver>(new HttpsBatchReceiver(std::move(impl)));
}

HttpsBatchReceiver::~HttpsBatchReceiver() { stop(); }

void HttpsBatchReceiver::stop() {
  {
    std::lock_guard lock(impl_->sched_mu);
    if (impl_->stopping) return;
    impl_->stopping = true;
  }
  impl_->sched_cv.notify_all();
  if (impl_->scheduler.joinable()) impl_->scheduler.join();
  std::vector<Impl::Serving> all;
  {
    std::lock_guard lock(impl_->server_mu);
    impl_->bring_down();
    all = std::move(impl_->retired);
    impl_->retired.clear();
  }
  for (auto& s : all) {
    if (s.listener.joinable()) s.listener.join();
  }
}

int HttpsBatchReceiver::port() const {
  std::lock_guard lock(impl_->server_mu);
  return impl_->port;
}

bool HttpsBatchReceiver::up() const { return impl_->is_up.load(); }

Result<void> HttpsBatchReceiver::set_up(bool up) {
  std::lock_guard lock(impl_->server_mu);
  if (up) return impl_->bring_up();
  impl_->bring_down();
  return {};
}

void HttpsBatchReceiver::set_faults(const ReceiverFaults& faults) {
  std::lock_guard lock(impl_->faults_mu);
  const DownSchedule keep = impl_->faults.down;
  impl_->faults = faults;
  impl_->faults.down = keep;
}

ReceiverStats HttpsBatchReceiver::stats() const {
  std::lock_guard lock(impl_->stats_mu);
  return impl_->stats;
}

}  // namespace yktgw::platform
