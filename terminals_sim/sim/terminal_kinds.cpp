#include "terminals_sim/sim/terminal_kinds.h"

#include <algorithm>
#include <charconv>
#include <cstdio>

#include "terminals_sim/sim/random.h"

namespace yktgw::sim {
namespace {

// Meals 5-15 yuan; bus fare 2 yuan; scenic tickets up to
// 125 yuan. Parking exits send 0: the gateway computes the fee from the entry time.
const std::vector<TerminalKind> kKinds = {
    {"canteen", "canteen", "ct-", {500, 1500, 50}, {850, 100, 30, 20}, Audience::elderly, 700},
    {"canteen_campus",
     "canteen",
     "xy-ct-",
     {500, 1500, 50},
     {500, 350, 100, 50},
     Audience::campus,
     900},
    {"gate_community", "gate", "gate-", {0, 0, 1}, {700, 200, 100, 0}, Audience::residents, 850},
    {"gate_campus", "gate", "xy-gate-", {0, 0, 1}, {450, 400, 150, 0}, Audience::campus, 850},
    {"gate_site", "gate", "site-", {0, 0, 1}, {900, 80, 20, 0}, Audience::site_workers, 850},
    {"parking_entry", "parking", "pk-in-", {0, 0, 1}, {700, 200, 100, 0}, Audience::anyone, 0},
    {"parking_exit", "parking", "pk-out-", {0, 0, 1}, {700, 200, 100, 0}, Audience::anyone, 0},
    {"bus", "bus", "bus-", {200, 200, 100}, {600, 250, 100, 50}, Audience::anyone, 0},
    {"scenic",
     "scenic",
     "scenic-",
     {2000, 12500, 500},
     {400, 400, 100, 100},
     Audience::visitors,
     500},
    {"library", "library", "lib-", {0, 0, 1}, {600, 300, 100, 0}, Audience::anyone, 0},
    {"museum",
     "museum",
     "mus-",
     {0, 0, 1},
     {500, 350, 100, 50},
     Audience::visitors,
     300,
     "id_card"},
    {"hotel",
     "hotel",
     "hotel-",
     {0, 0, 1},
     {300, 300, 100, 300},
     Audience::visitors,
     600,
     "id_card"},
    {"clinic", "clinic", "med-", {0, 0, 1}, {600, 300, 100, 0}, Audience::elderly, 400},
};

struct Preset {
  std::string_view name;
  std::string_view mix;
};
constexpr Preset kPresets[] = {
    {"township",
     "canteen:2,canteen_campus:1,gate_community:1,gate_campus:1,gate_site:1,parking_entry:1,"
     "parking_exit:1,bus:2,scenic:1,library:1,museum:1,hotel:1,clinic:1"},
    {"campus", "canteen_campus:3,gate_campus:2,library:1"},
    {"transit", "bus:4,parking_entry:1,parking_exit:1"},
    {"tourism", "scenic:2,museum:1,hotel:1,bus:1"},
};

constexpr int kMaxPerKind = 999;

bool in_audience(const Card& c, Audience a) {
  switch (a) {
    case Audience::anyone:
      return true;
    case Audience::elderly: {
      const auto birth = holder_birth(c.card_no);
      return birth.year != 0 && birth.year <= 1966;
    }
    case Audience::campus:
      return (c.attributes & (kGroupStaff | kGroupStudent)) != 0;
    case Audience::residents:
      return (c.attributes & kGroupResident) != 0;
    case Audience::site_workers:
      return (c.attributes & kGroupSiteWorker) != 0;
    case Audience::visitors:
      return issuer_region(c.card_no) != kRegionChongqing;
  }
  return true;
}

constexpr std::size_t kAudiences = 6;

}  // namespace

const std::vector<TerminalKind>& terminal_kinds() { return kKinds; }

const TerminalKind* find_terminal_kind(std::string_view scenario) {
  for (const auto& k : kKinds) {
    if (k.scenario == scenario) return &k;
  }
  return nullptr;
}

Result<TerminalMix> parse_mix(std::string_view text) {
  for (const auto& p : kPresets) {
    if (p.name == text) return parse_mix(p.mix);
  }
  TerminalMix mix;
  if (text.empty()) return make_error("invalid_mix", "the terminal mix is empty");
  std::size_t pos = 0;
  while (pos <= text.size()) {
    const auto comma = std::min(text.find(',', pos), text.size());
    const std::string_view part = text.substr(pos, comma - pos);
    pos = comma + 1;
    if (part.empty()) return make_error("invalid_mix", "empty entry in the terminal mix");
    const auto colon = part.find(':');
    const std::string_view name = part.substr(0, colon);
    int count = 1;
    if (colon != std::string_view::npos) {
      const std::string_view num = part.substr(colon + 1);
      const auto [end, ec] = std::from_chars(num.data(), num.data() + num.size(), count);
      if (ec != std::errc() || end != num.data() + num.size() || count < 1 || count > kMaxPerKind) {
        return make_error("invalid_mix", "'" + std::string(part) + "': the count must be 1.." +
                                             std::to_string(kMaxPerKind));
      }
    }
    const TerminalKind* kind = find_terminal_kind(name);
    if (kind == nullptr) {
      std::string known;
      for (const auto& k : kKinds) known += (known.empty() ? "" : " ") + std::string(k.scenario);
      return make_error("invalid_mix", "unknown terminal kind '" + std::string(name) +
                                           "'; known: " + known +
                                           "; presets: township campus transit tourism");
    }
    auto it =
        std::find_if(mix.begin(), mix.end(), [&](const MixEntry& e) { return e.kind == kind; });
    if (it != mix.end()) {
      it->count += count;
      if (it->count > kMaxPerKind) {
        return make_error("invalid_mix", "more than " + std::to_string(kMaxPerKind) + " " +
                                             std::string(name) + " terminals");
      }
    } else {
      mix.push_back(MixEntry{kind, count});
    }
    if (comma == text.size()) break;
  }
  return mix;
}

int terminal_count(const TerminalMix& mix) {
  int n = 0;
  for (const auto& e : mix) n += e.count;
  return n;
}

std::string to_string(const TerminalMix& mix) {
  std::string out;
  for (const auto& e : mix) {
    if (!out.empty()) out += ',';
    out += std::string(e.kind->scenario) + ":" + std::to_string(e.count);
  }
  return out;
}

std::string terminal_id_for(const TerminalKind& kind, int index) {
  char digits[16];
  std::snprintf(digits, sizeof digits, "%04d", index + 1);
  return std::string(kind.id_prefix) + digits;
}

CardPicker::CardPicker(const Population& cards) : size_(cards.size()), by_audience_(kAudiences) {
  for (std::size_t a = 0; a < kAudiences; ++a) {
    if (static_cast<Audience>(a) == Audience::anyone) continue;
    for (std::size_t i = 0; i < cards.size(); ++i) {
      if (in_audience(cards[i], static_cast<Audience>(a))) {
        by_audience_[a].push_back(static_cast<std::uint32_t>(i));
      }
    }
  }
}

const std::vector<std::uint32_t>& CardPicker::audience(Audience a) const {
  return by_audience_[static_cast<std::size_t>(a)];
}

std::size_t CardPicker::draw(const TerminalKind& kind, std::mt19937_64& rng) const {
  // Draw both numbers every time, so the stream does not depend on the audience's size.
  const auto r = uniform_below(rng, 1000);
  const auto x = rng();
  const auto& group = audience(kind.audience);
  if (kind.audience != Audience::anyone && static_cast<int>(r) < kind.audience_per_mille &&
      !group.empty()) {
    return group[x % group.size()];
  }
  return static_cast<std::size_t>(x % size_);
}

CredentialType draw_credential(const CredentialMix& mix, std::mt19937_64& rng) {
  const int total = mix.card + mix.ecard_qr + mix.ykm_qr + mix.other;
  if (total <= 0) return CredentialType::card;
  const auto r = static_cast<int>(uniform_below(rng, static_cast<std::uint64_t>(total)));
  if (r < mix.card) return CredentialType::card;
  if (r < mix.card + mix.ecard_qr) return CredentialType::ecard_qr;
  if (r < mix.card + mix.ecard_qr + mix.ykm_qr) return CredentialType::ykm_qr;
  return CredentialType::other;
}

}  // namespace yktgw::sim
