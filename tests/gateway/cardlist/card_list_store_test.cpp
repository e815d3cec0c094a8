#include "gateway/cardlist/card_list_store.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <atomic>
#include <filesystem>
#include <fstream>
#include <string>

#include "gateway/store/sqlite_util.h"

namespace yktgw {
namespace {

namespace fs = std::filesystem;
using ::testing::HasSubstr;
using ::testing::StartsWith;

class TempDir {
 public:
  TempDir() {
    static std::atomic<int> counter{0};
    path_ = fs::temp_directory_path() /
            ("yktgw-cardlist-" + std::to_string(::getpid()) + "-" + std::to_string(counter++));
    fs::remove_all(path_);
    fs::create_directories(path_);
  }
  ~TempDir() {
    std::error_code ec;
    fs::remove_all(path_, ec);
  }
  std::string file(const std::string& name) const { return (path_ / name).string(); }
  std::string write(const std::string& name, const std::string& text) const {
    std::ofstream out(path_ / name, std::ios::binary);
    out << text;
    return file(name);
  }

 private:
  fs::path path_;
};

CardTokenizer tokenizer() {
  auto t = CardTokenizer::create("0123456789abcdef");
  EXPECT_TRUE(t.ok());
  return std::move(t).value();
}

class CardListDbTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto db = CardListDb::open(dir_.file("cardlist.db"));
    ASSERT_TRUE(db.ok()) << db.error().message;
    db_.emplace(std::move(db.value()));
  }

  CardListDb::ImportStats import(const std::string& csv, std::int64_t now_ms = 1000) {
    auto r = db_->import_csv(dir_.write("list.csv", csv), tok_, now_ms);
    EXPECT_TRUE(r.ok()) << (r.ok() ? "" : r.error().message);
    return r.ok() ? r.value() : CardListDb::ImportStats{};
  }

  std::shared_ptr<const CardListSnapshot> load() {
    auto s = db_->load();
    EXPECT_TRUE(s.ok());
    return s.ok() ? s.value() : std::make_shared<CardListSnapshot>();
  }

  std::optional<CardStatus> status_of(const CardListSnapshot& snap, const std::string& token) {
    auto it = snap.by_token.find(token);
    if (it == snap.by_token.end()) return std::nullopt;
    return it->second.status;
  }

  TempDir dir_;
  CardTokenizer tok_ = tokenizer();
  std::optional<CardListDb> db_;
};

const std::string kToken = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

TEST_F(CardListDbTest, ImportsAllFourStatusesWithHeaderCommentsAndBlankLines) {
  const std::string csv =
      "card_no,status\n"
      "# exported 2024-06-11\n"
      "\n"
      "500156199001011234,active\n"
      "  11010519491231002X , lost \r\n"
      "12345678,frozen\n"
      "   \n";
  auto st = import(csv + "token:" + kToken + ",cancelled\n");
  EXPECT_EQ(st.rows, 4u);
  EXPECT_EQ(st.upserted, 4u);
  EXPECT_EQ(st.rejected, 0u);
  EXPECT_TRUE(st.first_errors.empty());
  EXPECT_EQ(st.version, 1);

  auto snap = load();
  EXPECT_EQ(snap->version, 1);
  EXPECT_EQ(snap->by_token.size(), 4u);
  EXPECT_EQ(status_of(*snap, tok_.token("500156199001011234")), CardStatus::active);
  EXPECT_EQ(status_of(*snap, tok_.token("11010519491231002X")), CardStatus::lost);
  EXPECT_EQ(status_of(*snap, tok_.token("12345678")), CardStatus::frozen);
  EXPECT_EQ(status_of(*snap, kToken), CardStatus::cancelled);
}

TEST_F(CardListDbTest, StoresOnlyTokensAndMaskedNumbers) {
  import("card_no,status\n500156199001011234,active\n");
  auto db = sqlite::Database::open(dir_.file("cardlist.db"), false, true);
  ASSERT_TRUE(db.ok());
  auto st = db->prepare("SELECT token, masked, updated_ms FROM card");
  ASSERT_TRUE(st.ok());
  ASSERT_EQ(sqlite3_step(st->get()), SQLITE_ROW);
  EXPECT_EQ(st->column_text(0), tok_.token("500156199001011234"));
  EXPECT_EQ(st->column_text(1), "500156********1234");
  EXPECT_EQ(sqlite3_column_int64(st->get(), 2), 1000);
  // Neither the database nor its WAL holds the full number.
  for (const char* suffix : {"", "-wal"}) {
    std::ifstream in(dir_.file(std::string("cardlist.db") + suffix), std::ios::binary);
    std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    EXPECT_EQ(bytes.find("500156199001011234"), std::string::npos) << suffix;
  }
}

TEST_F(CardListDbTest, RejectsBadRowsWithFileAndLine) {
  const std::string upper_token =
      "token:ABCDEF0123456789abcdef0123456789abcdef0123456789abcdef0123456789,lost\n";
  const std::string csv =
      "card_no,status\n"                            // line 1
      "500156199001011234,active\n"                 // 2
      "no comma here\n"                             // 3
      "500156199001011235,stolen\n" +               // 4
      upper_token +                                 // 5
      "token:abc,lost\n"                            // 6
      "123456789012345678901234567890123,active\n"  // 7: 33 characters
      ",active\n"                                   // 8
      "12345678901234567890,frozen\n";              // 9: a 20-digit serial is fine
  auto st = import(csv);
  EXPECT_EQ(st.rows, 8u);
  EXPECT_EQ(st.upserted, 2u);
  EXPECT_EQ(st.rejected, 6u);
  ASSERT_EQ(st.first_errors.size(), 6u);
  const std::string f = dir_.file("list.csv");
  EXPECT_THAT(st.first_errors[0], StartsWith(f + ":3: "));
  EXPECT_THAT(st.first_errors[0], HasSubstr("card_no,status"));
  EXPECT_THAT(st.first_errors[1], StartsWith(f + ":4: "));
  EXPECT_THAT(st.first_errors[1], HasSubstr("status must be"));
  EXPECT_THAT(st.first_errors[2], StartsWith(f + ":5: "));
  EXPECT_THAT(st.first_errors[2], HasSubstr("64 lower-case hex"));
  EXPECT_THAT(st.first_errors[3], StartsWith(f + ":6: "));
  EXPECT_THAT(st.first_errors[4], StartsWith(f + ":7: "));
  EXPECT_THAT(st.first_errors[4], HasSubstr("18-character citizen number"));
  EXPECT_THAT(st.first_errors[5], StartsWith(f + ":8: "));
  // Rejected lines never reach the list; the good ones do.
  auto snap = load();
  EXPECT_EQ(snap->by_token.size(), 2u);
  EXPECT_EQ(status_of(*snap, tok_.token("12345678901234567890")), CardStatus::frozen);
}

TEST_F(CardListDbTest, KeepsOnlyTheFirstTenErrors) {
  std::string csv = "card_no,status\n";
  for (int i = 0; i < 15; ++i) csv += "1234567" + std::to_string(i) + ",bogus\n";
  auto st = import(csv);
  EXPECT_EQ(st.rejected, 15u);
  ASSERT_EQ(st.first_errors.size(), 10u);
  EXPECT_THAT(st.first_errors.back(), StartsWith(dir_.file("list.csv") + ":11: "));
}

TEST_F(CardListDbTest, EachImportBumpsTheVersionByOne) {
  EXPECT_EQ(import("card_no,status\n12345678,active\n").version, 1);
  EXPECT_EQ(import("card_no,status\n").version, 2);   // even an import without rows
  EXPECT_EQ(import("12345679,active\n").version, 3);  // the header is optional
  EXPECT_EQ(load()->version, 3);
  auto s = db_->stats();
  ASSERT_TRUE(s.ok());
  EXPECT_EQ(s->version, 3);
  EXPECT_EQ(s->total, 2u);
}

TEST_F(CardListDbTest, ReimportUpdatesTheStatusAndKeepsTheMaskedForm) {
  import("card_no,status\n500156199001011234,active\n", 1000);
  const std::string token = tok_.token("500156199001011234");
  EXPECT_EQ(status_of(*load(), token), CardStatus::active);

  import("card_no,status\n500156199001011234,lost\n", 2000);
  EXPECT_EQ(status_of(*load(), token), CardStatus::lost);

  // A token row changes the status but leaves the masked number an operator knows it by.
  import("card_no,status\ntoken:" + token + ",frozen\n", 3000);
  auto snap = load();
  EXPECT_EQ(snap->by_token.size(), 1u);
  EXPECT_EQ(status_of(*snap, token), CardStatus::frozen);
  auto db = sqlite::Database::open(dir_.file("cardlist.db"), false, true);
  ASSERT_TRUE(db.ok());
  auto st = db->prepare("SELECT masked, updated_ms FROM card");
  ASSERT_TRUE(st.ok());
  ASSERT_EQ(sqlite3_step(st->get()), SQLITE_ROW);
  EXPECT_EQ(st->column_text(0), "500156********1234");
  EXPECT_EQ(sqlite3_column_int64(st->get(), 1), 3000);
}

// Spreadsheet programs save "CSV UTF-8" with a byte order mark in front of the first line.
TEST_F(CardListDbTest, AByteOrderMarkBeforeTheFirstLineIsIgnored) {
  const std::string bom = "\xEF\xBB\xBF";
  auto with_header = import(bom + "card_no,status\n12345678,active\n");
  EXPECT_EQ(with_header.rejected, 0u);
  EXPECT_EQ(with_header.upserted, 1u);
  // Without a header the first card must still get its own token, not one of "BOM + number".
  auto without_header = import(bom + "87654321,lost\n");
  EXPECT_EQ(without_header.rejected, 0u);
  auto snap = load();
  EXPECT_EQ(snap->by_token.size(), 2u);
  EXPECT_EQ(status_of(*snap, tok_.token("12345678")), CardStatus::active);
  EXPECT_EQ(status_of(*snap, tok_.token("87654321")), CardStatus::lost);
}

TEST_F(CardListDbTest, LowerCaseXImportsTheSameCard) {
  import("card_no,status\n11010519491231002x,active\n");
  EXPECT_EQ(status_of(*load(), tok_.token("11010519491231002X")), CardStatus::active);
}

TEST_F(CardListDbTest, StatsCountByStatus) {
  import(
      "card_no,status\n"
      "10000001,active\n10000002,active\n10000003,active\n"
      "10000004,lost\n10000005,frozen\n10000006,frozen\n");
  auto s = db_->stats();
  ASSERT_TRUE(s.ok());
  EXPECT_EQ(s->total, 6u);
  EXPECT_EQ(s->by_status[static_cast<int>(CardStatus::active)], 3u);
  EXPECT_EQ(s->by_status[static_cast<int>(CardStatus::lost)], 1u);
  EXPECT_EQ(s->by_status[static_cast<int>(CardStatus::frozen)], 2u);
  EXPECT_EQ(s->by_status[static_cast<int>(CardStatus::cancelled)], 0u);
  EXPECT_EQ(s->version, 1);
}

TEST_F(CardListDbTest, EmptyDatabaseLoadsVersionZero) {
  auto snap = load();
  EXPECT_EQ(snap->version, 0);
  EXPECT_TRUE(snap->by_token.empty());
  auto s = db_->stats();
  ASSERT_TRUE(s.ok());
  EXPECT_EQ(s->total, 0u);
}

TEST_F(CardListDbTest, AMissingCsvIsAnErrorAndChangesNothing) {
  auto r = db_->import_csv(dir_.file("absent.csv"), tok_, 1);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, "io");
  EXPECT_EQ(load()->version, 0);
}

TEST_F(CardListDbTest, ReopeningKeepsTheList) {
  import("card_no,status\n12345678,lost\n");
  db_.reset();
  auto db = CardListDb::open(dir_.file("cardlist.db"));
  ASSERT_TRUE(db.ok());
  auto snap = db->load();
  ASSERT_TRUE(snap.ok());
  EXPECT_EQ((*snap)->version, 1);
  EXPECT_EQ((*snap)->by_token.size(), 1u);
}

TEST(CardListDb, RefusesASchemaNewerThanTheCode) {
  TempDir dir;
  {
    auto db = sqlite::Database::open(dir.file("cardlist.db"), true);
    ASSERT_TRUE(db.ok());
    ASSERT_TRUE(db->exec("PRAGMA user_version = 7").ok());
  }
  auto db = CardListDb::open(dir.file("cardlist.db"));
  ASSERT_FALSE(db.ok());
  EXPECT_EQ(db.error().code, "schema_too_new");
}

TEST(CardListDb, ACorruptFileIsAnError) {
  TempDir dir;
  auto db = CardListDb::open(dir.write("cardlist.db", std::string(4096, '\x5a')));
  EXPECT_FALSE(db.ok());
}

TEST(MemoryCardList, StartsEmpty) {
  MemoryCardList list;
  EXPECT_EQ(list.size(), 0u);
  EXPECT_EQ(list.version(), 0);
  EXPECT_EQ(list.lookup(kToken), std::nullopt);
}

TEST(MemoryCardList, LookupAndReplaceWhole) {
  MemoryCardList list;
  auto first = std::make_shared<CardListSnapshot>();
  first->version = 4;
  first->by_token = {{kToken, CardEntry{CardStatus::active, 0}},
                     {std::string(64, 'b'), CardEntry{CardStatus::lost, 0}}};
  list.replace(first);
  EXPECT_EQ(list.size(), 2u);
  EXPECT_EQ(list.version(), 4);
  EXPECT_EQ(list.lookup(kToken), CardStatus::active);
  EXPECT_EQ(list.lookup(std::string(64, 'b')), CardStatus::lost);
  EXPECT_EQ(list.lookup(std::string(64, 'c')), std::nullopt);

  auto second = std::make_shared<CardListSnapshot>();
  second->version = 5;
  second->by_token = {{std::string(64, 'c'), CardEntry{CardStatus::cancelled, 0}}};
  list.replace(second);
  EXPECT_EQ(list.size(), 1u);
  EXPECT_EQ(list.version(), 5);
  EXPECT_EQ(list.lookup(kToken), std::nullopt);  // nothing of the old snapshot remains
  EXPECT_EQ(list.lookup(std::string(64, 'c')), CardStatus::cancelled);
}

TEST_F(CardListDbTest, LoadedSnapshotServesLookups) {
  import("card_no,status\n500156199001011234,frozen\n");
  MemoryCardList list;
  list.replace(load());
  EXPECT_EQ(list.version(), 1);
  EXPECT_EQ(list.size(), 1u);
  EXPECT_EQ(list.lookup(tok_.token("500156199001011234")), CardStatus::frozen);
}

TEST(CardStatus, NamesRoundTrip) {
  for (auto s : {CardStatus::active, CardStatus::lost, CardStatus::frozen, CardStatus::cancelled})
    EXPECT_EQ(card_status_from(to_string(s)), s);
  EXPECT_EQ(card_status_from("Active"), std::nullopt);
  EXPECT_EQ(card_status_from(""), std::nullopt);
}

}  // namespace
}  // namespace yktgw
