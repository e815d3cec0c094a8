#pragma once

#include <string_view>

namespace yktgw {

// Chip card numbers: the 18-character citizen number (17 digits and a digit or X) or a card
// serial of 8..20 digits. The full check-digit validation belongs to the card decoder.
bool is_plausible_card_number(std::string_view card_no);

}  // namespace yktgw
