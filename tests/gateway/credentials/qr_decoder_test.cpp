#include "gateway/credentials/qr_decoder.h"

#include <gtest/gtest.h>

#include <atomic>
#include <cctype>
#include <cstdio>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "tests/gateway/credentials/test_support.h"

namespace yktgw {
namespace {

using testing::kNowMs;

constexpr UtcMillis kSkew = 5'000;
constexpr UtcMillis kMaxValidity = 120'000;

const Sm2PrivateKey& key50() {
  static const Sm2PrivateKey k = Sm2PrivateKey::generate().value();
  return k;
}
const Sm2PrivateKey& key51() {
  static const Sm2PrivateKey k = Sm2PrivateKey::generate().value();
  return k;
}

IssuerKeyRing ring() {
  IssuerKeyRing r;
  r.add(50, "k1", key50().public_key().value());
  r.add(51, "k1", key51().public_key().value());
  return r;
}

QrRules rules(std::size_t replay_entries = 10'000) {
  QrRules r;
  r.clock_skew_ms = kSkew;
  r.max_validity_ms = kMaxValidity;
  r.replay_cache_entries = replay_entries;
  return r;
}

std::string nonce(int i) {
  char buf[40];
  std::snprintf(buf, sizeof buf, "%016x%016x", 0x5eed, i);
  return buf;
}

QrPayload payload(int n = 1, IssuerRegion iss = 50) {
  QrPayload p;
  p.issuer = iss;
  p.kid = "k1";
  p.token = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";
  p.masked = "500156********1234";
  p.birth = {1950, 1, 1};
  p.attributes = {"disabled", "local"};
  p.groups = {"student", "no_such_group"};
  p.issued_ms = kNowMs;
  p.expires_ms = kNowMs + 60'000;
  p.nonce = nonce(n);
  return p;
}

Credential qr(const std::string& code, CredentialType type = CredentialType::ecard_qr) {
  Credential c;
  c.type = type;
  c.qr = code;
  return c;
}

class QrDecoderTest : public ::testing::Test {
 protected:
  QrDecoderTest()
      : decoder_(CredentialType::ecard_qr, ring(), GroupNames::parse(kDefaultGroupList).value(),
                 rules()) {}

  Reason reason(const std::string& code, UtcMillis now = kNowMs) const {
    return decode(code, now).reason;
  }
  DecodedCredential decode(const std::string& code, UtcMillis now = kNowMs) const {
    DecodeContext ctx;
    ctx.terminal = "gate-07";
    ctx.now_ms = now;
    return decoder_.decode(qr(code), ctx);
  }

  QrDecoder decoder_;
};

TEST_F(QrDecoderTest, ValidCodeGivesTheHolder) {
  const auto d = decode(mint_qr(payload(), key50()));
  ASSERT_EQ(d.reason, Reason::ok);
  EXPECT_EQ(d.holder.token, payload().token);
  EXPECT_EQ(d.holder.masked, "500156********1234");
  EXPECT_EQ(d.holder.region, 50);
  EXPECT_EQ(d.holder.birth, (BirthDate{1950, 1, 1}));
  // disabled, local, and "student" (second name of the default list); the unknown group is
  // skipped.
  EXPECT_EQ(d.holder.attributes, kAttrDisabled | kAttrLocalResident | (1u << (kFirstGroupBit + 1)));
  EXPECT_TRUE(decoder_.expensive());
  EXPECT_EQ(decoder_.type(), CredentialType::ecard_qr);
}

TEST_F(QrDecoderTest, EveryDeclineReason) {
  QrPayload long_lived = payload(10);
  long_lived.expires_ms = long_lived.issued_ms + kMaxValidity + 1;
  QrPayload unknown_region = payload(11, 52);
  QrPayload unknown_kid = payload(12);
  unknown_kid.kid = "k2";
  QrPayload future = payload(13);
  future.issued_ms = kNowMs + kSkew + 1;
  future.expires_ms = future.issued_ms + 60'000;
  QrPayload old = payload(14);
  old.issued_ms = kNowMs - 120'000;
  old.expires_ms = kNowMs - kSkew - 1;

  const std::string used = mint_qr(payload(15), key50());
  ASSERT_EQ(reason(used), Reason::ok);

  struct Case {
    const char* name;
    std::string code;
    Reason expected;
  };
  const Case cases[] = {
      {"empty", "", Reason::malformed_credential},
      {"garbage", "hello", Reason::malformed_credential},
      {"validity too long", mint_qr(long_lived, key50()), Reason::malformed_credential},
      {"unknown region", mint_qr(unknown_region, key50()), Reason::unknown_issuer},
      {"unknown kid", mint_qr(unknown_kid, key50()), Reason::unknown_issuer},
      {"signed by region 51 claiming 50", mint_qr(payload(16), key51()), Reason::bad_signature},
      {"not yet valid", mint_qr(future, key50()), Reason::not_yet_valid},
      {"expired", mint_qr(old, key50()), Reason::expired},
      {"replayed", used, Reason::replayed},
  };
  for (const auto& c : cases) EXPECT_EQ(reason(c.code), c.expected) << c.name;
}

TEST_F(QrDecoderTest, TamperedPayloadFailsTheSignature) {
  const std::string code = mint_qr(payload(20), key50());
  const std::string sig_b64 = code.substr(code.rfind('.') + 1);
  // Same signature, a payload whose holder became "local" only and got another token.
  QrPayload changed = payload(20);
  changed.token = std::string(64, 'f');
  const std::string forged = "YKT1." + base64url_encode(encode_qr_payload(changed)) + "." + sig_b64;
  EXPECT_EQ(reason(forged), Reason::bad_signature);
  // Flip one bit of the signature.
  std::string sig;
  ASSERT_TRUE(base64url_decode(sig_b64, sig));
  sig[sig.size() - 3] ^= 0x01;
  EXPECT_EQ(reason(code.substr(0, code.rfind('.') + 1) + base64url_encode(sig)),
            Reason::bad_signature);
  // The untouched code still works: the failures recorded nothing.
  EXPECT_EQ(reason(code), Reason::ok);
}

TEST_F(QrDecoderTest, MaxValidityBoundary) {
  QrPayload p = payload(30);
  p.expires_ms = p.issued_ms + kMaxValidity;
  EXPECT_EQ(reason(mint_qr(p, key50())), Reason::ok);
  p.nonce = nonce(31);
  p.expires_ms += 1;
  EXPECT_EQ(reason(mint_qr(p, key50())), Reason::malformed_credential);
}

TEST_F(QrDecoderTest, NotYetValidBoundary) {
  QrPayload p = payload(40);
  p.issued_ms = kNowMs + kSkew;  // exactly at the allowance: accepted
  p.expires_ms = p.issued_ms + 60'000;
  EXPECT_EQ(reason(mint_qr(p, key50())), Reason::ok);
  p.nonce = nonce(41);
  p.issued_ms = kNowMs + kSkew + 1;
  p.expires_ms = p.issued_ms + 60'000;
  EXPECT_EQ(reason(mint_qr(p, key50())), Reason::not_yet_valid);
}

TEST_F(QrDecoderTest, ExpiryBoundaryPlusMinusSkew) {
  const QrPayload p = payload(50);
  const std::string code = mint_qr(p, key50());
  // One past exp + skew: expired. Checked first, so the code is not yet recorded.
  EXPECT_EQ(reason(code, p.expires_ms + kSkew + 1), Reason::expired);
  // At exp + skew: still accepted.
  EXPECT_EQ(reason(code, p.expires_ms + kSkew), Reason::ok);
  // Used now; still held until exp + skew, then expired anyway.
  EXPECT_EQ(reason(code, p.expires_ms + kSkew), Reason::replayed);
  EXPECT_EQ(reason(code, p.expires_ms + kSkew + 1), Reason::expired);

  const QrPayload q = payload(51);
  const std::string early = mint_qr(q, key50());
  EXPECT_EQ(reason(early, q.issued_ms - kSkew - 1), Reason::not_yet_valid);
  EXPECT_EQ(reason(early, q.issued_ms - kSkew), Reason::ok);
}

TEST_F(QrDecoderTest, CodePresentedTooEarlyIsNotBurnt) {
  QrPayload p = payload(60);
  p.issued_ms = kNowMs + 10'000;
  p.expires_ms = p.issued_ms + 60'000;
  const std::string code = mint_qr(p, key50());
  EXPECT_EQ(reason(code, kNowMs), Reason::not_yet_valid);
  EXPECT_EQ(reason(code, kNowMs + 10'000), Reason::ok);
}

TEST_F(QrDecoderTest, ReplayKeyIsIssuerKidAndNonce) {
  // The same nonce from another issuer is another code.
  EXPECT_EQ(reason(mint_qr(payload(70, 50), key50())), Reason::ok);
  EXPECT_EQ(reason(mint_qr(payload(70, 51), key51())), Reason::ok);
  // The same nonce re-signed (different signature bytes, SM2 is randomised) is the same code.
  EXPECT_EQ(reason(mint_qr(payload(70, 50), key50())), Reason::replayed);
  // Case of the nonce does not make a new code.
  QrPayload upper = payload(71);
  EXPECT_EQ(reason(mint_qr(upper, key50())), Reason::ok);
  for (char& c : upper.nonce) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  EXPECT_EQ(reason(mint_qr(upper, key50())), Reason::replayed);
  EXPECT_EQ(replay_key(payload(72)), "50|k1|" + nonce(72));
}

TEST_F(QrDecoderTest, ReplayAcrossThreadsAdmitsExactlyOne) {
  constexpr int kThreads = 8;
  constexpr int kCodes = 20;
  std::vector<std::string> codes;
  codes.reserve(kCodes);
  for (int i = 0; i < kCodes; ++i) codes.push_back(mint_qr(payload(100 + i), key50()));
  std::atomic<int> ok{0};
  std::atomic<int> replayed{0};
  std::atomic<int> other{0};
  std::atomic<bool> go{false};
  std::vector<std::thread> threads;
  threads.reserve(kThreads);
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&] {
      while (!go.load()) std::this_thread::yield();
      for (const std::string& code : codes) {
        switch (reason(code)) {
          case Reason::ok:
            ++ok;
            break;
          case Reason::replayed:
            ++replayed;
            break;
          default:
            ++other;
            break;
        }
      }
    });
  }
  go = true;
  for (auto& t : threads) t.join();
  EXPECT_EQ(ok.load(), kCodes);
  EXPECT_EQ(replayed.load(), kCodes * (kThreads - 1));
  EXPECT_EQ(other.load(), 0);
  EXPECT_EQ(decoder_.replay_entries(), static_cast<std::size_t>(kCodes));
}

TEST(QrDecoderCache, FullCacheAnswersBusyAndRecovers) {
  QrDecoder small(CredentialType::ecard_qr, ring(), GroupNames{}, rules(2));
  DecodeContext ctx;
  ctx.now_ms = kNowMs;
  EXPECT_EQ(small.decode(qr(mint_qr(payload(1), key50())), ctx).reason, Reason::ok);
  EXPECT_EQ(small.decode(qr(mint_qr(payload(2), key50())), ctx).reason, Reason::ok);
  const std::string third = mint_qr(payload(3), key50());
  EXPECT_EQ(small.decode(qr(third), ctx).reason, Reason::busy);
  // The refused code was not burnt, and the ones held still count as used.
  EXPECT_EQ(small.decode(qr(mint_qr(payload(1), key50())), ctx).reason, Reason::replayed);
  // Once the first two expire, their room is free again. A fresh code issued later is accepted.
  QrPayload later = payload(4);
  later.issued_ms = kNowMs + 60'000 + kSkew + 1;
  later.expires_ms = later.issued_ms + 60'000;
  ctx.now_ms = later.issued_ms;
  EXPECT_EQ(small.decode(qr(mint_qr(later, key50())), ctx).reason, Reason::ok);
  EXPECT_EQ(small.replay_entries(), 1u);
}

TEST(QrDecoderGroups, GroupBitsFollowTheConfiguredOrder) {
  auto groups = GroupNames::parse("resident, staff");
  ASSERT_TRUE(groups);
  QrPayload p = payload();
  p.attributes = {"local", "veteran"};
  p.groups = {"staff", "student"};
  EXPECT_EQ(attributes_of(p, *groups), kAttrLocalResident | (1u << (kFirstGroupBit + 1)));
  p.attributes.clear();
  p.groups.clear();
  EXPECT_EQ(attributes_of(p, *groups), 0u);
}

TEST_F(QrDecoderTest, RandomBytesNeverCrashOrPass) {
  std::mt19937_64 rng(20251129);
  std::uniform_int_distribution<int> byte(0, 255);
  std::uniform_int_distribution<int> len(0, 600);
  for (int i = 0; i < 3000; ++i) {
    std::string s(static_cast<std::size_t>(len(rng)), '\0');
    for (char& c : s) c = static_cast<char>(byte(rng));
    if (i % 3 == 0) s = "YKT1." + s;                              // past the prefix check
    if (i % 3 == 1) s = "YKT1." + base64url_encode(s) + ".MEQC";  // past base64
    EXPECT_NE(reason(s), Reason::ok);
  }
  // Five kilobytes: above the size limit.
  EXPECT_EQ(reason(std::string(5000, 'A')), Reason::malformed_credential);
}

TEST_F(QrDecoderTest, MutatedCodesNeverPass) {
  const std::string code = mint_qr(payload(900), key50());
  ASSERT_EQ(reason(code), Reason::ok);
  // Every mutant keeps the nonce or breaks the signature, so after the original was used none
  // may pass, whatever part the mutation hit.
  std::mt19937_64 rng(7);
  std::uniform_int_distribution<std::size_t> pos(0, code.size() - 1);
  std::uniform_int_distribution<int> byte(0, 255);
  int decoded = 0;
  for (int i = 0; i < 1500; ++i) {
    std::string m = code;
    switch (i % 4) {
      case 0:
        m[pos(rng)] = static_cast<char>(byte(rng));
        break;
      case 1:
        m.erase(pos(rng), 1);
        break;
      case 2:
        m.insert(pos(rng), 1, static_cast<char>(byte(rng)));
        break;
      case 3:
        m.resize(pos(rng));
        break;
    }
    if (m == code) continue;
    ++decoded;
    EXPECT_NE(reason(m), Reason::ok) << m;
  }
  EXPECT_GT(decoded, 1000);
}

TEST(QrDecoderTypes, YkmInstanceKeepsItsOwnKeysAndCache) {
  IssuerKeyRing ykm_ring;
  const Sm2PrivateKey ykm_key = Sm2PrivateKey::generate().value();
  ykm_ring.add(50, "y1", ykm_key.public_key().value());
  QrDecoder ecard(CredentialType::ecard_qr, ring(), GroupNames{}, rules());
  QrDecoder ykm(CredentialType::ykm_qr, std::move(ykm_ring), GroupNames{}, rules());
  EXPECT_EQ(ykm.type(), CredentialType::ykm_qr);
  DecodeContext ctx;
  ctx.now_ms = kNowMs;
  QrPayload y = payload(5);
  y.kid = "y1";
  const std::string ykm_code = mint_qr(y, ykm_key);
  const std::string ecard_code = mint_qr(payload(5), key50());
  EXPECT_EQ(ykm.decode(qr(ecard_code, CredentialType::ykm_qr), ctx).reason, Reason::unknown_issuer);
  EXPECT_EQ(ecard.decode(qr(ykm_code), ctx).reason, Reason::unknown_issuer);
  EXPECT_EQ(ykm.decode(qr(ykm_code, CredentialType::ykm_qr), ctx).reason, Reason::ok);
  EXPECT_EQ(ecard.decode(qr(ecard_code), ctx).reason, Reason::ok);
}

// docs/qr-code.md shows how to mint a code with nothing but the openssl CLI; a terminal vendor
// or test team may do exactly that, so the gateway must accept what it makes.
TEST(QrDecoderInterop, CodeMintedWithTheOpensslCliIsAccepted) {
  if (!testing::have_openssl_cli()) GTEST_SKIP() << "no openssl CLI";
  const std::string dev = std::string(YKTGW_SOURCE_DIR) + "/config/dev-keys/ecard/50-k1";
  testing::TempDir dir;
  const std::string script = dir.write("mint.sh", R"sh(set -e
b64url() { openssl base64 -A | tr '+/' '-_' | tr -d '='; }
payload='{"v":1,"iss":"50","kid":"k1","tok":"0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef","msk":"500156********1234","grp":["staff"],"iat":1764388800000,"exp":1764388860000,"nonce":"9f8e7d6c5b4a3928"}'
signed="YKT1.$(printf '%s' "$payload" | b64url)"
sig=$(printf '%s' "$signed" | openssl pkeyutl -sign -rawin -digest sm3 -inkey "$1.key.pem" -pkeyopt distid:1234567812345678 | b64url)
printf '%s.%s' "$signed" "$sig"
)sh");
  const std::string out = dir.file("code.txt");
  ASSERT_EQ(std::system(("sh " + script + " " + dev + " > " + out).c_str()), 0);
  const std::string code = testing::read_file(out);
  IssuerKeyRing keys;
  keys.add(50, "k1", Sm2PublicKey::from_pem_file(dev + ".pub.pem").value());
  QrDecoder decoder(CredentialType::ecard_qr, std::move(keys),
                    GroupNames::parse(kDefaultGroupList).value(), rules());
  DecodeContext ctx;
  ctx.now_ms = kNowMs;
  const auto d = decoder.decode(qr(code), ctx);
  EXPECT_EQ(d.reason, Reason::ok) << code;
  EXPECT_EQ(d.holder.attributes, HolderAttributes{1} << kFirstGroupBit);
}

// The example code in docs/qr-code.md is real: signed with the dev key ecard/50-k1.
TEST(QrDecoderInterop, DocumentedExampleVerifies) {
  const std::string doc = testing::read_file(std::string(YKTGW_SOURCE_DIR) + "/docs/qr-code.md");
  const std::string marker = "<!-- example: qr -->";
  const std::size_t at = doc.find(marker);
  ASSERT_NE(at, std::string::npos) << "docs/qr-code.md lost its example";
  const std::size_t start = doc.find("YKT1.", at);
  ASSERT_NE(start, std::string::npos);
  const std::size_t end = doc.find_first_of("\n`", start);
  const std::string code = doc.substr(start, end - start);
  IssuerKeyRing keys;
  keys.add(50, "k1",
           Sm2PublicKey::from_pem_file(std::string(YKTGW_SOURCE_DIR) +
                                       "/config/dev-keys/ecard/50-k1.pub.pem")
               .value());
  QrDecoder decoder(CredentialType::ecard_qr, std::move(keys),
                    GroupNames::parse(kDefaultGroupList).value(), rules());
  auto parsed = parse_qr(code);
  ASSERT_TRUE(parsed) << parsed.error().message;
  DecodeContext ctx;
  ctx.now_ms = parsed->payload.issued_ms;
  const auto d = decoder.decode(qr(code), ctx);
  EXPECT_EQ(d.reason, Reason::ok);
  EXPECT_EQ(d.holder.attributes,
            kAttrDisabled | kAttrLocalResident | (HolderAttributes{1} << kFirstGroupBit));
}

}  // namespace
}  // namespace yktgw
