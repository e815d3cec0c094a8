#include "gateway/core/card_number.h"

#include <cctype>

namespace yktgw {

bool is_plausible_card_number(std::string_view s) {
  if (s.size() == 18) {
    for (std::size_t i = 0; i < 17; ++i)
      if (!std::isdigit(static_cast<unsigned char>(s[i]))) return false;
    return std::isdigit(static_cast<unsigned char>(s[17])) || s[17] == 'X' || s[17] == 'x';
  }
  if (s.size() < 8 || s.size() > 20) return false;
  for (char c : s)
    if (!std::isdigit(static_cast<unsigned char>(c))) return false;
  return true;
}

}  // namespace yktgw
