// transport.hpp — UDP between daemons (DESIGN §4): one socket bound to this daemon's address
// and port; datagrams to one daemon go to its address, datagrams to the ring go to every other
// member (unicast fan-out) or, when the segment is an IP multicast address, once to the group.
// Reads and writes are batched with recvmmsg/sendmmsg: one system call moves up to
// `batch_max` datagrams.
//
// Thread-safety: none; it lives on the daemon's event-loop thread.
#pragma once

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

 private:
  udp_transport(asio::io_context& io, core::node_id self, std::vector<peer> peers);
  void wait_readable(asio::ip::udp::socket& s);
  void drain(asio::ip::udp::socket& s);
  void flush_sends();

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

  // Pending sendmmsg entries: destination and bytes (kept alive until flushed).
  struct pending {
    asio::ip::udp::endpoint to;
    util::shared_bytes bytes;
  };
  std::vector<pending> pending_;
  transport_stats stats_;
};

}  // namespace chorus::daemon
