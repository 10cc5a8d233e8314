// client_proto_test.cpp — unit tests for the Spread client protocol codec (wire/client_proto.hpp).
// The spec's worked examples (spread-client-protocol.md §1.6, §2.3, §4.5) are reproduced byte for
// byte: real spuser/Java clients send exactly these bytes and parse exactly what we emit. Every
// reject rule of the handshake and every header rule of validate_request has a test that makes it
// fail, because a client's bytes are input the daemon must refuse without crashing.
// Thread-safety: single-threaded tests.
#include "wire/client_proto.hpp"

#include <gtest/gtest.h>

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace chorus::wire::client {
namespace {

using util::byte_vector;
using util::byte_writer;
using util::errc;

// "05 4E 55" → bytes.
byte_vector hex(std::string_view s) {
  byte_vector out;
  std::size_t i = 0;
  while (i < s.size()) {
    if (s[i] == ' ') {
      ++i;
      continue;
    }
    out.push_back(static_cast<std::byte>(std::stoi(std::string(s.substr(i, 2)), nullptr, 16)));
    i += 2;
  }
  return out;
}

byte_vector text(std::string_view s) {
  const auto b = std::as_bytes(std::span(s));
  return byte_vector(b.begin(), b.end());
}

// A 32-byte NUL-padded name field.
byte_vector field(std::string_view s, std::size_t size = name_bytes) {
  byte_vector out = text(s);
  out.resize(size);
  return out;
}

byte_vector cat(std::initializer_list<byte_vector> parts) {
  byte_vector out;
  for (const auto& p : parts) out.insert(out.end(), p.begin(), p.end());
  return out;
}

byte_vector le32(std::uint32_t v) {
  byte_vector out;
  byte_writer(out).u32(v);
  return out;
}

byte_vector be32(std::uint32_t v) {
  return {std::byte(v >> 24), std::byte(v >> 16), std::byte(v >> 8), std::byte(v)};
}

std::span<const std::byte, header_bytes> head(const byte_vector& b) {
  return std::span<const std::byte>(b).first<header_bytes>();
}

constexpr std::string_view pg_a = "#a#localhost";

// An LE client request header with the given fields.
header request(std::uint32_t type, std::int32_t groups, std::int32_t data,
               byte_vector hint_bytes = hex("80 00 00 80")) {
  header h;
  h.type = type;
  h.sender = std::string(pg_a);
  h.num_groups = groups;
  std::copy_n(hint_bytes.begin(), 4, h.hint.begin());
  h.data_len = data;
  return h;
}

// ---- handshake ----

TEST(ClientHandshake, CClientAWorkedExample) {  // spec §1.6
  const auto p = parse_connect(hex("05 00 01 01 01 61"));
  ASSERT_EQ(p.st, connect_parse::state::complete);
  EXPECT_EQ(p.consumed, 6u);
  EXPECT_EQ(p.request.major, 5);
  EXPECT_EQ(p.request.minor, 0);
  EXPECT_EQ(p.request.patch, 1);
  EXPECT_TRUE(p.request.membership);
  EXPECT_EQ(p.request.priority, 0);
  EXPECT_EQ(p.request.name, "a");
  EXPECT_EQ(encode_auth_methods(), hex("05 4E 55 4C 4C 20"));
  const byte_vector choice = field("NULL", auth_choice_bytes);
  EXPECT_EQ(choice, cat({hex("4E 55 4C 4C"), byte_vector(86)}));
  EXPECT_TRUE(check_auth_choice(std::span<const std::byte, auth_choice_bytes>(choice)).ok());
  EXPECT_EQ(private_group_name("a", "localhost"), "#a#localhost");
  EXPECT_EQ(encode_accept(private_group_name("a", "localhost")),
            hex("01 05 00 01 0C 23 61 23 6C 6F 63 61 6C 68 6F 73 74"));
}

TEST(ClientHandshake, JavaBobWorkedExample) {  // spec §1.6
  const auto p = parse_connect(hex("04 04 00 01 03 62 6F 62"));
  ASSERT_EQ(p.st, connect_parse::state::complete);
  EXPECT_EQ(p.consumed, 8u);
  EXPECT_EQ(p.request.major, 4);
  EXPECT_EQ(p.request.minor, 4);
  EXPECT_EQ(p.request.patch, 0);
  EXPECT_TRUE(p.request.membership);
  EXPECT_EQ(p.request.name, "bob");
  EXPECT_EQ(encode_accept(private_group_name("bob", "localhost")),
            cat({hex("01 05 00 01 0E"), text("#bob#localhost")}));
}

TEST(ClientHandshake, FlagsGivePriorityAndMembership) {
  auto p = parse_connect(hex("05 00 01 10 01 61"));
  ASSERT_EQ(p.st, connect_parse::state::complete);
  EXPECT_FALSE(p.request.membership);
  EXPECT_EQ(p.request.priority, 1);
  p = parse_connect(hex("05 00 01 11 01 61"));
  EXPECT_TRUE(p.request.membership);
  EXPECT_EQ(p.request.priority, 1);
}

TEST(ClientHandshake, EmptyNameIsCompleteAndAsksForAGeneratedName) {
  const auto p = parse_connect(hex("05 00 01 01 00"));
  ASSERT_EQ(p.st, connect_parse::state::complete);
  EXPECT_EQ(p.consumed, 5u);
  EXPECT_TRUE(p.request.name.empty());
}

TEST(ClientHandshake, ConsumedExcludesLaterBytes) {
  const auto p = parse_connect(hex("05 00 01 01 01 61 4E 55"));
  ASSERT_EQ(p.st, connect_parse::state::complete);
  EXPECT_EQ(p.consumed, 6u);
}

void expect_reject(std::string_view bytes, std::int8_t code) {
  const auto p = parse_connect(hex(bytes));
  EXPECT_EQ(p.st, connect_parse::state::reject) << bytes;
  EXPECT_EQ(p.reject, code) << bytes;
}

TEST(ClientHandshake, OldVersionIsRejected) {
  expect_reject("03 00 63 01 01 61", reject_version);  // 3.0.99
  expect_reject("02 09 09", reject_version);           // decided from the version bytes alone
  expect_reject("00 00 00 00 00", reject_version);
  EXPECT_EQ(parse_connect(hex("03 01 00 01 01 61")).st, connect_parse::state::complete);
}

TEST(ClientHandshake, NameLengthOutOfRangeIsRejected) {
  expect_reject("05 00 01 01 0B 61 61 61 61 61 61 61 61 61 61 61", reject_illegal_name);  // 11
  expect_reject("05 00 01 01 0B", reject_illegal_name);     // decided before the name arrives
  expect_reject("05 00 01 01 FF 61", reject_illegal_name);  // -1
  expect_reject("05 00 01 01 80", reject_illegal_name);     // -128
  EXPECT_EQ(parse_connect(hex("05 00 01 01 0A 61 61 61 61 61 61 61 61 61 61")).st,
            connect_parse::state::complete);
}

TEST(ClientHandshake, IllegalNameBytesAreRejected) {
  expect_reject("05 00 01 01 02 61 23", reject_illegal_name);  // '#'
  expect_reject("05 00 01 01 02 7F 61", reject_illegal_name);  // DEL
  expect_reject("05 00 01 01 02 61 20", reject_illegal_name);  // space
  expect_reject("05 00 01 01 01 21", reject_illegal_name);     // '!'
  expect_reject("05 00 01 01 01 C3", reject_illegal_name);     // a UTF-8 lead byte
  expect_reject("05 00 01 01 01 00", reject_illegal_name);     // NUL
  expect_reject("05 00 01 01 05 23", reject_illegal_name);     // before the rest arrives
  EXPECT_EQ(parse_connect(hex("05 00 01 01 02 24 7E")).st, connect_parse::state::complete);
}

TEST(ClientHandshake, ShortNameNeedsMore) {
  EXPECT_EQ(parse_connect(hex("05 00 01 01 03 61 62")).st, connect_parse::state::need_more);
}

TEST(ClientHandshake, EverySplitPointNeedsMoreThenCompletes) {
  for (const auto* msg : {"05 00 01 01 01 61", "04 04 00 01 03 62 6F 62", "05 00 01 00 00"}) {
    const byte_vector all = hex(msg);
    for (std::size_t k = 0; k < all.size(); ++k) {
      const auto p = parse_connect(std::span<const std::byte>(all).first(k));
      EXPECT_EQ(p.st, connect_parse::state::need_more) << msg << " split at " << k;
    }
    const auto p = parse_connect(all);
    EXPECT_EQ(p.st, connect_parse::state::complete) << msg;
    EXPECT_EQ(p.consumed, all.size());
  }
}

TEST(ClientHandshake, ValidPrivateName) {
  EXPECT_TRUE(valid_private_name("a"));
  EXPECT_TRUE(valid_private_name("$~abcdefgh"));
  EXPECT_FALSE(valid_private_name(""));
  EXPECT_FALSE(valid_private_name("abcdefghijk"));
  EXPECT_FALSE(valid_private_name("a#"));
  EXPECT_FALSE(valid_private_name("a b"));
  EXPECT_FALSE(valid_private_name("\x7f"));
}

util::result<bool> auth(const byte_vector& v, bool shm_offered = false) {
  return check_auth_choice(std::span<const std::byte, auth_choice_bytes>(v), shm_offered);
}

TEST(ClientHandshake, AuthChoice) {
  EXPECT_FALSE(auth(byte_vector(auth_choice_bytes)).ok());  // nothing chosen
  EXPECT_FALSE(auth(field("IP", auth_choice_bytes)).ok());
  EXPECT_FALSE(auth(field("NULLX", auth_choice_bytes)).ok());
  EXPECT_FALSE(auth(cat({field("NULL", 30), field("PWORD", 60)})).ok());
  EXPECT_FALSE(auth(byte_vector(auth_choice_bytes, std::byte{'N'})).ok());  // no NUL at all
  EXPECT_TRUE(auth(cat({field("NULL", 30), field("NULL", 60)})).ok());
  EXPECT_TRUE(auth(cat({field("", 60), field("NULL", 30)})).ok());  // any slot
  // Bytes after a slot's NUL are padding (Java's default-charset name copy).
  EXPECT_TRUE(auth(cat({text("NULL"), hex("00 41 42"), byte_vector(83)})).ok());
  EXPECT_FALSE(*auth(field("NULL", auth_choice_bytes)));  // NULL alone: no shared memory
}

TEST(ClientHandshake, SharedMemoryChoice) {
  EXPECT_EQ(encode_auth_methods(true), hex("09 4E 55 4C 4C 20 53 48 4D 20"));  // "NULL SHM "
  // SHM only where offered, and only beside NULL.
  EXPECT_FALSE(auth(cat({field("NULL", 30), field("SHM", 60)})).ok());
  auto both = auth(cat({field("NULL", 30), field("SHM", 60)}), true);
  ASSERT_TRUE(both.ok());
  EXPECT_TRUE(*both);
  auto reversed = auth(cat({field("SHM", 30), field("NULL", 60)}), true);
  ASSERT_TRUE(reversed.ok());
  EXPECT_TRUE(*reversed);
  EXPECT_FALSE(auth(field("SHM", auth_choice_bytes), true).ok());
  EXPECT_FALSE(auth(cat({field("NULL", 30), field("SHMX", 60)}), true).ok());
  auto null_only = auth(field("NULL", auth_choice_bytes), true);
  ASSERT_TRUE(null_only.ok());
  EXPECT_FALSE(*null_only);
  // What a client sends is what the daemon reads.
  for (bool shm : {false, true}) {
    auto sent = encode_auth_choice(shm);
    auto read = auth(byte_vector(sent.begin(), sent.end()), true);
    ASSERT_TRUE(read.ok());
    EXPECT_EQ(*read, shm);
  }
  EXPECT_TRUE(offers_auth_method("NULL SHM ", "SHM"));
  EXPECT_TRUE(offers_auth_method("NULL SHM ", "NULL"));
  EXPECT_FALSE(offers_auth_method("NULL ", "SHM"));
  EXPECT_FALSE(offers_auth_method("NULL SHMX ", "SHM"));
  EXPECT_TRUE(offers_auth_method("NULL IP", "IP"));  // the last name needs no space after it
  EXPECT_FALSE(offers_auth_method("NULL  IP ", ""));
}

TEST(ClientHandshake, RejectBytes) {
  EXPECT_EQ(encode_reject(reject_quota), hex("FD"));
  EXPECT_EQ(encode_reject(reject_no_name), hex("FC"));
  EXPECT_EQ(encode_reject(reject_illegal_name), hex("FB"));
  EXPECT_EQ(encode_reject(reject_not_unique), hex("FA"));
  EXPECT_EQ(encode_reject(reject_version), hex("F9"));
  EXPECT_EQ(encode_reject(reject_auth), hex("F7"));
}

TEST(ClientHandshake, PrivateGroupIsCutTo31Bytes) {
  const std::string longest = private_group_name("abcdefghij", "d123456789012345678");
  EXPECT_EQ(longest.size(), 31u);
  EXPECT_EQ(longest, "#abcdefghij#d123456789012345678");
  const std::string cut = private_group_name("abcdefghij", "d1234567890123456789xyz");
  EXPECT_EQ(cut, "#abcdefghij#d123456789012345678");
  const byte_vector accept = encode_accept(std::string(40, 'x'));
  ASSERT_EQ(accept.size(), 5u + 31u);
  EXPECT_EQ(accept[4], std::byte{31});  // the C 5.x client closes on P >= 32
}

// ---- framing ----

// spec §2.3: spuser `s g` "hello\n" from LE client "a".
byte_vector spuser_safe() {
  return cat({hex("A0 00 00 80"), field(pg_a), hex("01 00 00 00"), hex("80 01 00 80"),
              hex("06 00 00 00"), field("g"), hex("68 65 6C 6C 6F 0A")});
}

TEST(ClientFraming, SpuserSafeMessage) {
  const byte_vector m = spuser_safe();
  ASSERT_EQ(m.size(), 86u);
  const header h = decode_header(head(m));
  EXPECT_EQ(h.type, safe_mess);
  EXPECT_EQ(h.sender, pg_a);
  EXPECT_EQ(h.num_groups, 1);
  EXPECT_EQ(byte_vector(h.hint.begin(), h.hint.end()), hex("80 01 00 80"));
  EXPECT_EQ(h.data_len, 6);
  EXPECT_TRUE(h.little_endian);
  EXPECT_TRUE(h.marker_consistent);
  auto kind = validate_request(h, pg_a);
  ASSERT_TRUE(kind.ok()) << kind.error().to_string();
  EXPECT_EQ(*kind, request_kind::multicast);
  EXPECT_EQ(request_body_bytes(h), 38u);
  auto groups = decode_group_names(std::span<const std::byte>(m).subspan(header_bytes), 1);
  ASSERT_TRUE(groups.ok());
  EXPECT_EQ(*groups, std::vector<std::string>{"g"});
  EXPECT_TRUE(validate_request_groups(*kind, *groups, pg_a).ok());
  // Forwarding re-encodes the header; for an LE client that is the same 48 bytes.
  byte_vector out;
  byte_writer w(out);
  encode_header(w, h);
  EXPECT_EQ(out, byte_vector(m.begin(), m.begin() + header_bytes));
}

TEST(ClientFraming, SpuserJoin) {  // spec §2.3
  const byte_vector m = cat({hex("80 00 01 80"), field(pg_a), hex("01 00 00 00"),
                             hex("80 00 00 80"), hex("00 00 00 00"), field("g")});
  ASSERT_EQ(m.size(), 80u);
  const header h = decode_header(head(m));
  EXPECT_EQ(h.type, join_mess);
  auto kind = validate_request(h, pg_a);
  ASSERT_TRUE(kind.ok()) << kind.error().to_string();
  EXPECT_EQ(*kind, request_kind::join);
  auto groups = decode_group_names(std::span<const std::byte>(m).subspan(header_bytes), 1);
  ASSERT_TRUE(groups.ok());
  EXPECT_EQ((*groups)[0], "g");
  EXPECT_TRUE(validate_request_groups(*kind, *groups, pg_a).ok());
}

TEST(ClientFraming, JavaBigEndianHeaderDecodesToTheSameValues) {  // spec §2.2, §10
  const byte_vector be = cat({hex("00 00 00 20"), field(pg_a), hex("00 00 00 01"),
                              hex("00 00 01 00"), hex("00 00 00 06")});
  const header h = decode_header(head(be));
  const header le = decode_header(head(spuser_safe()));
  EXPECT_FALSE(h.little_endian);
  EXPECT_TRUE(h.marker_consistent);
  EXPECT_EQ(h.type, le.type);
  EXPECT_EQ(h.sender, le.sender);
  EXPECT_EQ(h.num_groups, le.num_groups);
  EXPECT_EQ(h.data_len, le.data_len);
  EXPECT_EQ(byte_vector(h.hint.begin(), h.hint.end()), hex("00 00 01 00"));  // verbatim
  EXPECT_TRUE(validate_request(h, pg_a).ok());
  // The daemon forwards it little-endian with the marker, the hint bytes untouched.
  byte_vector out;
  byte_writer w(out);
  encode_header(w, h);
  EXPECT_EQ(out, cat({hex("A0 00 00 80"), field(pg_a), hex("01 00 00 00"), hex("00 00 01 00"),
                      hex("06 00 00 00")}));
}

TEST(ClientFraming, SenderStopsAtByte31) {
  byte_vector m = spuser_safe();
  std::fill(m.begin() + 4, m.begin() + 36, std::byte{'x'});  // no NUL in the field
  EXPECT_EQ(decode_header(head(m)).sender, std::string(31, 'x'));
}

TEST(ClientFraming, EncodeHeaderCutsSenderAndKeepsNul) {
  byte_vector out;
  byte_writer w(out);
  encode_header(w, safe_mess, std::string(40, 's'), 1, {}, 6);
  ASSERT_EQ(out.size(), header_bytes);
  EXPECT_EQ(out[4 + 30], std::byte{'s'});
  EXPECT_EQ(out[4 + 31], std::byte{0});
}

TEST(ClientValidate, LeaveAndKill) {
  auto leave = validate_request(request(leave_mess, 1, 0), pg_a);
  ASSERT_TRUE(leave.ok());
  EXPECT_EQ(*leave, request_kind::leave);
  auto kill = validate_request(request(kill_mess, 1, 0), pg_a);
  ASSERT_TRUE(kill.ok());
  EXPECT_EQ(*kill, request_kind::kill);
  EXPECT_TRUE(validate_request_groups(request_kind::kill, {std::string(pg_a)}, pg_a).ok());
  EXPECT_FALSE(validate_request_groups(request_kind::kill, {"#b#localhost"}, pg_a).ok());
  EXPECT_FALSE(validate_kill_group("g", pg_a).ok());
  EXPECT_FALSE(validate_request_groups(request_kind::join, {"#b#localhost"}, pg_a).ok());
  EXPECT_FALSE(validate_request_groups(request_kind::leave, {"g", "h"}, pg_a).ok());
}

void expect_invalid(const header& h, std::string_view rule) {
  auto r = validate_request(h, pg_a);
  ASSERT_FALSE(r.ok()) << "type " << std::hex << h.type;
  EXPECT_NE(r.error().message().find(rule), std::string::npos) << r.error().message();
}

TEST(ClientValidate, MixedEndianMarkerFails) {
  byte_vector m = spuser_safe();
  m[3] = std::byte{0x00};  // byte 0 marked, byte 3 not
  const header h = decode_header(head(m));
  EXPECT_FALSE(h.marker_consistent);
  expect_invalid(h, "marker rule");
}

TEST(ClientValidate, TypeRule) {
  expect_invalid(request(0, 1, 0), "type rule");
  expect_invalid(request(safe_mess | agreed_mess, 1, 0), "type rule");
  expect_invalid(request(join_mess | safe_mess, 1, 0), "type rule");
  expect_invalid(request(join_mess | leave_mess, 1, 0), "type rule");
  expect_invalid(request(self_discard, 1, 0), "type rule");
  // Other bits are tolerated as Spread's daemon tolerates them (its library passes the caller's
  // word through), and carried_type() keeps only the service, SELF_DISCARD and SUBGROUP_CAST.
  for (std::uint32_t extra : {reg_memb_mess | caused_by_join, reject_mess, 0x00004000u,
                              0x01000000u /* DROP_RECV */, 0x10000000u /* DONT_BLOCK */}) {
    auto r = validate_request(request(reliable_mess | extra, 1, 0), pg_a);
    ASSERT_TRUE(r.ok()) << std::hex << extra;
    EXPECT_EQ(*r, request_kind::multicast);
    EXPECT_EQ(carried_type(reliable_mess | self_discard | extra), reliable_mess | self_discard);
  }
  EXPECT_EQ(*validate_request(request(join_mess | self_discard, 1, 0), pg_a), request_kind::join);
  EXPECT_EQ(*validate_request(request(kill_mess | caused_by_leave, 1, 0), pg_a),
            request_kind::kill);
  EXPECT_EQ(carried_type(safe_mess | subgroup_cast), safe_mess | subgroup_cast);
  auto ok = validate_request(request(safe_mess | self_discard | subgroup_cast, 1, 0), pg_a);
  ASSERT_TRUE(ok.ok());
  EXPECT_EQ(*ok, request_kind::multicast);
  for (std::uint32_t bit = 1; bit <= safe_mess; bit <<= 1)
    EXPECT_TRUE(validate_request(request(bit, 1, 0), pg_a).ok()) << bit;
}

TEST(ClientValidate, SenderRule) {
  header h = request(safe_mess, 1, 0);
  h.sender = "#b#localhost";
  expect_invalid(h, "sender rule");
  h.sender = "";
  expect_invalid(h, "sender rule");
  h.sender = "#a#localhos";
  expect_invalid(h, "sender rule");
}

TEST(ClientValidate, NumGroupsRule) {
  expect_invalid(request(safe_mess, -1, 0), "num_groups rule");
  expect_invalid(request(safe_mess, 101, 0), "num_groups rule");
  EXPECT_TRUE(validate_request(request(safe_mess, 100, 0), pg_a).ok());
  EXPECT_TRUE(validate_request(request(safe_mess, 0, 0), pg_a).ok());
}

TEST(ClientValidate, HintRule) {
  expect_invalid(request(safe_mess, 1, 0, hex("81 00 00 80")), "hint rule");
  expect_invalid(request(safe_mess, 1, 0, hex("80 00 00 C0")), "hint rule");
  expect_invalid(request(safe_mess, 1, 0, hex("00 00 00 01")), "hint rule");  // BE, low bit
  EXPECT_TRUE(validate_request(request(safe_mess, 1, 0, hex("80 FF FF 80")), pg_a).ok());
  EXPECT_TRUE(validate_request(request(safe_mess, 1, 0, hex("00 80 00 00")), pg_a).ok());
}

TEST(ClientValidate, DataLenRule) {
  expect_invalid(request(safe_mess, 1, -1), "data_len rule");
  expect_invalid(request(safe_mess, 0, INT32_MIN), "data_len rule");
}

TEST(ClientValidate, SizeRule) {
  EXPECT_TRUE(validate_request(request(safe_mess, 1, 144000 - 32), pg_a).ok());
  expect_invalid(request(safe_mess, 1, 144000 - 32 + 1), "size rule");
  EXPECT_TRUE(validate_request(request(safe_mess, 100, 144000 - 3200), pg_a).ok());
  expect_invalid(request(safe_mess, 100, 144000 - 3200 + 1), "size rule");
  expect_invalid(request(safe_mess, 0, INT32_MAX), "size rule");
  EXPECT_EQ(validate_request(request(safe_mess, 0, 144001), pg_a).error().code(), errc::too_large);
}

TEST(ClientValidate, JoinLeaveKillShapeRule) {
  expect_invalid(request(join_mess, 0, 0), "join/leave/kill rule");
  expect_invalid(request(join_mess, 2, 0), "join/leave/kill rule");
  expect_invalid(request(leave_mess, 1, 1), "join/leave/kill rule");
  expect_invalid(request(kill_mess, 1, 6), "join/leave/kill rule");
}

// ---- group names ----

util::result<std::vector<std::string>> names(const byte_vector& b, std::int32_t count) {
  return decode_group_names(b, count);
}

TEST(ClientGroupNames, DecodesSeveralIncludingPrivateGroups) {
  auto r = names(cat({field("g"), field(pg_a), field("$~")}), 3);
  ASSERT_TRUE(r.ok()) << r.error().to_string();
  EXPECT_EQ(*r, (std::vector<std::string>{"g", std::string(pg_a), "$~"}));
  EXPECT_TRUE(names({}, 0).ok());
}

TEST(ClientGroupNames, BytesAfterTheNulAreIgnored) {
  auto r = names(cat({text("g"), hex("00 FF 20 7F"), byte_vector(28, std::byte{0xEE})}), 1);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ((*r)[0], "g");
}

TEST(ClientGroupNames, AFullFieldWithoutNulIsItsFirst31Bytes) {
  // Spread's Java client sends a name of 32 or more characters as 32 bytes with no NUL.
  auto r = names(cat({byte_vector(32, std::byte{'a'}), field("g")}), 2);
  ASSERT_TRUE(r.ok()) << r.error().to_string();
  EXPECT_EQ(*r, (std::vector<std::string>{std::string(31, 'a'), "g"}));
  byte_vector out;
  byte_writer w(out);
  encode_group_names(w, *r);
  ASSERT_EQ(out.size(), 64u);
  EXPECT_EQ(out[31], std::byte{0});  // re-encoded with its NUL
  EXPECT_EQ(*names(out, 2), *r);
}

TEST(ClientGroupNames, Rejections) {
  EXPECT_FALSE(names(cat({byte_vector(31, std::byte{'a'}), text(" ")}), 1).ok());  // bad 32nd
  EXPECT_FALSE(names(field(""), 1).ok());                        // empty
  EXPECT_FALSE(names(field("a b"), 1).ok());                     // space
  EXPECT_FALSE(names(field("a\x7f"), 1).ok());                   // DEL
  EXPECT_FALSE(names(field("a\x80"), 1).ok());                   // high byte
  EXPECT_FALSE(names(field("!a"), 1).ok());                      // '!'
  EXPECT_FALSE(names(cat({field("g"), field("")}), 2).ok());     // second empty
  EXPECT_FALSE(names(field("g"), 2).ok());                       // truncated
  EXPECT_FALSE(names(field("g"), -1).ok());                      // negative
  EXPECT_EQ(names(field("g"), 2).error().code(), errc::truncated);
  EXPECT_NE(names(field(""), 1).error().message().find("empty"), std::string::npos);
}

TEST(ClientGroupNames, JoinLeaveGroupRule) {
  EXPECT_TRUE(validate_join_leave_group("g").ok());
  EXPECT_TRUE(validate_join_leave_group(std::string(31, 'g')).ok());
  EXPECT_TRUE(validate_join_leave_group("$~").ok());
  EXPECT_FALSE(validate_join_leave_group("").ok());
  EXPECT_FALSE(validate_join_leave_group(std::string(32, 'g')).ok());
  EXPECT_FALSE(validate_join_leave_group("#x").ok());
  EXPECT_FALSE(validate_join_leave_group(pg_a).ok());
  EXPECT_FALSE(validate_join_leave_group("a#b").ok());
  EXPECT_FALSE(validate_join_leave_group("a b").ok());
  EXPECT_FALSE(validate_join_leave_group("a\x7f").ok());
}

// ---- daemon → client ----

constexpr group_id gid_example{0x11223344, 0x5f5e0001, 1};

TEST(ClientMembership, JoinNotificationWorkedExample) {  // spec §4.5
  const byte_vector expected =
      cat({hex("80 11 00 80"), field("g"), hex("01 00 00 00"), hex("80 00 00 80"),
           hex("38 00 00 00"), field(pg_a), le32(gid_example.a), le32(gid_example.b),
           hex("01 00 00 00"), hex("01 00 00 00 00 00 00 00 01 00 00 00"), field(pg_a)});
  ASSERT_EQ(expected.size(), 136u);
  const std::vector<std::string> members{std::string(pg_a)};
  EXPECT_EQ(encode_membership(caused_by_join, "g", members, gid_example, {members}, 0), expected);
  EXPECT_EQ(encode_membership_change(caused_by_join, "g", members, gid_example, pg_a), expected);

  auto m = decode_message(expected);
  ASSERT_TRUE(m.ok()) << m.error().to_string();
  EXPECT_EQ(m->hdr.type, reg_memb_mess | caused_by_join);
  EXPECT_EQ(m->hdr.sender, "g");
  EXPECT_EQ(m->groups, members);
  EXPECT_EQ(m->data.size(), 56u);
  ASSERT_TRUE(m->has_membership);
  EXPECT_EQ(m->membership.gid, gid_example);
  EXPECT_EQ(m->membership.vs_sets, std::vector<std::vector<std::string>>{members});
  EXPECT_EQ(m->membership.local_set, 0u);
}

TEST(ClientMembership, SelfLeaveWorkedExample) {  // spec §4.5
  const byte_vector expected = cat(
      {hex("80 02 00 80"), field("g"), hex("00 00 00 00"), hex("80 00 00 80"), hex("00 00 00 00")});
  EXPECT_EQ(encode_self_leave("g"), expected);
  auto m = decode_message(expected);
  ASSERT_TRUE(m.ok());
  EXPECT_EQ(m->hdr.type, caused_by_leave);
  EXPECT_FALSE(m->has_membership);
}

TEST(ClientMembership, Transition) {
  const byte_vector t = encode_transition("g", gid_example);
  EXPECT_EQ(
      t, cat({hex("80 20 00 80"), field("g"), hex("00 00 00 00"), hex("80 00 00 80"),
              hex("0C 00 00 00"), le32(gid_example.a), le32(gid_example.b), le32(gid_example.c)}));
  auto m = decode_message(t);
  ASSERT_TRUE(m.ok());
  ASSERT_TRUE(m->has_membership);
  EXPECT_EQ(m->membership.gid, gid_example);
  EXPECT_TRUE(m->membership.vs_sets.empty());
}

TEST(ClientMembership, NetworkWithSeveralSetsLocatesTheLocalOne) {
  const std::vector<std::vector<std::string>> sets{
      {"#a#d1", "#b#d1"}, {"#c#d2"}, {"#e#d3", "#f#d3", "#g#d3"}};
  const std::vector<std::string> members{"#a#d1", "#b#d1", "#c#d2", "#e#d3", "#f#d3", "#g#d3"};
  const byte_vector b = encode_membership(caused_by_network, "grp", members, gid_example, sets, 2);
  const std::size_t body = 48 + 6 * 32;
  EXPECT_EQ(byte_vector(b.begin() + body + 16, b.begin() + body + 20), le32(68 + 36));
  for (std::size_t local = 0; local < sets.size(); ++local) {
    auto m = decode_message(
        encode_membership(caused_by_network, "grp", members, gid_example, sets, local));
    ASSERT_TRUE(m.ok()) << m.error().to_string();
    EXPECT_EQ(m->membership.vs_sets, sets);
    EXPECT_EQ(m->membership.local_set, local);
    EXPECT_EQ(m->groups, members);
  }
}

TEST(ClientMembership, BigEndianBodyDecodes) {
  const byte_vector body = cat({be32(7), be32(8), be32(9), be32(2), be32(4 + 32), be32(1),
                                field("#a#d"), be32(1), field("#b#d")});
  auto m = decode_membership_body(body, false, false);
  ASSERT_TRUE(m.ok()) << m.error().to_string();
  EXPECT_EQ(m->gid, (group_id{7, 8, 9}));
  EXPECT_EQ(m->vs_sets, (std::vector<std::vector<std::string>>{{"#a#d"}, {"#b#d"}}));
  EXPECT_EQ(m->local_set, 1u);
}

TEST(ClientMembership, BadBodiesAreErrors) {
  const auto base = [](std::uint32_t sets, std::uint32_t offset) {
    return cat({le32(1), le32(2), le32(3), le32(sets), le32(offset)});
  };
  EXPECT_FALSE(decode_membership_body(hex("01 02"), true, true).ok());
  EXPECT_FALSE(decode_membership_body(base(1, 0), true, false).ok());  // set missing
  EXPECT_FALSE(decode_membership_body(cat({base(1, 4), le32(0)}), true, false).ok());  // offset
  EXPECT_FALSE(decode_membership_body(cat({base(1, 0), le32(5), field("x")}), true, false).ok());
  EXPECT_FALSE(decode_membership_body(cat({base(0, 0), le32(0)}), true, false).ok());  // trailing
  EXPECT_FALSE(decode_membership_body(base(0xffffffff, 0), true, false).ok());
  EXPECT_FALSE(decode_membership_body(cat({base(1, 0), le32(0xffffffff)}), true, false).ok());
  EXPECT_TRUE(decode_membership_body(base(0, 0), true, false).ok());
  EXPECT_FALSE(decode_membership_body(base(0, 4), true, false).ok());
}

TEST(ClientMessage, DataMessageRoundTrip) {
  auto m = decode_message(spuser_safe());
  ASSERT_TRUE(m.ok()) << m.error().to_string();
  EXPECT_EQ(m->groups, std::vector<std::string>{"g"});
  EXPECT_EQ(m->data, text("hello\n"));
  EXPECT_FALSE(m->has_membership);
}

TEST(ClientMessage, RejectCarriesOldType) {  // spec §2.6
  const byte_vector r =
      cat({hex("80 00 40 80"), field(pg_a), hex("02 00 00 00"), hex("80 00 00 80"),
           hex("00 00 00 00"), le32(caused_by_join | endian_marker), field("g"), field(pg_a)});
  auto m = decode_message(r);
  ASSERT_TRUE(m.ok()) << m.error().to_string();
  EXPECT_EQ(m->hdr.type, reject_mess);
  EXPECT_EQ(m->old_type, caused_by_join);
  EXPECT_EQ(m->groups, (std::vector<std::string>{"g", std::string(pg_a)}));
  auto size = message_bytes(m->hdr);
  ASSERT_TRUE(size.ok());
  EXPECT_EQ(*size, r.size());
}

TEST(ClientMessage, MalformedMessagesAreErrors) {
  const byte_vector good = spuser_safe();
  EXPECT_FALSE(decode_message(byte_vector(good.begin(), good.end() - 1)).ok());
  EXPECT_FALSE(decode_message(cat({good, hex("00")})).ok());
  EXPECT_FALSE(decode_message(byte_vector(good.begin(), good.begin() + 47)).ok());
  byte_vector negative = good;
  negative[36 + 3] = std::byte{0xff};  // num_groups < 0
  EXPECT_FALSE(decode_message(negative).ok());
  EXPECT_FALSE(message_bytes(decode_header(head(negative))).ok());
  byte_vector bad_body = encode_transition("g", gid_example);
  bad_body.resize(bad_body.size() - 1);
  bad_body[44] = std::byte{11};  // data_len 11: a transition body needs 12
  EXPECT_FALSE(decode_message(bad_body).ok());
}

}  // namespace
}  // namespace chorus::wire::client
