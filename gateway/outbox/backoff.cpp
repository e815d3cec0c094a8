#include "gateway/outbox/backoff.h"

#include <algorithm>
#include <charconv>
#include <cmath>

namespace yktgw::outbox {

std::chrono::milliseconds Backoff::cap(int failures) const {
  const int doublings = std::clamp(failures - 1, 0, 40);  // 2^40 ms is past any sane max
  const double grown = static_cast<double>(min_.count()) * std::ldexp(1.0, doublings);
  const double capped = std::min(grown, static_cast<double>(max_.count()));
  return std::chrono::milliseconds(static_cast<std::int64_t>(capped));
}

std::chrono::milliseconds Backoff::delay(int failures, double unit_random,
                                         std::chrono::milliseconds floor) const {
  const double u = std::clamp(unit_random, 0.0, 1.0);
  const auto jittered = std::chrono::milliseconds(
      static_cast<std::int64_t>(std::llround(static_cast<double>(cap(failures).count()) * u)));
  return std::max({jittered, floor, std::chrono::milliseconds(1)});
}

std::chrono::milliseconds retry_after_from_detail(std::string_view detail) {
  constexpr std::string_view kKey = "retry_after_ms=";
  const auto at = detail.find(kKey);
  if (at == std::string_view::npos) return {};
  const char* begin = detail.data() + at + kKey.size();
  std::int64_t ms = 0;
  const auto [end, ec] = std::from_chars(begin, detail.data() + detail.size(), ms);
  if (ec != std::errc() || end == begin || ms < 0) return {};
  return std::chrono::milliseconds(ms);
}

}  // namespace yktgw::outbox
