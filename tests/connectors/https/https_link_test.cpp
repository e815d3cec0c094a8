// HttpsLink against the platform's real HTTPS receiver on loopback, with certificates made by
// deploy/make-dev-certs.sh: every fault mode of the receiver, and the TLS failures that must
// keep records (wrong CA, missing or expired client certificate).

#include "connectors/https/https_link.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <future>
#include <vector>

#include "gateway/outbox/batch_format.h"
#include "terminals_sim/platform_https/https_batch_receiver.h"
#include "terminals_sim/platform_https/received_store.h"
#include "tests/connectors/https/dev_certs.h"
#include "tests/gateway/outbox/outbox_test_util.h"

namespace yktgw::https {
namespace {

using namespace std::chrono_literals;
using platform::HttpsBatchReceiver;
using platform::HttpsReceiverOptions;
using platform::ReceiverFaults;
using testing::dev_certs;
using ::testing::HasSubstr;
using ::testing::StartsWith;

Batch make_batch(std::uint64_t first, std::uint32_t count, const std::string& gateway = "gw1") {
  std::string lines;
  for (std::uint64_t seq = first; seq < first + count; ++seq) {
    outbox::ForwardedRecord f;
    f.seq = seq;
    f.gateway = gateway;
    f.record = testing::txn(static_cast<int>(seq), 51);
    outbox::append_record_line(f, lines);
  }
  Batch b;
  b.destination = "crossprov";
  b.first_seq = first;
  b.last_seq = first + count - 1;
  b.count = count;
  b.id = outbox::batch_id(gateway, "crossprov", b.first_seq, b.last_seq);
  b.payload = *outbox::gzip_compress(lines);
  return b;
}

DeliveryResult send_and_wait(HttpsLink& link, const Batch& b) {
  auto promise = std::make_shared<std::promise<DeliveryResult>>();
  auto future = promise->get_future();
  link.send(b, [promise](DeliveryResult r) { promise->set_value(std::move(r)); });
  if (future.wait_for(20s) != std::future_status::ready) {
    ADD_FAILURE() << "no answer";
    return {};
  }
  return future.get();
}

class HttpsLinkTest : public ::testing::Test {
 protected:
  void start_receiver(ReceiverFaults faults = {}, bool mtls = false) {
    HttpsReceiverOptions o;
    o.cert_file = dev_certs().server_cert;
    o.key_file = dev_certs().server_key;
    if (mtls) o.client_ca_file = dev_certs().ca;
    o.db_path = dir_.file("platform.db");
    o.keep_alive_timeout_s = 1;
    o.faults = faults;
    auto r = HttpsBatchReceiver::start(o, testing::quiet_log("platform"));
    ASSERT_TRUE(r) << r.error().message;
    receiver_ = std::move(r.value());
  }

  HttpsLinkOptions link_options() const {
    HttpsLinkOptions o;
    o.url = "https://127.0.0.1:" + std::to_string(receiver_->port());
    o.gateway_id = "gw1";
    o.ca_file = dev_certs().ca;
    o.connect_timeout_ms = 2000;
    o.timeout_ms = 3000;
    o.max_in_flight = 4;
    return o;
  }

  std::unique_ptr<HttpsLink> link(HttpsLinkOptions o) {
    auto r = HttpsLink::create(std::move(o), testing::quiet_log("https"));
    EXPECT_TRUE(r) << (r ? "" : r.error().message);
    return r ? std::move(r.value()) : nullptr;
  }
  std::unique_ptr<HttpsLink> link() { return link(link_options()); }

  platform::SourceCount counted() {
    auto c = platform::count_received(dir_.file("platform.db"));
    EXPECT_TRUE(c);
    if (!c || c->empty()) return {};
    EXPECT_EQ(c->size(), 1u);
    return (*c)[0];
  }

  testing::TempDir dir_{"https"};
  std::unique_ptr<HttpsBatchReceiver> receiver_;
};

TEST_F(HttpsLinkTest, DeliversAndThePlatformStoresEachRecordOnce) {
  start_receiver();
  auto l = link();
  const Batch b = make_batch(1, 5);
  EXPECT_EQ(send_and_wait(*l, b), (DeliveryResult{DeliveryStatus::delivered, "http 200"}));
  EXPECT_EQ(send_and_wait(*l, b).status, DeliveryStatus::delivered) << "a repeat is acked too";
  const auto c = counted();
  EXPECT_EQ(c.platform, "crossprov");
  EXPECT_EQ(c.source_gateway, "gw1");
  EXPECT_EQ(c.unique, 5u);
  EXPECT_EQ(c.duplicates, 5u);
  EXPECT_EQ(l->stats().delivered, 2u);
  EXPECT_EQ(l->destination(), "crossprov");
  EXPECT_EQ(l->max_in_flight(), 4);
}

TEST_F(HttpsLinkTest, ManyBatchesInFlightOverKeptAliveConnections) {
  start_receiver();
  auto l = link();
  std::vector<std::future<DeliveryResult>> answers;
  for (int i = 0; i < 40; ++i) {
    auto promise = std::make_shared<std::promise<DeliveryResult>>();
    answers.push_back(promise->get_future());
    l->send(make_batch(static_cast<std::uint64_t>(i) * 10 + 1, 10),
            [promise](DeliveryResult r) { promise->set_value(std::move(r)); });
  }
  for (auto& a : answers) {
    ASSERT_EQ(a.wait_for(20s), std::future_status::ready);
    EXPECT_EQ(a.get().status, DeliveryStatus::delivered);
  }
  EXPECT_EQ(counted().unique, 400u);
  EXPECT_EQ(counted().duplicates, 0u);
}

TEST_F(HttpsLinkTest, ServerErrorsAndThrottlingAreRetriedLater) {
  ReceiverFaults f;
  f.error_500_probability = 1.0;
  start_receiver(f);
  auto l = link();
  auto r = send_and_wait(*l, make_batch(1, 5));
  EXPECT_EQ(r.status, DeliveryStatus::retry_later);
  EXPECT_THAT(r.detail, StartsWith("http 500"));

  f = {};
  f.error_429_probability = 1.0;
  f.retry_after_s = 2;
  receiver_->set_faults(f);
  r = send_and_wait(*l, make_batch(1, 5));
  EXPECT_EQ(r.status, DeliveryStatus::retry_later);
  EXPECT_THAT(r.detail, StartsWith("http 429 retry_after_ms=2000"));
  EXPECT_EQ(counted().unique, 0u) << "nothing stored on a 500 or 429";
  EXPECT_EQ(receiver_->stats().injected_500, 1u);
  EXPECT_EQ(receiver_->stats().injected_429, 1u);
}

TEST_F(HttpsLinkTest, AnInvalidBatchIsRejected) {
  ReceiverFaults f;
  f.error_400_probability = 1.0;
  start_receiver(f);
  auto l = link();
  auto r = send_and_wait(*l, make_batch(1, 5));
  EXPECT_EQ(r.status, DeliveryStatus::rejected);
  EXPECT_THAT(r.detail, StartsWith("http 400: "));

  receiver_->set_faults({});
  Batch bad = make_batch(1, 5);
  bad.payload = *outbox::gzip_compress("{\"v\":1,\"seq\":1}\n");
  r = send_and_wait(*l, bad);
  EXPECT_EQ(r.status, DeliveryStatus::rejected);
  EXPECT_THAT(r.detail, HasSubstr("malformed"));
  EXPECT_THAT(r.detail, HasSubstr("line 1"));

  Batch other = make_batch(1, 5, "gw-other");  // records of another gateway under gw1's header
  r = send_and_wait(*l, other);
  EXPECT_EQ(r.status, DeliveryStatus::rejected);
  EXPECT_EQ(l->stats().rejected, 3u);
}

TEST_F(HttpsLinkTest, ADroppedAckIsRetriedAndTheRepeatIsADuplicate) {
  ReceiverFaults f;
  f.drop_ack_probability = 1.0;
  start_receiver(f);
  auto l = link();
  const Batch b = make_batch(1, 5);
  auto r = send_and_wait(*l, b);
  EXPECT_EQ(r.status, DeliveryStatus::retry_later);
  EXPECT_EQ(receiver_->stats().dropped_acks, 1u);
  EXPECT_EQ(counted().unique, 5u) << "stored before the ack was lost";
  receiver_->set_faults({});
  EXPECT_EQ(send_and_wait(*l, b).status, DeliveryStatus::delivered);
  EXPECT_EQ(counted().unique, 5u);
  EXPECT_EQ(counted().duplicates, 5u);
}

TEST_F(HttpsLinkTest, ASlowAckBeyondTheTimeoutIsRetriedLater) {
  ReceiverFaults f;
  f.ack_delay_ms = 1500;
  start_receiver(f);
  HttpsLinkOptions o = link_options();
  o.timeout_ms = 700;
  auto l = link(o);
  auto r = send_and_wait(*l, make_batch(1, 5));
  EXPECT_EQ(r.status, DeliveryStatus::retry_later);
  EXPECT_THAT(r.detail, StartsWith("timeout: "));

  o.timeout_ms = 5000;  // a slow ack within the time is fine
  auto patient = link(o);
  EXPECT_EQ(send_and_wait(*patient, make_batch(1, 5)).status, DeliveryStatus::delivered);
}

TEST_F(HttpsLinkTest, MutualTlsNeedsAValidClientCertificate) {
  start_receiver({}, /*mtls=*/true);
  auto anonymous = link();
  auto r = send_and_wait(*anonymous, make_batch(1, 5));
  EXPECT_EQ(r.status, DeliveryStatus::retry_later) << "records are kept";
  EXPECT_THAT(r.detail, StartsWith("tls: "));
  EXPECT_EQ(anonymous->stats().tls_failures, 1u);

  HttpsLinkOptions o = link_options();
  o.client_cert_file = dev_certs().expired_cert;
  o.client_key_file = dev_certs().expired_key;
  auto expired = link(o);
  r = send_and_wait(*expired, make_batch(1, 5));
  EXPECT_EQ(r.status, DeliveryStatus::retry_later);
  EXPECT_THAT(r.detail, StartsWith("tls: "));
  EXPECT_EQ(counted().unique, 0u);

  o.client_cert_file = dev_certs().client_cert;
  o.client_key_file = dev_certs().client_key;
  auto good = link(o);
  EXPECT_EQ(send_and_wait(*good, make_batch(1, 5)).status, DeliveryStatus::delivered);
  EXPECT_EQ(counted().unique, 5u);
}

TEST_F(HttpsLinkTest, APlatformCertificateFromAnotherCaIsRefused) {
  start_receiver();
  HttpsLinkOptions o = link_options();
  o.ca_file = dev_certs().other_ca;
  auto l = link(o);
  auto r = send_and_wait(*l, make_batch(1, 5));
  EXPECT_EQ(r.status, DeliveryStatus::retry_later);
  EXPECT_THAT(r.detail, StartsWith("tls: "));
  EXPECT_EQ(counted().unique, 0u);
}

TEST_F(HttpsLinkTest, APlatformThatIsDownIsRetriedLaterAndComesBack) {
  start_receiver();
  auto l = link();
  EXPECT_EQ(send_and_wait(*l, make_batch(1, 5)).status, DeliveryStatus::delivered);
  ASSERT_TRUE(receiver_->set_up(false));
  auto r = send_and_wait(*l, make_batch(6, 5));
  EXPECT_EQ(r.status, DeliveryStatus::retry_later);
  ASSERT_TRUE(receiver_->set_up(true));
  EXPECT_EQ(send_and_wait(*l, make_batch(6, 5)).status, DeliveryStatus::delivered);
  EXPECT_EQ(counted().unique, 10u);
}

TEST_F(HttpsLinkTest, StopAnswersEverythingOutstandingWithRetryLater) {
  ReceiverFaults f;
  f.ack_delay_ms = 3000;
  start_receiver(f);
  auto l = link();
  std::vector<std::future<DeliveryResult>> answers;
  for (int i = 0; i < 8; ++i) {
    auto promise = std::make_shared<std::promise<DeliveryResult>>();
    answers.push_back(promise->get_future());
    l->send(make_batch(static_cast<std::uint64_t>(i) * 5 + 1, 5),
            [promise](DeliveryResult r) { promise->set_value(std::move(r)); });
  }
  std::this_thread::sleep_for(200ms);
  const auto t0 = std::chrono::steady_clock::now();
  l->stop();
  EXPECT_LT(std::chrono::steady_clock::now() - t0, 1s);
  for (auto& a : answers) {
    ASSERT_EQ(a.wait_for(0s), std::future_status::ready);
    EXPECT_EQ(a.get(), (DeliveryResult{DeliveryStatus::retry_later, "link stopped"}));
  }
  std::promise<DeliveryResult> late;
  l->send(make_batch(100, 1), [&](DeliveryResult r) { late.set_value(std::move(r)); });
  EXPECT_EQ(late.get_future().get().status, DeliveryStatus::retry_later);
}

TEST(HttpsLinkCreate, RefusesBadOptions) {
  HttpsLinkOptions o;
  o.gateway_id = "gw1";
  o.url = "http://127.0.0.1:1";
  o.ca_file = dev_certs().ca;
  EXPECT_EQ(HttpsLink::create(o, testing::quiet_log()).error().code, "https_config");
  o.url = "https://127.0.0.1:1";
  o.ca_file = "/nonexistent/ca.pem";
  EXPECT_THAT(HttpsLink::create(o, testing::quiet_log()).error().message,
              HasSubstr("https.ca_file"));
  o.ca_file = dev_certs().ca;
  o.client_cert_file = dev_certs().client_cert;
  EXPECT_THAT(HttpsLink::create(o, testing::quiet_log()).error().message, HasSubstr("together"));
  o.client_key_file = dev_certs().client_key;
  EXPECT_TRUE(HttpsLink::create(o, testing::quiet_log()));
}

TEST(HttpsLinkCreate, OptionsFromConfig) {
  Config c;
  c.gateway.id = "wl-xiangkou-01";
  c.https.url = "https://10.51.0.8:8443/ykt";
  c.https.ca_file = "/etc/yktgw/ca.pem";
  c.https.max_in_flight = 6;
  const HttpsLinkOptions o = https_link_options_from(c);
  EXPECT_EQ(o.destination, "crossprov");
  EXPECT_EQ(o.gateway_id, "wl-xiangkou-01");
  EXPECT_EQ(o.url, "https://10.51.0.8:8443/ykt");
  EXPECT_EQ(o.max_in_flight, 6);
  EXPECT_EQ(o.connect_timeout_ms, 3000);
  EXPECT_EQ(o.timeout_ms, 10000);
}

}  // namespace
}  // namespace yktgw::https
