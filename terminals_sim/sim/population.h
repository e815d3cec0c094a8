#pragma once
// The simulated card holders: a deterministic population of citizen id numbers with the card
// list status the gateway should hold for each, and the decision the gateway should give.

#include <cstdint>
#include <iosfwd>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "gateway/core/reason.h"
#include "gateway/core/records.h"

namespace yktgw::sim {

// `unknown` cards are not on the gateway's card list at all.
enum class CardStatus : std::uint8_t { active, lost, frozen, cancelled, unknown };

std::string_view to_string(CardStatus s);
std::optional<CardStatus> card_status_from(std::string_view s);

struct Card {
  std::string card_no;  // 18-character citizen id number
  CardStatus status = CardStatus::active;
  bool operator==(const Card&) const = default;
};

using Population = std::vector<Card>;

// The same (seed, count) gives the same cards, in the same order, on every machine.
// Mostly Wulong (500156), some other Chongqing districts, a few Sichuan / Guizhou / Tibet cards
// (the cross-province routes); statuses about 88% active, 4% lost, 3% frozen, 2% cancelled,
// 3% unknown. Card numbers are unique.
Population generate_population(std::uint64_t seed, std::size_t count);

struct Expectation {
  Decision decision = Decision::approve;
  Reason reason = Reason::ok;
  bool operator==(const Expectation&) const = default;
};

// What the gateway should answer for a card in this status, whatever the scenario's amount.
Expectation expected_outcome(CardStatus s);

// The card list import file for `yktgw cardlist import`: header `card_no,status`, then one line
// per card on the list (unknown cards are left out), LF line ends. Returns the lines written,
// header excluded.
std::size_t write_cardlist_csv(std::ostream& out, const Population& cards);

}  // namespace yktgw::sim
