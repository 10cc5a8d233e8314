// internal.hpp — what the parts of chorus::shm share: the layout of a region in memory, the
// per-process view of an attached region (region_state), and the crash-safe queue.
//
// Layout of a region (every reference is an offset from the region's start):
//   [boot]  magic, version, layout, size, the ready word, offsets of the tables below
//   [directory]  pipes_max entries: state, creator, name, kind, offset of the pipe
//   [process table]  processes_max entries: state, pid, start time (liveness)
//   [pool]  the buffer pool's lock, redo log, free lists and counters
//   [heap]  pipes, buffer blocks and hold tables, bump-allocated under the pool's lock
// A process slot gets its hold table (buffers_held_max entries: the buffer references the
// process holds) from the heap when it first uses a buffer, and keeps it for later processes.
//
// The pipe is Vyukov's bounded MPMC queue with one change that makes it safe when a process
// dies: a slot is claimed by CAS on the slot's own sequence word, replacing it with a marker
// that names the claimer (its process slot) and the sequence it replaced. Whoever finds a claim
// by a dead process can then finish it unambiguously: a claimed enqueue becomes a tombstone that
// consumers skip, a claimed dequeue frees its slot and puts the value back at the pipe's end.
// The queue's two positions only ever move forward, by whoever sees them lag (helping), so a
// death between claiming a slot and moving a position blocks nobody.
//
// Buffers (buffers.cpp) are blocks of the heap with a reference count. Every reference a
// process holds is an entry of its hold table; a reference in a pipe is the pipe's slot. Counts,
// free lists and the heap change only under the pool's lock, through a redo log, so whoever
// finds the lock held by a dead process finishes what it was doing. Moving a reference between
// a process and a pipe changes no count: the hold entry records the slot it is moving through,
// and the slot's marker tells recovery whether the move happened.
#pragma once

#include <linux/futex.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "chorus/shm.hpp"

namespace chorus::shm::detail {

using clock = std::chrono::steady_clock;
using namespace std::chrono_literals;

constexpr std::uint64_t magic = 0x3147524d48534843ull;  // "CHSHMRG1"
constexpr std::uint32_t version = 2;
constexpr std::size_t name_max = 63;
constexpr std::size_t region_name_max = 200;
constexpr std::size_t cache_line = 64;
// A waiting operation looks for dead processes this often.
constexpr auto recovery_interval = 50ms;

// --- sequence words: a position, or a claim marker ------------------------------------------
// A marker: bit 63, the claimer's process slot in bits 56–62, the replaced sequence below.
constexpr std::uint64_t marker_bit = std::uint64_t{1} << 63;
constexpr unsigned owner_shift = 56;
constexpr std::uint64_t seq_mask = (std::uint64_t{1} << owner_shift) - 1;
constexpr std::uint32_t processes_limit = 128;

constexpr bool is_marker(std::uint64_t s) { return (s & marker_bit) != 0; }
constexpr std::uint64_t base_of(std::uint64_t s) { return s & seq_mask; }
constexpr std::uint32_t owner_of(std::uint64_t s) {
  return static_cast<std::uint32_t>((s >> owner_shift) & 0x7f);
}
constexpr std::uint64_t marker(std::uint32_t owner, std::uint64_t replaced) {
  return marker_bit | (std::uint64_t{owner} << owner_shift) | (replaced & seq_mask);
}

// --- shared structures ------------------------------------------------------------------------
struct boot {
  std::atomic<std::uint32_t> ready;  // futex word: 0 while the creator initializes, then 1
  std::uint32_t version;
  std::uint64_t magic;
  std::uint64_t layout;  // sizes of the structures below: another build's layout is refused
  std::uint64_t size;
  std::uint32_t pipes_max, processes_max;
  std::uint32_t holds_max, unused;
  std::uint64_t directory_off, processes_off, pool_off, heap_off;
  std::uint64_t heap_next;                      // changed under the pool's lock only
  std::atomic<std::uint32_t> directory_events;  // futex word: a pipe became ready
  std::atomic<std::uint32_t> pipes;
};

enum : std::uint32_t { entry_free = 0, entry_creating = 1, entry_ready = 2 };
// What a pipe carries: values copied into its slots, or references to buffers.
enum : std::uint32_t { kind_values = 0, kind_buffers = 1 };
struct dir_entry {
  std::atomic<std::uint32_t> state;
  std::uint32_t creator;  // process slot, while creating
  char name[name_max + 1];
  std::uint64_t offset;
  std::uint64_t value_bytes, value_align;
  std::uint32_t kind, unused;
};

// A process entry's state: free, live, or a kind in the top two bits with a pid below (the
// process attaching to the entry, or the one recovering it after its process died).
enum : std::uint32_t { process_free = 0, process_live = 1 };
constexpr std::uint32_t process_attaching = 2u << 30, process_recovering = 3u << 30;
constexpr std::uint32_t process_kind(std::uint32_t s) { return s & (3u << 30); }
constexpr std::uint32_t process_pid(std::uint32_t s) { return s & ~(3u << 30); }
struct process_entry {
  std::atomic<std::uint32_t> state;
  std::int32_t pid;
  std::uint64_t start_time;  // /proc/<pid>/stat field 22: tells a reused pid apart
  std::uint64_t holds;       // offset of the slot's hold table; 0 until one is needed
};

// How a pipe works: Vyukov's MPMC queue with claim markers, or a ring whose producers take turns
// and whose consumers take turns (values packed, positions published once per batch).
enum : std::uint64_t { mode_queue = 0, mode_ring = 1 };
struct alignas(cache_line) pipe_header {
  std::uint64_t value_bytes, value_offset, stride, capacity, mask, kind, mode;
  alignas(cache_line) std::atomic<std::uint64_t> enq_pos;
  alignas(cache_line) std::atomic<std::uint64_t> deq_pos;
  alignas(cache_line) std::atomic<std::uint32_t> enq_events;  // futex: a value was published
  std::atomic<std::uint32_t> consumers_waiting;
  alignas(cache_line) std::atomic<std::uint32_t> deq_events;  // futex: a slot was freed
  std::atomic<std::uint32_t> producers_waiting;
  // Rings: the producer whose turn it is, and the consumer (process slot + 1; futex words).
  alignas(cache_line) std::atomic<std::uint32_t> producer_owner;
  std::atomic<std::uint32_t> producer_owner_waiters;
  alignas(cache_line) std::atomic<std::uint32_t> consumer_owner;
  std::atomic<std::uint32_t> consumer_owner_waiters;
};

struct slot_header {
  std::atomic<std::uint64_t> seq;
  std::uint64_t meta;  // accessed atomically (std::atomic_ref); see meta_valid
};
// A slot's meta word: meta_valid if it holds a value (clear: a tombstone, an enqueue its process
// did not finish). While a recoverer moves the value of a dead consumer's claimed slot back into
// the pipe, the low bits hold 1 + the position of the slot it is copying the value to, so that
// if it dies too, its own recoverer can tell whether the copy was published.
constexpr std::uint64_t meta_valid = std::uint64_t{1} << 63;
constexpr std::uint64_t moved_to(std::uint64_t meta) { return meta & seq_mask; }

// Buffer blocks: a header, then 2^class bytes of data. Classes 6 (64 B) and up.
constexpr unsigned min_class = 6;
constexpr unsigned classes = 48;
constexpr std::uint64_t block_magic = 0x4b4c42534d484300ull;  // "\0CHMSBLK" (class in the low byte)
struct alignas(cache_line) block_header {
  std::uint64_t tag;     // block_magic ^ offset ^ class: not found by accident in user data
  std::uint64_t refs;    // references; changed under the pool's lock only
  std::uint64_t next;    // the next free block of its class (while free)
  std::uint64_t length;  // the bytes in use (≤ 2^class)
  std::uint64_t cls;
};
constexpr std::uint64_t block_tag(std::uint64_t off, std::uint64_t cls) {
  return block_magic ^ (off << 8) ^ cls;
}

// The pool's redo log: the words a change under the lock will write, written here first.
struct redo_word {
  std::uint64_t off, value;
};
constexpr unsigned redo_max = 12;
struct alignas(cache_line) pool_header {
  std::atomic<std::uint32_t> lock;  // futex word: 0, or the owning process slot + 1
  std::atomic<std::uint32_t> lock_waiters;
  std::atomic<std::uint32_t> free_events;  // futex word: a buffer went back to the pool
  std::atomic<std::uint32_t> alloc_waiters;
  std::atomic<std::uint32_t> redo_count;  // words in the redo log; 0 when none
  std::uint32_t unused;
  redo_word redo[redo_max];
  std::uint64_t free_head[classes];  // 0: empty
  std::uint64_t in_use;              // buffers allocated
  std::uint64_t blocks;              // blocks carved from the heap
  std::uint64_t block_bytes;         // their bytes, headers included
};

// A process's buffer reference: `state` is a kind (bits 62–63) and the block's offset.
enum : std::uint64_t {
  hold_free = 0,
  hold_held = 1,       // the process holds it
  hold_sending = 2,    // moving into slot `pos` of pipe `pipe`
  hold_receiving = 3,  // moving out of slot `pos` of pipe `pipe`
};
constexpr unsigned hold_kind_shift = 62;
constexpr std::uint64_t hold_state(std::uint64_t kind, std::uint64_t block) {
  return (kind << hold_kind_shift) | block;
}
constexpr std::uint64_t hold_kind(std::uint64_t s) { return s >> hold_kind_shift; }
constexpr std::uint64_t hold_block(std::uint64_t s) {
  return s & ((std::uint64_t{1} << hold_kind_shift) - 1);
}
struct hold_entry {
  std::uint64_t state;  // accessed atomically (std::atomic_ref)
  std::uint64_t pipe, pos;
  std::uint64_t unused;
};

constexpr std::uint64_t layout_id = (sizeof(boot) << 48) ^ (sizeof(dir_entry) << 32) ^
                                    (sizeof(process_entry) << 16) ^ sizeof(pipe_header) ^
                                    (sizeof(slot_header) << 8) ^ (sizeof(pool_header) << 20) ^
                                    (sizeof(block_header) << 40) ^ (sizeof(hold_entry) << 12);

// --- helpers ----------------------------------------------------------------------------------
inline std::atomic_ref<std::uint64_t> word(std::uint64_t& w) { return std::atomic_ref(w); }

inline long futex(std::atomic<std::uint32_t>* addr, int op, std::uint32_t val, const timespec* ts) {
  return ::syscall(SYS_futex, reinterpret_cast<std::uint32_t*>(addr), op, val, ts, nullptr, 0);
}
// Sleeps while *addr == expected, at most until `until`.
void futex_wait(std::atomic<std::uint32_t>* addr, std::uint32_t expected, clock::time_point until);
inline void futex_wake(std::atomic<std::uint32_t>* addr, int n) {
  futex(addr, FUTEX_WAKE, n, nullptr);
}
inline void cpu_relax() {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#endif
}

inline error fail(int code, std::string m) { return error{code, std::move(m)}; }

inline std::size_t round_up(std::size_t v, std::size_t to) { return (v + to - 1) / to * to; }

// Test crash points (crash_at).
void maybe_crash(crash_point at);

struct region_state;

// A word whose owner (a process slot + 1) is the only one allowed on: the pool's lock, a ring's
// producer or consumer end. Waits up to `deadline` (nullopt: for ever), recovering an owner that
// died holding it; false if the deadline passed.
bool own(region_state& r, std::atomic<std::uint32_t>& owner, std::atomic<std::uint32_t>& waiters,
         std::optional<clock::time_point> deadline);
void disown(std::atomic<std::uint32_t>& owner, std::atomic<std::uint32_t>& waiters);

// --- the region, as one process sees it -------------------------------------------------------
struct region_state {
  std::string name;
  std::byte* base = nullptr;
  std::size_t size = 0;
  std::uint32_t self = UINT32_MAX;  // our slot in the process table

  // Free entries of our hold table (this process's, so a plain mutex guards them).
  std::mutex holds_mu;
  std::vector<std::uint32_t> free_holds;  // given back
  std::uint32_t holds_next = 0;           // entries from here on never handed out

  ~region_state();
  boot& b() const { return *reinterpret_cast<boot*>(base); }
  dir_entry* dir() const { return reinterpret_cast<dir_entry*>(base + b().directory_off); }
  process_entry* procs() const {
    return reinterpret_cast<process_entry*>(base + b().processes_off);
  }
  pool_header& pool() const { return *reinterpret_cast<pool_header*>(base + b().pool_off); }
  template <typename T>
  T* at(std::uint64_t off) const {
    return reinterpret_cast<T*>(base + off);
  }
  std::byte* slot(const pipe_header& p, std::uint64_t pos) const {
    return reinterpret_cast<std::byte*>(const_cast<pipe_header*>(&p)) + sizeof(pipe_header) +
           (pos & p.mask) * p.stride;
  }
  // Entry i of a process slot's hold table (which exists).
  hold_entry& hold(std::uint32_t process, std::uint32_t i) const {
    return *reinterpret_cast<hold_entry*>(base + procs()[process].holds +
                                          std::uint64_t{i} * sizeof(hold_entry));
  }
  std::uint64_t hold_offset(std::uint32_t process, std::uint32_t i) const {
    return static_cast<std::uint64_t>(reinterpret_cast<std::byte*>(&hold(process, i)) - base);
  }

  result<void> attach();
  std::size_t recover();
  void recover_process(std::uint32_t dead);
  void recover_pipe(pipe_header& p, std::uint32_t dead);
  void put_back(pipe_header& p, slot_header& s, std::uint64_t replaced);
  void wait_recovering(clock::time_point& next_check) {
    if (clock::now() >= next_check) {
      recover();
      next_check = clock::now() + recovery_interval;
    }
  }
  bool is_pipe(std::uint64_t off) const;

  // The pool (buffers.cpp).
  void lock_pool() { own(*this, pool().lock, pool().lock_waiters, std::nullopt); }
  void unlock_pool() { disown(pool().lock, pool().lock_waiters); }
  void commit(const redo_word* w, unsigned n);            // under the lock
  void redo();                                            // under the lock (or a dead owner's)
  result<std::uint64_t> heap_alloc(std::uint64_t bytes);  // takes the lock
  result<std::uint32_t> take_hold();  // gives our slot its hold table first if need be
  // One more reference to a live block, in a new hold entry (errc::not_a_buffer if released).
  result<std::uint32_t> add_ref(std::uint64_t block);
  void give_hold(std::uint32_t i);
  bool valid_block(std::uint64_t off) const;
  void release(std::uint64_t hold_off, std::uint64_t block);  // one reference less
  void recover_holds(std::uint32_t dead);
};

// The pipe operations, on one pipe of one region. The hooks let buffer pipes record, in the
// caller's hold entry, the slot a reference moves through.
struct queue {
  region_state& r;
  pipe_header& p;

  slot_header& at(std::uint64_t pos) const {
    return *reinterpret_cast<slot_header*>(r.slot(p, pos));
  }
  std::byte* value(std::uint64_t pos) const { return r.slot(p, pos) + p.value_offset; }

  void published() {
    p.enq_events.fetch_add(1, std::memory_order_seq_cst);
    if (p.consumers_waiting.load(std::memory_order_seq_cst) > 0) futex_wake(&p.enq_events, 1);
  }
  void freed() {
    p.deq_events.fetch_add(1, std::memory_order_seq_cst);
    if (p.producers_waiting.load(std::memory_order_seq_cst) > 0) futex_wake(&p.deq_events, 1);
  }

  // Moves a position from `pos` to pos + 1 unless someone did already. (A failed CAS writes the
  // current value into its first argument: never let it be the caller's `pos`.)
  static void advance(std::atomic<std::uint64_t>& position, std::uint64_t pos) {
    position.compare_exchange_strong(pos, pos + 1, std::memory_order_acq_rel);
  }

  // base - want in the 56-bit sequence space, as a signed number.
  static std::int64_t diff(std::uint64_t base, std::uint64_t want) {
    std::uint64_t d = (base - want) & seq_mask;
    return d >= (seq_mask >> 1)
               ? static_cast<std::int64_t>(d) - static_cast<std::int64_t>(seq_mask) - 1
               : static_cast<std::int64_t>(d);
  }

  // One attempt: true if enqueued, false if full. `claimed(pos)` runs once the slot is ours.
  template <typename Claimed>
  bool try_enqueue(const void* v, std::uint32_t me, Claimed claimed, bool notify = true) {
    for (;;) {
      std::uint64_t pos = p.enq_pos.load(std::memory_order_acquire);
      slot_header& s = at(pos);
      std::uint64_t seq = s.seq.load(std::memory_order_acquire);
      const std::int64_t d = diff(base_of(seq), pos);
      if (d == 0 && !is_marker(seq)) {
        if (!s.seq.compare_exchange_weak(seq, marker(me, seq), std::memory_order_acq_rel)) {
          continue;
        }
        advance(p.enq_pos, pos);
        maybe_crash(crash_point::enqueue_claimed);
        claimed(pos & seq_mask);
        std::memcpy(value(pos), v, p.value_bytes);
        word(s.meta).store(meta_valid, std::memory_order_relaxed);
        maybe_crash(crash_point::enqueue_copied);
        s.seq.store((pos + 1) & seq_mask, std::memory_order_release);
        if (notify) published();
        return true;
      }
      if (d >= 0) {
        // Claimed by another producer, or further along: the position lags; help it on.
        advance(p.enq_pos, pos);
        continue;
      }
      if (p.enq_pos.load(std::memory_order_acquire) != pos) continue;  // moved meanwhile
      return false;  // the slot still holds a value of the previous lap: full
    }
  }

  // One attempt: 1 if a value was taken, 0 if empty, -1 if a tombstone (or a value `taken`
  // refused) was skipped. `taken(pos, value)` runs on a valid value before the slot is freed,
  // and says whether to keep it.
  template <typename Taken>
  int try_dequeue(void* v, std::uint32_t me, Taken taken, bool notify = true) {
    for (;;) {
      std::uint64_t pos = p.deq_pos.load(std::memory_order_acquire);
      slot_header& s = at(pos);
      std::uint64_t seq = s.seq.load(std::memory_order_acquire);
      const std::int64_t d = diff(base_of(seq), pos + 1);
      if (d == 0 && !is_marker(seq)) {
        if (!s.seq.compare_exchange_weak(seq, marker(me, seq), std::memory_order_acq_rel)) {
          continue;
        }
        advance(p.deq_pos, pos);
        maybe_crash(crash_point::dequeue_claimed);
        bool ok = (word(s.meta).load(std::memory_order_relaxed) & meta_valid) != 0;
        if (ok) {
          std::memcpy(v, value(pos), p.value_bytes);
          ok = taken(pos & seq_mask, v);
        }
        maybe_crash(crash_point::dequeue_copied);
        s.seq.store((pos + p.capacity) & seq_mask, std::memory_order_release);
        if (notify || !ok) freed();  // a skipped tombstone is not part of anyone's batch
        return ok ? 1 : -1;
      }
      if (d >= 0) {
        // Being consumed by another, or consumed already: the position lags; help it on.
        advance(p.deq_pos, pos);
        continue;
      }
      if (p.deq_pos.load(std::memory_order_acquire) != pos) continue;
      return 0;  // not published yet (free, or claimed by a producer): empty for now
    }
  }

  // A value, skipping tombstones: false if the pipe is empty.
  template <typename Taken>
  bool try_take(void* v, std::uint32_t me, Taken taken, bool notify = true) {
    int got;
    while ((got = try_dequeue(v, me, taken, notify)) < 0) {
    }
    return got > 0;
  }
};

// Tries `attempt` (spin + 1 times at once), then waits on `events` (counted in `waiting`) until
// it succeeds or `deadline` passes, looking for dead processes every recovery_interval.
template <typename Attempt>
result<void> wait_for(region_state& r, std::atomic<std::uint32_t>& events,
                      std::atomic<std::uint32_t>& waiting, std::uint32_t spin,
                      std::optional<clock::time_point> deadline, const char* timeout_what,
                      Attempt attempt) {
  for (std::uint32_t i = 0; i <= spin; ++i) {
    if (attempt()) return {};
  }
  auto next_check = clock::now() + recovery_interval;
  for (;;) {
    waiting.fetch_add(1, std::memory_order_seq_cst);
    std::uint32_t seen = events.load(std::memory_order_acquire);
    if (attempt()) {
      waiting.fetch_sub(1);
      return {};
    }
    if (deadline && clock::now() >= *deadline) {
      waiting.fetch_sub(1);
      return fail(error::timed_out, timeout_what);
    }
    futex_wait(&events, seen, std::min(next_check, deadline.value_or(clock::time_point::max())));
    waiting.fetch_sub(1);
    r.wait_recovering(next_check);
  }
}

}  // namespace chorus::shm::detail
