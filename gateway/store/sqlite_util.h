#pragma once
// Small RAII pieces over the SQLite C API, shared by the stores.

#include <sqlite3.h>

#include <string>
#include <string_view>
#include <vector>

#include "gateway/core/result.h"

namespace yktgw::sqlite {

struct DbCloser {
  void operator()(sqlite3* db) const { sqlite3_close_v2(db); }
};
struct StmtFinalizer {
  void operator()(sqlite3_stmt* s) const { sqlite3_finalize(s); }
};

class Statement {
 public:
  Statement() = default;
  explicit Statement(sqlite3_stmt* s) : s_(s) {}
  Statement(Statement&& o) noexcept : s_(o.s_) { o.s_ = nullptr; }
  Statement& operator=(Statement&& o) noexcept {
    std::swap(s_, o.s_);
    return *this;
  }
  Statement(const Statement&) = delete;
  Statement& operator=(const Statement&) = delete;
  ~Statement() { sqlite3_finalize(s_); }

  sqlite3_stmt* get() const { return s_; }
  void bind(int i, std::string_view v) const {
    sqlite3_bind_text(s_, i, v.data(), static_cast<int>(v.size()), SQLITE_TRANSIENT);
  }
  // No copy: `v` must stay alive and unchanged until the statement is stepped and reset.
  void bind_static(int i, std::string_view v) const {
    sqlite3_bind_text(s_, i, v.data(), static_cast<int>(v.size()), SQLITE_STATIC);
  }
  void bind(int i, std::int64_t v) const { sqlite3_bind_int64(s_, i, v); }
  void reset() const {
    sqlite3_reset(s_);
    sqlite3_clear_bindings(s_);
  }
  std::string column_text(int i) const {
    const auto* p = sqlite3_column_text(s_, i);
    return p ? std::string(reinterpret_cast<const char*>(p),
                           static_cast<std::size_t>(sqlite3_column_bytes(s_, i)))
             : std::string();
  }

 private:
  sqlite3_stmt* s_ = nullptr;
};

class Database {
 public:
  Database() = default;
  explicit Database(sqlite3* db) : db_(db) {}
  Database(Database&& o) noexcept : db_(o.db_) { o.db_ = nullptr; }
  Database& operator=(Database&& o) noexcept {
    std::swap(db_, o.db_);
    return *this;
  }
  Database(const Database&) = delete;
  Database& operator=(const Database&) = delete;
  ~Database() { sqlite3_close_v2(db_); }

  sqlite3* get() const { return db_; }

  // Opens (creating when `create`) with a busy timeout and extended error codes.
  static Result<Database> open(const std::string& path, bool create, bool read_only = false);

  Result<void> exec(std::string_view sql) const;
  Result<Statement> prepare(std::string_view sql) const;
  std::string last_error() const { return db_ ? sqlite3_errmsg(db_) : "no database"; }

 private:
  sqlite3* db_ = nullptr;
};

// A versioned schema: migration i (0-based) brings the schema from version i to i+1. The version
// is kept in PRAGMA user_version. A database newer than the code is refused.
Result<int> migrate(const Database& db, const std::vector<std::string_view>& migrations,
                    const std::string& name);

}  // namespace yktgw::sqlite
