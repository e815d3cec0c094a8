#pragma once
// The district platform's view of the simulated card holders: the yktgw-sim population, keyed
// by the same HMAC-SM3 tokens the gateway computes (same district key), each with its card-list
// status and holder attributes. It answers online authorization and is the source of the
// signed card-list feed. Versions move on only when asked (advance()), each by a few
// deterministic changes, so a feed delta always has something in it and tests can predict it.

#include <cstdint>
#include <memory>
#include <optional>
#include <shared_mutex>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "gateway/cardlist/card_token.h"
#include "gateway/crypto/card_tokenizer.h"
#include "gateway/interfaces/card_list.h"
#include "gateway/interfaces/district_link.h"
#include "terminals_sim/sim/population.h"

namespace yktgw::platform {

// The named groups the simulated platform uses, in the order of their attribute bits
// (kFirstGroupBit + index); the feed header names them so a gateway can map them to its own.
inline const std::vector<std::string>& platform_groups() { return sim::holder_groups(); }

// Attributes the platform records for a holder, derived from the number so every run agrees
// (sim::holder_attributes: the simulator draws its taps from the same holders).
HolderAttributes simulated_attributes(std::string_view card_no);

struct CardChange {
  TokenBytes token{};
  std::optional<CardEntry> entry;  // nullopt: taken off the list
  bool operator==(const CardChange&) const = default;
};

class PlatformCards {
 public:
  // Version 1 is the population as generated: `unknown` cards are not on the list.
  // `created_ms` is when version 1 counts as produced (the feed's created_ms).
  PlatformCards(const sim::Population& population, const CardTokenizer& tokenizer,
                std::uint64_t seed, std::int64_t created_ms);

  // Online authorization: active approves with the amount; lost, frozen and cancelled decline
  // with card_lost, card_frozen, card_cancelled; a card not on the list declines unknown_card.
  OnlineAuthReply decide(const OnlineAuthRequest& request) const;

  std::optional<CardEntry> find(std::string_view token_hex) const;
  std::int64_t version() const;
  std::int64_t created_ms(std::int64_t version) const;  // 0 for a version never made
  std::size_t listed() const;                           // cards on the list now
  std::size_t population() const { return cards_.size(); }

  // Makes the next version (a handful of changes) and returns its number.
  std::int64_t advance(std::int64_t created_ms);

  // The whole list at the current version, sorted by token; `version` gets that version.
  std::vector<CardChange> snapshot(std::int64_t& version) const;

  // The changes from `from` to `from + 1`; nullopt unless 1 <= from < version().
  std::optional<std::vector<CardChange>> delta(std::int64_t from) const;

 private:
  struct Slot {
    TokenBytes token{};
    std::optional<CardEntry> entry;
  };
  std::vector<Slot> cards_;
  std::unordered_map<std::string, std::size_t> by_token_;  // hex token -> index in cards_
  std::uint64_t seed_;
  mutable std::shared_mutex mu_;                 // guards the entries, deltas_ and created_
  std::vector<std::vector<CardChange>> deltas_;  // deltas_[i]: version i+1 -> i+2
  std::vector<std::int64_t> created_;            // created_[i]: created_ms of version i+1
};

}  // namespace yktgw::platform
