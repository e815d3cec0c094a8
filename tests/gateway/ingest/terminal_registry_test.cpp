#include "gateway/ingest/terminal_registry.h"

#include <gtest/gtest.h>

namespace yktgw {
namespace {

TerminalStatus status(std::string terminal, TerminalState state, std::string kind = "",
                      std::string firmware = "", std::int64_t cardlist_version = 0) {
  TerminalStatus s;
  s.terminal = std::move(terminal);
  s.state = state;
  s.kind = std::move(kind);
  s.firmware = std::move(firmware);
  s.cardlist_version = cardlist_version;
  return s;
}

TEST(TerminalRegistry, StartsEmpty) {
  TerminalRegistry r;
  EXPECT_TRUE(r.snapshot().empty());
  EXPECT_EQ(r.online_count(), 0u);
}

TEST(TerminalRegistry, StatusSetsStateKindAndFirmware) {
  TerminalRegistry r;
  r.on_status(status("ct-1", TerminalState::online, "canteen_pos", "2.3.1", 42), 1000);
  auto snap = r.snapshot();
  ASSERT_EQ(snap.size(), 1u);
  EXPECT_EQ(snap[0],
            (TerminalInfo{"ct-1", TerminalState::online, "canteen_pos", "2.3.1", 42, 1000, 0, 0}));
  EXPECT_EQ(r.online_count(), 1u);
}

TEST(TerminalRegistry, LastWillKeepsWhatItDoesNotCarry) {
  TerminalRegistry r;
  r.on_status(status("ct-1", TerminalState::online, "canteen_pos", "2.3.1", 42), 1000);
  r.on_status(status("ct-1", TerminalState::offline), 2000);  // the minimal last will
  auto snap = r.snapshot();
  ASSERT_EQ(snap.size(), 1u);
  EXPECT_EQ(snap[0].state, TerminalState::offline);
  EXPECT_EQ(snap[0].kind, "canteen_pos");
  EXPECT_EQ(snap[0].firmware, "2.3.1");
  EXPECT_EQ(snap[0].cardlist_version, 42);
  EXPECT_EQ(snap[0].last_seen_ms, 2000);
  EXPECT_EQ(r.online_count(), 0u);
}

TEST(TerminalRegistry, MessagesMarkOnlineAndCountErrors) {
  TerminalRegistry r;
  r.on_status(status("ct-1", TerminalState::offline), 1000);
  r.on_message("ct-1", 1500, false);
  r.on_message("ct-1", 1600, true);
  r.on_message("ct-1", 1700, false);
  auto snap = r.snapshot();
  ASSERT_EQ(snap.size(), 1u);
  EXPECT_EQ(snap[0].state, TerminalState::online);  // publishing, so connected
  EXPECT_EQ(snap[0].messages, 3u);
  EXPECT_EQ(snap[0].errors, 1u);
  EXPECT_EQ(snap[0].last_seen_ms, 1700);
}

TEST(TerminalRegistry, SnapshotIsSortedByTerminal) {
  TerminalRegistry r;
  for (const char* t : {"ct-3", "ct-1", "ct-2"}) r.on_message(t, 1, false);
  r.on_status(status("ct-2", TerminalState::offline), 2);
  auto snap = r.snapshot();
  ASSERT_EQ(snap.size(), 3u);
  EXPECT_EQ(snap[0].terminal, "ct-1");
  EXPECT_EQ(snap[1].terminal, "ct-2");
  EXPECT_EQ(snap[2].terminal, "ct-3");
  EXPECT_EQ(r.online_count(), 2u);
}

}  // namespace
}  // namespace yktgw
