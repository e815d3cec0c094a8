#pragma once
// The first decision path: a physical card is approved when the card list knows it as active.
// The full engine (credential decoders, scenario policies, online authorization) replaces it
// behind the same Authorizer interface.

#include "gateway/crypto/card_tokenizer.h"
#include "gateway/interfaces/authorizer.h"
#include "gateway/interfaces/card_list.h"

namespace yktgw {

class CardListAuthorizer final : public Authorizer {
 public:
  CardListAuthorizer(const CardList& list, const CardTokenizer& tokenizer)
      : list_(list), tokenizer_(tokenizer) {}

  AuthResponse decide(const AuthRequest& request) const override;

 private:
  const CardList& list_;
  const CardTokenizer& tokenizer_;
};

// Chip card numbers: the 18-character citizen number (17 digits and a digit or X) or a card
// serial of 8..20 digits. The full check-digit validation belongs to the card decoder.
bool is_plausible_card_number(std::string_view card_no);

}  // namespace yktgw
