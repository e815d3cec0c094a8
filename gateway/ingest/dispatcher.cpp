#include "gateway/ingest/dispatcher.h"

#include <spdlog/spdlog.h>

#include "gateway/credentials/terminal_mac.h"
#include "gateway/protocol/terminal_protocol.h"

namespace yktgw {

struct Dispatcher::Counters {
  using C = std::atomic<std::uint64_t>;
  C received{0}, auth_requests{0}, approved{0}, declined{0}, txn_received{0}, txn_batches{0},
      txn_stored{0},
      txn_duplicate{0}, txn_rejected{0}, txn_store_failed{0}, txn_store_busy{0},
      txn_quota_refused{0}, status_messages{0}, dropped_queue_full{0}, dropped_stopping{0},
      unroutable{0}, publish_failed{0}, bad_response_topic{0}, rate_limited{0};
  std::array<C, kReasonCount> auth_by_reason{};
  std::array<C, kReasonCount> refused_by_reason{};

  static void inc(C& c) { c.fetch_add(1, std::memory_order_relaxed); }
};

namespace {

std::uint64_t load(const std::atomic<std::uint64_t>& c) {
  return c.load(std::memory_order_relaxed);
}

std::size_t idx(Reason r) { return static_cast<std::size_t>(r); }

// The refusal of a payload over its limit, before any of it is read.
protocol::ParseError too_large(std::size_t size, int limit) {
  return {Reason::payload_too_large,
          "payload of " + std::to_string(size) + " bytes exceeds " + std::to_string(limit),
          {},
          {},
          {}};
}

// What a reply needs from its request (v5 response topic, correlation data), taken out of the
// request so it can travel by value to the thread that answers.
InboundMessage reply_meta_of(InboundMessage& msg) {
  InboundMessage meta;
  meta.response_topic = std::move(msg.response_topic);
  meta.correlation_data = std::move(msg.correlation_data);
  meta.has_correlation = msg.has_correlation;
  return meta;
}

}  // namespace

Dispatcher::Dispatcher(Deps deps, DispatcherOptions options)
    : deps_(std::move(deps)),
      options_(std::move(options)),
      counters_(std::make_unique<Counters>()),
      warn_limit_(std::chrono::milliseconds(options_.warn_interval_ms)),
      limiter_(options_.terminal_rate_per_s, options_.terminal_burst) {}

Dispatcher::~Dispatcher() { stop(); }

void Dispatcher::start() {
  std::lock_guard lock(mu_);
  stopping_ = false;
  for (int i = 0; i < options_.workers; ++i) workers_.emplace_back([this] { worker_loop(); });
}

void Dispatcher::on_message(InboundMessage&& msg) {
  Counters::inc(counters_->received);
  bool limited = false;
  std::optional<protocol::ParsedTopic> topic;
  if (limiter_.enabled() || options_.inline_auth) topic = protocol::parse_topic(msg.topic);
  if (limiter_.enabled()) {
    // Checked before the queue, so a flooding terminal cannot fill it and delay the others.
    if (topic && topic->address.site == options_.site) {
      const auto verdict = limiter_.admit(topic->address.terminal, deps_.clock.steady());
      if (verdict != TerminalRateLimiter::Verdict::allow) {
        Counters::inc(counters_->rate_limited);
        if (verdict == TerminalRateLimiter::Verdict::refuse_silently) {
          Counters::inc(counters_->refused_by_reason[idx(Reason::rate_limited)]);
          return;
        }
        limited = true;  // one a second per terminal: logged, and answered if a request
      }
    }
  }
  if (options_.inline_auth && !limited && topic && topic->kind == protocol::TopicKind::auth_req &&
      topic->address.site == options_.site) {
    {
      std::lock_guard lock(mu_);
      if (stopping_) {
        Counters::inc(counters_->dropped_stopping);
        return;
      }
      ++inline_active_;
    }
    handle_auth(msg, topic->address, deps_.clock.steady());
    std::lock_guard lock(mu_);
    if (--inline_active_ == 0 && stopping_) inline_done_.notify_all();
    return;
  }
  {
    std::lock_guard lock(mu_);
    if (stopping_) {
      Counters::inc(counters_->dropped_stopping);
      return;
    }
    if (queue_.size() >= static_cast<std::size_t>(options_.queue_capacity) ||
        (!queue_.empty() && queued_bytes_ + msg.payload.size() > options_.queue_max_bytes)) {
      // Dropping is safe for the protocol: an auth request times out at the terminal and a
      // txn record is resent because it was never acked.
      Counters::inc(counters_->dropped_queue_full);
      return;
    }
    queued_bytes_ += msg.payload.size();
    queue_.push_back(Queued{std::move(msg), deps_.clock.steady(), limited});
  }
  cv_.notify_one();
}

void Dispatcher::stop() {
  {
    std::unique_lock lock(mu_);
    stopping_ = true;
    // Auth requests already being decided on the transport's thread finish first.
    inline_done_.wait(lock, [&] { return inline_active_ == 0; });
  }
  cv_.notify_all();
  for (auto& t : workers_)
    if (t.joinable()) t.join();
  workers_.clear();
}

void Dispatcher::worker_loop() {
  for (;;) {
    Queued q;
    {
      std::unique_lock lock(mu_);
      cv_.wait(lock, [&] { return !queue_.empty() || stopping_; });
      if (queue_.empty()) return;  // stopping and drained
      q = std::move(queue_.front());
      queue_.pop_front();
      queued_bytes_ -= q.msg.payload.size();
    }
    if (q.rate_limited) {
      handle_rate_limited(q.msg);
    } else {
      handle(q);
    }
  }
}

void Dispatcher::handle(Queued& q) {
  InboundMessage& msg = q.msg;
  auto topic = protocol::parse_topic(msg.topic);
  if (!topic || topic->address.site != options_.site) {
    Counters::inc(counters_->unroutable);
    return;
  }
  switch (topic->kind) {
    case protocol::TopicKind::auth_req:
      handle_auth(msg, topic->address, q.arrived);
      break;
    case protocol::TopicKind::txn:
      handle_txn(msg, topic->address);
      break;
    case protocol::TopicKind::status:
      handle_status(msg, topic->address);
      break;
    case protocol::TopicKind::txn_batch:
      handle_txn_batch(msg, topic->address);
      break;
  }
}

void Dispatcher::handle_rate_limited(InboundMessage& msg) {
  auto topic = protocol::parse_topic(msg.topic);
  if (!topic) return;
  const TopicAddress& from = topic->address;
  warn_refused(Reason::rate_limited, from,
               "over " + std::to_string(options_.terminal_rate_per_s) + " messages/s");
  // A txn is not acked (the terminal resends it later) and a status is dropped; only an auth
  // request is answered, so the reader can show why nothing happened.
  if (topic->kind != protocol::TopicKind::auth_req) return;
  protocol::ParseError err{Reason::rate_limited, "terminal over its message rate", {}, {}, {}};
  if (msg.payload.size() <= static_cast<std::size_t>(options_.max_payload_bytes)) {
    auto parsed = protocol::parse_auth_request(msg.payload);
    err.req_id = parsed.ok() ? parsed.value->req_id : parsed.error.req_id;
    if (parsed.ok()) {
      parsed.value->credential.card_no.assign(parsed.value->credential.card_no.size(), '\0');
    }
  }
  Counters::inc(counters_->declined);
  Counters::inc(counters_->auth_by_reason[idx(Reason::rate_limited)]);
  reply(msg, from, protocol::auth_response_topic(from), protocol::serialize_auth_error(err));
}

void Dispatcher::warn_refused(Reason reason, const TopicAddress& from, const std::string& detail) {
  Counters::inc(counters_->refused_by_reason[idx(reason)]);
  std::uint64_t suppressed = 0;
  if (deps_.log &&
      warn_limit_.allow(std::string(reason_code(reason)), deps_.clock.steady(), suppressed)) {
    deps_.log->warn("message refused reason={} terminal={} detail=\"{}\" suppressed={}",
                    reason_code(reason), from.terminal, detail, suppressed);
  }
}

void Dispatcher::reply(const InboundMessage& request, const TopicAddress& from,
                       std::string default_topic, std::string payload) {
  OutboundMessage out;
  out.payload = std::move(payload);
  out.topic = std::move(default_topic);
  if (!request.response_topic.empty()) {
    // A terminal may only direct replies under its own prefix; anything else would let it
    // make the gateway publish as someone else.
    const std::string prefix = "ykt/v1/" + from.site + "/" + from.terminal + "/";
    const auto& rt = request.response_topic;
    // Nor may it name one of the topics the gateway itself reads.
    if (rt.size() <= 256 && rt.size() > prefix.size() &&
        rt.compare(0, prefix.size(), prefix) == 0 && rt.find_first_of("+#") == std::string::npos &&
        !protocol::parse_topic(rt)) {
      out.topic = rt;
      out.correlation_data = request.correlation_data;
      out.has_correlation = request.has_correlation;
    } else {
      Counters::inc(counters_->bad_response_topic);
      std::uint64_t suppressed = 0;
      if (deps_.log && warn_limit_.allow("bad_response_topic", deps_.clock.steady(), suppressed)) {
        deps_.log->warn("response topic outside the terminal's prefix terminal={} suppressed={}",
                        from.terminal, suppressed);
      }
    }
  }
  if (deps_.link.publish(std::move(out)) != PublishStatus::ok) {
    Counters::inc(counters_->publish_failed);
  }
}

void Dispatcher::handle_auth(InboundMessage& msg, const TopicAddress& from,
                             std::chrono::steady_clock::time_point arrived) {
  Counters::inc(counters_->auth_requests);
  const UtcMillis now = deps_.clock.wall_ms();
  auto record_latency = [this, arrived] {
    const auto us =
        std::chrono::duration_cast<std::chrono::microseconds>(deps_.clock.steady() - arrived)
            .count();
    auth_latency_.add(us > 0 ? static_cast<std::uint64_t>(us) : 0);
  };
  auto refuse = [&](protocol::ParseError err) {
    Counters::inc(counters_->declined);
    Counters::inc(counters_->auth_by_reason[idx(err.reason)]);
    terminals_.on_message(from.terminal, now, /*refused=*/true);
    warn_refused(err.reason, from, err.detail);
    reply(msg, from, protocol::auth_response_topic(from), protocol::serialize_auth_error(err));
    record_latency();
  };
  if (msg.payload.size() > static_cast<std::size_t>(options_.max_payload_bytes)) {
    refuse(too_large(msg.payload.size(), options_.max_payload_bytes));
    return;
  }
  auto parsed = protocol::parse_auth_request(msg.payload);
  if (!parsed.ok()) {
    refuse(std::move(parsed.error));
    return;
  }
  AuthRequest& req = *parsed.value;
  if (req.terminal != from.terminal) {
    refuse({Reason::terminal_mismatch,
            "payload terminal '" + req.terminal + "' differs from topic terminal",
            req.req_id,
            {},
            req.terminal});
    return;
  }
  terminals_.on_message(from.terminal, now, /*refused=*/false);
  // The decision may come back on another thread (crypto pool, platform answer): carry what
  // the reply needs by value.
  InboundMessage meta = reply_meta_of(msg);
  // The per-terminal MAC covers a canonical form of the request (docs/qr-code.md).
  const std::string mac_input =
      req.credential.mac.empty() ? std::string() : mac_canonical_form(req);
  TapContext ctx{from.site, from.terminal, now, mac_input};
  deps_.authorizer.authorize(
      req, ctx, [this, from, meta = std::move(meta), record_latency](AuthResponse resp) {
        Counters::inc(resp.decision == Decision::approve ? counters_->approved
                                                         : counters_->declined);
        Counters::inc(counters_->auth_by_reason[idx(resp.reason)]);
        reply(meta, from, protocol::auth_response_topic(from), protocol::serialize(resp));
        record_latency();
      });
  // The full card number has served its purpose; don't keep it around longer than needed.
  req.credential.card_no.assign(req.credential.card_no.size(), '\0');
}

void Dispatcher::handle_txn(InboundMessage& msg, const TopicAddress& from) {
  Counters::inc(counters_->txn_received);
  const UtcMillis now = deps_.clock.wall_ms();
  auto refuse = [&](protocol::ParseError err) {
    Counters::inc(counters_->txn_rejected);
    terminals_.on_message(from.terminal, now, /*refused=*/true);
    warn_refused(err.reason, from, err.detail);
    reply(msg, from, protocol::txn_ack_topic(from), protocol::serialize_txn_error(err));
  };
  if (msg.payload.size() > static_cast<std::size_t>(options_.max_payload_bytes)) {
    refuse(too_large(msg.payload.size(), options_.max_payload_bytes));
    return;
  }
  auto parsed = protocol::parse_txn(msg.payload);
  if (!parsed.ok()) {
    refuse(std::move(parsed.error));
    return;
  }
  protocol::TxnMessage& t = *parsed.value;
  if (t.terminal != from.terminal) {
    refuse({Reason::terminal_mismatch,
            "payload terminal '" + t.terminal + "' differs from topic terminal", t.req_id, t.txn_id,
            t.terminal});
    return;
  }
  terminals_.on_message(from.terminal, now, /*refused=*/false);
  if (at_quota()) return;
  TxnRecord rec = make_record(t, from, now);

  // The completion runs on the writer thread after the commit: only then is the ack sent.
  bool taken = deps_.store.submit(std::move(rec), [this, from, txn_id = t.txn_id,
                                                   meta = reply_meta_of(msg)](StoreOutcome o) {
    if (o == StoreOutcome::failed) {
      Counters::inc(counters_->txn_store_failed);
      return;  // no ack: the terminal keeps the record and resends it
    }
    if (o == StoreOutcome::over_quota) {
      // The quota was reached after the check above; the store applies the same rule.
      Counters::inc(counters_->txn_quota_refused);
      return;  // no ack, as at the check above
    }
    if (deps_.records_committed) deps_.records_committed();
    TxnAck ack;
    ack.txn_id = txn_id;
    ack.status = o == StoreOutcome::stored ? AckStatus::stored : AckStatus::duplicate;
    Counters::inc(o == StoreOutcome::stored ? counters_->txn_stored : counters_->txn_duplicate);
    reply(meta, from, protocol::txn_ack_topic(from), protocol::serialize(ack));
  });
  if (!taken) Counters::inc(counters_->txn_store_busy);
}

// The store refuses every record at the quota on its own (StoreOutcome::over_quota); asking
// here first spares the parsing and queueing and refuses a batch as a whole.
bool Dispatcher::at_quota() {
  if (!deps_.store_full || !deps_.store_full()) return false;
  // No ack: the terminal keeps the record and resends it once there is room again.
  Counters::inc(counters_->txn_quota_refused);
  std::uint64_t suppressed = 0;
  if (deps_.log && warn_limit_.allow("disk_quota", deps_.clock.steady(), suppressed)) {
    deps_.log->warn(
        "disk quota reached: records not acked until forwarding frees space "
        "suppressed={}",
        suppressed);
  }
  return true;
}

TxnRecord Dispatcher::make_record(protocol::TxnMessage& t, const TopicAddress& from,
                                  UtcMillis now) const {
  TxnRecord rec;
  rec.txn_id = t.txn_id;
  rec.req_id = std::move(t.req_id);
  rec.site = from.site;
  rec.terminal = from.terminal;
  rec.scenario = std::move(t.scenario);
  rec.ts_ms = t.ts_ms;
  rec.received_ms = now;
  rec.card.type = t.credential.type;
  if (deps_.annotator != nullptr) {
    deps_.annotator->annotate(t.credential, from.terminal, rec);
  } else if (t.credential.type == CredentialType::card && !t.credential.card_no.empty()) {
    rec.card.token = deps_.tokenizer.token(t.credential.card_no);
    rec.card.masked = mask_card_number(t.credential.card_no);
  }
  if (rec.card.method.empty()) rec.card.method = std::move(t.credential.method);
  t.credential.card_no.assign(t.credential.card_no.size(), '\0');
  rec.mode = t.mode;
  rec.amount_fen = t.amount_fen;
  rec.result = t.result;
  rec.reason = std::move(t.reason);
  return rec;
}

// A bulk upload: every record is checked on its own and submitted to the same group commit;
// one txn/batch/ack answers them all once the last of them is committed. If any record could
// not be stored, no ack goes out and the terminal resends the batch (the stored records then
// come back as "duplicate").
void Dispatcher::handle_txn_batch(InboundMessage& msg, const TopicAddress& from) {
  Counters::inc(counters_->txn_batches);
  const UtcMillis now = deps_.clock.wall_ms();
  auto refuse_batch = [&](protocol::ParseError err, const std::string& batch_id) {
    terminals_.on_message(from.terminal, now, /*refused=*/true);
    warn_refused(err.reason, from, err.detail);
    protocol::TxnBatchAck ack;
    ack.batch_id = batch_id;
    ack.rejected = true;
    ack.reason = err.reason;
    ack.detail = std::move(err.detail);
    reply(msg, from, protocol::txn_batch_ack_topic(from), protocol::serialize(ack));
  };
  if (msg.payload.size() > static_cast<std::size_t>(options_.max_batch_payload_bytes)) {
    refuse_batch(too_large(msg.payload.size(), options_.max_batch_payload_bytes), {});
    return;
  }
  auto parsed = protocol::parse_txn_batch(
      msg.payload, static_cast<std::size_t>(std::max(1, options_.max_batch_records)));
  if (!parsed.ok()) {
    std::string batch_id = std::move(parsed.error.txn_id);
    refuse_batch(std::move(parsed.error), batch_id);
    return;
  }
  protocol::TxnBatchMessage& batch = *parsed.value;
  if (batch.terminal != from.terminal) {
    refuse_batch({Reason::terminal_mismatch,
                  "payload terminal '" + batch.terminal + "' differs from topic terminal",
                  {},
                  {},
                  batch.terminal},
                 batch.batch_id);
    return;
  }
  terminals_.on_message(from.terminal, now, /*refused=*/false);
  if (at_quota()) return;

  struct Pending {
    protocol::TxnBatchAck ack;
    InboundMessage meta;
    std::size_t remaining = 0;  // records not yet through the store; touched by the writer
    bool failed = false;
  };
  auto pending = std::make_shared<Pending>();
  pending->ack.batch_id = batch.batch_id;
  pending->ack.acks.resize(batch.records.size());
  pending->meta = reply_meta_of(msg);

  std::vector<std::pair<std::size_t, TxnRecord>> to_store;
  to_store.reserve(batch.records.size());
  for (std::size_t i = 0; i < batch.records.size(); ++i) {
    auto& one = batch.records[i];
    auto& item = pending->ack.acks[i];
    Counters::inc(counters_->txn_received);
    if (!one.ok()) {
      item.ack = TxnAck{one.error.txn_id, AckStatus::rejected, one.error.reason};
      item.detail = std::move(one.error.detail);
      Counters::inc(counters_->txn_rejected);
      warn_refused(one.error.reason, from, item.detail);
      continue;
    }
    protocol::TxnMessage& t = *one.value;
    item.ack.txn_id = t.txn_id;
    if (t.terminal != from.terminal) {
      item.ack.status = AckStatus::rejected;
      item.ack.reason = Reason::terminal_mismatch;
      item.detail = "payload terminal '" + t.terminal + "' differs from topic terminal";
      t.credential.card_no.assign(t.credential.card_no.size(), '\0');
      Counters::inc(counters_->txn_rejected);
      warn_refused(Reason::terminal_mismatch, from, item.detail);
      continue;
    }
    to_store.emplace_back(i, make_record(t, from, now));
  }
  if (to_store.empty()) {
    reply(pending->meta, from, protocol::txn_batch_ack_topic(from),
          protocol::serialize(pending->ack));
    return;
  }
  // Set before the first submit: completions start on the writer as soon as it commits.
  pending->remaining = to_store.size();
  std::size_t not_taken = 0;
  for (auto& [i, rec] : to_store) {
    const std::size_t index = i;
    const bool taken = deps_.store.submit(std::move(rec), [this, from, pending,
                                                          index](StoreOutcome o) {
      // Completions run on the store's single writer thread, one after the other.
      if (o == StoreOutcome::failed) {
        Counters::inc(counters_->txn_store_failed);
        pending->failed = true;
      } else if (o == StoreOutcome::over_quota) {
        Counters::inc(counters_->txn_quota_refused);
        pending->failed = true;
      } else {
        pending->ack.acks[index].ack.status =
            o == StoreOutcome::stored ? AckStatus::stored : AckStatus::duplicate;
        Counters::inc(o == StoreOutcome::stored ? counters_->txn_stored
                                                : counters_->txn_duplicate);
      }
      if (--pending->remaining != 0) return;
      if (deps_.records_committed) deps_.records_committed();
      if (pending->failed) return;  // no ack: the terminal resends the whole batch
      reply(pending->meta, from, protocol::txn_batch_ack_topic(from),
            protocol::serialize(pending->ack));
    });
    if (!taken) ++not_taken;
  }
  // The records that were taken are stored; the others never complete, so `remaining` stays
  // above zero, no ack goes out and the terminal resends the batch.
  if (not_taken > 0) counters_->txn_store_busy.fetch_add(not_taken, std::memory_order_relaxed);
}

void Dispatcher::handle_status(InboundMessage& msg, const TopicAddress& from) {
  Counters::inc(counters_->status_messages);
  if (msg.payload.empty()) return;  // a cleared retained message
  const UtcMillis now = deps_.clock.wall_ms();
  if (msg.payload.size() > static_cast<std::size_t>(options_.max_payload_bytes)) {
    warn_refused(Reason::payload_too_large, from, "status payload too large");
    return;
  }
  auto parsed = protocol::parse_status(msg.payload);
  if (!parsed.ok()) {
    warn_refused(parsed.error.reason, from, parsed.error.detail);
    return;
  }
  if (parsed.value->terminal != from.terminal) {
    warn_refused(Reason::terminal_mismatch, from, "status for another terminal");
    return;
  }
  terminals_.on_status(*parsed.value, now);
}

IngestStats Dispatcher::stats() const {
  const Counters& c = *counters_;
  IngestStats s;
  s.received = load(c.received);
  s.auth_requests = load(c.auth_requests);
  s.approved = load(c.approved);
  s.declined = load(c.declined);
  s.txn_received = load(c.txn_received);
  s.txn_batches = load(c.txn_batches);
  s.txn_stored = load(c.txn_stored);
  s.txn_duplicate = load(c.txn_duplicate);
  s.txn_rejected = load(c.txn_rejected);
  s.txn_store_failed = load(c.txn_store_failed);
  s.txn_store_busy = load(c.txn_store_busy);
  s.txn_quota_refused = load(c.txn_quota_refused);
  s.status_messages = load(c.status_messages);
  s.dropped_queue_full = load(c.dropped_queue_full);
  s.dropped_stopping = load(c.dropped_stopping);
  s.unroutable = load(c.unroutable);
  s.publish_failed = load(c.publish_failed);
  s.bad_response_topic = load(c.bad_response_topic);
  s.rate_limited = load(c.rate_limited);
  for (std::size_t i = 0; i < kReasonCount; ++i) {
    s.auth_by_reason[i] = load(c.auth_by_reason[i]);
    s.refused_by_reason[i] = load(c.refused_by_reason[i]);
  }
  return s;
}

}  // namespace yktgw
