// wire.cpp — Flush's control messages and trailers (wire.hpp; spec flush.md §3).
#include "flush/wire.hpp"

#include <algorithm>

namespace chorus::flush::wire {
namespace {

using util::byte_vector;
using util::errc;
using util::status;

status fail(std::string what) { return status(errc::malformed, std::move(what)); }

void put(byte_vector& out, std::uint64_t v, int bytes, std::endian order) {
  for (int i = 0; i < bytes; ++i) {
    const int shift = 8 * (order == std::endian::little ? i : bytes - 1 - i);
    out.push_back(static_cast<std::byte>((v >> shift) & 0xff));
  }
}

void put_gid(byte_vector& out, group_id g, std::endian order) {
  for (std::uint32_t v : {g.a, g.b, g.c}) put(out, v, 4, order);
}

// The value at `p` as the sender wrote it: in our order, or the other when `foreign`.
std::uint64_t get(std::span<const std::byte> p, bool foreign) {
  constexpr bool little = std::endian::native == std::endian::little;
  const bool little_source = little != foreign;
  std::uint64_t v = 0;
  for (std::size_t i = 0; i < p.size(); ++i) {
    const std::size_t at = little_source ? p.size() - 1 - i : i;
    v = (v << 8) | static_cast<std::uint8_t>(p[at]);
  }
  return v;
}

group_id get_gid(std::span<const std::byte> p, bool foreign) {
  return {static_cast<std::uint32_t>(get(p.subspan(0, 4), foreign)),
          static_cast<std::uint32_t>(get(p.subspan(4, 4), foreign)),
          static_cast<std::uint32_t>(get(p.subspan(8, 4), foreign))};
}

// A group name field as the sender's library wrote it: the bytes up to the first NUL.
util::result<std::string> reference_name(std::span<const std::byte> field) {
  const auto nul = std::find(field.begin(), field.end(), std::byte{0});
  std::string name(reinterpret_cast<const char*>(field.data()),
                   static_cast<std::size_t>(nul - field.begin()));
  if (name.empty() || name.size() >= field.size()) {
    return fail("the subgroup trailer holds no NUL-terminated group name");
  }
  const bool legal = std::ranges::all_of(name, [](char c) {
    const auto u = static_cast<unsigned char>(c);
    return u >= 0x23 && u <= 0x7e;
  });
  if (!legal) return fail("the subgroup trailer's group name has a byte outside '#'…'~'");
  return name;
}

}  // namespace

byte_vector encode_gid_body(group_id gid, std::endian order) {
  byte_vector out;
  out.reserve(gid_bytes);
  put_gid(out, gid, order);
  return out;
}

byte_vector encode_trailer(const trailer& t, std::endian order) {
  byte_vector out;
  if (t.vulnerable) {
    put(out, static_cast<std::uint16_t>(t.vulnerable->mess_type), 2, order);
    put_gid(out, t.vulnerable->view, order);
  }
  if (t.reference_group) {
    const std::string& g = *t.reference_group;
    CHORUS_ASSERT(!g.empty() && g.size() < subgroup_trailer_bytes, "a group name of 1–31 bytes");
    const auto* p = reinterpret_cast<const std::byte*>(g.data());
    out.insert(out.end(), p, p + g.size());
    out.resize(out.size() + subgroup_trailer_bytes - g.size(), std::byte{0});
  }
  return out;
}

util::result<decoded> decode(std::uint32_t service, std::int16_t mess_type,
                             std::span<const std::byte> message, bool foreign_order) {
  decoded d;
  d.mess_type = mess_type;
  // §3.4, from the end of the message backwards: the subgroup trailer, then the gid that every
  // reserved type carries, then a vulnerable message's real type.
  if ((service & subgroup_cast) != 0) {
    if (message.size() < subgroup_trailer_bytes) {
      return fail("a subgroupcast of " + std::to_string(message.size()) +
                  " bytes cannot hold its 32-byte reference group");
    }
    auto name = reference_name(message.last(subgroup_trailer_bytes));
    if (!name) return name.error();
    d.reference_group = std::move(*name);
    message = message.first(message.size() - subgroup_trailer_bytes);
  }
  if (reserved_type(mess_type)) {
    if (message.size() < gid_bytes) {
      return fail("a message of reserved type " + std::to_string(mess_type) +
                  " holds no 12-byte gid");
    }
    d.gid = get_gid(message.last(gid_bytes), foreign_order);
    message = message.first(message.size() - gid_bytes);
    if (mess_type == vulnerable_mess) {
      if (message.size() < 2) return fail("a vulnerable message holds no application type");
      d.vulnerable = true;
      d.mess_type = static_cast<std::int16_t>(get(message.last(2), foreign_order));
      message = message.first(message.size() - 2);
    } else {
      d.what = mess_type == flush_ok_mess ? decoded::kind::flush_ok : decoded::kind::flush_recv;
      if (!message.empty() || d.reference_group) {
        return fail(std::string(mess_type == flush_ok_mess ? "FLUSH_OK" : "FLUSH_RECV") +
                    " carries more than its gid");
      }
    }
  }
  d.payload_bytes = message.size();
  return d;
}

}  // namespace chorus::flush::wire
