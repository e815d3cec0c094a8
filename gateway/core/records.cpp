#include "gateway/core/records.h"

namespace yktgw {

std::string_view to_string(CredentialType t) {
  switch (t) {
    case CredentialType::card:
      return "card";
    case CredentialType::ecard_qr:
      return "ecard_qr";
    case CredentialType::ykm_qr:
      return "ykm_qr";
    case CredentialType::other:
      return "other";
  }
  return "other";
}

std::optional<CredentialType> credential_type_from(std::string_view s) {
  if (s == "card") return CredentialType::card;
  if (s == "ecard_qr") return CredentialType::ecard_qr;
  if (s == "ykm_qr") return CredentialType::ykm_qr;
  if (s == "other") return CredentialType::other;
  return std::nullopt;
}

std::string_view to_string(Decision d) { return d == Decision::approve ? "approve" : "decline"; }
std::string_view to_string(AuthMode m) { return m == AuthMode::online ? "online" : "offline"; }
std::string_view to_string(TxnResult r) {
  return r == TxnResult::approved ? "approved" : "declined";
}

std::string_view to_string(RecordKind k) {
  return k == RecordKind::attendance ? "attendance" : "txn";
}

std::optional<RecordKind> record_kind_from(std::string_view s) {
  if (s == "txn") return RecordKind::txn;
  if (s == "attendance") return RecordKind::attendance;
  return std::nullopt;
}

std::string_view to_string(AckStatus s) {
  switch (s) {
    case AckStatus::stored:
      return "stored";
    case AckStatus::duplicate:
      return "duplicate";
    case AckStatus::rejected:
      return "rejected";
  }
  return "rejected";
}

}  // namespace yktgw
