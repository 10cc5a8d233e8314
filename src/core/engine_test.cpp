// engine_test.cpp — the engine's own part: the backlog between the groups layer and the ring.
#include "core/engine.hpp"

#include <gtest/gtest.h>

#include "wire/group_msg.hpp"

namespace chorus::core {
namespace {

const time_point t0 = time_point{} + 1s;

// A daemon alone in a fixed ring whose send queue holds one message of 1,000 bytes.
engine_config small_queue() {
  engine_config c;
  c.node.self = node_id{1};
  c.node.members = {node_id{1}};
  c.node.ring = ring_id{node_id{1}, 1};
  c.node.message_bytes_max = 1000;
  c.node.send_queue_bytes_max = 1000;
  return c;
}

util::shared_bytes bytes(std::size_t n) { return util::shared_bytes(util::byte_vector(n)); }

TEST(engine, a_closed_session_waits_in_the_backlog_and_clients_wait_behind_it) {
  engine e(small_queue(), t0);
  auto first = e.take_output(t0);  // the state announcement of the first configuration
  ASSERT_EQ(first.submitted.size(), 1u);
  e.open_session(session_id{1}, "#a#d1", true);
  ASSERT_TRUE(e.submit(service::agreed, bytes(1000), t0).ok());  // the queue is full now
  e.close_session(session_id{1}, t0);
  EXPECT_EQ(e.backlog(), 1u);  // its disconnect waits for room
  auto refused = e.submit(service::agreed, bytes(10), t0);
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.error().code(), util::errc::would_block);  // behind the daemon's own
  auto out = e.take_output(t0);
  EXPECT_EQ(e.backlog(), 0u);
  ASSERT_EQ(out.submitted.size(), 1u);
  auto op = wire::decode_group_op(out.submitted[0].payload.span());
  ASSERT_TRUE(op.ok());
  EXPECT_EQ(op->kind, wire::group_msg_kind::kill);
  EXPECT_EQ(op->member, "#a#d1");
  EXPECT_EQ(out.released, std::vector<session_id>{session_id{1}});
  EXPECT_FALSE(e.name_in_use("#a#d1"));
  EXPECT_TRUE(e.submit(service::agreed, bytes(10), t0).ok());
}

TEST(engine, without_groups_it_is_the_node_alone) {
  engine_config c = small_queue();
  c.groups = false;
  engine e(c, t0);
  auto out = e.take_output(t0);
  EXPECT_TRUE(out.submitted.empty());
  ASSERT_EQ(out.events.size(), 1u);  // the first regular configuration
  e.open_session(session_id{1}, "#a#d1", true);
  e.close_session(session_id{1}, t0);
  EXPECT_EQ(e.backlog(), 0u);
  EXPECT_FALSE(e.has_groups());
}

}  // namespace
}  // namespace chorus::core
