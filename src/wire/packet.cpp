#include "wire/packet.hpp"

#include <algorithm>
#include <string>

namespace chorus::wire {
namespace {

using util::errc;
using util::status;

status fail(errc c, std::string what) { return status(c, std::move(what)); }

bool known_type(std::uint8_t t) noexcept { return t >= 1 && t <= 5; }

// Bit 0 of a commit entry's flags; the other bits must be zero (canonical encoding).
constexpr std::uint8_t commit_flag_filled = 0x01;

ring_id read_ring(util::byte_reader& r) {
  ring_id id;
  id.rep = node_id{r.u32()};
  id.counter = r.u64();
  return id;
}

void write_ring(const ring_id& id, util::byte_writer& w) {
  w.u32(id.rep.value);
  w.u64(id.counter);
}

util::result<header> read_header(util::byte_reader& r) {
  if (r.remaining() < header_bytes) return fail(errc::truncated, "packet shorter than its header");
  const std::uint16_t magic = r.u16();
  if (magic != packet_magic) return fail(errc::malformed, "bad magic");
  header h;
  h.version = r.u8();
  const std::uint8_t type = r.u8();
  h.sender = node_id{r.u32()};
  h.hash = conf_hash{r.u64()};
  if (h.version != protocol_version)
    return fail(errc::unsupported, "protocol version " + std::to_string(h.version));
  if (!known_type(type))
    return fail(errc::malformed, "unknown packet type " + std::to_string(type));
  h.type = static_cast<packet_type>(type);
  return h;
}

util::result<header> read_header_of(util::byte_reader& r, packet_type want) {
  auto h = read_header(r);
  if (h && h->type != want) return fail(errc::malformed, "unexpected packet type");
  return h;
}

status check_end(const util::byte_reader& r) {
  if (!r.ok()) return fail(errc::truncated, "packet ends inside a field");
  if (r.remaining() != 0) return fail(errc::malformed, "trailing bytes after packet");
  return {};
}

// A join's node set: a u16 count, then that many u32 ids, strictly ascending, none no_node.
// The count is checked against members_max and the bytes left before anything is allocated.
status read_node_set(util::byte_reader& r, const char* name, std::vector<node_id>& out) {
  const std::uint16_t n = r.u16();
  if (!r.ok()) return fail(errc::truncated, std::string(name) + " count cut short");
  if (n > members_max) return fail(errc::malformed, std::string(name) + " above members_max");
  if (n > r.remaining() / 4) return fail(errc::truncated, std::string(name) + " cut short");
  out.reserve(n);
  for (std::uint16_t i = 0; i < n; ++i) {
    const node_id id{r.u32()};
    if (id == no_node) return fail(errc::malformed, std::string(name) + " names no_node");
    if (!out.empty() && id <= out.back())
      return fail(errc::malformed, std::string(name) + " not strictly ascending");
    out.push_back(id);
  }
  return {};
}

void write_node_set(const std::vector<node_id>& ids, util::byte_writer& w) {
  CHORUS_ASSERT(ids.size() <= members_max);
  w.u16(static_cast<std::uint16_t>(ids.size()));
  for (node_id id : ids) w.u32(id.value);
}

// One commit entry. The caller has checked that the input holds all of it, so only the values
// can be wrong.
util::result<commit_entry> read_commit_entry(util::byte_reader& r) {
  commit_entry e;
  e.id = node_id{r.u32()};
  e.incarnation = r.u32();
  e.old_ring = read_ring(r);
  e.old_aru = seq_t{r.u64()};
  e.old_high_seq = seq_t{r.u64()};
  e.old_delivered = seq_t{r.u64()};
  const std::uint8_t flags = r.u8();
  if (e.id == no_node) return fail(errc::malformed, "commit member is no_node");
  if (e.old_aru > e.old_high_seq) return fail(errc::malformed, "commit entry aru above high seq");
  if (e.old_delivered > e.old_aru) return fail(errc::malformed, "commit entry delivered above aru");
  if ((flags & ~commit_flag_filled) != 0)
    return fail(errc::malformed, "unknown commit entry flags");
  e.filled = (flags & commit_flag_filled) != 0;
  return e;
}

}  // namespace

util::result<header> decode_header(std::span<const std::byte> in) {
  util::byte_reader r(in);
  return read_header(r);
}

util::result<data_packet> decode_data(std::span<const std::byte> in) {
  if (in.size() > datagram_bytes_max) return fail(errc::too_large, "datagram above 65507 bytes");
  util::byte_reader r(in);
  auto h = read_header_of(r, packet_type::data);
  if (!h) return h.error();
  data_packet p;
  p.hdr = *h;
  p.ring = read_ring(r);
  p.seq = seq_t{r.u64()};
  const std::uint16_t count = r.u16();
  if (!r.ok()) return fail(errc::truncated, "data packet shorter than its prefix");
  if (p.seq.value == 0) return fail(errc::malformed, "data packet with seq 0");
  // Each item needs at least its header: reject impossible counts before allocating.
  if (count > r.remaining() / item_header_bytes)
    return fail(errc::truncated, "item count exceeds packet size");
  p.items.reserve(count);
  for (std::uint16_t i = 0; i < count; ++i) {
    item it;
    const std::uint8_t svc = r.u8();
    it.id = msg_id{r.u64()};
    it.total_bytes = r.u32();
    it.offset = r.u32();
    const std::uint32_t len = r.u32();
    if (!r.ok()) return fail(errc::truncated, "item header cut short");
    if (svc > service_wire_max)
      return fail(errc::malformed, "unknown service " + std::to_string(svc));
    it.svc = static_cast<service>(svc);
    if (it.id.value == 0) return fail(errc::malformed, "item with message id 0");
    if (it.total_bytes > message_bytes_max) return fail(errc::too_large, "message above 64 MiB");
    if (it.offset > it.total_bytes || len > it.total_bytes - it.offset)
      return fail(errc::malformed, "fragment outside its message");
    if (len == 0 && it.total_bytes != 0) return fail(errc::malformed, "empty fragment");
    it.data = r.bytes(len);
    if (!r.ok()) return fail(errc::truncated, "item data cut short");
    p.items.push_back(it);
  }
  if (auto s = check_end(r); !s.ok()) return s;
  return p;
}

util::result<token> decode_token(std::span<const std::byte> in) {
  if (in.size() > datagram_bytes_max) return fail(errc::too_large, "datagram above 65507 bytes");
  util::byte_reader r(in);
  auto h = read_header_of(r, packet_type::token);
  if (!h) return h.error();
  token t;
  t.hdr = *h;
  t.ring = read_ring(r);
  t.rotation = r.u64();
  t.seq = seq_t{r.u64()};
  t.aru = seq_t{r.u64()};
  t.aru_id = node_id{r.u32()};
  t.fcc = r.u32();
  t.backlog = r.u32();
  const std::uint16_t n = r.u16();
  if (!r.ok()) return fail(errc::truncated, "token cut short");
  if (t.aru > t.seq) return fail(errc::malformed, "token aru above seq");
  if (n > rtr_max) return fail(errc::malformed, "too many retransmission requests");
  if (n > r.remaining() / 8) return fail(errc::truncated, "retransmission list cut short");
  t.rtr.reserve(n);
  for (std::uint16_t i = 0; i < n; ++i) {
    const seq_t s{r.u64()};
    if (s.value == 0 || s > t.seq)
      return fail(errc::malformed, "retransmission request out of range");
    if (!t.rtr.empty() && s <= t.rtr.back())
      return fail(errc::malformed, "retransmission requests not ascending");
    t.rtr.push_back(s);
  }
  if (auto s = check_end(r); !s.ok()) return s;
  return t;
}

util::result<join> decode_join(std::span<const std::byte> in) {
  if (in.size() > datagram_bytes_max) return fail(errc::too_large, "datagram above 65507 bytes");
  util::byte_reader r(in);
  auto h = read_header_of(r, packet_type::join);
  if (!h) return h.error();
  join j;
  j.hdr = *h;
  j.incarnation = r.u32();
  j.ring = read_ring(r);
  j.ring_counter_max = r.u64();
  // A join cut inside the fields above fails reading the proc count.
  if (auto s = read_node_set(r, "proc set", j.proc); !s.ok()) return s;
  if (auto s = read_node_set(r, "fail set", j.fail); !s.ok()) return s;
  const std::uint8_t flags = r.u8();
  if (!r.ok()) return fail(errc::truncated, "join flags cut short");
  if ((flags & ~join_flag_probe) != 0) return fail(errc::malformed, "unknown join flags");
  j.probe = (flags & join_flag_probe) != 0;
  if (auto s = read_node_set(r, "heard set", j.heard); !s.ok()) return s;
  if (auto s = check_end(r); !s.ok()) return s;
  // Both sets are sorted, so membership is a binary search and the subset test one merge. An
  // empty proc set fails the first test: it cannot hold the sender.
  if (!std::ranges::binary_search(j.proc, j.hdr.sender))
    return fail(errc::malformed, "join sender not in its proc set");
  if (std::ranges::binary_search(j.fail, j.hdr.sender))
    return fail(errc::malformed, "join sender in its own fail set");
  if (!std::ranges::includes(j.proc, j.fail))
    return fail(errc::malformed, "join fail set not a subset of its proc set");
  if (std::ranges::binary_search(j.heard, j.hdr.sender))
    return fail(errc::malformed, "join sender in its own heard set");
  if (j.probe && !j.fail.empty()) return fail(errc::malformed, "probe with a fail set");
  return j;
}

util::result<commit_token> decode_commit(std::span<const std::byte> in) {
  if (in.size() > datagram_bytes_max) return fail(errc::too_large, "datagram above 65507 bytes");
  util::byte_reader r(in);
  auto h = read_header_of(r, packet_type::commit);
  if (!h) return h.error();
  commit_token c;
  c.hdr = *h;
  c.ring = read_ring(r);
  c.rotation = r.u64();
  c.holder = r.u16();
  const std::uint16_t n = r.u16();
  if (!r.ok()) return fail(errc::truncated, "commit token cut short");
  if (c.ring.counter == 0) return fail(errc::malformed, "commit token for ring counter 0");
  if (n > members_max) return fail(errc::malformed, "commit token above members_max");
  // Also refuses an empty member list: no index is below 0.
  if (c.holder >= n) return fail(errc::malformed, "commit holder outside the members");
  // The only length check for the entries: refuses a short packet before allocating.
  if (n > r.remaining() / commit_entry_bytes)
    return fail(errc::truncated, "commit entries cut short");
  c.members.reserve(n);
  for (std::uint16_t i = 0; i < n; ++i) {
    auto e = read_commit_entry(r);
    if (!e) return e.error();
    if (!c.members.empty() && e->id <= c.members.back().id)
      return fail(errc::malformed, "commit members not strictly ascending");
    c.members.push_back(*e);
  }
  if (auto s = check_end(r); !s.ok()) return s;
  if (std::ranges::none_of(c.members, [&](const commit_entry& e) { return e.id == c.ring.rep; }))
    return fail(errc::malformed, "commit ring's representative is not a member");
  return c;
}

util::result<packet> decode(std::span<const std::byte> in) {
  auto h = decode_header(in);
  if (!h) return h.error();
  switch (h->type) {
    case packet_type::data: {
      auto p = decode_data(in);
      if (!p) return p.error();
      return packet{std::move(p).value()};
    }
    case packet_type::token: {
      auto t = decode_token(in);
      if (!t) return t.error();
      return packet{std::move(t).value()};
    }
    case packet_type::join: {
      auto j = decode_join(in);
      if (!j) return j.error();
      return packet{std::move(j).value()};
    }
    case packet_type::commit: {
      auto c = decode_commit(in);
      if (!c) return c.error();
      return packet{std::move(c).value()};
    }
    case packet_type::bundle:
      return fail(errc::malformed, "a bundle is opened by the transport, not decoded as a packet");
  }
  return fail(errc::malformed, "unknown packet type");
}

util::byte_vector bundle_framing(std::span<const util::shared_bytes> parts) {
  CHORUS_ASSERT(parts.size() >= 2 && parts.size() <= 0xffff);
  auto first = decode_header(parts.front().span());
  CHORUS_ASSERT(first.ok() && first->type != packet_type::bundle);
  util::byte_vector out;
  util::byte_writer w(out);
  header h = *first;
  h.type = packet_type::bundle;
  encode_header(h, w);
  w.u16(static_cast<std::uint16_t>(parts.size()));
  for (const auto& p : parts) {
    CHORUS_ASSERT(p.size() >= header_bytes && p.size() <= datagram_bytes_max);
    w.u32(static_cast<std::uint32_t>(p.size()));
  }
  return out;
}

void encode_bundle(std::span<const util::shared_bytes> parts, util::byte_vector& out) {
  const util::byte_vector framing = bundle_framing(parts);
  const auto f = std::span(framing);
  util::byte_writer w(out);
  w.bytes(f.first(bundle_prefix_bytes));
  for (std::size_t i = 0; i < parts.size(); ++i) {
    w.bytes(f.subspan(bundle_prefix_bytes + bundle_part_overhead * i, bundle_part_overhead));
    w.bytes(parts[i].span());
  }
}

util::result<std::vector<std::span<const std::byte>>> decode_bundle(std::span<const std::byte> in) {
  if (in.size() > datagram_bytes_max) return fail(errc::too_large, "datagram above 65507 bytes");
  util::byte_reader r(in);
  auto h = read_header_of(r, packet_type::bundle);
  if (!h) return h.error();
  const std::uint16_t count = r.u16();
  if (!r.ok()) return fail(errc::truncated, "bundle ends inside its count");
  if (count < 2) return fail(errc::malformed, "bundle of fewer than two packets");
  // Every packet takes at least its length and a header: bound the count before allocating.
  if (count > r.remaining() / (bundle_part_overhead + header_bytes))
    return fail(errc::truncated, "bundle count above what the datagram can hold");
  std::vector<std::span<const std::byte>> parts;
  parts.reserve(count);
  for (std::uint16_t i = 0; i < count; ++i) {
    const std::uint32_t len = r.u32();
    auto part = r.bytes(len);
    if (!r.ok()) return fail(errc::truncated, "bundle ends inside a packet");
    if (len < header_bytes) return fail(errc::malformed, "bundled packet shorter than a header");
    auto ph = decode_header(part);
    if (!ph) return ph.error();
    if (ph->type == packet_type::bundle) return fail(errc::malformed, "bundle inside a bundle");
    parts.push_back(part);
  }
  if (auto s = check_end(r); !s.ok()) return s;
  return parts;
}

void encode_header(const header& h, util::byte_writer& w) {
  w.u16(packet_magic);
  w.u8(h.version);
  w.u8(static_cast<std::uint8_t>(h.type));
  w.u32(h.sender.value);
  w.u64(h.hash.value);
}

void encode(const token& t, util::byte_vector& out) {
  CHORUS_ASSERT(t.rtr.size() <= rtr_max);
  util::byte_writer w(out);
  header h = t.hdr;
  h.type = packet_type::token;
  encode_header(h, w);
  write_ring(t.ring, w);
  w.u64(t.rotation);
  w.u64(t.seq.value);
  w.u64(t.aru.value);
  w.u32(t.aru_id.value);
  w.u32(t.fcc);
  w.u32(t.backlog);
  w.u16(static_cast<std::uint16_t>(t.rtr.size()));
  for (seq_t s : t.rtr) w.u64(s.value);
}

void encode(const join& j, util::byte_vector& out) {
  util::byte_writer w(out);
  header h = j.hdr;
  h.type = packet_type::join;
  encode_header(h, w);
  w.u32(j.incarnation);
  write_ring(j.ring, w);
  w.u64(j.ring_counter_max);
  write_node_set(j.proc, w);
  write_node_set(j.fail, w);
  w.u8(j.probe ? join_flag_probe : 0);
  write_node_set(j.heard, w);
}

void encode(const commit_token& c, util::byte_vector& out) {
  CHORUS_ASSERT(c.members.size() <= members_max);
  util::byte_writer w(out);
  header h = c.hdr;
  h.type = packet_type::commit;
  encode_header(h, w);
  write_ring(c.ring, w);
  w.u64(c.rotation);
  w.u16(c.holder);
  w.u16(static_cast<std::uint16_t>(c.members.size()));
  for (const commit_entry& e : c.members) {
    w.u32(e.id.value);
    w.u32(e.incarnation);
    write_ring(e.old_ring, w);
    w.u64(e.old_aru.value);
    w.u64(e.old_high_seq.value);
    w.u64(e.old_delivered.value);
    w.u8(e.filled ? commit_flag_filled : 0);
  }
}

void encode(const data_packet& p, util::byte_vector& out) {
  data_packet_builder b(out, p.hdr, p.ring, p.seq);
  for (const item& it : p.items) b.add(it);
  b.finish();
}

data_packet_builder::data_packet_builder(util::byte_vector& out, const header& h, ring_id ring,
                                         seq_t seq)
    : w_(out), start_(out.size()) {
  header hd = h;
  hd.type = packet_type::data;
  encode_header(hd, w_);
  write_ring(ring, w_);
  w_.u64(seq.value);
  count_at_ = w_.size();
  w_.u16(0);
}

void data_packet_builder::add(const item& it) {
  CHORUS_ASSERT(count_ < 0xffff);
  CHORUS_ASSERT(it.offset + it.data.size() <= it.total_bytes);
  w_.u8(static_cast<std::uint8_t>(it.svc));
  w_.u64(it.id.value);
  w_.u32(it.total_bytes);
  w_.u32(it.offset);
  w_.u32(static_cast<std::uint32_t>(it.data.size()));
  w_.bytes(it.data);
  ++count_;
}

void data_packet_builder::finish() { w_.patch_u16(count_at_, static_cast<std::uint16_t>(count_)); }

}  // namespace chorus::wire
