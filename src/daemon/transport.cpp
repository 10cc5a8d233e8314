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

void udp_transport::start(receive_handler on_datagram, std::function<void()> on_batch) {
  on_datagram_ = std::move(on_datagram);
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
  // Bounded: a few batches per wake-up, so timers and clients get their turn.
  for (int round = 0; round < 8; ++round) {
    received_.clear();
    // Both sockets before anything is handed on: with multicast, the data a token stamped
    // comes on the group socket and the token on ours, and a token handled before that data
    // would lower the aru (below). The group socket first, as its data was usually sent first.
    bool more = false;
    if (group_socket_) more = receive_batch(*group_socket_) == batch_max;
    more = receive_batch(socket_) == batch_max || more;
    // Tokens last: a predecessor sends a small burst right after its token (the Accelerated
    // Ring), and a token seen before the data it stamped would lower the aru and cost SAFE
    // messages another rotation. Any order is a legal order; this one is the useful one.
    for (auto& r : received_) {
      if (!r.token) on_datagram_(r.from, std::move(r.packet));
    }
    for (auto& r : received_) {
      if (r.token) on_datagram_(r.from, std::move(r.packet));
    }
    if (!more) break;
  }
  on_batch_();
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
  auto is_token = [](const util::result<wire::header>& h) {
    return h && h->type == wire::packet_type::token;
  };
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
    util::shared_bytes datagram(util::byte_vector(b, b + len));
    auto h = wire::decode_header(datagram.span());
    if (!h || h->type != wire::packet_type::bundle) {
      // The core checks (and counts) bad packets.
      received_.push_back({it->second, is_token(h), std::move(datagram)});
      continue;
    }
    auto parts = wire::decode_bundle(datagram.span());
    if (!parts) {
      ++stats_.bad_bundles;
      continue;
    }
    ++stats_.bundles_received;
    for (auto part : *parts) {
      received_.push_back({it->second, is_token(wire::decode_header(part)), datagram.slice(part)});
    }
  }
  return static_cast<std::size_t>(n);
}

void udp_transport::send(const std::vector<core::outgoing_packet>& packets) {
  // Every packet's destination, in the core's order.
  std::size_t index = 0;
  auto add = [&](const asio::ip::udp::endpoint& to, const util::shared_bytes& bytes) {
    add_to_bundle(to, bytes, index++);
  };
  for (const auto& p : packets) {
    if (p.to) {
      if (auto it = endpoints_.find(p.to->value); it != endpoints_.end()) add(it->second, p.bytes);
    } else if (multicast_) {
      add(*multicast_, p.bytes);
    } else if (p.group) {
      for (auto id : *p.group) {
        auto it = endpoints_.find(id.value);
        if (id != self_ && it != endpoints_.end()) add(it->second, p.bytes);
      }
    }
  }
  for (auto& o : open_) ready_.push_back(std::move(o));
  open_.clear();
  flush_sends();
}

void udp_transport::add_to_bundle(const asio::ip::udp::endpoint& to,
                                  const util::shared_bytes& bytes, std::size_t index) {
  // Packets for the same daemon share a datagram while they fit. A datagram leaves at the
  // place of its last packet in the core's order: a packet may leave later than the core put
  // it, never earlier, so every receiver still sees a token after the data sent before it.
  const std::size_t cost = wire::bundle_part_overhead + bytes.size();
  auto it = std::ranges::find_if(open_, [&](const datagram& d) { return d.to == to; });
  if (it != open_.end() &&
      (it->bytes + cost > wire::datagram_bytes_max || it->parts.size() == bundle_packets_max)) {
    ready_.push_back(std::move(*it));
    open_.erase(it);
    it = open_.end();
  }
  if (it == open_.end()) {
    open_.push_back({to, index, wire::bundle_prefix_bytes, {}});
    it = open_.end() - 1;
  }
  it->last = index;
  it->bytes += cost;
  it->parts.push_back(bytes);
}

void udp_transport::token_after_small_bursts() {
  // The Accelerated Ring sends the token before the last part of a burst, so the successor
  // can start while the burst is on the wire. By unicast, a bundle carries the token and the
  // burst to the successor in one datagram. By multicast they travel apart, and a successor
  // that handles the token before the data it stamped lowers the aru: every SAFE message then
  // takes another rotation (on loopback, p50 95 µs instead of 45). So a token goes after the
  // group datagram right behind it when that one is small; a large burst keeps the order.
  for (std::size_t i = 0; i + 1 < ready_.size(); ++i) {
    datagram& d = ready_[i];
    const datagram& next = ready_[i + 1];
    if (d.parts.size() != 1 || d.to == *multicast_ || next.to != *multicast_ ||
        next.bytes > token_delay_bytes_max)
      continue;
    auto h = wire::decode_header(d.parts.front().span());
    if (h && h->type == wire::packet_type::token) {
      std::swap(ready_[i], ready_[i + 1]);
      ++i;  // the token, now behind the burst, stays there
    }
  }
}

void udp_transport::flush_sends() {
  std::ranges::stable_sort(ready_, {}, &datagram::last);
  if (multicast_) token_after_small_bursts();
  // A datagram of one packet is that packet; a bundle gathers its framing and its packets.
  framings_.clear();
  framings_.reserve(ready_.size());
  iovecs_.clear();
  auto iov = [](std::span<const std::byte> b) {
    return iovec{const_cast<std::byte*>(b.data()), b.size()};
  };
  for (auto& d : ready_) {
    d.iov_first = iovecs_.size();
    if (d.parts.size() == 1) {
      iovecs_.push_back(iov(d.parts.front().span()));
      d.iov_count = 1;
      continue;
    }
    const auto& f = framings_.emplace_back(wire::bundle_framing(d.parts));
    const auto fs = std::span(f);
    iovecs_.push_back(iov(fs.first(wire::bundle_prefix_bytes)));
    for (std::size_t i = 0; i < d.parts.size(); ++i) {
      iovecs_.push_back(iov(fs.subspan(wire::bundle_prefix_bytes + wire::bundle_part_overhead * i,
                                       wire::bundle_part_overhead)));
      iovecs_.push_back(iov(d.parts[i].span()));
    }
    d.iov_count = iovecs_.size() - d.iov_first;
    ++stats_.bundles_sent;
  }

  mmsghdr msgs[batch_max];
  sockaddr_in to[batch_max];
  std::size_t done = 0;
  while (done < ready_.size() && !closed_) {
    std::size_t n = std::min(batch_max, ready_.size() - done);
    for (std::size_t i = 0; i < n; ++i) {
      const datagram& d = ready_[done + i];
      std::memcpy(&to[i], d.to.data(), sizeof(sockaddr_in));
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
    for (int i = 0; i < sent; ++i) {
      const auto& d = ready_[done + i];
      stats_.bytes_sent += d.parts.size() == 1 ? d.parts.front().size() : d.bytes;
    }
    stats_.datagrams_sent += static_cast<std::uint64_t>(sent);
    done += static_cast<std::size_t>(sent);
  }
  ready_.clear();
}

}  // namespace chorus::daemon
