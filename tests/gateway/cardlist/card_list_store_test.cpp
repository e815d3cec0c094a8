#include "gateway/cardlist/card_list_store.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <atomic>
#include <filesystem>
#include <fstream>
#include <random>
#include <sstream>
#include <string>

#include "gateway/store/sqlite_util.h"
#include "tests/gateway/cardlist/cardlist_test_util.h"

namespace yktgw {
namespace {

using ::testing::HasSubstr;
using ::testing::StartsWith;

using testing::TempDir;

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

  std::shared_ptr<const CardIndex> load() {
    auto s = db_->load_index();
    EXPECT_TRUE(s.ok());
    return s.ok() ? s.value() : CardIndex::empty();
  }

  std::optional<CardStatus> status_of(const CardIndex& index, const std::string& token) {
    auto e = index.find(token);
    if (!e) return std::nullopt;
    return e->status;
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
  EXPECT_EQ(snap->meta().version, 1);
  EXPECT_EQ(snap->size(), 4u);
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
  EXPECT_EQ(snap->size(), 2u);
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
  EXPECT_EQ(load()->meta().version, 3);
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
  EXPECT_EQ(snap->size(), 1u);
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
  EXPECT_EQ(snap->size(), 2u);
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
  EXPECT_EQ(snap->meta().version, 0);
  EXPECT_EQ(snap->size(), 0u);
  auto s = db_->stats();
  ASSERT_TRUE(s.ok());
  EXPECT_EQ(s->total, 0u);
}

TEST_F(CardListDbTest, AMissingCsvIsAnErrorAndChangesNothing) {
  auto r = db_->import_csv(dir_.file("absent.csv"), tok_, 1);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, "io");
  EXPECT_EQ(load()->meta().version, 0);
}

TEST_F(CardListDbTest, ReopeningKeepsTheList) {
  import("card_no,status\n12345678,lost\n");
  db_.reset();
  auto db = CardListDb::open(dir_.file("cardlist.db"));
  ASSERT_TRUE(db.ok());
  auto snap = db->load_index();
  ASSERT_TRUE(snap.ok());
  EXPECT_EQ((*snap)->meta().version, 1);
  EXPECT_EQ((*snap)->size(), 1u);
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

TEST_F(CardListDbTest, LoadedIndexServesLookups) {
  import("card_no,status\n500156199001011234,frozen\n");
  IndexedCardList list;
  EXPECT_EQ(list.size(), 0u);
  EXPECT_EQ(list.lookup(kToken), std::nullopt);
  list.replace(load());
  EXPECT_EQ(list.version(), 1);
  EXPECT_EQ(list.updated_ms(), 1000);
  EXPECT_EQ(list.size(), 1u);
  EXPECT_EQ(list.lookup(tok_.token("500156199001011234")), CardStatus::frozen);
}

TEST(CardStatus, NamesRoundTrip) {
  for (auto s : {CardStatus::active, CardStatus::lost, CardStatus::frozen, CardStatus::cancelled})
    EXPECT_EQ(card_status_from(to_string(s)), s);
  EXPECT_EQ(card_status_from("Active"), std::nullopt);
  EXPECT_EQ(card_status_from(""), std::nullopt);
}

// --- schema v2: attributes, feed state, group names -------------------------------------------

std::optional<CardEntry> entry_of(CardListDb& db, const std::string& token) {
  auto index = db.load_index();
  EXPECT_TRUE(index.ok()) << (index.ok() ? "" : index.error().message);
  return index.ok() ? (*index)->find(token) : std::nullopt;
}

constexpr HolderAttributes kStaff = 1u << kFirstGroupBit;
constexpr HolderAttributes kStudent = 1u << (kFirstGroupBit + 1);
constexpr HolderAttributes kSiteWorker = 1u << (kFirstGroupBit + 2);

TEST_F(CardListDbTest, ImportsAttributeNames) {
  auto st = import(
      "card_no,status,attributes\n"
      "500156199001011234,active,disabled;local;staff\n"
      "12345678,lost, site_worker ; student \n"
      "12345679,frozen,\n"
      "12345680,active\n");
  EXPECT_EQ(st.rejected, 0u);
  EXPECT_EQ(st.upserted, 4u);
  EXPECT_EQ(entry_of(*db_, tok_.token("500156199001011234")),
            (CardEntry{CardStatus::active, kAttrDisabled | kAttrLocalResident | kStaff}));
  EXPECT_EQ(entry_of(*db_, tok_.token("12345678")),
            (CardEntry{CardStatus::lost, kSiteWorker | kStudent}));
  EXPECT_EQ(entry_of(*db_, tok_.token("12345679")), (CardEntry{CardStatus::frozen, 0}));
  EXPECT_EQ(entry_of(*db_, tok_.token("12345680")), (CardEntry{CardStatus::active, 0}));
}

TEST_F(CardListDbTest, ARowWithoutAttributesKeepsThemAnEmptyFieldClearsThem) {
  import("card_no,status,attributes\n12345678,active,local;staff\n12345679,active,disabled\n");
  import("card_no,status\n12345678,lost\n12345679,lost,\n");
  EXPECT_EQ(entry_of(*db_, tok_.token("12345678")),
            (CardEntry{CardStatus::lost, kAttrLocalResident | kStaff}));
  EXPECT_EQ(entry_of(*db_, tok_.token("12345679")), (CardEntry{CardStatus::lost, 0}));
}

TEST_F(CardListDbTest, RejectsUnknownAttributeNamesAndListsTheKnownOnes) {
  auto st = import("card_no,status,attributes\n12345678,active,staff;volunteer\n");
  EXPECT_EQ(st.rejected, 1u);
  ASSERT_EQ(st.first_errors.size(), 1u);
  EXPECT_THAT(st.first_errors[0], HasSubstr("unknown attribute 'volunteer'"));
  EXPECT_THAT(st.first_errors[0], HasSubstr("disabled, local, staff, student"));
  EXPECT_FALSE(entry_of(*db_, tok_.token("12345678")).has_value());
}

TEST(CardListDbGroups, StoredBitsFollowNamesWhenTheConfigReordersGroups) {
  TempDir dir;
  auto tok = tokenizer();
  const std::string path = dir.file("cardlist.db");
  {
    auto db = CardListDb::open(path, AttributeNames::parse("staff,student").value());
    ASSERT_TRUE(db.ok());
    auto st = db->import_csv(dir.write("a.csv", "12345678,active,student\n"), tok, 1);
    ASSERT_TRUE(st.ok());
  }
  // Reordered, and a new group: the card is still a student, now at the bit the config gives.
  auto db = CardListDb::open(path, AttributeNames::parse("volunteer,student,staff").value());
  ASSERT_TRUE(db.ok());
  EXPECT_EQ(db->stored_groups().groups(),
            (std::vector<std::string>{"staff", "student", "volunteer"}));
  EXPECT_EQ(entry_of(*db, tok.token("12345678"))->attributes, 1u << (kFirstGroupBit + 1));
  auto dropped = CardListDb::open(path, AttributeNames::parse("staff").value());
  ASSERT_TRUE(dropped.ok());
  EXPECT_EQ(entry_of(*dropped, tok.token("12345678"))->attributes, 0u);  // not a known group
}

TEST(CardListDbMigration, AVersion1DatabaseKeepsItsCards) {
  TempDir dir;
  const std::string path = dir.file("cardlist.db");
  const std::string token(64, 'a');
  {
    auto db = sqlite::Database::open(path, true);
    ASSERT_TRUE(db.ok());
    // Schema v1 exactly as the first release wrote it.
    ASSERT_TRUE(sqlite::migrate(*db, {CardListDb::migrations()[0]}, path).ok());
    ASSERT_TRUE(db->exec("INSERT INTO card VALUES ('" + token +
                         "', 'lost', '5001********12', 5);"
                         "UPDATE list_meta SET version = 9, updated_ms = 1234;")
                    .ok());
  }
  auto db = CardListDb::open(path);
  ASSERT_TRUE(db.ok()) << db.error().message;
  auto meta = db->meta();
  ASSERT_TRUE(meta.ok());
  EXPECT_EQ(*meta, (ListMeta{9, 1234, ""}));
  EXPECT_EQ(entry_of(*db, token), (CardEntry{CardStatus::lost, 0}));
  auto raw = sqlite::Database::open(path, false, true);
  ASSERT_TRUE(raw.ok());
  auto v = raw->prepare("PRAGMA user_version");
  ASSERT_TRUE(v.ok());
  ASSERT_EQ(sqlite3_step(v->get()), SQLITE_ROW);
  EXPECT_EQ(sqlite3_column_int(v->get(), 0), 2);
}

Result<void> nothing_to_do(std::vector<PrefixGroup>&&) { return {}; }

TEST_F(CardListDbTest, ImportIsRefusedOnceTheListComesFromTheFeed) {
  std::mt19937_64 rng(1);
  auto feed = testing::decoded(
      testing::snapshot_bytes(5, {testing::upsert(testing::random_token(rng), CardStatus::lost)}));
  ASSERT_TRUE(db_->apply_feed(feed, nothing_to_do).ok());
  auto r = db_->import_csv(dir_.write("x.csv", "12345678,active\n"), tok_, 1);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, "managed_by_feed");
  EXPECT_EQ(load()->meta().version, 5);
}

TEST_F(CardListDbTest, ASnapshotWritesOnlyTheDifference) {
  import("card_no,status\n12345678,active\n12345679,lost\n");
  const auto keep = *token_from_hex(tok_.token("12345678"));
  const auto drop = *token_from_hex(tok_.token("12345679"));
  std::mt19937_64 rng(2);
  const auto added = testing::random_token(rng);
  auto feed = testing::decoded(testing::snapshot_bytes(
      3, {testing::upsert(keep, CardStatus::active), testing::upsert(added, CardStatus::frozen)},
      5000));
  ASSERT_TRUE(db_->apply_feed(feed, nothing_to_do).ok());
  EXPECT_EQ(entry_of(*db_, token_to_hex(keep)), (CardEntry{CardStatus::active, 0}));
  EXPECT_FALSE(entry_of(*db_, token_to_hex(drop)).has_value());
  EXPECT_EQ(entry_of(*db_, token_to_hex(added))->status, CardStatus::frozen);
  // The unchanged row was not rewritten: it keeps its masked form and its time.
  auto raw = sqlite::Database::open(dir_.file("cardlist.db"), false, true);
  ASSERT_TRUE(raw.ok());
  auto st = raw->prepare("SELECT masked, updated_ms FROM card WHERE token = '" +
                         token_to_hex(keep) + "'");
  ASSERT_TRUE(st.ok());
  ASSERT_EQ(sqlite3_step(st->get()), SQLITE_ROW);
  EXPECT_EQ(st->column_text(0), mask_card_number("12345678"));
  EXPECT_EQ(sqlite3_column_int64(st->get(), 1), 1000);
  auto meta = db_->meta();
  ASSERT_TRUE(meta.ok());
  EXPECT_EQ(*meta, (ListMeta{3, 5000, feed.id}));
}

TEST_F(CardListDbTest, ADeltaReportsEveryTokenOfEachTouchedPrefix) {
  using testing::token_with_prefix;
  const std::uint64_t p = 0x1111222233334444ULL;
  auto first = testing::decoded(testing::snapshot_bytes(
      1, {testing::upsert(token_with_prefix(p, 1), CardStatus::lost),
          testing::upsert(token_with_prefix(p, 2), CardStatus::frozen),
          testing::upsert(token_with_prefix(p + 1, 1), CardStatus::active)}));
  ASSERT_TRUE(db_->apply_feed(first, nothing_to_do).ok());
  auto delta = testing::decoded(testing::delta_bytes(
      1, {testing::upsert(token_with_prefix(p, 3), CardStatus::cancelled, kStaff),
          testing::removal(token_with_prefix(p, 1)),
          testing::removal(token_with_prefix(p + 2, 1))}));  // never listed
  std::vector<PrefixGroup> seen;
  ASSERT_TRUE(db_->apply_feed(delta,
                              [&](std::vector<PrefixGroup>&& touched) -> Result<void> {
                                seen = std::move(touched);
                                return {};
                              })
                  .ok());
  ASSERT_EQ(seen.size(), 2u);
  EXPECT_EQ(seen[0].prefix, p);
  EXPECT_EQ(seen[0].tokens,
            (std::vector<IndexedToken>{
                {token_with_prefix(p, 2), pack_entry(CardEntry{CardStatus::frozen, 0})},
                {token_with_prefix(p, 3), pack_entry(CardEntry{CardStatus::cancelled, kStaff})}}));
  EXPECT_EQ(seen[1].prefix, p + 2);
  EXPECT_TRUE(seen[1].tokens.empty());
}

TEST_F(CardListDbTest, AnErrorFromReadyRollsTheFeedBack) {
  import("card_no,status\n12345678,lost\n");
  std::mt19937_64 rng(3);
  auto feed = testing::decoded(testing::snapshot_bytes(
      8, {testing::upsert(testing::random_token(rng), CardStatus::active)}));
  auto r = db_->apply_feed(feed, [](std::vector<PrefixGroup>&&) -> Result<void> {
    return make_error("out_of_memory", "test");
  });
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, "out_of_memory");
  auto snap = load();
  EXPECT_EQ(snap->meta().version, 1);
  EXPECT_EQ(status_of(*snap, tok_.token("12345678")), CardStatus::lost);
  EXPECT_EQ(snap->size(), 1u);
}

TEST_F(CardListDbTest, ExportWritesTokensAndMasksThatImportReadsBack) {
  import(
      "card_no,status,attributes\n"
      "500156199001011234,active,disabled;staff\n"
      "11010519491231002X,lost,\n"
      "12345678,frozen,local;student;site_worker\n");
  std::ostringstream out;
  auto n = db_->export_csv(out);
  ASSERT_TRUE(n.ok()) << n.error().message;
  EXPECT_EQ(*n, 3u);
  const std::string csv = out.str();
  EXPECT_THAT(csv, StartsWith("# yktgw card list version=1 cards=3\n"
                              "card_no,status,attributes,masked\n"));
  // No card number in the export, only tokens and masked forms.
  EXPECT_EQ(csv.find("500156199001011234"), std::string::npos);
  EXPECT_EQ(csv.find("12345678,"), std::string::npos);
  EXPECT_NE(csv.find("token:" + tok_.token("500156199001011234") +
                     ",active,disabled;staff,500156********1234\n"),
            std::string::npos)
      << csv;
  EXPECT_NE(csv.find("token:" + tok_.token("12345678") + ",frozen,local;student;site_worker,"),
            std::string::npos)
      << csv;

  // Into an empty list: the same cards, statuses, attributes and masks.
  TempDir other;
  auto copy = CardListDb::open(other.file("copy.db"));
  ASSERT_TRUE(copy.ok());
  auto st = copy->import_csv(other.write("export.csv", csv), tok_, 2000);
  ASSERT_TRUE(st.ok()) << st.error().message;
  EXPECT_EQ(st->upserted, 3u);
  EXPECT_EQ(st->rejected, 0u);
  std::ostringstream again;
  ASSERT_TRUE(copy->export_csv(again).ok());
  EXPECT_EQ(again.str(), csv);
}

TEST_F(CardListDbTest, ImportRefusesAMaskThatCouldBeAFullNumber) {
  const auto r = db_->import_csv(
      dir_.write("bad.csv", "token:" + kToken + ",active,,500156199001011234\n"), tok_, 1000);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->rejected, 1u);
  EXPECT_THAT(r->first_errors.at(0), HasSubstr("masked"));
}

TEST(FeedSequence, DeltasFollowTheVersionSnapshotsNeverGoBack) {
  FeedHeader delta;
  delta.kind = FeedKind::delta;
  delta.base_version = 4;
  delta.version = 5;
  EXPECT_TRUE(check_feed_sequence(ListMeta{4, 1, "f"}, delta).ok());
  EXPECT_EQ(check_feed_sequence(ListMeta{3, 1, "f"}, delta).error().code, "feed_version_gap");
  EXPECT_EQ(check_feed_sequence(ListMeta{5, 1, "f"}, delta).error().code, "feed_version_gap");
  // A list from CSV imports has no platform version for a delta to follow.
  EXPECT_EQ(check_feed_sequence(ListMeta{4, 1, ""}, delta).error().code, "feed_version_gap");

  FeedHeader snap;
  snap.kind = FeedKind::snapshot;
  snap.version = 4;
  EXPECT_TRUE(check_feed_sequence(ListMeta{4, 1, "f"}, snap).ok());  // the same again: re-sync
  EXPECT_TRUE(check_feed_sequence(ListMeta{3, 1, "f"}, snap).ok());
  EXPECT_EQ(check_feed_sequence(ListMeta{5, 1, "f"}, snap).error().code, "feed_stale_snapshot");
  EXPECT_TRUE(check_feed_sequence(ListMeta{9, 1, ""}, snap).ok());  // imports: any snapshot
}

}  // namespace
}  // namespace yktgw
