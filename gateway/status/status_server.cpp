#include "gateway/status/status_server.h"

#include <httplib.h>
#include <spdlog/spdlog.h>

#include <atomic>
#include <condition_variable>
#include <fstream>
#include <mutex>
#include <nlohmann/json.hpp>
#include <sstream>
#include <thread>

#include "gateway/status/api_json.h"
#include "gateway/status/assets.h"
#include "gateway/status/depth.h"
#include "gateway/status/metrics.h"
#include "gateway/status/series.h"

namespace yktgw::status {
namespace {

constexpr const char* kJson = "application/json; charset=utf-8";

std::int64_t steady_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

std::string error_json(std::string_view code, std::string_view message) {
  std::string out = "{\"error\":\"";
  out += code;
  out += "\",\"message\":\"";
  for (char c : message) {
    if (c == '"' || c == '\\') out += '\\';
    if (static_cast<unsigned char>(c) >= 0x20) out += c;
  }
  out += "\"}";
  return out;
}

}  // namespace

Result<std::optional<StatusServerOptions>> status_server_options_from(const Config& config) {
  if (config.status.listen.empty()) return std::optional<StatusServerOptions>{};
  auto listen = parse_listen(config.status.listen);
  if (!listen) return listen.error();
  if (auto r = check_bind(*listen, config.status.token); !r) return r.error();
  StatusServerOptions o;
  o.listen = *listen;
  o.token = config.status.token;
  return std::optional<StatusServerOptions>(std::move(o));
}

struct StatusServer::Impl {
  StatusServerOptions options;
  const StatusSource& source;
  std::shared_ptr<spdlog::logger> log;
  httplib::Server server;
  int port = 0;
  std::thread listener;
  std::thread sampler;
  std::mutex mu;
  std::condition_variable cv;
  bool stopping = false;
  SeriesRing series;
  std::string chartjs;  // read once at start

  std::mutex depth_mu;
  std::string depth_key;
  std::string depth_body;
  std::int64_t depth_at_ms = 0;

  Impl(StatusServerOptions o, const StatusSource& s, std::shared_ptr<spdlog::logger> l)
      : options(std::move(o)), source(s), log(std::move(l)), series(options.series_capacity) {}

  void sample_loop() {
    std::unique_lock lock(mu);
    while (!stopping) {
      lock.unlock();
      series.add(source.status(), steady_ms());
      lock.lock();
      cv.wait_for(lock, options.sample_interval, [&] { return stopping; });
    }
  }

  void routes();
  std::string depth(const std::string& date, UtcMillis now_ms, int* status);
};

std::string StatusServer::Impl::depth(const std::string& date, UtcMillis now_ms, int* status) {
  std::int64_t day = shanghai_day(now_ms);
  if (!date.empty()) {
    auto d = parse_date(date);
    if (!d) {
      *status = 400;
      return error_json("invalid_value", "date must be YYYY-MM-DD");
    }
    day = days_from_civil(*d);
  }
  const std::string key = std::to_string(day);
  {
    std::lock_guard lock(depth_mu);
    if (key == depth_key && steady_ms() - depth_at_ms < options.depth_cache.count())
      return depth_body;
  }
  // The aggregate runs outside the lock; two requests at once may both run it, which is cheaper
  // than making every page wait behind one slow query.
  auto counts = source.depth_counts(shanghai_month_start_ms(day));
  if (!counts) {
    *status = 503;
    return error_json(counts.error().code, counts.error().message);
  }
  const auto report = compute_depth(*counts, source.depth_targets(), source.scenario_items(), day);
  std::string body = depth_json(report, now_ms);
  std::lock_guard lock(depth_mu);
  depth_key = key;
  depth_body = body;
  depth_at_ms = steady_ms();
  return body;
}

void StatusServer::Impl::routes() {
  server.new_task_queue = [n = options.threads] {
    return new httplib::ThreadPool(static_cast<std::size_t>(n));
  };
  // httplib's default adds SO_REUSEPORT, which would let a second gateway on the same address
  // bind too and take half the requests; an address in use must be an error instead.
  server.set_socket_options([](socket_t sock) {
    int yes = 1;
    setsockopt(sock, SOL_SOCKET, SO_REUSEADDR, reinterpret_cast<const void*>(&yes), sizeof(yes));
  });
  server.set_read_timeout(std::chrono::seconds(5));
  server.set_write_timeout(std::chrono::seconds(5));
  server.set_payload_max_length(std::size_t{64} * 1024);
  server.set_pre_routing_handler([this](const httplib::Request& req, httplib::Response& res) {
    res.set_header("Cache-Control", "no-store");
    res.set_header("X-Content-Type-Options", "nosniff");
    if (!host_allowed(req.get_header_value("Host"), options.listen)) {
      res.status = 400;
      res.set_content(error_json("bad_host", "the Host header does not name this server"), kJson);
      return httplib::Server::HandlerResponse::Handled;
    }
    // Pages and scripts hold no data and a browser cannot attach a header to a navigation:
    // they load freely and then call the API with the token the operator enters.
    const bool open = req.path == "/healthz" || find_asset(req.path) != nullptr ||
                      req.path == "/" || req.path == "/assets/chart.js";
    if (!open && !bearer_ok(req.get_header_value("Authorization"), options.token)) {
      res.status = 401;
      res.set_header("WWW-Authenticate", "Bearer realm=\"yktgw\"");
      res.set_content(error_json("unauthorized", "Authorization: Bearer <status.token> required"),
                      kJson);
      return httplib::Server::HandlerResponse::Handled;
    }
    return httplib::Server::HandlerResponse::Unhandled;
  });
  server.set_exception_handler(
      [this](const httplib::Request& req, httplib::Response& res, std::exception_ptr ep) {
        std::string what = "unknown";
        try {
          std::rethrow_exception(std::move(ep));
        } catch (const std::exception& e) {
          what = e.what();
        } catch (...) {
        }
        if (log) log->error("status request failed path={} error=\"{}\"", req.path, what);
        res.status = 500;
        res.set_content(error_json("internal", "the request failed; see the gateway log"), kJson);
      });

  auto serve_asset = [](const Asset* a, httplib::Response& res) {
    res.set_header("Content-Security-Policy",
                   "default-src 'self'; img-src 'self' data:; frame-ancestors 'none'");
    res.set_content(std::string(a->body), std::string(a->content_type));
  };
  server.Get("/", [serve_asset](const httplib::Request&, httplib::Response& res) {
    serve_asset(find_asset("/index.html"), res);
  });
  server.Get(R"(/([a-z_]+\.html|assets/[a-z_]+\.(js|css)))",
             [this, serve_asset](const httplib::Request& req, httplib::Response& res) {
               if (req.path == "/assets/chart.js") {
                 if (chartjs.empty()) {
                   res.status = 404;
                   res.set_content("Chart.js not installed (" + options.chartjs_file + ")",
                                   "text/plain; charset=utf-8");
                   return;
                 }
                 res.set_content(chartjs, "text/javascript; charset=utf-8");
                 return;
               }
               const Asset* a = find_asset(req.path);
               if (a == nullptr) {
                 res.status = 404;
                 res.set_content(error_json("not_found", "no such page"), kJson);
                 return;
               }
               serve_asset(a, res);
             });

  server.Get("/healthz", [](const httplib::Request&, httplib::Response& res) {
    res.set_content("{\"status\":\"ok\"}", kJson);
  });
  server.Get("/readyz", [this](const httplib::Request&, httplib::Response& res) {
    const Readiness r = source.readiness();
    const bool ready = r.broker_connected && r.store_writable;
    res.status = ready ? 200 : 503;
    nlohmann::ordered_json j{{"ready", ready},
                             {"broker_connected", r.broker_connected},
                             {"store_writable", r.store_writable},
                             {"detail", r.detail}};
    res.set_content(j.dump(), kJson);
  });
  server.Get("/api/v1/status", [this](const httplib::Request&, httplib::Response& res) {
    res.set_content(status_json(source.status()), kJson);
  });
  server.Get("/api/v1/terminals", [this](const httplib::Request&, httplib::Response& res) {
    const auto s = source.status();
    res.set_content(terminals_json(source.terminals(), s.now_ms), kJson);
  });
  server.Get("/api/v1/outbox", [this](const httplib::Request&, httplib::Response& res) {
    const auto s = source.status();
    auto letters = source.dead_letters();
    res.set_content(outbox_json(s, letters ? *letters : std::vector<DeadLetterView>{},
                                letters ? std::string() : letters.error().message),
                    kJson);
  });
  server.Get("/api/v1/depth", [this](const httplib::Request& req, httplib::Response& res) {
    int status = 200;
    const auto now = source.status().now_ms;
    std::string body = depth(req.get_param_value("date"), now, &status);
    res.status = status;
    res.set_content(body, kJson);
  });
  server.Get("/api/v1/series", [this](const httplib::Request& req, httplib::Response& res) {
    UtcMillis since = 0;
    const std::string s = req.get_param_value("since");
    if (!s.empty()) {
      try {
        since = std::stoll(s);
      } catch (const std::exception&) {
        res.status = 400;
        res.set_content(error_json("invalid_value", "since must be UTC milliseconds"), kJson);
        return;
      }
    }
    res.set_content(series_json(series.samples(since)), kJson);
  });
  server.Get("/metrics", [this](const httplib::Request&, httplib::Response& res) {
    res.set_content(format_metrics(source.status()), "text/plain; version=0.0.4; charset=utf-8");
  });
}

StatusServer::StatusServer(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

StatusServer::~StatusServer() { stop(); }

Result<std::unique_ptr<StatusServer>> StatusServer::start(StatusServerOptions options,
                                                          const StatusSource& source,
                                                          std::shared_ptr<spdlog::logger> log) {
  auto impl = std::make_unique<Impl>(std::move(options), source, std::move(log));
  {
    std::ifstream in(impl->options.chartjs_file, std::ios::binary);
    std::ostringstream buf;
    buf << in.rdbuf();
    impl->chartjs = buf.str();
    if (impl->chartjs.empty() && impl->log) {
      impl->log->warn(
          "Chart.js not found file={}; the live charts stay empty (install "
          "libjs-chart.js)",
          impl->options.chartjs_file);
    }
  }
  impl->routes();
  auto& l = impl->options.listen;
  if (l.port == 0) {
    impl->port = impl->server.bind_to_any_port(l.host);
    if (impl->port <= 0) return make_error("io", "status server cannot listen on " + l.host);
    impl->options.listen.port = impl->port;  // the Host check compares against it
  } else {
    if (!impl->server.bind_to_port(l.host, l.port)) {
      return make_error("io", "status server cannot listen on " + l.host + ":" +
                                  std::to_string(l.port) +
                                  " (address in use or not local?); change status.listen");
    }
    impl->port = l.port;
  }
  auto* p = impl.get();
  impl->listener = std::thread([p] { p->server.listen_after_bind(); });
  impl->sampler = std::thread([p] { p->sample_loop(); });
  // httplib's stop() does nothing until the listener runs; wait for it so that a stop right
  // after start cannot leave the listener behind.
  for (int i = 0; i < 5000 && !impl->server.is_running(); ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  if (impl->log) {
    impl->log->info("status server listening address={}:{} token={}", l.host, impl->port,
                    impl->options.token.empty() ? "off" : "required");
  }
  return std::unique_ptr<StatusServer>(new StatusServer(std::move(impl)));
}

int StatusServer::port() const { return impl_->port; }

void StatusServer::stop() {
  if (!impl_) return;
  {
    std::lock_guard lock(impl_->mu);
    if (impl_->stopping) return;
    impl_->stopping = true;
  }
  impl_->cv.notify_all();
  impl_->server.stop();
  if (impl_->listener.joinable()) impl_->listener.join();
  if (impl_->sampler.joinable()) impl_->sampler.join();
}

}  // namespace yktgw::status
