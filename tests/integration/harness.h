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
#include <vector>

namespace yktgw::testing {

std::string source_dir();
std::string bin_dir();
// A fresh directory under the build tree for one test.
std::string make_temp_dir(const std::string& name);
int free_port();
void write_file(const std::string& path, const std::string& text, int mode = 0644);
std::string read_file(const std::string& path);

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
  ~Broker();
  int port() const { return port_; }
  std::string uri() const { return "tcp://127.0.0.1:" + std::to_string(port_); }
  void restart();
  void kill();

 private:
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
  // Waits until the log says the gateway is connected and subscribed.
  bool wait_connected(std::chrono::milliseconds timeout);
  std::string log() const { return read_file(files_.log); }

 private:
  GatewayFiles files_;
  Process proc_;
};

struct Received {
  std::string topic;
  std::string payload;
  std::string correlation_data;
  bool has_correlation = false;
};

// A terminal's MQTT client: subscribes, collects every message, publishes at QoS 1.
class TestClient {
 public:
  TestClient(const std::string& uri, const std::string& client_id,
             const std::vector<std::string>& subscriptions);
  ~TestClient();
  void publish(const std::string& topic, const std::string& payload, bool retained = false);
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
