#include "gateway/ingest/dispatcher.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <spdlog/logger.h>
#include <spdlog/sinks/ostream_sink.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <iterator>
#include <map>
#include <mutex>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "gateway/protocol/terminal_protocol.h"
#include "tests/gateway/ingest/card_list_fake_authorizer.h"

namespace yktgw {
namespace {

using Json = nlohmann::json;
using ::testing::HasSubstr;
using ::testing::Not;
using namespace std::chrono_literals;

// ---------------------------------------------------------------------------------------------
// Fakes for the dispatcher's boundaries.

class FakeLink final : public TerminalLink {
 public:
  Result<void> start(InboundHandler) override { return {}; }
  PublishStatus publish(OutboundMessage msg) override {
    std::lock_guard lock(mu_);
    sent_.push_back(std::move(msg));
    return status_;
  }
  void stop_intake() override {}
  void stop(int) override {}
  bool connected() const override { return true; }

  std::vector<OutboundMessage> sent() const {
    std::lock_guard lock(mu_);
    return sent_;
  }
  void set_status(PublishStatus s) {
    std::lock_guard lock(mu_);
    status_ = s;
  }

 private:
  mutable std::mutex mu_;
  std::vector<OutboundMessage> sent_;
  PublishStatus status_ = PublishStatus::ok;
};

class FakeStore final : public RecordStore {
 public:
  enum class Mode { complete_now, hold, refuse };

  bool submit(TxnRecord record, Completion done) override {
    std::unique_lock lock(mu_);
    if (mode_ == Mode::refuse) return false;
    records_.push_back(std::move(record));
    if (mode_ == Mode::hold) {
      held_.push_back(std::move(done));
      return true;
    }
    const StoreOutcome outcome = outcome_;
    lock.unlock();
    done(outcome);
    return true;
  }
  void flush() override {}
  StoreStats stats() const override { return {}; }

  void set_mode(Mode m, StoreOutcome outcome = StoreOutcome::stored) {
    std::lock_guard lock(mu_);
    mode_ = m;
    outcome_ = outcome;
  }
  // Runs the held completions, as the writer thread would after its commit.
  // Completes the first `n` held records (all by default) in the order they came.
  void complete_held(StoreOutcome outcome, std::size_t n = SIZE_MAX) {
    std::vector<Completion> held;
    {
      std::lock_guard lock(mu_);
      n = std::min(n, held_.size());
      held.assign(std::make_move_iterator(held_.begin()),
                  std::make_move_iterator(held_.begin() + static_cast<std::ptrdiff_t>(n)));
      held_.erase(held_.begin(), held_.begin() + static_cast<std::ptrdiff_t>(n));
    }
    for (auto& done : held) done(outcome);
  }
  std::vector<TxnRecord> records() const {
    std::lock_guard lock(mu_);
    return records_;
  }
  std::size_t held() const {
    std::lock_guard lock(mu_);
    return held_.size();
  }

 private:
  mutable std::mutex mu_;
  Mode mode_ = Mode::complete_now;
  StoreOutcome outcome_ = StoreOutcome::stored;
  std::vector<TxnRecord> records_;
  std::vector<Completion> held_;
};

class FakeClock final : public Clock {
 public:
  std::int64_t wall_ms() const override { return wall_.load(); }
  std::chrono::steady_clock::time_point steady() const override {
    return std::chrono::steady_clock::time_point(std::chrono::milliseconds(steady_ms_.load()));
  }
  void advance(std::chrono::milliseconds d) {
    wall_ += d.count();
    steady_ms_ += d.count();
  }

 private:
  std::atomic<std::int64_t> wall_{1718000001000};
  std::atomic<std::int64_t> steady_ms_{5'000'000};
};

class FakeCardList final : public CardList {
 public:
  std::optional<CardEntry> find(std::string_view token) const override {
    auto it = cards.find(std::string(token));
    if (it == cards.end()) return std::nullopt;
    return CardEntry{it->second, 0};
  }
  std::uint64_t size() const override { return cards.size(); }
  std::int64_t version() const override { return 1; }
  std::int64_t updated_ms() const override { return 0; }

  std::map<std::string, CardStatus> cards;
};

// ---------------------------------------------------------------------------------------------
// Messages.

constexpr const char* kActive = "500156199001011234";
constexpr const char* kLost = "500156199001021235";
constexpr const char* kUnknown = "500156199001051238";

constexpr const char* kAuthTopic = "ykt/v1/xiangkou/ct-1/auth/req";
constexpr const char* kRespTopic = "ykt/v1/xiangkou/ct-1/auth/resp";
constexpr const char* kTxnTopic = "ykt/v1/xiangkou/ct-1/txn";
constexpr const char* kAckTopic = "ykt/v1/xiangkou/ct-1/txn/ack";
constexpr const char* kStatusTopic = "ykt/v1/xiangkou/ct-1/status";

AuthRequest auth_request(std::string card_no = kActive, std::string req_id = "r-0001") {
  AuthRequest r;
  r.req_id = std::move(req_id);
  r.terminal = "ct-1";
  r.scenario = "canteen";
  r.ts_ms = 1718000000000;
  r.credential.type = CredentialType::card;
  r.credential.card_no = std::move(card_no);
  r.amount_fen = 1200;
  return r;
}

protocol::TxnMessage txn_message(std::string card_no = kActive,
                                 std::string txn_id = "ct-1:000123") {
  protocol::TxnMessage t;
  t.txn_id = std::move(txn_id);
  t.req_id = "r-0001";
  t.terminal = "ct-1";
  t.scenario = "canteen";
  t.ts_ms = 1718000000500;
  t.credential.type = CredentialType::card;
  t.credential.card_no = std::move(card_no);
  t.amount_fen = 600;
  t.result = TxnResult::approved;
  return t;
}

InboundMessage inbound(std::string topic, std::string payload) {
  InboundMessage m;
  m.topic = std::move(topic);
  m.payload = std::move(payload);
  return m;
}

InboundMessage auth_msg(const AuthRequest& r = auth_request()) {
  return inbound(kAuthTopic, protocol::serialize(r));
}
InboundMessage txn_msg(const protocol::TxnMessage& t = txn_message()) {
  return inbound(kTxnTopic, protocol::serialize(t));
}

// Every string a record holds, to look for the full card number in.
std::vector<std::string> strings_of(const TxnRecord& r) {
  return {r.txn_id,     r.req_id,      r.site,        r.terminal, r.scenario,
          r.card.token, r.card.masked, r.card.method, r.reason};
}

// ---------------------------------------------------------------------------------------------
// Fixture: a card-list authorizer and a real CardTokenizer over the fakes.

class DispatcherTest : public ::testing::Test {
 protected:
  DispatcherTest() : tok_(CardTokenizer::create("0123456789abcdef").value()) {
    list_.cards[tok_.token(kActive)] = CardStatus::active;
    list_.cards[tok_.token(kLost)] = CardStatus::lost;
    auto sink = std::make_shared<spdlog::sinks::ostream_sink_mt>(log_text_);
    sink->set_pattern("%l %v");
    log_ = std::make_shared<spdlog::logger>("ingest-test", sink);
    log_->set_level(spdlog::level::info);
    make(options());
  }

  static DispatcherOptions options() {
    DispatcherOptions o;
    o.site = "xiangkou";
    o.workers = 1;
    o.queue_capacity = 64;
    o.max_payload_bytes = 1024;
    o.warn_interval_ms = 10000;
    return o;
  }

  void make(DispatcherOptions o) {
    dispatcher_.reset();
    dispatcher_ = std::make_unique<Dispatcher>(
        Dispatcher::Deps{link_, store_, authorizer_, tok_, clock_, log_}, std::move(o));
  }

  // Runs the messages through the workers and returns when they are all handled.
  void process(std::vector<InboundMessage> msgs) {
    dispatcher_->start();
    for (auto& m : msgs) dispatcher_->on_message(std::move(m));
    dispatcher_->stop();
  }
  void process(InboundMessage msg) {
    std::vector<InboundMessage> v;
    v.push_back(std::move(msg));
    process(std::move(v));
  }

  std::vector<OutboundMessage> sent() const { return link_.sent(); }
  IngestStats stats() const { return dispatcher_->stats(); }
  std::string log_text() const {
    log_->flush();
    return log_text_.str();
  }

  static AuthResponse as_auth_response(const OutboundMessage& m) {
    auto p = protocol::parse_auth_response(m.payload);
    EXPECT_TRUE(p.ok()) << m.payload;
    return p.ok() ? *p.value : AuthResponse{};
  }
  static TxnAck as_ack(const OutboundMessage& m) {
    auto p = protocol::parse_txn_ack(m.payload);
    EXPECT_TRUE(p.ok()) << m.payload;
    return p.ok() ? *p.value : TxnAck{};
  }

  CardTokenizer tok_;
  FakeCardList list_;
  testing::CardListFakeAuthorizer authorizer_{list_, tok_};
  FakeLink link_;
  FakeStore store_;
  FakeClock clock_;
  std::ostringstream log_text_;
  std::shared_ptr<spdlog::logger> log_;
  std::unique_ptr<Dispatcher> dispatcher_;
};

std::size_t idx(Reason r) { return static_cast<std::size_t>(r); }

// ---------------------------------------------------------------------------------------------
// Auth requests

TEST_F(DispatcherTest, ApprovesAnActiveCardOnTheDefaultResponseTopic) {
  process(auth_msg());
  auto out = sent();
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].topic, kRespTopic);
  EXPECT_FALSE(out[0].has_correlation);
  EXPECT_FALSE(out[0].retained);
  AuthResponse r = as_auth_response(out[0]);
  EXPECT_EQ(r.req_id, "r-0001");
  EXPECT_EQ(r.decision, Decision::approve);
  EXPECT_EQ(r.reason, Reason::ok);
  EXPECT_EQ(r.amount_fen, 1200);
  EXPECT_EQ(r.card_masked, "500156********1234");
  EXPECT_THAT(out[0].payload, Not(HasSubstr(kActive)));

  auto s = stats();
  EXPECT_EQ(s.received, 1u);
  EXPECT_EQ(s.auth_requests, 1u);
  EXPECT_EQ(s.approved, 1u);
  EXPECT_EQ(s.declined, 0u);
  EXPECT_EQ(s.auth_by_reason[idx(Reason::ok)], 1u);
  EXPECT_EQ(s.refused_by_reason, (std::array<std::uint64_t, kReasonCount>{}));
}

TEST_F(DispatcherTest, AuthLatencyRunsFromHandOverToTheReply) {
  dispatcher_->on_message(auth_msg());  // queued: no worker yet
  clock_.advance(std::chrono::milliseconds(3));
  process(std::vector<InboundMessage>{});  // start, drain, stop
  const LatencySnapshot l = dispatcher_->auth_latency();
  EXPECT_EQ(l.total(), 1u);
  EXPECT_EQ(l.counts[5], 1u);  // (2.5 ms, 5 ms]
  EXPECT_EQ(l.sum_us, 3000u);
  process(inbound(kAuthTopic, "{"));  // refused, but answered: timed too
  EXPECT_EQ(dispatcher_->auth_latency().total(), 2u);
  EXPECT_EQ(dispatcher_->auth_latency().counts[0], 1u);
}

TEST_F(DispatcherTest, DeclinesWithTheAuthorizersReason) {
  AuthRequest qr = auth_request("", "r-qr");
  qr.credential = Credential{};
  qr.credential.type = CredentialType::ykm_qr;
  qr.credential.qr = "ykm:abcdef";
  process({auth_msg(auth_request(kLost, "r-lost")), auth_msg(auth_request(kUnknown, "r-unk")),
           auth_msg(auth_request("1234", "r-bad")), auth_msg(qr)});
  std::map<std::string, AuthResponse> by_id;
  for (const auto& m : sent()) {
    EXPECT_EQ(m.topic, kRespTopic);
    AuthResponse r = as_auth_response(m);
    by_id[r.req_id] = r;
  }
  ASSERT_EQ(by_id.size(), 4u);
  EXPECT_EQ(by_id["r-lost"].reason, Reason::card_lost);
  EXPECT_EQ(by_id["r-unk"].reason, Reason::unknown_card);
  EXPECT_EQ(by_id["r-bad"].reason, Reason::invalid_card_no);
  EXPECT_EQ(by_id["r-qr"].reason, Reason::credential_not_supported);
  for (auto& [id, r] : by_id) {
    EXPECT_EQ(r.decision, Decision::decline) << id;
    EXPECT_EQ(r.amount_fen, 0) << id;
  }
  auto s = stats();
  EXPECT_EQ(s.declined, 4u);
  EXPECT_EQ(s.approved, 0u);
  EXPECT_EQ(s.auth_by_reason[idx(Reason::card_lost)], 1u);
  EXPECT_EQ(s.auth_by_reason[idx(Reason::unknown_card)], 1u);
  EXPECT_EQ(s.auth_by_reason[idx(Reason::invalid_card_no)], 1u);
  EXPECT_EQ(s.auth_by_reason[idx(Reason::credential_not_supported)], 1u);
  // Decisions are not refusals of the message.
  EXPECT_EQ(s.refused_by_reason, (std::array<std::uint64_t, kReasonCount>{}));
}

Json valid_auth_json() { return Json::parse(protocol::serialize(auth_request())); }
Json valid_txn_json() { return Json::parse(protocol::serialize(txn_message())); }

struct BadInput {
  const char* name;
  std::string payload;
  Reason reason;
};

// One payload per input-error reason, built from a valid message with one thing changed.
std::vector<BadInput> bad_inputs(const Json& valid) {
  auto with = [&](const char* key, Json value) {
    Json j = valid;
    j[key] = std::move(value);
    return j.dump();
  };
  Json no_terminal = valid;
  no_terminal.erase("terminal");
  Json padded = valid;
  padded["pad"] = std::string(1100, 'p');
  return {
      {"malformed_json", valid.dump().substr(0, 40), Reason::malformed_json},
      {"missing_field", no_terminal.dump(), Reason::missing_field},
      {"wrong_type", with("ts", "yesterday"), Reason::wrong_type},
      {"invalid_value", with("scenario", "Canteen!"), Reason::invalid_value},
      {"unsupported_version", with("v", 2), Reason::unsupported_version},
      {"terminal_mismatch", with("terminal", "ct-2"), Reason::terminal_mismatch},
      {"payload_too_large", padded.dump(), Reason::payload_too_large},
  };
}

TEST_F(DispatcherTest, EachBadAuthRequestGetsAnErrorReplyAndIsCounted) {
  const auto cases = bad_inputs(valid_auth_json());
  for (const auto& c : cases) {
    SCOPED_TRACE(c.name);
    const std::size_t before = sent().size();
    const IngestStats s0 = stats();
    process(inbound(kAuthTopic, c.payload));
    auto out = sent();
    ASSERT_EQ(out.size(), before + 1);
    EXPECT_EQ(out.back().topic, kRespTopic);
    AuthResponse r = as_auth_response(out.back());
    EXPECT_EQ(r.decision, Decision::decline);
    EXPECT_EQ(r.reason, c.reason);
    EXPECT_EQ(r.amount_fen, 0);
    Json reply = Json::parse(out.back().payload);
    EXPECT_TRUE(reply.contains("detail"));
    EXPECT_THAT(out.back().payload, Not(HasSubstr(kActive)));
    const IngestStats s1 = stats();
    EXPECT_EQ(s1.refused_by_reason[idx(c.reason)], s0.refused_by_reason[idx(c.reason)] + 1);
    EXPECT_EQ(s1.auth_by_reason[idx(c.reason)], s0.auth_by_reason[idx(c.reason)] + 1);
    EXPECT_EQ(s1.declined, s0.declined + 1);
  }
  // Refused messages still show the terminal as talking, with errors.
  auto terminals = dispatcher_->terminals().snapshot();
  ASSERT_EQ(terminals.size(), 1u);
  EXPECT_EQ(terminals[0].terminal, "ct-1");
  EXPECT_EQ(terminals[0].errors, cases.size());
}

TEST_F(DispatcherTest, ErrorRepliesEchoTheRequestIdWhenReadable) {
  Json j = valid_auth_json();
  j["amount_fen"] = "12.00";
  process(inbound(kAuthTopic, j.dump()));
  auto out = sent();
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(as_auth_response(out[0]).req_id, "r-0001");
  EXPECT_EQ(as_auth_response(out[0]).reason, Reason::wrong_type);
}

TEST_F(DispatcherTest, PayloadAtTheLimitIsAccepted) {
  Json j = valid_auth_json();
  j["pad"] = "";
  const std::size_t base = j.dump().size();
  j["pad"] = std::string(1024 - base, 'p');
  ASSERT_EQ(j.dump().size(), 1024u);
  process(inbound(kAuthTopic, j.dump()));
  j["pad"] = std::string(1025 - base, 'p');
  process(inbound(kAuthTopic, j.dump()));
  auto out = sent();
  ASSERT_EQ(out.size(), 2u);
  EXPECT_EQ(as_auth_response(out[0]).decision, Decision::approve);
  EXPECT_EQ(as_auth_response(out[1]).reason, Reason::payload_too_large);
}

TEST_F(DispatcherTest, TopicsOutsideTheSiteOrLayoutAreUnroutable) {
  process({inbound("ykt/v1/other-site/ct-1/auth/req", protocol::serialize(auth_request())),
           inbound("ykt/v1/xiangkou/ct-1/auth/resp", protocol::serialize(auth_request())),
           inbound("ykt/v2/xiangkou/ct-1/auth/req", protocol::serialize(auth_request())),
           inbound("ykt/v1/xiangkou/ct+1/txn", protocol::serialize(txn_message())),
           inbound("", "")});
  EXPECT_TRUE(sent().empty());
  EXPECT_TRUE(store_.records().empty());
  auto s = stats();
  EXPECT_EQ(s.received, 5u);
  EXPECT_EQ(s.unroutable, 5u);
  EXPECT_EQ(s.auth_requests, 0u);
  EXPECT_TRUE(dispatcher_->terminals().snapshot().empty());
}

TEST_F(DispatcherTest, PublishFailuresAreCounted) {
  link_.set_status(PublishStatus::backpressure);
  process(auth_msg());
  EXPECT_EQ(sent().size(), 1u);
  EXPECT_EQ(stats().publish_failed, 1u);
  EXPECT_EQ(stats().approved, 1u);
}

// ---------------------------------------------------------------------------------------------
// MQTT v5 response topics

TEST_F(DispatcherTest, UsesAResponseTopicUnderTheTerminalsPrefix) {
  InboundMessage m = auth_msg();
  m.response_topic = "ykt/v1/xiangkou/ct-1/rr/auth";
  m.correlation_data = std::string("\x00\x01\xff corr", 8);
  m.has_correlation = true;
  process(std::move(m));
  auto out = sent();
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].topic, "ykt/v1/xiangkou/ct-1/rr/auth");
  EXPECT_TRUE(out[0].has_correlation);
  EXPECT_EQ(out[0].correlation_data, std::string("\x00\x01\xff corr", 8));
  EXPECT_EQ(as_auth_response(out[0]).decision, Decision::approve);
  EXPECT_EQ(stats().bad_response_topic, 0u);
}

TEST_F(DispatcherTest, FallsBackToTheDefaultTopicOutsideThePrefix) {
  const std::vector<std::string> bad = {
      "ykt/v1/xiangkou/ct-2/rr/auth",   // another terminal
      "ykt/v1/xiangkou/ct-10/rr/auth",  // a terminal whose id starts with ours
      "ykt/v1/other/ct-1/rr/auth",      // another site
      "ykt/v1/xiangkou/ct-1/",          // the bare prefix
      "ykt/v1/xiangkou/ct-1/rr/#",      // wildcards
      "ykt/v1/xiangkou/ct-1/+/auth",
      "ykt/v1/xiangkou/ct-1/" + std::string(300, 'a'),  // over-long
  };
  std::vector<InboundMessage> msgs;
  for (const auto& rt : bad) {
    InboundMessage m = auth_msg();
    m.response_topic = rt;
    m.correlation_data = "c-1";
    m.has_correlation = true;
    msgs.push_back(std::move(m));
  }
  process(std::move(msgs));
  auto out = sent();
  ASSERT_EQ(out.size(), bad.size());
  for (const auto& m : out) {
    EXPECT_EQ(m.topic, kRespTopic);
    EXPECT_FALSE(m.has_correlation);
    EXPECT_TRUE(m.correlation_data.empty());
  }
  EXPECT_EQ(stats().bad_response_topic, bad.size());
  EXPECT_EQ(stats().approved, bad.size());  // the decision itself is unaffected
}

TEST_F(DispatcherTest, ErrorRepliesAlsoUseTheResponseTopic) {
  InboundMessage m = inbound(kAuthTopic, "not json");
  m.response_topic = "ykt/v1/xiangkou/ct-1/rr/auth";
  m.correlation_data = "c-9";
  m.has_correlation = true;
  process(std::move(m));
  auto out = sent();
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].topic, "ykt/v1/xiangkou/ct-1/rr/auth");
  EXPECT_EQ(out[0].correlation_data, "c-9");
  EXPECT_EQ(as_auth_response(out[0]).reason, Reason::malformed_json);
}

// ---------------------------------------------------------------------------------------------
// Transaction records

TEST_F(DispatcherTest, TxnReachesTheStoreDeIdentified) {
  protocol::TxnMessage t = txn_message(kActive);
  t.credential.mac = "a1b2c3d4";
  process(txn_msg(t));
  auto records = store_.records();
  ASSERT_EQ(records.size(), 1u);
  const TxnRecord& r = records[0];
  EXPECT_EQ(r.txn_id, "ct-1:000123");
  EXPECT_EQ(r.req_id, "r-0001");
  EXPECT_EQ(r.site, "xiangkou");
  EXPECT_EQ(r.terminal, "ct-1");
  EXPECT_EQ(r.scenario, "canteen");
  EXPECT_EQ(r.ts_ms, 1718000000500);
  EXPECT_EQ(r.received_ms, clock_.wall_ms());
  EXPECT_EQ(r.card.type, CredentialType::card);
  EXPECT_EQ(r.card.token, tok_.token(kActive));
  EXPECT_EQ(r.card.masked, "500156********1234");
  EXPECT_EQ(r.amount_fen, 600);
  EXPECT_EQ(r.result, TxnResult::approved);
  for (const auto& s : strings_of(r)) {
    EXPECT_THAT(s, Not(HasSubstr(kActive)));
    EXPECT_THAT(s, Not(HasSubstr("19900101")));  // the hidden middle digits
  }
}

TEST_F(DispatcherTest, DeclinedAndCashTxnsAreStoredToo) {
  protocol::TxnMessage declined = txn_message(kLost, "ct-1:1");
  declined.result = TxnResult::declined;
  declined.reason = "card_lost";
  declined.amount_fen = 0;
  protocol::TxnMessage cash = txn_message("", "ct-1:2");
  cash.credential = Credential{};
  cash.credential.type = CredentialType::other;
  cash.credential.method = "cash";
  process({txn_msg(declined), txn_msg(cash)});
  auto records = store_.records();
  ASSERT_EQ(records.size(), 2u);
  std::map<std::string, TxnRecord> by_id;
  for (auto& r : records) by_id[r.txn_id] = r;
  EXPECT_EQ(by_id["ct-1:1"].result, TxnResult::declined);
  EXPECT_EQ(by_id["ct-1:1"].reason, "card_lost");
  EXPECT_EQ(by_id["ct-1:1"].card.token, tok_.token(kLost));
  EXPECT_EQ(by_id["ct-1:2"].card, (CardRef{CredentialType::other, "", "", "cash"}));
  EXPECT_EQ(stats().txn_stored, 2u);
}

TEST_F(DispatcherTest, AckIsPublishedOnlyWhenTheStoreCompletes) {
  store_.set_mode(FakeStore::Mode::hold);
  process(txn_msg());
  ASSERT_EQ(store_.held(), 1u);
  EXPECT_TRUE(sent().empty()) << "acked before the commit";
  EXPECT_EQ(stats().txn_stored, 0u);

  store_.complete_held(StoreOutcome::stored);
  auto out = sent();
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].topic, kAckTopic);
  TxnAck ack = as_ack(out[0]);
  EXPECT_EQ(ack.txn_id, "ct-1:000123");
  EXPECT_EQ(ack.status, AckStatus::stored);
  EXPECT_EQ(stats().txn_stored, 1u);
  EXPECT_EQ(stats().txn_received, 1u);
}

TEST_F(DispatcherTest, AckUsesTheTxnsResponseTopicAfterCompletion) {
  store_.set_mode(FakeStore::Mode::hold);
  InboundMessage m = txn_msg();
  m.response_topic = "ykt/v1/xiangkou/ct-1/rr/txn";
  m.correlation_data = "corr-7";
  m.has_correlation = true;
  process(std::move(m));
  EXPECT_TRUE(sent().empty());
  store_.complete_held(StoreOutcome::stored);
  auto out = sent();
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].topic, "ykt/v1/xiangkou/ct-1/rr/txn");
  EXPECT_TRUE(out[0].has_correlation);
  EXPECT_EQ(out[0].correlation_data, "corr-7");
}

TEST_F(DispatcherTest, StoreFailureSendsNoAck) {
  store_.set_mode(FakeStore::Mode::complete_now, StoreOutcome::failed);
  process(txn_msg());
  EXPECT_EQ(store_.records().size(), 1u);
  EXPECT_TRUE(sent().empty());
  auto s = stats();
  EXPECT_EQ(s.txn_store_failed, 1u);
  EXPECT_EQ(s.txn_stored, 0u);
}

// The quota reached between the dispatcher's check and the commit: the store refuses the record
// by the same rule, and it is answered as at the quota (no ack, the terminal resends it).
TEST_F(DispatcherTest, StoreRefusingForTheQuotaSendsNoAckAndCountsTheQuota) {
  store_.set_mode(FakeStore::Mode::complete_now, StoreOutcome::over_quota);
  process(txn_msg());
  EXPECT_TRUE(sent().empty());
  auto s = stats();
  EXPECT_EQ(s.txn_quota_refused, 1u);
  EXPECT_EQ(s.txn_stored, 0u);
  EXPECT_EQ(s.txn_duplicate, 0u);
  EXPECT_EQ(s.txn_store_failed, 0u);
}

TEST_F(DispatcherTest, StoreRefusingCountsBusyAndSendsNoAck) {
  store_.set_mode(FakeStore::Mode::refuse);
  process(txn_msg());
  EXPECT_TRUE(sent().empty());
  auto s = stats();
  EXPECT_EQ(s.txn_store_busy, 1u);
  EXPECT_EQ(s.txn_stored, 0u);
  EXPECT_EQ(s.txn_store_failed, 0u);
}

TEST_F(DispatcherTest, DuplicateIsAckedAsDuplicate) {
  store_.set_mode(FakeStore::Mode::complete_now, StoreOutcome::duplicate);
  process(txn_msg());
  auto out = sent();
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].topic, kAckTopic);
  EXPECT_EQ(as_ack(out[0]), (TxnAck{"ct-1:000123", AckStatus::duplicate, Reason::ok}));
  EXPECT_EQ(stats().txn_duplicate, 1u);
  EXPECT_EQ(stats().txn_stored, 0u);
}

TEST_F(DispatcherTest, EachBadTxnIsRejectedAndNeverStored) {
  const auto cases = bad_inputs(valid_txn_json());
  for (const auto& c : cases) {
    SCOPED_TRACE(c.name);
    const std::size_t before = sent().size();
    const IngestStats s0 = stats();
    process(inbound(kTxnTopic, c.payload));
    auto out = sent();
    ASSERT_EQ(out.size(), before + 1);
    EXPECT_EQ(out.back().topic, kAckTopic);
    TxnAck ack = as_ack(out.back());
    EXPECT_EQ(ack.status, AckStatus::rejected);
    EXPECT_EQ(ack.reason, c.reason);
    EXPECT_THAT(out.back().payload, Not(HasSubstr(kActive)));
    const IngestStats s1 = stats();
    EXPECT_EQ(s1.refused_by_reason[idx(c.reason)], s0.refused_by_reason[idx(c.reason)] + 1);
    EXPECT_EQ(s1.txn_rejected, s0.txn_rejected + 1);
  }
  EXPECT_TRUE(store_.records().empty());
}

TEST_F(DispatcherTest, RejectionEchoesTheTxnIdWhenReadable) {
  Json j = valid_txn_json();
  j["result"] = "maybe";
  process(inbound(kTxnTopic, j.dump()));
  auto out = sent();
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(as_ack(out[0]), (TxnAck{"ct-1:000123", AckStatus::rejected, Reason::invalid_value}));
}

// ---------------------------------------------------------------------------------------------
// Bulk upload (txn/batch)

constexpr const char* kBatchTopic = "ykt/v1/xiangkou/ct-1/txn/batch";
constexpr const char* kBatchAckTopic = "ykt/v1/xiangkou/ct-1/txn/batch/ack";

InboundMessage batch_msg(const std::vector<protocol::TxnMessage>& records,
                         std::string terminal = "ct-1") {
  return inbound(kBatchTopic, protocol::serialize_txn_batch("ct-1:b-7", terminal, records));
}

protocol::TxnBatchAck as_batch_ack(const OutboundMessage& m) {
  auto p = protocol::parse_txn_batch_ack(m.payload);
  EXPECT_TRUE(p.ok()) << m.payload;
  return p.ok() ? *p.value : protocol::TxnBatchAck{};
}

TEST_F(DispatcherTest, BatchIsAckedOnceAfterItsLastRecordCommits) {
  store_.set_mode(FakeStore::Mode::hold);
  process(batch_msg({txn_message(kActive, "ct-1:1"), txn_message(kLost, "ct-1:2"),
                     txn_message(kUnknown, "ct-1:3")}));
  ASSERT_EQ(store_.held(), 3u);
  EXPECT_TRUE(sent().empty()) << "acked before the commit";
  store_.complete_held(StoreOutcome::stored);
  auto out = sent();
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].topic, kBatchAckTopic);
  auto ack = as_batch_ack(out[0]);
  EXPECT_EQ(ack.batch_id, "ct-1:b-7");
  EXPECT_FALSE(ack.rejected);
  ASSERT_EQ(ack.acks.size(), 3u);
  EXPECT_EQ(ack.acks[0].ack, (TxnAck{"ct-1:1", AckStatus::stored, Reason::ok}));
  EXPECT_EQ(ack.acks[1].ack, (TxnAck{"ct-1:2", AckStatus::stored, Reason::ok}));
  EXPECT_EQ(ack.acks[2].ack, (TxnAck{"ct-1:3", AckStatus::stored, Reason::ok}));
  const auto s = stats();
  EXPECT_EQ(s.txn_batches, 1u);
  EXPECT_EQ(s.txn_received, 3u);
  EXPECT_EQ(s.txn_stored, 3u);
  // The records are stored as single ones would be: tokens and masks, never the number.
  auto records = store_.records();
  ASSERT_EQ(records.size(), 3u);
  EXPECT_EQ(records[1].card.token, tok_.token(kLost));
  for (const auto& r : records)
    for (const auto& str : strings_of(r)) EXPECT_THAT(str, Not(HasSubstr("19900101")));
}

TEST_F(DispatcherTest, BatchRejectsBadRecordsAndStoresTheOthers) {
  Json batch = Json::parse(protocol::serialize_txn_batch(
      "ct-1:b-8", "ct-1",
      {txn_message(kActive, "ct-1:1"), txn_message(kActive, "ct-1:2"),
       txn_message(kActive, "ct-1:3"), txn_message(kActive, "ct-1:4"),
       txn_message(kActive, "ct-1:5")}));
  batch["records"][1].erase("result");
  batch["records"][2]["terminal"] = "ct-2";
  batch["records"][3] = "not an object";
  batch["records"][4]["v"] = 2;
  process(inbound(kBatchTopic, batch.dump()));
  auto records = store_.records();
  ASSERT_EQ(records.size(), 1u);
  EXPECT_EQ(records[0].txn_id, "ct-1:1");
  auto out = sent();
  ASSERT_EQ(out.size(), 1u);
  auto ack = as_batch_ack(out[0]);
  ASSERT_EQ(ack.acks.size(), 5u);
  EXPECT_EQ(ack.acks[0].ack.status, AckStatus::stored);
  EXPECT_EQ(ack.acks[1].ack, (TxnAck{"ct-1:2", AckStatus::rejected, Reason::missing_field}));
  EXPECT_THAT(ack.acks[1].detail, HasSubstr("result"));
  EXPECT_EQ(ack.acks[2].ack, (TxnAck{"ct-1:3", AckStatus::rejected, Reason::terminal_mismatch}));
  EXPECT_EQ(ack.acks[3].ack, (TxnAck{"", AckStatus::rejected, Reason::malformed_json}));
  EXPECT_EQ(ack.acks[4].ack,
            (TxnAck{"ct-1:5", AckStatus::rejected, Reason::unsupported_version}));
  EXPECT_THAT(out[0].payload, Not(HasSubstr(kActive)));
  const auto s = stats();
  EXPECT_EQ(s.txn_received, 5u);
  EXPECT_EQ(s.txn_rejected, 4u);
  EXPECT_EQ(s.txn_stored, 1u);
}

TEST_F(DispatcherTest, BatchOfOnlyBadRecordsIsAnsweredAtOnce) {
  Json batch = Json::parse(
      protocol::serialize_txn_batch("ct-1:b-9", "ct-1", {txn_message(kActive, "ct-1:1")}));
  batch["records"][0]["amount_fen"] = "12.00";
  process(inbound(kBatchTopic, batch.dump()));
  EXPECT_TRUE(store_.records().empty());
  auto out = sent();
  ASSERT_EQ(out.size(), 1u);
  auto ack = as_batch_ack(out[0]);
  ASSERT_EQ(ack.acks.size(), 1u);
  EXPECT_EQ(ack.acks[0].ack, (TxnAck{"ct-1:1", AckStatus::rejected, Reason::wrong_type}));
}

TEST_F(DispatcherTest, ResentBatchIsAckedAsDuplicates) {
  store_.set_mode(FakeStore::Mode::complete_now, StoreOutcome::duplicate);
  process(batch_msg({txn_message(kActive, "ct-1:1"), txn_message(kActive, "ct-1:2")}));
  auto out = sent();
  ASSERT_EQ(out.size(), 1u);
  auto ack = as_batch_ack(out[0]);
  ASSERT_EQ(ack.acks.size(), 2u);
  EXPECT_EQ(ack.acks[0].ack.status, AckStatus::duplicate);
  EXPECT_EQ(ack.acks[1].ack.status, AckStatus::duplicate);
  EXPECT_EQ(stats().txn_duplicate, 2u);
}

TEST_F(DispatcherTest, BatchWithARecordTheStoreFailedOrRefusedIsNotAcked) {
  store_.set_mode(FakeStore::Mode::hold);
  process(batch_msg({txn_message(kActive, "ct-1:1"), txn_message(kActive, "ct-1:2")}));
  store_.complete_held(StoreOutcome::failed);
  EXPECT_TRUE(sent().empty());
  EXPECT_EQ(stats().txn_store_failed, 2u);

  store_.set_mode(FakeStore::Mode::refuse);
  process(batch_msg({txn_message(kActive, "ct-1:3")}));
  EXPECT_TRUE(sent().empty());
  EXPECT_EQ(stats().txn_store_busy, 1u);

  // One record stored, the next refused at the quota: no ack for the batch.
  store_.set_mode(FakeStore::Mode::hold);
  process(batch_msg({txn_message(kActive, "ct-1:4"), txn_message(kActive, "ct-1:5")}));
  store_.complete_held(StoreOutcome::stored, 1);
  store_.complete_held(StoreOutcome::over_quota);
  EXPECT_TRUE(sent().empty());
  EXPECT_EQ(stats().txn_quota_refused, 1u);
}

TEST_F(DispatcherTest, WholeBatchIsRefusedForWhatSpoilsAllOfIt) {
  DispatcherOptions o = options();
  o.max_batch_records = 2;
  o.max_batch_payload_bytes = 4096;
  make(o);
  const auto three = protocol::serialize_txn_batch(
      "ct-1:b-3", "ct-1",
      {txn_message(kActive, "ct-1:1"), txn_message(kActive, "ct-1:2"),
       txn_message(kActive, "ct-1:3")});
  Json no_records = Json::parse(three);
  no_records["records"] = Json::array();
  Json not_array = Json::parse(three);
  not_array["records"] = "x";
  Json bad_id = Json::parse(three);
  bad_id["batch_id"] = "a b";
  struct Case {
    const char* name;
    std::string payload;
    Reason reason;
    std::string batch_id;
  } cases[] = {
      {"not json", "{\"v\":1,\"batch_id\":", Reason::malformed_json, ""},
      {"too many records", three, Reason::invalid_value, "ct-1:b-3"},
      {"no records", no_records.dump(), Reason::invalid_value, "ct-1:b-3"},
      {"records not an array", not_array.dump(), Reason::wrong_type, "ct-1:b-3"},
      {"bad batch id", bad_id.dump(), Reason::invalid_value, "a b"},
      {"too large", std::string(5000, ' ') + three, Reason::payload_too_large, ""},
      {"another terminal",
       protocol::serialize_txn_batch("ct-1:b-4", "ct-2", {txn_message(kActive, "ct-1:1")}),
       Reason::terminal_mismatch, "ct-1:b-4"},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.name);
    const std::size_t before = sent().size();
    process(inbound(kBatchTopic, c.payload));
    auto out = sent();
    ASSERT_EQ(out.size(), before + 1);
    EXPECT_EQ(out.back().topic, kBatchAckTopic);
    auto ack = as_batch_ack(out.back());
    EXPECT_TRUE(ack.rejected);
    EXPECT_EQ(ack.reason, c.reason);
    EXPECT_EQ(ack.batch_id, c.batch_id);
    EXPECT_TRUE(ack.acks.empty());
    EXPECT_THAT(out.back().payload, Not(HasSubstr(kActive)));
  }
  EXPECT_TRUE(store_.records().empty());
  EXPECT_EQ(stats().txn_batches, std::size(cases));
}

// ---------------------------------------------------------------------------------------------
// Terminal status

TerminalStatus terminal_status(TerminalState state, std::string kind = "",
                               std::string firmware = "") {
  TerminalStatus s;
  s.terminal = "ct-1";
  s.state = state;
  s.kind = std::move(kind);
  s.firmware = std::move(firmware);
  return s;
}

TEST_F(DispatcherTest, StatusUpdatesTheRegistryWithoutAReply) {
  TerminalStatus online = terminal_status(TerminalState::online, "canteen_pos", "2.3.1");
  online.cardlist_version = 42;
  process(inbound(kStatusTopic, protocol::serialize(online)));
  EXPECT_TRUE(sent().empty());
  auto snap = dispatcher_->terminals().snapshot();
  ASSERT_EQ(snap.size(), 1u);
  EXPECT_EQ(snap[0].terminal, "ct-1");
  EXPECT_EQ(snap[0].state, TerminalState::online);
  EXPECT_EQ(snap[0].kind, "canteen_pos");
  EXPECT_EQ(snap[0].firmware, "2.3.1");
  EXPECT_EQ(snap[0].cardlist_version, 42);
  EXPECT_EQ(snap[0].last_seen_ms, clock_.wall_ms());
  EXPECT_EQ(dispatcher_->terminals().online_count(), 1u);
  EXPECT_EQ(stats().status_messages, 1u);
}

TEST_F(DispatcherTest, LastWillMarksTheTerminalOffline) {
  process(inbound(kStatusTopic,
                  protocol::serialize(terminal_status(TerminalState::online, "gate", "1.0"))));
  clock_.advance(5s);
  process(inbound(kStatusTopic, R"({"v":1,"terminal":"ct-1","state":"offline"})"));
  auto snap = dispatcher_->terminals().snapshot();
  ASSERT_EQ(snap.size(), 1u);
  EXPECT_EQ(snap[0].state, TerminalState::offline);
  EXPECT_EQ(snap[0].kind, "gate");
  EXPECT_EQ(snap[0].firmware, "1.0");
  EXPECT_EQ(snap[0].last_seen_ms, clock_.wall_ms());
  EXPECT_EQ(dispatcher_->terminals().online_count(), 0u);
  EXPECT_EQ(stats().status_messages, 2u);
}

TEST_F(DispatcherTest, ClearedRetainedStatusIsIgnored) {
  process(inbound(kStatusTopic, ""));
  EXPECT_TRUE(dispatcher_->terminals().snapshot().empty());
  EXPECT_EQ(stats().status_messages, 1u);
  EXPECT_EQ(stats().refused_by_reason, (std::array<std::uint64_t, kReasonCount>{}));
}

TEST_F(DispatcherTest, BadStatusIsRefusedWithoutAReply) {
  TerminalStatus other = terminal_status(TerminalState::online);
  other.terminal = "ct-2";
  process({inbound(kStatusTopic, protocol::serialize(other)), inbound(kStatusTopic, "{\"v\":1,"),
           inbound(kStatusTopic, R"({"v":1,"terminal":"ct-1","state":"asleep"})"),
           inbound(kStatusTopic, "{\"v\":1,\"pad\":\"" + std::string(1100, 'p') + "\"}")});
  EXPECT_TRUE(sent().empty());
  EXPECT_TRUE(dispatcher_->terminals().snapshot().empty());
  auto s = stats();
  EXPECT_EQ(s.status_messages, 4u);
  EXPECT_EQ(s.refused_by_reason[idx(Reason::terminal_mismatch)], 1u);
  EXPECT_EQ(s.refused_by_reason[idx(Reason::malformed_json)], 1u);
  EXPECT_EQ(s.refused_by_reason[idx(Reason::invalid_value)], 1u);
  EXPECT_EQ(s.refused_by_reason[idx(Reason::payload_too_large)], 1u);
}

TEST_F(DispatcherTest, RequestsMarkTheTerminalOnline) {
  process(inbound(kStatusTopic, R"({"v":1,"terminal":"ct-1","state":"offline"})"));
  process({auth_msg(), inbound(kAuthTopic, "{")});
  auto snap = dispatcher_->terminals().snapshot();
  ASSERT_EQ(snap.size(), 1u);
  EXPECT_EQ(snap[0].state, TerminalState::online);
  EXPECT_EQ(snap[0].messages, 2u);
  EXPECT_EQ(snap[0].errors, 1u);
}

// ---------------------------------------------------------------------------------------------
// Queueing and shutdown

TEST_F(DispatcherTest, DropsWhenTheQueueIsFull) {
  DispatcherOptions o = options();
  o.queue_capacity = 2;
  make(o);
  // Not started: the queue only fills.
  dispatcher_->on_message(auth_msg(auth_request(kActive, "r-1")));
  dispatcher_->on_message(auth_msg(auth_request(kActive, "r-2")));
  dispatcher_->on_message(auth_msg(auth_request(kActive, "r-3")));
  EXPECT_EQ(stats().dropped_queue_full, 1u);
  EXPECT_EQ(stats().received, 3u);
  process(std::vector<InboundMessage>{});
  auto out = sent();
  ASSERT_EQ(out.size(), 2u);
  EXPECT_EQ(as_auth_response(out[0]).req_id, "r-1");
  EXPECT_EQ(as_auth_response(out[1]).req_id, "r-2");
}

TEST_F(DispatcherTest, DropsWhenTheQueuedBytesWouldPassTheLimit) {
  DispatcherOptions o = options();
  o.max_batch_payload_bytes = 1 << 20;
  const InboundMessage one_batch =
      batch_msg({txn_message(kActive, "ct-1:1"), txn_message(kActive, "ct-1:2")});
  // Room for two of these batches, not three.
  o.queue_max_bytes = one_batch.payload.size() * 2 + one_batch.payload.size() / 2;
  make(o);
  for (int i = 0; i < 3; ++i) dispatcher_->on_message(InboundMessage(one_batch));
  EXPECT_EQ(stats().dropped_queue_full, 1u);
  process(std::vector<InboundMessage>{});
  EXPECT_EQ(sent().size(), 2u);
  // Drained: the bytes are counted down again, and a message bigger than the whole limit is
  // still taken when the queue is empty.
  o.queue_max_bytes = 16;
  make(o);
  dispatcher_->on_message(InboundMessage(one_batch));
  dispatcher_->on_message(InboundMessage(one_batch));
  EXPECT_EQ(stats().dropped_queue_full, 1u);
  process(std::vector<InboundMessage>{});
  EXPECT_EQ(sent().size(), 3u);
}

TEST_F(DispatcherTest, InlineAuthIsDecidedOnTheCallersThreadAndRecordsStillQueue) {
  DispatcherOptions o = options();
  o.inline_auth = true;
  make(o);
  // Not started: only what is decided inline gets an answer.
  dispatcher_->on_message(auth_msg(auth_request(kActive, "r-1")));
  auto out = sent();
  ASSERT_EQ(out.size(), 1u) << "the auth request waited for a worker";
  EXPECT_EQ(out[0].topic, kRespTopic);
  EXPECT_EQ(as_auth_response(out[0]).decision, Decision::approve);
  EXPECT_EQ(stats().auth_requests, 1u);
  // Records and status messages go to the workers as before.
  dispatcher_->on_message(txn_msg());
  EXPECT_EQ(sent().size(), 1u);
  EXPECT_TRUE(store_.records().empty());
  process(std::vector<InboundMessage>{});
  EXPECT_EQ(store_.records().size(), 1u);
  EXPECT_EQ(sent().size(), 2u);
  // After stop, nothing more is decided, inline or not.
  dispatcher_->on_message(auth_msg(auth_request(kActive, "r-3")));
  EXPECT_EQ(sent().size(), 2u);
  EXPECT_EQ(stats().dropped_stopping, 1u);
  // Another site's request is not decided inline: it goes the queue's way (here: unroutable).
  make(o);
  InboundMessage other = auth_msg(auth_request(kActive, "r-2"));
  other.topic = "ykt/v1/elsewhere/ct-1/auth/req";
  dispatcher_->on_message(std::move(other));
  EXPECT_EQ(sent().size(), 2u);
  process(std::vector<InboundMessage>{});
  EXPECT_EQ(stats().unroutable, 1u);
  EXPECT_EQ(sent().size(), 2u);
}

TEST_F(DispatcherTest, StopWaitsForInlineDecisionsInProgress) {
  DispatcherOptions o = options();
  o.inline_auth = true;
  make(o);
  dispatcher_->start();
  std::atomic<bool> done{false};
  std::vector<std::thread> callers;
  for (int t = 0; t < 4; ++t) {
    callers.emplace_back([&, t] {
      for (int i = 0; !done.load(); ++i) {
        dispatcher_->on_message(
            auth_msg(auth_request(kActive, "r-" + std::to_string(t) + "-" + std::to_string(i))));
      }
    });
  }
  // Stop while decisions are being made: once some are done, however slowly the callers start.
  for (int i = 0; i < 500 && stats().auth_requests < 100; ++i) std::this_thread::sleep_for(10ms);
  dispatcher_->stop();
  // Once stop() returned, no decision is in progress and none starts: the replies stay put.
  const std::size_t after_stop = sent().size();
  std::this_thread::sleep_for(20ms);
  EXPECT_EQ(sent().size(), after_stop);
  done = true;
  for (auto& c : callers) c.join();
  EXPECT_EQ(sent().size(), after_stop);
  const auto s = stats();
  EXPECT_GT(s.auth_requests, 0u);
  EXPECT_EQ(s.auth_requests, after_stop);
  EXPECT_EQ(s.received, s.auth_requests + s.dropped_stopping);
}

TEST_F(DispatcherTest, RateLimitAnswersAFloodingTerminalOnceASecond) {
  DispatcherOptions o = options();
  o.terminal_rate_per_s = 5;
  o.terminal_burst = 5;
  make(o);
  std::vector<InboundMessage> msgs;
  for (int i = 0; i < 20; ++i)
    msgs.push_back(auth_msg(auth_request(kActive, "r-" + std::to_string(i))));
  // Another terminal in the same instant is not affected.
  msgs.push_back(inbound("ykt/v1/xiangkou/ct-2/auth/req", [] {
    AuthRequest r = auth_request(kActive, "other");
    r.terminal = "ct-2";
    return protocol::serialize(r);
  }()));
  process(std::move(msgs));

  std::map<std::string, AuthResponse> by_id;
  for (const auto& m : sent()) {
    AuthResponse r = as_auth_response(m);
    by_id[r.req_id] = r;
  }
  // Five within the burst, one rate_limited decline echoing its request id, the rest unanswered.
  ASSERT_EQ(by_id.size(), 7u);
  for (int i = 0; i < 5; ++i) EXPECT_EQ(by_id["r-" + std::to_string(i)].reason, Reason::ok) << i;
  EXPECT_EQ(by_id["r-5"].decision, Decision::decline);
  EXPECT_EQ(by_id["r-5"].reason, Reason::rate_limited);
  EXPECT_EQ(by_id["other"].reason, Reason::ok);
  auto s = stats();
  EXPECT_EQ(s.rate_limited, 15u);
  EXPECT_EQ(s.refused_by_reason[idx(Reason::rate_limited)], 15u);
  EXPECT_EQ(s.auth_by_reason[idx(Reason::rate_limited)], 1u);
  EXPECT_THAT(log_text(), HasSubstr("reason=rate_limited terminal=ct-1"));
  for (const auto& m : sent()) EXPECT_THAT(m.payload, Not(HasSubstr(kActive)));

  // A second later the bucket holds tokens again.
  clock_.advance(std::chrono::milliseconds(1000));
  process(auth_msg(auth_request(kActive, "later")));
  EXPECT_EQ(as_auth_response(sent().back()).reason, Reason::ok);
}

TEST_F(DispatcherTest, RateLimitedTxnIsNeitherStoredNorAcked) {
  DispatcherOptions o = options();
  o.terminal_rate_per_s = 1;
  o.terminal_burst = 1;
  make(o);
  process({txn_msg(txn_message(kActive, "ct-1:1")), txn_msg(txn_message(kActive, "ct-1:2")),
           txn_msg(txn_message(kActive, "ct-1:3"))});
  ASSERT_EQ(store_.records().size(), 1u);
  EXPECT_EQ(store_.records()[0].txn_id, "ct-1:1");
  ASSERT_EQ(sent().size(), 1u);  // the one ack; the terminal resends the others later
  EXPECT_EQ(as_ack(sent()[0]).txn_id, "ct-1:1");
  EXPECT_EQ(stats().rate_limited, 2u);
}

TEST_F(DispatcherTest, StopDrainsQueuedMessagesThenRefusesNewOnes) {
  DispatcherOptions o = options();
  o.workers = 3;
  make(o);
  for (int i = 0; i < 30; ++i)
    dispatcher_->on_message(auth_msg(auth_request(kActive, "r-" + std::to_string(i))));
  dispatcher_->start();
  dispatcher_->stop();
  std::set<std::string> ids;
  for (const auto& m : sent()) ids.insert(as_auth_response(m).req_id);
  EXPECT_EQ(ids.size(), 30u);

  dispatcher_->on_message(auth_msg());
  EXPECT_EQ(stats().dropped_stopping, 1u);
  EXPECT_EQ(sent().size(), 30u);
}

TEST_F(DispatcherTest, ManyWorkersAnswerEveryRequestOnce) {
  DispatcherOptions o = options();
  o.workers = 4;
  o.queue_capacity = 1000;
  make(o);
  std::vector<InboundMessage> msgs;
  for (int i = 0; i < 200; ++i) {
    msgs.push_back(auth_msg(auth_request(i % 2 ? kActive : kLost, "r-" + std::to_string(i))));
    msgs.push_back(txn_msg(txn_message(kActive, "ct-1:" + std::to_string(i))));
  }
  process(std::move(msgs));
  std::multiset<std::string> ids;
  for (const auto& m : sent()) {
    if (m.topic == kRespTopic) ids.insert(as_auth_response(m).req_id);
    if (m.topic == kAckTopic) ids.insert(as_ack(m).txn_id);
  }
  EXPECT_EQ(ids.size(), 400u);
  for (const auto& id : ids) EXPECT_EQ(ids.count(id), 1u) << id;
  auto s = stats();
  EXPECT_EQ(s.approved, 100u);
  EXPECT_EQ(s.declined, 100u);
  EXPECT_EQ(s.txn_stored, 200u);
  EXPECT_EQ(s.dropped_queue_full, 0u);
}

// ---------------------------------------------------------------------------------------------
// Logging

std::size_t count_of(const std::string& text, const std::string& needle) {
  std::size_t n = 0;
  for (auto pos = text.find(needle); pos != std::string::npos; pos = text.find(needle, pos + 1))
    ++n;
  return n;
}

TEST_F(DispatcherTest, RefusalWarningsAreRateLimitedPerReason) {
  // Broken JSON that carries a card number: the warning must not quote it.
  std::string broken = protocol::serialize(auth_request());
  broken.pop_back();
  ASSERT_THAT(broken, HasSubstr(kActive));
  process({inbound(kAuthTopic, broken), inbound(kAuthTopic, broken), inbound(kAuthTopic, broken),
           inbound(kAuthTopic, R"({"v":2})")});
  std::string text = log_text();
  EXPECT_EQ(count_of(text, "reason=malformed_json"), 1u) << text;
  EXPECT_EQ(count_of(text, "reason=unsupported_version"), 1u) << text;
  EXPECT_EQ(stats().refused_by_reason[idx(Reason::malformed_json)], 3u);

  clock_.advance(10s);
  process(inbound(kAuthTopic, broken));
  text = log_text();
  EXPECT_EQ(count_of(text, "reason=malformed_json"), 2u) << text;
  EXPECT_THAT(text, HasSubstr("suppressed=2"));
  EXPECT_THAT(text, Not(HasSubstr(kActive)));
}

TEST_F(DispatcherTest, SetWarnIntervalTakesEffect) {
  dispatcher_->set_warn_interval(0ms);
  process({inbound(kAuthTopic, "{"), inbound(kAuthTopic, "{"), inbound(kAuthTopic, "{")});
  EXPECT_EQ(count_of(log_text(), "reason=malformed_json"), 3u);
}

TEST_F(DispatcherTest, WorksWithoutALogger) {
  log_.reset();
  make(options());
  process({inbound(kAuthTopic, "{"), auth_msg()});
  ASSERT_EQ(sent().size(), 2u);
  EXPECT_EQ(stats().refused_by_reason[idx(Reason::malformed_json)], 1u);
}

}  // namespace
}  // namespace yktgw
