// The one place each configuration key is declared. The loader, config/yktgw.toml and the
// operations docs are checked against this table by tests, so a key added here without an
// example line (or the other way round) fails the build's tests.

#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "gateway/config/config.h"

namespace yktgw {
namespace {

enum class Reload : std::uint8_t { restart, sighup };

std::string quoted(std::string_view s) { return "\"" + std::string(s) + "\""; }

// Fields are assigned rather than designated so -Wextra does not flag every constraint a key
// leaves at zero.
KeySpec key(std::string path, KeyType type, std::string default_text, std::string description,
            Reload reload) {
  KeySpec spec{};
  spec.path = std::move(path);
  spec.type = type;
  spec.default_text = std::move(default_text);
  spec.required = false;
  spec.reloadable = reload == Reload::sighup;
  spec.description = std::move(description);
  return spec;
}

KeySpec integer(std::string path, std::int64_t def, std::int64_t lo, std::int64_t hi,
                std::string description, Reload reload = Reload::restart) {
  KeySpec spec =
      key(std::move(path), KeyType::integer, std::to_string(def), std::move(description), reload);
  spec.min_value = lo;
  spec.max_value = hi;
  return spec;
}

KeySpec boolean(std::string path, bool def, std::string description) {
  return key(std::move(path), KeyType::boolean, def ? "true" : "false", std::move(description),
             Reload::restart);
}

KeySpec text(std::string path, std::string_view def, StringCheck check, std::string description,
             bool secret = false) {
  KeySpec spec =
      key(std::move(path), KeyType::string, quoted(def), std::move(description), Reload::restart);
  spec.check = check;
  spec.secret = secret;
  if (check == StringCheck::path || check == StringCheck::optional_path) {
    spec.path_role = PathRole::input_file;
  }
  return spec;
}

KeySpec with_role(KeySpec spec, PathRole role) {
  spec.path_role = role;
  return spec;
}

KeySpec required_text(std::string path, StringCheck check, std::string description) {
  KeySpec spec = key(std::move(path), KeyType::string, "", std::move(description), Reload::restart);
  spec.required = true;
  spec.check = check;
  if (check == StringCheck::path || check == StringCheck::optional_path) {
    spec.path_role = PathRole::input_file;
  }
  return spec;
}

KeySpec choice(std::string path, std::string_view def, std::vector<std::string> choices,
               std::string description, Reload reload = Reload::restart) {
  KeySpec spec = key(std::move(path), KeyType::string, quoted(def), std::move(description), reload);
  spec.choices = std::move(choices);
  return spec;
}

std::vector<KeySpec> build_schema() {
  using enum StringCheck;
  return {
      // gateway
      required_text("gateway.id", name, "Gateway id, unique per box; 1-64 of A-Z a-z 0-9 _ . -"),
      required_text("gateway.site", name,
                    "Site (township or street office) this box serves; the {site} topic level"),
      with_role(
          text("gateway.data_dir", "/var/lib/yktgw", path,
               "Directory for the store and card list; relative to the config file's directory"),
          PathRole::state_dir),
      integer("gateway.workers", 2, 1, 64,
              "Worker threads for credential checks (SM2 verification runs here)"),
      integer("gateway.queue_max_mib", 64, 1, 4'096,
              "Bytes of terminal messages waiting for a worker, in MiB; more are dropped "
              "(terminals resend)"),
      integer("gateway.queue_capacity", 65'536, 16, 10'000'000,
              "Terminal messages waiting for a worker; more are dropped (terminals resend)"),
      integer("gateway.terminal_rate_per_s", 0, 0, 100'000,
              "Messages a second one terminal may send on average; more are refused "
              "rate_limited; 0: no limit"),
      boolean("gateway.inline_auth", true,
              "Decide auth requests on the MQTT client's thread (one thread hand-off less); "
              "false: on the worker threads"),
      integer("gateway.terminal_burst", 0, 0, 1'000'000,
              "Messages one terminal may send back to back; below terminal_rate_per_s means "
              "that rate"),

      // mqtt
      text("mqtt.uri", "tcp://127.0.0.1:1883", mqtt_uri,
           "Broker address: tcp|ssl|mqtt|mqtts://host[:port]"),
      text("mqtt.client_id", "", mqtt_client_id,
           "MQTT client id; empty means \"yktgw-\" + gateway.id; no '+', '#' or '/'"),
      text("mqtt.shared_group", "", optional_name,
           "Scale-out: gateways with the same group split requests and records through the "
           "shared subscription $share/{group}/...; empty: this gateway takes all"),
      text("mqtt.username", "", none, "Broker user name; empty for none"),
      text("mqtt.password", "", none, "Broker password; empty for none", /*secret=*/true),
      integer("mqtt.keepalive_s", 30, 5, 3600, "MQTT keep-alive interval in seconds"),
      boolean("mqtt.persistent_session", true,
              "Keep the broker session (subscriptions, queued QoS 1) across reconnects"),
      integer("mqtt.session_expiry_s", 3600, 0, 2'592'000,
              "MQTT v5 session expiry in seconds while disconnected"),
      integer("mqtt.reconnect_min_ms", 250, 10, 60'000, "First reconnect delay in milliseconds"),
      integer("mqtt.reconnect_max_ms", 30'000, 100, 600'000,
              "Longest reconnect delay in milliseconds; at least mqtt.reconnect_min_ms"),
      integer("mqtt.max_buffered", 20'000, 100, 10'000'000,
              "Replies the MQTT client may queue before refusing more (backpressure)"),
      integer("mqtt.max_inflight", 65535, 1, 65'535,
              "QoS 1 messages sent but not yet acknowledged"),
      integer("mqtt.max_payload_bytes", 16'384, 256, 1'048'576,
              "Largest terminal message accepted; bigger ones are refused unread"),
      integer("mqtt.max_batch_records", 500, 1, 10'000,
              "Most records in one txn/batch bulk upload; more refuse the batch unread"),
      integer("mqtt.max_batch_payload_bytes", 1'048'576, 1'024, 16'777'216,
              "Largest txn/batch message accepted; bigger ones are refused unread"),
      text("mqtt.tls.ca_file", "", optional_path,
           "CA bundle for the broker certificate; empty uses the system store"),
      text("mqtt.tls.cert_file", "", optional_path,
           "Client certificate (PEM); set together with mqtt.tls.key_file"),
      text("mqtt.tls.key_file", "", optional_path,
           "Client private key (PEM); set together with mqtt.tls.cert_file"),
      boolean("mqtt.tls.verify", true, "Verify the broker certificate and host name"),

      // store
      integer("store.commit_max_records", 2000, 1, 100'000, "Most records in one group commit"),
      integer("store.commit_linger_ms", 1, 0, 100,
              "How long a commit waits for more records before writing"),
      integer("store.queue_capacity", 100'000, 16, 10'000'000,
              "Records waiting for the writer before new ones are refused (terminals resend)"),
      choice("store.synchronous", "full", {"full", "normal"},
             "SQLite synchronous mode; full survives power loss, normal only a process crash"),
      integer("store.disk_quota_mb", 0, 0, 16'777'216,
              "Most MiB records.db and outbox.db may use; at it new records wait; 0: no limit"),
      integer("store.retention_days", 30, 1, 3650,
              "Days a record is kept after every platform it goes to has acked it"),
      integer("store.wal_checkpoint_mb", 64, 1, 65'536,
              "records.db-wal size in MiB that triggers a checkpoint giving the space back"),

      // security
      required_text("security.hmac_key_file", path,
                    "File with the hex HMAC-SM3 key for card number tokens"),

      // log
      choice("log.level", "info", {"trace", "debug", "info", "warn", "error", "critical", "off"},
             "Lowest level written", Reload::sighup),
      boolean("log.console", true, "Also log to stderr (journald picks it up under systemd)"),
      integer("log.file_max_bytes", 10'485'760, 65'536, 1'073'741'824,
              "Size at which the log file rotates"),
      integer("log.file_count", 5, 1, 100, "Rotated log files kept"),
      integer("log.warn_interval_ms", 10'000, 0, 3'600'000,
              "Least time between repeats of a remote-triggered warning; 0 logs every one",
              Reload::sighup),

      // credentials (docs/qr-code.md)
      text("credentials.terminal_mac_keys_file", "", optional_path,
           "File of 'terminal_id hex_key' lines for card request MACs (mode 600); empty: none"),
      with_role(
          text("credentials.ecard_key_dir", "", optional_path,
               "Directory of ecard_qr issuer keys <region>-<kid>.pub.pem; empty: ecard_qr refused"),
          PathRole::input_dir),
      with_role(
          text("credentials.ykm_key_dir", "", optional_path,
               "Directory of ykm_qr issuer keys <region>-<kid>.pub.pem; empty: ykm_qr refused"),
          PathRole::input_dir),
      integer("credentials.qr_clock_skew_ms", 5'000, 0, 600'000,
              "Clock difference allowed when checking a QR code's iat and exp, in milliseconds"),
      integer("credentials.qr_max_validity_ms", 120'000, 1'000, 3'600'000,
              "Longest exp - iat a QR code may have; longer ones are declined as malformed"),
      integer("credentials.replay_cache_entries", 500'000, 1'000, 50'000'000,
              "Used QR codes remembered per code type until they expire; when full: busy"),
      integer("credentials.crypto_workers", 1, 1, 16,
              "Threads that verify QR signatures, apart from the workers answering card taps"),

      // cardlist
      text("cardlist.groups", "staff,student,site_worker,resident", none,
           "Holder group names, comma-separated; the order fixes their attribute bits"),
      text("cardlist.feed_url", "", feed_url,
           "Base URL of the platform's signed card list feed; empty: no updates, CSV imports only"),
      text("cardlist.platform_public_key_file", "", optional_path,
           "The platform's SM2 public key (PEM) that signs the feed; required with feed_url"),
      text("cardlist.ca_file", "", optional_path,
           "CA (PEM) pinned for an https feed_url; empty uses the system store"),
      integer("cardlist.poll_interval_s", 60, 5, 86'400,
              "Seconds between polls of the card list feed"),
      integer("cardlist.snapshot_timeout_s", 600, 30, 86'400,
              "Longest download of a full card list snapshot, in seconds (deltas: 30 s)"),
      integer("cardlist.max_age_s", 86'400, 0, 31'536'000,
              "A list not confirmed current for this many seconds is stale; 0: never by age"),

      // district (docs/upstream-protocol.md)
      text("district.endpoint", "", zmq_endpoint,
           "District platform ZeroMQ endpoint tcp://host:port; empty: no district link"),
      text("district.server_public_key", "", curve_key,
           "The platform's CURVE public key (Z85, 40 characters), pinned; required with endpoint"),
      text("district.client_key_file", "", optional_path,
           "This gateway's CURVE key pair file (yktgw keygen; mode 600); required with endpoint"),
      integer("district.heartbeat_interval_ms", 1'000, 100, 60'000,
              "Time between heartbeats to the district platform, in milliseconds"),
      integer("district.heartbeat_timeout_ms", 3'500, 300, 600'000,
              "Link counts as up while a heartbeat answer came within this many milliseconds"),
      integer("district.online_max_inflight", 1'000, 1, 100'000,
              "Online authorization requests waiting for the platform; beyond it: offline rules"),
      integer("district.batch_max_inflight", 8, 1, 256,
              "Record batches sent to the district platform and not yet acknowledged, at most"),
      integer("district.batch_timeout_ms", 10'000, 100, 600'000,
              "A batch without BATCH_ACK after this many milliseconds is sent again later"),

      // policy (docs/policies.md); the policies file itself reloads on SIGHUP
      text("policy.file", "/etc/yktgw/policies.toml", path,
           "Scenario policies file (policies.toml); relative to the config file's directory"),
      text("policy.service_items_file", "/etc/yktgw/service-items.toml", path,
           "The district's service item catalogue; scenarios must name one of its items"),
      integer("policy.state_flush_ms", 5, 1, 1000,
              "Write-behind interval of the policy counters (state.db); a crash loses about this"),

      // upstream: record forwarding (docs/upstream-https.md)
      text("upstream.district_regions", "50", region_list,
           "Issuer regions whose card records go to the district platform, e.g. \"50\""),
      text("upstream.crossprov_regions", "51,52,54", region_list,
           "Issuer regions whose card records go to the cross-province platform"),
      choice("upstream.unknown_region_destination", "district", {"district", "crossprov", "both"},
             "Where card records of a region in neither list (or unknown) go"),
      choice("upstream.no_card_destination", "district", {"district", "crossprov", "both"},
             "Where records without a card (credential type other: cash, ID card) go"),
      boolean("upstream.copy_all_to_district", false,
              "Also send every record to the district platform, whatever its region"),
      integer("upstream.batch_max_records", 500, 1, 100'000, "Most records in one batch"),
      integer("upstream.batch_max_bytes", 262'144, 1'024, 16'777'216,
              "Most uncompressed bytes of record lines in one batch"),
      integer("upstream.batch_linger_ms", 200, 0, 60'000,
              "How long a batch that is not full waits for more records, in milliseconds"),
      integer("upstream.retry_min_ms", 500, 10, 600'000,
              "First retry delay cap in milliseconds; doubles per failure, with full jitter"),
      integer("upstream.retry_max_ms", 10'000, 100, 3'600'000,
              "Largest retry delay cap in milliseconds; at least upstream.retry_min_ms"),
      integer("upstream.background_nice", 10, 0, 19,
              "Nice value of the forwarding and housekeeping threads; 0 leaves them as the rest"),

      // https: the cross-province link (docs/upstream-https.md)
      text("https.url", "", https_url,
           "Cross-province platform base URL https://host[:port][/path]; empty: no link"),
      text("https.ca_file", "", optional_path,
           "CA certificate (PEM) the platform's certificate must chain to; required with url"),
      text("https.client_cert_file", "", optional_path,
           "Client certificate (PEM) for mTLS; set together with https.client_key_file"),
      text("https.client_key_file", "", optional_path,
           "Client private key (PEM) for mTLS; set together with https.client_cert_file"),
      integer("https.connect_timeout_ms", 3'000, 100, 60'000,
              "Time allowed for the TCP and TLS handshake, in milliseconds"),
      integer("https.timeout_ms", 10'000, 500, 600'000,
              "Time allowed for one batch request from connect to answer, in milliseconds"),
      integer("https.max_in_flight", 4, 1, 64, "Batches sent to the platform at once"),

      // status: the operator web page and JSON API (docs/status-api.md)
      text("status.listen", "127.0.0.1:8080", listen_address,
           "Status page and API address host:port; empty: off; non-loopback needs status.token"),
      text("status.token", "", none,
           "Bearer token the status page and API require; required for a non-loopback listen",
           /*secret=*/true),
  };
}

}  // namespace

const std::vector<KeySpec>& config_schema() {
  static const std::vector<KeySpec> schema = build_schema();
  return schema;
}

const KeySpec* find_key_spec(std::string_view path) {
  for (const KeySpec& spec : config_schema()) {
    if (spec.path == path) return &spec;
  }
  return nullptr;
}

}  // namespace yktgw
