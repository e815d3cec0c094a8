// Card list at province scale: index build and load (image, SQLite), resident memory per entry,
// lookup latency, and a 100 000-change delta applied while lookups run. Prints one line per
// figure, `name value unit baseline ratio`, and optionally the same as JSON.
//
//   cardlist_bench [--entries 30000000] [--lookups 1000000] [--delta 100000] [--batch 8]
//                  [--dir DIR] [--no-sqlite] [--keep] [--json FILE]
//
// --keep leaves DIR (the database, its image and a copy of the freshly synced database) in
// place; a later run with the same --dir and --entries starts from that copy instead of
// spending a minute and a half on the initial 30-million-row snapshot.

#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <thread>
#include <type_traits>
#include <unordered_map>
#include <vector>

#include "gateway/cardlist/card_index.h"
#include "gateway/cardlist/card_list_cache.h"
#include "gateway/cardlist/card_list_image.h"
#include "gateway/cardlist/card_list_store.h"
#include "gateway/cardlist/feed_format.h"
#include "gateway/crypto/sm2.h"

namespace {

using namespace yktgw;
using Clock = std::chrono::steady_clock;

struct Args {
  std::uint64_t entries = 30'000'000;
  std::uint64_t lookups = 1'000'000;
  std::uint64_t delta = 100'000;
  int batch = 8;
  std::string dir;
  bool sqlite = true;
  bool keep = false;
  std::string json;
};

std::uint64_t splitmix(std::uint64_t& s) {
  std::uint64_t z = (s += 0x9e3779b97f4a7c15ULL);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

// A full token from its 64-bit prefix: the rest is derived, so 30 million tokens need not be
// kept in memory beside the index being measured.
TokenBytes token_of(std::uint64_t prefix) {
  TokenBytes t{};
  for (int i = 0; i < 8; ++i)
    t[static_cast<std::size_t>(i)] = static_cast<std::uint8_t>(prefix >> (56 - 8 * i));
  std::uint64_t s = prefix;
  for (int w = 1; w < 4; ++w) {
    const std::uint64_t v = splitmix(s);
    for (int i = 0; i < 8; ++i)
      t[static_cast<std::size_t>(8 * w + i)] = static_cast<std::uint8_t>(v >> (8 * i));
  }
  return t;
}

// Mostly active cards, a few on the deny list, some attributes: like a district's list.
CardEntry entry_of(std::uint64_t prefix, std::uint64_t salt = 0) {
  std::uint64_t s = prefix ^ salt ^ 0x5bd1e995ULL;
  const std::uint64_t r = splitmix(s);
  const auto status = static_cast<CardStatus>((r % 100) < 94 ? 0 : 1 + (r % 3));
  const HolderAttributes attrs = static_cast<HolderAttributes>((r >> 8) & 0x3) |
                                 (static_cast<HolderAttributes>((r >> 16) & 0xF) << kFirstGroupBit);
  return CardEntry{status, attrs};
}

long rss_kib() {
  std::ifstream in("/proc/self/status");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("VmRSS:", 0) == 0) return std::strtol(line.c_str() + 6, nullptr, 10);
  }
  return -1;
}

double seconds_since(Clock::time_point t0) {
  return std::chrono::duration<double>(Clock::now() - t0).count();
}

struct Report {
  nlohmann::json json = nlohmann::json::array();
  void add(const std::string& name, double value, const std::string& unit,
           std::optional<double> baseline = std::nullopt) {
    std::string base = "-";
    std::string ratio = "-";
    nlohmann::json j{{"name", name}, {"value", value}, {"unit", unit}};
    if (baseline) {
      char b[64], r[64];
      std::snprintf(b, sizeof b, "%.4g", *baseline);
      std::snprintf(r, sizeof r, "%.3f", value / *baseline);
      base = b;
      ratio = r;
      j["baseline"] = *baseline;
      j["ratio"] = value / *baseline;
    }
    std::printf("%-40s %14.4g %-10s %12s %8s\n", name.c_str(), value, unit.c_str(), base.c_str(),
                ratio.c_str());
    std::fflush(stdout);
    json.push_back(j);
  }
};

struct Percentiles {
  double p50 = 0, p99 = 0, p999 = 0, max = 0;
};

Percentiles percentiles(std::vector<double> v) {
  Percentiles p;
  if (v.empty()) return p;
  std::sort(v.begin(), v.end());
  auto at = [&](double q) {
    return v[std::min(v.size() - 1, static_cast<std::size_t>(q * v.size()))];
  };
  p.p50 = at(0.50);
  p.p99 = at(0.99);
  p.p999 = at(0.999);
  p.max = v.back();
  return p;
}

// Times `count` calls of `one(i)` in batches of `batch`; returns nanoseconds per call, one
// figure per batch.
template <typename F>
std::vector<double> time_batches(std::uint64_t count, int batch, F&& one) {
  std::vector<double> out;
  out.reserve(count / static_cast<std::uint64_t>(batch) + 1);
  for (std::uint64_t i = 0; i + static_cast<std::uint64_t>(batch) <= count;
       i += static_cast<std::uint64_t>(batch)) {
    const auto t0 = Clock::now();
    for (int k = 0; k < batch; ++k) one(i + static_cast<std::uint64_t>(k));
    const auto t1 = Clock::now();
    out.push_back(std::chrono::duration<double, std::nano>(t1 - t0).count() / batch);
  }
  return out;
}

// Hex tokens in one flat buffer: a million std::strings would distort the memory figures.
struct TokenText {
  std::vector<char> text;
  std::string_view operator[](std::uint64_t i) const {
    return std::string_view(text.data() + i * kTokenHexLength, kTokenHexLength);
  }
  void push(const TokenBytes& t) {
    const std::string h = token_to_hex(t);
    text.insert(text.end(), h.begin(), h.end());
  }
};

std::atomic<std::uint64_t> g_sink{0};

Args parse_args(int argc, char** argv) {
  Args a;
  for (int i = 1; i < argc; ++i) {
    const std::string k = argv[i];
    auto next = [&]() -> std::string {
      if (i + 1 >= argc) {
        std::fprintf(stderr, "cardlist_bench: %s needs a value\n", k.c_str());
        std::exit(2);
      }
      return argv[++i];
    };
    if (k == "--entries")
      a.entries = std::stoull(next());
    else if (k == "--lookups")
      a.lookups = std::stoull(next());
    else if (k == "--delta")
      a.delta = std::stoull(next());
    else if (k == "--batch")
      a.batch = std::max(1, std::stoi(next()));
    else if (k == "--dir")
      a.dir = next();
    else if (k == "--json")
      a.json = next();
    else if (k == "--no-sqlite")
      a.sqlite = false;
    else if (k == "--keep")
      a.keep = true;
    else {
      std::fprintf(stderr,
                   "usage: cardlist_bench [--entries N] [--lookups N] [--delta N] [--batch N] "
                   "[--dir DIR] [--no-sqlite] [--keep] [--json FILE]\n");
      std::exit(2);
    }
  }
  if (a.dir.empty()) {
    a.dir = (std::filesystem::temp_directory_path() /
             ("yktgw-cardlist-bench-" + std::to_string(::getpid())))
                .string();
  }
  return a;
}

}  // namespace

int main(int argc, char** argv) {
  const Args args = parse_args(argc, argv);
  Report report;
  std::printf("%-40s %14s %-10s %12s %8s\n", "name", "value", "unit", "baseline", "ratio");
  const long rss_start = rss_kib();

  // --- the list: N sorted unique prefixes ------------------------------------------------------
  auto t0 = Clock::now();
  std::vector<std::uint64_t> prefixes(args.entries);
  std::uint64_t seed = 20240611;
  for (auto& p : prefixes) p = splitmix(seed);
  std::sort(prefixes.begin(), prefixes.end());
  prefixes.erase(std::unique(prefixes.begin(), prefixes.end()), prefixes.end());
  const auto n = prefixes.size();
  report.add("entries", static_cast<double>(n), "count");
  report.add("generate_sorted_keys", seconds_since(t0), "s");

  // --- index build and memory --------------------------------------------------------------------
  const long rss_before = rss_kib();
  t0 = Clock::now();
  std::shared_ptr<const CardIndex> index;
  {
    CardIndexBuilder builder(n);
    for (auto p : prefixes) builder.add(token_of(p), pack_entry(entry_of(p)));
    index = builder.finish(ListMeta{1, 1, "bench"}).value();
  }
  report.add("index_build_from_sorted", seconds_since(t0), "s");
  const long rss_after = rss_kib();
  const double directory =
      static_cast<double>(((std::size_t{1} << index->directory_bits()) + 1) * 4);
  report.add("index_directory_fixed", directory / (1 << 20), "MiB");
  report.add(
      "index_rss_per_entry_beyond_base",
      (static_cast<double>(rss_after - rss_before) * 1024 - directory) / static_cast<double>(n),
      "B/entry", 16.0);
  report.add("index_heap_per_entry",
             static_cast<double>(index->memory_bytes()) / static_cast<double>(n), "B/entry", 16.0);
  report.add("process_rss_base_before_list", static_cast<double>(rss_start) / 1024, "MiB");

  IndexedCardList list;
  list.replace(index);

  // --- lookups
  // ------------------------------------------------------------------------------------
  std::uint64_t rs = 7;
  TokenText hits, misses;
  hits.text.reserve(args.lookups * kTokenHexLength);
  misses.text.reserve(args.lookups * kTokenHexLength);
  for (std::uint64_t i = 0; i < args.lookups; ++i) {
    hits.push(token_of(prefixes[splitmix(rs) % n]));
    std::uint64_t p = splitmix(rs);
    while (std::binary_search(prefixes.begin(), prefixes.end(), p)) p = splitmix(rs);
    misses.push(token_of(p));
  }
  auto lookup = [&](const TokenText& set) {
    return [&list, &set](std::uint64_t i) {
      auto e = list.find(set[i]);
      g_sink.fetch_add(e ? 1 : 0, std::memory_order_relaxed);
    };
  };
  (void)time_batches(args.lookups / 4, args.batch,
                     lookup(hits));  // warm caches and branch predictors
  const auto hit = percentiles(time_batches(args.lookups, args.batch, lookup(hits)));
  const auto miss = percentiles(time_batches(args.lookups, args.batch, lookup(misses)));
  const auto single = percentiles(time_batches(args.lookups, 1, lookup(hits)));

  // Baseline: a plain hash map from 64-bit key to packed value, 1M entries, same timing.
  Percentiles base_hit;
  {
    const std::uint64_t bn = std::min<std::uint64_t>(1'000'000, n);
    std::unordered_map<std::uint64_t, std::uint32_t> map;
    map.reserve(bn);
    std::vector<std::uint64_t> keys(bn);
    for (std::uint64_t i = 0; i < bn; ++i) {
      keys[i] = prefixes[(i * 2654435761ULL) % n];
      map.emplace(keys[i], pack_entry(entry_of(keys[i])));
    }
    std::vector<std::uint64_t> probe(args.lookups);
    for (auto& k : probe) k = keys[splitmix(rs) % bn];
    auto one = [&](std::uint64_t i) {
      auto it = map.find(probe[i]);
      g_sink.fetch_add(it != map.end() ? 1 : 0, std::memory_order_relaxed);
    };
    (void)time_batches(args.lookups / 4, args.batch, one);
    base_hit = percentiles(time_batches(args.lookups, args.batch, one));
  }
  report.add("lookup_hit_p50", hit.p50, "ns", base_hit.p50);
  report.add("lookup_hit_p99", hit.p99, "ns", base_hit.p99);
  report.add("lookup_hit_p999", hit.p999, "ns", base_hit.p999);
  report.add("lookup_miss_p50", miss.p50, "ns", base_hit.p50);
  report.add("lookup_miss_p99", miss.p99, "ns", base_hit.p99);
  report.add("lookup_hit_unbatched_p50", single.p50, "ns");
  report.add("lookup_hit_unbatched_p99", single.p99, "ns");
  report.add("lookup_hit_unbatched_p999", single.p999, "ns");

  // --- a delta merged in memory while another thread looks up
  // ------------------------------------- Half status changes, a quarter new cards, a quarter
  // deletions.
  std::vector<PrefixGroup> changes;
  {
    std::vector<std::uint64_t> touched;
    for (std::uint64_t i = 0; i < args.delta; ++i) {
      touched.push_back(i % 4 == 0 ? splitmix(rs) : prefixes[splitmix(rs) % n]);
    }
    std::sort(touched.begin(), touched.end());
    touched.erase(std::unique(touched.begin(), touched.end()), touched.end());
    for (std::uint64_t i = 0; i < touched.size(); ++i) {
      const auto p = touched[i];
      PrefixGroup g{p, {}};
      if (i % 4 != 1) g.tokens.push_back(IndexedToken{token_of(p), pack_entry(entry_of(p, 1))});
      changes.push_back(std::move(g));
    }
  }
  // Cards the delta does not touch must keep their answer throughout.
  TokenText steady;
  std::vector<CardEntry> steady_entries;
  for (std::uint64_t i = 0; steady_entries.size() < 100'000 && i < n; i += 97) {
    const auto p = prefixes[(i * 40503ULL) % n];
    const bool touched =
        std::binary_search(changes.begin(), changes.end(), p, [](const auto& a, const auto& b) {
          if constexpr (std::is_same_v<std::decay_t<decltype(a)>, PrefixGroup>) {
            return a.prefix < b;
          } else {
            return a < b.prefix;
          }
        });
    if (touched) continue;
    steady.push(token_of(p));
    steady_entries.push_back(entry_of(p));
  }
  {
    std::atomic<bool> stop{false};
    std::atomic<std::uint64_t> wrong{0};
    std::vector<double> during;
    std::thread reader([&] {
      std::uint64_t i = 0;
      while (!stop.load(std::memory_order_relaxed)) {
        const auto t0r = Clock::now();
        for (int k = 0; k < args.batch; ++k, ++i) {
          const std::uint64_t j = (i * 7919) % steady_entries.size();  // scattered
          auto e = list.find(steady[j]);
          if (!e || *e != steady_entries[j]) wrong.fetch_add(1, std::memory_order_relaxed);
        }
        during.push_back(std::chrono::duration<double, std::nano>(Clock::now() - t0r).count() /
                         args.batch);
      }
    });
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
    t0 = Clock::now();
    auto next = list.current()->with_changes(changes, ListMeta{2, 2, "bench-delta"});
    const double merge_s = seconds_since(t0);
    list.replace(next.value());
    const double merge_swap_s = seconds_since(t0);
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
    stop = true;
    reader.join();
    const auto d = percentiles(during);
    report.add("delta_changes", static_cast<double>(changes.size()), "count");
    report.add("delta_merge_in_memory", merge_s, "s", 1.0);
    report.add("delta_merge_and_swap", merge_swap_s, "s", 1.0);
    report.add("lookup_during_merge_p50", d.p50, "ns", hit.p50);
    report.add("lookup_during_merge_p99", d.p99, "ns", hit.p99);
    report.add("lookup_during_merge_lookups", static_cast<double>(during.size() * args.batch),
               "count");
    report.add("lookup_during_merge_wrong_answers", static_cast<double>(wrong.load()), "count");
  }
  {
    // How the gateway serves a delta now: the changed groups layered over the index in use
    // (O(changes)) are swapped in first; the merge above follows once SQLite has committed.
    list.replace(index);
    t0 = Clock::now();
    auto layered = CardIndex::layered(index, changes, ListMeta{2, 2, "bench-delta"});
    report.add("delta_layer_in_memory", seconds_since(t0), "s", 1.0);
    list.replace(layered.value());
    const auto on_layer = percentiles(time_batches(args.lookups, args.batch, lookup(hits)));
    report.add("lookup_hit_on_layered_p50", on_layer.p50, "ns", hit.p50);
    report.add("lookup_hit_on_layered_p99", on_layer.p99, "ns", hit.p99);
    std::uint64_t wrong = 0;
    for (std::size_t j = 0; j < steady_entries.size(); ++j) {
      auto e = list.find(steady[j]);
      if (!e || *e != steady_entries[j]) ++wrong;
    }
    for (const auto& g : changes) {
      auto e = list.find(token_to_hex(token_of(g.prefix)));
      const bool ok = g.tokens.empty() ? !e : (e && pack_entry(*e) == g.tokens[0].packed);
      if (!ok) ++wrong;
    }
    report.add("lookup_on_layered_wrong_answers", static_cast<double>(wrong), "count");
  }
  index.reset();
  list.replace(CardIndex::empty());

  if (!args.sqlite) {
    if (!args.json.empty()) std::ofstream(args.json) << report.json.dump(2) << "\n";
    return 0;
  }

  // --- SQLite, feed and image at full size
  // ----------------------------------------------------------
  const std::string synced = args.dir + "/synced-" + std::to_string(n) + ".db";
  const bool reuse = args.keep && std::filesystem::exists(synced);
  if (!reuse) std::filesystem::remove_all(args.dir);
  std::filesystem::create_directories(args.dir);
  // A new platform key each run is fine: the database keeps feeds' effects, not their keys.
  auto key = Sm2PrivateKey::generate().value();
  auto pub = key.public_key().value();
  CardListOptions opt;
  opt.db_path = args.dir + "/cardlist.db";
  opt.image_path = args.dir + "/cardlist.idx";
  opt.groups = AttributeNames::parse(kDefaultCardGroups).value();
  if (reuse) {
    for (const char* suffix : {"", "-wal", "-shm"}) std::filesystem::remove(opt.db_path + suffix);
    std::filesystem::remove(opt.image_path);
    std::filesystem::copy_file(synced, opt.db_path);
    auto cache = CardListCache::open(opt, nullptr).value();  // writes the image
  } else {
    {
      auto cache = CardListCache::open(opt, nullptr).value();
      std::string bytes;
      {
        FeedHeader h;
        h.kind = FeedKind::snapshot;
        h.version = 100;
        h.created_ms = 1'700'000'000'000;
        h.groups = opt.groups.groups();
        std::vector<FeedEntry> entries(n);
        for (std::uint64_t i = 0; i < n; ++i) {
          const CardEntry e = entry_of(prefixes[i]);
          entries[i] = FeedEntry{token_of(prefixes[i]), FeedOp::upsert, e.status, e.attributes};
        }
        t0 = Clock::now();
        bytes = encode_feed(h, entries, key);
        report.add("snapshot_encode_and_sign", seconds_since(t0), "s");
      }
      report.add("snapshot_feed_size", static_cast<double>(bytes.size()) / (1 << 20), "MiB");
      t0 = Clock::now();
      auto feed = decode_feed(bytes, pub);
      report.add("snapshot_decode_and_verify", seconds_since(t0), "s");
      bytes = std::string();
      t0 = Clock::now();
      if (auto r = cache->apply(*feed); !r) {
        std::fprintf(stderr, "snapshot apply failed: %s\n", r.error().message.c_str());
        return 1;
      }
      report.add("snapshot_apply_sqlite_and_index", seconds_since(t0), "s");
      feed = Feed{};
      t0 = Clock::now();
      (void)cache->save_image();
      report.add("image_write", seconds_since(t0), "s");
    }
    // Closing the last connection folded the WAL into the file, so the copy is complete.
    if (args.keep) std::filesystem::copy_file(opt.db_path, synced);
  }
  report.add("sqlite_file_size",
             static_cast<double>(std::filesystem::file_size(opt.db_path)) / (1 << 20), "MiB");
  report.add("image_file_size",
             static_cast<double>(std::filesystem::file_size(opt.image_path)) / (1 << 20), "MiB");

  // Loads, each from a fresh process state as far as the index goes.
  {
    t0 = Clock::now();
    auto image = read_card_list_image(opt.image_path, opt.groups);
    report.add("load_from_image", seconds_since(t0), "s", 10.0);
    if (!image || (*image)->size() != n) {
      std::fprintf(stderr, "image load failed\n");
      return 1;
    }
  }
  {
    auto db = CardListDb::open(opt.db_path, opt.groups).value();
    t0 = Clock::now();
    auto loaded = db.load_index();
    report.add("load_from_sqlite", seconds_since(t0), "s", 10.0);
    if (!loaded || (*loaded)->size() != n) {
      std::fprintf(stderr, "sqlite load failed\n");
      return 1;
    }
  }
  {
    t0 = Clock::now();
    auto cache = CardListCache::open(opt, nullptr).value();
    report.add("cache_open_with_image", seconds_since(t0), "s", 10.0);

    // The 100 000-change delta end to end: decode and verify, SQLite transaction, merge, swap,
    // while a reader thread looks up.
    std::vector<FeedEntry> entries;
    for (const auto& g : changes) {
      if (g.tokens.empty()) {
        entries.push_back(FeedEntry{token_of(g.prefix), FeedOp::remove, CardStatus::active, 0});
      } else {
        const CardEntry e = unpack_entry(g.tokens[0].packed);
        entries.push_back(FeedEntry{g.tokens[0].token, FeedOp::upsert, e.status, e.attributes});
      }
    }
    FeedHeader h;
    h.kind = FeedKind::delta;
    h.base_version = 100;
    h.version = 101;
    h.created_ms = 1'700'000'100'000;
    h.groups = opt.groups.groups();
    const std::string bytes = encode_feed(h, entries, key);
    // Gigabytes just written (the database, its copy, the image) are still going to disk; the
    // delta's commit would otherwise queue behind them and measure the writeback instead.
    ::sync();
    t0 = Clock::now();
    auto feed = decode_feed(bytes, pub);
    report.add("delta_decode_and_verify", seconds_since(t0), "s");
    std::atomic<bool> stop{false};
    std::vector<double> during;
    Clock::time_point served{};
    const auto started = Clock::now();
    t0 = started;
    std::thread reader([&] {
      std::uint64_t i = 0;
      while (!stop.load(std::memory_order_relaxed)) {
        const auto t0r = Clock::now();
        for (int k = 0; k < args.batch; ++k, ++i) {
          auto e = cache->find(hits[i % args.lookups]);
          g_sink.fetch_add(e ? 1 : 0, std::memory_order_relaxed);
        }
        during.push_back(std::chrono::duration<double, std::nano>(Clock::now() - t0r).count() /
                         args.batch);
        // When lookups first see the new version: the delta is serving from then on.
        if (served == Clock::time_point{} && cache->version() == 101) served = Clock::now();
      }
    });
    auto r = cache->apply(*feed);
    const double apply_s = seconds_since(t0);
    stop = true;
    reader.join();
    if (!r) {
      std::fprintf(stderr, "delta apply failed: %s\n", r.error().message.c_str());
      return 1;
    }
    report.add("delta_apply_until_serving", std::chrono::duration<double>(served - started).count(),
               "s", 1.0);
    report.add("delta_apply_total_with_checkpoint", apply_s, "s", 1.0);
    const auto d = percentiles(during);
    report.add("lookup_during_delta_apply_p99", d.p99, "ns", hit.p99);
    t0 = Clock::now();
    (void)cache->save_image();
    report.add("image_write_after_delta", seconds_since(t0), "s");
  }
  report.add("process_rss_end", static_cast<double>(rss_kib()) / 1024, "MiB");
  if (!args.keep) std::filesystem::remove_all(args.dir);
  if (!args.json.empty()) std::ofstream(args.json) << report.json.dump(2) << "\n";
  return g_sink.load() == 0xFFFFFFFFFFFFFFFFULL ? 3 : 0;
}
