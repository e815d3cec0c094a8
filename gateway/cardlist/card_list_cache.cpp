#include "gateway/cardlist/card_list_cache.h"

#include <spdlog/sinks/null_sink.h>
#include <spdlog/spdlog.h>

#include <chrono>
#include <new>

#include "gateway/cardlist/card_list_image.h"

namespace yktgw {
namespace {

std::int64_t elapsed_ms(std::chrono::steady_clock::time_point since) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() -
                                                               since)
      .count();
}

}  // namespace

CardListCache::CardListCache(CardListOptions options, CardListDb db,
                             std::shared_ptr<spdlog::logger> log)
    : options_(std::move(options)), log_(std::move(log)), db_(std::move(db)) {}

Result<std::unique_ptr<CardListCache>> CardListCache::open(CardListOptions options,
                                                           std::shared_ptr<spdlog::logger> log) {
  if (!log) {
    log = std::make_shared<spdlog::logger>("cardlist",
                                           std::make_shared<spdlog::sinks::null_sink_mt>());
  }
  auto db = CardListDb::open(options.db_path, options.groups);
  if (!db) return db.error();
  auto meta = db->meta();
  if (!meta) return meta.error();
  auto checked = db->checked_ms();
  if (!checked) return checked.error();
  std::unique_ptr<CardListCache> cache(
      new CardListCache(std::move(options), std::move(db.value()), std::move(log)));
  cache->checked_ms_ = *checked;
  const auto& opt = cache->options_;

  const auto t0 = std::chrono::steady_clock::now();
  if (!opt.image_path.empty()) {
    auto image = read_card_list_image(opt.image_path, opt.groups);
    if (image && (*image)->meta() == *meta) {
      cache->list_.replace(std::move(image.value()));
      cache->log_->info("card list loaded source=image version={} entries={} ms={}", meta->version,
                        cache->list_.size(), elapsed_ms(t0));
      return cache;
    }
    if (!image && image.error().code != "image_missing") {
      cache->log_->warn("card list image unusable, loading from SQLite error=\"{}\"",
                        image.error().message);
    } else if (image) {
      cache->log_->info(
          "card list image is of version {} but the database of {}; loading from "
          "SQLite",
          (*image)->meta().version, meta->version);
    }
  }
  auto index = cache->load_from_db();
  if (!index) return index.error();
  cache->list_.replace(std::move(index.value()));
  cache->log_->info("card list loaded source=sqlite version={} entries={} ms={}",
                    cache->list_.version(), cache->list_.size(), elapsed_ms(t0));
  if (!opt.image_path.empty()) {
    std::lock_guard lock(cache->update_mu_);
    (void)cache->save_image_locked();
  }
  return cache;
}

Result<std::shared_ptr<const CardIndex>> CardListCache::load_from_db() { return db_.load_index(); }

bool CardListCache::stale(std::int64_t now_ms) const {
  return age(now_ms, options_.max_age_ms).stale;
}

CardListStatus CardListCache::status(std::int64_t now_ms) const {
  const auto index = list_.current();
  CardListStatus s;
  s.version = index->meta().version;
  s.updated_ms = index->meta().updated_ms;
  s.checked_ms = checked_ms();
  s.from_feed = !index->meta().feed_id.empty();
  s.feed_id = index->meta().feed_id;
  s.entries = index->size();
  s.memory_bytes = index->memory_bytes();
  // From the same index as the fields above, by the rule every reader of the list uses.
  const CardListAge a = card_list_age(s.updated_ms, s.checked_ms, options_.max_age_ms, now_ms);
  s.age_ms = a.age_ms;
  s.stale = a.stale;
  return s;
}

namespace {

// A delta's groups worked out from the index in use alone, so the new list can serve before
// SQLite is read. The index keeps one listed token per prefix by its first 64 bits only; a
// change under such a prefix is taken to be that token's. That is the identity lookups already
// rely on, and it is only wrong for a card the delta adds (or removes) that shares its first
// 64 bits with a different listed card, about 1e-7 odds for a 100 000-change delta on 30
// million entries. The groups read from SQLite afterwards (exact) correct any such prefix
// before the delta is committed.
std::vector<PrefixGroup> groups_from_memory(const CardIndex& index, const Feed& feed,
                                            const AttributeMap& feed_to_memory) {
  std::vector<PrefixGroup> groups;
  const auto& entries = feed.entries;
  for (std::size_t i = 0; i < entries.size();) {
    const std::uint64_t prefix = token_prefix(entries[i].token);
    const std::size_t first = i;
    while (i < entries.size() && token_prefix(entries[i].token) == prefix) ++i;
    PrefixGroup g{prefix, {}};
    if (auto listed = index.listed(prefix)) {
      g = std::move(listed->group);
      if (!listed->full) g.tokens.front().token = entries[first].token;
    }
    apply_to_group(g, std::span(entries).subspan(first, i - first), feed_to_memory);
    groups.push_back(std::move(g));
  }
  return groups;
}

}  // namespace

Result<void> CardListCache::apply(const Feed& feed) {
  std::lock_guard lock(update_mu_);
  const auto t0 = std::chrono::steady_clock::now();
  const auto before = list_.current();
  const FeedHeader& h = feed.header;
  ListMeta meta{h.version, h.created_ms, feed.id};
  std::shared_ptr<const CardIndex> next;
  std::int64_t serving_ms = -1;
  std::uint64_t corrected = 0;

  // A delta that follows the list in memory is merged and served first, from the verified feed
  // alone; SQLite is read and written afterwards. Until the commit the database keeps the old
  // version: should the process stop before it, the list reloads at that version and the next
  // poll fetches the delta again. Should the transaction fail, the old list comes back.
  std::vector<PrefixGroup> planned;
  if (h.kind == FeedKind::delta && !before->meta().feed_id.empty() &&
      check_feed_sequence(before->meta(), h)) {
    auto feed_names = AttributeNames::from(h.groups);
    if (!feed_names) return feed_names.error();
    try {
      planned = groups_from_memory(*before, feed, AttributeMap(*feed_names, options_.groups));
    } catch (const std::bad_alloc&) {
      return make_error("out_of_memory", "not enough memory to apply the card list delta");
    }
    // Layered over the index in use: O(changes), so serving does not wait for the O(n) merge
    // that follows.
    auto layered = CardIndex::layered(before, planned, meta);
    if (!layered) return layered.error();
    next = std::move(layered.value());
    list_.replace(next);
    serving_ms = elapsed_ms(t0);
    // The O(n) merge at once, while the layered index serves, so the long SQLite phase runs with
    // lookups on a plain index. Should it fail (memory), the merge is tried again after the commit.
    if (auto flat = next->with_changes({}, meta); flat) {
      next = std::move(flat.value());
      list_.replace(next);
    }
  }

  auto r = db_.apply_feed(
      feed,
      [&](std::vector<PrefixGroup>&& touched) -> Result<void> {
        if (h.kind == FeedKind::delta) {
          // The merge is only right on top of the list the database had before the delta.
          if (before->meta().version != h.base_version || before->meta().feed_id.empty()) {
            return make_error("out_of_step", "the list in memory (version " +
                                                 std::to_string(before->meta().version) +
                                                 ") is not the database's; reload first");
          }
          if (next) {
            // Served already: put right any prefix the database knows better.
            if (touched.size() != planned.size()) {
              return make_error("out_of_step",
                                "the delta's prefixes differ between memory and the database");
            }
            for (std::size_t i = 0; i < touched.size(); ++i) {
              if (touched[i] != planned[i]) {
                planned[i] = std::move(touched[i]);
                ++corrected;
              }
            }
            if (corrected == 0) return {};
            auto fixed = CardIndex::layered(before, planned, meta);
            if (!fixed) return fixed.error();
            next = std::move(fixed.value());
            list_.replace(next);
            return {};
          }
          auto merged = before->with_changes(touched, meta);
          if (!merged) return merged.error();
          next = std::move(merged.value());
        } else {
          auto feed_names = AttributeNames::from(h.groups);
          if (!feed_names) return feed_names.error();
          const AttributeMap to_memory(*feed_names, options_.groups);
          try {
            CardIndexBuilder builder(feed.entries.size());
            for (const auto& e : feed.entries) {
              builder.add(e.token, pack_entry(CardEntry{e.status, to_memory(e.attributes)}));
            }
            auto built = builder.finish(meta);
            if (!built) return built.error();
            next = std::move(built.value());
          } catch (const std::bad_alloc&) {
            return make_error("out_of_memory", "not enough memory to build the card index");
          }
        }
        // Served from here on, while the rows are written: the feed is verified, and should the
        // commit fail the old list comes back below. A crash before the commit restarts on the old
        // version, and the next poll fetches the feed again.
        list_.replace(next);
        serving_ms = elapsed_ms(t0);
        return {};
      },
      [&before](std::uint64_t prefix) { return before->has_prefix(prefix); });
  if (!r) {
    if (serving_ms >= 0) list_.replace(before);
    log_->warn(
        "card list feed not applied kind={} version={} base={} code={} error=\"{}\"; "
        "version {} stays in use",
        to_string(h.kind), h.version, h.base_version, r.error().code, r.error().message,
        before->meta().version);
    return r;
  }
  if (next->is_layered()) {
    // Committed; the merge that failed before or a correction's layer. Should it fail (memory),
    // the layered index keeps answering correctly and the next feed merges it.
    const auto t1 = std::chrono::steady_clock::now();
    if (auto flat = next->with_changes({}, meta); flat) {
      next = std::move(flat.value());
      list_.replace(next);
      log_->debug("card list delta version={} merged ms={}", h.version, elapsed_ms(t1));
    } else {
      log_->warn("card list delta version={} not merged yet error=\"{}\"", h.version,
                 flat.error().message);
    }
  }
  if (corrected > 0) {
    log_->info("card list delta version={} corrected prefixes={} after reading the database",
               h.version, corrected);
  }
  log_->info(
      "card list feed applied kind={} version={} entries={} changes={} feed_id={} "
      "serving_ms={} ms={}",
      to_string(h.kind), h.version, next->size(), feed.entries.size(), feed.id, serving_ms,
      elapsed_ms(t0));
  // Off the path to serving: the new list is in use and committed; this only folds the WAL.
  if (auto c = db_.checkpoint(); !c) {
    log_->warn("card list checkpoint failed error=\"{}\"", c.error().message);
  }
  return {};
}

Result<void> CardListCache::mark_checked(std::int64_t now_ms) {
  std::lock_guard lock(update_mu_);
  if (auto r = db_.set_checked_ms(now_ms); !r) return r;
  checked_ms_.store(now_ms, std::memory_order_relaxed);
  (void)db_.checkpoint();  // one page a poll would otherwise pile up in the WAL
  return {};
}

Result<bool> CardListCache::reload() {
  std::lock_guard lock(update_mu_);
  auto meta = db_.meta();
  if (!meta) return meta.error();
  if (*meta == list_.current()->meta()) return false;
  const auto t0 = std::chrono::steady_clock::now();
  auto index = load_from_db();
  if (!index) return index.error();
  list_.replace(std::move(index.value()));
  log_->info("card list reloaded source=sqlite version={} entries={} ms={}", list_.version(),
             list_.size(), elapsed_ms(t0));
  (void)save_image_locked();
  return true;
}

Result<void> CardListCache::save_image() {
  std::lock_guard lock(update_mu_);
  return save_image_locked();
}

Result<void> CardListCache::save_image_locked() {
  if (options_.image_path.empty()) return {};
  const auto t0 = std::chrono::steady_clock::now();
  const auto index = list_.current();
  auto r = write_card_list_image(options_.image_path, *index, options_.groups);
  if (!r) {
    // Only the next start is slower for it: SQLite still has the list.
    log_->warn("card list image not written error=\"{}\"", r.error().message);
    return r;
  }
  log_->info("card list image written version={} entries={} ms={}", index->meta().version,
             index->size(), elapsed_ms(t0));
  return {};
}

}  // namespace yktgw
