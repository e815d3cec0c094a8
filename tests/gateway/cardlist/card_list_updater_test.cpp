// The updater against a real HTTP(S) server on a free loopback port, playing the platform.

#include "gateway/cardlist/card_list_updater.h"

#include <gtest/gtest.h>
#include <httplib.h>

#include <cstdlib>
#include <map>
#include <mutex>
#include <random>
#include <thread>

#include "tests/gateway/cardlist/cardlist_test_util.h"

namespace yktgw {
namespace {

using namespace yktgw::testing;
using namespace std::chrono_literals;

class FakeClock final : public Clock {
 public:
  std::int64_t wall_ms() const override { return now_; }
  std::chrono::steady_clock::time_point steady() const override {
    return std::chrono::steady_clock::now();
  }
  std::atomic<std::int64_t> now_{1'700'000'000'000};
};

struct Answer {
  int status = 204;
  std::string body;
  std::chrono::milliseconds delay{0};
};

// The platform's side of the feed protocol, answering from a script.
class FakePlatform {
 public:
  explicit FakePlatform(
      std::unique_ptr<httplib::Server> server = std::make_unique<httplib::Server>())
      : server_(std::move(server)) {
    server_->Get("/cardlist/delta", [this](const httplib::Request& req, httplib::Response& res) {
      const std::string from = req.get_param_value("from");
      serve(res, "delta?from=" + from, [&] {
        auto it = deltas_.find(std::stoll(from));
        return it != deltas_.end() ? it->second : Answer{};
      });
    });
    server_->Get("/cardlist/snapshot", [this](const httplib::Request&, httplib::Response& res) {
      serve(res, "snapshot", [&] { return snapshot_; });
    });
    port_ = server_->bind_to_any_port("127.0.0.1");
    thread_ = std::thread([this] { server_->listen_after_bind(); });
    // stop() is a no-op on a server that is not running yet, which would leave join() waiting.
    while (!server_->is_running()) std::this_thread::sleep_for(1ms);
  }
  ~FakePlatform() {
    server_->stop();
    thread_.join();
  }

  std::string url(const std::string& scheme = "http") const {
    return scheme + "://127.0.0.1:" + std::to_string(port_) + "/";
  }
  void delta(std::int64_t from, Answer a) {
    std::lock_guard lock(mu_);
    deltas_[from] = std::move(a);
  }
  void snapshot(Answer a) {
    std::lock_guard lock(mu_);
    snapshot_ = std::move(a);
  }
  std::vector<std::string> requests() const {
    std::lock_guard lock(mu_);
    return requests_;
  }

 private:
  template <typename Pick>
  void serve(httplib::Response& res, const std::string& what, Pick pick) {
    Answer a;
    {
      std::lock_guard lock(mu_);
      requests_.push_back(what);
      a = pick();
    }
    if (a.delay.count() > 0) std::this_thread::sleep_for(a.delay);
    res.status = a.status;
    if (!a.body.empty()) res.set_content(a.body, "application/octet-stream");
  }

  std::unique_ptr<httplib::Server> server_;
  int port_ = 0;
  std::thread thread_;
  mutable std::mutex mu_;
  std::map<std::int64_t, Answer> deltas_;
  Answer snapshot_{404, ""};
  std::vector<std::string> requests_;
};

Answer ok(std::string body) { return Answer{200, std::move(body)}; }

class CardListUpdaterTest : public ::testing::Test {
 protected:
  CardListUpdaterTest() {
    CardListOptions o;
    o.db_path = dir_.file("cardlist.db");
    o.image_path = dir_.file("cardlist.idx");
    o.groups = AttributeNames::parse(kDefaultCardGroups).value();
    cache_ = std::move(CardListCache::open(o, nullptr).value());
  }

  std::unique_ptr<CardListUpdater> updater(const std::string& url, CardListUpdaterOptions o = {}) {
    o.feed_url = url;
    if (o.request_timeout == CardListUpdaterOptions{}.request_timeout) o.request_timeout = 5s;
    return std::make_unique<CardListUpdater>(*cache_, platform_public_key(), o, clock_, nullptr);
  }

  std::optional<CardEntry> find(const TokenBytes& t) const { return cache_->find(token_to_hex(t)); }

  // Brings the list to `version` from the feed, without the network.
  void start_at(std::int64_t version, const std::vector<FeedEntry>& entries) {
    ASSERT_TRUE(cache_->apply(decoded(snapshot_bytes(version, entries))).ok());
  }

  TempDir dir_;
  FakeClock clock_;
  std::unique_ptr<CardListCache> cache_;
  FakePlatform platform_;
  std::mt19937_64 rng_{9};
};

TEST_F(CardListUpdaterTest, FirstPollTakesTheSnapshotThenDeltasUntilUpToDate) {
  const TokenBytes a = random_token(rng_), b = random_token(rng_);
  platform_.snapshot(ok(snapshot_bytes(5, {upsert(a, CardStatus::active)})));
  platform_.delta(5, ok(delta_bytes(5, {upsert(a, CardStatus::lost)})));
  platform_.delta(6, ok(delta_bytes(6, {upsert(b, CardStatus::frozen)})));
  auto u = updater(platform_.url());
  auto r = u->poll_once();
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(*r, 3);
  EXPECT_EQ(cache_->version(), 7);
  EXPECT_EQ(find(a)->status, CardStatus::lost);
  EXPECT_EQ(find(b)->status, CardStatus::frozen);
  EXPECT_EQ(platform_.requests(),
            (std::vector<std::string>{"snapshot", "delta?from=5", "delta?from=6", "delta?from=7"}));
  const auto s = u->stats();
  EXPECT_EQ(s.feeds_applied, 3u);
  EXPECT_EQ(s.failed_polls, 0u);
  EXPECT_EQ(s.last_success_ms, clock_.now_.load());
  EXPECT_EQ(cache_->status(clock_.now_).checked_ms, clock_.now_.load());
  EXPECT_TRUE(std::filesystem::exists(dir_.file("cardlist.idx")));

  // Up to date: one request, nothing applied.
  r = u->poll_once();
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(*r, 0);
  EXPECT_EQ(platform_.requests().back(), "delta?from=7");
}

TEST_F(CardListUpdaterTest, A409AsksForASnapshot) {
  start_at(7, {});
  const TokenBytes a = random_token(rng_);
  platform_.delta(7, Answer{409, ""});
  platform_.snapshot(ok(snapshot_bytes(20, {upsert(a, CardStatus::cancelled)})));
  auto r = updater(platform_.url())->poll_once();
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(cache_->version(), 20);
  EXPECT_EQ(find(a)->status, CardStatus::cancelled);
  EXPECT_EQ(platform_.requests(),
            (std::vector<std::string>{"delta?from=7", "snapshot", "delta?from=20"}));
}

TEST_F(CardListUpdaterTest, ATamperedFeedIsRefusedAndTheOldListServes) {
  const TokenBytes a = random_token(rng_);
  start_at(1, {upsert(a, CardStatus::lost)});
  std::string tampered = delta_bytes(1, {upsert(a, CardStatus::active)});
  tampered[tampered.size() - 30] ^= 0x04;  // inside the signature
  platform_.delta(1, ok(tampered));
  auto u = updater(platform_.url());
  auto r = u->poll_once();
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, "feed_bad_signature");
  EXPECT_EQ(cache_->version(), 1);
  EXPECT_EQ(find(a)->status, CardStatus::lost);
  const auto s = u->stats();
  EXPECT_EQ(s.feeds_refused, 1u);
  EXPECT_EQ(s.failed_polls, 1u);
  EXPECT_EQ(s.last_success_ms, 0);
  EXPECT_NE(s.last_error.find("feed_bad_signature"), std::string::npos);
  EXPECT_EQ(cache_->status(clock_.now_).checked_ms, 0);  // not confirmed current

  // Once the platform sends a good one, it applies and the error clears.
  platform_.delta(1, ok(delta_bytes(1, {upsert(a, CardStatus::active)})));
  ASSERT_TRUE(u->poll_once().ok());
  EXPECT_EQ(find(a)->status, CardStatus::active);
  EXPECT_TRUE(u->stats().last_error.empty());
}

TEST_F(CardListUpdaterTest, ATruncatedAnswerIsRefused) {
  start_at(1, {});
  const std::string good = delta_bytes(1, {upsert(random_token(rng_), CardStatus::lost)});
  platform_.delta(1, ok(good.substr(0, good.size() - 10)));
  auto r = updater(platform_.url())->poll_once();
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, "feed_truncated");
  EXPECT_EQ(cache_->version(), 1);
}

TEST_F(CardListUpdaterTest, ServerErrorsFailThePollAndChangeNothing) {
  start_at(3, {});
  platform_.delta(3, Answer{500, "oops"});
  auto u = updater(platform_.url());
  auto r = u->poll_once();
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, "http");
  EXPECT_NE(r.error().message.find("500"), std::string::npos);
  EXPECT_EQ(cache_->version(), 3);
  EXPECT_EQ(u->stats().feeds_refused, 0u);  // not the feed's fault
  EXPECT_EQ(u->stats().failed_polls, 1u);
}

TEST_F(CardListUpdaterTest, ADeltaThatDoesNotFitLeadsToASnapshot) {
  start_at(1, {});
  const TokenBytes a = random_token(rng_);
  platform_.delta(1, ok(delta_bytes(3, {upsert(a, CardStatus::lost)})));  // 3 -> 4, we have 1
  platform_.snapshot(ok(snapshot_bytes(10, {upsert(a, CardStatus::frozen)})));
  auto u = updater(platform_.url());
  auto r = u->poll_once();
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(cache_->version(), 10);
  EXPECT_EQ(find(a)->status, CardStatus::frozen);
  EXPECT_EQ(u->stats().feeds_refused, 1u);
  EXPECT_EQ(platform_.requests(),
            (std::vector<std::string>{"delta?from=1", "snapshot", "delta?from=10"}));
}

TEST_F(CardListUpdaterTest, AnOlderSnapshotIsRefused) {
  const TokenBytes a = random_token(rng_);
  start_at(10, {upsert(a, CardStatus::lost)});
  platform_.delta(10, Answer{409, ""});
  platform_.snapshot(ok(snapshot_bytes(8, {})));
  auto r = updater(platform_.url())->poll_once();
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, "feed_stale_snapshot");
  EXPECT_EQ(cache_->version(), 10);
  EXPECT_EQ(find(a)->status, CardStatus::lost);
}

TEST_F(CardListUpdaterTest, ASnapshotWhereADeltaBelongsIsRefused) {
  start_at(1, {});
  platform_.delta(1, ok(snapshot_bytes(2, {})));
  auto r = updater(platform_.url())->poll_once();
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, "feed_malformed");
  EXPECT_EQ(cache_->version(), 1);
}

TEST_F(CardListUpdaterTest, NoPlatformListeningIsATransportError) {
  std::string url;
  {
    FakePlatform gone;
    url = gone.url();
  }
  auto r = updater(url)->poll_once();
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, "http");
}

TEST_F(CardListUpdaterTest, ASlowPlatformTimesOut) {
  start_at(1, {});
  platform_.delta(1, Answer{204, "", 1000ms});
  CardListUpdaterOptions o;
  o.request_timeout = 200ms;
  const auto t0 = std::chrono::steady_clock::now();
  auto r = updater(platform_.url(), o)->poll_once();
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, "http");
  EXPECT_LT(std::chrono::steady_clock::now() - t0, 800ms);
}

TEST_F(CardListUpdaterTest, AnOversizedAnswerIsCutOff) {
  start_at(1, {});
  platform_.delta(1, ok(std::string(100'000, 'x')));
  CardListUpdaterOptions o;
  o.max_feed_bytes = 10'000;
  auto r = updater(platform_.url(), o)->poll_once();
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, "feed_too_large");
}

TEST_F(CardListUpdaterTest, TheBackgroundThreadPollsUntilStopped) {
  const TokenBytes a = random_token(rng_);
  platform_.snapshot(ok(snapshot_bytes(2, {upsert(a, CardStatus::lost)})));
  CardListUpdaterOptions o;
  o.poll_interval = 30ms;
  auto u = updater(platform_.url(), o);
  u->start();
  const auto deadline = std::chrono::steady_clock::now() + 10s;
  while (u->stats().polls < 3 && std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(5ms);
  u->stop();
  EXPECT_GE(u->stats().polls, 3u);
  EXPECT_EQ(cache_->version(), 2);
  EXPECT_EQ(find(a)->status, CardStatus::lost);
  const auto seen = platform_.requests().size();
  std::this_thread::sleep_for(100ms);
  EXPECT_EQ(platform_.requests().size(), seen);  // stopped means stopped
}

// HTTPS with the platform's CA pinned in cardlist.ca_file.
class CardListUpdaterTlsTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    certs_ = new TempDir();
    const std::string d = certs_->file("");
    certs_->write("ext.cnf", "subjectAltName=IP:127.0.0.1\n");
    const std::string ec = " -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes ";
    const std::string cmd =
        "cd '" + d + "' && " + "openssl req -x509" + ec +
        "-keyout ca.key -out ca.pem -subj /CN=platform-ca -days 2 &&" + "openssl req -x509" + ec +
        "-keyout other.key -out other.pem -subj /CN=other -days 2 &&" + "openssl req" + ec +
        "-keyout server.key -out server.csr -subj /CN=127.0.0.1 && " +
        "openssl x509 -req -in server.csr -CA ca.pem -CAkey ca.key -CAcreateserial "
        "-out server.pem -days 2 -extfile ext.cnf";
    ok_ = std::system((cmd + " >/dev/null 2>&1").c_str()) == 0;
  }
  static void TearDownTestSuite() {
    delete certs_;
    certs_ = nullptr;
  }

  void SetUp() override {
    ASSERT_TRUE(ok_) << "openssl could not make the test certificates";
    CardListOptions o;
    o.db_path = dir_.file("cardlist.db");
    o.groups = AttributeNames::parse(kDefaultCardGroups).value();
    cache_ = std::move(CardListCache::open(o, nullptr).value());
    platform_ = std::make_unique<FakePlatform>(std::make_unique<httplib::SSLServer>(
        certs_->file("server.pem").c_str(), certs_->file("server.key").c_str()));
    platform_->snapshot(ok(snapshot_bytes(4, {})));
  }

  Result<int> poll(const std::string& ca_file) {
    CardListUpdaterOptions o;
    o.feed_url = platform_->url("https");
    o.ca_file = ca_file;
    return CardListUpdater(*cache_, platform_public_key(), o, clock_, nullptr).poll_once();
  }

  static inline TempDir* certs_ = nullptr;
  static inline bool ok_ = false;
  TempDir dir_;
  FakeClock clock_;
  std::unique_ptr<CardListCache> cache_;
  std::unique_ptr<FakePlatform> platform_;
};

TEST_F(CardListUpdaterTlsTest, ThePinnedCaIsAccepted) {
  auto r = poll(certs_->file("ca.pem"));
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(cache_->version(), 4);
}

TEST_F(CardListUpdaterTlsTest, AnyOtherCaIsRefused) {
  auto r = poll(certs_->file("other.pem"));
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, "http");
  EXPECT_EQ(cache_->version(), 0);
  // Without a pinned CA the system store decides, and it does not know this platform either.
  EXPECT_FALSE(poll("").ok());
  EXPECT_TRUE(platform_->requests().empty());
}

}  // namespace
}  // namespace yktgw
