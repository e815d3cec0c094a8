#include "gateway/credentials/citizen_number.h"

#include <algorithm>
#include <array>
#include <cstdint>

namespace yktgw {
namespace {

bool is_digit(char c) { return c >= '0' && c <= '9'; }

bool all_digits(std::string_view s) {
  for (const char c : s)
    if (!is_digit(c)) return false;
  return true;
}

int digits_value(std::string_view s) {
  int v = 0;
  for (const char c : s) v = v * 10 + (c - '0');
  return v;
}

BirthDate civil_from_days(std::int64_t z) {
  z += 719468;
  const std::int64_t era = (z >= 0 ? z : z - 146096) / 146097;
  const auto doe = static_cast<unsigned>(z - era * 146097);
  const unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  const unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  const unsigned mp = (5 * doy + 2) / 153;
  const unsigned d = doy - (153 * mp + 2) / 5 + 1;
  const unsigned m = mp < 10 ? mp + 3 : mp - 9;
  const std::int64_t y = static_cast<std::int64_t>(yoe) + era * 400 + (m <= 2 ? 1 : 0);
  return BirthDate{static_cast<int>(y), static_cast<int>(m), static_cast<int>(d)};
}

bool not_after(const BirthDate& a, const BirthDate& b) {
  if (a.year != b.year) return a.year < b.year;
  if (a.month != b.month) return a.month < b.month;
  return a.day <= b.day;
}

}  // namespace

bool is_leap_year(int year) { return (year % 4 == 0 && year % 100 != 0) || year % 400 == 0; }

bool is_real_date(int year, int month, int day) {
  static constexpr std::array<int, 12> kDays{31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  if (month < 1 || month > 12 || day < 1) return false;
  const int last = kDays[static_cast<std::size_t>(month - 1)] + (month == 2 && is_leap_year(year));
  return day <= last;
}

bool is_province_code(int code) {
  return (code >= 11 && code <= 15) || (code >= 21 && code <= 23) || (code >= 31 && code <= 37) ||
         (code >= 41 && code <= 46) || (code >= 50 && code <= 54) || (code >= 61 && code <= 65) ||
         code == 71 || code == 81 || code == 82;
}

char citizen_check_char(std::string_view first17) {
  static constexpr std::array<int, 17> kWeights{7, 9, 10, 5,  8, 4, 2, 1, 6,
                                                3, 7, 9,  10, 5, 8, 4, 2};
  static constexpr std::string_view kMap = "10X98765432";
  if (first17.size() != 17 || !all_digits(first17)) return '\0';
  int sum = 0;
  for (std::size_t i = 0; i < 17; ++i) sum += (first17[i] - '0') * kWeights[i];
  return kMap[static_cast<std::size_t>(sum % 11)];
}

BirthDate china_date_of(UtcMillis now_ms) {
  constexpr std::int64_t kDayMs = 86'400'000;
  constexpr std::int64_t kChinaOffsetMs = std::int64_t{8} * 3'600'000;
  // About 142 000 years either side of 1970: no real clock is outside, and the sums below
  // cannot overflow for any input.
  constexpr std::int64_t kLimitMs = std::int64_t{1} << 52;
  now_ms = std::clamp<std::int64_t>(now_ms, -kLimitMs, kLimitMs);
  std::int64_t local = now_ms + kChinaOffsetMs;
  std::int64_t days = local / kDayMs;
  if (local % kDayMs < 0) --days;  // floor for instants before 1970
  return civil_from_days(days);
}

std::optional<CardNumberInfo> classify_card_number(std::string_view s, const BirthDate& today) {
  if (s.size() == 18) {
    const std::string_view first17 = s.substr(0, 17);
    const char check = citizen_check_char(first17);
    if (check == '\0') return std::nullopt;
    const char given = s[17] == 'x' ? 'X' : s[17];
    if (given != check) return std::nullopt;
    const int province = digits_value(s.substr(0, 2));
    if (!is_province_code(province)) return std::nullopt;
    const BirthDate birth{digits_value(s.substr(6, 4)), digits_value(s.substr(10, 2)),
                          digits_value(s.substr(12, 2))};
    if (birth.year < 1900 || !is_real_date(birth.year, birth.month, birth.day)) return std::nullopt;
    if (!not_after(birth, today)) return std::nullopt;
    return CardNumberInfo{CardNumberKind::citizen_number, static_cast<IssuerRegion>(province),
                          birth};
  }
  if (s.size() >= 8 && s.size() <= 20 && all_digits(s)) {
    return CardNumberInfo{CardNumberKind::card_serial, 0, BirthDate{}};
  }
  return std::nullopt;
}

}  // namespace yktgw
