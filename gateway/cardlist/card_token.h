#pragma once
// A card token in its two shapes: 64 lower-case hex digits where people, JSON and SQLite see it,
// 32 raw bytes in the signed feed and in memory. The in-memory index keys on the first 8 bytes.

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace yktgw {

using TokenBytes = std::array<std::uint8_t, 32>;

inline constexpr std::size_t kTokenHexLength = 64;

namespace detail {
// -1 for anything but 0-9 a-f: upper case is refused so one card has exactly one token text.
inline constexpr std::array<std::int8_t, 256> kHexValue = [] {
  std::array<std::int8_t, 256> t{};
  t.fill(-1);
  for (int c = '0'; c <= '9'; ++c)
    t[static_cast<std::size_t>(c)] = static_cast<std::int8_t>(c - '0');
  for (int c = 'a'; c <= 'f'; ++c)
    t[static_cast<std::size_t>(c)] = static_cast<std::int8_t>(c - 'a' + 10);
  return t;
}();
}  // namespace detail

// nullopt unless `hex` is exactly 64 lower-case hex digits.
inline std::optional<TokenBytes> token_from_hex(std::string_view hex) {
  if (hex.size() != kTokenHexLength) return std::nullopt;
  TokenBytes out{};
  int bad = 0;
  for (std::size_t i = 0; i < out.size(); ++i) {
    const int hi = detail::kHexValue[static_cast<unsigned char>(hex[2 * i])];
    const int lo = detail::kHexValue[static_cast<unsigned char>(hex[2 * i + 1])];
    bad |= hi | lo;  // any -1 sets the sign bit; one test at the end keeps the loop branch-free
    out[i] = static_cast<std::uint8_t>((hi << 4) | (lo & 0xF));
  }
  if (bad < 0) return std::nullopt;
  return out;
}

inline std::string token_to_hex(const TokenBytes& token) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string out(kTokenHexLength, '0');
  for (std::size_t i = 0; i < token.size(); ++i) {
    out[2 * i] = kDigits[token[i] >> 4];
    out[2 * i + 1] = kDigits[token[i] & 0xF];
  }
  return out;
}

// The index key: the first 8 bytes, big-endian, so keys sort like the tokens' hex text.
inline std::uint64_t token_prefix(const TokenBytes& token) {
  std::uint64_t p = 0;
  for (std::size_t i = 0; i < 8; ++i) p = (p << 8) | token[i];
  return p;
}

}  // namespace yktgw
