// transport.hpp — UDP between daemons (DESIGN §4): one socket bound to this daemon's address
// and port; datagrams to one daemon go to its address, datagrams to the ring go to every other
// member (unicast fan-out) or, when the segment is an IP multicast address, once to the group.
// Reads and writes are batched with recvmmsg/sendmmsg: one system call moves up to
// `batch_max` datagrams. Packets for the same daemon in one send travel in one datagram (a wire
// bundle) while they fit: on loopback each datagram costs microseconds in the kernel, and the
// token with the data its sender just stamped is the ring's critical path.
//
// Thread-safety: none; it lives on the daemon's event-loop thread.
#pragma once

#include <sys/uio.h>

#include <asio.hpp>
#include <cstdint>
#include <functional>
#include <optional>
#include <unordered_map>
#include <vector>

#include "core/output.hpp"
#include "util/bytes.hpp"
#include "util/result.hpp"

namespace chorus::daemon {

struct transport_stats {
  std::uint64_t datagrams_sent = 0;
  std::uint64_t datagrams_received = 0;
  std::uint64_t bytes_sent = 0;
  std::uint64_t bytes_received = 0;
  std::uint64_t send_syscalls = 0;
  std::uint64_t receive_syscalls = 0;
  std::uint64_t send_errors = 0;     // datagrams the kernel refused (the ring retransmits)
  std::uint64_t unknown_sender = 0;  // datagrams from an address that is no configured daemon
  std::uint64_t bundles_sent = 0;    // datagrams that carried several packets (wire bundles)
  std::uint64_t bundles_received = 0;
  std::uint64_t bad_bundles = 0;  // bundles that did not open (dropped whole, as datagrams are)
};

class udp_transport {
 public:
  struct peer {
    core::node_id id;
    asio::ip::udp::endpoint endpoint;
  };
  // `multicast`: the segment's group address (daemons then also listen on group:port).
  // Returns an error status (address in use, not a local address, …) instead of throwing.
  static util::result<std::unique_ptr<udp_transport>> open(
      asio::io_context& io, core::node_id self, std::vector<peer> peers,
      std::optional<asio::ip::udp::endpoint> multicast);

  using receive_handler = std::function<void(core::node_id from, util::shared_bytes datagram)>;
  // Starts reading: `on_datagram` for each datagram, then `on_batch` once per batch, so the
  // caller can act on the core's output once for many datagrams. Both live as long as this.
  void start(receive_handler on_datagram, std::function<void()> on_batch);
  void send(const std::vector<core::outgoing_packet>& packets);
  void close();

  const transport_stats& stats() const noexcept { return stats_; }
  // The segment's multicast group, if the daemons are reached by multicast.
  const std::optional<asio::ip::udp::endpoint>& multicast() const noexcept { return multicast_; }

  static constexpr std::size_t batch_max = 64;
  static constexpr std::size_t datagram_bytes_max = 65536;
  static constexpr std::size_t bundle_packets_max = 64;
  // With multicast, a token waits for a group datagram behind it up to this size (a burst of
  // about ten full packets on a LAN, one on loopback); a larger burst follows the token.
  static constexpr std::size_t token_delay_bytes_max = 16 * 1024;

 private:
  udp_transport(asio::io_context& io, core::node_id self, std::vector<peer> peers);
  void wait_readable(asio::ip::udp::socket& s);
  // Reads what both sockets hold (a few batches at most) and hands it on, each batch's tokens
  // after its other packets.
  void drain();
  // One recvmmsg on `s` into received_ (the buffers are reused: each datagram is copied out);
  // how many datagrams it read.
  std::size_t receive_batch(asio::ip::udp::socket& s);
  void add_to_bundle(const asio::ip::udp::endpoint& to, const util::shared_bytes& bytes,
                     std::size_t index);
  void flush_sends();
  // With multicast: a token leaves after a small burst that the core put right behind it.
  void token_after_small_bursts();

  core::node_id self_;
  std::vector<peer> peers_;
  std::unordered_map<std::uint64_t, core::node_id> by_address_;           // ip << 16 | port
  std::unordered_map<std::uint32_t, asio::ip::udp::endpoint> endpoints_;  // by node id
  std::optional<asio::ip::udp::endpoint> multicast_;
  asio::ip::udp::socket socket_;
  std::optional<asio::ip::udp::socket> group_socket_;  // bound to the multicast group
  receive_handler on_datagram_;
  std::function<void()> on_batch_;
  std::vector<std::byte> receive_buffers_;  // batch_max × datagram_bytes_max
  bool closed_ = false;

  // One datagram being sent: its packets (kept alive until flushed) and the place of the last
  // one in the core's order.
  struct datagram {
    asio::ip::udp::endpoint to;
    std::size_t last = 0;
    std::size_t bytes = 0;  // as a bundle
    std::vector<util::shared_bytes> parts;
    std::size_t iov_first = 0, iov_count = 0;  // its entries in iovecs_ (flush_sends)
  };
  std::vector<datagram> open_;               // still taking packets, one per destination
  std::vector<datagram> ready_;              // complete, to send in `last` order
  std::vector<util::byte_vector> framings_;  // the bundles' prefixes and lengths
  std::vector<iovec> iovecs_;
  // A received batch, opened: tokens are handed on after the rest.
  struct received {
    core::node_id from;
    bool token;
    util::shared_bytes packet;
  };
  std::vector<received> received_;
  transport_stats stats_;
};

}  // namespace chorus::daemon
