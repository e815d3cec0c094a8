#pragma once
// What a chip card number says about its holder. Two forms are accepted:
//   - the 18-character citizen number (公民身份号码, GB 11643-1999): 6-digit region whose first
//     two digits are a province code, birth date YYYYMMDD, 3-digit sequence, ISO 7064 MOD 11-2
//     check character (0-9 or X; a lower-case x is accepted);
//   - a social security card serial of 8..20 digits, except 18 (see below): no region, no
//     birth date.
// An 18-character string is always judged as a citizen number. Were it allowed to fall back to
// the serial form, a misread citizen number would pass without its check digit.

#include <optional>
#include <string_view>

#include "gateway/core/holder.h"
#include "gateway/core/records.h"

namespace yktgw {

enum class CardNumberKind : std::uint8_t { citizen_number, card_serial };

struct CardNumberInfo {
  CardNumberKind kind = CardNumberKind::citizen_number;
  IssuerRegion region = 0;  // province code for a citizen number; 0 for a serial
  BirthDate birth;          // unknown for a serial
  bool operator==(const CardNumberInfo&) const = default;
};

// Calendar dates: proleptic Gregorian.
bool is_leap_year(int year);
bool is_real_date(int year, int month, int day);

// True for the province-level codes of GB/T 2260 (11..15, 21..23, 31..37, 41..46, 50..54,
// 61..65) and 71 (Taiwan), 81 (Hong Kong), 82 (Macao).
bool is_province_code(int code);

// The ISO 7064 MOD 11-2 check character ('0'..'9' or 'X') of the first 17 digits; '\0' when
// they are not 17 digits.
char citizen_check_char(std::string_view first17);

// The date of `now_ms` in China Standard Time (UTC+8), where every terminal stands.
BirthDate china_date_of(UtcMillis now_ms);

// Classifies `card_no` exactly as read (no trimming). A citizen number's birth date must be a
// real date from 1900-01-01 to `today` inclusive. nullopt: neither form, i.e. invalid_card_no.
std::optional<CardNumberInfo> classify_card_number(std::string_view card_no,
                                                   const BirthDate& today);

}  // namespace yktgw
