// packet_property_test.cpp — RapidCheck properties of the daemon-to-daemon packet codec
// (wire/packet.hpp):
//   P1. any valid data packet, token, join or commit token survives encode → decode unchanged,
//       and the builder and encode() agree byte for byte;
//   P2. decoding arbitrary bytes never crashes, and whatever decodes re-encodes to exactly the
//       input (the encoding is canonical: one packet, one byte string);
//   P3. changing one byte of a valid packet either makes it undecodable or yields a packet that
//       re-encodes to the changed bytes (no two byte strings decode to the same packet).
// Canonical encoding matters because retransmissions forward the original bytes and the core
// compares and hashes packets as bytes.
// A failure prints the counterexample and an RC_PARAMS="reproduce=..." line that replays it.
// Thread-safety: single-threaded tests.
#include <gtest/gtest.h>
#include <rapidcheck.h>
#include <rapidcheck/gtest.h>

#include <algorithm>
#include <cstdint>
#include <set>
#include <string>
#include <vector>

#include "wire/packet.hpp"

namespace chorus::wire {
namespace {

using util::byte_vector;

byte_vector to_bytes(const std::vector<std::uint8_t>& v) {
  byte_vector out(v.size());
  std::transform(v.begin(), v.end(), out.begin(), [](std::uint8_t b) { return std::byte{b}; });
  return out;
}

std::uint64_t nonzero_u64() {
  return *rc::gen::oneOf(rc::gen::inRange<std::uint64_t>(1, 20),
                         rc::gen::suchThat(rc::gen::arbitrary<std::uint64_t>(),
                                           [](std::uint64_t x) { return x != 0; }));
}

header any_header() {
  header h;
  h.sender = node_id{*rc::gen::arbitrary<std::uint32_t>()};
  h.hash = conf_hash{*rc::gen::arbitrary<std::uint64_t>()};
  return h;
}

ring_id any_ring() {
  return ring_id{node_id{*rc::gen::arbitrary<std::uint32_t>()},
                 *rc::gen::arbitrary<std::uint64_t>()};
}

// One item's fields and the bytes it views; kept alive for as long as the packet is used.
struct item_spec {
  service svc = service::agreed;
  msg_id id{};
  std::uint32_t total = 0;
  std::uint32_t offset = 0;
  byte_vector data;
};

item_spec any_item() {
  item_spec s;
  s.svc = static_cast<service>(*rc::gen::inRange<int>(0, service_max + 1));
  s.id = msg_id{nonzero_u64()};
  s.data = to_bytes(*rc::gen::container<std::vector<std::uint8_t>>(
      *rc::gen::inRange<std::size_t>(0, 301), rc::gen::arbitrary<std::uint8_t>()));
  const auto len = static_cast<std::uint32_t>(s.data.size());
  if (len == 0) return s;  // an empty message: the only item with no data
  // 0: whole, 1: first fragment, 2: last fragment, 3: anywhere inside its message.
  switch (*rc::gen::inRange(0, 4)) {
    case 0:
      s.total = len;
      break;
    case 1:
      s.total = *rc::gen::inRange<std::uint32_t>(len, message_bytes_max + 1);
      break;
    case 2:
      s.offset = *rc::gen::inRange<std::uint32_t>(0, message_bytes_max - len + 1);
      s.total = s.offset + len;
      break;
    default:
      s.offset = *rc::gen::inRange<std::uint32_t>(0, message_bytes_max - len + 1);
      s.total = *rc::gen::inRange<std::uint32_t>(s.offset + len, message_bytes_max + 1);
      break;
  }
  return s;
}

// A valid data packet viewing `specs`, which must outlive it.
data_packet make_data(const std::vector<item_spec>& specs) {
  data_packet p;
  p.hdr = any_header();
  p.ring = any_ring();
  p.seq = seq_t{nonzero_u64()};
  for (const item_spec& s : specs) p.items.push_back(item{s.svc, s.id, s.total, s.offset, s.data});
  return p;
}

std::vector<item_spec> any_items() {
  std::vector<item_spec> specs(*rc::gen::inRange<std::size_t>(0, 9));
  for (item_spec& s : specs) s = any_item();
  return specs;
}

token any_token() {
  token t;
  t.hdr = any_header();
  t.ring = any_ring();
  t.rotation = *rc::gen::arbitrary<std::uint64_t>();
  t.seq = seq_t{*rc::gen::oneOf(rc::gen::inRange<std::uint64_t>(0, 2000),
                                rc::gen::arbitrary<std::uint64_t>())};
  const std::uint64_t x = *rc::gen::arbitrary<std::uint64_t>();
  t.aru = seq_t{t.seq.value == UINT64_MAX ? x : x % (t.seq.value + 1)};
  t.aru_id = *rc::gen::arbitrary<bool>() ? no_node : node_id{*rc::gen::arbitrary<std::uint32_t>()};
  t.fcc = *rc::gen::arbitrary<std::uint32_t>();
  t.backlog = *rc::gen::arbitrary<std::uint32_t>();
  if (t.seq.value > 0) {
    const auto wanted = *rc::gen::oneOf(rc::gen::inRange<std::size_t>(0, 17),
                                        rc::gen::inRange<std::size_t>(0, rtr_max + 1));
    const auto raw = *rc::gen::container<std::vector<std::uint64_t>>(
        wanted, rc::gen::arbitrary<std::uint64_t>());
    std::set<std::uint64_t> rtr;
    for (std::uint64_t x : raw) rtr.insert(1 + x % t.seq.value);
    for (std::uint64_t s : rtr) t.rtr.push_back(seq_t{s});
  }
  return t;
}

// A node id other than no_node: small ones collide often (duplicates, subsets), large ones reach
// the top of the range.
node_id any_node() {
  return node_id{*rc::gen::oneOf(rc::gen::inRange<std::uint32_t>(0, 40),
                                 rc::gen::inRange<std::uint32_t>(0, no_node.value))};
}

// A sorted set of distinct ids (no no_node) containing `must`, of at most members_max ids.
std::vector<node_id> any_node_set(node_id must) {
  const auto wanted = *rc::gen::oneOf(rc::gen::inRange<std::size_t>(0, 9),
                                      rc::gen::inRange<std::size_t>(0, members_max));
  std::set<node_id> s{must};
  for (std::size_t i = 0; i < wanted; ++i) s.insert(any_node());
  return {s.begin(), s.end()};
}

join any_join() {
  join j;
  j.hdr = any_header();
  j.hdr.sender = any_node();
  j.incarnation = *rc::gen::arbitrary<std::uint32_t>();
  j.ring = *rc::gen::arbitrary<bool>() ? ring_id{} : any_ring();
  j.ring_counter_max = *rc::gen::arbitrary<std::uint64_t>();
  j.proc = any_node_set(j.hdr.sender);
  for (node_id n : j.proc)  // any subset of proc without the sender
    if (n != j.hdr.sender && *rc::gen::inRange(0, 4) == 0) j.fail.push_back(n);
  j.probe = j.fail.empty() && *rc::gen::arbitrary<bool>();
  for (node_id n : any_node_set(j.hdr.sender))  // daemons heard: any set without the sender
    if (n != j.hdr.sender) j.heard.push_back(n);
  return j;
}

commit_entry any_commit_entry(node_id id) {
  commit_entry e;
  e.id = id;
  e.incarnation = *rc::gen::arbitrary<std::uint32_t>();
  e.filled = *rc::gen::arbitrary<bool>();
  if (*rc::gen::inRange(0, 4) == 0) return e;  // an unfilled entry: old ring {0,0}, all zero
  e.old_ring = any_ring();
  e.old_high_seq = seq_t{*rc::gen::oneOf(rc::gen::inRange<std::uint64_t>(0, 2000),
                                         rc::gen::arbitrary<std::uint64_t>())};
  const std::uint64_t high = e.old_high_seq.value;
  e.old_aru = seq_t{high == UINT64_MAX ? *rc::gen::arbitrary<std::uint64_t>()
                                       : *rc::gen::inRange<std::uint64_t>(0, high + 1)};
  const std::uint64_t aru = e.old_aru.value;
  e.old_delivered = seq_t{aru == UINT64_MAX ? *rc::gen::arbitrary<std::uint64_t>()
                                            : *rc::gen::inRange<std::uint64_t>(0, aru + 1)};
  return e;
}

commit_token any_commit() {
  commit_token c;
  c.hdr = any_header();
  const std::vector<node_id> ids = any_node_set(any_node());
  for (node_id id : ids) c.members.push_back(any_commit_entry(id));
  c.ring = ring_id{ids[*rc::gen::inRange<std::size_t>(0, ids.size())], nonzero_u64()};
  c.rotation = *rc::gen::arbitrary<std::uint64_t>();
  c.holder = *rc::gen::inRange<std::uint16_t>(0, static_cast<std::uint16_t>(ids.size()));
  return c;
}

void assert_items_equal(const std::vector<item>& a, const std::vector<item>& b) {
  RC_ASSERT(a.size() == b.size());
  for (std::size_t i = 0; i < a.size(); ++i) {
    RC_ASSERT(a[i].svc == b[i].svc);
    RC_ASSERT(a[i].id == b[i].id);
    RC_ASSERT(a[i].total_bytes == b[i].total_bytes);
    RC_ASSERT(a[i].offset == b[i].offset);
    RC_ASSERT(std::ranges::equal(a[i].data, b[i].data));
  }
}

template <typename T>
T must(util::result<T> r) {
  if (!r.ok()) RC_FAIL("decode failed: " + r.error().to_string());
  return std::move(r).value();
}

// Runs every decoder on `in`; each that succeeds must re-encode to exactly `in` (the header
// decoder to its first header_bytes). Returns which decoders accepted, for RC_TAG.
std::string check_canonical(std::span<const std::byte> in) {
  std::string accepted;
  if (auto h = decode_header(in)) {
    byte_vector out;
    util::byte_writer w(out);
    encode_header(*h, w);
    RC_ASSERT(std::ranges::equal(out, in.first(header_bytes)));
    accepted += "header ";
  }
  if (auto d = decode_data(in)) {
    byte_vector out;
    encode(*d, out);
    RC_ASSERT(std::ranges::equal(out, in));
    accepted += "data ";
  }
  if (auto t = decode_token(in)) {
    byte_vector out;
    encode(*t, out);
    RC_ASSERT(std::ranges::equal(out, in));
    accepted += "token ";
  }
  if (auto j = decode_join(in)) {
    byte_vector out;
    encode(*j, out);
    RC_ASSERT(std::ranges::equal(out, in));
    accepted += "join ";
  }
  if (auto c = decode_commit(in)) {
    byte_vector out;
    encode(*c, out);
    RC_ASSERT(std::ranges::equal(out, in));
    accepted += "commit ";
  }
  if (auto p = decode(in)) {
    byte_vector out;
    std::visit([&](const auto& v) { encode(v, out); }, *p);
    RC_ASSERT(std::ranges::equal(out, in));
    accepted += "any";
  }
  return accepted.empty() ? "rejected" : accepted;
}

// A valid packet of any type, encoded.
byte_vector any_valid_packet_bytes() {
  byte_vector b;
  switch (*rc::gen::inRange(0, 4)) {
    case 0: {
      const auto specs = any_items();
      encode(make_data(specs), b);
      break;
    }
    case 1:
      encode(any_token(), b);
      break;
    case 2:
      encode(any_join(), b);
      break;
    default:
      encode(any_commit(), b);
      break;
  }
  return b;
}

// --- P1: round trips ----------------------------------------------------------------------------

RC_GTEST_PROP(packet_property, data_packet_round_trips, ()) {
  const auto specs = any_items();
  const data_packet p = make_data(specs);
  byte_vector b;
  encode(p, b);
  RC_ASSERT(b.size() <= datagram_bytes_max);

  const data_packet r = must(decode_data(b));
  RC_ASSERT(r.hdr.type == packet_type::data);
  RC_ASSERT(r.hdr.version == protocol_version);
  RC_ASSERT(r.hdr.sender == p.hdr.sender);
  RC_ASSERT(r.hdr.hash == p.hdr.hash);
  RC_ASSERT(r.ring == p.ring);
  RC_ASSERT(r.seq == p.seq);
  assert_items_equal(r.items, p.items);

  byte_vector again;
  encode(r, again);
  RC_ASSERT(again == b);

  const packet any = must(decode(b));
  RC_ASSERT(std::holds_alternative<data_packet>(any));
  assert_items_equal(std::get<data_packet>(any).items, p.items);

  byte_vector built;
  data_packet_builder builder(built, p.hdr, p.ring, p.seq);
  for (const item& it : p.items) builder.add(it);
  RC_ASSERT(builder.items() == p.items.size());
  RC_ASSERT(builder.size() == b.size());
  builder.finish();
  RC_ASSERT(built == b);
}

RC_GTEST_PROP(packet_property, token_round_trips, ()) {
  const token t = any_token();
  byte_vector b;
  encode(t, b);

  const token r = must(decode_token(b));
  RC_ASSERT(r.hdr.type == packet_type::token);
  RC_ASSERT(r.hdr.sender == t.hdr.sender);
  RC_ASSERT(r.hdr.hash == t.hdr.hash);
  RC_ASSERT(r.ring == t.ring);
  RC_ASSERT(r.rotation == t.rotation);
  RC_ASSERT(r.seq == t.seq);
  RC_ASSERT(r.aru == t.aru);
  RC_ASSERT(r.aru_id == t.aru_id);
  RC_ASSERT(r.fcc == t.fcc);
  RC_ASSERT(r.backlog == t.backlog);
  RC_ASSERT(r.rtr == t.rtr);

  byte_vector again;
  encode(r, again);
  RC_ASSERT(again == b);
  RC_ASSERT(std::holds_alternative<token>(must(decode(b))));
}

RC_GTEST_PROP(packet_property, join_round_trips, ()) {
  const join j = any_join();
  byte_vector b;
  encode(j, b);
  RC_ASSERT(b.size() == join_fixed_bytes + 4 * (j.proc.size() + j.fail.size() + j.heard.size()));

  const join r = must(decode_join(b));
  RC_ASSERT(r.hdr.type == packet_type::join);
  RC_ASSERT(r.hdr.version == protocol_version);
  RC_ASSERT(r.hdr.sender == j.hdr.sender);
  RC_ASSERT(r.hdr.hash == j.hdr.hash);
  RC_ASSERT(r.incarnation == j.incarnation);
  RC_ASSERT(r.ring == j.ring);
  RC_ASSERT(r.ring_counter_max == j.ring_counter_max);
  RC_ASSERT(r.proc == j.proc);
  RC_ASSERT(r.fail == j.fail);
  RC_ASSERT(r.probe == j.probe);
  RC_ASSERT(r.heard == j.heard);

  byte_vector again;
  encode(r, again);
  RC_ASSERT(again == b);
  const packet any = must(decode(b));
  RC_ASSERT(std::holds_alternative<join>(any));
  RC_ASSERT(std::get<join>(any) == r);
  RC_TAG(j.fail.empty() ? "no failures" : "failures");
}

RC_GTEST_PROP(packet_property, commit_round_trips, ()) {
  const commit_token c = any_commit();
  byte_vector b;
  encode(c, b);
  RC_ASSERT(b.size() == commit_prefix_bytes + commit_entry_bytes * c.members.size());

  const commit_token r = must(decode_commit(b));
  RC_ASSERT(r.hdr.type == packet_type::commit);
  RC_ASSERT(r.hdr.version == protocol_version);
  RC_ASSERT(r.hdr.sender == c.hdr.sender);
  RC_ASSERT(r.hdr.hash == c.hdr.hash);
  RC_ASSERT(r.ring == c.ring);
  RC_ASSERT(r.rotation == c.rotation);
  RC_ASSERT(r.holder == c.holder);
  RC_ASSERT(r.members.size() == c.members.size());
  for (std::size_t i = 0; i < c.members.size(); ++i) {
    const commit_entry &a = r.members[i], &e = c.members[i];
    RC_ASSERT(a.id == e.id);
    RC_ASSERT(a.incarnation == e.incarnation);
    RC_ASSERT(a.old_ring == e.old_ring);
    RC_ASSERT(a.old_aru == e.old_aru);
    RC_ASSERT(a.old_high_seq == e.old_high_seq);
    RC_ASSERT(a.old_delivered == e.old_delivered);
    RC_ASSERT(a.filled == e.filled);
  }

  byte_vector again;
  encode(r, again);
  RC_ASSERT(again == b);
  const packet any = must(decode(b));
  RC_ASSERT(std::holds_alternative<commit_token>(any));
  RC_ASSERT(std::get<commit_token>(any) == r);
}

// --- P2: arbitrary input ------------------------------------------------------------------------

RC_GTEST_PROP(packet_property, arbitrary_bytes_decode_canonically_or_not_at_all, ()) {
  byte_vector in;
  switch (*rc::gen::inRange(0, 3)) {
    case 0:  // noise
      in = to_bytes(*rc::gen::arbitrary<std::vector<std::uint8_t>>());
      break;
    case 1: {  // a valid header of any known type, then noise
      header h = any_header();
      h.type = static_cast<packet_type>(*rc::gen::inRange(1, 5));
      util::byte_writer w(in);
      encode_header(h, w);
      w.bytes(to_bytes(*rc::gen::arbitrary<std::vector<std::uint8_t>>()));
      break;
    }
    default: {  // a valid packet, maybe cut, maybe extended
      in = any_valid_packet_bytes();
      if (*rc::gen::arbitrary<bool>()) in.resize(*rc::gen::inRange<std::size_t>(0, in.size()));
      if (*rc::gen::arbitrary<bool>()) {
        const auto tail = to_bytes(*rc::gen::container<std::vector<std::uint8_t>>(
            *rc::gen::inRange<std::size_t>(1, 24), rc::gen::arbitrary<std::uint8_t>()));
        in.insert(in.end(), tail.begin(), tail.end());
      }
      break;
    }
  }
  RC_TAG(check_canonical(in));
}

// --- P3: one-byte mutations ---------------------------------------------------------------------

RC_GTEST_PROP(packet_property, one_byte_mutation_is_rejected_or_canonical, ()) {
  const byte_vector original = any_valid_packet_bytes();
  byte_vector mutated = original;
  const auto at = *rc::gen::inRange<std::size_t>(0, mutated.size());
  const auto old_value = static_cast<std::uint8_t>(mutated[at]);
  const auto new_value = *rc::gen::suchThat(rc::gen::arbitrary<std::uint8_t>(),
                                            [&](std::uint8_t v) { return v != old_value; });
  mutated[at] = std::byte{new_value};
  const std::string accepted = check_canonical(mutated);
  // Sanity of the generator: the unmutated packet is accepted by decode().
  RC_ASSERT(decode(original).ok());
  RC_TAG(accepted);
}

}  // namespace
}  // namespace chorus::wire
