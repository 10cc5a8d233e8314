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

struct received {
  core::node_id from;
  wire::packet_type type;
};

struct two_daemons : ::testing::Test {
  asio::io_context io;
  std::vector<udp_transport::peer> peers;
  std::unique_ptr<udp_transport> a, b;
  std::vector<received> at_b;
  int batches_at_b = 0;

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
    a->start([](core::node_id, util::shared_bytes) {}, [] {});
    b->start(
        [this](core::node_id from, util::shared_bytes d) {
          auto h = wire::decode_header(d.span());
          ASSERT_TRUE(h.ok());
          at_b.push_back({from, h->type});
        },
        [this] { ++batches_at_b; });
  }

  void run_until(std::size_t n) {
    for (int i = 0; i < 2000 && at_b.size() < n; ++i) io.run_one_for(std::chrono::milliseconds(5));
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

TEST_F(two_daemons, DeliversDatagramsWithTheSendersNodeId) {
  a->send({{core::node_id{1}, data_bytes(1)}});
  run_until(1);
  ASSERT_EQ(at_b.size(), 1u);
  EXPECT_EQ(at_b[0].from, core::node_id{0});
  EXPECT_EQ(at_b[0].type, wire::packet_type::data);
  EXPECT_EQ(a->stats().datagrams_sent, 1u);
  EXPECT_EQ(b->stats().datagrams_received, 1u);
}

std::shared_ptr<const std::vector<core::node_id>> group_of(std::vector<core::node_id> ids) {
  return std::make_shared<std::vector<core::node_id>>(std::move(ids));
}

// The Accelerated Ring sends a small burst right after its token. Handled in that order, the
// token would find its data missing and lower the aru, which costs SAFE messages two more
// rotations; a batch's tokens are therefore handled after its data, whether they came in one
// datagram (a bundle) or in several.
TEST_F(two_daemons, HandlesABatchsTokenAfterItsData) {
  a->send({{core::node_id{1}, token_bytes()}});
  a->send({{std::nullopt, data_bytes(1), group_of({core::node_id{1}})}});
  a->send({{core::node_id{1}, data_bytes(2)}});
  EXPECT_EQ(a->stats().datagrams_sent, 3u);
  run_until(3);
  ASSERT_EQ(at_b.size(), 3u);
  ASSERT_EQ(batches_at_b, 1) << "the three datagrams were not read in one batch";
  EXPECT_EQ(at_b[0].type, wire::packet_type::data);
  EXPECT_EQ(at_b[1].type, wire::packet_type::data);
  EXPECT_EQ(at_b[2].type, wire::packet_type::token);
}

// A token and the data behind it, for the same daemon, cost one datagram: a bundle.
TEST_F(two_daemons, BundlesPacketsForTheSameDaemonInOneDatagram) {
  a->send({{core::node_id{1}, token_bytes()},
           {std::nullopt, data_bytes(1), group_of({core::node_id{1}})},
           {core::node_id{1}, data_bytes(2)}});
  EXPECT_EQ(a->stats().datagrams_sent, 1u);
  EXPECT_EQ(a->stats().bundles_sent, 1u);
  run_until(3);
  ASSERT_EQ(at_b.size(), 3u);
  EXPECT_EQ(b->stats().bundles_received, 1u);
  EXPECT_EQ(at_b[0].type, wire::packet_type::data);
  EXPECT_EQ(at_b[1].type, wire::packet_type::data);
  EXPECT_EQ(at_b[2].type, wire::packet_type::token);
  for (const auto& r : at_b) EXPECT_EQ(r.from, core::node_id{0});
}

TEST_F(two_daemons, APacketAloneIsSentAsItIs) {
  // Packets for different daemons never share a datagram, and one packet is not wrapped.
  a->send({{core::node_id{1}, data_bytes(1)}, {core::node_id{2}, data_bytes(2)}});
  EXPECT_EQ(a->stats().datagrams_sent, 2u);
  EXPECT_EQ(a->stats().bundles_sent, 0u);
  run_until(1);
  ASSERT_EQ(at_b.size(), 1u);
  EXPECT_EQ(b->stats().bundles_received, 0u);
}

TEST_F(two_daemons, ABundleStaysWithinOneDatagram) {
  // Two packets of 40000 bytes do not fit one datagram together: two datagrams, no bundle.
  auto big = [](std::uint64_t seq) {
    util::byte_vector out;
    wire::data_packet_builder bld(
        out, {wire::protocol_version, wire::packet_type::data, core::node_id{0}, {}}, {},
        wire::seq_t{seq});
    util::byte_vector payload(40000);
    bld.add({wire::service::agreed, wire::msg_id{seq}, 40000, 0, payload});
    bld.finish();
    return util::shared_bytes(std::move(out));
  };
  a->send(
      {{core::node_id{1}, big(1)}, {core::node_id{1}, big(2)}, {core::node_id{1}, token_bytes()}});
  EXPECT_EQ(a->stats().datagrams_sent, 2u);
  EXPECT_EQ(a->stats().bundles_sent, 1u);  // the second packet and the token
  run_until(3);
  ASSERT_EQ(at_b.size(), 3u);
  EXPECT_EQ(at_b[2].type, wire::packet_type::token);
}

TEST_F(two_daemons, DropsABundleThatDoesNotOpen) {
  // A configured daemon (node 2) sends a bundle whose count exceeds what it holds, then a
  // good packet: the bad bundle is counted and dropped whole, the packet after it arrives.
  udp::socket peer(io, peers[2].endpoint);
  std::vector<util::shared_bytes> parts{token_bytes(), data_bytes(1)};
  util::byte_vector bad;
  wire::encode_bundle(parts, bad);
  bad[wire::header_bytes] = std::byte{0x30};  // count 48
  peer.send_to(asio::buffer(bad.data(), bad.size()), peers[1].endpoint);
  auto good = data_bytes(2);
  peer.send_to(asio::buffer(good.data(), good.size()), peers[1].endpoint);
  run_until(1);
  io.run_for(std::chrono::milliseconds(20));
  ASSERT_EQ(at_b.size(), 1u);
  EXPECT_EQ(at_b[0].from, core::node_id{2});
  EXPECT_EQ(b->stats().bad_bundles, 1u);
  EXPECT_EQ(b->stats().bundles_received, 0u);
}

TEST_F(two_daemons, FansARingPacketOutToEveryOtherMember) {
  // The group names both daemons; the sender never sends to itself.
  a->send({{std::nullopt, data_bytes(1),
            std::make_shared<std::vector<core::node_id>>(
                std::vector{core::node_id{0}, core::node_id{1}})}});
  run_until(1);
  io.run_for(std::chrono::milliseconds(20));
  EXPECT_EQ(at_b.size(), 1u);
  EXPECT_EQ(a->stats().datagrams_sent, 1u);
}

TEST_F(two_daemons, DropsDatagramsFromAddressesThatAreNoDaemon) {
  udp::socket stranger(io, udp::endpoint(asio::ip::address_v4::loopback(), 0));
  auto d = data_bytes(1);
  stranger.send_to(asio::buffer(d.data(), d.size()), peers[1].endpoint);
  a->send({{core::node_id{1}, data_bytes(2)}});
  run_until(1);
  io.run_for(std::chrono::milliseconds(20));
  ASSERT_EQ(at_b.size(), 1u);
  EXPECT_EQ(at_b[0].from, core::node_id{0});
  EXPECT_EQ(b->stats().unknown_sender, 1u);
}

// With multicast, the token comes on a daemon's own socket and the data it stamped on the group
// socket. Each socket used to be read when the event loop reported it, so the token (sent
// first, as the Accelerated Ring does before a small burst) was handled before its data, and
// every SAFE message took a second rotation (p50 95 µs instead of 45 through 3 daemons on
// loopback). Both sockets are now read before anything is handed on.
TEST(udp_transport, HandlesATokenAfterTheDataThatCameByMulticast) {
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
  std::vector<wire::packet_type> at_b;
  int batches_at_b = 0;
  (*ta)->start([](core::node_id, util::shared_bytes) {}, [] {});
  (*tb)->start(
      [&](core::node_id from, util::shared_bytes d) {
        EXPECT_EQ(from, core::node_id{0});
        auto h = wire::decode_header(d.span());
        ASSERT_TRUE(h.ok());
        at_b.push_back(h->type);
      },
      [&] { ++batches_at_b; });
  (*ta)->send({{core::node_id{1}, token_bytes()},
               {std::nullopt, data_bytes(1), group_of({core::node_id{0}, core::node_id{1}})}});
  EXPECT_EQ((*ta)->stats().datagrams_sent, 2u) << "the token and the multicast data";
  for (int i = 0; i < 2000 && at_b.size() < 2; ++i) io.run_one_for(std::chrono::milliseconds(5));
  ASSERT_EQ(at_b.size(), 2u);
  EXPECT_EQ(batches_at_b, 1) << "the two sockets were read in separate batches";
  EXPECT_EQ(at_b[0], wire::packet_type::data);
  EXPECT_EQ(at_b[1], wire::packet_type::token);
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
  a.start([](core::node_id, util::shared_bytes) {}, [] {});
  auto next_type = [&] {
    std::array<std::byte, 70000> b;
    const std::size_t n = successor.receive(asio::buffer(b));
    auto h = wire::decode_header(std::span<const std::byte>(b.data(), n));
    return h ? h->type : wire::packet_type{0};
  };
  auto everyone = group_of({core::node_id{0}, core::node_id{1}});
  // A small burst behind the token: the burst first.
  a.send({{core::node_id{1}, token_bytes()}, {std::nullopt, data_bytes(1), everyone}});
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
  a.send(large);
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
