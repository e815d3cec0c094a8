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
  EXPECT_EQ(from_frames({"YKT1", "HEARTBEAT", std::string(256, '1'), "{}"}).error().code,
            "bad_message_id");
  EXPECT_TRUE(from_frames({"YKT1", "HEARTBEAT", std::string(255, '1'), ""}));
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
  // retry_after_ms is optional and only written when there is one.
  const ErrorReply busy{"busy", "later", 1500};
  EXPECT_EQ(*decode_error(encode_error(busy)), busy);
  EXPECT_EQ(encode_error(e).find("retry_after_ms"), std::string::npos);
  EXPECT_FALSE(decode_error(R"({"code":"busy","retry_after_ms":-1})"));
}

// The longest batch id a valid config can make: a 64-character gateway id, two 20-digit
// sequence numbers and a dead-letter retry suffix. It must fit the message id frame.
TEST(DistrictFrames, TheLongestBatchIdFitsTheMessageId) {
  const std::string id =
      std::string(64, 'g') + "-district-18446744073709551615-" + "18446744073709551615-r4294967295";
  EXPECT_LE(id.size(), kMaxMessageIdBytes);
  EXPECT_TRUE(from_frames({"YKT1", "BATCH", id, "x"}));
  const BatchAck ack{id, 1, 0};
  EXPECT_EQ(*decode_batch_ack(encode_batch_ack(ack)), ack);
}

TEST(DistrictPayloads, BatchIsAHeaderLineThenTheBodyUntouched) {
  const BatchHeader h{"wl-xiangkou-01", 500, 101, 600};
  const std::string body(
      "\x1f\x8b\x08\x00"
      "binary\n\0with newlines\n",
      26);
  const std::string payload = encode_batch(h, body);
  EXPECT_EQ(payload.substr(0, payload.find('\n')),
            R"({"first_seq":101,"gateway":"wl-xiangkou-01","last_seq":600,"records":500})");
  auto back = decode_batch(payload);
  ASSERT_TRUE(back) << back.error().message;
  EXPECT_EQ(back->header, h);
  EXPECT_EQ(back->body, body);
}

TEST(DistrictPayloads, MalformedBatchesAreRefused) {
  const std::string body = "\x1f\x8b";
  EXPECT_FALSE(decode_batch("no header line"));
  EXPECT_FALSE(decode_batch(encode_batch_header({"g", 1, 1, 1}) + "\n"));  // no body
  EXPECT_FALSE(decode_batch("{}\n" + body));
  EXPECT_FALSE(decode_batch(encode_batch({"", 1, 1, 1}, body)));   // no gateway
  EXPECT_FALSE(decode_batch(encode_batch({"g", 0, 1, 1}, body)));  // no records
  EXPECT_FALSE(decode_batch(encode_batch({"g", 2, 9, 3}, body)));  // last before first
  EXPECT_FALSE(decode_batch(R"({"gateway":"g","records":"1","first_seq":1,"last_seq":1})"
                            "\n" +
                            body));
}

TEST(DistrictPayloads, BatchAcks) {
  const BatchAck a{"wl-xiangkou-01-district-101-600", 498, 2};
  EXPECT_EQ(*decode_batch_ack(encode_batch_ack(a)), a);
  EXPECT_FALSE(decode_batch_ack(R"({"batch_id":"b","accepted":1})"));
  EXPECT_FALSE(decode_batch_ack(R"({"batch_id":"b","accepted":-1,"duplicates":0})"));
  EXPECT_FALSE(decode_batch_ack(R"({"accepted":1,"duplicates":0})"));
}

}  // namespace
}  // namespace yktgw::district
