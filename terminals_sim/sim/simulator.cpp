#include "terminals_sim/sim/simulator.h"

#include <mqtt/async_client.h>

#include <algorithm>
#include <map>
#include <chrono>
#include <cmath>
#include <condition_variable>
#include <cstdio>
#include <deque>
#include <memory>
#include <mutex>
#include <ostream>
#include <random>
#include <string>
#include <thread>
#include <unordered_map>
#include <unordered_set>
#include <utility>
#include <vector>

#include "connectors/mqtt/tcp_nodelay.h"
#include "gateway/core/version.h"
#include "gateway/protocol/terminal_protocol.h"
#include "terminals_sim/sim/expectation.h"
#include "terminals_sim/sim/qr_minter.h"
#include "terminals_sim/sim/random.h"
#include "terminals_sim/sim/rate_profile.h"
#include "terminals_sim/sim/scenario_amounts.h"
#include "terminals_sim/sim/terminal_kinds.h"
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
// Mismatches kept for the report.
constexpr std::size_t kMismatchSamples = 20;
// A random link drop lasts this long, in seconds.
constexpr double kDropMinS = 1.0;
constexpr double kDropMaxS = 4.0;
// A reconnect that has not brought the subscriptions back by then is started again.
constexpr auto kReconnectRetry = seconds(5);

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
enum class InboundKind : std::uint8_t { auth_resp, txn_ack, batch_ack };

struct Inbound {
  std::uint32_t terminal = 0;
  InboundKind kind = InboundKind::auth_resp;
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
  Terminal(std::uint32_t index, std::string id, std::string scenario, const RunOptions& o,
           Inbox& inbox, std::atomic<std::uint64_t>& session_events)
      : index_(index),
        id_(std::move(id)),
        broker_(o.broker),
        scenario_(std::move(scenario)),
        inbox_(inbox),
        session_events_(session_events) {
    const TopicAddress address{o.site, id_};
    req_topic_ = protocol::auth_request_topic(address);
    resp_topic_ = protocol::auth_response_topic(address);
    txn_topic_ = protocol::txn_topic(address);
    ack_topic_ = protocol::txn_ack_topic(address);
    batch_topic_ = protocol::txn_batch_topic(address);
    batch_ack_topic_ = protocol::txn_batch_ack_topic(address);
    status_topic_ = protocol::status_topic(address);

    client_ = std::make_unique<paho::async_client>(
        o.broker, id_, paho::create_options(MQTTVERSION_5, kMaxBuffered));
    client_->set_connected_handler([this](const std::string&) { on_connected(); });
    client_->set_connection_lost_handler([this](const std::string&) { ++disconnects_; });
    client_->set_message_callback([this](paho::const_message_ptr m) {
      const auto received = Clock::now();
      const std::string& topic = m->get_topic();
      const InboundKind kind = topic == ack_topic_         ? InboundKind::txn_ack
                               : topic == batch_ack_topic_ ? InboundKind::batch_ack
                                                           : InboundKind::auth_resp;
      inbox_.push(Inbound{index_, kind, m->to_string(), received});
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
    dropping_ = true;  // subscribes cut short by the end of the run are not errors
    try {
      if (!client_->is_connected()) return nullptr;
      return client_->disconnect(0);
    } catch (const paho::exception&) {
      return nullptr;
    }
  }

  // A simulated link loss: a clean disconnect now (the broker keeps no session: clean start)
  // and a connect later. Paho does not reconnect by itself after a disconnect we asked for.
  void drop_link() {
    dropping_ = true;  // subscribes cut short by this are not errors
    try {
      if (client_->is_connected()) client_->disconnect(0);
    } catch (const paho::exception&) {
      // Already gone: the link is down either way.
    }
  }
  bool restore_link() {
    try {
      dropping_ = false;
      client_->connect(connect_options_);
      return true;
    } catch (const paho::exception&) {
      return false;  // still disconnecting; tried again on the next turn
    }
  }

  // Connections on which all subscriptions are in place; the first is the initial connect.
  std::uint64_t sessions() const { return sessions_.load(); }
  // The current connection's subscriptions are all granted.
  bool settled() const { return subscriptions_this_connection_.load() >= kSubscriptions; }
  bool subscribed() const { return sessions() > 0; }
  std::uint64_t failures() const { return failures_.load(); }
  // What went wrong on this terminal's connection since the last call (the first few only).
  std::vector<std::string> take_failure_texts() {
    std::lock_guard lock(failure_mu_);
    return std::exchange(failure_texts_, {});
  }
  std::uint64_t disconnects() const { return disconnects_.load(); }

  std::uint32_t index() const { return index_; }
  const std::string& id() const { return id_; }
  const std::string& scenario() const { return scenario_; }
  const std::string& req_topic() const { return req_topic_; }
  const std::string& txn_topic() const { return txn_topic_; }
  const std::string& batch_topic() const { return batch_topic_; }

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
      client_->subscribe(batch_ack_topic_, 1, nullptr, *this);
      client_->publish(status_topic_, status_payload(TerminalState::online), 1, true);
    } catch (const paho::exception& e) {
      record_failure(std::string("setting up the session after connect: ") + e.what());
    }
  }

  void on_success(const paho::token& tok) override {
    if (tok.get_type() != paho::token::Type::SUBSCRIBE) return;
    if (++subscriptions_this_connection_ == kSubscriptions) {
      // Only now can acks reach us, so only now is resending worth it.
      ++sessions_;
      ++session_events_;
    }
  }
  void on_failure(const paho::token& tok) override {
    if (dropping_) return;
    std::string what = "subscribe";
    if (auto topics = tok.get_topics(); topics && !topics->empty()) what += " to " + (*topics)[0];
    what += " failed: rc=" + std::to_string(tok.get_return_code()) +
            " reason=" + std::to_string(static_cast<int>(tok.get_reason_code()));
    record_failure(what);
  }

  void record_failure(std::string what) {
    ++failures_;
    std::lock_guard lock(failure_mu_);
    if (failure_texts_.size() < kNotesPerKind) failure_texts_.push_back(std::move(what));
  }

  static constexpr int kSubscriptions = 3;  // auth/resp, txn/ack, txn/batch/ack

  std::uint32_t index_;
  std::string id_;
  std::string broker_;
  std::string scenario_;
  Inbox& inbox_;
  std::string req_topic_, resp_topic_, txn_topic_, ack_topic_, batch_topic_, batch_ack_topic_,
      status_topic_;
  paho::connect_options connect_options_;
  std::atomic<int> subscriptions_this_connection_{0};
  std::atomic<std::uint64_t> sessions_{0};
  std::atomic<std::uint64_t>& session_events_;  // shared by all terminals
  std::atomic<std::uint64_t> failures_{0};
  std::mutex failure_mu_;
  std::vector<std::string> failure_texts_;  // guarded by failure_mu_
  std::atomic<bool> dropping_{false};  // a simulated link loss is under way
  std::atomic<std::uint64_t> disconnects_{0};
  // Last, so it is destroyed first: its handlers use the members above until it is gone.
  // (Clearing the handlers instead throws while Paho is reconnecting.)
  std::unique_ptr<paho::async_client> client_;
};

// Per terminal, what the run loop knows beyond the MQTT client.
struct TerminalState {
  const TerminalKind* kind = nullptr;
  const ScenarioModel* scenario = nullptr;  // as the policies file assigns the terminal
  int inflight = 0;                         // auth requests without an answer
  bool link_down = false;
  bool outage_is_bus = false;
  TimePoint next_drop = TimePoint::max();
  TimePoint back_at{};     // when to connect again; {} once a connect is under way
  TimePoint connecting{};  // when that connect was started
};

class LoadRun {
 public:
  LoadRun(const RunOptions& o, const Population& cards, const PolicyModel* policy,
          const QrMinter* minter, std::ostream& log, std::ostream* taps,
          const std::atomic<int>& stop)
      : o_(o),
        cards_(cards),
        policy_(policy),
        minter_(minter),
        log_(log),
        taps_(taps),
        stop_(stop),
        rng_(o.seed ^ 0x9e3779b97f4a7c15ULL),  // not the population's stream
        picker_(cards),
        model_(cards),
        profile_(rate_shape_from(o.profile).value_or(RateShape::steady),
                 o.profile_period_s > 0 ? o.profile_period_s : o.duration_s),
        txns_(milliseconds(o.resend_ms)) {
    // A single-scenario run keeps the old terminal ids (sim-0001...) and draws from anyone.
    legacy_kind_.scenario = o.scenario;
    legacy_kind_.kind = o.scenario;
    legacy_kind_.id_prefix = "sim-";
    legacy_kind_.amounts = amount_range(o.scenario);
  }

  Result<RunStats> execute() {
    if (auto c = connect_all(); !c) {
      disconnect_all();
      return c.error();
    }
    t0_ = Clock::now();
    load_end_ = t0_ + std::chrono::duration_cast<Clock::duration>(
                          std::chrono::duration<double>(o_.duration_s));
    next_progress_ = t0_ + progress_interval();
    schedule_drops(t0_);
    std::vector<Inbound> batch;
    for (;;) {
      auto now = Clock::now();
      const int stops = stop_.load();
      if (!load_done_) {
        send_due_requests(now);
        if ((next_s_ >= o_.duration_s && now >= load_end_) || stops >= 1) finish_load(now);
      }
      manage_links(now);
      retry_unpublished(now);
      resend_after_reconnects(now);
      publish_due_txns(now);
      if (now >= next_progress_) report_progress(now);
      // The drain also waits for every dropped link to be back, so no terminal is cut off in
      // the middle of setting up its session.
      if (load_done_ && ((inflight_.empty() && txns_.empty() && all_links_up()) ||
                         now >= drain_deadline_ || stops >= 2)) {
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
    UtcMillis sent_ms = 0;
    std::uint32_t terminal = 0;
    std::uint32_t card = 0;
    CredentialType credential = CredentialType::card;
    Credential presented;  // reported again in the txn record
  };
  struct Unpublished {
    std::string req_id;
    std::string payload;
    std::uint32_t terminal = 0;
    TimePoint retry_at;
  };

  Clock::duration progress_interval() const {
    if (o_.mode == "soak") {
      return std::chrono::duration_cast<Clock::duration>(
          std::chrono::duration<double>(std::max(1.0, o_.summary_s)));
    }
    return seconds(1);
  }

  Result<void> build_terminals() {
    std::vector<std::pair<std::string, const TerminalKind*>> plan;
    if (o_.mix.empty()) {
      for (int i = 0; i < o_.terminals; ++i) plan.emplace_back(terminal_id(i), &legacy_kind_);
    } else {
      auto mix = parse_mix(o_.mix);
      if (!mix) return mix.error();
      for (const auto& e : *mix) {
        for (int i = 0; i < e.count; ++i) plan.emplace_back(terminal_id_for(*e.kind, i), e.kind);
      }
    }
    for (std::uint32_t i = 0; i < plan.size(); ++i) {
      const auto& [id, kind] = plan[i];
      TerminalState st;
      st.kind = kind;
      if (policy_ != nullptr) {
        st.scenario = policy_->for_terminal(id);
        // A mix terminal that the file maps elsewhere would only measure a misconfiguration.
        if (!o_.mix.empty() && (st.scenario == nullptr || st.scenario->name != kind->scenario)) {
          return make_error("policy_mismatch",
                            "the policies file " + o_.policies + " maps terminal " + id + " to " +
                                (st.scenario ? "scenario " + st.scenario->name : "no scenario") +
                                ", not " + std::string(kind->scenario));
        }
      }
      states_.push_back(st);
      terminals_.push_back(std::make_unique<Terminal>(i, id, std::string(kind->scenario), o_,
                                                      inbox_, session_events_));
    }
    return {};
  }

  Result<void> connect_all() {
    std::vector<paho::token_ptr> tokens;
    try {
      if (auto b = build_terminals(); !b) return b.error();
      for (const auto& t : terminals_) tokens.push_back(t->connect());
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
      states_[i].link_down = false;
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

  // ---- link losses ------------------------------------------------------------------------

  double exponential_s(double mean_s) {
    return -mean_s * std::log(1.0 - uniform_unit(rng_) * 0.999999);
  }

  Clock::duration after_s(double s) const {
    return std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(s));
  }

  void schedule_drop(TerminalState& st, TimePoint from) {
    st.next_drop = TimePoint::max();
    const bool bus = st.kind->kind == "bus" && o_.bus_outage_s > 0;
    if (bus) {
      st.next_drop = from + after_s(exponential_s(std::max(1.0, o_.bus_outage_every_s)));
      st.outage_is_bus = true;
    }
    if (o_.disconnect_every_s > 0) {
      const auto random_drop = from + after_s(exponential_s(o_.disconnect_every_s));
      if (random_drop < st.next_drop) {
        st.next_drop = random_drop;
        st.outage_is_bus = false;
      }
    }
  }

  void schedule_drops(TimePoint now) {
    for (auto& st : states_) schedule_drop(st, now);
  }

  void manage_links(TimePoint now) {
    for (std::size_t i = 0; i < states_.size(); ++i) {
      TerminalState& st = states_[i];
      Terminal& t = *terminals_[i];
      if (st.link_down) {
        // A connect that has not come back (refused, broker busy) is tried again.
        if (st.back_at == TimePoint{} && now - st.connecting > kReconnectRetry) st.back_at = now;
        if (now >= st.back_at && st.back_at != TimePoint{}) {
          if (t.restore_link()) {
            st.back_at = TimePoint{};  // link_down clears when the subscriptions are back
            st.connecting = now;
            if (!load_done_) schedule_drop(st, now);
          } else {
            st.back_at = now + milliseconds(200);
          }
        }
        continue;
      }
      if (load_done_) continue;
      // A terminal goes quiet between taps: an answer on its way would be lost with the link.
      // Nor does it drop while its subscriptions are still being set up.
      if (now < st.next_drop || st.inflight > 0 || !t.settled()) continue;
      const double len = st.outage_is_bus
                             ? o_.bus_outage_s * (0.5 + uniform_unit(rng_))
                             : kDropMinS + (kDropMaxS - kDropMinS) * uniform_unit(rng_);
      st.link_down = true;
      st.back_at = now + after_s(len);
      st.next_drop = TimePoint::max();
      ++stats_.outages;
      t.drop_link();
      if (!o_.quiet && o_.mode != "soak") {
        char line[160];
        std::snprintf(line, sizeof line, "[yktgw-sim] %s lost its link for %.1f s%s\n",
                      t.id().c_str(), len, st.outage_is_bus ? " (taps stored on board)" : "");
        log_ << line << std::flush;
      }
    }
  }

  bool all_links_up() const {
    return std::none_of(states_.begin(), states_.end(),
                        [](const TerminalState& st) { return st.link_down; });
  }

  // The load is over: every terminal comes back to upload what it holds (manage_links keeps
  // trying those that do not).
  void restore_all_links(TimePoint now) {
    for (std::size_t i = 0; i < states_.size(); ++i) {
      states_[i].next_drop = TimePoint::max();
      if (states_[i].link_down && states_[i].back_at != TimePoint{}) states_[i].back_at = now;
    }
  }

  // ---- requests ---------------------------------------------------------------------------

  TimePoint at_s(double s) const { return t0_ + after_s(s); }

  void send_due_requests(TimePoint now) {
    // Open loop: each request has a fixed slot on the rate profile; a stall is made up by
    // sending the missed ones at once, and their latency still counts from the slot.
    while (next_s_ < o_.duration_s) {
      const auto intended = at_s(next_s_);
      if (intended > now) break;
      send_request(intended, now);
      ++next_;
      next_s_ = profile_.next_send(next_s_, o_.rate);
    }
  }

  std::uint32_t pick_card(const TerminalState& st) {
    auto busy = [this](std::size_t i) {
      return busy_cards_.contains(static_cast<std::uint32_t>(i));
    };
    // Most cars leaving a car park came in through its entry.
    if (st.scenario != nullptr && st.kind->kind == "parking" && !st.scenario->entry_side) {
      const auto parked = model_.parked(st.scenario->lot);
      const auto r = uniform_below(rng_, 100);
      const auto x = rng_();
      if (r < 85 && !parked.empty()) {
        const auto c = parked[x % parked.size()];
        if (!busy(c)) return c;
      }
    }
    return static_cast<std::uint32_t>(picker_.pick(*st.kind, rng_, busy));
  }

  Credential present(const TerminalState& st, const Card& card, UtcMillis now_ms) {
    Credential c;
    CredentialType type = draw_credential(st.kind->credentials, rng_);
    if ((type == CredentialType::ecard_qr || type == CredentialType::ykm_qr) &&
        (minter_ == nullptr || !minter_->can_mint(type, card))) {
      type = CredentialType::card;  // no key for this issuer: the holder taps the card instead
    }
    c.type = type;
    switch (type) {
      case CredentialType::card:
        c.card_no = card.card_no;
        break;
      case CredentialType::ecard_qr:
      case CredentialType::ykm_qr:
        c.qr = minter_->mint(type, card, now_ms, rng_);
        break;
      case CredentialType::other:
        c.method = std::string(st.kind->other_method);
        break;
    }
    return c;
  }

  void send_request(TimePoint intended, TimePoint now) {
    const auto ti = static_cast<std::uint32_t>(next_ % terminals_.size());
    Terminal& t = *terminals_[ti];
    TerminalState& st = states_[ti];
    const auto card = pick_card(st);
    const UtcMillis now_ms = utc_now_ms();
    Credential presented = present(st, cards_[card], now_ms);
    const Fen amount = draw_amount(rng_, st.kind->amounts);
    if (st.link_down) {
      offline_tap(ti, card, std::move(presented), amount, now);
      return;
    }

    AuthRequest r;
    r.req_id = t.id() + "-r" + std::to_string(t.next_req++);
    r.terminal = t.id();
    r.scenario = t.scenario();
    r.ts_ms = now_ms;
    r.credential = presented;
    r.amount_fen = amount;

    inflight_.emplace(r.req_id,
                      InFlight{intended, now_ms, ti, card, presented.type, std::move(presented)});
    busy_cards_.insert(card);
    ++st.inflight;
    std::string payload = protocol::serialize(r);
    std::string why;
    if (t.publish(t.req_topic(), payload, why)) {
      ++stats_.sent;
    } else {
      refused(why);
      unpublished_.push_back(Unpublished{r.req_id, std::move(payload), ti, now + kRefusedRetry});
    }
  }

  // A tap while the terminal has no link. A bus decides on board from its own deny list and
  // keeps the record for upload (§7: offline taps have no auth/req); other kinds cannot decide
  // without the gateway, so the tap does not happen.
  void offline_tap(std::uint32_t ti, std::uint32_t card, Credential presented, Fen amount,
                   TimePoint now) {
    TerminalState& st = states_[ti];
    if (st.kind->kind != "bus") {
      ++stats_.offline_taps_skipped;
      return;
    }
    Terminal& t = *terminals_[ti];
    const Card& c = cards_[card];
    protocol::TxnMessage msg;
    msg.txn_id = t.id() + "-" + std::to_string(o_.txn_seq_start + t.next_txn++ - 1);
    msg.terminal = t.id();
    msg.scenario = t.scenario();
    msg.ts_ms = utc_now_ms();
    msg.credential = std::move(presented);
    msg.mode = AuthMode::offline;
    const bool denied = c.status == CardStatus::lost || c.status == CardStatus::frozen ||
                        c.status == CardStatus::cancelled;
    if (denied && msg.credential.type != CredentialType::other) {
      msg.result = TxnResult::declined;
      msg.reason = std::string(reason_code(expected_outcome(c.status).reason));
      msg.amount_fen = 0;
    } else {
      msg.result = TxnResult::approved;
      msg.amount_fen = amount;
    }
    ++stats_.offline_taps_stored;
    txns_.add(msg.txn_id, ti, protocol::serialize(msg), now);
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
    // Per terminal, in the order they fell due: a terminal holding several records at once
    // (back from a link loss) uploads them in txn/batch messages of up to bulk_records.
    std::map<std::uint32_t, std::vector<std::string>> due;
    for (auto& id : txns_.take_due(now)) {
      const auto* p = txns_.find(id);
      const TerminalState& st = states_[p->terminal];
      if (st.link_down) {
        // Held on board until the link is back; the reconnect makes it due at once.
        txns_.refused(id, std::max(now + milliseconds(500), st.back_at));
        continue;
      }
      due[p->terminal].push_back(std::move(id));
    }
    const auto bulk = static_cast<std::size_t>(std::max(1, o_.bulk_records));
    for (auto& [term, ids] : due) {
      Terminal& t = *terminals_[term];
      for (std::size_t from = 0; from < ids.size(); from += bulk) {
        const std::size_t n = std::min(bulk, ids.size() - from);
        std::string why;
        bool ok = false;
        if (n == 1) {
          ok = t.publish(t.txn_topic(), txns_.find(ids[from])->payload, why);
        } else {
          // The records as they would go one by one ("v" included, which a batch allows).
          std::string payload = R"({"v":1,"batch_id":")" + t.id() + ":b-" +
                                std::to_string(++batch_seq_) + R"(","terminal":")" + t.id() +
                                R"(","records":[)";
          for (std::size_t i = from; i < from + n; ++i) {
            if (i > from) payload += ',';
            payload += txns_.find(ids[i])->payload;
          }
          payload += "]}";
          ok = t.publish(t.batch_topic(), payload, why);
          if (ok) ++stats_.txn_batches;
        }
        for (std::size_t i = from; i < from + n; ++i) {
          if (!ok) {
            txns_.refused(ids[i], now + kRefusedRetry);
          } else if (txns_.published(ids[i], now)) {
            ++stats_.txn_resent;
          } else {
            ++stats_.txn_sent;
          }
        }
        if (!ok) refused(why);
      }
    }
  }

  void refused(const std::string& why) {
    ++stats_.backpressure;
    note("backpressure", "publish refused, retrying: " + why);
  }

  void handle(const Inbound& m) {
    switch (m.kind) {
      case InboundKind::txn_ack:
        handle_txn_ack(m);
        break;
      case InboundKind::batch_ack:
        handle_batch_ack(m);
        break;
      case InboundKind::auth_resp:
        handle_auth_response(m);
        break;
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
    InFlight f = std::move(it->second);
    inflight_.erase(it);
    busy_cards_.erase(f.card);
    TerminalState& st = states_[f.terminal];
    --st.inflight;
    stats_.rtt.record(m.received - f.intended);
    const UtcMillis answered_ms = utc_now_ms();

    const bool approved = resp.decision == Decision::approve;
    const std::string reason(reason_code(resp.reason));
    const std::string& scenario = terminals_[f.terminal]->scenario();
    auto& per = stats_.by_scenario[scenario];
    ++per.answered;
    if (approved) {
      ++stats_.approved;
      ++per.approved;
    } else {
      ++stats_.declined;
      ++per.declined;
      ++stats_.decline_reasons[reason];
    }
    ++stats_.by_reason[reason];
    ++stats_.by_credential[std::string(to_string(f.credential))];
    ++stats_.by_auth_mode[std::string(to_string(resp.mode))];

    const Card& card = cards_[f.card];
    std::optional<Expected> want;
    if (policy_ != nullptr) {
      TapFacts facts{st.scenario, f.card, f.credential, resp.mode == AuthMode::online};
      facts.scenario_matches = st.scenario == nullptr || st.scenario->name == scenario;
      want = model_.expect(facts, f.sent_ms, answered_ms);
      model_.record(facts, resp.decision, answered_ms);
    } else {
      const Expectation e = expected_outcome(card.status);
      want = Expected{e.decision, e.reason, true};
    }
    bool mismatch = false;
    if (!want->certain) {
      ++stats_.uncertain;
    } else {
      ++stats_.checked;
      // The catalogue item the tap counts for comes with every answer of a mapped terminal.
      const int item = st.scenario != nullptr ? st.scenario->service_item : resp.service_item;
      if (resp.decision != want->decision || resp.reason != want->reason ||
          resp.service_item != item) {
        mismatch = true;
        ++stats_.mismatches;
        ++per.mismatches;
        std::string text = "req_id=" + resp.req_id + " scenario=" + scenario +
                           " credential=" + std::string(to_string(f.credential)) +
                           " card=" + masked(card.card_no) +
                           " status=" + std::string(to_string(card.status)) +
                           " mode=" + std::string(to_string(resp.mode)) +
                           " expected=" + std::string(to_string(want->decision)) + "/" +
                           std::string(reason_code(want->reason)) + "/item " +
                           std::to_string(item) + " got=" + std::string(to_string(resp.decision)) +
                           "/" + reason + "/item " + std::to_string(resp.service_item);
        if (stats_.mismatch_samples.size() < kMismatchSamples) {
          stats_.mismatch_samples.push_back(text);
        }
        note("mismatch", text);
      }
    }
    if (o_.mode == "demo" && taps_ != nullptr) {
      demo_line(f, resp, card, answered_ms, m.received,
                mismatch ? std::string(to_string(want->decision)) + "/" +
                               std::string(reason_code(want->reason))
                         : std::string());
    }
    // Draw even at ratio 1.0 so that the random stream does not depend on the ratio.
    if (uniform_unit(rng_) < o_.txn_ratio) record_txn(resp, f, m.received);
  }

  void demo_line(const InFlight& f, const AuthResponse& resp, const Card& card,
                 UtcMillis answered_ms, TimePoint received, const std::string& expected) {
    const ShanghaiClock at = shanghai_clock(answered_ms);
    const int secs = static_cast<int>(((answered_ms + 8 * 3'600'000LL) / 1000) % 60);
    const Terminal& t = *terminals_[f.terminal];
    char line[320];
    std::snprintf(
        line, sizeof line,
        "%02d:%02d:%02d %-13s %-15s %-18s %-8s %-7s %-26s %6lld fen %-7s %7.2f ms%s%s\n",
        at.minute / 60, at.minute % 60, secs, t.id().c_str(), t.scenario().c_str(),
        f.credential == CredentialType::other ? "-" : masked(card.card_no).c_str(),
        std::string(to_string(f.credential)).c_str(), std::string(to_string(resp.decision)).c_str(),
        std::string(reason_code(resp.reason)).c_str(), static_cast<long long>(resp.amount_fen),
        std::string(to_string(resp.mode)).c_str(),
        std::chrono::duration<double, std::milli>(received - f.intended).count(),
        expected.empty() ? "" : "  MISMATCH expected ", expected.c_str());
    *taps_ << line << std::flush;
  }

  void record_txn(const AuthResponse& resp, const InFlight& f, TimePoint now) {
    Terminal& t = *terminals_[f.terminal];
    const bool approved = resp.decision == Decision::approve;
    protocol::TxnMessage msg;
    msg.txn_id = t.id() + "-" + std::to_string(o_.txn_seq_start + t.next_txn++ - 1);
    msg.req_id = resp.req_id;
    msg.terminal = t.id();
    msg.scenario = t.scenario();
    msg.ts_ms = utc_now_ms();
    msg.credential = f.presented;
    msg.mode = resp.mode;
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
    settle(m.terminal, *parsed.value);
  }

  void handle_batch_ack(const Inbound& m) {
    const auto parsed = protocol::parse_txn_batch_ack(m.payload);
    if (!parsed.ok()) {
      ++stats_.errors;
      note("bad_ack", "unreadable txn/batch/ack on " + terminals_[m.terminal]->id() + ": " +
                          parsed.error.detail);
      return;
    }
    if (parsed.value->rejected) {
      // Nothing of the batch was stored; its records stay pending and go again.
      ++stats_.errors;
      note("rejected", "batch " + parsed.value->batch_id +
                           " rejected: " + std::string(reason_code(parsed.value->reason)) + " " +
                           parsed.value->detail);
      return;
    }
    for (const auto& item : parsed.value->acks) settle(m.terminal, item.ack);
  }

  void settle(std::uint32_t terminal, const TxnAck& ack) {
    const auto* p = txns_.find(ack.txn_id);
    if (p == nullptr || p->terminal != terminal) {
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
    restore_all_links(now);
    load_elapsed_s_ = seconds_between(t0_, now);
    drain_deadline_ = now + std::chrono::duration_cast<Clock::duration>(
                                std::chrono::duration<double>(o_.drain_s));
  }

  TimePoint next_wake(TimePoint now) const {
    TimePoint wake = std::min(now + kMaxWait, next_progress_);
    if (!load_done_) {
      wake = std::min(wake, next_s_ < o_.duration_s ? at_s(next_s_) : load_end_);
      for (const auto& st : states_) {
        wake =
            std::min(wake, st.link_down && st.back_at != TimePoint{} ? st.back_at : st.next_drop);
      }
    } else {
      wake = std::min(wake, drain_deadline_);
    }
    if (!unpublished_.empty()) wake = std::min(wake, unpublished_.front().retry_at);
    if (auto due = txns_.next_due()) wake = std::min(wake, *due);
    return wake;
  }

  void report_progress(TimePoint now) {
    next_progress_ += progress_interval();
    if (next_progress_ <= now) next_progress_ = now + progress_interval();
    if (o_.quiet || o_.mode == "demo") return;
    if (o_.mode == "soak") {
      RunStats s = stats_;
      s.txn_pending = txns_.size();
      s.duration_s = seconds_between(t0_, now);
      s.rate_achieved = s.duration_s > 0 ? static_cast<double>(s.sent) / s.duration_s : 0;
      log_ << "[yktgw-sim] summary t=" << static_cast<long long>(s.duration_s) << "s "
           << summary_json(s) << '\n'
           << std::flush;
      return;
    }
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
    for (std::size_t i = 0; i < terminals_.size(); ++i) {
      Terminal& t = *terminals_[i];
      for (const auto& text : t.take_failure_texts()) note("link_failure", t.id() + ": " + text);
      s.errors += t.failures();
      s.disconnects += t.disconnects();
      if (i < states_.size() && states_[i].link_down && stop_.load() < 2) {
        ++s.errors;
        note("link_failure", t.id() + " did not get its link back before the end of the run");
      }
    }
    s.duration_s = seconds_between(t0_, end);
    s.rate_achieved = load_elapsed_s_ > 0 ? static_cast<double>(s.sent) / load_elapsed_s_ : 0;
    return s;
  }

  const RunOptions& o_;
  const Population& cards_;
  const PolicyModel* policy_;
  const QrMinter* minter_;
  std::ostream& log_;
  std::ostream* taps_;
  const std::atomic<int>& stop_;
  std::mt19937_64 rng_;
  CardPicker picker_;
  ExpectationModel model_;
  RateProfile profile_;
  TerminalKind legacy_kind_;

  // Declared before the terminals: Paho's threads use these until the terminals are gone.
  Inbox inbox_;
  std::atomic<std::uint64_t> session_events_{0};
  std::vector<std::unique_ptr<Terminal>> terminals_;
  std::vector<TerminalState> states_;

  TimePoint t0_, load_end_, drain_deadline_, next_progress_;
  bool load_done_ = false;
  double load_elapsed_s_ = 0;
  std::uint64_t next_ = 0;  // index of the next request slot
  double next_s_ = 0;       // its intended send time, seconds from t0_
  std::unordered_set<std::uint32_t> busy_cards_;
  std::uint64_t seen_session_events_ = 0;
  std::uint64_t batch_seq_ = 0;  // txn/batch ids, unique over the run
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
  if (o.bulk_records < 1 || o.bulk_records > 500)
    return make_error("invalid_option", "--bulk-records must be 1..500");
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
  if (o.mode != "demo" && o.mode != "load" && o.mode != "soak") {
    return make_error("invalid_option",
                      "the mode must be demo, load or soak (got '" + o.mode + "')");
  }
  if (!o.mix.empty()) {
    if (auto m = parse_mix(o.mix); !m) return m.error();
  }
  if (!rate_shape_from(o.profile)) {
    return make_error("invalid_option",
                      "--profile must be steady, meal or rush (got '" + o.profile + "')");
  }
  if (!(o.profile_period_s >= 0))
    return make_error("invalid_option", "--profile-period must be >= 0");
  if (!(o.bus_outage_s >= 0) || !(o.bus_outage_every_s > 0) || !(o.disconnect_every_s >= 0)) {
    return make_error(
        "invalid_option",
        "--bus-outage-s and --disconnect-every-s must be >= 0, --bus-outage-every-s > 0");
  }
  if (!(o.summary_s > 0)) return make_error("invalid_option", "--summary-s must be > 0");
  if (!o.hmac_key_file.empty() && o.ecard_key_dir.empty() && o.ykm_key_dir.empty()) {
    return make_error("invalid_option",
                      "--hmac-key-file mints QR codes only with --ecard-key-dir or --ykm-key-dir");
  }
  if (!(o.drain_s >= 0)) return make_error("invalid_option", "--drain-s must be >= 0");
  if (!(o.txn_ratio >= 0 && o.txn_ratio <= 1)) {
    return make_error("invalid_option", "--txn-ratio must be between 0 and 1");
  }
  return {};
}

Result<RunStats> run_simulation(const RunOptions& options, const Population& cards,
                                std::ostream& progress, const std::atomic<int>& stop,
                                std::ostream* taps) {
  if (auto v = validate(options); !v) return v.error();
  if (cards.empty()) return make_error("invalid_option", "the card population is empty");
  std::optional<PolicyModel> policy;
  if (!options.policies.empty()) {
    auto loaded = PolicyModel::load(options.policies, holder_groups());
    if (!loaded) return loaded.error();
    policy = std::move(*loaded);
  }
  std::unique_ptr<QrMinter> minter;
  if (!options.hmac_key_file.empty()) {
    auto opened = QrMinter::open(options.hmac_key_file, options.ecard_key_dir, options.ykm_key_dir);
    if (!opened) return opened.error();
    minter = std::move(*opened);
  }
  LoadRun run(options, cards, policy ? &*policy : nullptr, minter.get(), progress, taps, stop);
  return run.execute();
}

std::string describe_terminals(const RunOptions& o) {
  if (o.mix.empty()) return "sim:" + std::to_string(o.terminals) + " " + o.scenario;
  auto mix = parse_mix(o.mix);
  return mix ? to_string(*mix) : o.mix;
}

}  // namespace yktgw::sim
