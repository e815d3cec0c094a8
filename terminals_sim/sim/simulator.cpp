#include "terminals_sim/sim/simulator.h"

#include <mqtt/async_client.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <condition_variable>
#include <cstdio>
#include <deque>
#include <memory>
#include <mutex>
#include <ostream>
#include <random>
#include <thread>
#include <unordered_map>
#include <vector>

#include "connectors/mqtt/tcp_nodelay.h"
#include "gateway/core/version.h"
#include "gateway/protocol/terminal_protocol.h"
#include "terminals_sim/sim/random.h"
#include "terminals_sim/sim/scenario_amounts.h"
#include "terminals_sim/sim/txn_tracker.h"

namespace yktgw::sim {
namespace {

namespace paho = ::mqtt;
using Clock = std::chrono::steady_clock;
using TimePoint = Clock::time_point;
using std::chrono::milliseconds;
using std::chrono::seconds;

// Paho refuses publishes beyond this many queued per client; a refusal is backpressure, and
// the request or record is retried after kRefusedRetry.
constexpr int kMaxBuffered = 100'000;
constexpr auto kRefusedRetry = milliseconds(5);
constexpr auto kConnectTimeout = seconds(15);
constexpr auto kDisconnectTimeout = seconds(5);
// The loop wakes at least this often, to see a stop request.
constexpr auto kMaxWait = milliseconds(100);
// Problem notes (mismatches, unreadable replies) per kind, so a broken gateway cannot flood
// the terminal.
constexpr int kNotesPerKind = 5;

UtcMillis utc_now_ms() {
  return std::chrono::duration_cast<milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

double seconds_between(TimePoint from, TimePoint to) {
  return std::chrono::duration<double>(to - from).count();
}

std::string with_terminal(std::string text, const std::string& terminal) {
  static constexpr std::string_view kPlaceholder = "{terminal}";
  for (auto p = text.find(kPlaceholder); p != std::string::npos;
       p = text.find(kPlaceholder, p + terminal.size())) {
    text.replace(p, kPlaceholder.size(), terminal);
  }
  return text;
}

std::string masked(const std::string& card_no) {
  if (card_no.size() < 10) return std::string(card_no.size(), '*');
  return card_no.substr(0, 6) + std::string(card_no.size() - 10, '*') +
         card_no.substr(card_no.size() - 4);
}

// A message as Paho delivered it, stamped on arrival so that queueing inside the simulator
// does not count as gateway latency.
struct Inbound {
  std::uint32_t terminal = 0;
  bool is_ack = false;  // txn/ack, else auth/resp
  std::string payload;
  TimePoint received;
};

// Paho's callback threads hand messages to the run loop here and do nothing else.
class Inbox {
 public:
  void push(Inbound m) {
    {
      std::lock_guard lock(mu_);
      queue_.push_back(std::move(m));
    }
    cv_.notify_one();
  }

  // Waits until something arrives or `deadline`, then moves everything queued into `out`.
  void wait_and_take(TimePoint deadline, std::vector<Inbound>& out) {
    out.clear();
    std::unique_lock lock(mu_);
    cv_.wait_until(lock, deadline, [&] { return !queue_.empty(); });
    std::swap(out, queue_);
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  std::vector<Inbound> queue_;
};

// One simulated terminal: its own MQTT v5 connection and topics.
class Terminal final : public paho::iaction_listener {
 public:
  Terminal(std::uint32_t index, const RunOptions& o, Inbox& inbox,
           std::atomic<std::uint64_t>& session_events)
      : index_(index),
        id_(terminal_id(index)),
        broker_(o.broker),
        scenario_(o.scenario),
        inbox_(inbox),
        session_events_(session_events) {
    const TopicAddress address{o.site, id_};
    req_topic_ = protocol::auth_request_topic(address);
    resp_topic_ = protocol::auth_response_topic(address);
    txn_topic_ = protocol::txn_topic(address);
    ack_topic_ = protocol::txn_ack_topic(address);
    status_topic_ = protocol::status_topic(address);

    client_ = std::make_unique<paho::async_client>(
        o.broker, id_, paho::create_options(MQTTVERSION_5, kMaxBuffered));
    client_->set_connected_handler([this](const std::string&) { on_connected(); });
    client_->set_connection_lost_handler([this](const std::string&) { ++disconnects_; });
    client_->set_message_callback([this](paho::const_message_ptr m) {
      const auto received = Clock::now();
      inbox_.push(Inbound{index_, m->get_topic() == ack_topic_, m->to_string(), received});
    });

    paho::connect_options_builder b;
    b.mqtt_version(MQTTVERSION_5)
        .clean_start(true)
        .keep_alive_interval(seconds(30))
        .automatic_reconnect(seconds(1), seconds(10))
        .will(paho::will_options(status_topic_, minimal_offline_payload(), 1, true));
    if (!o.username.empty()) b.user_name(with_terminal(o.username, id_));
    if (!o.password.empty()) b.password(with_terminal(o.password, id_));
    connect_options_ = b.finalize();
  }

  Terminal(const Terminal&) = delete;
  Terminal& operator=(const Terminal&) = delete;

  ~Terminal() override = default;

  paho::token_ptr connect() { return client_->connect(connect_options_); }

  // Publishes at QoS 1. False when Paho refused it (buffer full, not connected); the caller
  // keeps the message and tries again later.
  bool publish(const std::string& topic, const std::string& payload, std::string& why) {
    try {
      client_->publish(topic, payload.data(), payload.size(), 1, false);
      return true;
    } catch (const paho::exception& e) {
      why = e.what();
      return false;
    }
  }

  // Marks the terminal offline the way a clean shutdown should (the will only covers crashes).
  // nullptr when there is nothing to wait for.
  paho::token_ptr publish_offline() {
    try {
      if (!client_->is_connected()) return nullptr;
      return client_->publish(status_topic_, status_payload(TerminalState::offline), 1, true);
    } catch (const paho::exception&) {
      return nullptr;
    }
  }

  // Disconnects at once: publish_offline() was waited for, and a disconnect timeout would only
  // make Paho linger (about two seconds) before closing.
  paho::token_ptr disconnect() {
    try {
      if (!client_->is_connected()) return nullptr;
      return client_->disconnect(0);
    } catch (const paho::exception&) {
      return nullptr;
    }
  }

  // Connections on which both subscriptions are in place; the first is the initial connect.
  std::uint64_t sessions() const { return sessions_.load(); }
  bool subscribed() const { return sessions() > 0; }
  std::uint64_t failures() const { return failures_.load(); }
  std::uint64_t disconnects() const { return disconnects_.load(); }

  std::uint32_t index() const { return index_; }
  const std::string& id() const { return id_; }
  const std::string& req_topic() const { return req_topic_; }
  const std::string& txn_topic() const { return txn_topic_; }

  // Touched only by the run loop.
  std::uint64_t next_req = 1;
  std::uint64_t next_txn = 1;

 private:
  // The protocol's last will is the minimal message: no kind, no time (§9).
  std::string minimal_offline_payload() const {
    TerminalStatus s;
    s.terminal = id_;
    s.state = TerminalState::offline;
    return protocol::serialize(s);
  }

  std::string status_payload(TerminalState state) const {
    TerminalStatus s;
    s.terminal = id_;
    s.state = state;
    s.kind = scenario_;
    s.firmware = std::string("yktgw-sim/") + yktgw::kVersion;
    s.ts_ms = utc_now_ms();
    return protocol::serialize(s);
  }

  // Runs on Paho's thread after every (re)connect: clean start dropped the subscriptions.
  void on_connected() {
    subscriptions_this_connection_ = 0;
    // Without this every request/reply waits on delayed ACKs: 88 ms instead of 0.2 ms.
    yktgw::mqtt::set_tcp_nodelay_to_broker(broker_);
    try {
      client_->subscribe(resp_topic_, 1, nullptr, *this);
      client_->subscribe(ack_topic_, 1, nullptr, *this);
      client_->publish(status_topic_, status_payload(TerminalState::online), 1, true);
    } catch (const paho::exception&) {
      ++failures_;
    }
  }

  void on_success(const paho::token& tok) override {
    if (tok.get_type() != paho::token::Type::SUBSCRIBE) return;
    if (++subscriptions_this_connection_ == 2) {
      // Only now can acks reach us, so only now is resending worth it.
      ++sessions_;
      ++session_events_;
    }
  }
  void on_failure(const paho::token&) override { ++failures_; }

  std::uint32_t index_;
  std::string id_;
  std::string broker_;
  std::string scenario_;
  Inbox& inbox_;
  std::string req_topic_, resp_topic_, txn_topic_, ack_topic_, status_topic_;
  paho::connect_options connect_options_;
  std::atomic<int> subscriptions_this_connection_{0};
  std::atomic<std::uint64_t> sessions_{0};
  std::atomic<std::uint64_t>& session_events_;  // shared by all terminals
  std::atomic<std::uint64_t> failures_{0};
  std::atomic<std::uint64_t> disconnects_{0};
  // Last, so it is destroyed first: its handlers use the members above until it is gone.
  // (Clearing the handlers instead throws while Paho is reconnecting.)
  std::unique_ptr<paho::async_client> client_;
};

class LoadRun {
 public:
  LoadRun(const RunOptions& o, const Population& cards, std::ostream& log,
          const std::atomic<int>& stop)
      : o_(o),
        cards_(cards),
        log_(log),
        stop_(stop),
        rng_(o.seed ^ 0x9e3779b97f4a7c15ULL),  // not the population's stream
        amounts_(amount_range(o.scenario)),
        total_(static_cast<std::uint64_t>(std::floor(o.rate * o.duration_s + 1e-9))),
        txns_(milliseconds(o.resend_ms)) {}

  Result<RunStats> execute() {
    if (auto c = connect_all(); !c) {
      disconnect_all();
      return c.error();
    }
    t0_ = Clock::now();
    load_end_ = t0_ + std::chrono::duration_cast<Clock::duration>(
                          std::chrono::duration<double>(o_.duration_s));
    next_progress_ = t0_ + seconds(1);
    std::vector<Inbound> batch;
    for (;;) {
      auto now = Clock::now();
      const int stops = stop_.load();
      if (!load_done_) {
        send_due_requests(now);
        if ((next_ >= total_ && now >= load_end_) || stops >= 1) finish_load(now);
      }
      retry_unpublished(now);
      resend_after_reconnects(now);
      publish_due_txns(now);
      if (now >= next_progress_) report_progress(now);
      if (load_done_ &&
          ((inflight_.empty() && txns_.empty()) || now >= drain_deadline_ || stops >= 2)) {
        break;
      }
      inbox_.wait_and_take(next_wake(now), batch);
      for (const auto& m : batch) handle(m);
    }
    const auto end = Clock::now();
    disconnect_all();
    return finish_stats(end);
  }

 private:
  struct InFlight {
    TimePoint intended;
    std::uint32_t terminal = 0;
    std::uint32_t card = 0;
  };
  struct Unpublished {
    std::string req_id;
    std::string payload;
    std::uint32_t terminal = 0;
    TimePoint retry_at;
  };

  Result<void> connect_all() {
    const auto n = static_cast<std::uint32_t>(o_.terminals);
    terminals_.reserve(n);
    std::vector<paho::token_ptr> tokens;
    try {
      for (std::uint32_t i = 0; i < n; ++i) {
        terminals_.push_back(std::make_unique<Terminal>(i, o_, inbox_, session_events_));
        tokens.push_back(terminals_.back()->connect());
      }
    } catch (const paho::exception& e) {
      return make_error("mqtt_client",
                        "cannot create MQTT client for " + o_.broker + ": " + e.what());
    }
    const auto deadline = Clock::now() + kConnectTimeout;
    for (std::size_t i = 0; i < tokens.size(); ++i) {
      const auto& who = terminals_[i]->id();
      try {
        const auto left = std::max(Clock::duration::zero(), deadline - Clock::now());
        if (!tokens[i]->wait_for(std::chrono::duration_cast<milliseconds>(left))) {
          return make_error("connect_timeout", who + " could not connect to " + o_.broker +
                                                   " within " +
                                                   std::to_string(kConnectTimeout.count()) + " s");
        }
      } catch (const paho::exception& e) {
        return make_error("connect_failed",
                          who + " could not connect to " + o_.broker + ": " + e.what());
      }
    }
    // Requests sent before the response subscription is in place would be answered into the
    // void and show up as timeouts.
    for (const auto& t : terminals_) {
      while (!t->subscribed()) {
        if (t->failures() > 0) {
          return make_error("subscribe_failed", t->id() + " could not subscribe to its topics");
        }
        if (Clock::now() >= deadline) {
          return make_error(
              "subscribe_timeout",
              t->id() + " got no SUBACK within " + std::to_string(kConnectTimeout.count()) + " s");
        }
        std::this_thread::sleep_for(milliseconds(5));
      }
    }
    seen_session_events_ = session_events_.load();
    seen_sessions_.assign(terminals_.size(), 1);
    return {};
  }

  // After a reconnect the protocol has a terminal resend every unacked record at once.
  void resend_after_reconnects(TimePoint now) {
    const auto events = session_events_.load();
    if (events == seen_session_events_) return;
    seen_session_events_ = events;
    for (std::size_t i = 0; i < terminals_.size(); ++i) {
      const auto sessions = terminals_[i]->sessions();
      if (sessions == seen_sessions_[i]) continue;
      seen_sessions_[i] = sessions;
      txns_.make_due_now(static_cast<std::uint32_t>(i), now);
    }
  }

  void disconnect_all() {
    const auto deadline = Clock::now() + kDisconnectTimeout;
    const auto wait_all = [&](const std::vector<paho::token_ptr>& tokens) {
      for (const auto& tok : tokens) {
        if (!tok) continue;
        try {
          const auto left = std::max(Clock::duration::zero(), deadline - Clock::now());
          tok->wait_for(std::chrono::duration_cast<milliseconds>(left));
        } catch (const paho::exception&) {
          // Going away anyway: the will publishes "offline" if the broker missed the goodbye.
        }
      }
    };
    std::vector<paho::token_ptr> tokens;
    for (const auto& t : terminals_) tokens.push_back(t->publish_offline());
    wait_all(tokens);
    tokens.clear();
    for (const auto& t : terminals_) tokens.push_back(t->disconnect());
    wait_all(tokens);
  }

  TimePoint intended_time(std::uint64_t i) const {
    const double ns = static_cast<double>(i) * 1e9 / o_.rate;
    return t0_ + std::chrono::nanoseconds(static_cast<std::int64_t>(std::llround(ns)));
  }

  void send_due_requests(TimePoint now) {
    // Open loop: each request has a fixed slot; a stall is made up by sending the missed ones
    // at once, and their latency still counts from the slot.
    while (next_ < total_) {
      const auto intended = intended_time(next_);
      if (intended > now) break;
      send_request(intended, now);
      ++next_;
    }
  }

  void send_request(TimePoint intended, TimePoint now) {
    Terminal& t = *terminals_[next_ % terminals_.size()];
    const auto card = static_cast<std::uint32_t>(uniform_below(rng_, cards_.size()));

    AuthRequest r;
    r.req_id = t.id() + "-r" + std::to_string(t.next_req++);
    r.terminal = t.id();
    r.scenario = o_.scenario;
    r.ts_ms = utc_now_ms();
    r.credential.type = CredentialType::card;
    r.credential.card_no = cards_[card].card_no;
    r.amount_fen = draw_amount(rng_, amounts_);

    inflight_.emplace(r.req_id, InFlight{intended, t.index(), card});
    std::string payload = protocol::serialize(r);
    std::string why;
    if (t.publish(t.req_topic(), payload, why)) {
      ++stats_.sent;
    } else {
      refused(why);
      unpublished_.push_back(
          Unpublished{r.req_id, std::move(payload), t.index(), now + kRefusedRetry});
    }
  }

  void retry_unpublished(TimePoint now) {
    for (std::size_t n = unpublished_.size(); n > 0 && unpublished_.front().retry_at <= now; --n) {
      Unpublished u = std::move(unpublished_.front());
      unpublished_.pop_front();
      Terminal& t = *terminals_[u.terminal];
      std::string why;
      if (t.publish(t.req_topic(), u.payload, why)) {
        ++stats_.sent;
      } else {
        refused(why);
        u.retry_at = now + kRefusedRetry;
        unpublished_.push_back(std::move(u));
      }
    }
  }

  void publish_due_txns(TimePoint now) {
    for (const auto& id : txns_.take_due(now)) {
      const auto* p = txns_.find(id);
      Terminal& t = *terminals_[p->terminal];
      std::string why;
      if (t.publish(t.txn_topic(), p->payload, why)) {
        if (txns_.published(id, now)) {
          ++stats_.txn_resent;
        } else {
          ++stats_.txn_sent;
        }
      } else {
        refused(why);
        txns_.refused(id, now + kRefusedRetry);
      }
    }
  }

  void refused(const std::string& why) {
    ++stats_.backpressure;
    note("backpressure", "publish refused, retrying: " + why);
  }

  void handle(const Inbound& m) {
    if (m.is_ack) {
      handle_txn_ack(m);
    } else {
      handle_auth_response(m);
    }
  }

  void handle_auth_response(const Inbound& m) {
    const auto parsed = protocol::parse_auth_response(m.payload);
    if (!parsed.ok()) {
      ++stats_.errors;
      note("bad_response",
           "unreadable auth/resp on " + terminals_[m.terminal]->id() + ": " + parsed.error.detail);
      return;
    }
    const AuthResponse& resp = *parsed.value;
    auto it = inflight_.find(resp.req_id);
    if (it == inflight_.end() || it->second.terminal != m.terminal) {
      ++stats_.unmatched;
      return;
    }
    const InFlight f = it->second;
    inflight_.erase(it);
    stats_.rtt.record(m.received - f.intended);

    const bool approved = resp.decision == Decision::approve;
    if (approved) {
      ++stats_.approved;
    } else {
      ++stats_.declined;
      ++stats_.decline_reasons[std::string(reason_code(resp.reason))];
    }
    const Card& card = cards_[f.card];
    const Expectation want = expected_outcome(card.status);
    if (resp.decision != want.decision || resp.reason != want.reason) {
      ++stats_.mismatches;
      note("mismatch", "req_id=" + resp.req_id + " card=" + masked(card.card_no) +
                           " status=" + std::string(to_string(card.status)) +
                           " expected=" + std::string(to_string(want.decision)) + "/" +
                           std::string(reason_code(want.reason)) +
                           " got=" + std::string(to_string(resp.decision)) + "/" +
                           std::string(reason_code(resp.reason)));
    }
    // Draw even at ratio 1.0 so that the random stream does not depend on the ratio.
    if (uniform_unit(rng_) < o_.txn_ratio) record_txn(resp, f, m.received);
  }

  void record_txn(const AuthResponse& resp, const InFlight& f, TimePoint now) {
    Terminal& t = *terminals_[f.terminal];
    const bool approved = resp.decision == Decision::approve;
    protocol::TxnMessage msg;
    msg.txn_id = t.id() + "-" + std::to_string(o_.txn_seq_start + t.next_txn++ - 1);
    msg.req_id = resp.req_id;
    msg.terminal = t.id();
    msg.scenario = o_.scenario;
    msg.ts_ms = utc_now_ms();
    msg.credential.type = CredentialType::card;
    msg.credential.card_no = cards_[f.card].card_no;
    // The amount actually collected (§7): what the gateway approved, after any discount;
    // nothing on a decline.
    msg.amount_fen = approved ? resp.amount_fen : 0;
    msg.result = approved ? TxnResult::approved : TxnResult::declined;
    if (!approved) msg.reason = std::string(reason_code(resp.reason));
    txns_.add(msg.txn_id, f.terminal, protocol::serialize(msg), now);
    // Published on the next loop turn, right after this batch of messages.
  }

  void handle_txn_ack(const Inbound& m) {
    const auto parsed = protocol::parse_txn_ack(m.payload);
    if (!parsed.ok()) {
      ++stats_.errors;
      note("bad_ack",
           "unreadable txn/ack on " + terminals_[m.terminal]->id() + ": " + parsed.error.detail);
      return;
    }
    const TxnAck& ack = *parsed.value;
    const auto* p = txns_.find(ack.txn_id);
    if (p == nullptr || p->terminal != m.terminal) {
      // The usual case is the second ack for a record that was resent before its first ack.
      ++stats_.unmatched;
      return;
    }
    txns_.settle(ack.txn_id);
    ++stats_.txn_acked;
    switch (ack.status) {
      case AckStatus::stored:
        ++stats_.txn_stored;
        break;
      case AckStatus::duplicate:
        ++stats_.txn_duplicate;
        break;
      case AckStatus::rejected:
        ++stats_.txn_rejected;
        ++stats_.errors;
        note("rejected",
             "txn " + ack.txn_id + " rejected: " + std::string(reason_code(ack.reason)));
        break;
    }
  }

  void finish_load(TimePoint now) {
    load_done_ = true;
    load_elapsed_s_ = seconds_between(t0_, now);
    drain_deadline_ = now + std::chrono::duration_cast<Clock::duration>(
                                std::chrono::duration<double>(o_.drain_s));
  }

  TimePoint next_wake(TimePoint now) const {
    TimePoint wake = std::min(now + kMaxWait, next_progress_);
    if (!load_done_) {
      wake = std::min(wake, next_ < total_ ? intended_time(next_) : load_end_);
    } else {
      wake = std::min(wake, drain_deadline_);
    }
    if (!unpublished_.empty()) wake = std::min(wake, unpublished_.front().retry_at);
    if (auto due = txns_.next_due()) wake = std::min(wake, *due);
    return wake;
  }

  void report_progress(TimePoint now) {
    next_progress_ += seconds(1);
    if (next_progress_ <= now) next_progress_ = now + seconds(1);
    if (o_.quiet) return;
    char line[320];
    std::snprintf(line, sizeof line,
                  "[yktgw-sim] t=%.0fs sent=%llu approved=%llu declined=%llu inflight=%zu "
                  "txn_sent=%llu txn_acked=%llu txn_pending=%zu backpressure=%llu "
                  "p50=%.3fms p99=%.3fms%s\n",
                  seconds_between(t0_, now), static_cast<unsigned long long>(stats_.sent),
                  static_cast<unsigned long long>(stats_.approved),
                  static_cast<unsigned long long>(stats_.declined),
                  inflight_.size() - unpublished_.size(),
                  static_cast<unsigned long long>(stats_.txn_sent),
                  static_cast<unsigned long long>(stats_.txn_acked), txns_.size(),
                  static_cast<unsigned long long>(stats_.backpressure),
                  static_cast<double>(stats_.rtt.percentile_us(0.50)) / 1000.0,
                  static_cast<double>(stats_.rtt.percentile_us(0.99)) / 1000.0,
                  load_done_ ? " (draining)" : "");
    log_ << line << std::flush;
  }

  void note(const std::string& kind, const std::string& text) {
    if (++notes_[kind] > kNotesPerKind) return;
    log_ << "[yktgw-sim] " << kind << ": " << text
         << (notes_[kind] == kNotesPerKind ? " (further ones not shown)" : "") << '\n';
  }

  RunStats finish_stats(TimePoint end) {
    RunStats s = std::move(stats_);
    s.unsent = unpublished_.size();
    s.timeouts = inflight_.size() - unpublished_.size();
    s.txn_pending = txns_.size();
    for (const auto& t : terminals_) {
      s.errors += t->failures();
      s.disconnects += t->disconnects();
    }
    s.duration_s = seconds_between(t0_, end);
    s.rate_achieved = load_elapsed_s_ > 0 ? static_cast<double>(s.sent) / load_elapsed_s_ : 0;
    return s;
  }

  const RunOptions& o_;
  const Population& cards_;
  std::ostream& log_;
  const std::atomic<int>& stop_;
  std::mt19937_64 rng_;
  AmountRange amounts_;
  std::uint64_t total_;

  // Declared before the terminals: Paho's threads use these until the terminals are gone.
  Inbox inbox_;
  std::atomic<std::uint64_t> session_events_{0};
  std::vector<std::unique_ptr<Terminal>> terminals_;

  TimePoint t0_, load_end_, drain_deadline_, next_progress_;
  bool load_done_ = false;
  double load_elapsed_s_ = 0;
  std::uint64_t next_ = 0;  // index of the next request slot
  std::uint64_t seen_session_events_ = 0;
  std::vector<std::uint64_t> seen_sessions_;

  // Keyed by req_id; includes the requests still waiting in unpublished_.
  std::unordered_map<std::string, InFlight> inflight_;
  std::deque<Unpublished> unpublished_;
  TxnTracker txns_;
  RunStats stats_;
  std::unordered_map<std::string, int> notes_;
};

}  // namespace

std::string terminal_id(std::size_t index) {
  char id[32];
  std::snprintf(id, sizeof id, "sim-%04zu", index + 1);
  return id;
}

Result<void> validate(const RunOptions& o) {
  if (o.broker.empty()) return make_error("missing_option", "--broker is required");
  if (!protocol::is_valid_id(o.site)) {
    return make_error("invalid_option",
                      "--site must be 1..64 of A-Z a-z 0-9 _ . - (got '" + o.site + "')");
  }
  if (o.terminals < 1 || o.terminals > 9999) {
    return make_error("invalid_option", "--terminals must be 1..9999");
  }
  if (!(o.rate > 0)) return make_error("invalid_option", "--rate must be > 0");
  if (!(o.duration_s >= 0)) return make_error("invalid_option", "--duration must be >= 0");
  if (o.cards < 1) return make_error("invalid_option", "--cards must be >= 1");
  // The protocol's scenario rule (§5): 1..32 of [a-z0-9_].
  const bool scenario_ok = !o.scenario.empty() && o.scenario.size() <= 32 &&
                           std::all_of(o.scenario.begin(), o.scenario.end(), [](char c) {
                             return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_';
                           });
  if (!scenario_ok) {
    return make_error("invalid_option",
                      "--scenario must be 1..32 of a-z 0-9 _ (got '" + o.scenario + "')");
  }
  if (o.resend_ms < 1) return make_error("invalid_option", "--resend-ms must be >= 1");
  if (!(o.drain_s >= 0)) return make_error("invalid_option", "--drain-s must be >= 0");
  if (!(o.txn_ratio >= 0 && o.txn_ratio <= 1)) {
    return make_error("invalid_option", "--txn-ratio must be between 0 and 1");
  }
  return {};
}

Result<RunStats> run_simulation(const RunOptions& options, const Population& cards,
                                std::ostream& progress, const std::atomic<int>& stop) {
  if (auto v = validate(options); !v) return v.error();
  if (cards.empty()) return make_error("invalid_option", "the card population is empty");
  LoadRun run(options, cards, progress, stop);
  return run.execute();
}

}  // namespace yktgw::sim
