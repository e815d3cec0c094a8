// The platform's HTTP side: status, and the signed card-list feed checked with the gateway's own
// decoder (gateway/cardlist/feed_format.h) and the dev public key.

#include <gtest/gtest.h>
#include <httplib.h>
#include <spdlog/sinks/null_sink.h>
#include <spdlog/spdlog.h>

#include <nlohmann/json.hpp>

#include "gateway/cardlist/feed_format.h"
#include "terminals_sim/platform/http_api.h"

namespace yktgw::platform {
namespace {

const std::string kDevKeys = std::string(YKTGW_SOURCE_DIR) + "/config/dev-keys/";

class PlatformHttpTest : public ::testing::Test {
 protected:
  PlatformHttpTest()
      : tok_(std::move(CardTokenizer::create(std::string(32, 'k')).value())),
        cards_(sim::generate_population(42, 300), tok_, 42, 1'700'000'000'000),
        service_(cards_, {}, clock_),
        log_(std::make_shared<spdlog::logger>("http",
                                              std::make_shared<spdlog::sinks::null_sink_mt>())) {}

  void start(bool with_feed) {
    if (with_feed) {
      auto key = Sm2PrivateKey::from_pem_file(kDevKeys + "platform-feed.key.pem");
      ASSERT_TRUE(key) << key.error().message;
      feed_.emplace(cards_, std::move(*key));
    }
    HttpOptions o;
    o.port = 0;
    o.zmq_endpoint = "tcp://127.0.0.1:7100";
    auto h = PlatformHttp::start(o, cards_, service_, feed_ ? &*feed_ : nullptr, clock_, log_);
    ASSERT_TRUE(h) << h.error().message;
    http_ = std::move(*h);
    client_ = std::make_unique<httplib::Client>("127.0.0.1", http_->port());
  }

  Feed decode(const std::string& bytes) const {
    auto pub = Sm2PublicKey::from_pem_file(kDevKeys + "platform-feed.pub.pem");
    EXPECT_TRUE(pub);
    auto feed = decode_feed(bytes, *pub);
    EXPECT_TRUE(feed) << (feed ? "" : feed.error().message);
    return feed ? std::move(*feed) : Feed{};
  }

  SystemClock clock_;
  CardTokenizer tok_;
  PlatformCards cards_;
  PlatformService service_;
  std::shared_ptr<spdlog::logger> log_;
  std::optional<FeedPublisher> feed_;
  std::unique_ptr<PlatformHttp> http_;
  std::unique_ptr<httplib::Client> client_;
};

TEST_F(PlatformHttpTest, Healthz) {
  start(false);
  auto res = client_->Get("/healthz");
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 200);
  const auto body = nlohmann::json::parse(res->body);
  EXPECT_EQ(body["status"], "ok");
  EXPECT_EQ(body["population"], 300);
  EXPECT_EQ(body["listed"], cards_.listed());
  EXPECT_EQ(body["cardlist_version"], 1);
  EXPECT_EQ(body["feed"], false);
  EXPECT_EQ(body["zmq_endpoint"], "tcp://127.0.0.1:7100");
}

TEST_F(PlatformHttpTest, FeedEndpointsNeedAKey) {
  start(false);
  EXPECT_EQ(client_->Get("/cardlist/snapshot")->status, 503);
  EXPECT_EQ(client_->Get("/cardlist/delta?from=1")->status, 503);
}

TEST_F(PlatformHttpTest, SignedSnapshotDecodesWithTheGatewaysDecoder) {
  start(true);
  auto res = client_->Get("/cardlist/snapshot");
  ASSERT_TRUE(res);
  ASSERT_EQ(res->status, 200);
  EXPECT_EQ(res->get_header_value("X-Ykt-Feed-Version"), "1");
  EXPECT_EQ(res->get_header_value("X-Ykt-Feed-Kind"), "snapshot");
  const Feed feed = decode(res->body);
  EXPECT_EQ(feed.header.kind, FeedKind::snapshot);
  EXPECT_EQ(feed.header.version, 1);
  EXPECT_EQ(feed.header.created_ms, 1'700'000'000'000);
  EXPECT_EQ(feed.header.groups, platform_groups());
  ASSERT_EQ(feed.entries.size(), cards_.listed());
  for (const FeedEntry& e : feed.entries) {
    const auto entry = cards_.find(token_to_hex(e.token));
    ASSERT_TRUE(entry);
    EXPECT_EQ(e.op, FeedOp::upsert);
    EXPECT_EQ(e.status, entry->status);
    EXPECT_EQ(e.attributes, entry->attributes);
  }
}

TEST_F(PlatformHttpTest, DeltasFollowAdvance) {
  start(true);
  auto res = client_->Get("/cardlist/delta?from=1");
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 204);  // up to date
  EXPECT_EQ(client_->Get("/cardlist/delta?from=5")->status, 404);
  EXPECT_EQ(client_->Get("/cardlist/delta?from=x")->status, 400);

  res = client_->Post("/cardlist/advance?count=2", "", "text/plain");
  ASSERT_TRUE(res);
  ASSERT_EQ(res->status, 200);
  EXPECT_EQ(nlohmann::json::parse(res->body)["version"], 3);
  EXPECT_EQ(client_->Post("/cardlist/advance?count=0", "", "text/plain")->status, 400);

  for (std::int64_t from : {1, 2}) {
    res = client_->Get(("/cardlist/delta?from=" + std::to_string(from)).c_str());
    ASSERT_TRUE(res);
    ASSERT_EQ(res->status, 200);
    const Feed feed = decode(res->body);
    EXPECT_EQ(feed.header.kind, FeedKind::delta);
    EXPECT_EQ(feed.header.base_version, from);
    EXPECT_EQ(feed.header.version, from + 1);
    EXPECT_EQ(feed.entries.size(), cards_.delta(from)->size());
  }
  // The latest state: the new snapshot holds every change of the last delta.
  const Feed snap = decode(client_->Get("/cardlist/snapshot")->body);
  EXPECT_EQ(snap.header.version, 3);
  EXPECT_EQ(snap.entries.size(), cards_.listed());
  const auto changes = cards_.delta(2).value();
  for (const CardChange& c : changes) {
    const bool listed = std::any_of(snap.entries.begin(), snap.entries.end(),
                                    [&](const FeedEntry& e) { return e.token == c.token; });
    EXPECT_EQ(listed, c.entry.has_value());
  }
}

TEST(HttpAddress, Parses) {
  auto a = parse_http_address("127.0.0.1:7180");
  ASSERT_TRUE(a);
  EXPECT_EQ(a->host, "127.0.0.1");
  EXPECT_EQ(a->port, 7180);
  EXPECT_EQ(parse_http_address("[::1]:80")->host, "::1");
  EXPECT_FALSE(parse_http_address("7180"));
  EXPECT_FALSE(parse_http_address("host:99999"));
  EXPECT_FALSE(parse_http_address("host:x"));
}

}  // namespace
}  // namespace yktgw::platform
