#include "terminals_sim/platform/feed_publisher.h"

#include <vector>

#include "gateway/cardlist/feed_format.h"

namespace yktgw::platform {
namespace {

std::vector<FeedEntry> feed_entries(const std::vector<CardChange>& changes) {
  std::vector<FeedEntry> out;
  out.reserve(changes.size());
  for (const CardChange& c : changes) {
    FeedEntry e;
    e.token = c.token;
    if (c.entry) {
      e.op = FeedOp::upsert;
      e.status = c.entry->status;
      e.attributes = c.entry->attributes;
    } else {
      e.op = FeedOp::remove;  // status and attributes stay at their documented zero values
    }
    out.push_back(e);
  }
  return out;
}

}  // namespace

FeedPublisher::FeedPublisher(const PlatformCards& cards, Sm2PrivateKey key)
    : cards_(cards), key_(std::move(key)) {}

FeedPublisher::Encoded FeedPublisher::snapshot() {
  std::lock_guard lock(mu_);
  if (snapshot_.version == cards_.version() && !snapshot_.bytes.empty()) return snapshot_;
  std::int64_t version = 0;
  const auto changes = cards_.snapshot(version);
  FeedHeader header;
  header.kind = FeedKind::snapshot;
  header.base_version = 0;
  header.version = version;
  header.created_ms = cards_.created_ms(version);
  header.groups = platform_groups();
  snapshot_ = Encoded{version, encode_feed(header, feed_entries(changes), key_)};
  return snapshot_;
}

std::optional<FeedPublisher::Encoded> FeedPublisher::delta(std::int64_t from) {
  std::lock_guard lock(mu_);
  if (const auto it = deltas_.find(from); it != deltas_.end()) return it->second;
  const auto changes = cards_.delta(from);
  if (!changes) return std::nullopt;
  FeedHeader header;
  header.kind = FeedKind::delta;
  header.base_version = from;
  header.version = from + 1;
  header.created_ms = cards_.created_ms(from + 1);
  header.groups = platform_groups();
  Encoded e{from + 1, encode_feed(header, feed_entries(*changes), key_)};
  if (!e.bytes.empty()) deltas_.emplace(from, e);
  return e;
}

}  // namespace yktgw::platform
