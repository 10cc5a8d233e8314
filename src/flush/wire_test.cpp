// wire_test.cpp — Flush's bytes on the wire (flush/wire.hpp; spec flush.md §3): exact encodings
// in both byte orders, the receiver's decoding algorithm, and what it refuses.
#include "flush/wire.hpp"

#include <gtest/gtest.h>

#include <string>

namespace chorus::flush::wire {
namespace {

using util::byte_vector;

byte_vector hex(std::string_view s) {
  byte_vector out;
  for (std::size_t i = 0; i + 1 < s.size();) {
    if (s[i] == ' ') {
      ++i;
      continue;
    }
    out.push_back(static_cast<std::byte>(std::stoi(std::string(s.substr(i, 2)), nullptr, 16)));
    i += 2;
  }
  return out;
}

byte_vector cat(std::initializer_list<byte_vector> parts) {
  byte_vector out;
  for (const auto& p : parts) out.insert(out.end(), p.begin(), p.end());
  return out;
}

byte_vector text(std::string_view s) {
  const auto* p = reinterpret_cast<const std::byte*>(s.data());
  return byte_vector(p, p + s.size());
}

constexpr bool little_host = std::endian::native == std::endian::little;
constexpr group_id gid{0x01020304, 0x0a0b0c0d, 7};

TEST(FlushWire, GidBodiesInBothOrders) {
  EXPECT_EQ(encode_gid_body(gid, std::endian::little),
            hex("04030201 0d0c0b0a 07000000"));
  EXPECT_EQ(encode_gid_body(gid, std::endian::big), hex("01020304 0a0b0c0d 00000007"));
}

TEST(FlushWire, ControlMessagesDecodeFromEitherOrder) {
  for (std::endian order : {std::endian::little, std::endian::big}) {
    const bool foreign = (order == std::endian::little) != little_host;
    auto ok = decode(0x04, flush_ok_mess, encode_gid_body(gid, order), foreign);
    ASSERT_TRUE(ok.ok()) << ok.error().message();
    EXPECT_EQ(ok->what, decoded::kind::flush_ok);
    EXPECT_EQ(ok->gid, gid);
    EXPECT_EQ(ok->payload_bytes, 0u);
    auto recv = decode(0x04, flush_recv_mess, encode_gid_body(gid, order), foreign);
    ASSERT_TRUE(recv.ok());
    EXPECT_EQ(recv->what, decoded::kind::flush_recv);
    EXPECT_EQ(recv->gid, gid);
  }
}

TEST(FlushWire, AVulnerableTrailerCarriesTheRealTypeAndTheView) {
  trailer t;
  t.vulnerable = trailer::vulnerable_part{-2, gid};
  EXPECT_EQ(encode_trailer(t, std::endian::little), hex("feff 04030201 0d0c0b0a 07000000"));
  EXPECT_EQ(encode_trailer(t, std::endian::big), hex("fffe 01020304 0a0b0c0d 00000007"));
  for (std::endian order : {std::endian::little, std::endian::big}) {
    const bool foreign = (order == std::endian::little) != little_host;
    const byte_vector m = cat({text("hello"), encode_trailer(t, order)});
    auto d = decode(0x02, vulnerable_mess, m, foreign);
    ASSERT_TRUE(d.ok()) << d.error().message();
    EXPECT_EQ(d->what, decoded::kind::data);
    EXPECT_TRUE(d->vulnerable);
    EXPECT_EQ(d->mess_type, -2);
    EXPECT_EQ(d->gid, gid);
    EXPECT_EQ(d->payload_bytes, 5u);
  }
}

TEST(FlushWire, ASubgroupTrailerIsTheReferenceGroupPadded) {
  trailer t;
  t.reference_group = "chat";
  const byte_vector bytes = encode_trailer(t);
  ASSERT_EQ(bytes.size(), subgroup_trailer_bytes);
  EXPECT_EQ(bytes, cat({text("chat"), byte_vector(28, std::byte{0})}));
  auto d = decode(0x10 | subgroup_cast, 9, cat({text("payload"), bytes}), false);
  ASSERT_TRUE(d.ok()) << d.error().message();
  EXPECT_EQ(d->reference_group, "chat");
  EXPECT_EQ(d->mess_type, 9);
  EXPECT_FALSE(d->vulnerable);
  EXPECT_EQ(d->payload_bytes, 7u);
}

TEST(FlushWire, BothTrailersComeVulnerableFirst) {
  trailer t;
  t.vulnerable = trailer::vulnerable_part{100, gid};
  t.reference_group = "#a#d1";
  for (std::endian order : {std::endian::little, std::endian::big}) {
    const bool foreign = (order == std::endian::little) != little_host;
    const byte_vector m = cat({text("x"), encode_trailer(t, order)});
    ASSERT_EQ(m.size(), 1 + vulnerable_trailer_bytes + subgroup_trailer_bytes);
    auto d = decode(0x01 | subgroup_cast, vulnerable_mess, m, foreign);
    ASSERT_TRUE(d.ok()) << d.error().message();
    EXPECT_EQ(d->reference_group, "#a#d1");
    EXPECT_TRUE(d->vulnerable);
    EXPECT_EQ(d->mess_type, 100);
    EXPECT_EQ(d->gid, gid);
    EXPECT_EQ(d->payload_bytes, 1u);
  }
}

TEST(FlushWire, PlainDataIsLeftAlone) {
  auto d = decode(0x10, 5, text("as it is"), true);
  ASSERT_TRUE(d.ok());
  EXPECT_EQ(d->what, decoded::kind::data);
  EXPECT_EQ(d->payload_bytes, 8u);
  EXPECT_EQ(d->mess_type, 5);
  EXPECT_FALSE(d->gid);
  EXPECT_FALSE(d->reference_group);
}

TEST(FlushWire, WhatDoesNotParseIsRefusedWithAReason) {
  struct bad_case {
    std::uint32_t service;
    std::int16_t type;
    byte_vector message;
    std::string_view reason;
  };
  const byte_vector name = cat({text("g"), byte_vector(31, std::byte{0})});
  for (const bad_case& c : std::initializer_list<bad_case>{
           {0x04, flush_ok_mess, hex("0102030405060708090a0b"), "holds no 12-byte gid"},
           {0x04, flush_ok_mess, cat({text("x"), encode_gid_body(gid)}), "more than its gid"},
           {0x04 | subgroup_cast, flush_recv_mess, cat({encode_gid_body(gid), name}),
            "more than its gid"},
           {0x02, vulnerable_mess, encode_gid_body(gid), "no application type"},
           {0x02 | subgroup_cast, 0, text("short"), "cannot hold its 32-byte reference group"},
           {0x02 | subgroup_cast, 0, byte_vector(32, std::byte{'a'}), "no NUL-terminated"},
           {0x02 | subgroup_cast, 0, byte_vector(32, std::byte{0}), "no NUL-terminated"},
           {0x02 | subgroup_cast, 0, cat({text("a b"), byte_vector(29, std::byte{0})}),
            "outside '#'"},
       }) {
    auto d = decode(c.service, c.type, c.message, false);
    ASSERT_FALSE(d.ok()) << c.reason;
    EXPECT_NE(d.error().message().find(c.reason), std::string::npos) << d.error().message();
  }
}

}  // namespace
}  // namespace chorus::flush::wire
