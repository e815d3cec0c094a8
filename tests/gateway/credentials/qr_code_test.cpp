#include "gateway/credentials/qr_code.h"

#include <gtest/gtest.h>

#include <functional>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "tests/gateway/credentials/test_support.h"

namespace yktgw {
namespace {

using Json = nlohmann::json;
using testing::kNowMs;

constexpr std::string_view kSampleToken =
    "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

QrPayload sample() {
  QrPayload p;
  p.issuer = 50;
  p.kid = "k1";
  p.token = std::string(kSampleToken);
  p.masked = "500156********1234";
  p.birth = {1950, 1, 1};
  p.attributes = {"disabled", "local"};
  p.groups = {"staff"};
  p.issued_ms = kNowMs;
  p.expires_ms = kNowMs + 60'000;
  p.nonce = "00112233445566778899aabbccddeeff";
  return p;
}

const Sm2PrivateKey& issuer_key() {
  static const Sm2PrivateKey key = Sm2PrivateKey::generate().value();
  return key;
}

// A code around `json` with a signature that is well-formed but irrelevant: parse_qr does not
// verify.
std::string code_of(const std::string& json) {
  return "YKT1." + base64url_encode(json) + "." + base64url_encode(std::string(70, '\x30'));
}

TEST(QrPayloadJson, KeysInTheDocumentedOrder) {
  EXPECT_EQ(encode_qr_payload(sample()),
            R"({"v":1,"iss":"50","kid":"k1",)"
            R"("tok":"0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",)"
            R"("msk":"500156********1234","birth":"19500101","attr":["disabled","local"],)"
            R"("grp":["staff"],"iat":1764388800000,"exp":1764388860000,)"
            R"("nonce":"00112233445566778899aabbccddeeff"})");
  QrPayload bare = sample();
  bare.birth = {};
  bare.attributes.clear();
  bare.groups.clear();
  const std::string json = encode_qr_payload(bare);
  EXPECT_EQ(json.find("birth"), std::string::npos);
  EXPECT_EQ(json.find("attr"), std::string::npos);
  EXPECT_EQ(json.find("grp"), std::string::npos);
}

TEST(QrCode, MintThenParseRoundTrips) {
  const QrPayload p = sample();
  const std::string code = mint_qr(p, issuer_key());
  ASSERT_TRUE(code.starts_with("YKT1."));
  auto parsed = parse_qr(code);
  ASSERT_TRUE(parsed) << parsed.error().message;
  EXPECT_EQ(parsed->payload, p);
  EXPECT_EQ(parsed->signed_text, code.substr(0, code.rfind('.')));
  EXPECT_EQ(parsed->signed_text, "YKT1." + base64url_encode(encode_qr_payload(p)));
  auto pub = issuer_key().public_key();
  ASSERT_TRUE(pub);
  EXPECT_TRUE(pub->verify(parsed->signed_text, parsed->signature));
  // Only the characters of base64url and two dots: fits a QR code's alphanumeric-ish payload.
  for (const char c : code) {
    const bool ok = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
                    c == '-' || c == '_' || c == '.';
    EXPECT_TRUE(ok) << c;
  }
}

TEST(QrCode, MinimalPayloadRoundTrips) {
  QrPayload p = sample();
  p.birth = {};
  p.attributes.clear();
  p.groups.clear();
  p.nonce = "0123456789ABCDEF";  // 16 digits, upper case allowed
  auto parsed = parse_qr(mint_qr(p, issuer_key()));
  ASSERT_TRUE(parsed) << parsed.error().message;
  EXPECT_EQ(parsed->payload, p);
}

TEST(QrCode, FramingErrors) {
  const std::string good = mint_qr(sample(), issuer_key());
  const std::string payload_b64 = good.substr(5, good.rfind('.') - 5);
  const std::string sig_b64 = good.substr(good.rfind('.') + 1);
  const std::string cases[] = {
      "",
      "YKT1",
      "YKT1.",
      "YKT1..",
      "ykt1." + payload_b64 + "." + sig_b64,
      "YKT2." + payload_b64 + "." + sig_b64,
      "YKT1." + payload_b64,
      "YKT1." + payload_b64 + ".",
      "YKT1.." + sig_b64,
      "YKT1." + payload_b64 + "." + sig_b64 + ".x",
      "YKT1." + payload_b64 + "=." + sig_b64,
      "YKT1." + payload_b64 + "." + sig_b64 + "=",
      "YKT1." + payload_b64 + "+." + sig_b64,
      "YKT1." + payload_b64 + "." + sig_b64 + "/",
      "YKT1." + payload_b64 + "a." + sig_b64,  // a length base64 cannot have
      " " + good,
      good + " ",
      good + "\n",
      "YKT1." + payload_b64 + "." + std::string(201, 'A'),
      good + std::string(4097 - good.size(), 'A'),
      "YKT1." + base64url_encode("not json") + "." + sig_b64,
      "YKT1." + base64url_encode("[1,2]") + "." + sig_b64,
      "YKT1." + base64url_encode("\"str\"") + "." + sig_b64,
      "YKT1." + base64url_encode(encode_qr_payload(sample()) + "x") + "." + sig_b64,
  };
  for (const std::string& code : cases) {
    auto r = parse_qr(code);
    ASSERT_FALSE(r) << code;
    EXPECT_EQ(r.error().code, "malformed");
    EXPECT_TRUE(r.error().message.starts_with("QR code: ")) << r.error().message;
  }
  EXPECT_TRUE(parse_qr(good));
}

struct Mutation {
  const char* name;
  std::function<void(Json&)> apply;
  bool valid;
};

TEST(QrCode, FieldRules) {
  const Json base = Json::parse(encode_qr_payload(sample()));
  const std::vector<Mutation> cases = {
      {"unchanged", [](Json&) {}, true},
      {"unknown field ignored",
       [](Json& j) {
         j["future"] = {1, 2};
       },
       true},
      {"optional null",
       [](Json& j) {
         j["birth"] = nullptr;
         j["attr"] = nullptr;
       },
       true},
      {"empty lists",
       [](Json& j) {
         j["attr"] = Json::array();
         j["grp"] = Json::array();
       },
       true},
      {"unknown attribute names",
       [](Json& j) {
         j["attr"] = {"veteran"};
         j["grp"] = {"x"};
       },
       true},
      {"exp equals iat", [](Json& j) { j["exp"] = j["iat"]; }, true},
      {"kid of 16", [](Json& j) { j["kid"] = "Ab_-0123456789zZ"; }, true},
      {"nonce of 32", [](Json& j) { j["nonce"] = std::string(32, 'f'); }, true},
      {"serial mask", [](Json& j) { j["msk"] = "123*****90"; }, true},
      {"mask with X", [](Json& j) { j["msk"] = "110105********002X"; }, true},
      {"iss 00", [](Json& j) { j["iss"] = "00"; }, true},
      {"feb 29 leap", [](Json& j) { j["birth"] = "20000229"; }, true},
      // required fields
      {"no v", [](Json& j) { j.erase("v"); }, false},
      {"no iss", [](Json& j) { j.erase("iss"); }, false},
      {"no kid", [](Json& j) { j.erase("kid"); }, false},
      {"no tok", [](Json& j) { j.erase("tok"); }, false},
      {"no msk", [](Json& j) { j.erase("msk"); }, false},
      {"no iat", [](Json& j) { j.erase("iat"); }, false},
      {"no exp", [](Json& j) { j.erase("exp"); }, false},
      {"no nonce", [](Json& j) { j.erase("nonce"); }, false},
      {"null tok", [](Json& j) { j["tok"] = nullptr; }, false},
      // v
      {"v 2", [](Json& j) { j["v"] = 2; }, false},
      {"v string", [](Json& j) { j["v"] = "1"; }, false},
      {"v float", [](Json& j) { j["v"] = 1.0; }, false},
      {"v bool", [](Json& j) { j["v"] = true; }, false},
      // iss
      {"iss number", [](Json& j) { j["iss"] = 50; }, false},
      {"iss one digit", [](Json& j) { j["iss"] = "5"; }, false},
      {"iss three digits", [](Json& j) { j["iss"] = "500"; }, false},
      {"iss letters", [](Json& j) { j["iss"] = "cq"; }, false},
      // kid
      {"kid empty", [](Json& j) { j["kid"] = ""; }, false},
      {"kid 17", [](Json& j) { j["kid"] = std::string(17, 'k'); }, false},
      {"kid slash", [](Json& j) { j["kid"] = "../k1"; }, false},
      {"kid number", [](Json& j) { j["kid"] = 1; }, false},
      // tok
      {"tok 63", [](Json& j) { j["tok"] = std::string(63, 'a'); }, false},
      {"tok 65", [](Json& j) { j["tok"] = std::string(65, 'a'); }, false},
      {"tok upper", [](Json& j) { j["tok"] = std::string(64, 'A'); }, false},
      {"tok not hex", [](Json& j) { j["tok"] = std::string(64, 'g'); }, false},
      {"tok array", [](Json& j) { j["tok"] = {std::string(kSampleToken)}; }, false},
      // msk
      {"msk empty", [](Json& j) { j["msk"] = ""; }, false},
      {"msk lower", [](Json& j) { j["msk"] = "110105********002x"; }, false},
      {"msk 33", [](Json& j) { j["msk"] = std::string(33, '*'); }, false},
      // birth
      {"birth feb 30", [](Json& j) { j["birth"] = "19500230"; }, false},
      {"birth feb 29 1900", [](Json& j) { j["birth"] = "19000229"; }, false},
      {"birth dashes", [](Json& j) { j["birth"] = "1950-01-01"; }, false},
      {"birth zero", [](Json& j) { j["birth"] = "00000000"; }, false},
      {"birth 1899", [](Json& j) { j["birth"] = "18991231"; }, false},
      {"birth number", [](Json& j) { j["birth"] = 19500101; }, false},
      // attr / grp
      {"attr string", [](Json& j) { j["attr"] = "disabled"; }, false},
      {"attr number item", [](Json& j) { j["attr"] = {1}; }, false},
      {"grp empty item", [](Json& j) { j["grp"] = {""}; }, false},
      {"grp long item", [](Json& j) { j["grp"] = {std::string(33, 'g')}; }, false},
      {"grp 33 items", [](Json& j) { j["grp"] = std::vector<std::string>(33, "staff"); }, false},
      {"grp object", [](Json& j) { j["grp"] = Json::object(); }, false},
      // times
      {"iat float", [](Json& j) { j["iat"] = 1.5; }, false},
      {"iat string", [](Json& j) { j["iat"] = "1764388800000"; }, false},
      {"iat negative", [](Json& j) { j["iat"] = -1; }, false},
      {"exp before iat", [](Json& j) { j["exp"] = j["iat"].get<std::int64_t>() - 1; }, false},
      {"exp beyond int64", [](Json& j) { j["exp"] = 18'446'744'073'709'551'615ull; }, false},
      // nonce
      {"nonce 15", [](Json& j) { j["nonce"] = std::string(15, 'a'); }, false},
      {"nonce 33", [](Json& j) { j["nonce"] = std::string(33, 'a'); }, false},
      {"nonce not hex", [](Json& j) { j["nonce"] = std::string(16, 'z'); }, false},
  };
  for (const Mutation& m : cases) {
    Json j = base;
    m.apply(j);
    auto r = parse_qr(code_of(j.dump()));
    EXPECT_EQ(r.ok(), m.valid) << m.name << (r ? "" : ": " + r.error().message);
    if (!r) {
      EXPECT_EQ(r.error().code, "malformed") << m.name;
      EXPECT_EQ(r.error().message.find(kSampleToken), std::string::npos);
    }
  }
}

TEST(QrCode, ValidatePayloadMirrorsTheParser) {
  EXPECT_TRUE(validate_qr_payload(sample()));
  QrPayload p = sample();
  p.token = "short";
  EXPECT_FALSE(validate_qr_payload(p));
  p = sample();
  p.issuer = 100;
  EXPECT_FALSE(validate_qr_payload(p));
  p = sample();
  p.birth = {2023, 2, 29};
  EXPECT_FALSE(validate_qr_payload(p));
  p = sample();
  p.expires_ms = p.issued_ms - 1;
  EXPECT_FALSE(validate_qr_payload(p));
}

TEST(QrCode, SignQrJsonSignsTheDocumentedInput) {
  const std::string json = R"({"anything":true})";
  const std::string code = sign_qr_json(json, issuer_key());
  const std::size_t dot = code.rfind('.');
  ASSERT_NE(dot, std::string::npos);
  EXPECT_EQ(code.substr(0, dot), "YKT1." + base64url_encode(json));
  std::string sig;
  ASSERT_TRUE(base64url_decode(code.substr(dot + 1), sig));
  auto pub = issuer_key().public_key();
  ASSERT_TRUE(pub);
  EXPECT_TRUE(pub->verify(code.substr(0, dot), sig, "1234567812345678"));
}

}  // namespace
}  // namespace yktgw
