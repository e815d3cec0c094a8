#include "gateway/app/gateway_app.h"

#include <dirent.h>
#include <fcntl.h>
#include <spdlog/spdlog.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <optional>

#include "connectors/https/https_link.h"
#include "connectors/mqtt/paho_terminal_link.h"
#include "connectors/zmq/district_link.h"
#include "gateway/app/gateway_status.h"
#include "gateway/app/logging.h"
#include "gateway/app/txn_annotator.h"
#include "gateway/cardlist/attribute_names.h"
#include "gateway/cardlist/card_list_cache.h"
#include "gateway/cardlist/card_list_updater.h"
#include "gateway/core/errno_message.h"
#include "gateway/core/version.h"
#include "gateway/core/worker_pool.h"
#include "gateway/credentials/decoders.h"
#include "gateway/crypto/sm2.h"
#include "gateway/ingest/dispatcher.h"
#include "gateway/interfaces/clock.h"
#include "gateway/outbox/disk_quota.h"
#include "gateway/outbox/forwarder.h"
#include "gateway/outbox/outbox_config.h"
#include "gateway/outbox/retention.h"
#include "gateway/outbox/router.h"
#include "gateway/policy/policy_authorizer.h"
#include "gateway/policy/policy_setup.h"
#include "gateway/protocol/terminal_protocol.h"
#include "gateway/status/status_server.h"
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

// The card tokens in the database are only as safe as the key: a copy of the data directory (a
// backup, a disk sent for repair) must not carry the key along with the tokens.
Result<void> check_key_outside_data_dir(const std::string& key_file, const std::string& data_dir) {
  std::error_code ec;
  const auto key = std::filesystem::weakly_canonical(key_file, ec);
  if (ec) return {};  // the tokenizer reports an unreadable key with its own message
  const auto data = std::filesystem::weakly_canonical(data_dir, ec);
  if (ec) return {};
  auto k = key.begin();
  for (auto d = data.begin(); d != data.end(); ++d, ++k) {
    if (k == key.end() || *k != *d) return {};
  }
  return make_error("hmac_key", "HMAC key file '" + key_file + "' is inside gateway.data_dir '" +
                                    data_dir +
                                    "'; keep it apart from the database, e.g. /etc/yktgw/hmac.key");
}

// Declaration order is destruction order in reverse: consumers are declared after what they
// use, so the dispatcher and the engine go before the pool, the link, the counters and the
// store whose callbacks they serve.
struct GatewayApp::Parts {
  Config config;
  Loggers log;
  SystemClock clock;
  std::unique_ptr<CardTokenizer> tokenizer;
  std::unique_ptr<CardListCache> cardlist;
  std::unique_ptr<CardListUpdater> cardlist_updater;
  std::unique_ptr<CredentialDecoders> decoders;
  PolicyRuntime policy;
  std::unique_ptr<district::DistrictLink> district;
  // Built after the store (it measures records.db) but declared before it: the store's writer
  // asks it at every commit until the store is closed.
  std::unique_ptr<outbox::DiskQuota> quota;
  std::unique_ptr<SqliteRecordStore> store;
  std::unique_ptr<outbox::Router> router;
  std::unique_ptr<https::HttpsLink> crossprov;
  std::unique_ptr<outbox::Forwarder> forwarder;
  std::unique_ptr<outbox::RetentionPruner> pruner;
  std::unique_ptr<outbox::Housekeeper> housekeeper;
  std::unique_ptr<mqtt::PahoTerminalLink> link;
  std::unique_ptr<WorkerPool> crypto_pool;
  std::unique_ptr<PolicyAuthorizer> engine;
  std::unique_ptr<RecordAnnotator> annotator;
  std::unique_ptr<Dispatcher> dispatcher;
  std::unique_ptr<GatewayStatus> status_source;
  std::unique_ptr<status::StatusServer> status_server;
  std::chrono::steady_clock::time_point started = std::chrono::steady_clock::now();
  std::chrono::steady_clock::time_point last_stats = started;
  bool shut_down = false;
};

GatewayApp::GatewayApp(std::unique_ptr<Parts> parts) : p_(std::move(parts)) {}

GatewayApp::~GatewayApp() { shutdown(); }

namespace {

// Why `path` cannot be read as the schema says it is used, or nothing.
std::optional<std::string> unreadable(const std::string& path, PathRole role) {
  if (role == PathRole::input_dir) {
    DIR* dir = ::opendir(path.c_str());
    if (dir == nullptr) return errno_message();
    ::closedir(dir);
    return std::nullopt;
  }
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return errno_message();
  struct stat st {};
  const bool is_dir = ::fstat(fd, &st) == 0 && S_ISDIR(st.st_mode);
  ::close(fd);
  if (is_dir) return "is a directory, not a file";
  return std::nullopt;
}

// The district link's options; an error about its key file names the key.
Result<district::DistrictLinkOptions> district_options(const Config& config) {
  auto options = district::district_link_options(config.district, config.gateway.id);
  if (!options && options.error().code == "curve_key_file") {
    return in_key(config, "district.client_key_file", options.error());
  }
  return options;
}

}  // namespace

Result<void> check_input_paths(const Config& config) {
  for (const KeySpec& spec : config_schema()) {
    if (spec.path_role != PathRole::input_file && spec.path_role != PathRole::input_dir) continue;
    const std::string* path = config_string(config, spec.path);
    if (path == nullptr || path->empty()) continue;
    if (auto why = unreadable(*path, spec.path_role)) {
      return make_error("config_file",
                        key_context(config, spec.path) + ": cannot read '" + *path + "': " + *why);
    }
  }
  return {};
}

Result<void> preflight(const Config& config) {
  if (auto r = check_input_paths(config); !r) return r;
  auto tok = CardTokenizer::from_key_file(config.security.hmac_key_file);
  if (!tok) return in_key(config, "security.hmac_key_file", tok.error());
  if (auto r = check_key_outside_data_dir(config.security.hmac_key_file, config.gateway.data_dir);
      !r) {
    return in_key(config, "security.hmac_key_file", r.error());
  }
  if (auto g = AttributeNames::parse(config.cardlist.groups); !g) {
    return in_key(config, "cardlist.groups", g.error());
  }
  if (!config.cardlist.feed_url.empty()) {
    auto key = Sm2PublicKey::from_pem_file(config.cardlist.platform_public_key_file);
    if (!key) return in_key(config, "cardlist.platform_public_key_file", key.error());
  }
  auto decoders = make_decoders(config, tok.value());
  if (!decoders) return decoders.error();
  if (auto r = check_policy_files(config); !r) return r;
  if (auto d = district_options(config); !d) return d.error();
  // The loader already held both region lists to the same rules; this cannot fail on its own.
  if (auto r = outbox::route_table_from(config.upstream); !r) return r.error();
  return {};
}

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

  // The same words as `yktgw check-config` for a file the config names that cannot be read.
  if (auto r = check_input_paths(config); !r) return r.error();
  if (auto r = check_key_outside_data_dir(config.security.hmac_key_file, data); !r) {
    return in_key(config, "security.hmac_key_file", r.error());
  }

  // A status address that may not be used stops the start before anything is opened.
  auto status_options = status::status_server_options_from(config);
  if (!status_options) return status_options.error();

  auto tok = CardTokenizer::from_key_file(config.security.hmac_key_file);
  if (!tok) return in_key(config, "security.hmac_key_file", tok.error());
  p->tokenizer = std::make_unique<CardTokenizer>(std::move(tok.value()));

  // Card list: memory index over cardlist.db, kept current from the platform's signed feed.
  auto groups = AttributeNames::parse(config.cardlist.groups);
  if (!groups) return in_key(config, "cardlist.groups", groups.error());
  CardListOptions clo;
  clo.db_path = data + "/cardlist.db";
  clo.image_path = data + "/cardlist.idx";
  clo.groups = groups.value();
  clo.max_age_ms = static_cast<std::int64_t>(config.cardlist.max_age_s) * 1000;
  auto cl = CardListCache::open(clo, p->log.cardlist);
  if (!cl) return cl.error();
  p->cardlist = std::move(cl.value());
  {
    const auto st = p->cardlist->status(p->clock.wall_ms());
    p->log.cardlist->info("card list version={} entries={} stale={}", st.version, st.entries,
                          st.stale);
  }
  if (!config.cardlist.feed_url.empty()) {
    auto key = Sm2PublicKey::from_pem_file(config.cardlist.platform_public_key_file);
    if (!key) return in_key(config, "cardlist.platform_public_key_file", key.error());
    CardListUpdaterOptions uo;
    uo.feed_url = config.cardlist.feed_url;
    uo.ca_file = config.cardlist.ca_file;
    uo.poll_interval = std::chrono::seconds(config.cardlist.poll_interval_s);
    uo.snapshot_timeout = std::chrono::seconds(config.cardlist.snapshot_timeout_s);
    p->cardlist_updater = std::make_unique<CardListUpdater>(*p->cardlist, std::move(key.value()),
                                                            uo, p->clock, p->log.cardlist);
  }

  auto decoders = make_decoders(config, *p->tokenizer);
  if (!decoders) return decoders.error();
  p->decoders = std::move(decoders.value());
  p->log.main->info("credentials {}", p->decoders->describe());

  auto policy = open_policy_runtime(config, p->clock, p->log.policy);
  if (!policy) return policy.error();
  p->policy = std::move(policy.value());

  auto dopts = district_options(config);
  if (!dopts) return dopts.error();
  dopts->warn_interval = std::chrono::milliseconds(config.log.warn_interval_ms);
  auto district =
      district::DistrictLink::start(std::move(dopts.value()), p->clock, p->log.district);
  if (!district) return district.error();
  p->district = std::move(district.value());

  RecordStoreOptions so;
  so.path = data + "/records.db";
  so.commit_max_records = config.store.commit_max_records;
  so.commit_linger_ms = config.store.commit_linger_ms;
  so.queue_capacity = config.store.queue_capacity;
  so.synchronous_full = config.store.synchronous == "full";
  auto store = SqliteRecordStore::open(so, p->log.store);
  if (!store) return store.error();
  p->store = std::move(store.value());

  // Forwarding: per-destination cursors over records.db (the store created it above).
  auto routes = outbox::route_table_from(config.upstream);
  if (!routes) return routes.error();
  p->router = std::make_unique<outbox::Router>(std::move(routes.value()));
  std::map<std::string, UpstreamLink*> links;
  // Only a configured link is registered: without one, records wait as no_link, not in backoff.
  if (p->district->enabled()) links["district"] = p->district.get();
  if (!config.https.url.empty()) {
    auto https = https::HttpsLink::create(https::https_link_options_from(config), p->log.forward);
    if (!https) return https.error();
    p->crossprov = std::move(https.value());
    links["crossprov"] = p->crossprov.get();
  }
  auto forwarder = outbox::Forwarder::open(outbox::forwarder_options_from(config), *p->router,
                                           links, p->clock, p->log.forward);
  if (!forwarder) return forwarder.error();
  p->forwarder = std::move(forwarder.value());
  auto quota = outbox::DiskQuota::open(outbox::disk_quota_options_from(config), p->log.store);
  if (!quota) return quota.error();
  p->quota = std::move(quota.value());
  // One rule for every record kind: the store refuses terminal transactions and attendance
  // alike at the quota.
  p->store->set_quota([q = p->quota.get()] { return q->over_quota(); });
  auto pruner = outbox::RetentionPruner::open(outbox::retention_options_from(config), *p->router,
                                              p->clock, p->log.store);
  if (!pruner) return pruner.error();
  p->pruner = std::move(pruner.value());
  p->housekeeper = std::make_unique<outbox::Housekeeper>(
      *p->pruner, *p->quota,
      outbox::HousekeeperOptions{.thread_nice = config.upstream.background_nice}, p->log.store);

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
  // Requests and records go to one gateway of a shared group; every gateway sees every
  // terminal's status. Mosquitto keeps handing a member its share while it is away with a
  // persistent session, so group members connect with a clean one: a killed member leaves the
  // group at once, and terminals resend what it had not acked to the others.
  if (!m.shared_group.empty()) {
    lo.persistent_session = false;
    p->log.mqtt->info(
        "mqtt shared_group={}: requests and records split with the group's other "
        "gateways; clean session",
        m.shared_group);
  }
  const std::string share =
      m.shared_group.empty() ? std::string() : "$share/" + m.shared_group + "/";
  for (auto kind :
       {protocol::TopicKind::auth_req, protocol::TopicKind::txn, protocol::TopicKind::txn_batch})
    lo.subscriptions.push_back(share + protocol::subscription_filter(config.gateway.site, kind));
  lo.subscriptions.push_back(
      protocol::subscription_filter(config.gateway.site, protocol::TopicKind::status));
  lo.presence_topic =
      "ykt/v1/" + config.gateway.site + "/_gateway/" + config.gateway.id + "/status";
  lo.presence_online = R"({"v":1,"gateway":")" + config.gateway.id +
                       R"(","state":"online","version":")" + kVersion + "\"}";
  lo.presence_offline = R"({"v":1,"gateway":")" + config.gateway.id + R"(","state":"offline"})";
  p->link = std::make_unique<mqtt::PahoTerminalLink>(std::move(lo), p->log.mqtt);

  // QR signatures are verified here, never on the workers that answer card taps.
  p->crypto_pool = std::make_unique<WorkerPool>(config.credentials.crypto_workers, 4096);
  PolicyAuthorizer::Decoders dec;
  for (auto t : {CredentialType::card, CredentialType::ecard_qr, CredentialType::ykm_qr,
                 CredentialType::other})
    dec[t] = p->decoders->find(t);
  p->engine = std::make_unique<PolicyAuthorizer>(
      PolicyAuthorizer::Deps{*p->policy.policies, dec, *p->cardlist, *p->policy.counters,
                             *p->district, *p->district, *p->crypto_pool, p->clock, p->log.policy,
                             p->store.get()},
      PolicyAuthorizer::Options{static_cast<std::int64_t>(config.cardlist.max_age_s) * 1000});
  p->annotator = std::make_unique<RecordAnnotator>(*p->tokenizer, p->policy.policies.get());

  DispatcherOptions dopt;
  dopt.site = config.gateway.site;
  dopt.workers = config.gateway.workers;
  dopt.queue_capacity = config.gateway.queue_capacity;
  dopt.inline_auth = config.gateway.inline_auth;
  dopt.queue_max_bytes = static_cast<std::size_t>(config.gateway.queue_max_mib) << 20;
  dopt.max_payload_bytes = m.max_payload_bytes;
  dopt.max_batch_records = m.max_batch_records;
  dopt.max_batch_payload_bytes = m.max_batch_payload_bytes;
  dopt.warn_interval_ms = config.log.warn_interval_ms;
  dopt.terminal_rate_per_s = config.gateway.terminal_rate_per_s;
  dopt.terminal_burst = config.gateway.terminal_burst;
  auto* quota_ptr = p->quota.get();
  auto* forwarder_ptr = p->forwarder.get();
  Dispatcher::Deps deps{*p->link,
                        *p->store,
                        *p->engine,
                        *p->tokenizer,
                        p->clock,
                        p->log.ingest,
                        p->annotator.get(),
                        [quota_ptr] { return quota_ptr->over_quota(); },
                        [forwarder_ptr] { forwarder_ptr->wake(); }};
  p->dispatcher = std::make_unique<Dispatcher>(deps, dopt);
  if (*status_options) {
    p->status_source = std::make_unique<GatewayStatus>(
        GatewayStatus::Deps{config.gateway.id, config.gateway.site, outbox::records_db_path(config),
                            outbox::outbox_db_path(config), p->clock, *p->dispatcher, *p->link,
                            *p->store, *p->cardlist, *p->forwarder, *p->quota, *p->district,
                            *p->policy.policies, *p->engine, p->policy.catalog});
    auto server =
        status::StatusServer::start(std::move(**status_options), *p->status_source, p->log.status);
    if (!server) return server.error();
    p->status_server = std::move(server.value());
  }
  p->dispatcher->start();
  p->forwarder->start();
  p->housekeeper->start();
  if (p->cardlist_updater) p->cardlist_updater->start();
  auto* dispatcher = p->dispatcher.get();
  if (auto r = p->link->start(
          [dispatcher](InboundMessage&& msg) { dispatcher->on_message(std::move(msg)); });
      !r) {
    return r.error();
  }
  p->log.main->info("running broker={} workers={} district={} crossprov={}", m.uri,
                    config.gateway.workers,
                    config.district.endpoint.empty() ? "off" : config.district.endpoint,
                    config.https.url.empty() ? "off" : config.https.url);
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
  if (auto r = p.policy.policies->reload(); !r) {
    p.log.policy->error("reload: policies kept as they were error=\"{}\"",
                        in_key(p.config, "policy.file", r.error()).message);
  } else {
    p.log.policy->info("reload: policies loaded file={}", p.policy.policies->path());
  }
  if (auto r = p.cardlist->reload(); !r) {
    p.log.cardlist->error("reload: card list kept error=\"{}\"", r.error().message);
  } else if (*r) {
    p.log.cardlist->info("reload: card list version={} entries={}", p.cardlist->version(),
                         p.cardlist->size());
  }
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
      "terminals_online={} over_quota={}",
      p.link->connected(), s.received, s.auth_requests, s.approved, s.declined, s.txn_received,
      s.txn_stored, s.txn_duplicate, s.txn_rejected, s.txn_store_failed, st.queued,
      s.dropped_queue_full, s.publish_failed, p.dispatcher->terminals().online_count(),
      p.quota->over_quota());
  for (const auto& d : p.forwarder->stats()) {
    p.log.forward->info(
        "forward destination={} state={} backlog={} in_flight={} lag_ms={} "
        "dead_letters={}",
        d.destination, outbox::to_string(d.state), d.backlog, d.in_flight, d.lag_ms,
        d.dead_letters);
  }
}

void GatewayApp::shutdown() {
  if (!p_ || p_->shut_down) return;
  auto& p = *p_;
  p.shut_down = true;
  const auto t0 = std::chrono::steady_clock::now();
  if (p.status_server) p.status_server->stop();  // reads the parts below; goes first
  p.log.main->info("stopping: intake closed");
  p.link->stop_intake();
  p.dispatcher->stop();   // finishes queued messages
  p.crypto_pool->stop();  // finishes queued QR checks; their replies still go out
  p.district->stop();     // pending online requests answer link_down and fall back offline
  p.store->close();       // commits what is queued; the completions publish the acks
  p.link->stop(2000);
  p.forwarder->stop(std::chrono::seconds(2));  // unfinished batches resume from outbox.db
  if (p.crossprov) p.crossprov->stop();
  p.housekeeper->stop();
  if (p.cardlist_updater) p.cardlist_updater->stop();
  p.policy.counters->close();
  const auto s = p.store->stats();
  p.log.main->info(
      "stopped in {} ms stored={} duplicates={} failed={}",
      std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - t0)
          .count(),
      s.stored, s.duplicates, s.failed);
  p.log.flush();
}

}  // namespace yktgw
