#pragma once
// The gateway's configuration as typed values. Every key is declared once, with its type,
// default and description, in the schema table (config_schema.cpp); the loader refuses
// unknown keys, wrong types and bad values with file:line and the key path.

#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "gateway/core/result.h"

namespace yktgw {

struct GatewayConfig {
  std::string id;
  std::string site;
  std::string data_dir;
  int workers = 2;
  int queue_capacity = 65536;
  int queue_max_mib = 64;
  int terminal_rate_per_s = 0;  // per-terminal token bucket; 0: no limit
  bool inline_auth = true;      // decide auth requests on the MQTT client's thread
  int terminal_burst = 0;       // bucket size; below terminal_rate_per_s means that rate
};

struct MqttTlsConfig {
  std::string ca_file;
  std::string cert_file;
  std::string key_file;
  bool verify = true;
};

struct MqttConfig {
  std::string uri;
  std::string client_id;  // empty: "yktgw-" + gateway.id
  // Non-empty: requests and records are taken through the MQTT shared subscription
  // $share/{shared_group}/..., split between the gateways of the group.
  std::string shared_group;
  std::string username;
  std::string password;
  int keepalive_s = 30;
  bool persistent_session = true;
  int session_expiry_s = 3600;
  int reconnect_min_ms = 250;
  int reconnect_max_ms = 30000;
  int max_buffered = 20000;
  int max_inflight = 65535;
  int max_payload_bytes = 16384;
  int max_batch_records = 500;
  int max_batch_payload_bytes = 1048576;
  MqttTlsConfig tls;
};

struct StoreConfig {
  int commit_max_records = 2000;
  int commit_linger_ms = 1;
  int queue_capacity = 100000;
  std::string synchronous = "full";  // full | normal
  int disk_quota_mb = 0;             // records.db + outbox.db; 0: unlimited (gateway/outbox)
  int retention_days = 30;           // forwarded records are pruned after this
  int wal_checkpoint_mb = 64;        // records.db-wal size that triggers a TRUNCATE checkpoint
};

struct SecurityConfig {
  std::string hmac_key_file;  // absolute after loading
};

// Credential checks: terminal MACs on card requests, QR issuer keys, validity and replay rules.
struct CredentialsConfig {
  std::string terminal_mac_keys_file;  // empty: no terminal has a MAC key
  std::string ecard_key_dir;           // empty: ecard_qr codes are not accepted
  std::string ykm_key_dir;             // empty: ykm_qr codes are not accepted
  int qr_clock_skew_ms = 5000;
  int qr_max_validity_ms = 120000;
  int replay_cache_entries = 500000;
  int crypto_workers = 1;
};

// Card list. `groups` is shared with the credential decoders: the order of the names fixes the
// attribute bits (kFirstGroupBit + index), so QR payloads and list entries agree.
struct CardListConfig {
  std::string groups = "staff,student,site_worker,resident";
  // The platform's signed feed (docs/cardlist-feed.md); empty: no updates, CSV imports only.
  std::string feed_url;
  std::string platform_public_key_file;  // absolute after loading; required with feed_url
  std::string ca_file;                   // absolute after loading; empty: the system CA store
  int poll_interval_s = 60;
  int snapshot_timeout_s = 600;
  int max_age_s = 86400;  // a list not known current for longer is stale; 0: never by age
};

// The ZeroMQ district link (connectors/zmq). An empty endpoint means no link: health down,
// online authorization answered link_down at once.
struct DistrictConfig {
  std::string endpoint;           // tcp://host:port; empty: no district link
  std::string server_public_key;  // Z85, 40 characters; pinned
  std::string client_key_file;    // absolute after loading; empty when unset
  int heartbeat_interval_ms = 1000;
  int heartbeat_timeout_ms = 3500;
  int online_max_inflight = 1000;
  int batch_max_inflight = 8;     // record batches awaiting BATCH_ACK at once
  int batch_timeout_ms = 10'000;  // no BATCH_ACK by then: retry later
};

// Scenario policies (gateway/policy, docs/policies.md).
struct PolicyConfig {
  std::string file = "/etc/yktgw/policies.toml";                     // absolute after loading
  std::string service_items_file = "/etc/yktgw/service-items.toml";  // absolute after loading
  int state_flush_ms = 5;  // write-behind interval of the policy counters (state.db)
};

// Record forwarding (gateway/outbox, docs/upstream-https.md): routing by issuer region and
// record kind, batching, retries. Destinations are "district" and "crossprov".
struct UpstreamConfig {
  std::string district_regions = "50";
  std::string crossprov_regions = "51,52,54";
  std::string unknown_region_destination = "district";  // district | crossprov | both
  std::string no_card_destination = "district";         // district | crossprov | both
  bool copy_all_to_district = false;
  int batch_max_records = 500;
  int batch_max_bytes = 262144;  // uncompressed
  int batch_linger_ms = 200;
  int retry_min_ms = 500;
  int retry_max_ms = 10000;
  int background_nice = 10;  // forwarding and housekeeping threads
};

// The HTTPS cross-province link (connectors/https). An empty url means no link: records routed
// to "crossprov" are kept, not forwarded.
struct HttpsConfig {
  std::string url;               // https://host[:port][/path]; batches go to {url}/batches
  std::string ca_file;           // absolute after loading; the pinned CA, required with url
  std::string client_cert_file;  // absolute after loading; mTLS, set with client_key_file
  std::string client_key_file;
  int connect_timeout_ms = 3000;
  int timeout_ms = 10000;
  int max_in_flight = 4;
};

struct LogConfig {
  std::string level = "info";  // trace | debug | info | warn | error | critical | off
  bool console = true;
  int file_max_bytes = 10 * 1024 * 1024;
  int file_count = 5;
  int warn_interval_ms = 10000;
};

// The operator status page and API (docs/status-api.md).
struct StatusConfig {
  std::string listen = "127.0.0.1:8080";  // host:port; empty: no status server
  std::string token;                      // bearer token; required for a bind other than loopback
};

struct Config {
  GatewayConfig gateway;
  MqttConfig mqtt;
  StoreConfig store;
  SecurityConfig security;
  LogConfig log;
  CredentialsConfig credentials;
  CardListConfig cardlist;
  DistrictConfig district;
  PolicyConfig policy;
  UpstreamConfig upstream;
  HttpsConfig https;
  StatusConfig status;
  std::string source_file;  // the file it was loaded from; empty for defaults only
  std::string source_name;  // the same as messages name it: as given, or parse_config's name
  // Where each key the file or --set gave a value came from: "FILE:LINE:COL" or "--set a.b".
  // Problems found after loading, such as a file a key names that cannot be read, point there
  // (key_context()).
  std::map<std::string, std::string, std::less<>> key_origins;
};

// One declared key of the schema.
enum class KeyType : std::uint8_t { string, integer, boolean };

// Checks a string key needs beyond its type; the schema names them so docs can list them.
enum class StringCheck : std::uint8_t {
  none,
  name,            // 1..64 of [A-Za-z0-9_.-]; ends up in MQTT topics and file names
  optional_name,   // empty (unset) or as `name`
  mqtt_uri,        // tcp|ssl|mqtt|mqtts://host[:port]
  mqtt_client_id,  // empty (derived) or free of MQTT wildcards and '/'
  path,            // non-empty; relative values resolve against the config file's directory
  optional_path,   // empty means unset; otherwise as `path`
  zmq_endpoint,    // empty (unset) or tcp://host:port
  curve_key,       // empty (unset) or a 40-character Z85 CURVE key
  region_list,     // comma-separated two-digit issuer region codes 11..82; may be empty
  https_url,       // empty (unset) or https://host[:port][/path]
  feed_url,        // empty (unset) or http(s)://host[:port][/path]
  listen_address,  // empty (off) or host:port, host an IPv4 address or a name, port 1..65535
};

// What the gateway does with the file or directory a path key names. Every input is checked
// for readability before start (gateway/app), with an error naming the key and its line.
enum class PathRole : std::uint8_t {
  none,        // not a path
  input_file,  // read at start (or on SIGHUP)
  input_dir,   // a directory whose files are read at start
  state_dir,   // created and written by the gateway
};

struct KeySpec {
  std::string path;  // e.g. "mqtt.uri"
  KeyType type;
  std::string default_text;  // as it would appear in TOML; empty string value shown as ""
  bool required;             // no default; the file must set it
  bool reloadable;           // SIGHUP applies it without a restart
  std::string description;   // one line, English
  // Constraints the loader enforces, kept here so the table stays the one place a key is
  // described. Unused fields keep their zero values.
  std::int64_t min_value = 0;  // integers: inclusive range
  std::int64_t max_value = 0;
  std::vector<std::string> choices;  // strings: the allowed values; empty means any
  StringCheck check = StringCheck::none;
  bool secret = false;  // never print the value (status page, config dumps, logs)
  PathRole path_role = PathRole::none;
};

const std::vector<KeySpec>& config_schema();

// The declared key at `path`, or nullptr.
const KeySpec* find_key_spec(std::string_view path);

// Loads `path`, applies `overrides` ("key=value", value parsed as the key's declared type),
// checks every value. Relative paths in the file are resolved against the file's directory.
Result<Config> load_config(const std::string& path, const std::vector<std::string>& overrides = {});

// The same, from text; `name` is used in messages in place of a file name.
Result<Config> parse_config(const std::string& text, const std::string& name,
                            const std::vector<std::string>& overrides = {},
                            const std::string& base_dir = ".");

// The value of declared string key `path` in `config`, or nullptr for another key.
const std::string* config_string(const Config& config, std::string_view path);

// Keys whose values differ between two configs and that SIGHUP cannot apply.
std::vector<std::string> keys_needing_restart(const Config& before, const Config& after);

// The value of declared key `path` in `config`, written as TOML ("tcp://..." quoted, 30,
// true). For effective-config dumps: callers must mask keys whose spec is `secret`.
Result<std::string> config_value_text(const Config& config, std::string_view path);

// "FILE:LINE:COL: key 'a.b'" for a key set in the file, "--set a.b: key 'a.b'" for an override
// and "FILE: key 'a.b' (default)" for a built-in default: how a message about the key's value
// found after loading begins, e.g. one about a file the key names.
std::string key_context(const Config& config, std::string_view key);

// `error` as found through key `key`: key_context() + ": " + the message; the code is kept.
Error in_key(const Config& config, std::string_view key, const Error& error);

// The client id the gateway connects with: mqtt.client_id, or "yktgw-" + gateway.id when unset.
inline std::string effective_mqtt_client_id(const Config& config) {
  return config.mqtt.client_id.empty() ? "yktgw-" + config.gateway.id : config.mqtt.client_id;
}

}  // namespace yktgw
