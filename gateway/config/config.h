#pragma once
// The gateway's configuration as typed values. Every key is declared once, with its type,
// default and description, in the schema table (config_schema.cpp); the loader refuses
// unknown keys, wrong types and bad values with file:line and the key path.

#include <cstdint>
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
  MqttTlsConfig tls;
};

struct StoreConfig {
  int commit_max_records = 2000;
  int commit_linger_ms = 1;
  int queue_capacity = 100000;
  std::string synchronous = "full";  // full | normal
};

struct SecurityConfig {
  std::string hmac_key_file;  // absolute after loading
};

struct LogConfig {
  std::string level = "info";  // trace | debug | info | warn | error | critical | off
  bool console = true;
  int file_max_bytes = 10 * 1024 * 1024;
  int file_count = 5;
  int warn_interval_ms = 10000;
};

struct Config {
  GatewayConfig gateway;
  MqttConfig mqtt;
  StoreConfig store;
  SecurityConfig security;
  LogConfig log;
  std::string source_file;  // the file it was loaded from; empty for defaults only
};

// One declared key of the schema.
enum class KeyType : std::uint8_t { string, integer, boolean };

// Checks a string key needs beyond its type; the schema names them so docs can list them.
enum class StringCheck : std::uint8_t {
  none,
  name,            // 1..64 of [A-Za-z0-9_.-]; ends up in MQTT topics and file names
  mqtt_uri,        // tcp|ssl|mqtt|mqtts://host[:port]
  mqtt_client_id,  // empty (derived) or free of MQTT wildcards and '/'
  path,            // non-empty; relative values resolve against the config file's directory
  optional_path,   // empty means unset; otherwise as `path`
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

// Keys whose values differ between two configs and that SIGHUP cannot apply.
std::vector<std::string> keys_needing_restart(const Config& before, const Config& after);

// The value of declared key `path` in `config`, written as TOML ("tcp://..." quoted, 30,
// true). For effective-config dumps: callers must mask keys whose spec is `secret`.
Result<std::string> config_value_text(const Config& config, std::string_view path);

// The client id the gateway connects with: mqtt.client_id, or "yktgw-" + gateway.id when unset.
inline std::string effective_mqtt_client_id(const Config& config) {
  return config.mqtt.client_id.empty() ? "yktgw-" + config.gateway.id : config.mqtt.client_id;
}

}  // namespace yktgw
