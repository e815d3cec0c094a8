#include "terminals_sim/sim/scenario_amounts.h"

#include "terminals_sim/sim/random.h"
#include "terminals_sim/sim/terminal_kinds.h"

namespace yktgw::sim {

AmountRange amount_range(std::string_view scenario) {
  if (scenario == "canteen") return {500, 1500, 50};
  if (scenario == "bus") return {100, 300, 100};
  if (scenario == "parking") return {500, 3000, 100};
  // Wulong's scenic spots charge up to about 125 yuan; discounts are the gateway's business.
  if (scenario == "scenic") return {2000, 12500, 500};
  if (const TerminalKind* kind = find_terminal_kind(scenario)) return kind->amounts;
  return {0, 0, 1};
}

Fen draw_amount(std::mt19937_64& rng, const AmountRange& range) {
  if (range.max <= range.min || range.step <= 0) return range.min;
  const Fen steps = (range.max - range.min) / range.step;
  return range.min + uniform_between(rng, 0, steps) * range.step;
}

}  // namespace yktgw::sim
