// output.hpp — what a core::node asks its shell to do, collected between two take_output()
// calls. One polled output, no callbacks (STYLE.md; etcd raft Ready, ScyllaDB fsm output).
// Thread-safety: value types.
#pragma once

#include <memory>
#include <optional>
#include <variant>
#include <vector>

#include "core/config.hpp"
#include "util/bytes.hpp"

namespace chorus::core {

// A message delivered by the ring, in the ring's total order.
struct delivery {
  ring_id ring;               // the configuration it is delivered in
  seq_t seq;                  // the packet that completed it (its position in the total order)
  node_id origin;             // the daemon that submitted it
  msg_id id;                  // the origin's counter for it (FIFO: grows per origin)
  service svc = service::agreed;
  util::shared_bytes payload;  // the whole message; immutable, shares the received packet
};

// A configuration installed by the node (EVS). Issue 2 installs one regular configuration at
// start; membership (issue 3) adds transitional ones and later regular ones.
struct configuration {
  enum class kind : std::uint8_t { regular, transitional };
  kind type = kind::regular;
  ring_id ring;
  std::vector<node_id> members;  // in ring order
};

using event = std::variant<delivery, configuration>;

// A datagram to send: to the daemon `to`, or (to == nullopt) to every daemon in `group` —
// the other members of the ring that sent it, a list shared by all of that ring's packets.
struct outgoing_packet {
  std::optional<node_id> to;
  util::shared_bytes bytes;
  std::shared_ptr<const std::vector<node_id>> group = nullptr;
};

// The shell acts on an output in field order:
struct output {
  // 1. Send these, in order: the token's place among the data packets is deliberate (the
  //    Accelerated Ring sends part of a burst after the token).
  std::vector<outgoing_packet> packets;
  // 2. Hand these to the layer above, in order: the ring's total order with configuration
  //    changes in their EVS positions.
  std::vector<event> events;
  // 3. Call tick() at this time or soon after (nullopt: no timer is armed).
  std::optional<time_point> deadline;

  bool empty() const noexcept { return packets.empty() && events.empty(); }
};

}  // namespace chorus::core
