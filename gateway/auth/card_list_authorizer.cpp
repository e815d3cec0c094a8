#include "gateway/auth/card_list_authorizer.h"

namespace yktgw {

void CardListAuthorizer::authorize(const AuthRequest& request, const TapContext&, Done done) const {
  done(decide(request));
}

AuthResponse CardListAuthorizer::decide(const AuthRequest& request) const {
  AuthResponse r;
  r.req_id = request.req_id;
  r.mode = AuthMode::offline;  // decided from the local list, without asking the platform
  r.amount_fen = request.amount_fen;
  r.amount_before_fen = request.amount_fen;
  const Credential& c = request.credential;
  switch (c.type) {
    case CredentialType::card: {
      if (!is_plausible_card_number(c.card_no)) {
        r.reason = Reason::invalid_card_no;
        break;
      }
      r.card_masked = mask_card_number(c.card_no);
      auto status = list_.lookup(tokenizer_.token(c.card_no));
      if (!status) {
        r.reason = Reason::unknown_card;
      } else {
        switch (*status) {
          case CardStatus::active: r.reason = Reason::ok; break;
          case CardStatus::lost: r.reason = Reason::card_lost; break;
          case CardStatus::frozen: r.reason = Reason::card_frozen; break;
          case CardStatus::cancelled: r.reason = Reason::card_cancelled; break;
        }
      }
      break;
    }
    case CredentialType::other:
      // Cash and other means need no card check; they are recorded for the statistics.
      r.reason = Reason::ok;
      break;
    case CredentialType::ecard_qr:
    case CredentialType::ykm_qr:
      r.reason = Reason::credential_not_supported;
      break;
  }
  r.decision = r.reason == Reason::ok ? Decision::approve : Decision::decline;
  if (r.decision == Decision::decline) r.amount_fen = 0;
  return r;
}

}  // namespace yktgw
