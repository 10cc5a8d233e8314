// session_ring.cpp — see session_ring.hpp.
#include "wire/session_ring.hpp"

#include <algorithm>
#include <bit>
#include <cstring>
#include <new>
#include <string>

namespace chorus::wire::ring {
namespace {

// Copies n bytes into the ring at position pos (wrapping), or out of it.
void copy_in(std::byte* data, std::uint64_t capacity, std::uint64_t pos, const std::byte* from,
             std::size_t n) noexcept {
  const std::size_t at = static_cast<std::size_t>(pos & (capacity - 1));
  const std::size_t first = std::min<std::size_t>(n, static_cast<std::size_t>(capacity) - at);
  std::memcpy(data + at, from, first);
  std::memcpy(data, from + first, n - first);
}

void copy_out(const std::byte* data, std::uint64_t capacity, std::uint64_t pos, std::byte* to,
              std::size_t n) noexcept {
  const std::size_t at = static_cast<std::size_t>(pos & (capacity - 1));
  const std::size_t first = std::min<std::size_t>(n, static_cast<std::size_t>(capacity) - at);
  std::memcpy(to, data + at, first);
  std::memcpy(to + first, data, n - first);
}

}  // namespace

void initialize(std::span<std::byte> memory, std::size_t capacity) {
  auto* h = new (memory.data()) header{};
  h->magic_word = magic;
  h->version_word = version;
  h->capacity = capacity;
}

util::result<producer> producer::attach(std::span<std::byte> memory) {
  if (memory.size() < sizeof(header) ||
      reinterpret_cast<std::uintptr_t>(memory.data()) % alignof(header) != 0) {
    return util::status{util::errc::malformed, "shared-memory ring: mapping too small"};
  }
  auto* h = reinterpret_cast<header*>(memory.data());
  if (h->magic_word != magic || h->version_word != version) {
    return util::status{util::errc::malformed, "shared-memory ring: not a version-1 Chorus ring"};
  }
  const std::uint64_t cap = h->capacity;
  if (cap == 0 || !std::has_single_bit(cap) || cap > memory.size() - sizeof(header)) {
    return util::status{util::errc::malformed, "shared-memory ring: capacity does not fit"};
  }
  producer p(h);
  p.tail_ = h->tail.load(std::memory_order_relaxed);
  return p;
}

bool producer::consistent() const noexcept {
  const std::uint64_t head = h_->head.load(std::memory_order_acquire);
  return head <= tail_ && tail_ - head <= h_->capacity;
}

std::size_t producer::room() const noexcept {
  const std::uint64_t head = h_->head.load(std::memory_order_acquire);
  if (head > tail_ || tail_ - head > h_->capacity) return 0;
  return static_cast<std::size_t>(h_->capacity - (tail_ - head));
}

std::size_t producer::write(std::span<const std::byte> bytes) noexcept {
  const std::size_t n = std::min(bytes.size(), room());
  copy_in(data_, h_->capacity, tail_, bytes.data(), n);
  tail_ += n;
  return n;
}

bool producer::publish() noexcept {
  h_->tail.store(tail_, std::memory_order_release);
  std::atomic_thread_fence(std::memory_order_seq_cst);
  if (h_->consumer_polling.load(std::memory_order_relaxed) != 0) return false;
  if (h_->bell.load(std::memory_order_relaxed) != 0) return false;  // one is on its way
  return h_->bell.exchange(1, std::memory_order_seq_cst) == 0;
}

std::uint32_t producer::prepare_wait() noexcept {
  h_->producer_waiting.store(1, std::memory_order_relaxed);
  std::atomic_thread_fence(std::memory_order_seq_cst);
  return h_->space_event.load(std::memory_order_acquire);
}

consumer::consumer(std::span<std::byte> memory)
    : h_(reinterpret_cast<header*>(memory.data())),
      data_(memory.data() + sizeof(header)),
      capacity_(h_->capacity) {}

util::result<std::size_t> consumer::available() const {
  const std::uint64_t tail = h_->tail.load(std::memory_order_acquire);
  if (tail < head_ || tail - head_ > capacity_) {
    return util::status{util::errc::malformed,
                        "the client corrupted its shared-memory ring (tail " +
                            std::to_string(tail) + ", head " + std::to_string(head_) + ")"};
  }
  return static_cast<std::size_t>(tail - head_);
}

util::result<std::size_t> consumer::read(std::span<std::byte> out, bool& wake) {
  wake = false;
  auto avail = available();
  if (!avail) return avail;
  const std::size_t n = std::min(*avail, out.size());
  if (n == 0) return n;
  copy_out(data_, capacity_, head_, out.data(), n);
  head_ += n;
  h_->head.store(head_, std::memory_order_release);
  std::atomic_thread_fence(std::memory_order_seq_cst);
  if (h_->producer_waiting.load(std::memory_order_relaxed) != 0) {
    h_->producer_waiting.store(0, std::memory_order_relaxed);
    h_->space_event.fetch_add(1, std::memory_order_release);
    wake = true;
  }
  return n;
}

void consumer::set_polling(bool on) noexcept {
  if (on != polling_) {
    polling_ = on;
    h_->consumer_polling.store(on ? 1 : 0, std::memory_order_relaxed);
  }
  if (!on) std::atomic_thread_fence(std::memory_order_seq_cst);  // before checking available()
}

void consumer::bell_heard() noexcept {
  h_->bell.store(0, std::memory_order_relaxed);
  std::atomic_thread_fence(std::memory_order_seq_cst);
}

}  // namespace chorus::wire::ring
