#include "terminals_sim/sim/rate_profile.h"

#include <array>
#include <cmath>

namespace yktgw::sim {
namespace {

struct Peak {
  double from_h = 0;
  double to_h = 0;
};
// Busy hours of a day (Asia/Shanghai): lunch and dinner at the canteens; the morning and evening
// rush at bus stops, gates and car parks. Peaks run at 3x the quiet rate.
constexpr std::array<Peak, 2> kMealPeaks{{{11.0, 13.0}, {17.0, 19.0}}};
constexpr std::array<Peak, 2> kRushPeaks{{{7.0, 9.0}, {17.0, 19.0}}};
constexpr double kPeakOverQuiet = 3.0;

double shaped(const std::array<Peak, 2>& peaks, double hour) {
  double peak_hours = 0;
  bool in_peak = false;
  for (const auto& p : peaks) {
    peak_hours += p.to_h - p.from_h;
    if (hour >= p.from_h && hour < p.to_h) in_peak = true;
  }
  // Normalise so that the day's mean is 1: quiet * (24 - peak) + 3 quiet * peak = 24.
  const double quiet = 24.0 / ((24.0 - peak_hours) + kPeakOverQuiet * peak_hours);
  return in_peak ? kPeakOverQuiet * quiet : quiet;
}

}  // namespace

std::optional<RateShape> rate_shape_from(std::string_view name) {
  if (name == "steady") return RateShape::steady;
  if (name == "meal") return RateShape::meal;
  if (name == "rush") return RateShape::rush;
  return std::nullopt;
}

std::string_view to_string(RateShape s) {
  switch (s) {
    case RateShape::steady:
      return "steady";
    case RateShape::meal:
      return "meal";
    case RateShape::rush:
      return "rush";
  }
  return "steady";
}

RateProfile::RateProfile(RateShape shape, double period_s)
    : shape_(period_s > 0 ? shape : RateShape::steady), period_s_(period_s) {}

double RateProfile::multiplier(double t_s) const {
  if (shape_ == RateShape::steady) return 1.0;
  double phase = std::fmod(t_s, period_s_) / period_s_;
  if (phase < 0) phase += 1.0;
  const double hour = phase * 24.0;
  return shaped(shape_ == RateShape::meal ? kMealPeaks : kRushPeaks, hour);
}

}  // namespace yktgw::sim
