#include "gateway/credentials/replay_cache.h"

#include <algorithm>
#include <cstring>
#include <string>

#include "gateway/crypto/sm2.h"

namespace yktgw {

ReplayCache::Digest ReplayCache::digest_of(std::string_view key) {
  const std::string full = sm3(key);
  Digest d{};
  if (full.size() >= sizeof d) std::memcpy(d.data(), full.data(), sizeof d);
  return d;
}

ReplayCache::Verdict ReplayCache::check_and_record(std::string_view key, UtcMillis expires_ms,
                                                   UtcMillis now_ms, std::int64_t steady_now) {
  const Digest d = digest_of(key);  // outside the lock: the hash is the costly part
  const std::int64_t until = steady_now + std::max<std::int64_t>(0, expires_ms - now_ms);
  std::lock_guard lock(mu_);
  if (const auto it = expiry_.find(d); it != expiry_.end()) {
    if (it->second >= steady_now) return Verdict::replayed;
    // Held but its time is up: a code reusing an old nonce after its expiry is a new code.
    if (until > it->second) {
      it->second = until;
      by_expiry_.emplace(until, d);
    }
    return Verdict::fresh;
  }
  evict_expired(steady_now);
  if (expiry_.size() >= capacity_) return Verdict::full;
  expiry_.emplace(d, until);
  by_expiry_.emplace(until, d);
  return Verdict::fresh;
}

void ReplayCache::evict_expired(std::int64_t steady_now) {
  while (!by_expiry_.empty() && by_expiry_.top().first < steady_now) {
    const auto [when, d] = by_expiry_.top();
    by_expiry_.pop();
    const auto it = expiry_.find(d);
    // Only the slot that matches the current expiry removes the key; an older slot of an
    // extended key is just dropped.
    if (it != expiry_.end() && it->second == when) expiry_.erase(it);
  }
}

std::size_t ReplayCache::size() const {
  std::lock_guard lock(mu_);
  return expiry_.size();
}

}  // namespace yktgw
