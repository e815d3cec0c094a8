#include "gateway/credentials/decoders.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "gateway/credentials/qr_code.h"
#include "gateway/credentials/terminal_mac.h"
#include "tests/gateway/credentials/test_support.h"

namespace yktgw {
namespace {

namespace fs = std::filesystem;
using testing::kNowMs;
using testing::TempDir;

fs::path source_dir() { return YKTGW_SOURCE_DIR; }
fs::path dev_keys() { return source_dir() / "config" / "dev-keys"; }

constexpr const char* kMinimal =
    "[gateway]\nid = \"gw-1\"\nsite = \"xiangkou\"\n"
    "[security]\nhmac_key_file = \"/etc/yktgw/hmac.key\"\n";

CardTokenizer tokenizer() { return CardTokenizer::create(std::string(32, 'k')).value(); }

Config config_with(const std::vector<std::string>& overrides) {
  auto c = parse_config(kMinimal, "test.toml", overrides, "/etc/yktgw");
  EXPECT_TRUE(c) << (c ? "" : c.error().message);
  return c ? std::move(c).value() : Config{};
}

// The repository's MAC key file is checked out with the mode git gives it; a private copy
// stands in for it, as an installation would make one.
std::string private_copy_of_mac_keys(const TempDir& dir) {
  return dir.write("terminal-mac.keys",
                   testing::read_file((dev_keys() / "terminal-mac.keys").string()), 0600);
}

QrPayload payload(IssuerRegion iss, const std::string& kid, int n) {
  QrPayload p;
  p.issuer = iss;
  p.kid = kid;
  p.token = std::string(64, 'c');
  p.masked = "500156********1234";
  p.groups = {"site_worker"};
  p.issued_ms = kNowMs;
  p.expires_ms = kNowMs + 60'000;
  p.nonce = "abcdef0123456789" + std::to_string(1000 + n);
  return p;
}

Sm2PrivateKey dev_private(const std::string& rel) {
  auto k = Sm2PrivateKey::from_pem_file((dev_keys() / rel).string());
  EXPECT_TRUE(k) << rel;
  return std::move(k).value();
}

DecodeContext at_now() {
  DecodeContext ctx;
  ctx.terminal = "ct-0001";
  ctx.now_ms = kNowMs;
  return ctx;
}

Credential qr(CredentialType type, std::string code) {
  Credential c;
  c.type = type;
  c.qr = std::move(code);
  return c;
}

TEST(DevKeys, PublicFilesMatchTheirPrivateKeys) {
  for (const char* name : {"ecard/50-k1", "ecard/51-k1", "ykm/50-y1"}) {
    SCOPED_TRACE(name);
    const auto priv = dev_private(std::string(name) + ".key.pem");
    auto pub =
        Sm2PublicKey::from_pem_file((dev_keys() / (std::string(name) + ".pub.pem")).string());
    ASSERT_TRUE(pub) << pub.error().message;
    EXPECT_TRUE(pub->verify("m", priv.sign("m")));
  }
}

TEST(DevKeys, MacKeyFileHasTheExampleTerminal) {
  TempDir dir;
  auto keys = TerminalMacKeys::from_file(private_copy_of_mac_keys(dir));
  ASSERT_TRUE(keys) << keys.error().message;
  EXPECT_TRUE(keys->has_key("ct-0001"));
}

TEST(MakeDecoders, FromTheExampleConfig) {
  TempDir dir;
  auto config =
      load_config((source_dir() / "config" / "yktgw.toml").string(),
                  {"credentials.terminal_mac_keys_file=" + private_copy_of_mac_keys(dir)});
  ASSERT_TRUE(config) << config.error().message;
  EXPECT_EQ(config->credentials.ecard_key_dir, (dev_keys() / "ecard").lexically_normal().string());
  const CardTokenizer tok = tokenizer();
  auto decoders = make_decoders(*config, tok);
  ASSERT_TRUE(decoders) << decoders.error().message;
  const CredentialDecoders& d = **decoders;
  EXPECT_EQ(d.describe(),
            "card mac_terminals=1; ecard_qr keys=50-k1,51-k1; ykm_qr keys=50-y1; other");

  for (CredentialType t : {CredentialType::card, CredentialType::ecard_qr, CredentialType::ykm_qr,
                           CredentialType::other}) {
    ASSERT_NE(d.find(t), nullptr);
    EXPECT_EQ(d.find(t)->type(), t);
  }
  EXPECT_FALSE(d.expensive(CredentialType::card));
  EXPECT_TRUE(d.expensive(CredentialType::ecard_qr));
  EXPECT_TRUE(d.expensive(CredentialType::ykm_qr));
  EXPECT_FALSE(d.expensive(CredentialType::other));

  const auto k50 = dev_private("ecard/50-k1.key.pem");
  const auto k51 = dev_private("ecard/51-k1.key.pem");
  const auto y50 = dev_private("ykm/50-y1.key.pem");
  const DecodeContext ctx = at_now();

  const auto ecard =
      d.decode(qr(CredentialType::ecard_qr, mint_qr(payload(50, "k1", 1), k50)), ctx);
  EXPECT_EQ(ecard.reason, Reason::ok);
  EXPECT_EQ(ecard.holder.region, 50);
  EXPECT_EQ(ecard.holder.attributes, HolderAttributes{1} << (kFirstGroupBit + 2));
  EXPECT_EQ(d.decode(qr(CredentialType::ecard_qr, mint_qr(payload(51, "k1", 2), k51)), ctx).reason,
            Reason::ok);
  EXPECT_EQ(d.decode(qr(CredentialType::ykm_qr, mint_qr(payload(50, "y1", 3), y50)), ctx).reason,
            Reason::ok);
  // An ecard key does not open the ykm door, nor the other way round.
  EXPECT_EQ(d.decode(qr(CredentialType::ykm_qr, mint_qr(payload(50, "k1", 4), k50)), ctx).reason,
            Reason::unknown_issuer);
  EXPECT_EQ(d.decode(qr(CredentialType::ecard_qr, mint_qr(payload(50, "y1", 5), y50)), ctx).reason,
            Reason::unknown_issuer);

  Credential card;
  card.type = CredentialType::card;
  card.card_no = "500156195301011239";
  const auto c = d.decode(card, ctx);
  EXPECT_EQ(c.reason, Reason::ok);
  EXPECT_EQ(c.holder.token, tok.token("500156195301011239"));

  Credential cash;
  cash.type = CredentialType::other;
  cash.method = "cash";
  EXPECT_EQ(d.decode(cash, ctx), DecodedCredential{});
  cash.method.clear();
  EXPECT_EQ(d.decode(cash, ctx).reason, Reason::missing_field);
}

TEST(MakeDecoders, DefaultsAcceptNoQrCodesAndNeedNoFiles) {
  const Config config = config_with({});
  EXPECT_TRUE(config.credentials.ecard_key_dir.empty());
  EXPECT_EQ(config.credentials.qr_clock_skew_ms, 5000);
  EXPECT_EQ(config.credentials.qr_max_validity_ms, 120000);
  EXPECT_EQ(config.credentials.replay_cache_entries, 500000);
  EXPECT_EQ(config.cardlist.groups, "staff,student,site_worker,resident");
  const CardTokenizer tok = tokenizer();
  auto decoders = make_decoders(config, tok);
  ASSERT_TRUE(decoders) << decoders.error().message;
  const CredentialDecoders& d = **decoders;
  EXPECT_EQ(d.describe(),
            "card mac_terminals=0; ecard_qr not configured; ykm_qr not configured; other");
  const auto k50 = dev_private("ecard/50-k1.key.pem");
  for (CredentialType t : {CredentialType::ecard_qr, CredentialType::ykm_qr}) {
    EXPECT_EQ(d.decode(qr(t, mint_qr(payload(50, "k1", 1), k50)), at_now()).reason,
              Reason::credential_not_supported);
    EXPECT_FALSE(d.expensive(t));
  }
  // No MAC keys: an optional MAC that is absent is fine, a sent one cannot be checked.
  Credential card;
  card.type = CredentialType::card;
  card.card_no = "500156195301011239";
  EXPECT_EQ(d.decode(card, at_now()).reason, Reason::ok);
  card.mac = std::string(64, 'a');
  EXPECT_EQ(d.decode(card, at_now()).reason, Reason::bad_mac);
}

TEST(MakeDecoders, RulesComeFromConfig) {
  const Config config =
      config_with({"credentials.ecard_key_dir=" + (dev_keys() / "ecard").string(),
                   "credentials.qr_clock_skew_ms=0", "credentials.qr_max_validity_ms=30000",
                   "credentials.replay_cache_entries=1000"});
  const CardTokenizer tok = tokenizer();
  auto decoders = make_decoders(config, tok);
  ASSERT_TRUE(decoders) << decoders.error().message;
  const auto k50 = dev_private("ecard/50-k1.key.pem");
  QrPayload p = payload(50, "k1", 1);
  p.expires_ms = p.issued_ms + 30'001;
  EXPECT_EQ((*decoders)->decode(qr(CredentialType::ecard_qr, mint_qr(p, k50)), at_now()).reason,
            Reason::malformed_credential);
  p.expires_ms = kNowMs - 1;  // zero skew: one millisecond late is expired
  p.issued_ms = kNowMs - 10'000;
  EXPECT_EQ((*decoders)->decode(qr(CredentialType::ecard_qr, mint_qr(p, k50)), at_now()).reason,
            Reason::expired);
}

TEST(MakeDecoders, StartUpErrors) {
  TempDir dir;
  const CardTokenizer tok = tokenizer();
  struct Case {
    const char* name;
    std::vector<std::string> overrides;
    const char* message_part;
  };
  const std::string line = "ct-0001 00112233445566778899aabbccddeeff\n";
  const Case cases[] = {
      {"missing key dir", {"credentials.ecard_key_dir=" + dir.file("absent")}, "does not exist"},
      {"missing ykm dir", {"credentials.ykm_key_dir=" + dir.file("absent")}, "does not exist"},
      {"bad key file",
       {"credentials.ykm_key_dir=" +
        fs::path(dir.write("bad/50-y1.pub.pem", "junk")).parent_path().string()},
       "50-y1.pub.pem"},
      {"mac file readable by others",
       {"credentials.terminal_mac_keys_file=" + dir.write("open.keys", line, 0644)},
       "chmod 600"},
      {"mac file missing",
       {"credentials.terminal_mac_keys_file=" + dir.file("none.keys")},
       "cannot read"},
      {"bad groups", {"cardlist.groups=staff,Staff"}, "cardlist.groups"},
  };
  for (const auto& c : cases) {
    auto decoders = make_decoders(config_with(c.overrides), tok);
    ASSERT_FALSE(decoders) << c.name;
    EXPECT_NE(decoders.error().message.find(c.message_part), std::string::npos)
        << c.name << ": " << decoders.error().message;
  }
}

TEST(CredentialDecoders, EmptyRegistryDeclinesAsNotSupported) {
  CredentialDecoders d;
  EXPECT_EQ(d.find(CredentialType::card), nullptr);
  Credential c;
  EXPECT_EQ(d.decode(c, at_now()).reason, Reason::credential_not_supported);
  EXPECT_FALSE(d.expensive(CredentialType::ecard_qr));
}

}  // namespace
}  // namespace yktgw
