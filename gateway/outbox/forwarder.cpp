#include "gateway/outbox/forwarder.h"

#include <pthread.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <condition_variable>
#include <deque>
#include <limits>
#include <mutex>
#include <optional>
#include <random>
#include <set>
#include <thread>
#include <utility>

#include "gateway/core/log_throttle.h"
#include "gateway/core/thread_priority.h"
#include "gateway/outbox/backoff.h"
#include "gateway/outbox/batch_format.h"
#include "gateway/outbox/outbox_db.h"
#include "gateway/outbox/record_reader.h"

namespace yktgw::outbox {
namespace {

using SteadyTime = std::chrono::steady_clock::time_point;
using std::chrono::milliseconds;

constexpr std::uint64_t kNoUpperBound = std::numeric_limits<std::int64_t>::max();
constexpr int kRebuildLimit = std::numeric_limits<int>::max();
constexpr std::size_t kMaxReasonBytes = 500;

struct Completion {
  std::string batch_id;
  DeliveryResult result;
};

// A batch's payload made on the compression thread; on failure the lines come back to be tried
// again.
struct Compressed {
  std::string batch_id;
  bool ok = false;
  std::string payload;  // gzip when ok, else the uncompressed lines
  std::string error;
};

// Shared by a destination and the callbacks it gives its link. A link may answer after the
// destination is gone (a late reply after stop), so callbacks hold this, never the destination.
struct Inbox {
  std::mutex mu;
  std::condition_variable cv;
  std::deque<Completion> completions;
  std::deque<Compressed> compressed;
  bool woken = false;
  bool closed = false;

  void push(Compressed c) {
    {
      std::lock_guard lock(mu);
      if (closed) return;
      compressed.push_back(std::move(c));
      woken = true;
    }
    cv.notify_one();
  }

  void push(Completion c) {
    {
      std::lock_guard lock(mu);
      if (closed) return;
      completions.push_back(std::move(c));
      woken = true;
    }
    cv.notify_one();
  }
  void wake() {
    {
      std::lock_guard lock(mu);
      woken = true;
    }
    cv.notify_one();
  }
};

// compressing: recorded in outbox.db, its payload still being made on the compression thread.
enum class FlightState : std::uint8_t { compressing, waiting, sending, done };

// Compresses closed batches on a thread of its own, so the destination's thread reads and
// encodes the next batch meanwhile: gzip is the largest cost per record, and the box has two
// cores. Results go to the destination's inbox, in the order the batches were submitted.
class Compressor {
 public:
  Compressor(int level, int nice, std::shared_ptr<Inbox> inbox)
      : level_(level), inbox_(std::move(inbox)), thread_([this, nice] {
          pthread_setname_np(pthread_self(), "fwd-gzip");
          // A failure is logged by the destination's thread, which tries the same.
          (void)lower_this_thread_priority(nice);
          run();
        }) {}
  ~Compressor() {
    {
      std::lock_guard lock(mu_);
      stop_ = true;
    }
    cv_.notify_one();
    thread_.join();
  }
  Compressor(const Compressor&) = delete;
  Compressor& operator=(const Compressor&) = delete;

  void submit(std::string batch_id, std::string lines) {
    {
      std::lock_guard lock(mu_);
      jobs_.emplace_back(std::move(batch_id), std::move(lines));
    }
    cv_.notify_one();
  }

 private:
  void run() {
    std::unique_lock lock(mu_);
    for (;;) {
      cv_.wait(lock, [&] { return stop_ || !jobs_.empty(); });
      if (stop_) return;
      auto [id, lines] = std::move(jobs_.front());
      jobs_.pop_front();
      lock.unlock();
      auto gz = gzip_compress(lines, level_);
      Compressed c{std::move(id), gz.ok(), {}, {}};
      if (gz) {
        c.payload = std::move(gz.value());
      } else {
        c.payload = std::move(lines);
        c.error = gz.error().message;
      }
      inbox_->push(std::move(c));
      lock.lock();
    }
  }

  const int level_;
  std::shared_ptr<Inbox> inbox_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<std::pair<std::string, std::string>> jobs_;
  bool stop_ = false;
  std::thread thread_;  // last: starts once the members above exist
};

struct Flight {
  StoredBatch stored;
  Batch batch;  // the compressed payload stays in memory until the batch is done
  FlightState state = FlightState::waiting;
  UtcMillis oldest_received_ms = 0;
  int failures_at_send = 0;
};

std::string cut(std::string_view s, std::size_t max) {
  if (s.size() <= max) return std::string(s);
  while (max > 0 && (static_cast<unsigned char>(s[max]) & 0xC0) == 0x80) --max;
  return std::string(s.substr(0, max)) + "...";
}

}  // namespace

std::string_view to_string(DestinationState s) {
  switch (s) {
    case DestinationState::idle:
      return "idle";
    case DestinationState::sending:
      return "sending";
    case DestinationState::backoff:
      return "backoff";
    case DestinationState::no_link:
      return "no_link";
    case DestinationState::stopped:
      return "stopped";
  }
  return "idle";
}

class Forwarder::Destination {
 public:
  Destination(std::string name, UpstreamLink* link, const ForwarderOptions& options,
              const Clock& clock, std::shared_ptr<spdlog::logger> log, OutboxDb db,
              RecordReader reader)
      : name_(std::move(name)),
        link_(link),
        options_(options),
        clock_(clock),
        log_(std::move(log)),
        db_(std::move(db)),
        reader_(std::move(reader)),
        batcher_(options.limits),
        backoff_(options.retry_min, options.retry_max),
        inbox_(std::make_shared<Inbox>()),
        throttle_(milliseconds(10'000)) {
    if (options_.jitter) {
      jitter_ = options_.jitter;
    } else {
      jitter_ = [rng = std::mt19937_64(std::random_device{}())]() mutable {
        return std::uniform_real_distribution<double>(0.0, 1.0)(rng);
      };
    }
  }

  ~Destination() {
    std::lock_guard lock(inbox_->mu);
    inbox_->closed = true;
  }

  Result<void> recover();
  SteadyTime run_once();
  void start() {
    if (link_) {
      compressor_ = std::make_unique<Compressor>(options_.gzip_level, options_.thread_nice, inbox_);
    }
    thread_ = std::thread([this] {
      // Thread names are at most 15 characters; the destination is cut to fit.
      pthread_setname_np(pthread_self(), ("fwd-" + name_).substr(0, 15).c_str());
      if (auto r = lower_this_thread_priority(options_.thread_nice); !r) {
        log_->warn("destination={} runs at normal priority: {}", name_, r.error().message);
      }
      thread_main();
    });
  }
  void begin_stop(SteadyTime deadline) {
    stop_deadline_ = deadline;
    stopping_.store(true);
    inbox_->wake();
  }
  void join() {
    if (thread_.joinable()) thread_.join();
    compressor_.reset();
    finish();
  }
  void wake() { inbox_->wake(); }
  DestinationStats stats() const {
    std::lock_guard lock(stats_mu_);
    return stats_;
  }

 private:
  void thread_main();
  void finish();
  void apply(Completion c);
  void apply(Compressed c);
  void on_delivered(Flight& f, bool resend);
  void on_retry_later(Flight& f, const std::string& detail);
  void on_rejected(Flight& f, bool resend, const std::string& detail);
  void advance();
  void fill(SteadyTime now);
  bool form(ClosedBatch closed);
  void send_ready(SteadyTime now);
  void pick_up_retry_requests();
  void refresh_tail(SteadyTime now);
  void publish_stats();
  void refresh_dead_letters();
  // Reads the rows of a recorded range again (after a restart, or for a dead-letter re-send).
  Result<ClosedBatch> rebuild(std::uint64_t first_seq, std::uint64_t last_seq);
  Flight* find(const std::string& id, bool& resend);
  std::size_t open_stream_batches() const;
  void warn(const std::string& key, const std::string& message);

  const std::string name_;
  UpstreamLink* const link_;
  const ForwarderOptions& options_;
  const Clock& clock_;
  std::shared_ptr<spdlog::logger> log_;
  OutboxDb db_;
  RecordReader reader_;
  Batcher batcher_;
  Backoff backoff_;
  std::function<double()> jitter_;
  std::shared_ptr<Inbox> inbox_;
  // With start(): batches are compressed beside the reading; step() compresses inline.
  std::unique_ptr<Compressor> compressor_;
  // Retry warnings come from a remote party's behaviour: at most one per interval per key.
  LogThrottle throttle_;

  // Touched only by the destination's own thread (or step()'s caller).
  std::deque<Flight> stream_;
  std::deque<Flight> resends_;
  std::optional<ClosedBatch> pending_form_;  // closed but not yet recorded (outbox.db failed)
  std::uint64_t cursor_ = 0;
  std::uint64_t read_seq_ = 0;
  bool caught_up_ = false;
  int in_flight_ = 0;
  int failures_ = 0;
  SteadyTime next_send_at_{};
  SteadyTime next_dead_letter_poll_{};
  SteadyTime next_tail_{};
  std::uint64_t counted_upto_ = 0;  // rows up to here are in tail_count_ (when after read_seq_)
  std::uint64_t tail_count_ = 0;
  std::optional<UtcMillis> tail_oldest_;
  std::uint64_t dead_letters_ = 0;
  UtcMillis last_ack_ms_ = 0;
  std::uint64_t batches_delivered_ = 0;
  std::uint64_t records_delivered_ = 0;
  std::uint64_t retry_answers_ = 0;
  std::uint64_t batches_rejected_ = 0;
  std::string last_error_;
  std::string line_;  // reused encoding buffer

  std::atomic<bool> stopping_{false};
  SteadyTime stop_deadline_{};
  bool finished_ = false;
  std::thread thread_;

  mutable std::mutex stats_mu_;
  DestinationStats stats_;
};

Result<ClosedBatch> Forwarder::Destination::rebuild(std::uint64_t first_seq,
                                                    std::uint64_t last_seq) {
  ClosedBatch out;
  const auto n = reader_.read(
      first_seq == 0 ? 0 : first_seq - 1, last_seq, kRebuildLimit, [&](ForwardedRecord&& r) {
        if (out.count == 0) {
          out.first_seq = r.seq;
          out.oldest_received_ms = r.record.received_ms;
        }
        out.last_seq = r.seq;
        out.oldest_received_ms = std::min(out.oldest_received_ms, r.record.received_ms);
        append_record_line(r, out.lines);
        ++out.count;
      });
  if (!n) return n.error();
  return out;
}

Result<void> Forwarder::Destination::recover() {
  auto cursor = db_.acked_seq(name_);
  if (!cursor) return cursor.error();
  cursor_ = *cursor;
  read_seq_ = cursor_;
  auto stored = db_.batches(name_);
  if (!stored) return stored.error();
  std::size_t resumed = 0;
  for (StoredBatch& sb : *stored) {
    if (sb.kind == BatchKind::stream && sb.last_seq <= cursor_) continue;
    Flight f;
    f.stored = sb;
    f.batch = Batch{sb.id, name_, sb.first_seq, sb.last_seq, sb.count, {}};
    f.state = sb.done ? FlightState::done : FlightState::waiting;
    if (!sb.done) {
      auto rows = rebuild(sb.first_seq, sb.last_seq);
      if (!rows) return rows.error();
      if (rows->count != sb.count) {
        // Only a change of the routing config between runs does this; the platform still
        // drops any repeat by txn_id.
        log_->warn(
            "destination={} batch={} resumed with records={} (recorded {}); routing "
            "changed since it was formed?",
            name_, sb.id, rows->count, sb.count);
      }
      if (rows->count == 0) {
        f.state = FlightState::done;
        if (sb.kind == BatchKind::retry) {
          (void)db_.finish_retry(sb, false, "no records of this destination left in the range",
                                 clock_.wall_ms());
          continue;
        }
      } else {
        auto gz = gzip_compress(rows->lines, options_.gzip_level);
        if (!gz) return gz.error();
        f.batch.payload = std::move(gz.value());
        f.batch.count = rows->count;
        f.oldest_received_ms = rows->oldest_received_ms;
      }
      ++resumed;
    }
    if (sb.kind == BatchKind::stream) {
      read_seq_ = std::max(read_seq_, sb.last_seq);
      stream_.push_back(std::move(f));
    } else {
      resends_.push_back(std::move(f));
    }
  }
  counted_upto_ = read_seq_;
  advance();
  refresh_dead_letters();
  log_->info("destination={} link={} cursor={} resumed_batches={} dead_letters={}", name_,
             link_ ? "yes" : "none", cursor_, resumed, dead_letters_);
  if (!link_) {
    log_->warn("destination={} has routes but no link: its records are kept, not forwarded", name_);
  }
  publish_stats();
  return {};
}

void Forwarder::Destination::thread_main() {
  for (;;) {
    const SteadyTime next = run_once();
    // The stop deadline is real time even when tests drive a fake clock.
    const auto real_now = std::chrono::steady_clock::now();
    if (stopping_.load() && (in_flight_ == 0 || real_now >= stop_deadline_)) break;
    std::unique_lock lock(inbox_->mu);
    auto wait = std::chrono::duration_cast<milliseconds>(next - clock_.steady());
    if (stopping_.load()) {
      wait = std::min(wait, std::chrono::duration_cast<milliseconds>(stop_deadline_ - real_now));
    }
    wait = std::clamp(wait, milliseconds(0), std::max(options_.poll_interval, milliseconds(1)));
    inbox_->cv.wait_for(lock, wait, [&] { return inbox_->woken; });
  }
}

void Forwarder::Destination::finish() {
  if (finished_) return;
  finished_ = true;
  {
    std::lock_guard lock(inbox_->mu);
    inbox_->closed = true;
  }
  if (in_flight_ > 0) {
    log_->warn(
        "destination={} stopped with {} batch(es) unanswered; the next start sends them "
        "again under the same ids",
        name_, in_flight_);
  }
  publish_stats();
}

SteadyTime Forwarder::Destination::run_once() {
  const SteadyTime now = clock_.steady();
  std::deque<Completion> done;
  std::deque<Compressed> compressed;
  {
    std::lock_guard lock(inbox_->mu);
    done.swap(inbox_->completions);
    compressed.swap(inbox_->compressed);
    inbox_->woken = false;
  }
  for (Compressed& c : compressed) apply(std::move(c));
  for (Completion& c : done) apply(std::move(c));

  const bool stopping = stopping_.load();
  if (!stopping) {
    if (now >= next_dead_letter_poll_) {
      pick_up_retry_requests();
      refresh_dead_letters();
      next_dead_letter_poll_ = now + options_.dead_letter_poll;
    }
    fill(now);
    send_ready(now);
  }
  refresh_tail(now);
  publish_stats();

  SteadyTime next = now + options_.poll_interval;
  if (!stopping && link_) {
    const std::size_t window = static_cast<std::size_t>(std::max(1, link_->max_in_flight()));
    const bool room = open_stream_batches() < window;
    if (room && !caught_up_ && !pending_form_) next = now;  // more rows are waiting: go on
    if (room) {
      if (auto d = batcher_.deadline()) next = std::min(next, *d);
    }
    const bool waiting =
        std::any_of(stream_.begin(), stream_.end(),
                    [](const Flight& f) { return f.state == FlightState::waiting; }) ||
        std::any_of(resends_.begin(), resends_.end(),
                    [](const Flight& f) { return f.state == FlightState::waiting; });
    if (waiting) next = std::min(next, std::max(now, next_send_at_));
  }
  return std::max(now, std::min(next, next_dead_letter_poll_));
}

Flight* Forwarder::Destination::find(const std::string& id, bool& resend) {
  for (Flight& f : stream_) {
    if (f.batch.id == id) {
      resend = false;
      return &f;
    }
  }
  for (Flight& f : resends_) {
    if (f.batch.id == id) {
      resend = true;
      return &f;
    }
  }
  return nullptr;
}

void Forwarder::Destination::apply(Completion c) {
  bool resend = false;
  Flight* f = find(c.batch_id, resend);
  if (f == nullptr || f->state != FlightState::sending) {
    log_->debug("destination={} batch={} answer for a batch not in flight; ignored", name_,
                c.batch_id);
    return;
  }
  --in_flight_;
  switch (c.result.status) {
    case DeliveryStatus::delivered:
      on_delivered(*f, resend);
      break;
    case DeliveryStatus::retry_later:
      on_retry_later(*f, c.result.detail);
      break;
    case DeliveryStatus::rejected:
      on_rejected(*f, resend, cut(c.result.detail, kMaxReasonBytes));
      break;
  }
}

void Forwarder::Destination::apply(Compressed c) {
  bool resend = false;
  Flight* f = find(c.batch_id, resend);
  if (f == nullptr || f->state != FlightState::compressing) return;
  if (!c.ok) {
    warn("gzip", "destination=" + name_ + " cannot compress batch " + c.batch_id + ": " + c.error);
    compressor_->submit(std::move(c.batch_id), std::move(c.payload));
    return;
  }
  f->batch.payload = std::move(c.payload);
  f->state = FlightState::waiting;
}

void Forwarder::Destination::on_delivered(Flight& f, bool resend) {
  if (failures_ > 0) {
    log_->info("destination={} platform accepts batches again after {} failed attempt(s)", name_,
               failures_);
  }
  failures_ = 0;
  next_send_at_ = SteadyTime{};
  last_ack_ms_ = clock_.wall_ms();
  ++batches_delivered_;
  records_delivered_ += f.batch.count;
  if (resend) {
    if (auto r = db_.finish_retry(f.stored, true, "", clock_.wall_ms()); !r) {
      log_->error("destination={} batch={} accepted but outbox.db failed: {}", name_, f.batch.id,
                  r.error().message);
    }
    log_->info("destination={} dead_letter={} batch={} accepted on re-send; resolved", name_,
               f.stored.dead_letter_id, f.batch.id);
    const std::string id = f.batch.id;
    std::erase_if(resends_, [&](const Flight& x) { return x.batch.id == id; });
    refresh_dead_letters();
    return;
  }
  f.state = FlightState::done;
  f.batch.payload.clear();
  f.batch.payload.shrink_to_fit();
  if (&f != &stream_.front()) {
    // Acked out of order: remember it, so a restart does not send it again.
    if (auto r = db_.mark_batch_done(f.batch.id); !r) {
      log_->error("destination={} batch={} cannot record the ack: {}", name_, f.batch.id,
                  r.error().message);
    }
  }
  advance();
}

void Forwarder::Destination::on_retry_later(Flight& f, const std::string& detail) {
  f.state = FlightState::waiting;
  ++retry_answers_;
  last_error_ = cut(detail, kMaxReasonBytes);
  const SteadyTime now = clock_.steady();
  // Several batches in flight fail together when a platform goes away; that is one failure
  // for the backoff, not one per batch.
  if (f.failures_at_send == failures_) {
    ++failures_;
    const milliseconds delay =
        backoff_.delay(failures_, jitter_(), retry_after_from_detail(detail));
    next_send_at_ = std::max(next_send_at_, now + delay);
    std::uint64_t held = 0;
    if (throttle_.allow("retry", now, held)) {
      log_->warn("destination={} batch={} retry_later failures={} delay_ms={} detail=\"{}\"{}",
                 name_, f.batch.id, failures_, delay.count(), last_error_,
                 held ? " (" + std::to_string(held) + " similar not logged)" : std::string());
    }
  }
}

void Forwarder::Destination::on_rejected(Flight& f, bool resend, const std::string& detail) {
  failures_ = 0;
  next_send_at_ = SteadyTime{};
  ++batches_rejected_;
  last_error_ = detail;
  const UtcMillis now = clock_.wall_ms();
  if (resend) {
    if (auto r = db_.finish_retry(f.stored, false, detail, now); !r) {
      log_->error("destination={} batch={} cannot record the rejection: {}", name_, f.batch.id,
                  r.error().message);
    }
    log_->error(
        "destination={} dead_letter={} batch={} rejected again; stays a dead letter "
        "reason=\"{}\"",
        name_, f.stored.dead_letter_id, f.batch.id, detail);
    const std::string id = f.batch.id;
    std::erase_if(resends_, [&](const Flight& x) { return x.batch.id == id; });
    refresh_dead_letters();
    return;
  }
  StoredBatch stored = f.stored;
  stored.count = f.batch.count;
  auto letter = db_.dead_letter_batch(stored, detail, now);
  if (!letter) {
    // Never let the cursor pass a rejection that is not on record: send it again later.
    log_->error(
        "destination={} batch={} rejected but the dead letter cannot be written ({}); "
        "it will be sent again",
        name_, f.batch.id, letter.error().message);
    f.state = FlightState::waiting;
    next_send_at_ = clock_.steady() + options_.retry_min;
    return;
  }
  log_->error(
      "destination={} batch={} rejected: dead_letter={} seq={}..{} records={} "
      "reason=\"{}\"",
      name_, f.batch.id, *letter, f.batch.first_seq, f.batch.last_seq, f.batch.count, detail);
  f.state = FlightState::done;
  f.batch.payload.clear();
  advance();
  refresh_dead_letters();
}

void Forwarder::Destination::advance() {
  std::uint64_t cursor = cursor_;
  while (!stream_.empty() && stream_.front().state == FlightState::done) {
    cursor = stream_.front().batch.last_seq;
    stream_.pop_front();
  }
  if (cursor == cursor_) return;
  if (auto r = db_.advance_cursor(name_, cursor, clock_.wall_ms()); !r) {
    log_->error(
        "destination={} cannot record cursor={}: {}; batches may be sent again after a "
        "restart",
        name_, cursor, r.error().message);
  }
  cursor_ = cursor;
}

std::size_t Forwarder::Destination::open_stream_batches() const {
  return static_cast<std::size_t>(
      std::count_if(stream_.begin(), stream_.end(),
                    [](const Flight& f) { return f.state != FlightState::done; }));
}

bool Forwarder::Destination::form(ClosedBatch closed) {
  StoredBatch sb;
  sb.id = batch_id(options_.gateway_id, name_, closed.first_seq, closed.last_seq);
  sb.destination = name_;
  sb.kind = BatchKind::stream;
  sb.first_seq = closed.first_seq;
  sb.last_seq = closed.last_seq;
  sb.count = closed.count;
  sb.created_ms = clock_.wall_ms();
  if (compressor_) {
    // The range goes on record before the first send: that is what keeps the id stable. The
    // payload follows from the compression thread; until then the batch waits its turn.
    if (auto r = db_.insert_batch(sb); !r) {
      warn("outbox_db", "destination=" + name_ + " cannot record batch " + sb.id + ": " +
                            r.error().message + "; holding it");
      pending_form_ = std::move(closed);
      return false;
    }
    Flight f;
    f.stored = sb;
    f.batch = Batch{sb.id, name_, sb.first_seq, sb.last_seq, sb.count, {}};
    f.state = FlightState::compressing;
    f.oldest_received_ms = closed.oldest_received_ms;
    compressor_->submit(sb.id, std::move(closed.lines));
    stream_.push_back(std::move(f));
    return true;
  }
  auto gz = gzip_compress(closed.lines, options_.gzip_level);
  if (!gz) {
    warn("gzip",
         "destination=" + name_ + " cannot compress batch " + sb.id + ": " + gz.error().message);
    pending_form_ = std::move(closed);
    return false;
  }
  // The range goes on record before the first send: that is what keeps the id stable.
  if (auto r = db_.insert_batch(sb); !r) {
    warn("outbox_db", "destination=" + name_ + " cannot record batch " + sb.id + ": " +
                          r.error().message + "; holding it");
    pending_form_ = std::move(closed);
    return false;
  }
  Flight f;
  f.stored = sb;
  f.batch = Batch{sb.id, name_, sb.first_seq, sb.last_seq, sb.count, std::move(gz.value())};
  f.oldest_received_ms = closed.oldest_received_ms;
  stream_.push_back(std::move(f));
  return true;
}

void Forwarder::Destination::fill(SteadyTime now) {
  if (!link_) return;
  if (pending_form_) {
    ClosedBatch held = std::move(*pending_form_);
    pending_form_.reset();
    if (!form(std::move(held))) return;
  }
  const std::size_t window = static_cast<std::size_t>(std::max(1, link_->max_in_flight()));
  const int chunk = std::max(1, options_.limits.max_records);
  while (open_stream_batches() < window) {
    if (auto due = batcher_.close_if_due(now)) {
      if (!form(std::move(*due))) return;
      continue;
    }
    bool halted = false;
    const auto n = reader_.read(read_seq_, kNoUpperBound, chunk, [&](ForwardedRecord&& r) {
      if (halted) return;  // rows after a failed form are read again next time
      line_.clear();
      append_record_line(r, line_);
      read_seq_ = r.seq;
      if (r.seq <= counted_upto_ && tail_count_ > 0) --tail_count_;
      if (auto closed = batcher_.add(r.seq, line_, r.record.received_ms, now)) {
        if (!form(std::move(*closed))) halted = true;
      }
    });
    if (!n) {
      warn("read", "destination=" + name_ + " cannot read records.db: " + n.error().message);
      return;
    }
    if (halted) return;
    caught_up_ = *n < static_cast<std::size_t>(chunk);
    if (caught_up_) {
      if (open_stream_batches() < window) {
        if (auto due = batcher_.close_if_due(now)) form(std::move(*due));
      }
      return;
    }
  }
}

void Forwarder::Destination::send_ready(SteadyTime now) {
  if (!link_ || now < next_send_at_) return;
  // While the platform is failing, one batch probes it; the rest wait for its answer.
  const int limit = failures_ > 0 ? 1 : std::max(1, link_->max_in_flight());
  for (auto* list : {&stream_, &resends_}) {
    for (Flight& f : *list) {
      if (in_flight_ >= limit) return;
      if (f.state != FlightState::waiting) continue;
      f.state = FlightState::sending;
      f.failures_at_send = failures_;
      ++in_flight_;
      link_->send(f.batch, [inbox = inbox_, id = f.batch.id](DeliveryResult r) {
        inbox->push(Completion{id, std::move(r)});
      });
    }
  }
}

void Forwarder::Destination::pick_up_retry_requests() {
  if (!link_) return;
  auto requests = db_.retry_requests(name_);
  if (!requests) {
    warn("retry_requests",
         "destination=" + name_ + " cannot read dead letters: " + requests.error().message);
    return;
  }
  const UtcMillis now = clock_.wall_ms();
  // Re-sends are read into memory a window at a time; the other requests wait their turn.
  const auto window = static_cast<std::size_t>(std::max(1, link_->max_in_flight()));
  for (const DeadLetter& letter : *requests) {
    if (resends_.size() >= window) break;
    StoredBatch sb;
    sb.id = letter.batch_id + "-r" + std::to_string(letter.retries + 1);
    sb.destination = name_;
    sb.kind = BatchKind::retry;
    sb.first_seq = letter.first_seq;
    sb.last_seq = letter.last_seq;
    sb.dead_letter_id = letter.id;
    sb.created_ms = now;
    auto rows = rebuild(letter.first_seq, letter.last_seq);
    if (!rows) {
      warn("retry_requests", "destination=" + name_ + " cannot read records of dead letter " +
                                 std::to_string(letter.id) + ": " + rows.error().message);
      return;
    }
    if (rows->count == 0) {
      log_->error(
          "destination={} dead_letter={} has no records of this destination left in its "
          "range; left as a dead letter",
          name_, letter.id);
      (void)db_.finish_retry(sb, false, "no records of this destination left in the range", now);
      continue;
    }
    auto gz = gzip_compress(rows->lines, options_.gzip_level);
    if (!gz) return;
    sb.count = rows->count;
    if (auto r = db_.start_retry(letter, sb, now); !r) {
      warn("retry_requests", "destination=" + name_ + " cannot start re-send of dead letter " +
                                 std::to_string(letter.id) + ": " + r.error().message);
      return;
    }
    Flight f;
    f.stored = sb;
    f.batch = Batch{sb.id, name_, sb.first_seq, sb.last_seq, sb.count, std::move(gz.value())};
    f.oldest_received_ms = rows->oldest_received_ms;
    resends_.push_back(std::move(f));
    log_->info("destination={} dead_letter={} re-sending as batch={} records={}", name_, letter.id,
               sb.id, sb.count);
  }
}

void Forwarder::Destination::refresh_dead_letters() {
  if (auto n = db_.open_dead_letters(name_)) dead_letters_ = *n;
}

void Forwarder::Destination::refresh_tail(SteadyTime now) {
  if (now < next_tail_) return;
  next_tail_ = now + options_.stats_interval;
  // Counted piece by piece: the rows added since the last look, so a large backlog is counted
  // once, not on every refresh.
  auto max = reader_.max_seq();
  if (!max) return;
  if (*max > counted_upto_) {
    const std::uint64_t from = std::max(counted_upto_, read_seq_);
    auto n = reader_.count(from, *max);
    if (!n) return;
    tail_count_ += *n;
    counted_upto_ = *max;
  }
  if (read_seq_ >= counted_upto_) tail_count_ = 0;
  auto first = reader_.first_received(read_seq_);
  if (first) tail_oldest_ = *first;
}

void Forwarder::Destination::publish_stats() {
  DestinationStats s;
  s.destination = name_;
  s.in_flight = static_cast<std::uint32_t>(in_flight_);
  s.acked_seq = cursor_;
  s.last_ack_ms = last_ack_ms_;
  s.dead_letters = dead_letters_;
  s.batches_delivered = batches_delivered_;
  s.records_delivered = records_delivered_;
  s.retries = retry_answers_;
  s.batches_rejected = batches_rejected_;
  s.last_error = last_error_;
  // The oldest receive time of what is still to deliver; kNothing when there is nothing.
  constexpr UtcMillis kNothing = std::numeric_limits<UtcMillis>::max();
  UtcMillis oldest = tail_count_ > 0 && tail_oldest_ ? *tail_oldest_ : kNothing;
  auto older = [&](UtcMillis t) { oldest = std::min(oldest, t); };
  for (const Flight& f : stream_) {
    if (f.state == FlightState::done) continue;
    s.backlog += f.batch.count;
    older(f.oldest_received_ms);
  }
  s.backlog += batcher_.open_count();
  if (auto t = batcher_.open_oldest_received_ms()) older(*t);
  if (pending_form_) {
    s.backlog += pending_form_->count;
    older(pending_form_->oldest_received_ms);
  }
  s.backlog += tail_count_;
  if (oldest != kNothing) s.lag_ms = std::max<std::int64_t>(0, clock_.wall_ms() - oldest);
  if (finished_) {
    s.state = DestinationState::stopped;
  } else if (!link_) {
    s.state = DestinationState::no_link;
  } else if (failures_ > 0) {
    s.state = DestinationState::backoff;
  } else if (in_flight_ > 0 || s.backlog > 0) {
    s.state = DestinationState::sending;
  } else {
    s.state = DestinationState::idle;
  }
  std::lock_guard lock(stats_mu_);
  stats_ = std::move(s);
}

void Forwarder::Destination::warn(const std::string& key, const std::string& message) {
  std::uint64_t held = 0;
  if (throttle_.allow(key, clock_.steady(), held)) {
    log_->error("{}{}", message,
                held ? " (" + std::to_string(held) + " similar not logged)" : std::string());
  }
}

// ---- Forwarder ---------------------------------------------------------------------------------

Result<std::unique_ptr<Forwarder>> Forwarder::open(ForwarderOptions options, const Router& router,
                                                   std::map<std::string, UpstreamLink*> links,
                                                   const Clock& clock,
                                                   std::shared_ptr<spdlog::logger> log) {
  if (!log) log = spdlog::default_logger();
  if (options.gateway_id.empty()) return make_error("forwarder", "gateway id is empty");
  auto fwd = std::unique_ptr<Forwarder>(new Forwarder());
  fwd->log_ = log;
  // The options live in the Forwarder so each Destination can hold a reference to them.
  auto shared = std::make_shared<const ForwarderOptions>(std::move(options));
  fwd->options_ = shared;
  std::set<std::string> names;
  for (const std::string& d : router.destinations()) names.insert(d);
  for (const auto& [name, link] : links) {
    if (link != nullptr) names.insert(name);
  }
  for (const std::string& name : names) {
    auto db = OutboxDb::open(shared->outbox_db);
    if (!db) return db.error();
    auto reader =
        RecordReader::open(shared->records_db, router.sql_condition(name), shared->gateway_id);
    if (!reader) return reader.error();
    const auto it = links.find(name);
    UpstreamLink* link = it == links.end() ? nullptr : it->second;
    auto dest = std::make_unique<Destination>(name, link, *shared, clock, log,
                                              std::move(db.value()), std::move(reader.value()));
    if (auto r = dest->recover(); !r) {
      return make_error(r.error().code,
                        "destination " + name + ": cannot resume: " + r.error().message);
    }
    fwd->destinations_.push_back(std::move(dest));
  }
  return fwd;
}

Forwarder::~Forwarder() { stop(std::chrono::milliseconds(0)); }

void Forwarder::start() {
  if (started_ || stopped_) return;
  started_ = true;
  for (auto& d : destinations_) d->start();
}

void Forwarder::stop(std::chrono::milliseconds timeout) {
  if (stopped_) return;
  stopped_ = true;
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  for (auto& d : destinations_) d->begin_stop(deadline);
  for (auto& d : destinations_) d->join();
}

void Forwarder::wake() {
  for (auto& d : destinations_) d->wake();
}

std::vector<DestinationStats> Forwarder::stats() const {
  std::vector<DestinationStats> out;
  out.reserve(destinations_.size());
  for (const auto& d : destinations_) out.push_back(d->stats());
  return out;
}

bool Forwarder::dead_letter_alarm() const {
  for (const auto& d : destinations_) {
    if (d->stats().dead_letters > 0) return true;
  }
  return false;
}

void Forwarder::step() {
  if (started_ || stopped_) return;
  for (auto& d : destinations_) d->run_once();
}

}  // namespace yktgw::outbox
