// types.hpp — identifiers and enums shared by the daemon-to-daemon protocol and the core.
// Every id and counter is its own type (STYLE.md). See docs/protocol.md, "Glossary".
// Thread-safety: value types.
#pragma once

#include <compare>
#include <cstdint>
#include <string>

#include "util/tagged.hpp"

namespace chorus::wire {

// A daemon's identity within a configuration (its index-independent, stable number).
using node_id = util::tagged<std::uint32_t, struct node_id_tag>;
// Position of a packet in a ring's total order; 0 means "none yet", the first packet is 1.
using seq_t = util::tagged<std::uint64_t, struct seq_tag>;
// Hash of the static configuration a packet was sent under (protocol.md I-10).
using conf_hash = util::tagged<std::uint64_t, struct conf_hash_tag>;
// Per-origin message counter: the n-th message a daemon submitted has id n (from 1).
using msg_id = util::tagged<std::uint64_t, struct msg_id_tag>;

// No daemon: the token's aru_id when nobody holds the aru down.
inline constexpr node_id no_node{0xffffffffu};

// Identifies one ring (one regular configuration): its representative and a counter that grows
// with every ring that representative forms (Totem §3).
struct ring_id {
  node_id rep{};
  std::uint64_t counter = 0;
  friend constexpr auto operator<=>(const ring_id&, const ring_id&) = default;
  friend constexpr bool operator==(const ring_id&, const ring_id&) = default;
};

// Service levels, numbered in increasing strength. The wire values are ours (daemon protocol);
// the client protocol maps Spread's bit flags onto these.
enum class service : std::uint8_t {
  unreliable = 0,
  reliable = 1,
  fifo = 2,
  causal = 3,
  agreed = 4,
  safe = 5,
  // Daemon-internal, never a client's: membership recovery carries old-ring packets and each
  // member's "done" marker in the forming ring (docs/protocol.md "Membership").
  recovery = 6,
};
// The highest client service level; the wire also carries `recovery`.
inline constexpr std::uint8_t service_max = 5;
inline constexpr std::uint8_t service_wire_max = 6;

const char* to_string(service s) noexcept;
std::string to_string(ring_id r);

}  // namespace chorus::wire
