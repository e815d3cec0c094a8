#pragma once
// Remembers the QR codes already used, until each one expires, so a photographed or forwarded
// code works once. Thread-safe: the crypto pool's workers share one cache per code type.
//
// Bounded: when it holds `capacity` unexpired entries it cannot take a new one. Evicting the
// oldest unexpired entry would make that code usable again (a replay window an attacker can
// open by flooding), and accepting without recording would do the same. So a full cache answers
// `full`, the decoder declines with `busy`, and the code stays unused: the holder may present
// it again once entries expire. At the default 500 000 entries and 125 s lifetime (120 s
// validity plus skew) that takes 4 000 distinct codes per second, about what two cores verify.
//
// How long a key is held is measured on the monotonic clock: at the first use the code's
// remaining validity (its expiry minus the wall clock) is turned into a monotonic deadline. A
// wall-clock step forward therefore does not let the cache forget codes early (a code used before
// the step would be accepted once more when the clock is set right again), and a step back does
// not keep them longer than their real validity.
//
// Keys are held as the first 128 bits of their SM3 digest: a fixed 16 bytes whatever the key's
// length (about 80 bytes per entry with the map and heap, 40 MB when full), and a collision
// between two real codes is not a practical concern.

#include <array>
#include <cstddef>
#include <cstdint>
#include <mutex>
#include <queue>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include "gateway/core/records.h"

namespace yktgw {

class ReplayCache {
 public:
  enum class Verdict : std::uint8_t { fresh, replayed, full };

  explicit ReplayCache(std::size_t capacity) : capacity_(capacity) {}
  ReplayCache(const ReplayCache&) = delete;
  ReplayCache& operator=(const ReplayCache&) = delete;

  // Atomically: `replayed` if `key` is held at `steady_ms` (milliseconds on a monotonic clock);
  // else holds it for `expires_ms - now_ms` (wall clock; inclusive) from `steady_ms` on and
  // answers `fresh`; `full` if there is no room even after dropping the entries whose time is up.
  Verdict check_and_record(std::string_view key, UtcMillis expires_ms, UtcMillis now_ms,
                           std::int64_t steady_ms);

  std::size_t size() const;
  std::size_t capacity() const { return capacity_; }

 private:
  void evict_expired(std::int64_t steady_now);

  using Digest = std::array<std::uint64_t, 2>;
  struct DigestHash {
    std::size_t operator()(const Digest& d) const noexcept { return d[0]; }  // already uniform
  };
  static Digest digest_of(std::string_view key);

  const std::size_t capacity_;
  mutable std::mutex mu_;
  // key → last monotonic millisecond it is held
  std::unordered_map<Digest, std::int64_t, DigestHash> expiry_;
  // Earliest deadline on top. A key whose hold was extended keeps its older slot too; that slot
  // is skipped when it no longer matches the map.
  using Slot = std::pair<std::int64_t, Digest>;
  std::priority_queue<Slot, std::vector<Slot>, std::greater<>> by_expiry_;
};

}  // namespace yktgw
