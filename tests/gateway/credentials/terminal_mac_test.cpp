#include "gateway/credentials/terminal_mac.h"

#include <gtest/gtest.h>

#include <cctype>
#include <string>

#include "tests/gateway/credentials/test_support.h"

namespace yktgw {
namespace {

using testing::TempDir;

constexpr const char* kKeyHex = "00112233445566778899aabbccddeeff";

std::string raw(const std::string& hex) {
  std::string out;
  EXPECT_TRUE(decode_hex(hex, out));
  return out;
}

AuthRequest sample_request() {
  AuthRequest r;
  r.req_id = "ct-0001-20240611-000481";
  r.terminal = "ct-0001";
  r.scenario = "canteen";
  r.ts_ms = 1'718'076'600'000;
  r.credential.type = CredentialType::card;
  r.credential.card_no = "500156195301011239";
  r.amount_fen = 1200;
  return r;
}

TerminalMacKeys keys_with_ct0001() {
  TerminalMacKeys keys;
  EXPECT_TRUE(keys.add("ct-0001", raw(kKeyHex)).ok());
  return keys;
}

TEST(MacCanonicalForm, JoinsTheFieldsWithBars) {
  EXPECT_EQ(mac_canonical_form(sample_request()),
            "1|ct-0001-20240611-000481|ct-0001|canteen|1718076600000|card|500156195301011239|1200");
  AuthRequest qr = sample_request();
  qr.credential = Credential{};
  qr.credential.type = CredentialType::ecard_qr;
  qr.credential.qr = "YKT1.x.y";
  qr.amount_fen = 0;
  EXPECT_EQ(mac_canonical_form(qr),
            "1|ct-0001-20240611-000481|ct-0001|canteen|1718076600000|ecard_qr||0");
}

TEST(MacCanonicalForm, EscapesBarsAndBackslashesSoFieldsCannotShift) {
  AuthRequest a = sample_request();
  a.req_id = "r|ct-0001";
  a.terminal = "x";
  AuthRequest b = sample_request();
  b.req_id = "r";
  b.terminal = "ct-0001|x";
  EXPECT_NE(mac_canonical_form(a), mac_canonical_form(b));
  AuthRequest c = sample_request();
  c.req_id = "a\\|b";
  EXPECT_EQ(mac_canonical_form(c).substr(0, 9), "1|a\\\\\\|b|");
}

TEST(TerminalMac, MatchesTheOpensslCli) {
  if (!testing::have_openssl_cli()) GTEST_SKIP() << "no openssl CLI";
  TempDir dir;
  const std::string canonical = mac_canonical_form(sample_request());
  const std::string in = dir.write("in", canonical);
  const std::string out = dir.file("out");
  ASSERT_EQ(testing::run("openssl mac -digest SM3 -macopt hexkey:" + std::string(kKeyHex) +
                         " -in " + in + " -out " + out + " HMAC"),
            0);
  std::string cli = testing::read_file(out);
  while (!cli.empty() && std::isspace(static_cast<unsigned char>(cli.back()))) cli.pop_back();
  for (char& c : cli) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  EXPECT_EQ(terminal_mac_hex(raw(kKeyHex), canonical), cli);
  EXPECT_EQ(keys_with_ct0001().compute("ct-0001", canonical), cli);
}

TEST(TerminalMac, KnownAnswer) {
  // `printf abc | openssl mac -digest SM3 -macopt hexkey:00112233445566778899aabbccddeeff HMAC`
  EXPECT_EQ(terminal_mac_hex(raw(kKeyHex), "abc"),
            "0933617a88d312f6f9fb4b5f200e31a64d655e92f7fa2a43f55dfeeb8ab6788d");
}

TEST(TerminalMac, CheckVerdicts) {
  const TerminalMacKeys keys = keys_with_ct0001();
  const std::string canonical = mac_canonical_form(sample_request());
  const std::string good = keys.compute("ct-0001", canonical);
  ASSERT_EQ(good.size(), 64u);
  std::string upper = good;
  for (char& c : upper) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  std::string flipped_last = good;
  flipped_last.back() = flipped_last.back() == '0' ? '1' : '0';
  std::string flipped_first = good;
  flipped_first.front() = flipped_first.front() == '0' ? '1' : '0';
  AuthRequest changed_amount = sample_request();
  changed_amount.amount_fen = 1;

  struct Case {
    const char* name;
    std::string terminal;
    std::string canonical;
    std::string mac;
    bool required;
    Reason expected;
  };
  const Case cases[] = {
      {"good", "ct-0001", canonical, good, false, Reason::ok},
      {"good, required", "ct-0001", canonical, good, true, Reason::ok},
      {"upper-case hex", "ct-0001", canonical, upper, true, Reason::ok},
      {"absent, optional", "ct-0001", canonical, "", false, Reason::ok},
      {"absent, required", "ct-0001", canonical, "", true, Reason::mac_required},
      {"absent, required, no key", "ct-0404", canonical, "", true, Reason::mac_required},
      {"absent, optional, no key", "ct-0404", canonical, "", false, Reason::ok},
      {"last digit wrong", "ct-0001", canonical, flipped_last, false, Reason::bad_mac},
      {"first digit wrong", "ct-0001", canonical, flipped_first, false, Reason::bad_mac},
      {"amount changed", "ct-0001", mac_canonical_form(changed_amount), good, false,
       Reason::bad_mac},
      {"truncated", "ct-0001", canonical, good.substr(0, 62), false, Reason::bad_mac},
      {"too long", "ct-0001", canonical, good + "00", false, Reason::bad_mac},
      {"not hex", "ct-0001", canonical, std::string(64, 'g'), false, Reason::bad_mac},
      {"control bytes folding onto digits", "ct-0001", canonical, std::string(64, '\x10'), false,
       Reason::bad_mac},
      {"terminal has no key", "ct-0404", canonical, good, false, Reason::bad_mac},
      {"another terminal's MAC", "ct-0002", canonical, good, false, Reason::bad_mac},
  };
  for (const auto& c : cases) {
    EXPECT_EQ(keys.check(c.terminal, c.canonical, c.mac, c.required), c.expected) << c.name;
  }
}

TEST(TerminalMacKeys, ParsesTheFileFormat) {
  const std::string text =
      "# 终端报文校验码密钥 / terminal MAC keys\n"
      "\n"
      "ct-0001 00112233445566778899aabbccddeeff   # canteen POS\n"
      "\tgate-07\t00112233445566778899AABBCCDDEEFF0011\r\n"
      "   # indented comment\n"
      "bus.12_a 000102030405060708090a0b0c0d0e0f";  // no final newline
  auto keys = TerminalMacKeys::parse(text, "keys.txt");
  ASSERT_TRUE(keys) << keys.error().message;
  EXPECT_EQ(keys->size(), 3u);
  EXPECT_TRUE(keys->has_key("ct-0001"));
  EXPECT_TRUE(keys->has_key("gate-07"));
  EXPECT_TRUE(keys->has_key("bus.12_a"));
  EXPECT_FALSE(keys->has_key("ct-0002"));
  EXPECT_EQ(keys->compute("ct-0001", "abc"),
            "0933617a88d312f6f9fb4b5f200e31a64d655e92f7fa2a43f55dfeeb8ab6788d");
}

TEST(TerminalMacKeys, RefusesBadLinesWithoutEchoingKeys) {
  struct Case {
    const char* text;
    const char* message_part;
  };
  const Case cases[] = {
      {"ct-0001\n", "keys.txt:1: expected 'terminal_id hex_key'"},
      {"ct-0001 00112233445566778899aabbccddeeff extra\n", "keys.txt:1: expected"},
      {"\nct/0001 00112233445566778899aabbccddeeff\n", "keys.txt:2: terminal id"},
      {"ct-0001 00112233445566778899aabbccddeef\n", "keys.txt:1: key must be an even number"},
      {"ct-0001 00112233445566778899aabbccddeezz\n", "keys.txt:1: key must be an even number"},
      {"ct-0001 00112233445566778899aabbccddee\n", "keys.txt:1: key must be at least 32"},
      {"ct-0001 00112233445566778899aabbccddeeff\nct-0001 00112233445566778899aabbccddeeff\n",
       "keys.txt:2: terminal ct-0001 listed twice"},
  };
  for (const auto& c : cases) {
    auto keys = TerminalMacKeys::parse(c.text, "keys.txt");
    ASSERT_FALSE(keys) << c.text;
    EXPECT_EQ(keys.error().code, "mac_key");
    EXPECT_NE(keys.error().message.find(c.message_part), std::string::npos) << keys.error().message;
    EXPECT_EQ(keys.error().message.find("00112233445566778899"), std::string::npos)
        << "a key leaked into: " << keys.error().message;
  }
}

TEST(TerminalMacKeys, FileMustBePrivate) {
  TempDir dir;
  const std::string line = "ct-0001 00112233445566778899aabbccddeeff\n";
  auto ok = TerminalMacKeys::from_file(dir.write("ok.keys", line, 0600));
  ASSERT_TRUE(ok) << ok.error().message;
  EXPECT_EQ(ok->size(), 1u);
  EXPECT_TRUE(TerminalMacKeys::from_file(dir.write("ro.keys", line, 0400)));
  for (mode_t mode : {0640, 0604, 0644, 0660}) {
    auto bad = TerminalMacKeys::from_file(dir.write("open.keys", line, mode));
    ASSERT_FALSE(bad) << mode;
    EXPECT_NE(bad.error().message.find("chmod 600"), std::string::npos);
  }
  auto missing = TerminalMacKeys::from_file(dir.file("absent.keys"));
  ASSERT_FALSE(missing);
  EXPECT_NE(missing.error().message.find("cannot read"), std::string::npos);
}

TEST(TerminalMacKeys, AddRefusesShortKeysAndBadIds) {
  TerminalMacKeys keys;
  EXPECT_FALSE(keys.add("ct-0001", std::string(15, 'k')));
  EXPECT_FALSE(keys.add("", std::string(16, 'k')));
  EXPECT_FALSE(keys.add(std::string(65, 'a'), std::string(16, 'k')));
  EXPECT_TRUE(keys.add(std::string(64, 'a'), std::string(16, 'k')));
  EXPECT_EQ(keys.size(), 1u);
}

TEST(DecodeHex, EvenLengthOnly) {
  std::string out;
  EXPECT_TRUE(decode_hex("00ff7F", out));
  EXPECT_EQ(out, std::string("\x00\xff\x7f", 3));
  EXPECT_FALSE(decode_hex("0", out));
  EXPECT_FALSE(decode_hex("0g", out));
  EXPECT_TRUE(decode_hex("", out));
  EXPECT_TRUE(out.empty());
}

}  // namespace
}  // namespace yktgw
