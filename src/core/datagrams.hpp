// datagrams.hpp — the packet-order policy between a node and the network (DESIGN §4): which
// packets share a datagram, in what order datagrams leave, and in what order a received batch
// is handed to the node. Pure: the engine applies it, so chorusd's transport and the simulator
// move the same datagrams in the same order; the transport only turns them into system calls.
//
// Sending (plan_datagrams): the packets of one engine output, in the node's order, become
// datagrams. Packets for the same daemon share a datagram (a wire bundle) while it stays within
// a UDP datagram and bundle_packets_max packets; a datagram leaves at the place of its last
// packet, so a packet may leave later than the node put it, never earlier, and every receiver
// still sees a token after the data its sender stamped before it. A ring packet goes once to
// the segment's multicast group, or without multicast once to each other member of the ring.
// With multicast the token and the data behind it travel apart, so a token waits behind the
// multicast datagram that follows it when that one is small (token_delay_bytes_max): the
// successor then has the data when the token arrives. A larger burst keeps the node's order
// (the Accelerated Ring's point: the successor starts while the burst is on the wire).
//
// Receiving (open_batch): the datagrams read together (one wake-up of the transport, one
// delivery batch of the simulator) are opened — a bundle into its packets, a bad bundle dropped
// whole and counted — and handed on with the tokens last: a token handled before the data it
// stamped would lower the aru and cost every SAFE message another rotation. Any order is a
// legal order (the protocol tolerates loss and reordering); this one is the useful one.
// Thread-safety: value types and free functions.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <vector>

#include "core/output.hpp"

namespace chorus::core {

struct datagram_policy {
  node_id self;
  // The segment reaches every daemon with one datagram to its multicast group.
  bool multicast = false;
};

inline constexpr std::size_t bundle_packets_max = 64;
// With multicast, a token waits for a group datagram behind it up to this size (a burst of
// about ten full packets on a LAN, one on loopback); a larger burst follows the token.
inline constexpr std::size_t token_delay_bytes_max = 16 * 1024;

struct outgoing_datagram {
  // The daemon it goes to, or nullopt: the multicast group (for `group`, the sending ring's
  // other members).
  std::optional<node_id> to;
  std::shared_ptr<const std::vector<node_id>> group;
  // One packet (sent as it is) or several (a bundle, wire::encode_bundle), in the node's order.
  std::vector<util::shared_bytes> parts;
  std::size_t bytes = 0;  // on the wire
};

struct incoming_datagram {
  node_id from;
  util::shared_bytes bytes;
};

struct datagram_stats {
  std::uint64_t bundles_sent = 0;      // datagrams that carried several packets
  std::uint64_t bundles_received = 0;  // bundles opened
  std::uint64_t bad_bundles = 0;       // bundles that did not open (dropped whole)
};

// The datagrams that carry `packets`, in the order to send them.
std::vector<outgoing_datagram> plan_datagrams(std::span<const outgoing_packet> packets,
                                              const datagram_policy& policy, datagram_stats& stats);
// One buffer with the datagram's bytes (the packet, or the bundle): for a sender that does
// not gather.
util::shared_bytes encode_datagram(const outgoing_datagram& d);
// The packets of `batch` in the order to hand them to node::step: its datagrams' packets in
// order, bundles opened, tokens after everything else. Packets share the datagrams' bytes.
std::vector<incoming_datagram> open_batch(std::span<const incoming_datagram> batch,
                                          datagram_stats& stats);

}  // namespace chorus::core
