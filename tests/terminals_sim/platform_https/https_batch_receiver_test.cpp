// The receiver spoken to by a plain HTTPS client (cpp-httplib's), so its answers are checked
// without the gateway's link in between.

#include "terminals_sim/platform_https/https_batch_receiver.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <httplib.h>

#include <nlohmann/json.hpp>
#include <thread>

#include "gateway/outbox/batch_format.h"
#include "terminals_sim/platform_https/received_store.h"
#include "tests/connectors/https/dev_certs.h"
#include "tests/gateway/outbox/outbox_test_util.h"

namespace yktgw::platform {
namespace {

using namespace std::chrono_literals;
using testing::dev_certs;
using ::testing::HasSubstr;

std::string lines(int from, int count, const std::string& gateway = "gw1") {
  std::string out;
  for (int i = from; i < from + count; ++i) {
    outbox::ForwardedRecord f;
    f.seq = static_cast<std::uint64_t>(i);
    f.gateway = gateway;
    f.record = testing::txn(i, 52);
    outbox::append_record_line(f, out);
  }
  return out;
}

class ReceiverTest : public ::testing::Test {
 protected:
  void start(ReceiverFaults faults = {}) {
    HttpsReceiverOptions o;
    o.cert_file = dev_certs().server_cert;
    o.key_file = dev_certs().server_key;
    o.db_path = dir_.file("platform.db");
    o.keep_alive_timeout_s = 1;
    o.max_body_bytes = 1 << 20;
    o.faults = faults;
    auto r = HttpsBatchReceiver::start(o, testing::quiet_log());
    ASSERT_TRUE(r) << r.error().message;
    receiver_ = std::move(r.value());
  }

  httplib::Result post(const std::string& body, httplib::Headers headers) {
    httplib::SSLClient cli("127.0.0.1", receiver_->port());
    cli.set_ca_cert_path(dev_certs().ca);
    cli.enable_server_certificate_verification(true);
    cli.set_connection_timeout(2);
    cli.set_read_timeout(5);
    return cli.Post("/batches", headers, body, "application/x-ndjson");
  }

  httplib::Result post_batch(const std::string& ndjson, const std::string& id = "gw1-b-1",
                             const std::string& gateway = "gw1", bool header = true) {
    httplib::Headers h{{"Idempotency-Key", id}, {"X-Gateway-Id", gateway}};
    if (header) h.emplace("Content-Encoding", "gzip");
    return post(*outbox::gzip_compress(ndjson), h);
  }

  testing::TempDir dir_{"receiver"};
  std::unique_ptr<HttpsBatchReceiver> receiver_;
};

TEST_F(ReceiverTest, AcksWithCountsAndDeduplicates) {
  start();
  auto r = post_batch(lines(1, 5));
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
  EXPECT_EQ(nlohmann::json::parse(r->body),
            (nlohmann::json{{"batch_id", "gw1-b-1"}, {"accepted", 5}, {"duplicates", 0}}));
  // Without the Content-Encoding header the gzip body is recognised and inflated too.
  r = post_batch(lines(3, 5), "gw1-b-2", "gw1", /*header=*/false);
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
  EXPECT_EQ(nlohmann::json::parse(r->body)["accepted"], 2);
  EXPECT_EQ(nlohmann::json::parse(r->body)["duplicates"], 3);
  const auto s = receiver_->stats();
  EXPECT_EQ(s.batches_accepted, 2u);
  EXPECT_EQ(s.records_accepted, 7u);
  EXPECT_EQ(s.duplicates, 3u);
  EXPECT_EQ(count_received(dir_.file("platform.db"))->at(0).unique, 7u);
}

TEST_F(ReceiverTest, MalformedBatchesGet400AndStoreNothing) {
  start();
  struct Case {
    std::string body;
    httplib::Headers headers;
    std::string expect;
  };
  const httplib::Headers ok{{"Idempotency-Key", "k"}, {"X-Gateway-Id", "gw1"}};
  const std::vector<Case> cases = {
      {*outbox::gzip_compress("not json\n"), ok, "line 1"},
      {*outbox::gzip_compress(lines(1, 2, "gw-other")), ok, "names gateway 'gw-other'"},
      {*outbox::gzip_compress(""), ok, "empty batch"},
      {*outbox::gzip_compress(lines(1, 1)), {{"X-Gateway-Id", "gw1"}}, "Idempotency-Key"},
      {*outbox::gzip_compress(lines(1, 1)), {{"Idempotency-Key", "k"}}, "X-Gateway-Id"},
      {outbox::gzip_compress(lines(1, 3))->substr(0, 20), ok, "gzip"},
  };
  for (const Case& c : cases) {
    auto r = post(c.body, c.headers);
    ASSERT_TRUE(r) << c.expect;
    EXPECT_EQ(r->status, 400) << c.expect;
    EXPECT_THAT(r->body, HasSubstr(c.expect));
  }
  // A body sent as gzip that is not gzip fails while cpp-httplib inflates it.
  auto r = post("plain",
                {{"Idempotency-Key", "k"}, {"X-Gateway-Id", "gw1"}, {"Content-Encoding", "gzip"}});
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 400);
  EXPECT_TRUE(count_received(dir_.file("platform.db"))->empty());
}

TEST_F(ReceiverTest, RefusesBodiesPastTheLimit) {
  start();
  std::string big = lines(1, 1);
  while (big.size() < (2u << 20)) big += big;
  auto r = post(*outbox::gzip_compress(big),
                {{"Idempotency-Key", "k"}, {"X-Gateway-Id", "gw1"}, {"Content-Encoding", "gzip"}});
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 413);
}

TEST_F(ReceiverTest, InjectedFaults) {
  ReceiverFaults f;
  f.error_429_probability = 1.0;
  f.retry_after_s = 7;
  start(f);
  auto r = post_batch(lines(1, 2));
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 429);
  EXPECT_EQ(r->get_header_value("Retry-After"), "7");

  f = {};
  f.drop_ack_probability = 1.0;
  receiver_->set_faults(f);
  r = post_batch(lines(1, 2));
  EXPECT_FALSE(r) << "no answer at all";
  EXPECT_EQ(receiver_->stats().dropped_acks, 1u);
  EXPECT_EQ(count_received(dir_.file("platform.db"))->at(0).unique, 2u) << "but stored";

  f = {};
  f.ack_delay_ms = 300;
  receiver_->set_faults(f);
  const auto t0 = std::chrono::steady_clock::now();
  r = post_batch(lines(3, 2));
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
  EXPECT_GE(std::chrono::steady_clock::now() - t0, 300ms);
}

TEST_F(ReceiverTest, FollowsItsDownSchedule) {
  ReceiverFaults f;
  f.down = *parse_down_schedule("down 300ms every 600ms");
  start(f);
  httplib::SSLClient cli("127.0.0.1", receiver_->port());
  cli.set_ca_cert_path(dev_certs().ca);
  cli.enable_server_certificate_verification(true);
  cli.set_connection_timeout(1);
  bool saw_up = false;
  bool saw_down = false;
  const auto deadline = std::chrono::steady_clock::now() + 3s;
  while (std::chrono::steady_clock::now() < deadline && !(saw_up && saw_down)) {
    auto r = cli.Get("/health");
    if (r && r->status == 200) saw_up = true;
    if (!r) saw_down = true;
    std::this_thread::sleep_for(50ms);
  }
  EXPECT_TRUE(saw_up);
  EXPECT_TRUE(saw_down);
}

TEST(DownSchedule, Parses) {
  EXPECT_EQ(*parse_down_schedule("down 10s every 30s"), (DownSchedule{10'000ms, 30'000ms}));
  EXPECT_EQ(*parse_down_schedule("  down 500ms  every 2m "), (DownSchedule{500ms, 120'000ms}));
  EXPECT_FALSE(parse_down_schedule("")->active());
  for (const char* bad : {"down 10s", "up 1s every 2s", "down 30s every 10s", "down xs every 1s",
                          "down 1h every 2h", "down 0s every 1s"}) {
    auto r = parse_down_schedule(bad);
    ASSERT_FALSE(r) << bad;
    EXPECT_EQ(r.error().code, "bad_schedule");
  }
}

TEST(ReceiverStart, RefusesAnUnusableCertificate) {
  testing::TempDir dir("receiver");
  HttpsReceiverOptions o;
  o.cert_file = dir.file("none.pem");
  o.key_file = dir.file("none.key");
  o.db_path = dir.file("p.db");
  auto r = HttpsBatchReceiver::start(o, testing::quiet_log());
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, "tls");
}

}  // namespace
}  // namespace yktgw::platform
