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
  return spec;
}

KeySpec required_text(std::string path, StringCheck check, std::string description) {
  KeySpec spec = key(std::move(path), KeyType::string, "", std::move(description), Reload::restart);
  spec.required = true;
  spec.check = check;
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
      text("gateway.data_dir", "/var/lib/yktgw", path,
           "Directory for the store and card list; relative to the config file's directory"),
      integer("gateway.workers", 2, 1, 64,
              "Worker threads for credential checks (SM2 verification runs here)"),
      integer("gateway.queue_capacity", 65'536, 16, 10'000'000,
              "Requests waiting for a worker before new ones are answered busy"),

      // mqtt
      text("mqtt.uri", "tcp://127.0.0.1:1883", mqtt_uri,
           "Broker address: tcp|ssl|mqtt|mqtts://host[:port]"),
      text("mqtt.client_id", "", mqtt_client_id,
           "MQTT client id; empty means \"yktgw-\" + gateway.id; no '+', '#' or '/'"),
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
      integer("mqtt.max_inflight", 65535, 1, 65'535, "QoS 1 messages sent but not yet acknowledged"),
      integer("mqtt.max_payload_bytes", 16'384, 256, 1'048'576,
              "Largest terminal message accepted; bigger ones are refused unread"),
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
