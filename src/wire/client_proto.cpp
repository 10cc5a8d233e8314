// client_proto.cpp — the Spread client protocol codec (see client_proto.hpp). Integers are read in
// the writer's order (from the `type` marker) and always written little-endian byte by byte, so
// the encoding does not depend on the host's order.
// Thread-safety: stateless functions.
#include "wire/client_proto.hpp"

#include <algorithm>
#include <array>
#include <bit>
#include <cstring>
#include <string>
#include <utility>

namespace chorus::wire::client {
namespace {

using util::byte_vector;
using util::byte_writer;
using util::errc;
using util::status;

status fail(errc c, std::string what) { return status(c, std::move(what)); }

// A name field's longest string: 31 bytes, so the field always keeps a NUL (§2.1, §11.5).
constexpr std::size_t name_chars_max = name_bytes - 1;
constexpr std::uint8_t marker_bit = 0x80;  // bit 7 of bytes 0 and 3 of a marked field
constexpr std::array<std::byte, 4> daemon_hint{std::byte{0x80}, std::byte{0}, std::byte{0},
                                               std::byte{0x80}};  // 0 | marker, LE (§4.1)
constexpr std::string_view null_auth = "NULL";

std::uint8_t byte_at(std::span<const std::byte> s, std::size_t i) {
  return static_cast<std::uint8_t>(s[i]);
}

// §5.2: '#' < c <= '~'.
bool name_byte(std::uint8_t c) { return c >= 0x24 && c <= 0x7e; }
// A multicast destination may also be a private group, which contains '#' (0x23).
bool destination_byte(std::uint8_t c) { return c == 0x23 || name_byte(c); }

std::uint32_t load_u32(std::span<const std::byte> s, std::size_t at, bool little_endian) {
  std::uint32_t v = 0;
  for (std::size_t i = 0; i < 4; ++i) {
    const std::size_t from = little_endian ? at + 3 - i : at + i;
    v = (v << 8) | byte_at(s, from);
  }
  return v;
}

// The bytes of `field` up to its first NUL (all of it if there is none).
std::string field_string(std::span<const std::byte> field) {
  const auto nul = std::find(field.begin(), field.end(), std::byte{0});
  return std::string(reinterpret_cast<const char*>(field.data()),
                     static_cast<std::size_t>(nul - field.begin()));
}

// A 32-byte name field: at most 31 bytes of `name`, NUL-padded.
void write_name(byte_writer& w, std::string_view name) {
  const std::size_t n = std::min(name.size(), name_chars_max);
  w.bytes(std::as_bytes(std::span(name.data(), n)));
  for (std::size_t i = n; i < name_bytes; ++i) w.u8(0);
}

connect_parse rejected(std::int8_t code) {
  connect_parse p;
  p.st = connect_parse::state::reject;
  p.reject = code;
  return p;
}

// §2.4 rule 1: which request `type` names. Bits beyond the service or the group operation are
// tolerated, as Spread's daemon tolerates them (its library passes the caller's whole service
// word through, DROP_RECV or DONT_BLOCK included); carried_type() drops them.
util::result<request_kind> classify(std::uint32_t type) {
  const std::uint32_t service = type & regular_mess;
  const std::uint32_t group_op = type & (join_mess | leave_mess | kill_mess);
  if (std::popcount(service) + std::popcount(group_op) != 1)
    return fail(errc::malformed,
                "type rule: needs exactly one service bit or exactly one of JOIN/LEAVE/KILL");
  if (service != 0) return request_kind::multicast;
  if (group_op == join_mess) return request_kind::join;
  if (group_op == leave_mess) return request_kind::leave;
  return request_kind::kill;
}

// Bytes from body offset 20 to set `local_set`, and the whole body size (§4.2).
std::pair<std::size_t, std::size_t> vs_layout(const std::vector<std::vector<std::string>>& sets,
                                              std::size_t local_set) {
  std::size_t offset = 0;
  std::size_t body = membership_fixed_bytes;
  for (std::size_t i = 0; i < sets.size(); ++i) {
    const std::size_t set_bytes = 4 + name_bytes * sets[i].size();
    if (i < local_set) offset += set_bytes;
    body += set_bytes;
  }
  return {offset, body};
}

}  // namespace

// ==== handshake ====

connect_parse parse_connect(std::span<const std::byte> received) {
  connect_parse out;
  if (received.size() < 3) return out;
  const int version =
      byte_at(received, 0) * 10000 + byte_at(received, 1) * 100 + byte_at(received, 2);
  if (version < client_version_min) return rejected(reject_version);
  if (received.size() < connect_fixed_bytes) return out;
  const auto n = static_cast<std::int8_t>(byte_at(received, 4));  // signed upstream
  if (n < 0 || static_cast<std::size_t>(n) > private_name_max) return rejected(reject_illegal_name);
  const auto len = static_cast<std::size_t>(n);
  const auto name =
      received.subspan(connect_fixed_bytes, std::min(len, received.size() - connect_fixed_bytes));
  for (const std::byte b : name)
    if (!name_byte(static_cast<std::uint8_t>(b))) return rejected(reject_illegal_name);
  if (name.size() < len) return out;

  const std::uint8_t flags = byte_at(received, 3);
  out.st = connect_parse::state::complete;
  out.request.major = byte_at(received, 0);
  out.request.minor = byte_at(received, 1);
  out.request.patch = byte_at(received, 2);
  out.request.membership = (flags & 0x01) != 0;
  out.request.priority = static_cast<std::uint8_t>(flags >> 4);
  out.request.name.assign(reinterpret_cast<const char*>(name.data()), name.size());
  out.consumed = connect_fixed_bytes + len;
  return out;
}

bool valid_private_name(std::string_view name) {
  if (name.empty() || name.size() > private_name_max) return false;
  return std::ranges::all_of(name, [](char c) { return name_byte(static_cast<std::uint8_t>(c)); });
}

byte_vector encode_auth_methods(bool offer_shm) {
  byte_vector out;
  byte_writer w(out);
  const std::string_view list =
      offer_shm ? "NULL SHM " : "NULL ";  // each name followed by one space, no NUL (§1.3)
  out.reserve(1 + list.size());  // (GCC 12 at -O3 warns of bounds on the insert without it)
  w.u8(static_cast<std::uint8_t>(list.size()));
  w.bytes(std::as_bytes(std::span(list)));
  return out;
}

util::result<bool> check_auth_choice(std::span<const std::byte, auth_choice_bytes> choice,
                                     bool shm_offered) {
  bool null_chosen = false;
  bool shm_chosen = false;
  for (std::size_t slot = 0; slot < auth_choice_bytes / auth_name_bytes; ++slot) {
    const auto field =
        std::span<const std::byte>(choice).subspan(slot * auth_name_bytes, auth_name_bytes);
    const std::string name = field_string(field);
    if (name.empty()) continue;
    if (name == null_auth) {
      null_chosen = true;
    } else if (shm_offered && name == shm_auth_method) {
      shm_chosen = true;
    } else {
      return fail(errc::unsupported,
                  "auth slot " + std::to_string(slot) + " names a method " +
                      (shm_offered ? "other than NULL and SHM" : "other than NULL"));
    }
  }
  if (!null_chosen) return fail(errc::malformed, "auth choice names no NULL method");
  return shm_chosen;
}

std::array<std::byte, auth_choice_bytes> encode_auth_choice(
    std::span<const std::string_view> methods) {
  CHORUS_ASSERT(methods.size() <= auth_choice_bytes / auth_name_bytes, "three methods at most");
  std::array<std::byte, auth_choice_bytes> choice{};
  for (std::size_t slot = 0; slot < methods.size(); ++slot) {
    const std::string_view m = methods[slot];
    CHORUS_ASSERT(m.size() < auth_name_bytes, "a method's name is below 30 bytes");
    std::memcpy(choice.data() + slot * auth_name_bytes, m.data(), m.size());
  }
  return choice;
}

std::array<std::byte, auth_choice_bytes> encode_auth_choice(bool shm) {
  const std::string_view both[] = {null_auth, shm_auth_method};
  return encode_auth_choice(std::span(both, shm ? 2 : 1));
}

bool offers_auth_method(std::string_view list, std::string_view method) {
  if (method.empty()) return false;
  while (!list.empty()) {  // the space-separated names, as Spread's client compares them
    const std::size_t end = std::min(list.find(' '), list.size());
    if (list.substr(0, end) == method) return true;
    list.remove_prefix(std::min(end + 1, list.size()));
  }
  return false;
}

byte_vector encode_accept(std::string_view private_group) {
  const std::string_view name = private_group.substr(0, name_chars_max);
  byte_vector out;
  byte_writer w(out);
  w.u8(static_cast<std::uint8_t>(accept_session));
  w.u8(daemon_version_major);
  w.u8(daemon_version_minor);
  w.u8(daemon_version_patch);
  w.u8(static_cast<std::uint8_t>(name.size()));
  w.bytes(std::as_bytes(std::span(name)));
  return out;
}

byte_vector encode_reject(std::int8_t code) { return {static_cast<std::byte>(code)}; }

std::string private_group_name(std::string_view session, std::string_view daemon) {
  std::string s;
  s.reserve(2 + session.size() + daemon.size());
  s.append("#").append(session).append("#").append(daemon);
  if (s.size() > name_chars_max) s.resize(name_chars_max);
  return s;
}

// ==== framing ====

header decode_header(std::span<const std::byte, header_bytes> bytes) {
  const std::span<const std::byte> in(bytes);
  const bool first = (byte_at(in, 0) & marker_bit) != 0;
  const bool last = (byte_at(in, 3) & marker_bit) != 0;
  header h;
  h.little_endian = first && last;
  h.marker_consistent = first == last;
  h.type = load_u32(in, 0, h.little_endian) & ~endian_marker;
  h.sender = field_string(in.subspan(4, name_chars_max));  // byte 31 of the field forced NUL
  h.num_groups = static_cast<std::int32_t>(load_u32(in, 36, h.little_endian));
  std::copy_n(in.begin() + 40, 4, h.hint.begin());
  h.data_len = static_cast<std::int32_t>(load_u32(in, 44, h.little_endian));
  return h;
}

void encode_header(byte_writer& w, std::uint32_t type, std::string_view sender,
                   std::int32_t num_groups, std::array<std::byte, 4> hint, std::int32_t data_len) {
  w.u32(type | endian_marker);
  write_name(w, sender);
  w.u32(static_cast<std::uint32_t>(num_groups));
  w.bytes(hint);
  w.u32(static_cast<std::uint32_t>(data_len));
}

void encode_header(byte_writer& w, const header& h) {
  encode_header(w, h.type, h.sender, h.num_groups, h.hint, h.data_len);
}

util::result<request_kind> validate_request(const header& h,
                                            std::string_view session_private_group) {
  if (!h.marker_consistent)
    return fail(errc::malformed, "marker rule: bytes 0 and 3 of type disagree on the marker");
  auto kind = classify(h.type);
  if (!kind) return kind;
  if (h.sender != session_private_group)
    return fail(errc::malformed, "sender rule: sender is not the session's private group");
  if (h.num_groups < 0 || static_cast<std::size_t>(h.num_groups) > groups_per_message_max)
    return fail(errc::malformed, "num_groups rule: outside 0…100");
  // The allowed mask is symmetric under byte swapping, so the verbatim bytes can be tested.
  const std::uint32_t hint = load_u32(h.hint, 0, true);
  if ((hint & ~hint_bits_allowed) != 0)
    return fail(errc::malformed, "hint rule: bits outside 0x80FFFF80");
  if (h.data_len < 0) return fail(errc::malformed, "data_len rule: negative");
  const std::int64_t body = std::int64_t{h.data_len} + std::int64_t{32} * h.num_groups;
  if (body > static_cast<std::int64_t>(body_bytes_max))
    return fail(errc::too_large, "size rule: data_len + 32 × num_groups above 144000");
  if (*kind != request_kind::multicast && (h.num_groups != 1 || h.data_len != 0))
    return fail(errc::malformed, "join/leave/kill rule: needs exactly one group and no data");
  return kind;
}

std::size_t request_body_bytes(const header& h) {
  const std::int64_t body =
      std::max<std::int64_t>(0, h.data_len) + std::int64_t{32} * std::max(0, h.num_groups);
  return static_cast<std::size_t>(body);
}

util::result<std::vector<std::string>> decode_group_names(std::span<const std::byte> names,
                                                          std::int32_t count) {
  if (count < 0) return fail(errc::malformed, "negative group count");
  if (names.size() / name_bytes < static_cast<std::size_t>(count))
    return fail(errc::truncated, "fewer group name fields than announced");
  std::vector<std::string> out;
  out.reserve(static_cast<std::size_t>(count));
  for (std::size_t i = 0; i < static_cast<std::size_t>(count); ++i) {
    const auto field = names.subspan(i * name_bytes, name_bytes);
    std::string name = field_string(field);
    const std::string where = "group name " + std::to_string(i);
    if (name.empty()) return fail(errc::malformed, where + " is empty");
    if (!std::ranges::all_of(name,
                             [](char c) { return destination_byte(static_cast<std::uint8_t>(c)); }))
      return fail(errc::malformed, where + " has a byte outside 0x23…0x7E");
    if (name.size() > name_chars_max) name.resize(name_chars_max);  // no NUL: Java's long names
    out.push_back(std::move(name));
  }
  return out;
}

std::uint32_t carried_type(std::uint32_t type) {
  return type & (regular_mess | self_discard | subgroup_cast);
}

void encode_group_names(byte_writer& w, std::span<const std::string> names) {
  for (const std::string& n : names) write_name(w, n);
}

status validate_join_leave_group(std::string_view group) {
  if (group.empty()) return fail(errc::malformed, "group name is empty");
  if (group.size() > name_chars_max) return fail(errc::malformed, "group name above 31 bytes");
  if (group.front() == '#')
    return fail(errc::malformed, "group name starts with '#' (a private group)");
  if (!std::ranges::all_of(group, [](char c) { return name_byte(static_cast<std::uint8_t>(c)); }))
    return fail(errc::malformed, "group name has a byte outside 0x24…0x7E");
  return {};
}

status validate_kill_group(std::string_view group, std::string_view session_private_group) {
  if (group != session_private_group)
    return fail(errc::malformed, "KILL names a group other than the session's private group");
  return {};
}

status validate_request_groups(request_kind kind, const std::vector<std::string>& groups,
                               std::string_view session_private_group) {
  if (kind == request_kind::multicast) return {};
  if (groups.size() != 1) return fail(errc::malformed, "join/leave/kill needs exactly one group");
  if (kind == request_kind::kill) return validate_kill_group(groups[0], session_private_group);
  return validate_join_leave_group(groups[0]);
}

// ==== daemon → client ====

byte_vector encode_membership(std::uint32_t cause, std::string_view group,
                              const std::vector<std::string>& members, group_id gid,
                              const std::vector<std::vector<std::string>>& vs_sets,
                              std::size_t local_set) {
  CHORUS_ASSERT(vs_sets.empty() ? local_set == 0 : local_set < vs_sets.size(),
                "local_set must index vs_sets");
  const auto [offset, body] = vs_layout(vs_sets, local_set);
  byte_vector out;
  out.reserve(header_bytes + name_bytes * members.size() + body);
  byte_writer w(out);
  encode_header(w, reg_memb_mess | cause, group, static_cast<std::int32_t>(members.size()),
                daemon_hint, static_cast<std::int32_t>(body));
  for (const std::string& m : members) write_name(w, m);
  w.u32(gid.a);
  w.u32(gid.b);
  w.u32(gid.c);
  w.u32(static_cast<std::uint32_t>(vs_sets.size()));
  w.u32(static_cast<std::uint32_t>(offset));
  for (const auto& set : vs_sets) {
    w.u32(static_cast<std::uint32_t>(set.size()));
    for (const std::string& m : set) write_name(w, m);
  }
  return out;
}

byte_vector encode_membership_change(std::uint32_t cause, std::string_view group,
                                     const std::vector<std::string>& members, group_id gid,
                                     std::string_view changed) {
  return encode_membership(cause, group, members, gid, {{std::string(changed)}}, 0);
}

byte_vector encode_transition(std::string_view group, group_id gid) {
  byte_vector out;
  out.reserve(header_bytes + group_id_bytes);
  byte_writer w(out);
  encode_header(w, transition_mess, group, 0, daemon_hint,
                static_cast<std::int32_t>(group_id_bytes));
  w.u32(gid.a);
  w.u32(gid.b);
  w.u32(gid.c);
  return out;
}

byte_vector encode_self_leave(std::string_view group) {
  byte_vector out;
  out.reserve(header_bytes);
  byte_writer w(out);
  encode_header(w, caused_by_leave, group, 0, daemon_hint, 0);
  return out;
}

util::result<std::size_t> message_bytes(const header& h) {
  if (h.num_groups < 0 || h.data_len < 0)
    return fail(errc::malformed, "negative num_groups or data_len");
  const std::size_t extra = (h.type & reject_mess) != 0 ? reject_old_type_bytes : 0;
  return header_bytes + extra + name_bytes * static_cast<std::size_t>(h.num_groups) +
         static_cast<std::size_t>(h.data_len);
}

util::result<membership_body> decode_membership_body(std::span<const std::byte> body,
                                                     bool little_endian, bool transition) {
  const std::size_t need = transition ? group_id_bytes : membership_fixed_bytes;
  if (body.size() < need) return fail(errc::truncated, "membership body too short");
  membership_body m;
  m.gid = {load_u32(body, 0, little_endian), load_u32(body, 4, little_endian),
           load_u32(body, 8, little_endian)};
  if (transition) return m;
  const std::uint32_t num_sets = load_u32(body, 12, little_endian);
  const std::uint32_t local_offset = load_u32(body, 16, little_endian);
  const auto sets = body.subspan(membership_fixed_bytes);
  if (num_sets > sets.size() / 4) return fail(errc::truncated, "more vs-sets than bytes");
  bool found = num_sets == 0 && local_offset == 0;
  std::size_t pos = 0;
  for (std::uint32_t s = 0; s < num_sets; ++s) {
    if (pos == local_offset) {
      m.local_set = s;
      found = true;
    }
    if (sets.size() - pos < 4) return fail(errc::truncated, "vs-set count past the body");
    const std::uint32_t count = load_u32(sets, pos, little_endian);
    pos += 4;
    if (count > (sets.size() - pos) / name_bytes)
      return fail(errc::truncated, "vs-set members past the body");
    auto& names = m.vs_sets.emplace_back();
    for (std::uint32_t i = 0; i < count; ++i, pos += name_bytes)
      names.push_back(field_string(sets.subspan(pos, name_bytes)));
  }
  if (pos != sets.size()) return fail(errc::malformed, "bytes after the last vs-set");
  if (!found) return fail(errc::malformed, "local_vs_set_offset is not at a vs-set");
  return m;
}

util::result<message> decode_message(std::span<const std::byte> bytes) {
  if (bytes.size() < header_bytes) return fail(errc::truncated, "shorter than a header");
  message m;
  m.hdr = decode_header(bytes.first<header_bytes>());
  auto total = message_bytes(m.hdr);
  if (!total) return total.error();
  if (*total > bytes.size()) return fail(errc::truncated, "shorter than its header announces");
  if (*total < bytes.size()) return fail(errc::malformed, "bytes after the message");
  std::size_t pos = header_bytes;
  const bool reject = (m.hdr.type & reject_mess) != 0;
  if (reject) {
    m.old_type = load_u32(bytes, pos, m.hdr.little_endian) & ~endian_marker;
    pos += reject_old_type_bytes;
  }
  m.groups.reserve(static_cast<std::size_t>(m.hdr.num_groups));
  for (std::int32_t i = 0; i < m.hdr.num_groups; ++i, pos += name_bytes)
    m.groups.push_back(field_string(bytes.subspan(pos, name_bytes)));
  const auto data = bytes.subspan(pos);
  m.data.assign(data.begin(), data.end());
  const bool reg = (m.hdr.type & reg_memb_mess) != 0;
  const bool trans = !reg && (m.hdr.type & transition_mess) != 0;
  if (!reject && (reg || trans)) {
    auto body = decode_membership_body(data, m.hdr.little_endian, trans);
    if (!body) return body.error();
    m.membership = std::move(*body);
    m.has_membership = true;
  }
  return m;
}

wire::service service_of(std::uint32_t type) {
  if (type & unreliable_mess) return wire::service::unreliable;
  if (type & reliable_mess) return wire::service::reliable;
  if (type & fifo_mess) return wire::service::fifo;
  if (type & causal_mess) return wire::service::causal;
  if (type & agreed_mess) return wire::service::agreed;
  return wire::service::safe;
}

}  // namespace chorus::wire::client
