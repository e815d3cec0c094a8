#include "terminals_sim/platform/http_api.h"

#include <httplib.h>
#include <spdlog/spdlog.h>

#include <charconv>
#include <nlohmann/json.hpp>
#include <thread>

namespace yktgw::platform {
namespace {

using nlohmann::json;

constexpr const char* kFeedType = "application/octet-stream";

// A test or an operator advancing the list by thousands at once is a typo.
constexpr std::int64_t kMaxAdvance = 1000;

std::optional<std::int64_t> parse_int(const std::string& s) {
  std::int64_t v = 0;
  const auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (s.empty() || ec != std::errc() || end != s.data() + s.size()) return std::nullopt;
  return v;
}

void json_reply(httplib::Response& res, int status, const json& body) {
  res.status = status;
  res.set_content(body.dump() + "\n", "application/json");
}

void feed_reply(httplib::Response& res, const FeedPublisher::Encoded& e, std::string_view kind) {
  if (e.bytes.empty()) {
    json_reply(res, 500, {{"error", "signing_failed"}});
    return;
  }
  res.status = 200;
  res.set_header("X-Ykt-Feed-Kind", std::string(kind));
  res.set_header("X-Ykt-Feed-Version", std::to_string(e.version));
  res.set_content(e.bytes, kFeedType);
}

}  // namespace

Result<HttpOptions> parse_http_address(const std::string& text) {
  const auto colon = text.rfind(':');
  if (colon == std::string::npos || colon == 0) {
    return make_error("usage", "--http expects host:port, e.g. 127.0.0.1:7180");
  }
  const auto port = parse_int(text.substr(colon + 1));
  if (!port || *port < 0 || *port > 65535) {
    return make_error("usage", "--http port must be in 0..65535");
  }
  HttpOptions o;
  o.host = text.substr(0, colon);
  if (o.host.size() >= 2 && o.host.front() == '[' && o.host.back() == ']') {
    o.host = o.host.substr(1, o.host.size() - 2);
  }
  o.port = static_cast<int>(*port);
  return o;
}

struct PlatformHttp::Impl {
  HttpOptions opt;
  PlatformCards& cards;
  const PlatformService& service;
  FeedPublisher* feed;
  const Clock& clock;
  std::shared_ptr<spdlog::logger> log;
  httplib::Server server;
  std::thread thread;
  int port = 0;

  Impl(HttpOptions o, PlatformCards& c, const PlatformService& s, FeedPublisher* f, const Clock& cl,
       std::shared_ptr<spdlog::logger> l)
      : opt(std::move(o)), cards(c), service(s), feed(f), clock(cl), log(std::move(l)) {}

  void routes();
};

void PlatformHttp::Impl::routes() {
  server.Get("/healthz", [this](const httplib::Request&, httplib::Response& res) {
    const auto st = service.stats();
    json gateways = json::array();
    for (const GatewaySeen& g : service.gateways()) {
      gateways.push_back({{"gateway", g.gateway},
                          {"last_heartbeat_ms", g.last_heartbeat_ms},
                          {"heartbeats", g.heartbeats}});
    }
    json_reply(res, 200,
               {{"status", "ok"},
                {"zmq_endpoint", opt.zmq_endpoint},
                {"population", cards.population()},
                {"listed", cards.listed()},
                {"cardlist_version", cards.version()},
                {"feed", feed != nullptr},
                {"heartbeats", st.heartbeats},
                {"heartbeats_dropped", st.heartbeats_dropped},
                {"auth_requests", st.auth_requests},
                {"approved", st.approved},
                {"declined", st.declined},
                {"malformed", st.malformed},
                {"gateways", gateways}});
  });

  server.Get("/cardlist/snapshot", [this](const httplib::Request&, httplib::Response& res) {
    if (feed == nullptr) {
      json_reply(res, 503,
                 {{"error", "no_feed_key"}, {"message", "started without --feed-key-file"}});
      return;
    }
    feed_reply(res, feed->snapshot(), "snapshot");
  });

  server.Get("/cardlist/delta", [this](const httplib::Request& req, httplib::Response& res) {
    if (feed == nullptr) {
      json_reply(res, 503,
                 {{"error", "no_feed_key"}, {"message", "started without --feed-key-file"}});
      return;
    }
    const auto from = parse_int(req.get_param_value("from"));
    if (!from) {
      json_reply(res, 400, {{"error", "bad_request"}, {"message", "from=N is required"}});
      return;
    }
    const std::int64_t current = cards.version();
    if (*from == current) {
      res.status = 204;  // up to date
      res.set_header("X-Ykt-Feed-Version", std::to_string(current));
      return;
    }
    const auto delta = feed->delta(*from);
    if (!delta) {
      json_reply(res, 404,
                 {{"error", "unknown_version"},
                  {"message", "no delta from this version; fetch /cardlist/snapshot"},
                  {"version", current}});
      return;
    }
    feed_reply(res, *delta, "delta");
  });

  server.Post("/cardlist/advance", [this](const httplib::Request& req, httplib::Response& res) {
    std::int64_t count = 1;
    if (req.has_param("count")) {
      const auto c = parse_int(req.get_param_value("count"));
      if (!c || *c < 1 || *c > kMaxAdvance) {
        json_reply(res, 400, {{"error", "bad_request"}, {"message", "count must be 1..1000"}});
        return;
      }
      count = *c;
    }
    std::int64_t version = 0;
    for (std::int64_t i = 0; i < count; ++i) version = cards.advance(clock.wall_ms());
    log->info("card list advanced to version={}", version);
    json_reply(res, 200, {{"version", version}});
  });
}

Result<std::unique_ptr<PlatformHttp>> PlatformHttp::start(HttpOptions options, PlatformCards& cards,
                                                          const PlatformService& service,
                                                          FeedPublisher* feed, const Clock& clock,
                                                          std::shared_ptr<spdlog::logger> log) {
  auto impl =
      std::make_unique<Impl>(std::move(options), cards, service, feed, clock, std::move(log));
  Impl& d = *impl;
  d.routes();
  if (d.opt.port == 0) {
    d.port = d.server.bind_to_any_port(d.opt.host);
    if (d.port <= 0) return make_error("http_bind", "cannot listen on " + d.opt.host + ":0");
  } else {
    if (!d.server.bind_to_port(d.opt.host, d.opt.port)) {
      return make_error("http_bind",
                        "cannot listen on " + d.opt.host + ":" + std::to_string(d.opt.port));
    }
    d.port = d.opt.port;
  }
  d.thread = std::thread([&d] { d.server.listen_after_bind(); });
  d.log->info("http listening address={}:{} feed={}", d.opt.host, d.port,
              feed != nullptr ? "on" : "off");
  return std::unique_ptr<PlatformHttp>(new PlatformHttp(std::move(impl)));
}

PlatformHttp::PlatformHttp(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

PlatformHttp::~PlatformHttp() { stop(); }

int PlatformHttp::port() const { return impl_->port; }

void PlatformHttp::stop() {
  if (!impl_->thread.joinable()) return;
  impl_->server.stop();
  impl_->thread.join();
}

}  // namespace yktgw::platform
