#pragma once
// Real parts for integration tests: a Mosquitto broker on a free loopback port, the real yktgw
// binary with its own data directory, and MQTT clients (Paho) that speak the terminal protocol.

#include <sys/types.h>

#include <chrono>
#include <condition_variable>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

namespace yktgw::testing {

std::string source_dir();
std::string bin_dir();
// A fresh directory under the build tree for one test.
std::string make_temp_dir(const std::string& name);
int free_port();
void write_file(const std::string& path, const std::string& text, int mode = 0644);
std::string read_file(const std::string& path);
// Size of a file in bytes; 0 when it does not exist (yet).
long long file_size_or_zero(const std::string& path);
// How often `needle` occurs in `text` (overlapping occurrences counted).
std::size_t count_of(const std::string& text, const std::string& needle);
// The last `bytes` of `text`: enough of a log for a failure message.
std::string tail(const std::string& text, std::size_t bytes = 4000);

// Polls `pred` every `step` until it holds (true) or `timeout` has passed (false).
template <class Pred>
bool eventually(Pred pred, std::chrono::milliseconds timeout,
                std::chrono::milliseconds step = std::chrono::milliseconds(100)) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  for (;;) {
    if (pred()) return true;
    if (std::chrono::steady_clock::now() >= deadline) return false;
    std::this_thread::sleep_for(step);
  }
}

class Process {
 public:
  Process() = default;
  // Starts `argv`; stdout and stderr go to `log_path`.
  static Process spawn(const std::vector<std::string>& argv, const std::string& log_path);
  Process(Process&& o) noexcept;
  Process& operator=(Process&& o) noexcept;
  ~Process();

  pid_t pid() const { return pid_; }
  bool running();
  void signal(int sig) const;
  // Waits for exit; nullopt on timeout. The value is the exit code, or 128+signal.
  std::optional<int> wait(std::chrono::milliseconds timeout);
  // SIGTERM, then SIGKILL after `grace`.
  int stop(std::chrono::milliseconds grace = std::chrono::milliseconds(5000));

 private:
  pid_t pid_ = -1;
  int status_ = 0;
  bool reaped_ = false;
};

// Runs a command to completion; returns exit code and captures stdout+stderr.
int run_command(const std::vector<std::string>& argv, std::string* output = nullptr);

bool wait_port(int port, std::chrono::milliseconds timeout);

class Broker {
 public:
  // Starts mosquitto with set_tcp_nodelay and anonymous access on 127.0.0.1:<free port>.
  explicit Broker(const std::string& dir, const std::string& extra_conf = "");
  // Starts mosquitto with `conf` as it is, after a "listener <free port> 127.0.0.1" line.
  static std::unique_ptr<Broker> with_config(const std::string& dir, const std::string& conf);
  ~Broker();
  int port() const { return port_; }
  std::string uri() const { return "tcp://127.0.0.1:" + std::to_string(port_); }
  void restart();
  void kill();

 private:
  struct FullConfig {};
  Broker(const std::string& dir, const std::string& conf, FullConfig);
  void start();
  std::string dir_;
  std::string conf_;
  int port_;
  Process proc_;
};

struct GatewayFiles {
  std::string dir;
  std::string config;
  std::string data_dir;
  std::string key_file;
  std::string policies;
  std::string log;
  int status_port = 0;  // the status server's loopback port; 0 when the test set [status]
};

// Writes a config (and key file) for a gateway in `dir` talking to `broker_uri`.
GatewayFiles write_gateway_config(const std::string& dir, const std::string& broker_uri,
                                  const std::string& site = "xiangkou",
                                  const std::string& extra = "");

class Gateway {
 public:
  Gateway(GatewayFiles files, std::vector<std::string> extra_args = {});
  ~Gateway();
  Process& process() { return proc_; }
  const GatewayFiles& files() const { return files_; }
  // Waits until this process's part of the log says the gateway is connected and subscribed.
  // The log file is shared by every gateway started with the same files (it is appended to),
  // so an earlier instance's line does not count.
  bool wait_connected(std::chrono::milliseconds timeout);
  std::string log() const { return read_file(files_.log); }

 private:
  GatewayFiles files_;
  std::size_t log_start_ = 0;  // size of the log file when this process started
  Process proc_;
};

// ykt-platform-sim serving the district link (ZeroMQ + CURVE) on a port of its own, storing
// what it receives in `dir`/platform.db. Stays on the same port across stop()/start().
class DistrictPlatform {
 public:
  DistrictPlatform(const std::string& dir, const std::string& hmac_key_file,
                   std::vector<std::string> extra_args = {});
  ~DistrictPlatform();
  void start();
  void stop();
  void kill();
  bool running() { return proc_.running(); }
  std::string endpoint() const { return "tcp://127.0.0.1:" + std::to_string(port_); }
  const std::string& public_key() const { return public_key_; }
  std::string db() const { return dir_ + "/platform.db"; }
  // The TOML lines of a gateway's [district] section (with a client key made here) and
  // upstream settings that send every record to this platform.
  std::string gateway_toml() const;
  // (unique records, duplicate receptions) stored as the district from `gateway_id`, of `kind`
  // (every kind when empty); {-1, -1} when `ykt-platform-sim count` fails.
  std::pair<long long, long long> count(const std::string& gateway_id = "gw-test",
                                        const std::string& kind = "") const;

 private:
  std::string dir_, hmac_, public_key_, client_key_;
  std::vector<std::string> extra_;
  int port_;
  Process proc_;
};

// What a platform stored from one source gateway.
struct PlatformCount {
  long long unique = 0;
  long long duplicates = 0;  // receptions of a record it already had
};

// `ykt-platform-sim count --db db [--kind kind]` read back: platform ("district", "crossprov")
// -> its records from `gateway_id`, of `kind` (every kind when empty). nullopt when the command
// fails; `output`, when given, receives what it printed.
std::optional<std::map<std::string, PlatformCount>> platform_counts(
    const std::string& db, const std::string& gateway_id = "gw-test", const std::string& kind = "",
    std::string* output = nullptr);
// One platform's entry of that: {-1, -1} when the command fails.
PlatformCount platform_count(const std::string& db, const std::string& platform,
                             const std::string& gateway_id = "gw-test",
                             const std::string& kind = "");

// The first column of the first row `sql` gives, from the SQLite file `path` opened read-only
// (waiting up to 5 s for a lock); -1 when the file cannot be opened or the query gives no row.
long long sqlite_value(const std::string& path, const std::string& sql);

// `PRAGMA integrity_check` of every SQLite file directly in `dir`: file -> result ("ok").
std::map<std::string, std::string> integrity_of_databases(const std::string& dir);

struct Received {
  std::string topic;
  std::string payload;
  std::string correlation_data;
  bool has_correlation = false;
};

// A terminal's MQTT client: subscribes, collects every message, publishes at QoS 1.
struct ClientLogin {
  std::string username;
  std::string password;
};

class TestClient {
 public:
  TestClient(const std::string& uri, const std::string& client_id,
             const std::vector<std::string>& subscriptions);
  // With a broker login. Throws when the broker refuses the connection.
  TestClient(const std::string& uri, const std::string& client_id, const ClientLogin& login,
             const std::vector<std::string>& subscriptions);
  ~TestClient();
  void publish(const std::string& topic, const std::string& payload, bool retained = false);
  // Publishes at QoS 1 and waits for the PUBACK; false when the broker refused the message
  // (MQTT v5 reason code >= 0x80, e.g. "not authorized") or did not answer in time.
  bool publish_acked(const std::string& topic, const std::string& payload);
  // Subscribes at QoS 1; false when the broker refused the filter (SUBACK reason >= 0x80).
  bool subscribe(const std::string& filter);
  void publish_v5_request(const std::string& topic, const std::string& payload,
                          const std::string& response_topic, const std::string& correlation);
  // Waits for the first collected message matching `pred` and removes it from the inbox.
  std::optional<Received> wait_for(const std::function<bool(const Received&)>& pred,
                                   std::chrono::milliseconds timeout);
  std::vector<Received> drain();
  std::size_t received_count() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// Helpers for payloads.
std::string auth_req_json(const std::string& terminal, const std::string& req_id,
                          const std::string& card_no, long long amount_fen = 800,
                          const std::string& scenario = "canteen");
std::string txn_json(const std::string& terminal, const std::string& txn_id,
                     const std::string& card_no, long long amount_fen = 800);

// A valid 18-digit citizen number built from the first 17 digits.
std::string citizen_number(const std::string& first17);

}  // namespace yktgw::testing
