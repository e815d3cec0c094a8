#pragma once
// The card list as the decision path sees it: a lookup by card token, answered from memory.

#include <cstdint>
#include <optional>
#include <string_view>

namespace yktgw {

enum class CardStatus : std::uint8_t { active, lost, frozen, cancelled };

std::string_view to_string(CardStatus s);
std::optional<CardStatus> card_status_from(std::string_view s);

class CardList {
 public:
  virtual ~CardList() = default;
  // `token` is the lower-case hex HMAC-SM3 token. nullopt: the card is not on the list.
  virtual std::optional<CardStatus> lookup(std::string_view token) const = 0;
  virtual std::uint64_t size() const = 0;
  virtual std::int64_t version() const = 0;
};

}  // namespace yktgw
