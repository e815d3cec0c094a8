#pragma once
// The signed card-list feed of the simulated platform (format: gateway/cardlist/feed_format.h,
// docs/cardlist-feed.md): the snapshot at the current version and the delta from each earlier
// version to the next, signed with the platform's SM2 key. Encoded feeds are cached per
// version: a version never changes once made, and signing a large snapshot per request would
// let a polling fleet of gateways keep the simulator busy.

#include <cstdint>
#include <map>
#include <mutex>
#include <optional>
#include <string>

#include "gateway/crypto/sm2.h"
#include "terminals_sim/platform/platform_cards.h"

namespace yktgw::platform {

class FeedPublisher {
 public:
  FeedPublisher(const PlatformCards& cards, Sm2PrivateKey key);

  struct Encoded {
    std::int64_t version = 0;
    std::string bytes;  // empty when signing failed
  };
  Encoded snapshot();
  // The delta from `from` to `from + 1`; nullopt unless 1 <= from < current version.
  std::optional<Encoded> delta(std::int64_t from);

 private:
  const PlatformCards& cards_;
  Sm2PrivateKey key_;
  std::mutex mu_;
  Encoded snapshot_;                        // the latest snapshot made
  std::map<std::int64_t, Encoded> deltas_;  // by base version
};

}  // namespace yktgw::platform
