#include "tests/integration/harness.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <mqtt/async_client.h>
#include <netinet/in.h>
#include <signal.h>
#include <sqlite3.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <set>
#include <sstream>
#include <stdexcept>
#include <thread>

#include "connectors/mqtt/tcp_nodelay.h"
#include "tests/common/slowdown.h"

namespace yktgw::testing {

namespace fs = std::filesystem;

std::string source_dir() { return YKTGW_SOURCE_DIR; }
std::string bin_dir() { return YKTGW_BIN_DIR; }

std::string make_temp_dir(const std::string& name) {
  fs::path base = fs::path(YKTGW_BIN_DIR).parent_path() / "test-runs";
  fs::path dir = base / (name + "-" + std::to_string(getpid()));
  fs::remove_all(dir);
  fs::create_directories(dir);
  return dir.string();
}

namespace {

// A port the kernel has free right now; 0 when it cannot tell.
int probe_free_port() {
  int s = socket(AF_INET, SOCK_STREAM, 0);
  if (s < 0) return 0;
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  a.sin_port = 0;
  int port = 0;
  socklen_t len = sizeof(a);
  if (bind(s, reinterpret_cast<sockaddr*>(&a), sizeof(a)) == 0 &&
      getsockname(s, reinterpret_cast<sockaddr*>(&a), &len) == 0) {
    port = ntohs(a.sin_port);
  }
  close(s);
  return port;
}

}  // namespace

// The kernel may hand the same free port to two probes in a row when nothing has bound it in
// between (a test that asks for a platform's ZeroMQ and HTTPS ports before starting it), so a
// port is never handed out twice by this process.
int free_port() {
  static std::mutex mu;
  static std::set<int> handed_out;
  std::lock_guard lock(mu);
  for (int attempt = 0; attempt < 100; ++attempt) {
    const int port = probe_free_port();
    if (port != 0 && handed_out.insert(port).second) return port;
  }
  throw std::runtime_error("free_port: no port that was not handed out already");
}

void write_file(const std::string& path, const std::string& text, int mode) {
  {
    std::ofstream out(path, std::ios::trunc);
    out << text;
  }
  chmod(path.c_str(), static_cast<mode_t>(mode));
}

std::string read_file(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

long long file_size_or_zero(const std::string& path) {
  std::error_code ec;
  const auto n = fs::file_size(path, ec);
  return ec ? 0 : static_cast<long long>(n);
}

std::size_t count_of(const std::string& text, const std::string& needle) {
  std::size_t n = 0;
  for (auto p = text.find(needle); p != std::string::npos; p = text.find(needle, p + 1)) ++n;
  return n;
}

std::string tail(const std::string& text, std::size_t bytes) {
  return text.size() <= bytes ? text : text.substr(text.size() - bytes);
}

Process Process::spawn(const std::vector<std::string>& argv, const std::string& log_path) {
  Process p;
  pid_t pid = fork();
  if (pid == 0) {
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, nullptr);
    int fd = open(log_path.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
    if (fd >= 0) {
      dup2(fd, 1);
      dup2(fd, 2);
      close(fd);
    }
    std::vector<char*> args;
    for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
    args.push_back(nullptr);
    execvp(args[0], args.data());
    _exit(127);
  }
  p.pid_ = pid;
  return p;
}

Process::Process(Process&& o) noexcept : pid_(o.pid_), status_(o.status_), reaped_(o.reaped_) {
  o.pid_ = -1;
}

Process& Process::operator=(Process&& o) noexcept {
  if (this != &o) {
    if (pid_ > 0 && !reaped_) stop();
    pid_ = o.pid_;
    status_ = o.status_;
    reaped_ = o.reaped_;
    o.pid_ = -1;
  }
  return *this;
}

Process::~Process() {
  if (pid_ > 0 && !reaped_) stop(std::chrono::milliseconds(3000));
}

bool Process::running() {
  if (pid_ <= 0 || reaped_) return false;
  int st = 0;
  pid_t r = waitpid(pid_, &st, WNOHANG);
  if (r == pid_) {
    status_ = st;
    reaped_ = true;
    return false;
  }
  return true;
}

void Process::signal(int sig) const {
  if (pid_ > 0 && !reaped_) ::kill(pid_, sig);
}

std::optional<int> Process::wait(std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (running()) {
    if (std::chrono::steady_clock::now() > deadline) return std::nullopt;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  if (pid_ <= 0) return -1;
  if (WIFEXITED(status_)) return WEXITSTATUS(status_);
  if (WIFSIGNALED(status_)) return 128 + WTERMSIG(status_);
  return -1;
}

int Process::stop(std::chrono::milliseconds grace) {
  if (pid_ <= 0) return -1;
  signal(SIGTERM);
  auto code = wait(grace);
  if (!code) {
    signal(SIGKILL);
    code = wait(std::chrono::milliseconds(5000));
  }
  return code.value_or(-1);
}

int run_command(const std::vector<std::string>& argv, std::string* output) {
  // The output is captured in the build's test-runs/commands/ and kept there when the command
  // failed or a sanitizer spoke: tests/sanitizers.sh searches test-runs for reports, and many
  // tests expect a command to fail, so its exit code alone would not tell.
  static std::atomic<unsigned> counter{0};
  const fs::path dir = fs::path(YKTGW_BIN_DIR).parent_path() / "test-runs" / "commands";
  fs::create_directories(dir);
  const std::string log = dir / ("cmd-" + std::to_string(getpid()) + "-" +
                                 std::to_string(counter.fetch_add(1)) + ".log");
  fs::remove(log);
  Process p = Process::spawn(argv, log);
  // "Did not hang": a sanitizer build runs everything several times slower.
  auto code = p.wait(widened(std::chrono::milliseconds(60'000))).value_or(-1);
  const std::string text = read_file(log);
  if (output) *output = text;
  const bool sanitizer_spoke = text.find("Sanitizer") != std::string::npos ||
                               text.find("runtime error:") != std::string::npos;
  if (code == 0 && !sanitizer_spoke) {
    fs::remove(log);
  } else {
    std::ofstream note(log, std::ios::app);
    note << "\n[run_command] exit " << code << ":";
    for (const auto& a : argv) note << ' ' << a;
    note << '\n';
  }
  return code;
}

bool wait_port(int port, std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    int s = socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    a.sin_port = htons(static_cast<uint16_t>(port));
    bool ok = connect(s, reinterpret_cast<sockaddr*>(&a), sizeof(a)) == 0;
    close(s);
    if (ok) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return false;
}

Broker::Broker(const std::string& dir, const std::string& extra_conf)
    : dir_(dir), port_(free_port()) {
  conf_ = dir_ + "/mosquitto.conf";
  write_file(conf_, "listener " + std::to_string(port_) +
                        " 127.0.0.1\n"
                        "allow_anonymous true\n"
                        "set_tcp_nodelay true\n"
                        "persistence false\n"
                        "max_queued_messages 100000\n"
                        "max_inflight_messages 0\n" +
                        extra_conf);
  start();
}

Broker::Broker(const std::string& dir, const std::string& conf, FullConfig)
    : dir_(dir), port_(free_port()) {
  conf_ = dir_ + "/mosquitto.conf";
  write_file(conf_, "listener " + std::to_string(port_) + " 127.0.0.1\n" + conf);
  start();
}

std::unique_ptr<Broker> Broker::with_config(const std::string& dir, const std::string& conf) {
  return std::unique_ptr<Broker>(new Broker(dir, conf, FullConfig{}));
}

void Broker::start() {
  proc_ = Process::spawn({"mosquitto", "-c", conf_}, dir_ + "/mosquitto.log");
  if (!wait_port(port_, std::chrono::seconds(10)))
    throw std::runtime_error("mosquitto did not start");
}

Broker::~Broker() { proc_.stop(std::chrono::milliseconds(2000)); }

void Broker::restart() {
  proc_.stop(std::chrono::milliseconds(2000));
  start();
}

void Broker::kill() {
  proc_.signal(SIGKILL);
  proc_.wait(std::chrono::seconds(5));
}

GatewayFiles write_gateway_config(const std::string& dir, const std::string& broker_uri,
                                  const std::string& site, const std::string& extra) {
  GatewayFiles f;
  f.dir = dir;
  f.config = dir + "/yktgw.toml";
  f.data_dir = dir + "/data";
  f.key_file = dir + "/hmac.key";
  f.log = dir + "/gateway.out";
  write_file(f.key_file, "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff\n",
             0600);
  // Every terminal is a canteen without discounts or meal caps unless a test writes its own
  // policies: these tests are about the transport, the store and the protocol.
  f.policies = dir + "/policies.toml";
  // Each gateway gets its own status port so tests can run side by side; a test that sets
  // [status] itself keeps its own.
  std::string status;
  if (extra.find("[status]") == std::string::npos) {
    f.status_port = free_port();
    status = "\n[status]\nlisten = \"127.0.0.1:" + std::to_string(f.status_port) + "\"\n";
  }
  write_file(f.policies,
             "version = 1\n[scenario.canteen]\nkind = \"canteen\"\nservice_item = 16\n"
             "daily_meal_cap = 0\n\n[[terminal]]\nmatch = \"*\"\nscenario = \"canteen\"\n");
  write_file(f.config, "[gateway]\nid = \"gw-test\"\nsite = \"" + site + "\"\ndata_dir = \"" +
                           f.data_dir + "\"\n\n[mqtt]\nuri = \"" + broker_uri +
                           "\"\nreconnect_min_ms = 50\nreconnect_max_ms = 1000\n\n"
                           "[security]\nhmac_key_file = \"" +
                           f.key_file + "\"\n\n[policy]\nfile = \"" + f.policies +
                           "\"\nservice_items_file = \"" + source_dir() +
                           "/config/service-items.toml\"\n\n[log]\nlevel = \"info\"\n" + extra +
                           status);
  return f;
}

Gateway::Gateway(GatewayFiles files, std::vector<std::string> extra_args)
    : files_(std::move(files)) {
  std::vector<std::string> argv{bin_dir() + "/yktgw", "--config", files_.config};
  argv.insert(argv.end(), extra_args.begin(), extra_args.end());
  log_start_ = static_cast<std::size_t>(file_size_or_zero(files_.log));
  proc_ = Process::spawn(argv, files_.log);
}

Gateway::~Gateway() { proc_.stop(); }

bool Gateway::wait_connected(std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    if (log().find("mqtt connected", log_start_) != std::string::npos) return true;
    if (!proc_.running()) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return false;
}

DistrictPlatform::DistrictPlatform(const std::string& dir, const std::string& hmac_key_file,
                                   std::vector<std::string> extra_args)
    : dir_(dir), hmac_(hmac_key_file), extra_(std::move(extra_args)), port_(free_port()) {
  fs::create_directories(dir_);
  std::string out;
  if (run_command(
          {bin_dir() + "/ykt-platform-sim", "keygen", "--out", dir_ + "/server.key", "--force"},
          &out) != 0) {
    throw std::runtime_error("ykt-platform-sim keygen: " + out);
  }
  public_key_ = out.substr(0, out.find('\n'));
  client_key_ = dir_ + "/client.key";
  if (run_command({bin_dir() + "/yktgw", "keygen", "curve", "--out", client_key_}, &out) != 0) {
    throw std::runtime_error("yktgw keygen curve: " + out);
  }
  start();
}

DistrictPlatform::~DistrictPlatform() { proc_.stop(); }

void DistrictPlatform::start() {
  std::vector<std::string> argv{bin_dir() + "/ykt-platform-sim",
                                "serve",
                                "--zmq",
                                endpoint(),
                                "--server-key-file",
                                dir_ + "/server.key",
                                "--hmac-key-file",
                                hmac_,
                                "--http",
                                "off",
                                "--db",
                                db()};
  argv.insert(argv.end(), extra_.begin(), extra_.end());
  proc_ = Process::spawn(argv, dir_ + "/platform.out");
  if (!wait_port(port_, std::chrono::seconds(10)))
    throw std::runtime_error("platform did not start");
}

void DistrictPlatform::stop() { proc_.stop(std::chrono::milliseconds(10'000)); }

void DistrictPlatform::kill() {
  proc_.signal(SIGKILL);
  proc_.wait(std::chrono::seconds(5));
}

std::string DistrictPlatform::gateway_toml() const {
  return "\n[district]\nendpoint = \"" + endpoint() + "\"\nserver_public_key = \"" + public_key_ +
         "\"\nclient_key_file = \"" + client_key_ +
         "\"\nheartbeat_interval_ms = 200\nheartbeat_timeout_ms = 1000\n"
         "\n[upstream]\ncopy_all_to_district = true\nbatch_linger_ms = 50\n"
         "retry_min_ms = 100\nretry_max_ms = 1000\n";
}

std::pair<long long, long long> DistrictPlatform::count(const std::string& gateway_id,
                                                        const std::string& kind) const {
  const PlatformCount c = platform_count(db(), "district", gateway_id, kind);
  return {c.unique, c.duplicates};
}

std::optional<std::map<std::string, PlatformCount>> platform_counts(const std::string& db,
                                                                    const std::string& gateway_id,
                                                                    const std::string& kind,
                                                                    std::string* output) {
  std::vector<std::string> argv{bin_dir() + "/ykt-platform-sim", "count", "--db", db};
  if (!kind.empty()) argv.insert(argv.end(), {"--kind", kind});
  std::string out;
  const int rc = run_command(argv, &out);
  if (output != nullptr) *output = out;
  if (rc != 0) return std::nullopt;
  std::map<std::string, PlatformCount> counts;
  std::istringstream in(out);
  std::string line;
  std::getline(in, line);  // header
  while (std::getline(in, line)) {
    std::istringstream f(line);
    std::string platform, gateway;
    long long u = 0, d = 0;
    if (f >> platform >> gateway >> u >> d && gateway == gateway_id) {
      counts[platform].unique += u;
      counts[platform].duplicates += d;
    }
  }
  return counts;
}

PlatformCount platform_count(const std::string& db, const std::string& platform,
                             const std::string& gateway_id, const std::string& kind) {
  const auto counts = platform_counts(db, gateway_id, kind);
  if (!counts) return {-1, -1};
  const auto it = counts->find(platform);
  return it == counts->end() ? PlatformCount{} : it->second;
}

long long sqlite_value(const std::string& path, const std::string& sql) {
  sqlite3* db = nullptr;
  long long v = -1;
  if (sqlite3_open_v2(path.c_str(), &db, SQLITE_OPEN_READONLY, nullptr) == SQLITE_OK) {
    sqlite3_busy_timeout(db, 5000);
    sqlite3_stmt* st = nullptr;
    if (sqlite3_prepare_v2(db, sql.c_str(), -1, &st, nullptr) == SQLITE_OK &&
        sqlite3_step(st) == SQLITE_ROW) {
      v = sqlite3_column_int64(st, 0);
    }
    sqlite3_finalize(st);
  }
  sqlite3_close(db);
  return v;
}

std::map<std::string, std::string> integrity_of_databases(const std::string& dir) {
  std::map<std::string, std::string> out;
  for (const auto& e : fs::directory_iterator(dir)) {
    const std::string path = e.path().string();
    if (!e.is_regular_file() || !path.ends_with(".db")) continue;
    sqlite3* db = nullptr;
    std::string result = "cannot open";
    if (sqlite3_open_v2(path.c_str(), &db, SQLITE_OPEN_READONLY, nullptr) == SQLITE_OK) {
      sqlite3_busy_timeout(db, 10'000);
      sqlite3_stmt* st = nullptr;
      if (sqlite3_prepare_v2(db, "PRAGMA integrity_check", -1, &st, nullptr) == SQLITE_OK) {
        result.clear();
        while (sqlite3_step(st) == SQLITE_ROW) {
          if (!result.empty()) result += "; ";
          result += reinterpret_cast<const char*>(sqlite3_column_text(st, 0));
        }
      }
      sqlite3_finalize(st);
    }
    sqlite3_close(db);
    out[e.path().filename().string()] = result;
  }
  return out;
}

struct TestClient::Impl {
  std::string uri;
  std::unique_ptr<::mqtt::async_client> cli;
  mutable std::mutex mu;
  std::condition_variable cv;
  std::deque<Received> inbox;
  std::size_t total = 0;
};

TestClient::TestClient(const std::string& uri, const std::string& client_id,
                       const std::vector<std::string>& subscriptions)
    : TestClient(uri, client_id, ClientLogin{}, subscriptions) {}

TestClient::TestClient(const std::string& uri, const std::string& client_id,
                       const ClientLogin& login, const std::vector<std::string>& subscriptions)
    : impl_(std::make_unique<Impl>()) {
  auto& d = *impl_;
  d.uri = uri;
  d.cli = std::make_unique<::mqtt::async_client>(
      uri, client_id, ::mqtt::create_options(MQTTVERSION_5, 1000000),
      static_cast<::mqtt::iclient_persistence*>(nullptr));
  d.cli->set_message_callback([&d](::mqtt::const_message_ptr m) {
    Received r;
    r.topic = m->get_topic();
    r.payload = m->to_string();
    const auto& props = m->get_properties();
    if (props.contains(::mqtt::property::CORRELATION_DATA)) {
      r.correlation_data = ::mqtt::get<std::string>(props, ::mqtt::property::CORRELATION_DATA);
      r.has_correlation = true;
    }
    {
      std::lock_guard lock(d.mu);
      d.inbox.push_back(std::move(r));
      ++d.total;
    }
    d.cv.notify_all();
  });
  auto builder = ::mqtt::connect_options_builder().mqtt_version(MQTTVERSION_5).clean_start(true);
  if (!login.username.empty()) builder.user_name(login.username);
  if (!login.password.empty()) builder.password(login.password);
  d.cli->connect(builder.finalize())->wait();
  yktgw::mqtt::set_tcp_nodelay_to_broker(uri);
  if (!subscriptions.empty()) {
    std::vector<int> qos(subscriptions.size(), 1);
    d.cli->subscribe(::mqtt::string_collection::create(subscriptions), qos)->wait();
  }
}

TestClient::~TestClient() {
  try {
    impl_->cli->disconnect()->wait_for(std::chrono::seconds(2));
  } catch (...) {
  }
}

void TestClient::publish(const std::string& topic, const std::string& payload, bool retained) {
  impl_->cli->publish(::mqtt::message::create(topic, payload, 1, retained));
}

bool TestClient::publish_acked(const std::string& topic, const std::string& payload) {
  try {
    auto tok = impl_->cli->publish(::mqtt::message::create(topic, payload, 1, false));
    if (!tok->wait_for(std::chrono::seconds(5))) return false;
    return tok->get_reason_code() < 0x80;
  } catch (const ::mqtt::exception&) {
    return false;
  }
}

bool TestClient::subscribe(const std::string& filter) {
  try {
    auto tok = impl_->cli->subscribe(filter, 1);
    if (!tok->wait_for(std::chrono::seconds(5))) return false;
    auto rsp = tok->get_subscribe_response();
    const auto codes = rsp.get_reason_codes();
    return !codes.empty() && codes[0] < 0x80;
  } catch (const ::mqtt::exception&) {
    return false;
  }
}

void TestClient::publish_v5_request(const std::string& topic, const std::string& payload,
                                    const std::string& response_topic,
                                    const std::string& correlation) {
  auto m = ::mqtt::message::create(topic, payload, 1, false);
  ::mqtt::properties props;
  props.add(::mqtt::property(::mqtt::property::RESPONSE_TOPIC, response_topic));
  props.add(::mqtt::property(::mqtt::property::CORRELATION_DATA, correlation));
  m->set_properties(props);
  impl_->cli->publish(m);
}

std::optional<Received> TestClient::wait_for(const std::function<bool(const Received&)>& pred,
                                             std::chrono::milliseconds timeout) {
  auto& d = *impl_;
  std::unique_lock lock(d.mu);
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  for (;;) {
    for (auto it = d.inbox.begin(); it != d.inbox.end(); ++it) {
      if (pred(*it)) {
        Received r = std::move(*it);
        d.inbox.erase(it);
        return r;
      }
    }
    if (d.cv.wait_until(lock, deadline) == std::cv_status::timeout) {
      for (auto it = d.inbox.begin(); it != d.inbox.end(); ++it) {
        if (pred(*it)) {
          Received r = std::move(*it);
          d.inbox.erase(it);
          return r;
        }
      }
      return std::nullopt;
    }
  }
}

std::vector<Received> TestClient::drain() {
  std::lock_guard lock(impl_->mu);
  std::vector<Received> out(impl_->inbox.begin(), impl_->inbox.end());
  impl_->inbox.clear();
  return out;
}

std::size_t TestClient::received_count() const {
  std::lock_guard lock(impl_->mu);
  return impl_->total;
}

std::string auth_req_json(const std::string& terminal, const std::string& req_id,
                          const std::string& card_no, long long amount_fen,
                          const std::string& scenario) {
  return R"({"v":1,"req_id":")" + req_id + R"(","terminal":")" + terminal + R"(","scenario":")" +
         scenario + R"(","ts":1764379200000,"credential":{"type":"card","card_no":")" + card_no +
         R"("},"amount_fen":)" + std::to_string(amount_fen) + "}";
}

std::string txn_json(const std::string& terminal, const std::string& txn_id,
                     const std::string& card_no, long long amount_fen) {
  return R"({"v":1,"txn_id":")" + txn_id + R"(","req_id":"r-)" + txn_id + R"(","terminal":")" +
         terminal +
         R"(","scenario":"canteen","ts":1764379200000,"credential":{"type":"card","card_no":")" +
         card_no + R"("},"amount_fen":)" + std::to_string(amount_fen) + R"(,"result":"approved"})";
}

std::string citizen_number(const std::string& first17) {
  static const int kWeights[17] = {7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2};
  static const char kMap[] = "10X98765432";
  int sum = 0;
  for (int i = 0; i < 17; ++i) sum += (first17[static_cast<std::size_t>(i)] - '0') * kWeights[i];
  return first17 + kMap[sum % 11];
}

}  // namespace yktgw::testing
