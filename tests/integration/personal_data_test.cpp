// Personal data end to end: the simulator and a test terminal tap known card numbers through the
// real gateway to the real platform simulators (the district one over ZeroMQ, a cross-province
// one over HTTPS); afterwards every file the run produced (logs, SQLite files with their -wal
// and -shm, both platforms' stores, saved command answers, every status page and API answer)
// is searched for any full card or citizen number. None may appear: card numbers are only ever
// kept as HMAC-SM3 tokens and masked forms. And the HMAC key itself must live apart from the
// database and be readable by its owner only.

#include <gtest/gtest.h>
#include <httplib.h>
#include <sqlite3.h>
#include <sys/stat.h>
#include <zlib.h>

#include <algorithm>
#include <cctype>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <filesystem>
#include <map>
#include <set>
#include <sstream>
#include <thread>

#include "tests/integration/harness.h"

namespace yktgw::testing {
namespace {

using namespace std::chrono_literals;
namespace fs = std::filesystem;

const std::string kSite = "xiangkou";

// ---- the scan -------------------------------------------------------------------------------

struct Finding {
  std::string file;
  std::string where;  // "raw", or "table.column", "... (gzip)"
  std::string needle;
};

struct ScanReport {
  std::size_t files = 0;
  std::size_t bytes = 0;
  std::size_t sqlite_files = 0;
  std::size_t sqlite_values = 0;  // cells read through SQLite
  std::size_t inflated = 0;       // gzip/zlib values inflated and searched
  std::vector<Finding> findings;
};

std::string upper(std::string s) {
  for (char& c : s) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  return s;
}

// Inflates gzip or zlib data; empty when `data` is neither.
std::string inflate_any(const std::string& data) {
  if (data.size() < 2) return {};
  const auto b0 = static_cast<unsigned char>(data[0]), b1 = static_cast<unsigned char>(data[1]);
  const bool gzip = b0 == 0x1f && b1 == 0x8b;
  const bool zlib = b0 == 0x78 && (b0 * 256 + b1) % 31 == 0;
  if (!gzip && !zlib) return {};
  z_stream zs{};
  if (inflateInit2(&zs, 15 + 32) != Z_OK) return {};
  zs.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(data.data()));
  zs.avail_in = static_cast<uInt>(data.size());
  std::string out;
  char buf[65536];
  int rc = Z_OK;
  while (rc == Z_OK && out.size() < (256u << 20)) {
    zs.next_out = reinterpret_cast<Bytef*>(buf);
    zs.avail_out = sizeof buf;
    rc = inflate(&zs, Z_NO_FLUSH);
    out.append(buf, sizeof buf - zs.avail_out);
  }
  inflateEnd(&zs);
  return out;
}

class Scanner {
 public:
  // `numbers`: full card numbers. Each is looked for as it is, upper-cased, and without its last
  // character (a 17-digit prefix of a citizen number names the person just as well).
  explicit Scanner(const std::vector<std::string>& numbers) {
    for (const auto& n : numbers) {
      needles_.insert(upper(n));
      if (n.size() == 18) needles_.insert(upper(n.substr(0, 17)));
    }
  }

  ScanReport scan(const std::string& dir, const std::set<std::string>& skip) {
    ScanReport r;
    // Raw bytes first: opening a database through SQLite may fold its WAL into it.
    std::vector<std::string> databases;
    for (const auto& e : fs::recursive_directory_iterator(dir)) {
      if (!e.is_regular_file()) continue;
      const std::string path = e.path().string();
      if (skip.count(e.path().filename().string())) continue;
      const std::string bytes = read_file(path);
      ++r.files;
      r.bytes += bytes.size();
      search(upper(bytes), path, "raw", r);
      if (const std::string inflated = inflate_any(bytes); !inflated.empty()) {
        ++r.inflated;
        search(upper(inflated), path, "raw (inflated)", r);
      }
      if (bytes.rfind("SQLite format 3", 0) == 0) databases.push_back(path);
    }
    for (const auto& db : databases) scan_database(db, r);
    return r;
  }

 private:
  void search(const std::string& text, const std::string& file, const std::string& where,
              ScanReport& r) const {
    for (const auto& n : needles_) {
      if (text.find(n) != std::string::npos) r.findings.push_back({file, where, n});
    }
  }

  // Every value of every table, and the inflated form of every compressed blob. The stores keep
  // records as rows (the outbox keeps only sequence ranges; batches are gzip on the wire only),
  // but a future column holding a compressed body is searched too.
  void scan_database(const std::string& path, ScanReport& r) const {
    sqlite3* db = nullptr;
    if (sqlite3_open_v2(path.c_str(), &db, SQLITE_OPEN_READONLY, nullptr) != SQLITE_OK) {
      sqlite3_close(db);
      r.findings.push_back({path, "cannot open", ""});
      return;
    }
    sqlite3_busy_timeout(db, 5000);
    ++r.sqlite_files;
    std::vector<std::string> tables;
    sqlite3_stmt* st = nullptr;
    sqlite3_prepare_v2(db, "SELECT name FROM sqlite_master WHERE type = 'table'", -1, &st, nullptr);
    while (sqlite3_step(st) == SQLITE_ROW) {
      tables.emplace_back(reinterpret_cast<const char*>(sqlite3_column_text(st, 0)));
    }
    sqlite3_finalize(st);
    for (const auto& t : tables) {
      const std::string sql = "SELECT * FROM \"" + t + "\"";
      if (sqlite3_prepare_v2(db, sql.c_str(), -1, &st, nullptr) != SQLITE_OK) continue;
      const int cols = sqlite3_column_count(st);
      while (sqlite3_step(st) == SQLITE_ROW) {
        for (int c = 0; c < cols; ++c) {
          const auto* p = static_cast<const char*>(sqlite3_column_blob(st, c));
          const int len = sqlite3_column_bytes(st, c);
          if (p == nullptr || len <= 0) continue;
          ++r.sqlite_values;
          const std::string value(p, static_cast<std::size_t>(len));
          const std::string where = t + "." + sqlite3_column_name(st, c);
          search(upper(value), path, where, r);
          if (const std::string inflated = inflate_any(value); !inflated.empty()) {
            ++r.inflated;
            search(upper(inflated), path, where + " (inflated)", r);
          }
        }
      }
      sqlite3_finalize(st);
    }
    sqlite3_close(db);
  }

  std::set<std::string> needles_;
};

std::string describe(const std::vector<Finding>& f) {
  std::ostringstream out;
  for (std::size_t i = 0; i < f.size() && i < 20; ++i) {
    out << f[i].file << " [" << f[i].where << "] " << f[i].needle.substr(0, 6) << "...\n";
  }
  return out.str();
}

std::string gzip(const std::string& data) {
  z_stream zs{};
  deflateInit2(&zs, Z_DEFAULT_COMPRESSION, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY);
  std::string out(deflateBound(&zs, static_cast<uLong>(data.size())) + 32, '\0');
  zs.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(data.data()));
  zs.avail_in = static_cast<uInt>(data.size());
  zs.next_out = reinterpret_cast<Bytef*>(out.data());
  zs.avail_out = static_cast<uInt>(out.size());
  deflate(&zs, Z_FINISH);
  out.resize(zs.total_out);
  deflateEnd(&zs);
  return out;
}

// The scanner itself: a number planted in a log line, in a gzip blob inside SQLite and in a WAL
// must each be found, and clean files must give no finding.
TEST(PersonalDataScan, FindsPlantedNumbersAndNothingElse) {
  const std::string dir = make_temp_dir("pd-scanner");
  const std::string number = citizen_number("50015619851231007");
  const std::string other = citizen_number("51010420000229123");
  Scanner scanner({number, other});

  write_file(dir + "/clean.log", "card=500156********1007 token=ab12\n");
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open((dir + "/clean.db").c_str(), &db), SQLITE_OK);
  sqlite3_exec(db, "CREATE TABLE t(a TEXT, b BLOB)", nullptr, nullptr, nullptr);
  sqlite3_exec(db, "INSERT INTO t VALUES ('500156********1007', x'00ff')", nullptr, nullptr,
               nullptr);
  sqlite3_close(db);
  ScanReport clean = scanner.scan(dir, {});
  EXPECT_EQ(clean.files, 2u);
  EXPECT_EQ(clean.sqlite_files, 1u);
  EXPECT_GE(clean.sqlite_values, 2u);
  EXPECT_TRUE(clean.findings.empty()) << describe(clean.findings);

  // In a log line, lower-case check character.
  std::string lower = number;
  lower.back() = static_cast<char>(std::tolower(static_cast<unsigned char>(lower.back())));
  write_file(dir + "/app.log", "2026-11-29 tap card_no=" + lower + " ok\n");
  // Gzip-compressed inside a database row, and as plain text in a WAL-mode database that is
  // still open (so the row lives in the -wal file).
  sqlite3* wal = nullptr;
  ASSERT_EQ(sqlite3_open((dir + "/planted.db").c_str(), &wal), SQLITE_OK);
  sqlite3_exec(wal, "PRAGMA journal_mode=WAL; CREATE TABLE b(body BLOB, note TEXT)", nullptr,
               nullptr, nullptr);
  sqlite3_stmt* st = nullptr;
  sqlite3_prepare_v2(wal, "INSERT INTO b VALUES (?1, ?2)", -1, &st, nullptr);
  const std::string body = gzip("{\"card_no\":\"" + other + "\"}\n");
  sqlite3_bind_blob(st, 1, body.data(), static_cast<int>(body.size()), SQLITE_TRANSIENT);
  sqlite3_bind_text(st, 2, ("x" + other.substr(0, 17)).c_str(), -1, SQLITE_TRANSIENT);
  sqlite3_step(st);
  sqlite3_finalize(st);
  ScanReport planted = scanner.scan(dir, {});
  sqlite3_close(wal);

  std::set<std::string> where;
  for (const auto& f : planted.findings)
    where.insert(fs::path(f.file).filename().string() + " " + f.where);
  EXPECT_TRUE(where.count("app.log raw")) << describe(planted.findings);
  EXPECT_TRUE(where.count("planted.db-wal raw")) << describe(planted.findings);
  EXPECT_TRUE(where.count("planted.db b.body (inflated)")) << describe(planted.findings);
  EXPECT_TRUE(where.count("planted.db b.note")) << describe(planted.findings);
}

// ---- the run ----------------------------------------------------------------------------------

// Every status page (the HTML files the server embeds, and "/") and every API answer, saved as
// files of the run: once as the operator's browser shows it, once as sent with
// Content-Encoding: gzip (kept compressed, so the scan must inflate it). Returns how many
// answers came compressed.
int save_status_answers(int port, const std::string& out_dir) {
  fs::create_directories(out_dir);
  std::vector<std::string> paths{"/"};
  for (const auto& e : fs::directory_iterator(source_dir() + "/gateway/status/web")) {
    const std::string name = e.path().filename().string();
    if (name.ends_with(".html") && !name.starts_with("_")) paths.push_back("/" + name);
  }
  for (const char* api : {"/api/v1/status", "/api/v1/terminals", "/api/v1/outbox", "/api/v1/depth",
                          "/api/v1/series", "/metrics"}) {
    paths.emplace_back(api);
  }
  EXPECT_GE(paths.size(), 12u);  // "/", five pages, six answers
  httplib::Client plain("127.0.0.1", port);
  plain.set_read_timeout(30, 0);
  httplib::Client compressed("127.0.0.1", port);
  compressed.set_read_timeout(30, 0);
  compressed.set_decompress(false);
  int gzipped = 0;
  for (const auto& path : paths) {
    std::string name = path == "/" ? "root" : path.substr(1);
    std::replace(name.begin(), name.end(), '/', '-');
    auto r = plain.Get(path);
    EXPECT_TRUE(r && r->status == 200)
        << path << " -> " << (r ? std::to_string(r->status) : httplib::to_string(r.error()));
    if (r) {
      EXPECT_FALSE(r->body.empty()) << path;
      write_file(out_dir + "/" + name, r->body);
    }
    r = compressed.Get(path, {{"Accept-Encoding", "gzip"}});
    EXPECT_TRUE(r && r->status == 200)
        << path << " (gzip) -> " << (r ? std::to_string(r->status) : httplib::to_string(r.error()));
    if (r && r->get_header_value("Content-Encoding") == "gzip") {
      ++gzipped;
      write_file(out_dir + "/" + name + ".gz", r->body);
    }
  }
  return gzipped;
}

std::vector<std::string> card_numbers_of(const std::string& csv) {
  std::vector<std::string> out;
  std::istringstream in(read_file(csv));
  std::string line;
  std::getline(in, line);  // header
  while (std::getline(in, line)) out.push_back(line.substr(0, line.find(',')));
  return out;
}

TEST(PersonalData, NoFullCardNumberInAnythingTheRunLeftBehind) {
  const std::string dir = make_temp_dir("pd-run");
  fs::create_directories(dir + "/broker");
  fs::create_directories(dir + "/gw");
  Broker broker(dir + "/broker");
  GatewayFiles f = write_gateway_config(dir + "/gw", broker.uri(), kSite);
  DistrictPlatform platform(dir + "/platform", f.key_file);
  // The cross-province platform: a second platform simulator taking HTTPS batches (mTLS, the
  // development certificates) and storing them in its own database.
  const std::string certs = dir + "/certs";
  std::string out;
  ASSERT_EQ(
      run_command({"bash", source_dir() + "/deploy/make-dev-certs.sh", certs, "gw-test"}, &out), 0)
      << out;
  const int https_port = free_port();
  DistrictPlatform crossprov(
      dir + "/crossprov", f.key_file,
      {"--https", "127.0.0.1:" + std::to_string(https_port), "--tls-cert", certs + "/server.pem",
       "--tls-key", certs + "/server.key", "--tls-client-ca", certs + "/ca.pem"});
  ASSERT_TRUE(wait_port(https_port, 10s)) << read_file(dir + "/crossprov/platform.out");
  f = write_gateway_config(dir + "/gw", broker.uri(), kSite,
                           platform.gateway_toml() + "\n[https]\nurl = \"https://127.0.0.1:" +
                               std::to_string(https_port) + "\"\nca_file = \"" + certs +
                               "/ca.pem\"\nclient_cert_file = \"" + certs +
                               "/client.pem\"\nclient_key_file = \"" + certs + "/client.key\"\n");
  ASSERT_NE(f.status_port, 0);

  // Known cards: the simulator's population (on the card list), plus numbers of the other
  // accepted forms sent by a test terminal: a citizen number with a lower-case 'x' check
  // character and a 20-digit card serial.
  const std::string csv = dir + "/inputs-cards.csv";
  ASSERT_EQ(run_command({bin_dir() + "/yktgw-sim", "population", "--seed", "11", "--cards", "200",
                         "--out", csv},
                        &out),
            0)
      << out;
  std::vector<std::string> numbers = card_numbers_of(csv);
  ASSERT_GE(numbers.size(), 150u);
  std::string with_x;
  for (int i = 0; with_x.empty() && i < 1000; ++i) {
    char first17[18];
    std::snprintf(first17, sizeof first17, "50015619800101%03d", i);
    const std::string n = citizen_number(first17);
    if (n.back() == 'X') with_x = n.substr(0, 17) + "x";
  }
  ASSERT_FALSE(with_x.empty());
  const std::string serial = "50230000001234567890";
  // Cards of the cross-province issuers (Sichuan, Guizhou, Tibet): routed to the HTTPS platform.
  const std::vector<std::string> visitors{citizen_number("51010419850715123"),
                                          citizen_number("52010219900101456"),
                                          citizen_number("54010219750620789")};
  numbers.push_back(with_x);
  numbers.push_back(serial);
  numbers.insert(numbers.end(), visitors.begin(), visitors.end());
  ASSERT_EQ(
      run_command({bin_dir() + "/yktgw", "--config", f.config, "cardlist", "import", csv}, &out), 0)
      << out;

  std::size_t inflated_at_least = 0;
  {
    Gateway gw(f);
    ASSERT_TRUE(gw.wait_connected(10s)) << gw.log();
    // Terminal traffic: the simulator (auth requests and txn records, mostly known cards), and
    // a test terminal with the other forms, bad input that echoes fields back, and a QR-less
    // request for an unknown card.
    const std::string sim_out = dir + "/sim-summary.json";
    ASSERT_EQ(run_command({bin_dir() + "/yktgw-sim",
                           "run",
                           "--broker",
                           broker.uri(),
                           "--site",
                           kSite,
                           "--terminals",
                           "4",
                           "--rate",
                           "100",
                           "--duration",
                           "3",
                           "--seed",
                           "11",
                           "--cards",
                           "200",
                           "--txn-ratio",
                           "1",
                           "--drain-s",
                           "10"},
                          &out),
              0)
        << out;
    write_file(sim_out, out);
    TestClient t(broker.uri(), "ct-0001", {"ykt/v1/" + kSite + "/ct-0001/#"});
    std::vector<std::string> cards{with_x, serial, numbers[0]};
    cards.insert(cards.end(), visitors.begin(), visitors.end());
    int n = 0;
    for (const std::string& card : cards) {
      const std::string id = std::to_string(++n);
      t.publish("ykt/v1/" + kSite + "/ct-0001/auth/req", auth_req_json("ct-0001", "r" + id, card));
      t.publish("ykt/v1/" + kSite + "/ct-0001/txn", txn_json("ct-0001", "ct-0001:" + id, card));
      // Refused input: the wrong terminal, a bad amount, and broken JSON around the number.
      t.publish("ykt/v1/" + kSite + "/ct-0001/auth/req", auth_req_json("ct-0666", "m" + id, card));
      t.publish("ykt/v1/" + kSite + "/ct-0001/txn",
                txn_json("ct-0001", "ct-0001:b" + id, card, -5));
      t.publish("ykt/v1/" + kSite + "/ct-0001/auth/req", "{\"card_no\":\"" + card + "\"");
    }
    ASSERT_TRUE(t.wait_for(
                     [&](const Received& m) {
                       return m.payload.find("ct-0001:" + std::to_string(n) + "\"") !=
                              std::string::npos;
                     },
                     10s)
                    .has_value());
    // Everything forwarded before looking at the platform's side.
    const auto deadline = std::chrono::steady_clock::now() + 30s;
    long long sent_txns = 0;
    {
      const auto pos = out.rfind("\"txn_acked\":");
      if (pos != std::string::npos) sent_txns = std::stoll(out.substr(pos + 12));
    }
    ASSERT_GT(sent_txns, 100) << out;
    // Every record is copied to the district; the visitors' cards also cross the province line.
    const long long test_txns = static_cast<long long>(cards.size());
    const long long visitor_txns = static_cast<long long>(visitors.size());
    while ((platform.count().first < sent_txns + test_txns ||
            platform_count(crossprov.db(), "crossprov").unique < visitor_txns) &&
           std::chrono::steady_clock::now() < deadline) {
      std::this_thread::sleep_for(200ms);
    }
    EXPECT_GE(platform.count().first, sent_txns + test_txns);
    const long long at_crossprov = platform_count(crossprov.db(), "crossprov").unique;
    EXPECT_GE(at_crossprov, visitor_txns) << read_file(dir + "/crossprov/platform.out");
    // What the operator sees on the status pages and through the API.
    const int gzipped = save_status_answers(f.status_port, dir + "/status-answers");
    // What the operator sees: command answers saved as files of the run.
    for (const auto& cmd : std::vector<std::vector<std::string>>{
             {"outbox", "stats"}, {"cardlist", "stats"}, {"deadletter", "list"}}) {
      std::vector<std::string> argv{bin_dir() + "/yktgw", "--config", f.config};
      argv.insert(argv.end(), cmd.begin(), cmd.end());
      run_command(argv, &out);
      write_file(dir + "/answer-" + cmd[0] + "-" + cmd[1] + ".txt", out);
    }
    ASSERT_EQ(run_command({bin_dir() + "/ykt-platform-sim", "count", "--db", platform.db()}, &out),
              0);
    write_file(dir + "/answer-platform-count.txt", out);
    ASSERT_EQ(run_command({bin_dir() + "/ykt-platform-sim", "count", "--db", crossprov.db()}, &out),
              0);
    write_file(dir + "/answer-crossprov-count.txt", out);
    // Killed, not stopped: the -wal files stay as they are.
    gw.process().signal(SIGKILL);
    gw.process().wait(5s);
    platform.kill();
    crossprov.kill();
    std::printf(
        "personal data run: %lld records at the district, %lld at the cross-province "
        "platform, %d gzip status answers\n",
        platform.count().first, at_crossprov, gzipped);
    // The compressed answers reach the scan only through its inflate path.
    EXPECT_GT(gzipped, 0);
    inflated_at_least = static_cast<std::size_t>(gzipped);
  }

  Scanner scanner(numbers);
  ScanReport r = scanner.scan(dir, {"inputs-cards.csv"});
  std::set<std::string> kinds;
  for (const auto& e : fs::recursive_directory_iterator(dir)) {
    if (e.is_regular_file()) kinds.insert(e.path().extension().string());
  }
  std::printf(
      "personal data scan: %zu files, %zu bytes, %zu SQLite files, %zu values, %zu inflated, "
      "%zu findings\n",
      r.files, r.bytes, r.sqlite_files, r.sqlite_values, r.inflated, r.findings.size());
  // The scan read what it should have: logs, both sides' databases with their WAL files.
  EXPECT_TRUE(fs::exists(f.data_dir + "/records.db-wal"));
  EXPECT_TRUE(fs::exists(platform.db()));
  EXPECT_TRUE(fs::exists(crossprov.db()));
  EXPECT_GE(r.sqlite_files, 5u);  // records, outbox, cardlist (gateway), both platforms
  EXPECT_GT(r.sqlite_values, 1000u);
  // The gzip status answers were inflated and searched.
  EXPECT_GE(r.inflated, inflated_at_least);
  EXPECT_GT(r.inflated, 0u);
  EXPECT_GT(r.files, 25u);
  EXPECT_TRUE(kinds.count(".log") || kinds.count(".out")) << "no log file was scanned";
  EXPECT_TRUE(r.findings.empty()) << describe(r.findings);
  // And the inputs do hold the numbers, so the needles are real.
  EXPECT_FALSE(Scanner(numbers).scan(dir, {}).findings.empty());
}

// ---- the key ------------------------------------------------------------------------------------

TEST(PersonalData, RefusesAGroupReadableKeyFile) {
  const std::string dir = make_temp_dir("pd-keyperm");
  GatewayFiles files = write_gateway_config(dir, "tcp://127.0.0.1:1");
  chmod(files.key_file.c_str(), 0640);
  Gateway gw(files);
  auto code = gw.process().wait(5s);
  ASSERT_TRUE(code.has_value());
  EXPECT_NE(*code, 0);
  EXPECT_NE(gw.log().find("accessible to group or others; chmod 600"), std::string::npos)
      << gw.log();
}

TEST(PersonalData, RefusesAKeyFileInsideTheDataDirectory) {
  const std::string dir = make_temp_dir("pd-keyplace");
  GatewayFiles files = write_gateway_config(dir, "tcp://127.0.0.1:1");
  fs::create_directories(files.data_dir);
  const std::string inside = files.data_dir + "/hmac.key";
  fs::copy_file(files.key_file, inside);
  chmod(inside.c_str(), 0600);
  Gateway gw(files, {"--set", "security.hmac_key_file=" + inside});
  auto code = gw.process().wait(5s);
  ASSERT_TRUE(code.has_value());
  EXPECT_NE(*code, 0);
  EXPECT_NE(gw.log().find("is inside gateway.data_dir"), std::string::npos) << gw.log();
}

}  // namespace
}  // namespace yktgw::testing
