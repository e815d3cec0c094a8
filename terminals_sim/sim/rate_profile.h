#pragma once
// How the request rate moves over a day, compressed into a period of the run: steady for
// demos, two meal-time peaks for canteens, two rush hours for buses and gates. The multiplier
// averages 1 over the period, so --rate stays the mean rate and a run's request count does not
// depend on the shape.

#include <optional>
#include <string_view>

namespace yktgw::sim {

enum class RateShape { steady, meal, rush };

std::optional<RateShape> rate_shape_from(std::string_view name);
std::string_view to_string(RateShape s);

class RateProfile {
 public:
  // `period_s` is the length of one compressed day; <= 0 means steady.
  RateProfile(RateShape shape, double period_s);

  // Rate multiplier at `t_s` seconds into the run; averages 1 over a period.
  double multiplier(double t_s) const;

  // The next send time after `t_s` for a mean rate of `rate` per second: one request per
  // 1 / (rate * multiplier) seconds, the open-loop schedule.
  double next_send(double t_s, double rate) const { return t_s + 1.0 / (rate * multiplier(t_s)); }

  RateShape shape() const { return shape_; }

 private:
  RateShape shape_;
  double period_s_;
};

}  // namespace yktgw::sim
