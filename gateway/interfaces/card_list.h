#pragma once
// The card list as the decision path sees it: deny-list status and holder attributes by card
// token, answered from memory.

#include <algorithm>
#include <cstdint>
#include <optional>
#include <string_view>

#include "gateway/core/holder.h"

namespace yktgw {

enum class CardStatus : std::uint8_t { active, lost, frozen, cancelled };

std::string_view to_string(CardStatus s);
std::optional<CardStatus> card_status_from(std::string_view s);

struct CardEntry {
  CardStatus status = CardStatus::active;
  HolderAttributes attributes = 0;
  bool operator==(const CardEntry&) const = default;
};

// How old the list is and whether it counts as stale. The one rule the decision engine, the
// status page and the metrics all use (docs/cardlist-feed.md §7).
struct CardListAge {
  std::int64_t age_ms = 0;  // since the list was last known current; 0 when it never arrived
  bool stale = true;
  bool operator==(const CardListAge&) const = default;
};

// The list is known current as of the later of the platform's time of the list (`updated_ms`)
// and the last time the platform answered "up to date" (`checked_ms`): a list the platform has
// just confirmed is as good as a new one. Stale: it never arrived (both 0), or it has not been
// known current for more than `max_age_ms`; `max_age_ms` 0 turns the age check off. A clock
// behind the platform's gives age 0, not a negative one.
constexpr CardListAge card_list_age(std::int64_t updated_ms, std::int64_t checked_ms,
                                    std::int64_t max_age_ms, std::int64_t now_ms) {
  const std::int64_t known = std::max(updated_ms, checked_ms);
  if (known <= 0) return CardListAge{0, true};
  const std::int64_t age = std::max<std::int64_t>(0, now_ms - known);
  return CardListAge{age, max_age_ms > 0 && age > max_age_ms};
}

class CardList {
 public:
  virtual ~CardList() = default;
  // `token` is the lower-case hex HMAC-SM3 token. nullopt: the card is not on the list.
  virtual std::optional<CardEntry> find(std::string_view token) const = 0;
  virtual std::uint64_t size() const = 0;
  virtual std::int64_t version() const = 0;
  // When the platform produced the list now in use (UTC ms); 0 when never updated.
  virtual std::int64_t updated_ms() const = 0;
  // When the platform last confirmed the list current (gateway time, UTC ms); 0 when never, or
  // for lists that are not fed by a platform.
  virtual std::int64_t checked_ms() const { return 0; }

  CardListAge age(std::int64_t now_ms, std::int64_t max_age_ms) const {
    return card_list_age(updated_ms(), checked_ms(), max_age_ms, now_ms);
  }

  // Status only; kept for callers that need nothing else.
  std::optional<CardStatus> lookup(std::string_view token) const {
    auto e = find(token);
    if (!e) return std::nullopt;
    return e->status;
  }
};

}  // namespace yktgw
