#pragma once
// The card list as the decision path sees it: deny-list status and holder attributes by card
// token, answered from memory.

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

class CardList {
 public:
  virtual ~CardList() = default;
  // `token` is the lower-case hex HMAC-SM3 token. nullopt: the card is not on the list.
  virtual std::optional<CardEntry> find(std::string_view token) const = 0;
  virtual std::uint64_t size() const = 0;
  virtual std::int64_t version() const = 0;
  // When the platform produced the list now in use (UTC ms); 0 when never updated.
  virtual std::int64_t updated_ms() const = 0;

  // Status only; kept for callers that need nothing else.
  std::optional<CardStatus> lookup(std::string_view token) const {
    auto e = find(token);
    if (!e) return std::nullopt;
    return e->status;
  }
};

}  // namespace yktgw
