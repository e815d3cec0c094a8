#pragma once
// The first decision path: a physical card is approved when the card list knows it as active.
// The full engine (credential decoders, scenario policies, online authorization) replaces it
// behind the same Authorizer interface.

#include "gateway/core/card_number.h"
#include "gateway/crypto/card_tokenizer.h"
#include "gateway/interfaces/authorizer.h"
#include "gateway/interfaces/card_list.h"

namespace yktgw {

class CardListAuthorizer final : public Authorizer {
 public:
  CardListAuthorizer(const CardList& list, const CardTokenizer& tokenizer)
      : list_(list), tokenizer_(tokenizer) {}

  void authorize(const AuthRequest& request, const TapContext& ctx, Done done) const override;
  AuthResponse decide(const AuthRequest& request) const;

 private:
  const CardList& list_;
  const CardTokenizer& tokenizer_;
};

}  // namespace yktgw
