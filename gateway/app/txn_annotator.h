#pragma once

#include "gateway/crypto/card_tokenizer.h"
#include "gateway/interfaces/txn_annotator.h"

namespace yktgw {

class PolicyFile;

// Cards: token and mask of the number, region from its first two digits. QR codes: token,
// mask and region from the payload (structure only; the signature was checked when the tap was
// authorized and a record is kept whatever it says). Service item from the terminal's
// scenario in the policies in force.
class RecordAnnotator final : public TxnAnnotator {
 public:
  RecordAnnotator(const CardTokenizer& tokenizer, const PolicyFile* policies)
      : tokenizer_(tokenizer), policies_(policies) {}
  void annotate(const Credential& credential, std::string_view terminal,
                TxnRecord& record) const override;

 private:
  const CardTokenizer& tokenizer_;
  const PolicyFile* policies_;  // may be null: no service items
};

}  // namespace yktgw
