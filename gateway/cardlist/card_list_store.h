#pragma once
// The card list: persisted in SQLite (cardlist.db), served from an in-memory index that is
// replaced whole, so a lookup never sees half an update.

#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>
#include <vector>

#include "gateway/core/result.h"
#include "gateway/crypto/card_tokenizer.h"
#include "gateway/interfaces/card_list.h"

namespace yktgw {

struct CardListEntry {
  std::string token;   // lower-case hex HMAC-SM3
  CardStatus status = CardStatus::active;
  std::string masked;  // for operators; may be empty
  bool operator==(const CardListEntry&) const = default;
};

struct CardListSnapshot {
  std::int64_t version = 0;
  std::int64_t updated_ms = 0;
  std::unordered_map<std::string, CardEntry> by_token;  // key: token hex
};

class MemoryCardList final : public CardList {
 public:
  std::optional<CardEntry> find(std::string_view token) const override;
  std::uint64_t size() const override;
  std::int64_t version() const override;
  std::int64_t updated_ms() const override;

  void replace(std::shared_ptr<const CardListSnapshot> snapshot);

 private:
  std::shared_ptr<const CardListSnapshot> current() const;
  mutable std::mutex mu_;  // guards the pointer only; readers copy it and read without a lock
  std::shared_ptr<const CardListSnapshot> snapshot_ = std::make_shared<CardListSnapshot>();
};

// The SQLite side of the card list.
class CardListDb {
 public:
  static const std::vector<std::string_view>& migrations();
  // Opens (creating and migrating) the database at `path`.
  static Result<CardListDb> open(const std::string& path);

  Result<std::shared_ptr<const CardListSnapshot>> load() const;

  struct ImportStats {
    std::uint64_t rows = 0;
    std::uint64_t upserted = 0;
    std::uint64_t rejected = 0;  // lines that could not be read; named in `first_errors`
    std::vector<std::string> first_errors;
    std::int64_t version = 0;
  };
  // Imports a CSV with the header `card_no,status` (status: active, lost, frozen, cancelled).
  // A `card_no` of the form `token:<64 hex>` is taken as an already-computed token. The whole
  // file is applied in one transaction and bumps the list version by one.
  Result<ImportStats> import_csv(const std::string& csv_path, const CardTokenizer& tokenizer,
                                 std::int64_t now_ms);

  struct Stats {
    std::int64_t version = 0;
    std::uint64_t total = 0;
    std::uint64_t by_status[4] = {0, 0, 0, 0};
  };
  Result<Stats> stats() const;

  CardListDb(CardListDb&&) noexcept;
  CardListDb& operator=(CardListDb&&) noexcept;
  ~CardListDb();

 private:
  struct Impl;
  explicit CardListDb(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace yktgw
