#pragma once
// The four credential decoders, built from config in one place. The composition root
// (gateway/app) calls make_decoders() once at start and hands decode() the parsed credential;
// a decoder whose expensive() is true belongs on the crypto worker pool.

#include <array>
#include <memory>
#include <string>

#include "gateway/config/config.h"
#include "gateway/core/result.h"
#include "gateway/crypto/card_tokenizer.h"
#include "gateway/interfaces/credential_decoder.h"

namespace yktgw {

class CredentialDecoders {
 public:
  CredentialDecoders() = default;
  CredentialDecoders(const CredentialDecoders&) = delete;
  CredentialDecoders& operator=(const CredentialDecoders&) = delete;

  // Installs `decoder` for its type(), replacing any earlier one.
  void set(std::unique_ptr<CredentialDecoder> decoder);

  // The decoder for `type`. After make_decoders() every type has one (a type that is not
  // configured declines with credential_not_supported); with none set, nullptr.
  const CredentialDecoder* find(CredentialType type) const;
  // find(type) or, where none is set, a decline with credential_not_supported.
  DecodedCredential decode(const Credential& credential, const DecodeContext& ctx) const;
  // True when `type`'s decoder should run on the crypto pool.
  bool expensive(CredentialType type) const;

  // One line for the start-up log, e.g.
  // "card mac_terminals=1; ecard_qr keys=50-k1,51-k1; ykm_qr keys=50-y1; other".
  std::string describe() const { return description_; }
  void set_description(std::string d) { description_ = std::move(d); }

 private:
  static constexpr std::size_t kTypes = 4;
  std::array<std::unique_ptr<CredentialDecoder>, kTypes> by_type_;
  std::string description_;
};

// Reads credentials.* and cardlist.groups: the terminal MAC key file, both issuer key
// directories. Errors name the file and the problem (never a key), for one clear start-up line.
// `tokenizer` must outlive the result.
Result<std::unique_ptr<CredentialDecoders>> make_decoders(const Config& config,
                                                          const CardTokenizer& tokenizer);

}  // namespace yktgw
