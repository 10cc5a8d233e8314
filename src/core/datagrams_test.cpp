// datagrams_test.cpp — the packet-order policy: bundles, the order datagrams leave in, and the
// order a received batch is handed to the node.
#include "core/datagrams.hpp"

#include <gtest/gtest.h>

#include "wire/packet.hpp"

namespace chorus::core {
namespace {

const node_id n0{0}, n1{1}, n2{2};

util::shared_bytes token_bytes() {
  wire::token t;
  t.hdr = {wire::protocol_version, wire::packet_type::token, n0, {}};
  util::byte_vector out;
  wire::encode(t, out);
  return util::shared_bytes(std::move(out));
}

// A data packet with `payload` bytes of message.
util::shared_bytes data_bytes(std::uint64_t seq, std::size_t payload = 0) {
  util::byte_vector out;
  wire::data_packet_builder bld(out, {wire::protocol_version, wire::packet_type::data, n0, {}}, {},
                                wire::seq_t{seq});
  if (payload > 0) {
    util::byte_vector body(payload);
    bld.add(
        {wire::service::agreed, wire::msg_id{seq}, static_cast<std::uint32_t>(payload), 0, body});
  }
  bld.finish();
  return util::shared_bytes(std::move(out));
}

std::shared_ptr<const std::vector<node_id>> group_of(std::vector<node_id> ids) {
  return std::make_shared<std::vector<node_id>>(std::move(ids));
}

wire::packet_type type_of(const util::shared_bytes& b) {
  auto h = wire::decode_header(b.span());
  return h ? h->type : wire::packet_type{0};
}

std::vector<outgoing_datagram> plan(std::vector<outgoing_packet> packets, bool multicast = false) {
  datagram_stats st;
  return plan_datagrams(packets, {n0, multicast}, st);
}

TEST(plan_datagrams, bundles_a_token_with_the_data_behind_it_for_the_same_daemon) {
  auto out = plan({{n1, token_bytes()},
                   {std::nullopt, data_bytes(1), group_of({n0, n1})},
                   {n1, data_bytes(2)}});
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].to, n1);
  ASSERT_EQ(out[0].parts.size(), 3u);
  EXPECT_EQ(type_of(out[0].parts[0]), wire::packet_type::token);  // the node's order inside
  // On the wire it is one bundle, and it opens into the same three packets.
  const incoming_datagram in{n0, encode_datagram(out[0])};
  EXPECT_EQ(in.bytes.size(), out[0].bytes);
  datagram_stats st;
  auto packets = open_batch(std::span(&in, 1), st);
  ASSERT_EQ(packets.size(), 3u);
  EXPECT_EQ(st.bundles_received, 1u);
  for (std::size_t i = 0; i < 3; ++i) {
    EXPECT_EQ(packets[i].from, n0);
    EXPECT_EQ(type_of(packets[i].bytes),
              i < 2 ? wire::packet_type::data : wire::packet_type::token);
  }
}

TEST(plan_datagrams, a_packet_alone_is_sent_as_it_is_and_daemons_never_share_a_datagram) {
  datagram_stats st;
  const std::vector<outgoing_packet> packets{{n1, data_bytes(1)}, {n2, data_bytes(2)}};
  auto out = plan_datagrams(packets, {n0, false}, st);
  ASSERT_EQ(out.size(), 2u);
  EXPECT_EQ(out[0].to, n1);
  EXPECT_EQ(out[1].to, n2);
  EXPECT_EQ(out[0].parts.size(), 1u);
  EXPECT_EQ(encode_datagram(out[0]).span().data(), packets[0].bytes.span().data());  // no copy
  EXPECT_EQ(st.bundles_sent, 0u);
}

TEST(plan_datagrams, a_bundle_stays_within_one_datagram_and_leaves_at_its_last_packet) {
  // Two packets of 40,000 bytes do not fit one datagram: the first leaves alone, the second
  // with the token; a packet for another daemon in between keeps its place.
  auto out = plan({{n1, data_bytes(1, 40000)},
                   {n2, data_bytes(9)},
                   {n1, data_bytes(2, 40000)},
                   {n1, token_bytes()}});
  ASSERT_EQ(out.size(), 3u);
  EXPECT_EQ(out[0].parts.size(), 1u);
  EXPECT_EQ(out[1].to, n2);
  EXPECT_EQ(out[2].parts.size(), 2u);
  EXPECT_LE(out[2].bytes, wire::datagram_bytes_max);
  EXPECT_EQ(type_of(out[2].parts[1]), wire::packet_type::token);
}

TEST(plan_datagrams, without_multicast_a_ring_packet_goes_to_every_other_member) {
  auto out = plan({{std::nullopt, data_bytes(1), group_of({n0, n1, n2})}});
  ASSERT_EQ(out.size(), 2u);
  EXPECT_EQ(out[0].to, n1);
  EXPECT_EQ(out[1].to, n2);
}

TEST(plan_datagrams, with_multicast_a_ring_packet_is_one_datagram_to_the_group) {
  auto group = group_of({n0, n1, n2});
  auto out =
      plan({{std::nullopt, data_bytes(1), group}, {std::nullopt, data_bytes(2), group}}, true);
  ASSERT_EQ(out.size(), 1u);  // bundled too
  EXPECT_FALSE(out[0].to.has_value());
  EXPECT_EQ(out[0].group, group);
  EXPECT_EQ(out[0].parts.size(), 2u);
}

// With multicast the token and the data behind it travel apart; a successor that handles the
// token first lowers the aru and every SAFE message takes another rotation (p50 95 µs instead
// of 45 through 3 daemons on loopback). A small burst therefore leaves before the token; a
// large one after it, so the successor starts while the burst is on the wire.
TEST(plan_datagrams, with_multicast_the_token_follows_a_small_burst_and_precedes_a_large_one) {
  auto everyone = group_of({n0, n1});
  auto small = plan({{n1, token_bytes()}, {std::nullopt, data_bytes(1), everyone}}, true);
  ASSERT_EQ(small.size(), 2u);
  EXPECT_FALSE(small[0].to.has_value());
  EXPECT_EQ(small[1].to, n1);

  std::vector<outgoing_packet> large{{n1, token_bytes()}};
  for (std::uint64_t s = 1; s <= 20; ++s)
    large.push_back({std::nullopt, data_bytes(s, 1000), everyone});
  auto out = plan(large, true);
  ASSERT_EQ(out.size(), 2u);
  EXPECT_GT(out[1].bytes, token_delay_bytes_max);
  EXPECT_EQ(out[0].to, n1);
  EXPECT_FALSE(out[1].to.has_value());
}

// The Accelerated Ring sends part of a burst after its token: handled in arrival order, the
// token would find its data missing. A batch's tokens go to the node after everything else,
// whether they came in a bundle or alone.
TEST(open_batch, hands_the_tokens_of_a_batch_over_after_its_other_packets) {
  const std::vector<incoming_datagram> batch{
      {n1, token_bytes()}, {n1, data_bytes(1)}, {n2, data_bytes(2)}};
  datagram_stats st;
  auto packets = open_batch(batch, st);
  ASSERT_EQ(packets.size(), 3u);
  EXPECT_EQ(type_of(packets[0].bytes), wire::packet_type::data);
  EXPECT_EQ(packets[0].from, n1);
  EXPECT_EQ(packets[1].from, n2);
  EXPECT_EQ(type_of(packets[2].bytes), wire::packet_type::token);
}

TEST(open_batch, drops_a_bundle_that_does_not_open_and_keeps_the_rest) {
  std::vector<util::shared_bytes> parts{token_bytes(), data_bytes(1)};
  util::byte_vector bad;
  wire::encode_bundle(parts, bad);
  bad[wire::header_bytes] = std::byte{0x30};  // count 48
  const std::vector<incoming_datagram> batch{{n2, util::shared_bytes(std::move(bad))},
                                             {n2, data_bytes(2)}};
  datagram_stats st;
  auto packets = open_batch(batch, st);
  ASSERT_EQ(packets.size(), 1u);
  EXPECT_EQ(st.bad_bundles, 1u);
  EXPECT_EQ(st.bundles_received, 0u);
}

TEST(open_batch, passes_a_packet_that_does_not_decode_to_the_node_which_counts_it) {
  const std::vector<incoming_datagram> batch{{n1, util::shared_bytes(util::byte_vector(3))}};
  datagram_stats st;
  EXPECT_EQ(open_batch(batch, st).size(), 1u);
}

}  // namespace
}  // namespace chorus::core
