#include "gateway/app/txn_annotator.h"

#include <cctype>

#include "gateway/core/card_number.h"
#include "gateway/credentials/qr_code.h"
#include "gateway/policy/policies.h"

namespace yktgw {

void RecordAnnotator::annotate(const Credential& c, std::string_view terminal,
                               TxnRecord& rec) const {
  rec.card.type = c.type;
  switch (c.type) {
    case CredentialType::card:
      if (!c.card_no.empty()) {
        rec.card.token = tokenizer_.token(c.card_no);
        rec.card.masked = mask_card_number(c.card_no);
        if (c.card_no.size() == 18 && std::isdigit(static_cast<unsigned char>(c.card_no[0])) &&
            std::isdigit(static_cast<unsigned char>(c.card_no[1]))) {
          rec.card.region =
              static_cast<IssuerRegion>((c.card_no[0] - '0') * 10 + (c.card_no[1] - '0'));
        }
      }
      break;
    case CredentialType::ecard_qr:
    case CredentialType::ykm_qr:
      if (auto qr = parse_qr(c.qr); qr) {
        rec.card.token = qr->payload.token;
        rec.card.masked = qr->payload.masked;
        rec.card.region = qr->payload.issuer;
      }
      break;
    case CredentialType::other:
      rec.card.method = c.method;
      break;
  }
  if (policies_ != nullptr) {
    auto current = policies_->current();
    if (const auto* s = current ? current->for_terminal(terminal) : nullptr)
      rec.service_item = s->common.service_item;
  }
}

}  // namespace yktgw
