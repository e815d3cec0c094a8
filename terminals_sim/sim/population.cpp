#include "terminals_sim/sim/population.h"

#include <array>
#include <ostream>
#include <unordered_set>

#include "terminals_sim/sim/citizen_id.h"
#include "terminals_sim/sim/random.h"

namespace yktgw::sim {
namespace {

// Weights in per mille. Wulong dominates because the box serves Wulong; the rest exercise the
// district route (other 50xxxx) and the cross-province routes (51 / 52 / 54).
constexpr std::string_view kWulong = "500156";
constexpr std::array<std::string_view, 24> kOtherChongqing{
    "500101", "500102", "500103", "500104", "500105", "500106", "500107", "500108",
    "500109", "500110", "500112", "500113", "500114", "500115", "500116", "500117",
    "500118", "500119", "500120", "500151", "500152", "500153", "500154", "500155"};
constexpr std::array<std::string_view, 6> kSichuan{"510104", "510107", "510302",
                                                   "510502", "511002", "511102"};
constexpr std::array<std::string_view, 5> kGuizhou{"520102", "520302", "520402", "522201",
                                                   "520602"};
constexpr std::array<std::string_view, 3> kTibet{"540102", "540402", "540502"};

template <std::size_t N>
std::string_view pick(std::mt19937_64& rng, const std::array<std::string_view, N>& codes) {
  return codes[uniform_below(rng, N)];
}

std::string_view pick_region(std::mt19937_64& rng) {
  const auto r = uniform_below(rng, 1000);
  if (r < 800) return kWulong;
  if (r < 920) return pick(rng, kOtherChongqing);
  if (r < 960) return pick(rng, kSichuan);
  if (r < 990) return pick(rng, kGuizhou);
  return pick(rng, kTibet);
}

BirthDate pick_birth_date(std::mt19937_64& rng) {
  BirthDate d;
  d.year = static_cast<int>(uniform_between(rng, 1930, 2015));
  d.month = static_cast<int>(uniform_between(rng, 1, 12));
  d.day = static_cast<int>(uniform_between(rng, 1, days_in_month(d.year, d.month)));
  return d;
}

CardStatus pick_status(std::mt19937_64& rng) {
  const auto r = uniform_below(rng, 100);
  if (r < 88) return CardStatus::active;
  if (r < 92) return CardStatus::lost;
  if (r < 95) return CardStatus::frozen;
  if (r < 97) return CardStatus::cancelled;
  return CardStatus::unknown;
}

}  // namespace

std::string_view to_string(CardStatus s) {
  switch (s) {
    case CardStatus::active:
      return "active";
    case CardStatus::lost:
      return "lost";
    case CardStatus::frozen:
      return "frozen";
    case CardStatus::cancelled:
      return "cancelled";
    case CardStatus::unknown:
      return "unknown";
  }
  return "unknown";
}

std::optional<CardStatus> card_status_from(std::string_view s) {
  for (auto st : {CardStatus::active, CardStatus::lost, CardStatus::frozen, CardStatus::cancelled,
                  CardStatus::unknown}) {
    if (to_string(st) == s) return st;
  }
  return std::nullopt;
}

Population generate_population(std::uint64_t seed, std::size_t count) {
  std::mt19937_64 rng(seed);
  Population cards;
  cards.reserve(count);
  std::unordered_set<std::string> seen;
  seen.reserve(count);
  while (cards.size() < count) {
    const auto region = pick_region(rng);
    const auto birth = pick_birth_date(rng);
    const auto sequence = static_cast<int>(uniform_between(rng, 1, 999));
    const auto status = pick_status(rng);
    std::string card_no = make_citizen_id(region, birth, sequence);
    // A repeated number would give the card list two statuses for one card; draw again.
    if (!seen.insert(card_no).second) continue;
    cards.push_back(Card{std::move(card_no), status});
  }
  return cards;
}

Expectation expected_outcome(CardStatus s) {
  switch (s) {
    case CardStatus::active:
      return {Decision::approve, Reason::ok};
    case CardStatus::lost:
      return {Decision::decline, Reason::card_lost};
    case CardStatus::frozen:
      return {Decision::decline, Reason::card_frozen};
    case CardStatus::cancelled:
      return {Decision::decline, Reason::card_cancelled};
    case CardStatus::unknown:
      return {Decision::decline, Reason::unknown_card};
  }
  return {Decision::decline, Reason::unknown_card};
}

std::size_t write_cardlist_csv(std::ostream& out, const Population& cards) {
  out << "card_no,status\n";
  std::size_t lines = 0;
  for (const auto& card : cards) {
    if (card.status == CardStatus::unknown) continue;
    out << card.card_no << ',' << to_string(card.status) << '\n';
    ++lines;
  }
  return lines;
}

}  // namespace yktgw::sim
