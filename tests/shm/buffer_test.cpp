// buffer_test.cpp — chorus::shm buffers: the pool, pipes of buffers between processes (zero
// copy), fan-out and transformers over buffers, and processes killed while they allocate,
// share, move and release buffers (nothing completed is lost, nothing leaks).
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>

#include <atomic>
#include <cstring>
#include <optional>
#include <random>
#include <set>
#include <thread>
#include <vector>

#include "chorus/shm.hpp"
#include "helpers.hpp"

namespace {

using namespace std::chrono_literals;
using namespace shm_test;
using shm::buffer;

// What producers write at the start of a buffer; the rest is a pattern derived from it.
struct header {
  std::uint32_t producer, seq;
  std::uint64_t check;
};
constexpr std::uint64_t check_of(std::uint32_t producer, std::uint32_t seq) {
  return std::uint64_t{producer} * 1'000'003 + seq;
}
std::byte pattern(std::uint32_t producer, std::uint32_t seq, std::size_t i) {
  return static_cast<std::byte>((producer * 31 + seq * 7 + i) & 0xff);
}

void fill(buffer& b, std::uint32_t producer, std::uint32_t seq) {
  header h{producer, seq, check_of(producer, seq)};
  std::memcpy(b.data(), &h, sizeof h);
  for (std::size_t i = sizeof h; i < b.size(); ++i) b.data()[i] = pattern(producer, seq, i);
}

// The buffer's header, if it and the pattern are intact.
std::optional<header> intact(const buffer& b) {
  header h;
  if (b.size() < sizeof h) return std::nullopt;
  std::memcpy(&h, b.data(), sizeof h);
  if (h.check != check_of(h.producer, h.seq)) return std::nullopt;
  for (std::size_t i = sizeof h; i < b.size(); ++i) {
    if (b.data()[i] != pattern(h.producer, h.seq, i)) return std::nullopt;
  }
  return h;
}

TEST(ShmBuffer, AllocateShareAndReleaseReusesTheBlock) {
  scoped_name n("buf");
  auto r = shm::region::create(n.name, {.size = 4 << 20});
  ASSERT_TRUE(r);
  EXPECT_EQ(r->stats().buffers_in_use, 0u);
  auto b = r->allocate(1000);
  ASSERT_TRUE(b) << b.error().message;
  EXPECT_EQ(b->size(), 1000u);
  EXPECT_EQ(b->capacity(), 1024u);
  EXPECT_EQ(b->use_count(), 1u);
  fill(*b, 1, 2);
  std::byte* where = b->data();
  {
    auto s = b->share();
    ASSERT_TRUE(s);
    EXPECT_EQ(s->data(), where);  // the same memory, not a copy
    EXPECT_EQ(b->use_count(), 2u);
    ASSERT_TRUE(intact(*s));
  }
  EXPECT_EQ(b->use_count(), 1u);
  ASSERT_TRUE(b->resize(1024));
  EXPECT_EQ(b->size(), 1024u);
  EXPECT_EQ(b->resize(1025).error().code, shm::errc::invalid_argument);
  EXPECT_EQ(r->stats().buffers_in_use, 1u);
  auto stats = r->stats();
  b->reset();
  EXPECT_FALSE(*b);
  EXPECT_EQ(r->stats().buffers_in_use, 0u);
  // A released block is reused, not carved again.
  auto again = r->allocate(900);
  ASSERT_TRUE(again);
  EXPECT_EQ(again->data(), where);
  EXPECT_EQ(r->stats().blocks, stats.blocks);
  EXPECT_EQ(r->stats().block_bytes, stats.block_bytes);
  // Classes: 64 bytes at least, powers of two.
  auto tiny = r->allocate(1);
  ASSERT_TRUE(tiny);
  EXPECT_EQ(tiny->capacity(), 64u);
  auto zero = r->allocate(0);
  ASSERT_TRUE(zero);
  EXPECT_EQ(zero->size(), 0u);
}

TEST(ShmBuffer, ErrorsSayWhatIsWrong) {
  scoped_name n("buferr"), other_name("buferr2");
  auto r = shm::region::create(n.name, {.size = 1 << 20, .buffers_held_max = 4});
  ASSERT_TRUE(r);
  auto other = shm::region::create(other_name.name, {.size = 1 << 20});
  ASSERT_TRUE(other);

  // Memory that is not the region's, or not a buffer.
  int local = 0;
  auto outside = r->buffer_of(&local);
  ASSERT_FALSE(outside);
  EXPECT_EQ(outside.error().code, shm::errc::outside_region);
  EXPECT_NE(outside.error().message.find("is not inside region " + n.name), std::string::npos)
      << outside.error().message;
  auto b = r->allocate(100);
  ASSERT_TRUE(b);
  EXPECT_EQ(r->buffer_of(b->data() + 1).error().code, shm::errc::not_a_buffer);
  EXPECT_EQ(other->buffer_of(b->data()).error().code, shm::errc::outside_region);
  auto same = r->buffer_of(b->data());
  ASSERT_TRUE(same) << same.error().message;
  EXPECT_EQ(b->use_count(), 2u);
  std::byte* gone = b->data();
  same->reset();
  b->reset();
  auto released = r->buffer_of(gone);
  ASSERT_FALSE(released);
  EXPECT_EQ(released.error().code, shm::errc::not_a_buffer);
  EXPECT_NE(released.error().message.find("released"), std::string::npos);

  // A buffer of another region into this region's pipe: refused, and the caller keeps it.
  auto p = r->create_pipe<buffer>("p", 4);
  ASSERT_TRUE(p);
  auto foreign = other->allocate(64);
  ASSERT_TRUE(foreign);
  auto refused = p->enqueue(std::move(*foreign));
  ASSERT_FALSE(refused);
  EXPECT_EQ(refused.error().code, shm::errc::outside_region);
  EXPECT_TRUE(*foreign);
  EXPECT_EQ(p->size(), 0u);
  buffer empty;
  EXPECT_EQ(p->enqueue(std::move(empty)).error().code, shm::errc::invalid_argument);

  // Pipes of buffers and of values do not mix.
  auto as_values = r->open_pipe<std::uint64_t>("p", 0ms);
  ASSERT_FALSE(as_values);
  EXPECT_EQ(as_values.error().code, shm::errc::layout_mismatch);
  EXPECT_NE(as_values.error().message.find("buffers"), std::string::npos);
  ASSERT_TRUE(r->create_pipe<std::uint64_t>("v", 4));
  EXPECT_EQ(r->open_pipe<buffer>("v", 0ms).error().code, shm::errc::layout_mismatch);

  // Rings carry values only.
  EXPECT_EQ(r->create_pipe<buffer>("ring", 4, {.ring = true}).error().code,
            shm::errc::invalid_argument);

  // Too big for the region; and a region with no room left.
  EXPECT_EQ(r->allocate(2 << 20).error().code, shm::errc::no_memory);

  // At most buffers_held_max references per process: then errc::full, and a dequeue leaves the
  // pipe as it was.
  std::vector<buffer> held;
  for (int i = 0; i < 4; ++i) {
    auto h = r->allocate(64);
    ASSERT_TRUE(h) << i;
    held.push_back(std::move(*h));
  }
  EXPECT_EQ(r->allocate(64).error().code, shm::errc::full);
  EXPECT_EQ(held[0].share().error().code, shm::errc::full);
  ASSERT_TRUE(p->enqueue(std::move(held[3])));
  held.pop_back();
  auto h4 = r->allocate(64);
  ASSERT_TRUE(h4);
  auto no_room = p->dequeue(0ms);
  ASSERT_FALSE(no_room);
  EXPECT_EQ(no_room.error().code, shm::errc::full);
  EXPECT_NE(no_room.error().message.find("buffers_held_max"), std::string::npos);
  EXPECT_EQ(p->size(), 1u);
}

TEST(ShmBuffer, AFullRegionWaitsForARelease) {
  scoped_name n("buffull");
  auto r = shm::region::create(n.name, {.size = 1 << 20});
  ASSERT_TRUE(r);
  std::vector<buffer> all;
  for (;;) {
    auto b = r->allocate(64 << 10);
    if (!b) {
      EXPECT_EQ(b.error().code, shm::errc::no_memory);
      EXPECT_NE(b.error().message.find("no room"), std::string::npos) << b.error().message;
      break;
    }
    all.push_back(std::move(*b));
  }
  ASSERT_GE(all.size(), 10u);
  auto late = r->allocate(64 << 10, 20ms);
  ASSERT_FALSE(late);
  EXPECT_EQ(late.error().code, chorus::error::timed_out);
  std::thread releaser([&] {
    std::this_thread::sleep_for(50ms);
    all.pop_back();
  });
  auto waited = r->allocate(64 << 10, 5s);
  releaser.join();
  EXPECT_TRUE(waited) << waited.error().message;
}

// A buffer goes to another process and back: the same memory both ways, written by both.
TEST(ShmBufferPipe, ProcessesShareTheMemoryNotACopy) {
  scoped_name n("bufzero");
  auto r = shm::region::create(n.name, {.size = 8 << 20});
  ASSERT_TRUE(r);
  auto to = r->create_pipe<buffer>("to", 4);
  auto back = r->create_pipe<buffer>("back", 4);
  ASSERT_TRUE(to && back);
  pid_t pid = ::fork();
  if (pid == 0) {
    auto me = shm::region::open(n.name, 5s);
    auto in = me->open_pipe<buffer>("to", 5s);
    auto out = me->open_pipe<buffer>("back", 5s);
    auto b = in->dequeue(5s);
    if (!b || !intact(*b) || b->size() != (1u << 20)) ::_exit(2);
    std::memcpy(b->data(), "child was here", 14);
    ::_exit(out->enqueue(std::move(*b)) ? 0 : 3);
  }
  auto b = r->allocate(1 << 20);
  ASSERT_TRUE(b);
  fill(*b, 7, 7);
  auto keep = b->share();
  ASSERT_TRUE(keep);
  ASSERT_TRUE(to->enqueue(std::move(*b)));
  EXPECT_FALSE(*b);  // the reference is the pipe's now
  auto got = back->dequeue(5s);
  ASSERT_TRUE(got) << got.error().message;
  EXPECT_EQ(got->data(), keep->data());
  EXPECT_EQ(std::memcmp(keep->data(), "child was here", 14), 0);
  EXPECT_EQ(keep->use_count(), 2u);
  int status = 0;
  ASSERT_EQ(::waitpid(pid, &status, 0), pid);
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
  got->reset();
  keep->reset();
  EXPECT_EQ(r->stats().buffers_in_use, 0u);
}

// A fan-out of buffers gives every output a reference to one block; a dropping output releases
// what it drops.
TEST(ShmBufferPipe, FanoutSharesOneBlockAndDropsLeakNothing) {
  scoped_name n("buffan");
  auto r = shm::region::create(n.name, {.size = 4 << 20});
  ASSERT_TRUE(r);
  auto in = r->create_pipe<buffer>("in", 16);
  auto a = r->create_pipe<buffer>("a", 16);
  auto b = r->create_pipe<buffer>("b", 16);
  auto slow = r->create_pipe<buffer>("slow", 2);
  ASSERT_TRUE(in && a && b && slow);
  shm::fanout<buffer> f(*in, {{*a}, {*b}, {*slow, shm::when_full::drop, 1ms}});
  std::vector<std::byte*> sent;
  for (std::uint32_t i = 0; i < 10; ++i) {
    auto x = r->allocate(256);
    ASSERT_TRUE(x);
    fill(*x, 1, i);
    sent.push_back(x->data());
    ASSERT_TRUE(in->enqueue(std::move(*x)));
  }
  for (int i = 0; i < 10; ++i) ASSERT_TRUE(f.step(1s));
  EXPECT_EQ(f.forwarded(), 10u);
  EXPECT_EQ(f.dropped(0), 0u);
  EXPECT_EQ(f.dropped(2), 8u);
  EXPECT_EQ(r->stats().buffers_in_use, 10u);  // ten blocks, however many references
  for (std::uint32_t i = 0; i < 10; ++i) {
    auto x = a->dequeue(0ms), y = b->dequeue(0ms);
    ASSERT_TRUE(x && y);
    EXPECT_EQ(x->data(), sent[i]);
    EXPECT_EQ(y->data(), sent[i]);
    auto h = intact(*x);
    ASSERT_TRUE(h);
    EXPECT_EQ(h->seq, i);
    EXPECT_EQ(x->use_count(), i < 2 ? 3u : 2u);  // the slow output kept the first two
  }
  while (auto z = slow->dequeue(0ms)) {
  }
  EXPECT_EQ(r->stats().buffers_in_use, 0u);
}

// A transformer in a middle process changes buffers in place: nothing is copied end to end.
TEST(ShmBufferPipe, TransformerInAMiddleProcessWorksInPlace) {
  scoped_name n("buftrans");
  auto r = shm::region::create(n.name, {.size = 4 << 20});
  ASSERT_TRUE(r);
  auto raw = r->create_pipe<buffer>("raw", 8);
  auto cooked = r->create_pipe<buffer>("cooked", 8);
  ASSERT_TRUE(raw && cooked);
  constexpr int count = 200;
  pid_t pid = ::fork();
  if (pid == 0) {
    auto me = shm::region::open(n.name, 5s);
    auto from = me->open_pipe<buffer>("raw", 5s);
    auto to = me->open_pipe<buffer>("cooked", 5s);
    shm::transformer t(std::move(*from), std::move(*to), [](buffer b) {
      for (std::size_t i = 0; i < b.size(); ++i) {
        b.data()[i] = static_cast<std::byte>(std::toupper(static_cast<int>(b.data()[i])));
      }
      return b;
    });
    for (int i = 0; i < count; ++i) {
      if (!t.step(5s)) ::_exit(2);
    }
    ::_exit(0);
  }
  std::thread producer([&] {
    for (int i = 0; i < count; ++i) {
      std::string text = "message " + std::to_string(i);
      auto b = r->allocate(text.size());
      ASSERT_TRUE(b);
      std::memcpy(b->data(), text.data(), text.size());
      ASSERT_TRUE(raw->enqueue(std::move(*b), 5s));
    }
  });
  for (int i = 0; i < count; ++i) {
    auto b = cooked->dequeue(5s);
    ASSERT_TRUE(b) << b.error().message;
    EXPECT_EQ(std::string(reinterpret_cast<const char*>(b->data()), b->size()),
              "MESSAGE " + std::to_string(i));
  }
  producer.join();
  int status = 0;
  ASSERT_EQ(::waitpid(pid, &status, 0), pid);
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
  EXPECT_EQ(r->stats().buffers_in_use, 0u);
}

// Producers killed at random points while they allocate, share, fill and enqueue buffers of
// many sizes: every enqueue that returned arrives once and intact, and once everything is
// drained and the dead recovered, no buffer is left allocated.
TEST(ShmBufferKill, ProducersKilledAtRandomPointsLoseNothingAndLeakNothing) {
  scoped_name n("bufkillp");
  auto r = shm::region::create(n.name, {.size = 16 << 20});
  ASSERT_TRUE(r);
  auto p = r->create_pipe<buffer>("q", 16);
  ASSERT_TRUE(p);
  auto* done = static_cast<std::atomic<std::uint32_t>*>(shared_anonymous(4096));
  std::mt19937 rng(4242);
  std::set<std::pair<std::uint32_t, std::uint32_t>> seen;
  constexpr std::uint32_t rounds = 40;
  for (std::uint32_t k = 0; k < rounds; ++k) {
    done[k].store(0);
    pid_t pid = ::fork();
    if (pid == 0) {
      auto me = shm::region::open(n.name, 5s);
      auto q = me->open_pipe<buffer>("q", 5s);
      for (std::uint32_t i = 0;; ++i) {
        auto b = me->allocate(16 + (i * 97) % 3000);
        if (!b) ::_exit(1);
        fill(*b, k, i);
        if (i % 3 == 0) {
          auto extra = b->share();  // and dropped at once: pool changes to die in
          if (!extra) ::_exit(2);
        }
        if (!q->enqueue(std::move(*b))) ::_exit(3);
        done[k].store(i + 1);
      }
    }
    auto until = std::chrono::steady_clock::now() + std::chrono::microseconds(200 + rng() % 3000);
    while (std::chrono::steady_clock::now() < until) {
      if (auto v = p->dequeue(1ms)) {
        auto h = intact(*v);
        ASSERT_TRUE(h) << "a torn buffer";
        ASSERT_TRUE(seen.insert({h->producer, h->seq}).second) << "duplicate";
      }
    }
    ::kill(pid, SIGKILL);
    int status = 0;
    ::waitpid(pid, &status, 0);
    ASSERT_TRUE(WIFSIGNALED(status)) << "producer failed: exit " << WEXITSTATUS(status);
  }
  while (auto v = p->dequeue(200ms)) {
    auto h = intact(*v);
    ASSERT_TRUE(h) << "a torn buffer";
    ASSERT_TRUE(seen.insert({h->producer, h->seq}).second) << "duplicate";
  }
  for (std::uint32_t k = 0; k < rounds; ++k) {
    for (std::uint32_t i = 0; i < done[k].load(); ++i) {
      ASSERT_TRUE(seen.count({k, i})) << "producer " << k << " buffer " << i << " lost";
    }
  }
  ::munmap(done, 4096);
  r->recover();
  EXPECT_EQ(r->stats().buffers_in_use, 0u) << "buffers leaked";
  // Nothing stuck: the pool and the pipe work.
  for (std::uint32_t i = 0; i < 40; ++i) {
    auto b = r->allocate(100, 1s);
    ASSERT_TRUE(b);
    fill(*b, 99, i);
    ASSERT_TRUE(p->enqueue(std::move(*b), 1s));
    auto v = p->dequeue(1s);
    ASSERT_TRUE(v && intact(*v));
  }
  EXPECT_EQ(r->stats().buffers_in_use, 0u);
}

// Consumers killed at random points while they dequeue, share and release: no buffer is lost
// or duplicated, and none leaks.
TEST(ShmBufferKill, ConsumersKilledAtRandomPointsLoseNothingAndLeakNothing) {
  scoped_name n("bufkillc");
  auto r = shm::region::create(n.name, {.size = 16 << 20});
  ASSERT_TRUE(r);
  auto p = r->create_pipe<buffer>("q", 16);
  ASSERT_TRUE(p);
  constexpr std::size_t log_max = 1 << 16;
  constexpr std::uint32_t produce_max = 40000;
  struct entry {
    std::atomic<std::uint32_t> committed;
    std::uint32_t seq;
  };
  auto* log = static_cast<entry*>(shared_anonymous(log_max * sizeof(entry)));
  auto* log_next = static_cast<std::atomic<std::uint32_t>*>(shared_anonymous(4096));
  std::mt19937 rng(99);
  std::uint32_t produced = 0;
  constexpr std::uint32_t rounds = 40;
  buffer pending;  // made, not yet enqueued (the pipe was full)
  for (std::uint32_t k = 0; k < rounds; ++k) {
    pid_t pid = ::fork();
    if (pid == 0) {
      auto me = shm::region::open(n.name, 5s);
      auto q = me->open_pipe<buffer>("q", 5s);
      for (;;) {
        auto v = q->dequeue();
        if (!v) ::_exit(1);
        auto h = intact(*v);
        if (!h) ::_exit(2);
        auto extra = v->share();
        if (!extra) ::_exit(4);
        std::uint32_t at = log_next->fetch_add(1);
        if (at >= log_max) ::_exit(3);
        log[at].seq = h->seq;
        log[at].committed.store(1);
      }
    }
    auto until = std::chrono::steady_clock::now() + std::chrono::microseconds(200 + rng() % 3000);
    while (std::chrono::steady_clock::now() < until && produced < produce_max) {
      if (!pending) {
        auto b = r->allocate(64 + produced % 2000);
        ASSERT_TRUE(b) << b.error().message;
        fill(*b, 0, produced);
        pending = std::move(*b);
      }
      if (p->enqueue(std::move(pending), 1ms)) ++produced;
    }
    ::kill(pid, SIGKILL);
    int status = 0;
    ::waitpid(pid, &status, 0);
    ASSERT_TRUE(WIFSIGNALED(status)) << "consumer failed: exit " << WEXITSTATUS(status);
  }
  pending.reset();
  std::multiset<std::uint32_t> all;
  for (std::uint32_t i = 0; i < log_next->load(); ++i) {
    if (log[i].committed.load()) all.insert(log[i].seq);
  }
  while (auto v = p->dequeue(200ms)) {
    auto h = intact(*v);
    ASSERT_TRUE(h);
    all.insert(h->seq);
  }
  std::uint32_t missing = 0;
  for (std::uint32_t i = 0; i < produced; ++i) {
    auto c = all.count(i);
    ASSERT_LE(c, 1u) << "buffer " << i << " duplicated";
    if (c == 0) ++missing;
  }
  EXPECT_LE(missing, rounds);  // taken but not yet logged when its consumer died
  ::munmap(log, log_max * sizeof(entry));
  ::munmap(log_next, 4096);
  r->recover();
  EXPECT_EQ(r->stats().buffers_in_use, 0u) << "buffers leaked";
}

// Deterministic deaths at each point of a buffer's moves and of the pool's changes: the dead
// process's buffers are recovered, each value is in one pipe exactly once — except the one the
// process held in its hands (dequeued, not yet enqueued again), which is reclaimed with it —
// nothing leaks, and the pool's lock is not left held.
struct crash_case {
  shm::detail::crash_point point;
  std::uint64_t nth;
  const char* what;
  int held = -1;  // the value in the dead process's hands, if any
};
void PrintTo(const crash_case& c, std::ostream* os) { *os << c.what; }

class ShmBufferCrash : public ::testing::TestWithParam<crash_case> {};

TEST_P(ShmBufferCrash, ADeathIsRecoveredWithoutLossOrLeak) {
  const auto c = GetParam();
  scoped_name n("bufcrash");
  auto r = shm::region::create(n.name, {.size = 1 << 20});
  ASSERT_TRUE(r);
  auto in = r->create_pipe<buffer>("in", 16);
  auto out = r->create_pipe<buffer>("out", 16);
  ASSERT_TRUE(in && out);
  for (std::uint32_t i = 0; i < 10; ++i) {
    auto b = r->allocate(100);
    ASSERT_TRUE(b);
    fill(*b, 0, i);
    ASSERT_TRUE(in->enqueue(std::move(*b)));
  }
  pid_t pid = ::fork();
  if (pid == 0) {
    auto me = shm::region::open(n.name, 5s);
    auto from = me->open_pipe<buffer>("in", 5s);
    auto to = me->open_pipe<buffer>("out", 5s);
    shm::detail::crash_at(c.point, c.nth);
    // Pool changes per round: share, release (2 → 1), allocate, release (1 → 0); the first
    // round begins with the hold table's allocation.
    for (int i = 0; i < 10; ++i) {
      auto b = from->dequeue(1s);
      if (!b) ::_exit(2);
      (void)b->share();
      (void)to->enqueue(std::move(*b));
      (void)me->allocate(200);
    }
    ::_exit(0);  // not reached
  }
  int status = 0;
  ASSERT_EQ(::waitpid(pid, &status, 0), pid);
  ASSERT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL) << "no crash at " << c.what;
  EXPECT_EQ(r->recover(), 1u);
  std::multiset<std::uint32_t> values;
  for (auto* p : {&*in, &*out}) {
    while (auto b = p->dequeue(0ms)) {
      auto h = intact(*b);
      ASSERT_TRUE(h);
      values.insert(h->seq);
    }
  }
  for (std::uint32_t i = 0; i < 10; ++i) {
    EXPECT_EQ(values.count(i), static_cast<int>(i) == c.held ? 0u : 1u) << "value " << i;
  }
  EXPECT_EQ(r->stats().buffers_in_use, 0u) << "buffers leaked";
  auto b = r->allocate(100, 1s);  // the pool's lock is free
  ASSERT_TRUE(b);
}

// Regression: a process killed while it recovered another left that one's entry of the process
// table "busy" for ever, and the buffers it held leaked (ShmBufferKill found it: a consumer's
// open() recovers the consumer killed before it, and it was killed in turn). Now the recovery
// of a dead recoverer is taken over, and every step of recovery can be done twice. Here the
// first child dies holding a claim on value 0; the second, in its open(), recovers it and dies
// at each point of putting the value back (taken over; copying it to a new slot; copy
// published, old slot not yet freed); or, with a full pipe, before putting it back in place.
// Every value is then there exactly once, and nothing leaks.
struct recoverer_case {
  shm::detail::crash_point point;
  bool buffers;  // a pipe of buffers, or of values
  bool full;     // the pipe full: the value goes back in place
  const char* what;
};
void PrintTo(const recoverer_case& c, std::ostream* os) { *os << c.what; }

class ShmRecoverer : public ::testing::TestWithParam<recoverer_case> {};

TEST_P(ShmRecoverer, ARecovererKilledWhileRecoveringIsRecoveredInTurn) {
  using cp = shm::detail::crash_point;
  const auto c = GetParam();
  scoped_name n("recoverer");
  auto r = shm::region::create(n.name, {.size = 1 << 20});
  ASSERT_TRUE(r);
  const std::uint32_t count = c.full ? 4 : 5;
  std::optional<shm::pipe<buffer>> bufs;
  std::optional<shm::pipe<header>> vals;
  if (c.buffers) {
    bufs.emplace(std::move(*r->create_pipe<buffer>("in", c.full ? 4 : 16)));
  } else {
    vals.emplace(std::move(*r->create_pipe<header>("in", c.full ? 4 : 16)));
  }
  for (std::uint32_t i = 0; i < count; ++i) {
    if (c.buffers) {
      auto b = r->allocate(100);
      ASSERT_TRUE(b);
      fill(*b, 0, i);
      ASSERT_TRUE(bufs->enqueue(std::move(*b)));
    } else {
      ASSERT_TRUE(vals->enqueue(header{0, i, check_of(0, i)}));
    }
  }
  auto run_child = [&](cp point) {
    pid_t pid = ::fork();
    if (pid == 0) {
      shm::detail::crash_at(point, 1);
      auto me = shm::region::open(n.name, 5s);  // recovers the one before: dies doing it
      if (c.buffers) {
        (void)me->open_pipe<buffer>("in", 5s)->dequeue(1s);
      } else {
        (void)me->open_pipe<header>("in", 5s)->dequeue(1s);
      }
      ::_exit(0);
    }
    int status = 0;
    ::waitpid(pid, &status, 0);
    return WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL;
  };
  ASSERT_TRUE(run_child(cp::dequeue_claimed)) << "the consumer did not die";
  ASSERT_TRUE(run_child(c.point)) << "the recoverer did not die at " << c.what;
  EXPECT_EQ(r->recover(), 2u);
  std::multiset<std::uint32_t> values;
  if (c.buffers) {
    while (auto b = bufs->dequeue(0ms)) {
      auto h = intact(*b);
      ASSERT_TRUE(h);
      values.insert(h->seq);
    }
  } else {
    while (auto v = vals->dequeue(0ms)) {
      ASSERT_EQ(v->check, check_of(v->producer, v->seq));
      values.insert(v->seq);
    }
  }
  std::multiset<std::uint32_t> all;
  for (std::uint32_t i = 0; i < count; ++i) all.insert(i);
  EXPECT_EQ(values, all);
  EXPECT_EQ(r->stats().buffers_in_use, 0u) << "buffers leaked";
  for (const auto& info : shm::region::list()) {
    if (info.name == n.name) {
      EXPECT_EQ(info.processes, 1u);
    }
  }
}

INSTANTIATE_TEST_SUITE_P(
    EveryStep, ShmRecoverer,
    ::testing::Values(
        recoverer_case{shm::detail::crash_point::recovery_took, true, false, "buffers_took"},
        recoverer_case{shm::detail::crash_point::recovery_moved, true, false, "buffers_moved"},
        recoverer_case{shm::detail::crash_point::recovery_published, true, false,
                       "buffers_published"},
        recoverer_case{shm::detail::crash_point::recovery_took, true, true, "buffers_in_place"},
        recoverer_case{shm::detail::crash_point::recovery_took, false, false, "values_took"},
        recoverer_case{shm::detail::crash_point::recovery_moved, false, false, "values_moved"},
        recoverer_case{shm::detail::crash_point::recovery_published, false, false,
                       "values_published"},
        recoverer_case{shm::detail::crash_point::recovery_took, false, true, "values_in_place"}),
    [](const auto& info) { return std::string(info.param.what); });

using cp = shm::detail::crash_point;
INSTANTIATE_TEST_SUITE_P(EveryPoint, ShmBufferCrash,
                         ::testing::Values(crash_case{cp::dequeue_claimed, 3, "dequeue_claimed"},
                                           crash_case{cp::dequeue_copied, 3, "dequeue_copied"},
                                           crash_case{cp::enqueue_claimed, 3, "enqueue_claimed", 2},
                                           crash_case{cp::enqueue_copied, 3, "enqueue_copied", 2},
                                           crash_case{cp::pool_logged, 1, "logging_the_hold_table"},
                                           crash_case{cp::pool_logged, 2, "logging_a_share", 0},
                                           crash_case{cp::pool_logged, 3, "logging_a_release", 0},
                                           crash_case{cp::pool_logged, 4, "logging_a_carve"},
                                           crash_case{cp::pool_logged, 5, "logging_a_last_release"},
                                           crash_case{cp::pool_logged, 8, "logging_a_reuse"},
                                           crash_case{cp::pool_applied, 3, "after_a_release", 0},
                                           crash_case{cp::pool_applied, 5, "after_a_last_release"}),
                         [](const auto& info) { return std::string(info.param.what); });

}  // namespace
