#include "terminals_sim/platform/platform_cards.h"

#include <algorithm>
#include <mutex>
#include <random>

#include "gateway/core/reason.h"
#include "terminals_sim/sim/random.h"

namespace yktgw::platform {
namespace {

// Cards changed per version: enough for a delta to exercise upserts and removals, few enough
// that a test can still reason about the population.
constexpr int kChangesPerVersion = 5;

std::optional<CardEntry> initial_entry(const sim::Card& card) {
  CardEntry e;
  e.attributes = simulated_attributes(card.card_no);
  switch (card.status) {
    case sim::CardStatus::active:
      e.status = CardStatus::active;
      return e;
    case sim::CardStatus::lost:
      e.status = CardStatus::lost;
      return e;
    case sim::CardStatus::frozen:
      e.status = CardStatus::frozen;
      return e;
    case sim::CardStatus::cancelled:
      e.status = CardStatus::cancelled;
      return e;
    case sim::CardStatus::unknown:
      break;
  }
  return std::nullopt;
}

// What happens to a card when a version picks it: the life of a real card in small steps
// (reported lost, found again, unfrozen, cancelled cards leave the list, new cards join).
std::optional<CardEntry> next_state(const std::optional<CardEntry>& now, HolderAttributes attrs) {
  if (!now) return CardEntry{CardStatus::active, attrs};
  switch (now->status) {
    case CardStatus::active:
      return CardEntry{CardStatus::lost, now->attributes};
    case CardStatus::lost:
    case CardStatus::frozen:
      return CardEntry{CardStatus::active, now->attributes};
    case CardStatus::cancelled:
      return std::nullopt;
  }
  return now;
}

}  // namespace

HolderAttributes simulated_attributes(std::string_view card_no) {
  return sim::holder_attributes(card_no);
}

PlatformCards::PlatformCards(const sim::Population& population, const CardTokenizer& tokenizer,
                             std::uint64_t seed, std::int64_t created_ms)
    : seed_(seed), created_{created_ms} {
  cards_.reserve(population.size());
  by_token_.reserve(population.size());
  for (const sim::Card& card : population) {
    const std::string hex = tokenizer.token(card.card_no);
    const auto bytes = token_from_hex(hex);
    if (!bytes || by_token_.contains(hex)) continue;  // unique numbers give unique tokens
    by_token_.emplace(hex, cards_.size());
    cards_.push_back(Slot{*bytes, initial_entry(card)});
  }
}

OnlineAuthReply PlatformCards::decide(const OnlineAuthRequest& request) const {
  const auto entry = find(request.card_token);
  OnlineAuthReply reply;
  reply.decision = Decision::decline;
  if (!entry) {
    reply.reason = std::string(reason_code(Reason::unknown_card));
    return reply;
  }
  switch (entry->status) {
    case CardStatus::active:
      reply.decision = Decision::approve;
      reply.reason = std::string(reason_code(Reason::ok));
      reply.amount_fen = request.amount_fen;
      return reply;
    case CardStatus::lost:
      reply.reason = std::string(reason_code(Reason::card_lost));
      return reply;
    case CardStatus::frozen:
      reply.reason = std::string(reason_code(Reason::card_frozen));
      return reply;
    case CardStatus::cancelled:
      reply.reason = std::string(reason_code(Reason::card_cancelled));
      return reply;
  }
  reply.reason = std::string(reason_code(Reason::declined_by_platform));
  return reply;
}

std::optional<CardEntry> PlatformCards::find(std::string_view token_hex) const {
  const auto it = by_token_.find(std::string(token_hex));
  if (it == by_token_.end()) return std::nullopt;
  std::shared_lock lock(mu_);
  return cards_[it->second].entry;
}

std::int64_t PlatformCards::version() const {
  std::shared_lock lock(mu_);
  return static_cast<std::int64_t>(created_.size());
}

std::int64_t PlatformCards::created_ms(std::int64_t version) const {
  std::shared_lock lock(mu_);
  if (version < 1 || version > static_cast<std::int64_t>(created_.size())) return 0;
  return created_[static_cast<std::size_t>(version - 1)];
}

std::size_t PlatformCards::listed() const {
  std::shared_lock lock(mu_);
  return static_cast<std::size_t>(std::count_if(cards_.begin(), cards_.end(),
                                                [](const Slot& s) { return s.entry.has_value(); }));
}

std::int64_t PlatformCards::advance(std::int64_t created_ms) {
  std::unique_lock lock(mu_);
  const auto version = static_cast<std::int64_t>(created_.size());
  std::vector<CardChange> changes;
  if (!cards_.empty()) {
    // Seeded by (seed, version): the same history on every run and every machine.
    std::mt19937_64 rng(seed_ ^ (0x9E3779B97F4A7C15ull * static_cast<std::uint64_t>(version)));
    std::vector<std::size_t> picked;
    const auto want = std::min<std::size_t>(kChangesPerVersion, cards_.size());
    while (picked.size() < want) {
      const auto i = static_cast<std::size_t>(sim::uniform_below(rng, cards_.size()));
      if (std::find(picked.begin(), picked.end(), i) == picked.end()) picked.push_back(i);
    }
    for (const std::size_t i : picked) {
      Slot& slot = cards_[i];
      const HolderAttributes attrs = slot.entry ? slot.entry->attributes : 0;
      slot.entry = next_state(slot.entry, attrs);
      changes.push_back(CardChange{slot.token, slot.entry});
    }
    std::sort(changes.begin(), changes.end(),
              [](const CardChange& a, const CardChange& b) { return a.token < b.token; });
  }
  deltas_.push_back(std::move(changes));
  created_.push_back(created_ms);
  return version + 1;
}

std::vector<CardChange> PlatformCards::snapshot(std::int64_t& version) const {
  std::shared_lock lock(mu_);
  version = static_cast<std::int64_t>(created_.size());
  std::vector<CardChange> out;
  out.reserve(cards_.size());
  for (const Slot& s : cards_) {
    if (s.entry) out.push_back(CardChange{s.token, s.entry});
  }
  lock.unlock();
  std::sort(out.begin(), out.end(),
            [](const CardChange& a, const CardChange& b) { return a.token < b.token; });
  return out;
}

std::optional<std::vector<CardChange>> PlatformCards::delta(std::int64_t from) const {
  std::shared_lock lock(mu_);
  if (from < 1 || from >= static_cast<std::int64_t>(created_.size())) return std::nullopt;
  return deltas_[static_cast<std::size_t>(from - 1)];
}

}  // namespace yktgw::platform
