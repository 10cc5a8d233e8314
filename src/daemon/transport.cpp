// transport.cpp — see transport.hpp.
#include "daemon/transport.hpp"

#include <netinet/in.h>
#include <sys/socket.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "wire/packet.hpp"

namespace chorus::daemon {
namespace {

std::uint64_t key(const asio::ip::udp::endpoint& e) {
  return (std::uint64_t{e.address().to_v4().to_uint()} << 16) | e.port();
}

void grow_buffers(int fd) {
  // Big socket buffers absorb bursts of a whole token visit. Try to force them past
  // rmem_max when we may (root); fall back to what the kernel allows.
  int bytes = 8 << 20;
  if (setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &bytes, sizeof bytes) != 0) {
    setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &bytes, sizeof bytes);
  }
  if (setsockopt(fd, SOL_SOCKET, SO_SNDBUFFORCE, &bytes, sizeof bytes) != 0) {
    setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &bytes, sizeof bytes);
  }
}

}  // namespace

udp_transport::udp_transport(asio::io_context& io, core::node_id self, std::vector<peer> peers)
    : self_(self), peers_(std::move(peers)), socket_(io) {
  for (const auto& p : peers_) {
    by_address_[key(p.endpoint)] = p.id;
    endpoints_[p.id.value] = p.endpoint;
  }
  receive_buffers_.resize(batch_max * datagram_bytes_max);
}

util::result<std::unique_ptr<udp_transport>> udp_transport::open(
    asio::io_context& io, core::node_id self, std::vector<peer> peers,
    std::optional<asio::ip::udp::endpoint> multicast) {
  std::unique_ptr<udp_transport> t(new udp_transport(io, self, std::move(peers)));
  asio::ip::udp::endpoint local;
  for (const auto& p : t->peers_) {
    if (p.id == self) local = p.endpoint;
  }
  asio::error_code ec;
  t->socket_.open(asio::ip::udp::v4(), ec);
  if (!ec) t->socket_.bind(local, ec);
  if (ec) {
    return util::status(util::errc::invalid_argument,
                        "cannot bind UDP " + local.address().to_string() + ":" +
                            std::to_string(local.port()) + ": " + ec.message());
  }
  t->socket_.non_blocking(true);
  grow_buffers(t->socket_.native_handle());
  if (multicast) {
    t->multicast_ = multicast;
    auto& g = t->group_socket_.emplace(io);
    g.open(asio::ip::udp::v4(), ec);
    if (!ec) g.set_option(asio::socket_base::reuse_address(true), ec);
    if (!ec) g.bind(*multicast, ec);
    if (!ec) {
      g.set_option(
          asio::ip::multicast::join_group(multicast->address().to_v4(), local.address().to_v4()),
          ec);
    }
    if (!ec)
      t->socket_.set_option(asio::ip::multicast::outbound_interface(local.address().to_v4()), ec);
    if (!ec) t->socket_.set_option(asio::ip::multicast::enable_loopback(true), ec);
    if (ec) {
      return util::status(
          util::errc::invalid_argument,
          "cannot join multicast group " + multicast->address().to_string() + ": " + ec.message());
    }
    g.non_blocking(true);
    grow_buffers(g.native_handle());
  }
  return t;
}

void udp_transport::start(receive_handler on_batch) {
  on_batch_ = std::move(on_batch);
  wait_readable(socket_);
  if (group_socket_) wait_readable(*group_socket_);
}

void udp_transport::close() {
  closed_ = true;
  asio::error_code ec;
  socket_.close(ec);
  if (group_socket_) group_socket_->close(ec);
}

void udp_transport::wait_readable(asio::ip::udp::socket& s) {
  s.async_wait(asio::socket_base::wait_read, [this, &s](const asio::error_code& ec) {
    if (ec || closed_) return;
    drain();
    wait_readable(s);
  });
}

void udp_transport::drain() {
  // Bounded: a few batches per wake-up, so timers and clients get their turn. Both sockets
  // before anything is handed on: with multicast, the data a token stamped comes on the group
  // socket and the token on ours, and the engine handles a batch's tokens after its data. The
  // group socket first, as its data was usually sent first.
  received_.clear();
  for (int round = 0; round < 8; ++round) {
    bool more = false;
    if (group_socket_) more = receive_batch(*group_socket_) == batch_max;
    more = receive_batch(socket_) == batch_max || more;
    if (!more) break;
  }
  on_batch_(received_);
  received_.clear();
}

std::size_t udp_transport::receive_batch(asio::ip::udp::socket& s) {
  mmsghdr msgs[batch_max];
  iovec iovs[batch_max];
  sockaddr_in from[batch_max];
  for (std::size_t i = 0; i < batch_max; ++i) {
    iovs[i] = {receive_buffers_.data() + i * datagram_bytes_max, datagram_bytes_max};
    std::memset(&msgs[i].msg_hdr, 0, sizeof msgs[i].msg_hdr);
    msgs[i].msg_hdr.msg_iov = &iovs[i];
    msgs[i].msg_hdr.msg_iovlen = 1;
    msgs[i].msg_hdr.msg_name = &from[i];
    msgs[i].msg_hdr.msg_namelen = sizeof from[i];
  }
  int n = recvmmsg(s.native_handle(), msgs, batch_max, MSG_DONTWAIT, nullptr);
  ++stats_.receive_syscalls;
  if (n <= 0) return 0;
  for (int i = 0; i < n; ++i) {
    std::uint64_t k =
        (std::uint64_t{ntohl(from[i].sin_addr.s_addr)} << 16) | ntohs(from[i].sin_port);
    auto it = by_address_.find(k);
    if (it == by_address_.end()) {
      ++stats_.unknown_sender;
      continue;
    }
    if (it->second == self_) continue;  // our own multicast, looped back
    const std::size_t len = msgs[i].msg_len;
    ++stats_.datagrams_received;
    stats_.bytes_received += len;
    const std::byte* b = receive_buffers_.data() + std::size_t(i) * datagram_bytes_max;
    received_.push_back({it->second, util::shared_bytes(util::byte_vector(b, b + len))});
  }
  return static_cast<std::size_t>(n);
}

void udp_transport::send(const std::vector<core::outgoing_datagram>& datagrams) {
  // A datagram of one packet is that packet; a bundle gathers its framing and its packets.
  framings_.clear();
  framings_.reserve(datagrams.size());
  iovecs_.clear();
  auto& ready = sends_;
  ready.clear();
  auto iov = [](std::span<const std::byte> b) {
    return iovec{const_cast<std::byte*>(b.data()), b.size()};
  };
  for (const auto& d : datagrams) {
    const asio::ip::udp::endpoint* to = nullptr;
    if (!d.to) {
      if (multicast_) to = &*multicast_;
    } else if (auto it = endpoints_.find(d.to->value); it != endpoints_.end()) {
      to = &it->second;
    }
    if (to == nullptr) continue;
    const std::size_t first = iovecs_.size();
    if (d.parts.size() == 1) {
      iovecs_.push_back(iov(d.parts.front().span()));
    } else {
      const auto& f = framings_.emplace_back(wire::bundle_framing(d.parts));
      const auto fs = std::span(f);
      iovecs_.push_back(iov(fs.first(wire::bundle_prefix_bytes)));
      for (std::size_t i = 0; i < d.parts.size(); ++i) {
        iovecs_.push_back(iov(fs.subspan(wire::bundle_prefix_bytes + wire::bundle_part_overhead * i,
                                         wire::bundle_part_overhead)));
        iovecs_.push_back(iov(d.parts[i].span()));
      }
    }
    ready.push_back({to, first, iovecs_.size() - first, d.bytes});
  }

  mmsghdr msgs[batch_max];
  sockaddr_in to[batch_max];
  std::size_t done = 0;
  while (done < ready.size() && !closed_) {
    std::size_t n = std::min(batch_max, ready.size() - done);
    for (std::size_t i = 0; i < n; ++i) {
      const send_entry& d = ready[done + i];
      std::memcpy(&to[i], d.to->data(), sizeof(sockaddr_in));
      std::memset(&msgs[i].msg_hdr, 0, sizeof msgs[i].msg_hdr);
      msgs[i].msg_hdr.msg_iov = &iovecs_[d.iov_first];
      msgs[i].msg_hdr.msg_iovlen = d.iov_count;
      msgs[i].msg_hdr.msg_name = &to[i];
      msgs[i].msg_hdr.msg_namelen = sizeof to[i];
    }
    int sent = sendmmsg(socket_.native_handle(), msgs, static_cast<unsigned>(n), MSG_DONTWAIT);
    ++stats_.send_syscalls;
    if (sent <= 0) {
      // The kernel refused the first datagram (full buffer, unreachable port): drop it and
      // go on; the ring's retransmissions recover data and token alike.
      ++stats_.send_errors;
      ++done;
      continue;
    }
    for (int i = 0; i < sent; ++i) stats_.bytes_sent += ready[done + i].bytes;
    stats_.datagrams_sent += static_cast<std::uint64_t>(sent);
    done += static_cast<std::size_t>(sent);
  }
}

}  // namespace chorus::daemon
