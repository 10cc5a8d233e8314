// bytes_test.cpp — unit tests for util::byte_writer, util::byte_reader and util::shared_bytes:
// the little-endian layout every codec relies on, a reader that never reads past its span and
// stays failed once short, and slices that share (and keep alive) their buffer.
// Thread-safety: single-threaded tests.
#include "util/bytes.hpp"

#include <gtest/gtest.h>

#include <cstdint>
#include <utility>
#include <vector>

namespace chorus::util {
namespace {

byte_vector bytes_of(std::initializer_list<int> values) {
  byte_vector v;
  for (int x : values) v.push_back(static_cast<std::byte>(x));
  return v;
}

TEST(byte_writer, writes_little_endian) {
  byte_vector out;
  byte_writer w(out);
  w.u8(0xab);
  w.u16(0x1234);
  w.u32(0xdeadbeef);
  w.u64(0x0102030405060708ULL);
  EXPECT_EQ(w.size(), 15u);
  EXPECT_EQ(out, bytes_of({0xab, 0x34, 0x12, 0xef, 0xbe, 0xad, 0xde, 0x08, 0x07, 0x06, 0x05, 0x04,
                           0x03, 0x02, 0x01}));
}

TEST(byte_writer, appends_to_existing_contents_and_patches_in_place) {
  byte_vector out = bytes_of({0x99});
  byte_writer w(out);
  EXPECT_EQ(w.size(), 1u);
  const std::size_t at16 = w.size();
  w.u16(0);
  const std::size_t at32 = w.size();
  w.u32(0);
  const byte_vector tail = bytes_of({1, 2, 3});
  w.bytes(tail);
  w.patch_u16(at16, 0xbeef);
  w.patch_u32(at32, 0x11223344);
  EXPECT_EQ(out, bytes_of({0x99, 0xef, 0xbe, 0x44, 0x33, 0x22, 0x11, 1, 2, 3}));
}

TEST(byte_writer_death, patch_outside_written_bytes_asserts) {
  byte_vector out;
  byte_writer w(out);
  w.u8(0);
  w.u8(0);
  EXPECT_DEATH(w.patch_u16(1, 7), "CHORUS_ASSERT");
  EXPECT_DEATH(w.patch_u32(0, 7), "CHORUS_ASSERT");
}

TEST(byte_reader, reads_back_what_the_writer_wrote) {
  byte_vector buf;
  byte_writer w(buf);
  w.u8(200);
  w.u16(65000);
  w.u32(4000000000u);
  w.u64(UINT64_MAX - 5);
  w.bytes(bytes_of({7, 8, 9}));
  byte_reader r(buf);
  EXPECT_EQ(r.u8(), 200);
  EXPECT_EQ(r.u16(), 65000);
  EXPECT_EQ(r.u32(), 4000000000u);
  EXPECT_EQ(r.u64(), UINT64_MAX - 5);
  auto b = r.bytes(3);
  ASSERT_EQ(b.size(), 3u);
  EXPECT_EQ(b.data(), buf.data() + 15);  // a view, not a copy
  EXPECT_TRUE(r.ok());
  EXPECT_EQ(r.remaining(), 0u);
  EXPECT_EQ(r.position(), 18u);
}

TEST(byte_reader, short_read_returns_zero_fails_and_does_not_advance) {
  // The span covers the first 3 bytes only; the bytes after it are poison a reader past the
  // end would pick up.
  const byte_vector buf = bytes_of({0x01, 0x02, 0x03, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff});
  const std::span<const std::byte> in(buf.data(), 3);
  {
    byte_reader r(in);
    EXPECT_EQ(r.u32(), 0u);
    EXPECT_FALSE(r.ok());
    EXPECT_EQ(r.position(), 0u);
  }
  {
    byte_reader r(in);
    EXPECT_EQ(r.u64(), 0u);
    EXPECT_FALSE(r.ok());
  }
  {
    byte_reader r(in);
    EXPECT_EQ(r.u16(), 0x0201);
    EXPECT_EQ(r.u16(), 0u);  // one byte left
    EXPECT_FALSE(r.ok());
    EXPECT_EQ(r.position(), 2u);
    EXPECT_EQ(r.remaining(), 1u);
  }
}

TEST(byte_reader, failure_is_sticky_even_when_bytes_remain) {
  const byte_vector buf = bytes_of({5, 6, 7});
  byte_reader r(buf);
  EXPECT_EQ(r.u32(), 0u);
  EXPECT_FALSE(r.ok());
  // A smaller read would fit, but a failed reader must not resume mid-field.
  EXPECT_EQ(r.u8(), 0u);
  EXPECT_EQ(r.u16(), 0u);
  EXPECT_TRUE(r.bytes(1).empty());
  EXPECT_TRUE(r.bytes(0).empty());
  EXPECT_FALSE(r.ok());
  EXPECT_EQ(r.position(), 0u);
}

TEST(byte_reader, bytes_past_the_end_is_empty_and_fails) {
  const byte_vector buf = bytes_of({1, 2, 3, 4});
  byte_reader r(std::span<const std::byte>(buf.data(), 2));
  EXPECT_TRUE(r.bytes(3).empty());
  EXPECT_FALSE(r.ok());

  byte_reader huge(std::span<const std::byte>(buf.data(), 2));
  EXPECT_TRUE(huge.bytes(SIZE_MAX).empty());  // no overflow in the bounds check
  EXPECT_FALSE(huge.ok());
}

TEST(byte_reader, exact_fit_and_zero_length_reads_succeed) {
  const byte_vector buf = bytes_of({1, 2});
  byte_reader r(buf);
  EXPECT_EQ(r.bytes(2).size(), 2u);
  EXPECT_TRUE(r.ok());
  EXPECT_TRUE(r.bytes(0).empty());
  EXPECT_TRUE(r.ok());
  EXPECT_EQ(r.u8(), 0u);
  EXPECT_FALSE(r.ok());
}

TEST(byte_reader, empty_input) {
  byte_reader r(std::span<const std::byte>{});
  EXPECT_EQ(r.remaining(), 0u);
  EXPECT_TRUE(r.ok());
  EXPECT_EQ(r.u8(), 0u);
  EXPECT_FALSE(r.ok());
}

TEST(shared_bytes, default_is_empty) {
  shared_bytes s;
  EXPECT_TRUE(s.empty());
  EXPECT_EQ(s.size(), 0u);
  EXPECT_TRUE(s.span().empty());
}

TEST(shared_bytes, owns_a_copy_of_the_vector_contents) {
  byte_vector v = bytes_of({1, 2, 3, 4, 5});
  shared_bytes s(v);
  v[0] = std::byte{42};
  ASSERT_EQ(s.size(), 5u);
  EXPECT_EQ(s.data()[0], std::byte{1});
  EXPECT_FALSE(s.empty());
}

TEST(shared_bytes, slice_views_the_same_bytes) {
  shared_bytes s(bytes_of({10, 11, 12, 13, 14, 15}));
  shared_bytes mid = s.slice(s.span().subspan(2, 3));
  ASSERT_EQ(mid.size(), 3u);
  EXPECT_EQ(mid.data(), s.data() + 2);  // zero-copy
  EXPECT_EQ(mid.data()[0], std::byte{12});
  EXPECT_EQ(mid.data()[2], std::byte{14});

  // A slice of a slice, checked against the slice's (not the root's) bounds.
  shared_bytes inner = mid.slice(mid.span().subspan(1, 2));
  EXPECT_EQ(inner.data(), s.data() + 3);
  EXPECT_EQ(inner.size(), 2u);

  shared_bytes whole = s.slice(s.span());
  EXPECT_EQ(whole.data(), s.data());
  EXPECT_EQ(whole.size(), s.size());

  shared_bytes none = s.slice(s.span().subspan(6));
  EXPECT_TRUE(none.empty());
}

TEST(shared_bytes, slice_keeps_the_buffer_alive) {
  shared_bytes tail;
  {
    shared_bytes s(bytes_of({1, 2, 3, 4}));
    tail = s.slice(s.span().subspan(1));
  }  // the original view is gone; the slice still owns the buffer
  ASSERT_EQ(tail.size(), 3u);
  EXPECT_EQ(tail.data()[0], std::byte{2});
  EXPECT_EQ(tail.data()[2], std::byte{4});

  shared_bytes copy = tail;
  tail = shared_bytes();
  EXPECT_EQ(copy.data()[1], std::byte{3});
}

TEST(shared_bytes_death, slice_outside_the_view_asserts) {
  shared_bytes s(bytes_of({1, 2, 3, 4, 5, 6}));
  shared_bytes mid = s.slice(s.span().subspan(2, 2));
  // Inside the buffer but outside this view.
  EXPECT_DEATH((void)mid.slice(s.span().subspan(1, 2)), "CHORUS_ASSERT");
  EXPECT_DEATH((void)mid.slice(s.span().subspan(3, 2)), "CHORUS_ASSERT");
  const byte_vector other = bytes_of({1});
  EXPECT_DEATH((void)s.slice(other), "CHORUS_ASSERT");
}

}  // namespace
}  // namespace chorus::util
