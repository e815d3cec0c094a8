#include "gateway/protocol/terminal_protocol.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <random>
#include <set>
#include <sstream>
#include <string>
#include <vector>

namespace yktgw::protocol {
namespace {

using Json = nlohmann::json;
using namespace std::string_literals;

// ---------------------------------------------------------------------------------------------
// Fixtures: valid messages as JSON, so each test changes one thing.

Json valid_auth_req() {
  return Json::parse(R"({"v":1,"req_id":"r-0001","terminal":"ct-0001","scenario":"canteen",
    "ts":1718000000000,"credential":{"type":"card","card_no":"500156199001011234"},
    "amount_fen":1200})");
}

Json valid_txn() {
  return Json::parse(R"({"v":1,"txn_id":"ct-0001:000123","req_id":"r-0001","terminal":"ct-0001",
    "scenario":"canteen","ts":1718000000500,
    "credential":{"type":"card","card_no":"500156199001011234"},"amount_fen":600,
    "result":"approved"})");
}

Json valid_status() {
  return Json::parse(R"({"v":1,"terminal":"ct-0001","state":"online","kind":"canteen_pos",
    "firmware":"2.3.1","cardlist_version":42,"ts":1718000000000})");
}

std::string dump(const Json& j) { return j.dump(); }

// Sets (or, with std::nullopt, erases) the value at a JSON pointer such as "/credential/qr".
Json with(Json j, const std::string& pointer, const std::optional<Json>& value) {
  Json::json_pointer p(pointer);
  if (value) {
    j[p] = *value;
  } else {
    j[p.parent_pointer()].erase(p.back());
  }
  return j;
}

Json parse_json(const std::string& s) { return Json::parse(s, nullptr, false); }

// What a refusal should echo for an id field: the value when it is a string, else "".
std::string id_of(const Json& j, const char* key) {
  auto it = j.find(key);
  return it != j.end() && it->is_string() ? it->get<std::string>() : "";
}

// ---------------------------------------------------------------------------------------------
// Topics

TEST(Topic, ParsesTheThreeInboundKinds) {
  auto a = parse_topic("ykt/v1/xiangkou/ct-0001/auth/req");
  ASSERT_TRUE(a);
  EXPECT_EQ(a->kind, TopicKind::auth_req);
  EXPECT_EQ(a->address, (TopicAddress{"xiangkou", "ct-0001"}));

  auto t = parse_topic("ykt/v1/xiangkou/ct-0001/txn");
  ASSERT_TRUE(t);
  EXPECT_EQ(t->kind, TopicKind::txn);

  auto s = parse_topic("ykt/v1/Site_2.b/T.1_x-Y/status");
  ASSERT_TRUE(s);
  EXPECT_EQ(s->kind, TopicKind::status);
  EXPECT_EQ(s->address, (TopicAddress{"Site_2.b", "T.1_x-Y"}));
}

TEST(Topic, RefusesEverythingElse) {
  for (const char* topic : {
           "",
           "ykt",
           "ykt/v1",
           "ykt/v1/",
           "ykt/v1/xiangkou",
           "ykt/v1/xiangkou/",
           "ykt/v1/xiangkou/ct-0001",
           "ykt/v1/xiangkou/ct-0001/",
           "ykt/v1/xiangkou/ct-0001/auth",
           "ykt/v1/xiangkou/ct-0001/auth/",
           "ykt/v1/xiangkou/ct-0001/auth/resp",  // our own replies
           "ykt/v1/xiangkou/ct-0001/txn/ack",
           "ykt/v1/xiangkou/ct-0001/cmd",
           "ykt/v1/xiangkou/ct-0001/auth/req/",  // extra levels
           "ykt/v1/xiangkou/ct-0001/auth/req/x",
           "ykt/v1/xiangkou/ct-0001/txn/x",
           "ykt/v1/xiangkou/ct-0001/status/x",
           "ykt/v1/xiangkou/a/ct-0001/txn",
           "ykt/v1//ct-0001/txn",  // empty levels
           "ykt/v1/xiangkou//txn",
           "ykt/v1/+/ct-0001/txn",  // wildcards
           "ykt/v1/xiangkou/+/txn",
           "ykt/v1/xiangkou/#",
           "ykt/v1/#/ct-0001/txn",
           "ykt/v2/xiangkou/ct-0001/txn",  // other version or root
           "/ykt/v1/xiangkou/ct-0001/txn",
           "YKT/v1/xiangkou/ct-0001/txn",
           "ykt/v1/xiang kou/ct-0001/txn",
           "ykt/v1/xiangkou/ct:0001/txn",
           "ykt/v1/乡口/ct-0001/txn",
           "ykt/v1/xiangkou/ct-0001/TXN",
       }) {
    EXPECT_FALSE(parse_topic(topic)) << topic;
  }
}

TEST(Topic, IdLengthLimit) {
  std::string id64(64, 'a');
  std::string id65(65, 'a');
  EXPECT_TRUE(parse_topic("ykt/v1/" + id64 + "/" + id64 + "/txn"));
  EXPECT_FALSE(parse_topic("ykt/v1/" + id65 + "/t/txn"));
  EXPECT_FALSE(parse_topic("ykt/v1/s/" + id65 + "/txn"));
}

TEST(Topic, NulInsideTopicIsRefused) {
  std::string topic = "ykt/v1/xiangkou/ct-0001/txn";
  topic[10] = '\0';
  EXPECT_FALSE(parse_topic(topic));
}

TEST(Topic, Builders) {
  TopicAddress a{"xiangkou", "ct-0001"};
  EXPECT_EQ(auth_request_topic(a), "ykt/v1/xiangkou/ct-0001/auth/req");
  EXPECT_EQ(auth_response_topic(a), "ykt/v1/xiangkou/ct-0001/auth/resp");
  EXPECT_EQ(txn_topic(a), "ykt/v1/xiangkou/ct-0001/txn");
  EXPECT_EQ(txn_ack_topic(a), "ykt/v1/xiangkou/ct-0001/txn/ack");
  EXPECT_EQ(status_topic(a), "ykt/v1/xiangkou/ct-0001/status");
  EXPECT_EQ(subscription_filter("xiangkou", TopicKind::auth_req), "ykt/v1/xiangkou/+/auth/req");
  EXPECT_EQ(subscription_filter("xiangkou", TopicKind::txn), "ykt/v1/xiangkou/+/txn");
  EXPECT_EQ(subscription_filter("xiangkou", TopicKind::status), "ykt/v1/xiangkou/+/status");
  EXPECT_EQ(txn_batch_topic(a), "ykt/v1/xiangkou/ct-0001/txn/batch");
  EXPECT_EQ(txn_batch_ack_topic(a), "ykt/v1/xiangkou/ct-0001/txn/batch/ack");
  EXPECT_EQ(subscription_filter("xiangkou", TopicKind::txn_batch), "ykt/v1/xiangkou/+/txn/batch");
  // The gateway's own reply topics are not requests.
  EXPECT_FALSE(parse_topic(txn_batch_ack_topic(a)));
}

TEST(Topic, BuiltInboundTopicsParseBack) {
  TopicAddress a{"xiangkou", "ct-0001"};
  EXPECT_EQ(parse_topic(auth_request_topic(a)), (ParsedTopic{TopicKind::auth_req, a}));
  EXPECT_EQ(parse_topic(txn_topic(a)), (ParsedTopic{TopicKind::txn, a}));
  EXPECT_EQ(parse_topic(status_topic(a)), (ParsedTopic{TopicKind::status, a}));
  EXPECT_EQ(parse_topic(txn_batch_topic(a)), (ParsedTopic{TopicKind::txn_batch, a}));
}

TEST(Topic, IsValidId) {
  EXPECT_TRUE(is_valid_id("a"));
  EXPECT_TRUE(is_valid_id("AZaz09_.-"));
  EXPECT_TRUE(is_valid_id(std::string(64, 'x')));
  EXPECT_FALSE(is_valid_id(""));
  EXPECT_FALSE(is_valid_id(std::string(65, 'x')));
  for (const char* bad : {"+", "#", "a/b", "a b", "a:b", "a\tb", "é", "a\x7f"}) {
    EXPECT_FALSE(is_valid_id(bad)) << bad;
  }
}

// ---------------------------------------------------------------------------------------------
// auth/req

TEST(AuthRequest, ParsesACardRequest) {
  auto p = parse_auth_request(dump(valid_auth_req()));
  ASSERT_TRUE(p.ok()) << p.error.detail;
  const AuthRequest& r = *p.value;
  EXPECT_EQ(r.req_id, "r-0001");
  EXPECT_EQ(r.terminal, "ct-0001");
  EXPECT_EQ(r.scenario, "canteen");
  EXPECT_EQ(r.ts_ms, 1718000000000);
  EXPECT_EQ(r.credential.type, CredentialType::card);
  EXPECT_EQ(r.credential.card_no, "500156199001011234");
  EXPECT_EQ(r.credential.mac, "");
  EXPECT_EQ(r.amount_fen, 1200);
}

TEST(AuthRequest, AmountIsOptionalAndDefaultsToZero) {
  auto p = parse_auth_request(dump(with(valid_auth_req(), "/amount_fen", std::nullopt)));
  ASSERT_TRUE(p.ok()) << p.error.detail;
  EXPECT_EQ(p.value->amount_fen, 0);
}

TEST(AuthRequest, NullCountsAsAbsent) {
  auto p = parse_auth_request(dump(with(valid_auth_req(), "/amount_fen", Json(nullptr))));
  ASSERT_TRUE(p.ok()) << p.error.detail;
  EXPECT_EQ(p.value->amount_fen, 0);

  auto q = parse_auth_request(dump(with(valid_auth_req(), "/scenario", Json(nullptr))));
  ASSERT_FALSE(q.ok());
  EXPECT_EQ(q.error.reason, Reason::missing_field);
  EXPECT_EQ(q.error.detail, "missing field 'scenario'");
}

TEST(AuthRequest, UnknownFieldsAreIgnored) {
  Json j = valid_auth_req();
  j["vendor_ext"] = {{"anything", {1, 2, 3}}};
  j["credential"]["issuer_hint"] = "50";
  j["credential"]["qr"] = "not used for a card";
  auto p = parse_auth_request(dump(j));
  ASSERT_TRUE(p.ok()) << p.error.detail;
  EXPECT_EQ(p.value->credential.qr, "");
}

TEST(AuthRequest, ARepeatedFieldTakesItsLastValue) {
  std::string text = dump(valid_auth_req());
  text.insert(1, R"("amount_fen":1,"scenario":"bus",)");
  auto p = parse_auth_request(text);
  ASSERT_TRUE(p.ok()) << p.error.detail;
  EXPECT_EQ(p.value->amount_fen, 1200);
  EXPECT_EQ(p.value->scenario, "canteen");
}

TEST(AuthRequest, AnIntegerBeyondSixtyFourBitsIsAWrongType) {
  std::string text = dump(with(valid_auth_req(), "/amount_fen", Json(0)));
  const auto at = text.find("\"amount_fen\":0");
  ASSERT_NE(at, std::string::npos);
  text.replace(at, 14, "\"amount_fen\":123456789012345678901234567890");
  auto p = parse_auth_request(text);
  ASSERT_FALSE(p.ok());
  EXPECT_EQ(p.error.reason, Reason::wrong_type) << p.error.detail;
  EXPECT_EQ(p.error.detail, "payload holds a number that does not fit 64 bits");
}

TEST(AuthRequest, EachCredentialType) {
  Json card = with(valid_auth_req(), "/credential/mac", Json("0A1b2C3d"));
  auto p = parse_auth_request(dump(card));
  ASSERT_TRUE(p.ok()) << p.error.detail;
  EXPECT_EQ(p.value->credential.mac, "0A1b2C3d");

  for (const char* type : {"ecard_qr", "ykm_qr"}) {
    Json j = with(valid_auth_req(), "/credential", Json{{"type", type}, {"qr", "QR:abc+/="}});
    auto q = parse_auth_request(dump(j));
    ASSERT_TRUE(q.ok()) << q.error.detail;
    EXPECT_EQ(q.value->credential.type, *credential_type_from(type));
    EXPECT_EQ(q.value->credential.qr, "QR:abc+/=");
  }

  Json other = with(valid_auth_req(), "/credential", Json{{"type", "other"}, {"method", "cash"}});
  auto o = parse_auth_request(dump(other));
  ASSERT_TRUE(o.ok()) << o.error.detail;
  EXPECT_EQ(o.value->credential.type, CredentialType::other);
  EXPECT_EQ(o.value->credential.method, "cash");
}

TEST(AuthRequest, LimitsAreInclusive) {
  Json j = valid_auth_req();
  j["req_id"] = std::string(64, '~');
  j["terminal"] = std::string(64, 'T');
  j["scenario"] = std::string(32, 'z');
  j["ts"] = 0;
  j["amount_fen"] = 1000000000;
  j["credential"]["card_no"] = std::string(32, ' ');
  j["credential"]["mac"] = std::string(128, 'f');
  ASSERT_TRUE(parse_auth_request(dump(j)).ok()) << parse_auth_request(dump(j)).error.detail;

  Json qr = with(valid_auth_req(), "/credential",
                 Json{{"type", "ecard_qr"}, {"qr", std::string(4096, 'q')}});
  EXPECT_TRUE(parse_auth_request(dump(qr)).ok());

  Json other = with(valid_auth_req(), "/credential",
                    Json{{"type", "other"}, {"method", std::string(32, 'm')}});
  EXPECT_TRUE(parse_auth_request(dump(other)).ok());

  // An empty mac means "no MAC".
  EXPECT_TRUE(parse_auth_request(dump(with(valid_auth_req(), "/credential/mac", Json("")))).ok());
}

struct FieldCase {
  std::string pointer;
  std::optional<Json> value;  // nullopt: erase the field
  Reason reason;
  std::string detail;
};

void PrintTo(const FieldCase& c, std::ostream* os) {
  *os << c.pointer << " = " << (c.value ? c.value->dump() : "<erased>");
}

// Cases that apply to every message carrying a credential (auth/req and txn).
std::vector<FieldCase> credential_cases() {
  const std::string card33(33, '1');
  return {
      {"/credential", std::nullopt, Reason::missing_field, "missing field 'credential'"},
      {"/credential", Json("card"), Reason::wrong_type, "field 'credential' must be an object"},
      {"/credential", Json::array(), Reason::wrong_type, "field 'credential' must be an object"},
      {"/credential/type", std::nullopt, Reason::missing_field, "missing field 'credential.type'"},
      {"/credential/type", Json(1), Reason::wrong_type, "field 'credential.type' must be a string"},
      {"/credential/type", Json("nfc"), Reason::invalid_value,
       "field 'credential.type' must be one of card, ecard_qr, ykm_qr, other"},
      {"/credential/type", Json("CARD"), Reason::invalid_value,
       "field 'credential.type' must be one of card, ecard_qr, ykm_qr, other"},
      {"/credential/card_no", std::nullopt, Reason::missing_field,
       "missing field 'credential.card_no'"},
      {"/credential/card_no", Json(500156199001011234LL), Reason::wrong_type,
       "field 'credential.card_no' must be a string"},
      {"/credential/card_no", Json(""), Reason::invalid_value,
       "field 'credential.card_no' must be 1..32 printable ASCII characters"},
      {"/credential/card_no", Json(card33), Reason::invalid_value,
       "field 'credential.card_no' must be 1..32 printable ASCII characters"},
      {"/credential/card_no", Json("5001\n5619"), Reason::invalid_value,
       "field 'credential.card_no' must be 1..32 printable ASCII characters"},
      {"/credential/card_no", Json("５００１５６"), Reason::invalid_value,
       "field 'credential.card_no' must be 1..32 printable ASCII characters"},
      {"/credential/mac", Json(1234), Reason::wrong_type,
       "field 'credential.mac' must be a string"},
      {"/credential/mac", Json("xyz0"), Reason::invalid_value,
       "field 'credential.mac' must be an even number of hex digits, at most 128"},
      {"/credential/mac", Json("abc"), Reason::invalid_value,
       "field 'credential.mac' must be an even number of hex digits, at most 128"},
      {"/credential/mac", Json(std::string(130, 'a')), Reason::invalid_value,
       "field 'credential.mac' must be an even number of hex digits, at most 128"},
      {"/credential", Json{{"type", "ecard_qr"}}, Reason::missing_field,
       "missing field 'credential.qr'"},
      {"/credential", Json{{"type", "ykm_qr"}, {"qr", Json::array()}}, Reason::wrong_type,
       "field 'credential.qr' must be a string"},
      {"/credential", Json{{"type", "ecard_qr"}, {"qr", ""}}, Reason::invalid_value,
       "field 'credential.qr' must be 1..4096 bytes"},
      {"/credential", Json{{"type", "ecard_qr"}, {"qr", std::string(4097, 'q')}},
       Reason::invalid_value, "field 'credential.qr' must be 1..4096 bytes"},
      {"/credential", Json{{"type", "other"}}, Reason::missing_field,
       "missing field 'credential.method'"},
      {"/credential", Json{{"type", "other"}, {"method", true}}, Reason::wrong_type,
       "field 'credential.method' must be a string"},
      {"/credential", Json{{"type", "other"}, {"method", "Cash"}}, Reason::invalid_value,
       "field 'credential.method' must be 1..32 characters of [a-z0-9_]"},
      {"/credential", Json{{"type", "other"}, {"method", std::string(33, 'm')}},
       Reason::invalid_value, "field 'credential.method' must be 1..32 characters of [a-z0-9_]"},
      // A card credential does not need (and ignores) "qr"; a qr credential ignores "card_no".
      {"/credential", Json{{"type", "ecard_qr"}, {"card_no", "1"}}, Reason::missing_field,
       "missing field 'credential.qr'"},
  };
}

// Cases for fields that auth/req and txn share, with the same rules.
std::vector<FieldCase> shared_cases() {
  return {
      {"/v", std::nullopt, Reason::missing_field, "missing field 'v'"},
      {"/v", Json("1"), Reason::wrong_type, "field 'v' must be an integer"},
      {"/v", Json(1.0), Reason::wrong_type, "field 'v' must be an integer"},
      {"/v", Json(true), Reason::wrong_type, "field 'v' must be an integer"},
      {"/v", Json(2), Reason::unsupported_version,
       "protocol version 2 is not supported (expected 1)"},
      {"/v", Json(0), Reason::unsupported_version,
       "protocol version 0 is not supported (expected 1)"},
      {"/v", Json(-1), Reason::unsupported_version,
       "protocol version -1 is not supported (expected 1)"},
      {"/terminal", std::nullopt, Reason::missing_field, "missing field 'terminal'"},
      {"/terminal", Json(7), Reason::wrong_type, "field 'terminal' must be a string"},
      {"/terminal", Json(""), Reason::invalid_value,
       "field 'terminal' must be 1..64 characters of [A-Za-z0-9_.-]"},
      {"/terminal", Json("ct/0001"), Reason::invalid_value,
       "field 'terminal' must be 1..64 characters of [A-Za-z0-9_.-]"},
      {"/terminal", Json("+"), Reason::invalid_value,
       "field 'terminal' must be 1..64 characters of [A-Za-z0-9_.-]"},
      {"/terminal", Json(std::string(65, 't')), Reason::invalid_value,
       "field 'terminal' must be 1..64 characters of [A-Za-z0-9_.-]"},
      {"/scenario", std::nullopt, Reason::missing_field, "missing field 'scenario'"},
      {"/scenario", Json::object(), Reason::wrong_type, "field 'scenario' must be a string"},
      {"/scenario", Json(""), Reason::invalid_value,
       "field 'scenario' must be 1..32 characters of [a-z0-9_]"},
      {"/scenario", Json("Canteen"), Reason::invalid_value,
       "field 'scenario' must be 1..32 characters of [a-z0-9_]"},
      {"/scenario", Json("can-teen"), Reason::invalid_value,
       "field 'scenario' must be 1..32 characters of [a-z0-9_]"},
      {"/scenario", Json(std::string(33, 's')), Reason::invalid_value,
       "field 'scenario' must be 1..32 characters of [a-z0-9_]"},
      {"/ts", std::nullopt, Reason::missing_field, "missing field 'ts'"},
      {"/ts", Json("1718000000000"), Reason::wrong_type, "field 'ts' must be an integer"},
      {"/ts", Json(1718000000000.5), Reason::wrong_type, "field 'ts' must be an integer"},
      {"/ts", Json(-1), Reason::invalid_value, "field 'ts' must be UTC milliseconds >= 0"},
      {"/amount_fen", Json(1.0), Reason::wrong_type, "field 'amount_fen' must be an integer"},
      {"/amount_fen", Json(12.5), Reason::wrong_type, "field 'amount_fen' must be an integer"},
      {"/amount_fen", Json(false), Reason::wrong_type, "field 'amount_fen' must be an integer"},
      {"/amount_fen", Json("1200"), Reason::wrong_type, "field 'amount_fen' must be an integer"},
      {"/amount_fen", Json(-1), Reason::invalid_value,
       "field 'amount_fen' must be 0..1000000000 fen"},
      {"/amount_fen", Json(1000000001), Reason::invalid_value,
       "field 'amount_fen' must be 0..1000000000 fen"},
      {"/amount_fen", Json(INT64_MAX), Reason::invalid_value,
       "field 'amount_fen' must be 0..1000000000 fen"},
      {"/amount_fen", Json(INT64_MIN), Reason::invalid_value,
       "field 'amount_fen' must be 0..1000000000 fen"},
      // Past int64: not an integer the gateway can hold.
      {"/amount_fen", Json(static_cast<std::uint64_t>(INT64_MAX) + 1), Reason::wrong_type,
       "field 'amount_fen' must be an integer"},
      {"/amount_fen", Json(UINT64_MAX), Reason::wrong_type,
       "field 'amount_fen' must be an integer"},
  };
}

std::vector<FieldCase> auth_req_cases() {
  std::vector<FieldCase> cases = {
      {"/req_id", std::nullopt, Reason::missing_field, "missing field 'req_id'"},
      {"/req_id", Json(1), Reason::wrong_type, "field 'req_id' must be a string"},
      {"/req_id", Json(""), Reason::invalid_value,
       "field 'req_id' must be 1..64 printable ASCII characters"},
      {"/req_id", Json(std::string(65, 'r')), Reason::invalid_value,
       "field 'req_id' must be 1..64 printable ASCII characters"},
      {"/req_id", Json("r\x01"), Reason::invalid_value,
       "field 'req_id' must be 1..64 printable ASCII characters"},
      {"/req_id", Json("r\x7f"), Reason::invalid_value,
       "field 'req_id' must be 1..64 printable ASCII characters"},
      {"/req_id", Json("请求1"), Reason::invalid_value,
       "field 'req_id' must be 1..64 printable ASCII characters"},
  };
  for (auto& c : shared_cases()) cases.push_back(c);
  for (auto& c : credential_cases()) cases.push_back(c);
  return cases;
}

class AuthRequestField : public ::testing::TestWithParam<FieldCase> {};

TEST_P(AuthRequestField, IsRefusedWithReasonAndDetail) {
  const FieldCase& c = GetParam();
  Json j = with(valid_auth_req(), c.pointer, c.value);
  auto p = parse_auth_request(dump(j));
  ASSERT_FALSE(p.ok());
  EXPECT_EQ(p.error.reason, c.reason);
  EXPECT_EQ(p.error.detail, c.detail);
  // The ids are echoed whenever they are strings, so the terminal can match the reply.
  EXPECT_EQ(p.error.req_id, id_of(j, "req_id"));
  EXPECT_EQ(p.error.terminal, id_of(j, "terminal"));
}

INSTANTIATE_TEST_SUITE_P(All, AuthRequestField, ::testing::ValuesIn(auth_req_cases()));

TEST(AuthRequest, CheckOrderIsParseObjectVersionThenFields) {
  // Version problems win over field problems.
  Json j = valid_auth_req();
  j.erase("req_id");
  j["v"] = 2;
  auto p = parse_auth_request(dump(j));
  EXPECT_EQ(p.error.reason, Reason::unsupported_version);
  j.erase("v");
  EXPECT_EQ(parse_auth_request(dump(j)).error.reason, Reason::missing_field);
  EXPECT_EQ(parse_auth_request(dump(j)).error.detail, "missing field 'v'");
  // Fields in the order of the spec: req_id before terminal before amount_fen.
  Json k = valid_auth_req();
  k["amount_fen"] = -5;
  k["terminal"] = 5;
  k["req_id"] = "";
  EXPECT_EQ(parse_auth_request(dump(k)).error.detail,
            "field 'req_id' must be 1..64 printable ASCII characters");
  k["req_id"] = "ok";
  EXPECT_EQ(parse_auth_request(dump(k)).error.detail, "field 'terminal' must be a string");
  k["terminal"] = "ct-0001";
  EXPECT_EQ(parse_auth_request(dump(k)).error.detail,
            "field 'amount_fen' must be 0..1000000000 fen");
}

TEST(AuthRequest, IdsAreEchoedEvenWhenTheVersionIsWrong) {
  Json j = valid_auth_req();
  j["v"] = 9;
  auto p = parse_auth_request(dump(j));
  ASSERT_FALSE(p.ok());
  EXPECT_EQ(p.error.req_id, "r-0001");
  EXPECT_EQ(p.error.terminal, "ct-0001");
  EXPECT_EQ(p.error.txn_id, "");
}

TEST(AuthRequest, NonStringIdsAreNotEchoed) {
  Json j = valid_auth_req();
  j["req_id"] = 17;
  j["terminal"] = Json::array();
  auto p = parse_auth_request(dump(j));
  ASSERT_FALSE(p.ok());
  EXPECT_EQ(p.error.req_id, "");
  EXPECT_EQ(p.error.terminal, "");
}

// ---------------------------------------------------------------------------------------------
// Payloads that are not messages at all.

TEST(Malformed, NotJsonOrNotAnObject) {
  for (const std::string& payload : {
           std::string(""),
           std::string(" "),
           std::string("{"),
           std::string("}"),
           std::string("{\"v\":1,}"),
           std::string("{'v':1}"),
           std::string("{\"v\":1} trailing"),
           std::string("{\"v\":1}{\"v\":1}"),
           std::string("{\"v\":01}"),
           std::string("{\"v\":NaN}"),
           std::string("{\"v\":1 /* comment */}"),
           "{\"v\":1,\"req_id\":\"a\0b\"}"s,
           "\0"s,
           std::string("null"),
           std::string("[]"),
           std::string("[{\"v\":1}]"),
           std::string("1"),
           std::string("\"text\""),
           std::string("true"),
       }) {
    for (auto reason :
         {parse_auth_request(payload).error.reason, parse_txn(payload).error.reason,
          parse_status(payload).error.reason, parse_auth_response(payload).error.reason,
          parse_txn_ack(payload).error.reason}) {
      EXPECT_EQ(reason, Reason::malformed_json) << payload;
    }
    EXPECT_FALSE(parse_auth_request(payload).ok()) << payload;
  }
}

TEST(Malformed, DetailsSayWhatIsWrongWithoutQuotingThePayload) {
  auto p = parse_auth_request(R"({"credential":{"card_no":"500156199001011234)");
  ASSERT_FALSE(p.ok());
  EXPECT_EQ(p.error.reason, Reason::malformed_json);
  EXPECT_TRUE(p.error.detail.starts_with("payload is not valid JSON (error near byte "))
      << p.error.detail;
  EXPECT_EQ(p.error.detail.find("500156"), std::string::npos);

  EXPECT_EQ(parse_auth_request("[1]").error.detail, "payload must be a JSON object");
}

TEST(Malformed, InvalidUtf8IsMalformed) {
  Json j = valid_auth_req();
  std::string base = dump(j);
  for (const std::string& bad : {
           std::string("\xff"),
           std::string("\xc0\xaf"),          // overlong '/'
           std::string("\xed\xa0\x80"),      // UTF-16 surrogate encoded in UTF-8
           std::string("\xe4\xb8"),          // truncated sequence
           std::string("\xf4\x90\x80\x80"),  // past U+10FFFF
       }) {
    std::string payload = base;
    payload.replace(payload.find("r-0001"), 6, "r-" + bad);
    auto p = parse_auth_request(payload);
    ASSERT_FALSE(p.ok());
    EXPECT_EQ(p.error.reason, Reason::malformed_json);
  }
  // A lone surrogate written as an escape is not a character either.
  auto q = parse_auth_request(R"({"v":1,"req_id":"\ud800"})");
  EXPECT_EQ(q.error.reason, Reason::malformed_json);
}

TEST(Malformed, ValidUtf8ElsewhereIsFine) {
  Json j = valid_auth_req();
  j["note"] = "食堂 🍚";
  EXPECT_TRUE(parse_auth_request(dump(j)).ok());
}

std::string nested(int depth) {
  // {"v":1,...,"x": [[[...]]]} with `depth` levels in total, counting the outer object.
  Json j = valid_auth_req();
  std::string inner;
  for (int i = 1; i < depth; ++i) inner += '[';
  for (int i = 1; i < depth; ++i) inner += ']';
  std::string s = dump(j);
  s.insert(s.size() - 1, ",\"x\":" + (inner.empty() ? std::string("0") : inner));
  return s;
}

TEST(Malformed, NestingUpToTheLimitIsAccepted) {
  auto p = parse_auth_request(nested(kMaxNestingDepth));
  EXPECT_TRUE(p.ok()) << p.error.detail;
}

TEST(Malformed, DeeperNestingIsRefused) {
  for (int depth : {kMaxNestingDepth + 1, 100, 100000}) {
    auto p = parse_auth_request(nested(depth));
    ASSERT_FALSE(p.ok()) << depth;
    EXPECT_EQ(p.error.reason, Reason::malformed_json);
    EXPECT_EQ(p.error.detail, "payload nests deeper than 16 levels");
  }
  EXPECT_EQ(parse_txn(std::string(1 << 20, '[')).error.reason, Reason::malformed_json);
  EXPECT_EQ(parse_status(std::string(1 << 20, '{')).error.reason, Reason::malformed_json);
}

TEST(Malformed, BracketsInsideStringsDoNotCountAsNesting) {
  Json j = valid_auth_req();
  j["note"] = std::string(100, '[') + "\\\"" + std::string(100, '{');
  auto p = parse_auth_request(dump(j));
  EXPECT_TRUE(p.ok()) << p.error.detail;
}

TEST(Malformed, NoInputCrashesAnyParser) {
  // A smoke run of what the fuzz target does: truncations, byte flips and random bytes.
  std::vector<std::string> seeds = {dump(valid_auth_req()), dump(valid_txn()), dump(valid_status()),
                                    serialize(AuthResponse{"r", Decision::approve, Reason::ok,
                                                           AuthMode::online, 100, "5001**34"}),
                                    serialize(TxnAck{"t", AckStatus::rejected, Reason::busy})};
  auto run_all = [](const std::string& s) {
    (void)parse_auth_request(s);
    (void)parse_txn(s);
    (void)parse_status(s);
    (void)parse_auth_response(s);
    (void)parse_txn_ack(s);
  };
  std::mt19937 rng(20240611);
  for (const auto& seed : seeds) {
    for (std::size_t n = 0; n < seed.size(); ++n) {
      std::string cut = seed.substr(0, n);
      run_all(cut);
      EXPECT_FALSE(parse_auth_request(cut).ok());
    }
    for (int i = 0; i < 2000; ++i) {
      std::string m = seed;
      int flips = 1 + static_cast<int>(rng() % 4);
      for (int f = 0; f < flips; ++f) m[rng() % m.size()] = static_cast<char>(rng() & 0xff);
      run_all(m);
    }
  }
  for (int i = 0; i < 2000; ++i) {
    std::string r(rng() % 64, '\0');
    for (char& c : r) c = static_cast<char>(rng() & 0xff);
    run_all(r);
  }
}

// ---------------------------------------------------------------------------------------------
// txn

TEST(Txn, ParsesARecord) {
  auto p = parse_txn(dump(valid_txn()));
  ASSERT_TRUE(p.ok()) << p.error.detail;
  const TxnMessage& t = *p.value;
  EXPECT_EQ(t.txn_id, "ct-0001:000123");
  EXPECT_EQ(t.req_id, "r-0001");
  EXPECT_EQ(t.terminal, "ct-0001");
  EXPECT_EQ(t.scenario, "canteen");
  EXPECT_EQ(t.ts_ms, 1718000000500);
  EXPECT_EQ(t.credential.card_no, "500156199001011234");
  EXPECT_EQ(t.amount_fen, 600);
  EXPECT_EQ(t.result, TxnResult::approved);
  EXPECT_EQ(t.reason, "");
}

TEST(Txn, OfflineTapWithoutReqId) {
  auto absent = parse_txn(dump(with(valid_txn(), "/req_id", std::nullopt)));
  ASSERT_TRUE(absent.ok()) << absent.error.detail;
  EXPECT_EQ(absent.value->req_id, "");
  auto empty = parse_txn(dump(with(valid_txn(), "/req_id", Json(""))));
  ASSERT_TRUE(empty.ok()) << empty.error.detail;
  EXPECT_EQ(empty.value->req_id, "");
}

TEST(Txn, DeclinedWithReason) {
  Json j = valid_txn();
  j["result"] = "declined";
  j["reason"] = "card_lost";
  auto p = parse_txn(dump(j));
  ASSERT_TRUE(p.ok()) << p.error.detail;
  EXPECT_EQ(p.value->result, TxnResult::declined);
  EXPECT_EQ(p.value->reason, "card_lost");
  // The terminal's own codes are carried as reported, not checked against the gateway's.
  j["reason"] = std::string(64, 'E');
  EXPECT_TRUE(parse_txn(dump(j)).ok());
}

TEST(Txn, TxnIdCharacters) {
  for (const char* ok :
       {"a", "ct-0001:2024-06-11:000001", "550e8400-e29b-41d4-a716-446655440000", "A.b_C"}) {
    EXPECT_TRUE(parse_txn(dump(with(valid_txn(), "/txn_id", Json(ok)))).ok()) << ok;
  }
  EXPECT_TRUE(parse_txn(dump(with(valid_txn(), "/txn_id", Json(std::string(64, '9'))))).ok());
}

// ---------------------------------------------------------------------------------------------
// txn/batch

Json valid_batch(int n = 2) {
  Json b = {{"v", 1}, {"batch_id", "ct-0001:b-1"}, {"terminal", "ct-0001"}};
  b["records"] = Json::array();
  for (int i = 0; i < n; ++i) {
    Json r = valid_txn();
    r.erase("v");
    r["txn_id"] = "ct-0001:" + std::to_string(i);
    b["records"].push_back(r);
  }
  return b;
}

TEST(TxnBatch, ParsesEachRecordOnItsOwn) {
  Json b = valid_batch(3);
  b["records"][1]["amount_fen"] = 1.5;
  b["records"][2]["v"] = 1;  // a record may repeat the version
  auto p = parse_txn_batch(dump(b), 500);
  ASSERT_TRUE(p.ok()) << p.error.detail;
  EXPECT_EQ(p.value->batch_id, "ct-0001:b-1");
  EXPECT_EQ(p.value->terminal, "ct-0001");
  ASSERT_EQ(p.value->records.size(), 3u);
  ASSERT_TRUE(p.value->records[0].ok());
  EXPECT_EQ(p.value->records[0].value->txn_id, "ct-0001:0");
  EXPECT_EQ(p.value->records[0].value->credential.card_no, "500156199001011234");
  ASSERT_FALSE(p.value->records[1].ok());
  EXPECT_EQ(p.value->records[1].error.reason, Reason::wrong_type);
  EXPECT_EQ(p.value->records[1].error.txn_id, "ct-0001:1");
  EXPECT_TRUE(p.value->records[2].ok());
}

TEST(TxnBatch, RefusesTheWholeBatchForItsEnvelope) {
  EXPECT_EQ(parse_txn_batch(dump(valid_batch(3)), 2).error.reason, Reason::invalid_value);
  EXPECT_TRUE(parse_txn_batch(dump(valid_batch(2)), 2).ok());
  Json no_terminal = valid_batch();
  no_terminal.erase("terminal");
  auto p = parse_txn_batch(dump(no_terminal), 500);
  ASSERT_FALSE(p.ok());
  EXPECT_EQ(p.error.reason, Reason::missing_field);
  EXPECT_EQ(p.error.txn_id, "ct-0001:b-1") << "the batch id, to match the refusal";
  Json v2 = valid_batch();
  v2["v"] = 2;
  EXPECT_EQ(parse_txn_batch(dump(v2), 500).error.reason, Reason::unsupported_version);
  Json obj_records = valid_batch();
  obj_records["records"] = Json::object();
  EXPECT_EQ(parse_txn_batch(dump(obj_records), 500).error.reason, Reason::wrong_type);
  EXPECT_EQ(parse_txn_batch("[]", 500).error.reason, Reason::malformed_json);
}

TEST(TxnBatch, SerializedBatchAndAckParseBack) {
  auto p = parse_txn_batch(dump(valid_batch(2)), 500);
  ASSERT_TRUE(p.ok());
  std::vector<TxnMessage> recs{*p.value->records[0].value, *p.value->records[1].value};
  auto again = parse_txn_batch(serialize_txn_batch("b", "ct-0001", recs), 500);
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(*again.value->records[1].value, recs[1]);

  TxnBatchAck ack;
  ack.batch_id = "b";
  ack.acks = {{TxnAck{"t1", AckStatus::stored, Reason::ok}, ""},
              {TxnAck{"t2", AckStatus::duplicate, Reason::ok}, ""},
              {TxnAck{"t3", AckStatus::rejected, Reason::missing_field}, "missing field 'ts'"}};
  auto a = parse_txn_batch_ack(serialize(ack));
  ASSERT_TRUE(a.ok()) << a.error.detail;
  EXPECT_EQ(*a.value, ack);
  TxnBatchAck refused;
  refused.batch_id = "b";
  refused.rejected = true;
  refused.reason = Reason::payload_too_large;
  refused.detail = "too big";
  auto r = parse_txn_batch_ack(serialize(refused));
  ASSERT_TRUE(r.ok()) << r.error.detail;
  EXPECT_EQ(*r.value, refused);
}

std::vector<FieldCase> txn_cases() {
  const std::string txn_rule = "field 'txn_id' must be 1..64 characters of [A-Za-z0-9_.:-]";
  std::vector<FieldCase> cases = {
      {"/txn_id", std::nullopt, Reason::missing_field, "missing field 'txn_id'"},
      {"/txn_id", Json(123), Reason::wrong_type, "field 'txn_id' must be a string"},
      {"/txn_id", Json(""), Reason::invalid_value, txn_rule},
      {"/txn_id", Json("a b"), Reason::invalid_value, txn_rule},
      {"/txn_id", Json("a/b"), Reason::invalid_value, txn_rule},
      {"/txn_id", Json(std::string(65, '1')), Reason::invalid_value, txn_rule},
      {"/req_id", Json(5), Reason::wrong_type, "field 'req_id' must be a string"},
      {"/req_id", Json(std::string(65, 'r')), Reason::invalid_value,
       "field 'req_id' must be 1..64 printable ASCII characters"},
      {"/amount_fen", std::nullopt, Reason::missing_field, "missing field 'amount_fen'"},
      {"/result", std::nullopt, Reason::missing_field, "missing field 'result'"},
      {"/result", Json(1), Reason::wrong_type, "field 'result' must be a string"},
      {"/result", Json("approve"), Reason::invalid_value,
       "field 'result' must be \"approved\" or \"declined\""},
      {"/reason", Json(3), Reason::wrong_type, "field 'reason' must be a string"},
      {"/reason", Json(std::string(65, 'E')), Reason::invalid_value,
       "field 'reason' must be at most 64 printable ASCII characters"},
      {"/reason", Json("卡片已挂失"), Reason::invalid_value,
       "field 'reason' must be at most 64 printable ASCII characters"},
  };
  for (auto& c : shared_cases()) cases.push_back(c);
  for (auto& c : credential_cases()) cases.push_back(c);
  return cases;
}

class TxnField : public ::testing::TestWithParam<FieldCase> {};

TEST_P(TxnField, IsRefusedWithReasonAndDetail) {
  const FieldCase& c = GetParam();
  Json j = with(valid_txn(), c.pointer, c.value);
  auto p = parse_txn(dump(j));
  ASSERT_FALSE(p.ok());
  EXPECT_EQ(p.error.reason, c.reason);
  EXPECT_EQ(p.error.detail, c.detail);
  EXPECT_EQ(p.error.txn_id, id_of(j, "txn_id"));
  EXPECT_EQ(p.error.req_id, id_of(j, "req_id"));
  EXPECT_EQ(p.error.terminal, id_of(j, "terminal"));
}

INSTANTIATE_TEST_SUITE_P(All, TxnField, ::testing::ValuesIn(txn_cases()));

// ---------------------------------------------------------------------------------------------
// status

TEST(Status, ParsesAFullStatus) {
  auto p = parse_status(dump(valid_status()));
  ASSERT_TRUE(p.ok()) << p.error.detail;
  EXPECT_EQ(*p.value, (TerminalStatus{"ct-0001", TerminalState::online, "canteen_pos", "2.3.1", 42,
                                      1718000000000}));
}

TEST(Status, LastWillParses) {
  auto p = parse_status(R"({"v":1,"terminal":"T1","state":"offline"})");
  ASSERT_TRUE(p.ok()) << p.error.detail;
  EXPECT_EQ(*p.value, (TerminalStatus{"T1", TerminalState::offline, "", "", 0, 0}));
}

TEST(Status, LastWillSerializesMinimal) {
  TerminalStatus s;
  s.terminal = "T1";
  s.state = TerminalState::offline;
  EXPECT_EQ(serialize(s), R"({"v":1,"terminal":"T1","state":"offline"})");
}

std::vector<FieldCase> status_cases() {
  return {
      {"/v", std::nullopt, Reason::missing_field, "missing field 'v'"},
      {"/v", Json(2), Reason::unsupported_version,
       "protocol version 2 is not supported (expected 1)"},
      {"/terminal", std::nullopt, Reason::missing_field, "missing field 'terminal'"},
      {"/terminal", Json("a#b"), Reason::invalid_value,
       "field 'terminal' must be 1..64 characters of [A-Za-z0-9_.-]"},
      {"/state", std::nullopt, Reason::missing_field, "missing field 'state'"},
      {"/state", Json(true), Reason::wrong_type, "field 'state' must be a string"},
      {"/state", Json("ONLINE"), Reason::invalid_value,
       "field 'state' must be \"online\" or \"offline\""},
      {"/kind", Json(1), Reason::wrong_type, "field 'kind' must be a string"},
      {"/kind", Json(std::string(33, 'k')), Reason::invalid_value,
       "field 'kind' must be at most 32 printable ASCII characters"},
      {"/firmware", Json::array(), Reason::wrong_type, "field 'firmware' must be a string"},
      {"/firmware", Json(std::string(65, 'f')), Reason::invalid_value,
       "field 'firmware' must be at most 64 printable ASCII characters"},
      {"/cardlist_version", Json("42"), Reason::wrong_type,
       "field 'cardlist_version' must be an integer"},
      {"/cardlist_version", Json(-1), Reason::invalid_value,
       "field 'cardlist_version' must be >= 0"},
      {"/ts", Json(1.5), Reason::wrong_type, "field 'ts' must be an integer"},
      {"/ts", Json(-1), Reason::invalid_value, "field 'ts' must be UTC milliseconds >= 0"},
  };
}

class StatusField : public ::testing::TestWithParam<FieldCase> {};

TEST_P(StatusField, IsRefusedWithReasonAndDetail) {
  const FieldCase& c = GetParam();
  Json j = with(valid_status(), c.pointer, c.value);
  auto p = parse_status(dump(j));
  ASSERT_FALSE(p.ok());
  EXPECT_EQ(p.error.reason, c.reason);
  EXPECT_EQ(p.error.detail, c.detail);
  EXPECT_EQ(p.error.terminal, id_of(j, "terminal"));
}

INSTANTIATE_TEST_SUITE_P(All, StatusField, ::testing::ValuesIn(status_cases()));

// ---------------------------------------------------------------------------------------------
// Round trips: serialize, then parse with the matching parser.

std::vector<Credential> all_credentials() {
  std::vector<Credential> out;
  Credential card;
  card.type = CredentialType::card;
  card.card_no = "500156199001011234";
  out.push_back(card);
  card.mac = "00ff00ff00ff00ff";
  out.push_back(card);
  Credential qr;
  qr.type = CredentialType::ecard_qr;
  qr.qr = "ECQR1.eyJhIjoiYiJ9.MEUCIQ";
  out.push_back(qr);
  qr.type = CredentialType::ykm_qr;
  qr.qr = "ykm:中文也可以";
  out.push_back(qr);
  Credential other;
  other.type = CredentialType::other;
  other.method = "id_card";
  out.push_back(other);
  return out;
}

TEST(RoundTrip, AuthRequest) {
  for (const Credential& c : all_credentials()) {
    for (Fen amount : {Fen{0}, Fen{1}, Fen{1000000000}}) {
      AuthRequest r{"req \"quoted\" \\ ~", "ct-0001", "scenic_65plus", 1718000000000, c, amount};
      auto p = parse_auth_request(serialize(r));
      ASSERT_TRUE(p.ok()) << p.error.detail << " " << serialize(r);
      EXPECT_EQ(*p.value, r);
    }
  }
}

TEST(RoundTrip, TxnMessage) {
  for (const Credential& c : all_credentials()) {
    TxnMessage t{"ct-0001:000001", "", "ct-0001", "bus", 0, c, 200, TxnResult::approved, ""};
    auto p = parse_txn(serialize(t));
    ASSERT_TRUE(p.ok()) << p.error.detail;
    EXPECT_EQ(*p.value, t);
    t.req_id = "r-9";
    t.result = TxnResult::declined;
    t.reason = "card_frozen";
    auto q = parse_txn(serialize(t));
    ASSERT_TRUE(q.ok()) << q.error.detail;
    EXPECT_EQ(*q.value, t);
  }
}

TEST(RoundTrip, TerminalStatus) {
  for (const TerminalStatus& s : {
           TerminalStatus{"ct-0001", TerminalState::online, "gate", "fw 1.0 (build 7)", 123456,
                          1718000000000},
           TerminalStatus{"T1", TerminalState::offline, "", "", 0, 0},
           TerminalStatus{"T1", TerminalState::online, "", "", 0, 1},
       }) {
    auto p = parse_status(serialize(s));
    ASSERT_TRUE(p.ok()) << p.error.detail;
    EXPECT_EQ(*p.value, s);
  }
}

TEST(RoundTrip, AuthResponseForEveryReason) {
  for (std::size_t i = 0; i < kReasonCount; ++i) {
    auto reason = static_cast<Reason>(i);
    for (auto mode : {AuthMode::online, AuthMode::offline}) {
      AuthResponse r{"r-" + std::to_string(i),
                     reason == Reason::ok ? Decision::approve : Decision::decline,
                     reason,
                     mode,
                     reason == Reason::ok ? 480 : 0,
                     i % 2 == 0 ? "500156********1234" : ""};
      auto p = parse_auth_response(serialize(r));
      ASSERT_TRUE(p.ok()) << p.error.detail;
      EXPECT_EQ(*p.value, r);
    }
  }
}

TEST(RoundTrip, TxnAckForEveryStatusAndReason) {
  for (auto status : {AckStatus::stored, AckStatus::duplicate}) {
    TxnAck a{"ct-0001:000001", status, Reason::ok};
    auto p = parse_txn_ack(serialize(a));
    ASSERT_TRUE(p.ok()) << p.error.detail;
    EXPECT_EQ(*p.value, a);
  }
  for (std::size_t i = 0; i < kReasonCount; ++i) {
    TxnAck a{"t" + std::to_string(i), AckStatus::rejected, static_cast<Reason>(i)};
    auto p = parse_txn_ack(serialize(a));
    ASSERT_TRUE(p.ok()) << p.error.detail;
    EXPECT_EQ(*p.value, a);
  }
}

// ---------------------------------------------------------------------------------------------
// Replies on the wire.

TEST(Reply, AuthResponseIsCompactAndInSpecOrder) {
  AuthResponse r{"r-0001", Decision::approve,   Reason::ok, AuthMode::offline,
                 600,      "500156********1234"};
  EXPECT_EQ(serialize(r),
            R"({"v":1,"req_id":"r-0001","decision":"approve","reason":"ok","message_zh":"通过",)"
            R"("message_en":"Approved","mode":"offline","amount_fen":600,)"
            R"("card_masked":"500156********1234"})");
  r.card_masked.clear();
  EXPECT_EQ(parse_json(serialize(r)).count("card_masked"), 0u);
}

TEST(Reply, TxnAckOnlyCarriesReasonWhenRejected) {
  EXPECT_EQ(serialize(TxnAck{"t-1", AckStatus::stored, Reason::ok}),
            R"({"v":1,"txn_id":"t-1","status":"stored"})");
  EXPECT_EQ(serialize(TxnAck{"t-1", AckStatus::duplicate, Reason::ok}),
            R"({"v":1,"txn_id":"t-1","status":"duplicate"})");
  EXPECT_EQ(serialize(TxnAck{"t-1", AckStatus::rejected, Reason::invalid_value}),
            R"({"v":1,"txn_id":"t-1","status":"rejected","reason":"invalid_value",)"
            R"("message_zh":"字段取值不合法","message_en":"A field has an invalid value"})");
}

TEST(Reply, InvalidUtf8IsReplacedNotThrown) {
  AuthResponse r{"r-\xff\xfe", Decision::decline, Reason::unknown_card, AuthMode::offline, 0,
                 "5001\xc0"};
  std::string s = serialize(r);
  ASSERT_FALSE(s.empty());
  Json j = parse_json(s);
  ASSERT_FALSE(j.is_discarded()) << s;
  EXPECT_EQ(j["req_id"], "r-\xef\xbf\xbd\xef\xbf\xbd");
  EXPECT_EQ(j["card_masked"], "5001\xef\xbf\xbd");

  ParseError e{Reason::malformed_json, "bad \xff", "\x80", "\x80", ""};
  EXPECT_FALSE(parse_json(serialize_auth_error(e)).is_discarded());
  EXPECT_FALSE(parse_json(serialize_txn_error(e)).is_discarded());
  TerminalStatus status{"T\xff", TerminalState::online, "\xff", "\xff", 1, 1};
  EXPECT_FALSE(parse_json(serialize(status)).is_discarded());
}

TEST(Reply, ControlCharactersAreEscaped) {
  std::string s = serialize(TxnAck{std::string("a\0b\n", 4), AckStatus::stored, Reason::ok});
  EXPECT_EQ(s, R"({"v":1,"txn_id":"a\u0000b\n","status":"stored"})");
}

TEST(ErrorReply, AuthErrorEchoesReqIdAndDetail) {
  Json j = valid_auth_req();
  j["amount_fen"] = 1.0;
  auto p = parse_auth_request(dump(j));
  ASSERT_FALSE(p.ok());
  std::string reply = serialize_auth_error(p.error);
  EXPECT_EQ(reply, R"({"v":1,"req_id":"r-0001","decision":"decline","reason":"wrong_type",)"
                   R"("message_zh":"字段类型错误","message_en":"A field has the wrong type",)"
                   R"("mode":"offline","amount_fen":0,)"
                   R"("detail":"field 'amount_fen' must be an integer"})");
  auto back = parse_auth_response(reply);
  ASSERT_TRUE(back.ok()) << back.error.detail;
  EXPECT_EQ(*back.value, (AuthResponse{"r-0001", Decision::decline, Reason::wrong_type,
                                       AuthMode::offline, 0, ""}));
}

TEST(ErrorReply, AuthErrorWithUnknownReqIdHasEmptyString) {
  auto p = parse_auth_request("not json");
  ASSERT_FALSE(p.ok());
  Json reply = parse_json(serialize_auth_error(p.error));
  EXPECT_EQ(reply["req_id"], "");
  EXPECT_EQ(reply["reason"], "malformed_json");
  EXPECT_EQ(reply["decision"], "decline");
  EXPECT_TRUE(parse_auth_response(reply.dump()).ok());
}

TEST(ErrorReply, TxnErrorEchoesTxnIdAndDetail) {
  Json j = valid_txn();
  j.erase("result");
  auto p = parse_txn(dump(j));
  ASSERT_FALSE(p.ok());
  std::string reply = serialize_txn_error(p.error);
  EXPECT_EQ(reply,
            R"({"v":1,"txn_id":"ct-0001:000123","status":"rejected","reason":"missing_field",)"
            R"("message_zh":"报文缺少必填字段","message_en":"A required field is missing",)"
            R"("detail":"missing field 'result'"})");
  auto back = parse_txn_ack(reply);
  ASSERT_TRUE(back.ok()) << back.error.detail;
  EXPECT_EQ(*back.value, (TxnAck{"ct-0001:000123", AckStatus::rejected, Reason::missing_field}));
}

TEST(ErrorReply, TxnErrorWithUnknownTxnIdHasEmptyString) {
  Json reply = parse_json(serialize_txn_error(parse_txn("{}").error));
  EXPECT_EQ(reply["txn_id"], "");
  EXPECT_EQ(reply["reason"], "missing_field");
  EXPECT_EQ(reply["detail"], "missing field 'v'");
}

// ---------------------------------------------------------------------------------------------
// Reply parsers (terminal side).

TEST(ReplyParser, AuthResponseRules) {
  Json ok = parse_json(
      serialize(AuthResponse{"r", Decision::approve, Reason::ok, AuthMode::online, 5, ""}));
  ASSERT_TRUE(parse_auth_response(ok.dump()).ok());
  // Texts are for people; the parser takes the code.
  EXPECT_TRUE(parse_auth_response(dump(with(ok, "/message_zh", std::nullopt))).ok());

  struct Case {
    std::string pointer;
    std::optional<Json> value;
    Reason reason;
  };
  for (const Case& c : std::vector<Case>{
           {"/v", Json(3), Reason::unsupported_version},
           {"/req_id", std::nullopt, Reason::missing_field},
           {"/decision", Json("approved"), Reason::invalid_value},
           {"/reason", Json("no_such_code"), Reason::invalid_value},
           {"/reason", std::nullopt, Reason::missing_field},
           {"/mode", Json("local"), Reason::invalid_value},
           {"/amount_fen", Json(1.5), Reason::wrong_type},
           {"/amount_fen", std::nullopt, Reason::missing_field},
           {"/card_masked", Json(1), Reason::wrong_type},
       }) {
    auto p = parse_auth_response(dump(with(ok, c.pointer, c.value)));
    ASSERT_FALSE(p.ok()) << c.pointer;
    EXPECT_EQ(p.error.reason, c.reason) << c.pointer << " " << p.error.detail;
    EXPECT_EQ(p.error.req_id, c.pointer == "/req_id" ? "" : "r");
  }
}

TEST(ReplyParser, TxnAckRules) {
  Json rejected = parse_json(serialize(TxnAck{"t", AckStatus::rejected, Reason::busy}));
  EXPECT_EQ(parse_txn_ack(dump(with(rejected, "/reason", std::nullopt))).error.reason,
            Reason::missing_field);
  EXPECT_EQ(parse_txn_ack(dump(with(rejected, "/reason", Json("nope")))).error.reason,
            Reason::invalid_value);
  EXPECT_EQ(parse_txn_ack(dump(with(rejected, "/status", Json("ok")))).error.reason,
            Reason::invalid_value);
  EXPECT_EQ(parse_txn_ack(dump(with(rejected, "/txn_id", std::nullopt))).error.reason,
            Reason::missing_field);
  // A reason on a stored ack means nothing.
  auto p = parse_txn_ack(R"({"v":1,"txn_id":"t","status":"stored","reason":"whatever"})");
  ASSERT_TRUE(p.ok()) << p.error.detail;
  EXPECT_EQ(p.value->reason, Reason::ok);
}

// ---------------------------------------------------------------------------------------------
// docs/terminal-protocol.md is what vendors implement against: its examples must parse, its
// reply examples must be exactly what the gateway sends, and its reason table must be complete.

std::string read_doc() {
  std::ifstream in(std::string(YKTGW_SOURCE_DIR) + "/docs/terminal-protocol.md");
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

std::vector<std::string> split_lines(const std::string& text) {
  std::vector<std::string> lines;
  std::stringstream ss(text);
  for (std::string line; std::getline(ss, line);) {
    if (!line.empty() && line.back() == '\r') line.pop_back();
    lines.push_back(line);
  }
  return lines;
}

struct DocExample {
  std::string kind;
  std::string body;
  std::size_t line = 0;  // 1-based line of the opening fence
};

// Every ```json block, with the kind from an `<!-- example: KIND -->` within three lines above
// (empty when untagged).
std::vector<DocExample> doc_json_blocks(const std::vector<std::string>& lines) {
  std::vector<DocExample> out;
  for (std::size_t i = 0; i < lines.size(); ++i) {
    if (lines[i].rfind("```json", 0) != 0) continue;
    DocExample ex;
    ex.line = i + 1;
    for (std::size_t back = 1; back <= 3 && back <= i; ++back) {
      const std::string& above = lines[i - back];
      auto at = above.find("<!-- example:");
      if (at == std::string::npos) continue;
      auto end = above.find("-->", at);
      std::string kind =
          above.substr(at + 13, end == std::string::npos ? std::string::npos : end - at - 13);
      kind.erase(0, kind.find_first_not_of(' '));
      kind.erase(kind.find_last_not_of(' ') + 1);
      ex.kind = kind;
      break;
    }
    std::size_t j = i + 1;
    for (; j < lines.size() && lines[j].rfind("```", 0) != 0; ++j) ex.body += lines[j] + "\n";
    out.push_back(ex);
    i = j;
  }
  return out;
}

const std::set<std::string> kExampleKinds = {
    "auth_req",      "auth_resp",     "txn",       "txn_ack",      "status",
    "error_auth_resp", "error_txn_ack", "txn_batch", "txn_batch_ack"};

// One example; ASSERTs end only this example, so every broken example is reported.
void check_example(const DocExample& b) {
  SCOPED_TRACE("docs/terminal-protocol.md line " + std::to_string(b.line) + " (" + b.kind + ")");
  Json doc = parse_json(b.body);
  ASSERT_FALSE(doc.is_discarded()) << b.body;
  if (b.kind == "auth_req") {
    auto p = parse_auth_request(b.body);
    ASSERT_TRUE(p.ok()) << p.error.detail;
    EXPECT_EQ(parse_auth_request(serialize(*p.value)).value, p.value);
  } else if (b.kind == "txn") {
    auto p = parse_txn(b.body);
    ASSERT_TRUE(p.ok()) << p.error.detail;
    EXPECT_EQ(parse_txn(serialize(*p.value)).value, p.value);
  } else if (b.kind == "status") {
    auto p = parse_status(b.body);
    ASSERT_TRUE(p.ok()) << p.error.detail;
    EXPECT_EQ(parse_status(serialize(*p.value)).value, p.value);
  } else if (b.kind == "auth_resp") {
    auto p = parse_auth_response(b.body);
    ASSERT_TRUE(p.ok()) << p.error.detail;
    EXPECT_EQ(parse_json(serialize(*p.value)), doc);
  } else if (b.kind == "txn_ack") {
    auto p = parse_txn_ack(b.body);
    ASSERT_TRUE(p.ok()) << p.error.detail;
    EXPECT_EQ(parse_json(serialize(*p.value)), doc);
  } else if (b.kind == "txn_batch") {
    auto p = parse_txn_batch(b.body, 500);
    ASSERT_TRUE(p.ok()) << p.error.detail;
    std::vector<TxnMessage> records;
    for (const auto& one : p.value->records) {
      ASSERT_TRUE(one.ok()) << one.error.detail;
      records.push_back(*one.value);
    }
    EXPECT_EQ(parse_json(serialize_txn_batch(p.value->batch_id, p.value->terminal, records)), doc);
  } else if (b.kind == "txn_batch_ack") {
    auto p = parse_txn_batch_ack(b.body);
    ASSERT_TRUE(p.ok()) << p.error.detail;
    EXPECT_EQ(parse_json(serialize(*p.value)), doc);
  } else if (b.kind == "error_auth_resp") {
    auto p = parse_auth_response(b.body);
    ASSERT_TRUE(p.ok()) << p.error.detail;
    ASSERT_TRUE(doc.contains("detail") && doc["detail"].is_string());
    ParseError e{p.value->reason, doc["detail"].get<std::string>(), p.value->req_id, "", ""};
    EXPECT_EQ(parse_json(serialize_auth_error(e)), doc);
  } else if (b.kind == "error_txn_ack") {
    auto p = parse_txn_ack(b.body);
    ASSERT_TRUE(p.ok()) << p.error.detail;
    ASSERT_TRUE(doc.contains("detail") && doc["detail"].is_string());
    ParseError e{p.value->reason, doc["detail"].get<std::string>(), "", p.value->txn_id, ""};
    EXPECT_EQ(parse_json(serialize_txn_error(e)), doc);
  }
}

class TerminalProtocolDoc : public ::testing::Test {
 protected:
  void SetUp() override {
    text_ = read_doc();
    ASSERT_FALSE(text_.empty()) << "docs/terminal-protocol.md is missing or empty";
    lines_ = split_lines(text_);
    blocks_ = doc_json_blocks(lines_);
  }
  std::string text_;
  std::vector<std::string> lines_;
  std::vector<DocExample> blocks_;
};

TEST_F(TerminalProtocolDoc, EveryJsonBlockIsATaggedExample) {
  for (const auto& b : blocks_) {
    EXPECT_TRUE(kExampleKinds.count(b.kind)) << "line " << b.line << ": json block tagged '"
                                             << b.kind << "'; untagged examples go unchecked";
  }
}

TEST_F(TerminalProtocolDoc, EveryKindHasAnExample) {
  std::map<std::string, int> seen;
  for (const auto& b : blocks_) ++seen[b.kind];
  for (const auto& kind : kExampleKinds) EXPECT_GT(seen[kind], 0) << kind;
}

TEST_F(TerminalProtocolDoc, ExamplesParseAndRepliesMatchTheSerializer) {
  for (const auto& b : blocks_) check_example(b);
}

TEST_F(TerminalProtocolDoc, ReasonTableListsEveryCodeWithItsTexts) {
  for (std::size_t i = 0; i < kReasonCount; ++i) {
    const ReasonText& t = reason_text(static_cast<Reason>(i));
    std::string row_start = "| `" + std::string(t.code) + "` |";
    const std::string* row = nullptr;
    for (const auto& line : lines_) {
      if (line.rfind(row_start, 0) == 0) {
        row = &line;
        break;
      }
    }
    ASSERT_NE(row, nullptr) << "no reason table row for " << t.code;
    EXPECT_NE(row->find(std::string(t.zh)), std::string::npos) << t.code << ": " << t.zh;
    EXPECT_NE(row->find(std::string(t.en)), std::string::npos) << t.code << ": " << t.en;
  }
}

}  // namespace
}  // namespace yktgw::protocol
