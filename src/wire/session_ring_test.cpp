// session_ring_test.cpp — the shared-memory session ring: bytes in order across the wrap,
// the doorbell rules, the checks against a scribbling client, waiting for room, and two threads
// racing through the doorbell protocol without a lost wake-up.
#include "wire/session_ring.hpp"

#include <gtest/gtest.h>

#include <atomic>
#include <cstdlib>
#include <memory>
#include <thread>
#include <vector>

#include "util/prng.hpp"

namespace chorus::wire::ring {
namespace {

struct mapping {
  explicit mapping(std::size_t capacity)
      : bytes(mapping_bytes(capacity)),
        memory(static_cast<std::byte*>(std::aligned_alloc(64, bytes)), &std::free) {
    std::fill_n(memory.get(), bytes, std::byte{0});
    initialize(span(), capacity);
  }
  std::span<std::byte> span() { return {memory.get(), bytes}; }
  header& shared() { return *reinterpret_cast<header*>(memory.get()); }
  std::size_t bytes;
  std::unique_ptr<std::byte, decltype(&std::free)> memory;
};

// A fresh ring with both ends attached (attaching a fresh ring cannot fail:
// AttachChecksTheHeader covers the refusals).
struct ends {
  explicit ends(std::size_t capacity)
      : m(capacity), p(std::move(producer::attach(m.span()).value())), c(m.span()) {}
  mapping m;
  producer p;
  consumer c;
};

std::vector<std::byte> pattern(std::size_t n, std::uint64_t start) {
  std::vector<std::byte> v(n);
  for (std::size_t i = 0; i < n; ++i) v[i] = std::byte((start + i) * 131 % 251);
  return v;
}

TEST(SessionRing, BytesArriveInOrderAcrossTheWrap) {
  ends ring(64);
  std::uint64_t sent = 0, got = 0;
  for (std::size_t round = 0; round < 200; ++round) {
    const std::size_t n = 1 + round * 7 % 60;
    auto in = pattern(n, sent);
    ASSERT_EQ(ring.p.write(in), n);  // the consumer keeps up: there is room
    sent += n;
    ring.p.publish();
    std::vector<std::byte> out(64);
    bool wake = true;
    auto r = ring.c.read(out, wake);
    ASSERT_TRUE(r.ok());
    ASSERT_EQ(*r, n);
    EXPECT_FALSE(wake);
    out.resize(*r);
    EXPECT_EQ(out, pattern(n, got));
    got += n;
  }
}

TEST(SessionRing, WritesStopAtTheConsumersHeadAndNothingShowsBeforePublish) {
  ends ring(64);
  auto in = pattern(100, 0);
  EXPECT_EQ(ring.p.write(in), 64u);
  EXPECT_EQ(ring.p.room(), 0u);
  EXPECT_EQ(*ring.c.available(), 0u);  // written, not published
  ring.p.publish();
  EXPECT_EQ(*ring.c.available(), 64u);
  std::vector<std::byte> out(10);
  bool wake = false;
  ASSERT_EQ(*ring.c.read(out, wake), 10u);
  EXPECT_EQ(ring.p.room(), 10u);
  EXPECT_EQ(ring.p.write(std::span(in).subspan(64)), 10u);
}

TEST(SessionRing, TheDoorbellRingsOncePerSleepAndNeverForAPoller) {
  ends ring(64);
  auto one = pattern(1, 0);
  ring.p.write(one);
  EXPECT_TRUE(ring.p.publish());  // a new consumer may sleep: ring
  ring.p.write(one);
  EXPECT_FALSE(ring.p.publish());  // a byte is already on its way
  ring.c.bell_heard();
  ring.p.write(one);
  EXPECT_TRUE(ring.p.publish());
  ring.c.bell_heard();
  ring.c.set_polling(true);
  ring.p.write(one);
  EXPECT_FALSE(ring.p.publish());  // the consumer polls: no system call
  ring.c.set_polling(false);
  ring.p.write(one);
  EXPECT_TRUE(ring.p.publish());
}

TEST(SessionRing, TheConsumerRefusesATailItCannotBelieve) {
  mapping m(64);
  consumer c(m.span());
  m.shared().tail.store(65);  // more than the ring holds
  EXPECT_FALSE(c.available().ok());
  std::vector<std::byte> out(8);
  bool wake = false;
  EXPECT_FALSE(c.read(out, wake).ok());
  m.shared().tail.store(8);
  ASSERT_EQ(*c.read(out, wake), 8u);
  m.shared().tail.store(4);  // backwards
  EXPECT_FALSE(c.available().ok());
  // The shared head is the consumer's report, never its state: scribbling over it changes
  // nothing the consumer reads.
  m.shared().tail.store(20);
  m.shared().head.store(0);
  ASSERT_EQ(*c.available(), 12u);
}

TEST(SessionRing, TheProducerRefusesAHeadItCannotBelieve) {
  ends ring(64);
  ring.m.shared().head.store(10);  // beyond what was written
  EXPECT_FALSE(ring.p.consistent());
  EXPECT_EQ(ring.p.room(), 0u);
  EXPECT_EQ(ring.p.write(pattern(4, 0)), 0u);
}

TEST(SessionRing, AttachChecksTheHeader) {
  mapping m(64);
  EXPECT_TRUE(producer::attach(m.span()).ok());
  EXPECT_FALSE(producer::attach(m.span().first(100)).ok());  // capacity beyond the mapping
  m.shared().capacity = 48;                                  // not a power of two
  EXPECT_FALSE(producer::attach(m.span()).ok());
  m.shared().capacity = 64;
  m.shared().magic_word = 0;
  EXPECT_FALSE(producer::attach(m.span()).ok());
}

TEST(SessionRing, AWaitingProducerIsToldWhenRoomIsFreed) {
  ends ring(64);
  ring.p.write(pattern(64, 0));
  ring.p.publish();
  const std::uint32_t before = ring.p.prepare_wait();
  std::vector<std::byte> out(16);
  bool wake = false;
  ASSERT_EQ(*ring.c.read(out, wake), 16u);
  EXPECT_TRUE(wake);
  EXPECT_NE(ring.p.space_event().load(), before);
  ASSERT_EQ(*ring.c.read(out, wake), 16u);
  EXPECT_FALSE(wake);  // one wake per announced wait
}

// The producer publishes random-sized pieces; the consumer alternates between polling and
// "sleeping" (waiting for a doorbell the producer rings when publish() says so). A lost wake-up
// is a sleeping consumer with bytes in the ring and no doorbell coming: it is detected when the
// producer has finished, rather than by a timeout.
TEST(SessionRing, NoWakeUpIsLostBetweenTwoThreads) {
  ends ring(4096);
  constexpr std::uint64_t total = 4u << 20;
  std::atomic<std::uint64_t> bells{0};
  std::atomic<bool> done{false};
  std::thread writer([&] {
    util::prng rng(7);
    std::uint64_t sent = 0;
    while (sent < total) {
      const std::size_t n = std::min<std::uint64_t>(total - sent, 1 + rng.uniform(0, 2999));
      auto in = pattern(n, sent);
      std::size_t off = 0;
      while (off < n) {
        off += ring.p.write(std::span(in).subspan(off));
        if (ring.p.publish()) bells.fetch_add(1);
        if (off < n) std::this_thread::yield();
      }
      sent += n;
    }
    done.store(true);
  });
  util::prng rng(11);
  std::uint64_t got = 0, heard = 0, lost = 0;
  std::vector<std::byte> out(1500);
  while (got < total) {
    const bool poll = rng.uniform(0, 1) == 0;
    ring.c.set_polling(poll);
    auto avail = ring.c.available();
    ASSERT_TRUE(avail.ok());
    if (*avail == 0 && !poll) {
      // Asleep until a doorbell, or until the producer is done.
      while (bells.load() == heard && !done.load()) std::this_thread::yield();
      if (bells.load() == heard) {
        if (*ring.c.available() != 0) ++lost;  // bytes behind a sleeper and no doorbell
        ring.c.set_polling(true);              // drain what is left
      } else {
        heard = bells.load();
        ring.c.bell_heard();
      }
    }
    bool wake = false;
    auto r = ring.c.read(out, wake);
    ASSERT_TRUE(r.ok());
    out.resize(*r);
    ASSERT_EQ(out, pattern(*r, got));
    got += *r;
    out.resize(1500);
  }
  writer.join();
  EXPECT_EQ(lost, 0u);
  EXPECT_GT(bells.load(), 0u);
}

}  // namespace
}  // namespace chorus::wire::ring
