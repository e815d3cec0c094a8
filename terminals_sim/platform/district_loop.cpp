#include "terminals_sim/platform/district_loop.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <chrono>
#include <queue>
#include <vector>

namespace yktgw::platform {
namespace {

using Steady = std::chrono::steady_clock;
using std::chrono::milliseconds;

// Bounds every wait so `stop` is noticed promptly.
constexpr milliseconds kMaxWait{50};
// Online authorizations are written at least this often, or sooner when this many wait.
constexpr milliseconds kFlushInterval{200};
constexpr std::size_t kFlushRecords = 1000;

struct Delayed {
  Steady::time_point due;
  std::uint64_t seq;  // keeps answers with the same due time in arrival order
  std::string peer;
  district::Envelope envelope;
};

struct Later {
  bool operator()(const Delayed& a, const Delayed& b) const {
    return a.due != b.due ? a.due > b.due : a.seq > b.seq;
  }
};

}  // namespace

Result<void> serve_district(district::DistrictServer& server, PlatformService& service,
                            PlatformDb* db, const std::atomic<bool>& stop, spdlog::logger& log,
                            const DistrictLoopOptions& options, DistrictLoopStats* stats) {
  std::priority_queue<Delayed, std::vector<Delayed>, Later> delayed;
  const auto started = Steady::now();
  bool was_down = false;
  DistrictLoopStats local;
  DistrictLoopStats& counted = stats != nullptr ? *stats : local;
  auto down_at = [&](Steady::time_point t) {
    const bool down = options.down.down_at(std::chrono::duration_cast<milliseconds>(t - started));
    if (down != was_down) {
      was_down = down;
      if (down) {
        log.info("district link down (schedule) for {} ms: nothing is answered",
                 options.down.down.count());
      } else {
        log.info("district link up (schedule)");
      }
    }
    return down;
  };
  std::vector<AuthRecord> records;
  std::uint64_t seq = 0;
  auto last_flush = Steady::now();
  bool db_failed = false;

  auto flush = [&] {
    if (db == nullptr || records.empty()) return;
    if (auto r = db->record(records); !r && !db_failed) {
      // Once: a full disk would otherwise log at the request rate.
      db_failed = true;
      log.error(
          "platform db: cannot record online authorizations error=\"{}\"; continuing "
          "without recording",
          r.error().message);
    }
    records.clear();
  };

  while (!stop.load()) {
    const auto now = Steady::now();
    milliseconds wait = kMaxWait;
    if (!delayed.empty()) {
      wait = std::min(wait, std::max(milliseconds(0),
                                     std::chrono::ceil<milliseconds>(delayed.top().due - now)));
    }
    auto message = server.receive(wait);
    if (!message) {
      flush();
      return message.error();
    }
    if (*message && down_at(Steady::now())) {
      ++counted.dropped_while_down;
    } else if (*message) {
      district::PeerMessage& m = **message;
      Handled h = m.envelope.type == district::MessageType::batch && options.batches != nullptr
                      ? options.batches->handle(m.envelope)
                      : service.handle(m.envelope);
      if (h.record) records.push_back(std::move(*h.record));
      if (h.reply) {
        if (h.delay.count() <= 0) {
          server.send(m.peer, *h.reply);
        } else {
          delayed.push(
              Delayed{Steady::now() + h.delay, seq++, std::move(m.peer), std::move(*h.reply)});
        }
      }
    }
    const auto after = Steady::now();
    const bool down = down_at(after);
    while (!delayed.empty() && delayed.top().due <= after) {
      if (down) {
        ++counted.dropped_while_down;
      } else {
        server.send(delayed.top().peer, delayed.top().envelope);
      }
      delayed.pop();
    }
    if (records.size() >= kFlushRecords || after - last_flush >= kFlushInterval) {
      flush();
      last_flush = after;
    }
  }
  flush();
  return {};
}

}  // namespace yktgw::platform
