#pragma once
// Local time for policies. Every box runs in Asia/Shanghai: days, opening hours and ages are
// counted there, whatever the host's TZ says. China has no DST, so a fixed UTC+8 is exact and
// needs no tz database (and cannot be broken by a missing one).

#include <cstdint>

#include "gateway/core/holder.h"
#include "gateway/core/records.h"

namespace yktgw {

inline constexpr std::int64_t kShanghaiOffsetMs = 8LL * 3600 * 1000;
inline constexpr std::int64_t kDayMs = 24LL * 3600 * 1000;

// Days since 1970-01-01 in Asia/Shanghai; the local day starts at 16:00 UTC the day before.
using LocalDay = std::int32_t;

struct CivilDate {
  int year = 1970;
  int month = 1;
  int day = 1;
  bool operator==(const CivilDate&) const = default;
};

struct LocalTime {
  LocalDay day = 0;
  int minute_of_day = 0;  // 0..1439
  CivilDate date;
  bool operator==(const LocalTime&) const = default;
};

constexpr std::int64_t floor_div(std::int64_t a, std::int64_t b) {
  return a / b - ((a % b != 0) && ((a < 0) != (b < 0)) ? 1 : 0);
}

// Proleptic Gregorian date of a day count (H. Hinnant's civil_from_days).
constexpr CivilDate civil_from_days(std::int64_t z) {
  z += 719468;
  const std::int64_t era = floor_div(z, 146097);
  const std::int64_t doe = z - era * 146097;
  const std::int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  const std::int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  const std::int64_t mp = (5 * doy + 2) / 153;
  const std::int64_t d = doy - (153 * mp + 2) / 5 + 1;
  const std::int64_t m = mp < 10 ? mp + 3 : mp - 9;
  return CivilDate{static_cast<int>(yoe + era * 400 + (m <= 2 ? 1 : 0)), static_cast<int>(m),
                   static_cast<int>(d)};
}

constexpr LocalDay shanghai_day(UtcMillis utc_ms) {
  return static_cast<LocalDay>(floor_div(utc_ms + kShanghaiOffsetMs, kDayMs));
}

constexpr LocalTime shanghai_time(UtcMillis utc_ms) {
  const std::int64_t local = utc_ms + kShanghaiOffsetMs;
  const std::int64_t day = floor_div(local, kDayMs);
  const std::int64_t ms_of_day = local - day * kDayMs;
  return LocalTime{static_cast<LocalDay>(day), static_cast<int>(ms_of_day / 60000),
                   civil_from_days(day)};
}

// Completed years on `today`; -1 when the birth date is unknown or in the future. A 29 February
// birthday counts as reached on 1 March in common years (the usual legal reading in China).
constexpr int age_on(const BirthDate& birth, const CivilDate& today) {
  if (birth.year == 0) return -1;  // BirthDate::known() is not constexpr
  int age = today.year - birth.year;
  if (today.month < birth.month || (today.month == birth.month && today.day < birth.day)) --age;
  return age < 0 ? -1 : age;
}

}  // namespace yktgw
