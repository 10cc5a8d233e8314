// chorus/shm.hpp — cross-process shared memory: named regions holding named, bounded,
// multi-producer multi-consumer pipes, safe when a process dies in the middle of an operation.
//
//   // the process that boots the application
//   auto r = chorus::shm::region::create("app", {.size = 64 << 20});
//   auto p = r->create_pipe<order>("orders", 1024);
//   p->enqueue(order{...});
//   // any other process
//   auto r = chorus::shm::region::open("app", 5s);     // waits until the creator is done
//   auto p = r->open_pipe<order>("orders", 5s);        // waits until the pipe exists
//   auto o = p->dequeue(100ms);                         // error::timed_out if nothing came
//
// Regions live in POSIX shared memory (/dev/shm/chorus.<name>) and are addressed by offsets
// only, so a region maps at any address in any process. Creating a region replaces a stale one
// of the same name unless `keep` is set, in which case an existing region (and its pipes) is
// reused. Each process that attaches takes a slot in the region's process table; when a process
// dies, the next process that waits long enough on a pipe, or opens the region, finds out and
// recovers what it held: an enqueue it had begun is skipped, a value it was dequeuing goes back
// into the pipe (at its end), so nothing a caller saw completed is lost or duplicated and no slot
// stays stuck.
//
// Values: a pipe<T> carries trivially copyable values, copied into its slots; created with
// pipe_options{.ring = true} it is a ring, the fastest for one producer and one consumer moving
// batches (enqueue_many/dequeue_many). A pipe<buffer>
// carries references to reference-counted buffers allocated from the region's pool: enqueueing
// one moves the reference into the pipe, nothing is copied, and a buffer shared into several
// pipes (buffer::share) is one block of memory, reclaimed when its last holder lets go:
//
//   auto b = r->allocate(1 << 20);                      // a buffer of 1 MiB in the region
//   std::memcpy(b->data(), frame, 1 << 20);             // (or produce the data in place)
//   frames->enqueue(std::move(*b));                     // moves the reference; no copy
//   auto got = frames->dequeue();                       // another process: the same memory
//
// A process that dies holding references (in its hands, or half-way into or out of a pipe) has
// them recovered like its pipe operations. fanout moves one input to several outputs (each
// blocking or dropping when full; buffers are shared, not copied), transformer maps one pipe
// into another.
//
// Thread-safety: a region, its pipes and its buffers may be used from any number of threads and
// processes; one buffer object is not to be used by two threads at once (share() gives each
// its own). After fork(), a child opens the region again rather than using its parent's objects.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <memory>
#include <optional>
#include <span>
#include <stop_token>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include "chorus/result.hpp"

namespace chorus::shm {

// chorus::error codes of this library (besides error::timed_out).
namespace errc {
inline constexpr int not_found = 1;         // no region or pipe of that name
inline constexpr int exists = 2;            // a pipe of that name with another layout
inline constexpr int no_memory = 3;         // not enough shared memory (/dev/shm full)
inline constexpr int size_refused = 4;      // the system refuses a region of that size
inline constexpr int version_mismatch = 5;  // made by another version of this library
inline constexpr int layout_mismatch = 6;   // a pipe of another value type or size
inline constexpr int full = 7;              // the region has no room for another pipe/process
inline constexpr int invalid_argument = 8;  // a bad name, size or capacity
inline constexpr int system = 9;            // an unexpected system error (the message says)
inline constexpr int outside_region = 10;   // memory or a buffer that is not this region's
inline constexpr int not_a_buffer = 11;     // memory of the region that is not a live buffer
}  // namespace errc

struct region_options {
  std::size_t size = std::size_t{64} << 20;  // bytes (rounded up to whole pages)
  bool keep = false;  // reuse a region of this name (and its pipes) if one exists
  std::uint32_t pipes_max = 64;
  std::uint32_t processes_max = 64;       // processes attached at once
  std::uint32_t buffers_held_max = 1024;  // buffer references one process may hold at once
};

struct pipe_options {
  // Busy-wait this many times before sleeping on a futex (0: sleep at once). Spinning cuts
  // latency when producer and consumer run on different cores, at the cost of CPU.
  std::uint32_t spin = 0;
  // At creation only (openers get what the creator chose): a ring instead of the default queue.
  // Producers take turns, and consumers take turns (one operation or batch each), so values
  // are packed and move without per-value synchronization: fastest with one producer and one
  // consumer, especially in batches (enqueue_many/dequeue_many). Not for buffers.
  bool ring = false;
};

// What `chorus shm ls` shows.
struct region_info {
  std::string name;
  std::size_t size = 0;
  bool ready = false;  // the creator finished initializing it
  std::uint32_t pipes = 0;
  std::uint32_t processes = 0;  // attached now
  std::uint64_t buffers = 0;    // buffers allocated now
};

// The buffer pool of a region (region::stats).
struct pool_stats {
  std::uint64_t buffers_in_use = 0;  // allocated, not yet reclaimed
  std::uint64_t blocks = 0;          // blocks carved from the region (in use or free)
  std::uint64_t block_bytes = 0;     // their size, headers included
  std::uint64_t heap_free = 0;       // bytes of the region not yet carved (pipes or blocks)
};

class region;
class buffer;
template <typename T>
class pipe;

namespace detail {
struct region_state;

// For tests of recovery: the calling process kills itself (SIGKILL) the `nth` time (counting
// from 1) it reaches `point` — the moments a random kill almost never hits. crash_point::none
// turns it off.
enum class crash_point {
  none,
  enqueue_claimed,     // a pipe slot claimed, nothing written
  enqueue_copied,      // the value written, not yet published
  dequeue_claimed,     // a pipe slot claimed, nothing read
  dequeue_copied,      // the value read, the slot not yet freed
  pool_logged,         // a pool change logged under the lock, not applied
  pool_applied,        // a pool change applied, the lock still held
  recovery_took,       // recovering a dead consumer: its claimed slot taken over
  recovery_moved,      // ... its value's new slot claimed (and noted), not yet written
  recovery_published,  // ... its value published in the new slot, the old slot not yet freed
};
void crash_at(crash_point point, std::uint64_t nth);
// A pipe's untyped core: slots of `value_bytes` bytes.
class pipe_core {
 public:
  pipe_core() = default;
  pipe_core(std::shared_ptr<region_state> r, std::uint64_t offset, pipe_options o);
  result<void> enqueue(const void* value, std::optional<std::chrono::steady_clock::time_point> d);
  result<void> dequeue(void* value, std::optional<std::chrono::steady_clock::time_point> d);
  // Up to n values, at least one (waiting for it as enqueue/dequeue do): how many.
  result<std::size_t> enqueue_many(const void* values, std::size_t n,
                                   std::optional<std::chrono::steady_clock::time_point> d);
  result<std::size_t> dequeue_many(void* values, std::size_t n,
                                   std::optional<std::chrono::steady_clock::time_point> d);
  // Buffer pipes: moves the reference held in hold entry `hold` into the pipe, and out again.
  result<void> enqueue_buffer(const std::shared_ptr<region_state>& owner, std::uint64_t block,
                              std::uint32_t hold,
                              std::optional<std::chrono::steady_clock::time_point> d);
  result<std::pair<std::uint64_t, std::uint32_t>> dequeue_buffer(
      std::optional<std::chrono::steady_clock::time_point> d);
  std::size_t capacity() const noexcept;
  std::size_t size() const noexcept;  // a snapshot: values waiting
  const std::shared_ptr<region_state>& region() const noexcept { return r_; }

 private:
  result<std::size_t> ring_put(const void* values, std::size_t n,
                               std::optional<std::chrono::steady_clock::time_point> d);
  result<std::size_t> ring_take(void* values, std::size_t n,
                                std::optional<std::chrono::steady_clock::time_point> d);
  std::shared_ptr<region_state> r_;
  std::uint64_t offset_ = 0;
  pipe_options o_;
  // Rings: the other end's position as last read (positions only grow: a stale one is safe).
  std::uint64_t seen_head_ = 0, seen_tail_ = 0;
};
}  // namespace detail

// A reference to a buffer in a region's pool. Move-only; share() makes another reference to the
// same memory. The memory is the region's: valid in every process, at that process's address.
// Destroying (or reset()) the last reference, wherever it is, returns the block to the pool.
class buffer {
 public:
  buffer() = default;
  buffer(buffer&& o) noexcept { swap(o); }
  buffer& operator=(buffer&& o) noexcept {
    buffer(std::move(o)).swap(*this);
    return *this;
  }
  ~buffer() { reset(); }

  std::byte* data() const noexcept;
  std::size_t size() const noexcept;      // the bytes in use
  std::size_t capacity() const noexcept;  // the block's size (a power of two, at least 64)
  // Sets the bytes in use (≤ capacity). Every holder sees the new size.
  result<void> resize(std::size_t n);
  // Another reference to the same memory (errc::full if this process holds buffers_held_max).
  result<buffer> share() const;
  // References now (a snapshot), in every process and pipe.
  std::uint64_t use_count() const noexcept;
  void reset() noexcept;
  explicit operator bool() const noexcept { return r_ != nullptr; }

 private:
  friend class region;
  friend class pipe<buffer>;
  buffer(std::shared_ptr<detail::region_state> r, std::uint64_t block, std::uint32_t hold)
      : r_(std::move(r)), block_(block), hold_(hold) {}
  void swap(buffer& o) noexcept {
    std::swap(r_, o.r_);
    std::swap(block_, o.block_);
    std::swap(hold_, o.hold_);
  }
  std::shared_ptr<detail::region_state> r_;
  std::uint64_t block_ = 0;  // offset of the block in the region
  std::uint32_t hold_ = 0;   // our entry in this process's hold table
};

template <typename T>
class pipe {
  static_assert(std::is_trivially_copyable_v<T>, "pipe values are copied byte for byte");
  static_assert(!std::is_pointer_v<T>,
                "a pointer means nothing in another process: send a buffer (pipe<buffer>) or "
                "an offset");

 public:
  // Waits while the pipe is full: forever, or up to `timeout` (then error::timed_out).
  result<void> enqueue(const T& v) { return core_.enqueue(&v, std::nullopt); }
  result<void> enqueue(const T& v, std::chrono::milliseconds timeout) {
    return core_.enqueue(&v, std::chrono::steady_clock::now() + timeout);
  }
  // Waits while the pipe is empty: forever, or up to `timeout` (then error::timed_out).
  result<T> dequeue() { return take(std::nullopt); }
  result<T> dequeue(std::chrono::milliseconds timeout) {
    return take(std::chrono::steady_clock::now() + timeout);
  }
  // Batches: enqueues as many of `values` as there is room for, at least one (waiting for room
  // forever, or up to `timeout`); dequeues up to out.size() values, at least one. They return
  // how many, and wake a waiting peer once per batch rather than once per value.
  result<std::size_t> enqueue_many(std::span<const T> values) {
    return core_.enqueue_many(values.data(), values.size(), std::nullopt);
  }
  result<std::size_t> enqueue_many(std::span<const T> values, std::chrono::milliseconds timeout) {
    return core_.enqueue_many(values.data(), values.size(),
                              std::chrono::steady_clock::now() + timeout);
  }
  result<std::size_t> dequeue_many(std::span<T> out) {
    return core_.dequeue_many(out.data(), out.size(), std::nullopt);
  }
  result<std::size_t> dequeue_many(std::span<T> out, std::chrono::milliseconds timeout) {
    return core_.dequeue_many(out.data(), out.size(), std::chrono::steady_clock::now() + timeout);
  }
  std::size_t capacity() const noexcept { return core_.capacity(); }
  std::size_t size() const noexcept { return core_.size(); }

 private:
  friend class region;
  explicit pipe(detail::pipe_core c) : core_(std::move(c)) {}
  result<T> take(std::optional<std::chrono::steady_clock::time_point> d) {
    T v;
    auto r = core_.dequeue(&v, d);
    if (!r) return r.error();
    return v;
  }
  detail::pipe_core core_;
};

// A pipe of buffer references. enqueue moves the caller's reference into the pipe (on success
// the buffer is left empty; on failure the caller keeps it); dequeue hands one out.
template <>
class pipe<buffer> {
 public:
  // Waits while the pipe is full: forever, or up to `timeout` (then error::timed_out). A buffer
  // of another region is refused (errc::outside_region).
  result<void> enqueue(buffer&& b) { return put(b, std::nullopt); }
  result<void> enqueue(buffer&& b, std::chrono::milliseconds timeout) {
    return put(b, std::chrono::steady_clock::now() + timeout);
  }
  // Waits while the pipe is empty: forever, or up to `timeout` (then error::timed_out).
  result<buffer> dequeue() { return take(std::nullopt); }
  result<buffer> dequeue(std::chrono::milliseconds timeout) {
    return take(std::chrono::steady_clock::now() + timeout);
  }
  std::size_t capacity() const noexcept { return core_.capacity(); }
  std::size_t size() const noexcept { return core_.size(); }

 private:
  friend class region;
  explicit pipe(detail::pipe_core c) : core_(std::move(c)) {}
  result<void> put(buffer& b, std::optional<std::chrono::steady_clock::time_point> d) {
    auto r = core_.enqueue_buffer(b.r_, b.block_, b.hold_, d);
    if (r) {
      b.r_.reset();  // the reference is the pipe's now
    }
    return r;
  }
  result<buffer> take(std::optional<std::chrono::steady_clock::time_point> d) {
    auto r = core_.dequeue_buffer(d);
    if (!r) return r.error();
    return buffer(core_.region(), r->first, r->second);
  }
  detail::pipe_core core_;
};

namespace detail {
// What a fan-out hands each output: a copy of a value, another reference to a buffer.
template <typename T>
result<T> another(const T& v) {
  if constexpr (std::is_same_v<T, buffer>) {
    return v.share();
  } else {
    return v;
  }
}

// Enqueues `v`, trying again every `timeout` while the pipe is full, until it goes in or `stop`
// is requested.
template <typename T>
result<void> enqueue_until(pipe<T>& to, T&& v, std::chrono::milliseconds timeout,
                           std::stop_token stop) {
  while (!to.enqueue(std::move(v), timeout)) {
    if (stop.stop_requested()) return error{error::timed_out, "stopped while blocked"};
  }
  return {};
}
}  // namespace detail

// What a fan-out does with a value for an output that is full.
enum class when_full {
  block,  // wait until it has room (the slowest output paces everything)
  drop,   // wait up to drop_after, then drop the value for this output and count it
};

// One input pipe, several output pipes: every value read from the input is enqueued to every
// output, each with its own policy when that output is full. A buffer is shared, not copied:
// every output gets a reference to the same memory. Run it in a thread of its own (run()), or
// drive it step by step. Counters are this object's.
template <typename T>
class fanout {
 public:
  struct output {
    pipe<T> to;
    when_full policy = when_full::block;
    std::chrono::milliseconds drop_after{0};
  };
  fanout(pipe<T> from, std::vector<output> to) : from_(std::move(from)), to_(std::move(to)) {
    dropped_.assign(to_.size(), 0);
  }

  // Moves one value to every output; waits up to `timeout` for one (then error::timed_out).
  // A blocking output waits at most `timeout` per attempt, then again until it has room or
  // `stop` is requested (the value is then not delivered to the remaining outputs).
  result<void> step(std::chrono::milliseconds timeout, std::stop_token stop = {}) {
    auto v = from_.dequeue(timeout);
    if (!v) return v.error();
    for (std::size_t i = 0; i < to_.size(); ++i) {
      auto& o = to_[i];
      // The last output takes the value itself; the others a copy (a buffer: a reference).
      auto copy = i + 1 < to_.size() ? detail::another(*v) : result<T>(std::move(*v));
      if (!copy) return copy.error();
      if (o.policy == when_full::drop) {
        if (!o.to.enqueue(std::move(*copy), o.drop_after)) ++dropped_[i];
        continue;
      }
      if (auto sent = detail::enqueue_until(o.to, std::move(*copy), timeout, stop); !sent) {
        return sent.error();
      }
    }
    ++forwarded_;
    return {};
  }
  // Runs until `stop` is requested.
  void run(std::stop_token stop) {
    while (!stop.stop_requested()) (void)step(std::chrono::milliseconds(50), stop);
  }

  std::uint64_t forwarded() const noexcept { return forwarded_; }
  std::uint64_t dropped(std::size_t output) const { return dropped_.at(output); }

 private:
  pipe<T> from_;
  std::vector<output> to_;
  std::uint64_t forwarded_ = 0;
  std::vector<std::uint64_t> dropped_;
};

// Reads one pipe, applies `f` (In → Out), writes another. Run it in a thread (run()), or step.
// With buffers, `f` takes the buffer (by value or reference) and returns one: the same, changed
// in place, or a new one from region::allocate.
template <typename In, typename Out, typename F>
class transformer {
 public:
  transformer(pipe<In> from, pipe<Out> to, F f)
      : from_(std::move(from)), to_(std::move(to)), f_(std::move(f)) {}

  result<void> step(std::chrono::milliseconds timeout, std::stop_token stop = {}) {
    auto v = from_.dequeue(timeout);
    if (!v) return v.error();
    if (auto sent = detail::enqueue_until(to_, f_(std::move(*v)), timeout, stop); !sent) {
      return sent.error();
    }
    ++transformed_;
    return {};
  }
  void run(std::stop_token stop) {
    while (!stop.stop_requested()) (void)step(std::chrono::milliseconds(50), stop);
  }
  std::uint64_t transformed() const noexcept { return transformed_; }

 private:
  pipe<In> from_;
  pipe<Out> to_;
  F f_;
  std::uint64_t transformed_ = 0;
};

class region {
 public:
  // Creates region `name` (letters, digits, '_', '-', '.'; at most 200 bytes).
  static result<region> create(const std::string& name, const region_options& o = {});
  // Opens region `name`, waiting up to `timeout` for it to exist and be initialized.
  static result<region> open(const std::string& name, std::chrono::milliseconds timeout);
  static result<void> remove(const std::string& name);
  static std::vector<region_info> list();

  region(region&&) noexcept;
  region& operator=(region&&) noexcept;
  ~region();  // detaches; the region stays until remove()

  const std::string& name() const noexcept;
  std::size_t size() const noexcept;

  // Creates a pipe of `capacity` values (rounded up to a power of two, at least 2); if a pipe
  // of that name and layout exists already (a kept region), returns it.
  template <typename T>
  result<pipe<T>> create_pipe(const std::string& name, std::size_t capacity, pipe_options o = {}) {
    auto off = make_pipe(name, capacity, value_bytes<T>(), alignof(T), kind<T>(), o.ring);
    if (!off) return off.error();
    return pipe<T>(detail::pipe_core(state_, *off, o));
  }
  // Opens pipe `name`, waiting up to `timeout` for it to exist.
  template <typename T>
  result<pipe<T>> open_pipe(const std::string& name, std::chrono::milliseconds timeout,
                            pipe_options o = {}) {
    auto off = find_pipe(name, value_bytes<T>(), alignof(T), kind<T>(), timeout);
    if (!off) return off.error();
    return pipe<T>(detail::pipe_core(state_, *off, o));
  }

  // Creates a pipe of buffer references (create_pipe<buffer>), or opens one (open_pipe<buffer>).

  // A buffer of at least `bytes` bytes (size() is `bytes`) from the region's pool: errc::no_memory
  // at once when the region has no room, or after waiting up to `timeout` for a buffer to be
  // released. errc::full if this process holds buffers_held_max references already.
  result<buffer> allocate(std::size_t bytes);
  result<buffer> allocate(std::size_t bytes, std::chrono::milliseconds timeout);
  // Another reference to the buffer whose data starts at `p` (what buffer::data() returned, in
  // this process): errc::outside_region if `p` is not in this region, errc::not_a_buffer if it
  // is not the start of a live buffer.
  result<buffer> buffer_of(const void* p);
  pool_stats stats() const;

  // Looks for processes that died while attached and recovers what they held; returns how many
  // it found. Waiting pipe operations and open() do this themselves.
  std::size_t recover();

 private:
  explicit region(std::shared_ptr<detail::region_state> s);
  template <typename T>
  static constexpr std::size_t value_bytes() {
    return std::is_same_v<T, buffer> ? sizeof(std::uint64_t) : sizeof(T);
  }
  template <typename T>
  static constexpr std::uint32_t kind() {
    return std::is_same_v<T, buffer> ? 1 : 0;
  }
  result<std::uint64_t> make_pipe(const std::string& name, std::size_t capacity,
                                  std::size_t value_bytes, std::size_t value_align,
                                  std::uint32_t kind, bool ring);
  result<std::uint64_t> find_pipe(const std::string& name, std::size_t value_bytes,
                                  std::size_t value_align, std::uint32_t kind,
                                  std::chrono::milliseconds timeout);
  std::shared_ptr<detail::region_state> state_;
};

}  // namespace chorus::shm
