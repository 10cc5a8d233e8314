// reassembly_test.cpp — whole items come out as zero-copy slices, fragments are joined per
// origin while other origins interleave, and a fragment that does not continue its message is
// reported instead of corrupting it.
#include "core/reassembly.hpp"

#include <gtest/gtest.h>

namespace chorus::core {
namespace {

struct fixture {
  util::shared_bytes packet{util::byte_vector(64, std::byte{7})};
  wire::item item(std::uint64_t id, std::uint32_t total, std::uint32_t offset, std::size_t len) {
    return wire::item{service::agreed, msg_id{id}, total, offset, packet.span().subspan(0, len)};
  }
};

TEST(reassembly, whole_items_are_slices_of_the_packet) {
  fixture f;
  reassembly r(1 << 20);
  auto out = r.add(node_id{1}, f.item(1, 10, 0, 10), f.packet);
  ASSERT_TRUE(out.message);
  EXPECT_EQ(out.message->data(), f.packet.data());
  EXPECT_EQ(out.message->size(), 10u);
}

TEST(reassembly, joins_fragments_per_origin) {
  fixture f;
  reassembly r(1 << 20);
  EXPECT_FALSE(r.add(node_id{1}, f.item(1, 30, 0, 10), f.packet).message);
  EXPECT_FALSE(r.add(node_id{2}, f.item(5, 20, 0, 10), f.packet).message);
  EXPECT_FALSE(r.add(node_id{1}, f.item(1, 30, 10, 10), f.packet).message);
  EXPECT_TRUE(r.add(node_id{2}, f.item(5, 20, 10, 10), f.packet).message);
  auto out = r.add(node_id{1}, f.item(1, 30, 20, 10), f.packet);
  ASSERT_TRUE(out.message);
  EXPECT_EQ(out.message->size(), 30u);
  EXPECT_EQ(r.in_progress(), 0u);
}

TEST(reassembly, reports_fragments_that_do_not_continue_a_message) {
  fixture f;
  reassembly r(1 << 20);
  EXPECT_TRUE(r.add(node_id{1}, f.item(1, 30, 10, 10), f.packet).error);  // no start
  r.add(node_id{1}, f.item(2, 30, 0, 10), f.packet);
  EXPECT_TRUE(r.add(node_id{1}, f.item(2, 30, 15, 10), f.packet).error);  // gap
  EXPECT_EQ(r.in_progress(), 0u);
  r.add(node_id{1}, f.item(3, 30, 0, 10), f.packet);
  auto out = r.add(node_id{1}, f.item(4, 5, 0, 5), f.packet);  // new message before the end
  EXPECT_TRUE(out.error);
  EXPECT_TRUE(out.message);
}

TEST(reassembly, refuses_messages_above_its_limit_without_allocating) {
  fixture f;
  reassembly r(20);
  auto out = r.add(node_id{1}, f.item(1, 1u << 30, 0, 10), f.packet);
  EXPECT_TRUE(out.error);
  EXPECT_FALSE(out.message);
  EXPECT_EQ(r.in_progress(), 0u);
  EXPECT_TRUE(r.add(node_id{1}, f.item(2, 20, 0, 20), f.packet).message);
}

}  // namespace
}  // namespace chorus::core
