// packet.hpp — daemon-to-daemon packets: codec for data packets, the regular token, and the two
// membership packets (Totem §4.3–4.4): the join message and the commit token. Pure: no I/O.
//
// Every packet starts with the same 16-byte header (all integers little-endian):
//
//   u16 magic (0xC405) | u8 version | u8 type | u32 sender | u64 conf_hash
//
// A data packet carries one ordered slot of the ring (`seq`) and the items packed into it; an
// item is a whole message or one fragment of a large one. Decoders are bounds-checked, never read
// past their input and return a result; decoded items are views into the input buffer, valid for
// as long as that buffer lives.
// Thread-safety: stateless functions over value types.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <variant>
#include <vector>

#include "util/bytes.hpp"
#include "util/result.hpp"
#include "wire/types.hpp"

namespace chorus::wire {

inline constexpr std::uint16_t packet_magic = 0xC405;
inline constexpr std::uint8_t protocol_version = 2;
inline constexpr std::size_t header_bytes = 16;
// Largest message the wire can describe; the core enforces its own, smaller, configured limit.
inline constexpr std::uint32_t message_bytes_max = 64u << 20;
// Largest number of retransmission requests one token carries.
inline constexpr std::size_t rtr_max = 1024;
// Largest datagram the codec produces or accepts (UDP's limit).
inline constexpr std::size_t datagram_bytes_max = 65507;
// Largest number of daemons a join's sets or a commit token's entries name; also the largest
// configuration the core accepts.
inline constexpr std::size_t members_max = 256;

enum class packet_type : std::uint8_t {
  data = 1,
  token = 2,
  join = 3,    // membership: a daemon's view during gather (Totem §4.3)
  commit = 4,  // membership: the commit token (Totem §4.4)
  bundle = 5,  // several packets for one daemon in one datagram (the transport's, see below)
};

struct header {
  std::uint8_t version = protocol_version;
  packet_type type = packet_type::data;
  node_id sender{};
  conf_hash hash{};
  friend bool operator==(const header&, const header&) = default;
};

// Bytes of one item's header inside a data packet (before its payload bytes).
inline constexpr std::size_t item_header_bytes = 1 + 8 + 4 + 4 + 4;
// Bytes of a data packet before its first item: header, ring id, seq, item count.
inline constexpr std::size_t data_prefix_bytes = header_bytes + 4 + 8 + 8 + 2;

// A whole message (offset 0, data.size() == total_bytes) or one fragment of a larger one.
struct item {
  service svc = service::agreed;
  msg_id id{};                    // the origin's message counter
  std::uint32_t total_bytes = 0;  // size of the whole message
  std::uint32_t offset = 0;       // where `data` starts within the whole message
  std::span<const std::byte> data;

  bool whole() const noexcept { return offset == 0 && data.size() == total_bytes; }
  bool last_fragment() const noexcept { return offset + data.size() == total_bytes; }
};

// One ordered slot of a ring. `header.sender` is the origin: the daemon that assigned `seq`.
// Retransmissions forward the original bytes unchanged.
struct data_packet {
  header hdr;
  ring_id ring;
  seq_t seq{};
  std::vector<item> items;
};

// The regular token (Totem §3.1, with the Accelerated Ring's use of its fields).
struct token {
  header hdr;
  ring_id ring;
  std::uint64_t rotation = 0;  // grows by one on every pass; a receiver drops any it has seen
  seq_t seq{};                 // highest seq assigned in this ring
  seq_t aru{};                 // all-received-up-to, as lowered by `aru_id`
  node_id aru_id = no_node;    // who holds `aru` below `seq`, or no_node
  std::uint32_t fcc = 0;       // packets broadcast during the last rotation (flow control)
  std::uint32_t backlog = 0;   // sum of the daemons' queued packets (flow-control fairness)
  std::vector<seq_t> rtr;      // retransmission requests, at most rtr_max, ascending
};

// A daemon's view during gather (Totem §4.3), broadcast to every configured daemon; or, as a
// probe, an operational daemon's announcement of its ring and of whom it hears (docs/protocol.md
// "Asymmetric links").
// Invariants (enforced by the decoder): 1. `proc` is strictly ascending, 1 ≤ size ≤ members_max;
// 2. `fail` is strictly ascending and a subset of `proc`; 3. the sender is in `proc` and not in
// `fail`; 4. `heard` is strictly ascending and does not hold the sender; 5. no id in any set is
// no_node; 6. a probe has an empty `fail`.
struct join {
  header hdr;
  std::uint32_t incarnation = 0;       // the sender's; grows each time that daemon restarts
  ring_id ring;                        // last regular ring the sender was operational in, or {0,0}
  std::uint64_t ring_counter_max = 0;  // highest ring counter the sender has seen anywhere
  std::vector<node_id> proc;           // daemons the sender has heard from (probe: its ring)
  std::vector<node_id> fail;           // daemons the sender considers failed
  // Reachability only: never a vote in gather, never a reason to gather by itself.
  bool probe = false;
  std::vector<node_id> heard;  // daemons the sender received packets from lately
  friend bool operator==(const join&, const join&) = default;
};

// One member's line in the commit token: who it is and where it comes from (EVS recovery needs
// every member's old-ring state). Invariant: old_delivered ≤ old_aru ≤ old_high_seq.
struct commit_entry {
  node_id id{};                   // the member
  std::uint32_t incarnation = 0;  // its incarnation (grows each time it restarts)
  ring_id old_ring;               // the regular ring this member comes from, or {0,0}
  seq_t old_aru{};                // in the old ring: all-received-up-to
  seq_t old_high_seq{};           // in the old ring: highest seq held
  seq_t old_delivered{};          // in the old ring: delivered up to
  bool filled = false;            // the member has written this entry (flags bit 0)
  friend bool operator==(const commit_entry&, const commit_entry&) = default;
};

// The commit token (Totem §4.4): formed by the representative, it circulates twice, once to
// collect the entries and once to distribute them. Invariants (enforced by the decoder):
// 1. `ring.counter` ≥ 1 and `ring.rep` is one of the members; 2. members are strictly ascending
// by id, 1 ≤ size ≤ members_max, none is no_node; 3. `holder` < members.size().
struct commit_token {
  header hdr;
  ring_id ring;                       // the NEW ring
  std::uint64_t rotation = 0;         // pass counter; a receiver drops any it has seen
  std::uint16_t holder = 0;           // index in `members` of the daemon this copy is for
  std::vector<commit_entry> members;  // in ring order: ascending id
  friend bool operator==(const commit_token&, const commit_token&) = default;
};

// Join flags (one byte after the fail set): bit 0, a probe; the other bits are 0.
inline constexpr std::uint8_t join_flag_probe = 1;
// Bytes of a join with every set empty (never valid: proc holds at least the sender).
inline constexpr std::size_t join_fixed_bytes = header_bytes + 4 + 4 + 8 + 8 + 2 + 2 + 1 + 2;
// Bytes of a commit token before its first entry, and of one entry.
inline constexpr std::size_t commit_prefix_bytes = header_bytes + 4 + 8 + 8 + 2 + 2;
inline constexpr std::size_t commit_entry_bytes = 4 + 4 + 4 + 8 + 8 + 8 + 8 + 1;

using packet = std::variant<data_packet, token, join, commit_token>;

// --- decoding ---------------------------------------------------------------------------------

// The header alone, checked (magic, version, known type).
util::result<header> decode_header(std::span<const std::byte> in);
util::result<data_packet> decode_data(std::span<const std::byte> in);
util::result<token> decode_token(std::span<const std::byte> in);
util::result<join> decode_join(std::span<const std::byte> in);
util::result<commit_token> decode_commit(std::span<const std::byte> in);
// Any packet: dispatches on the header type. A bundle is not a packet: it is refused.
util::result<packet> decode(std::span<const std::byte> in);

// --- bundles ----------------------------------------------------------------------------------
// A bundle carries several packets for one daemon in one datagram: a daemon that sends its
// successor the token and the data it just stamped pays for one datagram instead of two, and
// each datagram costs microseconds in the kernel even on loopback. Layout: the header (type
// bundle, sender and hash of the first packet), u16 count (≥ 2), then per packet a u32 length
// and the packet's bytes. Only the transport builds and opens bundles; the core never sees one.
inline constexpr std::size_t bundle_prefix_bytes = header_bytes + 2;
inline constexpr std::size_t bundle_part_overhead = 4;  // the length before each packet

// The bundle of `parts` (at least two packets, each with a valid header, none a bundle) is
// `framing`'s prefix (bundle_prefix_bytes), then for each packet i its length
// (framing[bundle_prefix_bytes + 4i, +4)) and its bytes. A sender that gathers (sendmmsg's
// iovecs) sends the packets from where they are; encode_bundle copies them into one buffer.
util::byte_vector bundle_framing(std::span<const util::shared_bytes> parts);
void encode_bundle(std::span<const util::shared_bytes> parts, util::byte_vector& out);
// The packets inside `in`, as views into it. Checked: the header, 2 ≤ count, every length
// within the datagram, every packet at least a header long and not a bundle itself, no bytes
// left over. The packets themselves are checked by whoever decodes them.
util::result<std::vector<std::span<const std::byte>>> decode_bundle(std::span<const std::byte> in);

// --- encoding ---------------------------------------------------------------------------------

void encode_header(const header& h, util::byte_writer& w);
void encode(const token& t, util::byte_vector& out);
void encode(const data_packet& p, util::byte_vector& out);
void encode(const join& j, util::byte_vector& out);
void encode(const commit_token& c, util::byte_vector& out);

// Builds a data packet in place, item by item, so the core packs without intermediate copies.
class data_packet_builder {
 public:
  data_packet_builder(util::byte_vector& out, const header& h, ring_id ring, seq_t seq);
  // Bytes an item with `payload_bytes` of data would add.
  static constexpr std::size_t item_cost(std::size_t payload_bytes) noexcept {
    return item_header_bytes + payload_bytes;
  }
  void add(const item& it);
  std::size_t size() const noexcept { return w_.size() - start_; }
  std::size_t items() const noexcept { return count_; }
  // Writes the item count; the packet is complete afterwards.
  void finish();

 private:
  util::byte_writer w_;
  std::size_t start_;
  std::size_t count_at_;
  std::size_t count_ = 0;
};

}  // namespace chorus::wire
