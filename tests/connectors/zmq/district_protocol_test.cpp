#include "connectors/zmq/district_protocol.h"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

namespace yktgw::district {
namespace {

OnlineAuthRequest sample_request() {
  OnlineAuthRequest r;
  r.req_id = "r-0001";
  r.site = "xiangkou";
  r.terminal = "ct-0001";
  r.scenario = "clinic";
  r.service_item = 40;
  r.card_token = std::string(64, 'b');
  r.region = 50;
  r.credential_type = CredentialType::ecard_qr;
  r.amount_fen = 1250;
  r.ts_ms = 1'760'000'000'123;
  return r;
}

TEST(DistrictFrames, RoundTrip) {
  const Envelope e{MessageType::auth_req, "17", "{\"a\":1}"};
  const auto frames = to_frames(e);
  ASSERT_EQ(frames.size(), kEnvelopeFrames);
  EXPECT_EQ(frames[0], "YKT1");
  EXPECT_EQ(frames[1], "AUTH_REQ");
  EXPECT_EQ(frames[2], "17");
  auto back = from_frames(frames);
  ASSERT_TRUE(back);
  EXPECT_EQ(*back, e);
}

TEST(DistrictFrames, EveryTypeHasOneName) {
  for (const auto t :
       {MessageType::heartbeat, MessageType::heartbeat_ack, MessageType::auth_req,
        MessageType::auth_resp, MessageType::batch, MessageType::batch_ack, MessageType::error}) {
    EXPECT_EQ(message_type_from(to_string(t)), t) << to_string(t);
  }
  EXPECT_EQ(to_string(MessageType::heartbeat_ack), "HEARTBEAT_ACK");
  EXPECT_FALSE(message_type_from("heartbeat"));  // names are upper case, exactly
}

TEST(DistrictFrames, RefusesMalformedEnvelopes) {
  EXPECT_EQ(from_frames({"YKT1", "HEARTBEAT", "1"}).error().code, "bad_frame_count");
  EXPECT_EQ(from_frames({"YKT1", "HEARTBEAT", "1", "{}", "x"}).error().code, "bad_frame_count");
  EXPECT_EQ(from_frames({"YKT2", "HEARTBEAT", "1", "{}"}).error().code, "bad_protocol");
  EXPECT_EQ(from_frames({"YKT1", "PING", "1", "{}"}).error().code, "unknown_type");
  EXPECT_EQ(from_frames({"YKT1", "HEARTBEAT", "", "{}"}).error().code, "bad_message_id");
  EXPECT_EQ(from_frames({"YKT1", "HEARTBEAT", std::string(65, '1'), "{}"}).error().code,
            "bad_message_id");
  EXPECT_TRUE(from_frames({"YKT1", "HEARTBEAT", std::string(64, '1'), ""}));
}

TEST(DistrictPayloads, AuthRequestRoundTrip) {
  const auto r = sample_request();
  auto back = decode_auth_request(encode_auth_request(r));
  ASSERT_TRUE(back) << back.error().message;
  EXPECT_EQ(*back, r);
}

TEST(DistrictPayloads, AuthRequestFieldsAreChecked) {
  auto doc = nlohmann::json::parse(encode_auth_request(sample_request()));
  struct Case {
    const char* field;
    nlohmann::json value;
  };
  const std::vector<Case> bad = {
      {"card_token", "500156195001011234"},  // a card number in place of a token: never
      {"card_token", std::string(64, 'B')},
      {"amount_fen", -1},
      {"amount_fen", "800"},
      {"region", 70000},
      {"credential_type", "nfc"},
      {"req_id", std::string(200, 'r')},
      {"ts_ms", 1.5},
  };
  for (const Case& c : bad) {
    auto d = doc;
    d[c.field] = c.value;
    auto r = decode_auth_request(d.dump());
    EXPECT_FALSE(r) << c.field << "=" << c.value.dump();
    if (!r) {
      EXPECT_EQ(r.error().code, "malformed");
    }
  }
  auto missing = doc;
  missing.erase("site");
  EXPECT_FALSE(decode_auth_request(missing.dump()));
  EXPECT_FALSE(decode_auth_request("[]"));
  EXPECT_FALSE(decode_auth_request("{"));
  // No card: an empty token is allowed (credential type other).
  auto none = doc;
  none["card_token"] = "";
  EXPECT_TRUE(decode_auth_request(none.dump()));
}

TEST(DistrictPayloads, AuthReplies) {
  const OnlineAuthReply approve{Decision::approve, "ok", 800};
  EXPECT_EQ(encode_auth_reply(approve), R"({"amount_fen":800,"decision":"approve","reason":"ok"})");
  EXPECT_EQ(*decode_auth_reply(encode_auth_reply(approve)), approve);
  const OnlineAuthReply lost{Decision::decline, "card_lost", 0};
  EXPECT_EQ(*decode_auth_reply(encode_auth_reply(lost)), lost);

  // A reason this gateway does not know yet stays a decline.
  auto newer = decode_auth_reply(R"({"decision":"decline","reason":"card_melted","amount_fen":0})");
  ASSERT_TRUE(newer);
  EXPECT_EQ(newer->reason, "declined_by_platform");

  EXPECT_FALSE(decode_auth_reply(R"({"decision":"approve","reason":"card_lost","amount_fen":1})"));
  EXPECT_FALSE(decode_auth_reply(R"({"decision":"decline","reason":"ok","amount_fen":0})"));
  EXPECT_FALSE(decode_auth_reply(R"({"decision":"maybe","reason":"ok","amount_fen":0})"));
  EXPECT_FALSE(decode_auth_reply(R"({"decision":"approve","reason":"ok"})"));
  EXPECT_FALSE(decode_auth_reply(R"({"decision":"approve","reason":"ok","amount_fen":-5})"));
}

TEST(DistrictPayloads, HeartbeatsAndErrors) {
  const Heartbeat h{"wl-xiangkou-01", 1'760'000'000'000};
  EXPECT_EQ(*decode_heartbeat(encode_heartbeat(h)), h);
  EXPECT_FALSE(decode_heartbeat(R"({"gateway":"g"})"));
  const HeartbeatAck a{1'760'000'000'001};
  EXPECT_EQ(*decode_heartbeat_ack(encode_heartbeat_ack(a)), a);
  const ErrorReply e{"malformed", "missing field 'site'"};
  EXPECT_EQ(*decode_error(encode_error(e)), e);
  EXPECT_EQ(decode_error(R"({"code":"busy"})")->code, "busy");
  EXPECT_FALSE(decode_error(R"({"message":"x"})"));
}

}  // namespace
}  // namespace yktgw::district
