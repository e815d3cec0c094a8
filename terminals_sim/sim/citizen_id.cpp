#include "terminals_sim/sim/citizen_id.h"

#include <array>
#include <cstdio>

namespace yktgw::sim {

std::optional<char> citizen_id_check_char(std::string_view first17) {
  static constexpr std::array<int, 17> kWeights{7, 9, 10, 5,  8, 4, 2, 1, 6,
                                                3, 7, 9,  10, 5, 8, 4, 2};
  static constexpr std::string_view kCheck = "10X98765432";
  if (first17.size() != kWeights.size()) return std::nullopt;
  int sum = 0;
  for (std::size_t i = 0; i < kWeights.size(); ++i) {
    const char c = first17[i];
    if (c < '0' || c > '9') return std::nullopt;
    sum += (c - '0') * kWeights[i];
  }
  return kCheck[static_cast<std::size_t>(sum % 11)];
}

bool is_valid_citizen_id(std::string_view id) {
  if (id.size() != 18) return false;
  const auto check = citizen_id_check_char(id.substr(0, 17));
  return check && *check == id[17];
}

bool is_leap_year(int year) { return (year % 4 == 0 && year % 100 != 0) || year % 400 == 0; }

int days_in_month(int year, int month) {
  static constexpr std::array<int, 12> kDays{31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  if (month == 2 && is_leap_year(year)) return 29;
  return kDays[static_cast<std::size_t>(month - 1)];
}

std::string make_citizen_id(std::string_view region, const BirthDate& birth, int sequence) {
  char tail[16];
  std::snprintf(tail, sizeof tail, "%04d%02d%02d%03d", birth.year, birth.month, birth.day,
                sequence);
  std::string id(region);
  id += tail;
  id.push_back(citizen_id_check_char(id).value_or('?'));
  return id;
}

}  // namespace yktgw::sim
