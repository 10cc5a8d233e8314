// shm.cpp — chorus::shm (include/chorus/shm.hpp): regions, the process table and recovery, and
// the pipes. The layout and the queue are described in internal.hpp; buffers are buffers.cpp.
#include <dirent.h>
#include <fcntl.h>
#include <sanitizer/asan_interface.h>
#include <sys/mman.h>
#include <sys/stat.h>

#include <algorithm>
#include <bit>
#include <cctype>
#include <cerrno>
#include <charconv>
#include <climits>
#include <csignal>
#include <cstdio>
#include <cstring>
#include <optional>
#include <sstream>
#include <thread>

#include "shm/internal.hpp"

namespace chorus::shm {
namespace detail {
namespace {

std::atomic<int> crash_point_set{0};
std::atomic<std::uint64_t> crash_countdown{0};

}  // namespace

// A test's crash point: dies here the nth time it gets here.
void maybe_crash(crash_point at) {
  if (crash_point_set.load(std::memory_order_relaxed) != static_cast<int>(at)) return;
  if (crash_countdown.fetch_sub(1) == 1) ::raise(SIGKILL);
}

void futex_wait(std::atomic<std::uint32_t>* addr, std::uint32_t expected, clock::time_point until) {
  auto left = until - clock::now();
  if (left <= clock::duration::zero()) return;
  auto ns = std::chrono::duration_cast<std::chrono::nanoseconds>(left).count();
  timespec ts{static_cast<time_t>(ns / 1000000000), static_cast<long>(ns % 1000000000)};
  futex(addr, FUTEX_WAIT, expected, &ts);
}

namespace {

// Field 22 of /proc/<pid>/stat, or 0. Read with read(2): a process that exits while we read
// makes the read fail with ESRCH (an ifstream then threw out of a liveness check).
std::uint64_t start_time_of(pid_t pid) {
  char path[32];
  std::snprintf(path, sizeof path, "/proc/%d/stat", static_cast<int>(pid));
  int fd = ::open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return 0;
  char buf[1024];
  ssize_t n = ::read(fd, buf, sizeof buf);
  ::close(fd);
  if (n <= 0) return 0;
  std::string_view text(buf, static_cast<std::size_t>(n));
  std::size_t pos = text.rfind(')');  // the command name may hold spaces and parentheses
  if (pos == std::string_view::npos) return 0;
  for (int field = 2; field < 22; ++field) {  // field 2 ends at ')'; skip to the start of 22
    pos = text.find(' ', pos);
    if (pos == std::string_view::npos) return 0;
    ++pos;
  }
  std::uint64_t v = 0;
  auto r = std::from_chars(text.data() + pos, text.data() + text.size(), v);
  return r.ec == std::errc{} ? v : 0;
}

bool pid_alive(pid_t pid) { return ::kill(pid, 0) == 0 || errno != ESRCH; }

bool alive(pid_t pid, std::uint64_t start) {
  if (!pid_alive(pid)) return false;
  std::uint64_t now = start_time_of(pid);
  return now != 0 && now == start;  // a zombie or a reused pid is not the process we knew
}

bool valid_name(const std::string& n, std::size_t max) {
  if (n.empty() || n.size() > max) return false;
  for (char c : n) {
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '_' && c != '-' && c != '.') {
      return false;
    }
  }
  return n != "." && n != "..";
}

std::string shm_path(const std::string& name) { return "/chorus." + name; }

}  // namespace

// --- the region -------------------------------------------------------------------------------

region_state::~region_state() {
  if (base != nullptr) {
    if (self != UINT32_MAX) procs()[self].state.store(process_free, std::memory_order_release);
    ::munmap(base, size);
  }
}

bool region_state::is_pipe(std::uint64_t off) const {
  for (std::uint32_t i = 0; i < b().pipes_max; ++i) {
    if (dir()[i].state.load(std::memory_order_acquire) == entry_ready && dir()[i].offset == off) {
      return true;
    }
  }
  return false;
}

// Takes a free entry of the process table; if none is free, adopts the entry of a dead process
// (recovering what it held first, as that entry: its claims are then ours to finish).
result<void> region_state::attach() {
  const auto n = b().processes_max;
  const pid_t pid = ::getpid();
  const std::uint64_t start = start_time_of(pid);
  auto take = [&](std::uint32_t i) {
    procs()[i].pid = pid;
    procs()[i].start_time = start;
    self = i;
    free_holds.clear();
    holds_next = 0;
  };
  for (std::uint32_t i = 0; i < n; ++i) {
    std::uint32_t expected = process_free;
    if (procs()[i].state.compare_exchange_strong(expected, process_attaching | pid)) {
      take(i);
      procs()[i].state.store(process_live, std::memory_order_release);
      return {};
    }
  }
  for (std::uint32_t i = 0; i < n; ++i) {
    auto& p = procs()[i];
    std::uint32_t expected = process_live;
    if (p.state.load() != process_live || alive(p.pid, p.start_time)) continue;
    if (!p.state.compare_exchange_strong(expected, process_recovering | pid)) continue;
    self = i;
    recover_process(i);
    take(i);
    p.state.store(process_live, std::memory_order_release);
    return {};
  }
  return fail(errc::full, "region " + name + ": " + std::to_string(n) +
                              " processes attached already (processes_max)");
}

// Every entry whose process died, and every recovery whose recoverer died, is recovered (again:
// each step of recovery can be done twice). A process that died attaching held nothing.
std::size_t region_state::recover() {
  const auto me = static_cast<std::uint32_t>(::getpid());
  std::size_t found = 0;
  for (std::uint32_t i = 0; i < b().processes_max; ++i) {
    auto& p = procs()[i];
    if (i == self) continue;
    std::uint32_t st = p.state.load(std::memory_order_acquire);
    if (st == process_live) {
      if (alive(p.pid, p.start_time)) continue;
    } else if (process_kind(st) == process_attaching) {
      if (!pid_alive(static_cast<pid_t>(process_pid(st)))) p.state.compare_exchange_strong(st, 0);
      continue;
    } else if (process_kind(st) == process_recovering) {
      if (process_pid(st) == me || pid_alive(static_cast<pid_t>(process_pid(st)))) continue;
    } else {
      continue;
    }
    if (!p.state.compare_exchange_strong(st, process_recovering | me)) continue;  // another does
    recover_process(i);
    p.state.store(process_free, std::memory_order_release);
    ++found;
  }
  return found;
}

void region_state::recover_process(std::uint32_t dead) {
  // Its buffer references first: whether a move through a pipe happened is read from the slot's
  // marker, which recovering the pipes then clears.
  recover_holds(dead);
  for (std::uint32_t i = 0; i < b().pipes_max; ++i) {
    auto& e = dir()[i];
    auto state = e.state.load(std::memory_order_acquire);
    if (state == entry_creating && e.creator == dead) {
      e.state.store(entry_free, std::memory_order_release);  // a creation it never finished
    } else if (state == entry_ready) {
      recover_pipe(*at<pipe_header>(e.offset), dead);
    }
  }
}

// A dead process's claims on a pipe's slots, in two passes. Dequeues first: a claimed dequeue
// is taken over (the marker becomes ours, so that if we die too, our own recovery finishes it)
// and its value put back into the pipe — unless the dead process was itself a recoverer whose
// copy of that value was published already, in which case the old slot is only freed. Whether
// the copy was published is read from the claim on the copy's slot, which the second pass
// clears: a claimed enqueue becomes a tombstone that consumers skip.
void region_state::recover_pipe(pipe_header& p, std::uint32_t dead) {
  if (p.mode == mode_ring) {
    // Whatever it wrote and did not publish is not there; whatever it read and did not publish
    // stays. Only its turn is to be given back.
    for (auto* owner : {&p.producer_owner, &p.consumer_owner}) {
      std::uint32_t expected = dead + 1;
      if (owner->compare_exchange_strong(expected, 0)) futex_wake(owner, INT_MAX);
    }
    return;
  }
  queue q{*this, p};
  // The dead process's claims: its enqueues (the replaced sequence is the slot's own position),
  // or its dequeues (the replaced sequence is pos + 1).
  auto claims = [&](bool enqueues, auto f) {
    for (std::uint64_t i = 0; i < p.capacity; ++i) {
      auto& s = *reinterpret_cast<slot_header*>(slot(p, i));
      std::uint64_t seq = s.seq.load(std::memory_order_acquire);
      if (!is_marker(seq) || owner_of(seq) != dead) continue;
      if (((base_of(seq) & p.mask) == i) == enqueues) f(s, seq, base_of(seq));
    }
  };
  claims(false, [&](slot_header& s, std::uint64_t seq, std::uint64_t replaced) {
    const std::uint64_t pos = (replaced - 1) & seq_mask;
    if (const std::uint64_t moved = moved_to(word(s.meta).load(std::memory_order_acquire))) {
      const std::uint64_t copy = moved - 1;
      auto& c = *reinterpret_cast<slot_header*>(slot(p, copy));
      if (c.seq.load(std::memory_order_acquire) != marker(dead, copy)) {
        if (s.seq.compare_exchange_strong(seq, (pos + p.capacity) & seq_mask)) q.freed();
        return;  // the copy was published: the value is in the pipe once
      }
    }
    if (!s.seq.compare_exchange_strong(seq, marker(self, replaced))) return;
    maybe_crash(crash_point::recovery_took);
    put_back(p, s, replaced);
  });
  claims(true, [&](slot_header& s, std::uint64_t seq, std::uint64_t replaced) {
    word(s.meta).store(0, std::memory_order_relaxed);
    if (s.seq.compare_exchange_strong(seq, (replaced + 1) & seq_mask)) q.published();
  });
}

// The value of slot `s`, whose dequeue (claimed by us, `replaced` = pos + 1) never completed,
// goes back into the pipe without ever being in two places or none: if the producers are waiting
// for this very slot, it is published again where it is, at its next lap (one CAS); otherwise it
// is copied to a new slot, noted in this one, and this one freed once the copy is published.
void region_state::put_back(pipe_header& p, slot_header& s, std::uint64_t replaced) {
  queue q{*this, p};
  const std::uint64_t pos = (replaced - 1) & seq_mask;
  const std::uint64_t next_lap = (pos + p.capacity) & seq_mask;
  const std::uint64_t ours = marker(self, replaced);
  if ((word(s.meta).load(std::memory_order_acquire) & meta_valid) == 0) {
    s.seq.store(next_lap, std::memory_order_release);  // a tombstone: nothing to put back
    q.freed();
    return;
  }
  for (auto until = clock::now() + 1s;; std::this_thread::yield()) {
    if ((p.enq_pos.load(std::memory_order_acquire) & seq_mask) == next_lap) {
      word(s.meta).store(meta_valid, std::memory_order_release);
      std::uint64_t expected = ours;
      if (s.seq.compare_exchange_strong(expected, (next_lap + 1) & seq_mask)) {
        q.published();
        return;
      }
    }
    auto noted = [&](std::uint64_t copy) {
      word(s.meta).store(meta_valid | (copy + 1), std::memory_order_release);
      maybe_crash(crash_point::recovery_moved);
    };
    if (q.try_enqueue(q.value(pos), self, noted)) {
      maybe_crash(crash_point::recovery_published);
      s.seq.store(next_lap, std::memory_order_release);
      q.freed();
      return;
    }
    if (clock::now() >= until) break;
  }
  // Not a slot to be had for a whole second: the value is dropped — a buffer released through a
  // hold entry of ours. (A death between freeing the slot and that entry leaks the buffer: the
  // entry cannot come first, or recovery would release it while the slot still held it.)
  std::uint64_t block = 0;
  if (p.kind == kind_buffers) std::memcpy(&block, q.value(pos), sizeof block);
  s.seq.store(next_lap, std::memory_order_release);
  q.freed();
  if (p.kind == kind_buffers && valid_block(block)) {
    if (auto h = take_hold()) {
      word(hold(self, *h).state).store(hold_state(hold_held, block), std::memory_order_release);
      release(hold_offset(self, *h), block);
      give_hold(*h);
    }
  }
}

pipe_core::pipe_core(std::shared_ptr<region_state> r, std::uint64_t offset, pipe_options o)
    : r_(std::move(r)), offset_(offset), o_(o) {}

std::size_t pipe_core::capacity() const noexcept {
  return r_ ? r_->at<pipe_header>(offset_)->capacity : 0;
}

std::size_t pipe_core::size() const noexcept {
  if (!r_) return 0;
  auto& p = *r_->at<pipe_header>(offset_);
  auto e = p.enq_pos.load(), d = p.deq_pos.load();
  return e > d ? static_cast<std::size_t>(std::min<std::uint64_t>(e - d, p.capacity)) : 0;
}

void crash_at(crash_point point, std::uint64_t nth) {
  crash_countdown.store(nth);
  crash_point_set.store(static_cast<int>(point));
}

bool own(region_state& r, std::atomic<std::uint32_t>& owner, std::atomic<std::uint32_t>& waiters,
         std::optional<clock::time_point> deadline) {
  auto next_check = clock::now() + recovery_interval;
  for (unsigned spin = 0;; ++spin) {
    std::uint32_t expected = 0;
    if (owner.compare_exchange_weak(expected, r.self + 1, std::memory_order_acquire)) return true;
    if (spin < 100) {
      cpu_relax();
      continue;
    }
    if (deadline && clock::now() >= *deadline) return false;
    waiters.fetch_add(1, std::memory_order_seq_cst);
    if (auto cur = owner.load(std::memory_order_seq_cst); cur != 0) {
      futex_wait(&owner, cur, std::min(next_check, deadline.value_or(clock::time_point::max())));
    }
    waiters.fetch_sub(1, std::memory_order_seq_cst);
    r.wait_recovering(next_check);  // its owner may have died
  }
}

void disown(std::atomic<std::uint32_t>& owner, std::atomic<std::uint32_t>& waiters) {
  owner.store(0, std::memory_order_seq_cst);
  if (waiters.load(std::memory_order_seq_cst) > 0) futex_wake(&owner, 1);
}

namespace {
// Copies n values into a ring's slots from `pos` on (from `outside`), or out of them (into
// `outside`), wrapping at the end.
template <bool into_ring>
void ring_copy(region_state& r, pipe_header& p, std::uint64_t pos,
               std::conditional_t<into_ring, const std::byte*, std::byte*> outside, std::size_t n) {
  while (n > 0) {
    const std::size_t run = std::min<std::size_t>(n, p.capacity - (pos & p.mask));
    if constexpr (into_ring) {
      std::memcpy(r.slot(p, pos), outside, run * p.stride);
    } else {
      std::memcpy(outside, r.slot(p, pos), run * p.stride);
    }
    outside += run * p.stride;
    pos += run;
    n -= run;
  }
}

// One turn of a ring's producer or consumer: takes the turn, waits until `attempt` moves values
// and publishes its end's new position, gives the turn back and wakes the other end once.
template <typename Attempt>
result<void> ring_turn(region_state& r, pipe_header& p, bool producer, std::uint32_t spin,
                       std::optional<clock::time_point> deadline, Attempt attempt) {
  auto& owner = producer ? p.producer_owner : p.consumer_owner;
  auto& owner_waiters = producer ? p.producer_owner_waiters : p.consumer_owner_waiters;
  const char* what = producer ? "pipe full" : "pipe empty";
  if (!own(r, owner, owner_waiters, deadline)) return fail(error::timed_out, what);
  maybe_crash(producer ? crash_point::enqueue_claimed : crash_point::dequeue_claimed);
  auto done =
      wait_for(r, producer ? p.deq_events : p.enq_events,
               producer ? p.producers_waiting : p.consumers_waiting, spin, deadline, what, attempt);
  disown(owner, owner_waiters);
  if (!done) return done.error();
  queue q{r, p};
  producer ? q.published() : q.freed();
  return {};
}
}  // namespace

// A ring's producer, on its turn: copies what fits, then publishes the new tail once.
result<std::size_t> pipe_core::ring_put(const void* values, std::size_t n,
                                        std::optional<clock::time_point> deadline) {
  auto& p = *r_->at<pipe_header>(offset_);
  std::size_t k = 0;
  auto put = ring_turn(*r_, p, true, o_.spin, deadline, [&] {
    const std::uint64_t tail = p.enq_pos.load(std::memory_order_relaxed);
    if (tail - seen_head_ >= p.capacity) {
      seen_head_ = p.deq_pos.load(std::memory_order_acquire);
      if (tail - seen_head_ >= p.capacity) return false;
    }
    k = std::min<std::size_t>(n, p.capacity - (tail - seen_head_));
    ring_copy<true>(*r_, p, tail, static_cast<const std::byte*>(values), k);
    maybe_crash(crash_point::enqueue_copied);
    p.enq_pos.store(tail + k, std::memory_order_release);
    return true;
  });
  if (!put) return put.error();
  return k;
}

// A ring's consumer, on its turn: copies what is there, then publishes the new head once.
result<std::size_t> pipe_core::ring_take(void* values, std::size_t n,
                                         std::optional<clock::time_point> deadline) {
  auto& p = *r_->at<pipe_header>(offset_);
  std::size_t k = 0;
  auto took = ring_turn(*r_, p, false, o_.spin, deadline, [&] {
    const std::uint64_t head = p.deq_pos.load(std::memory_order_relaxed);
    if (seen_tail_ <= head) {
      seen_tail_ = p.enq_pos.load(std::memory_order_acquire);
      if (seen_tail_ <= head) return false;
    }
    k = std::min<std::size_t>(n, seen_tail_ - head);
    ring_copy<false>(*r_, p, head, static_cast<std::byte*>(values), k);
    maybe_crash(crash_point::dequeue_copied);
    p.deq_pos.store(head + k, std::memory_order_release);
    return true;
  });
  if (!took) return took.error();
  return k;
}

// One value is a batch of one.
result<void> pipe_core::enqueue(const void* v, std::optional<clock::time_point> deadline) {
  auto put = enqueue_many(v, 1, deadline);
  if (!put) return put.error();
  return {};
}

result<void> pipe_core::dequeue(void* v, std::optional<clock::time_point> deadline) {
  auto took = dequeue_many(v, 1, deadline);
  if (!took) return took.error();
  return {};
}

result<std::size_t> pipe_core::enqueue_many(const void* values, std::size_t n,
                                            std::optional<clock::time_point> deadline) {
  if (!r_) return fail(errc::invalid_argument, "not a pipe (moved from)");
  if (n == 0) return std::size_t{0};
  auto& p = *r_->at<pipe_header>(offset_);
  if (p.mode == mode_ring) return ring_put(values, n, deadline);
  queue q{*r_, p};
  const auto* v = static_cast<const std::byte*>(values);
  auto none = [](std::uint64_t) {};
  std::size_t done = 0;
  auto first = wait_for(*r_, p.deq_events, p.producers_waiting, o_.spin, deadline, "pipe full",
                        [&] { return q.try_enqueue(v, r_->self, none, false); });
  if (!first) return first.error();
  for (done = 1; done < n; ++done) {
    if (!q.try_enqueue(v + done * p.value_bytes, r_->self, none, false)) break;
  }
  q.published();
  return done;
}

result<std::size_t> pipe_core::dequeue_many(void* values, std::size_t n,
                                            std::optional<clock::time_point> deadline) {
  if (!r_) return fail(errc::invalid_argument, "not a pipe (moved from)");
  if (n == 0) return std::size_t{0};
  auto& p = *r_->at<pipe_header>(offset_);
  if (p.mode == mode_ring) return ring_take(values, n, deadline);
  queue q{*r_, p};
  auto* v = static_cast<std::byte*>(values);
  auto keep = [](std::uint64_t, void*) { return true; };
  std::size_t done = 0;
  auto first = wait_for(*r_, p.enq_events, p.consumers_waiting, o_.spin, deadline, "pipe empty",
                        [&] { return q.try_take(v, r_->self, keep, false); });
  if (!first) return first.error();
  for (done = 1; done < n; ++done) {
    if (!q.try_take(v + done * p.value_bytes, r_->self, keep, false)) break;
  }
  q.freed();
  return done;
}

// The reference in hold entry `hold` moves into the pipe: the entry says which slot it is moving
// through from the moment the slot is claimed, until the value is published.
result<void> pipe_core::enqueue_buffer(const std::shared_ptr<region_state>& owner,
                                       std::uint64_t block, std::uint32_t hold,
                                       std::optional<clock::time_point> deadline) {
  if (!r_) return fail(errc::invalid_argument, "not a pipe (moved from)");
  if (!owner) return fail(errc::invalid_argument, "an empty buffer (moved from, or reset)");
  if (owner != r_) {
    return fail(errc::outside_region, "a buffer of region " + owner->name +
                                          " cannot go into a pipe of region " + r_->name);
  }
  auto& p = *r_->at<pipe_header>(offset_);
  queue q{*r_, p};
  hold_entry& e = r_->hold(r_->self, hold);
  auto claimed = [&](std::uint64_t pos) {
    e.pipe = offset_;
    e.pos = pos;
    word(e.state).store(hold_state(hold_sending, block), std::memory_order_release);
  };
  auto sent = wait_for(*r_, p.deq_events, p.producers_waiting, o_.spin, deadline, "pipe full",
                       [&] { return q.try_enqueue(&block, r_->self, claimed); });
  if (sent) {
    word(e.state).store(hold_free, std::memory_order_release);
    r_->give_hold(hold);
  }
  return sent;
}

// A reference moves out of the pipe into a new hold entry, which names the slot from before the
// slot is freed until the move is done.
result<std::pair<std::uint64_t, std::uint32_t>> pipe_core::dequeue_buffer(
    std::optional<clock::time_point> deadline) {
  if (!r_) return fail(errc::invalid_argument, "not a pipe (moved from)");
  auto hold = r_->take_hold();
  if (!hold) return hold.error();
  auto& p = *r_->at<pipe_header>(offset_);
  queue q{*r_, p};
  hold_entry& e = r_->hold(r_->self, *hold);
  std::uint64_t block = 0;
  auto taken = [&](std::uint64_t pos, void* v) {
    std::uint64_t b;
    std::memcpy(&b, v, sizeof b);
    // A pipe's slots are shared memory anyone attached can scribble on: a value that is not a
    // live block of this region is skipped, never followed.
    if (!r_->valid_block(b)) return false;
    e.pipe = offset_;
    e.pos = pos;
    word(e.state).store(hold_state(hold_receiving, b), std::memory_order_release);
    return true;
  };
  auto got = wait_for(*r_, p.enq_events, p.consumers_waiting, o_.spin, deadline, "pipe empty",
                      [&] { return q.try_take(&block, r_->self, taken); });
  if (!got) {
    r_->give_hold(*hold);
    return got.error();
  }
  word(e.state).store(hold_state(hold_held, block), std::memory_order_release);
  return std::pair{block, *hold};
}

}  // namespace detail

// --- region -----------------------------------------------------------------------------------

using detail::boot;
using detail::dir_entry;
using detail::pipe_header;
using detail::process_entry;
using detail::region_state;
using detail::slot_header;

namespace {

using detail::clock;
using detail::fail;
using detail::round_up;
using namespace std::chrono_literals;

// An error for a region name that is not valid, if it is not.
std::optional<error> bad_region_name(const std::string& name) {
  if (detail::valid_name(name, detail::region_name_max)) return std::nullopt;
  return fail(errc::invalid_argument,
              "region name '" + name + "': 1-200 letters, digits, '_', '-' or '.'");
}

// Made by this version and build of the library.
bool compatible(const boot& b) {
  return b.magic == detail::magic && b.version == detail::version && b.layout == detail::layout_id;
}

result<std::shared_ptr<region_state>> map(const std::string& name, int fd, std::size_t size) {
  void* p = ::mmap(nullptr, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  if (p == MAP_FAILED) {
    return fail(errc::system, "mmap of region " + name + ": " + std::strerror(errno));
  }
  // AddressSanitizer (clang 14) keeps the shadow of whatever used these addresses before, its
  // own freed internals included, and reports the new mapping as poisoned: clear it.
  ASAN_UNPOISON_MEMORY_REGION(p, size);
  auto s = std::make_shared<region_state>();
  s->name = name;
  s->base = static_cast<std::byte*>(p);
  s->size = size;
  return s;
}

result<void> verify(region_state& s) {
  const boot& b = s.b();
  if (b.magic != detail::magic) {
    return fail(errc::version_mismatch, "region " + s.name + " is not a chorus::shm region");
  }
  if (b.version != detail::version) {
    return fail(errc::version_mismatch, "region " + s.name + " has layout version " +
                                            std::to_string(b.version) + ", this library " +
                                            std::to_string(detail::version));
  }
  if (!compatible(b) || b.size != s.size) {
    return fail(errc::layout_mismatch,
                "region " + s.name + " was made by a build with another layout");
  }
  return {};
}

}  // namespace

region::region(std::shared_ptr<region_state> s) : state_(std::move(s)) {}
region::region(region&&) noexcept = default;
region& region::operator=(region&&) noexcept = default;
region::~region() = default;

const std::string& region::name() const noexcept { return state_->name; }
std::size_t region::size() const noexcept { return state_->size; }
std::size_t region::recover() { return state_->recover(); }

result<region> region::create(const std::string& name, const region_options& o) {
  if (auto bad = bad_region_name(name)) return *bad;
  if (o.processes_max == 0 || o.processes_max > detail::processes_limit || o.pipes_max == 0 ||
      o.pipes_max > 4096 || o.buffers_held_max == 0 || o.buffers_held_max > (1u << 20)) {
    return fail(errc::invalid_argument,
                "processes_max must be 1-128, pipes_max 1-4096 and buffers_held_max 1-2^20");
  }
  const std::string path = detail::shm_path(name);
  if (o.keep) {
    auto existing = open(name, 0ms);
    if (existing) return existing;
    if (existing.error().code != errc::not_found) return existing.error();
  } else {
    ::shm_unlink(path.c_str());  // a stale region of an earlier run
  }
  const std::size_t page = static_cast<std::size_t>(::sysconf(_SC_PAGESIZE));
  const std::size_t directory_off = round_up(sizeof(boot), detail::cache_line);
  const std::size_t processes_off =
      round_up(directory_off + o.pipes_max * sizeof(dir_entry), detail::cache_line);
  const std::size_t pool_off =
      round_up(processes_off + o.processes_max * sizeof(process_entry), detail::cache_line);
  const std::size_t heap_off = round_up(pool_off + sizeof(detail::pool_header), detail::cache_line);
  const std::size_t size = round_up(std::max(o.size, heap_off + page), page);
  int fd = ::shm_open(path.c_str(), O_RDWR | O_CREAT | O_EXCL, 0600);
  if (fd < 0) {
    return fail(errno == EEXIST ? errc::exists : errc::system,
                "cannot create region " + name + " (" + path + "): " + std::strerror(errno));
  }
  // Reserve the memory now: a full /dev/shm is an error here, not a SIGBUS later.
  int rc = ::posix_fallocate(fd, 0, static_cast<off_t>(size));
  if (rc != 0) {
    ::close(fd);
    ::shm_unlink(path.c_str());
    if (rc == ENOSPC) {
      return fail(errc::no_memory, "not enough shared memory for region " + name + " (" +
                                       std::to_string(size) + " bytes): /dev/shm is full");
    }
    return fail(errc::size_refused, "the system refuses a region of " + std::to_string(size) +
                                        " bytes: " + std::strerror(rc));
  }
  auto mapped = map(name, fd, size);
  ::close(fd);
  if (!mapped) {
    ::shm_unlink(path.c_str());
    return mapped.error();
  }
  auto s = std::move(*mapped);
  boot& b = s->b();
  b.magic = detail::magic;
  b.version = detail::version;
  b.layout = detail::layout_id;
  b.size = size;
  b.pipes_max = o.pipes_max;
  b.processes_max = o.processes_max;
  b.directory_off = directory_off;
  b.holds_max = o.buffers_held_max;
  b.processes_off = processes_off;
  b.pool_off = pool_off;
  b.heap_off = heap_off;
  b.heap_next = heap_off;
  // Everything else is zero (a fresh file): free directory entries and process slots.
  if (auto a = s->attach(); !a) return a.error();
  b.ready.store(1, std::memory_order_release);
  detail::futex_wake(&b.ready, INT_MAX);
  return region(std::move(s));
}

result<region> region::open(const std::string& name, std::chrono::milliseconds timeout) {
  if (auto bad = bad_region_name(name)) return *bad;
  const auto deadline = clock::now() + timeout;
  const std::string path = detail::shm_path(name);
  for (;;) {
    int fd = ::shm_open(path.c_str(), O_RDWR, 0);
    struct stat st {};
    if (fd >= 0 && ::fstat(fd, &st) == 0 && static_cast<std::size_t>(st.st_size) >= sizeof(boot)) {
      auto mapped = map(name, fd, static_cast<std::size_t>(st.st_size));
      ::close(fd);
      if (!mapped) return mapped.error();
      auto s = std::move(*mapped);
      // Wait until the creator has initialized it.
      while (s->b().ready.load(std::memory_order_acquire) == 0) {
        if (clock::now() >= deadline) {
          return fail(error::timed_out, "region " + name +
                                            " is not initialized (its creator "
                                            "may have died while creating it)");
        }
        detail::futex_wait(&s->b().ready, 0, std::min(deadline, clock::now() + 50ms));
      }
      if (auto v = verify(*s); !v) return v.error();
      if (auto a = s->attach(); !a) return a.error();
      s->recover();
      return region(std::move(s));
    }
    if (fd >= 0) ::close(fd);
    if (fd < 0 && errno != ENOENT) {
      return fail(errc::system, "cannot open region " + name + ": " + std::strerror(errno));
    }
    if (clock::now() >= deadline) {
      return fail(timeout.count() == 0 ? errc::not_found : error::timed_out,
                  "no region named " + name);
    }
    std::this_thread::sleep_for(std::min<clock::duration>(deadline - clock::now(), 10ms));
  }
}

result<void> region::remove(const std::string& name) {
  if (!detail::valid_name(name, detail::region_name_max)) {
    return fail(errc::invalid_argument, "region name '" + name + "' is not valid");
  }
  if (::shm_unlink(detail::shm_path(name).c_str()) != 0) {
    return fail(errno == ENOENT ? errc::not_found : errc::system,
                "cannot remove region " + name + ": " + std::strerror(errno));
  }
  return {};
}

std::vector<region_info> region::list() {
  std::vector<region_info> out;
  std::unique_ptr<DIR, int (*)(DIR*)> dir(::opendir("/dev/shm"), ::closedir);
  if (!dir) return out;
  while (auto* e = ::readdir(dir.get())) {
    std::string file = e->d_name;
    if (file.rfind("chorus.", 0) != 0) continue;
    region_info info;
    info.name = file.substr(7);
    int fd = ::shm_open(("/" + file).c_str(), O_RDONLY, 0);
    struct stat st {};
    if (fd >= 0 && ::fstat(fd, &st) == 0) {
      info.size = static_cast<std::size_t>(st.st_size);
      if (info.size >= sizeof(boot)) {
        void* p = ::mmap(nullptr, info.size, PROT_READ, MAP_SHARED, fd, 0);
        if (p != MAP_FAILED) {
          ASAN_UNPOISON_MEMORY_REGION(p, info.size);
          auto* b = static_cast<const boot*>(p);
          info.ready = b->ready.load() == 1 && b->magic == detail::magic;
          if (info.ready && compatible(*b)) {
            info.pipes = b->pipes.load();
            info.buffers = reinterpret_cast<const detail::pool_header*>(
                               static_cast<const std::byte*>(p) + b->pool_off)
                               ->in_use;
            auto* procs = reinterpret_cast<const process_entry*>(static_cast<const std::byte*>(p) +
                                                                 b->processes_off);
            for (std::uint32_t i = 0; i < b->processes_max; ++i) {
              if (procs[i].state.load() == detail::process_live &&
                  detail::alive(procs[i].pid, procs[i].start_time)) {
                ++info.processes;
              }
            }
          }
          ::munmap(p, info.size);
        }
      }
    }
    if (fd >= 0) ::close(fd);
    out.push_back(std::move(info));
  }
  std::sort(out.begin(), out.end(), [](auto& a, auto& b) { return a.name < b.name; });
  return out;
}

result<std::uint64_t> region::make_pipe(const std::string& name, std::size_t capacity,
                                        std::size_t value_bytes, std::size_t value_align,
                                        std::uint32_t kind, bool ring) {
  auto& s = *state_;
  if (!detail::valid_name(name, detail::name_max)) {
    return fail(errc::invalid_argument,
                "pipe name '" + name + "': 1-63 letters, digits, '_', '-' or '.'");
  }
  if (capacity == 0 || capacity > (std::size_t{1} << 30)) {
    return fail(errc::invalid_argument, "pipe capacity must be 1-2^30 values");
  }
  if (value_align > detail::cache_line) {
    return fail(errc::invalid_argument, "pipe values may be aligned to at most 64 bytes, not " +
                                            std::to_string(value_align));
  }
  if (ring && kind == detail::kind_buffers) {
    return fail(errc::invalid_argument, "pipe " + name + ": rings carry values, not buffers");
  }
  const std::size_t cap = std::bit_ceil(std::max<std::size_t>(capacity, 2));
  // Existing already (a kept region, or another creator)?
  if (auto found = find_pipe(name, value_bytes, value_align, kind, 0ms))
    return found;
  else if (found.error().code != errc::not_found)
    return found.error();

  // Whole cache lines per slot: packing slots closer (16-byte steps) was slower, producer and
  // consumer then share lines (measured with bench/shm_bench).
  // A ring's values are packed: no sequence words, and one end writes at a time.
  const std::size_t value_offset =
      ring ? 0 : round_up(sizeof(slot_header), std::max<std::size_t>(value_align, 1));
  const std::size_t stride = ring ? round_up(value_bytes, std::max<std::size_t>(value_align, 1))
                                  : round_up(value_offset + value_bytes, detail::cache_line);
  const std::size_t bytes = sizeof(pipe_header) + cap * stride;
  auto& b = s.b();
  for (std::uint32_t i = 0; i < b.pipes_max; ++i) {
    auto& e = s.dir()[i];
    std::uint32_t expected = detail::entry_free;
    if (!e.state.compare_exchange_strong(expected, detail::entry_creating)) continue;
    e.creator = s.self;
    std::memset(e.name, 0, sizeof e.name);
    std::memcpy(e.name, name.data(), name.size());
    // Two creators of one name at once: the lower entry wins.
    for (std::uint32_t j = 0; j < i; ++j) {
      auto& other = s.dir()[j];
      if (other.state.load() != detail::entry_free && std::strcmp(other.name, e.name) == 0) {
        e.state.store(detail::entry_free);
        return find_pipe(name, value_bytes, value_align, kind, 5000ms);
      }
    }
    auto heap = s.heap_alloc(round_up(bytes, detail::cache_line));
    if (!heap) {
      e.state.store(detail::entry_free);
      return fail(errc::no_memory, "region " + s.name + " has no room for pipe " + name + " (" +
                                       std::to_string(bytes) + " bytes)");
    }
    const std::uint64_t off = *heap;
    auto* p = new (s.base + off) pipe_header();
    p->value_bytes = value_bytes;
    p->stride = stride;
    p->capacity = cap;
    p->mask = cap - 1;
    p->kind = kind;
    p->value_offset = value_offset;
    p->mode = ring ? detail::mode_ring : detail::mode_queue;
    for (std::uint64_t k = 0; k < cap && !ring; ++k) {
      auto* sl = new (s.slot(*p, k)) slot_header();
      sl->seq.store(k);
    }
    e.offset = off;
    e.value_bytes = value_bytes;
    e.value_align = value_align;
    e.kind = kind;
    e.state.store(detail::entry_ready, std::memory_order_release);
    b.pipes.fetch_add(1);
    b.directory_events.fetch_add(1);
    detail::futex_wake(&b.directory_events, INT_MAX);
    return off;
  }
  return fail(errc::full, "region " + s.name + " has " + std::to_string(b.pipes_max) +
                              " pipes already (pipes_max)");
}

result<std::uint64_t> region::find_pipe(const std::string& name, std::size_t value_bytes,
                                        std::size_t value_align, std::uint32_t kind,
                                        std::chrono::milliseconds timeout) {
  auto& s = *state_;
  auto& b = s.b();
  const auto deadline = clock::now() + timeout;
  for (;;) {
    std::uint32_t seen = b.directory_events.load(std::memory_order_acquire);
    for (std::uint32_t i = 0; i < b.pipes_max; ++i) {
      auto& e = s.dir()[i];
      if (e.state.load(std::memory_order_acquire) != detail::entry_ready) continue;
      if (std::strncmp(e.name, name.c_str(), detail::name_max) != 0) continue;
      if (e.kind != kind) {
        return fail(errc::layout_mismatch,
                    "pipe " + name + " carries " +
                        (e.kind == detail::kind_buffers ? "buffers (open it as pipe<buffer>)"
                                                        : "values, not buffers"));
      }
      if (e.value_bytes != value_bytes || e.value_align != value_align) {
        return fail(errc::layout_mismatch, "pipe " + name + " carries values of " +
                                               std::to_string(e.value_bytes) + " bytes, not " +
                                               std::to_string(value_bytes));
      }
      return e.offset;
    }
    if (clock::now() >= deadline) {
      return fail(timeout.count() == 0 ? errc::not_found : error::timed_out,
                  "no pipe named " + name + " in region " + s.name);
    }
    detail::futex_wait(&b.directory_events, seen, std::min(deadline, clock::now() + 50ms));
  }
}

}  // namespace chorus::shm
