#include "gateway/credentials/decoders.h"

#include <string_view>
#include <utility>

#include "gateway/credentials/card_decoder.h"
#include "gateway/credentials/group_names.h"
#include "gateway/credentials/issuer_keys.h"
#include "gateway/credentials/other_decoder.h"
#include "gateway/credentials/qr_decoder.h"
#include "gateway/credentials/terminal_mac.h"

namespace yktgw {
namespace {

std::size_t index_of(CredentialType t) { return static_cast<std::size_t>(t); }

// A QR decoder for `type`, or the unsupported stand-in when no key directory is configured.
// Errors name `key`, the config key of the directory, and where it was set.
Result<std::unique_ptr<CredentialDecoder>> make_qr_decoder(
    const Config& config, std::string_view key, CredentialType type, const std::string& key_dir,
    const GroupNames& groups, const QrRules& rules, std::string& description) {
  description += "; ";
  description += to_string(type);
  if (key_dir.empty()) {
    description += " not configured";
    return std::unique_ptr<CredentialDecoder>(std::make_unique<UnsupportedDecoder>(type));
  }
  auto keys = IssuerKeyRing::from_dir(key_dir);
  if (!keys) return in_key(config, key, keys.error());
  description += " keys=" + (keys->size() == 0 ? std::string("none") : keys->describe());
  return std::unique_ptr<CredentialDecoder>(
      std::make_unique<QrDecoder>(type, std::move(keys.value()), groups, rules));
}

}  // namespace

void CredentialDecoders::set(std::unique_ptr<CredentialDecoder> decoder) {
  if (!decoder) return;
  const std::size_t i = index_of(decoder->type());
  if (i < kTypes) by_type_[i] = std::move(decoder);
}

const CredentialDecoder* CredentialDecoders::find(CredentialType type) const {
  const std::size_t i = index_of(type);
  return i < kTypes ? by_type_[i].get() : nullptr;
}

DecodedCredential CredentialDecoders::decode(const Credential& credential,
                                             const DecodeContext& ctx) const {
  if (const CredentialDecoder* d = find(credential.type)) return d->decode(credential, ctx);
  DecodedCredential out;
  out.reason = Reason::credential_not_supported;
  return out;
}

bool CredentialDecoders::expensive(CredentialType type) const {
  const CredentialDecoder* d = find(type);
  return d != nullptr && d->expensive();
}

Result<std::unique_ptr<CredentialDecoders>> make_decoders(const Config& config,
                                                          const CardTokenizer& tokenizer) {
  const CredentialsConfig& c = config.credentials;
  auto groups = GroupNames::parse(config.cardlist.groups);
  if (!groups) return in_key(config, "cardlist.groups", groups.error());

  TerminalMacKeys mac_keys;
  if (!c.terminal_mac_keys_file.empty()) {
    auto loaded = TerminalMacKeys::from_file(c.terminal_mac_keys_file);
    if (!loaded) return in_key(config, "credentials.terminal_mac_keys_file", loaded.error());
    mac_keys = std::move(loaded.value());
  }

  auto decoders = std::make_unique<CredentialDecoders>();
  std::string description = "card mac_terminals=" + std::to_string(mac_keys.size());
  decoders->set(std::make_unique<CardDecoder>(tokenizer, std::move(mac_keys)));

  QrRules rules;
  rules.clock_skew_ms = c.qr_clock_skew_ms;
  rules.max_validity_ms = c.qr_max_validity_ms;
  rules.replay_cache_entries = static_cast<std::size_t>(c.replay_cache_entries);
  auto ecard = make_qr_decoder(config, "credentials.ecard_key_dir", CredentialType::ecard_qr,
                               c.ecard_key_dir, *groups, rules, description);
  if (!ecard) return ecard.error();
  decoders->set(std::move(ecard.value()));
  auto ykm = make_qr_decoder(config, "credentials.ykm_key_dir", CredentialType::ykm_qr,
                             c.ykm_key_dir, *groups, rules, description);
  if (!ykm) return ykm.error();
  decoders->set(std::move(ykm.value()));

  decoders->set(std::make_unique<OtherDecoder>());
  decoders->set_description(description + "; other");
  return decoders;
}

}  // namespace yktgw
