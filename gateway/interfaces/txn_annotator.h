#pragma once
// Fills in what the gateway knows about a transaction record beyond what the terminal sent:
// the de-identified card reference (token, masked form, issuer region) and the catalogue item
// of the terminal's scenario. The full credential is dropped after this call.

#include <string_view>

#include "gateway/core/records.h"

namespace yktgw {

class TxnAnnotator {
 public:
  virtual ~TxnAnnotator() = default;
  virtual void annotate(const Credential& credential, std::string_view terminal,
                        TxnRecord& record) const = 0;
};

}  // namespace yktgw
