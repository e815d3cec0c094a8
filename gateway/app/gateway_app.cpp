#include "gateway/app/gateway_app.h"

#include <spdlog/spdlog.h>
#include <sys/stat.h>

#include <cerrno>
#include <chrono>
#include <cstring>

#include "connectors/mqtt/paho_terminal_link.h"
#include "gateway/app/logging.h"
#include "gateway/auth/card_list_authorizer.h"
#include "gateway/cardlist/card_list_store.h"
#include "gateway/core/version.h"
#include "gateway/ingest/dispatcher.h"
#include "gateway/interfaces/clock.h"
#include "gateway/protocol/terminal_protocol.h"
#include "gateway/store/sqlite_record_store.h"

namespace yktgw {

Result<void> make_dirs(const std::string& dir) {
  std::string path;
  for (std::size_t i = 0; i <= dir.size(); ++i) {
    if (i == dir.size() || (dir[i] == '/' && i > 0)) {
      path = dir.substr(0, i);
      if (mkdir(path.c_str(), 0750) != 0 && errno != EEXIST)
        return make_error("io", "cannot create directory '" + path + "': " + std::strerror(errno));
    }
  }
  return {};
}

// Declaration order is destruction order in reverse: the link and dispatcher go before the
// store whose completions they serve.
struct GatewayApp::Parts {
  Config config;
  Loggers log;
  SystemClock clock;
  std::unique_ptr<CardTokenizer> tokenizer;
  std::unique_ptr<CardListDb> cardlist_db;
  MemoryCardList cardlist;
  std::unique_ptr<CardListAuthorizer> authorizer;
  std::unique_ptr<SqliteRecordStore> store;
  std::unique_ptr<mqtt::PahoTerminalLink> link;
  std::unique_ptr<Dispatcher> dispatcher;
  std::chrono::steady_clock::time_point started = std::chrono::steady_clock::now();
  std::chrono::steady_clock::time_point last_stats = started;
  bool shut_down = false;

  void load_cardlist();
};

void GatewayApp::Parts::load_cardlist() {
  auto snap = cardlist_db->load();
  if (!snap) {
    log.cardlist->error("card list load failed error=\"{}\"; keeping the list in memory",
                        snap.error().message);
    return;
  }
  const auto version = (*snap)->version;
  const auto entries = (*snap)->by_token.size();
  cardlist.replace(std::move(snap.value()));
  log.cardlist->info("card list loaded version={} entries={}", version, entries);
}

GatewayApp::GatewayApp(std::unique_ptr<Parts> parts) : p_(std::move(parts)) {}

GatewayApp::~GatewayApp() { shutdown(); }

Result<std::unique_ptr<GatewayApp>> GatewayApp::start(const Config& config) {
  auto p = std::make_unique<Parts>();
  p->config = config;
  const std::string& data = config.gateway.data_dir;
  if (auto r = make_dirs(data + "/logs"); !r) return r.error();
  auto log = make_loggers(config.log, data + "/logs");
  if (!log) return log.error();
  p->log = log.value();
  p->log.main->info("starting yktgw version={} id={} site={} data_dir={}", kVersion,
                    config.gateway.id, config.gateway.site, data);

  auto tok = CardTokenizer::from_key_file(config.security.hmac_key_file);
  if (!tok) return tok.error();
  p->tokenizer = std::make_unique<CardTokenizer>(std::move(tok.value()));

  auto cl = CardListDb::open(data + "/cardlist.db");
  if (!cl) return cl.error();
  p->cardlist_db = std::make_unique<CardListDb>(std::move(cl.value()));
  p->load_cardlist();
  p->authorizer = std::make_unique<CardListAuthorizer>(p->cardlist, *p->tokenizer);

  RecordStoreOptions so;
  so.path = data + "/records.db";
  so.commit_max_records = config.store.commit_max_records;
  so.commit_linger_ms = config.store.commit_linger_ms;
  so.queue_capacity = config.store.queue_capacity;
  so.synchronous_full = config.store.synchronous == "full";
  auto store = SqliteRecordStore::open(so, p->log.store);
  if (!store) return store.error();
  p->store = std::move(store.value());

  const auto& m = config.mqtt;
  mqtt::LinkOptions lo;
  lo.uri = m.uri;
  lo.client_id = m.client_id.empty() ? "yktgw-" + config.gateway.id : m.client_id;
  lo.username = m.username;
  lo.password = m.password;
  lo.keepalive_s = m.keepalive_s;
  lo.persistent_session = m.persistent_session;
  lo.session_expiry_s = m.session_expiry_s;
  lo.reconnect_min_ms = m.reconnect_min_ms;
  lo.reconnect_max_ms = m.reconnect_max_ms;
  lo.max_buffered = m.max_buffered;
  lo.max_inflight = m.max_inflight;
  lo.tls_ca_file = m.tls.ca_file;
  lo.tls_cert_file = m.tls.cert_file;
  lo.tls_key_file = m.tls.key_file;
  lo.tls_verify = m.tls.verify;
  for (auto kind : {protocol::TopicKind::auth_req, protocol::TopicKind::txn,
                    protocol::TopicKind::status})
    lo.subscriptions.push_back(protocol::subscription_filter(config.gateway.site, kind));
  lo.presence_topic = "ykt/v1/" + config.gateway.site + "/_gateway/" + config.gateway.id + "/status";
  lo.presence_online = R"({"v":1,"gateway":")" + config.gateway.id + R"(","state":"online","version":")" +
                       kVersion + "\"}";
  lo.presence_offline = R"({"v":1,"gateway":")" + config.gateway.id + R"(","state":"offline"})";
  p->link = std::make_unique<mqtt::PahoTerminalLink>(std::move(lo), p->log.mqtt);

  DispatcherOptions dopt;
  dopt.site = config.gateway.site;
  dopt.workers = config.gateway.workers;
  dopt.queue_capacity = config.gateway.queue_capacity;
  dopt.max_payload_bytes = m.max_payload_bytes;
  dopt.warn_interval_ms = config.log.warn_interval_ms;
  p->dispatcher = std::make_unique<Dispatcher>(
      Dispatcher::Deps{*p->link, *p->store, *p->authorizer, *p->tokenizer, p->clock, p->log.ingest},
      dopt);
  p->dispatcher->start();
  auto* dispatcher = p->dispatcher.get();
  if (auto r = p->link->start([dispatcher](InboundMessage&& msg) { dispatcher->on_message(std::move(msg)); });
      !r) {
    return r.error();
  }
  p->log.main->info("running broker={} workers={}", m.uri, config.gateway.workers);
  return std::unique_ptr<GatewayApp>(new GatewayApp(std::move(p)));
}

void GatewayApp::reload(const Config& next) {
  auto& p = *p_;
  for (const auto& key : keys_needing_restart(p.config, next))
    p.log.main->warn("reload: key={} changed but takes effect only after a restart", key);
  p.log.set_level(next.log.level);
  p.dispatcher->set_warn_interval(std::chrono::milliseconds(next.log.warn_interval_ms));
  p.config.log.level = next.log.level;
  p.config.log.warn_interval_ms = next.log.warn_interval_ms;
  p.load_cardlist();
  p.log.main->info("reload done log.level={}", next.log.level);
}

void GatewayApp::tick() {
  auto& p = *p_;
  p.log.flush();
  const auto now = std::chrono::steady_clock::now();
  if (now - p.last_stats < std::chrono::seconds(60)) return;
  p.last_stats = now;
  const auto s = p.dispatcher->stats();
  const auto st = p.store->stats();
  p.log.main->info(
      "stats broker_connected={} received={} auth={} approved={} declined={} txn={} stored={} "
      "duplicate={} rejected={} store_failed={} store_queue={} dropped={} publish_failed={} "
      "terminals_online={}",
      p.link->connected(), s.received, s.auth_requests, s.approved, s.declined, s.txn_received,
      s.txn_stored, s.txn_duplicate, s.txn_rejected, s.txn_store_failed, st.queued,
      s.dropped_queue_full, s.publish_failed, p.dispatcher->terminals().online_count());
}

void GatewayApp::shutdown() {
  if (!p_ || p_->shut_down) return;
  auto& p = *p_;
  p.shut_down = true;
  const auto t0 = std::chrono::steady_clock::now();
  p.log.main->info("stopping: intake closed");
  p.link->stop_intake();
  p.dispatcher->stop();
  p.store->close();  // commits what is queued; the completions publish the acks
  p.link->stop(2000);
  const auto s = p.store->stats();
  p.log.main->info("stopped in {} ms stored={} duplicates={} failed={}",
                   std::chrono::duration_cast<std::chrono::milliseconds>(
                       std::chrono::steady_clock::now() - t0)
                       .count(),
                   s.stored, s.duplicates, s.failed);
  p.log.flush();
}

}  // namespace yktgw
