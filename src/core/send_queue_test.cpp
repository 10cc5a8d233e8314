// send_queue_test.cpp — packing: small messages share a packet, a message that would fit whole
// in a fresh packet is never split, large ones are cut into fragments that fill packets, ids
// follow submit order, and the byte bound holds.
#include "core/send_queue.hpp"

#include <gtest/gtest.h>

namespace chorus::core {
namespace {

util::shared_bytes payload(std::size_t n) { return util::shared_bytes(util::byte_vector(n)); }

std::vector<wire::item> pack_one(send_queue& q, std::size_t packet_max, util::byte_vector& buf) {
  buf.clear();
  wire::data_packet_builder b(buf, wire::header{}, ring_id{}, seq_t{1});
  q.pack(b, packet_max);
  b.finish();
  EXPECT_LE(buf.size(), packet_max);
  auto p = wire::decode_data(buf);
  EXPECT_TRUE(p.ok());
  return p->items;
}

TEST(send_queue, packs_small_messages_together_in_order) {
  send_queue q(1 << 20);
  for (int i = 0; i < 10; ++i) EXPECT_EQ(q.push(service::agreed, payload(50))->value, i + 1u);
  util::byte_vector buf;
  auto items = pack_one(q, 1400, buf);
  ASSERT_EQ(items.size(), 10u);
  for (std::size_t i = 0; i < items.size(); ++i) {
    EXPECT_EQ(items[i].id.value, i + 1);
    EXPECT_TRUE(items[i].whole());
  }
  EXPECT_TRUE(q.empty());
  EXPECT_EQ(q.bytes(), 0u);
}

TEST(send_queue, never_splits_a_message_that_fits_a_fresh_packet) {
  send_queue q(1 << 20);
  ASSERT_TRUE(q.push(service::agreed, payload(800)).ok());
  ASSERT_TRUE(q.push(service::agreed, payload(800)).ok());
  util::byte_vector buf;
  auto first = pack_one(q, 1400, buf);
  ASSERT_EQ(first.size(), 1u);
  auto second = pack_one(q, 1400, buf);
  ASSERT_EQ(second.size(), 1u);
  EXPECT_TRUE(second[0].whole());
}

TEST(send_queue, fragments_large_messages_across_full_packets) {
  send_queue q(1 << 20);
  ASSERT_TRUE(q.push(service::safe, payload(5000)).ok());
  util::byte_vector buf;
  std::size_t offset = 0;
  int packets = 0;
  while (!q.empty()) {
    auto items = pack_one(q, 1400, buf);
    ASSERT_EQ(items.size(), 1u);
    EXPECT_EQ(items[0].offset, offset);
    EXPECT_EQ(items[0].total_bytes, 5000u);
    offset += items[0].data.size();
    ++packets;
  }
  EXPECT_EQ(offset, 5000u);
  EXPECT_EQ(packets, 4);
}

TEST(send_queue, refuses_past_its_byte_bound_and_accepts_empty_messages) {
  send_queue q(100);
  EXPECT_TRUE(q.push(service::agreed, payload(100)).ok());
  EXPECT_EQ(q.push(service::agreed, payload(1)).error().code(), util::errc::would_block);
  EXPECT_TRUE(q.push(service::agreed, payload(0)).ok());
  util::byte_vector buf;
  auto items = pack_one(q, 1400, buf);
  ASSERT_EQ(items.size(), 2u);
  EXPECT_EQ(items[1].total_bytes, 0u);
}

}  // namespace
}  // namespace chorus::core
