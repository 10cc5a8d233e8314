// packet_property_test.cpp — RapidCheck properties of the daemon-to-daemon packet codec
// (wire/packet.hpp):
//   P1. any valid data packet or token survives encode → decode unchanged, and the builder and
//       encode() agree byte for byte;
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
  if (auto p = decode(in)) {
    byte_vector out;
    std::visit([&](const auto& v) { encode(v, out); }, *p);
    RC_ASSERT(std::ranges::equal(out, in));
    accepted += "any";
  }
  return accepted.empty() ? "rejected" : accepted;
}

// A valid packet, data or token, encoded.
byte_vector any_valid_packet_bytes() {
  byte_vector b;
  if (*rc::gen::arbitrary<bool>()) {
    const auto specs = any_items();
    encode(make_data(specs), b);
  } else {
    encode(any_token(), b);
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
