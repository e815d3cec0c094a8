#pragma once
// Stand-ins the in-process benchmarks share: a district link that is down and synthetic citizen
// numbers. Only what a decision needs, nothing measured. (The card list is the gateway's own:
// bench_card_list.h.)

#include <chrono>
#include <cstdio>
#include <functional>
#include <optional>
#include <string>
#include <string_view>

#include "gateway/interfaces/district_link.h"

namespace yktgw::bench {

class NoLink final : public LinkHealth {
 public:
  bool up() const override { return false; }
  std::int64_t last_heartbeat_ms() const override { return 0; }
};

class NoOnline final : public OnlineAuthClient {
 public:
  void authorize(OnlineAuthRequest, std::chrono::milliseconds, Callback done) override {
    done(OnlineOutcome::link_down, {});
  }
};

// Synthetic citizen numbers of Wulong district (500156), valid check digit (ISO 7064 MOD 11-2).
inline std::string citizen_number(int i) {
  char first17[32];  // 17 digits; room to spare keeps -Wformat-truncation quiet
  const int year = 1935 + i % 70;
  std::snprintf(first17, sizeof first17, "500156%04d%02d%02d%03d", year, 1 + i % 12, 1 + i % 28,
                i % 1000);
  static const int kWeights[17] = {7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2};
  int sum = 0;
  for (int k = 0; k < 17; ++k) sum += (first17[k] - '0') * kWeights[k];
  static const char kCheck[] = "10X98765432";
  return std::string(first17) + kCheck[sum % 11];
}

}  // namespace yktgw::bench
