// wire.hpp — what Spread's Flush layer puts on the wire (spec shared/specs/flush.md §3): its two
// control messages and the trailers it appends to application data, byte for byte, so a Chorus
// Flush client and Spread's own can share a group. All of it travels inside ordinary SP data
// messages; the daemon carries it without looking.
//
// Byte order: every field Flush adds is written in the sender's native order, and a receiver
// converts when the SP layer reports endian_mismatch (spec §3). The encoders take the order to
// write (the library writes std::endian::native; tests write both); the decoder takes whether the
// sender's order differs from ours.
//
// Pure functions, no I/O; the decoder never reads outside its input and rejects what does not
// parse with a reason.
#pragma once

#include <bit>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>

#include "util/bytes.hpp"
#include "util/result.hpp"
#include "wire/client_proto.hpp"

namespace chorus::flush::wire {

using group_id = chorus::wire::client::group_id;

// fl.h's service bits (spec §2.1): a receive flag, the flush request's service type, and the
// bit that marks a message sent to some members of a group.
inline constexpr std::uint32_t dont_block = 0x10000000;
inline constexpr std::uint32_t flush_req_mess = 0x20000000;
inline constexpr std::uint32_t subgroup_cast = chorus::wire::client::subgroup_cast;

// The message types Flush reserves (spec §2.1): an application may send -32765 and above.
inline constexpr std::int16_t flush_ok_mess = -32768;
inline constexpr std::int16_t flush_recv_mess = -32767;
inline constexpr std::int16_t vulnerable_mess = -32766;
inline constexpr std::int16_t min_legal_mess_type = -32765;
constexpr bool reserved_type(std::int16_t t) { return t < min_legal_mess_type; }

inline constexpr std::size_t gid_bytes = 12;
// The vulnerable trailer: the application's type, then the gid of the sender's installed view.
inline constexpr std::size_t vulnerable_trailer_bytes = 2 + gid_bytes;
// The subgroup trailer: the reference group's name, NUL-padded.
inline constexpr std::size_t subgroup_trailer_bytes = chorus::wire::client::name_bytes;

// The 12-byte body of FLUSH_OK (the pending view's gid this member agrees to install, §3.1) and
// of FLUSH_RECV (the view it has just installed, §3.2); both go as FIFO_MESS to the group.
util::byte_vector encode_gid_body(group_id gid, std::endian order = std::endian::native);

// What a sender appends to an application payload (§3.3), in this order:
struct trailer {
  // The message is vulnerable (a weak service sent while the sender's view is changing): the
  // header's type becomes vulnerable_mess and this carries the real one, with the gid of the
  // sender's installed view.
  struct vulnerable_part {
    std::int16_t mess_type = 0;
    group_id view{};
  };
  std::optional<vulnerable_part> vulnerable;
  // A subgroupcast or unicast: the group whose view the receivers belong to (1–31 bytes).
  std::optional<std::string> reference_group;
};
util::byte_vector encode_trailer(const trailer& t, std::endian order = std::endian::native);

// A received SP data message as Flush reads it (§3.4).
struct decoded {
  enum class kind { data, flush_ok, flush_recv };
  kind what = kind::data;
  std::size_t payload_bytes = 0;  // the application's payload: the first bytes of the message
  std::int16_t mess_type = 0;     // the application's type (data only)
  std::optional<group_id> gid;    // control messages: their gid; vulnerable data: its view
  bool vulnerable = false;
  std::optional<std::string> reference_group;  // subgroupcast: the reference group
};
// `service` and `mess_type` as the SP layer reported them (the type already in our order),
// `message` the whole payload, `foreign_order` the SP layer's endian_mismatch. Fails when a
// trailer the header announces does not fit, when a reference group is not a legal name (1–31
// bytes of '#'…'~', NUL-padded), or when a control message's body is not exactly a gid.
util::result<decoded> decode(std::uint32_t service, std::int16_t mess_type,
                             std::span<const std::byte> message, bool foreign_order);

}  // namespace chorus::flush::wire
