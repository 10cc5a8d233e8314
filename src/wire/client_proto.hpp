// client_proto.hpp — the Spread 4.x/5.x client ⇄ daemon protocol as a pure codec (no I/O): the
// connect handshake (spec §1.3), the 48-byte message header and the checks a daemon applies to a
// client's request (§2.1–2.4), and the messages a daemon generates itself: regular membership,
// transitional signal and self-leave (§4). "spec" is shared/specs/spread-client-protocol.md.
//
// Byte order (§2.2): a client writes `type`, `num_groups` and `data_len` in its own order and marks
// little-endian by OR-ing endian_marker into `type`. The decoders accept both orders; everything
// this codec encodes is little-endian with the marker, whatever the host, and `hint` is always
// carried as verbatim bytes (never swapped). Payload bytes are never touched.
//
// Nothing a client sends can make these functions crash or assert: decoders return a result or a
// parse state; asserts guard only caller bugs (an out-of-range `local_set`).
// Thread-safety: stateless functions over value types.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "util/bytes.hpp"
#include "util/result.hpp"
#include "wire/types.hpp"

namespace chorus::wire::client {

// ---- §3.1 `type` bits (sp.h values) ----
inline constexpr std::uint32_t unreliable_mess = 0x00000001;
inline constexpr std::uint32_t reliable_mess = 0x00000002;
inline constexpr std::uint32_t fifo_mess = 0x00000004;
inline constexpr std::uint32_t causal_mess = 0x00000008;
inline constexpr std::uint32_t agreed_mess = 0x00000010;
inline constexpr std::uint32_t safe_mess = 0x00000020;
inline constexpr std::uint32_t regular_mess = 0x0000003f;  // mask of the six service bits
inline constexpr std::uint32_t self_discard = 0x00000040;
inline constexpr std::uint32_t caused_by_join = 0x00000100;
inline constexpr std::uint32_t caused_by_leave = 0x00000200;
inline constexpr std::uint32_t caused_by_disconnect = 0x00000400;
inline constexpr std::uint32_t caused_by_network = 0x00000800;
inline constexpr std::uint32_t reg_memb_mess = 0x00001000;
inline constexpr std::uint32_t transition_mess = 0x00002000;
inline constexpr std::uint32_t membership_mess = 0x00003f00;  // mask 0x0100…0x2000
inline constexpr std::uint32_t join_mess = 0x00010000;
inline constexpr std::uint32_t leave_mess = 0x00020000;
inline constexpr std::uint32_t kill_mess = 0x00040000;
inline constexpr std::uint32_t reject_mess = 0x00400000;
inline constexpr std::uint32_t subgroup_cast = 0x40000000;  // Flush; carried through
inline constexpr std::uint32_t endian_marker = 0x80000080;  // ENDIAN_TYPE, in `type` and `hint`
// Bits a `hint` may carry (§2.4 rule 4): the marker and the 16-bit mess_type in bits 8–23.
inline constexpr std::uint32_t hint_bits_allowed = 0x80ffff80;

// ---- §3.2 sizes and limits ----
inline constexpr std::size_t header_bytes = 48;
inline constexpr std::size_t name_bytes = 32;  // one group/sender field, NUL included
inline constexpr std::size_t private_name_max = 10;
inline constexpr std::size_t daemon_name_max = 19;
inline constexpr std::size_t groups_per_message_max = 100;
inline constexpr std::size_t body_bytes_max = 144000;  // 32 × num_groups + data_len
inline constexpr std::size_t auth_name_bytes = 30;     // one slot of the auth choice
inline constexpr std::size_t auth_choice_bytes = 90;   // 3 slots
// The authentication method that asks for a shared-memory session (wire/session_ring.hpp).
inline constexpr std::string_view shm_auth_method = "SHM";
inline constexpr std::size_t connect_fixed_bytes = 5;  // major, minor, patch, flags, N
// Bytes after the header of a REJECT_MESS before the names: the original type (§2.6).
inline constexpr std::size_t reject_old_type_bytes = 4;
// A membership body before its vs-sets: gid (3 × 4), num_vs_sets, local_vs_set_offset (§4.2).
inline constexpr std::size_t membership_fixed_bytes = 20;
inline constexpr std::size_t group_id_bytes = 12;

// ---- §1.4 / §5.1 single-byte handshake answers ----
inline constexpr std::int8_t accept_session = 1;
inline constexpr std::int8_t reject_quota = -3;
inline constexpr std::int8_t reject_no_name = -4;
inline constexpr std::int8_t reject_illegal_name = -5;
inline constexpr std::int8_t reject_not_unique = -6;
inline constexpr std::int8_t reject_version = -7;
inline constexpr std::int8_t reject_auth = -9;

// The version this daemon announces in its accept (§1.3 step 5: anything 3.8.0…127.127.127 works).
inline constexpr std::uint8_t daemon_version_major = 5;
inline constexpr std::uint8_t daemon_version_minor = 0;
inline constexpr std::uint8_t daemon_version_patch = 1;
// Oldest client library accepted, as major*10000 + minor*100 + patch (§1.3: 3.1.0).
inline constexpr int client_version_min = 30100;

// ==== handshake (§1.3) ====

// Step 1 as the client sent it.
struct connect_request {
  std::uint8_t major = 0, minor = 0, patch = 0;  // client library version
  bool membership = false;                       // flags bit 0: wants membership messages
  std::uint8_t priority = 0;                     // flags / 16; stored, otherwise ignored
  std::string name;                              // 0…10 bytes, each 0x24…0x7E; empty = generate
};

struct connect_parse {
  enum class state { need_more, complete, reject } st = state::need_more;
  connect_request request;   // valid when st == complete
  std::size_t consumed = 0;  // bytes of the input the request used (5 + N) when complete
  std::int8_t reject = 0;    // the code to send, then close, when st == reject
};

// Incremental: pass everything received so far (the result depends only on the bytes, so calling
// again with more bytes is fine). A decision is taken as soon as the bytes allow: an illegal
// version or name length or an illegal name byte rejects without waiting for the rest. Every
// 4.x/5.x client sends the patch byte, so the message is always 5 + N bytes (a ≤ 3.14 client,
// which omits it, is not supported).
connect_parse parse_connect(std::span<const std::byte> received);

// §5.2: 1…10 bytes, each 0x24 ('$') … 0x7E ('~').
bool valid_private_name(std::string_view name);

// Step 2: the allowed methods, `05 "NULL "`; with `offer_shm`, `09 "NULL SHM "`: Chorus's
// shared-memory sessions (wire/session_ring.hpp), which a Spread client ignores (it only checks
// that the methods it registered are listed).
util::byte_vector encode_auth_methods(bool offer_shm = false);

// Step 3: three NUL-padded 30-byte slots. Ok when every non-empty slot names an allowed method
// ("NULL", and "SHM" if offered) and at least one slot is "NULL"; otherwise the daemon sends
// reject_auth. Bytes after a slot's NUL are ignored. Stricter than upstream, which stops at the
// first empty slot. The value: whether the client chose SHM.
util::result<bool> check_auth_choice(std::span<const std::byte, auth_choice_bytes> choice,
                                     bool shm_offered = false);
// The client's step 3: each of `methods` (at most 3, each below 30 bytes) in its slot, in order,
// the unused slots zero.
std::array<std::byte, auth_choice_bytes> encode_auth_choice(
    std::span<const std::string_view> methods);
// NULL in the first slot, and SHM in the second with `shm`.
std::array<std::byte, auth_choice_bytes> encode_auth_choice(bool shm);
// Whether a step-2 list ("NULL SHM ": each name followed by one space) names `method`.
bool offers_auth_method(std::string_view list, std::string_view method);

// Step 5: `01 05 00 01 P name` (the private group is cut to 31 bytes if longer).
util::byte_vector encode_accept(std::string_view private_group);
// A reject: the single byte (sent in the step-2 or step-5 position, then close).
util::byte_vector encode_reject(std::int8_t code);
// "#session#daemon", cut to 31 bytes.
std::string private_group_name(std::string_view session, std::string_view daemon);

// ==== framing (§2) ====

struct header {
  std::uint32_t type = 0;           // host order, endian marker bits cleared
  std::string sender;               // bytes up to the first NUL within the field (byte 31 is NUL)
  std::int32_t num_groups = 0;      // host order; may be negative until validated
  std::array<std::byte, 4> hint{};  // verbatim bytes, never swapped
  std::int32_t data_len = 0;        // host order; may be negative until validated
  bool little_endian = true;        // writer's order: bytes 0 and 3 of `type` both have bit 7 set
  // Bytes 0 and 3 of `type` agree on bit 7 (both set or both clear). A mixed marker is read as
  // big-endian (upstream's LE rule) and refused by validate_request.
  bool marker_consistent = true;
};

// Never fails; validation is separate.
header decode_header(std::span<const std::byte, header_bytes> bytes);

// Appends a 48-byte header, little-endian: type | endian_marker, sender NUL-padded to 32 (cut to
// 31 bytes), num_groups, hint verbatim, data_len.
void encode_header(util::byte_writer& w, std::uint32_t type, std::string_view sender,
                   std::int32_t num_groups, std::array<std::byte, 4> hint, std::int32_t data_len);
// The same header re-marked little-endian (what the daemon forwards for a data message, §2.5).
void encode_header(util::byte_writer& w, const header& h);

// The ring's service level for a client `type` with exactly one service bit (validated).
wire::service service_of(std::uint32_t type);

enum class request_kind { multicast, join, leave, kill };

// §2.4 plus Chorus's stricter checks, in this order; the error text names the failed rule:
//  1. the endian marker in `type` is consistent;
//  2. exactly one of the six service bits, or exactly one of JOIN/LEAVE/KILL (never both kinds);
//     other bits are tolerated, as upstream tolerates them, and never forwarded (carried_type);
//  3. sender == the session's private group;
//  4. 0 <= num_groups <= 100;
//  5. hint has no bits outside 0x80FFFF80;
//  6. 0 <= data_len and data_len + 32 × num_groups <= 144000;
//  7. join/leave/kill: num_groups == 1 and data_len == 0 (Chorus addition).
util::result<request_kind> validate_request(const header& h,
                                            std::string_view session_private_group);

// What of a validated multicast's `type` travels on: the service, SELF_DISCARD and the Flush
// layer's SUBGROUP_CAST. Whatever else a client left in its service word (DROP_RECV, DONT_BLOCK,
// membership or reject bits) is dropped, so no receiver mistakes the message for another kind.
std::uint32_t carried_type(std::uint32_t type);

// Bytes after the header of a validated request (32 × num_groups + data_len); 0 if negative.
std::size_t request_body_bytes(const header& h);

// Decodes `count` 32-byte name fields from the start of `names` (bytes beyond count × 32 are
// ignored). Each field must be non-empty, and every byte before its NUL must be 0x23…0x7E: the
// legal name bytes 0x24…0x7E plus '#', which private group names ("#a#host") contain. Bytes
// after the NUL are ignored (the C client copies whole user buffers). A field of 32 name bytes
// without a NUL (Spread's Java client sends a long name so; Spread's daemon accepts it) is the
// name's first 31 bytes.
util::result<std::vector<std::string>> decode_group_names(std::span<const std::byte> names,
                                                          std::int32_t count);
// Name fields as decode_group_names reads them: each name NUL-padded to 32 bytes.
void encode_group_names(util::byte_writer& w, std::span<const std::string> names);
// A JOIN/LEAVE group (§5.3): 1…31 bytes, each 0x24…0x7E, so never '#' (in particular never a
// leading '#', which the daemon would route as a private group). Same rule as the C and Java
// clients' own checks.
util::status validate_join_leave_group(std::string_view group);
// The group of a KILL must be the session's own private group.
util::status validate_kill_group(std::string_view group, std::string_view session_private_group);
// The group rule of `kind` applied to the decoded names (a validated join/leave/kill has one).
util::status validate_request_groups(request_kind kind, const std::vector<std::string>& groups,
                                     std::string_view session_private_group);

// ==== daemon → client messages (§2.5, §4), little-endian with the marker ====

struct group_id {
  std::uint32_t a = 0, b = 0, c = 0;  // memb_id.proc_id, memb_id.time, per-group index (§4.4)
  friend bool operator==(const group_id&, const group_id&) = default;
};

// REG_MEMB_MESS | cause: sender = group, names = members (in the caller's order, §4.1), body =
// gid, num_vs_sets, local_vs_set_offset (bytes from body offset 20 to the local set), the sets.
// `local_set` is the index of the receiver's set (must be < vs_sets.size(), or 0 when empty).
// Names longer than 31 bytes are cut so every field stays NUL-terminated (§11.5).
util::byte_vector encode_membership(std::uint32_t cause, std::string_view group,
                                    const std::vector<std::string>& members, group_id gid,
                                    const std::vector<std::vector<std::string>>& vs_sets,
                                    std::size_t local_set);
// The usual join/leave/disconnect notification: one vs-set holding just `changed` (§4.3).
util::byte_vector encode_membership_change(std::uint32_t cause, std::string_view group,
                                           const std::vector<std::string>& members, group_id gid,
                                           std::string_view changed);
// TRANSITION_MESS: no names, a 12-byte body holding the gid.
util::byte_vector encode_transition(std::string_view group, group_id gid);
// CAUSED_BY_LEAVE alone, no names, no body: exactly 48 bytes.
util::byte_vector encode_self_leave(std::string_view group);

// A parsed membership body (§4.2). For a TRANSITION_MESS only `gid` is set.
struct membership_body {
  group_id gid;
  std::vector<std::vector<std::string>> vs_sets;
  std::size_t local_set = 0;  // index into vs_sets located by local_vs_set_offset (0 if none)
};

// One whole daemon → client message.
struct message {
  header hdr;
  std::uint32_t old_type = 0;       // REJECT_MESS only: original type, marker cleared (§2.6)
  std::vector<std::string> groups;  // names up to their NUL (lenient: a full field is kept)
  util::byte_vector data;           // data_len bytes: payload or membership body
  bool has_membership = false;      // REG_MEMB_MESS or TRANSITION_MESS (not REJECT_MESS)
  membership_body membership;       // parsed body when has_membership
};

// Bytes of the whole message a header announces (48, the reject's 4, names, data), or an error
// if num_groups or data_len is negative. For a client reading the daemon's stream.
util::result<std::size_t> message_bytes(const header& h);
// Decodes exactly one message occupying all of `bytes`; integers follow the header's marker.
util::result<message> decode_message(std::span<const std::byte> bytes);
// Parses a REG_MEMB_MESS body (or, when `transition`, just the gid) written in the given order.
util::result<membership_body> decode_membership_body(std::span<const std::byte> body,
                                                     bool little_endian, bool transition);

}  // namespace chorus::wire::client
