// packet_test.cpp — unit tests for the daemon-to-daemon packet codec (wire/packet.hpp): the exact
// byte layout, encode→decode equality, data_packet_builder against encode(), and every error path
// of the decoders (data packet, token, join, commit token). Nothing a peer sends may crash a
// daemon, so each rejection is exercised here with the error code the daemon counts it under.
// Thread-safety: single-threaded tests.
#include "wire/packet.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <string>
#include <vector>

namespace chorus::wire {
namespace {

using util::byte_vector;
using util::byte_writer;
using util::errc;

// Field offsets, from the layout in packet.hpp.
constexpr std::size_t off_version = 2;
constexpr std::size_t off_type = 3;
constexpr std::size_t off_data_seq = 28;
constexpr std::size_t off_data_count = 36;
constexpr std::size_t off_item_svc = 0;
constexpr std::size_t off_item_id = 1;
constexpr std::size_t off_item_total = 9;
constexpr std::size_t off_item_offset = 13;
constexpr std::size_t off_item_len = 17;
constexpr std::size_t off_token_seq = 36;
constexpr std::size_t off_token_aru = 44;
constexpr std::size_t off_token_rtr_count = 64;
constexpr std::size_t token_fixed_bytes = 66;
constexpr std::size_t off_join_incarnation = 16;
constexpr std::size_t off_join_proc_count = 40;
constexpr std::size_t off_commit_counter = 20;
constexpr std::size_t off_commit_holder = 36;
constexpr std::size_t off_commit_count = 38;
constexpr std::size_t off_entry_id = 0;
constexpr std::size_t off_entry_old_aru = 20;
constexpr std::size_t off_entry_old_high = 28;
constexpr std::size_t off_entry_old_delivered = 36;
constexpr std::size_t off_entry_flags = 44;

byte_vector payload(std::size_t n, int salt) {
  byte_vector v(n);
  for (std::size_t i = 0; i < n; ++i) v[i] = static_cast<std::byte>((i * 7 + salt) & 0xff);
  return v;
}

void put_le(byte_vector& b, std::size_t at, std::uint64_t v, std::size_t n) {
  ASSERT_LE(at + n, b.size());
  for (std::size_t i = 0; i < n; ++i) b[at + i] = static_cast<std::byte>(v >> (8 * i));
}

header make_header(node_id sender) {
  header h;
  h.sender = sender;
  h.hash = conf_hash{0x0123456789abcdefULL};
  return h;
}

// A data packet exercising every item shape: a whole message, a middle fragment, a last fragment,
// and an empty message. The members own the bytes the items view, so it is never copied.
struct sample_data {
  sample_data(const sample_data&) = delete;
  byte_vector whole = payload(10, 1);
  byte_vector middle = payload(100, 2);
  byte_vector last = payload(5, 3);
  data_packet p;

  sample_data() {
    p.hdr = make_header(node_id{3});
    p.ring = ring_id{node_id{1}, 42};
    p.seq = seq_t{1000};
    p.items.push_back(item{service::agreed, msg_id{1}, 10, 0, whole});
    p.items.push_back(item{service::safe, msg_id{2}, 1000, 300, middle});
    p.items.push_back(item{service::unreliable, msg_id{3}, 505, 500, last});
    p.items.push_back(item{service::fifo, msg_id{4}, 0, 0, {}});
  }
  byte_vector bytes() const {
    byte_vector out;
    encode(p, out);
    return out;
  }
  // Offset of item `i` in bytes().
  std::size_t item_at(std::size_t i) const {
    std::size_t at = data_prefix_bytes;
    for (std::size_t k = 0; k < i; ++k) at += item_header_bytes + p.items[k].data.size();
    return at;
  }
};

token sample_token() {
  token t;
  t.hdr = make_header(node_id{2});
  t.hdr.type = packet_type::token;
  t.ring = ring_id{node_id{1}, 42};
  t.rotation = 77;
  t.seq = seq_t{500};
  t.aru = seq_t{480};
  t.aru_id = node_id{3};
  t.fcc = 12;
  t.backlog = 9;
  t.rtr = {seq_t{481}, seq_t{490}, seq_t{500}};
  return t;
}

byte_vector encoded(const token& t) {
  byte_vector out;
  encode(t, out);
  return out;
}

std::vector<node_id> ids(std::initializer_list<std::uint32_t> v) {
  std::vector<node_id> out;
  for (std::uint32_t x : v) out.push_back(node_id{x});
  return out;
}

// Daemon 2's view: it heard from 1, 2, 3 and 5 and considers 5 failed.
join sample_join() {
  join j;
  j.hdr = make_header(node_id{2});
  j.hdr.type = packet_type::join;
  j.incarnation = 7;
  j.ring = ring_id{node_id{1}, 42};
  j.ring_counter_max = 44;
  j.proc = ids({1, 2, 3, 5});
  j.fail = ids({5});
  j.heard = ids({1, 3});
  return j;
}

// The commit token for ring {1, 45} of members 1, 2, 4, addressed to 2 (index 1); 1 and 2 have
// filled in their entries, 4 has not.
commit_token sample_commit() {
  commit_token c;
  c.hdr = make_header(node_id{1});
  c.hdr.type = packet_type::commit;
  c.ring = ring_id{node_id{1}, 45};
  c.rotation = 3;
  c.holder = 1;
  c.members.push_back(commit_entry{node_id{1}, 7, ring_id{node_id{1}, 42}, seq_t{480}, seq_t{500},
                                   seq_t{470}, true});
  c.members.push_back(commit_entry{node_id{2}, 8, ring_id{node_id{1}, 42}, seq_t{490}, seq_t{490},
                                   seq_t{490}, true});
  commit_entry fresh;
  fresh.id = node_id{4};
  c.members.push_back(fresh);
  return c;
}

template <typename T>
byte_vector encoded_as(const T& v) {
  byte_vector out;
  encode(v, out);
  return out;
}

// Offset of commit entry `i` in an encoded commit token.
constexpr std::size_t entry_at(std::size_t i) {
  return commit_prefix_bytes + i * commit_entry_bytes;
}

// Appends `v` little-endian in `n` bytes: the tests' own writer, independent of the codec's.
void append_le(byte_vector& b, std::uint64_t v, std::size_t n) {
  for (std::size_t i = 0; i < n; ++i) b.push_back(static_cast<std::byte>(v >> (8 * i)));
}

// A join written field by field without the encoder's size checks, for sets the encoder refuses.
byte_vector raw_join(const join& j) {
  byte_vector b;
  byte_writer w(b);
  header h = j.hdr;
  h.type = packet_type::join;
  encode_header(h, w);
  append_le(b, j.incarnation, 4);
  append_le(b, j.ring.rep.value, 4);
  append_le(b, j.ring.counter, 8);
  append_le(b, j.ring_counter_max, 8);
  for (const auto* set : {&j.proc, &j.fail}) {
    append_le(b, set->size(), 2);
    for (node_id id : *set) append_le(b, id.value, 4);
  }
  append_le(b, j.probe ? join_flag_probe : 0, 1);
  append_le(b, j.heard.size(), 2);
  for (node_id id : j.heard) append_le(b, id.value, 4);
  return b;
}

void expect_items_equal(const std::vector<item>& a, const std::vector<item>& b) {
  ASSERT_EQ(a.size(), b.size());
  for (std::size_t i = 0; i < a.size(); ++i) {
    EXPECT_EQ(a[i].svc, b[i].svc) << "item " << i;
    EXPECT_EQ(a[i].id, b[i].id) << "item " << i;
    EXPECT_EQ(a[i].total_bytes, b[i].total_bytes) << "item " << i;
    EXPECT_EQ(a[i].offset, b[i].offset) << "item " << i;
    EXPECT_TRUE(std::ranges::equal(a[i].data, b[i].data)) << "item " << i;
  }
}

void expect_token_equal(const token& a, const token& b) {
  EXPECT_EQ(a.hdr, b.hdr);
  EXPECT_EQ(a.ring, b.ring);
  EXPECT_EQ(a.rotation, b.rotation);
  EXPECT_EQ(a.seq, b.seq);
  EXPECT_EQ(a.aru, b.aru);
  EXPECT_EQ(a.aru_id, b.aru_id);
  EXPECT_EQ(a.fcc, b.fcc);
  EXPECT_EQ(a.backlog, b.backlog);
  EXPECT_EQ(a.rtr, b.rtr);
}

template <typename T>
errc error_of(const util::result<T>& r) {
  return r.ok() ? errc::ok : r.error().code();
}

// --- layout -------------------------------------------------------------------------------------

TEST(packet_layout, header_bytes_are_little_endian_in_documented_order) {
  header h;
  h.type = packet_type::token;
  h.sender = node_id{0x01020304};
  h.hash = conf_hash{0x1122334455667788ULL};
  byte_vector out;
  byte_writer w(out);
  encode_header(h, w);
  const byte_vector want = {std::byte{0x05}, std::byte{0xc4}, std::byte{2},    std::byte{2},
                            std::byte{0x04}, std::byte{0x03}, std::byte{0x02}, std::byte{0x01},
                            std::byte{0x88}, std::byte{0x77}, std::byte{0x66}, std::byte{0x55},
                            std::byte{0x44}, std::byte{0x33}, std::byte{0x22}, std::byte{0x11}};
  EXPECT_EQ(out, want);
  EXPECT_EQ(out.size(), header_bytes);
}

TEST(packet_layout, sizes_match_the_constants) {
  sample_data d;
  std::size_t want = data_prefix_bytes;
  for (const item& it : d.p.items) want += data_packet_builder::item_cost(it.data.size());
  EXPECT_EQ(d.bytes().size(), want);
  EXPECT_EQ(encoded(sample_token()).size(), token_fixed_bytes + 3 * 8);
}

TEST(packet_layout, token_fields_sit_at_their_offsets) {
  const byte_vector b = encoded(sample_token());
  util::byte_reader r(b);
  ASSERT_TRUE(decode_header(b).ok());
  r.bytes(header_bytes);
  EXPECT_EQ(r.u32(), 1u);    // ring rep
  EXPECT_EQ(r.u64(), 42u);   // ring counter
  EXPECT_EQ(r.u64(), 77u);   // rotation
  EXPECT_EQ(r.u64(), 500u);  // seq
  EXPECT_EQ(r.u64(), 480u);  // aru
  EXPECT_EQ(r.u32(), 3u);    // aru_id
  EXPECT_EQ(r.u32(), 12u);   // fcc
  EXPECT_EQ(r.u32(), 9u);    // backlog
  EXPECT_EQ(r.u16(), 3u);    // rtr count
  EXPECT_EQ(r.u64(), 481u);
  EXPECT_EQ(r.position(), token_fixed_bytes + 8);
}

TEST(packet_layout, encode_appends_without_clearing) {
  byte_vector out = {std::byte{0xaa}};
  encode(sample_token(), out);
  EXPECT_EQ(out[0], std::byte{0xaa});
  EXPECT_EQ(out.size(), 1 + token_fixed_bytes + 3 * 8);
}

// --- round trips
// ----------------------------------------------------------------------------------

TEST(packet_round_trip, data_packet) {
  sample_data d;
  const byte_vector b = d.bytes();
  auto r = decode_data(b);
  ASSERT_TRUE(r.ok()) << r.error().to_string();
  EXPECT_EQ(r->hdr.type, packet_type::data);
  EXPECT_EQ(r->hdr.sender, d.p.hdr.sender);
  EXPECT_EQ(r->hdr.hash, d.p.hdr.hash);
  EXPECT_EQ(r->hdr.version, protocol_version);
  EXPECT_EQ(r->ring, d.p.ring);
  EXPECT_EQ(r->seq, d.p.seq);
  expect_items_equal(r->items, d.p.items);
  // Items are views into the input buffer, not copies.
  for (const item& it : r->items) {
    if (it.data.empty()) continue;
    EXPECT_GE(it.data.data(), b.data());
    EXPECT_LE(it.data.data() + it.data.size(), b.data() + b.size());
  }
  EXPECT_TRUE(r->items[0].whole());
  EXPECT_FALSE(r->items[1].whole());
  EXPECT_FALSE(r->items[1].last_fragment());
  EXPECT_TRUE(r->items[2].last_fragment());
  EXPECT_TRUE(r->items[3].whole());

  byte_vector again;
  encode(*r, again);
  EXPECT_EQ(again, b);
}

TEST(packet_round_trip, data_packet_without_items) {
  data_packet p;
  p.hdr = make_header(node_id{1});
  p.seq = seq_t{1};
  byte_vector b;
  encode(p, b);
  EXPECT_EQ(b.size(), data_prefix_bytes);
  auto r = decode_data(b);
  ASSERT_TRUE(r.ok()) << r.error().to_string();
  EXPECT_TRUE(r->items.empty());
}

TEST(packet_round_trip, encoder_overrides_the_header_type) {
  sample_data d;
  d.p.hdr.type = packet_type::token;  // wrong on purpose: encode(data_packet) writes `data`
  EXPECT_TRUE(decode_data(d.bytes()).ok());
  token t = sample_token();
  t.hdr.type = packet_type::data;
  EXPECT_TRUE(decode_token(encoded(t)).ok());
}

TEST(packet_round_trip, token) {
  const token t = sample_token();
  const byte_vector b = encoded(t);
  auto r = decode_token(b);
  ASSERT_TRUE(r.ok()) << r.error().to_string();
  EXPECT_EQ(r->hdr.type, packet_type::token);
  expect_token_equal(*r, t);
  EXPECT_EQ(encoded(*r), b);
}

TEST(packet_round_trip, token_edge_values) {
  token t = sample_token();
  t.rtr.clear();
  t.seq = seq_t{0};
  t.aru = seq_t{0};
  t.aru_id = no_node;
  ASSERT_TRUE(decode_token(encoded(t)).ok());

  t.seq = seq_t{UINT64_MAX};
  t.aru = seq_t{UINT64_MAX};  // aru == seq is allowed
  t.rotation = UINT64_MAX;
  t.fcc = UINT32_MAX;
  t.backlog = UINT32_MAX;
  t.rtr = {seq_t{1}, seq_t{UINT64_MAX}};
  auto r = decode_token(encoded(t));
  ASSERT_TRUE(r.ok()) << r.error().to_string();
  expect_token_equal(*r, t);
}

TEST(packet_round_trip, token_with_rtr_max_requests) {
  token t = sample_token();
  t.seq = seq_t{5000};
  t.rtr.clear();
  for (std::size_t i = 1; i <= rtr_max; ++i) t.rtr.push_back(seq_t{i * 2});
  auto r = decode_token(encoded(t));
  ASSERT_TRUE(r.ok()) << r.error().to_string();
  EXPECT_EQ(r->rtr.size(), rtr_max);
  EXPECT_EQ(r->rtr, t.rtr);
}

TEST(packet_round_trip, decode_dispatches_on_type) {
  sample_data d;
  const byte_vector b = d.bytes();  // outlives the decoded item views
  auto pd = decode(b);
  ASSERT_TRUE(pd.ok());
  ASSERT_TRUE(std::holds_alternative<data_packet>(*pd));
  expect_items_equal(std::get<data_packet>(*pd).items, d.p.items);

  auto pt = decode(encoded(sample_token()));
  ASSERT_TRUE(pt.ok());
  ASSERT_TRUE(std::holds_alternative<token>(*pt));
  EXPECT_EQ(std::get<token>(*pt).rotation, 77u);
}

TEST(packet_round_trip, largest_datagram_is_accepted) {
  byte_vector big(datagram_bytes_max - data_prefix_bytes - item_header_bytes);
  data_packet p;
  p.hdr = make_header(node_id{1});
  p.seq = seq_t{9};
  p.items.push_back(
      item{service::reliable, msg_id{1}, static_cast<std::uint32_t>(big.size()), 0, big});
  byte_vector b;
  encode(p, b);
  ASSERT_EQ(b.size(), datagram_bytes_max);
  EXPECT_TRUE(decode_data(b).ok());
  EXPECT_TRUE(decode(b).ok());
}

// --- data_packet_builder ------------------------------------------------------------------------

TEST(data_packet_builder, output_is_identical_to_encode) {
  sample_data d;
  byte_vector built;
  data_packet_builder b(built, d.p.hdr, d.p.ring, d.p.seq);
  EXPECT_EQ(b.size(), data_prefix_bytes);
  EXPECT_EQ(b.items(), 0u);
  std::size_t want_size = data_prefix_bytes;
  for (const item& it : d.p.items) {
    b.add(it);
    want_size += data_packet_builder::item_cost(it.data.size());
    EXPECT_EQ(b.size(), want_size);
  }
  EXPECT_EQ(b.items(), d.p.items.size());
  b.finish();
  EXPECT_EQ(built, d.bytes());
}

TEST(data_packet_builder, builds_after_existing_bytes) {
  sample_data d;
  byte_vector built = {std::byte{1}, std::byte{2}, std::byte{3}};
  data_packet_builder b(built, d.p.hdr, d.p.ring, d.p.seq);
  EXPECT_EQ(b.size(), data_prefix_bytes);
  for (const item& it : d.p.items) b.add(it);
  b.finish();
  const byte_vector want = d.bytes();
  ASSERT_EQ(built.size(), 3 + want.size());
  EXPECT_TRUE(std::equal(want.begin(), want.end(), built.begin() + 3));
  EXPECT_EQ(built[0], std::byte{1});
  EXPECT_TRUE(decode_data(std::span<const std::byte>(built).subspan(3)).ok());
}

TEST(data_packet_builder, item_cost_is_header_plus_payload) {
  EXPECT_EQ(data_packet_builder::item_cost(0), item_header_bytes);
  EXPECT_EQ(data_packet_builder::item_cost(100), item_header_bytes + 100);
}

TEST(data_packet_builder_death, fragment_past_its_message_asserts) {
  byte_vector out;
  data_packet_builder b(out, make_header(node_id{1}), ring_id{}, seq_t{1});
  const byte_vector data = payload(10, 0);
  EXPECT_DEATH(b.add(item{service::agreed, msg_id{1}, 15, 6, data}), "CHORUS_ASSERT");
}

// --- header errors
// --------------------------------------------------------------------------------

TEST(decode_header, accepts_every_known_type) {
  for (std::uint8_t type = 1; type <= 5; ++type) {
    byte_vector b = encoded(sample_token());
    b[off_type] = std::byte{type};
    auto h = decode_header(b);
    ASSERT_TRUE(h.ok()) << int(type);
    EXPECT_EQ(static_cast<std::uint8_t>(h->type), type);
    EXPECT_EQ(h->sender, node_id{2});
    EXPECT_EQ(h->hash, conf_hash{0x0123456789abcdefULL});
  }
}

TEST(decode_header, short_input_is_truncated) {
  const byte_vector b = encoded(sample_token());
  for (std::size_t n = 0; n < header_bytes; ++n) {
    auto h = decode_header(std::span<const std::byte>(b.data(), n));
    EXPECT_EQ(error_of(h), errc::truncated) << "length " << n;
  }
  EXPECT_TRUE(decode_header(std::span<const std::byte>(b.data(), header_bytes)).ok());
}

TEST(decode_header, bad_magic_is_malformed) {
  for (std::size_t at : {0u, 1u}) {
    byte_vector b = encoded(sample_token());
    b[at] ^= std::byte{0x01};
    EXPECT_EQ(error_of(decode_header(b)), errc::malformed);
    EXPECT_EQ(error_of(decode(b)), errc::malformed);
    EXPECT_EQ(error_of(decode_token(b)), errc::malformed);
  }
  byte_vector swapped = encoded(sample_token());
  std::swap(swapped[0], swapped[1]);  // big-endian magic
  EXPECT_EQ(error_of(decode_header(swapped)), errc::malformed);
}

TEST(decode_header, other_version_is_unsupported) {
  for (int v : {0, 1, 3, 255}) {
    byte_vector b = encoded(sample_token());
    b[off_version] = std::byte(v);
    EXPECT_EQ(error_of(decode_header(b)), errc::unsupported) << v;
    EXPECT_EQ(error_of(decode(b)), errc::unsupported) << v;
    EXPECT_EQ(error_of(decode_token(b)), errc::unsupported) << v;
  }
}

TEST(decode_header, unknown_type_is_malformed) {
  for (int type : {0, 6, 200, 255}) {
    byte_vector b = encoded(sample_token());
    b[off_type] = std::byte(type);
    EXPECT_EQ(error_of(decode_header(b)), errc::malformed) << type;
    EXPECT_EQ(error_of(decode(b)), errc::malformed) << type;
  }
}

TEST(decode, membership_types_are_no_longer_unsupported) {
  // A token's body under a membership type: decode runs that type's decoder, which refuses it as
  // a malformed or short packet of its own type, never as `unsupported`.
  for (packet_type type : {packet_type::join, packet_type::commit}) {
    byte_vector b = encoded(sample_token());
    b[off_type] = std::byte(static_cast<std::uint8_t>(type));
    const errc e = error_of(decode(b));
    EXPECT_TRUE(e == errc::malformed || e == errc::truncated) << util::to_string(e);
    EXPECT_EQ(error_of(decode_token(b)), errc::malformed);
    EXPECT_EQ(error_of(decode_data(b)), errc::malformed);
  }
}

TEST(decode, each_typed_decoder_rejects_the_other_types) {
  sample_data d;
  const std::vector<byte_vector> all = {d.bytes(), encoded(sample_token()),
                                        encoded_as(sample_join()), encoded_as(sample_commit())};
  for (std::size_t i = 0; i < all.size(); ++i) {
    auto want = [&](std::size_t k) { return i == k ? errc::ok : errc::malformed; };
    EXPECT_EQ(error_of(decode_data(all[i])), want(0)) << i;
    EXPECT_EQ(error_of(decode_token(all[i])), want(1)) << i;
    EXPECT_EQ(error_of(decode_join(all[i])), want(2)) << i;
    EXPECT_EQ(error_of(decode_commit(all[i])), want(3)) << i;
  }
}

// --- truncation and trailing bytes ------------------------------------------------------------

TEST(decode, every_strict_prefix_of_a_data_packet_is_truncated) {
  sample_data d;
  const byte_vector b = d.bytes();
  for (std::size_t n = 0; n < b.size(); ++n) {
    const std::span<const std::byte> prefix(b.data(), n);
    ASSERT_EQ(error_of(decode_data(prefix)), errc::truncated) << "length " << n;
    ASSERT_EQ(error_of(decode(prefix)), errc::truncated) << "length " << n;
  }
}

TEST(decode, every_strict_prefix_of_a_token_is_truncated) {
  const byte_vector b = encoded(sample_token());
  for (std::size_t n = 0; n < b.size(); ++n) {
    const std::span<const std::byte> prefix(b.data(), n);
    ASSERT_EQ(error_of(decode_token(prefix)), errc::truncated) << "length " << n;
    ASSERT_EQ(error_of(decode(prefix)), errc::truncated) << "length " << n;
  }
}

TEST(decode, trailing_bytes_are_malformed) {
  sample_data d;
  byte_vector b = d.bytes();
  b.push_back(std::byte{0});
  EXPECT_EQ(error_of(decode_data(b)), errc::malformed);
  EXPECT_EQ(error_of(decode(b)), errc::malformed);

  byte_vector t = encoded(sample_token());
  t.push_back(std::byte{0});
  EXPECT_EQ(error_of(decode_token(t)), errc::malformed);
  // Not a whole extra retransmission request either.
  for (int i = 0; i < 7; ++i) t.push_back(std::byte{0});
  EXPECT_EQ(error_of(decode_token(t)), errc::malformed);
}

TEST(decode, datagram_above_the_udp_limit_is_too_large) {
  byte_vector big(datagram_bytes_max + 1 - data_prefix_bytes - item_header_bytes);
  data_packet p;
  p.hdr = make_header(node_id{1});
  p.seq = seq_t{9};
  p.items.push_back(
      item{service::reliable, msg_id{1}, static_cast<std::uint32_t>(big.size()), 0, big});
  byte_vector b;
  encode(p, b);
  ASSERT_EQ(b.size(), datagram_bytes_max + 1);
  EXPECT_EQ(error_of(decode_data(b)), errc::too_large);
  EXPECT_EQ(error_of(decode(b)), errc::too_large);

  byte_vector t = encoded(sample_token());
  t.resize(datagram_bytes_max + 1);
  EXPECT_EQ(error_of(decode_token(t)), errc::too_large);
  EXPECT_EQ(error_of(decode(t)), errc::too_large);
}

// --- data packet field errors -----------------------------------------------------------------

TEST(decode_data, seq_zero_is_malformed) {
  sample_data d;
  byte_vector b = d.bytes();
  put_le(b, off_data_seq, 0, 8);
  EXPECT_EQ(error_of(decode_data(b)), errc::malformed);
}

TEST(decode_data, item_count_larger_than_the_packet_is_rejected) {
  sample_data d;
  {
    // So many items that even their headers cannot fit: rejected before any allocation.
    byte_vector b = d.bytes();
    put_le(b, off_data_count, 0xffff, 2);
    EXPECT_EQ(error_of(decode_data(b)), errc::truncated);
  }
  {
    // One more item than present: the headers would fit, but the fifth item is missing.
    byte_vector b = d.bytes();
    put_le(b, off_data_count, d.p.items.size() + 1, 2);
    EXPECT_EQ(error_of(decode_data(b)), errc::truncated);
  }
  {
    // Fewer than present: the rest is trailing garbage.
    byte_vector b = d.bytes();
    put_le(b, off_data_count, d.p.items.size() - 1, 2);
    EXPECT_EQ(error_of(decode_data(b)), errc::malformed);
  }
  {
    // A count on an otherwise empty packet.
    data_packet p;
    p.hdr = make_header(node_id{1});
    p.seq = seq_t{1};
    byte_vector b;
    encode(p, b);
    put_le(b, off_data_count, 1, 2);
    EXPECT_EQ(error_of(decode_data(b)), errc::truncated);
  }
}

TEST(decode_data, item_length_past_the_packet_is_truncated) {
  sample_data d;
  byte_vector b = d.bytes();
  // The last real-data item (index 2) claims one more byte than the packet holds for it; keep
  // the fragment inside its message so only the length is wrong.
  const std::size_t at = d.item_at(2);
  put_le(b, at + off_item_total, 600, 4);
  put_le(b, at + off_item_len, 5 + item_header_bytes + 1, 4);
  EXPECT_EQ(error_of(decode_data(b)), errc::truncated);
}

TEST(decode_data, service_above_safe_is_malformed) {
  for (int svc = 0; svc <= 255; ++svc) {
    sample_data d;
    byte_vector b = d.bytes();
    b[d.item_at(1) + off_item_svc] = std::byte(svc);
    auto r = decode_data(b);
    if (svc <= service_wire_max) {
      ASSERT_TRUE(r.ok()) << svc;
      EXPECT_EQ(static_cast<int>(r->items[1].svc), svc);
    } else {
      EXPECT_EQ(error_of(r), errc::malformed) << svc;
    }
  }
}

TEST(decode_data, message_id_zero_is_malformed) {
  sample_data d;
  byte_vector b = d.bytes();
  put_le(b, d.item_at(3) + off_item_id, 0, 8);
  EXPECT_EQ(error_of(decode_data(b)), errc::malformed);
}

TEST(decode_data, fragment_outside_its_message_is_malformed) {
  sample_data d;
  const std::size_t mid = d.item_at(1);  // offset 300, 100 bytes, of 1000
  {
    byte_vector b = d.bytes();  // ends one byte past the message
    put_le(b, mid + off_item_offset, 901, 4);
    EXPECT_EQ(error_of(decode_data(b)), errc::malformed);
  }
  {
    byte_vector b = d.bytes();  // ends exactly at the message's end: fine
    put_le(b, mid + off_item_offset, 900, 4);
    auto r = decode_data(b);
    ASSERT_TRUE(r.ok());
    EXPECT_TRUE(r->items[1].last_fragment());
  }
  {
    byte_vector b = d.bytes();  // starts past the end
    put_le(b, mid + off_item_offset, 1001, 4);
    EXPECT_EQ(error_of(decode_data(b)), errc::malformed);
  }
  {
    byte_vector b = d.bytes();  // total smaller than the fragment
    put_le(b, mid + off_item_total, 99, 4);
    put_le(b, mid + off_item_offset, 0, 4);
    EXPECT_EQ(error_of(decode_data(b)), errc::malformed);
  }
  {
    byte_vector b = d.bytes();  // offset + length would wrap a 32-bit sum
    put_le(b, mid + off_item_total, message_bytes_max, 4);
    put_le(b, mid + off_item_offset, 0xffffffa0u, 4);
    EXPECT_EQ(error_of(decode_data(b)), errc::malformed);
  }
  {
    byte_vector b = d.bytes();  // an empty message at a non-zero offset
    put_le(b, d.item_at(3) + off_item_offset, 1, 4);
    EXPECT_EQ(error_of(decode_data(b)), errc::malformed);
  }
}

TEST(decode_data, empty_fragment_of_a_non_empty_message_is_malformed) {
  sample_data d;
  d.p.items.push_back(item{service::agreed, msg_id{9}, 10, 4, {}});
  EXPECT_EQ(error_of(decode_data(d.bytes())), errc::malformed);
  d.p.items.back().offset = 10;  // an empty fragment at the very end is still empty
  EXPECT_EQ(error_of(decode_data(d.bytes())), errc::malformed);
}

TEST(decode_data, message_above_the_wire_limit_is_too_large) {
  sample_data d;
  const std::size_t mid = d.item_at(1);
  byte_vector b = d.bytes();
  put_le(b, mid + off_item_total, message_bytes_max, 4);
  EXPECT_TRUE(decode_data(b).ok());
  put_le(b, mid + off_item_total, message_bytes_max + 1, 4);
  EXPECT_EQ(error_of(decode_data(b)), errc::too_large);
  put_le(b, mid + off_item_total, UINT32_MAX, 4);
  EXPECT_EQ(error_of(decode_data(b)), errc::too_large);
}

// --- token field errors -----------------------------------------------------------------------

TEST(decode_token, aru_above_seq_is_malformed) {
  byte_vector b = encoded(sample_token());
  put_le(b, off_token_aru, 501, 8);
  EXPECT_EQ(error_of(decode_token(b)), errc::malformed);
  put_le(b, off_token_aru, 500, 8);
  EXPECT_TRUE(decode_token(b).ok());
}

TEST(decode_token, rtr_not_ascending_is_malformed) {
  token t = sample_token();
  t.rtr = {seq_t{490}, seq_t{481}};
  EXPECT_EQ(error_of(decode_token(encoded(t))), errc::malformed);
  t.rtr = {seq_t{481}, seq_t{481}};  // duplicates are not ascending either
  EXPECT_EQ(error_of(decode_token(encoded(t))), errc::malformed);
  t.rtr = {seq_t{1}, seq_t{3}, seq_t{2}};
  EXPECT_EQ(error_of(decode_token(encoded(t))), errc::malformed);
}

TEST(decode_token, rtr_out_of_range_is_malformed) {
  token t = sample_token();
  t.rtr = {seq_t{0}};
  EXPECT_EQ(error_of(decode_token(encoded(t))), errc::malformed);
  t.rtr = {seq_t{481}, seq_t{501}};  // above seq
  EXPECT_EQ(error_of(decode_token(encoded(t))), errc::malformed);
  t.rtr = {seq_t{500}};  // == seq is in range
  EXPECT_TRUE(decode_token(encoded(t)).ok());
}

TEST(decode_token, more_than_rtr_max_requests_is_malformed) {
  token t = sample_token();
  t.seq = seq_t{5000};
  t.rtr.clear();
  for (std::size_t i = 1; i <= rtr_max; ++i) t.rtr.push_back(seq_t{i});
  byte_vector b = encoded(t);
  b.insert(b.end(), 8, std::byte{0});
  put_le(b, b.size() - 8, rtr_max + 1, 8);
  put_le(b, off_token_rtr_count, rtr_max + 1, 2);
  EXPECT_EQ(error_of(decode_token(b)), errc::malformed);
  // A huge count is rejected as well, whatever the packet size.
  put_le(b, off_token_rtr_count, 0xffff, 2);
  EXPECT_EQ(error_of(decode_token(b)), errc::malformed);
}

TEST(decode_token, rtr_count_larger_than_the_packet_is_truncated) {
  byte_vector b = encoded(sample_token());
  put_le(b, off_token_rtr_count, 4, 2);
  EXPECT_EQ(error_of(decode_token(b)), errc::truncated);
  put_le(b, off_token_rtr_count, 2, 2);  // one request left over
  EXPECT_EQ(error_of(decode_token(b)), errc::malformed);
}

TEST(decode_token, seq_below_aru_via_seq_field_is_malformed) {
  byte_vector b = encoded(sample_token());
  put_le(b, off_token_seq, 479, 8);
  EXPECT_EQ(error_of(decode_token(b)), errc::malformed);
}

// --- join ---------------------------------------------------------------------------------------

TEST(packet_layout, join_bytes_are_exactly_as_documented) {
  byte_vector want;
  append_le(want, packet_magic, 2);
  append_le(want, protocol_version, 1);
  append_le(want, 3, 1);  // type join
  append_le(want, 2, 4);  // sender
  append_le(want, 0x0123456789abcdefULL, 8);
  append_le(want, 7, 4);   // incarnation
  append_le(want, 1, 4);   // ring rep
  append_le(want, 42, 8);  // ring counter
  append_le(want, 44, 8);  // ring_counter_max
  append_le(want, 4, 2);   // proc count
  for (std::uint32_t id : {1, 2, 3, 5}) append_le(want, id, 4);
  append_le(want, 1, 2);  // fail count
  append_le(want, 5, 4);
  append_le(want, 0, 1);  // flags: not a probe
  append_le(want, 2, 2);  // heard count
  for (std::uint32_t id : {1, 3}) append_le(want, id, 4);
  const byte_vector b = encoded_as(sample_join());
  EXPECT_EQ(b, want);
  EXPECT_EQ(b.size(), join_fixed_bytes + 7 * 4);
  EXPECT_EQ(b[off_join_incarnation], std::byte{7});
  EXPECT_EQ(b[off_join_proc_count], std::byte{4});
}

TEST(packet_round_trip, join) {
  const join j = sample_join();
  const byte_vector b = encoded_as(j);
  auto r = decode_join(b);
  ASSERT_TRUE(r.ok()) << r.error().to_string();
  EXPECT_EQ(*r, j);
  EXPECT_EQ(encoded_as(*r), b);
  auto any = decode(b);
  ASSERT_TRUE(any.ok()) << any.error().to_string();
  ASSERT_TRUE(std::holds_alternative<join>(*any));
  EXPECT_EQ(std::get<join>(*any), j);
}

TEST(packet_round_trip, join_edge_values) {
  join j = sample_join();
  j.proc = ids({2});  // only the sender, nothing failed or heard, no ring yet
  j.fail.clear();
  j.heard.clear();
  j.ring = ring_id{};
  j.ring_counter_max = 0;
  j.incarnation = 0;
  auto r = decode_join(encoded_as(j));
  ASSERT_TRUE(r.ok()) << r.error().to_string();
  EXPECT_EQ(*r, j);

  // Full sets: members_max daemons heard from, all but the sender failed; extreme values.
  j.hdr.sender = node_id{0xfffffffe};  // the largest id that is not no_node
  j.proc.clear();
  for (std::uint32_t i = 0; i < members_max - 1; ++i) j.proc.push_back(node_id{i});
  j.proc.push_back(j.hdr.sender);
  j.fail.assign(j.proc.begin(), j.proc.end() - 1);
  j.heard = j.fail;
  j.incarnation = UINT32_MAX;
  j.ring = ring_id{node_id{UINT32_MAX}, UINT64_MAX};
  j.ring_counter_max = UINT64_MAX;
  const byte_vector b = encoded_as(j);
  EXPECT_EQ(b.size(), join_fixed_bytes + (3 * members_max - 2) * 4);
  r = decode_join(b);
  ASSERT_TRUE(r.ok()) << r.error().to_string();
  EXPECT_EQ(*r, j);
  EXPECT_EQ(encoded_as(*r), b);
}

TEST(packet_round_trip, encoder_overrides_the_membership_header_types) {
  join j = sample_join();
  j.hdr.type = packet_type::token;
  EXPECT_TRUE(decode_join(encoded_as(j)).ok());
  commit_token c = sample_commit();
  c.hdr.type = packet_type::data;
  EXPECT_TRUE(decode_commit(encoded_as(c)).ok());
}

TEST(decode_join, every_strict_prefix_is_truncated) {
  const byte_vector b = encoded_as(sample_join());
  for (std::size_t n = 0; n < b.size(); ++n) {
    const std::span<const std::byte> prefix(b.data(), n);
    ASSERT_EQ(error_of(decode_join(prefix)), errc::truncated) << "length " << n;
    ASSERT_EQ(error_of(decode(prefix)), errc::truncated) << "length " << n;
  }
}

TEST(decode_join, trailing_bytes_are_malformed) {
  byte_vector b = encoded_as(sample_join());
  b.push_back(std::byte{0});
  EXPECT_EQ(error_of(decode_join(b)), errc::malformed);
  EXPECT_EQ(error_of(decode(b)), errc::malformed);
  // Not a whole extra fail id either: the fail count says one.
  for (int i = 0; i < 3; ++i) b.push_back(std::byte{0x09});
  EXPECT_EQ(error_of(decode_join(b)), errc::malformed);
}

TEST(decode_join, datagram_above_the_udp_limit_is_too_large) {
  byte_vector b = encoded_as(sample_join());
  b.resize(datagram_bytes_max + 1);
  EXPECT_EQ(error_of(decode_join(b)), errc::too_large);
  EXPECT_EQ(error_of(decode(b)), errc::too_large);
}

TEST(decode_join, empty_proc_set_is_malformed) {
  join j = sample_join();
  j.proc.clear();
  j.fail.clear();
  EXPECT_EQ(error_of(decode_join(encoded_as(j))), errc::malformed);
}

TEST(decode_join, sets_above_members_max_are_malformed) {
  join j = sample_join();
  j.hdr.sender = node_id{1};
  j.proc.clear();
  for (std::uint32_t i = 1; i <= members_max + 1; ++i) j.proc.push_back(node_id{i});
  j.fail.clear();
  j.heard.clear();
  EXPECT_EQ(error_of(decode_join(raw_join(j))), errc::malformed);
  j.proc.pop_back();
  EXPECT_TRUE(decode_join(encoded_as(j)).ok());

  // A fail set of members_max + 1 ids, all present.
  j.fail.assign(j.proc.begin() + 1, j.proc.end());
  j.fail.push_back(node_id{members_max + 1});
  EXPECT_EQ(error_of(decode_join(raw_join(j))), errc::malformed);

  // A huge count is refused whatever the packet size.
  byte_vector b = encoded_as(sample_join());
  put_le(b, off_join_proc_count, 0xffff, 2);
  EXPECT_EQ(error_of(decode_join(b)), errc::malformed);
}

TEST(decode_join, counts_larger_than_the_packet_are_truncated) {
  byte_vector b = encoded_as(sample_join());  // proc {1,2,3,5}, fail {5}, heard {1,3}
  put_le(b, off_join_proc_count, 9, 2);       // 9 proc ids need 36 bytes; 33 are left
  EXPECT_EQ(error_of(decode_join(b)), errc::truncated);
  b = encoded_as(sample_join());
  put_le(b, b.size() - 10, 3, 2);  // heard count 3, two ids present
  EXPECT_EQ(error_of(decode_join(b)), errc::truncated);
  b = encoded_as(sample_join());
  b.resize(b.size() - 10);  // cut after the flags
  EXPECT_EQ(error_of(decode_join(b)), errc::truncated);
}

TEST(decode_join, sets_not_strictly_ascending_are_malformed) {
  for (auto proc : {ids({2, 1, 3, 5}), ids({1, 2, 2, 3, 5}), ids({1, 2, 5, 3})}) {
    join j = sample_join();
    j.proc = proc;
    EXPECT_EQ(error_of(decode_join(encoded_as(j))), errc::malformed);
  }
  join j = sample_join();
  j.fail = ids({3, 1});
  EXPECT_EQ(error_of(decode_join(encoded_as(j))), errc::malformed);
  j.fail = ids({3, 3});
  EXPECT_EQ(error_of(decode_join(encoded_as(j))), errc::malformed);
  j.fail = ids({1, 3});
  EXPECT_TRUE(decode_join(encoded_as(j)).ok());
}

TEST(decode_join, no_node_in_a_set_is_malformed) {
  join j = sample_join();
  j.proc.push_back(no_node);
  EXPECT_EQ(error_of(decode_join(encoded_as(j))), errc::malformed);
  j.fail.push_back(no_node);  // in both: still refused
  EXPECT_EQ(error_of(decode_join(encoded_as(j))), errc::malformed);
  j.hdr.sender = no_node;  // even as the sender
  j.proc = {no_node};
  j.fail.clear();
  EXPECT_EQ(error_of(decode_join(encoded_as(j))), errc::malformed);
}

TEST(decode_join, sender_outside_its_proc_set_is_malformed) {
  join j = sample_join();
  j.proc = ids({1, 3, 5});
  EXPECT_EQ(error_of(decode_join(encoded_as(j))), errc::malformed);
}

TEST(decode_join, sender_in_its_fail_set_is_malformed) {
  join j = sample_join();
  j.fail = ids({2});
  EXPECT_EQ(error_of(decode_join(encoded_as(j))), errc::malformed);
  j.fail = ids({2, 5});
  EXPECT_EQ(error_of(decode_join(encoded_as(j))), errc::malformed);
}

TEST(decode_join, fail_set_outside_the_proc_set_is_malformed) {
  join j = sample_join();
  j.fail = ids({4});
  EXPECT_EQ(error_of(decode_join(encoded_as(j))), errc::malformed);
  j.fail = ids({3, 4});
  EXPECT_EQ(error_of(decode_join(encoded_as(j))), errc::malformed);
  j.fail = ids({1, 3, 5});
  EXPECT_TRUE(decode_join(encoded_as(j)).ok());
}

TEST(decode_join, sender_in_its_heard_set_is_malformed) {
  join j = sample_join();
  j.heard = ids({1, 2});
  EXPECT_EQ(error_of(decode_join(encoded_as(j))), errc::malformed);
}

TEST(decode_join, probe_flag_round_trips_and_a_probe_fails_no_one) {
  join j = sample_join();
  j.fail.clear();
  j.probe = true;
  auto r = decode_join(encoded_as(j));
  ASSERT_TRUE(r.ok()) << r.error().to_string();
  EXPECT_TRUE(r->probe);
  j.fail = ids({5});
  EXPECT_EQ(error_of(decode_join(encoded_as(j))), errc::malformed);
}

TEST(decode_join, unknown_flags_are_malformed) {
  byte_vector b = encoded_as(sample_join());
  b[b.size() - 11] = std::byte{0x82};  // the flags byte, before the heard set {1,3}
  EXPECT_EQ(error_of(decode_join(b)), errc::malformed);
}

// --- commit token -------------------------------------------------------------------------------

TEST(packet_layout, commit_bytes_are_exactly_as_documented) {
  byte_vector want;
  append_le(want, packet_magic, 2);
  append_le(want, protocol_version, 1);
  append_le(want, 4, 1);  // type commit
  append_le(want, 1, 4);  // sender
  append_le(want, 0x0123456789abcdefULL, 8);
  append_le(want, 1, 4);   // new ring rep
  append_le(want, 45, 8);  // new ring counter
  append_le(want, 3, 8);   // rotation
  append_le(want, 1, 2);   // holder
  append_le(want, 3, 2);   // count
  // id, incarnation, old ring rep, old ring counter, old_aru, old_high_seq, old_delivered, flags
  auto entry = [&](std::uint32_t id, std::uint32_t inc, std::uint32_t rep, std::uint64_t counter,
                   std::uint64_t aru, std::uint64_t high, std::uint64_t delivered, int flags) {
    append_le(want, id, 4);
    append_le(want, inc, 4);
    append_le(want, rep, 4);
    append_le(want, counter, 8);
    append_le(want, aru, 8);
    append_le(want, high, 8);
    append_le(want, delivered, 8);
    append_le(want, static_cast<std::uint64_t>(flags), 1);
  };
  entry(1, 7, 1, 42, 480, 500, 470, 1);
  entry(2, 8, 1, 42, 490, 490, 490, 1);
  entry(4, 0, 0, 0, 0, 0, 0, 0);
  const byte_vector b = encoded_as(sample_commit());
  EXPECT_EQ(b, want);
  EXPECT_EQ(b.size(), commit_prefix_bytes + 3 * commit_entry_bytes);
  EXPECT_EQ(b[off_commit_holder], std::byte{1});
  EXPECT_EQ(b[entry_at(1) + off_entry_id], std::byte{2});
  EXPECT_EQ(b[entry_at(0) + off_entry_flags], std::byte{1});
}

TEST(packet_round_trip, commit_token) {
  const commit_token c = sample_commit();
  const byte_vector b = encoded_as(c);
  auto r = decode_commit(b);
  ASSERT_TRUE(r.ok()) << r.error().to_string();
  EXPECT_EQ(*r, c);
  EXPECT_TRUE(r->members[0].filled);
  EXPECT_FALSE(r->members[2].filled);
  EXPECT_EQ(encoded_as(*r), b);
  auto any = decode(b);
  ASSERT_TRUE(any.ok()) << any.error().to_string();
  ASSERT_TRUE(std::holds_alternative<commit_token>(*any));
  EXPECT_EQ(std::get<commit_token>(*any), c);
}

TEST(packet_round_trip, commit_token_edge_values) {
  commit_token c = sample_commit();
  c.members.resize(1);  // a ring of one, counter 1
  c.holder = 0;
  c.ring.counter = 1;
  c.rotation = 0;
  auto r = decode_commit(encoded_as(c));
  ASSERT_TRUE(r.ok()) << r.error().to_string();
  EXPECT_EQ(*r, c);

  // members_max members, the last one the rep and the holder; extreme old-ring values.
  c.members.clear();
  for (std::uint32_t i = 0; i < members_max; ++i) {
    commit_entry e;
    e.id = node_id{i == members_max - 1 ? 0xfffffffeu : i};
    e.incarnation = UINT32_MAX - i;
    e.old_ring = ring_id{node_id{UINT32_MAX}, UINT64_MAX};
    e.old_high_seq = seq_t{UINT64_MAX};
    e.old_aru = seq_t{UINT64_MAX - i};
    e.old_delivered = seq_t{UINT64_MAX - 2 * i};
    e.filled = i % 2 == 0;
    c.members.push_back(e);
  }
  c.ring = ring_id{node_id{0xfffffffeu}, UINT64_MAX};
  c.rotation = UINT64_MAX;
  c.holder = members_max - 1;
  const byte_vector b = encoded_as(c);
  EXPECT_EQ(b.size(), commit_prefix_bytes + members_max * commit_entry_bytes);
  r = decode_commit(b);
  ASSERT_TRUE(r.ok()) << r.error().to_string();
  EXPECT_EQ(*r, c);
  EXPECT_EQ(encoded_as(*r), b);
}

TEST(decode_commit, every_strict_prefix_is_truncated) {
  const byte_vector b = encoded_as(sample_commit());
  for (std::size_t n = 0; n < b.size(); ++n) {
    const std::span<const std::byte> prefix(b.data(), n);
    ASSERT_EQ(error_of(decode_commit(prefix)), errc::truncated) << "length " << n;
    ASSERT_EQ(error_of(decode(prefix)), errc::truncated) << "length " << n;
  }
}

TEST(decode_commit, trailing_bytes_are_malformed) {
  byte_vector b = encoded_as(sample_commit());
  b.push_back(std::byte{0});
  EXPECT_EQ(error_of(decode_commit(b)), errc::malformed);
  EXPECT_EQ(error_of(decode(b)), errc::malformed);
  // A whole extra entry that the count does not announce.
  const byte_vector extra = encoded_as(sample_commit());
  b = extra;
  b.insert(b.end(), extra.end() - commit_entry_bytes, extra.end());
  EXPECT_EQ(error_of(decode_commit(b)), errc::malformed);
}

TEST(decode_commit, datagram_above_the_udp_limit_is_too_large) {
  byte_vector b = encoded_as(sample_commit());
  b.resize(datagram_bytes_max + 1);
  EXPECT_EQ(error_of(decode_commit(b)), errc::too_large);
  EXPECT_EQ(error_of(decode(b)), errc::too_large);
}

TEST(decode_commit, ring_counter_zero_is_malformed) {
  byte_vector b = encoded_as(sample_commit());
  put_le(b, off_commit_counter, 0, 8);
  EXPECT_EQ(error_of(decode_commit(b)), errc::malformed);
  put_le(b, off_commit_counter, 1, 8);
  EXPECT_TRUE(decode_commit(b).ok());
}

TEST(decode_commit, empty_member_list_is_malformed) {
  commit_token c = sample_commit();
  c.members.clear();
  c.holder = 0;
  EXPECT_EQ(error_of(decode_commit(encoded_as(c))), errc::malformed);
}

TEST(decode_commit, more_than_members_max_members_is_malformed) {
  commit_token c = sample_commit();
  c.members.clear();
  for (std::uint32_t i = 1; i <= members_max; ++i) {
    commit_entry e;
    e.id = node_id{i};
    c.members.push_back(e);
  }
  ASSERT_TRUE(decode_commit(encoded_as(c)).ok());
  // Append entry members_max + 1 by hand: the encoder refuses to write it.
  byte_vector b = encoded_as(c);
  append_le(b, members_max + 1, 4);
  b.insert(b.end(), commit_entry_bytes - 4, std::byte{0});
  put_le(b, off_commit_count, members_max + 1, 2);
  EXPECT_EQ(error_of(decode_commit(b)), errc::malformed);
  // A huge count is refused whatever the packet size.
  b = encoded_as(sample_commit());
  put_le(b, off_commit_count, 0xffff, 2);
  EXPECT_EQ(error_of(decode_commit(b)), errc::malformed);
}

TEST(decode_commit, count_larger_than_the_packet_is_truncated) {
  byte_vector b = encoded_as(sample_commit());
  put_le(b, off_commit_count, 4, 2);
  EXPECT_EQ(error_of(decode_commit(b)), errc::truncated);
  put_le(b, off_commit_count, 2, 2);  // one entry left over (the holder, 1, is still < 2)
  EXPECT_EQ(error_of(decode_commit(b)), errc::malformed);
}

TEST(decode_commit, holder_outside_the_members_is_malformed) {
  byte_vector b = encoded_as(sample_commit());
  put_le(b, off_commit_holder, 3, 2);
  EXPECT_EQ(error_of(decode_commit(b)), errc::malformed);
  put_le(b, off_commit_holder, 0xffff, 2);
  EXPECT_EQ(error_of(decode_commit(b)), errc::malformed);
  put_le(b, off_commit_holder, 2, 2);
  EXPECT_TRUE(decode_commit(b).ok());
}

TEST(decode_commit, members_not_strictly_ascending_are_malformed) {
  for (std::uint32_t second : {0u, 1u}) {  // below and equal to the first id
    byte_vector b = encoded_as(sample_commit());
    put_le(b, entry_at(1) + off_entry_id, second, 4);
    EXPECT_EQ(error_of(decode_commit(b)), errc::malformed) << second;
  }
  byte_vector b = encoded_as(sample_commit());
  put_le(b, entry_at(2) + off_entry_id, 3, 4);  // 1, 2, 3 is still ascending
  EXPECT_TRUE(decode_commit(b).ok());
}

TEST(decode_commit, no_node_member_is_malformed) {
  byte_vector b = encoded_as(sample_commit());
  put_le(b, entry_at(2) + off_entry_id, no_node.value, 4);
  EXPECT_EQ(error_of(decode_commit(b)), errc::malformed);
  put_le(b, entry_at(2) + off_entry_id, no_node.value - 1, 4);
  EXPECT_TRUE(decode_commit(b).ok());
}

TEST(decode_commit, entry_aru_above_high_seq_is_malformed) {
  byte_vector b = encoded_as(sample_commit());  // entry 0: aru 480, high 500, delivered 470
  put_le(b, entry_at(0) + off_entry_old_aru, 501, 8);
  EXPECT_EQ(error_of(decode_commit(b)), errc::malformed);
  put_le(b, entry_at(0) + off_entry_old_aru, 500, 8);
  EXPECT_TRUE(decode_commit(b).ok());
  put_le(b, entry_at(0) + off_entry_old_high, 499, 8);
  EXPECT_EQ(error_of(decode_commit(b)), errc::malformed);
}

TEST(decode_commit, entry_delivered_above_aru_is_malformed) {
  byte_vector b = encoded_as(sample_commit());
  put_le(b, entry_at(0) + off_entry_old_delivered, 481, 8);
  EXPECT_EQ(error_of(decode_commit(b)), errc::malformed);
  put_le(b, entry_at(0) + off_entry_old_delivered, 480, 8);
  EXPECT_TRUE(decode_commit(b).ok());
}

TEST(decode_commit, unknown_entry_flags_are_malformed) {
  for (int flags = 0; flags <= 255; ++flags) {
    byte_vector b = encoded_as(sample_commit());
    b[entry_at(2) + off_entry_flags] = std::byte(flags);
    auto r = decode_commit(b);
    if (flags <= 1) {
      ASSERT_TRUE(r.ok()) << flags;
      EXPECT_EQ(r->members[2].filled, flags == 1);
    } else {
      EXPECT_EQ(error_of(r), errc::malformed) << flags;
    }
  }
}

TEST(decode_commit, representative_outside_the_members_is_malformed) {
  commit_token c = sample_commit();
  c.ring.rep = node_id{3};
  EXPECT_EQ(error_of(decode_commit(encoded_as(c))), errc::malformed);
  c.ring.rep = node_id{4};  // any member may be the rep, not only the first
  EXPECT_TRUE(decode_commit(encoded_as(c)).ok());
}

// --- bundles ----------------------------------------------------------------------------------

std::vector<util::shared_bytes> bundle_parts() {
  sample_data d;
  return {util::shared_bytes(encoded(sample_token())), util::shared_bytes(d.bytes()),
          util::shared_bytes(encoded_as(sample_join()))};
}

byte_vector bundled(const std::vector<util::shared_bytes>& parts) {
  byte_vector out;
  encode_bundle(parts, out);
  return out;
}

TEST(bundle, round_trip_gives_the_packets_in_order) {
  const auto parts = bundle_parts();
  const byte_vector b = bundled(parts);
  std::size_t sum = bundle_prefix_bytes;
  for (const auto& p : parts) sum += bundle_part_overhead + p.size();
  ASSERT_EQ(b.size(), sum);
  auto h = decode_header(b);
  ASSERT_TRUE(h.ok());
  EXPECT_EQ(h->type, packet_type::bundle);
  EXPECT_EQ(h->sender, node_id{2});  // the first packet's
  auto r = decode_bundle(b);
  ASSERT_TRUE(r.ok()) << r.error().to_string();
  ASSERT_EQ(r->size(), parts.size());
  for (std::size_t i = 0; i < parts.size(); ++i) {
    EXPECT_TRUE(std::ranges::equal((*r)[i], parts[i].span())) << i;
    EXPECT_GE((*r)[i].data(), b.data());  // views into the datagram
  }
}

TEST(bundle, framing_and_encode_agree) {
  const auto parts = bundle_parts();
  const byte_vector f = bundle_framing(parts);
  ASSERT_EQ(f.size(), bundle_prefix_bytes + bundle_part_overhead * parts.size());
  byte_vector gathered(f.begin(), f.begin() + bundle_prefix_bytes);
  for (std::size_t i = 0; i < parts.size(); ++i) {
    const auto at =
        f.begin() + static_cast<std::ptrdiff_t>(bundle_prefix_bytes + bundle_part_overhead * i);
    gathered.insert(gathered.end(), at, at + bundle_part_overhead);
    gathered.insert(gathered.end(), parts[i].span().begin(), parts[i].span().end());
  }
  EXPECT_EQ(gathered, bundled(parts));
}

TEST(bundle, is_not_a_packet_for_the_core) {
  EXPECT_EQ(error_of(decode(bundled(bundle_parts()))), errc::malformed);
  EXPECT_EQ(error_of(decode_token(bundled(bundle_parts()))), errc::malformed);
  EXPECT_EQ(error_of(decode_bundle(encoded(sample_token()))), errc::malformed);
}

TEST(bundle, every_strict_prefix_is_refused) {
  const byte_vector b = bundled(bundle_parts());
  for (std::size_t n = 0; n < b.size(); ++n) {
    auto r = decode_bundle(std::span<const std::byte>(b.data(), n));
    EXPECT_FALSE(r.ok()) << "length " << n;
  }
}

TEST(bundle, malformed_bundles_are_refused) {
  const auto parts = bundle_parts();
  const byte_vector good = bundled(parts);
  const std::size_t off_count = header_bytes;
  const std::size_t off_first_len = bundle_prefix_bytes;
  auto with = [&](std::size_t at, std::uint64_t v, std::size_t n) {
    byte_vector b = good;
    put_le(b, at, v, n);
    return b;
  };
  EXPECT_EQ(error_of(decode_bundle(with(off_count, 1, 2))), errc::malformed);  // one packet
  EXPECT_EQ(error_of(decode_bundle(with(off_count, 0, 2))), errc::malformed);
  EXPECT_EQ(error_of(decode_bundle(with(off_count, 0xffff, 2))), errc::truncated);
  EXPECT_EQ(error_of(decode_bundle(with(off_count, 2, 2))), errc::malformed);  // trailing bytes
  EXPECT_EQ(error_of(decode_bundle(with(off_first_len, 0xffffffff, 4))), errc::truncated);
  // A first packet shorter than a header: its length says 8, and the rest no longer parses.
  EXPECT_FALSE(decode_bundle(with(off_first_len, 8, 4)).ok());
  // A packet whose header is bad (magic), or that is a bundle itself.
  byte_vector bad_magic = good;
  bad_magic[off_first_len + bundle_part_overhead] ^= std::byte{1};
  EXPECT_EQ(error_of(decode_bundle(bad_magic)), errc::malformed);
  byte_vector nested = good;
  nested[off_first_len + bundle_part_overhead + off_type] =
      std::byte(static_cast<std::uint8_t>(packet_type::bundle));
  EXPECT_EQ(error_of(decode_bundle(nested)), errc::malformed);
  // A datagram above UDP's limit.
  byte_vector big = good;
  big.resize(datagram_bytes_max + 1);
  EXPECT_EQ(error_of(decode_bundle(big)), errc::too_large);
}

TEST(bundle, packet_shorter_than_a_header_is_malformed) {
  // A token, then a bare header: accepted (the core judges the packets themselves); with the
  // header one byte short, refused.
  auto token_and_header = [](std::size_t second_bytes) {
    const byte_vector t = encoded(sample_token());
    byte_vector b;
    byte_writer w(b);
    header h = make_header(node_id{1});
    h.type = packet_type::bundle;
    encode_header(h, w);
    w.u16(2);
    w.u32(static_cast<std::uint32_t>(t.size()));
    w.bytes(t);
    w.u32(static_cast<std::uint32_t>(second_bytes));
    h.type = packet_type::token;
    encode_header(h, w);
    b.resize(b.size() - (header_bytes - second_bytes));
    return b;
  };
  EXPECT_TRUE(decode_bundle(token_and_header(header_bytes)).ok());
  EXPECT_EQ(error_of(decode_bundle(token_and_header(header_bytes - 1))), errc::malformed);
}

// Every error carries a message for the daemon's drop log.
TEST(decode, errors_carry_a_message) {
  const byte_vector b = encoded(sample_token());
  auto r = decode(std::span<const std::byte>(b.data(), 3));
  ASSERT_FALSE(r.ok());
  EXPECT_FALSE(r.error().message().empty());
  EXPECT_FALSE(r.error().to_string().empty());
}

}  // namespace
}  // namespace chorus::wire
