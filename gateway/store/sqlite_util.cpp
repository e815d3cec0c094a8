#include "gateway/store/sqlite_util.h"

#include <mutex>

namespace yktgw::sqlite {

namespace {

// SQLite keeps memory statistics behind a global mutex taken on every allocation; nothing here
// reads them. Must run before the library initializes, so before the first connection.
void configure_library_once() {
  static std::once_flag once;
  std::call_once(once, [] { (void)sqlite3_config(SQLITE_CONFIG_MEMSTATUS, 0); });
}

}  // namespace

Result<Database> Database::open(const std::string& path, bool create, bool read_only) {
  configure_library_once();
  sqlite3* raw = nullptr;
  int flags = read_only ? SQLITE_OPEN_READONLY : SQLITE_OPEN_READWRITE;
  if (create && !read_only) flags |= SQLITE_OPEN_CREATE;
  flags |= SQLITE_OPEN_NOMUTEX;  // each connection is used by one thread at a time
  int rc = sqlite3_open_v2(path.c_str(), &raw, flags, nullptr);
  Database db(raw);
  if (rc != SQLITE_OK) {
    return make_error("sqlite_open", "cannot open database '" + path +
                                         "': " + (raw ? sqlite3_errmsg(raw) : sqlite3_errstr(rc)));
  }
  sqlite3_extended_result_codes(raw, 1);
  sqlite3_busy_timeout(raw, 5000);
  return db;
}

Result<void> Database::exec(std::string_view sql) const {
  char* err = nullptr;
  std::string text(sql);
  if (sqlite3_exec(db_, text.c_str(), nullptr, nullptr, &err) != SQLITE_OK) {
    std::string msg = err ? err : last_error();
    sqlite3_free(err);
    return make_error("sqlite", msg);
  }
  return {};
}

Result<Statement> Database::prepare(std::string_view sql) const {
  sqlite3_stmt* s = nullptr;
  if (sqlite3_prepare_v3(db_, sql.data(), static_cast<int>(sql.size()), SQLITE_PREPARE_PERSISTENT,
                         &s, nullptr) != SQLITE_OK) {
    return make_error("sqlite", last_error());
  }
  return Statement(s);
}

Result<int> migrate(const Database& db, const std::vector<std::string_view>& migrations,
                    const std::string& name) {
  auto st = db.prepare("PRAGMA user_version");
  if (!st) return st.error();
  if (sqlite3_step(st->get()) != SQLITE_ROW) return make_error("sqlite", db.last_error());
  const int current = sqlite3_column_int(st->get(), 0);
  const int known = static_cast<int>(migrations.size());
  if (current > known) {
    return make_error("schema_too_new", name + " has schema version " + std::to_string(current) +
                                            "; this yktgw knows up to " + std::to_string(known) +
                                            " (was it written by a newer release?)");
  }
  for (int v = current; v < known; ++v) {
    std::string sql = "BEGIN IMMEDIATE;\n";
    sql += migrations[static_cast<std::size_t>(v)];
    sql += "\nPRAGMA user_version = " + std::to_string(v + 1) + ";\nCOMMIT;";
    if (auto r = db.exec(sql); !r) {
      (void)db.exec("ROLLBACK");
      return make_error("schema_migration", name + ": migration to version " +
                                                std::to_string(v + 1) +
                                                " failed: " + r.error().message);
    }
  }
  return known;
}

}  // namespace yktgw::sqlite
