#include "terminals_sim/sim/qr_minter.h"

#include <filesystem>

#include "gateway/credentials/qr_code.h"
#include "gateway/crypto/card_tokenizer.h"
#include "gateway/crypto/sm2.h"

namespace yktgw::sim {
namespace {

constexpr std::string_view kKeySuffix = ".key.pem";

// "50-k1.key.pem" -> (50, "k1").
std::optional<std::pair<int, std::string>> key_name(const std::string& file) {
  if (!file.ends_with(kKeySuffix)) return std::nullopt;
  const std::string stem = file.substr(0, file.size() - kKeySuffix.size());
  const auto dash = stem.find('-');
  if (dash != 2 || stem.size() <= 3) return std::nullopt;
  if (stem[0] < '0' || stem[0] > '9' || stem[1] < '0' || stem[1] > '9') return std::nullopt;
  return std::make_pair((stem[0] - '0') * 10 + (stem[1] - '0'), stem.substr(3));
}

std::string hex64(std::uint64_t v) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string out(16, '0');
  for (int i = 15; i >= 0; --i, v >>= 4) out[static_cast<std::size_t>(i)] = kDigits[v & 0xF];
  return out;
}

}  // namespace

QrMinter::~QrMinter() = default;

Result<std::unique_ptr<QrMinter>> QrMinter::open(const std::string& hmac_key_file,
                                                 const std::string& ecard_key_dir,
                                                 const std::string& ykm_key_dir) {
  std::unique_ptr<QrMinter> m(new QrMinter());
  auto tokenizer = CardTokenizer::from_key_file(hmac_key_file);
  if (!tokenizer) return make_error("qr_keys", "--hmac-key-file: " + tokenizer.error().message);
  m->tokenizer_ = std::make_unique<CardTokenizer>(std::move(*tokenizer));
  const std::pair<CredentialType, std::string> dirs[] = {{CredentialType::ecard_qr, ecard_key_dir},
                                                         {CredentialType::ykm_qr, ykm_key_dir}};
  for (const auto& [type, dir] : dirs) {
    if (dir.empty()) continue;
    std::error_code ec;
    std::filesystem::directory_iterator it(dir, ec);
    if (ec) return make_error("qr_keys", "cannot read key directory " + dir + ": " + ec.message());
    for (const auto& entry : it) {
      const auto name = key_name(entry.path().filename().string());
      if (!name) continue;
      auto key = Sm2PrivateKey::from_pem_file(entry.path().string());
      if (!key) {
        return make_error("qr_keys", entry.path().string() + ": " + key.error().message);
      }
      m->keys_[{type, name->first}] =
          Key{name->second, std::make_unique<Sm2PrivateKey>(std::move(*key))};
    }
  }
  return m;
}

bool QrMinter::can_mint(CredentialType type, const Card& card) const {
  return keys_.contains({type, static_cast<int>(issuer_region(card.card_no))});
}

std::string QrMinter::mint(CredentialType type, const Card& card, UtcMillis now_ms,
                           std::mt19937_64& rng, std::int64_t valid_ms) const {
  const int region = issuer_region(card.card_no);
  const auto it = keys_.find({type, region});
  if (it == keys_.end()) return {};
  QrPayload p;
  p.issuer = static_cast<IssuerRegion>(region);
  p.kid = it->second.kid;
  p.token = tokenizer_->token(card.card_no);
  p.masked = mask_card_number(card.card_no);
  p.birth = holder_birth(card.card_no);
  if ((card.attributes & kAttrDisabled) != 0) p.attributes.push_back("disabled");
  if ((card.attributes & kAttrLocalResident) != 0) p.attributes.push_back("local");
  const auto& groups = holder_groups();
  for (std::size_t i = 0; i < groups.size(); ++i) {
    if ((card.attributes & (HolderAttributes{1} << (kFirstGroupBit + static_cast<int>(i)))) != 0) {
      p.groups.push_back(groups[i]);
    }
  }
  p.issued_ms = now_ms;
  p.expires_ms = now_ms + valid_ms;
  // Random, and a counter so that two codes of one run can never share a nonce (replayed).
  p.nonce = hex64(rng()) + hex64(++minted_);
  return mint_qr(p, *it->second.key);
}

}  // namespace yktgw::sim
