#pragma once
// Reason codes carried by every decline and every rejected record. The codes are part of the
// terminal protocol (docs/terminal-protocol.md): never rename one, only add.

#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string_view>

namespace yktgw {

enum class Reason : std::uint8_t {
  ok,
  // decisions about the credential
  unknown_card,
  card_lost,
  card_frozen,
  card_cancelled,
  invalid_card_no,
  credential_not_supported,
  // bad input
  malformed_json,
  missing_field,
  wrong_type,
  invalid_value,
  unsupported_version,
  terminal_mismatch,
  payload_too_large,
  // the gateway itself
  busy,
  // credential checks (card MAC, dynamic QR codes)
  bad_mac,
  mac_required,
  malformed_credential,
  bad_signature,
  expired,
  not_yet_valid,
  replayed,
  unknown_issuer,
  // terminal mapping
  unknown_terminal,
  scenario_mismatch,
  // scenario policies
  group_not_allowed,
  outside_hours,
  daily_cap_reached,
  offline_limit_exceeded,
  offline_daily_cap_reached,
  offline_tap_cap_reached,
  online_required,
  no_entry_record,
  card_list_stale,
  declined_by_platform,
  // transport: a terminal sending faster than gateway.terminal_rate_per_s allows
  rate_limited,
  count_  // not a reason; number of reasons
};

inline constexpr std::size_t kReasonCount = static_cast<std::size_t>(Reason::count_);

struct ReasonText {
  std::string_view code;
  std::string_view zh;
  std::string_view en;
};

const ReasonText& reason_text(Reason r);
inline std::string_view reason_code(Reason r) { return reason_text(r).code; }
std::optional<Reason> reason_from_code(std::string_view code);

// True for reasons that describe a malformed or refused message rather than a decision.
bool is_input_error(Reason r);

}  // namespace yktgw
