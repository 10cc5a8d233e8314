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
// Values: pipes carry trivially copyable values, copied into the pipe's slots. fanout copies
// one input to several outputs (each blocking or dropping when full), transformer maps one pipe
// into another. (Reference-counted shared buffers, for zero-copy fan-out, come next.)
//
// Thread-safety: a region and its pipes may be used from any number of threads and processes.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <memory>
#include <optional>
#include <stop_token>
#include <string>
#include <type_traits>
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
}  // namespace errc

struct region_options {
  std::size_t size = std::size_t{64} << 20;  // bytes (rounded up to whole pages)
  bool keep = false;  // reuse a region of this name (and its pipes) if one exists
  std::uint32_t pipes_max = 64;
  std::uint32_t processes_max = 64;  // processes attached at once
};

struct pipe_options {
  // Busy-wait this many times before sleeping on a futex (0: sleep at once). Spinning cuts
  // latency when producer and consumer run on different cores, at the cost of CPU.
  std::uint32_t spin = 0;
};

// What `chorus shm ls` shows.
struct region_info {
  std::string name;
  std::size_t size = 0;
  bool ready = false;  // the creator finished initializing it
  std::uint32_t pipes = 0;
  std::uint32_t processes = 0;  // attached now
};

namespace detail {
struct region_state;

// For tests of recovery: the calling process kills itself (SIGKILL) at `point` of its pipe
// operation number `nth` (counting from 1, enqueues and dequeues together) — the moments a
// random kill almost never hits. crash_point::none turns it off.
enum class crash_point { none, enqueue_claimed, enqueue_copied, dequeue_claimed, dequeue_copied };
void crash_at(crash_point point, std::uint64_t nth);
// A pipe's untyped core: slots of `value_bytes` bytes.
class pipe_core {
 public:
  pipe_core() = default;
  pipe_core(std::shared_ptr<region_state> r, std::uint64_t offset, pipe_options o);
  result<void> enqueue(const void* value, std::optional<std::chrono::steady_clock::time_point> d);
  result<void> dequeue(void* value, std::optional<std::chrono::steady_clock::time_point> d);
  std::size_t capacity() const noexcept;
  std::size_t size() const noexcept;  // a snapshot: values waiting

 private:
  std::shared_ptr<region_state> r_;
  std::uint64_t offset_ = 0;
  pipe_options o_;
};
}  // namespace detail

template <typename T>
class pipe {
  static_assert(std::is_trivially_copyable_v<T>, "pipe values are copied byte for byte");

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

// What a fan-out does with a value for an output that is full.
enum class when_full {
  block,  // wait until it has room (the slowest output paces everything)
  drop,   // wait up to drop_after, then drop the value for this output and count it
};

// One input pipe, several output pipes: every value read from the input is enqueued to every
// output, each with its own policy when that output is full. Run it in a thread of its own
// (run()), or drive it step by step. Counters are this object's.
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
      if (o.policy == when_full::drop) {
        if (!o.to.enqueue(*v, o.drop_after)) ++dropped_[i];
        continue;
      }
      while (!o.to.enqueue(*v, timeout)) {
        if (stop.stop_requested()) return error{error::timed_out, "stopped while blocked"};
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
template <typename In, typename Out, typename F>
class transformer {
 public:
  transformer(pipe<In> from, pipe<Out> to, F f)
      : from_(std::move(from)), to_(std::move(to)), f_(std::move(f)) {}

  result<void> step(std::chrono::milliseconds timeout, std::stop_token stop = {}) {
    auto v = from_.dequeue(timeout);
    if (!v) return v.error();
    Out out = f_(*v);
    while (!to_.enqueue(out, timeout)) {
      if (stop.stop_requested()) return error{error::timed_out, "stopped while blocked"};
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
    auto off = make_pipe(name, capacity, sizeof(T), alignof(T));
    if (!off) return off.error();
    return pipe<T>(detail::pipe_core(state_, *off, o));
  }
  // Opens pipe `name`, waiting up to `timeout` for it to exist.
  template <typename T>
  result<pipe<T>> open_pipe(const std::string& name, std::chrono::milliseconds timeout,
                            pipe_options o = {}) {
    auto off = find_pipe(name, sizeof(T), alignof(T), timeout);
    if (!off) return off.error();
    return pipe<T>(detail::pipe_core(state_, *off, o));
  }

  // Looks for processes that died while attached and recovers what they held; returns how many
  // it found. Waiting pipe operations and open() do this themselves.
  std::size_t recover();

 private:
  explicit region(std::shared_ptr<detail::region_state> s);
  result<std::uint64_t> make_pipe(const std::string& name, std::size_t capacity,
                                  std::size_t value_bytes, std::size_t value_align);
  result<std::uint64_t> find_pipe(const std::string& name, std::size_t value_bytes,
                                  std::size_t value_align, std::chrono::milliseconds timeout);
  std::shared_ptr<detail::region_state> state_;
};

}  // namespace chorus::shm
