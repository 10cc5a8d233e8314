// transport.hpp — UDP between daemons (DESIGN §4): one socket bound to this daemon's address
// and port; datagrams to one daemon go to its address, datagrams to the ring go to the
// segment's IP multicast group when there is one. Which packets share a datagram and in what
// order datagrams leave and received packets are handled is the engine's (core/datagrams.hpp);
// the transport moves the datagrams it is given and reads in batches: recvmmsg and sendmmsg
// move up to `batch_max` datagrams per system call, and a bundle leaves from where its packets
// are (gathered, not copied).
//
// Thread-safety: none; it lives on the daemon's event-loop thread.
#pragma once

#include <sys/uio.h>

#include <asio.hpp>
#include <cstdint>
#include <functional>
#include <optional>
#include <span>
#include <unordered_map>
#include <vector>

#include "core/datagrams.hpp"
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

  // The datagrams of one wake-up, in the order they were read (a few recvmmsg batches from
  // both sockets); valid during the call.
  using receive_handler = std::function<void(std::span<const core::incoming_datagram> batch)>;
  // Starts reading; `on_batch` lives as long as this.
  void start(receive_handler on_batch);
  // Sends `datagrams` in order; a datagram without `to` goes to the multicast group.
  void send(const std::vector<core::outgoing_datagram>& datagrams);
  void close();

  const transport_stats& stats() const noexcept { return stats_; }
  // The segment's multicast group, if the daemons are reached by multicast.
  const std::optional<asio::ip::udp::endpoint>& multicast() const noexcept { return multicast_; }

  static constexpr std::size_t batch_max = 64;
  static constexpr std::size_t datagram_bytes_max = 65536;

 private:
  udp_transport(asio::io_context& io, core::node_id self, std::vector<peer> peers);
  void wait_readable(asio::ip::udp::socket& s);
  // Reads what both sockets hold (a few batches at most) and hands it on as one batch.
  void drain();
  // One recvmmsg on `s` into received_ (the buffers are reused: each datagram is copied out);
  // how many datagrams it read.
  std::size_t receive_batch(asio::ip::udp::socket& s);

  core::node_id self_;
  std::vector<peer> peers_;
  std::unordered_map<std::uint64_t, core::node_id> by_address_;           // ip << 16 | port
  std::unordered_map<std::uint32_t, asio::ip::udp::endpoint> endpoints_;  // by node id
  std::optional<asio::ip::udp::endpoint> multicast_;
  asio::ip::udp::socket socket_;
  std::optional<asio::ip::udp::socket> group_socket_;  // bound to the multicast group
  receive_handler on_batch_;
  std::vector<std::byte> receive_buffers_;  // batch_max × datagram_bytes_max
  bool closed_ = false;

  std::vector<core::incoming_datagram> received_;
  // One send: its datagrams' destinations and their entries in iovecs_.
  struct send_entry {
    const asio::ip::udp::endpoint* to;
    std::size_t iov_first, iov_count, bytes;
  };
  std::vector<send_entry> sends_;
  std::vector<util::byte_vector> framings_;  // the bundles' prefixes and lengths
  std::vector<iovec> iovecs_;
  transport_stats stats_;
};

}  // namespace chorus::daemon
