// group_msg.cpp — see group_msg.hpp for the layout.
#include "wire/group_msg.hpp"

#include <string_view>

namespace chorus::wire {
namespace {

using util::errc;
using util::status;

constexpr std::size_t state_members_max = 1u << 20;
constexpr std::size_t name_bytes_max = 255;

void put_name(util::byte_writer& w, std::string_view s) {
  CHORUS_ASSERT(s.size() <= name_bytes_max, "group message name too long");
  w.u8(static_cast<std::uint8_t>(s.size()));
  w.bytes(std::as_bytes(std::span<const char>(s.data(), s.size())));
}

bool get_name(util::byte_reader& r, std::string& out) {
  std::size_t n = r.u8();
  auto b = r.bytes(n);
  if (!r.ok()) return false;
  out.assign(reinterpret_cast<const char*>(b.data()), b.size());
  return !out.empty();
}

void put_ring(util::byte_writer& w, ring_id r) {
  w.u32(r.rep.value);
  w.u64(r.counter);
}

ring_id get_ring(util::byte_reader& r) {
  ring_id id;
  id.rep = node_id{r.u32()};
  id.counter = r.u64();
  return id;
}

status bad(const char* what) { return status(errc::malformed, what); }

}  // namespace

util::byte_vector encode_group_op(const group_op& op) {
  util::byte_vector out;
  util::byte_writer w(out);
  w.u8(static_cast<std::uint8_t>(op.kind));
  put_name(w, op.member);
  if (op.kind != group_msg_kind::kill) put_name(w, op.group);
  return out;
}

util::byte_vector encode_group_state(const group_state& s) {
  util::byte_vector out;
  util::byte_writer w(out);
  w.u8(static_cast<std::uint8_t>(group_msg_kind::state));
  put_ring(w, s.ring);
  put_ring(w, s.previous);
  w.u64(s.history);
  w.u32(static_cast<std::uint32_t>(s.members.size()));
  for (const auto& m : s.members) {
    put_name(w, m.name);
    w.u16(static_cast<std::uint16_t>(m.groups.size()));
    for (const auto& g : m.groups) put_name(w, g);
  }
  return out;
}

util::byte_vector encode_group_data(std::span<const std::byte> client_message) {
  util::byte_vector out;
  out.reserve(client_message.size() + 1);
  out.push_back(static_cast<std::byte>(group_msg_kind::data));
  out.insert(out.end(), client_message.begin(), client_message.end());
  return out;
}

util::result<group_msg_kind> peek_group_msg(std::span<const std::byte> payload) {
  if (payload.empty()) return status(errc::truncated, "empty group message");
  auto k = static_cast<std::uint8_t>(payload[0]);
  if (k < 1 || k > 5) return bad("unknown group message kind");
  return static_cast<group_msg_kind>(k);
}

util::result<group_op> decode_group_op(std::span<const std::byte> payload) {
  auto kind = peek_group_msg(payload);
  if (!kind) return kind.error();
  if (*kind != group_msg_kind::join && *kind != group_msg_kind::leave &&
      *kind != group_msg_kind::kill) {
    return bad("not a group operation");
  }
  util::byte_reader r(payload.subspan(1));
  group_op op;
  op.kind = *kind;
  if (!get_name(r, op.member)) return bad("group operation: bad member name");
  if (op.kind != group_msg_kind::kill && !get_name(r, op.group)) {
    return bad("group operation: bad group name");
  }
  if (r.remaining() != 0) return bad("group operation: trailing bytes");
  return op;
}

util::result<group_state> decode_group_state(std::span<const std::byte> payload) {
  auto kind = peek_group_msg(payload);
  if (!kind) return kind.error();
  if (*kind != group_msg_kind::state) return bad("not a group state");
  util::byte_reader r(payload.subspan(1));
  group_state s;
  s.ring = get_ring(r);
  s.previous = get_ring(r);
  s.history = r.u64();
  std::size_t n = r.u32();
  if (!r.ok() || n > state_members_max || n > r.remaining()) return bad("group state: count");
  s.members.resize(n);
  for (auto& m : s.members) {
    if (!get_name(r, m.name)) return bad("group state: member name");
    std::size_t g = r.u16();
    if (!r.ok() || g > r.remaining()) return bad("group state: group count");
    m.groups.resize(g);
    for (auto& name : m.groups) {
      if (!get_name(r, name)) return bad("group state: group name");
    }
  }
  if (r.remaining() != 0) return bad("group state: trailing bytes");
  return s;
}

}  // namespace chorus::wire
