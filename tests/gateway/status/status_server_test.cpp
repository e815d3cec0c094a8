// The status server on a free loopback port, against a fixed source: the guards (Host, token),
// every route and the embedded pages.

#include "gateway/status/status_server.h"

#include <gtest/gtest.h>
#include <httplib.h>

#include <atomic>
#include <nlohmann/json.hpp>
#include <thread>

#include "gateway/status/depth.h"

namespace yktgw::status {
namespace {

using nlohmann::json;

class FixedSource final : public StatusSource {
 public:
  StatusSnapshot status() const override {
    StatusSnapshot s;
    s.gateway_id = "gw-test";
    s.site = "xiangkou";
    s.version = "0.1.0";
    s.now_ms = 1'795'906'800'000;  // 2026-11-29 07:00 Shanghai
    s.started_ms = s.now_ms - 3'600'000;
    s.broker_connected = broker;
    s.approved = 5;
    s.declined = 2;
    s.declined_by_reason = {{"card_lost", 2}};
    s.terminals = 1;
    s.terminals_online = 1;
    return s;
  }
  std::vector<TerminalView> terminals() const override {
    TerminalView t;
    t.info.terminal = "pos-01";
    t.info.state = TerminalState::online;
    t.scenario = "canteen";
    return {t};
  }
  Result<std::vector<DeadLetterView>> dead_letters() const override {
    DeadLetterView d;
    d.id = 3;
    d.destination = "district";
    d.count = 10;
    d.reason = "invalid_batch";
    d.state = "dead";
    return std::vector<DeadLetterView>{d};
  }
  Result<std::vector<DepthCount>> depth_counts(UtcMillis from_ms) const override {
    ++depth_queries;
    last_from = from_ms;
    const std::int64_t today = days_from_civil({2026, 11, 29});
    return std::vector<DepthCount>{{today, 12, "canteen", CredentialType::card, 9},
                                   {today, 12, "canteen", CredentialType::other, 1}};
  }
  std::vector<DepthTarget> depth_targets() const override {
    DepthTarget t;
    t.item = 12;
    t.name = "老年助餐";
    t.level = {1, 1, 2, 3};
    t.percent = {50, 50, 70, 90};
    return {t};
  }
  std::map<std::string, int> scenario_items() const override { return {{"canteen", 12}}; }
  // As the gateway's source does: the store counts as not writable after a failed commit or
  // at the disk quota.
  Readiness readiness() const override {
    std::string detail;
    if (!broker) detail = "MQTT broker not connected";
    if (!store || over_quota) {
      if (!detail.empty()) detail += "; ";
      detail += over_quota ? "disk quota reached" : "last commit to records.db failed";
    }
    return Readiness{broker, store && !over_quota, detail};
  }
  // The server calls a source from its sampling thread and its HTTP workers while the test
  // changes and reads these, as the gateway's own source is called.
  std::atomic<bool> broker{true};
  std::atomic<bool> store{true};
  std::atomic<bool> over_quota{false};
  mutable std::atomic<int> depth_queries{0};
  mutable std::atomic<UtcMillis> last_from{0};
};

class ServerTest : public ::testing::Test {
 protected:
  void start(std::string token = "", std::string host = "127.0.0.1") {
    StatusServerOptions o;
    o.listen = {host, 0};
    o.token = std::move(token);
    o.sample_interval = std::chrono::milliseconds(50);
    auto s = StatusServer::start(o, source_, nullptr);
    ASSERT_TRUE(s) << s.error().message;
    server_ = std::move(s.value());
    client_ = std::make_unique<httplib::Client>("127.0.0.1", server_->port());
  }
  httplib::Result get(const std::string& path, httplib::Headers headers = {}) {
    return client_->Get(path.c_str(), headers);
  }
  FixedSource source_;
  std::unique_ptr<StatusServer> server_;
  std::unique_ptr<httplib::Client> client_;
};

TEST_F(ServerTest, ApiAnswersWithTheSourcesFigures) {
  start();
  auto r = get("/api/v1/status");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
  EXPECT_EQ(r->get_header_value("Content-Type"), "application/json; charset=utf-8");
  auto j = json::parse(r->body);
  EXPECT_EQ(j["gateway"]["id"], "gw-test");
  EXPECT_EQ(j["gateway"]["uptime_s"], 3600);
  EXPECT_EQ(j["auth"]["declined_by_reason"]["card_lost"], 2);

  r = get("/api/v1/terminals");
  ASSERT_TRUE(r);
  EXPECT_EQ(json::parse(r->body)["terminals"][0]["terminal"], "pos-01");
  r = get("/api/v1/outbox");
  ASSERT_TRUE(r);
  EXPECT_EQ(json::parse(r->body)["dead_letters"][0]["records"], 10);
  r = get("/metrics");
  ASSERT_TRUE(r);
  EXPECT_NE(r->body.find("yktgw_auth_decisions_total{decision=\"approve\"} 5\n"),
            std::string::npos);
  EXPECT_EQ(r->get_header_value("Content-Type"), "text/plain; version=0.0.4; charset=utf-8");
}

TEST_F(ServerTest, DepthIsCachedAndTakesADate) {
  start();
  auto r = get("/api/v1/depth");
  ASSERT_TRUE(r);
  ASSERT_EQ(r->status, 200) << r->body;
  auto j = json::parse(r->body);
  EXPECT_EQ(j["date"], "2026-11-29");
  EXPECT_EQ(j["items"][0]["day"]["card_share_percent"], 90.0);
  EXPECT_EQ(j["items"][0]["day"]["meets_target"], true);
  // 2026-11-01 00:00 Shanghai.
  EXPECT_EQ(source_.last_from.load(), 1'793'462'400'000);
  ASSERT_TRUE(get("/api/v1/depth"));
  EXPECT_EQ(source_.depth_queries.load(), 1) << "the second request within the cache time";
  r = get("/api/v1/depth?date=2026-10-05");
  ASSERT_TRUE(r);
  EXPECT_EQ(json::parse(r->body)["month"], "2026-10");
  EXPECT_EQ(source_.depth_queries.load(), 2);
  r = get("/api/v1/depth?date=2026-02-30");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 400);
}

TEST_F(ServerTest, HealthAndReadiness) {
  start();
  auto r = get("/healthz");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
  r = get("/readyz");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
  EXPECT_EQ(json::parse(r->body)["ready"], true);
  source_.broker = false;
  r = get("/readyz");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 503);
  EXPECT_EQ(json::parse(r->body)["broker_connected"], false);
  EXPECT_EQ(json::parse(r->body)["store_writable"], true);

  // The store side alone: a failed commit, then the disk quota.
  source_.broker = true;
  source_.store = false;
  r = get("/readyz");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 503);
  auto j = json::parse(r->body);
  EXPECT_EQ(j["ready"], false);
  EXPECT_EQ(j["broker_connected"], true);
  EXPECT_EQ(j["store_writable"], false);
  EXPECT_EQ(j["detail"], "last commit to records.db failed");
  source_.store = true;
  source_.over_quota = true;
  r = get("/readyz");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 503);
  j = json::parse(r->body);
  EXPECT_EQ(j["store_writable"], false);
  EXPECT_EQ(j["detail"], "disk quota reached");
  source_.over_quota = false;
  r = get("/readyz");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200) << r->body;
  EXPECT_EQ(json::parse(r->body)["store_writable"], true);
}

TEST_F(ServerTest, WrongHostIs400) {
  start();
  auto r = get("/api/v1/status", {{"Host", "attacker.example:" + std::to_string(server_->port())}});
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 400);
  r = get("/index.html", {{"Host", "attacker.example"}});
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 400) << "pages too: a rebinding page must not load even the shell";
  r = get("/api/v1/status", {{"Host", "localhost:" + std::to_string(server_->port())}});
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
}

TEST_F(ServerTest, TokenRequiredWhenConfigured) {
  start("s3cret");
  for (const char* path : {"/api/v1/status", "/api/v1/terminals", "/api/v1/outbox", "/api/v1/depth",
                           "/api/v1/series", "/metrics", "/readyz"}) {
    SCOPED_TRACE(path);
    auto r = get(path);
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 401);
    EXPECT_EQ(r->get_header_value("WWW-Authenticate"), "Bearer realm=\"yktgw\"");
    r = get(path, {{"Authorization", "Bearer wrong"}});
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 401);
    r = get(path, {{"Authorization", "Bearer s3cret"}});
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 200);
  }
  // The page shell and liveness need no token; they hold no data.
  auto r = get("/index.html");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
  r = get("/healthz");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
}

TEST_F(ServerTest, ServesEmbeddedPagesAndNothingElse) {
  start();
  for (const char* path : {"/", "/index.html", "/live.html", "/terminals.html", "/outbox.html",
                           "/depth.html", "/assets/app.js", "/assets/app.css"}) {
    SCOPED_TRACE(path);
    auto r = get(path);
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 200);
    EXPECT_FALSE(r->body.empty());
    EXPECT_EQ(r->get_header_value("Content-Security-Policy").rfind("default-src 'self'", 0), 0U);
  }
  auto r = get("/nope.html");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 404);
  r = get("/../etc/passwd");
  ASSERT_TRUE(r);
  EXPECT_NE(r->status, 200);
}

TEST_F(ServerTest, SeriesFillsOncePerInterval) {
  start();
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  auto r = get("/api/v1/series");
  ASSERT_TRUE(r);
  const auto j = json::parse(r->body);
  EXPECT_GE(j["samples"].size(), 2U);
}

TEST(ServerOptions, NonLoopbackWithoutTokenRefused) {
  Config c;
  c.status.listen = "0.0.0.0:8080";
  auto o = status_server_options_from(c);
  ASSERT_FALSE(o);
  EXPECT_NE(o.error().message.find("status.token"), std::string::npos);
  c.status.token = "t";
  o = status_server_options_from(c);
  ASSERT_TRUE(o);
  ASSERT_TRUE(o->has_value());
  c.status.listen = "";
  o = status_server_options_from(c);
  ASSERT_TRUE(o);
  EXPECT_FALSE(o->has_value());
}

TEST(ServerStart, AddressInUseIsAnError) {
  FixedSource source;
  StatusServerOptions o;
  o.listen = {"127.0.0.1", 0};
  auto first = StatusServer::start(o, source, nullptr);
  ASSERT_TRUE(first);
  o.listen.port = (*first)->port();
  auto second = StatusServer::start(o, source, nullptr);
  ASSERT_FALSE(second);
  EXPECT_EQ(second.error().code, "io");
}

}  // namespace
}  // namespace yktgw::status
