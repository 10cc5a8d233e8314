// buffers.cpp — chorus::shm's buffer pool: reference-counted blocks in a region's heap, the
// hold tables that say which process holds which reference, and their recovery when a process
// dies (internal.hpp has the layout and the argument).
//
// Blocks come in power-of-two classes (64 B and up) and are carved from the heap on demand;
// a released block goes to its class's free list and is reused, never returned to the heap.
// Every change of a count, a free list or the heap is made under the pool's lock by writing
// the new values of the words it changes into the redo log, then applying them: whoever finds
// the lock held by a dead process applies the log again (the values are absolute, so applying
// twice is applying once) and releases the lock.
#include <algorithm>
#include <cstdio>
#include <cstring>

#include "shm/internal.hpp"

namespace chorus::shm {
namespace detail {

namespace {
std::uint64_t class_bytes(std::uint64_t cls) { return std::uint64_t{1} << cls; }

std::string hex(const void* p) {
  char text[32];
  std::snprintf(text, sizeof text, "%p", p);
  return text;
}

// Builds a change for the redo log.
struct change {
  explicit change(region_state& state) : r(state) {}
  region_state& r;
  redo_word w[redo_max]{};
  unsigned n = 0;
  void set(std::uint64_t& target, std::uint64_t value) {
    w[n++] = {static_cast<std::uint64_t>(reinterpret_cast<std::byte*>(&target) - r.base), value};
  }
  void commit() { r.commit(w, n); }
};

// `bytes` from the region's heap, as part of change `c` (under the pool's lock); nullopt if the
// region has no room.
std::optional<std::uint64_t> carve(region_state& r, change& c, std::uint64_t bytes) {
  const std::uint64_t at = r.b().heap_next;
  if (at + bytes > r.size) return std::nullopt;
  c.set(r.b().heap_next, round_up(at + bytes, cache_line));
  return at;
}
}  // namespace

void region_state::commit(const redo_word* w, unsigned n) {
  auto& pool = this->pool();
  std::copy(w, w + n, pool.redo);
  pool.redo_count.store(n, std::memory_order_release);
  maybe_crash(crash_point::pool_logged);
  redo();
  maybe_crash(crash_point::pool_applied);
}

void region_state::redo() {
  auto& pool = this->pool();
  const unsigned n = std::min(pool.redo_count.load(std::memory_order_acquire), redo_max);
  for (unsigned i = 0; i < n; ++i) {
    const std::uint64_t off = pool.redo[i].off;
    if (off % sizeof(std::uint64_t) != 0 || off + sizeof(std::uint64_t) > size) continue;
    word(*at<std::uint64_t>(off)).store(pool.redo[i].value, std::memory_order_release);
  }
  pool.redo_count.store(0, std::memory_order_release);
}

result<std::uint64_t> region_state::heap_alloc(std::uint64_t bytes) {
  lock_pool();
  change c{*this};
  const auto at = carve(*this, c, bytes);
  if (at) c.commit();
  unlock_pool();
  if (!at) return fail(errc::no_memory, "region " + name + " is full");
  return *at;
}

result<std::uint32_t> region_state::take_hold() {
  std::lock_guard lock(holds_mu);
  auto& me = procs()[self];
  if (me.holds == 0) {
    // Our slot's first buffer: its hold table comes from the heap, in one logged change.
    lock_pool();
    change c{*this};
    const auto at = carve(*this, c, std::uint64_t{b().holds_max} * sizeof(hold_entry));
    if (at) {
      c.set(me.holds, *at);
      c.commit();
    }
    unlock_pool();
    if (!at) {
      return fail(errc::no_memory, "region " + name + " has no room for this process's table of " +
                                       std::to_string(b().holds_max) + " buffer references");
    }
  }
  if (!free_holds.empty()) {
    auto i = free_holds.back();
    free_holds.pop_back();
    return i;
  }
  if (holds_next < b().holds_max) return holds_next++;
  return fail(errc::full, "this process holds " + std::to_string(b().holds_max) +
                              " buffer references of region " + name +
                              " already (buffers_held_max)");
}

result<std::uint32_t> region_state::add_ref(std::uint64_t block) {
  auto hold = take_hold();
  if (!hold) return hold.error();
  auto& h = *at<block_header>(block);
  lock_pool();
  if (h.refs == 0) {
    unlock_pool();
    give_hold(*hold);
    return fail(errc::not_a_buffer, "a released buffer");
  }
  change c{*this};
  c.set(h.refs, h.refs + 1);
  c.set(this->hold(self, *hold).state, hold_state(hold_held, block));
  c.commit();
  unlock_pool();
  return hold;
}

void region_state::give_hold(std::uint32_t i) {
  std::lock_guard lock(holds_mu);
  free_holds.push_back(i);
}

bool region_state::valid_block(std::uint64_t off) const {
  if (off % cache_line != 0 || off < b().heap_off || off + sizeof(block_header) > size) {
    return false;
  }
  const auto& h = *at<block_header>(off);
  const std::uint64_t cls = word(const_cast<std::uint64_t&>(h.cls)).load();
  if (cls < min_class || cls >= classes) return false;
  if (word(const_cast<std::uint64_t&>(h.tag)).load() != block_tag(off, cls)) return false;
  return off + sizeof(block_header) + class_bytes(cls) <= size;
}

void region_state::release(std::uint64_t hold_off, std::uint64_t block) {
  auto& pool = this->pool();
  auto& h = *at<block_header>(block);
  auto& e = *at<hold_entry>(hold_off);
  bool freed = false;
  lock_pool();
  change c{*this};
  const std::uint64_t refs = h.refs;
  if (refs > 1) {
    c.set(h.refs, refs - 1);
  } else if (refs == 1) {  // the last reference: the block goes back to its class's list
    c.set(h.refs, 0);
    c.set(h.next, pool.free_head[h.cls]);
    c.set(pool.free_head[h.cls], block);
    c.set(pool.in_use, pool.in_use - 1);
    freed = true;
  }  // refs == 0: a reference that was never counted (a corrupt entry): only clear it
  c.set(e.state, hold_free);
  c.commit();
  unlock_pool();
  if (freed) {
    pool.free_events.fetch_add(1, std::memory_order_seq_cst);
    if (pool.alloc_waiters.load(std::memory_order_seq_cst) > 0) {
      futex_wake(&pool.free_events, INT32_MAX);
    }
  }
}

// The references a dead process held. An entry moving a reference into a pipe: if the slot
// still carries the dead process's claim, the value never went in and the reference is the
// entry's (released); otherwise the pipe has it. Moving out of a pipe: if the claim is still
// there, the reference never came out (recovering the pipe puts the value back); otherwise it
// had, and is released.
void region_state::recover_holds(std::uint32_t dead) {
  if (pool().lock.load(std::memory_order_acquire) == dead + 1) {
    redo();  // finish what it was changing
    unlock_pool();
  }
  if (procs()[dead].holds == 0) return;  // it never held a buffer
  auto still_claimed = [&](const hold_entry& e, std::uint64_t replaced) {
    if (!is_pipe(e.pipe)) return false;
    auto& p = *at<pipe_header>(e.pipe);
    auto& s = *reinterpret_cast<slot_header*>(slot(p, e.pos));
    return s.seq.load(std::memory_order_acquire) == marker(dead, replaced);
  };
  for (std::uint32_t i = 0; i < b().holds_max; ++i) {
    auto& e = hold(dead, i);
    const std::uint64_t st = word(e.state).load(std::memory_order_acquire);
    if (st == hold_free) continue;
    bool ours = true;
    if (hold_kind(st) == hold_sending) {
      ours = still_claimed(e, e.pos);
    } else if (hold_kind(st) == hold_receiving) {
      ours = !still_claimed(e, e.pos + 1);
    }
    if (ours && valid_block(hold_block(st))) {
      release(hold_offset(dead, i), hold_block(st));
    } else {
      word(e.state).store(hold_free, std::memory_order_release);
    }
  }
}

}  // namespace detail

using detail::block_header;
using detail::hold_entry;
using detail::region_state;

// --- buffer -----------------------------------------------------------------------------------

std::byte* buffer::data() const noexcept {
  return r_ ? r_->base + block_ + sizeof(block_header) : nullptr;
}

std::size_t buffer::size() const noexcept {
  return r_ ? detail::word(r_->at<block_header>(block_)->length).load(std::memory_order_acquire)
            : 0;
}

std::size_t buffer::capacity() const noexcept {
  return r_ ? detail::class_bytes(r_->at<block_header>(block_)->cls) : 0;
}

result<void> buffer::resize(std::size_t n) {
  if (!r_) return detail::fail(errc::invalid_argument, "an empty buffer (moved from, or reset)");
  if (n > capacity()) {
    return detail::fail(errc::invalid_argument, "a buffer of " + std::to_string(capacity()) +
                                                    " bytes cannot hold " + std::to_string(n));
  }
  detail::word(r_->at<block_header>(block_)->length).store(n, std::memory_order_release);
  return {};
}

std::uint64_t buffer::use_count() const noexcept {
  return r_ ? detail::word(r_->at<block_header>(block_)->refs).load(std::memory_order_acquire) : 0;
}

result<buffer> buffer::share() const {
  if (!r_) return detail::fail(errc::invalid_argument, "an empty buffer (moved from, or reset)");
  auto hold = r_->add_ref(block_);  // (never released: we hold a reference)
  if (!hold) return hold.error();
  return buffer(r_, block_, *hold);
}

void buffer::reset() noexcept {
  if (!r_) return;
  r_->release(r_->hold_offset(r_->self, hold_), block_);
  r_->give_hold(hold_);
  r_.reset();
}

// --- region: the pool -------------------------------------------------------------------------

result<buffer> region::allocate(std::size_t bytes) {
  return allocate(bytes, std::chrono::milliseconds(0));
}

result<buffer> region::allocate(std::size_t bytes, std::chrono::milliseconds timeout) {
  using namespace detail;
  auto& s = *state_;
  std::uint64_t cls = min_class;
  while (class_bytes(cls) < bytes && cls + 1 < classes) ++cls;
  const std::uint64_t total = sizeof(block_header) + class_bytes(cls);
  if (class_bytes(cls) < bytes || total > s.size - s.b().heap_off) {
    return fail(errc::no_memory,
                "a buffer of " + std::to_string(bytes) + " bytes is larger than region " + s.name);
  }
  auto hold = s.take_hold();
  if (!hold) return hold.error();
  auto& e = s.hold(s.self, *hold);
  auto& pool = s.pool();
  std::uint64_t block = 0, in_use = 0;
  // A block of its class's free list, or a new one from the heap; when neither, waits for a
  // release (free_events).
  auto attempt = [&] {
    s.lock_pool();
    change c{s};
    if (const std::uint64_t head = pool.free_head[cls]; head != 0) {
      block = head;
      c.set(pool.free_head[cls], s.at<block_header>(head)->next);
    } else if (const auto at = carve(s, c, total)) {
      block = *at;
      auto& h = *s.at<block_header>(block);
      c.set(h.tag, block_tag(block, cls));
      c.set(h.cls, cls);
      c.set(pool.blocks, pool.blocks + 1);
      c.set(pool.block_bytes, pool.block_bytes + total);
    } else {
      in_use = pool.in_use;
      s.unlock_pool();
      return false;
    }
    auto& h = *s.at<block_header>(block);
    c.set(h.refs, 1);
    c.set(h.length, bytes);
    c.set(pool.in_use, pool.in_use + 1);
    c.set(e.state, hold_state(hold_held, block));
    c.commit();
    s.unlock_pool();
    return true;
  };
  auto got =
      wait_for(s, pool.free_events, pool.alloc_waiters, 0, clock::now() + timeout, "", attempt);
  if (!got) {
    s.give_hold(*hold);
    return fail(timeout.count() == 0 ? errc::no_memory : error::timed_out,
                "region " + s.name + " has no room for a buffer of " + std::to_string(bytes) +
                    " bytes (" + std::to_string(in_use) + " buffers in use)");
  }
  return buffer(state_, block, *hold);
}

result<buffer> region::buffer_of(const void* p) {
  using namespace detail;
  auto& s = *state_;
  const auto* c = static_cast<const std::byte*>(p);
  if (c < s.base || c >= s.base + s.size) {
    return fail(errc::outside_region, "memory at " + hex(p) + " is not inside region " + s.name +
                                          " (" + hex(s.base) + " to " + hex(s.base + s.size) +
                                          " in this process)");
  }
  const auto at = static_cast<std::uint64_t>(c - s.base);
  const std::uint64_t block = at - sizeof(block_header);
  if (at < sizeof(block_header) || !s.valid_block(block)) {
    return fail(errc::not_a_buffer,
                "memory at " + hex(p) + " in region " + s.name + " is not the start of a buffer");
  }
  auto hold = s.add_ref(block);
  if (!hold && hold.error().code == errc::not_a_buffer) {
    return fail(errc::not_a_buffer,
                "memory at " + hex(p) + " in region " + s.name + " is a released buffer");
  }
  if (!hold) return hold.error();
  return buffer(state_, block, *hold);
}

pool_stats region::stats() const {
  auto& s = *state_;
  auto& pool = s.pool();
  s.lock_pool();
  pool_stats out{pool.in_use, pool.blocks, pool.block_bytes, s.size - s.b().heap_next};
  s.unlock_pool();
  return out;
}

}  // namespace chorus::shm
