#pragma once
// The kinds of terminal in the field and how each is used: the scenario it serves (the names
// config/policies.toml gives them), the ids the gateway's terminal patterns map to it, who taps
// there, what they pay and what they present (physical card, e-card QR, 渝快码, cash or ID).

#include <cstdint>
#include <random>
#include <string>
#include <string_view>
#include <vector>

#include "gateway/core/records.h"
#include "gateway/core/result.h"
#include "terminals_sim/sim/population.h"
#include "terminals_sim/sim/scenario_amounts.h"

namespace yktgw::sim {

// Who taps at a terminal, besides anyone at all.
enum class Audience : std::uint8_t {
  anyone,
  elderly,       // born 1966 or earlier: the elderly canteen, the clinic
  campus,        // staff and students
  residents,     // group "resident": the community's own gate
  site_workers,  // group "site_worker": clock-in at the site gate
  visitors,      // cards from outside Chongqing: scenic spots, hotels, museums
};

// Weights, in per mille, of what holders present.
struct CredentialMix {
  int card = 1000;
  int ecard_qr = 0;
  int ykm_qr = 0;
  int other = 0;
  bool operator==(const CredentialMix&) const = default;
};

struct TerminalKind {
  std::string_view scenario;   // the request's scenario and the policy's name
  std::string_view kind;       // the policy kind: canteen, gate, parking, ...
  std::string_view id_prefix;  // terminal ids are prefix + 4 digits: ct-0001
  AmountRange amounts;
  CredentialMix credentials;
  Audience audience = Audience::anyone;
  int audience_per_mille = 0;  // share of taps by the audience; the rest by anyone
  std::string_view other_method = "cash";
};

// The 13 scenarios of config/policies.toml, in its order.
const std::vector<TerminalKind>& terminal_kinds();
const TerminalKind* find_terminal_kind(std::string_view scenario);

struct MixEntry {
  const TerminalKind* kind = nullptr;
  int count = 0;
  bool operator==(const MixEntry&) const = default;
};
using TerminalMix = std::vector<MixEntry>;

// "canteen:4,gate_campus:2,bus:3" (a bare name counts 1), or a preset name: "township" (every
// kind), "campus", "transit", "tourism". A scenario named twice adds up. Errors name the part.
Result<TerminalMix> parse_mix(std::string_view text);
int terminal_count(const TerminalMix& mix);
// "canteen:4,gate_campus:2", in the mix's order.
std::string to_string(const TerminalMix& mix);

// Terminal id for the n-th (0-based) terminal of a kind: "ct-0001".
std::string terminal_id_for(const TerminalKind& kind, int index);

// Draws the card of a tap by the terminal's audience. Deterministic for a given rng state.
class CardPicker {
 public:
  explicit CardPicker(const Population& cards);
  // `busy(i)` says card i is in the middle of another tap: it is avoided (a holder is at one
  // terminal at a time, which also keeps per-card counters in send order).
  template <typename Busy>
  std::size_t pick(const TerminalKind& kind, std::mt19937_64& rng, Busy&& busy) const {
    std::size_t i = draw(kind, rng);
    for (int tries = 0; tries < 16 && busy(i); ++tries) i = draw(kind, rng);
    return i;
  }
  std::size_t draw(const TerminalKind& kind, std::mt19937_64& rng) const;
  const std::vector<std::uint32_t>& audience(Audience a) const;

 private:
  std::size_t size_;
  std::vector<std::vector<std::uint32_t>> by_audience_;
};

// The credential type a holder presents, by the kind's mix.
CredentialType draw_credential(const CredentialMix& mix, std::mt19937_64& rng);

}  // namespace yktgw::sim
