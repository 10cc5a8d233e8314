// group_msg.hpp — the payloads the groups layer (core/groups.hpp) puts through the ring: client
// data, joins, leaves, disconnects, and the group-state announcement each daemon makes after a
// configuration change (DESIGN §3.4). Bounds-checked decoders that return result<T>; no I/O.
//
// Layout: one kind byte, then the body.
//   data   : the client message exactly as daemons hand it to their sessions (48-byte Spread
//            header re-encoded little-endian with the marker, group names, payload), so delivery
//            slices the ring's buffer instead of copying (issue 4, "zero copies").
//   join, leave : u8 len, member (private group "#user#daemon"), u8 len, group name.
//   kill   : u8 len, member.
//   state  : ring (rep u32, counter u64) the announcement belongs to, the sender's previous
//            regular ring (rep, counter), u64 history, u32 count, then per local member: u8 len,
//            name, u16 group count, per group: u8 len, name.
// Thread-safety: value types and stateless functions.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "util/bytes.hpp"
#include "util/result.hpp"
#include "wire/types.hpp"

namespace chorus::wire {

enum class group_msg_kind : std::uint8_t { data = 1, join = 2, leave = 3, kill = 4, state = 5 };

// A daemon's announcement of its own sessions' groups, for the state exchange.
struct group_state {
  ring_id ring;      // the regular configuration being exchanged
  ring_id previous;  // the sender's regular configuration before it
  // A digest of the regular configurations the sender installed since its last completed
  // exchange, that exchange's ring first (not `ring`): daemons with the same history delivered
  // the same messages since the views they last shared, so vs-sets group by it.
  std::uint64_t history = 0;
  struct member {
    std::string name;                 // private group
    std::vector<std::string> groups;  // ascending
  };
  std::vector<member> members;  // ascending by name
};

struct group_op {
  group_msg_kind kind = group_msg_kind::join;  // join, leave or kill
  std::string member;
  std::string group;  // empty for kill
};

// Encoders. Names longer than 255 bytes cannot occur (the client protocol caps them at 31).
util::byte_vector encode_group_op(const group_op& op);
util::byte_vector encode_group_state(const group_state& s);
// A data payload: the kind byte followed by `client_message`.
util::byte_vector encode_group_data(std::span<const std::byte> client_message);

// The kind of a payload, or an error for an empty or unknown one.
util::result<group_msg_kind> peek_group_msg(std::span<const std::byte> payload);
util::result<group_op> decode_group_op(std::span<const std::byte> payload);
util::result<group_state> decode_group_state(std::span<const std::byte> payload);

}  // namespace chorus::wire
