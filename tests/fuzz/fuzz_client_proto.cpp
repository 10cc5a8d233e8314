// fuzz_client_proto.cpp — libFuzzer target for the Spread client protocol codec
// (wire/client_proto.hpp). The first input byte picks a mode, the rest is its input:
//   0  parse_connect: the decision is consistent with every prefix (incremental parsing never
//      changes its mind), a complete request holds a legal name, the accept stays ≤ 31 bytes;
//      check_auth_choice only accepts a choice naming "NULL" (and "SHM" only where offered).
//   1  decode_header + validate_request + decode_group_names: a header re-encodes and decodes to
//      the same fields; an accepted request satisfies every rule it claims to check, and what
//      carried_type() forwards holds no bit beyond the service, SELF_DISCARD and SUBGROUP_CAST.
//   2  encode → decode round trip of membership, transitional and self-leave messages built from
//      the input (arbitrary names, sets and gids).
//   3  decode_message on arbitrary bytes: no crash, and an accepted message is self-consistent.
// Thread-safety: libFuzzer calls this from one thread.
#include <algorithm>
#include <bit>
#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "fuzz_check.hpp"
#include "util/bytes.hpp"
#include "wire/client_proto.hpp"

namespace {

using namespace chorus;
namespace cp = chorus::wire::client;
using bytes = std::span<const std::byte>;

bool is_decision(const cp::connect_parse& p) { return p.st != cp::connect_parse::state::need_more; }

void fuzz_connect(bytes in) {
  const auto full = cp::parse_connect(in);
  using st = cp::connect_parse::state;
  if (full.st == st::reject)
    FUZZ_CHECK(full.reject == cp::reject_version || full.reject == cp::reject_illegal_name);
  if (full.st == st::complete) {
    FUZZ_CHECK(full.consumed == cp::connect_fixed_bytes + full.request.name.size());
    FUZZ_CHECK(full.consumed <= in.size());
    FUZZ_CHECK(full.request.name.empty() || cp::valid_private_name(full.request.name));
    const auto accept = cp::encode_accept(cp::private_group_name(full.request.name, "localhost"));
    FUZZ_CHECK(accept.size() >= 5 && static_cast<std::size_t>(accept[4]) == accept.size() - 5);
    FUZZ_CHECK(accept.size() - 5 < cp::name_bytes);
  }
  // Incremental parsing: a prefix decides nothing, or decides exactly what the whole input does.
  for (std::size_t k = 0; k < std::min<std::size_t>(in.size(), 20); ++k) {
    const auto part = cp::parse_connect(in.first(k));
    if (!is_decision(part)) continue;
    FUZZ_CHECK(part.st == full.st);
    FUZZ_CHECK(part.reject == full.reject);
    FUZZ_CHECK(part.consumed == full.consumed);
  }
  if (in.size() >= cp::auth_choice_bytes) {
    const auto choice = in.first<cp::auth_choice_bytes>();
    const auto* c = reinterpret_cast<const char*>(choice.data());
    auto slot_is = [&](std::string_view name) {
      std::string z(name);
      z.push_back('\0');
      return std::string(c, z.size()) == z || std::string(c + 30, z.size()) == z ||
             std::string(c + 60, z.size()) == z;
    };
    if (auto plain = cp::check_auth_choice(choice); plain.ok()) {
      FUZZ_CHECK(slot_is("NULL"));
      FUZZ_CHECK(!*plain);
      // Offering SHM refuses nothing that was accepted without it.
      FUZZ_CHECK(cp::check_auth_choice(choice, true).ok());
    }
    if (auto offered = cp::check_auth_choice(choice, true); offered.ok()) {
      FUZZ_CHECK(slot_is("NULL"));
      FUZZ_CHECK(*offered == slot_is("SHM"));
    }
  }
}

void check_accepted(const cp::header& h, cp::request_kind kind, bytes rest) {
  FUZZ_CHECK(h.num_groups >= 0 && h.num_groups <= 100);
  FUZZ_CHECK(h.data_len >= 0);
  FUZZ_CHECK(cp::request_body_bytes(h) <= cp::body_bytes_max);
  FUZZ_CHECK(std::popcount(h.type & cp::regular_mess) +
                 std::popcount(h.type & (cp::join_mess | cp::leave_mess | cp::kill_mess)) ==
             1);
  // Other bits are tolerated (as upstream does); what travels on never carries them.
  FUZZ_CHECK((cp::carried_type(h.type) &
              ~(cp::regular_mess | cp::self_discard | cp::subgroup_cast)) == 0);
  if (kind == cp::request_kind::multicast)
    FUZZ_CHECK((cp::carried_type(h.type) & cp::regular_mess) == (h.type & cp::regular_mess));
  if (kind != cp::request_kind::multicast) FUZZ_CHECK(h.num_groups == 1 && h.data_len == 0);
  auto names = cp::decode_group_names(rest, h.num_groups);
  if (!names) return;
  FUZZ_CHECK(names->size() == static_cast<std::size_t>(h.num_groups));
  for (const auto& n : *names) FUZZ_CHECK(!n.empty() && n.size() < cp::name_bytes);
  if (kind == cp::request_kind::join && cp::validate_request_groups(kind, *names, h.sender).ok())
    FUZZ_CHECK((*names)[0].find('#') == std::string::npos);
  if (kind == cp::request_kind::kill && cp::validate_request_groups(kind, *names, h.sender).ok())
    FUZZ_CHECK((*names)[0] == h.sender);
}

void fuzz_request(bytes in) {
  if (in.size() < cp::header_bytes) return;
  const cp::header h = cp::decode_header(in.first<cp::header_bytes>());
  FUZZ_CHECK(h.sender.size() < cp::name_bytes);
  FUZZ_CHECK((h.type & cp::endian_marker) == 0);
  util::byte_vector out;
  util::byte_writer w(out);
  cp::encode_header(w, h);
  FUZZ_CHECK(out.size() == cp::header_bytes);
  const cp::header again =
      cp::decode_header(std::span<const std::byte>(out).first<cp::header_bytes>());
  FUZZ_CHECK(again.type == h.type && again.sender == h.sender);
  FUZZ_CHECK(again.num_groups == h.num_groups && again.data_len == h.data_len);
  FUZZ_CHECK(again.hint == h.hint && again.little_endian && again.marker_consistent);
  const bytes rest = in.subspan(cp::header_bytes);
  // Unvalidated counts (negative, huge) must be refused without allocating.
  (void)cp::decode_group_names(rest, h.num_groups);
  (void)cp::validate_request(h, "#a#localhost");
  // The header's own sender as the session: gets past the sender rule to the later ones.
  if (auto kind = cp::validate_request(h, h.sender)) check_accepted(h, *kind, rest);
}

std::string take_name(util::byte_reader& r) {
  const auto b = r.bytes(r.u8() % 40);
  return std::string(reinterpret_cast<const char*>(b.data()), b.size());
}

// What a name becomes in a 32-byte field: cut to 31 bytes, then read up to the first NUL.
std::string as_decoded(const std::string& s) {
  const std::string cut = s.substr(0, cp::name_bytes - 1);
  return cut.substr(0, cut.find('\0'));
}

void fuzz_membership(bytes in) {
  util::byte_reader r(in);
  constexpr std::uint32_t causes[] = {cp::caused_by_join, cp::caused_by_leave,
                                      cp::caused_by_disconnect, cp::caused_by_network};
  const std::uint32_t cause = causes[r.u8() % 4];
  const cp::group_id gid{r.u32(), r.u32(), r.u32()};
  const std::string group = take_name(r);
  std::vector<std::string> members(r.u8() % 8);
  for (auto& m : members) m = take_name(r);
  std::vector<std::vector<std::string>> sets(r.u8() % 5);
  for (auto& set : sets) {
    set.resize(r.u8() % 6);
    for (auto& m : set) m = take_name(r);
  }
  const std::size_t local = sets.empty() ? 0 : r.u8() % sets.size();

  const auto encoded = cp::encode_membership(cause, group, members, gid, sets, local);
  auto m = cp::decode_message(encoded);
  FUZZ_CHECK(m.ok());
  FUZZ_CHECK(m->hdr.type == (cp::reg_memb_mess | cause) && m->hdr.little_endian);
  FUZZ_CHECK(m->hdr.sender == as_decoded(group));
  FUZZ_CHECK(m->groups.size() == members.size());
  for (std::size_t i = 0; i < members.size(); ++i)
    FUZZ_CHECK(m->groups[i] == as_decoded(members[i]));
  FUZZ_CHECK(m->has_membership && m->membership.gid == gid && m->membership.local_set == local);
  FUZZ_CHECK(m->membership.vs_sets.size() == sets.size());
  for (std::size_t s = 0; s < sets.size(); ++s) {
    FUZZ_CHECK(m->membership.vs_sets[s].size() == sets[s].size());
    for (std::size_t i = 0; i < sets[s].size(); ++i)
      FUZZ_CHECK(m->membership.vs_sets[s][i] == as_decoded(sets[s][i]));
  }
  auto t = cp::decode_message(cp::encode_transition(group, gid));
  FUZZ_CHECK(t.ok() && t->has_membership && t->membership.gid == gid);
  auto l = cp::decode_message(cp::encode_self_leave(group));
  FUZZ_CHECK(l.ok() && !l->has_membership && l->hdr.type == cp::caused_by_leave);
  FUZZ_CHECK(l->hdr.sender == as_decoded(group));
}

void fuzz_decode_message(bytes in) {
  auto m = cp::decode_message(in);
  if (!m) {
    FUZZ_CHECK(!m.error().message().empty());
    return;
  }
  auto size = cp::message_bytes(m->hdr);
  FUZZ_CHECK(size.ok() && *size == in.size());
  FUZZ_CHECK(m->groups.size() == static_cast<std::size_t>(m->hdr.num_groups));
  FUZZ_CHECK(m->data.size() == static_cast<std::size_t>(m->hdr.data_len));
  if (m->has_membership) {
    const auto& b = m->membership;
    FUZZ_CHECK(b.vs_sets.empty() ? b.local_set == 0 : b.local_set < b.vs_sets.size());
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  const bytes in(reinterpret_cast<const std::byte*>(data) + 1, size - 1);
  switch (data[0] % 4) {
    case 0:
      fuzz_connect(in);
      break;
    case 1:
      fuzz_request(in);
      break;
    case 2:
      fuzz_membership(in);
      break;
    default:
      fuzz_decode_message(in);
      break;
  }
  return 0;
}
