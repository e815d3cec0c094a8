#pragma once
// A small Authorizer for dispatcher tests: decides chip cards from a card list alone, inline.
// The product's engine (gateway/policy) is tested on its own.

#include "gateway/core/card_number.h"
#include "gateway/crypto/card_tokenizer.h"
#include "gateway/interfaces/authorizer.h"
#include "gateway/interfaces/card_list.h"

namespace yktgw::testing {

class CardListFakeAuthorizer final : public Authorizer {
 public:
  CardListFakeAuthorizer(const CardList& list, const CardTokenizer& tokenizer)
      : list_(list), tokenizer_(tokenizer) {}

  void authorize(const AuthRequest& request, const TapContext&, Done done) const override {
    done(decide(request));
  }

  AuthResponse decide(const AuthRequest& request) const {
    AuthResponse r;
    r.req_id = request.req_id;
    r.mode = AuthMode::offline;
    r.amount_fen = request.amount_fen;
    const Credential& c = request.credential;
    if (c.type == CredentialType::other) {
      r.reason = Reason::ok;
    } else if (c.type != CredentialType::card) {
      r.reason = Reason::credential_not_supported;
    } else if (!is_plausible_card_number(c.card_no)) {
      r.reason = Reason::invalid_card_no;
    } else {
      r.card_masked = mask_card_number(c.card_no);
      auto status = list_.lookup(tokenizer_.token(c.card_no));
      if (!status) {
        r.reason = Reason::unknown_card;
      } else if (*status == CardStatus::active) {
        r.reason = Reason::ok;
      } else if (*status == CardStatus::lost) {
        r.reason = Reason::card_lost;
      } else if (*status == CardStatus::frozen) {
        r.reason = Reason::card_frozen;
      } else {
        r.reason = Reason::card_cancelled;
      }
    }
    r.decision = r.reason == Reason::ok ? Decision::approve : Decision::decline;
    if (r.decision == Decision::decline) r.amount_fen = 0;
    return r;
  }

 private:
  const CardList& list_;
  const CardTokenizer& tokenizer_;
};

}  // namespace yktgw::testing
