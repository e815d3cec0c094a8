#include "connectors/https/http_outcome.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace yktgw::https {
namespace {

using ::testing::HasSubstr;

HttpOutcome answer(long status, std::string body = "", std::optional<std::int64_t> after = {}) {
  HttpOutcome o;
  o.status = status;
  o.body = std::move(body);
  o.retry_after_ms = after;
  o.batch_id = "gw1-crossprov-1-10";
  return o;
}

TEST(HttpOutcome, MapsStatusesOntoTheThreeOutcomes) {
  EXPECT_EQ(classify(answer(200)).status, DeliveryStatus::delivered);
  EXPECT_EQ(classify(answer(204)).status, DeliveryStatus::delivered);
  EXPECT_EQ(classify(answer(200, R"({"batch_id":"gw1-crossprov-1-10","accepted":10})")),
            (DeliveryResult{DeliveryStatus::delivered, "http 200"}));
  for (long s : {500L, 502L, 503L, 504L, 429L, 408L, 301L, 100L}) {
    EXPECT_EQ(classify(answer(s)).status, DeliveryStatus::retry_later) << s;
  }
  for (long s : {400L, 401L, 403L, 404L, 409L, 413L, 422L}) {
    EXPECT_EQ(classify(answer(s)).status, DeliveryStatus::rejected) << s;
  }
  EXPECT_EQ(classify(answer(400, "{\"error\":\"malformed\",\n\"message\":\"line 3\"}")).detail,
            "http 400: {\"error\":\"malformed\", \"message\":\"line 3\"}");
}

TEST(HttpOutcome, RetryAfterTravelsInTheDetail) {
  EXPECT_EQ(classify(answer(429, "slow down", 2000)).detail,
            "http 429 retry_after_ms=2000: slow down");
  EXPECT_EQ(classify(answer(503, "", 0)).detail, "http 503 retry_after_ms=0");
  EXPECT_EQ(classify(answer(500, "", 2000)).detail, "http 500") << "only 429 and 503";
}

TEST(HttpOutcome, AnAckForAnotherBatchIsNoAck) {
  const auto r = classify(answer(200, R"({"batch_id":"gw1-crossprov-11-20"})"));
  EXPECT_EQ(r.status, DeliveryStatus::retry_later);
  EXPECT_THAT(r.detail, HasSubstr("gw1-crossprov-11-20"));
}

TEST(HttpOutcome, TransportErrorsAreRetryLater) {
  HttpOutcome o;
  o.transport = TransportError::tls;
  o.transport_detail = "SSL peer certificate or SSH remote key was not OK";
  EXPECT_EQ(classify(o),
            (DeliveryResult{DeliveryStatus::retry_later,
                            "tls: SSL peer certificate or SSH remote key was not OK"}));
  o.transport = TransportError::timeout;
  EXPECT_EQ(classify(o).status, DeliveryStatus::retry_later);
}

TEST(HttpOutcome, ParsesRetryAfter) {
  EXPECT_EQ(parse_retry_after("2", 0), 2000);
  EXPECT_EQ(parse_retry_after(" 120\r\n", 0), 120'000);
  EXPECT_EQ(parse_retry_after("999999999", 0), 86'400'000) << "clamped to a day";
  // 1994-11-06T08:49:37Z = 784111777 s.
  EXPECT_EQ(parse_retry_after("Sun, 06 Nov 1994 08:49:37 GMT", 784'111'777'000 - 5000), 5000);
  EXPECT_EQ(parse_retry_after("Sun, 06 Nov 1994 08:49:37 GMT", 784'111'777'000 + 5000), 0);
  EXPECT_FALSE(parse_retry_after("soon", 0));
  EXPECT_FALSE(parse_retry_after("-3", 0));
  EXPECT_FALSE(parse_retry_after("", 0));
}

TEST(HttpOutcome, ExcerptIsOneSafeLine) {
  EXPECT_EQ(excerpt("a\nb\tc\x01"), "a b c");
  EXPECT_EQ(excerpt(std::string(300, 'x'), 10), "xxxxxxxxxx...");
  EXPECT_EQ(excerpt("中文中文", 4), "中...") << "cut on a UTF-8 boundary";
  EXPECT_EQ(excerpt("card 500156195301011239 refused, ref 12345678901"),
            "card 500156********1239 refused, ref 12345678901")
      << "no full card number reaches a log or the dead-letter table";
}

}  // namespace
}  // namespace yktgw::https
