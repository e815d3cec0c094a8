#include "gateway/outbox/outbox_admin.h"

#include <cstdio>
#include <ctime>

#include "gateway/outbox/record_reader.h"

namespace yktgw::outbox {
namespace {

std::string utc_text(UtcMillis ms) {
  const std::time_t t = static_cast<std::time_t>(ms / 1000);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

}  // namespace

Result<std::vector<DeadLetter>> list_dead_letters(const std::string& outbox_db,
                                                  bool include_resolved) {
  auto db = OutboxDb::open(outbox_db);
  if (!db) return db.error();
  return db->dead_letters("", include_resolved);
}

Result<DeadLetter> retry_dead_letter(const std::string& outbox_db, std::int64_t id, UtcMillis now) {
  auto db = OutboxDb::open(outbox_db);
  if (!db) return db.error();
  auto letter = db->dead_letter(id);
  if (!letter) return letter.error();
  if (!letter->has_value()) {
    return make_error("not_found", "no dead letter with id " + std::to_string(id));
  }
  auto n = db->request_retry(id, now);
  if (!n) return n.error();
  if (*n == 0) {
    return make_error("not_dead", "dead letter " + std::to_string(id) + " is " +
                                      std::string(to_string((*letter)->state)) +
                                      ", not waiting for a retry");
  }
  auto updated = db->dead_letter(id);
  if (!updated) return updated.error();
  return **updated;
}

Result<int> retry_all_dead_letters(const std::string& outbox_db, UtcMillis now) {
  auto db = OutboxDb::open(outbox_db);
  if (!db) return db.error();
  return db->request_retry_all(now);
}

Result<std::vector<OutboxFileStats>> outbox_stats(const std::string& records_db,
                                                  const std::string& outbox_db,
                                                  const Router& router, UtcMillis now) {
  auto db = OutboxDb::open(outbox_db);
  if (!db) return db.error();
  std::vector<OutboxFileStats> out;
  for (const std::string& dest : router.destinations()) {
    OutboxFileStats s;
    s.destination = dest;
    auto cursor = db->acked_seq(dest);
    if (!cursor) return cursor.error();
    s.acked_seq = *cursor;
    auto reader = RecordReader::open(records_db, router.sql_condition(dest), "");
    if (!reader) return reader.error();
    auto max = reader->max_seq();
    if (!max) return max.error();
    auto count = reader->count(s.acked_seq, *max);
    if (!count) return count.error();
    s.backlog = *count;
    auto batches = db->batches(dest);
    if (!batches) return batches.error();
    for (const StoredBatch& b : *batches) {
      if (b.kind != BatchKind::stream) continue;
      ++s.open_batches;
      if (b.done) s.backlog -= std::min<std::uint64_t>(s.backlog, b.count);
    }
    auto first = reader->first_received(s.acked_seq);
    if (!first) return first.error();
    if (*first && s.backlog > 0) s.lag_ms = std::max<std::int64_t>(0, now - **first);
    auto dead = db->open_dead_letters(dest);
    if (!dead) return dead.error();
    s.dead_letters = *dead;
    out.push_back(std::move(s));
  }
  return out;
}

std::string format_dead_letters(const std::vector<DeadLetter>& letters) {
  std::string out =
      "id\tdestination\tstate\tretries\trecords\tseq\tcreated_utc\tbatch_id\treason\n";
  for (const DeadLetter& d : letters) {
    out += std::to_string(d.id) + "\t" + d.destination + "\t" + std::string(to_string(d.state)) +
           "\t" + std::to_string(d.retries) + "\t" + std::to_string(d.count) + "\t" +
           std::to_string(d.first_seq) + ".." + std::to_string(d.last_seq) + "\t" +
           utc_text(d.created_ms) + "\t" + d.batch_id + "\t" + d.reason + "\n";
  }
  return out;
}

std::string format_outbox_stats(const std::vector<OutboxFileStats>& stats) {
  std::string out = "destination\tacked_seq\tbacklog\tlag_s\topen_batches\tdead_letters\n";
  for (const OutboxFileStats& s : stats) {
    out += s.destination + "\t" + std::to_string(s.acked_seq) + "\t" + std::to_string(s.backlog) +
           "\t" + std::to_string(s.lag_ms / 1000) + "\t" + std::to_string(s.open_batches) + "\t" +
           std::to_string(s.dead_letters) + "\n";
  }
  return out;
}

}  // namespace yktgw::outbox
