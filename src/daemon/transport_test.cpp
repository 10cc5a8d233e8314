// transport_test.cpp — the UDP transport between real sockets on 127.0.0.1.
#include "daemon/transport.hpp"

#include <gtest/gtest.h>

#include <array>

#include "wire/packet.hpp"

namespace chorus::daemon {
namespace {

using asio::ip::udp;

// Ports the kernel just handed out, so two transports can name each other before binding.
std::vector<std::uint16_t> free_ports(std::size_t n) {
  asio::io_context io;
  std::vector<udp::socket> held;
  std::vector<std::uint16_t> ports;
  for (std::size_t i = 0; i < n; ++i) {
    held.emplace_back(io, udp::endpoint(asio::ip::address_v4::loopback(), 0));
    ports.push_back(held.back().local_endpoint().port());
  }
  return ports;
}

// What a transport handed on: every batch, and its packets in the order the engine steps them.
struct receiver {
  std::vector<std::size_t> batch_sizes;
  std::vector<core::incoming_datagram> packets;
  core::datagram_stats stats;

  udp_transport::receive_handler handler() {
    return [this](std::span<const core::incoming_datagram> batch) {
      batch_sizes.push_back(batch.size());
      for (auto& p : core::open_batch(batch, stats)) packets.push_back(std::move(p));
    };
  }
  wire::packet_type type(std::size_t i) const {
    auto h = wire::decode_header(packets.at(i).bytes.span());
    return h ? h->type : wire::packet_type{0};
  }
};

struct two_daemons : ::testing::Test {
  asio::io_context io;
  std::vector<udp_transport::peer> peers;
  std::unique_ptr<udp_transport> a, b;
  receiver at_b;

  void SetUp() override {
    // Node 2 is a configured daemon with no transport: a test's plain socket speaks for it.
    auto ports = free_ports(3);
    for (std::uint32_t i = 0; i < 3; ++i) {
      peers.push_back(
          {core::node_id{i}, udp::endpoint(asio::ip::address_v4::loopback(), ports[i])});
    }
    auto ta = udp_transport::open(io, core::node_id{0}, peers, std::nullopt);
    auto tb = udp_transport::open(io, core::node_id{1}, peers, std::nullopt);
    ASSERT_TRUE(ta.ok()) << ta.error().message();
    ASSERT_TRUE(tb.ok()) << tb.error().message();
    a = std::move(*ta);
    b = std::move(*tb);
    a->start([](std::span<const core::incoming_datagram>) {});
    b->start(at_b.handler());
  }

  void run_until(std::size_t n) {
    for (int i = 0; i < 2000 && at_b.packets.size() < n; ++i)
      io.run_one_for(std::chrono::milliseconds(5));
  }
};

util::shared_bytes token_bytes() {
  wire::token t;
  t.hdr = {wire::protocol_version, wire::packet_type::token, core::node_id{0}, {}};
  util::byte_vector out;
  wire::encode(t, out);
  return util::shared_bytes(std::move(out));
}

util::shared_bytes data_bytes(std::uint64_t seq) {
  util::byte_vector out;
  wire::data_packet_builder bld(
      out, {wire::protocol_version, wire::packet_type::data, core::node_id{0}, {}}, {},
      wire::seq_t{seq});
  bld.finish();
  return util::shared_bytes(std::move(out));
}

std::shared_ptr<const std::vector<core::node_id>> group_of(std::vector<core::node_id> ids) {
  return std::make_shared<std::vector<core::node_id>>(std::move(ids));
}

// The datagrams the engine of node 0 would send for `packets`.
std::vector<core::outgoing_datagram> plan(std::vector<core::outgoing_packet> packets,
                                          bool multicast = false) {
  core::datagram_stats st;
  return core::plan_datagrams(packets, {core::node_id{0}, multicast}, st);
}

TEST_F(two_daemons, DeliversDatagramsWithTheSendersNodeId) {
  a->send(plan({{core::node_id{1}, data_bytes(1)}}));
  run_until(1);
  ASSERT_EQ(at_b.packets.size(), 1u);
  EXPECT_EQ(at_b.packets[0].from, core::node_id{0});
  EXPECT_EQ(at_b.type(0), wire::packet_type::data);
  EXPECT_EQ(a->stats().datagrams_sent, 1u);
  EXPECT_EQ(b->stats().datagrams_received, 1u);
}

// What arrived while the daemon was busy is one batch, so the engine can hand its tokens over
// after its data (core/datagrams.hpp).
TEST_F(two_daemons, HandsWhatArrivedTogetherOverAsOneBatch) {
  a->send(plan({{core::node_id{1}, token_bytes()}}));
  a->send(plan({{std::nullopt, data_bytes(1), group_of({core::node_id{1}})}}));
  a->send(plan({{core::node_id{1}, data_bytes(2)}}));
  EXPECT_EQ(a->stats().datagrams_sent, 3u);
  run_until(3);
  ASSERT_EQ(at_b.batch_sizes, std::vector<std::size_t>{3})
      << "the three datagrams were not read in one batch";
  EXPECT_EQ(at_b.type(0), wire::packet_type::data);
  EXPECT_EQ(at_b.type(1), wire::packet_type::data);
  EXPECT_EQ(at_b.type(2), wire::packet_type::token);
}

// A bundle leaves from where its packets are (gathered) and opens at the receiver.
TEST_F(two_daemons, SendsABundleAsOneDatagram) {
  auto d = plan({{core::node_id{1}, token_bytes()},
                 {std::nullopt, data_bytes(1), group_of({core::node_id{1}})},
                 {core::node_id{1}, data_bytes(2)}});
  ASSERT_EQ(d.size(), 1u);
  a->send(d);
  EXPECT_EQ(a->stats().datagrams_sent, 1u);
  EXPECT_EQ(a->stats().bytes_sent, d[0].bytes);
  run_until(3);
  ASSERT_EQ(at_b.packets.size(), 3u);
  EXPECT_EQ(b->stats().bytes_received, d[0].bytes);
  EXPECT_EQ(at_b.stats.bundles_received, 1u);
  EXPECT_EQ(at_b.type(2), wire::packet_type::token);
  for (const auto& r : at_b.packets) EXPECT_EQ(r.from, core::node_id{0});
}

TEST_F(two_daemons, DropsDatagramsFromAddressesThatAreNoDaemon) {
  udp::socket stranger(io, udp::endpoint(asio::ip::address_v4::loopback(), 0));
  auto d = data_bytes(1);
  stranger.send_to(asio::buffer(d.data(), d.size()), peers[1].endpoint);
  a->send(plan({{core::node_id{1}, data_bytes(2)}}));
  run_until(1);
  io.run_for(std::chrono::milliseconds(20));
  ASSERT_EQ(at_b.packets.size(), 1u);
  EXPECT_EQ(at_b.packets[0].from, core::node_id{0});
  EXPECT_EQ(b->stats().unknown_sender, 1u);
}

// With multicast, the token comes on a daemon's own socket and the data it stamped on the group
// socket. Each socket used to be read when the event loop reported it, so the token (sent
// first, as the Accelerated Ring does before a small burst) was handled before its data, and
// every SAFE message took a second rotation (p50 95 µs instead of 45 through 3 daemons on
// loopback). Both sockets are now read before anything is handed on.
TEST(udp_transport, ReadsTheMulticastSocketAndItsOwnInOneBatch) {
  asio::io_context io;
  auto ports = free_ports(3);
  std::vector<udp_transport::peer> peers;
  for (std::uint32_t i = 0; i < 2; ++i)
    peers.push_back({core::node_id{i}, udp::endpoint(asio::ip::address_v4::loopback(), ports[i])});
  const udp::endpoint group(asio::ip::make_address_v4("239.255.77.1"), ports[2]);
  auto ta = udp_transport::open(io, core::node_id{0}, peers, group);
  auto tb = udp_transport::open(io, core::node_id{1}, peers, group);
  ASSERT_TRUE(ta.ok()) << ta.error().message();
  ASSERT_TRUE(tb.ok()) << tb.error().message();
  receiver at_b;
  (*ta)->start([](std::span<const core::incoming_datagram>) {});
  (*tb)->start(at_b.handler());
  // The token leaves first, as it does before a large burst (core/datagrams.hpp).
  std::vector<core::outgoing_datagram> d{{core::node_id{1}, nullptr, {token_bytes()}, 0},
                                         {std::nullopt, nullptr, {data_bytes(1)}, 0}};
  (*ta)->send(d);
  EXPECT_EQ((*ta)->stats().datagrams_sent, 2u) << "the token and the multicast data";
  for (int i = 0; i < 2000 && at_b.packets.size() < 2; ++i)
    io.run_one_for(std::chrono::milliseconds(5));
  ASSERT_EQ(at_b.packets.size(), 2u);
  EXPECT_EQ(at_b.batch_sizes, std::vector<std::size_t>{2})
      << "the two sockets were read in separate batches";
  EXPECT_EQ(at_b.type(0), wire::packet_type::data);
  EXPECT_EQ(at_b.type(1), wire::packet_type::token);
}

// And on the wire: with multicast, the token leaves after the small burst the core put behind
// it, so the successor has the data by the time the token arrives, even when it handles each
// datagram as soon as it comes (a polling daemon on another core raced the old order). The
// successor here is a plain socket that sees both, in the order they arrive.
TEST(udp_transport, WithMulticastSendsTheTokenAfterASmallBurst) {
  asio::io_context io;
  auto ports = free_ports(2);
  const udp::endpoint group(asio::ip::make_address_v4("239.255.77.2"), ports[1]);
  udp::socket successor(io, udp::v4());
  successor.set_option(asio::socket_base::reuse_address(true));
  successor.bind(udp::endpoint(asio::ip::address_v4::any(), ports[1]));
  successor.set_option(
      asio::ip::multicast::join_group(group.address().to_v4(), asio::ip::address_v4::loopback()));
  std::vector<udp_transport::peer> peers{
      {core::node_id{0}, udp::endpoint(asio::ip::address_v4::loopback(), ports[0])},
      {core::node_id{1}, udp::endpoint(asio::ip::address_v4::loopback(), ports[1])}};
  auto ta = udp_transport::open(io, core::node_id{0}, peers, group);
  ASSERT_TRUE(ta.ok()) << ta.error().message();
  auto& a = **ta;
  a.start([](std::span<const core::incoming_datagram>) {});
  auto next_type = [&] {
    std::array<std::byte, 70000> b;
    const std::size_t n = successor.receive(asio::buffer(b));
    auto h = wire::decode_header(std::span<const std::byte>(b.data(), n));
    return h ? h->type : wire::packet_type{0};
  };
  auto everyone = group_of({core::node_id{0}, core::node_id{1}});
  // A small burst behind the token: the burst first.
  a.send(plan({{core::node_id{1}, token_bytes()}, {std::nullopt, data_bytes(1), everyone}}, true));
  EXPECT_EQ(next_type(), wire::packet_type::data);
  EXPECT_EQ(next_type(), wire::packet_type::token);
  // A burst larger than token_delay_bytes_max: the token first, as the core ordered.
  std::vector<core::outgoing_packet> large{{core::node_id{1}, token_bytes()}};
  for (std::uint64_t s = 1; s <= 20; ++s) large.push_back({std::nullopt, data_bytes(s), everyone});
  for (auto& p : large) {
    if (p.to) continue;
    util::byte_vector big(p.bytes.span().begin(), p.bytes.span().end());
    big.resize(big.size() + 1000);  // the successor reads headers only; this is about size
    p.bytes = util::shared_bytes(std::move(big));
  }
  a.send(plan(large, true));
  EXPECT_EQ(next_type(), wire::packet_type::token);
  EXPECT_EQ(next_type(), wire::packet_type::bundle);
}

TEST(udp_transport, RefusesAnAddressItCannotBind) {
  asio::io_context io;
  // 198.18.0.1 (a benchmarking range) is not an address of this host outside a test namespace.
  std::vector<udp_transport::peer> peers{
      {core::node_id{0}, udp::endpoint(asio::ip::make_address_v4("198.18.0.1"), 4803)}};
  auto t = udp_transport::open(io, core::node_id{0}, peers, std::nullopt);
  ASSERT_FALSE(t.ok());
  EXPECT_NE(t.error().message().find("cannot bind UDP 198.18.0.1:4803"), std::string::npos)
      << t.error().message();
}

}  // namespace
}  // namespace chorus::daemon
