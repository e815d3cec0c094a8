#pragma once
// Draws from std::mt19937_64 that give the same numbers with every standard library.
// std::uniform_int_distribution is implementation-defined, so a population generated from a
// seed on one machine would not match the card list file generated on another.

#include <cstdint>
#include <random>

namespace yktgw::sim {

// Uniform in [0, bound); bound > 0. Rejection sampling keeps it unbiased.
inline std::uint64_t uniform_below(std::mt19937_64& rng, std::uint64_t bound) {
  const std::uint64_t limit = UINT64_MAX - UINT64_MAX % bound;
  std::uint64_t x = rng();
  while (x >= limit) x = rng();
  return x % bound;
}

// Uniform in [lo, hi]; lo <= hi.
inline std::int64_t uniform_between(std::mt19937_64& rng, std::int64_t lo, std::int64_t hi) {
  const auto span = static_cast<std::uint64_t>(hi - lo) + 1;
  return lo + static_cast<std::int64_t>(uniform_below(rng, span));
}

// Uniform in [0, 1) with 53 random bits.
inline double uniform_unit(std::mt19937_64& rng) {
  return static_cast<double>(rng() >> 11) * 0x1.0p-53;
}

}  // namespace yktgw::sim
