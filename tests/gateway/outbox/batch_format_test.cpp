#include "gateway/outbox/batch_format.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <thread>

namespace yktgw::outbox {
namespace {

using ::testing::HasSubstr;

ForwardedRecord sample(std::uint64_t seq = 101) {
  ForwardedRecord f;
  f.seq = seq;
  f.gateway = "wl-xiangkou-01";
  TxnRecord& r = f.record;
  r.txn_id = "ct-0001:000000481";
  r.req_id = "ct-0001-20240611-000481";
  r.site = "xiangkou";
  r.terminal = "ct-0001";
  r.scenario = "canteen";
  r.service_item = 12;
  r.ts_ms = 1718076600500;
  r.received_ms = 1718076600612;
  r.card.type = CredentialType::card;
  r.card.token = "3f1a9c0d5e7b2a4c6e8f0a1b3c5d7e9f1a2b3c4d5e6f708192a3b4c5d6e7f809";
  r.card.masked = "510156********1239";
  r.card.region = 51;
  r.amount_fen = 600;
  r.result = TxnResult::approved;
  r.mode = AuthMode::offline;
  return f;
}

TEST(RecordLine, HasTheDocumentedFieldsInOrder) {
  const std::string line = record_line(sample());
  EXPECT_EQ(line,
            "{\"v\":1,\"seq\":101,\"gateway\":\"wl-xiangkou-01\",\"site\":\"xiangkou\","
            "\"terminal\":\"ct-0001\",\"txn_id\":\"ct-0001:000000481\","
            "\"req_id\":\"ct-0001-20240611-000481\",\"scenario\":\"canteen\",\"service_item\":12,"
            "\"ts\":1718076600500,\"received\":1718076600612,\"cred_type\":\"card\","
            "\"card_token\":\"3f1a9c0d5e7b2a4c6e8f0a1b3c5d7e9f1a2b3c4d5e6f708192a3b4c5d6e7f809\","
            "\"card_masked\":\"510156********1239\",\"cred_method\":\"\",\"issuer_region\":51,"
            "\"amount_fen\":600,\"result\":\"approved\",\"reason\":\"\",\"mode\":\"offline\"}\n");
}

TEST(RecordLine, RoundTripsThroughTheParser) {
  std::vector<ForwardedRecord> in;
  for (std::uint64_t i = 1; i <= 50; ++i) {
    ForwardedRecord f = sample(i);
    f.record.txn_id += "-" + std::to_string(i);
    f.record.result = i % 3 ? TxnResult::approved : TxnResult::declined;
    f.record.reason = i % 3 ? "" : "insufficient_balance";
    f.record.mode = i % 2 ? AuthMode::online : AuthMode::offline;
    f.record.card.type = static_cast<CredentialType>(i % 4);
    f.record.amount_fen = -static_cast<Fen>(i);  // refunds are negative
    if (i % 5 == 0) f.record.kind = RecordKind::attendance;
    in.push_back(f);
  }
  std::string lines;
  for (const auto& f : in) append_record_line(f, lines);
  auto out = parse_record_lines(lines);
  ASSERT_TRUE(out) << out.error().message;
  EXPECT_EQ(*out, in);
}

TEST(RecordLine, AttendanceSaysItsKindTransactionsDoNot) {
  ForwardedRecord f = sample();
  f.record.kind = RecordKind::attendance;
  f.record.txn_id = "attendance@1718076600400@gt-0001-000017";
  f.record.amount_fen = 0;
  const std::string line = record_line(f);
  EXPECT_THAT(line, ::testing::EndsWith(",\"mode\":\"offline\",\"kind\":\"attendance\"}\n"));
  EXPECT_THAT(record_line(sample()), ::testing::Not(HasSubstr("\"kind\"")));
  auto back = parse_record_lines(line);
  ASSERT_TRUE(back) << back.error().message;
  ASSERT_EQ(back->size(), 1u);
  EXPECT_EQ((*back)[0], f);
  // Lines without a kind are transactions; an explicit "txn" is accepted too.
  auto plain = parse_record_lines(record_line(sample()));
  ASSERT_TRUE(plain);
  EXPECT_EQ((*plain)[0].record.kind, RecordKind::txn);
  std::string explicit_txn = record_line(sample());
  explicit_txn.insert(explicit_txn.size() - 2, ",\"kind\":\"txn\"");
  auto with_txn = parse_record_lines(explicit_txn);
  ASSERT_TRUE(with_txn) << with_txn.error().message;
  EXPECT_EQ((*with_txn)[0], sample());
}

TEST(RecordLine, AnUnknownKindIsABadLine) {
  std::string line = record_line(sample());
  line.insert(line.size() - 2, ",\"kind\":\"holiday\"");
  auto r = parse_record_lines(line);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, "bad_line");
  EXPECT_THAT(r.error().message, HasSubstr("kind"));
  std::string not_text = record_line(sample());
  not_text.insert(not_text.size() - 2, ",\"kind\":7");
  EXPECT_FALSE(parse_record_lines(not_text));
}

TEST(RecordLine, EscapesAndRepairsStrings) {
  ForwardedRecord f = sample();
  f.record.scenario = "quote\" back\\ nl\n tab\t ctl\x01 中文";
  f.record.reason = std::string("bad\xff\xfe utf8 \xe4\xb8");  // invalid and truncated UTF-8
  const std::string line = record_line(f);
  // Every line is valid JSON for any strict parser.
  const auto j = nlohmann::json::parse(line);
  EXPECT_EQ(j["scenario"], "quote\" back\\ nl\n tab\t ctl\x01 中文");
  EXPECT_EQ(j["reason"], "bad\xEF\xBF\xBD\xEF\xBF\xBD utf8 \xEF\xBF\xBD\xEF\xBF\xBD");
  EXPECT_EQ(std::count(line.begin(), line.end(), '\n'), 1);
}

TEST(RecordLine, ParserNamesTheBadLine) {
  std::string lines = record_line(sample(1)) + "\n" + record_line(sample(2));
  lines += "{\"v\":1,\"seq\":3}\n";
  auto r = parse_record_lines(lines);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, "bad_line");
  EXPECT_THAT(r.error().message, HasSubstr("line 4: field 'gateway' must be a string"));

  EXPECT_THAT(parse_record_lines("not json\n").error().message, HasSubstr("line 1: not valid"));
  EXPECT_THAT(parse_record_lines("[1,2]\n").error().message, HasSubstr("not a JSON object"));
  std::string bad_type = record_line(sample());
  bad_type.replace(bad_type.find("\"card\""), 6, "\"visa\"");
  EXPECT_THAT(parse_record_lines(bad_type).error().message, HasSubstr("unknown cred_type"));
  std::string bad_seq = record_line(sample());
  bad_seq.replace(bad_seq.find("\"seq\":101"), 9, "\"seq\":-1");
  EXPECT_THAT(parse_record_lines(bad_seq).error().message, HasSubstr("field 'seq'"));
}

TEST(RecordLine, IgnoresUnknownFieldsAndBlankLines) {
  std::string line = record_line(sample());
  line.insert(line.size() - 2, ",\"added_later\":{\"x\":1}");
  auto r = parse_record_lines("\n" + line + "\r\n\n");
  ASSERT_TRUE(r) << r.error().message;
  ASSERT_EQ(r->size(), 1u);
  EXPECT_EQ((*r)[0], sample());
}

TEST(BatchId, IsGatewayDestinationAndRange) {
  EXPECT_EQ(batch_id("wl-xiangkou-01", "crossprov", 101, 600), "wl-xiangkou-01-crossprov-101-600");
}

TEST(Gzip, RoundTripAndHeader) {
  std::string lines;
  for (int i = 0; i < 500; ++i) append_record_line(sample(static_cast<std::uint64_t>(i)), lines);
  auto gz = gzip_compress(lines);
  ASSERT_TRUE(gz);
  EXPECT_TRUE(looks_gzipped(*gz));
  EXPECT_LT(gz->size() * 5, lines.size()) << "JSON lines should compress well";
  auto back = gzip_decompress(*gz, lines.size());
  ASSERT_TRUE(back) << back.error().message;
  EXPECT_EQ(*back, lines);
}

TEST(Gzip, RefusesTooLargeCorruptAndTruncated) {
  const std::string big(1 << 20, 'a');
  auto gz = gzip_compress(big, 9);
  ASSERT_TRUE(gz);
  EXPECT_LT(gz->size(), 4096u);
  auto r = gzip_decompress(*gz, 1000);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, "too_large");

  EXPECT_EQ(gzip_decompress(gz->substr(0, gz->size() / 2), 1 << 21).error().code, "bad_gzip");
  std::string corrupt = *gz;
  corrupt[corrupt.size() / 2] ^= 0x55;
  EXPECT_FALSE(gzip_decompress(corrupt, 1 << 21));
  EXPECT_EQ(gzip_decompress("plain text", 100).error().code, "bad_gzip");
  EXPECT_EQ(gzip_decompress(*gz + "trailing", 1 << 21).error().code, "bad_gzip");
  EXPECT_FALSE(looks_gzipped("{"));
}

// Every level the compressor takes yields gzip that zlib's inflate (the platform's reader)
// reads back; the same thread switching levels, and other threads at once, get their own state.
TEST(Gzip, EveryLevelInflatesWithZlibFromSeveralThreads) {
  std::string lines;
  for (int i = 0; i < 300; ++i) append_record_line(sample(static_cast<std::uint64_t>(i)), lines);
  auto check_levels = [&lines] {
    int good = 0;
    for (int level = 0; level <= 12; ++level) {
      auto gz = gzip_compress(lines, level);
      if (!gz || !looks_gzipped(*gz)) continue;
      auto back = gzip_decompress(*gz, lines.size());
      if (back && *back == lines) ++good;
    }
    return good;
  };
  int other = 0;
  std::thread t([&] { other = check_levels(); });
  const int here = check_levels();
  t.join();
  EXPECT_EQ(here, 13);
  EXPECT_EQ(other, 13);
  EXPECT_EQ(gzip_compress(lines, 13).error().code, "gzip");
  EXPECT_EQ(gzip_compress(lines, -1).error().code, "gzip");
  auto empty = gzip_compress("");
  ASSERT_TRUE(empty);
  EXPECT_EQ(gzip_decompress(*empty, 10).value(), "");
}

}  // namespace
}  // namespace yktgw::outbox
