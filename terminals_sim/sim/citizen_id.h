#pragma once
// Chinese citizen identity numbers (GB 11643-1999), which social security cards carry as the
// card number: 6-digit region code, birth date YYYYMMDD, 3-digit sequence, check character.

#include <optional>
#include <string>
#include <string_view>

namespace yktgw::sim {

struct BirthDate {
  int year = 1970;
  int month = 1;
  int day = 1;
  bool operator==(const BirthDate&) const = default;
};

// The ISO 7064 MOD 11-2 check character ('0'..'9' or 'X') for the first 17 digits;
// nullopt when `first17` is not exactly 17 decimal digits.
std::optional<char> citizen_id_check_char(std::string_view first17);

// 18 characters, 17 digits and the matching check character (upper-case 'X' only).
bool is_valid_citizen_id(std::string_view id);

// Builds a valid number. `region` must be 6 digits and `sequence` in 0..999.
std::string make_citizen_id(std::string_view region, const BirthDate& birth, int sequence);

bool is_leap_year(int year);
int days_in_month(int year, int month);

}  // namespace yktgw::sim
