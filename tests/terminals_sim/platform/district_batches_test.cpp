// The district platform's BATCH answers as a function of the message, against a real SQLite
// file and the gateway's own batch codec; no sockets (district_batch_link_test covers those).

#include "terminals_sim/platform/district_batches.h"

#include <gtest/gtest.h>

#include "gateway/outbox/batch_format.h"
#include "terminals_sim/platform_https/received_store.h"
#include "tests/gateway/outbox/outbox_test_util.h"

namespace yktgw::platform {
namespace {

using district::Envelope;
using district::MessageType;
using namespace std::chrono_literals;

constexpr char kGateway[] = "wl-xiangkou-01";

std::string body(int from, int count, const std::string& gateway = kGateway,
                 const std::string& site = "xiangkou") {
  std::string lines;
  for (int i = from; i < from + count; ++i) {
    TxnRecord r = testing::txn(i);
    r.site = site;
    outbox::append_record_line(
        outbox::ForwardedRecord{static_cast<std::uint64_t>(i), gateway, std::move(r)}, lines);
  }
  return outbox::gzip_compress(lines).value();
}

Envelope batch(int from, int count, const std::string& gateway = kGateway,
               const std::string& site = "xiangkou") {
  const auto first = static_cast<std::uint64_t>(from);
  const auto last = static_cast<std::uint64_t>(from + count - 1);
  return Envelope{
      MessageType::batch, outbox::batch_id(gateway, "district", first, last),
      district::encode_batch(
          district::BatchHeader{gateway, static_cast<std::uint32_t>(count), first, last},
          body(from, count, gateway, site))};
}

class DistrictBatchesTest : public ::testing::Test {
 protected:
  void open(ReceiverFaults faults = {}) {
    DistrictBatchOptions o;
    o.db_path = dir_.file("platform.db");
    o.max_inflated_bytes = 1 << 20;
    o.faults = faults;
    auto r = DistrictBatchReceiver::open(o, clock_);
    ASSERT_TRUE(r) << r.error().message;
    receiver_ = std::move(*r);
  }

  district::BatchAck ack_of(const Handled& h, const Envelope& in) {
    EXPECT_TRUE(h.reply);
    if (!h.reply) return {};
    EXPECT_EQ(h.reply->type, MessageType::batch_ack) << h.reply->payload;
    EXPECT_EQ(h.reply->id, in.id);
    auto a = district::decode_batch_ack(h.reply->payload);
    EXPECT_TRUE(a);
    return a ? *a : district::BatchAck{};
  }

  district::ErrorReply error_of(const Handled& h, const Envelope& in) {
    EXPECT_TRUE(h.reply);
    if (!h.reply) return {};
    EXPECT_EQ(h.reply->type, MessageType::error);
    EXPECT_EQ(h.reply->id, in.id);
    auto e = district::decode_error(h.reply->payload);
    EXPECT_TRUE(e);
    return e ? *e : district::ErrorReply{};
  }

  std::vector<SourceCount> counts() { return count_received(dir_.file("platform.db")).value(); }

  testing::TempDir dir_{"district-batches"};
  testing::FakeClock clock_;
  std::unique_ptr<DistrictBatchReceiver> receiver_;
};

TEST_F(DistrictBatchesTest, StoresABatchOnceAndAcksEveryCopy) {
  open();
  const Envelope in = batch(1, 20);
  const auto first = ack_of(receiver_->handle(in), in);
  EXPECT_EQ(first, (district::BatchAck{in.id, 20, 0}));
  const auto again = ack_of(receiver_->handle(in), in);
  EXPECT_EQ(again, (district::BatchAck{in.id, 0, 20}));
  // Cut again with other bounds (after a power cut at the gateway): still by record.
  const Envelope overlapping = batch(11, 20);
  EXPECT_EQ(ack_of(receiver_->handle(overlapping), overlapping),
            (district::BatchAck{overlapping.id, 10, 10}));

  ASSERT_EQ(counts().size(), 1u);
  EXPECT_EQ(counts()[0], (SourceCount{"district", kGateway, 30, 30}));
  const auto st = receiver_->stats();
  EXPECT_EQ(st.batches_accepted, 3u);
  EXPECT_EQ(st.records_accepted, 30u);
  EXPECT_EQ(st.duplicates, 30u);
}

TEST_F(DistrictBatchesTest, GatewaysAreCountedApart) {
  open();
  const Envelope a = batch(1, 5, "gw-a", "xiangkou");
  const Envelope b = batch(1, 5, "gw-b", "baishi");  // same terminal and txn ids, another site
  ack_of(receiver_->handle(a), a);
  EXPECT_EQ(ack_of(receiver_->handle(b), b).accepted, 5u);
  const auto c = counts();
  ASSERT_EQ(c.size(), 2u);
  EXPECT_EQ(c[0], (SourceCount{"district", "gw-a", 5, 0}));
  EXPECT_EQ(c[1], (SourceCount{"district", "gw-b", 5, 0}));
}

TEST_F(DistrictBatchesTest, TwoGatewaysOfOneSiteSendingARecordStoreItOnce) {
  open();
  const Envelope a = batch(1, 5, "gw-a");
  const Envelope b = batch(4, 4, "gw-b");  // 4 and 5 were stored by gw-a as well
  ack_of(receiver_->handle(a), a);
  const auto ack = ack_of(receiver_->handle(b), b);
  EXPECT_EQ(ack.accepted, 2u);
  EXPECT_EQ(ack.duplicates, 2u);
  const auto c = counts();
  ASSERT_EQ(c.size(), 2u);
  EXPECT_EQ(c[0], (SourceCount{"district", "gw-a", 5, 2}));
  EXPECT_EQ(c[1], (SourceCount{"district", "gw-b", 2, 0}));
}

TEST_F(DistrictBatchesTest, MalformedBatchesAreInvalidAndStoreNothing) {
  open();
  const std::string gz = body(1, 3);
  const district::BatchHeader header{kGateway, 3, 1, 3};
  std::string lines;
  outbox::append_record_line(outbox::ForwardedRecord{1, kGateway, testing::txn(1)}, lines);
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"no header", gz},
      {"bad header", "{\"gateway\":1}\n" + gz},
      {"not gzip", district::encode_batch(header, lines)},
      {"truncated gzip", district::encode_batch(header, gz.substr(0, gz.size() / 2))},
      {"bad line", district::encode_batch(header, *outbox::gzip_compress("{\"v\":1}\n"))},
      {"count", district::encode_batch({kGateway, 4, 1, 3}, gz)},
      {"gateway", district::encode_batch({"other", 3, 1, 3}, gz)},
      {"too large",
       district::encode_batch(header, *outbox::gzip_compress(std::string(2 << 20, '\n')))},
  };
  for (const auto& [name, payload] : cases) {
    SCOPED_TRACE(name);
    const Envelope in{MessageType::batch, "b-" + name, payload};
    const Handled h = receiver_->handle(in);
    EXPECT_EQ(error_of(h, in).code, "invalid_batch");
    EXPECT_EQ(h.delay, 0ms);
  }
  EXPECT_TRUE(counts().empty());
  EXPECT_EQ(receiver_->stats().malformed, cases.size());
}

TEST_F(DistrictBatchesTest, InjectedFaults) {
  ReceiverFaults f;
  f.error_500_probability = 1.0;
  open(f);
  const Envelope in = batch(1, 5);
  EXPECT_EQ(error_of(receiver_->handle(in), in).code, "unavailable");

  f = {};
  f.error_429_probability = 1.0;
  f.retry_after_s = 3;
  receiver_->set_faults(f);
  const auto busy = error_of(receiver_->handle(in), in);
  EXPECT_EQ(busy.code, "busy");
  EXPECT_EQ(busy.retry_after_ms, 3000);

  f = {};
  f.error_400_probability = 1.0;
  receiver_->set_faults(f);
  EXPECT_EQ(error_of(receiver_->handle(in), in).code, "invalid_batch");
  EXPECT_TRUE(counts().empty()) << "500, 429 and 400 store nothing";

  f = {};
  f.drop_ack_probability = 1.0;
  receiver_->set_faults(f);
  EXPECT_FALSE(receiver_->handle(in).reply) << "a dropped ack is silence";
  EXPECT_EQ(counts()[0].unique, 5u) << "but the batch is stored";

  f = {};
  f.ack_delay_ms = 250;
  receiver_->set_faults(f);
  const Handled slow = receiver_->handle(in);
  EXPECT_EQ(ack_of(slow, in).duplicates, 5u);
  EXPECT_EQ(slow.delay, 250ms);

  const auto st = receiver_->stats();
  EXPECT_EQ(st.injected_500, 1u);
  EXPECT_EQ(st.injected_429, 1u);
  EXPECT_EQ(st.injected_400, 1u);
  EXPECT_EQ(st.dropped_acks, 1u);
  EXPECT_EQ(st.malformed, 0u);
}

TEST_F(DistrictBatchesTest, FaultProbabilitiesAreRoughlyKept) {
  ReceiverFaults f;
  f.drop_ack_probability = 0.2;
  f.error_500_probability = 0.1;
  f.seed = 3;
  open(f);
  int silent = 0;
  int unavailable = 0;
  constexpr int kRounds = 2000;
  const Envelope in = batch(1, 1);
  for (int i = 0; i < kRounds; ++i) {
    const Handled h = receiver_->handle(in);
    if (!h.reply) {
      ++silent;
    } else if (h.reply->type == MessageType::error) {
      ++unavailable;
    }
  }
  // 10 % fail before storing; 20 % of the rest store silently.
  EXPECT_NEAR(unavailable, kRounds * 0.1, kRounds * 0.03);
  EXPECT_NEAR(silent, kRounds * 0.9 * 0.2, kRounds * 0.03);
}

TEST(DownSchedule, DownForTheLastPartOfEveryPeriod) {
  const DownSchedule s = parse_down_schedule("down 10s every 30s").value();
  EXPECT_FALSE(s.down_at(0ms));
  EXPECT_FALSE(s.down_at(19'999ms));
  EXPECT_TRUE(s.down_at(20'000ms));
  EXPECT_TRUE(s.down_at(29'999ms));
  EXPECT_FALSE(s.down_at(30'000ms));
  EXPECT_TRUE(s.down_at(55'000ms));
  EXPECT_FALSE(DownSchedule{}.down_at(25'000ms)) << "no schedule: never down";
}

}  // namespace
}  // namespace yktgw::platform
