#include "terminals_sim/platform/platform_service.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>

#include "terminals_sim/platform/platform_db.h"

namespace yktgw::platform {
namespace {

using district::Envelope;
using district::MessageType;
using namespace std::chrono_literals;

class FixedClock final : public Clock {
 public:
  std::int64_t wall_ms() const override { return 1'760'000'000'000; }
  std::chrono::steady_clock::time_point steady() const override { return {}; }
};

class PlatformServiceTest : public ::testing::Test {
 protected:
  PlatformServiceTest()
      : tok_(std::move(CardTokenizer::create(std::string(32, 'k')).value())),
        population_(sim::generate_population(7, 200)),
        cards_(population_, tok_, 7, 1) {}

  std::string token_with(sim::CardStatus s) const {
    for (const auto& c : population_) {
      if (c.status == s) return tok_.token(c.card_no);
    }
    return {};
  }

  static Envelope auth_envelope(const std::string& token, Fen amount = 500) {
    OnlineAuthRequest r;
    r.req_id = "r-9";
    r.site = "xiangkou";
    r.terminal = "ct-0002";
    r.scenario = "clinic";
    r.card_token = token;
    r.amount_fen = amount;
    r.ts_ms = 5;
    return Envelope{MessageType::auth_req, "42", district::encode_auth_request(r)};
  }

  FixedClock clock_;
  CardTokenizer tok_;
  sim::Population population_;
  PlatformCards cards_;
};

TEST_F(PlatformServiceTest, AnswersHeartbeatsWithTheSameId) {
  PlatformService s(cards_, {}, clock_);
  const Envelope hb{MessageType::heartbeat, "7",
                    district::encode_heartbeat({"wl-xiangkou-01", 1'760'000'000'000})};
  const Handled h = s.handle(hb);
  ASSERT_TRUE(h.reply);
  EXPECT_EQ(h.reply->type, MessageType::heartbeat_ack);
  EXPECT_EQ(h.reply->id, "7");
  EXPECT_EQ(district::decode_heartbeat_ack(h.reply->payload)->ts_ms, clock_.wall_ms());
  EXPECT_EQ(h.delay, 0ms);
  EXPECT_FALSE(h.record);
  ASSERT_EQ(s.gateways().size(), 1u);
  EXPECT_EQ(s.gateways()[0], (GatewaySeen{"wl-xiangkou-01", clock_.wall_ms(), 1}));
}

TEST_F(PlatformServiceTest, DroppedHeartbeatsGetNoAnswerButAreSeen) {
  PlatformService s(cards_, {0ms, true}, clock_);
  const Handled h =
      s.handle(Envelope{MessageType::heartbeat, "1", district::encode_heartbeat({"gw", 1})});
  EXPECT_FALSE(h.reply);
  EXPECT_EQ(s.stats().heartbeats_dropped, 1u);
  EXPECT_EQ(s.gateways().size(), 1u);
}

TEST_F(PlatformServiceTest, AnswersOnlineAuthorizationWithTheConfiguredDelay) {
  PlatformService s(cards_, {250ms, false}, clock_);
  Handled h = s.handle(auth_envelope(token_with(sim::CardStatus::active)));
  ASSERT_TRUE(h.reply);
  EXPECT_EQ(h.reply->type, MessageType::auth_resp);
  EXPECT_EQ(h.reply->id, "42");
  EXPECT_EQ(h.delay, 250ms);
  auto reply = district::decode_auth_reply(h.reply->payload);
  ASSERT_TRUE(reply);
  EXPECT_EQ(*reply, (OnlineAuthReply{Decision::approve, "ok", 500}));
  ASSERT_TRUE(h.record);
  EXPECT_EQ(h.record->terminal, "ct-0002");
  EXPECT_EQ(h.record->reply, *reply);
  EXPECT_EQ(h.record->received_ms, clock_.wall_ms());

  h = s.handle(auth_envelope(token_with(sim::CardStatus::frozen)));
  EXPECT_EQ(district::decode_auth_reply(h.reply->payload)->reason, "card_frozen");
  const auto st = s.stats();
  EXPECT_EQ(st.auth_requests, 2u);
  EXPECT_EQ(st.approved, 1u);
  EXPECT_EQ(st.declined, 1u);
}

TEST_F(PlatformServiceTest, MalformedRequestsGetAnError) {
  PlatformService s(cards_, {}, clock_);
  for (const std::string payload : {"{", "{}", R"({"req_id":"r"})"}) {
    const Handled h = s.handle(Envelope{MessageType::auth_req, "3", payload});
    ASSERT_TRUE(h.reply) << payload;
    EXPECT_EQ(h.reply->type, MessageType::error);
    EXPECT_EQ(h.reply->id, "3");
    EXPECT_EQ(district::decode_error(h.reply->payload)->code, "malformed");
    EXPECT_FALSE(h.record);
  }
  // A full card number in place of the token is refused, not looked up.
  auto e = auth_envelope("500156195001011234");
  EXPECT_EQ(s.handle(e).reply->type, MessageType::error);
  EXPECT_EQ(s.stats().malformed, 4u);
}

TEST_F(PlatformServiceTest, BatchesAreNotTakenYetAndAnswersAreNotAnswered) {
  PlatformService s(cards_, {}, clock_);
  const Handled batch = s.handle(Envelope{MessageType::batch, "b-1", "..."});
  ASSERT_TRUE(batch.reply);
  EXPECT_EQ(district::decode_error(batch.reply->payload)->code, "unsupported_type");
  for (const auto t : {MessageType::heartbeat_ack, MessageType::auth_resp, MessageType::batch_ack,
                       MessageType::error}) {
    EXPECT_FALSE(s.handle(Envelope{t, "1", "{}"}).reply) << district::to_string(t);
  }
}

TEST(PlatformDb, RecordsAndReadsBack) {
  const auto path = std::filesystem::temp_directory_path() /
                    ("yktgw-platform-db-" + std::to_string(::getpid()) + ".db");
  std::filesystem::remove(path);
  {
    auto db = PlatformDb::open(path.string());
    ASSERT_TRUE(db) << db.error().message;
    std::vector<AuthRecord> records;
    for (int i = 0; i < 3; ++i) {
      records.push_back(AuthRecord{100 + i,
                                   "r-" + std::to_string(i),
                                   "xiangkou",
                                   "ct-1",
                                   "clinic",
                                   std::string(64, 'a'),
                                   800,
                                   {Decision::decline, "card_lost", 0}});
    }
    ASSERT_TRUE(db->record(records));
    EXPECT_EQ(*db->auth_count(), 3);
  }
  auto again = PlatformDb::open(path.string());  // reopens an existing file
  ASSERT_TRUE(again);
  auto recent = again->recent(2);
  ASSERT_TRUE(recent);
  ASSERT_EQ(recent->size(), 2u);
  EXPECT_EQ((*recent)[0].req_id, "r-2");
  EXPECT_EQ((*recent)[0].reply, (OnlineAuthReply{Decision::decline, "card_lost", 0}));
  std::filesystem::remove(path);
  std::filesystem::remove(path.string() + "-wal");
  std::filesystem::remove(path.string() + "-shm");
}

}  // namespace
}  // namespace yktgw::platform
