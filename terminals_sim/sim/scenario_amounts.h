#pragma once
// Plausible amounts per scenario, so the policy engine sees realistic input: a canteen meal
// is 5-15 yuan, a bus fare 1-3 yuan; identity-only scenarios carry no amount.

#include <random>
#include <string_view>

#include "gateway/core/records.h"

namespace yktgw::sim {

struct AmountRange {
  Fen min = 0;
  Fen max = 0;
  Fen step = 1;  // prices are round: multiples of `step` fen
  bool operator==(const AmountRange&) const = default;
};

// Zero range for scenarios without a price (gate, library, museum, hotel, clinic, unknown).
AmountRange amount_range(std::string_view scenario);

Fen draw_amount(std::mt19937_64& rng, const AmountRange& range);

}  // namespace yktgw::sim
